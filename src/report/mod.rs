//! The scan report: what `scan` prints, as a table for people or as the JSON contract
//! for other tools (`{"scan": {...}, "findings": [...], "errors": [...]}`, and
//! `"remediation"` beside them when remediation ran: [`remediation`]), or as SARIF for
//! CI code-scanning views ([`sarif`]); the findings in the AWS Security
//! Finding Format for Security Hub ([`asff`]); the operator's policy reports in the
//! cluster ([`policy_report`]).

pub mod asff;
pub mod policy_report;
pub mod remediation;
pub mod sarif;
pub mod scan;

pub use scan::{ScanReport, Summary};
