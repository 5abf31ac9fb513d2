//! Per-test AWS accounts on one moto server.
//!
//! moto keeps separate backends per account id and takes the account of each request
//! from the `x-moto-account-id` header. A fresh 12-digit id per test therefore gives each
//! test an empty account (its own VPCs, roles, clusters, queues) on a shared server,
//! without resets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The header moto reads the account id of a request from. Every request a client sends
/// to moto on behalf of an [`AwsAccount`] must carry it: with raw HTTP,
/// [`AwsAccount::header`] (the [`super::MotoClient`] calls add it); with the AWS SDK, an
/// interceptor on the shared config (moto checks no signatures, so adding it after
/// signing is fine):
///
/// ```text
/// #[derive(Debug)]
/// struct MotoAccount(String);
/// impl Intercept for MotoAccount {
///     fn name(&self) -> &'static str { "MotoAccount" }
///     fn modify_before_transmit(&self, ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
///         _: &RuntimeComponents, _: &mut ConfigBag) -> Result<(), BoxError> {
///         ctx.request_mut().headers_mut().insert(ACCOUNT_HEADER, self.0.clone());
///         Ok(())
///     }
/// }
/// // aws_sdk_ec2::config::Builder::from(&sdk_config).interceptor(MotoAccount(id)).build()
/// ```
///
/// Production code never sets it: in Lambda the account comes from the credentials.
pub const ACCOUNT_HEADER: &str = "x-moto-account-id";

/// moto's account when a request names none. Only serial set-up should use it.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// The region the sandbox puts its resources in unless told otherwise.
pub const DEFAULT_REGION: &str = "us-east-1";

/// An AWS account (and region) on the moto server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AwsAccount {
    id: String,
    region: String,
}

impl AwsAccount {
    /// A fresh account id not handed out before by this process, in `region`.
    pub fn fresh(region: impl Into<String>) -> Self {
        Self {
            id: fresh_account_id(),
            region: region.into(),
        }
    }

    /// An account with a given id (e.g. [`DEFAULT_ACCOUNT_ID`]).
    pub fn with_id(id: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            region: region.into(),
        }
    }

    /// The 12-digit account id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The region requests for this account are sent to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The same account in another region.
    pub fn in_region(&self, region: impl Into<String>) -> Self {
        Self {
            id: self.id.clone(),
            region: region.into(),
        }
    }

    /// The header (name, value) every request for this account must carry.
    pub fn header(&self) -> (&'static str, &str) {
        (ACCOUNT_HEADER, &self.id)
    }
}

/// A 12-digit account id, unique within this process and unlikely to collide with another
/// process's (the base is drawn from the clock and the process id).
pub fn fresh_account_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    const SPAN: u64 = 800_000_000_000;
    let base = *BASE.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        (nanos ^ (u64::from(std::process::id()) << 20)) % SPAN
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // 100000000000..=899999999999: always 12 digits, never moto's default.
    let id = 100_000_000_000 + (base + n * 7_919) % SPAN;
    let id = if id == 123_456_789_012 { id + 1 } else { id };
    format!("{id:012}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn fresh_ids_are_twelve_digits_and_distinct() {
        let ids: HashSet<String> = (0..1000).map(|_| fresh_account_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(!ids.contains(DEFAULT_ACCOUNT_ID));
    }
}
