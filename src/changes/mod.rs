//! Change-triggered checks: CloudTrail's record of an API Gateway or WAF call, as
//! EventBridge delivers it to an SQS queue, turned into the one part of the inventory
//! to re-read.
//!
//! [`event`] parses a message (pure); [`queue`] is the SQS edge. The operator's
//! consumer (`crate::controller`) receives, coalesces, re-reads, waits for the
//! verdicts to reach status, then deletes.

pub mod event;
pub mod queue;
