//! Findings: the verdict of one control on one resource.
//!
//! The JSON shape is a contract (`scan --output json`, DESIGN.md): field names are
//! camelCase, and new fields may only be added, never renamed.

use serde::{Deserialize, Serialize};

use crate::controls::{ControlId, ResourceType, Severity};

/// The verdict of a control on a resource.
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
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Failed,
    Error,
    Passed,
    NotApplicable,
}

impl Status {
    /// The contract spelling: `PASSED`, `FAILED`, `NOT_APPLICABLE`, `ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "PASSED",
            Status::Failed => "FAILED",
            Status::NotApplicable => "NOT_APPLICABLE",
            Status::Error => "ERROR",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One control's verdict on one in-scope resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub control_id: ControlId,
    pub resource_type: ResourceType,
    pub resource_arn: String,
    pub region: String,
    pub status: Status,
    pub severity: Severity,
    /// What a person needs to act on: which method, route or setting, and its value.
    pub reason: String,
    /// Set when an exemption in the profile covers this finding; the verdict stays.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exempted: bool,
}
