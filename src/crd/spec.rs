//! The profile's spec: what to check, where, how often, and what remediation may do.
//! Every field's doc comment becomes its `kubectl explain` text, so they are written
//! for users. The schema refinements and CEL rules are in [`super::schema`], the Rust
//! checks in [`super::validate`].

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::controls::{self, ControlParameters};
use crate::model::ControlId;

use super::settings::{DEFAULT_INTERVAL, Exemption, Remediation};
use super::status::ComplianceProfileStatus;

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
        name = "Reports",
        type_ = "string",
        json_path = ".status.reports.location",
        description = "The policy reports holding every finding of the last scan"
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
    /// Which AWS account (through an optional IAM role) or organization, regions, API
    /// types, APIs and stages are checked.
    pub scope: Scope,

    /// Which controls apply, and their parameters. Every Security Hub control with
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

    /// Where the operator sends the findings besides status. Nothing is sent when
    /// absent.
    #[serde(default, skip_serializing_if = "Export::is_empty")]
    pub export: Export,
}

fn default_interval() -> String {
    DEFAULT_INTERVAL.to_string()
}

/// What is checked: which account (or the accounts of an organization), regions, API
/// types, APIs and stages.
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

    /// Scan the member accounts of an AWS organization instead of one account: the
    /// operator lists the organization's ACTIVE accounts with AWS Organizations (as
    /// `roleArn`, which then names a role in the management or delegated-administrator
    /// account, or as its own identity), assumes `roleName` in each, and checks every
    /// account and region. Accounts that join or close are picked up at the next scan;
    /// one account that cannot be scanned is an error of that account only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<OrganizationScope>,
}

/// The accounts of an AWS organization a profile scans.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.accounts) || !has(self.accounts.include) || !has(self.accounts.exclude) || !self.accounts.include.exists(a, a in self.accounts.exclude)").message("the same account is both included and excluded").reason(Reason::FieldValueInvalid))]
pub struct OrganizationScope {
    /// The IAM role assumed in each member account, by name (with its path, if any),
    /// e.g. `apigw-compliance-audit`: the operator assumes
    /// `arn:<partition>:iam::<account>:role/<roleName>`. docs/iam/organization.md shows
    /// the role, its trust policy, and how to roll it out with StackSets or Terraform.
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9+=,.@_-]+(/[A-Za-z0-9+=,.@_-]+)*$"),
        length(min = 1, max = 512)
    )]
    pub role_name: String,

    /// The external id the member role's trust policy requires (sts:ExternalId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9+=,.@:/_-]+$"),
        length(min = 2, max = 1224)
    )]
    pub external_id: Option<String>,

    /// Only the accounts in these organizational units (and the units below them), by
    /// id (`ou-ab12-cd34ef56`, or a root `r-ab12`). The whole organization when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::schema::organizational_units_schema")]
    pub organizational_units: Vec<String>,

    /// Account ids to take in or leave out of what the organization (or its units)
    /// lists.
    #[serde(default, skip_serializing_if = "AccountFilter::is_empty")]
    pub accounts: AccountFilter,
}

/// Account ids to scan, or not, within an organization. An account is scanned when it
/// is listed ACTIVE, is in `include` (or `include` is empty), and is not in `exclude`.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountFilter {
    /// Only these accounts (12-digit ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::schema::account_ids_schema")]
    pub include: Vec<String>,
    /// Never these accounts (12-digit ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::schema::account_ids_schema")]
    pub exclude: Vec<String>,
}

impl AccountFilter {
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
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
    /// The controls to evaluate, e.g. `[APIGateway.1, APIGateway.4]`. Every Security Hub
    /// control of the catalog when absent; checks from other sources (CIS) only when
    /// listed.
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
        match &self.enabled {
            None => controls::default_ids(),
            Some(ids) => controls::all_ids()
                .into_iter()
                .filter(|id| ids.contains(id))
                .collect(),
        }
    }
}

/// Destinations of the findings beyond the profile's status.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    /// AWS Security Hub (CSPM): every finding of each scan imported with
    /// BatchImportFindings into the scanned account, in the resource's region, under
    /// the account's default product, with the identity that read it (the profile's,
    /// or each account's member role; it then needs securityhub:BatchImportFindings,
    /// and Security Hub enabled in each region).
    /// Only findings that changed since the last import are sent; a resource that is
    /// gone is sent once more as ARCHIVED. The `SecurityHubExport` condition tells how
    /// the last export went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_hub: Option<SecurityHubExport>,
}

impl Export {
    pub fn is_empty(&self) -> bool {
        self.security_hub.is_none()
    }

    /// Whether the findings go to Security Hub.
    pub fn security_hub_enabled(&self) -> bool {
        self.security_hub.as_ref().is_some_and(|hub| hub.enabled)
    }
}

/// The Security Hub export of a profile.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityHubExport {
    /// `true` imports the findings into Security Hub; `false` (the default) stops the
    /// export (what was imported stays in Security Hub as it was).
    #[serde(default)]
    pub enabled: bool,
}
