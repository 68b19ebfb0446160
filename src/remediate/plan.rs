//! The pure half of remediation: which exact AWS calls would fix the failing,
//! non-exempted findings, given the profile's parameters and remediation settings.
//!
//! Safety rules (CONTROLS.md, docs/remediation.md), each enforced here and tested:
//! one UpdateStage per REST stage with all of its patch operations; only `replace`
//! operations on logging levels, `/tracingEnabled`, `caching/dataEncrypted` and
//! `/clientCertificateId`; a level is never lowered; `dataTrace`, caching itself and the
//! cache cluster are never touched; an existing web ACL, certificate or access log
//! setting is replaced only when the profile's allow-list demands it (and the plan says
//! so); HTTP stages are never sent a LoggingLevel; APIGateway.8 is never changed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use crate::controls::route_authorization::CONNECT_ROUTE;
use crate::controls::{
    ControlId, ControlParameters, LoggingLevel, ResourceType, STAGE_WIDE_KEY, Semantics,
    method_setting_name, non_empty,
};
use crate::finding::{Finding, Status};
use crate::inventory::{
    Inventory, RestApi, RestStage, Route, V2Api, V2Protocol, V2Stage, rest_stage_arn, v2_route_arn,
    v2_stage_arn,
};

use super::{
    CertificateSource, LogDestination, REQUEST_ID_VARIABLE, RemediationSettings,
    check_access_log_format, parse_log_destination, parse_web_acl_arn,
};

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
    fn shown(&self) -> &str {
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

/// Plans the changes that fix every FAILED, non-exempted finding the settings allow.
///
/// Pure: the inventory must be the one the findings were evaluated on. A finding whose
/// resource is not in it is reported as not planned rather than guessed at.
pub fn plan(
    inventory: &Inventory,
    findings: &[Finding],
    params: &ControlParameters,
    settings: &RemediationSettings,
) -> RemediationPlan {
    let index = Index::new(inventory);
    let mut failing: BTreeMap<(&str, &str), BTreeSet<ControlId>> = BTreeMap::new();
    for finding in findings {
        if finding.status == Status::Failed && !finding.exempted {
            failing
                .entry((&finding.region, &finding.resource_arn))
                .or_default()
                .insert(finding.control_id);
        }
    }

    let planner = Planner { params, settings };
    let mut all = Vec::new();
    let mut unplanned = Vec::new();
    for ((region, arn), controls) in failing {
        let mut out = Out {
            region,
            arn,
            changes: &mut all,
            unplanned: &mut unplanned,
        };
        match index.get(arn) {
            Some(Resource::Rest(api, stage)) => planner.rest_stage(api, stage, &controls, &mut out),
            Some(Resource::V2(api, stage)) => planner.v2_stage(api, stage, &controls, &mut out),
            Some(Resource::Route(api, route)) => planner.route(api, route, &controls, &mut out),
            None => {
                for control in controls {
                    out.unplanned(
                        control,
                        UnplannedReason::ManualAction,
                        "the resource is not in the inventory this plan was made from; scan again"
                            .to_string(),
                    );
                }
            }
        }
    }

    let limit = settings.max_changes_per_scan.max(1) as usize;
    let pending = if all.len() > limit {
        all.split_off(limit)
    } else {
        Vec::new()
    };
    RemediationPlan {
        changes: all,
        pending,
        unplanned,
        max_changes_per_scan: settings.max_changes_per_scan,
    }
}

enum Resource<'a> {
    Rest(&'a RestApi, &'a RestStage),
    V2(&'a V2Api, &'a V2Stage),
    Route(&'a V2Api, &'a Route),
}

/// The inventory's resources by the ARN findings name them with.
struct Index<'a>(BTreeMap<String, Resource<'a>>);

impl<'a> Index<'a> {
    fn new(inventory: &'a Inventory) -> Self {
        let mut map = BTreeMap::new();
        for region in &inventory.regions {
            let name = &region.region;
            for api in &region.rest_apis {
                for stage in &api.stages {
                    map.insert(
                        rest_stage_arn(name, &api.id, &stage.name),
                        Resource::Rest(api, stage),
                    );
                }
            }
            for api in &region.v2_apis {
                for stage in &api.stages {
                    map.insert(
                        v2_stage_arn(name, &api.id, &stage.name),
                        Resource::V2(api, stage),
                    );
                }
                for route in &api.routes {
                    map.insert(
                        v2_route_arn(name, &api.id, &route.id),
                        Resource::Route(api, route),
                    );
                }
            }
        }
        Index(map)
    }

    fn get(&self, arn: &str) -> Option<&Resource<'a>> {
        self.0.get(arn)
    }
}

/// Where one resource's changes and unplanned findings go.
struct Out<'a, 'b> {
    region: &'a str,
    arn: &'a str,
    changes: &'b mut Vec<Change>,
    unplanned: &'b mut Vec<Unplanned>,
}

impl Out<'_, '_> {
    fn unplanned(&mut self, control_id: ControlId, reason: UnplannedReason, message: String) {
        self.unplanned.push(Unplanned {
            control_id,
            resource_arn: self.arn.to_string(),
            region: self.region.to_string(),
            reason,
            message,
        });
    }

    fn change(
        &mut self,
        resource_type: ResourceType,
        operation: Operation,
        items: Vec<ChangeItem>,
        notes: Vec<String>,
    ) {
        let call = call_for(&operation, self.arn, &items);
        self.changes.push(Change {
            region: self.region.to_string(),
            resource_arn: self.arn.to_string(),
            resource_type,
            operation,
            call,
            items,
            notes,
        });
    }
}

/// The request an operation sends for the given items (also used by `apply` to show
/// what it sent when some items were held back by a precondition).
pub(crate) fn call_for(operation: &Operation, resource_arn: &str, items: &[ChangeItem]) -> Call {
    match operation {
        Operation::RestUpdateStage {
            rest_api_id,
            stage_name,
        } => {
            let ops: Vec<Value> = items
                .iter()
                .filter_map(|item| match &item.edit {
                    Edit::RestReplace { path, value } => {
                        Some(json!({"op": "replace", "path": path, "value": value.shown()}))
                    }
                    _ => None,
                })
                .collect();
            Call {
                operation: "apigateway:UpdateStage".to_string(),
                http: format!("PATCH /restapis/{rest_api_id}/stages/{stage_name}"),
                request: json!({ "patchOperations": ops }),
            }
        }
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

/// Execution logging levels in the order of how much they log. Unknown or absent
/// levels rank as OFF: they log nothing anyone can rely on.
pub(crate) fn level_rank(level: Option<&str>) -> u8 {
    match level {
        Some(l) if l.eq_ignore_ascii_case("INFO") => 2,
        Some(l) if l.eq_ignore_ascii_case("ERROR") => 1,
        _ => 0,
    }
}

fn target_rank(level: LoggingLevel) -> u8 {
    level_rank(Some(level.as_str()))
}

fn shown(value: Option<&str>) -> String {
    value.unwrap_or("none").to_string()
}

struct Planner<'a> {
    params: &'a ControlParameters,
    settings: &'a RemediationSettings,
}

/// What one logging-level check concluded.
enum LevelFix {
    /// Already accepted: nothing to do.
    Fine,
    /// Raise to the target.
    Raise,
    /// Not accepted, but above the target: fixing it would lower it.
    WouldLower,
}

impl Planner<'_> {
    fn accepted_levels(&self) -> Vec<LoggingLevel> {
        let configured = &self.params.execution_logging.accepted_levels;
        if configured.is_empty() {
            vec![LoggingLevel::Error, LoggingLevel::Info]
        } else {
            configured.clone()
        }
    }

    fn accepts(&self, level: Option<&str>) -> bool {
        level.is_some_and(|level| {
            self.accepted_levels()
                .iter()
                .any(|ok| ok.as_str().eq_ignore_ascii_case(level))
        })
    }

    /// The level execution logging is raised to: the configured one, else ERROR when
    /// accepted (least volume, no request detail), else INFO. `Err` when the
    /// configured level is not accepted: setting it would not make the stage pass.
    fn logging_target(&self) -> Result<LoggingLevel, String> {
        let accepted = self.accepted_levels();
        match self.settings.controls.execution_logging.logging_level {
            Some(level) if accepted.contains(&level) => Ok(level),
            Some(level) => Err(format!(
                "remediation loggingLevel {} is not among the accepted levels ({}); set \
                 executionLogging.loggingLevel to an accepted level",
                level.as_str(),
                accepted
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None if accepted.contains(&LoggingLevel::Error) => Ok(LoggingLevel::Error),
            None => Ok(LoggingLevel::Info),
        }
    }

    fn level_fix(&self, current: Option<&str>, target: LoggingLevel) -> LevelFix {
        if self.accepts(current) {
            LevelFix::Fine
        } else if level_rank(current) > target_rank(target) {
            LevelFix::WouldLower
        } else {
            LevelFix::Raise
        }
    }

    fn rest_stage(
        &self,
        api: &RestApi,
        stage: &RestStage,
        controls: &BTreeSet<ControlId>,
        out: &mut Out,
    ) {
        let mut items = Vec::new();
        let mut notes = Vec::new();
        for &control in controls {
            match control {
                ControlId::ApiGateway1 => self.rest_logging(stage, out, &mut items),
                ControlId::ApiGateway2 => {
                    self.client_certificate(stage, out, &mut items, &mut notes)
                }
                ControlId::ApiGateway3 => {
                    if !self.settings.controls.xray_tracing.enabled {
                        out.unplanned(
                            control,
                            UnplannedReason::Disabled,
                            "xrayTracing remediation is turned off (enabled: false)".to_string(),
                        );
                    } else if !stage.tracing_enabled {
                        items.push(rest_item(
                            control,
                            "X-Ray tracing".to_string(),
                            "false",
                            "/tracingEnabled",
                            "true",
                            None,
                        ));
                    }
                }
                ControlId::ApiGateway5 => self.cache_encryption(stage, out, &mut items),
                // A separate call (wafv2), planned below.
                ControlId::ApiGateway4 => {}
                ControlId::ApiGateway8 | ControlId::ApiGateway9 => out.unplanned(
                    control,
                    UnplannedReason::ManualAction,
                    format!("{control} does not apply to REST stages; nothing to change"),
                ),
            }
        }
        if !items.is_empty() {
            out.change(
                ResourceType::RestStage,
                Operation::RestUpdateStage {
                    rest_api_id: api.id.clone(),
                    stage_name: stage.name.clone(),
                },
                items,
                notes,
            );
        }
        if controls.contains(&ControlId::ApiGateway4) {
            self.web_acl(stage, out);
        }
    }

    fn rest_logging(&self, stage: &RestStage, out: &mut Out, items: &mut Vec<ChangeItem>) {
        let control = ControlId::ApiGateway1;
        if !self.settings.controls.execution_logging.enabled {
            out.unplanned(
                control,
                UnplannedReason::Disabled,
                "executionLogging remediation is turned off (enabled: false)".to_string(),
            );
            return;
        }
        let target = match self.logging_target() {
            Ok(target) => target,
            Err(message) => {
                return out.unplanned(control, UnplannedReason::InvalidSettings, message);
            }
        };
        let precondition = Some(Precondition::CloudWatchRoleArn {
            region: out.region.to_string(),
        });
        let mut lowered = Vec::new();
        // The stage-wide entry: missing means methods without an override are not
        // logged. AWS parity accepts a missing `*/*` when other entries exist, so it is
        // only added there when the stage has no method settings at all.
        let stage_wide = stage.method_settings.get(STAGE_WIDE_KEY);
        let stage_wide_level = stage_wide.and_then(|s| s.logging_level.as_deref());
        let stage_wide_needed = match stage_wide {
            None => self.params.semantics == Semantics::Strict || stage.method_settings.is_empty(),
            Some(_) => true,
        };
        if stage_wide_needed {
            match self.level_fix(stage_wide_level, target) {
                LevelFix::Fine => {}
                LevelFix::WouldLower => {
                    lowered.push(format!("stage-wide (*/*) at {}", shown(stage_wide_level)))
                }
                LevelFix::Raise => items.push(rest_item(
                    control,
                    "stage-wide (*/*) logging level".to_string(),
                    &shown(stage_wide_level),
                    "/*/*/logging/loglevel",
                    target.as_str(),
                    precondition.clone(),
                )),
            }
        }
        for (key, setting) in &stage.method_settings {
            if key == STAGE_WIDE_KEY {
                continue;
            }
            let level = setting.logging_level.as_deref();
            match self.level_fix(level, target) {
                LevelFix::Fine => {}
                LevelFix::WouldLower => {
                    lowered.push(format!("{} at {}", method_setting_name(key), shown(level)))
                }
                LevelFix::Raise => items.push(rest_item(
                    control,
                    format!("{} logging level", method_setting_name(key)),
                    &shown(level),
                    &format!("/{key}/logging/loglevel"),
                    target.as_str(),
                    precondition.clone(),
                )),
            }
        }
        if !lowered.is_empty() {
            out.unplanned(
                control,
                UnplannedReason::ManualAction,
                lowering_message(&lowered, target),
            );
        }
    }

    fn cache_encryption(&self, stage: &RestStage, out: &mut Out, items: &mut Vec<ChangeItem>) {
        let control = ControlId::ApiGateway5;
        if !self.settings.controls.cache_encryption.enabled {
            out.unplanned(
                control,
                UnplannedReason::Disabled,
                "cacheEncryption remediation is turned off (enabled: false)".to_string(),
            );
            return;
        }
        // Only where caching is already on: caching and the cache cluster are never
        // turned on (or off) to "fix" anything.
        for (key, setting) in &stage.method_settings {
            if setting.caching_enabled && !setting.cache_data_encrypted {
                let name = if key == STAGE_WIDE_KEY {
                    "stage-wide (*/*)".to_string()
                } else {
                    method_setting_name(key)
                };
                items.push(rest_item(
                    control,
                    format!("{name} cache encryption"),
                    "false",
                    &format!("/{key}/caching/dataEncrypted"),
                    "true",
                    None,
                ));
            }
        }
    }

    fn client_certificate(
        &self,
        stage: &RestStage,
        out: &mut Out,
        items: &mut Vec<ChangeItem>,
        notes: &mut Vec<String>,
    ) {
        let control = ControlId::ApiGateway2;
        let Some(remediation) = &self.settings.controls.client_certificate else {
            return out.unplanned(
                control,
                UnplannedReason::Disabled,
                "client certificate remediation is opt-in: set clientCertificate {generate: true} or {certificateId: ...} \
                 once the backends accept API Gateway's client certificate"
                    .to_string(),
            );
        };
        let source = match remediation.source() {
            Ok(source) => source,
            Err(message) => {
                return out.unplanned(control, UnplannedReason::InvalidSettings, message);
            }
        };
        let accepted = &self.params.client_certificate.accepted_certificate_ids;
        let value = match source {
            CertificateSource::Generate if !accepted.is_empty() => {
                return out.unplanned(
                    control,
                    UnplannedReason::InvalidSettings,
                    "clientCertificate.generate cannot satisfy acceptedCertificateIds (a new certificate is not in the list); \
                     name an accepted certificate with clientCertificate.certificateId"
                        .to_string(),
                );
            }
            CertificateSource::Existing(id) if !accepted.is_empty() && !accepted.contains(&id) => {
                return out.unplanned(
                    control,
                    UnplannedReason::InvalidSettings,
                    format!(
                        "clientCertificate.certificateId {id} is not among acceptedCertificateIds"
                    ),
                );
            }
            CertificateSource::Generate => PatchValue::GeneratedClientCertificate,
            CertificateSource::Existing(id) => PatchValue::Literal(id),
        };
        let current = non_empty(&stage.client_certificate_id);
        if let Some(current) = current {
            notes.push(format!(
                "replaces client certificate {current}, which acceptedCertificateIds does not list"
            ));
        }
        items.push(ChangeItem {
            control_id: control,
            setting: "client certificate".to_string(),
            before: shown(current),
            after: value.shown().to_string(),
            edit: Edit::RestReplace {
                path: "/clientCertificateId".to_string(),
                value,
            },
            precondition: None,
        });
    }

    fn web_acl(&self, stage: &RestStage, out: &mut Out) {
        let control = ControlId::ApiGateway4;
        let Some(waf) = &self.settings.controls.waf else {
            return out.unplanned(
                control,
                UnplannedReason::Disabled,
                "no web ACL to associate: set waf.webAclArn to a REGIONAL WAFv2 web ACL in this region".to_string(),
            );
        };
        let acl = match parse_web_acl_arn(&waf.web_acl_arn) {
            Ok(acl) => acl,
            Err(message) => {
                return out.unplanned(control, UnplannedReason::InvalidSettings, message);
            }
        };
        if acl.region != out.region {
            return out.unplanned(
                control,
                UnplannedReason::BlockedPrecondition,
                format!(
                    "web ACL {} is in {}, the stage in {}: a stage can only use a REGIONAL web ACL of its own region",
                    waf.web_acl_arn, acl.region, out.region
                ),
            );
        }
        let accepted = &self.params.waf.accepted_web_acl_arns;
        if !accepted.is_empty() && !accepted.contains(&waf.web_acl_arn) {
            return out.unplanned(
                control,
                UnplannedReason::InvalidSettings,
                format!(
                    "waf.webAclArn {} is not among acceptedWebAclArns",
                    waf.web_acl_arn
                ),
            );
        }
        let current = non_empty(&stage.web_acl_arn);
        let mut notes = Vec::new();
        match current {
            Some(current) if accepted.is_empty() => {
                // The finding passes with any ACL when there is no allow-list; never
                // replace one that someone chose.
                return out.unplanned(
                    control,
                    UnplannedReason::ManualAction,
                    format!("web ACL {current} is associated; remediation never replaces a web ACL the allow-list does not demand"),
                );
            }
            Some(current) => notes.push(format!(
                "replaces web ACL {current}, which acceptedWebAclArns does not list"
            )),
            None => {}
        }
        out.change(
            ResourceType::RestStage,
            Operation::AssociateWebAcl {
                web_acl_arn: waf.web_acl_arn.clone(),
            },
            vec![ChangeItem {
                control_id: control,
                setting: "web ACL".to_string(),
                before: shown(current),
                after: waf.web_acl_arn.clone(),
                edit: Edit::AssociateWebAcl {
                    web_acl_arn: waf.web_acl_arn.clone(),
                },
                precondition: Some(Precondition::WebAclExists {
                    web_acl_arn: waf.web_acl_arn.clone(),
                }),
            }],
            notes,
        );
    }

    fn v2_stage(
        &self,
        api: &V2Api,
        stage: &V2Stage,
        controls: &BTreeSet<ControlId>,
        out: &mut Out,
    ) {
        let mut items = Vec::new();
        let mut notes = Vec::new();
        for &control in controls {
            match control {
                ControlId::ApiGateway1 => self.websocket_logging(api, stage, out, &mut items),
                ControlId::ApiGateway9 => {
                    self.access_logging(api, stage, out, &mut items, &mut notes)
                }
                other => out.unplanned(
                    other,
                    UnplannedReason::ManualAction,
                    format!("{other} does not apply to API Gateway v2 stages; nothing to change"),
                ),
            }
        }
        if items.is_empty() {
            return;
        }
        notes.insert(
            0,
            "read-modify-write: apply reads the stage (GetStage) and sends back the whole settings objects it changes, \
             with only these fields changed"
                .to_string(),
        );
        out.change(
            ResourceType::V2Stage,
            Operation::V2UpdateStage {
                api_id: api.id.clone(),
                stage_name: stage.name.clone(),
                protocol: api.protocol,
            },
            items,
            notes,
        );
    }

    fn websocket_logging(
        &self,
        api: &V2Api,
        stage: &V2Stage,
        out: &mut Out,
        items: &mut Vec<ChangeItem>,
    ) {
        let control = ControlId::ApiGateway1;
        if api.protocol == V2Protocol::Http {
            // HTTP APIs do not support execution logging (AWS refuses LoggingLevel).
            return out.unplanned(
                control,
                UnplannedReason::ManualAction,
                "HTTP APIs do not support execution logging; nothing is sent to HTTP stages"
                    .to_string(),
            );
        }
        if !self.settings.controls.execution_logging.enabled {
            return out.unplanned(
                control,
                UnplannedReason::Disabled,
                "executionLogging remediation is turned off (enabled: false)".to_string(),
            );
        }
        let target = match self.logging_target() {
            Ok(target) => target,
            Err(message) => {
                return out.unplanned(control, UnplannedReason::InvalidSettings, message);
            }
        };
        let precondition = Some(Precondition::CloudWatchRoleArn {
            region: out.region.to_string(),
        });
        let mut lowered = Vec::new();
        let default = stage.default_logging_level.as_deref();
        match self.level_fix(default, target) {
            LevelFix::Fine => {}
            LevelFix::WouldLower => lowered.push(format!("default route at {}", shown(default))),
            LevelFix::Raise => items.push(ChangeItem {
                control_id: control,
                setting: "default route logging level".to_string(),
                before: shown(default),
                after: target.as_str().to_string(),
                edit: Edit::DefaultRouteLoggingLevel { level: target },
                precondition: precondition.clone(),
            }),
        }
        // AWS parity ignores route overrides, so they are only changed under strict
        // semantics; an entry without a level inherits the default (set above).
        if self.params.semantics == Semantics::Strict {
            for (route_key, level) in &stage.route_logging_levels {
                let Some(level) = level.as_deref() else {
                    continue;
                };
                match self.level_fix(Some(level), target) {
                    LevelFix::Fine => {}
                    LevelFix::WouldLower => lowered.push(format!("route {route_key} at {level}")),
                    LevelFix::Raise => items.push(ChangeItem {
                        control_id: control,
                        setting: format!("route {route_key} logging level"),
                        before: level.to_string(),
                        after: target.as_str().to_string(),
                        edit: Edit::RouteLoggingLevel {
                            route_key: route_key.clone(),
                            level: target,
                        },
                        precondition: precondition.clone(),
                    }),
                }
            }
        }
        if !lowered.is_empty() {
            out.unplanned(
                control,
                UnplannedReason::ManualAction,
                lowering_message(&lowered, target),
            );
        }
    }

    fn access_logging(
        &self,
        api: &V2Api,
        stage: &V2Stage,
        out: &mut Out,
        items: &mut Vec<ChangeItem>,
        notes: &mut Vec<String>,
    ) {
        let control = ControlId::ApiGateway9;
        let Some(access) = &self.settings.controls.access_logging else {
            return out.unplanned(
                control,
                UnplannedReason::Disabled,
                "no access log destination: set accessLogging.destinationArn (a log group ARN) and accessLogging.format"
                    .to_string(),
            );
        };
        let destination = match parse_log_destination(&access.destination_arn) {
            Ok(destination) => destination,
            Err(message) => {
                return out.unplanned(control, UnplannedReason::InvalidSettings, message);
            }
        };
        if let Err(message) = check_access_log_format(&access.format) {
            return out.unplanned(control, UnplannedReason::InvalidSettings, message);
        }
        if destination.region() != out.region {
            return out.unplanned(
                control,
                UnplannedReason::BlockedPrecondition,
                format!(
                    "access log destination {} is in {}, the stage in {}: API Gateway writes access logs to its own region",
                    access.destination_arn,
                    destination.region(),
                    out.region
                ),
            );
        }
        // REST and WebSocket APIs write logs to CloudWatch Logs with the role named in
        // the account settings, as execution logging does; HTTP APIs (and Firehose
        // destinations) do not use it.
        let precondition = (api.protocol == V2Protocol::WebSocket
            && matches!(destination, LogDestination::LogGroup { .. }))
        .then(|| Precondition::CloudWatchRoleArn {
            region: out.region.to_string(),
        });
        // Fill what is empty, keep what is set: logs already going somewhere are never
        // redirected, and a format someone wrote is never rewritten.
        let current = stage.access_log.clone().unwrap_or_default();
        let current_destination = non_empty(&current.destination_arn);
        let current_format = non_empty(&current.format);
        if current_destination.is_none() {
            // The kept format passes the control, but lines without the request id
            // cannot be traced to their requests: say so rather than rewrite it.
            if let Some(format) = current_format
                && check_access_log_format(format).is_err()
            {
                notes.push(format!(
                    "keeps the stage's access log format, which lacks {REQUEST_ID_VARIABLE}, so its lines cannot be \
                     traced to their requests; remediation never rewrites a format someone wrote: the owner should \
                     add {REQUEST_ID_VARIABLE} to it (apigatewayv2 UpdateStage AccessLogSettings.Format)"
                ));
            }
            items.push(ChangeItem {
                control_id: control,
                setting: "access log destination".to_string(),
                before: shown(current_destination),
                after: access.destination_arn.clone(),
                edit: Edit::AccessLogDestination {
                    destination_arn: access.destination_arn.clone(),
                },
                precondition: precondition.clone(),
            });
        }
        if current_format.is_none() {
            items.push(ChangeItem {
                control_id: control,
                setting: "access log format".to_string(),
                before: shown(current_format),
                after: access.format.clone(),
                edit: Edit::AccessLogFormat {
                    format: access.format.clone(),
                },
                precondition,
            });
        }
    }

    fn route(&self, api: &V2Api, route: &Route, controls: &BTreeSet<ControlId>, out: &mut Out) {
        for &control in controls {
            let message = if control == ControlId::ApiGateway8 {
                let websocket = api.protocol == V2Protocol::WebSocket;
                let current = route.authorization_type.as_deref().unwrap_or("NONE");
                if websocket && route.route_key != CONNECT_ROUTE {
                    // Nothing to change or deploy on this route: it cannot carry an
                    // authorizer.
                    format!(
                        "route {} has authorization {current}; only $connect can carry an authorizer on a WebSocket \
                         API, so there is nothing to change on this route: the owner authorizes clients at $connect, \
                         then sets routeAuthorization.websocketNonConnectRoutes to NotApplicable or exempts the route",
                        route.route_key,
                    )
                } else {
                    let deploy = if !api.stages.is_empty()
                        && api.stages.iter().all(|s| s.auto_deploy)
                    {
                        "the stages auto-deploy, so the change is live at once".to_string()
                    } else {
                        "then create a deployment for stages that do not auto-deploy".to_string()
                    };
                    // WebSocket APIs have no JWT authorizers.
                    let types = if websocket {
                        "AWS_IAM or a Lambda authorizer"
                    } else {
                        "AWS_IAM, JWT, or a Lambda authorizer"
                    };
                    format!(
                        "route {} has authorization {current}; remediation never adds authorization (clients that send \
                         no credentials would break): the owner attaches an authorizer ({types}), tells the clients, \
                         {deploy}",
                        route.route_key,
                    )
                }
            } else {
                format!("{control} does not apply to routes; nothing to change")
            };
            out.unplanned(control, UnplannedReason::ManualAction, message);
        }
    }
}

fn rest_item(
    control_id: ControlId,
    setting: String,
    before: &str,
    path: &str,
    value: &str,
    precondition: Option<Precondition>,
) -> ChangeItem {
    ChangeItem {
        control_id,
        setting,
        before: before.to_string(),
        after: value.to_string(),
        edit: Edit::RestReplace {
            path: path.to_string(),
            value: PatchValue::Literal(value.to_string()),
        },
        precondition,
    }
}

fn lowering_message(lowered: &[String], target: LoggingLevel) -> String {
    format!(
        "{} log above the accepted levels; remediation never lowers a logging level (to {}): \
         lower it by hand or accept INFO in executionLogging.acceptedLevels",
        lowered.join(", "),
        target.as_str()
    )
}

#[cfg(test)]
mod tests;
