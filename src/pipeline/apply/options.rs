//! How an apply behaves.

use std::sync::Arc;
use std::time::Duration;

/// Asked just before each write: `Err(why)` and the write is not sent (the operator is
/// shutting down, or this replica no longer holds the leader lease).
#[derive(Clone)]
pub struct WriteGate(pub Arc<dyn Fn() -> Result<(), String> + Send + Sync>);

impl std::fmt::Debug for WriteGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteGate")
    }
}

/// How apply behaves.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Check preconditions and show the exact calls, but send no write.
    pub dry_run: bool,
    /// Checked before each write; none: every write may go (the CLI).
    pub write_gate: Option<WriteGate>,
    /// Waits between AssociateWebACL attempts while AWS answers
    /// WAFUnavailableEntityException: a new web ACL takes seconds to minutes to become
    /// associable.
    pub waf_retry_delays: Vec<Duration>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            write_gate: None,
            waf_retry_delays: vec![
                Duration::from_secs(2),
                Duration::from_secs(5),
                Duration::from_secs(10),
            ],
        }
    }
}
