//! Building a profile's status: pure functions from what a reconcile found to the
//! status to write. The controller compares the result with the status on the object
//! and writes only when they differ.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::controls::ControlId;
use crate::crd::status::{
    AppliedChange, DesiredCondition, ExpiredExemption, FAILING_FINDINGS_LIMIT, PLAN_ITEMS_LIMIT,
    PLAN_LIMIT, PROBLEMS_LIMIT, PlannedChange, PlannedItem, ProblemReason, RECENT_CHANGES_LIMIT,
    RemediationProblem, SCAN_ERRORS_LIMIT, reason, settle_conditions, truncate,
};
use crate::crd::{
    ComplianceProfileStatus, ConditionStatus, ControlCounts, FailingFinding, RemediationMode,
    RemediationStatus, ScanError, Summary,
};
use crate::finding::{Finding, Status};
use crate::inventory::ReadError;
use crate::remediate::{AuditRecord, ItemStatus, Mode, RemediationReport, UnplannedReason};

/// What one scan produced, already scope-filtered and with exemptions applied.
#[derive(Debug, Default)]
pub struct ScanResult {
    pub findings: Vec<Finding>,
    pub read_errors: Vec<ReadError>,
    /// Whether any part of the inventory was read (false when every region failed).
    pub read_anything: bool,
    pub expired_exemptions: Vec<ExpiredExemption>,
    pub account: Option<String>,
    pub regions: Vec<String>,
}

impl ScanResult {
    /// Every read failed: there are no verdicts (the status keeps the last ones) and
    /// nothing for remediation to act on.
    pub fn read_nothing(&self) -> bool {
        !self.read_anything && !self.read_errors.is_empty()
    }
}

/// Counts, per-control counts and the bounded failing list of a scan.
pub fn summarize(findings: &[Finding], read_errors: usize) -> (Summary, Vec<ControlCounts>) {
    let mut summary = Summary {
        unreadable: saturate(read_errors),
        ..Default::default()
    };
    let mut per_control: BTreeMap<ControlId, ControlCounts> = BTreeMap::new();
    for f in findings {
        let counts = per_control
            .entry(f.control_id)
            .or_insert_with(|| ControlCounts {
                control_id: f.control_id,
                passed: 0,
                failed: 0,
                not_applicable: 0,
                exempted: 0,
                errors: 0,
            });
        summary.evaluated += 1;
        let (total, control) = if f.exempted {
            (&mut summary.exempted, &mut counts.exempted)
        } else {
            match f.status {
                Status::Passed => (&mut summary.passed, &mut counts.passed),
                Status::Failed => (&mut summary.failed, &mut counts.failed),
                Status::NotApplicable => (&mut summary.not_applicable, &mut counts.not_applicable),
                Status::Error => (&mut summary.errors, &mut counts.errors),
            }
        };
        *total += 1;
        *control += 1;
    }
    (summary, per_control.into_values().collect())
}

/// The failing findings to list: FAILED or ERROR and not exempted, highest severity
/// first, then by control, then by resource ARN; at most [`FAILING_FINDINGS_LIMIT`].
/// Returns the list and how many were left out.
pub fn failing_findings(findings: &[Finding]) -> (Vec<FailingFinding>, u32) {
    let mut failing: Vec<&Finding> = findings
        .iter()
        .filter(|f| !f.exempted && matches!(f.status, Status::Failed | Status::Error))
        .collect();
    // Severity's derived order is Critical < High < Medium < Low: most severe first.
    failing.sort_by(|a, b| {
        (a.severity, a.control_id, &a.resource_arn, a.status).cmp(&(
            b.severity,
            b.control_id,
            &b.resource_arn,
            b.status,
        ))
    });
    let left_out = failing.len().saturating_sub(FAILING_FINDINGS_LIMIT);
    let listed = failing
        .into_iter()
        .take(FAILING_FINDINGS_LIMIT)
        .map(|f| FailingFinding {
            control_id: f.control_id,
            resource_arn: f.resource_arn.clone(),
            severity: f.severity,
            status: f.status,
            reason: truncate(&f.reason),
        })
        .collect();
    (listed, saturate(left_out))
}

/// The scan errors to list, in the reader's order; at most [`SCAN_ERRORS_LIMIT`].
pub fn scan_errors(errors: &[ReadError]) -> (Vec<ScanError>, u32) {
    let listed = errors
        .iter()
        .take(SCAN_ERRORS_LIMIT)
        .map(|e| ScanError {
            region: e.region.clone(),
            resource_arn: e.resource_arn.clone(),
            operation: e.operation.clone(),
            message: truncate(&e.message),
        })
        .collect();
    (
        listed,
        saturate(errors.len().saturating_sub(SCAN_ERRORS_LIMIT)),
    )
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The remediation part of a scan's status before remediation runs: Observe says
/// nothing is changed; in DryRun and Enforce [`remediated`] replaces it once the run is
/// done. The applied changes are kept in every mode: they are history, not a verdict.
fn remediation_before_run(
    mode: RemediationMode,
    previous: Option<&RemediationStatus>,
) -> RemediationStatus {
    let message = match mode {
        RemediationMode::Observe => "Observe: findings are reported, nothing is changed".into(),
        RemediationMode::DryRun | RemediationMode::Enforce => {
            format!(
                "{}: remediation has not run on this scan yet",
                mode.as_str()
            )
        }
    };
    RemediationStatus {
        recent_changes: previous
            .map(|p| p.recent_changes.clone())
            .unwrap_or_default(),
        ..empty_remediation(mode, message)
    }
}

fn empty_remediation(mode: RemediationMode, message: String) -> RemediationStatus {
    RemediationStatus {
        mode,
        active: true,
        message,
        last_run: None,
        planned: 0,
        pending: 0,
        unplanned: 0,
        plan: Vec::new(),
        plan_truncated: 0,
        problems: Vec::new(),
        problems_truncated: 0,
        recent_changes: Vec::new(),
    }
}

/// The status after remediation ran on a scan's findings: `status` (built by
/// [`scanned`]) with its remediation report replaced and the `Remediated` condition
/// added. `previous` is the status the scan started from (for the condition's
/// transition time and the applied changes kept so far).
pub fn remediated(
    mut status: ComplianceProfileStatus,
    previous: Option<&ComplianceProfileStatus>,
    report: &RemediationReport,
    now: &Time,
) -> ComplianceProfileStatus {
    let mode = match report.mode {
        Mode::DryRun => RemediationMode::DryRun,
        Mode::Enforce => RemediationMode::Enforce,
    };
    let summary = report.outcome.summary();
    let (problems, problems_truncated) = remediation_problems(report);
    let (plan, plan_truncated) = if mode == RemediationMode::DryRun {
        planned_changes(report)
    } else {
        (Vec::new(), 0)
    };
    let condition = remediated_condition(report, problems.first());
    let previous_changes = status
        .remediation
        .as_ref()
        .map(|r| r.recent_changes.as_slice())
        .unwrap_or(&[]);
    let recent_changes = report
        .outcome
        .audit_records()
        .into_iter()
        .map(|change| AppliedChange {
            time: now.clone(),
            change: AuditRecord {
                setting: truncate(&change.setting),
                before: truncate(&change.before),
                after: truncate(&change.after),
                ..change
            },
        })
        .chain(previous_changes.iter().cloned())
        .take(RECENT_CHANGES_LIMIT)
        .collect();
    status.remediation = Some(RemediationStatus {
        mode,
        active: true,
        message: truncate(&format!("{}: {}", mode.as_str(), condition.message)),
        last_run: Some(summary),
        planned: saturate(report.plan.changes.len()),
        pending: saturate(report.plan.pending.len()),
        unplanned: saturate(report.plan.unplanned.len()),
        plan,
        plan_truncated,
        problems,
        problems_truncated,
        recent_changes,
    });
    let previous_conditions = previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    status.conditions.extend(settle_conditions(
        previous_conditions,
        vec![condition],
        status.observed_generation,
        now,
    ));
    status
}

/// The `Remediated` condition of a run: a refusal first, then a blocked change, then
/// work left (DryRun: the plan; Enforce: changes over the limit), then what was done.
fn remediated_condition(
    report: &RemediationReport,
    first_problem: Option<&RemediationProblem>,
) -> DesiredCondition {
    let summary = report.outcome.summary();
    let pending = report.plan.pending.len();
    let limit = report.plan.max_changes_per_scan;
    let unplanned = report.plan.unplanned.len();
    let first = first_problem
        .map(|p| match &p.resource_arn {
            Some(arn) => format!("{arn}: {}", p.message),
            None => p.message.clone(),
        })
        .unwrap_or_default();
    let blocked = summary.blocked
        + report
            .plan
            .unplanned
            .iter()
            .filter(|u| {
                matches!(
                    u.reason,
                    UnplannedReason::BlockedPrecondition | UnplannedReason::InvalidSettings
                )
            })
            .count();
    let calls = report
        .outcome
        .changes
        .iter()
        .filter(|c| c.items.iter().any(|i| i.status == ItemStatus::Applied))
        .count();
    let (status, reason, mut message) = if summary.failed > 0 {
        (
            ConditionStatus::False,
            reason::REMEDIATION_FAILED,
            format!(
                "AWS refused {} setting(s) (retried at the next scan), first: {first}",
                summary.failed
            ),
        )
    } else if blocked > 0 {
        (
            ConditionStatus::False,
            reason::REMEDIATION_BLOCKED,
            format!("{blocked} setting(s) cannot be changed as things are, first: {first}"),
        )
    } else if report.mode == Mode::DryRun && (summary.would_apply > 0 || pending > 0) {
        (
            ConditionStatus::False,
            reason::CHANGES_PLANNED,
            format!(
                "{} change(s) would set {} setting(s) (see status.remediation.plan){}; set spec.remediation.mode to Enforce to make them",
                report.plan.changes.len(),
                summary.would_apply,
                if pending > 0 {
                    format!(", {pending} more after them (over maxChangesPerScan = {limit})")
                } else {
                    String::new()
                }
            ),
        )
    } else if pending > 0 {
        (
            ConditionStatus::False,
            reason::CHANGES_PENDING,
            format!(
                "applied {} setting(s) in {calls} call(s); {pending} change(s) over maxChangesPerScan = {limit} wait for the next scans",
                summary.applied
            ),
        )
    } else if summary.applied > 0 {
        (
            ConditionStatus::True,
            reason::CHANGES_APPLIED,
            format!(
                "applied {} setting(s) in {calls} call(s) (see status.remediation.recentChanges); the next scan checks them",
                summary.applied
            ),
        )
    } else {
        (
            ConditionStatus::True,
            reason::NOTHING_TO_CHANGE,
            "nothing to change".to_string(),
        )
    };
    if unplanned > 0 {
        let _ = write!(
            message,
            "; {unplanned} failing finding(s) have no automatic fix (see status.failingFindings)"
        );
    }
    DesiredCondition {
        type_: reason::REMEDIATED,
        status,
        reason,
        message,
    }
}

/// DryRun's exact changes: each call that would go, with the settings it would set;
/// at most [`PLAN_LIMIT`] changes of at most [`PLAN_ITEMS_LIMIT`] settings.
fn planned_changes(report: &RemediationReport) -> (Vec<PlannedChange>, u32) {
    let would_go: Vec<_> = report
        .outcome
        .changes
        .iter()
        .filter(|c| c.items.iter().any(|i| i.status == ItemStatus::WouldApply))
        .collect();
    let listed = would_go
        .iter()
        .take(PLAN_LIMIT)
        .map(|change| {
            let items: Vec<_> = change
                .items
                .iter()
                .filter(|i| i.status == ItemStatus::WouldApply)
                .collect();
            PlannedChange {
                resource_arn: change.resource_arn.clone(),
                region: change.region.clone(),
                controls: sorted_controls(items.iter().map(|i| i.control_id)),
                call: format!("{} {}", change.call.operation, change.call.http),
                request: truncate(&change.call.request.to_string()),
                items: items
                    .iter()
                    .take(PLAN_ITEMS_LIMIT)
                    .map(|i| PlannedItem {
                        control_id: i.control_id,
                        setting: truncate(&i.setting),
                        before: truncate(&i.before),
                        after: truncate(&i.after),
                    })
                    .collect(),
                items_truncated: saturate(items.len().saturating_sub(PLAN_ITEMS_LIMIT)),
            }
        })
        .collect();
    (listed, saturate(would_go.len().saturating_sub(PLAN_LIMIT)))
}

/// What stopped changes: failed calls (one per call, with AWS's message, or why the
/// client certificate could not be had), preconditions that do not hold (one per
/// precondition), and findings whose change cannot work as configured. At most
/// [`PROBLEMS_LIMIT`].
fn remediation_problems(report: &RemediationReport) -> (Vec<RemediationProblem>, u32) {
    let mut problems = Vec::new();
    for change in &report.outcome.changes {
        let failed: Vec<_> = change
            .items
            .iter()
            .filter(|i| i.status == ItemStatus::Failed)
            .collect();
        if let Some(first) = failed.first() {
            problems.push(RemediationProblem {
                reason: ProblemReason::Failed,
                resource_arn: Some(change.resource_arn.clone()),
                controls: sorted_controls(failed.iter().map(|i| i.control_id)),
                message: truncate(&format!(
                    "{}: {}",
                    change.call.operation,
                    first
                        .message
                        .as_deref()
                        .unwrap_or("failed without a message")
                )),
            });
        }
    }
    for result in report.outcome.preconditions.iter().filter(|r| !r.satisfied) {
        let controls = report
            .plan
            .changes
            .iter()
            .flat_map(|c| &c.items)
            .filter(|i| i.precondition.as_ref() == Some(&result.precondition))
            .map(|i| i.control_id);
        problems.push(RemediationProblem {
            reason: ProblemReason::BlockedPrecondition,
            resource_arn: None,
            controls: sorted_controls(controls),
            message: truncate(&format!(
                "{}: {}",
                result.precondition.describe(),
                result.message
            )),
        });
    }
    for unplanned in &report.plan.unplanned {
        let reason = match unplanned.reason {
            UnplannedReason::BlockedPrecondition => ProblemReason::BlockedPrecondition,
            UnplannedReason::InvalidSettings => ProblemReason::InvalidSettings,
            UnplannedReason::ManualAction | UnplannedReason::Disabled => continue,
        };
        problems.push(RemediationProblem {
            reason,
            resource_arn: Some(unplanned.resource_arn.clone()),
            controls: vec![unplanned.control_id],
            message: truncate(&unplanned.message),
        });
    }
    let left_out = problems.len().saturating_sub(PROBLEMS_LIMIT);
    problems.truncate(PROBLEMS_LIMIT);
    (problems, saturate(left_out))
}

fn sorted_controls(ids: impl IntoIterator<Item = ControlId>) -> Vec<ControlId> {
    let mut ids: Vec<ControlId> = ids.into_iter().collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The Compliant condition a set of counts implies.
fn compliant(summary: &Summary, findings: &[Finding]) -> DesiredCondition {
    let (status, reason, message) = if summary.failed > 0 {
        (
            ConditionStatus::False,
            reason::FINDINGS_FAILED,
            failed_message(summary, findings),
        )
    } else if summary.errors > 0 || summary.unreadable > 0 {
        (
            ConditionStatus::Unknown,
            reason::INCOMPLETE_SCAN,
            format!(
                "nothing failed, but {} finding(s) could not be evaluated and {} part(s) of the inventory could not be read: see status.failingFindings and status.scanErrors",
                summary.errors, summary.unreadable
            ),
        )
    } else if summary.evaluated == 0 {
        (
            ConditionStatus::True,
            reason::NOTHING_IN_SCOPE,
            "the scope selected no stage or route: check spec.scope if that is unexpected"
                .to_string(),
        )
    } else {
        (
            ConditionStatus::True,
            reason::ALL_PASSED,
            format!(
                "{} passed, {} not applicable, {} exempted",
                summary.passed, summary.not_applicable, summary.exempted
            ),
        )
    };
    DesiredCondition {
        type_: reason::COMPLIANT,
        status,
        reason,
        message,
    }
}

/// "3 of 20 findings failed: APIGateway.1 (2), APIGateway.4 (1)".
fn failed_message(summary: &Summary, findings: &[Finding]) -> String {
    let mut per_control: BTreeMap<ControlId, u32> = BTreeMap::new();
    for f in findings
        .iter()
        .filter(|f| !f.exempted && f.status == Status::Failed)
    {
        *per_control.entry(f.control_id).or_default() += 1;
    }
    let mut message = format!(
        "{} of {} findings failed:",
        summary.failed, summary.evaluated
    );
    for (i, (id, n)) in per_control.iter().enumerate() {
        let sep = if i == 0 { " " } else { ", " };
        let _ = write!(message, "{sep}{id} ({n})");
    }
    message
}

fn not_scanned() -> DesiredCondition {
    DesiredCondition {
        type_: reason::COMPLIANT,
        status: ConditionStatus::Unknown,
        reason: reason::NOT_SCANNED,
        message: "no scan of the current spec has completed".into(),
    }
}

/// The status after a scan. `next` is when the next scan is due.
pub fn scanned(
    previous: Option<&ComplianceProfileStatus>,
    generation: Option<i64>,
    mode: RemediationMode,
    scan: &ScanResult,
    now: &Time,
    next: &Time,
) -> ComplianceProfileStatus {
    let previous_conditions = previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    if scan.read_nothing() {
        return failed_scan(previous, generation, scan, now, next);
    }
    let (summary, controls) = summarize(&scan.findings, scan.read_errors.len());
    let (failing_findings, failing_findings_truncated) = failing_findings(&scan.findings);
    let (scan_errors, scan_errors_truncated) = scan_errors(&scan.read_errors);
    let remediation = remediation_before_run(mode, previous.and_then(|p| p.remediation.as_ref()));
    let resources = summary.evaluated;
    let regions = scan.regions.join(", ");
    let ready = if scan.read_errors.is_empty() {
        DesiredCondition {
            type_: reason::READY,
            status: ConditionStatus::True,
            reason: reason::SCAN_SUCCEEDED,
            message: format!("scanned {resources} finding(s) in {regions}"),
        }
    } else {
        DesiredCondition {
            type_: reason::READY,
            status: ConditionStatus::False,
            reason: reason::SCAN_INCOMPLETE,
            message: format!(
                "{} part(s) of the inventory could not be read, first: {}; retrying",
                scan.read_errors.len(),
                first_error(&scan.read_errors)
            ),
        }
    };
    let conditions = settle_conditions(
        previous_conditions,
        vec![ready, compliant(&summary, &scan.findings)],
        generation,
        now,
    );
    ComplianceProfileStatus {
        observed_generation: generation,
        conditions,
        last_scan_time: Some(now.clone()),
        next_scan_time: Some(next.clone()),
        account: scan.account.clone(),
        regions: scan.regions.clone(),
        summary: Some(summary),
        controls,
        failing_findings,
        failing_findings_truncated,
        scan_errors,
        scan_errors_truncated,
        expired_exemptions: scan.expired_exemptions.clone(),
        remediation: Some(remediation),
    }
}

fn first_error(errors: &[ReadError]) -> String {
    errors
        .first()
        .map(|e| {
            format!(
                "{} {} in {}: {}",
                e.operation,
                e.resource_arn.as_deref().unwrap_or(""),
                e.region,
                e.message
            )
        })
        .unwrap_or_default()
}

/// Nothing could be read. The results of the last scan of the same generation stay (they
/// are older, not wrong), so a passing outage does not flip `Compliant`; a new
/// generation's results are unknown.
fn failed_scan(
    previous: Option<&ComplianceProfileStatus>,
    generation: Option<i64>,
    scan: &ScanResult,
    now: &Time,
    next: &Time,
) -> ComplianceProfileStatus {
    let message = format!(
        "nothing could be read, first error: {}; retrying",
        first_error(&scan.read_errors)
    );
    let (scan_errors, scan_errors_truncated) = scan_errors(&scan.read_errors);
    without_results(
        previous,
        generation,
        reason::SCAN_FAILED,
        message,
        false,
        now,
        Some(next),
        (scan_errors, scan_errors_truncated),
    )
}

/// Credentials could not be obtained (AssumeRole refused, no credentials): retried.
pub fn credentials_unavailable(
    previous: Option<&ComplianceProfileStatus>,
    generation: Option<i64>,
    message: String,
    now: &Time,
    next: &Time,
) -> ComplianceProfileStatus {
    without_results(
        previous,
        generation,
        reason::CREDENTIALS_UNAVAILABLE,
        message,
        false,
        now,
        Some(next),
        (Vec::new(), 0),
    )
}

/// The profile cannot be scanned until it (or the tenancy configuration) changes:
/// `Stalled=True`, previous results dropped (they may describe an identity the profile
/// may no longer use), no next scan.
pub fn stalled(
    previous: Option<&ComplianceProfileStatus>,
    generation: Option<i64>,
    stalled_reason: &'static str,
    message: String,
    now: &Time,
) -> ComplianceProfileStatus {
    without_results(
        previous,
        generation,
        stalled_reason,
        message,
        true,
        now,
        None,
        (Vec::new(), 0),
    )
}

#[allow(clippy::too_many_arguments)]
fn without_results(
    previous: Option<&ComplianceProfileStatus>,
    generation: Option<i64>,
    ready_reason: &'static str,
    message: String,
    is_stalled: bool,
    now: &Time,
    next: Option<&Time>,
    (scan_errors, scan_errors_truncated): (Vec<ScanError>, u32),
) -> ComplianceProfileStatus {
    let previous_conditions = previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    // Results of the same generation are kept through a transient failure; a stall
    // drops them.
    let keep = previous
        .filter(|p| !is_stalled && p.observed_generation == generation && p.summary.is_some());
    let compliant_condition = keep
        .and_then(|p| p.condition(reason::COMPLIANT))
        .map(|c| DesiredCondition {
            type_: reason::COMPLIANT,
            status: c.status,
            reason: compliant_reason(&c.reason),
            message: c.message.clone(),
        })
        .unwrap_or_else(not_scanned);
    let mut desired = vec![
        DesiredCondition {
            type_: reason::READY,
            status: ConditionStatus::False,
            reason: ready_reason,
            message: message.clone(),
        },
        compliant_condition,
    ];
    desired.extend(kept_remediated(keep));
    if is_stalled {
        desired.push(DesiredCondition {
            type_: reason::STALLED,
            status: ConditionStatus::True,
            reason: ready_reason,
            message,
        });
    }
    let conditions = settle_conditions(previous_conditions, desired, generation, now);
    let base = keep.cloned().unwrap_or_default();
    ComplianceProfileStatus {
        observed_generation: generation,
        conditions,
        next_scan_time: next.cloned(),
        scan_errors,
        scan_errors_truncated,
        // What remediation last did stays, whatever the generation: it happened.
        remediation: previous.and_then(|p| p.remediation.clone()),
        ..base
    }
}

/// The `Remediated` condition of `previous`, to keep while no remediation runs (a
/// failed scan, a new generation's scan under way); none when it has none.
fn kept_remediated(previous: Option<&ComplianceProfileStatus>) -> Option<DesiredCondition> {
    let kept = previous?.condition(reason::REMEDIATED)?;
    let reason = [
        reason::NOTHING_TO_CHANGE,
        reason::CHANGES_APPLIED,
        reason::CHANGES_PLANNED,
        reason::CHANGES_PENDING,
        reason::REMEDIATION_BLOCKED,
        reason::REMEDIATION_FAILED,
    ]
    .into_iter()
    .find(|r| *r == kept.reason)?;
    Some(DesiredCondition {
        type_: reason::REMEDIATED,
        status: kept.status,
        reason,
        message: kept.message.clone(),
    })
}

/// Maps a reason read back from the object to its constant (reasons are `&'static`).
fn compliant_reason(read: &str) -> &'static str {
    [
        reason::ALL_PASSED,
        reason::NOTHING_IN_SCOPE,
        reason::FINDINGS_FAILED,
        reason::INCOMPLETE_SCAN,
    ]
    .into_iter()
    .find(|r| *r == read)
    .unwrap_or(reason::NOT_SCANNED)
}

/// The first scan of a new generation has started: `Reconciling=True`, `Ready=Unknown`,
/// the previous verdict kept until the scan replaces it. No next scan time: the scan is
/// now.
pub fn scanning(
    previous: Option<&ComplianceProfileStatus>,
    generation: Option<i64>,
    now: &Time,
) -> ComplianceProfileStatus {
    let base = previous.cloned().unwrap_or_default();
    let compliant_condition = base
        .condition(reason::COMPLIANT)
        .map(|c| DesiredCondition {
            type_: reason::COMPLIANT,
            status: c.status,
            reason: compliant_reason(&c.reason),
            message: c.message.clone(),
        })
        .unwrap_or_else(not_scanned);
    let message = format!(
        "scanning generation {}",
        generation.map(|g| g.to_string()).unwrap_or_default()
    );
    let mut desired = vec![
        DesiredCondition {
            type_: reason::READY,
            status: ConditionStatus::Unknown,
            reason: reason::SCANNING,
            message: message.clone(),
        },
        compliant_condition,
    ];
    desired.extend(kept_remediated(previous));
    desired.push(DesiredCondition {
        type_: reason::RECONCILING,
        status: ConditionStatus::True,
        reason: reason::SCANNING,
        message,
    });
    let conditions = settle_conditions(&base.conditions, desired, generation, now);
    ComplianceProfileStatus {
        observed_generation: generation,
        conditions,
        next_scan_time: None,
        ..base
    }
}

/// Whether the profile needs a scan now: a new generation, a scan that never finished,
/// or a due time reached. Anything else (typically the watch event of our own status
/// write) is answered with a requeue at the due time and no AWS call.
pub fn scan_due(
    status: Option<&ComplianceProfileStatus>,
    generation: Option<i64>,
    now: &Time,
) -> bool {
    let Some(status) = status else {
        return true;
    };
    status.observed_generation != generation
        || status.condition(reason::RECONCILING).is_some()
        || status.condition(reason::STALLED).is_some()
        || status
            .next_scan_time
            .as_ref()
            .is_none_or(|next| next <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::{ResourceType, Severity};
    use k8s_openapi::jiff::Timestamp;

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    fn finding(control: ControlId, arn: &str, status: Status, severity: Severity) -> Finding {
        Finding {
            control_id: control,
            resource_type: ResourceType::RestStage,
            resource_arn: arn.into(),
            region: "us-east-1".into(),
            status,
            severity,
            reason: format!("{control} on {arn}"),
            exempted: false,
        }
    }

    fn result(findings: Vec<Finding>) -> ScanResult {
        ScanResult {
            findings,
            read_errors: vec![],
            read_anything: true,
            expired_exemptions: vec![],
            account: Some("123456789012".into()),
            regions: vec!["us-east-1".into()],
        }
    }

    fn read_error() -> ReadError {
        ReadError {
            region: "us-east-1".into(),
            resource_arn: None,
            operation: "GetRestApis".into(),
            message: "throttled".into(),
        }
    }

    /// The status after generation 1's first scan in Observe mode, at second 100, the
    /// next one due at 1000.
    fn first_observe_scan(scan: &ScanResult) -> ComplianceProfileStatus {
        scanned(
            None,
            Some(1),
            RemediationMode::Observe,
            scan,
            &at(100),
            &at(1000),
        )
    }

    fn cond<'a>(s: &'a ComplianceProfileStatus, t: &str) -> &'a crate::crd::Condition {
        s.condition(t)
            .unwrap_or_else(|| panic!("condition {t} missing in {s:?}"))
    }

    #[test]
    fn counts_put_exempted_findings_only_under_exempted() {
        let mut exempted = finding(
            ControlId::ApiGateway3,
            "arn:c",
            Status::Failed,
            Severity::Low,
        );
        exempted.exempted = true;
        let findings = vec![
            finding(
                ControlId::ApiGateway1,
                "arn:a",
                Status::Passed,
                Severity::Medium,
            ),
            finding(
                ControlId::ApiGateway1,
                "arn:b",
                Status::Failed,
                Severity::Medium,
            ),
            finding(
                ControlId::ApiGateway5,
                "arn:a",
                Status::NotApplicable,
                Severity::Medium,
            ),
            finding(
                ControlId::ApiGateway3,
                "arn:d",
                Status::Error,
                Severity::Low,
            ),
            exempted,
        ];
        let (summary, controls) = summarize(&findings, 2);
        assert_eq!(
            summary,
            Summary {
                evaluated: 5,
                passed: 1,
                failed: 1,
                not_applicable: 1,
                exempted: 1,
                errors: 1,
                unreadable: 2
            }
        );
        let ids: Vec<_> = controls.iter().map(|c| c.control_id).collect();
        assert_eq!(
            ids,
            vec![
                ControlId::ApiGateway1,
                ControlId::ApiGateway3,
                ControlId::ApiGateway5
            ]
        );
        assert_eq!(
            (controls[1].exempted, controls[1].errors, controls[1].failed),
            (1, 1, 0)
        );
    }

    #[test]
    fn failing_list_is_bounded_and_ordered_by_severity_control_then_arn() {
        let mut findings: Vec<Finding> = (0..FAILING_FINDINGS_LIMIT + 7)
            .map(|i| {
                finding(
                    ControlId::ApiGateway3,
                    &format!("arn:{i:03}"),
                    Status::Failed,
                    Severity::Low,
                )
            })
            .collect();
        findings.push(finding(
            ControlId::ApiGateway4,
            "arn:zzz",
            Status::Failed,
            Severity::Medium,
        ));
        findings.push(finding(
            ControlId::ApiGateway1,
            "arn:yyy",
            Status::Error,
            Severity::Medium,
        ));
        findings.push(finding(
            ControlId::ApiGateway1,
            "arn:ok",
            Status::Passed,
            Severity::Medium,
        ));
        let (listed, left_out) = failing_findings(&findings);
        assert_eq!(listed.len(), FAILING_FINDINGS_LIMIT);
        assert_eq!(left_out, 9);
        assert_eq!(listed[0].resource_arn, "arn:yyy");
        assert_eq!(listed[1].resource_arn, "arn:zzz");
        assert_eq!(listed[2].resource_arn, "arn:000");
        assert!(listed.iter().all(|f| f.status != Status::Passed));
    }

    #[test]
    fn a_clean_scan_is_ready_and_compliant_without_reconciling_or_stalled() {
        let scan = result(vec![finding(
            ControlId::ApiGateway3,
            "arn:a",
            Status::Passed,
            Severity::Low,
        )]);
        let s = first_observe_scan(&scan);
        assert_eq!(cond(&s, reason::READY).status, ConditionStatus::True);
        assert_eq!(cond(&s, reason::COMPLIANT).reason, reason::ALL_PASSED);
        assert!(s.condition(reason::RECONCILING).is_none());
        assert!(s.condition(reason::STALLED).is_none());
        assert_eq!(s.observed_generation, Some(1));
        assert_eq!(s.next_scan_time, Some(at(1000)));
        assert_eq!(s.account.as_deref(), Some("123456789012"));
    }

    #[test]
    fn a_failing_finding_makes_the_profile_non_compliant_and_names_the_control() {
        let scan = result(vec![
            finding(
                ControlId::ApiGateway1,
                "arn:a",
                Status::Failed,
                Severity::Medium,
            ),
            finding(
                ControlId::ApiGateway1,
                "arn:b",
                Status::Failed,
                Severity::Medium,
            ),
            finding(
                ControlId::ApiGateway4,
                "arn:a",
                Status::Failed,
                Severity::Medium,
            ),
        ]);
        let s = first_observe_scan(&scan);
        let c = cond(&s, reason::COMPLIANT);
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::False, reason::FINDINGS_FAILED)
        );
        assert_eq!(
            c.message,
            "3 of 3 findings failed: APIGateway.1 (2), APIGateway.4 (1)"
        );
    }

    #[test]
    fn errors_without_failures_leave_compliance_unknown() {
        let mut scan = result(vec![finding(
            ControlId::ApiGateway3,
            "arn:a",
            Status::Passed,
            Severity::Low,
        )]);
        scan.read_errors.push(read_error());
        let s = first_observe_scan(&scan);
        assert_eq!(cond(&s, reason::COMPLIANT).status, ConditionStatus::Unknown);
        assert_eq!(cond(&s, reason::READY).reason, reason::SCAN_INCOMPLETE);
        assert_eq!(s.scan_errors.len(), 1);
        assert_eq!(s.summary.as_ref().map(|x| x.unreadable), Some(1));
    }

    #[test]
    fn nothing_in_scope_is_compliant_with_its_own_reason() {
        let s = first_observe_scan(&result(vec![]));
        assert_eq!(cond(&s, reason::COMPLIANT).reason, reason::NOTHING_IN_SCOPE);
    }

    #[test]
    fn a_total_read_failure_keeps_the_same_generations_verdict() {
        let ok = first_observe_scan(&result(vec![finding(
            ControlId::ApiGateway3,
            "arn:a",
            Status::Failed,
            Severity::Low,
        )]));
        let failed = ScanResult {
            read_anything: false,
            read_errors: vec![read_error()],
            ..Default::default()
        };
        let s = scanned(
            Some(&ok),
            Some(1),
            RemediationMode::Observe,
            &failed,
            &at(1000),
            &at(1030),
        );
        assert_eq!(cond(&s, reason::READY).reason, reason::SCAN_FAILED);
        let c = cond(&s, reason::COMPLIANT);
        assert_eq!(
            (c.status, c.last_transition_time.clone()),
            (ConditionStatus::False, at(100))
        );
        assert_eq!(s.summary, ok.summary);
        assert_eq!(s.last_scan_time, Some(at(100)));
        assert_eq!(s.next_scan_time, Some(at(1030)));
        // A new generation's verdict is unknown until it is scanned.
        let s2 = scanned(
            Some(&ok),
            Some(2),
            RemediationMode::Observe,
            &failed,
            &at(1000),
            &at(1030),
        );
        assert_eq!(cond(&s2, reason::COMPLIANT).reason, reason::NOT_SCANNED);
        assert_eq!(s2.summary, None);
    }

    #[test]
    fn stalled_drops_results_and_schedules_nothing() {
        let ok = first_observe_scan(&result(vec![]));
        let s = stalled(
            Some(&ok),
            Some(2),
            reason::ROLE_NOT_ALLOWED,
            "denied".into(),
            &at(200),
        );
        assert_eq!(cond(&s, reason::STALLED).reason, reason::ROLE_NOT_ALLOWED);
        assert_eq!(cond(&s, reason::READY).status, ConditionStatus::False);
        assert_eq!(cond(&s, reason::COMPLIANT).reason, reason::NOT_SCANNED);
        assert_eq!(
            (s.summary.as_ref(), s.next_scan_time.as_ref()),
            (None, None)
        );
        // Stalling again with the same facts builds the same status: no write.
        assert_eq!(
            stalled(
                Some(&s),
                Some(2),
                reason::ROLE_NOT_ALLOWED,
                "denied".into(),
                &at(300)
            ),
            s
        );
    }

    #[test]
    fn scanning_a_new_generation_sets_reconciling_and_the_scan_clears_it() {
        let ok = first_observe_scan(&result(vec![]));
        let s = scanning(Some(&ok), Some(2), &at(200));
        assert_eq!(cond(&s, reason::RECONCILING).status, ConditionStatus::True);
        assert_eq!(cond(&s, reason::COMPLIANT).last_transition_time, at(100));
        assert!(
            scan_due(Some(&s), Some(2), &at(201)),
            "an unfinished scan is due"
        );
        let done = scanned(
            Some(&s),
            Some(2),
            RemediationMode::Observe,
            &result(vec![]),
            &at(210),
            &at(1210),
        );
        assert!(done.condition(reason::RECONCILING).is_none());
        assert_eq!(cond(&done, reason::READY).last_transition_time, at(210));
    }

    #[test]
    fn a_scan_is_due_on_new_generation_or_time_only() {
        let ok = first_observe_scan(&result(vec![]));
        assert!(scan_due(None, Some(1), &at(100)));
        assert!(!scan_due(Some(&ok), Some(1), &at(999)));
        assert!(scan_due(Some(&ok), Some(1), &at(1000)));
        assert!(scan_due(Some(&ok), Some(2), &at(101)));
    }

    // --- remediation ---------------------------------------------------------------

    use crate::controls::ResourceType as Rt;
    use crate::remediate::{
        ApplyOutcome, Call, Change, ChangeItem, ChangeOutcome, Edit, ItemOutcome, Operation,
        PatchValue, Precondition, PreconditionResult, RemediationPlan, Unplanned,
    };

    fn stage_arn(i: usize) -> String {
        format!("arn:aws:apigateway:us-east-1::/restapis/a{i}/stages/prod")
    }

    fn call(i: usize) -> Call {
        Call {
            operation: "apigateway:UpdateStage".into(),
            http: format!("PATCH /restapis/a{i}/stages/prod"),
            request: serde_json::json!({"patchOperations": [
                {"op": "replace", "path": "/tracingEnabled", "value": "true"}]}),
        }
    }

    /// A REST stage change with `settings` X-Ray-like items, the first one needing the
    /// CloudWatch role precondition when `precondition` is set.
    fn change(i: usize, settings: usize, precondition: bool) -> Change {
        Change {
            region: "us-east-1".into(),
            resource_arn: stage_arn(i),
            resource_type: Rt::RestStage,
            operation: Operation::RestUpdateStage {
                rest_api_id: format!("a{i}"),
                stage_name: "prod".into(),
            },
            call: call(i),
            items: (0..settings)
                .map(|n| ChangeItem {
                    control_id: if n == 0 && precondition {
                        ControlId::ApiGateway1
                    } else {
                        ControlId::ApiGateway3
                    },
                    setting: format!("setting {n}"),
                    before: "false".into(),
                    after: "true".into(),
                    edit: Edit::RestReplace {
                        path: "/tracingEnabled".into(),
                        value: PatchValue::Literal("true".into()),
                    },
                    precondition: (n == 0 && precondition).then(|| {
                        Precondition::CloudWatchRoleArn {
                            region: "us-east-1".into(),
                        }
                    }),
                })
                .collect(),
            notes: Vec::new(),
        }
    }

    /// What apply reports for `change` when every item ends with `status`.
    fn outcome_of(change: &Change, status: ItemStatus, message: Option<&str>) -> ChangeOutcome {
        ChangeOutcome {
            region: change.region.clone(),
            resource_arn: change.resource_arn.clone(),
            call: change.call.clone(),
            items: change
                .items
                .iter()
                .map(|item| ItemOutcome {
                    control_id: item.control_id,
                    setting: item.setting.clone(),
                    before: item.before.clone(),
                    after: item.after.clone(),
                    status,
                    message: message.map(str::to_string),
                })
                .collect(),
            notes: Vec::new(),
        }
    }

    fn report(
        mode: Mode,
        changes: Vec<Change>,
        pending: usize,
        status: ItemStatus,
    ) -> RemediationReport {
        let outcome = ApplyOutcome {
            dry_run: mode == Mode::DryRun,
            changes: changes
                .iter()
                .map(|c| outcome_of(c, status, None))
                .collect(),
            ..ApplyOutcome::default()
        };
        RemediationReport {
            mode,
            plan: RemediationPlan {
                changes,
                pending: (100..100 + pending).map(|i| change(i, 1, false)).collect(),
                unplanned: Vec::new(),
                max_changes_per_scan: 25,
            },
            outcome,
        }
    }

    fn scanned_in(
        mode: RemediationMode,
        previous: Option<&ComplianceProfileStatus>,
        second: i64,
    ) -> ComplianceProfileStatus {
        let scan = result(vec![finding(
            ControlId::ApiGateway3,
            &stage_arn(1),
            Status::Failed,
            Severity::Low,
        )]);
        scanned(
            previous,
            Some(1),
            mode,
            &scan,
            &at(second),
            &at(second + 900),
        )
    }

    /// The status once `report` is applied to a first scan (at second 100) in `mode`.
    fn remediated_on_a_first_scan(
        mode: RemediationMode,
        report: &RemediationReport,
    ) -> ComplianceProfileStatus {
        remediated(scanned_in(mode, None, 100), None, report, &at(100))
    }

    fn remediation(s: &ComplianceProfileStatus) -> &RemediationStatus {
        s.remediation.as_ref().expect("remediation status")
    }

    #[test]
    fn observe_reports_that_nothing_is_changed_and_has_no_remediated_condition() {
        let s = scanned_in(RemediationMode::Observe, None, 100);
        let r = remediation(&s);
        assert!(r.active);
        assert_eq!(
            r.message,
            "Observe: findings are reported, nothing is changed"
        );
        assert!(s.condition(reason::REMEDIATED).is_none());
        assert_eq!(
            cond(&s, reason::READY).message,
            "scanned 1 finding(s) in us-east-1"
        );
    }

    #[test]
    fn dry_run_lists_the_exact_changes_and_applies_nothing() {
        let report = report(
            Mode::DryRun,
            vec![change(1, 2, false)],
            0,
            ItemStatus::WouldApply,
        );
        let before = scanned_in(RemediationMode::DryRun, None, 100);
        let s = remediated(before, None, &report, &at(100));
        let r = remediation(&s);
        assert_eq!(r.mode, RemediationMode::DryRun);
        assert_eq!(r.last_run.map(|l| (l.would_apply, l.applied)), Some((2, 0)));
        assert_eq!((r.planned, r.pending), (1, 0));
        assert_eq!(r.plan.len(), 1);
        let planned = &r.plan[0];
        assert_eq!(planned.resource_arn, stage_arn(1));
        assert_eq!(planned.controls, vec![ControlId::ApiGateway3]);
        assert_eq!(
            planned.call,
            "apigateway:UpdateStage PATCH /restapis/a1/stages/prod"
        );
        assert_eq!(
            planned.request,
            r#"{"patchOperations":[{"op":"replace","path":"/tracingEnabled","value":"true"}]}"#
        );
        assert_eq!(
            (
                planned.items[0].before.as_str(),
                planned.items[0].after.as_str()
            ),
            ("false", "true")
        );
        assert!(r.recent_changes.is_empty(), "a dry run changes nothing");
        let c = cond(&s, reason::REMEDIATED);
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::False, reason::CHANGES_PLANNED)
        );
        assert!(
            c.message.contains("set spec.remediation.mode to Enforce"),
            "{}",
            c.message
        );
        assert!(
            r.message
                .starts_with("DryRun: 1 change(s) would set 2 setting(s)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn the_plan_in_status_is_bounded_in_changes_and_settings() {
        let changes = (0..PLAN_LIMIT + 5)
            .map(|i| change(i, PLAN_ITEMS_LIMIT + 3, false))
            .collect();
        let report = report(Mode::DryRun, changes, 7, ItemStatus::WouldApply);
        let s = remediated_on_a_first_scan(RemediationMode::DryRun, &report);
        let r = remediation(&s);
        assert_eq!((r.plan.len(), r.plan_truncated), (PLAN_LIMIT, 5));
        assert!(
            r.plan
                .iter()
                .all(|c| c.items.len() == PLAN_ITEMS_LIMIT && c.items_truncated == 3)
        );
        assert_eq!(r.pending, 7);
        assert!(
            cond(&s, reason::REMEDIATED)
                .message
                .contains("7 more after them")
        );
    }

    #[test]
    fn enforce_lists_applied_changes_newest_first_and_keeps_them_bounded_across_scans() {
        let first = report(
            Mode::Enforce,
            vec![change(1, 1, false)],
            0,
            ItemStatus::Applied,
        );
        let s1 = remediated_on_a_first_scan(RemediationMode::Enforce, &first);
        let c = cond(&s1, reason::REMEDIATED);
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::True, reason::CHANGES_APPLIED)
        );
        let r = remediation(&s1);
        assert!(r.plan.is_empty(), "Enforce lists what it did, not a plan");
        assert_eq!(
            r.recent_changes,
            vec![AppliedChange {
                time: at(100),
                change: AuditRecord {
                    control_id: ControlId::ApiGateway3,
                    resource_arn: stage_arn(1),
                    region: "us-east-1".into(),
                    operation: "apigateway:UpdateStage".into(),
                    setting: "setting 0".into(),
                    before: "false".into(),
                    after: "true".into(),
                },
            }]
        );

        // A later scan applies many more: newest first, at most RECENT_CHANGES_LIMIT.
        let many = (2..2 + RECENT_CHANGES_LIMIT)
            .map(|i| change(i, 1, false))
            .collect();
        let second = report(Mode::Enforce, many, 0, ItemStatus::Applied);
        let s2 = remediated(
            scanned_in(RemediationMode::Enforce, Some(&s1), 200),
            Some(&s1),
            &second,
            &at(200),
        );
        let recent = &remediation(&s2).recent_changes;
        assert_eq!(recent.len(), RECENT_CHANGES_LIMIT);
        assert_eq!(recent[0].change.resource_arn, stage_arn(2));
        assert!(
            recent.iter().all(|c| c.time == at(200)),
            "the oldest fell off"
        );

        // Then nothing to change: the trail stays, the condition says so and keeps its
        // transition time (still True).
        let idle = report(Mode::Enforce, Vec::new(), 0, ItemStatus::Applied);
        let s3 = remediated(
            scanned_in(RemediationMode::Enforce, Some(&s2), 300),
            Some(&s2),
            &idle,
            &at(300),
        );
        let c = cond(&s3, reason::REMEDIATED);
        assert_eq!(
            (c.reason.as_str(), c.last_transition_time.clone()),
            (reason::NOTHING_TO_CHANGE, at(100))
        );
        assert_eq!(remediation(&s3).recent_changes, *recent);
        assert_eq!(remediation(&s3).last_run.map(|l| l.applied), Some(0));

        // Observe keeps the trail but drops the condition.
        let s4 = scanned_in(RemediationMode::Observe, Some(&s3), 400);
        assert_eq!(remediation(&s4).recent_changes, *recent);
        assert!(s4.condition(reason::REMEDIATED).is_none());
    }

    #[test]
    fn refusals_and_blocked_preconditions_are_problems_with_their_messages() {
        let refused = change(1, 2, false);
        let blocked = change(2, 1, true);
        let report = RemediationReport {
            mode: Mode::Enforce,
            outcome: ApplyOutcome {
                dry_run: false,
                preconditions: vec![PreconditionResult {
                    precondition: Precondition::CloudWatchRoleArn {
                        region: "us-east-1".into(),
                    },
                    satisfied: false,
                    message: "no CloudWatch Logs role is set".into(),
                }],
                client_certificates: Vec::new(),
                changes: vec![
                    outcome_of(
                        &refused,
                        ItemStatus::Failed,
                        Some("BadRequestException: stage is locked"),
                    ),
                    outcome_of(&blocked, ItemStatus::BlockedPrecondition, None),
                ],
            },
            plan: RemediationPlan {
                changes: vec![refused, blocked],
                pending: Vec::new(),
                unplanned: vec![Unplanned {
                    control_id: ControlId::ApiGateway4,
                    resource_arn: stage_arn(3),
                    region: "us-east-1".into(),
                    reason: UnplannedReason::BlockedPrecondition,
                    message: "the web ACL is in eu-west-1".into(),
                }],
                max_changes_per_scan: 25,
            },
        };
        let s = remediated_on_a_first_scan(RemediationMode::Enforce, &report);
        let r = remediation(&s);
        assert_eq!(r.last_run.map(|l| (l.failed, l.blocked)), Some((2, 1)));
        assert_eq!(r.problems.len(), 3);
        assert_eq!(r.problems[0].reason, ProblemReason::Failed);
        assert_eq!(r.problems[0].resource_arn, Some(stage_arn(1)));
        assert_eq!(
            r.problems[0].message,
            "apigateway:UpdateStage: BadRequestException: stage is locked"
        );
        assert_eq!(r.problems[1].reason, ProblemReason::BlockedPrecondition);
        assert_eq!(r.problems[1].controls, vec![ControlId::ApiGateway1]);
        assert!(r.problems[1].message.contains("no CloudWatch Logs role"));
        assert_eq!(r.problems[2].resource_arn, Some(stage_arn(3)));
        assert_eq!(r.unplanned, 1);
        let c = cond(&s, reason::REMEDIATED);
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::False, reason::REMEDIATION_FAILED)
        );
        assert!(c.message.contains("stage is locked"), "{}", c.message);

        // Without the refusal, the blocked precondition is the reason.
        let mut only_blocked = report.clone();
        only_blocked.outcome.changes.remove(0);
        only_blocked.plan.changes.remove(0);
        let s = remediated_on_a_first_scan(RemediationMode::Enforce, &only_blocked);
        assert_eq!(
            cond(&s, reason::REMEDIATED).reason,
            reason::REMEDIATION_BLOCKED
        );
    }

    #[test]
    fn long_values_are_cut_in_the_plan_and_the_applied_changes() {
        let mut long = change(1, 1, false);
        long.items[0].after = format!(
            "{{\"requestId\":\"$context.requestId\"{}}}",
            " ".repeat(3000)
        );
        for (mode, status) in [
            (Mode::DryRun, ItemStatus::WouldApply),
            (Mode::Enforce, ItemStatus::Applied),
        ] {
            let report = report(mode, vec![long.clone()], 0, status);
            let s = remediated_on_a_first_scan(RemediationMode::DryRun, &report);
            let r = remediation(&s);
            let after = match mode {
                Mode::DryRun => &r.plan[0].items[0].after,
                Mode::Enforce => &r.recent_changes[0].change.after,
            };
            assert!(
                after.len() <= crate::crd::status::MESSAGE_LIMIT && after.ends_with('…'),
                "{mode:?}"
            );
        }
    }

    #[test]
    fn problems_are_bounded() {
        let changes: Vec<Change> = (0..PROBLEMS_LIMIT + 4)
            .map(|i| change(i, 1, false))
            .collect();
        let report = report(Mode::Enforce, changes, 0, ItemStatus::Failed);
        let s = remediated_on_a_first_scan(RemediationMode::Enforce, &report);
        let r = remediation(&s);
        assert_eq!(
            (r.problems.len(), r.problems_truncated),
            (PROBLEMS_LIMIT, 4)
        );
    }

    #[test]
    fn enforce_over_the_limit_reports_the_pending_changes() {
        let report = report(
            Mode::Enforce,
            vec![change(1, 1, false)],
            3,
            ItemStatus::Applied,
        );
        let s = remediated_on_a_first_scan(RemediationMode::Enforce, &report);
        let c = cond(&s, reason::REMEDIATED);
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::False, reason::CHANGES_PENDING)
        );
        assert_eq!(remediation(&s).pending, 3);
    }

    #[test]
    fn the_remediated_condition_survives_a_failed_scan_and_a_new_generations_scan() {
        let report = report(
            Mode::Enforce,
            vec![change(1, 1, false)],
            0,
            ItemStatus::Applied,
        );
        let ok = remediated_on_a_first_scan(RemediationMode::Enforce, &report);
        let failed = ScanResult {
            read_anything: false,
            read_errors: vec![read_error()],
            ..Default::default()
        };
        let s = scanned(
            Some(&ok),
            Some(1),
            RemediationMode::Enforce,
            &failed,
            &at(200),
            &at(230),
        );
        assert_eq!(cond(&s, reason::REMEDIATED).last_transition_time, at(100));
        assert_eq!(s.remediation, ok.remediation);
        let next = scanning(Some(&ok), Some(2), &at(300));
        assert_eq!(
            cond(&next, reason::REMEDIATED).reason,
            reason::CHANGES_APPLIED
        );
        // A stall drops the verdicts but not the record of what was changed.
        let stalled = stalled(
            Some(&ok),
            Some(2),
            reason::ROLE_NOT_ALLOWED,
            "denied".into(),
            &at(400),
        );
        assert!(stalled.condition(reason::REMEDIATED).is_none());
        assert_eq!(remediation(&stalled).recent_changes.len(), 1);
    }

    #[test]
    fn a_status_with_remediation_round_trips_through_json() {
        for (mode, status) in [
            (Mode::DryRun, ItemStatus::WouldApply),
            (Mode::Enforce, ItemStatus::Applied),
        ] {
            let report = report(mode, vec![change(1, 1, false)], 0, status);
            let s = remediated_on_a_first_scan(RemediationMode::DryRun, &report);
            let json = serde_json::to_value(&s).expect("serializes");
            let back: ComplianceProfileStatus = serde_json::from_value(json).expect("deserializes");
            assert_eq!(back, s);
        }
    }
}
