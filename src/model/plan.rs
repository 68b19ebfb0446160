//! A remediation plan as controls make it and people review it: exact AWS write
//! calls, each with the settings it changes from what to what, what must hold before
//! it is sent, and the failing findings no change is planned for (and why).

use std::collections::BTreeSet;

use serde::{Serialize, Serializer};
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
    /// Failing findings no change is planned for, and why.
    pub unplanned: Vec<Unplanned>,
    pub max_changes_per_scan: u32,
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
