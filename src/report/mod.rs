//! The scan report: what `scan` prints, as a table for people or as the JSON contract
//! for other tools (`{"findings": [...], "errors": [...]}`, and `"remediation"` beside
//! them when remediation ran: [`remediation`]).

pub mod remediation;
pub mod scan;

pub use scan::{ScanReport, Summary};
