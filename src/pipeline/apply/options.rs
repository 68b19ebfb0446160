//! How an apply behaves.

use std::time::Duration;

/// How apply behaves.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Check preconditions and show the exact calls, but send no write.
    pub dry_run: bool,
    /// Waits between AssociateWebACL attempts while AWS answers
    /// WAFUnavailableEntityException: a new web ACL takes seconds to minutes to become
    /// associable.
    pub waf_retry_delays: Vec<Duration>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            waf_retry_delays: vec![
                Duration::from_secs(2),
                Duration::from_secs(5),
                Duration::from_secs(10),
            ],
        }
    }
}
