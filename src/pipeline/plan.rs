//! The pure half of remediation: which exact AWS calls would fix the failing,
//! non-exempted findings, given the profile's parameters and remediation settings.
//!
//! The planner is generic: for each failing resource it asks each failing control
//! (its `plan` function, in the control's file) what to change, then merges what they
//! planned into one call per operation, so the controls of one REST stage share one
//! UpdateStage, holds back the calls on resources owned elsewhere (an opt-out tag, an
//! infrastructure-as-code ownership tag: see [`super::ownership`]), and splits the
//! rest at `maxChangesPerScan`.
//!
//! The safety rules every control's plan follows (each tested here on random estates):
//! only `replace` operations on logging levels, `/tracingEnabled`,
//! `caching/dataEncrypted` and `/clientCertificateId`; a level is never lowered;
//! `dataTrace`, caching itself and the cache cluster are never touched; an existing web
//! ACL, certificate or access log setting is replaced only when the profile's
//! allow-list demands it (and the plan says so); HTTP stages are never sent a
//! LoggingLevel; route authorization is never changed.

use std::collections::{BTreeMap, BTreeSet};

use crate::controls::planning::{PlanInput, Resource, ResourcePlan};
use crate::controls::{self, ControlParameters, ControlRemediations};
use crate::crd::RemediationSettings;
use crate::inventory::{Inventory, RegionInventory};
use crate::model::arn::{
    domain_name_arn, rest_stage_arn, v2_integration_arn, v2_route_arn, v2_stage_arn,
};
use crate::model::plan::{
    Change, HeldChange, Operation, RemediationPlan, Unplanned, UnplannedReason, call_for,
};
use crate::model::{ControlId, Finding, Status};

use super::ownership::OwnershipTags;

/// Plans the changes that fix every FAILED, non-exempted finding the settings allow.
///
/// Pure: `reads` must hold the resources the findings name (the reads they were
/// evaluated on, one region each or several). A finding whose resource is not there
/// is reported as not planned rather than guessed at. The changes on a resource that
/// opts out or that `ownership` says infrastructure as code owns are held back.
pub fn plan<'a>(
    reads: impl IntoIterator<Item = &'a Inventory>,
    findings: &[Finding],
    params: &ControlParameters,
    settings: &RemediationSettings,
    ownership: &OwnershipTags,
) -> RemediationPlan {
    let index = Index::new(reads.into_iter().flat_map(|read| &read.regions));
    let mut failing: BTreeMap<(&str, &str), BTreeSet<ControlId>> = BTreeMap::new();
    for finding in findings {
        if finding.status == Status::Failed && !finding.exempted {
            failing
                .entry((&finding.region, &finding.resource_arn))
                .or_default()
                .insert(finding.control_id);
        }
    }

    let mut changes = Vec::new();
    let mut held = Vec::new();
    let mut unplanned = Vec::new();
    for ((region, arn), ids) in failing {
        let Some(resource) = index.0.get(arn) else {
            unplanned.extend(ids.into_iter().map(|control_id| {
                Unplanned {
                    control_id,
                    resource_arn: arn.to_string(),
                    region: region.to_string(),
                    reason: UnplannedReason::ManualAction,
                    message:
                        "the resource is not in the inventory this plan was made from; scan again"
                            .to_string(),
                }
            }));
            continue;
        };
        let input = PlanInput {
            region,
            resource_arn: arn,
            resource: *resource,
            semantics: params.semantics,
        };
        let (mut resource_changes, mut resource_unplanned) =
            plan_resource(&input, &ids, params, &settings.controls);
        match ownership.owner(resource) {
            Some(hold) => held.extend(resource_changes.into_iter().map(|change| HeldChange {
                change,
                hold: hold.clone(),
            })),
            None => changes.append(&mut resource_changes),
        }
        unplanned.append(&mut resource_unplanned);
    }

    let mut plan = RemediationPlan {
        held,
        unplanned,
        max_changes_per_scan: settings.max_changes_per_scan,
        ..RemediationPlan::default()
    };
    plan.split(changes);
    plan
}

/// One resource: each failing control's plan, merged into one change per operation
/// (in the order of [`Operation::rank`]), and what no change is planned for.
fn plan_resource(
    input: &PlanInput<'_>,
    ids: &BTreeSet<ControlId>,
    params: &ControlParameters,
    settings: &ControlRemediations,
) -> (Vec<Change>, Vec<Unplanned>) {
    let mut planned = ResourcePlan::default();
    let resource_type = input.resource.resource_type();
    for control in controls::selected(&ids.iter().copied().collect::<Vec<_>>()) {
        if control.meta.resource_types.contains(&resource_type) {
            (control.plan)(input, params, settings, &mut planned);
        } else {
            planned.unplanned(
                control.id(),
                UnplannedReason::ManualAction,
                format!(
                    "{} does not apply to {}; nothing to change",
                    control.id(),
                    resource_type.as_str()
                ),
            );
        }
    }
    let mut operations: Vec<Operation> = Vec::new();
    for (operation, _) in &planned.items {
        if !operations.contains(operation) {
            operations.push(operation.clone());
        }
    }
    operations.sort_by_key(Operation::rank);
    let changes = operations
        .into_iter()
        .map(|operation| {
            let items: Vec<_> = planned
                .items
                .iter()
                .filter(|(op, _)| *op == operation)
                .map(|(_, item)| item.clone())
                .collect();
            let mut notes: Vec<String> = operation.notes().into_iter().collect();
            notes.extend(
                planned
                    .notes
                    .iter()
                    .filter(|(op, _)| *op == operation)
                    .map(|(_, note)| note.clone()),
            );
            Change {
                region: input.region.to_string(),
                resource_arn: input.resource_arn.to_string(),
                resource_type: operation.resource_type(),
                call: call_for(&operation, input.resource_arn, &items),
                operation,
                items,
                notes,
            }
        })
        .collect();
    (
        changes,
        planned.take_unplanned(input.region, input.resource_arn),
    )
}

/// The inventory's resources by the ARN findings name them with.
struct Index<'a>(BTreeMap<String, Resource<'a>>);

impl<'a> Index<'a> {
    fn new(regions: impl IntoIterator<Item = &'a RegionInventory>) -> Self {
        let mut map = BTreeMap::new();
        for region in regions {
            let name = &region.region;
            for api in &region.rest_apis {
                for stage in &api.stages {
                    map.insert(
                        rest_stage_arn(name, &api.id, &stage.name),
                        Resource::RestStage(api, stage),
                    );
                }
            }
            for api in &region.v2_apis {
                for stage in &api.stages {
                    map.insert(
                        v2_stage_arn(name, &api.id, &stage.name),
                        Resource::V2Stage(api, stage),
                    );
                }
                for route in &api.routes {
                    map.insert(
                        v2_route_arn(name, &api.id, &route.id),
                        Resource::Route(api, route),
                    );
                }
                for integration in &api.integrations {
                    map.insert(
                        v2_integration_arn(name, &api.id, &integration.id),
                        Resource::Integration(api, integration),
                    );
                }
            }
            for domain in &region.domain_names {
                map.insert(
                    domain_name_arn(name, &domain.name),
                    Resource::DomainName(domain),
                );
            }
        }
        Index(map)
    }
}

#[cfg(test)]
mod tests;
