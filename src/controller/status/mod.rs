//! Building a profile's status: pure functions from what a reconcile found to the
//! status to write. The controller compares the result with the status on the object
//! and writes only when they differ.

mod remediation;
mod reports;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::status::{
    ACCOUNTS_LIMIT, AccountCounts, DesiredCondition, ExpiredExemption, FAILING_FINDINGS_LIMIT,
    SCAN_ERRORS_LIMIT, reason, saturate, settle_conditions, truncate,
};
use crate::crd::{
    ComplianceProfileStatus, ConditionStatus, ControlCounts, FailingFinding, RemediationMode,
    ScanError, Summary,
};
use crate::inventory::ReadError;
use crate::model::{ControlId, Finding, Status};

pub use remediation::remediated;
use remediation::remediation_before_run;
use reports::kept_reports;
pub use reports::with_reports;

/// What one scan produced, already scope-filtered and with exemptions applied.
#[derive(Debug, Default)]
pub struct ScanResult {
    pub findings: Vec<Finding>,
    pub read_errors: Vec<ReadError>,
    /// Whether any part of the inventory was read (false when every region failed).
    pub read_anything: bool,
    pub expired_exemptions: Vec<ExpiredExemption>,
    pub account: Option<String>,
    /// A profile of an organization: every account the scan selected (empty for a
    /// profile of one account).
    pub accounts: Vec<String>,
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
    let order = |a: &&Finding, b: &&Finding| {
        (a.severity, a.control_id, &a.resource_arn, a.status).cmp(&(
            b.severity,
            b.control_id,
            &b.resource_arn,
            b.status,
        ))
    };
    let left_out = failing.len().saturating_sub(FAILING_FINDINGS_LIMIT);
    // Only the first FAILING_FINDINGS_LIMIT are listed: select them in linear time,
    // then sort just those (an estate can have tens of thousands of failures).
    if left_out > 0 {
        failing.select_nth_unstable_by(FAILING_FINDINGS_LIMIT, order);
        failing.truncate(FAILING_FINDINGS_LIMIT);
    }
    failing.sort_by(order);
    let listed = failing
        .into_iter()
        .map(|f| FailingFinding {
            control_id: f.control_id,
            resource_name: f.resource_name.clone(),
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
            account_id: e.account_id.clone(),
            region: e.region.clone(),
            resource_arn: e.resource_arn.clone(),
            operation: e.operation.clone(),
            kind: Some(e.kind),
            message: truncate(&e.message),
        })
        .collect();
    (
        listed,
        saturate(errors.len().saturating_sub(SCAN_ERRORS_LIMIT)),
    )
}

/// The counts of each account of an organization's scan, at most [`ACCOUNTS_LIMIT`]:
/// accounts with errors first (most errors first), then by failures, then by id; and
/// how many were left out.
pub fn account_counts(
    accounts: &[String],
    findings: &[Finding],
    errors: &[ReadError],
) -> (Vec<AccountCounts>, u32) {
    let mut counts: BTreeMap<&str, AccountCounts> = accounts
        .iter()
        .map(|id| {
            (
                id.as_str(),
                AccountCounts {
                    account_id: id.clone(),
                    ..AccountCounts::default()
                },
            )
        })
        .collect();
    for finding in findings {
        if let Some(account) = counts.get_mut(finding.account_id.as_str()) {
            match finding.status {
                Status::Passed => account.passed += 1,
                Status::Failed | Status::Error if !finding.exempted => account.failed += 1,
                _ => {}
            }
        }
    }
    for error in errors {
        if let Some(account) = error
            .account_id
            .as_deref()
            .and_then(|id| counts.get_mut(id))
        {
            account.errors += 1;
            account
                .message
                .get_or_insert_with(|| truncate(&error.message));
        }
    }
    let mut listed: Vec<AccountCounts> = counts.into_values().collect();
    listed.sort_by(|a, b| {
        (b.errors, b.failed)
            .cmp(&(a.errors, a.failed))
            .then_with(|| a.account_id.cmp(&b.account_id))
    });
    let left_out = saturate(listed.len().saturating_sub(ACCOUNTS_LIMIT));
    listed.truncate(ACCOUNTS_LIMIT);
    (listed, left_out)
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
    let (accounts, accounts_truncated) =
        account_counts(&scan.accounts, &scan.findings, &scan.read_errors);
    let resources = summary.evaluated;
    let regions = if scan.accounts.is_empty() {
        scan.regions.join(", ")
    } else {
        format!(
            "{} account(s) x {}",
            scan.accounts.len(),
            scan.regions.join(", ")
        )
    };
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
    let mut desired = vec![ready, compliant(&summary, &scan.findings)];
    desired.extend(kept_reports(previous));
    let conditions = settle_conditions(previous_conditions, desired, generation, now);
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
        accounts,
        accounts_truncated,
        expired_exemptions: scan.expired_exemptions.clone(),
        reports: previous.and_then(|p| p.reports.clone()),
        remediation: Some(remediation),
        requested_scan_at: previous.and_then(|p| p.requested_scan_at.clone()),
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

/// Credentials could not be obtained (AssumeRole refused, no credentials; `why` is
/// `CredentialsUnavailable`), or an organization's accounts could not be listed
/// (`OrganizationUnreadable`): retried.
pub fn credentials_unavailable(
    previous: Option<&ComplianceProfileStatus>,
    generation: Option<i64>,
    why: &'static str,
    message: String,
    now: &Time,
    next: &Time,
) -> ComplianceProfileStatus {
    without_results(
        previous,
        generation,
        why,
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
    desired.extend(kept_reports(previous));
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
        // What remediation last did stays, whatever the generation: it happened; so
        // do the reports, which hold the last scan that read anything.
        remediation: previous.and_then(|p| p.remediation.clone()),
        reports: previous.and_then(|p| p.reports.clone()),
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
    desired.extend(kept_reports(previous));
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

/// `status` with its `ChangeEvents` condition as `desired` says (none: change events
/// are off), its transition time kept while its status holds.
pub fn with_change_events(
    mut status: ComplianceProfileStatus,
    desired: Option<DesiredCondition>,
    now: &Time,
) -> ComplianceProfileStatus {
    let previous: Vec<_> = status
        .conditions
        .iter()
        .filter(|c| c.type_ == reason::CHANGE_EVENTS)
        .cloned()
        .collect();
    status
        .conditions
        .retain(|c| c.type_ != reason::CHANGE_EVENTS);
    if let Some(desired) = desired {
        let generation = status.observed_generation;
        status
            .conditions
            .extend(settle_conditions(&previous, vec![desired], generation, now));
    }
    status
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
pub(crate) mod fixtures {
    //! Builders the status tests share.
    use super::*;
    use crate::model::{ResourceType, Severity};
    use k8s_openapi::jiff::Timestamp;

    pub(crate) fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    pub(crate) fn finding(
        control: ControlId,
        arn: &str,
        status: Status,
        severity: Severity,
    ) -> Finding {
        Finding {
            control_id: control,
            resource_type: ResourceType::RestStage,
            resource_arn: arn.into(),
            resource_name: format!("name of {arn}"),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            status,
            severity,
            reason: format!("{control} on {arn}"),
            exempted: false,
        }
    }

    pub(crate) fn result(findings: Vec<Finding>) -> ScanResult {
        ScanResult {
            findings,
            read_errors: vec![],
            read_anything: true,
            expired_exemptions: vec![],
            account: Some("123456789012".into()),
            accounts: vec![],
            regions: vec!["us-east-1".into()],
        }
    }

    pub(crate) fn read_error() -> ReadError {
        ReadError {
            account_id: None,
            region: "us-east-1".into(),
            resource_arn: None,
            operation: "GetRestApis".into(),
            kind: crate::model::ErrorKind::AccessDenied,
            message: "throttled".into(),
        }
    }

    /// The status after generation 1's first scan in Observe mode, at second 100, the
    /// next one due at 1000.
    pub(crate) fn first_observe_scan(scan: &ScanResult) -> ComplianceProfileStatus {
        scanned(
            None,
            Some(1),
            RemediationMode::Observe,
            scan,
            &at(100),
            &at(1000),
        )
    }

    pub(crate) fn cond<'a>(s: &'a ComplianceProfileStatus, t: &str) -> &'a crate::crd::Condition {
        s.condition(t)
            .unwrap_or_else(|| panic!("condition {t} missing in {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::model::Severity;

    #[test]
    fn an_organization_scan_counts_each_account_and_lists_the_unreadable_first() {
        let of = |account: &str, arn: &str, status: Status| Finding {
            account_id: account.into(),
            ..finding(
                crate::controls::xray_tracing::ID,
                arn,
                status,
                Severity::Low,
            )
        };
        let mut exempted = of("111111111111", "arn:x", Status::Failed);
        exempted.exempted = true;
        let mut scan = result(vec![
            of("111111111111", "arn:a", Status::Passed),
            of("111111111111", "arn:b", Status::Failed),
            exempted,
            of("222222222222", "arn:a", Status::Failed),
            of("222222222222", "arn:b", Status::Error),
            of("444444444444", "arn:a", Status::Passed),
        ]);
        scan.account = None;
        scan.accounts = [
            "111111111111",
            "222222222222",
            "333333333333",
            "444444444444",
        ]
        .map(String::from)
        .to_vec();
        scan.read_errors = vec![ReadError {
            account_id: Some("333333333333".into()),
            operation: "AssumeRole".into(),
            message: "account 333333333333: cannot assume role".into(),
            ..read_error()
        }];
        let status = first_observe_scan(&scan);
        let counts: Vec<(&str, u32, u32, u32)> = status
            .accounts
            .iter()
            .map(|a| (a.account_id.as_str(), a.passed, a.failed, a.errors))
            .collect();
        assert_eq!(
            counts,
            [
                ("333333333333", 0, 0, 1),
                ("222222222222", 0, 2, 0),
                ("111111111111", 1, 1, 0),
                ("444444444444", 1, 0, 0),
            ]
        );
        assert_eq!(
            status.accounts[0].message.as_deref(),
            Some("account 333333333333: cannot assume role")
        );
        assert_eq!(status.accounts_truncated, 0);
        assert!(status.account.is_none());
        assert_eq!(
            status.scan_errors[0].account_id.as_deref(),
            Some("333333333333")
        );
        let ready = cond(&status, reason::READY);
        assert_eq!(ready.reason, reason::SCAN_INCOMPLETE);

        let many: Vec<String> = (0..ACCOUNTS_LIMIT + 5)
            .map(|i| format!("{i:012}"))
            .collect();
        let (listed, left_out) = account_counts(&many, &[], &[]);
        assert_eq!(listed.len(), ACCOUNTS_LIMIT);
        assert_eq!(left_out, 5);
    }

    #[test]
    fn counts_put_exempted_findings_only_under_exempted() {
        let mut exempted = finding(
            crate::controls::xray_tracing::ID,
            "arn:c",
            Status::Failed,
            Severity::Low,
        );
        exempted.exempted = true;
        let findings = vec![
            finding(
                crate::controls::execution_logging::ID,
                "arn:a",
                Status::Passed,
                Severity::Medium,
            ),
            finding(
                crate::controls::execution_logging::ID,
                "arn:b",
                Status::Failed,
                Severity::Medium,
            ),
            finding(
                crate::controls::cache_encryption::ID,
                "arn:a",
                Status::NotApplicable,
                Severity::Medium,
            ),
            finding(
                crate::controls::xray_tracing::ID,
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
                crate::controls::execution_logging::ID,
                crate::controls::xray_tracing::ID,
                crate::controls::cache_encryption::ID
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
                    crate::controls::xray_tracing::ID,
                    &format!("arn:{i:03}"),
                    Status::Failed,
                    Severity::Low,
                )
            })
            .collect();
        findings.push(finding(
            crate::controls::waf_acl::ID,
            "arn:zzz",
            Status::Failed,
            Severity::Medium,
        ));
        findings.push(finding(
            crate::controls::execution_logging::ID,
            "arn:yyy",
            Status::Error,
            Severity::Medium,
        ));
        findings.push(finding(
            crate::controls::execution_logging::ID,
            "arn:ok",
            Status::Passed,
            Severity::Medium,
        ));
        // Whatever order they come in: the first ones in order, the rest counted.
        findings.reverse();
        for _ in 0..2 {
            let (listed, left_out) = failing_findings(&findings);
            assert_eq!(listed.len(), FAILING_FINDINGS_LIMIT);
            assert_eq!(left_out, 9);
            assert_eq!(listed[0].resource_arn, "arn:yyy");
            assert_eq!(listed[0].resource_name, "name of arn:yyy");
            assert_eq!(listed[1].resource_arn, "arn:zzz");
            let rest: Vec<String> = listed[2..].iter().map(|f| f.resource_arn.clone()).collect();
            let expected: Vec<String> = (0..FAILING_FINDINGS_LIMIT - 2)
                .map(|i| format!("arn:{i:03}"))
                .collect();
            assert_eq!(rest, expected);
            assert!(listed.iter().all(|f| f.status != Status::Passed));
            let third = findings.len() / 3;
            findings.rotate_left(third);
        }
    }

    #[test]
    fn a_clean_scan_is_ready_and_compliant_without_reconciling_or_stalled() {
        let scan = result(vec![finding(
            crate::controls::xray_tracing::ID,
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
                crate::controls::execution_logging::ID,
                "arn:a",
                Status::Failed,
                Severity::Medium,
            ),
            finding(
                crate::controls::execution_logging::ID,
                "arn:b",
                Status::Failed,
                Severity::Medium,
            ),
            finding(
                crate::controls::waf_acl::ID,
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
            crate::controls::xray_tracing::ID,
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
            crate::controls::xray_tracing::ID,
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
}
