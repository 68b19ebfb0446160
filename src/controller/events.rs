//! The Events the operator records on a profile: `Compliant`/`NonCompliant` when the
//! verdict flips and a Warning when a profile stalls or a scan fails (through kube's
//! Recorder), and one Event object per remediation change or new remediation problem
//! (written directly, so none is folded into another). An Event about one resource
//! leads with its readable name (`orders/prod: ...`), its ARN beside it.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};

use crate::crd::status::{ProblemReason, reason, truncate};
use crate::crd::{ComplianceProfile, ComplianceProfileStatus, ConditionStatus};
use crate::model::Finding;
use crate::model::plan::RemediationPlan;
use crate::report::remediation::RemediationReport;

use super::args::MANAGER;

/// At most this many `Remediated` Events per run; the rest are summed up in one more
/// (every change is in the operator's log, the last 20 in status).
const EVENTS_LIMIT: usize = 20;

/// Where Events go, and who reports them.
pub(super) struct Events {
    client: Client,
    recorder: Recorder,
    /// This replica's identity: the reporting instance of the Events written directly.
    instance: String,
}

impl Events {
    pub(super) fn new(client: Client, instance: String) -> Self {
        Events {
            recorder: Recorder::new(
                client.clone(),
                Reporter {
                    controller: MANAGER.into(),
                    instance: Some(instance.clone()),
                },
            ),
            client,
            instance,
        }
    }

    /// Events for what changed between the status the object had and the one written.
    pub(super) async fn scan(
        &self,
        profile: &ComplianceProfile,
        before: Option<&ComplianceProfileStatus>,
        after: &ComplianceProfileStatus,
    ) {
        let mut events = Vec::new();
        let condition = |s: Option<&ComplianceProfileStatus>, t: &str| {
            s.and_then(|s| s.condition(t))
                .map(|c| (c.status, c.reason.clone(), c.message.clone()))
        };
        let (old_compliant, new_compliant) = (
            condition(before, reason::COMPLIANT),
            condition(Some(after), reason::COMPLIANT),
        );
        if let Some((status, _, message)) = &new_compliant
            && old_compliant.as_ref().map(|c| c.0) != Some(*status)
        {
            match status {
                ConditionStatus::True => {
                    events.push((EventType::Normal, "Compliant", message.clone()))
                }
                ConditionStatus::False => {
                    events.push((EventType::Warning, "NonCompliant", message.clone()))
                }
                ConditionStatus::Unknown => {}
            }
        }
        if let Some((_, stalled_reason, message)) = condition(Some(after), reason::STALLED)
            && condition(before, reason::STALLED).map(|c| c.1) != Some(stalled_reason.clone())
        {
            events.push((
                EventType::Warning,
                stall_event_reason(&stalled_reason),
                message,
            ));
        }
        if let Some((ConditionStatus::False, ready_reason, message)) =
            condition(Some(after), reason::READY)
            && [
                reason::SCAN_FAILED,
                reason::SCAN_INCOMPLETE,
                reason::CREDENTIALS_UNAVAILABLE,
                reason::ORGANIZATION_UNREADABLE,
            ]
            .contains(&ready_reason.as_str())
        {
            events.push((
                EventType::Warning,
                stall_event_reason(&ready_reason),
                message,
            ));
        }
        let reference = profile.object_ref(&());
        for (type_, event_reason, note) in events {
            let event = Event {
                type_,
                reason: event_reason.to_string(),
                note: Some(truncate(&note)),
                action: "Scan".into(),
                secondary: None,
            };
            if let Err(e) = self.recorder.publish(&event, &reference).await {
                tracing::warn!(error = %e, reason = event_reason, "cannot publish an Event; check that the operator may create events.k8s.io events");
            }
        }
    }

    /// The Events of a run: Normal `Remediated` for each setting applied (what, where,
    /// before -> after; at most [`EVENTS_LIMIT`], then one summing up the rest), and
    /// Warning `RemediationFailed` or `RemediationBlocked` for each problem of the status
    /// written (at most ten) that the previous status did not list: a problem that
    /// persists is reported once, as a condition flip is.
    ///
    /// Each is its own Event object. kube's Recorder folds Events of the same reason into
    /// one series that keeps the first note, which would lose every change but the first;
    /// nothing here repeats (a change is made once, a problem reported when it appears).
    /// `names` gives the readable name each note leads with.
    pub(super) async fn remediation(
        &self,
        profile: &ComplianceProfile,
        report: &RemediationReport,
        previous: Option<&ComplianceProfileStatus>,
        status: &ComplianceProfileStatus,
        names: &ResourceNames,
    ) {
        let mut events: Vec<(EventType, &str, String)> = Vec::new();
        let records = report.outcome.audit_records();
        for record in records.iter().take(EVENTS_LIMIT) {
            events.push((
                EventType::Normal,
                reason::REMEDIATED,
                names.lead(Some(&record.resource_arn), record.to_string()),
            ));
        }
        if records.len() > EVENTS_LIMIT {
            events.push((
                EventType::Normal,
                reason::REMEDIATED,
                format!(
                    "and {} more setting(s) changed in this scan: see status.remediation.recentChanges and the operator's log",
                    records.len() - EVENTS_LIMIT
                ),
            ));
        }
        let problems = |s: Option<&ComplianceProfileStatus>| {
            s.and_then(|s| s.remediation.as_ref())
                .map(|r| r.problems.clone())
                .unwrap_or_default()
        };
        let known = problems(previous);
        for problem in problems(Some(status))
            .into_iter()
            .filter(|p| !known.contains(p))
        {
            let event_reason = match problem.reason {
                ProblemReason::Failed => reason::REMEDIATION_FAILED,
                ProblemReason::BlockedPrecondition | ProblemReason::InvalidSettings => {
                    reason::REMEDIATION_BLOCKED
                }
            };
            let controls: Vec<&str> = problem.controls.iter().map(|c| c.as_str()).collect();
            let note = match &problem.resource_arn {
                Some(arn) => format!("{} on {arn}: {}", controls.join(", "), problem.message),
                None => format!("{}: {}", controls.join(", "), problem.message),
            };
            let note = names.lead(problem.resource_arn.as_deref(), note);
            events.push((EventType::Warning, event_reason, note));
        }
        for (type_, event_reason, note) in events {
            if let Err(e) = self.publish(profile, type_, event_reason, &note).await {
                tracing::warn!(error = %e, reason = event_reason, "cannot publish an Event; check that the operator may create events.k8s.io events");
            }
        }
    }

    /// Creates one events.k8s.io Event on the profile, as kube's Recorder would (same
    /// reporting controller and instance, `create` only), under a name of its own.
    async fn publish(
        &self,
        profile: &ComplianceProfile,
        type_: EventType,
        event_reason: &str,
        note: &str,
    ) -> Result<(), kube::Error> {
        let namespace = profile.namespace().unwrap_or_default();
        let event = K8sEvent {
            metadata: ObjectMeta {
                // The API server appends a random suffix: one object per Event.
                generate_name: Some(format!("{}-", profile.name_any())),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            action: Some("Remediate".into()),
            reason: Some(event_reason.into()),
            note: Some(truncate(note)),
            type_: Some(
                match type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            event_time: Some(MicroTime(Timestamp::now())),
            regarding: Some(profile.object_ref(&())),
            reporting_controller: Some(MANAGER.into()),
            reporting_instance: Some(self.instance.clone()),
            ..K8sEvent::default()
        };
        Api::<K8sEvent>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), &event)
            .await
            .map(|_| ())
    }
}

/// The readable names of the resources a remediation plan touches, by ARN, taken from
/// the findings the plan was made of (before they are dropped): few, however large the
/// scan.
#[derive(Debug, Default)]
pub(super) struct ResourceNames(BTreeMap<String, String>);

impl ResourceNames {
    /// The names of the resources of `plan` (its changes, pending ones included, and
    /// its unplanned findings).
    pub(super) fn of(plan: &RemediationPlan, findings: &[Finding]) -> Self {
        let arns: BTreeSet<&str> = plan
            .changes
            .iter()
            .chain(&plan.pending)
            .map(|change| change.resource_arn.as_str())
            .chain(plan.unplanned.iter().map(|u| u.resource_arn.as_str()))
            .collect();
        ResourceNames(
            findings
                .iter()
                .filter(|f| !f.resource_name.is_empty() && arns.contains(f.resource_arn.as_str()))
                .map(|f| (f.resource_arn.clone(), f.resource_name.clone()))
                .collect(),
        )
    }

    /// `note` led by the name of the resource `arn`, when it has one.
    fn lead(&self, arn: Option<&str>, note: String) -> String {
        match arn.and_then(|arn| self.0.get(arn)) {
            Some(name) => format!("{name}: {note}"),
            None => note,
        }
    }
}

/// Event reasons are the condition reasons (a closed set), as `&'static str`.
fn stall_event_reason(condition_reason: &str) -> &'static str {
    [
        reason::ROLE_NOT_ALLOWED,
        reason::INVALID_SPEC,
        reason::SCAN_FAILED,
        reason::SCAN_INCOMPLETE,
        reason::CREDENTIALS_UNAVAILABLE,
        reason::ORGANIZATION_UNREADABLE,
        reason::INTERNAL_ERROR,
    ]
    .into_iter()
    .find(|r| *r == condition_reason)
    .unwrap_or(reason::SCAN_FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::status::fixtures::finding;
    use crate::model::plan::{Call, Change, Operation, Unplanned, UnplannedReason};
    use crate::model::{ResourceType, Severity, Status};

    #[test]
    fn notes_about_a_resource_lead_with_its_name() {
        let stage = "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod";
        let route = "arn:aws:apigateway:us-east-1::/apis/h1/routes/r1";
        let mut plan = RemediationPlan::default();
        plan.changes.push(Change {
            region: "us-east-1".into(),
            resource_arn: stage.into(),
            resource_type: ResourceType::RestStage,
            operation: Operation::RestUpdateStage {
                rest_api_id: "a1b2c3".into(),
                stage_name: "prod".into(),
            },
            call: Call {
                operation: "apigateway:UpdateStage".into(),
                http: "PATCH /restapis/a1b2c3/stages/prod".into(),
                request: serde_json::json!({}),
            },
            items: Vec::new(),
            notes: Vec::new(),
        });
        plan.unplanned.push(Unplanned {
            control_id: crate::controls::route_authorization::ID,
            resource_arn: route.into(),
            region: "us-east-1".into(),
            reason: UnplannedReason::ManualAction,
            message: "attach an authorizer".into(),
        });
        let findings = [
            finding(
                crate::controls::xray_tracing::ID,
                stage,
                Status::Failed,
                Severity::Low,
            ),
            finding(
                crate::controls::route_authorization::ID,
                route,
                Status::Failed,
                Severity::Medium,
            ),
            // Not in the plan: not kept.
            finding(
                crate::controls::xray_tracing::ID,
                "arn:other",
                Status::Failed,
                Severity::Low,
            ),
        ];
        let names = ResourceNames::of(&plan, &findings);
        assert_eq!(names.0.len(), 2);
        assert_eq!(
            names.lead(
                Some(stage),
                format!("APIGateway.3 on {stage}: tracingEnabled false -> true")
            ),
            format!("name of {stage}: APIGateway.3 on {stage}: tracingEnabled false -> true")
        );
        assert_eq!(
            names.lead(Some(route), "x".into()),
            format!("name of {route}: x")
        );
        // Unknown or absent ARNs leave the note as it is.
        assert_eq!(names.lead(Some("arn:other"), "y".into()), "y");
        assert_eq!(names.lead(None, "z".into()), "z");
    }

    #[test]
    fn event_reasons_are_condition_reasons() {
        assert_eq!(
            stall_event_reason(reason::ROLE_NOT_ALLOWED),
            reason::ROLE_NOT_ALLOWED
        );
        assert_eq!(
            stall_event_reason(reason::INTERNAL_ERROR),
            reason::INTERNAL_ERROR
        );
        assert_eq!(stall_event_reason("SomethingElse"), reason::SCAN_FAILED);
    }
}
