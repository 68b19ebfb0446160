//! APIGateway.1 — API Gateway REST and WebSocket API execution logging should be enabled.
//!
//! Traces to: "The control fails if logging is not enabled for all methods of a stage or
//! if `loggingLevel` is neither `ERROR` nor `INFO`." The cases the sentence leaves open
//! are settled in docs/controls/APIGateway.1.md.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::controls::admission::{Admission, AllowList, BoundedString, SpecRule};
use crate::controls::planning::{
    PlanInput, Resource, ResourcePlan, rest_update_stage, v2_update_stage,
};
use crate::controls::common::{
    Source,ControlMeta, FieldError, STAGE_WIDE_KEY, Semantics, join_or, method_setting_name, name_list, shown};
use crate::inventory::{Needs, RegionInventory, RestApi, RestStage, V2Api, V2Stage};
use crate::model::arn::{rest_stage_arn, v2_stage_arn};
use crate::model::plan::{ChangeItem, Edit, PatchValue, Precondition, UnplannedReason};
use crate::model::{ControlId, Finding, LoggingLevel, ResourceType, Severity, Status, V2Protocol};

pub const ID: ControlId = ControlId::new("APIGateway.1");

/// How `spec.controls.parameters` describes this control's parameters.
pub const PARAMETERS_DOC: &str = "APIGateway.1.";

/// How `spec.remediation.controls` describes this control's remediation settings.
pub const REMEDIATION_DOC: &str = "APIGateway.1: execution logging. On by default.";

pub static META: ControlMeta = ControlMeta {
    id: ID,
    source: Source::SecurityHub,
    title: "API Gateway REST and WebSocket API execution logging should be enabled",
    severity: Severity::Medium,
    category: "Identify > Logging",
    resource_types: &[ResourceType::RestStage, ResourceType::V2Stage],
    related_requirements: &[
        "NIST.800-53.r5 AC-4(26)",
        "NIST.800-53.r5 AU-10",
        "NIST.800-53.r5 AU-12",
        "NIST.800-53.r5 AU-2",
        "NIST.800-53.r5 AU-3",
        "NIST.800-53.r5 AU-6(3)",
        "NIST.800-53.r5 AU-6(4)",
        "NIST.800-53.r5 CA-7",
        "NIST.800-53.r5 SC-7(9)",
        "NIST.800-53.r5 SI-7(8)",
    ],
    config_rule: "api-gw-execution-logging-enabled",
    unsupported_regions: &["af-south-1", "eu-south-1", "me-central-1"],
    remediation_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html#set-up-access-logging-using-console",
};

pub static ADMISSION: Admission = Admission {
    parameter_lists: &[AllowList {
        path: &["executionLogging", "acceptedLevels"],
        min_items: Some(1),
        item_pattern: None,
        item_max_length: None,
    }],
    remediation_fields: &[BoundedString {
        path: &["controls", "executionLogging", "loggingLevel"],
        max_length: 8,
    }],
    remediation_rules: &[],
    spec_rules: &[SpecRule {
        rule: "!has(self.remediation) || !has(self.remediation.controls) \
            || !has(self.remediation.controls.executionLogging) \
            || !has(self.remediation.controls.executionLogging.loggingLevel) \
            || !has(self.controls) || !has(self.controls.parameters) \
            || !has(self.controls.parameters.executionLogging) \
            || !has(self.controls.parameters.executionLogging.acceptedLevels) \
            || self.remediation.controls.executionLogging.loggingLevel in self.controls.parameters.executionLogging.acceptedLevels",
        message: LEVEL_NOT_ACCEPTED,
        field_path: ".remediation.controls.executionLogging.loggingLevel",
    }],
};

/// Why a remediation level outside the accepted levels is refused.
const LEVEL_NOT_ACCEPTED: &str = "must be one of spec.controls.parameters.executionLogging.acceptedLevels: a stage set to another level would still fail APIGateway.1";

/// APIGateway.1 parameters (`spec.controls.parameters.executionLogging`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Parameters {
    /// Logging levels that pass; default ERROR and INFO.
    pub accepted_levels: Vec<LoggingLevel>,
}

impl Default for Parameters {
    fn default() -> Self {
        Self {
            accepted_levels: vec![LoggingLevel::Error, LoggingLevel::Info],
        }
    }
}

/// APIGateway.1 remediation: execution logging. On by default
/// (`spec.remediation.controls.executionLogging`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Remediation {
    /// Whether remediation may set logging levels. Default true.
    pub enabled: bool,
    /// The level to set where logging is off or below the accepted levels: `ERROR` or
    /// `INFO`. Default: ERROR when accepted (it logs errors only, with no request
    /// detail, at a fraction of INFO's volume), else INFO. Never lowers a level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_level: Option<LoggingLevel>,
}

impl Default for Remediation {
    fn default() -> Self {
        Self {
            enabled: true,
            logging_level: None,
        }
    }
}

impl crate::controls::common::Setting for Remediation {}

/// REST stages and v2 stages (WebSocket route settings are stage settings).
pub fn needs(_: &Parameters) -> Needs {
    Needs {
        rest: true,
        v2: true,
        ..Needs::default()
    }
}

pub fn validate(params: &Parameters, settings: &Remediation) -> Result<(), FieldError> {
    let accepted = &params.accepted_levels;
    if accepted.is_empty() {
        return Err(FieldError::new(
            "controls.parameters.executionLogging.acceptedLevels",
            "an empty list would fail every stage: list ERROR and/or INFO, or leave it out",
        ));
    }
    if let Some(level) = settings.logging_level
        && !accepted.contains(&level)
    {
        return Err(FieldError::new(
            "remediation.controls.executionLogging.loggingLevel",
            format!("{} {LEVEL_NOT_ACCEPTED}", level.as_str()),
        ));
    }
    Ok(())
}

/// One finding per REST stage, WebSocket stage and HTTP stage (the last NOT_APPLICABLE).
pub fn evaluate(
    region: &RegionInventory,
    params: &Parameters,
    semantics: Semantics,
    findings: &mut Vec<Finding>,
) {
    let accepted = Accepted::new(&params.accepted_levels);
    for api in &region.rest_apis {
        for stage in &api.stages {
            let (status, reason) = evaluate_rest_stage(stage, &accepted, semantics);
            findings.push(META.finding(
                ResourceType::RestStage,
                &region.region,
                rest_stage_arn(&region.region, &api.id, &stage.name),
                status,
                reason,
            ));
        }
    }
    for api in &region.v2_apis {
        for stage in &api.stages {
            let (status, reason) = match api.protocol {
                V2Protocol::WebSocket => {
                    evaluate_websocket_stage(stage, &accepted, semantics)
                }
                V2Protocol::Http => (
                    Status::NotApplicable,
                    "HTTP APIs do not support execution logging; APIGateway.1 covers REST and \
                     WebSocket stages (access logging of HTTP stages is APIGateway.9)"
                        .to_string(),
                ),
            };
            findings.push(META.finding(
                ResourceType::V2Stage,
                &region.region,
                v2_stage_arn(&region.region, &api.id, &stage.name),
                status,
                reason,
            ));
        }
    }
}

/// The logging levels that pass. An empty list in the profile means the control's own
/// default (ERROR or INFO) rather than "nothing passes", which no one would ask for.
struct Accepted {
    levels: Vec<LoggingLevel>,
}

impl Accepted {
    fn new(configured: &[LoggingLevel]) -> Self {
        let mut levels = if configured.is_empty() {
            Parameters::default().accepted_levels
        } else {
            configured.to_vec()
        };
        levels.sort();
        levels.dedup();
        Self { levels }
    }

    /// AWS reports levels as strings: they are compared without regard to case, and an
    /// unknown or absent level never passes.
    fn accepts(&self, level: Option<&str>) -> bool {
        level.is_some_and(|level| {
            self.levels
                .iter()
                .any(|ok| ok.as_str().eq_ignore_ascii_case(level))
        })
    }

    /// e.g. `ERROR or INFO`.
    fn describe(&self) -> String {
        let names: Vec<String> = self
            .levels
            .iter()
            .map(|level| level.as_str().to_string())
            .collect();
        join_or(&names)
    }
}

/// Whether a REST stage's stage-wide (`*/*`) entry must log. The control's sentence
/// ("all methods") needs it: methods without an override are logged only through it.
/// AWS's reference rule only looks at the entries that exist, so under AwsParity a
/// stage whose every entry is an accepted override passes without it; a stage with no
/// method settings at all logs nothing under either reading.
fn stage_wide_required(stage: &RestStage, semantics: Semantics) -> bool {
    semantics == Semantics::Strict || stage.method_settings.is_empty()
}

fn shown_level(level: Option<&str>) -> &str {
    level.unwrap_or("no level")
}

fn evaluate_rest_stage(
    stage: &RestStage,
    accepted: &Accepted,
    semantics: Semantics,
) -> (Status, String) {
    let wanted = accepted.describe();
    if stage.method_settings.is_empty() {
        return (
            Status::Failed,
            format!(
                "stage has no method settings, so execution logging is off for all methods; \
                 set the stage-wide (*/*) logging level to {wanted}"
            ),
        );
    }

    let mut problems = Vec::new();
    let stage_wide = stage.method_settings.get(STAGE_WIDE_KEY);
    match stage_wide {
        None if stage_wide_required(stage, semantics) => problems.push(format!(
            "stage has no stage-wide (*/*) method setting, so methods without an override are \
             not logged; set the */* logging level to {wanted}"
        )),
        None => {}
        Some(setting) if !accepted.accepts(setting.logging_level.as_deref()) => {
            problems.push(match setting.logging_level.as_deref() {
                Some(level) => {
                    format!("stage-wide (*/*) logging level is {level}; set it to {wanted}")
                }
                None => format!(
                    "stage-wide (*/*) method setting has no logging level; set it to {wanted}"
                ),
            })
        }
        Some(_) => {}
    }

    let overrides: Vec<(&String, Option<&str>)> = stage
        .method_settings
        .iter()
        .filter(|(key, _)| key.as_str() != STAGE_WIDE_KEY)
        .map(|(key, setting)| (key, setting.logging_level.as_deref()))
        .collect();
    let not_logged: Vec<String> = overrides
        .iter()
        .filter(|(_, level)| !accepted.accepts(*level))
        .map(|(key, level)| format!("{} ({})", method_setting_name(key), shown_level(*level)))
        .collect();
    match not_logged.len() {
        0 => {}
        1 => problems.push(format!(
            "method override {} is not logged at {wanted}; set its logging level to {wanted}",
            not_logged[0]
        )),
        _ => problems.push(format!(
            "method overrides {} are not logged at {wanted}; set their logging level to {wanted}",
            name_list(&not_logged)
        )),
    }

    if !problems.is_empty() {
        return (Status::Failed, problems.join("; "));
    }
    let reason = match (stage_wide, overrides.len()) {
        (Some(setting), 0) => format!(
            "execution logging is at {} for all methods (stage-wide */*)",
            shown_level(setting.logging_level.as_deref())
        ),
        (Some(setting), count) => format!(
            "execution logging is at {} stage-wide (*/*) and at {wanted} in all {count} method overrides",
            shown_level(setting.logging_level.as_deref())
        ),
        (None, count) => format!(
            "all {count} method settings log at {wanted}; there is no stage-wide (*/*) setting, \
             which AWS parity accepts (strict semantics fails it)"
        ),
    };
    (Status::Passed, reason)
}

/// Whether WebSocket route overrides are checked: the control's sentence covers every
/// route; AWS's reference rule looks only at the default route settings.
fn route_overrides_checked(semantics: Semantics) -> bool {
    semantics == Semantics::Strict
}

fn evaluate_websocket_stage(
    stage: &V2Stage,
    accepted: &Accepted,
    semantics: Semantics,
) -> (Status, String) {
    let wanted = accepted.describe();
    let mut problems = Vec::new();
    let default_level = stage.default_logging_level.as_deref();
    match default_level {
        None => problems.push(format!(
            "stage has no default route logging level, so routes without an override are not \
             logged; set DefaultRouteSettings.LoggingLevel to {wanted}"
        )),
        Some(level) if !accepted.accepts(Some(level)) => problems.push(format!(
            "default route logging level is {level}; set DefaultRouteSettings.LoggingLevel to {wanted}"
        )),
        Some(_) => {}
    }

    // A route entry without a LoggingLevel overrides other settings (throttling) only:
    // that route logs at the default level, which is checked above.
    let route_levels: Vec<(&String, &str)> = stage
        .route_logging_levels
        .iter()
        .filter_map(|(route_key, level)| level.as_deref().map(|level| (route_key, level)))
        .collect();
    let not_logged: Vec<String> = route_levels
        .iter()
        .filter(|(_, level)| !accepted.accepts(Some(level)))
        .map(|(route_key, level)| format!("{route_key} ({level})"))
        .collect();

    if route_overrides_checked(semantics) {
        match not_logged.len() {
            0 => {}
            1 => problems.push(format!(
                "route override {} is not logged at {wanted}; set its RouteSettings LoggingLevel to {wanted}",
                not_logged[0]
            )),
            _ => problems.push(format!(
                "route overrides {} are not logged at {wanted}; set their RouteSettings LoggingLevel to {wanted}",
                name_list(&not_logged)
            )),
        }
    }

    if !problems.is_empty() {
        return (Status::Failed, problems.join("; "));
    }
    let level = shown_level(default_level);
    let reason = if route_levels.is_empty() {
        format!("default route logging level is {level}")
    } else if not_logged.is_empty() {
        format!(
            "default route logging level is {level} and all {} route overrides log at {wanted}",
            route_levels.len()
        )
    } else {
        // Parity passes this stage; the owner should still learn what strict would flag.
        let (noun, verb) = if not_logged.len() == 1 {
            ("route override", "is")
        } else {
            ("route overrides", "are")
        };
        format!(
            "default route logging level is {level}; {noun} {} {verb} not checked under AWS parity",
            name_list(&not_logged)
        )
    };
    (Status::Passed, reason)
}

/// Raises every logging level the finding flags to the target level (the configured
/// one, else ERROR when accepted, else INFO), in one UpdateStage per stage; never lowers
/// a level, never sends a level to an HTTP stage.
pub fn plan(input: &PlanInput<'_>, params: &Parameters, settings: &Remediation, out: &mut ResourcePlan) {
    let settings = &settings;
    if let Resource::V2Stage(api, _) = input.resource
        && api.protocol == V2Protocol::Http
    {
        // HTTP APIs do not support execution logging (AWS refuses LoggingLevel).
        return out.unplanned(
            ID,
            UnplannedReason::ManualAction,
            "HTTP APIs do not support execution logging; nothing is sent to HTTP stages"
                .to_string(),
        );
    }
    if !settings.enabled {
        return out.unplanned(
            ID,
            UnplannedReason::Disabled,
            "executionLogging remediation is turned off (enabled: false)".to_string(),
        );
    }
    let levels = Levels {
        accepted: Accepted::new(&params.accepted_levels),
        target: match logging_target(params, settings) {
            Ok(target) => target,
            Err(message) => return out.unplanned(ID, UnplannedReason::InvalidSettings, message),
        },
        precondition: Precondition::CloudWatchRoleArn {
            region: input.region.to_string(),
        },
    };
    let lowered = match input.resource {
        Resource::RestStage(api, stage) => plan_rest_stage(api, stage, input, &levels, out),
        Resource::V2Stage(api, stage) => plan_websocket_stage(api, stage, input, &levels, out),
        Resource::Route(..) | Resource::Integration(..) | Resource::DomainName(..) => Vec::new(),
    };
    if !lowered.is_empty() {
        out.unplanned(
            ID,
            UnplannedReason::ManualAction,
            format!(
                "{} log above the accepted levels; remediation never lowers a logging level (to {}): \
                 lower it by hand or accept INFO in executionLogging.acceptedLevels",
                lowered.join(", "),
                levels.target.as_str()
            ),
        );
    }
}

/// The level execution logging is raised to: the configured one, else ERROR when
/// accepted (least volume, no request detail), else INFO. `Err` when the configured
/// level is not accepted: setting it would not make the stage pass.
fn logging_target(params: &Parameters, settings: &Remediation) -> Result<LoggingLevel, String> {
    let accepted = Accepted::new(&params.accepted_levels);
    match settings.logging_level {
        Some(level) if accepted.levels.contains(&level) => Ok(level),
        Some(level) => Err(format!(
            "remediation loggingLevel {} is not among the accepted levels ({}); set \
             executionLogging.loggingLevel to an accepted level",
            level.as_str(),
            accepted
                .levels
                .iter()
                .map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None if accepted.levels.contains(&LoggingLevel::Error) => Ok(LoggingLevel::Error),
        None => Ok(LoggingLevel::Info),
    }
}

/// What planning one stage's levels needs.
struct Levels {
    accepted: Accepted,
    target: LoggingLevel,
    precondition: Precondition,
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

impl Levels {
    fn fix(&self, current: Option<&str>) -> LevelFix {
        if self.accepted.accepts(current) {
            LevelFix::Fine
        } else if LoggingLevel::rank_of(current) > self.target.rank() {
            LevelFix::WouldLower
        } else {
            LevelFix::Raise
        }
    }

    fn item(&self, setting: String, before: Option<&str>, edit: Edit) -> ChangeItem {
        ChangeItem {
            control_id: ID,
            setting,
            before: shown(before),
            after: self.target.as_str().to_string(),
            edit,
            precondition: Some(self.precondition.clone()),
        }
    }

    fn rest_item(&self, setting: String, before: Option<&str>, path: String) -> ChangeItem {
        self.item(
            setting,
            before,
            Edit::RestReplace {
                path,
                value: PatchValue::Literal(self.target.as_str().to_string()),
            },
        )
    }
}

/// Returns the settings left alone because raising them would lower them.
fn plan_rest_stage(
    api: &RestApi,
    stage: &RestStage,
    input: &PlanInput<'_>,
    levels: &Levels,
    out: &mut ResourcePlan,
) -> Vec<String> {
    let operation = rest_update_stage(api, stage);
    let mut lowered = Vec::new();
    let stage_wide = stage.method_settings.get(STAGE_WIDE_KEY);
    if stage_wide.is_some() || stage_wide_required(stage, input.semantics) {
        let level = stage_wide.and_then(|s| s.logging_level.as_deref());
        match levels.fix(level) {
            LevelFix::Fine => {}
            LevelFix::WouldLower => lowered.push(format!("stage-wide (*/*) at {}", shown(level))),
            LevelFix::Raise => out.item(
                &operation,
                levels.rest_item(
                    "stage-wide (*/*) logging level".to_string(),
                    level,
                    "/*/*/logging/loglevel".to_string(),
                ),
            ),
        }
    }
    for (key, setting) in &stage.method_settings {
        if key == STAGE_WIDE_KEY {
            continue;
        }
        let level = setting.logging_level.as_deref();
        match levels.fix(level) {
            LevelFix::Fine => {}
            LevelFix::WouldLower => {
                lowered.push(format!("{} at {}", method_setting_name(key), shown(level)))
            }
            LevelFix::Raise => out.item(
                &operation,
                levels.rest_item(
                    format!("{} logging level", method_setting_name(key)),
                    level,
                    format!("/{key}/logging/loglevel"),
                ),
            ),
        }
    }
    lowered
}

/// Returns the settings left alone because raising them would lower them.
fn plan_websocket_stage(
    api: &V2Api,
    stage: &V2Stage,
    input: &PlanInput<'_>,
    levels: &Levels,
    out: &mut ResourcePlan,
) -> Vec<String> {
    let operation = v2_update_stage(api, stage);
    let mut lowered = Vec::new();
    let default = stage.default_logging_level.as_deref();
    match levels.fix(default) {
        LevelFix::Fine => {}
        LevelFix::WouldLower => lowered.push(format!("default route at {}", shown(default))),
        LevelFix::Raise => out.item(
            &operation,
            levels.item(
                "default route logging level".to_string(),
                default,
                Edit::DefaultRouteLoggingLevel {
                    level: levels.target,
                },
            ),
        ),
    }
    // Route overrides are changed only where they are checked; an entry without a
    // level inherits the default (raised above).
    if route_overrides_checked(input.semantics) {
        for (route_key, level) in &stage.route_logging_levels {
            let Some(level) = level.as_deref() else {
                continue;
            };
            match levels.fix(Some(level)) {
                LevelFix::Fine => {}
                LevelFix::WouldLower => lowered.push(format!("route {route_key} at {level}")),
                LevelFix::Raise => out.item(
                    &operation,
                    levels.item(
                        format!("route {route_key} logging level"),
                        Some(level),
                        Edit::RouteLoggingLevel {
                            route_key: route_key.clone(),
                            level: levels.target,
                        },
                    ),
                ),
            }
        }
    }
    lowered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::ControlParameters;
    use crate::controls::test_support::*;
    use crate::model::V2Protocol;

    fn info_only() -> ControlParameters {
        ControlParameters {
            execution_logging: Parameters {
                accepted_levels: vec![LoggingLevel::Info],
            },
            ..ControlParameters::default()
        }
    }

    fn websocket_region(stage: V2Stage) -> RegionInventory {
        region_with(
            Vec::new(),
            vec![v2_api(
                "ws1",
                V2Protocol::WebSocket,
                vec![stage],
                Vec::new(),
            )],
        )
    }

    fn websocket_stage(default: Option<&str>, routes: &[(&str, Option<&str>)]) -> V2Stage {
        V2Stage {
            default_logging_level: default.map(str::to_string),
            route_logging_levels: routes
                .iter()
                .map(|(key, level)| ((*key).to_string(), level.map(str::to_string)))
                .collect(),
            ..v2_stage()
        }
    }

    fn rest(
        settings: &[(&str, crate::inventory::MethodSetting)],
        params: &ControlParameters,
    ) -> Finding {
        run_one(ID, &rest_region(rest_stage(settings)), params)
    }

    #[test]
    fn rest_stage_with_stage_wide_info_passes() {
        let finding = rest(&[("*/*", logging("INFO"))], &ControlParameters::default());
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(
            finding.reason,
            "execution logging is at INFO for all methods (stage-wide */*)"
        );
    }

    #[test]
    fn rest_stage_with_stage_wide_error_passes_by_default() {
        let finding = rest(&[("*/*", logging("ERROR"))], &ControlParameters::default());
        assert_eq!(finding.status, Status::Passed);
    }

    #[test]
    fn rest_stage_with_stage_wide_off_fails_and_says_the_level() {
        let finding = rest(&[("*/*", logging("OFF"))], &ControlParameters::default());
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "stage-wide (*/*) logging level is OFF; set it to ERROR or INFO"
        );
    }

    #[test]
    fn rest_stage_without_method_settings_fails() {
        let finding = rest(&[], &ControlParameters::default());
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding.reason.starts_with("stage has no method settings"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn rest_stage_without_method_settings_fails_under_aws_parity_too() {
        assert_eq!(rest(&[], &parity()).status, Status::Failed);
    }

    #[test]
    fn rest_stage_with_one_method_at_off_fails_and_names_the_method() {
        let finding = rest(
            &[
                ("*/*", logging("INFO")),
                ("~1orders~1{id}/GET", logging("OFF")),
            ],
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "method override GET /orders/{id} (OFF) is not logged at ERROR or INFO; \
             set its logging level to ERROR or INFO"
        );
    }

    #[test]
    fn rest_stage_with_several_methods_off_names_all_of_them() {
        let finding = rest(
            &[
                ("*/*", logging("INFO")),
                ("~1orders/POST", logging("OFF")),
                ("~1orders~1{id}/DELETE", logging("OFF")),
                ("~1health/GET", logging("ERROR")),
            ],
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding.reason.starts_with(
                "method overrides POST /orders (OFF) and DELETE /orders/{id} (OFF) are not logged"
            ),
            "{}",
            finding.reason
        );
        assert!(!finding.reason.contains("/health"), "{}", finding.reason);
    }

    #[test]
    fn rest_stage_with_stage_wide_off_and_a_method_off_names_both_problems() {
        let finding = rest(
            &[("*/*", logging("OFF")), ("~1/GET", logging("OFF"))],
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .contains("stage-wide (*/*) logging level is OFF"),
            "{}",
            finding.reason
        );
        assert!(
            finding.reason.contains("method override GET / (OFF)"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn rest_stage_with_stage_wide_off_but_every_override_info_still_fails() {
        let finding = rest(
            &[("*/*", logging("OFF")), ("~1orders/GET", logging("INFO"))],
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
    }

    #[test]
    fn rest_stage_with_stage_wide_info_and_overrides_at_error_passes_and_counts_them() {
        let finding = rest(
            &[
                ("*/*", logging("INFO")),
                ("~1a/GET", logging("ERROR")),
                ("~1b/PUT", logging("INFO")),
            ],
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(
            finding.reason,
            "execution logging is at INFO stage-wide (*/*) and at ERROR or INFO in all 2 method overrides"
        );
    }

    #[test]
    fn rest_stage_with_only_accepted_overrides_fails_in_strict() {
        let finding = rest(
            &[("~1orders/GET", logging("INFO"))],
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .starts_with("stage has no stage-wide (*/*) method setting"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn rest_stage_with_only_accepted_overrides_passes_under_aws_parity() {
        let finding = rest(
            &[
                ("~1orders/GET", logging("INFO")),
                ("~1orders/POST", logging("ERROR")),
            ],
            &parity(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert!(
            finding.reason.contains("AWS parity accepts"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn rest_stage_with_only_overrides_one_of_them_off_fails_under_aws_parity() {
        let finding = rest(
            &[
                ("~1orders/GET", logging("INFO")),
                ("~1orders/POST", logging("OFF")),
            ],
            &parity(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding.reason.contains("POST /orders (OFF)"),
            "{}",
            finding.reason
        );
        assert!(!finding.reason.contains("stage-wide"), "{}", finding.reason);
    }

    #[test]
    fn rest_stage_with_stage_wide_off_fails_under_aws_parity() {
        // Parity forgives a missing */* only: one that is present is checked.
        let finding = rest(
            &[("*/*", logging("OFF")), ("~1orders/GET", logging("INFO"))],
            &parity(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "stage-wide (*/*) logging level is OFF; set it to ERROR or INFO"
        );
    }

    #[test]
    fn rest_stage_with_stage_wide_without_a_level_fails_under_aws_parity() {
        let no_level = crate::inventory::MethodSetting::default();
        let finding = rest(&[("*/*", no_level)], &parity());
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "stage-wide (*/*) method setting has no logging level; set it to ERROR or INFO"
        );
    }

    #[test]
    fn accepting_info_only_fails_a_stage_logging_at_error() {
        let finding = rest(&[("*/*", logging("ERROR"))], &info_only());
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "stage-wide (*/*) logging level is ERROR; set it to INFO"
        );
    }

    #[test]
    fn accepting_info_only_fails_a_method_override_at_error() {
        let finding = rest(
            &[("*/*", logging("INFO")), ("~1pay/POST", logging("ERROR"))],
            &info_only(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .contains("POST /pay (ERROR) is not logged at INFO"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn accepting_info_only_passes_a_stage_at_info() {
        assert_eq!(
            rest(&[("*/*", logging("INFO"))], &info_only()).status,
            Status::Passed
        );
    }

    #[test]
    fn an_empty_accepted_levels_list_means_the_default_error_or_info() {
        let params = ControlParameters {
            execution_logging: Parameters {
                accepted_levels: Vec::new(),
            },
            ..ControlParameters::default()
        };
        assert_eq!(
            rest(&[("*/*", logging("ERROR"))], &params).status,
            Status::Passed
        );
        assert_eq!(
            rest(&[("*/*", logging("OFF"))], &params).status,
            Status::Failed
        );
    }

    #[test]
    fn logging_levels_compare_case_insensitively() {
        assert_eq!(
            rest(&[("*/*", logging("info"))], &ControlParameters::default()).status,
            Status::Passed
        );
    }

    #[test]
    fn an_unknown_logging_level_is_not_accepted() {
        let finding = rest(
            &[("*/*", logging("VERBOSE"))],
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert!(finding.reason.contains("is VERBOSE"), "{}", finding.reason);
    }

    #[test]
    fn a_method_setting_without_a_logging_level_is_not_accepted() {
        let no_level = crate::inventory::MethodSetting::default();
        let finding = rest(&[("*/*", no_level)], &ControlParameters::default());
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "stage-wide (*/*) method setting has no logging level; set it to ERROR or INFO"
        );
    }

    #[test]
    fn rest_finding_carries_the_stage_arn_type_severity_and_region() {
        let finding = rest(&[("*/*", logging("INFO"))], &ControlParameters::default());
        assert_eq!(finding.control_id, ID);
        assert_eq!(finding.resource_type, ResourceType::RestStage);
        assert_eq!(
            finding.resource_arn,
            "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod"
        );
        assert_eq!(finding.region, "us-east-1");
        assert_eq!(finding.severity, Severity::Medium);
        assert!(!finding.exempted);
    }

    #[test]
    fn websocket_stage_with_default_info_passes() {
        let finding = run_one(
            ID,
            &websocket_region(websocket_stage(Some("INFO"), &[])),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(finding.resource_type, ResourceType::V2Stage);
        assert_eq!(
            finding.resource_arn,
            "arn:aws:apigateway:us-east-1::/apis/ws1/stages/prod"
        );
        assert_eq!(finding.reason, "default route logging level is INFO");
    }

    #[test]
    fn websocket_stage_with_accepted_route_overrides_passes_and_counts_them() {
        let finding = run_one(
            ID,
            &websocket_region(websocket_stage(
                Some("ERROR"),
                &[("$connect", Some("INFO")), ("$default", Some("ERROR"))],
            )),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(
            finding.reason,
            "default route logging level is ERROR and all 2 route overrides log at ERROR or INFO"
        );
    }

    #[test]
    fn websocket_stage_without_default_logging_level_fails() {
        let finding = run_one(
            ID,
            &websocket_region(websocket_stage(None, &[])),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .starts_with("stage has no default route logging level"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn websocket_stage_with_default_off_fails() {
        let finding = run_one(
            ID,
            &websocket_region(websocket_stage(Some("OFF"), &[])),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "default route logging level is OFF; set DefaultRouteSettings.LoggingLevel to ERROR or INFO"
        );
    }

    #[test]
    fn websocket_stage_with_a_route_override_off_fails_and_names_the_route() {
        let finding = run_one(
            ID,
            &websocket_region(websocket_stage(
                Some("INFO"),
                &[("$default", Some("OFF")), ("sendMessage", Some("ERROR"))],
            )),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "route override $default (OFF) is not logged at ERROR or INFO; \
             set its RouteSettings LoggingLevel to ERROR or INFO"
        );
    }

    #[test]
    fn websocket_route_override_off_is_ignored_under_aws_parity_but_mentioned() {
        let finding = run_one(
            ID,
            &websocket_region(websocket_stage(Some("INFO"), &[("$default", Some("OFF"))])),
            &parity(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert!(
            finding
                .reason
                .contains("route override $default (OFF) is not checked under AWS parity"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn websocket_stage_without_default_logging_level_fails_under_aws_parity() {
        // docs/controls/APIGateway.1.md: parity ignores route overrides only; a missing default level
        // fails, even when every route override logs.
        for routes in [
            &[][..],
            &[("$connect", Some("INFO")), ("$default", Some("ERROR"))][..],
        ] {
            let finding = run_one(
                ID,
                &websocket_region(websocket_stage(None, routes)),
                &parity(),
            );
            assert_eq!(finding.status, Status::Failed, "{routes:?}");
            assert_eq!(
                finding.reason,
                "stage has no default route logging level, so routes without an override are not \
                 logged; set DefaultRouteSettings.LoggingLevel to ERROR or INFO",
                "{routes:?}"
            );
        }
    }

    #[test]
    fn websocket_default_off_fails_under_aws_parity_even_if_routes_log() {
        let finding = run_one(
            ID,
            &websocket_region(websocket_stage(Some("OFF"), &[("$connect", Some("INFO"))])),
            &parity(),
        );
        assert_eq!(finding.status, Status::Failed);
    }

    #[test]
    fn websocket_route_entry_without_a_level_inherits_the_default() {
        let finding = run_one(
            ID,
            &websocket_region(websocket_stage(Some("ERROR"), &[("$connect", None)])),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
    }

    #[test]
    fn accepting_info_only_fails_a_websocket_route_at_error() {
        let finding = run_one(
            ID,
            &websocket_region(websocket_stage(
                Some("INFO"),
                &[("$disconnect", Some("ERROR"))],
            )),
            &info_only(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .contains("$disconnect (ERROR) is not logged at INFO"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn http_api_stage_is_not_applicable_with_the_v2_stage_type() {
        let region = region_with(
            Vec::new(),
            vec![v2_api(
                "http1",
                V2Protocol::Http,
                vec![v2_stage()],
                Vec::new(),
            )],
        );
        let finding = run_one(ID, &region, &ControlParameters::default());
        assert_eq!(finding.status, Status::NotApplicable);
        assert_eq!(finding.resource_type, ResourceType::V2Stage);
        assert_eq!(
            finding.resource_arn,
            "arn:aws:apigateway:us-east-1::/apis/http1/stages/prod"
        );
        assert!(
            finding
                .reason
                .contains("HTTP APIs do not support execution logging")
        );
    }

    #[test]
    fn every_stage_of_every_api_gets_exactly_one_finding() {
        let mut second = rest_stage(&[("*/*", logging("INFO"))]);
        second.name = "dev".to_string();
        let region = region_with(
            vec![rest_api("r1", vec![rest_stage(&[]), second])],
            vec![
                v2_api("ws1", V2Protocol::WebSocket, vec![v2_stage()], Vec::new()),
                v2_api("http1", V2Protocol::Http, vec![v2_stage()], Vec::new()),
            ],
        );
        let findings = run(ID, &region, &ControlParameters::default());
        assert_eq!(findings.len(), 4);
    }

    /// The specification (securityhub-apigateway-controls.md), field by field, in its
    /// own words: the test is its letter in code.
    #[test]
    fn catalog_entry_matches_the_specification() {
        assert_matches_spec(
            &META,
            &SpecEntry {
                title: "API Gateway REST and WebSocket API execution logging should be enabled",
                severity: Severity::Medium,
                category: "Identify > Logging",
                resource_types: &["AWS::ApiGateway::Stage", "AWS::ApiGatewayV2::Stage"],
                related_requirements: NIST_LOGGING,
                config_rule: "https://docs.aws.amazon.com/config/latest/developerguide/api-gw-execution-logging-enabled.html",
                unsupported_regions: &["Africa (Cape Town)", "Europe (Milan)", "Middle East (UAE)"],
                remediation_url: LOGGING_GUIDE,
            },
        );
    }
}
