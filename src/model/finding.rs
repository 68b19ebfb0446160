//! Findings: the verdict of one control on one resource, and the words they are made of.
//!
//! The JSON shape is a contract (`scan --output json`): field names are camelCase, and
//! new fields may only be added, never renamed.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// A control's id as Security Hub spells it (`APIGateway.1`), or as our own checks are
/// named. Each control declares its id in its own file; parsing an id (and its JSON
/// schema) checks it against the catalog, in `controls`.
///
/// Ids order naturally, numbers by value: `APIGateway.2` before `APIGateway.10`, so
/// lists follow the catalog whatever the id's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControlId(&'static str);

impl ControlId {
    /// The id `id` (a control file's constant; parse user input with `str::parse`).
    pub const fn new(id: &'static str) -> Self {
        ControlId(id)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ControlId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for ControlId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl Ord for ControlId {
    fn cmp(&self, other: &Self) -> Ordering {
        // Sorting findings compares mostly equal ids: one memcmp settles those.
        if self.0 == other.0 {
            return Ordering::Equal;
        }
        natural_order(self.0, other.0)
    }
}

impl PartialOrd for ControlId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares runs of digits by their value and everything else byte by byte.
fn natural_order(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let (ta, tb) = (trim_zeros(da), trim_zeros(db));
                let by_value = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if by_value != Ordering::Equal {
                    return by_value;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    s.split_at(end)
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let start = digits
        .iter()
        .position(|&c| c != b'0')
        .unwrap_or(digits.len());
    &digits[start..]
}

/// Security Hub severity label.
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
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
        }
    }
}

/// The AWS resource types the controls evaluate, spelled as AWS Config spells them.
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
pub enum ResourceType {
    #[serde(rename = "AWS::ApiGateway::Stage")]
    RestStage,
    #[serde(rename = "AWS::ApiGatewayV2::Stage")]
    V2Stage,
    #[serde(rename = "AWS::ApiGatewayV2::Route")]
    V2Route,
    #[serde(rename = "AWS::ApiGatewayV2::Integration")]
    V2Integration,
    #[serde(rename = "AWS::ApiGateway::DomainName")]
    DomainName,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::RestStage => "AWS::ApiGateway::Stage",
            ResourceType::V2Stage => "AWS::ApiGatewayV2::Stage",
            ResourceType::V2Route => "AWS::ApiGatewayV2::Route",
            ResourceType::V2Integration => "AWS::ApiGatewayV2::Integration",
            ResourceType::DomainName => "AWS::ApiGateway::DomainName",
        }
    }
}

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

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
    /// The resource as people name it: `<api name>/<stage>` for stages, `<api name>
    /// <route key>` for routes, `<api name> integration <id>` for integrations, the
    /// domain name for custom domains (the ARN carries only ids).
    #[serde(default)]
    pub resource_name: String,
    /// The 12-digit account of the identity that read the resource (API Gateway ARNs
    /// carry none); empty, and left out of the JSON, when it could not be told.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account_id: String,
    pub region: String,
    pub status: Status,
    pub severity: Severity,
    /// What a person needs to act on: which method, route or setting, and its value.
    pub reason: String,
    /// Set when an exemption in the profile covers this finding; the verdict stays.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exempted: bool,
}

/// An API Gateway execution logging level that can be set: `ERROR` or `INFO` (`OFF` is
/// what is never set).
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
pub enum LoggingLevel {
    Error,
    Info,
}

impl LoggingLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LoggingLevel::Error => "ERROR",
            LoggingLevel::Info => "INFO",
        }
    }

    /// How much a level, as AWS reports it, logs: INFO 2, ERROR 1, and 0 for OFF,
    /// absent or unknown levels (they log nothing anyone can rely on). Remediation never
    /// sets a level of lower rank than the one it finds.
    pub fn rank_of(level: Option<&str>) -> u8 {
        match level {
            Some(l) if l.eq_ignore_ascii_case("INFO") => 2,
            Some(l) if l.eq_ignore_ascii_case("ERROR") => 1,
            _ => 0,
        }
    }

    pub fn rank(self) -> u8 {
        Self::rank_of(Some(self.as_str()))
    }
}

impl std::str::FromStr for LoggingLevel {
    type Err = String;

    /// Any case: `ERROR`, `info`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [LoggingLevel::Error, LoggingLevel::Info]
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("{s:?} is not an accepted logging level: use ERROR or INFO"))
    }
}

/// The protocol of an API Gateway v2 API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum V2Protocol {
    Http,
    WebSocket,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_ids_order_numbers_by_value() {
        let mut ids = [
            ControlId::new("APIGateway.10"),
            ControlId::new("APIGateway.9"),
            ControlId::new("APIGateway.1"),
            ControlId::new("APIGateway.11"),
            ControlId::new("APIGateway.2"),
        ];
        ids.sort();
        let names: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
        assert_eq!(
            names,
            [
                "APIGateway.1",
                "APIGateway.2",
                "APIGateway.9",
                "APIGateway.10",
                "APIGateway.11"
            ]
        );
        assert_eq!(natural_order("a01", "a1"), Ordering::Equal);
        assert_eq!(natural_order("a1b", "a1c"), Ordering::Less);
        assert_eq!(natural_order("a", "a1"), Ordering::Less);
    }

    #[test]
    fn logging_levels_rank_by_what_they_log() {
        assert!(LoggingLevel::Info.rank() > LoggingLevel::Error.rank());
        assert_eq!(LoggingLevel::rank_of(Some("info")), 2);
        assert_eq!(LoggingLevel::rank_of(Some("OFF")), 0);
        assert_eq!(LoggingLevel::rank_of(None), 0);
        assert_eq!(LoggingLevel::rank_of(Some("VERBOSE")), 0);
    }
}
