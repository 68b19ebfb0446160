//! A remediation plan as controls make it and people review it: exact AWS write
//! calls, each with the settings it changes from what to what, what must hold before
//! it is sent, and the failing findings no change is planned for (and why).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

use super::finding::{ControlId, LoggingLevel, ResourceType, V2Protocol};

/// Every change that would fix the failing findings, in a stable order (region, then
/// resource ARN, then call), split at `maxChangesPerScan`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationPlan {
    /// The changes this scan makes (DryRun: would make), at most `maxChangesPerScan`.
    pub changes: Vec<Change>,
    /// Changes beyond `maxChangesPerScan`, left for the next scans.
    pub pending: Vec<Change>,
    /// Changes this profile does not make, and why (see [`HoldReason`]). Left out of
    /// the JSON when empty, so a plan without any reads as before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<HeldChange>,
    /// Failing findings no change is planned for, and why.
    pub unplanned: Vec<Unplanned>,
    pub max_changes_per_scan: u32,
}

impl RemediationPlan {
    /// Holds back the items `hold` gives a reason for: each change keeps the items it
    /// may still make (its call rebuilt for them), the held items of a change go into
    /// one [`HeldChange`] per reason, and what is left is split at
    /// `maxChangesPerScan` again, so a held change frees its place for a pending one.
    pub fn hold_items(&mut self, mut hold: impl FnMut(&Change, &ChangeItem) -> Option<Hold>) {
        let all: Vec<Change> = self
            .changes
            .drain(..)
            .chain(self.pending.drain(..))
            .collect();
        let mut kept_changes = Vec::with_capacity(all.len());
        for change in all {
            let mut kept: Vec<ChangeItem> = Vec::new();
            let mut held: Vec<(Hold, Vec<ChangeItem>)> = Vec::new();
            for item in &change.items {
                match hold(&change, item) {
                    None => kept.push(item.clone()),
                    Some(why) => match held.iter_mut().find(|(h, _)| *h == why) {
                        Some((_, items)) => items.push(item.clone()),
                        None => held.push((why, vec![item.clone()])),
                    },
                }
            }
            if held.is_empty() {
                kept_changes.push(change);
                continue;
            }
            for (why, items) in held {
                self.held.push(HeldChange {
                    change: change.with_items(items),
                    hold: why,
                });
            }
            if !kept.is_empty() {
                kept_changes.push(change.with_items(kept));
            }
        }
        self.split(kept_changes);
    }

    /// Holds back every change after the first `allowed` (the pending ones stay
    /// pending): what a cap shared with other profiles leaves this one.
    pub fn hold_beyond(&mut self, allowed: usize, hold: &Hold) {
        if self.changes.len() > allowed {
            let over = self.changes.split_off(allowed);
            self.held.extend(over.into_iter().map(|change| HeldChange {
                change,
                hold: hold.clone(),
            }));
        }
    }

    /// Moves every change after the first `allowed` to the front of `pending`: what a
    /// `maxChangesPerScan` shared by the accounts of one scan leaves this account's plan.
    pub fn defer_beyond(&mut self, allowed: usize) {
        if self.changes.len() > allowed {
            let mut deferred = self.changes.split_off(allowed);
            deferred.append(&mut self.pending);
            self.pending = deferred;
        }
    }

    /// Shares one `maxChangesPerScan` among the plans of the accounts of one scan, in
    /// order: each account's changes beyond what the accounts before it left wait as
    /// pending.
    pub fn share_changes(plans: &mut [RemediationPlan]) {
        let Some(first) = plans.first() else {
            return;
        };
        let mut left = usize::try_from(first.max_changes_per_scan.max(1)).unwrap_or(usize::MAX);
        for plan in plans {
            plan.defer_beyond(left);
            left -= plan.changes.len();
        }
    }

    /// The plans of the accounts of one scan, in order, as one: what the scan's report
    /// and status show.
    pub fn merge(plans: impl IntoIterator<Item = RemediationPlan>) -> RemediationPlan {
        let mut merged: Option<RemediationPlan> = None;
        for mut plan in plans {
            match &mut merged {
                None => merged = Some(plan),
                Some(all) => {
                    all.changes.append(&mut plan.changes);
                    all.pending.append(&mut plan.pending);
                    all.held.append(&mut plan.held);
                    all.unplanned.append(&mut plan.unplanned);
                }
            }
        }
        merged.unwrap_or_default()
    }

    /// Puts the first `maxChangesPerScan` of `changes` in `changes`, the rest in
    /// `pending`.
    pub fn split(&mut self, mut changes: Vec<Change>) {
        let limit = usize::try_from(self.max_changes_per_scan.max(1)).unwrap_or(usize::MAX);
        self.pending = if changes.len() > limit {
            changes.split_off(limit)
        } else {
            Vec::new()
        };
        self.changes = changes;
    }
}

/// One AWS write call on one resource, fixing one or more controls.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub region: String,
    pub resource_arn: String,
    pub resource_type: ResourceType,
    pub operation: Operation,
    /// The request as planned (for people and `--output json`; `apply` builds the SDK
    /// request from `items`).
    pub call: Call,
    pub items: Vec<ChangeItem>,
    /// What a reviewer should know: replacements demanded by an allow-list,
    /// read-modify-write, deployment needs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Change {
    /// The same call with only `items` (the request rebuilt for them).
    pub fn with_items(&self, items: Vec<ChangeItem>) -> Change {
        Change {
            call: call_for(&self.operation, &self.resource_arn, &items),
            items,
            ..self.clone()
        }
    }

    /// The controls this change fixes, in catalog order.
    pub fn controls(&self) -> Vec<ControlId> {
        let set: BTreeSet<ControlId> = self.items.iter().map(|item| item.control_id).collect();
        set.into_iter().collect()
    }
}

/// The AWS operation a change is made with, and the resource it names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Operation {
    /// apigateway UpdateStage (`PATCH /restapis/{restApiId}/stages/{stageName}`).
    #[serde(rename_all = "camelCase")]
    RestUpdateStage {
        rest_api_id: String,
        stage_name: String,
    },
    /// apigatewayv2 UpdateStage (`PATCH /v2/apis/{apiId}/stages/{stageName}`),
    /// read-modify-write of the settings objects it changes.
    #[serde(rename_all = "camelCase")]
    V2UpdateStage {
        api_id: String,
        stage_name: String,
        protocol: V2Protocol,
    },
    /// wafv2 AssociateWebACL(WebACLArn, ResourceArn = the REST stage ARN).
    #[serde(rename_all = "camelCase")]
    AssociateWebAcl { web_acl_arn: String },
    /// apigateway UpdateDomainName (`PATCH /domainnames/{domainName}`).
    #[serde(rename_all = "camelCase")]
    UpdateDomainName { domain_name: String },
}

impl Operation {
    /// The order of a resource's calls in a plan: the stage's own update first, then
    /// the web ACL association.
    pub fn rank(&self) -> u8 {
        match self {
            Operation::RestUpdateStage { .. }
            | Operation::V2UpdateStage { .. }
            | Operation::UpdateDomainName { .. } => 0,
            Operation::AssociateWebAcl { .. } => 1,
        }
    }

    /// The resource type a call changes.
    pub fn resource_type(&self) -> ResourceType {
        match self {
            Operation::RestUpdateStage { .. } | Operation::AssociateWebAcl { .. } => {
                ResourceType::RestStage
            }
            Operation::V2UpdateStage { .. } => ResourceType::V2Stage,
            Operation::UpdateDomainName { .. } => ResourceType::DomainName,
        }
    }

    /// What a reviewer should know about every call of this operation.
    pub fn notes(&self) -> Option<String> {
        match self {
            Operation::V2UpdateStage { .. } => Some(
                "read-modify-write: apply reads the stage (GetStage) and sends back the whole settings objects it changes, \
                 with only these fields changed"
                    .to_string(),
            ),
            Operation::RestUpdateStage { .. }
            | Operation::AssociateWebAcl { .. }
            | Operation::UpdateDomainName { .. } => None,
        }
    }
}

/// An AWS request as a person reviews it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// `service:Operation`, e.g. `apigateway:UpdateStage`.
    pub operation: String,
    /// HTTP method and path of the request.
    pub http: String,
    /// The request body.
    pub request: Value,
}

/// One setting a change sets: which control it fixes, from what to what.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeItem {
    pub control_id: ControlId,
    /// The setting as a person names it, e.g. `GET /orders/{id} logging level`.
    pub setting: String,
    pub before: String,
    pub after: String,
    pub edit: Edit,
    /// What must hold before this item is sent; checked once per region or ACL by
    /// `apply`, and reported as a blocked precondition (not a failed call) when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precondition: Option<Precondition>,
}

/// The exact edit an item makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Edit {
    /// REST UpdateStage patch operation `{"op": "replace", "path", "value"}`.
    RestReplace { path: String, value: PatchValue },
    /// v2 `DefaultRouteSettings.LoggingLevel`.
    DefaultRouteLoggingLevel { level: LoggingLevel },
    /// v2 `RouteSettings[routeKey].LoggingLevel`.
    #[serde(rename_all = "camelCase")]
    RouteLoggingLevel {
        route_key: String,
        level: LoggingLevel,
    },
    /// v2 `AccessLogSettings.DestinationArn`, set only where empty.
    #[serde(rename_all = "camelCase")]
    AccessLogDestination { destination_arn: String },
    /// v2 `AccessLogSettings.Format`, set only where empty.
    AccessLogFormat { format: String },
    /// wafv2 AssociateWebACL.
    #[serde(rename_all = "camelCase")]
    AssociateWebAcl { web_acl_arn: String },
}

/// A patch operation's value: a literal, or the id of the client certificate `apply`
/// generates (or reuses) in the stage's region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatchValue {
    Literal(String),
    GeneratedClientCertificate,
}

/// How the generated certificate id is shown in a plan.
pub const GENERATED_CERTIFICATE_PLACEHOLDER: &str = "${generatedClientCertificateId}";

impl PatchValue {
    pub fn shown(&self) -> &str {
        match self {
            PatchValue::Literal(value) => value,
            PatchValue::GeneratedClientCertificate => GENERATED_CERTIFICATE_PLACEHOLDER,
        }
    }
}

impl Serialize for PatchValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.shown())
    }
}

/// What must hold before an item is sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "check", rename_all = "camelCase")]
pub enum Precondition {
    /// Execution logging needs API Gateway's account settings to name a CloudWatch Logs
    /// role in the region (`GetAccount().cloudwatchRoleArn`).
    CloudWatchRoleArn { region: String },
    /// The web ACL exists (wafv2 GetWebACL, REGIONAL scope, in its region).
    #[serde(rename_all = "camelCase")]
    WebAclExists { web_acl_arn: String },
}

impl Precondition {
    pub fn describe(&self) -> String {
        match self {
            Precondition::CloudWatchRoleArn { region } => {
                format!("CloudWatch Logs role in API Gateway account settings ({region})")
            }
            Precondition::WebAclExists { web_acl_arn } => {
                format!("web ACL {web_acl_arn} exists (REGIONAL)")
            }
        }
    }
}

/// A change this profile does not make, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldChange {
    #[serde(flatten)]
    pub change: Change,
    #[serde(flatten)]
    pub hold: Hold,
}

/// Why a change is held back, whose the resource or setting is instead, and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    pub reason: HoldReason,
    /// Who has the resource or setting instead, for people: `CloudFormation stack
    /// orders-prod`, `profile team-a/edge-waf`, `account 123456789012`.
    pub owner: String,
    /// Why, and what a person should do.
    pub message: String,
}

/// Why a planned change is not made.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum HoldReason {
    /// The resource or its API carries the tag `apigwcompliance.io/remediate: "false"`.
    OptedOut,
    /// The resource or its API carries an infrastructure-as-code ownership tag (by
    /// default `aws:cloudformation:stack-name`): the stack would revert the change.
    OwnedElsewhere,
    /// An older Enforce profile sets this setting of the resource to another value.
    ConflictingProfile,
    /// The account's cap on writes across profiles is reached; made at a later scan.
    AccountWriteLimit,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::OptedOut => "OptedOut",
            HoldReason::OwnedElsewhere => "OwnedElsewhere",
            HoldReason::ConflictingProfile => "ConflictingProfile",
            HoldReason::AccountWriteLimit => "AccountWriteLimit",
        }
    }
}

/// A failing finding no change is planned for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unplanned {
    pub control_id: ControlId,
    pub resource_arn: String,
    pub region: String,
    pub reason: UnplannedReason,
    /// What a person must do, or change in the profile.
    pub message: String,
}

/// Why a failing finding has no planned change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum UnplannedReason {
    /// Only a person can fix it safely (APIGateway.8, or a fix that would lower a level
    /// or replace something the allow-lists do not demand).
    ManualAction,
    /// The profile does not turn this remediation on (or does not name its target).
    Disabled,
    /// Known from the plan alone to be impossible as configured (e.g. the web ACL or
    /// log destination is in another region than the stage).
    BlockedPrecondition,
    /// The profile's remediation settings are not usable for this control.
    InvalidSettings,
}

impl UnplannedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            UnplannedReason::ManualAction => "ManualAction",
            UnplannedReason::Disabled => "Disabled",
            UnplannedReason::BlockedPrecondition => "BlockedPrecondition",
            UnplannedReason::InvalidSettings => "InvalidSettings",
        }
    }
}

/// The request an operation sends for the given items (the plan shows it; apply shows
/// what it sent when some items were held back by a precondition).
pub fn call_for(operation: &Operation, resource_arn: &str, items: &[ChangeItem]) -> Call {
    match operation {
        Operation::RestUpdateStage {
            rest_api_id,
            stage_name,
        } => {
            let ops = rest_patch_operations(items);
            Call {
                operation: "apigateway:UpdateStage".to_string(),
                http: format!("PATCH /restapis/{rest_api_id}/stages/{stage_name}"),
                request: json!({ "patchOperations": ops }),
            }
        }
        Operation::UpdateDomainName { domain_name } => Call {
            operation: "apigateway:UpdateDomainName".to_string(),
            http: format!("PATCH /domainnames/{domain_name}"),
            request: json!({ "patchOperations": rest_patch_operations(items) }),
        },
        Operation::V2UpdateStage {
            api_id, stage_name, ..
        } => {
            let mut body = serde_json::Map::new();
            for item in items {
                let (object, key, value) = match &item.edit {
                    Edit::DefaultRouteLoggingLevel { level } => (
                        "defaultRouteSettings",
                        "loggingLevel",
                        json!(level.as_str()),
                    ),
                    Edit::RouteLoggingLevel { route_key, level } => {
                        let routes = body.entry("routeSettings").or_insert_with(|| json!({}));
                        if let Value::Object(routes) = routes {
                            routes
                                .insert(route_key.clone(), json!({"loggingLevel": level.as_str()}));
                        }
                        continue;
                    }
                    Edit::AccessLogDestination { destination_arn } => (
                        "accessLogSettings",
                        "destinationArn",
                        json!(destination_arn),
                    ),
                    Edit::AccessLogFormat { format } => {
                        ("accessLogSettings", "format", json!(format))
                    }
                    Edit::RestReplace { .. } | Edit::AssociateWebAcl { .. } => continue,
                };
                if let Value::Object(object) = body.entry(object).or_insert_with(|| json!({})) {
                    object.insert(key.to_string(), value);
                }
            }
            Call {
                operation: "apigatewayv2:UpdateStage".to_string(),
                http: format!("PATCH /v2/apis/{api_id}/stages/{stage_name}"),
                request: Value::Object(body),
            }
        }
        Operation::AssociateWebAcl { web_acl_arn } => Call {
            operation: "wafv2:AssociateWebACL".to_string(),
            http: "POST / (X-Amz-Target: AWSWAF_20190729.AssociateWebACL)".to_string(),
            request: json!({"WebACLArn": web_acl_arn, "ResourceArn": resource_arn}),
        },
    }
}

/// The REST API patch operations of the items (`{"op": "replace", "path", "value"}`).
fn rest_patch_operations(items: &[ChangeItem]) -> Vec<Value> {
    items
        .iter()
        .filter_map(|item| match &item.edit {
            Edit::RestReplace { path, value } => {
                Some(json!({"op": "replace", "path": path, "value": value.shown()}))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(stage: &str, items: &[&str]) -> Change {
        let items: Vec<ChangeItem> = items
            .iter()
            .map(|path| ChangeItem {
                control_id: ControlId::new("APIGateway.3"),
                setting: (*path).to_string(),
                before: "false".into(),
                after: "true".into(),
                edit: Edit::RestReplace {
                    path: (*path).to_string(),
                    value: PatchValue::Literal("true".into()),
                },
                precondition: None,
            })
            .collect();
        let operation = Operation::RestUpdateStage {
            rest_api_id: "a1".into(),
            stage_name: stage.into(),
        };
        let resource_arn = format!("arn:aws:apigateway:us-east-1::/restapis/a1/stages/{stage}");
        Change {
            region: "us-east-1".into(),
            resource_type: ResourceType::RestStage,
            call: call_for(&operation, &resource_arn, &items),
            resource_arn,
            operation,
            items,
            notes: Vec::new(),
        }
    }

    fn hold(reason: HoldReason) -> Hold {
        Hold {
            reason,
            owner: "someone".into(),
            message: "why".into(),
        }
    }

    fn plan(changes: Vec<Change>, max: u32) -> RemediationPlan {
        let mut plan = RemediationPlan {
            max_changes_per_scan: max,
            ..RemediationPlan::default()
        };
        plan.split(changes);
        plan
    }

    #[test]
    fn the_accounts_of_one_scan_share_its_change_budget_in_order() {
        // maxChangesPerScan 3: the first account takes 2, the second 1 of its 2, the
        // third none; what did not fit waits, ahead of what was already pending.
        let mut plans = vec![
            plan(vec![change("a", &["/x"]), change("b", &["/x"])], 3),
            plan(vec![change("c", &["/x"]), change("d", &["/x"])], 3),
            plan(
                vec![
                    change("e", &["/x"]),
                    change("f", &["/x"]),
                    change("g", &["/x"]),
                    change("h", &["/x"]),
                ],
                3,
            ),
        ];
        RemediationPlan::share_changes(&mut plans);
        assert_eq!(stages(&plans[0].changes), ["a", "b"]);
        assert_eq!(stages(&plans[1].changes), ["c"]);
        assert_eq!(stages(&plans[1].pending), ["d"]);
        assert!(plans[2].changes.is_empty());
        assert_eq!(stages(&plans[2].pending), ["e", "f", "g", "h"]);

        let merged = RemediationPlan::merge(plans);
        assert_eq!(stages(&merged.changes), ["a", "b", "c"]);
        assert_eq!(stages(&merged.pending), ["d", "e", "f", "g", "h"]);
        assert_eq!(merged.max_changes_per_scan, 3);
    }

    fn stages(changes: &[Change]) -> Vec<&str> {
        changes
            .iter()
            .map(|c| c.resource_arn.rsplit('/').next().unwrap_or_default())
            .collect()
    }

    #[test]
    fn held_items_leave_the_rest_of_their_call_and_free_places_for_pending_changes() {
        let mut plan = plan(
            vec![
                change("s1", &["/a", "/b"]),
                change("s2", &["/a"]),
                change("s3", &["/a"]),
            ],
            2,
        );
        assert_eq!(
            (stages(&plan.changes), stages(&plan.pending)),
            (vec!["s1", "s2"], vec!["s3"])
        );
        plan.hold_items(|change, item| {
            (change.resource_arn.ends_with("s2")
                || (change.resource_arn.ends_with("s1") && item.setting == "/b"))
                .then(|| hold(HoldReason::ConflictingProfile))
        });
        assert_eq!(stages(&plan.changes), ["s1", "s3"]);
        assert!(plan.pending.is_empty());
        assert_eq!(
            plan.changes[0].call.request,
            json!({"patchOperations": [{"op": "replace", "path": "/a", "value": "true"}]})
        );
        let held: Vec<(&str, Vec<&str>)> = plan
            .held
            .iter()
            .map(|h| {
                (
                    h.change.resource_arn.rsplit('/').next().unwrap_or_default(),
                    h.change.items.iter().map(|i| i.setting.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(held, [("s1", vec!["/b"]), ("s2", vec!["/a"])]);
        assert_eq!(
            plan.held[0].change.call.request,
            json!({"patchOperations": [{"op": "replace", "path": "/b", "value": "true"}]})
        );
    }

    #[test]
    fn a_cap_holds_back_what_is_over_it_and_leaves_pending_alone() {
        let mut plan = plan(
            vec![
                change("s1", &["/a"]),
                change("s2", &["/a"]),
                change("s3", &["/a"]),
            ],
            2,
        );
        plan.hold_beyond(1, &hold(HoldReason::AccountWriteLimit));
        assert_eq!(stages(&plan.changes), ["s1"]);
        assert_eq!(stages(&plan.pending), ["s3"]);
        assert_eq!(plan.held.len(), 1);
        assert_eq!(plan.held[0].hold.reason, HoldReason::AccountWriteLimit);
        plan.hold_beyond(5, &hold(HoldReason::AccountWriteLimit));
        assert_eq!(plan.held.len(), 1, "nothing over a cap it is within");
    }

    #[test]
    fn a_plan_without_held_changes_serializes_as_before() {
        let plan = plan(vec![change("s1", &["/a"])], 25);
        let json = serde_json::to_value(&plan).expect("serializes");
        assert!(json.get("held").is_none(), "{json}");
        let mut held = plan.clone();
        held.hold_items(|_, _| Some(hold(HoldReason::OptedOut)));
        let json = serde_json::to_value(&held).expect("serializes");
        assert_eq!(json["held"][0]["reason"], "OptedOut");
        assert_eq!(json["held"][0]["owner"], "someone");
        assert_eq!(
            json["held"][0]["call"]["operation"],
            "apigateway:UpdateStage"
        );
    }
}
