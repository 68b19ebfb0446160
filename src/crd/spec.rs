//! The profile's spec: what to check, where, how often, and what remediation may do.
//! Every field's doc comment becomes its `kubectl explain` text, so they are written
//! for users. The schema refinements and CEL rules are in [`super::schema`], the Rust
//! checks in [`super::validate`].

use std::collections::BTreeMap;
use std::time::Duration;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::controls::{self, ControlParameters, ControlRemediations};
use crate::model::ControlId;

use super::status::ComplianceProfileStatus;

/// The shortest re-check interval a profile may ask for. Shorter would spend API
/// Gateway's shared management-call budget (10 requests/s per account and region) on
/// re-reading what rarely changes.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// The longest re-check interval: beyond a day drift goes unseen for too long.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// The interval used when a profile does not set one.
pub const DEFAULT_INTERVAL: &str = "15m";

/// Changes (AWS write calls) one scan makes by default before it stops and reports the
/// rest as pending: enough to fix a team's stages in a few scans, few enough that a
/// wrong setting cannot rewrite a whole account at once.
pub const DEFAULT_MAX_CHANGES_PER_SCAN: u32 = 25;

/// The highest `maxChangesPerScan` accepted: the account's management API allows 10
/// requests per second for every caller together.
pub const MAX_CHANGES_PER_SCAN_LIMIT: u32 = 1000;

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
#[schemars(transform = super::schema::add_catalog_rules)]
pub struct ComplianceProfileSpec {
    /// Which AWS account (through an optional IAM role), regions, API types, APIs and
    /// stages are checked.
    pub scope: Scope,

    /// Which controls apply, and their parameters. Every control of the catalog with
    /// Security Hub's default parameters when absent.
    #[serde(default)]
    pub controls: ControlSelection,

    /// What the operator does about failing findings. `Observe` (the default) only
    /// reports; `DryRun` shows the exact changes; `Enforce` makes them.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::remediation_schema")]
    pub remediation: Remediation,

    /// Findings to mark as exempted: their verdict is kept but they no longer make the
    /// profile non-compliant. An exemption past its expiry stops applying and is reported
    /// in status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::schema::exemptions_schema")]
    #[x_kube(validation = Rule::new("self.all(e, has(e.reason) && size(e.reason.trim()) > 0)").message("every exemption needs a non-empty reason (spec.exemptions[].reason)").reason(Reason::FieldValueRequired))]
    pub exemptions: Vec<Exemption>,

    /// How often the stages are re-checked, as a Go duration (`90s`, `15m`, `1h30m`),
    /// between 1m and 24h. A spec change is checked at once, whatever the interval.
    #[serde(default = "default_interval")]
    #[schemars(schema_with = "super::schema::interval_schema")]
    #[x_kube(validation = Rule::new(super::schema::INTERVAL_FLOOR_RULE).message("spec.interval must be between 1m and 24h").reason(Reason::FieldValueInvalid))]
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
    #[schemars(schema_with = "super::schema::regions_schema")]
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

impl Scope {
    /// The API types in scope (all three when not restricted).
    pub fn api_types(&self) -> Vec<ApiType> {
        self.api_types
            .clone()
            .unwrap_or_else(|| ApiType::ALL.to_vec())
    }
}

/// Include and exclude name globs. A name is selected when it matches an `include` glob
/// (or `include` is empty) and no `exclude` glob.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.include) || !has(self.exclude) || !self.include.exists(g, g in self.exclude)").message("the same glob is both included and excluded").reason(Reason::FieldValueInvalid))]
pub struct NameFilter {
    /// Globs a name must match (any of them). Everything when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::schema::globs_schema")]
    pub include: Vec<String>,
    /// Globs that take a name out of scope even when included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::schema::globs_schema")]
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
    #[schemars(schema_with = "super::schema::tags_schema")]
    pub include: BTreeMap<String, String>,
    /// Tags that take a stage out of scope, any one of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "super::schema::tags_schema")]
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
    /// The controls to evaluate, e.g. `[APIGateway.1, APIGateway.4]`. Every control of
    /// the catalog when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::enabled_schema")]
    pub enabled: Option<Vec<ControlId>>,

    /// Parameters of the controls; each defaults to Security Hub's default.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::parameters_schema")]
    pub parameters: ControlParameters,
}

impl ControlSelection {
    /// The controls to evaluate, in catalog order, without duplicates.
    pub fn ids(&self) -> Vec<ControlId> {
        let all = controls::all_ids();
        match &self.enabled {
            None => all,
            Some(ids) => all.into_iter().filter(|id| ids.contains(id)).collect(),
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

/// What remediation may change, per control, and how much per scan: `spec.remediation`
/// beside `mode` (see docs/remediation.md).
///
/// Defaults: the controls whose fix needs nothing but the stage itself and only turns
/// a protection on are on; those that need a target (a web ACL, a log destination) act
/// once it is named; client certificates only on explicit opt-in; route authorization
/// never automatically.
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

/// A decision to accept a control's verdict on some resources, for a reason and
/// possibly until a date. Embedded as is in the ComplianceProfile CRD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exemption {
    /// The control the exemption applies to, e.g. `APIGateway.4`.
    pub control: ControlId,
    /// The resource ARNs it covers, as a glob. `*` matches within one path segment
    /// (it does not cross `/`), `**` as a whole segment matches any number of segments,
    /// `?`, `[a-z]` and `{a,b}` work as usual. For example
    /// `arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/*` covers every stage of
    /// one REST API, and `arn:aws:apigateway:*::/apis/**` everything of every v2 API.
    pub resource_arn_glob: String,
    /// Why the verdict is accepted, for whoever reads the report.
    pub reason: String,
    /// When the exemption stops applying, as an RFC 3339 timestamp
    /// (`2026-06-30T00:00:00Z`); absent means it never expires. From that instant on
    /// it covers nothing and is reported as expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub expires: Option<String>,
}
