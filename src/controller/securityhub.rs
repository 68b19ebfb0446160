//! The Security Hub (CSPM) export of a profile that opts in
//! (`spec.export.securityHub.enabled`): after the scan's status is written, the
//! findings that changed since the last successful import are sent with
//! BatchImportFindings (ASFF from [`crate::report::asff`]) into the scanned account, in
//! each finding's region, under the account's default product, with the identity that
//! read the account (the profile's, or the member role of an organization's account).
//!
//! What the process remembers per profile is what Security Hub holds from it: per ASFF
//! `Id`, a hash of the content last imported successfully, when it was first imported
//! (its `CreatedAt`), and the finding itself without its reason (to archive it once it
//! is gone). So:
//!
//! - an unchanged world sends nothing; a changed verdict, reason or name is sent again;
//! - a finding that is no longer in the scan (the resource is gone, or out of the
//!   profile's scope or controls) is sent once more as ARCHIVED, but only from a
//!   region the scan read without any error (a read error hides findings that still
//!   exist);
//! - a finding Security Hub did not take (a refused call, or a `FailedFindings` entry)
//!   stays unsent and goes again at the next scan: a verdict is never lost, and the
//!   `SecurityHubExport` condition and `apigw_compliance_securityhub_export_errors_total`
//!   say what failed;
//! - after a restart the memory is empty: every finding is sent once more (with a new
//!   `CreatedAt`), and a resource deleted while the operator was down is not archived.
//!
//! Batches hold at most 100 findings; every request is paced by the HTTP layer's
//! Security Hub bucket (half of the 10 per second, burst 30, of each account and
//! region) and counted; each batch first asks the write gate (this replica leads, the
//! operator is not shutting down), and what it holds back is sent at the next scan.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use aws_config::Region;
use aws_sdk_securityhub::error::ProvideErrorMetadata;
use aws_sdk_securityhub::types as sdk;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::ObjectRef;

use crate::aws::error::{Needed, classify};
use crate::aws::identity::ScanIdentity;
use crate::crd::status::{DesiredCondition, reason, settle_conditions};
use crate::crd::{ComplianceProfile, ComplianceProfileStatus, ConditionStatus};
use crate::inventory::ReadError;
use crate::model::{ErrorKind, Finding};
use crate::report::asff::{self, AsffFinding, BATCH_LIMIT, RecordState};

use super::context::{Context, Error};

type Key = ObjectRef<ComplianceProfile>;

/// What Security Hub holds of one finding, as last imported successfully.
#[derive(Clone, Debug)]
struct Imported {
    fingerprint: u64,
    created_at: Timestamp,
    /// The finding without its reason: what an ARCHIVED update is built from.
    finding: Finding,
}

/// The export state of every profile that exports.
#[derive(Default)]
pub(super) struct SecurityHubExports {
    /// Per profile, per ASFF Id.
    imported: Mutex<HashMap<Key, HashMap<String, Imported>>>,
    /// Per profile, the condition of its last export.
    conditions: Mutex<HashMap<Key, DesiredCondition>>,
}

/// One finding to send.
#[derive(Clone, Debug)]
struct Pending {
    id: String,
    finding: Finding,
    record_state: RecordState,
    fingerprint: u64,
    /// Its first import's time, when it was imported before.
    created_at: Option<Timestamp>,
}

/// What one scan has to send, per (account, region), made before the scan's findings
/// are dropped.
#[derive(Debug, Default)]
pub(super) struct PlannedExport {
    by_region: BTreeMap<(String, String), Vec<Pending>>,
    /// Findings that cannot be put in ASFF (no account), with the first reason.
    unsendable: usize,
    unsendable_reason: Option<String>,
    /// The scan's findings: every one of them is in Security Hub when nothing fails.
    total: usize,
}

/// Why a finding was not imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    Denied,
    NotEnabled,
    Failed(ErrorKind),
}

impl Problem {
    /// The label of `apigw_compliance_securityhub_export_errors_total`.
    fn kind(self) -> &'static str {
        match self {
            Problem::Denied => "accessDenied",
            Problem::NotEnabled => "notEnabled",
            Problem::Failed(kind) => kind.as_str(),
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Problem::Denied => reason::EXPORT_DENIED,
            Problem::NotEnabled => reason::SECURITY_HUB_NOT_ENABLED,
            Problem::Failed(_) => reason::EXPORT_FAILED,
        }
    }

    /// A refusal that every other batch of the region would meet too.
    fn ends_region(self) -> bool {
        matches!(self, Problem::Denied | Problem::NotEnabled)
            || matches!(self, Problem::Failed(kind) if kind.is_terminal())
    }
}

/// How one export went.
#[derive(Debug, Default)]
struct Outcome {
    imported: usize,
    failed: usize,
    held_back: usize,
    first_problem: Option<(Problem, String)>,
}

impl Outcome {
    fn failed(&mut self, problem: Problem, message: String, findings: usize) {
        self.failed += findings;
        self.first_problem.get_or_insert((problem, message));
    }
}

impl SecurityHubExports {
    /// The `SecurityHubExport` condition of `profile`: none while it does not export
    /// (or has not exported yet).
    pub(super) fn condition(&self, profile: &ComplianceProfile) -> Option<DesiredCondition> {
        if !profile.spec.export.security_hub_enabled() {
            return None;
        }
        lock(&self.conditions)
            .get(&ObjectRef::from_obj(profile))
            .cloned()
    }

    /// Forgets the profiles that no longer exist.
    pub(super) fn forget(&self, exists: impl Fn(&Key) -> bool) {
        lock(&self.imported).retain(|key, _| exists(key));
        lock(&self.conditions).retain(|key, _| exists(key));
    }

    /// What `findings` (a scan that read something) change in Security Hub, on the
    /// profile's memory; `read_errors` name the regions whose missing findings are not
    /// archived. `None` when the profile does not export: its memory goes (exported
    /// again later, every finding is sent once).
    pub(super) fn plan(
        &self,
        profile: &ComplianceProfile,
        findings: &[Finding],
        read_errors: &[ReadError],
    ) -> Option<PlannedExport> {
        let key = ObjectRef::from_obj(profile);
        if !profile.spec.export.security_hub_enabled() {
            self.forget(|k| *k != key);
            return None;
        }
        let imported = lock(&self.imported);
        Some(plan(imported.get(&key), findings, read_errors))
    }

    /// Sends `planned`, each account's findings with the identity that read that
    /// account (of `identities`), then writes the `SecurityHubExport` condition if it
    /// changed. `written` is the status the scan just wrote over `previous`.
    pub(super) async fn export(
        &self,
        ctx: &Context,
        profile: &ComplianceProfile,
        identities: &[&ScanIdentity],
        planned: PlannedExport,
        written: &ComplianceProfileStatus,
        previous: Option<&ComplianceProfileStatus>,
    ) -> Result<(), Error> {
        let key = ObjectRef::from_obj(profile);
        let before = self.condition(profile);
        let total = planned.total;
        let mut outcome = Outcome::default();
        if planned.unsendable > 0 {
            let message = planned.unsendable_reason.clone().unwrap_or_default();
            outcome.failed(
                Problem::Failed(ErrorKind::Other),
                message,
                planned.unsendable,
            );
            ctx.metrics
                .securityhub_export_failed(ErrorKind::Other.as_str(), planned.unsendable);
        }
        let now = Timestamp::now();
        for ((account, region), pending) in planned.by_region {
            // Every finding sent is of an account that was read, so its identity is
            // there; one alone is the profile's one identity.
            let identity = match identities {
                [one] => Some(*one),
                many => many
                    .iter()
                    .copied()
                    .find(|i| i.account.as_deref() == Some(account.as_str())),
            };
            let Some(identity) = identity else {
                outcome.failed(
                    Problem::Failed(ErrorKind::Other),
                    format!("no identity of account {account} to import its findings with"),
                    pending.len(),
                );
                continue;
            };
            self.export_region(
                ctx,
                &key,
                identity,
                &account,
                &region,
                pending,
                now,
                &mut outcome,
            )
            .await;
        }
        tracing::info!(
            imported = outcome.imported,
            failed = outcome.failed,
            held_back = outcome.held_back,
            findings = total,
            "security hub export"
        );
        if let Some(condition) = condition_of(&outcome, total) {
            lock(&self.conditions).insert(key, condition);
        }
        let after = self.condition(profile);
        if after == before {
            return Ok(());
        }
        // What the scan's write stored: `written` with the condition as it was then.
        let stored = with_export_condition(
            written.clone(),
            previous,
            before,
            &crate::crd::status::now(),
        );
        ctx.write_status(profile, Some(&stored), written)
            .await
            .map(|_| ())
    }

    /// Sends one account's and region's findings, a batch at a time.
    #[allow(clippy::too_many_arguments)]
    async fn export_region(
        &self,
        ctx: &Context,
        key: &Key,
        identity: &ScanIdentity,
        account: &str,
        region: &str,
        pending: Vec<Pending>,
        now: Timestamp,
        outcome: &mut Outcome,
    ) {
        let config = aws_sdk_securityhub::config::Builder::from(&identity.sdk)
            .region(Region::new(region.to_string()))
            .build();
        let client = aws_sdk_securityhub::Client::from_conf(config);
        let mut batches = pending.chunks(BATCH_LIMIT);
        while let Some(batch) = batches.next() {
            if let Err(why) = (ctx.write_gate.0)() {
                let left = batch.len() + batches.by_ref().map(<[Pending]>::len).sum::<usize>();
                tracing::info!(
                    region,
                    findings = left,
                    why,
                    "security hub export held back; sent at the next scan"
                );
                outcome.held_back += left;
                return;
            }
            let findings: Vec<sdk::AwsSecurityFinding> = batch
                .iter()
                .filter_map(|p| {
                    let created = p.created_at.unwrap_or(now);
                    // Checked when planned: every pending finding converts.
                    asff::to_asff(&p.finding, p.record_state, created, now)
                        .ok()
                        .map(|a| to_sdk(&a))
                })
                .collect();
            let sent = client
                .batch_import_findings()
                .set_findings(Some(findings))
                .send()
                .await;
            match sent {
                Ok(answer) => {
                    let mut refused: HashMap<&str, (Option<&str>, Option<&str>)> = HashMap::new();
                    for failed in answer.failed_findings() {
                        if let Some(id) = failed.id() {
                            refused.insert(id, (failed.error_code(), failed.error_message()));
                        }
                    }
                    let mut done = Vec::new();
                    for p in batch {
                        match refused.get(p.id.as_str()) {
                            Some((code, message)) => {
                                let problem = partial_failure(*code);
                                ctx.metrics.securityhub_export_failed(problem.kind(), 1);
                                outcome.failed(
                                    problem,
                                    failure_message(
                                        problem,
                                        region,
                                        account,
                                        &format!(
                                            "{}: {}",
                                            code.unwrap_or("Unknown"),
                                            message.unwrap_or("no message")
                                        ),
                                    ),
                                    1,
                                );
                            }
                            None => done.push(p),
                        }
                    }
                    self.imported_ok(key, &done, now);
                    outcome.imported += done.len();
                    for state in [RecordState::Active, RecordState::Archived] {
                        let n = done.iter().filter(|p| p.record_state == state).count();
                        if n > 0 {
                            ctx.metrics.securityhub_exported(state.as_str(), n);
                        }
                    }
                }
                Err(err) => {
                    let classified = classify(
                        region,
                        "BatchImportFindings",
                        Needed::Write("securityhub:BatchImportFindings"),
                        &err,
                    );
                    let code = err.as_service_error().and_then(|e| e.code());
                    let problem = match (code, classified.kind) {
                        (Some("InvalidAccessException"), _) => Problem::NotEnabled,
                        (_, ErrorKind::AccessDenied) => Problem::Denied,
                        (_, kind) => Problem::Failed(kind),
                    };
                    let detail = match err.as_service_error() {
                        Some(service) => format!(
                            "{}: {}",
                            service.code().unwrap_or("Unknown"),
                            service.message().unwrap_or("no message")
                        ),
                        None => classified.message.clone(),
                    };
                    let findings = if problem.ends_region() {
                        batch.len() + batches.by_ref().map(<[Pending]>::len).sum::<usize>()
                    } else {
                        batch.len()
                    };
                    ctx.metrics
                        .securityhub_export_failed(problem.kind(), findings);
                    outcome.failed(
                        problem,
                        failure_message(problem, region, account, &detail),
                        findings,
                    );
                    if problem.ends_region() {
                        return;
                    }
                }
            }
        }
    }

    /// Records what Security Hub now holds.
    fn imported_ok(&self, key: &Key, done: &[&Pending], now: Timestamp) {
        let mut imported = lock(&self.imported);
        let profile = imported.entry(key.clone()).or_default();
        for p in done {
            match p.record_state {
                // Archived for good: a resource that comes back is a new finding.
                RecordState::Archived => {
                    profile.remove(&p.id);
                }
                RecordState::Active => {
                    profile.insert(
                        p.id.clone(),
                        Imported {
                            fingerprint: p.fingerprint,
                            created_at: p.created_at.unwrap_or(now),
                            finding: Finding {
                                reason: String::new(),
                                ..p.finding.clone()
                            },
                        },
                    );
                }
            }
        }
    }
}

/// The findings to send: new or changed ones ACTIVE, gone ones ARCHIVED (from regions
/// read without error).
fn plan(
    imported: Option<&HashMap<String, Imported>>,
    findings: &[Finding],
    read_errors: &[ReadError],
) -> PlannedExport {
    let empty = HashMap::new();
    let imported = imported.unwrap_or(&empty);
    let mut planned = PlannedExport {
        total: findings.len(),
        ..PlannedExport::default()
    };
    let mut current = std::collections::HashSet::with_capacity(findings.len());
    for finding in findings {
        let id = asff::finding_id(finding);
        let fingerprint = match asff::fingerprint(finding, RecordState::Active) {
            Ok(fingerprint) => fingerprint,
            Err(e) => {
                planned.unsendable += 1;
                planned.unsendable_reason.get_or_insert(e.to_string());
                continue;
            }
        };
        let before = imported.get(&id);
        current.insert(id.clone());
        if before.is_some_and(|b| b.fingerprint == fingerprint) {
            continue;
        }
        planned.push(Pending {
            id,
            finding: finding.clone(),
            record_state: RecordState::Active,
            fingerprint,
            created_at: before.map(|b| b.created_at),
        });
    }
    for (id, gone) in imported {
        let unread = read_errors.iter().any(|e| {
            e.region == gone.finding.region
                && e.account_id
                    .as_deref()
                    .is_none_or(|account| account == gone.finding.account_id)
        });
        if current.contains(id) || unread {
            continue;
        }
        let Ok(fingerprint) = asff::fingerprint(&gone.finding, RecordState::Archived) else {
            continue;
        };
        planned.push(Pending {
            id: id.clone(),
            finding: gone.finding.clone(),
            record_state: RecordState::Archived,
            fingerprint,
            created_at: Some(gone.created_at),
        });
    }
    planned
}

impl PlannedExport {
    fn push(&mut self, pending: Pending) {
        self.by_region
            .entry((
                pending.finding.account_id.clone(),
                pending.finding.region.clone(),
            ))
            .or_default()
            .push(pending);
    }
}

/// The condition after an export; `None` when it decided nothing (everything was held
/// back: the condition stays as it was).
fn condition_of(outcome: &Outcome, total: usize) -> Option<DesiredCondition> {
    if let Some((problem, message)) = &outcome.first_problem {
        return Some(DesiredCondition {
            type_: reason::SECURITY_HUB_EXPORT,
            status: ConditionStatus::False,
            reason: problem.reason(),
            message: format!(
                "{} finding(s) could not be imported into Security Hub, first: {message}; they are sent again at the next scan",
                outcome.failed
            ),
        });
    }
    (outcome.held_back == 0).then(|| DesiredCondition {
        type_: reason::SECURITY_HUB_EXPORT,
        status: ConditionStatus::True,
        reason: reason::EXPORTED,
        message: format!(
            "every finding of the last scan is in Security Hub ({total} finding(s); only changes are sent)"
        ),
    })
}

/// A `FailedFindings` entry's problem, from its error code.
fn partial_failure(code: Option<&str>) -> Problem {
    match code {
        Some("InvalidAccess" | "InvalidAccessException") => Problem::NotEnabled,
        Some("AccessDenied" | "AccessDeniedException") => Problem::Denied,
        Some("LimitExceeded" | "LimitExceededException") => Problem::Failed(ErrorKind::Throttled),
        Some("InvalidInput" | "InvalidInputException") => Problem::Failed(ErrorKind::Invalid),
        _ => Problem::Failed(ErrorKind::Other),
    }
}

/// What to tell the user, by problem.
fn failure_message(problem: Problem, region: &str, account: &str, detail: &str) -> String {
    match problem {
        Problem::Denied => format!(
            "BatchImportFindings in {region} was denied ({detail}); grant the profile's identity securityhub:BatchImportFindings on {} (docs/iam/securityhub-export.json)",
            asff::product_arn(region, account)
        ),
        Problem::NotEnabled => format!(
            "Security Hub is not enabled in {region} for account {account} ({detail}); enable Security Hub CSPM there (aws securityhub enable-security-hub --region {region})"
        ),
        Problem::Failed(kind) => {
            format!("BatchImportFindings in {region} failed ({kind}: {detail})")
        }
    }
}

/// `status` with its `SecurityHubExport` condition as `desired` says (none: the profile
/// does not export), its transition time kept from `previous` while its status holds.
pub(super) fn with_export_condition(
    mut status: ComplianceProfileStatus,
    previous: Option<&ComplianceProfileStatus>,
    desired: Option<DesiredCondition>,
    now: &Time,
) -> ComplianceProfileStatus {
    status
        .conditions
        .retain(|c| c.type_ != reason::SECURITY_HUB_EXPORT);
    if let Some(desired) = desired {
        let before: Vec<_> = previous
            .into_iter()
            .flat_map(|p| &p.conditions)
            .filter(|c| c.type_ == reason::SECURITY_HUB_EXPORT)
            .cloned()
            .collect();
        let generation = status.observed_generation;
        status
            .conditions
            .extend(settle_conditions(&before, vec![desired], generation, now));
    }
    status
}

/// The SDK's finding, field for field from the ASFF one.
fn to_sdk(finding: &AsffFinding) -> sdk::AwsSecurityFinding {
    let severity = sdk::Severity::builder()
        .label(sdk::SeverityLabel::from(finding.severity.label))
        .original(finding.severity.original)
        .build();
    let provider = &finding.finding_provider_fields;
    let provider_severity = sdk::FindingProviderSeverity::builder()
        .label(sdk::SeverityLabel::from(provider.severity.label))
        .original(provider.severity.original)
        .build();
    let recommendation = &finding.remediation.recommendation;
    sdk::AwsSecurityFinding::builder()
        .schema_version(finding.schema_version)
        .id(&finding.id)
        .product_arn(&finding.product_arn)
        .generator_id(&finding.generator_id)
        .aws_account_id(&finding.aws_account_id)
        .set_types(Some(finding.types.clone()))
        .created_at(&finding.created_at)
        .updated_at(&finding.updated_at)
        .severity(severity)
        .title(&finding.title)
        .description(&finding.description)
        .remediation(
            sdk::Remediation::builder()
                .recommendation(
                    sdk::Recommendation::builder()
                        .text(&recommendation.text)
                        .url(recommendation.url)
                        .build(),
                )
                .build(),
        )
        .set_product_fields(Some(
            finding
                .product_fields
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
        .set_resources(Some(
            finding
                .resources
                .iter()
                .map(|r| {
                    sdk::Resource::builder()
                        .r#type(r.type_)
                        .id(&r.id)
                        .partition(sdk::Partition::from(r.partition))
                        .region(&r.region)
                        .build()
                })
                .collect(),
        ))
        .compliance(
            sdk::Compliance::builder()
                .status(sdk::ComplianceStatus::from(finding.compliance.status))
                .set_related_requirements(Some(
                    finding
                        .compliance
                        .related_requirements
                        .iter()
                        .map(|r| r.to_string())
                        .collect(),
                ))
                .build(),
        )
        .record_state(sdk::RecordState::from(finding.record_state.as_str()))
        .finding_provider_fields(
            sdk::FindingProviderFields::builder()
                .severity(provider_severity)
                .set_types(Some(provider.types.clone()))
                .build(),
        )
        .build()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls;
    use crate::model::arn::rest_stage_arn;
    use crate::model::{ResourceType, Severity, Status};

    fn finding(region: &str, stage: &str, status: Status) -> Finding {
        Finding {
            control_id: controls::xray_tracing::ID,
            resource_type: ResourceType::RestStage,
            resource_arn: rest_stage_arn(region, "a1b2c3", stage),
            resource_name: format!("orders/{stage}"),
            account_id: "111122223333".into(),
            region: region.into(),
            status,
            severity: Severity::Low,
            reason: format!("tracing on {stage}"),
            exempted: false,
        }
    }

    fn read_error(region: &str) -> ReadError {
        ReadError {
            account_id: None,
            region: region.into(),
            resource_arn: None,
            operation: "GetRestApis".into(),
            kind: ErrorKind::Throttled,
            message: "throttled".into(),
        }
    }

    /// The memory after every planned finding was imported at `at`.
    fn imported(planned: &PlannedExport, at: i64) -> HashMap<String, Imported> {
        let exports = SecurityHubExports::default();
        let key = Key::new("p").within("ns");
        let done: Vec<&Pending> = planned.by_region.values().flatten().collect();
        let at = Timestamp::from_second(at).unwrap_or(Timestamp::UNIX_EPOCH);
        exports.imported_ok(&key, &done, at);
        lock(&exports.imported).remove(&key).unwrap_or_default()
    }

    fn sent(planned: &PlannedExport) -> Vec<(String, RecordState, Status)> {
        let mut sent: Vec<_> = planned
            .by_region
            .values()
            .flatten()
            .map(|p| {
                (
                    p.finding.resource_name.clone(),
                    p.record_state,
                    p.finding.status,
                )
            })
            .collect();
        sent.sort_by(|a, b| a.0.cmp(&b.0));
        sent
    }

    #[test]
    fn a_first_export_sends_everything_and_an_unchanged_scan_nothing() {
        let findings = vec![
            finding("eu-west-1", "prod", Status::Failed),
            finding("us-east-1", "dev", Status::Passed),
        ];
        let first = plan(None, &findings, &[]);
        assert_eq!(first.total, 2);
        assert_eq!(first.by_region.len(), 2, "grouped by account and region");
        assert!(
            first
                .by_region
                .values()
                .flatten()
                .all(|p| p.created_at.is_none())
        );
        let memory = imported(&first, 100);
        let again = plan(Some(&memory), &findings, &[]);
        assert!(again.by_region.is_empty(), "{:?}", sent(&again));
    }

    #[test]
    fn a_changed_verdict_is_sent_again_with_its_first_creation_time() {
        let before = vec![finding("eu-west-1", "prod", Status::Failed)];
        let memory = imported(&plan(None, &before, &[]), 100);
        let fixed = vec![finding("eu-west-1", "prod", Status::Passed)];
        let planned = plan(Some(&memory), &fixed, &[]);
        assert_eq!(
            sent(&planned),
            [(
                "orders/prod".to_string(),
                RecordState::Active,
                Status::Passed
            )]
        );
        let created = planned
            .by_region
            .values()
            .flatten()
            .next()
            .and_then(|p| p.created_at);
        assert_eq!(created.map(|t| t.as_second()), Some(100));
    }

    #[test]
    fn a_gone_finding_is_archived_once_but_not_from_a_region_with_read_errors() {
        let before = vec![
            finding("eu-west-1", "prod", Status::Failed),
            finding("us-east-1", "dev", Status::Failed),
        ];
        let memory = imported(&plan(None, &before, &[]), 100);
        // Both gone; us-east-1 could not be read, so its finding may still exist.
        let planned = plan(Some(&memory), &[], &[read_error("us-east-1")]);
        assert_eq!(
            sent(&planned),
            [(
                "orders/prod".to_string(),
                RecordState::Archived,
                Status::Failed
            )]
        );
        let archived = planned.by_region.values().flatten().next();
        assert!(
            archived.is_some_and(|p| p.finding.reason.is_empty()),
            "kept without its reason"
        );
        // Archived successfully: forgotten, so never sent again.
        let exports = SecurityHubExports::default();
        let key = Key::new("p").within("ns");
        lock(&exports.imported).insert(key.clone(), memory);
        let done: Vec<&Pending> = planned.by_region.values().flatten().collect();
        exports.imported_ok(&key, &done, Timestamp::UNIX_EPOCH);
        let left = lock(&exports.imported).remove(&key).unwrap_or_default();
        let next = plan(Some(&left), &[], &[read_error("us-east-1")]);
        assert!(next.by_region.is_empty(), "{:?}", sent(&next));
    }

    #[test]
    fn an_unread_account_keeps_its_findings_and_another_accounts_gone_ones_are_archived() {
        let of = |account: &str, stage: &str| Finding {
            account_id: account.into(),
            ..finding("us-east-1", stage, Status::Failed)
        };
        let memory = imported(
            &plan(
                None,
                &[of("111122223333", "prod"), of("444455556666", "dev")],
                &[],
            ),
            100,
        );
        // Both gone from this scan; only 444455556666's role was refused in us-east-1.
        let refused = ReadError {
            account_id: Some("444455556666".into()),
            operation: "AssumeRole".into(),
            ..read_error("us-east-1")
        };
        let planned = plan(Some(&memory), &[], &[refused]);
        assert_eq!(
            sent(&planned),
            [(
                "orders/prod".to_string(),
                RecordState::Archived,
                Status::Failed
            )]
        );
        assert!(
            planned
                .by_region
                .keys()
                .all(|(account, _)| account == "111122223333")
        );
    }

    #[test]
    fn findings_without_an_account_are_counted_as_unsendable() {
        let anonymous = Finding {
            account_id: String::new(),
            ..finding("eu-west-1", "prod", Status::Failed)
        };
        let planned = plan(None, &[anonymous], &[]);
        assert!(planned.by_region.is_empty());
        assert_eq!(planned.unsendable, 1);
        assert!(
            planned
                .unsendable_reason
                .is_some_and(|r| r.contains("sts:GetCallerIdentity"))
        );
    }

    #[test]
    fn the_condition_says_what_failed_and_what_to_do() {
        let ok = condition_of(
            &Outcome {
                imported: 3,
                ..Outcome::default()
            },
            7,
        )
        .expect("decided");
        assert_eq!(
            (ok.status, ok.reason),
            (ConditionStatus::True, reason::EXPORTED)
        );
        assert!(ok.message.contains("7 finding(s)"), "{}", ok.message);

        let mut denied = Outcome::default();
        let problem = partial_failure(Some("AccessDeniedException"));
        denied.failed(
            problem,
            failure_message(
                problem,
                "eu-west-1",
                "111122223333",
                "AccessDeniedException: no",
            ),
            100,
        );
        let condition = condition_of(&denied, 100).expect("decided");
        assert_eq!(
            (condition.status, condition.reason),
            (ConditionStatus::False, reason::EXPORT_DENIED)
        );
        assert!(
            condition.message.contains("securityhub:BatchImportFindings on arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"),
            "{}",
            condition.message
        );

        let not_enabled = partial_failure(Some("InvalidAccess"));
        assert_eq!(not_enabled, Problem::NotEnabled);
        assert!(not_enabled.ends_region());
        assert!(
            failure_message(not_enabled, "eu-west-1", "111122223333", "x")
                .contains("enable Security Hub CSPM there")
        );
        assert_eq!(
            partial_failure(Some("LimitExceeded")),
            Problem::Failed(ErrorKind::Throttled)
        );
        assert!(!Problem::Failed(ErrorKind::Throttled).ends_region());

        let held_back = Outcome {
            held_back: 5,
            ..Outcome::default()
        };
        assert_eq!(condition_of(&held_back, 5), None, "nothing decided");
    }

    #[test]
    fn the_condition_keeps_its_transition_time_while_its_status_holds() {
        let at = |s: i64| Time(Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH));
        let desired = |status, message: &str| DesiredCondition {
            type_: reason::SECURITY_HUB_EXPORT,
            status,
            reason: reason::EXPORTED,
            message: message.to_string(),
        };
        let first = with_export_condition(
            ComplianceProfileStatus::default(),
            None,
            Some(desired(ConditionStatus::True, "a")),
            &at(10),
        );
        let second = with_export_condition(
            ComplianceProfileStatus::default(),
            Some(&first),
            Some(desired(ConditionStatus::True, "b")),
            &at(20),
        );
        let condition = second.condition(reason::SECURITY_HUB_EXPORT).expect("set");
        assert_eq!(
            (condition.message.as_str(), &condition.last_transition_time),
            ("b", &at(10))
        );
        let flipped = with_export_condition(
            second.clone(),
            Some(&second),
            Some(desired(ConditionStatus::False, "c")),
            &at(30),
        );
        let condition = flipped.condition(reason::SECURITY_HUB_EXPORT).expect("set");
        assert_eq!(condition.last_transition_time, at(30));
        let off = with_export_condition(flipped.clone(), Some(&flipped), None, &at(40));
        assert!(off.condition(reason::SECURITY_HUB_EXPORT).is_none());
    }

    #[test]
    fn the_sdk_finding_carries_every_asff_field() {
        let asff = asff::to_asff(
            &finding("eu-west-1", "prod", Status::Failed),
            RecordState::Archived,
            Timestamp::UNIX_EPOCH,
            Timestamp::UNIX_EPOCH,
        )
        .expect("converts");
        let sdk = to_sdk(&asff);
        assert_eq!(sdk.schema_version(), Some(asff::SCHEMA_VERSION));
        assert_eq!(sdk.id(), Some(asff.id.as_str()));
        assert_eq!(sdk.product_arn(), Some(asff.product_arn.as_str()));
        assert_eq!(sdk.generator_id(), Some(asff.generator_id.as_str()));
        assert_eq!(sdk.aws_account_id(), Some("111122223333"));
        assert_eq!(sdk.types(), asff.types.as_slice());
        assert_eq!(sdk.created_at(), Some(asff.created_at.as_str()));
        assert_eq!(sdk.updated_at(), Some(asff.updated_at.as_str()));
        assert_eq!(
            sdk.severity().and_then(|s| s.label()).map(|l| l.as_str()),
            Some("LOW")
        );
        assert_eq!(sdk.title(), Some(asff.title.as_str()));
        assert_eq!(sdk.description(), Some(asff.description.as_str()));
        assert_eq!(
            sdk.remediation()
                .and_then(|r| r.recommendation())
                .and_then(|r| r.url()),
            Some(asff.remediation.recommendation.url)
        );
        assert_eq!(
            sdk.product_fields().map(|f| f.len()),
            Some(asff.product_fields.len())
        );
        let resource = &sdk.resources()[0];
        assert_eq!(resource.r#type(), Some("AwsApiGatewayStage"));
        assert_eq!(resource.partition().map(|p| p.as_str()), Some("aws"));
        assert_eq!(
            sdk.compliance()
                .and_then(|c| c.status())
                .map(|s| s.as_str()),
            Some("FAILED")
        );
        assert_eq!(sdk.record_state().map(|s| s.as_str()), Some("ARCHIVED"));
        assert_eq!(
            sdk.finding_provider_fields()
                .and_then(|f| f.severity())
                .and_then(|s| s.label())
                .map(|l| l.as_str()),
            Some("LOW")
        );
    }
}
