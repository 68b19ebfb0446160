//! What kind of failure an AWS call ended in. Decided once, where the call fails (the
//! AWS edge classifies the SDK's error), then carried by read errors and remediation
//! outcomes, and used by status reasons, metric labels and the retry schedule.

use serde::{Deserialize, Serialize};

/// The kind of a failed AWS call.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// IAM (or an SCP, a resource policy) refused the call: the identity's permissions
    /// must change.
    AccessDenied,
    /// The resource, region or account does not exist (or no longer does).
    NotFound,
    /// The request itself was refused as invalid: the profile or the resource must
    /// change.
    Invalid,
    /// The credentials were refused (invalid, expired, clock skew): refreshed or fixed
    /// credentials make the next attempt succeed.
    Credentials,
    /// Still throttled when the retries ran out: the account's shared quota is busy.
    Throttled,
    /// A timeout, a network failure or a 5xx: the service or the path to it is down.
    Unavailable,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Retrying cannot help until someone changes IAM, the profile or the resource:
    /// back off slowly and say what to fix. The others are retried with backoff.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ErrorKind::AccessDenied | ErrorKind::NotFound | ErrorKind::Invalid
        )
    }

    /// The metric label and JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::AccessDenied => "accessDenied",
            ErrorKind::NotFound => "notFound",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Credentials => "credentials",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Other => "other",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_their_label() {
        for kind in [
            ErrorKind::AccessDenied,
            ErrorKind::NotFound,
            ErrorKind::Invalid,
            ErrorKind::Credentials,
            ErrorKind::Throttled,
            ErrorKind::Unavailable,
            ErrorKind::Other,
        ] {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert!(ErrorKind::AccessDenied.is_terminal());
        assert!(!ErrorKind::Throttled.is_terminal());
    }
}
