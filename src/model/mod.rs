//! The vocabulary every other module speaks, importing nothing else of the crate:
//! findings and their ids, severities, resource types and statuses ([`finding`]);
//! ARNs and region codes, built and parsed in one place ([`arn`]); the kinds of AWS
//! failures ([`failure`]); a remediation plan
//! as controls make it ([`plan`]) and what applying it did ([`outcome`]).

pub mod arn;
pub mod failure;
pub mod finding;
pub mod outcome;
pub mod plan;

pub use failure::ErrorKind;
pub use finding::{ControlId, Finding, LoggingLevel, ResourceType, Severity, Status, V2Protocol};
