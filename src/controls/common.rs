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
/// (APIGateway.9 for v2 stages, the REST access logging check for REST stages). A log
/// destination is regional, so a profile over several regions names one per region.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogRemediation {
    /// The destinations, at most one per region: CloudWatch Logs log group ARNs without
    /// the trailing `:*` (`arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access`),
    /// or Firehose streams whose name starts with `amazon-apigateway-`. A stage's logs go
    /// to the one of its region (the region is the ARN's); a failing stage in a region
    /// without one is reported as needing one.
    #[serde(default)]
    #[schemars(schema_with = "destination_arns_schema")]
    pub destination_arns: Vec<String>,
    /// One destination, as profiles named it before `destinationArns`: the same as an
    /// entry of `destinationArns` (the two together still name at most one per region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("pattern" = LOG_DESTINATION_ARN_PATTERN))]
    pub destination_arn: Option<String>,
    /// The access log format; must contain `$context.requestId`.
    #[schemars(regex(pattern = r"\$context\.requestId"), length(max = 10000))]
    pub format: String,
}

fn destination_arns_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    regional_arns_schema(generator, LOG_DESTINATION_ARN_PATTERN)
}

/// The most regional targets (web ACLs, log destinations) a remediation setting names:
/// one per region of a profile, which has at most 32.
pub const MAX_REGIONAL_TARGETS: u32 = 32;

/// A list of regional ARNs matching `pattern`: a set, bounded so the CEL rules over it
/// stay cheap for the API server.
pub fn regional_arns_schema(_: &mut schemars::SchemaGenerator, pattern: &str) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {"type": "string", "pattern": pattern, "maxLength": 2048},
        "maxItems": MAX_REGIONAL_TARGETS,
        "x-kubernetes-list-type": "set",
    })
}

/// The CEL rule (on the object holding them) that the ARNs in `$single` (one ARN) and
/// `$list` name at most one per region, the ARN's fourth field.
macro_rules! one_per_region_rule {
    ($single:literal, $list:literal) => {
        concat!(
            "(!has(self.",
            $list,
            ") || self.",
            $list,
            ".all(a, self.",
            $list,
            ".exists_one(b, b.split(':')[3] == a.split(':')[3]))) && (!has(self.",
            $single,
            ") || !has(self.",
            $list,
            ") || !self.",
            $list,
            ".exists(b, b.split(':')[3] == self.",
            $single,
            ".split(':')[3]))"
        )
    };
}
pub(crate) use one_per_region_rule;

/// The CEL rule (on the object holding them) that `$single` or `$list` names at least
/// one target.
macro_rules! names_a_target_rule {
    ($single:literal, $list:literal) => {
        concat!(
            "has(self.",
            $single,
            ") || (has(self.",
            $list,
            ") && size(self.",
            $list,
            ") > 0)"
        )
    };
}
pub(crate) use names_a_target_rule;

/// Admission: `(field, region)` of each target names each region once. `what` names the
/// target, `why` says why one is enough.
pub fn one_per_region(targets: &[(&str, String)], what: &str, why: &str) -> Result<(), FieldError> {
    for (i, (field, region)) in targets.iter().enumerate() {
        if let Some((first, _)) = targets[..i].iter().find(|(_, r)| r == region) {
            return Err(FieldError::new(
                *field,
                format!(
                    "a second {what} for {region} (the first is {first}): name at most one per region, {why}"
                ),
            ));
        }
    }
    Ok(())
}

impl AccessLogRemediation {
    /// Every destination named: `destinationArn`, then `destinationArns`, each with
    /// its field (`field` is where the settings are, `remediation.controls.<name>`).
    fn fields<'a>(&'a self, field: &str) -> Vec<(String, &'a str)> {
        self.destination_arn
            .iter()
            .map(|arn| (format!("{field}.destinationArn"), arn.as_str()))
            .chain(
                self.destination_arns
                    .iter()
                    .enumerate()
                    .map(|(i, arn)| (format!("{field}.destinationArns[{i}]"), arn.as_str())),
            )
            .collect()
    }

    /// Admission: at least one destination, each a log group or Firehose ARN, at most
    /// one per region, and a format that carries the request id. `field` is where the
    /// settings are (`remediation.controls.<name>`).
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        let fields = self.fields(field);
        if fields.is_empty() {
            return Err(FieldError::new(
                field,
                "name the access log destinations: destinationArns, one per region (or destinationArn)",
            ));
        }
        let mut regions = Vec::with_capacity(fields.len());
        for (field, arn) in &fields {
            let destination =
                parse_log_destination(arn).map_err(|message| FieldError::new(field, message))?;
            regions.push((field.as_str(), destination.region().to_string()));
        }
        one_per_region(
            &regions,
            "access log destination",
            "API Gateway writes a stage's access logs to one",
        )?;
        check_access_log_format(&self.format)
            .map_err(|message| FieldError::new(format!("{field}.format"), message))
    }

    /// Where the access logs of a stage in `region` may be sent: the destination named
    /// for that region (its ARN and what it is) when the settings are valid, else why
    /// nothing is planned. `field` names the settings in messages
    /// (`spec.remediation.controls.<name>`).
    pub fn destination_for(
        &self,
        region: &str,
        field: &str,
    ) -> Result<(&str, LogDestination), (UnplannedReason, String)> {
        check_access_log_format(&self.format)
            .map_err(|message| (UnplannedReason::InvalidSettings, message))?;
        let mut named = Vec::new();
        for (_, arn) in self.fields(field) {
            let destination = parse_log_destination(arn)
                .map_err(|message| (UnplannedReason::InvalidSettings, message))?;
            named.push((arn, destination));
        }
        // A log destination is regional: API Gateway writes to one of the stage's region.
        named
            .into_iter()
            .find(|(_, destination)| destination.region() == region)
            .ok_or_else(|| {
                (
                    UnplannedReason::BlockedPrecondition,
                    format!(
                        "no access log destination named for {region}: add one to {field}.destinationArns"
                    ),
                )
            })
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
