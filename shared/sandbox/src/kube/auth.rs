//! Bearer-token authentication: the kubeconfig's static token, or an EKS token
//! (`k8s-aws-v1.` + base64url of a presigned STS GetCallerIdentity URL) checked for shape
//! (not signature: there is no STS to ask).
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

use super::time;

pub struct Auth {
    pub static_token: String,
    pub accept_eks_tokens: bool,
}

impl Auth {
    /// Whether an `Authorization` header value is accepted.
    pub fn check(&self, header: Option<&str>) -> bool {
        let Some(token) = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
        else {
            return false;
        };
        token == self.static_token || (self.accept_eks_tokens && is_eks_token(token))
    }
}

/// The shape aws-iam-authenticator accepts: a presigned `GET` of STS
/// `GetCallerIdentity` (SigV4 in the query) signing the `x-k8s-aws-id` header. The host may
/// be STS (global, regional, China) or a loopback endpoint (moto in the sandbox).
pub fn is_eks_token(token: &str) -> bool {
    let Some(encoded) = token.strip_prefix("k8s-aws-v1.") else {
        return false;
    };
    let Ok(bytes) = URL_SAFE_NO_PAD
        .decode(encoded)
        .or_else(|_| URL_SAFE.decode(encoded))
    else {
        return false;
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return false;
    };
    let Ok(url) = url::Url::parse(&text) else {
        return false;
    };
    let host = url.host_str().unwrap_or_default();
    let sts_host = host == "sts.amazonaws.com"
        || (host.starts_with("sts.")
            && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")));
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
    let scheme_ok = url.scheme() == "https" || (loopback && url.scheme() == "http");
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| {
        q.iter()
            .find(|(qk, _)| qk.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let date_ok = get("X-Amz-Date").and_then(amz_date).is_some_and(fresh);
    (sts_host || loopback)
        && scheme_ok
        && url.path() == "/"
        && get("Action") == Some("GetCallerIdentity")
        && get("Version") == Some("2011-06-15")
        && get("X-Amz-Algorithm") == Some("AWS4-HMAC-SHA256")
        && get("X-Amz-Credential").is_some_and(|c| c.ends_with("/sts/aws4_request"))
        && get("X-Amz-Signature")
            .is_some_and(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
        && get("X-Amz-SignedHeaders").is_some_and(|h| h.split(';').any(|h| h == "x-k8s-aws-id"))
        && date_ok
}

/// `20261130T100000Z` → Unix seconds.
fn amz_date(d: &str) -> Option<i64> {
    let b = d.get(..15)?;
    if d.len() != 16 || !d.ends_with('Z') || b.as_bytes()[8] != b'T' {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &b[0..4],
        &b[4..6],
        &b[6..8],
        &b[9..11],
        &b[11..13],
        &b[13..15]
    );
    time::parse(&iso)
}

/// aws-iam-authenticator refuses a token whose signing time is more than 15 minutes old;
/// a Lambda that caches its token across invocations must refresh it in time.
fn fresh(signed: i64) -> bool {
    let age = time::now_secs() - signed;
    (-300..=900).contains(&age)
}

/// Builds a well-formed (unsigned) EKS token, for tests and the sandbox's own clients.
pub fn example_eks_token(cluster: &str, region: &str) -> String {
    let date: String = time::now()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let day = &date[..8.min(date.len())];
    let url = format!(
        "https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15\
         &X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F{day}%2F{region}%2Fsts%2Faws4_request\
         &X-Amz-Date={date}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id\
         &X-Amz-Signature={}&x-k8s-aws-id={cluster}",
        "0".repeat(64)
    );
    format!("k8s-aws-v1.{}", URL_SAFE_NO_PAD.encode(url))
}

#[cfg(test)]
mod tests {
    #[test]
    fn eks_token_shape() {
        assert!(super::is_eks_token(&super::example_eks_token(
            "demo",
            "eu-west-1"
        )));
        assert!(!super::is_eks_token("k8s-aws-v1.aGVsbG8"));
        assert!(!super::is_eks_token("hello"));
        let stale = super::example_eks_token("demo", "eu-west-1");
        let url = String::from_utf8(
            base64::Engine::decode(&super::URL_SAFE_NO_PAD, &stale[11..]).expect("b64"),
        )
        .expect("utf8");
        let date = url
            .split("X-Amz-Date=")
            .nth(1)
            .and_then(|r| r.get(..16))
            .expect("date")
            .to_string();
        let old = url.replace(&date, "20200101T000000Z");
        let old = format!(
            "k8s-aws-v1.{}",
            base64::Engine::encode(&super::URL_SAFE_NO_PAD, old)
        );
        assert!(
            !super::is_eks_token(&old),
            "a token signed long ago is expired"
        );
    }
}
