//! What a control's plan function gets (one failing resource; beside it, its own
//! parameters and remediation settings) and writes into (items of AWS write calls on that
//! resource, notes, and what it will not change and why). The pipeline's planner
//! calls each failing control of a resource in turn and merges what they wrote into
//! one call per operation, so the controls of one REST stage share one UpdateStage.

use crate::controls::common::Semantics;
use crate::inventory::{DomainName, Integration, RestApi, RestStage, Route, V2Api, V2Stage};
use crate::model::plan::{ChangeItem, Operation, Unplanned, UnplannedReason};
use crate::model::{ControlId, ResourceType};

/// A resource a finding names, as read.
#[derive(Clone, Copy, Debug)]
pub enum Resource<'a> {
    RestStage(&'a RestApi, &'a RestStage),
    V2Stage(&'a V2Api, &'a V2Stage),
    Route(&'a V2Api, &'a Route),
    Integration(&'a V2Api, &'a Integration),
    DomainName(&'a DomainName),
}

impl Resource<'_> {
    pub fn resource_type(&self) -> ResourceType {
        match self {
            Resource::RestStage(..) => ResourceType::RestStage,
            Resource::V2Stage(..) => ResourceType::V2Stage,
            Resource::Route(..) => ResourceType::V2Route,
            Resource::Integration(..) => ResourceType::V2Integration,
            Resource::DomainName(..) => ResourceType::DomainName,
        }
    }
}

/// One failing resource, and how literally the profile reads the controls.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    pub region: &'a str,
    pub resource_arn: &'a str,
    pub resource: Resource<'a>,
    pub semantics: Semantics,
}

/// The REST stage write (UpdateStage with patch operations).
pub fn rest_update_stage(api: &RestApi, stage: &RestStage) -> Operation {
    Operation::RestUpdateStage {
        rest_api_id: api.id.clone(),
        stage_name: stage.name.clone(),
    }
}

/// The v2 stage write (UpdateStage, read-modify-write of the settings it changes).
pub fn v2_update_stage(api: &V2Api, stage: &V2Stage) -> Operation {
    Operation::V2UpdateStage {
        api_id: api.id.clone(),
        stage_name: stage.name.clone(),
        protocol: api.protocol,
    }
}

/// What the controls of one resource planned: items per operation (in the order
/// planned), notes per operation, and failing controls no change is planned for.
#[derive(Debug, Default)]
pub struct ResourcePlan {
    pub(crate) items: Vec<(Operation, ChangeItem)>,
    pub(crate) notes: Vec<(Operation, String)>,
    pub(crate) unplanned: Vec<(ControlId, UnplannedReason, String)>,
}

impl ResourcePlan {
    /// One setting `operation` changes.
    pub fn item(&mut self, operation: &Operation, item: ChangeItem) {
        self.items.push((operation.clone(), item));
    }

    /// What a reviewer of `operation`'s call should know (a replacement an allow-list
    /// demands, a setting kept as it is).
    pub fn note(&mut self, operation: &Operation, note: String) {
        self.notes.push((operation.clone(), note));
    }

    /// A failing control with no change planned, and what a person must do instead.
    pub fn unplanned(&mut self, control: ControlId, reason: UnplannedReason, message: String) {
        self.unplanned.push((control, reason, message));
    }

    /// The unplanned entries as the plan reports them.
    pub(crate) fn take_unplanned(&mut self, region: &str, resource_arn: &str) -> Vec<Unplanned> {
        self.unplanned
            .drain(..)
            .map(|(control_id, reason, message)| Unplanned {
                control_id,
                resource_arn: resource_arn.to_string(),
                region: region.to_string(),
                reason,
                message,
            })
            .collect()
    }
}
