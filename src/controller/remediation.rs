//! Remediation in a reconcile (DryRun and Enforce): plan from the profile's shared region
//! reads and its findings (pure), apply with the scan's identity, then audit: a metric
//! per item, an Event per applied setting and per new problem, and the write times that
//! keep a stale shared read from being reused (see [`Writes`]). The status part is built by
//! [`super::status::remediated`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use crate::controls::ControlParameters;
use crate::crd::status::{ProblemReason, reason, truncate};
use crate::crd::{
    ComplianceProfile, ComplianceProfileSpec, ComplianceProfileStatus, MAX_INTERVAL,
    RemediationMode,
};
use crate::finding::{Finding, Status};
use crate::inventory::Inventory;
use crate::remediate::{
    ApplyOptions, ApplyOutcome, ItemStatus, Mode, RemediationPlan, RemediationReport,
    RemediationSettings, apply, plan,
};

use super::shared::{Identity, ReadKey, SharedRead};
use super::{Context, MANAGER};

/// At most this many `Remediated` Events per run; the rest are summed up in one more
/// (every change is in the operator's log, the last 20 in status).
const EVENTS_LIMIT: usize = 20;

/// What a profile's mode asks for, and the plan for it: `None` in Observe.
pub fn plan_for(
    spec: &ComplianceProfileSpec,
    reads: &[SharedRead],
    findings: &[Finding],
) -> Option<(Mode, RemediationPlan)> {
    let mode = match spec.remediation.mode {
        RemediationMode::Observe => return None,
        RemediationMode::DryRun => Mode::DryRun,
        RemediationMode::Enforce => Mode::Enforce,
    };
    let plan = plan_regions(
        reads.iter().map(|read| &*read.inventory),
        findings,
        &spec.controls.parameters,
        &spec.remediation.settings,
    );
    Some((mode, plan))
}

/// [`plan`] over inventories held apart (the shared reads hold one region each): each
/// region is planned on its own inventory, then the changes of all regions are split at
/// `maxChangesPerScan` in region order, which is the plan one inventory holding them all
/// gives (a test checks it).
pub fn plan_regions<'a>(
    inventories: impl IntoIterator<Item = &'a Inventory>,
    findings: &[Finding],
    params: &ControlParameters,
    settings: &RemediationSettings,
) -> RemediationPlan {
    let inventories: Vec<&Inventory> = inventories.into_iter().collect();
    let mut failing: BTreeMap<&str, Vec<Finding>> = BTreeMap::new();
    for finding in findings
        .iter()
        .filter(|f| f.status == Status::Failed && !f.exempted)
    {
        failing
            .entry(&finding.region)
            .or_default()
            .push(finding.clone());
    }
    // A region nobody read plans against nothing: its findings are reported as not
    // planned, as `plan` does for resources it cannot find.
    let unread = Inventory::default();
    let mut changes = Vec::new();
    let mut unplanned = Vec::new();
    for (region, findings) in failing {
        let inventory = inventories
            .iter()
            .copied()
            .find(|inventory| inventory.regions.iter().any(|r| r.region == region))
            .unwrap_or(&unread);
        let mut part = plan(inventory, &findings, params, settings);
        changes.append(&mut part.changes);
        changes.append(&mut part.pending);
        unplanned.append(&mut part.unplanned);
    }
    let limit = usize::try_from(settings.max_changes_per_scan.max(1)).unwrap_or(usize::MAX);
    let pending = if changes.len() > limit {
        changes.split_off(limit)
    } else {
        Vec::new()
    };
    RemediationPlan {
        changes,
        pending,
        unplanned,
        max_changes_per_scan: settings.max_changes_per_scan,
    }
}

/// Applies (Enforce) or checks and shows (DryRun) a plan with the scan's SDK config,
/// then counts its items and records where it wrote.
pub async fn run(
    ctx: &Context,
    identity: &Identity,
    (mode, plan): (Mode, RemediationPlan),
    sdk: &aws_config::SdkConfig,
) -> RemediationReport {
    let options = ApplyOptions {
        dry_run: mode == Mode::DryRun,
        ..ApplyOptions::default()
    };
    let outcome = apply(&plan, sdk, &options).await;
    ctx.writes.record(identity, &outcome, Instant::now());
    ctx.metrics.remediated(&outcome);
    let summary = outcome.summary();
    tracing::info!(
        mode = ?mode,
        changes = plan.changes.len(),
        pending = plan.pending.len(),
        unplanned = plan.unplanned.len(),
        applied = summary.applied,
        would_apply = summary.would_apply,
        already_compliant = summary.already_compliant,
        failed = summary.failed,
        blocked = summary.blocked,
        "remediation"
    );
    RemediationReport {
        mode,
        plan,
        outcome,
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
pub async fn publish_events(
    ctx: &Context,
    profile: &ComplianceProfile,
    report: &RemediationReport,
    previous: Option<&ComplianceProfileStatus>,
    status: &ComplianceProfileStatus,
) {
    let mut events: Vec<(EventType, &str, String)> = Vec::new();
    let records = report.outcome.audit_records();
    for record in records.iter().take(EVENTS_LIMIT) {
        events.push((EventType::Normal, reason::REMEDIATED, record.to_string()));
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
        events.push((EventType::Warning, event_reason, note));
    }
    for (type_, event_reason, note) in events {
        if let Err(e) = publish(ctx, profile, type_, event_reason, &note).await {
            tracing::warn!(error = %e, reason = event_reason, "cannot publish an Event; check that the operator may create events.k8s.io events");
        }
    }
}

/// Creates one events.k8s.io Event on the profile, as kube's Recorder would (same
/// reporting controller and instance, `create` only), under a name of its own.
async fn publish(
    ctx: &Context,
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
        reporting_instance: Some(ctx.instance.clone()),
        ..K8sEvent::default()
    };
    Api::<K8sEvent>::namespaced(ctx.client.clone(), &namespace)
        .create(&PostParams::default(), &event)
        .await
        .map(|_| ())
}

/// When remediation last changed something, per identity and region.
///
/// Profiles share region reads for up to half their interval (see [`super::shared`]),
/// and a read that started before a change describes the stage as it was: reused after
/// it, the change would be planned again (a second write of the same value, a second
/// `Remediated` Event). So a profile's next scan reuses only reads that started after
/// the last write to its identity and regions. A read still running when the write
/// lands can still be joined; it is replaced by the next one.
#[derive(Debug, Default)]
pub struct Writes(Mutex<HashMap<ReadKey, Instant>>);

impl Writes {
    /// Notes the regions where `outcome` applied a setting, at `at` (after the calls).
    pub fn record(&self, identity: &Identity, outcome: &ApplyOutcome, at: Instant) {
        let mut writes = self.lock();
        for change in &outcome.changes {
            if change.items.iter().any(|i| i.status == ItemStatus::Applied) {
                writes.insert(
                    ReadKey {
                        identity: identity.clone(),
                        region: change.region.clone(),
                    },
                    at,
                );
            }
        }
    }

    /// `max_age`, shortened so that no read of `regions` started before the last write
    /// there is reused. Forgets writes older than any window can be.
    pub fn max_age(
        &self,
        identity: &Identity,
        regions: &[String],
        max_age: Duration,
        now: Instant,
    ) -> Duration {
        let mut writes = self.lock();
        writes.retain(|_, at| now.saturating_duration_since(*at) < MAX_INTERVAL);
        regions
            .iter()
            .filter_map(|region| {
                writes.get(&ReadKey {
                    identity: identity.clone(),
                    region: region.clone(),
                })
            })
            .map(|at| now.saturating_duration_since(*at))
            .fold(max_age, Duration::min)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ReadKey, Instant>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::ControlId;
    use crate::inventory::{MethodSetting, RegionInventory, RestApi, RestStage};
    use crate::remediate::{Call, ChangeOutcome, ItemOutcome};

    /// REST stages `s0..s{n}` of API `a-{region}` that fail APIGateway.1 and .3.
    fn region(name: &str, stages: usize) -> Inventory {
        Inventory {
            regions: vec![RegionInventory {
                region: name.to_string(),
                rest_apis: vec![RestApi {
                    id: format!("a-{name}"),
                    name: "orders".into(),
                    stages: (0..stages)
                        .map(|i| RestStage {
                            name: format!("s{i}"),
                            method_settings: [(
                                "*/*".to_string(),
                                MethodSetting {
                                    logging_level: Some("OFF".into()),
                                    ..MethodSetting::default()
                                },
                            )]
                            .into(),
                            ..RestStage::default()
                        })
                        .collect(),
                    ..RestApi::default()
                }],
                v2_apis: Vec::new(),
            }],
            errors: Vec::new(),
        }
    }

    #[test]
    fn regions_planned_apart_give_the_plan_of_one_inventory() {
        let reads = vec![region("us-east-1", 3), region("eu-west-1", 2)];
        let merged = Inventory {
            regions: reads.iter().flat_map(|r| r.regions.clone()).collect(),
            errors: Vec::new(),
        };
        let params = ControlParameters::default();
        let findings = crate::scan::report(
            &merged,
            &[ControlId::ApiGateway1, ControlId::ApiGateway3],
            &params,
        )
        .findings;
        assert!(findings.iter().any(|f| f.status == Status::Failed));
        for limit in [1, 3, 4, 25] {
            let settings = RemediationSettings {
                max_changes_per_scan: limit,
                ..RemediationSettings::default()
            };
            let apart = plan_regions(&reads, &findings, &params, &settings);
            let whole = plan(&merged, &findings, &params, &settings);
            assert_eq!(apart, whole, "maxChangesPerScan = {limit}");
            assert_eq!(apart.changes.len() + apart.pending.len(), 5);
        }
    }

    #[test]
    fn findings_of_a_region_nobody_read_are_not_planned() {
        let read = region("us-east-1", 1);
        let params = ControlParameters::default();
        let findings = crate::scan::report(&read, &[ControlId::ApiGateway3], &params).findings;
        let elsewhere: Vec<Finding> = findings
            .into_iter()
            .map(|f| Finding {
                region: "eu-west-1".into(),
                ..f
            })
            .collect();
        let planned = plan_regions(
            [&read],
            &elsewhere,
            &params,
            &RemediationSettings::default(),
        );
        assert!(planned.changes.is_empty());
        assert_eq!(planned.unplanned.len(), 1);
    }

    fn applied_in(region: &str, status: ItemStatus) -> ApplyOutcome {
        ApplyOutcome {
            changes: vec![ChangeOutcome {
                region: region.into(),
                resource_arn: format!("arn:aws:apigateway:{region}::/restapis/a/stages/prod"),
                call: Call {
                    operation: "apigateway:UpdateStage".into(),
                    http: "PATCH /restapis/a/stages/prod".into(),
                    request: serde_json::Value::Null,
                },
                items: vec![ItemOutcome {
                    control_id: ControlId::ApiGateway3,
                    setting: "X-Ray tracing".into(),
                    before: "false".into(),
                    after: "true".into(),
                    status,
                    message: None,
                }],
                notes: Vec::new(),
            }],
            ..ApplyOutcome::default()
        }
    }

    #[test]
    fn a_read_from_before_a_write_is_not_reused_after_it() {
        let writes = Writes::default();
        let team = Identity::new(Some("arn:aws:iam::111122223333:role/a"), None);
        let regions = ["us-east-1".to_string(), "eu-west-1".to_string()];
        let window = Duration::from_secs(450);
        let start = Instant::now();
        assert_eq!(writes.max_age(&team, &regions, window, start), window);

        writes.record(&team, &applied_in("eu-west-1", ItemStatus::Applied), start);
        let later = start + Duration::from_secs(30);
        assert_eq!(
            writes.max_age(&team, &regions, window, later),
            Duration::from_secs(30),
            "only reads started after the write serve"
        );
        // Other identities and regions are not affected.
        assert_eq!(
            writes.max_age(&Identity::Operator, &regions, window, later),
            window
        );
        assert_eq!(writes.max_age(&team, &regions[..1], window, later), window);
        // Nothing applied (DryRun, refused): nothing to forget.
        writes.record(
            &team,
            &applied_in("us-east-1", ItemStatus::WouldApply),
            later,
        );
        assert_eq!(writes.max_age(&team, &regions[..1], window, later), window);
        // Old writes are forgotten.
        assert_eq!(
            writes.max_age(&team, &regions, window, start + MAX_INTERVAL),
            window
        );
    }
}
