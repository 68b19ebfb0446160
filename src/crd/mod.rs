//! The `ComplianceProfile` custom resource (`apigwcompliance.io/v1alpha1`): what to check,
//! where, how often, and the verdicts written back in its status.
//!
//! The CRD YAML in `crds/` is generated from these types (`apigw-compliance crd`). Every
//! field's doc comment becomes its `kubectl explain` text, so they are written for users.
//!
//! Validation happens twice, from the same intent:
//! - at admission, by the API server, from the OpenAPI schema (enums, patterns, bounds)
//!   and the CEL rules (`x-kubernetes-validations`) declared here, so a bad profile is
//!   refused before it is stored;
//! - in Rust, by [`ComplianceProfileSpec::validate`], for profiles that never went
//!   through an API server (`scan --profile FILE`) and for what CEL cannot check (glob
//!   syntax). The controller runs it too and reports a failure as `Stalled`.
//!
//! Every list that a CEL rule walks has a `maxItems` and its strings a `maxLength`: the
//! API server refuses a CRD whose rules it cannot bound in cost.

pub mod status;

use std::collections::BTreeMap;
use std::time::Duration;

use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::controls::{ControlId, ControlParameters};
use crate::evaluate::Exemption;
use crate::remediate::{RemediationSettings, unknown_fields};

pub use status::{
    ComplianceProfileStatus, Condition, ConditionStatus, ControlCounts, FailingFinding,
    RemediationStatus, ScanError, Summary,
};

/// The shortest re-check interval a profile may ask for. Shorter would spend API
/// Gateway's shared management-call budget (10 requests/s per account and region) on
/// re-reading what rarely changes.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// The longest re-check interval: beyond a day drift goes unseen for too long.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// The interval used when a profile does not set one.
pub const DEFAULT_INTERVAL: &str = "15m";

/// Bounds that keep CEL rules cheap and profiles readable.
const MAX_REGIONS: u32 = 32;
const MAX_GLOBS: u32 = 64;
const MAX_GLOB_LEN: u32 = 256;
const MAX_TAGS: u32 = 32;
const MAX_EXEMPTIONS: u32 = 256;
const MAX_ALLOW_LIST: u32 = 32;

/// The CEL rules need these inside their text, so they are spelled out once here and
/// kept equal to the constants above by a unit test.
const INTERVAL_FLOOR_RULE: &str =
    "duration(self) >= duration('1m') && duration(self) <= duration('24h')";

// Remediation settings that contradict the control parameters: the change would not make
// the stage pass. Each holds when either side is absent (the API server has filled in
// the defaults by then: every level is accepted, the allow-lists are empty). The Rust
// twins are in `ComplianceProfileSpec::validate_remediation`.
const REMEDIATION_LEVEL_RULE: &str = "!has(self.remediation) || !has(self.remediation.controls) \
    || !has(self.remediation.controls.executionLogging) \
    || !has(self.remediation.controls.executionLogging.loggingLevel) \
    || !has(self.controls) || !has(self.controls.parameters) \
    || !has(self.controls.parameters.executionLogging) \
    || !has(self.controls.parameters.executionLogging.acceptedLevels) \
    || self.remediation.controls.executionLogging.loggingLevel in self.controls.parameters.executionLogging.acceptedLevels";
const REMEDIATION_WAF_RULE: &str = "!has(self.remediation) || !has(self.remediation.controls) \
    || !has(self.remediation.controls.waf) \
    || !has(self.controls) || !has(self.controls.parameters) \
    || !has(self.controls.parameters.waf) \
    || !has(self.controls.parameters.waf.acceptedWebAclArns) \
    || size(self.controls.parameters.waf.acceptedWebAclArns) == 0 \
    || self.remediation.controls.waf.webAclArn in self.controls.parameters.waf.acceptedWebAclArns";
const REMEDIATION_CERTIFICATE_RULE: &str = "!has(self.remediation) || !has(self.remediation.controls) \
    || !has(self.remediation.controls.clientCertificate) \
    || !has(self.controls) || !has(self.controls.parameters) \
    || !has(self.controls.parameters.clientCertificate) \
    || !has(self.controls.parameters.clientCertificate.acceptedCertificateIds) \
    || size(self.controls.parameters.clientCertificate.acceptedCertificateIds) == 0 \
    || (has(self.remediation.controls.clientCertificate.certificateId) \
        && self.remediation.controls.clientCertificate.certificateId in self.controls.parameters.clientCertificate.acceptedCertificateIds)";
/// APIGateway.2 remediation takes its certificate from exactly one place.
const CERTIFICATE_SOURCE_RULE: &str =
    "(has(self.generate) && self.generate) != has(self.certificateId)";

/// Declares which API Gateway stages and routes must comply with which Security Hub
/// controls, and how often to check. The operator writes the verdicts to `status`.
// Each printer column repeats `type_ = ...` inside its own `printcolumn(...)`, which
// clippy's duplicated_attributes lint mistakes for one attribute given twice.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "apigwcompliance.io",
    version = "v1alpha1",
    kind = "ComplianceProfile",
    plural = "complianceprofiles",
    shortname = "acp",
    category = "apigw",
    namespaced,
    status = "ComplianceProfileStatus",
    derive = "PartialEq",
    doc = "Declares which AWS API Gateway stages must comply with which Security Hub API Gateway controls; the operator writes the verdicts to status.",
    printcolumn(
        name = "Compliant",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Compliant\")].status",
        description = "Whether every in-scope resource passes every selected control"
    ),
    printcolumn(
        name = "Failed",
        type_ = "integer",
        json_path = ".status.summary.failed",
        description = "Failing findings, exemptions excluded"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the last scan of the current spec completed"
    ),
    printcolumn(
        name = "Last scan",
        type_ = "date",
        json_path = ".status.lastScanTime",
        description = "When the last scan finished"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        priority = 1,
        description = "The Ready condition's message"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(REMEDIATION_LEVEL_RULE).message("must be one of spec.controls.parameters.executionLogging.acceptedLevels: a stage set to another level would still fail APIGateway.1").field_path(".remediation.controls.executionLogging.loggingLevel").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new(REMEDIATION_WAF_RULE).message("must be one of spec.controls.parameters.waf.acceptedWebAclArns: a stage given another web ACL would still fail APIGateway.4").field_path(".remediation.controls.waf.webAclArn").reason(Reason::FieldValueInvalid))]
#[x_kube(validation = Rule::new(REMEDIATION_CERTIFICATE_RULE).message("with spec.controls.parameters.clientCertificate.acceptedCertificateIds set, name one of them in certificateId (a generated certificate is not in the list)").field_path(".remediation.controls.clientCertificate").reason(Reason::FieldValueInvalid))]
pub struct ComplianceProfileSpec {
    /// Which AWS account (through an optional IAM role), regions, API types, APIs and
    /// stages are checked.
    pub scope: Scope,

    /// Which controls apply, and their parameters. All seven controls with Security Hub's
    /// default parameters when absent.
    #[serde(default)]
    pub controls: ControlSelection,

    /// What the operator does about failing findings. `Observe` (the default) only
    /// reports; `DryRun` shows the exact changes; `Enforce` makes them.
    #[serde(default)]
    #[schemars(schema_with = "remediation_schema")]
    pub remediation: Remediation,

    /// Findings to mark as exempted: their verdict is kept but they no longer make the
    /// profile non-compliant. An exemption past its expiry stops applying and is reported
    /// in status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "exemptions_schema")]
    #[x_kube(validation = Rule::new("self.all(e, has(e.reason) && size(e.reason.trim()) > 0)").message("every exemption needs a non-empty reason (spec.exemptions[].reason)").reason(Reason::FieldValueRequired))]
    pub exemptions: Vec<Exemption>,

    /// How often the stages are re-checked, as a Go duration (`90s`, `15m`, `1h30m`),
    /// between 1m and 24h. A spec change is checked at once, whatever the interval.
    #[serde(default = "default_interval")]
    #[schemars(schema_with = "interval_schema")]
    #[x_kube(validation = Rule::new(INTERVAL_FLOOR_RULE).message("spec.interval must be between 1m and 24h").reason(Reason::FieldValueInvalid))]
    pub interval: String,
}

fn default_interval() -> String {
    DEFAULT_INTERVAL.to_string()
}

/// What is checked: which account, regions, API types, APIs and stages.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.externalId) || has(self.roleArn)").message("spec.scope.externalId is only used with spec.scope.roleArn").reason(Reason::FieldValueForbidden))]
pub struct Scope {
    /// AWS regions to check, e.g. `us-east-1`.
    #[schemars(schema_with = "regions_schema")]
    pub regions: Vec<String>,

    /// The IAM role to assume for the scan (STS AssumeRole), e.g.
    /// `arn:aws:iam::123456789012:role/apigw-compliance-audit`. The operator's tenancy
    /// configuration must allow this role for the profile's namespace; without it the
    /// operator's own identity is used, which the tenancy configuration must also allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"),
        length(max = 600)
    )]
    pub role_arn: Option<String>,

    /// The external id the role's trust policy requires (sts:ExternalId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9+=,.@:/_-]+$"),
        length(min = 2, max = 1224)
    )]
    pub external_id: Option<String>,

    /// API types to check: `REST`, `HTTP`, `WEBSOCKET`. All three when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 3))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub api_types: Option<Vec<ApiType>>,

    /// APIs to check, by name glob (`*` any run of characters, `?` one, `[ab]` a class).
    #[serde(default, skip_serializing_if = "NameFilter::is_empty")]
    pub apis: NameFilter,

    /// Stages to check, by name glob. Routes (APIGateway.8) belong to an API, not a
    /// stage: they are checked when their API is in scope and, if this filter is set,
    /// at least one of the API's stages is.
    #[serde(default, skip_serializing_if = "NameFilter::is_empty")]
    pub stages: NameFilter,

    /// Stages to check, by tag. A stage's tags are its API's tags overlaid with its own;
    /// a route has its API's tags.
    #[serde(default, skip_serializing_if = "TagFilter::is_empty")]
    pub tags: TagFilter,
}

/// An API Gateway API type.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApiType {
    Rest,
    Http,
    Websocket,
}

impl ApiType {
    pub const ALL: [ApiType; 3] = [ApiType::Rest, ApiType::Http, ApiType::Websocket];
}

/// Include and exclude name globs. A name is selected when it matches an `include` glob
/// (or `include` is empty) and no `exclude` glob.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.include) || !has(self.exclude) || !self.include.exists(g, g in self.exclude)").message("the same glob is both included and excluded").reason(Reason::FieldValueInvalid))]
pub struct NameFilter {
    /// Globs a name must match (any of them). Everything when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "globs_schema")]
    pub include: Vec<String>,
    /// Globs that take a name out of scope even when included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "globs_schema")]
    pub exclude: Vec<String>,
}

impl NameFilter {
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

/// Tag selectors; values are globs (`*` matches any value, including empty).
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.include) || !has(self.exclude) || !self.include.exists(k, k in self.exclude && self.include[k] == self.exclude[k])").message("the same tag is both included and excluded").reason(Reason::FieldValueInvalid))]
pub struct TagFilter {
    /// Tags a stage must carry, every one of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "tags_schema")]
    pub include: BTreeMap<String, String>,
    /// Tags that take a stage out of scope, any one of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "tags_schema")]
    pub exclude: BTreeMap<String, String>,
}

impl TagFilter {
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

/// Which controls apply and how they read.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlSelection {
    /// The controls to evaluate, e.g. `[APIGateway.1, APIGateway.4]`. All seven when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 7))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub enabled: Option<Vec<ControlId>>,

    /// Parameters of the controls; each defaults to Security Hub's default.
    #[serde(default)]
    #[schemars(schema_with = "parameters_schema")]
    pub parameters: ControlParameters,
}

impl ControlSelection {
    /// The controls to evaluate, in catalog order, without duplicates.
    pub fn ids(&self) -> Vec<ControlId> {
        match &self.enabled {
            None => ControlId::ALL.to_vec(),
            Some(ids) => ControlId::ALL
                .into_iter()
                .filter(|id| ids.contains(id))
                .collect(),
        }
    }
}

/// What the operator does about failing findings: the mode, and what remediation may
/// change per control and per scan (docs/remediation.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Remediation {
    /// `Observe` (default): report only. `DryRun`: report plus, in
    /// `status.remediation.plan`, the exact changes that would be made (no AWS write).
    /// `Enforce`: make the changes, each reported as an Event and in
    /// `status.remediation.recentChanges`.
    #[serde(default)]
    pub mode: RemediationMode,

    /// `maxChangesPerScan` and the per-control `controls`, beside `mode`. Used in
    /// `DryRun` and `Enforce`.
    #[serde(flatten)]
    pub settings: RemediationSettings,
}

/// How far remediation goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RemediationMode {
    #[default]
    Observe,
    DryRun,
    Enforce,
}

impl RemediationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RemediationMode::Observe => "Observe",
            RemediationMode::DryRun => "DryRun",
            RemediationMode::Enforce => "Enforce",
        }
    }
}

/// A profile the API server would refuse, or that cannot work as written. The message
/// names the field, like the API server's would.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpecError {
    #[error("spec.{field}: {message}")]
    Invalid { field: String, message: String },
    /// A key under `spec.remediation` that no setting has: a typo the API server would
    /// refuse (strict field validation) and serde would silently ignore.
    #[error("spec.{field} is not a remediation setting (see docs/remediation.md)")]
    UnknownRemediationField { field: String },
}

impl SpecError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A profile manifest that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read profile {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a ComplianceProfile manifest: {source} (see examples/ for the shape)")]
    Parse {
        path: String,
        source: serde_yaml::Error,
    },
    #[error(
        "{path} has apiVersion {api_version:?} and kind {kind:?}; expected apigwcompliance.io/v1alpha1 ComplianceProfile"
    )]
    WrongKind {
        path: String,
        api_version: String,
        kind: String,
    },
    #[error("{path}: {source}")]
    Invalid { path: String, source: SpecError },
}

impl ComplianceProfile {
    /// Reads a ComplianceProfile manifest, the same YAML a user applies to the cluster,
    /// and checks it as the API server would (see [`ComplianceProfileSpec::validate`]).
    pub fn from_manifest_file(path: &std::path::Path) -> Result<Self, ManifestError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_manifest(&text).map_err(|e| match e {
            ManifestError::Parse { source, .. } => ManifestError::Parse {
                path: shown.clone(),
                source,
            },
            ManifestError::WrongKind {
                api_version, kind, ..
            } => ManifestError::WrongKind {
                path: shown.clone(),
                api_version,
                kind,
            },
            ManifestError::Invalid { source, .. } => ManifestError::Invalid {
                path: shown.clone(),
                source,
            },
            other => other,
        })
    }

    /// Parses and checks a manifest held in memory (`path` in errors is `<manifest>`).
    pub fn from_manifest(text: &str) -> Result<Self, ManifestError> {
        let path = "<manifest>".to_string();
        let parse_error = |source| ManifestError::Parse {
            path: path.clone(),
            source,
        };
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(parse_error)?;
        let field = |name: &str| {
            value
                .get(name)
                .and_then(serde_yaml::Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (api_version, kind) = (field("apiVersion"), field("kind"));
        if api_version != "apigwcompliance.io/v1alpha1" || kind != "ComplianceProfile" {
            return Err(ManifestError::WrongKind {
                path,
                api_version,
                kind,
            });
        }
        let given_remediation = value
            .get("spec")
            .and_then(|spec| spec.get("remediation"))
            .cloned();
        let profile: ComplianceProfile = serde_yaml::from_value(value).map_err(parse_error)?;
        if let Some(given) = given_remediation {
            // Serialised back, the settings name every field they have (none is skipped),
            // so a given key missing there is one serde ignored.
            let known = serde_yaml::to_value(&profile.spec.remediation).map_err(parse_error)?;
            if let Some(field) = unknown_fields(&given, &known, "remediation")
                .into_iter()
                .next()
            {
                return Err(ManifestError::Invalid {
                    path,
                    source: SpecError::UnknownRemediationField { field },
                });
            }
        }
        profile
            .spec
            .validate()
            .map_err(|source| ManifestError::Invalid { path, source })?;
        Ok(profile)
    }
}

impl ComplianceProfileSpec {
    /// Checks what the API server checks at admission (so a manifest used without a
    /// cluster is held to the same rules) plus what it cannot: glob syntax.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.scope.validate()?;
        if let Some(enabled) = &self.controls.enabled {
            if enabled.is_empty() {
                return Err(SpecError::invalid(
                    "controls.enabled",
                    "list at least one control, or leave the field out for all seven",
                ));
            }
            if let Some(dup) = first_duplicate(enabled) {
                return Err(SpecError::invalid(
                    "controls.enabled",
                    format!("{dup} is listed twice"),
                ));
            }
        }
        validate_parameters(&self.controls.parameters)?;
        self.validate_exemptions()?;
        parse_interval(&self.interval)?;
        self.validate_remediation()?;
        Ok(())
    }

    /// The remediation settings on their own, then against the control parameters (the
    /// twins of the `REMEDIATION_*_RULE` CEL rules): a change that would not make the
    /// stage pass is refused here rather than planned and reported as unusable.
    fn validate_remediation(&self) -> Result<(), SpecError> {
        let settings = &self.remediation.settings;
        settings
            .validate()
            .map_err(|e| SpecError::invalid(format!("remediation.{}", e.field), e.message))?;
        let controls = &settings.controls;
        let params = &self.controls.parameters;
        if let Some(level) = controls.execution_logging.logging_level
            && !params.execution_logging.accepted_levels.contains(&level)
        {
            return Err(SpecError::invalid(
                "remediation.controls.executionLogging.loggingLevel",
                format!(
                    "{} must be one of spec.controls.parameters.executionLogging.acceptedLevels: a stage set to another level would still fail APIGateway.1",
                    level.as_str()
                ),
            ));
        }
        let accepted_acls = &params.waf.accepted_web_acl_arns;
        if let Some(waf) = &controls.waf
            && !accepted_acls.is_empty()
            && !accepted_acls.contains(&waf.web_acl_arn)
        {
            return Err(SpecError::invalid(
                "remediation.controls.waf.webAclArn",
                "must be one of spec.controls.parameters.waf.acceptedWebAclArns: a stage given another web ACL would still fail APIGateway.4",
            ));
        }
        let accepted_certificates = &params.client_certificate.accepted_certificate_ids;
        if let Some(certificate) = &controls.client_certificate
            && !accepted_certificates.is_empty()
            && !certificate
                .certificate_id
                .as_ref()
                .is_some_and(|id| accepted_certificates.contains(id))
        {
            return Err(SpecError::invalid(
                "remediation.controls.clientCertificate",
                "with spec.controls.parameters.clientCertificate.acceptedCertificateIds set, name one of them in certificateId (a generated certificate is not in the list)",
            ));
        }
        Ok(())
    }

    /// The re-check interval (validated: within [`MIN_INTERVAL`, `MAX_INTERVAL`]).
    pub fn interval(&self) -> Result<Duration, SpecError> {
        parse_interval(&self.interval)
    }

    fn validate_exemptions(&self) -> Result<(), SpecError> {
        for (i, e) in self.exemptions.iter().enumerate() {
            let field = format!("exemptions[{i}]");
            if e.reason.trim().is_empty() {
                return Err(SpecError::invalid(
                    format!("{field}.reason"),
                    "every exemption needs a non-empty reason",
                ));
            }
            if !e.resource_arn_glob.starts_with("arn:") {
                return Err(SpecError::invalid(
                    format!("{field}.resourceArnGlob"),
                    "must be an ARN glob such as arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/*",
                ));
            }
            compile_glob(&format!("{field}.resourceArnGlob"), &e.resource_arn_glob)?;
            if let Some(expires) = &e.expires
                && expires
                    .trim()
                    .parse::<k8s_openapi::jiff::Timestamp>()
                    .is_err()
            {
                return Err(SpecError::invalid(
                    format!("{field}.expires"),
                    format!("{expires:?} is not an RFC 3339 time such as 2026-06-30T00:00:00Z"),
                ));
            }
        }
        Ok(())
    }
}

impl Scope {
    fn validate(&self) -> Result<(), SpecError> {
        if self.regions.is_empty() {
            return Err(SpecError::invalid(
                "scope.regions",
                "list at least one region, e.g. us-east-1",
            ));
        }
        for (i, region) in self.regions.iter().enumerate() {
            if !is_region(region) {
                return Err(SpecError::invalid(
                    format!("scope.regions[{i}]"),
                    format!("{region:?} is not an AWS region code such as us-east-1"),
                ));
            }
        }
        if let Some(dup) = first_duplicate(&self.regions) {
            return Err(SpecError::invalid(
                "scope.regions",
                format!("{dup} is listed twice"),
            ));
        }
        if let Some(role) = &self.role_arn
            && parse_role_arn(role).is_none()
        {
            return Err(SpecError::invalid(
                "scope.roleArn",
                format!(
                    "{role:?} is not an IAM role ARN such as arn:aws:iam::123456789012:role/name"
                ),
            ));
        }
        if let Some(external_id) = &self.external_id {
            if self.role_arn.is_none() {
                return Err(SpecError::invalid(
                    "scope.externalId",
                    "only used with spec.scope.roleArn",
                ));
            }
            let ok = (2..=1224).contains(&external_id.len())
                && external_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(c));
            if !ok {
                return Err(SpecError::invalid(
                    "scope.externalId",
                    "must be 2 to 1224 characters of letters, digits and +=,.@:/_-",
                ));
            }
        }
        if let Some(types) = &self.api_types {
            if types.is_empty() {
                return Err(SpecError::invalid(
                    "scope.apiTypes",
                    "list at least one API type, or leave the field out for all three",
                ));
            }
            if let Some(dup) = first_duplicate(types) {
                return Err(SpecError::invalid(
                    "scope.apiTypes",
                    format!("{dup:?} is listed twice"),
                ));
            }
        }
        self.apis.validate("scope.apis")?;
        self.stages.validate("scope.stages")?;
        self.tags.validate()?;
        Ok(())
    }

    /// The API types in scope (all three when not restricted).
    pub fn api_types(&self) -> Vec<ApiType> {
        self.api_types
            .clone()
            .unwrap_or_else(|| ApiType::ALL.to_vec())
    }
}

impl NameFilter {
    fn validate(&self, field: &str) -> Result<(), SpecError> {
        for (list, globs) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (i, glob) in globs.iter().enumerate() {
                compile_glob(&format!("{field}.{list}[{i}]"), glob)?;
            }
        }
        if let Some(both) = self.include.iter().find(|g| self.exclude.contains(g)) {
            return Err(SpecError::invalid(
                field,
                format!("{both:?} is both included and excluded"),
            ));
        }
        Ok(())
    }
}

impl TagFilter {
    fn validate(&self) -> Result<(), SpecError> {
        for (list, tags) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (key, value) in tags {
                compile_glob(&format!("scope.tags.{list}.{key}"), value)?;
            }
        }
        if let Some((key, value)) = self
            .include
            .iter()
            .find(|(k, v)| self.exclude.get(*k) == Some(*v))
        {
            return Err(SpecError::invalid(
                "scope.tags",
                format!("tag {key}={value} is both included and excluded"),
            ));
        }
        Ok(())
    }
}

fn validate_parameters(params: &ControlParameters) -> Result<(), SpecError> {
    let field = "controls.parameters";
    if params.execution_logging.accepted_levels.is_empty() {
        return Err(SpecError::invalid(
            format!("{field}.executionLogging.acceptedLevels"),
            "an empty list would fail every stage: list ERROR and/or INFO, or leave it out",
        ));
    }
    if params
        .route_authorization
        .accepted_authorization_types
        .is_empty()
    {
        return Err(SpecError::invalid(
            format!("{field}.routeAuthorization.acceptedAuthorizationTypes"),
            "an empty list would fail every route: list AWS_IAM, JWT and/or CUSTOM, or leave it out",
        ));
    }
    for (i, arn) in params.waf.accepted_web_acl_arns.iter().enumerate() {
        if !is_web_acl_arn(arn) {
            return Err(SpecError::invalid(
                format!("{field}.waf.acceptedWebAclArns[{i}]"),
                format!("{arn:?} is not a regional WAF web ACL ARN"),
            ));
        }
    }
    Ok(())
}

/// Compiles a glob as the scope filter will, so a bad one is reported with its field.
pub(crate) fn compile_glob(field: &str, glob: &str) -> Result<globset::GlobMatcher, SpecError> {
    globset::Glob::new(glob)
        .map(|g| g.compile_matcher())
        .map_err(|e| {
            SpecError::invalid(field, format!("{glob:?} is not a valid glob: {}", e.kind()))
        })
}

fn first_duplicate<T: PartialEq>(items: &[T]) -> Option<&T> {
    items
        .iter()
        .enumerate()
        .find(|(i, item)| items[..*i].contains(item))
        .map(|(_, item)| item)
}

/// AWS region codes: `us-east-1`, `us-gov-west-1`, `eu-central-2`, `us-isob-east-1`.
pub const REGION_PATTERN: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$";
/// Regional WAF web ACLs: WAFv2 (`regional/webacl/NAME/ID`) or WAF Classic regional.
pub const WEB_ACL_ARN_PATTERN: &str = r"^arn:aws(-[a-z]+)*:(wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/[A-Za-z0-9_-]{1,128}/[A-Za-z0-9-]{1,64}|waf-regional:[a-z0-9-]+:[0-9]{12}:webacl/[A-Za-z0-9-]{1,64})$";
/// API Gateway client certificate ids are short lowercase alphanumerics.
const CLIENT_CERTIFICATE_ID_PATTERN: &str = "^[a-z0-9]{1,64}$";

fn is_region(s: &str) -> bool {
    let mut parts = s.split('-');
    let Some(area) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    let Some((number, words)) = rest.split_last() else {
        return false;
    };
    area.len() == 2
        && area.bytes().all(|b| b.is_ascii_lowercase())
        && !words.is_empty()
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

fn is_partition(p: &str) -> bool {
    p == "aws"
        || p.strip_prefix("aws-").is_some_and(|rest| {
            rest.split('-')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        })
}

/// The account id of an IAM role ARN (`arn:aws:iam::123456789012:role/name`), or `None`
/// when the string is not one.
pub fn parse_role_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let name = resource.strip_prefix("role/")?;
    let ok = is_partition(partition)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (1..=512).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_/-".contains(c));
    ok.then_some(account)
}

fn is_web_acl_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let id_ok = |s: &str| {
        (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let resource_ok = match *service {
        "wafv2" => resource
            .strip_prefix("regional/webacl/")
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(name, id)| {
                (1..=128).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    && id_ok(id)
            }),
        "waf-regional" => resource.strip_prefix("webacl/").is_some_and(id_ok),
        _ => false,
    };
    *arn_ == "arn"
        && is_partition(partition)
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource_ok
}

/// Parses a Go-style duration (`90s`, `15m`, `1h30m`) and checks it is within the
/// allowed interval range.
pub fn parse_interval(text: &str) -> Result<Duration, SpecError> {
    let field = "interval";
    let parsed: kube::core::Duration = text.parse().map_err(|_| {
        SpecError::invalid(
            field,
            format!("{text:?} is not a duration such as 90s, 15m or 1h30m"),
        )
    })?;
    if parsed.is_negative() {
        return Err(SpecError::invalid(field, "must not be negative"));
    }
    let duration: Duration = parsed.into();
    if duration < MIN_INTERVAL || duration > MAX_INTERVAL {
        return Err(SpecError::invalid(field, "must be between 1m and 24h"));
    }
    Ok(duration)
}

/// The CRD as YAML, exactly as checked in under `crds/`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&ComplianceProfile::crd())
}

// --- Schema refinements -------------------------------------------------------------
//
// schemars derives the shape; these add what only the CRD needs: patterns the API server
// checks, bounds that keep CEL cheap, and list types that refuse duplicates.

fn string_list(item: Value, max_items: u32) -> Schema {
    json_schema!({
        "type": "array",
        "items": item,
        "maxItems": max_items,
        "x-kubernetes-list-type": "set",
    })
}

fn regions_schema(_: &mut SchemaGenerator) -> Schema {
    let mut s = string_list(
        json!({"type": "string", "pattern": REGION_PATTERN, "maxLength": 32}),
        MAX_REGIONS,
    );
    s.insert("minItems".into(), json!(1));
    s
}

fn globs_schema(_: &mut SchemaGenerator) -> Schema {
    string_list(
        json!({"type": "string", "minLength": 1, "maxLength": MAX_GLOB_LEN}),
        MAX_GLOBS,
    )
}

fn tags_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": MAX_GLOB_LEN},
        "maxProperties": MAX_TAGS,
    })
}

fn interval_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "default": DEFAULT_INTERVAL,
        "pattern": "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$",
        "minLength": 2,
        "maxLength": 16,
    })
}

/// The sub-schema object at `path` (property names) under `schema`, when there is one.
/// A unit test checks that every refinement below found its target.
fn at<'a>(schema: &'a mut Value, path: &[&str]) -> Option<&'a mut serde_json::Map<String, Value>> {
    let mut node = schema;
    for key in path {
        node = node.get_mut("properties")?.get_mut(*key)?;
    }
    node.as_object_mut()
}

/// ControlParameters belongs to the control engine; the CRD adds the admission checks:
/// ARN and id patterns, non-empty accepted lists, no duplicates, bounded sizes.
fn parameters_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut value = ControlParameters::json_schema(generator).to_value();
    for (path, item_extra, min_items) in [
        (
            &["executionLogging", "acceptedLevels"][..],
            json!({}),
            Some(1),
        ),
        (
            &["routeAuthorization", "acceptedAuthorizationTypes"][..],
            json!({}),
            Some(1),
        ),
        (
            &["waf", "acceptedWebAclArns"][..],
            json!({"pattern": WEB_ACL_ARN_PATTERN, "maxLength": 2048}),
            None,
        ),
        (
            &["clientCertificate", "acceptedCertificateIds"][..],
            json!({"pattern": CLIENT_CERTIFICATE_ID_PATTERN, "maxLength": 64}),
            None,
        ),
    ] {
        let Some(list) = at(&mut value, path) else {
            continue;
        };
        list.insert("maxItems".into(), json!(MAX_ALLOW_LIST));
        list.insert("x-kubernetes-list-type".into(), json!("set"));
        if let Some(min) = min_items {
            list.insert("minItems".into(), json!(min));
        }
        if let (Some(Value::Object(items)), Value::Object(extra)) =
            (list.get_mut("items"), item_extra)
        {
            items.extend(extra);
        }
    }
    Schema::try_from(value).unwrap_or_default()
}

/// Exemption belongs to the engine; the CRD bounds the list and each entry's strings and
/// checks that the resource glob is an ARN glob.
fn exemptions_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut value = Vec::<Exemption>::json_schema(generator).to_value();
    if let Value::Object(list) = &mut value {
        list.insert("maxItems".into(), json!(MAX_EXEMPTIONS));
    }
    if let Some(item) = value.get_mut("items") {
        if let Some(glob) = at(item, &["resourceArnGlob"]) {
            glob.insert("pattern".into(), json!("^arn:"));
            glob.insert("maxLength".into(), json!(512));
        }
        if let Some(reason) = at(item, &["reason"]) {
            reason.insert("maxLength".into(), json!(1024));
        }
    }
    Schema::try_from(value).unwrap_or_default()
}

/// RemediationSettings belongs to the remediation engine; the CRD adds what admission
/// needs: the client certificate's one-source rule, and length bounds on the strings the
/// spec-level CEL rules compare.
fn remediation_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut value = Remediation::json_schema(generator).to_value();
    if let Some(certificate) = at(&mut value, &["controls", "clientCertificate"]) {
        certificate.insert(
            "x-kubernetes-validations".into(),
            json!([{
                "rule": CERTIFICATE_SOURCE_RULE,
                "message": "set either generate: true or certificateId, not both",
                "reason": "FieldValueInvalid",
            }]),
        );
    }
    for (path, max_length) in [
        (&["controls", "clientCertificate", "certificateId"][..], 64),
        (&["controls", "waf", "webAclArn"][..], 2048),
        (&["controls", "accessLogging", "destinationArn"][..], 2048),
        (&["controls", "executionLogging", "loggingLevel"][..], 8),
    ] {
        if let Some(field) = at(&mut value, path) {
            field.insert("maxLength".into(), json!(max_length));
        }
    }
    Schema::try_from(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
    }

    /// The `# rust:` marker of a bad example: what the Rust-side error must mention.
    fn marker(text: &str, name: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# {name}: ")))
            .map(|s| s.trim().to_string())
    }

    #[test]
    fn sample_profiles_are_valid() {
        for name in [
            "profile.yaml",
            "profile-team.yaml",
            "profile-remediate.yaml",
        ] {
            let path = examples_dir().join(name);
            let profile = ComplianceProfile::from_manifest_file(&path)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!profile.spec.scope.regions.is_empty());
        }
    }

    #[test]
    fn every_bad_example_is_refused_naming_its_field() {
        let dir = examples_dir().join("invalid");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("examples/invalid exists") {
            let path = entry.expect("readable entry").path();
            let text = std::fs::read_to_string(&path).expect("readable example");
            let expected = marker(&text, "rust")
                .unwrap_or_else(|| panic!("{} has no `# rust:` marker", path.display()));
            assert!(
                marker(&text, "admission").is_some(),
                "{} has no `# admission:` marker",
                path.display()
            );
            let err = ComplianceProfile::from_manifest(&text)
                .map(|_| ())
                .expect_err(&format!("{} must be refused", path.display()));
            assert!(
                err.to_string().contains(&expected),
                "{}: error {err:?} does not mention {expected:?}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 8, "only {seen} bad examples");
    }

    #[test]
    fn a_manifest_of_another_kind_is_refused() {
        let err = ComplianceProfile::from_manifest("apiVersion: v1\nkind: ConfigMap\n")
            .expect_err("not a profile");
        assert!(matches!(err, ManifestError::WrongKind { .. }), "{err}");
    }

    #[test]
    fn interval_bounds_match_the_cel_rule() {
        assert_eq!(parse_interval("1m"), Ok(MIN_INTERVAL));
        assert_eq!(parse_interval("24h"), Ok(MAX_INTERVAL));
        assert_eq!(parse_interval("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_interval("59s").is_err());
        assert!(parse_interval("25h").is_err());
        assert!(parse_interval("soon").is_err());
        assert!(INTERVAL_FLOOR_RULE.contains("duration('1m')"));
        assert!(INTERVAL_FLOOR_RULE.contains("duration('24h')"));
        assert_eq!(
            parse_interval(DEFAULT_INTERVAL),
            Ok(Duration::from_secs(900))
        );
    }

    #[test]
    fn role_arns_yield_their_account() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/path/name"),
            Some("123456789012")
        );
        assert_eq!(
            parse_role_arn("arn:aws-us-gov:iam::123456789012:role/x"),
            Some("123456789012")
        );
        for bad in [
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:sts::123456789012:role/x",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert_eq!(parse_role_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn regions_and_web_acls_follow_their_patterns() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-4",
            "us-isob-east-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in ["US-EAST-1", "useast1", "us-east", "us-east-123", "u-east-1"] {
            assert!(!is_region(bad), "{bad}");
        }
        assert!(is_web_acl_arn(
            "arn:aws:wafv2:us-east-1:111122223333:regional/webacl/payments/0f1e2d3c-4b5a"
        ));
        assert!(is_web_acl_arn(
            "arn:aws:waf-regional:eu-west-1:111122223333:webacl/0f1e2d3c"
        ));
        assert!(!is_web_acl_arn(
            "arn:aws:wafv2:us-east-1:111122223333:global/webacl/x/1"
        ));
    }

    #[test]
    fn the_crd_carries_every_admission_check() {
        let crd = serde_json::to_string(&ComplianceProfile::crd()).expect("serializes");
        for needle in [
            REGION_PATTERN,
            WEB_ACL_ARN_PATTERN,
            CLIENT_CERTIFICATE_ID_PATTERN,
            INTERVAL_FLOOR_RULE,
            "the same glob is both included and excluded",
            "the same tag is both included and excluded",
            "every exemption needs a non-empty reason",
            "spec.scope.externalId is only used with spec.scope.roleArn",
            REMEDIATION_LEVEL_RULE,
            REMEDIATION_WAF_RULE,
            REMEDIATION_CERTIFICATE_RULE,
            CERTIFICATE_SOURCE_RULE,
            r"\$context\.requestId",
            r#""x-kubernetes-list-map-keys":["type"]"#,
            r#""maxItems":256"#,
        ] {
            let escaped = serde_json::to_string(needle).expect("string");
            let escaped = &escaped[1..escaped.len() - 1];
            assert!(
                crd.contains(escaped) || crd.contains(needle),
                "CRD lacks {needle}"
            );
        }
    }

    fn spec(yaml: &str) -> Result<ComplianceProfileSpec, String> {
        ComplianceProfile::from_manifest(&format!(
            "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {{name: p}}\nspec:\n  scope: {{regions: [us-east-1]}}\n{yaml}"
        ))
        .map(|p| p.spec)
        .map_err(|e| e.to_string())
    }

    #[test]
    fn remediation_settings_sit_beside_the_mode_with_their_defaults() {
        let spec = spec("  remediation: {mode: DryRun, maxChangesPerScan: 3}\n").expect("valid");
        assert_eq!(spec.remediation.mode, RemediationMode::DryRun);
        assert_eq!(spec.remediation.settings.max_changes_per_scan, 3);
        assert_eq!(
            spec.remediation.settings.controls,
            crate::remediate::ControlRemediations::default()
        );
        // Absent settings are not written back, so the CRD's defaults hold no nulls.
        let json = serde_json::to_value(&spec.remediation).expect("serialises");
        assert_eq!(
            json,
            json!({"mode": "DryRun", "maxChangesPerScan": 3, "controls": {
                "executionLogging": {"enabled": true},
                "xrayTracing": {"enabled": true},
                "cacheEncryption": {"enabled": true}}})
        );
    }

    #[test]
    fn remediation_that_contradicts_the_parameters_is_refused_naming_the_field() {
        let acl = "arn:aws:wafv2:us-east-1:111122223333:regional/webacl/a/1";
        let other = "arn:aws:wafv2:us-east-1:111122223333:regional/webacl/b/2";
        for (yaml, field) in [
            (
                "  controls: {parameters: {executionLogging: {acceptedLevels: [INFO]}}}\n  remediation: {controls: {executionLogging: {loggingLevel: ERROR}}}\n".to_string(),
                "spec.remediation.controls.executionLogging.loggingLevel: ",
            ),
            (
                format!("  controls: {{parameters: {{waf: {{acceptedWebAclArns: [{acl}]}}}}}}\n  remediation: {{controls: {{waf: {{webAclArn: {other}}}}}}}\n"),
                "spec.remediation.controls.waf.webAclArn: ",
            ),
            (
                "  controls: {parameters: {clientCertificate: {acceptedCertificateIds: [abc]}}}\n  remediation: {controls: {clientCertificate: {generate: true}}}\n".to_string(),
                "spec.remediation.controls.clientCertificate: ",
            ),
            (
                "  controls: {parameters: {clientCertificate: {acceptedCertificateIds: [abc]}}}\n  remediation: {controls: {clientCertificate: {certificateId: def}}}\n".to_string(),
                "spec.remediation.controls.clientCertificate: ",
            ),
            (
                "  remediation: {maxChangesPerScan: 1001}\n".to_string(),
                "spec.remediation.maxChangesPerScan: ",
            ),
        ] {
            let err = spec(&yaml).expect_err(&yaml);
            assert!(err.contains(field), "{yaml}: {err}");
        }
        // The same settings agree with the parameters when they name what is accepted.
        spec(&format!(
            "  controls: {{parameters: {{executionLogging: {{acceptedLevels: [INFO]}}, waf: {{acceptedWebAclArns: [{acl}]}}, clientCertificate: {{acceptedCertificateIds: [abc]}}}}}}\n  remediation: {{controls: {{executionLogging: {{loggingLevel: INFO}}, waf: {{webAclArn: {acl}}}, clientCertificate: {{certificateId: abc}}}}}}\n"
        ))
        .expect("consistent settings");
    }

    #[test]
    fn controls_default_to_all_seven_in_catalog_order() {
        assert_eq!(ControlSelection::default().ids(), ControlId::ALL.to_vec());
        let some = ControlSelection {
            enabled: Some(vec![ControlId::ApiGateway9, ControlId::ApiGateway1]),
            ..Default::default()
        };
        assert_eq!(
            some.ids(),
            vec![ControlId::ApiGateway1, ControlId::ApiGateway9]
        );
    }
}
