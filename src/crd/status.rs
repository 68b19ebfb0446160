//! The status a ComplianceProfile carries: conditions, scan times, counts and a bounded
//! list of failing findings. docs/operator.md is the reference for every condition type
//! and reason.
//!
//! The status is written with server-side apply as a whole: a field left out here (an
//! empty list, a condition that is no longer True) is removed from the object.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::model::outcome::{ApplySummary, AuditRecord};
use crate::model::plan::HoldReason;
use crate::model::{ControlId, ErrorKind, Severity, Status};

use super::settings::RemediationMode;

/// A count for the status (its counts are 32-bit), saturating rather than wrapping.
pub fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What the operator last observed and concluded about a profile.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceProfileStatus {
    /// The `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` (the last scan of the current spec completed), `Compliant` (every
    /// in-scope resource passes), `Remediated` (in DryRun and Enforce only: remediation
    /// has made every change it may make), and, only while True, `Reconciling` (a scan
    /// of a new spec or a retry is under way) and `Stalled` (the profile cannot be
    /// scanned until it, or the operator's tenancy configuration, changes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,

    /// When the last scan finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "time_schema")]
    pub last_scan_time: Option<Time>,

    /// When the next scan is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "time_schema")]
    pub next_scan_time: Option<Time>,

    /// The AWS account scanned, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,

    /// The regions scanned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,

    /// Counts over every finding of the last scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,

    /// Counts per control, in catalog order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<ControlCounts>,

    /// Failing (FAILED or ERROR, not exempted) findings, at most 50 of them: highest
    /// severity first, then by control, then by resource ARN. `scan --profile` lists
    /// them all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_findings: Vec<FailingFinding>,

    /// How many failing findings were left out of `failingFindings`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failing_findings_truncated: u32,

    /// What could not be read (a region, or one API's stages or routes), at most 10 of
    /// them. Nothing listed here is ever reported as passing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scan_errors: Vec<ScanError>,

    /// How many scan errors were left out of `scanErrors`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub scan_errors_truncated: u32,

    /// A profile of an organization: counts per account of the last scan, at most 100
    /// accounts, those that could not be read completely first, then those with the
    /// most failures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<AccountCounts>,

    /// How many accounts were left out of `accounts`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub accounts_truncated: u32,

    /// Exemptions of the spec whose expiry has passed: they no longer apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expired_exemptions: Vec<ExpiredExemption>,

    /// Where every finding of the last scan is: the policy reports the operator keeps
    /// in this namespace (`--report-api`). Absent when reports are off or could not be
    /// written (the `Reports` condition says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reports: Option<ReportsStatus>,

    /// What remediation did or would do, and the last changes it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<RemediationStatus>,

    /// The last value of the `apigwcompliance.io/requested-scan-at` annotation acted
    /// on: a new value makes the operator re-read the profile's scope at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_scan_at: Option<String>,
}

/// At most this many failing findings are listed in status; the rest are counted. About
/// 400 bytes each, so the list stays near 20 KiB, far below etcd's 1.5 MiB object limit,
/// however many stages are in scope.
pub const FAILING_FINDINGS_LIMIT: usize = 50;
/// At most this many scan errors are listed in status; the rest are counted.
pub const SCAN_ERRORS_LIMIT: usize = 10;
/// Longer reasons and messages are cut (on a character boundary) and end with `…`.
pub const MESSAGE_LIMIT: usize = 512;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A condition in the shape of metav1.Condition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Compliant`, `Remediated`, `Reconciling` or `Stalled`.
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    /// One CamelCase word; docs/operator.md lists them all.
    pub reason: String,
    /// For people: what happened and what to do.
    pub message: String,
    /// The generation the condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When `status` last changed (not when the condition was last written).
    #[schemars(schema_with = "time_schema_required")]
    pub last_transition_time: Time,
}

/// `True`, `False` or `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// Counts over the findings of one scan. `evaluated` is the sum of the others but
/// `unreadable`: an exempted finding counts as `exempted` only, whatever its verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub evaluated: u32,
    pub passed: u32,
    pub failed: u32,
    pub not_applicable: u32,
    pub exempted: u32,
    /// Findings that could not be evaluated (status ERROR).
    pub errors: u32,
    /// Parts of the inventory that could not be read at all (see `scanErrors`).
    pub unreadable: u32,
}

/// Counts of one control's findings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlCounts {
    pub control_id: ControlId,
    pub passed: u32,
    pub failed: u32,
    pub not_applicable: u32,
    pub exempted: u32,
    pub errors: u32,
}

/// A failing finding, as `scan --output json` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailingFinding {
    pub control_id: ControlId,
    /// The resource as people name it: `<api name>/<stage>`, `<api name> <route key>`,
    /// `<api name> integration <id>` or the domain name (the ARN carries only ids).
    #[serde(default)]
    pub resource_name: String,
    pub resource_arn: String,
    pub severity: Severity,
    /// `FAILED` or `ERROR`.
    pub status: Status,
    pub reason: String,
}

/// At most this many accounts are listed in `status.accounts` (about 150 bytes each).
pub const ACCOUNTS_LIMIT: usize = 100;

/// One account's part of an organization profile's last scan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountCounts {
    pub account_id: String,
    /// Findings that passed.
    pub passed: u32,
    /// Failing findings (FAILED or ERROR), exemptions excluded.
    pub failed: u32,
    /// Parts of the account that could not be read (the whole account when its role
    /// was refused).
    pub errors: u32,
    /// The first of those errors: what to fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Something the scan could not read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanError {
    /// The account it belongs to, in a profile of an organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_arn: Option<String>,
    /// The AWS operation that failed, e.g. `GetStages`.
    pub operation: String,
    /// The kind of failure (`accessDenied`, `throttled`, ...): terminal kinds
    /// (`accessDenied`, `notFound`, `invalid`) need IAM, the profile or the resource to
    /// change and are retried slowly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    pub message: String,
}

/// The policy reports that hold every finding of the last scan, one result per
/// finding, split into parts under a size budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportsStatus {
    /// The kind of object: `reports.openreports.io` (Report) or
    /// `policyreports.wgpolicyk8s.io` (PolicyReport).
    pub resource: String,
    /// For `kubectl get complianceprofiles`: `Report apigw-orders-0`, or
    /// `4 Reports apigw-orders-0..3`.
    pub location: String,
    /// The label selector of this profile's reports:
    /// `kubectl get <resource> -n <namespace> -l <selector>` lists them all.
    pub selector: String,
    /// Their names, in part order, at most 20.
    pub names: Vec<String>,
    /// How many names were left out of `names`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub names_truncated: u32,
    /// The results of every part together, as the reports count them: an exempted
    /// finding is a `skip`.
    pub results: ReportSummary,
}

/// At most this many report names are listed in `status.reports.names`.
pub const REPORT_NAMES_LIMIT: usize = 20;

/// Result counts in the policy reports' own words (`summary` of a Report or
/// PolicyReport).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ReportSummary {
    pub pass: u32,
    pub fail: u32,
    /// Always 0: no control verdict maps to `warn`; kept for the reports' schema.
    pub warn: u32,
    pub error: u32,
    /// NOT_APPLICABLE and exempted findings.
    pub skip: u32,
}

impl ReportSummary {
    /// The counts of `self` and `other` together.
    pub fn plus(self, other: ReportSummary) -> ReportSummary {
        ReportSummary {
            pass: self.pass.saturating_add(other.pass),
            fail: self.fail.saturating_add(other.fail),
            warn: self.warn.saturating_add(other.warn),
            error: self.error.saturating_add(other.error),
            skip: self.skip.saturating_add(other.skip),
        }
    }

    /// How many results these counts cover.
    pub fn total(self) -> u32 {
        self.pass
            .saturating_add(self.fail)
            .saturating_add(self.warn)
            .saturating_add(self.error)
            .saturating_add(self.skip)
    }
}

/// An exemption whose expiry has passed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpiredExemption {
    pub control: ControlId,
    pub resource_arn_glob: String,
    /// The expiry as written in the spec.
    pub expires: String,
}

/// What remediation did (Enforce) or would do (DryRun) in the last scan, and the last
/// changes it made. Every list is bounded (see the `*_LIMIT` constants) and every
/// string cut at [`MESSAGE_LIMIT`], whatever the number of stages: a few KiB in practice
/// (settings, ARNs and values are short; only an access log format is long), and under
/// 400 KiB even if every string were at its cut, well below etcd's 1.5 MiB.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationStatus {
    pub mode: RemediationMode,
    /// Whether the mode acts. True for all three modes (the first release accepted
    /// `DryRun` and `Enforce` without acting on them and said so here).
    pub active: bool,
    /// For people: what the last run did, would do, or what stopped it.
    pub message: String,

    /// Item counts of the last run: `applied` (Enforce), `wouldApply` (DryRun),
    /// `alreadyCompliant` (found fixed by the read before the write: not sent),
    /// `changedSincePlan` (found changed since the plan's read, so the write would
    /// replace or redirect it: not sent, the next scan re-plans), `failed` (AWS refused
    /// the call), `blocked` (a precondition does not hold: not sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<ApplySummary>,

    /// Changes (AWS write calls) the last run made or would make: at most
    /// `spec.remediation.maxChangesPerScan`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub planned: u32,

    /// Changes beyond `maxChangesPerScan`, left for the next scans.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending: u32,

    /// Failing findings no change is planned for: a person must act (APIGateway.8, a
    /// level that would have to be lowered), or the profile does not turn that
    /// remediation on. Their reasons are in `failingFindings`; `scan --profile
    /// --remediate dry-run` explains each.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unplanned: u32,

    /// Changes held back: on resources owned elsewhere (the tag
    /// `apigwcompliance.io/remediate: "false"`, an infrastructure-as-code ownership
    /// tag), settings an older Enforce profile sets to another value, or over the
    /// account's write cap (made at a later scan). The first are in `heldBack`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held: u32,

    /// The held-back changes, conflicts with other profiles first, at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_back: Vec<HeldBackChange>,

    /// DryRun: the changes that would be made, in plan order (region, resource), at most
    /// 20 of them: the AWS call, its request body, and each setting's before -> after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlannedChange>,

    /// How many changes were left out of `plan`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub plan_truncated: u32,

    /// What stopped changes in the last run: calls AWS refused (with AWS's message),
    /// preconditions that do not hold, settings that cannot work for a resource. At
    /// most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<RemediationProblem>,

    /// How many problems were left out of `problems`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub problems_truncated: u32,

    /// The last 20 settings changed, newest first, kept across scans (and mode
    /// changes): each is also an Event with reason `Remediated`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_changes: Vec<AppliedChange>,
}

/// At most this many changes are listed in `status.remediation.plan`.
pub const PLAN_LIMIT: usize = 20;
/// At most this many items (settings) are listed per planned change.
pub const PLAN_ITEMS_LIMIT: usize = 10;
/// At most this many held-back changes are listed in `status.remediation.heldBack`.
pub const HELD_BACK_LIMIT: usize = 10;
/// At most this many problems are listed in `status.remediation.problems`.
pub const PROBLEMS_LIMIT: usize = 10;
/// At most this many applied changes are kept in `status.remediation.recentChanges`.
pub const RECENT_CHANGES_LIMIT: usize = 20;

/// One AWS write call a DryRun would make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    pub resource_arn: String,
    pub region: String,
    /// The controls this change fixes.
    pub controls: Vec<ControlId>,
    /// The AWS operation and HTTP request line, e.g. `apigateway:UpdateStage PATCH
    /// /restapis/a1b2c3/stages/prod`.
    pub call: String,
    /// The request body as JSON, at most 512 bytes: cut between whole operations (REST
    /// patch operations, v2 settings objects or route settings), never inside one.
    pub request: String,
    /// How many operations were left out of `request` to keep it within 512 bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub request_operations_omitted: u32,
    /// Each setting the call changes, at most 10.
    pub items: Vec<PlannedItem>,
    /// How many settings were left out of `items`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub items_truncated: u32,
}

/// One setting a planned change sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedItem {
    pub control_id: ControlId,
    /// The setting as a person names it, e.g. `X-Ray tracing`.
    pub setting: String,
    pub before: String,
    pub after: String,
}

/// A change remediation held back, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeldBackChange {
    /// `OptedOut`, `OwnedElsewhere` (an infrastructure-as-code tag),
    /// `ConflictingProfile` (an older Enforce profile sets the setting otherwise) or
    /// `AccountWriteLimit`.
    pub reason: HoldReason,
    pub resource_arn: String,
    /// The controls the change would fix.
    pub controls: Vec<ControlId>,
    /// Who has the resource or setting instead: `CloudFormation stack orders-prod`,
    /// `profile team-a/edge-waf`, `account 123456789012`.
    pub owner: String,
    /// Why, and what to do.
    pub message: String,
}

/// Something that stopped a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationProblem {
    pub reason: ProblemReason,
    /// The resource, when the problem is one resource's (not a region's precondition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_arn: Option<String>,
    /// The controls whose changes it stopped.
    pub controls: Vec<ControlId>,
    /// AWS's message for a refused call; what to do otherwise.
    pub message: String,
}

/// Why a change was not made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProblemReason {
    /// AWS refused the call.
    Failed,
    /// A precondition does not hold (e.g. no CloudWatch Logs role in API Gateway's
    /// account settings, a web ACL missing or in another region).
    BlockedPrecondition,
    /// The profile's settings cannot work for this resource.
    InvalidSettings,
}

/// A setting remediation changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppliedChange {
    /// When the scan that made it ran.
    #[schemars(schema_with = "time_schema_required")]
    pub time: Time,
    #[serde(flatten)]
    pub change: AuditRecord,
}

/// The condition types and their reasons, spelled once.
pub mod reason {
    pub const READY: &str = "Ready";
    pub const COMPLIANT: &str = "Compliant";
    pub const RECONCILING: &str = "Reconciling";
    pub const STALLED: &str = "Stalled";

    /// Ready=True: the last scan of the current spec read everything in scope.
    pub const SCAN_SUCCEEDED: &str = "ScanSucceeded";
    /// Ready=False: some regions or APIs could not be read; retried with backoff.
    pub const SCAN_INCOMPLETE: &str = "ScanIncomplete";
    /// Ready=False: nothing could be read; retried with backoff.
    pub const SCAN_FAILED: &str = "ScanFailed";
    /// Ready=False, Stalled=True: the tenancy configuration does not let the profile's
    /// namespace use the role (or the operator's identity).
    pub const ROLE_NOT_ALLOWED: &str = "RoleNotAllowed";
    /// Ready=False, Stalled=True: the spec cannot work as written.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Ready=False: AWS credentials could not be obtained (AssumeRole refused, no
    /// credentials); retried with backoff.
    pub const CREDENTIALS_UNAVAILABLE: &str = "CredentialsUnavailable";
    /// Ready=False: a profile of an organization could not list the organization's
    /// accounts (AWS Organizations refused or failed); retried with backoff.
    pub const ORGANIZATION_UNREADABLE: &str = "OrganizationUnreadable";
    /// Reconciling=True: the first scan of a new generation is under way.
    pub const SCANNING: &str = "Scanning";
    /// Reconciling=True: the last attempt failed and a retry is scheduled.
    pub const RETRYING: &str = "Retrying";

    /// Compliant=True: every in-scope resource passes (or is exempted/not applicable).
    pub const ALL_PASSED: &str = "AllPassed";
    /// Compliant=True: the scope selected nothing.
    pub const NOTHING_IN_SCOPE: &str = "NothingInScope";
    /// Compliant=False: at least one finding failed.
    pub const FINDINGS_FAILED: &str = "FindingsFailed";
    /// Compliant=Unknown: nothing failed, but something could not be read or evaluated.
    pub const INCOMPLETE_SCAN: &str = "IncompleteScan";
    /// Compliant=Unknown: no scan of the current spec has completed.
    pub const NOT_SCANNED: &str = "NotScanned";

    /// Present only in DryRun and Enforce: whether remediation has made (Enforce) every
    /// change it may make to what the last scan found.
    pub const REMEDIATED: &str = "Remediated";
    /// Remediated=True: there was nothing to change.
    pub const NOTHING_TO_CHANGE: &str = "NothingToChange";
    /// Remediated=True (Enforce): every planned change was made; the next scan checks
    /// the result.
    pub const CHANGES_APPLIED: &str = "ChangesApplied";
    /// Remediated=False (DryRun): changes would be made; see `status.remediation.plan`.
    pub const CHANGES_PLANNED: &str = "ChangesPlanned";
    /// Remediated=False (Enforce): more changes than `maxChangesPerScan`, or settings
    /// found changed since the plan's read and left alone; the next scans make (or
    /// re-plan) the rest.
    pub const CHANGES_PENDING: &str = "ChangesPending";
    /// Remediated=False: a precondition does not hold (or a setting cannot work for a
    /// resource), so some changes are not made; see `status.remediation.problems`.
    pub const REMEDIATION_BLOCKED: &str = "RemediationBlocked";
    /// Remediated=False (Enforce): AWS refused a change; retried at the next scan.
    pub const REMEDIATION_FAILED: &str = "RemediationFailed";
    /// Remediated=False: an older Enforce profile sets a setting of a resource in
    /// scope to another value, so this profile holds its change back; the message
    /// names the older profile (`status.remediation.heldBack` lists each).
    pub const CONFLICTING_PROFILE: &str = "ConflictingProfile";
    /// Remediated=False: changes are held back because their resources are owned
    /// elsewhere (opt-out or infrastructure-as-code tags) or the account's write cap is
    /// reached; see `status.remediation.heldBack`.
    pub const CHANGES_HELD_BACK: &str = "ChangesHeldBack";
    /// Ready=False and Stalled: a bug met while reconciling this profile (a panic); the
    /// other profiles go on.
    pub const INTERNAL_ERROR: &str = "InternalError";
    /// Condition type, only with change events configured: whether the queues can be
    /// read.
    pub const CHANGE_EVENTS: &str = "ChangeEvents";
    /// ChangeEvents True: every queue was read on its last attempt.
    pub const RECEIVING: &str = "Receiving";
    /// ChangeEvents False: a queue cannot be read; the periodic scans go on.
    pub const QUEUE_UNREADABLE: &str = "QueueUnreadable";
    /// Condition type, only while `spec.export.securityHub.enabled`: whether the last
    /// export of the findings to Security Hub went through.
    pub const SECURITY_HUB_EXPORT: &str = "SecurityHubExport";
    /// SecurityHubExport True: every finding of the last scan is in Security Hub.
    pub const EXPORTED: &str = "Exported";
    /// SecurityHubExport False: the identity may not call BatchImportFindings.
    pub const EXPORT_DENIED: &str = "ExportDenied";
    /// SecurityHubExport False: Security Hub is not enabled in a region of the profile.
    pub const SECURITY_HUB_NOT_ENABLED: &str = "SecurityHubNotEnabled";
    /// SecurityHubExport False: Security Hub refused findings or could not be reached;
    /// they are sent again at the next scan.
    pub const EXPORT_FAILED: &str = "ExportFailed";
    /// Condition type, only with `--report-api` other than `none`: whether the policy
    /// reports hold the last scan's findings.
    pub const REPORTS: &str = "Reports";
    /// Reports True: every finding of the last scan is in the reports.
    pub const REPORTS_WRITTEN: &str = "ReportsWritten";
    /// Reports False: the chosen report CRD is not installed in the cluster; the
    /// operator never installs it.
    pub const REPORT_CRD_NOT_INSTALLED: &str = "ReportCRDNotInstalled";
    /// Reports False: writing a report failed (RBAC, the API server); retried at the
    /// next scan.
    pub const REPORT_WRITE_FAILED: &str = "ReportWriteFailed";
}

/// A condition as the controller wants it, before transition times are settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredCondition {
    pub type_: &'static str,
    pub status: ConditionStatus,
    pub reason: &'static str,
    pub message: String,
}

/// The conditions to write: `desired` in order, each keeping its previous
/// `lastTransitionTime` unless its status flipped (or it is new). Conditions not in
/// `desired` are dropped, which is how `Reconciling` and `Stalled` disappear when they
/// stop being True.
pub fn settle_conditions(
    previous: &[Condition],
    desired: Vec<DesiredCondition>,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    desired
        .into_iter()
        .map(|d| {
            let last_transition_time = previous
                .iter()
                .find(|p| p.type_ == d.type_ && p.status == d.status)
                .map(|p| p.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: d.type_.to_string(),
                status: d.status,
                reason: d.reason.to_string(),
                message: truncate(&d.message),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

impl ComplianceProfileStatus {
    /// The condition of this type, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// Now, to the second: status times are written at second precision, so a time read
/// back compares equal to the one written.
pub fn now() -> Time {
    Time(Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Cuts `text` to at most [`MESSAGE_LIMIT`] bytes on a character boundary.
pub fn truncate(text: &str) -> String {
    if text.len() <= MESSAGE_LIMIT {
        return text.to_string();
    }
    let mut end = MESSAGE_LIMIT - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn time_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "format": "date-time", "nullable": true})
}

fn time_schema_required(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "format": "date-time"})
}

/// Conditions are a map keyed by type, as in every Kubernetes API, so server-side apply
/// merges them by type.
fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = Vec::<Condition>::json_schema(generator);
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    fn desired(
        type_: &'static str,
        status: ConditionStatus,
        reason: &'static str,
    ) -> DesiredCondition {
        DesiredCondition {
            type_,
            status,
            reason,
            message: format!("{type_} is {}", status.as_str()),
        }
    }

    #[test]
    fn unchanged_status_keeps_its_transition_time_even_when_reason_changes() {
        let first = settle_conditions(
            &[],
            vec![desired(
                reason::READY,
                ConditionStatus::False,
                reason::SCAN_FAILED,
            )],
            Some(1),
            &at(100),
        );
        let second = settle_conditions(
            &first,
            vec![desired(
                reason::READY,
                ConditionStatus::False,
                reason::SCAN_INCOMPLETE,
            )],
            Some(2),
            &at(200),
        );
        assert_eq!(second[0].last_transition_time, at(100));
        assert_eq!(second[0].reason, reason::SCAN_INCOMPLETE);
        assert_eq!(second[0].observed_generation, Some(2));
    }

    #[test]
    fn flipped_status_takes_the_new_transition_time() {
        let first = settle_conditions(
            &[],
            vec![desired(
                reason::COMPLIANT,
                ConditionStatus::True,
                reason::ALL_PASSED,
            )],
            Some(1),
            &at(100),
        );
        let second = settle_conditions(
            &first,
            vec![desired(
                reason::COMPLIANT,
                ConditionStatus::False,
                reason::FINDINGS_FAILED,
            )],
            Some(1),
            &at(200),
        );
        assert_eq!(second[0].last_transition_time, at(200));
        assert_eq!(second[0].status, ConditionStatus::False);
    }

    #[test]
    fn conditions_left_out_disappear_and_come_back_with_a_new_time() {
        let with_stalled = settle_conditions(
            &[],
            vec![
                desired(
                    reason::READY,
                    ConditionStatus::False,
                    reason::ROLE_NOT_ALLOWED,
                ),
                desired(
                    reason::STALLED,
                    ConditionStatus::True,
                    reason::ROLE_NOT_ALLOWED,
                ),
            ],
            Some(1),
            &at(100),
        );
        let without = settle_conditions(
            &with_stalled,
            vec![desired(
                reason::READY,
                ConditionStatus::True,
                reason::SCAN_SUCCEEDED,
            )],
            Some(2),
            &at(200),
        );
        assert_eq!(without.len(), 1);
        assert_eq!(without[0].type_, reason::READY);
        let again = settle_conditions(
            &without,
            vec![desired(
                reason::STALLED,
                ConditionStatus::True,
                reason::ROLE_NOT_ALLOWED,
            )],
            Some(3),
            &at(300),
        );
        assert_eq!(again[0].last_transition_time, at(300));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MESSAGE_LIMIT);
        let cut = truncate(&long);
        assert!(cut.len() <= MESSAGE_LIMIT);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short"), "short");
    }

    #[test]
    fn times_round_trip_through_json_unchanged() {
        let t = now();
        let status = ComplianceProfileStatus {
            last_scan_time: Some(t.clone()),
            ..Default::default()
        };
        let back: ComplianceProfileStatus =
            serde_json::from_value(serde_json::to_value(&status).expect("serializes"))
                .expect("deserializes");
        assert_eq!(back.last_scan_time, Some(t));
    }
}
