//! What every control file uses: the shape of its catalog entry, the profile settings
//! every control shares (semantics, a remediation on/off switch), the error a setting
//! check returns, and the helpers reasons and plans are written with. Imports nothing
//! of the catalog itself.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::arn::{LOG_DESTINATION_ARN_PATTERN, LogDestination, parse_log_destination};
use crate::model::plan::UnplannedReason;
use crate::model::{ControlId, Finding, ResourceType, Severity, Status};

/// What the specification says about a control, apart from how it evaluates.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlMeta {
    pub id: ControlId,
    /// The standard the control checks; Security Hub's controls are the default
    /// selection, others are selected by id.
    pub source: Source,
    pub title: &'static str,
    pub severity: Severity,
    /// e.g. `Identify > Logging`.
    pub category: &'static str,
    pub resource_types: &'static [ResourceType],
    /// The requirements it maps to (NIST 800-53 r5, CIS), spelled as their sources
    /// spell them.
    pub related_requirements: &'static [&'static str],
    pub config_rule: &'static str,
    /// Region codes where Security Hub does not support the control.
    pub unsupported_regions: &'static [&'static str],
    pub remediation_url: &'static str,
}

/// Where a control comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Source {
    /// An AWS Security Hub API Gateway control (`APIGateway.N`).
    #[serde(rename = "Security Hub")]
    SecurityHub,
    /// A check of ours for a CIS AWS Foundations Benchmark requirement no Security Hub
    /// control covers.
    #[serde(rename = "CIS")]
    Cis,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::SecurityHub => "Security Hub",
            Source::Cis => "CIS",
        }
    }
}

impl ControlMeta {
    /// Whether Security Hub evaluates this control in `region` (a region code).
    pub fn is_supported_in(&self, region: &str) -> bool {
        !self.unsupported_regions.contains(&region)
    }

    /// This control's verdict on one resource, with its severity. Its readable name and
    /// account are the pipeline's to fill (`pipeline::evaluate`): one place, for every
    /// control, from the read and the identity that made it.
    pub(crate) fn finding(
        &self,
        resource_type: ResourceType,
        region: &str,
        resource_arn: String,
        status: Status,
        reason: String,
    ) -> Finding {
        Finding {
            control_id: self.id,
            resource_type,
            resource_arn,
            resource_name: String::new(),
            account_id: String::new(),
            region: region.to_string(),
            status,
            severity: self.severity,
            reason,
            exempted: false,
        }
    }
}

/// A profile setting that cannot be used: its field under `spec` and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// How literally a control is read where the specification leaves a case open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Semantics {
    /// Follow the control's own sentence (the default; sometimes stricter than AWS).
    #[default]
    Strict,
    /// Reproduce what Security Hub reports, so numbers agree with its dashboard.
    AwsParity,
}

/// A remediation that needs no setting but may be turned off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RemediationSwitch {
    /// Whether remediation may make this change. Default true.
    pub enabled: bool,
}

impl Default for RemediationSwitch {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// Whether a remediation setting is absent, and so left out of the serialised profile.
pub trait Setting {
    fn is_unset(&self) -> bool {
        false
    }
}

impl<T> Setting for Option<T> {
    fn is_unset(&self) -> bool {
        self.is_none()
    }
}

impl Setting for RemediationSwitch {}

/// The variable every access log format must contain, so each line can be traced to
/// its request.
pub const REQUEST_ID_VARIABLE: &str = "$context.requestId";

/// Where remediation sends the access logs of stages that have none, and in what format
/// (APIGateway.9 for v2 stages, the REST access logging check for REST stages).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogRemediation {
    /// A CloudWatch Logs log group ARN without the trailing `:*`
    /// (`arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access`), or a Firehose
    /// stream whose name starts with `amazon-apigateway-`. Only stages in its region are
    /// changed.
    #[schemars(extend("pattern" = LOG_DESTINATION_ARN_PATTERN))]
    pub destination_arn: String,
    /// The access log format; must contain `$context.requestId`.
    #[schemars(regex(pattern = r"\$context\.requestId"), length(max = 10000))]
    pub format: String,
}

impl AccessLogRemediation {
    /// Admission: the destination is a log group or Firehose ARN and the format carries
    /// the request id. `field` is where the settings are (`remediation.controls.<name>`).
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        parse_log_destination(&self.destination_arn)
            .map_err(|message| FieldError::new(format!("{field}.destinationArn"), message))?;
        check_access_log_format(&self.format)
            .map_err(|message| FieldError::new(format!("{field}.format"), message))
    }

    /// Where the access logs of a stage in `region` may be sent: the parsed destination
    /// when the settings are valid and in the stage's region, else why nothing is planned.
    pub fn destination_for(
        &self,
        region: &str,
    ) -> Result<LogDestination, (UnplannedReason, String)> {
        let destination = parse_log_destination(&self.destination_arn)
            .map_err(|message| (UnplannedReason::InvalidSettings, message))?;
        check_access_log_format(&self.format)
            .map_err(|message| (UnplannedReason::InvalidSettings, message))?;
        if destination.region() != region {
            return Err((
                UnplannedReason::BlockedPrecondition,
                format!(
                    "access log destination {} is in {}, the stage in {region}: API Gateway writes access logs to its own region",
                    self.destination_arn,
                    destination.region(),
                ),
            ));
        }
        Ok(destination)
    }
}

/// An access log format must identify each request.
pub fn check_access_log_format(format: &str) -> Result<(), String> {
    if format.contains(REQUEST_ID_VARIABLE) {
        Ok(())
    } else {
        Err(format!(
            "the access log format must contain {REQUEST_ID_VARIABLE} so each line can be traced to its request"
        ))
    }
}

/// The `methodSettings` key of a REST stage's stage-wide settings.
pub const STAGE_WIDE_KEY: &str = "*/*";

/// How many names a reason lists before it says "and N more": a stage with hundreds of
/// failing methods must still give a readable reason.
const MAX_NAMES_IN_REASON: usize = 10;

/// A `methodSettings` key as a person reads it: `~1orders~1{id}/GET` becomes
/// `GET /orders/{id}`. API Gateway escapes the resource path like a JSON pointer
/// (`~1` for `/`, `~0` for `~`), and a `*` method means every method of the path.
pub fn method_setting_name(key: &str) -> String {
    let Some((path, method)) = key.rsplit_once('/') else {
        return key.to_string();
    };
    let path = path.replace("~1", "/").replace("~0", "~");
    if method == "*" {
        format!("all methods of {path}")
    } else {
        format!("{method} {path}")
    }
}

/// Names for a reason: `a`, `a and b`, `a, b and c`, at most `MAX_NAMES_IN_REASON` then
/// `... and N more`.
pub fn name_list(names: &[String]) -> String {
    if names.len() > MAX_NAMES_IN_REASON {
        let (shown, rest) = names.split_at(MAX_NAMES_IN_REASON);
        return format!("{} and {} more", shown.join(", "), rest.len());
    }
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// Alternatives for a reason: `a`, `a or b`, `a, b or c`.
pub fn join_or(names: &[String]) -> String {
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// A string field that is set to something other than blanks: AWS may return an empty
/// string where a setting was cleared, which configures nothing.
pub fn non_empty(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// A value as a plan shows it: `none` when absent.
pub fn shown(value: Option<&str>) -> String {
    value.unwrap_or("none").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_setting_keys_decode_to_method_and_path() {
        assert_eq!(
            method_setting_name("~1orders~1{id}/GET"),
            "GET /orders/{id}"
        );
        assert_eq!(method_setting_name("~1/GET"), "GET /");
        assert_eq!(method_setting_name("~1orders/*"), "all methods of /orders");
        assert_eq!(method_setting_name("~1a~0b/POST"), "POST /a~b");
        assert_eq!(method_setting_name("weird"), "weird");
    }

    #[test]
    fn long_name_lists_are_cut_with_a_count() {
        let names: Vec<String> = (1..=12).map(|n| format!("m{n}")).collect();
        assert_eq!(
            name_list(&names),
            "m1, m2, m3, m4, m5, m6, m7, m8, m9, m10 and 2 more"
        );
        assert_eq!(name_list(&names[..3]), "m1, m2 and m3");
        assert_eq!(name_list(&names[..1]), "m1");
    }

    #[test]
    fn blank_strings_are_not_a_setting() {
        assert_eq!(non_empty(&Some("  ".to_string())), None);
        assert_eq!(non_empty(&None), None);
        assert_eq!(non_empty(&Some("x".to_string())), Some("x"));
    }
}
