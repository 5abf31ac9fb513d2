//! A small HTTP/1.1 client for talking to moto without the AWS SDK.
//!
//! The sandbox itself (seeding, registration) and its tests speak to moto over plain
//! HTTP: EC2 and IAM use the query protocol (form body, XML answer), SSM the JSON 1.1
//! protocol with `X-Amz-Target`, EKS REST-JSON. moto checks no signatures; it routes a
//! request to its service by the credential scope of the `Authorization` header, which
//! is therefore sent in SigV4's shape with a dummy signature. Each request opens its own
//! loopback connection (`Connection: close`), so a client can be used from any runtime.

use std::fmt::Write as _;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::account::{ACCOUNT_HEADER, AwsAccount};
use crate::error::{Error, Result};

/// EC2's query API version.
pub const EC2_API_VERSION: &str = "2016-11-15";
/// IAM's query API version.
pub const IAM_API_VERSION: &str = "2010-05-08";
/// STS's query API version.
pub const STS_API_VERSION: &str = "2011-06-15";

/// An HTTP response from moto.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// `X-Amzn-ErrorType` (REST-JSON and JSON protocols), without its `:...` suffix.
    pub error_type: Option<String>,
    pub body: String,
}

impl HttpResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A client for one moto server (`http://127.0.0.1:<port>`).
#[derive(Debug, Clone)]
pub struct MotoClient {
    endpoint: String,
    authority: String,
}

impl MotoClient {
    /// A client for the server at `endpoint` (`http://host:port`).
    pub fn new(endpoint: &str) -> Result<Self> {
        let url = url::Url::parse(endpoint).map_err(|e| Error::Url(format!("{endpoint}: {e}")))?;
        if url.scheme() != "http" {
            return Err(Error::Url(format!("{endpoint}: moto is served over http")));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Error::Url(format!("{endpoint}: no host")))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Error::Url(format!("{endpoint}: no port")))?;
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            authority: format!("{host}:{port}"),
        })
    }

    /// The server's base URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends one request and returns the response whatever its status.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.authority,
            body.len()
        );
        for (name, value) in headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        let io = |e: std::io::Error| self.error(method, path, None, e.to_string());
        let mut stream = TcpStream::connect(&self.authority).await.map_err(io)?;
        stream.write_all(head.as_bytes()).await.map_err(io)?;
        stream.write_all(body).await.map_err(io)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(io)?;
        parse_response(&raw).map_err(|m| self.error(method, path, None, m))
    }

    /// Sends a request for `account` to AWS `service`, failing on a non-2xx answer.
    pub async fn call(
        &self,
        account: &AwsAccount,
        service: &str,
        method: &str,
        path: &str,
        extra_headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse> {
        self.call_labeled(account, service, method, path, "", extra_headers, body)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn call_labeled(
        &self,
        account: &AwsAccount,
        service: &str,
        method: &str,
        path: &str,
        label: &str,
        extra_headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse> {
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=testing/20250101/{}/{service}/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=0000",
            account.region()
        );
        let mut headers = vec![
            ("Authorization", authorization.as_str()),
            ("X-Amz-Date", "20250101T000000Z"),
            (ACCOUNT_HEADER, account.id()),
        ];
        headers.extend_from_slice(extra_headers);
        let response = self.send(method, path, &headers, body).await?;
        if !response.is_success() {
            let message = match &response.error_type {
                Some(kind) => format!("{kind}: {}", response.body),
                None => response.body,
            };
            return Err(self.error(
                method,
                &format!("{path} ({service}{label}, account {})", account.id()),
                Some(response.status),
                message,
            ));
        }
        Ok(response)
    }

    /// A query-protocol call (EC2, IAM, STS): `Action=...&Version=...&params`, XML answer.
    pub async fn query(
        &self,
        account: &AwsAccount,
        service: &str,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<String> {
        // Built in a block: the serializer is not Send and must not live across an await,
        // or actors could not call this from a spawned task.
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action);
            form.append_pair("Version", version);
            for (k, v) in params {
                form.append_pair(k, v);
            }
            form.finish()
        };
        let headers = [(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        let label = format!(" {action}");
        let response = self
            .call_labeled(
                account,
                service,
                "POST",
                "/",
                &label,
                &headers,
                body.as_bytes(),
            )
            .await?;
        Ok(response.body)
    }

    /// An EC2 query call.
    pub async fn ec2(
        &self,
        account: &AwsAccount,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<String> {
        self.query(account, "ec2", EC2_API_VERSION, action, params)
            .await
    }

    /// A JSON-protocol call: `X-Amz-Target: <target_prefix>.<action>` with
    /// `application/x-amz-json-<json_version>` ("1.1" for SSM and EventBridge, "1.0" for
    /// SQS).
    #[allow(clippy::too_many_arguments)]
    pub async fn json_target(
        &self,
        account: &AwsAccount,
        service: &str,
        json_version: &str,
        target_prefix: &str,
        action: &str,
        body: &Value,
    ) -> Result<Value> {
        let target = format!("{target_prefix}.{action}");
        let content_type = format!("application/x-amz-json-{json_version}");
        let headers = [
            ("Content-Type", content_type.as_str()),
            ("X-Amz-Target", target.as_str()),
        ];
        let payload = serde_json::to_vec(body)?;
        let label = format!(" {action}");
        let response = self
            .call_labeled(account, service, "POST", "/", &label, &headers, &payload)
            .await?;
        if response.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(&response.body)?)
    }

    /// An SSM call (JSON 1.1, `AmazonSSM`).
    pub async fn ssm(&self, account: &AwsAccount, action: &str, body: &Value) -> Result<Value> {
        self.json_target(account, "ssm", "1.1", "AmazonSSM", action, body)
            .await
    }

    /// An SQS call (JSON 1.0, `AmazonSQS`).
    pub async fn sqs(&self, account: &AwsAccount, action: &str, body: &Value) -> Result<Value> {
        self.json_target(account, "sqs", "1.0", "AmazonSQS", action, body)
            .await
    }

    /// An EventBridge call (JSON 1.1, `AWSEvents`).
    pub async fn events(&self, account: &AwsAccount, action: &str, body: &Value) -> Result<Value> {
        self.json_target(account, "events", "1.1", "AWSEvents", action, body)
            .await
    }

    /// A REST-JSON call (EKS): `method path` with an optional JSON body.
    pub async fn rest_json(
        &self,
        account: &AwsAccount,
        service: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let payload = json_payload(body)?;
        let headers = [("Content-Type", "application/json")];
        let response = self
            .call(account, service, method, path, &headers, &payload)
            .await?;
        if response.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(&response.body)?)
    }

    /// A call to the sandbox's own `/nodeless-api/...` routes (JSON in, JSON out).
    pub async fn nodeless_api(
        &self,
        account: Option<&AwsAccount>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let payload = json_payload(body)?;
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(account) = account {
            headers.push((ACCOUNT_HEADER, account.id()));
        }
        let response = self.send(method, path, &headers, &payload).await?;
        if !response.is_success() {
            return Err(self.error(method, path, Some(response.status), response.body));
        }
        Ok(serde_json::from_str(&response.body)?)
    }

    fn error(&self, method: &str, what: &str, status: Option<u16>, message: String) -> Error {
        Error::MotoRequest {
            request: format!("{method} {}{what}", self.endpoint),
            status,
            message,
        }
    }
}

/// A JSON request body: `body` serialized, or empty.
fn json_payload(body: Option<&Value>) -> Result<Vec<u8>> {
    Ok(match body {
        Some(b) => serde_json::to_vec(b)?,
        None => Vec::new(),
    })
}

/// Parses a complete HTTP/1.1 response (read to EOF), with a Content-Length, chunked, or
/// EOF-delimited body.
fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("truncated response ({} bytes)", raw.len()))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|e| format!("response head: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut chunked = false;
    let mut length = None;
    let mut error_type = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("x-amzn-errortype") {
            error_type = value.split(':').next().map(str::to_owned);
        }
    }
    let rest = &raw[split + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or_else(|| format!("body shorter than Content-Length {n}"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        error_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|e| e.to_string())?;
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|e| format!("chunk size: {e}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

/// The text of every `<tag>...</tag>` element in `xml`, in document order, with the five
/// predefined XML entities decoded. Enough for reading ids out of EC2/IAM answers; it
/// does not handle elements nested inside a same-named element.
pub fn xml_texts(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else {
            break;
        };
        out.push(
            after[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[end + close.len()..];
    }
    out
}

/// The first `<tag>` text in `xml`.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    xml_texts(xml, tag).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked_bodies() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let r = parse_response(plain).expect("plain");
        assert_eq!((r.status, r.body.as_str()), (200, "hello"));
        let chunked =
            b"HTTP/1.1 404 NOT FOUND\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let r = parse_response(chunked).expect("chunked");
        assert_eq!((r.status, r.body.as_str()), (404, "abcde"));
    }

    #[test]
    fn extracts_xml_texts() {
        let xml = "<a><subnetId>subnet-1</subnetId><x/><subnetId>s&amp;2</subnetId></a>";
        assert_eq!(xml_texts(xml, "subnetId"), ["subnet-1", "s&2"]);
        assert_eq!(xml_text(xml, "missing"), None);
    }
}
