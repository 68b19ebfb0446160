//! Remediation: failing findings in, the exact AWS changes that fix them out.
//!
//! Two halves, as everywhere in the pipeline: [`plan()`] is pure (inventory, findings,
//! parameters and settings in; a [`RemediationPlan`] of exact calls out) and
//! [`apply()`] is the AWS edge (checks preconditions, makes or simulates the calls,
//! reports each change). Remediation only strengthens a stage: it never turns
//! anything off, deletes, or lowers a level (docs/remediation.md lists every rule).
//!
//! This module holds the settings a profile gives remediation ([`RemediationSettings`],
//! embeddable in the ComplianceProfile CRD) and the report the CLI prints.

pub mod apply;
pub mod plan;

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::controls::LoggingLevel;
use crate::report::ScanReport;

pub use apply::{
    ApplyOptions, ApplyOutcome, ApplySummary, AuditRecord, CertificateAction, CertificateResult,
    ChangeOutcome, ItemOutcome, ItemStatus, PreconditionResult, apply,
};
pub use plan::{
    Call, Change, ChangeItem, Edit, Operation, PatchValue, Precondition, RemediationPlan,
    Unplanned, UnplannedReason, plan,
};

/// Changes (AWS write calls) one scan makes by default before it stops and reports the
/// rest as pending: enough to fix a team's stages in a few scans, few enough that a
/// wrong setting cannot rewrite a whole account at once.
pub const DEFAULT_MAX_CHANGES_PER_SCAN: u32 = 25;

/// The highest `maxChangesPerScan` accepted: the account's management API allows 10
/// requests per second for every caller together.
pub const MAX_CHANGES_PER_SCAN_LIMIT: u32 = 1000;

/// The variable every access log format must contain, so each line can be traced to
/// its request (CONTROLS.md, APIGateway.9).
pub const REQUEST_ID_VARIABLE: &str = "$context.requestId";

/// What remediation may change, per control, and how much per scan. Embedded in the
/// ComplianceProfile as `spec.remediation` beside `mode` (see docs/remediation.md).
///
/// Defaults: APIGateway.1 (at ERROR, or the lowest accepted level), .3 and .5 are on,
/// because they need nothing but the stage itself and only turn protections on; .4 and
/// .9 act only once their target (web ACL, log destination) is named; .2 acts only on
/// explicit opt-in; .8 is never changed automatically.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationSettings {
    /// At most this many changes (AWS write calls: one UpdateStage per stage, one
    /// AssociateWebACL per stage) per scan; the rest are reported as pending and made
    /// by the next scans. Default 25.
    #[serde(default = "default_max_changes_per_scan")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_changes_per_scan: u32,

    /// Per-control remediation settings.
    #[serde(default)]
    pub controls: ControlRemediations,
}

fn default_max_changes_per_scan() -> u32 {
    DEFAULT_MAX_CHANGES_PER_SCAN
}

impl Default for RemediationSettings {
    fn default() -> Self {
        Self {
            max_changes_per_scan: DEFAULT_MAX_CHANGES_PER_SCAN,
            controls: ControlRemediations::default(),
        }
    }
}

/// Per-control remediation settings. Only absent (`None`) settings are left out when
/// serialised, so the CRD's defaults carry no nulls; the manifest reader names unknown
/// fields by comparing with the serialised form (see `unknown_fields`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ControlRemediations {
    /// APIGateway.1: execution logging. On by default.
    pub execution_logging: ExecutionLoggingRemediation,
    /// APIGateway.2: client certificate. Off unless set (opt-in: certificates expire
    /// after 365 days and some backends refuse client TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<ClientCertificateRemediation>,
    /// APIGateway.3: X-Ray active tracing. On by default.
    pub xray_tracing: RemediationSwitch,
    /// APIGateway.4: the web ACL to associate. Off unless set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waf: Option<WafRemediation>,
    /// APIGateway.5: cache encryption where caching is on. On by default.
    pub cache_encryption: RemediationSwitch,
    /// APIGateway.9: where and how access logs are written. Off unless set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_logging: Option<AccessLoggingRemediation>,
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

/// APIGateway.1 remediation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecutionLoggingRemediation {
    /// Whether remediation may set logging levels. Default true.
    pub enabled: bool,
    /// The level to set where logging is off or below the accepted levels: `ERROR` or
    /// `INFO`. Default: ERROR when accepted (it logs errors only, with no request
    /// detail, at a fraction of INFO's volume), else INFO. Never lowers a level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_level: Option<LoggingLevel>,
}

impl Default for ExecutionLoggingRemediation {
    fn default() -> Self {
        Self {
            enabled: true,
            logging_level: None,
        }
    }
}

/// APIGateway.2 remediation: exactly one of `generate` or `certificateId`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientCertificateRemediation {
    /// Generate one client certificate per region (tagged
    /// `apigwcompliance.io/managed=true`, reused by later scans while it has more than
    /// 30 days left) and attach it.
    pub generate: bool,
    /// Attach this existing client certificate (its id, e.g. `a1b2c3`) instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]{1,64}$"))]
    pub certificate_id: Option<String>,
}

/// APIGateway.4 remediation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WafRemediation {
    /// The WAFv2 web ACL to associate with stages that have none, e.g.
    /// `arn:aws:wafv2:us-east-1:123456789012:regional/webacl/api/1a2b...`. It must have
    /// REGIONAL scope; only stages in its region are changed.
    #[schemars(regex(
        pattern = r"^arn:aws(-[a-z]+)*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/[A-Za-z0-9_-]{1,128}/[A-Za-z0-9-]{1,64}$"
    ))]
    pub web_acl_arn: String,
}

/// APIGateway.9 remediation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLoggingRemediation {
    /// A CloudWatch Logs log group ARN without the trailing `:*`
    /// (`arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access`), or a Firehose
    /// stream whose name starts with `amazon-apigateway-`. Only stages in its region are
    /// changed.
    #[schemars(regex(
        pattern = r"^arn:aws(-[a-z]+)*:(logs:[a-z0-9-]+:[0-9]{12}:log-group:[A-Za-z0-9._/#-]+|firehose:[a-z0-9-]+:[0-9]{12}:deliverystream/amazon-apigateway-[A-Za-z0-9._-]+)$"
    ))]
    pub destination_arn: String,
    /// The access log format; must contain `$context.requestId`.
    #[schemars(regex(pattern = r"\$context\.requestId"), length(max = 10000))]
    pub format: String,
}

/// Remediation settings that cannot be used: the field (under `spec.remediation`) and
/// what is wrong with it.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("spec.remediation.{field}: {message}")]
pub struct SettingsError {
    pub field: String,
    pub message: String,
}

impl SettingsError {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        SettingsError {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl RemediationSettings {
    /// Checks everything a profile could get wrong, naming the field. `plan` copes
    /// with invalid settings too (it reports the control as not planned), so a profile
    /// that skipped this check is still never half-applied.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !(1..=MAX_CHANGES_PER_SCAN_LIMIT).contains(&self.max_changes_per_scan) {
            return Err(SettingsError::invalid(
                "maxChangesPerScan",
                format!(
                    "must be between 1 and {MAX_CHANGES_PER_SCAN_LIMIT} (use mode Observe or DryRun to change nothing)"
                ),
            ));
        }
        let controls = &self.controls;
        if let Some(certificate) = &controls.client_certificate {
            certificate
                .source()
                .map_err(|message| SettingsError::invalid("controls.clientCertificate", message))?;
        }
        if let Some(waf) = &controls.waf {
            parse_web_acl_arn(&waf.web_acl_arn)
                .map_err(|message| SettingsError::invalid("controls.waf.webAclArn", message))?;
        }
        if let Some(access) = &controls.access_logging {
            parse_log_destination(&access.destination_arn).map_err(|message| {
                SettingsError::invalid("controls.accessLogging.destinationArn", message)
            })?;
            check_access_log_format(&access.format).map_err(|message| {
                SettingsError::invalid("controls.accessLogging.format", message)
            })?;
        }
        Ok(())
    }
}

/// Keys of `given` that `known` (the same settings serialised back) does not have:
/// what serde silently ignored, i.e. typos. A key given as null sets nothing, like an
/// absent one (and absent settings are not serialised), so it is not reported. Paths
/// start with `prefix`. The profile manifest reader (`ComplianceProfile::from_manifest`)
/// uses it on `spec.remediation`.
pub(crate) fn unknown_fields(
    given: &serde_yaml::Value,
    known: &serde_yaml::Value,
    prefix: &str,
) -> Vec<String> {
    let (serde_yaml::Value::Mapping(given), serde_yaml::Value::Mapping(known)) = (given, known)
    else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    for (key, value) in given.iter().filter(|(_, value)| !value.is_null()) {
        let name = key
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{key:?}"));
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}.{name}")
        };
        match known.get(key) {
            Some(known_value) => unknown.extend(unknown_fields(value, known_value, &path)),
            None => unknown.push(path),
        }
    }
    unknown
}

/// Where APIGateway.2's certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CertificateSource {
    Generate,
    Existing(String),
}

impl ClientCertificateRemediation {
    pub(crate) fn source(&self) -> Result<CertificateSource, String> {
        match (self.generate, self.certificate_id.as_deref().map(str::trim)) {
            (true, None) => Ok(CertificateSource::Generate),
            (false, Some(id)) if !id.is_empty() => Ok(CertificateSource::Existing(id.to_string())),
            (true, Some(_)) => Err("set either generate: true or certificateId, not both".to_string()),
            (false, _) => Err(
                "set generate: true or a certificateId (or leave clientCertificate out to keep APIGateway.2 remediation off)"
                    .to_string(),
            ),
        }
    }
}

/// The parts of a WAFv2 web ACL ARN that remediation needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebAclArn {
    pub region: String,
    pub name: String,
    pub id: String,
}

/// Parses `arn:{partition}:wafv2:{region}:{account}:regional/webacl/{name}/{id}`;
/// refuses CloudFront (`global`) ACLs, which cannot protect a regional stage.
pub fn parse_web_acl_arn(arn: &str) -> Result<WebAclArn, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return Err(format!("{arn:?} is not an ARN"));
    };
    if prefix != "arn" || !partition.starts_with("aws") || service != "wafv2" {
        return Err(format!(
            "{arn:?} is not a WAFv2 web ACL ARN (arn:aws:wafv2:REGION:ACCOUNT:regional/webacl/NAME/ID)"
        ));
    }
    if region.is_empty() || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{arn:?} has no region or a malformed account id"));
    }
    let segments: Vec<&str> = resource.split('/').collect();
    match segments[..] {
        ["regional", "webacl", name, id] if !name.is_empty() && !id.is_empty() => Ok(WebAclArn {
            region: region.to_string(),
            name: name.to_string(),
            id: id.to_string(),
        }),
        ["global", "webacl", ..] => Err(format!(
            "{arn:?} is a CloudFront (global) web ACL; API Gateway stages need a REGIONAL web ACL"
        )),
        _ => Err(format!(
            "{arn:?} is not a web ACL ARN (expected regional/webacl/NAME/ID after the account)"
        )),
    }
}

/// Where access logs go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogDestination {
    LogGroup { region: String },
    Firehose { region: String },
}

impl LogDestination {
    pub fn region(&self) -> &str {
        match self {
            LogDestination::LogGroup { region } | LogDestination::Firehose { region } => region,
        }
    }
}

/// Accepts a CloudWatch Logs log group ARN or an `amazon-apigateway-…` Firehose stream
/// ARN, the two destinations API Gateway writes access logs to.
pub fn parse_log_destination(arn: &str) -> Result<LogDestination, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return Err(format!(
            "{arn:?} is not an ARN; use a log group ARN such as arn:aws:logs:REGION:ACCOUNT:log-group:NAME"
        ));
    };
    let well_formed = prefix == "arn"
        && partition.starts_with("aws")
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit());
    match service {
        "logs" if well_formed => {
            if resource.ends_with(":*") {
                return Err(format!(
                    "{arn:?} ends with \":*\"; API Gateway wants the log group ARN without it"
                ));
            }
            match resource.strip_prefix("log-group:") {
                Some(name) if !name.is_empty() && !name.contains(':') => {
                    Ok(LogDestination::LogGroup {
                        region: region.to_string(),
                    })
                }
                _ => Err(format!(
                    "{arn:?} is not a log group ARN (arn:aws:logs:REGION:ACCOUNT:log-group:NAME)"
                )),
            }
        }
        "firehose" if well_formed => match resource.strip_prefix("deliverystream/") {
            Some(name) if name.starts_with("amazon-apigateway-") => Ok(LogDestination::Firehose {
                region: region.to_string(),
            }),
            _ => Err(format!(
                "{arn:?}: API Gateway writes access logs only to Firehose streams named amazon-apigateway-…"
            )),
        },
        _ => Err(format!(
            "{arn:?} is not a CloudWatch Logs log group ARN (arn:aws:logs:REGION:ACCOUNT:log-group:NAME) \
             or an amazon-apigateway-… Firehose stream ARN"
        )),
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

/// How far `scan --remediate` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Mode {
    /// Plan and check preconditions (reads only); change nothing.
    DryRun,
    /// Make the changes.
    Enforce,
}

/// What remediation planned and did in one scan: the `"remediation"` object of
/// `scan --output json`, and the section `scan` prints after the findings table.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationReport {
    pub mode: Mode,
    pub plan: RemediationPlan,
    pub outcome: ApplyOutcome,
}

impl RemediationReport {
    /// Plans from the scan's inventory and findings, then applies (Enforce) or checks
    /// preconditions and shows the exact calls without sending them (DryRun).
    pub async fn run(
        mode: Mode,
        sdk: &aws_config::SdkConfig,
        inventory: &crate::inventory::Inventory,
        findings: &[crate::finding::Finding],
        params: &crate::controls::ControlParameters,
        settings: &RemediationSettings,
    ) -> Self {
        let plan = plan(inventory, findings, params, settings);
        let options = ApplyOptions {
            dry_run: mode == Mode::DryRun,
            ..ApplyOptions::default()
        };
        let outcome = apply(&plan, sdk, &options).await;
        Self {
            mode,
            plan,
            outcome,
        }
    }

    /// Writes the scan report's JSON contract with a `"remediation"` object added
    /// beside `"findings"` and `"errors"` (additive: nothing else changes), streamed to
    /// `out` like `ScanReport::write_json`.
    pub fn write_scan_json(
        &self,
        report: &ScanReport,
        out: impl std::io::Write,
    ) -> serde_json::Result<()> {
        #[derive(Serialize)]
        struct ScanWithRemediation<'a> {
            #[serde(flatten)]
            report: &'a ScanReport,
            remediation: &'a RemediationReport,
        }
        serde_json::to_writer_pretty(
            out,
            &ScanWithRemediation {
                report,
                remediation: self,
            },
        )
    }

    /// Whether a change was attempted and refused by AWS.
    pub fn has_failures(&self) -> bool {
        self.outcome.summary().failed > 0
    }

    /// A table for people: each change with its call and every setting's
    /// before -> after and result, then what is pending and what was not planned.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let heading = match self.mode {
            Mode::DryRun => "REMEDIATION PLAN (dry run: nothing was changed)",
            Mode::Enforce => "REMEDIATION (enforce)",
        };
        let _ = writeln!(out, "{heading}");
        for result in &self.outcome.preconditions {
            let verdict = if result.satisfied { "ok" } else { "NOT MET" };
            let _ = writeln!(
                out,
                "  precondition {}: {verdict}: {}",
                result.precondition.describe(),
                result.message
            );
        }
        for certificate in &self.outcome.client_certificates {
            let _ = writeln!(
                out,
                "  client certificate in {}: {}",
                certificate.region, certificate.message
            );
        }
        if self.outcome.changes.is_empty() {
            let _ = writeln!(out, "  no changes to make");
        }
        for change in &self.outcome.changes {
            let _ = writeln!(out, "  {}  ({})", change.resource_arn, change.region);
            let _ = writeln!(out, "    {} {}", change.call.operation, change.call.http);
            for item in &change.items {
                let _ = writeln!(
                    out,
                    "    {:<13} {:<45} {} -> {}  [{}]{}",
                    item.control_id.as_str(),
                    item.setting,
                    item.before,
                    item.after,
                    item.status.as_str(),
                    item.message
                        .as_deref()
                        .map(|m| format!(" {m}"))
                        .unwrap_or_default()
                );
            }
            for note in &change.notes {
                let _ = writeln!(out, "    note: {note}");
            }
        }
        if !self.plan.pending.is_empty() {
            let _ = writeln!(
                out,
                "  PENDING (over maxChangesPerScan = {}; made by the next scans):",
                self.plan.max_changes_per_scan
            );
            for change in &self.plan.pending {
                let controls: Vec<&str> = change.controls().iter().map(|c| c.as_str()).collect();
                let _ = writeln!(
                    out,
                    "    {}  {} ({})",
                    change.resource_arn,
                    change.call.operation,
                    controls.join(", ")
                );
            }
        }
        if !self.plan.unplanned.is_empty() {
            let _ = writeln!(out, "  NOT PLANNED:");
            for item in &self.plan.unplanned {
                let _ = writeln!(
                    out,
                    "    {}  {:<13} {}: {}",
                    item.resource_arn,
                    item.control_id.as_str(),
                    item.reason.as_str(),
                    item.message
                );
            }
        }
        let s = self.outcome.summary();
        let _ = writeln!(
            out,
            "{} changes: {} applied, {} would apply, {} already compliant, {} failed, {} blocked by a precondition; {} pending, {} not planned",
            self.outcome.changes.len(),
            s.applied,
            s.would_apply,
            s.already_compliant,
            s.failed,
            s.blocked,
            self.plan.pending.len(),
            self.plan.unplanned.len()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
apiVersion: apigwcompliance.io/v1alpha1
kind: ComplianceProfile
metadata: {name: p}
spec:
  scope: {regions: [us-east-1]}
  remediation:
    mode: Enforce
    maxChangesPerScan: 5
    controls:
      executionLogging: {loggingLevel: INFO}
      clientCertificate: {generate: true}
      xrayTracing: {enabled: false}
      waf: {webAclArn: "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/api/0a1b"}
      accessLogging:
        destinationArn: arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access
        format: '{"id":"$context.requestId"}'
"#;

    #[test]
    fn defaults_turn_on_only_what_needs_no_target_and_no_opt_in() {
        let settings = RemediationSettings::default();
        assert_eq!(settings.max_changes_per_scan, 25);
        let c = &settings.controls;
        assert!(c.execution_logging.enabled && c.execution_logging.logging_level.is_none());
        assert!(c.xray_tracing.enabled && c.cache_encryption.enabled);
        assert!(c.client_certificate.is_none() && c.waf.is_none() && c.access_logging.is_none());
        settings.validate().expect("defaults are valid");
    }

    /// The settings of a profile manifest, read as `scan --profile` and the CRD read them.
    fn from_manifest(text: &str) -> Result<RemediationSettings, String> {
        crate::crd::ComplianceProfile::from_manifest(text)
            .map(|profile| profile.spec.remediation.settings)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn settings_are_read_from_a_profile_manifest_beside_the_mode() {
        let settings = from_manifest(MANIFEST).expect("valid");
        assert_eq!(settings.max_changes_per_scan, 5);
        assert_eq!(
            settings.controls.execution_logging.logging_level,
            Some(LoggingLevel::Info)
        );
        assert!(!settings.controls.xray_tracing.enabled);
        assert!(settings.controls.cache_encryption.enabled);
        assert_eq!(
            settings.controls.client_certificate,
            Some(ClientCertificateRemediation {
                generate: true,
                certificate_id: None
            })
        );
        let json = serde_json::to_value(&settings).expect("serialises");
        assert_eq!(
            json["controls"]["accessLogging"]["destinationArn"],
            "arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access"
        );
        assert_eq!(json["maxChangesPerScan"], 5);
    }

    #[test]
    fn a_manifest_without_remediation_settings_gets_the_defaults() {
        let text = "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {name: p}\nspec:\n  scope: {regions: [us-east-1]}\n  remediation: {mode: DryRun}\n";
        assert_eq!(
            from_manifest(text).expect("valid"),
            RemediationSettings::default()
        );
    }

    #[test]
    fn a_misspelt_field_is_refused_with_its_path() {
        let text = MANIFEST.replace("xrayTracing", "xrayTraceing");
        let err = from_manifest(&text).expect_err("typo");
        assert_eq!(
            err,
            "<manifest>: spec.remediation.controls.xrayTraceing is not a remediation setting (see docs/remediation.md)"
        );
        let nested = MANIFEST.replace("loggingLevel: INFO", "loggingLevel: INFO, level: INFO");
        let err = from_manifest(&nested).expect_err("typo");
        assert!(
            err.contains("spec.remediation.controls.executionLogging.level is not"),
            "{err}"
        );
    }

    #[test]
    fn a_format_without_the_request_id_is_refused() {
        let text = MANIFEST.replace("$context.requestId", "$context.status");
        let err = from_manifest(&text).expect_err("bad format");
        assert!(
            err.contains("spec.remediation.controls.accessLogging.format: "),
            "{err}"
        );
    }

    #[test]
    fn client_certificate_needs_exactly_one_source() {
        let both = ClientCertificateRemediation {
            generate: true,
            certificate_id: Some("abc".into()),
        };
        assert!(both.source().is_err());
        assert!(ClientCertificateRemediation::default().source().is_err());
        assert_eq!(
            ClientCertificateRemediation {
                generate: false,
                certificate_id: Some("abc".into())
            }
            .source(),
            Ok(CertificateSource::Existing("abc".into()))
        );
    }

    #[test]
    fn max_changes_per_scan_must_allow_at_least_one_change() {
        let settings = RemediationSettings {
            max_changes_per_scan: 0,
            ..RemediationSettings::default()
        };
        assert!(settings.validate().is_err());
    }

    #[test]
    fn web_acl_arns_must_be_regional_wafv2() {
        assert_eq!(
            parse_web_acl_arn("arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/api/0a1b"),
            Ok(WebAclArn {
                region: "eu-west-1".into(),
                name: "api".into(),
                id: "0a1b".into()
            })
        );
        let global =
            parse_web_acl_arn("arn:aws:wafv2:us-east-1:123456789012:global/webacl/cf/0a1b");
        assert!(global.expect_err("global").contains("REGIONAL"));
        assert!(
            parse_web_acl_arn("arn:aws:waf-regional:us-east-1:123456789012:webacl/0a1b").is_err()
        );
        assert!(parse_web_acl_arn("not an arn").is_err());
    }

    #[test]
    fn log_destinations_are_log_groups_or_api_gateway_firehose_streams() {
        assert_eq!(
            parse_log_destination("arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access"),
            Ok(LogDestination::LogGroup {
                region: "us-east-1".into()
            })
        );
        assert_eq!(
            parse_log_destination(
                "arn:aws:firehose:eu-west-1:123456789012:deliverystream/amazon-apigateway-logs"
            ),
            Ok(LogDestination::Firehose {
                region: "eu-west-1".into()
            })
        );
        let star = parse_log_destination("arn:aws:logs:us-east-1:123456789012:log-group:x:*");
        assert!(star.expect_err(":*").contains("without it"));
        assert!(
            parse_log_destination("arn:aws:firehose:us-east-1:123456789012:deliverystream/mine")
                .is_err()
        );
        assert!(parse_log_destination("arn:aws:s3:::bucket").is_err());
        assert!(parse_log_destination("arn:aws:logs:us-east-1:123456789012:log-stream:x").is_err());
    }
}
