//! The remediation part of a profile's status: what the last run planned, changed or
//! could not change, the `Remediated` condition, and what of it survives a scan that
//! did not remediate.

use std::fmt::Write as _;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::crd::status::{
    AppliedChange, DesiredCondition, HELD_BACK_LIMIT, HeldBackChange, MESSAGE_LIMIT,
    PLAN_ITEMS_LIMIT, PLAN_LIMIT, PROBLEMS_LIMIT, PlannedChange, PlannedItem, ProblemReason,
    RECENT_CHANGES_LIMIT, RemediationProblem, reason, saturate, settle_conditions, truncate,
};
use crate::crd::{ComplianceProfileStatus, ConditionStatus, RemediationMode, RemediationStatus};
use crate::model::ControlId;
use crate::model::outcome::{AuditRecord, ItemStatus, Mode};
use crate::model::plan::{HeldChange, HoldReason, UnplannedReason};
use crate::report::remediation::RemediationReport;

/// The remediation part of a scan's status before remediation runs: Observe says
/// nothing is changed; in DryRun and Enforce [`remediated`] replaces it once the run is
/// done. The applied changes are kept in every mode: they are history, not a verdict.
pub(super) fn remediation_before_run(
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
        held: 0,
        held_back: Vec::new(),
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
        held: saturate(report.plan.held.len()),
        held_back: held_back(report),
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
    let held = &report.plan.held;
    let conflict = first_held(held, |r| r == HoldReason::ConflictingProfile);
    let mut held_said = false;
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
    } else if let Some(conflict) = conflict {
        held_said = true;
        (
            ConditionStatus::False,
            reason::CONFLICTING_PROFILE,
            format!(
                "{} change(s) held back (see status.remediation.heldBack), first: {}: {}",
                held.len(),
                conflict.change.resource_arn,
                conflict.hold.message
            ),
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
    } else if let Some(first_held) = held.first() {
        held_said = true;
        (
            ConditionStatus::False,
            reason::CHANGES_HELD_BACK,
            format!(
                "{}{} change(s) held back (see status.remediation.heldBack), first: {}: {}",
                if summary.applied > 0 {
                    format!(
                        "applied {} setting(s) in {calls} call(s); ",
                        summary.applied
                    )
                } else {
                    String::new()
                },
                held.len(),
                first_held.change.resource_arn,
                first_held.hold.message
            ),
        )
    } else if summary.changed_since_plan > 0 {
        // Left for the next scan, which re-plans against what is there now.
        let applied = if summary.applied > 0 {
            format!(
                "applied {} setting(s) in {calls} call(s); ",
                summary.applied
            )
        } else {
            String::new()
        };
        (
            ConditionStatus::False,
            reason::CHANGES_PENDING,
            format!(
                "{applied}{} setting(s) changed since the plan's read and were not written (the next scan re-plans them), first: {}",
                summary.changed_since_plan,
                first_changed_since_plan(report)
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
    if !held.is_empty() && !held_said {
        let _ = write!(
            message,
            "; {} change(s) held back (see status.remediation.heldBack)",
            held.len()
        );
    }
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

/// The first held-back change whose reason `wanted` picks.
fn first_held(held: &[HeldChange], wanted: impl Fn(HoldReason) -> bool) -> Option<&HeldChange> {
    held.iter().find(|h| wanted(h.hold.reason))
}

/// The held-back changes for the status: conflicts with other profiles first (what
/// people must resolve), then the others in plan order; at most [`HELD_BACK_LIMIT`].
fn held_back(report: &RemediationReport) -> Vec<HeldBackChange> {
    let mut held: Vec<&HeldChange> = report.plan.held.iter().collect();
    held.sort_by_key(|h| h.hold.reason != HoldReason::ConflictingProfile);
    held.into_iter()
        .take(HELD_BACK_LIMIT)
        .map(|h| HeldBackChange {
            reason: h.hold.reason,
            resource_arn: h.change.resource_arn.clone(),
            controls: h.change.controls(),
            owner: truncate(&h.hold.owner),
            message: truncate(&h.hold.message),
        })
        .collect()
}

/// The first item found changed since the plan's read: its resource and why.
fn first_changed_since_plan(report: &RemediationReport) -> String {
    report
        .outcome
        .changes
        .iter()
        .find_map(|change| {
            let item = change
                .items
                .iter()
                .find(|i| i.status == ItemStatus::ChangedSincePlan)?;
            Some(format!(
                "{}: {}",
                change.resource_arn,
                item.message.as_deref().unwrap_or(&item.setting)
            ))
        })
        .unwrap_or_default()
}

/// `request` as JSON within [`MESSAGE_LIMIT`] bytes, and how many operations were left
/// out to get there. A request is cut between whole operations, so what is shown is
/// always JSON a person can read as a request: REST `patchOperations` one by one, a v2
/// body's settings objects one by one (`routeSettings` route by route).
fn request_within(request: &Value) -> (String, u32) {
    let whole = request.to_string();
    if whole.len() <= MESSAGE_LIMIT {
        return (whole, 0);
    }
    let Value::Object(body) = request else {
        return (truncate(&whole), 0);
    };
    // (top-level key, route key for one route's settings, the value).
    let mut operations: Vec<(&String, Option<&String>, &Value)> = Vec::new();
    for (key, value) in body {
        match value {
            Value::Array(list) if key == "patchOperations" => {
                operations.extend(list.iter().map(|op| (key, None, op)));
            }
            Value::Object(routes) if key == "routeSettings" => {
                operations.extend(routes.iter().map(|(route, v)| (key, Some(route), v)));
            }
            _ => operations.push((key, None, value)),
        }
    }
    let mut shown = serde_json::Map::new();
    let mut omitted = 0u32;
    for (key, route, value) in operations {
        let mut candidate = shown.clone();
        match route {
            Some(route) => {
                let routes = candidate
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(serde_json::Map::new()));
                if let Value::Object(routes) = routes {
                    routes.insert(route.clone(), value.clone());
                }
            }
            None if key == "patchOperations" => {
                let list = candidate
                    .entry(key.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = list {
                    list.push(value.clone());
                }
            }
            None => {
                candidate.insert(key.clone(), value.clone());
            }
        }
        if Value::Object(candidate.clone()).to_string().len() <= MESSAGE_LIMIT {
            shown = candidate;
        } else {
            omitted = omitted.saturating_add(1);
        }
    }
    (Value::Object(shown).to_string(), omitted)
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
            let (request, request_operations_omitted) = request_within(&change.call.request);
            PlannedChange {
                resource_arn: change.resource_arn.clone(),
                region: change.region.clone(),
                controls: sorted_controls(items.iter().map(|i| i.control_id)),
                call: format!("{} {}", change.call.operation, change.call.http),
                request,
                request_operations_omitted,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::status::fixtures::*;
    use crate::controller::status::{ScanResult, scanned, scanning, stalled};
    use crate::model::{Severity, Status};

    use crate::model::ResourceType as Rt;
    use crate::model::outcome::{ApplyOutcome, ChangeOutcome, ItemOutcome, PreconditionResult};
    use crate::model::plan::{
        Call, Change, ChangeItem, Edit, Operation, PatchValue, Precondition, RemediationPlan,
        Unplanned,
    };

    fn stage_arn(i: usize) -> String {
        format!("arn:aws:apigateway:us-east-1::/restapis/a{i}/stages/prod")
    }

    #[test]
    fn a_long_request_is_cut_between_whole_operations() {
        let op = |i: usize| serde_json::json!({"op": "replace", "path": format!("/~1orders~1{i}/GET/logging/loglevel"), "value": "ERROR"});
        let rest = serde_json::json!({"patchOperations": (0..20).map(op).collect::<Vec<_>>()});
        let (shown, omitted) = request_within(&rest);
        assert!(shown.len() <= MESSAGE_LIMIT, "{}", shown.len());
        let parsed: Value = serde_json::from_str(&shown).expect("whole JSON");
        let kept = parsed["patchOperations"].as_array().map_or(0, Vec::len);
        assert!(kept > 0 && omitted > 0);
        assert_eq!(kept + omitted as usize, 20);
        assert_eq!(parsed["patchOperations"][0], op(0));

        let routes: serde_json::Map<String, Value> = (0..20)
            .map(|i| {
                (
                    format!("GET /orders/{i}"),
                    serde_json::json!({"loggingLevel": "ERROR"}),
                )
            })
            .collect();
        let v2 = serde_json::json!({"defaultRouteSettings": {"loggingLevel": "ERROR"}, "routeSettings": routes});
        let (shown, omitted) = request_within(&v2);
        let parsed: Value = serde_json::from_str(&shown).expect("whole JSON");
        assert_eq!(parsed["defaultRouteSettings"]["loggingLevel"], "ERROR");
        let kept = parsed["routeSettings"].as_object().map_or(0, |r| r.len());
        assert_eq!(kept + omitted as usize, 20);
        assert!(omitted > 0 && shown.len() <= MESSAGE_LIMIT);

        let short = serde_json::json!({"patchOperations": [op(1)]});
        assert_eq!(request_within(&short), (short.to_string(), 0));
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
                        crate::controls::execution_logging::ID
                    } else {
                        crate::controls::xray_tracing::ID
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
                    kind: None,
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
                held: Vec::new(),
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
            crate::controls::xray_tracing::ID,
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
        assert_eq!(planned.controls, vec![crate::controls::xray_tracing::ID]);
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
                    control_id: crate::controls::xray_tracing::ID,
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
                held: Vec::new(),
                unplanned: vec![Unplanned {
                    control_id: crate::controls::waf_acl::ID,
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
        assert_eq!(
            r.problems[1].controls,
            vec![crate::controls::execution_logging::ID]
        );
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

    fn held(i: usize, reason: HoldReason, owner: &str) -> HeldChange {
        HeldChange {
            change: change(i, 1, false),
            hold: crate::model::plan::Hold {
                reason,
                owner: owner.into(),
                message: format!("held by {owner}"),
            },
        }
    }

    #[test]
    fn a_conflict_with_an_older_profile_names_it_and_other_holds_are_listed_after_it() {
        let mut report = report(
            Mode::Enforce,
            vec![change(1, 1, false)],
            0,
            ItemStatus::Applied,
        );
        report.plan.held = vec![
            held(2, HoldReason::OwnedElsewhere, "CloudFormation stack orders"),
            held(3, HoldReason::ConflictingProfile, "profile team-a/edge"),
        ];
        let s = remediated_on_a_first_scan(RemediationMode::Enforce, &report);
        let r = remediation(&s);
        assert_eq!(r.held, 2);
        let listed: Vec<(HoldReason, &str)> = r
            .held_back
            .iter()
            .map(|h| (h.reason, h.owner.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                (HoldReason::ConflictingProfile, "profile team-a/edge"),
                (HoldReason::OwnedElsewhere, "CloudFormation stack orders"),
            ]
        );
        assert_eq!(
            r.held_back[0].controls,
            vec![crate::controls::xray_tracing::ID]
        );
        let c = cond(&s, reason::REMEDIATED);
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::False, reason::CONFLICTING_PROFILE)
        );
        assert!(
            c.message.contains(&format!(
                "2 change(s) held back (see status.remediation.heldBack), first: {}: held by profile team-a/edge",
                stage_arn(3)
            )),
            "{}",
            c.message
        );

        // Without the conflict: ChangesHeldBack, after what was applied.
        report.plan.held.truncate(1);
        let s = remediated_on_a_first_scan(RemediationMode::Enforce, &report);
        let c = cond(&s, reason::REMEDIATED);
        assert_eq!(c.reason, reason::CHANGES_HELD_BACK);
        assert!(
            c.message
                .starts_with("applied 1 setting(s) in 1 call(s); 1 change(s) held back"),
            "{}",
            c.message
        );

        // In DryRun the plan comes first and the holds are counted after it.
        let mut dry = self::report(
            Mode::DryRun,
            vec![change(1, 1, false)],
            0,
            ItemStatus::WouldApply,
        );
        dry.plan.held = vec![held(2, HoldReason::OptedOut, "tag")];
        let s = remediated_on_a_first_scan(RemediationMode::DryRun, &dry);
        let c = cond(&s, reason::REMEDIATED);
        assert_eq!(c.reason, reason::CHANGES_PLANNED);
        assert!(
            c.message
                .contains("; 1 change(s) held back (see status.remediation.heldBack)"),
            "{}",
            c.message
        );
    }

    #[test]
    fn held_back_changes_are_bounded() {
        let mut report = report(Mode::Enforce, Vec::new(), 0, ItemStatus::Applied);
        report.plan.held = (0..HELD_BACK_LIMIT + 5)
            .map(|i| held(i, HoldReason::AccountWriteLimit, "account 1"))
            .collect();
        let s = remediated_on_a_first_scan(RemediationMode::Enforce, &report);
        let r = remediation(&s);
        assert_eq!(
            (r.held, r.held_back.len()),
            (saturate(HELD_BACK_LIMIT + 5), HELD_BACK_LIMIT)
        );
    }

    #[test]
    fn settings_changed_since_the_plan_are_left_to_the_next_scan() {
        let (applied, changed) = (change(1, 1, false), change(2, 1, false));
        let mut report = report(
            Mode::Enforce,
            vec![applied.clone(), changed.clone()],
            0,
            ItemStatus::Applied,
        );
        report.outcome.changes[1] = outcome_of(
            &changed,
            ItemStatus::ChangedSincePlan,
            Some("web ACL x was associated after the plan's read"),
        );
        let s = remediated_on_a_first_scan(RemediationMode::Enforce, &report);
        assert_eq!(
            remediation(&s)
                .last_run
                .map(|l| (l.applied, l.changed_since_plan)),
            Some((1, 1))
        );
        let c = cond(&s, reason::REMEDIATED);
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::False, reason::CHANGES_PENDING)
        );
        assert!(
            c.message.starts_with(
                "applied 1 setting(s) in 1 call(s); 1 setting(s) changed since the plan's read"
            ) && c.message.contains(&format!(
                "first: {}: web ACL x was associated",
                stage_arn(2)
            )),
            "{}",
            c.message
        );
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
