//! plan(): one test per remediation and per safety rule (each fails if its rule is
//! broken), then a property test over generated stages.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::controls::AccessLogRemediation;
use crate::controls::client_certificate::{
    CertificateRemediation, Parameters as ClientCertificateParameters,
};
use crate::controls::domain_tls_policy::{EDGE_POLICIES, PolicyRemediation, REGIONAL_POLICIES};
use crate::controls::execution_logging::{
    Parameters as ExecutionLoggingParameters, Remediation as ExecutionLoggingRemediation,
};
use crate::controls::route_authorization::AuthorizationType;
use crate::controls::waf_acl::{Parameters as WafParameters, WebAclRemediation};
use crate::controls::{
    ControlRemediations, RemediationSwitch, STAGE_WIDE_KEY, Semantics, all_ids, non_empty,
};
use crate::inventory::{
    AccessLogSettings, DomainName, MethodSetting, RestApi, RestStage, Route, V2Api, V2Stage,
};
use crate::model::arn::rest_stage_arn;
use crate::model::plan::{Edit, GENERATED_CERTIFICATE_PLACEHOLDER, PatchValue, Precondition};
use crate::model::{LoggingLevel, V2Protocol};
use crate::pipeline::evaluate::evaluate;

const REGION: &str = "us-east-1";
const ACL: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/api/0a1b";
const OTHER_ACL: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/old/9z8y";
const WEST_ACL: &str = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/api/0a1b";
const LOG_GROUP: &str = "arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access";
const WEST_LOG_GROUP: &str = "arn:aws:logs:eu-west-1:123456789012:log-group:/apigw/access";
const FORMAT: &str = r#"{"requestId":"$context.requestId"}"#;

fn setting(level: Option<&str>, caching: bool, encrypted: bool) -> MethodSetting {
    MethodSetting {
        logging_level: level.map(str::to_string),
        caching_enabled: caching,
        cache_data_encrypted: encrypted,
    }
}

fn rest_stage(name: &str, settings: &[(&str, MethodSetting)]) -> RestStage {
    RestStage {
        name: name.to_string(),
        method_settings: settings
            .iter()
            .map(|(key, s)| ((*key).to_string(), s.clone()))
            .collect(),
        ..RestStage::default()
    }
}

fn rest_inventory(stages: Vec<RestStage>) -> Inventory {
    Inventory {
        regions: vec![RegionInventory {
            region: REGION.to_string(),
            rest_apis: vec![RestApi {
                id: "a1".to_string(),
                name: "orders".to_string(),
                stages,
                ..RestApi::default()
            }],
            v2_apis: Vec::new(),
            domain_names: Vec::new(),
        }],
        errors: Vec::new(),
    }
}

fn v2_inventory(protocol: V2Protocol, stage: V2Stage, routes: Vec<Route>) -> Inventory {
    Inventory {
        regions: vec![RegionInventory {
            region: REGION.to_string(),
            rest_apis: Vec::new(),
            v2_apis: vec![V2Api {
                id: "w1".to_string(),
                name: "chat".to_string(),
                protocol,
                tags: BTreeMap::new(),
                stages: vec![stage],
                routes,
                integrations: Vec::new(),
            }],
            domain_names: Vec::new(),
        }],
        errors: Vec::new(),
    }
}

fn findings(inventory: &Inventory, params: &ControlParameters) -> Vec<Finding> {
    evaluate(&inventory.regions, Some("123456789012"), &all_ids(), params)
}

fn plan_for(
    inventory: &Inventory,
    params: &ControlParameters,
    settings: &RemediationSettings,
) -> RemediationPlan {
    plan(
        [inventory],
        &findings(inventory, params),
        params,
        settings,
        &OwnershipTags::default(),
    )
}

fn all_on() -> RemediationSettings {
    RemediationSettings {
        controls: ControlRemediations {
            client_certificate: Some(CertificateRemediation {
                generate: true,
                certificate_id: None,
            }),
            waf: Some(WebAclRemediation {
                web_acl_arns: vec![ACL.to_string()],
                web_acl_arn: None,
            }),
            access_logging: Some(AccessLogRemediation {
                destination_arns: vec![LOG_GROUP.to_string()],
                destination_arn: None,
                format: FORMAT.to_string(),
            }),
            ..ControlRemediations::default()
        },
        ..RemediationSettings::default()
    }
}

fn accepted(levels: &[LoggingLevel]) -> ControlParameters {
    ControlParameters {
        execution_logging: ExecutionLoggingParameters {
            accepted_levels: levels.to_vec(),
        },
        ..ControlParameters::default()
    }
}

fn rest_arn(stage: &str) -> String {
    rest_stage_arn(REGION, "a1", stage)
}

fn unplanned_for(plan: &RemediationPlan, control: ControlId) -> Vec<&Unplanned> {
    plan.unplanned
        .iter()
        .filter(|u| u.control_id == control)
        .collect()
}

fn paths(change: &Change) -> Vec<String> {
    change
        .items
        .iter()
        .filter_map(|item| match &item.edit {
            Edit::RestReplace { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_rest_stage_gets_one_update_stage_with_all_its_patch_operations() {
    let stage = rest_stage(
        "prod",
        &[
            ("*/*", setting(Some("OFF"), false, false)),
            ("~1orders~1{id}/GET", setting(Some("OFF"), true, false)),
        ],
    );
    let plan = plan_for(
        &rest_inventory(vec![stage]),
        &ControlParameters::default(),
        &RemediationSettings::default(),
    );
    assert_eq!(plan.changes.len(), 1, "{plan:#?}");
    let change = &plan.changes[0];
    assert_eq!(
        change.operation,
        Operation::RestUpdateStage {
            rest_api_id: "a1".into(),
            stage_name: "prod".into()
        }
    );
    assert_eq!(change.call.operation, "apigateway:UpdateStage");
    assert_eq!(change.call.http, "PATCH /restapis/a1/stages/prod");
    assert_eq!(
        change.call.request,
        json!({"patchOperations": [
            {"op": "replace", "path": "/*/*/logging/loglevel", "value": "ERROR"},
            {"op": "replace", "path": "/~1orders~1{id}/GET/logging/loglevel", "value": "ERROR"},
            {"op": "replace", "path": "/tracingEnabled", "value": "true"},
            {"op": "replace", "path": "/~1orders~1{id}/GET/caching/dataEncrypted", "value": "true"},
        ]})
    );
    assert_eq!(
        change.controls(),
        vec![
            crate::controls::execution_logging::ID,
            crate::controls::xray_tracing::ID,
            crate::controls::cache_encryption::ID
        ]
    );
    let logging = &change.items[1];
    assert_eq!(
        (
            logging.setting.as_str(),
            logging.before.as_str(),
            logging.after.as_str()
        ),
        ("GET /orders/{id} logging level", "OFF", "ERROR")
    );
    assert_eq!(
        logging.precondition,
        Some(Precondition::CloudWatchRoleArn {
            region: REGION.into()
        })
    );
}

fn with_semantics(semantics: Semantics) -> ControlParameters {
    ControlParameters {
        semantics,
        ..ControlParameters::default()
    }
}

/// Per-method overrides, one of them not logged, and no stage-wide `*/*` entry.
fn overrides_without_stage_wide() -> RestStage {
    rest_stage(
        "prod",
        &[
            ("~1a/GET", setting(Some("INFO"), false, false)),
            ("~1b/POST", setting(Some("OFF"), false, false)),
        ],
    )
}

#[test]
fn strict_adds_the_stage_wide_level_to_a_stage_with_only_overrides() {
    let plan = plan_for(
        &rest_inventory(vec![overrides_without_stage_wide()]),
        &with_semantics(Semantics::Strict),
        &RemediationSettings::default(),
    );
    assert_eq!(
        paths(&plan.changes[0]),
        [
            "/*/*/logging/loglevel",
            "/~1b/POST/logging/loglevel",
            "/tracingEnabled"
        ]
    );
    let stage_wide = &plan.changes[0].items[0];
    assert_eq!(
        (stage_wide.before.as_str(), stage_wide.after.as_str()),
        ("none", "ERROR")
    );
}

#[test]
fn aws_parity_fixes_only_the_overrides_of_a_stage_with_no_stage_wide_entry() {
    // AWS parity passes a stage whose entries are all accepted overrides, so a missing
    // */* is not added: only the override that is not logged is raised.
    let plan = plan_for(
        &rest_inventory(vec![overrides_without_stage_wide()]),
        &with_semantics(Semantics::AwsParity),
        &RemediationSettings::default(),
    );
    assert_eq!(
        paths(&plan.changes[0]),
        ["/~1b/POST/logging/loglevel", "/tracingEnabled"]
    );
    assert!(unplanned_for(&plan, crate::controls::execution_logging::ID).is_empty());
}

#[test]
fn a_stage_without_method_settings_gets_the_stage_wide_level_under_both_semantics() {
    for semantics in [Semantics::Strict, Semantics::AwsParity] {
        let plan = plan_for(
            &rest_inventory(vec![rest_stage("prod", &[])]),
            &with_semantics(semantics),
            &RemediationSettings::default(),
        );
        assert_eq!(
            paths(&plan.changes[0]),
            ["/*/*/logging/loglevel", "/tracingEnabled"],
            "{semantics:?}"
        );
    }
}

#[test]
fn info_is_never_lowered_to_error() {
    // INFO is accepted: it stays, only the OFF override is raised to the ERROR target.
    let stage = rest_stage(
        "prod",
        &[
            ("*/*", setting(Some("INFO"), false, false)),
            ("~1a/GET", setting(Some("OFF"), false, false)),
        ],
    );
    let plan = plan_for(
        &rest_inventory(vec![stage.clone()]),
        &ControlParameters::default(),
        &RemediationSettings::default(),
    );
    assert_eq!(
        paths(&plan.changes[0]),
        ["/~1a/GET/logging/loglevel", "/tracingEnabled"]
    );

    // Only ERROR accepted: fixing INFO would lower it, so it is left to a person.
    let plan = plan_for(
        &rest_inventory(vec![stage]),
        &accepted(&[LoggingLevel::Error]),
        &RemediationSettings::default(),
    );
    assert!(
        plan.changes
            .iter()
            .flat_map(paths)
            .all(|p| p != "/*/*/logging/loglevel"),
        "{plan:#?}"
    );
    let manual = unplanned_for(&plan, crate::controls::execution_logging::ID);
    assert_eq!(manual.len(), 1);
    assert_eq!(manual[0].reason, UnplannedReason::ManualAction);
    assert!(
        manual[0].message.contains("never lowers"),
        "{}",
        manual[0].message
    );
}

#[test]
fn error_is_raised_to_info_when_only_info_is_accepted() {
    let stage = rest_stage("prod", &[("*/*", setting(Some("ERROR"), false, false))]);
    let plan = plan_for(
        &rest_inventory(vec![stage]),
        &accepted(&[LoggingLevel::Info]),
        &RemediationSettings::default(),
    );
    assert_eq!(plan.changes[0].items[0].after, "INFO");
    assert_eq!(plan.changes[0].items[0].before, "ERROR");
}

#[test]
fn a_configured_level_that_is_not_accepted_is_refused_not_applied() {
    let mut settings = RemediationSettings::default();
    settings.controls.execution_logging.logging_level = Some(LoggingLevel::Error);
    let plan = plan_for(
        &rest_inventory(vec![rest_stage("prod", &[])]),
        &accepted(&[LoggingLevel::Info]),
        &settings,
    );
    assert!(
        plan.changes
            .iter()
            .flat_map(paths)
            .all(|p| !p.contains("loglevel"))
    );
    assert_eq!(
        unplanned_for(&plan, crate::controls::execution_logging::ID)[0].reason,
        UnplannedReason::InvalidSettings
    );
}

#[test]
fn only_allowed_paths_are_ever_patched_and_only_with_replace() {
    // Every REST control failing at once, caching latent (cluster off) on */*.
    let mut stage = rest_stage(
        "prod",
        &[
            ("*/*", setting(Some("OFF"), true, false)),
            ("~1x/POST", setting(None, false, false)),
        ],
    );
    stage.cache_cluster_enabled = false;
    let plan = plan_for(
        &rest_inventory(vec![stage]),
        &ControlParameters::default(),
        &all_on(),
    );
    let ops = plan.changes[0].call.request["patchOperations"]
        .as_array()
        .expect("ops")
        .clone();
    assert!(!ops.is_empty());
    for op in ops {
        assert_eq!(op["op"], "replace");
        let path = op["path"].as_str().expect("path");
        assert!(
            path.ends_with("/logging/loglevel")
                || path.ends_with("/caching/dataEncrypted")
                || path == "/tracingEnabled"
                || path == "/clientCertificateId",
            "unexpected path {path}"
        );
        assert!(
            !path.contains("dataTrace")
                && !path.contains("caching/enabled")
                && !path.contains("cacheCluster")
        );
        if path.ends_with("/caching/dataEncrypted") || path == "/tracingEnabled" {
            assert_eq!(op["value"], "true");
        }
    }
}

#[test]
fn caching_is_never_turned_on_to_encrypt_it() {
    // The cache cluster is on but no method caches: APIGateway.5 passes, nothing planned;
    // a method that does not cache is never given cache settings.
    let mut stage = rest_stage("prod", &[("*/*", setting(Some("ERROR"), false, false))]);
    stage.cache_cluster_enabled = true;
    stage.tracing_enabled = true;
    let plan = plan_for(
        &rest_inventory(vec![stage]),
        &ControlParameters::default(),
        &RemediationSettings::default(),
    );
    assert!(plan.changes.is_empty(), "{plan:#?}");
}

#[test]
fn tracing_and_cache_encryption_can_be_turned_off() {
    let settings = RemediationSettings {
        controls: ControlRemediations {
            xray_tracing: RemediationSwitch { enabled: false },
            cache_encryption: RemediationSwitch { enabled: false },
            execution_logging: ExecutionLoggingRemediation {
                enabled: false,
                logging_level: None,
            },
            ..ControlRemediations::default()
        },
        ..RemediationSettings::default()
    };
    let stage = rest_stage("prod", &[("*/*", setting(Some("OFF"), true, false))]);
    let plan = plan_for(
        &rest_inventory(vec![stage]),
        &ControlParameters::default(),
        &settings,
    );
    assert!(plan.changes.is_empty());
    let disabled: Vec<ControlId> = plan
        .unplanned
        .iter()
        .filter(|u| u.reason == UnplannedReason::Disabled)
        .map(|u| u.control_id)
        .collect();
    for control in [
        crate::controls::execution_logging::ID,
        crate::controls::xray_tracing::ID,
        crate::controls::cache_encryption::ID,
    ] {
        assert!(disabled.contains(&control), "{control}: {plan:#?}");
    }
}

#[test]
fn exempted_findings_are_never_touched() {
    let stage = rest_stage("prod", &[("*/*", setting(Some("OFF"), false, false))]);
    let inventory = rest_inventory(vec![stage]);
    let params = ControlParameters::default();
    let mut found = findings(&inventory, &params);
    for f in &mut found {
        if f.control_id == crate::controls::execution_logging::ID {
            f.exempted = true;
        }
    }
    let partly = plan(
        [&inventory],
        &found,
        &params,
        &RemediationSettings::default(),
        &OwnershipTags::default(),
    );
    assert_eq!(
        partly.changes[0].controls(),
        vec![crate::controls::xray_tracing::ID]
    );
    assert!(unplanned_for(&partly, crate::controls::execution_logging::ID).is_empty());

    for f in &mut found {
        f.exempted = true;
    }
    let none = plan(
        [&inventory],
        &found,
        &params,
        &all_on(),
        &OwnershipTags::default(),
    );
    assert!(
        none.changes.is_empty() && none.unplanned.is_empty(),
        "{none:#?}"
    );
}

#[test]
fn passing_findings_are_never_planned() {
    let mut stage = rest_stage("prod", &[("*/*", setting(Some("OFF"), false, false))]);
    stage.tracing_enabled = true;
    let inventory = rest_inventory(vec![stage]);
    let params = ControlParameters::default();
    let mut found = findings(&inventory, &params);
    // Pretend the scan said .1 passed: nothing may be planned for it.
    for f in &mut found {
        if f.control_id == crate::controls::execution_logging::ID {
            f.status = Status::Passed;
        }
    }
    let plan = plan(
        [&inventory],
        &found,
        &params,
        &RemediationSettings::default(),
        &OwnershipTags::default(),
    );
    assert!(plan.changes.is_empty(), "{plan:#?}");
}

#[test]
fn max_changes_per_scan_stops_the_plan_and_keeps_the_rest_pending() {
    let stages = (1..=3)
        .map(|n| {
            rest_stage(
                &format!("s{n}"),
                &[("*/*", setting(Some("ERROR"), false, false))],
            )
        })
        .collect();
    let settings = RemediationSettings {
        max_changes_per_scan: 2,
        ..RemediationSettings::default()
    };
    let plan = plan_for(
        &rest_inventory(stages),
        &ControlParameters::default(),
        &settings,
    );
    let arns: Vec<&str> = plan
        .changes
        .iter()
        .map(|c| c.resource_arn.as_str())
        .collect();
    assert_eq!(arns, [rest_arn("s1"), rest_arn("s2")]);
    assert_eq!(plan.pending.len(), 1);
    assert_eq!(plan.pending[0].resource_arn, rest_arn("s3"));
    assert_eq!(plan.max_changes_per_scan, 2);
}

#[test]
fn stages_owned_elsewhere_are_planned_held_back_and_free_their_place_under_the_limit() {
    use crate::model::plan::HoldReason;
    use crate::pipeline::ownership::{CLOUDFORMATION_STACK_TAG, OPT_OUT_TAG};
    let mut stages: Vec<RestStage> = (1..=4)
        .map(|n| {
            rest_stage(
                &format!("s{n}"),
                &[("*/*", setting(Some("ERROR"), false, false))],
            )
        })
        .collect();
    stages[0]
        .tags
        .insert(OPT_OUT_TAG.to_string(), "false".to_string());
    stages[1]
        .tags
        .insert(CLOUDFORMATION_STACK_TAG.to_string(), "orders".to_string());
    let settings = RemediationSettings {
        max_changes_per_scan: 2,
        ..RemediationSettings::default()
    };
    let planned = plan_for(
        &rest_inventory(stages),
        &ControlParameters::default(),
        &settings,
    );
    let arns = |changes: &[Change]| -> Vec<String> {
        changes.iter().map(|c| c.resource_arn.clone()).collect()
    };
    assert_eq!(arns(&planned.changes), [rest_arn("s3"), rest_arn("s4")]);
    assert!(planned.pending.is_empty());
    let held: Vec<(String, HoldReason, &str)> = planned
        .held
        .iter()
        .map(|h| {
            (
                h.change.resource_arn.clone(),
                h.hold.reason,
                h.hold.owner.as_str(),
            )
        })
        .collect();
    assert_eq!(
        held,
        [
            (
                rest_arn("s1"),
                HoldReason::OptedOut,
                "tag apigwcompliance.io/remediate=false on stage s1"
            ),
            (
                rest_arn("s2"),
                HoldReason::OwnedElsewhere,
                "CloudFormation stack orders"
            ),
        ]
    );
    // The held change is the exact call the owner should make.
    assert_eq!(
        planned.held[1].change.call.operation,
        "apigateway:UpdateStage"
    );
    assert_eq!(planned.held[1].change.items.len(), 1);

    // Without ownership tags the stack's stage is remediated; the opt-out still holds.
    let unowned = plan(
        [&plan_inventory_with_tags()],
        &findings(&plan_inventory_with_tags(), &ControlParameters::default()),
        &ControlParameters::default(),
        &settings,
        &OwnershipTags::new([]),
    );
    assert_eq!(arns(&unowned.changes), [rest_arn("s2")]);
    assert_eq!(unowned.held.len(), 1);
}

/// Two failing stages: `s1` opted out, `s2` in a CloudFormation stack.
fn plan_inventory_with_tags() -> Inventory {
    use crate::pipeline::ownership::{CLOUDFORMATION_STACK_TAG, OPT_OUT_TAG};
    let mut s1 = rest_stage("s1", &[("*/*", setting(Some("ERROR"), false, false))]);
    s1.tags.insert(OPT_OUT_TAG.to_string(), "false".to_string());
    let mut s2 = rest_stage("s2", &[("*/*", setting(Some("ERROR"), false, false))]);
    s2.tags
        .insert(CLOUDFORMATION_STACK_TAG.to_string(), "orders".to_string());
    rest_inventory(vec![s1, s2])
}

#[test]
fn the_web_acl_is_associated_with_a_stage_that_has_none() {
    let mut stage = rest_stage("prod", &[("*/*", setting(Some("ERROR"), false, false))]);
    stage.tracing_enabled = true;
    let plan = plan_for(
        &rest_inventory(vec![stage]),
        &ControlParameters::default(),
        &all_on(),
    );
    assert_eq!(plan.changes.len(), 2, "{plan:#?}");
    let waf = plan
        .changes
        .iter()
        .find(|c| matches!(c.operation, Operation::AssociateWebAcl { .. }))
        .expect("waf change");
    assert_eq!(waf.call.operation, "wafv2:AssociateWebACL");
    assert_eq!(
        waf.call.request,
        json!({"WebACLArn": ACL, "ResourceArn": rest_arn("prod")})
    );
    assert_eq!(
        waf.items[0].precondition,
        Some(Precondition::WebAclExists {
            web_acl_arn: ACL.into()
        })
    );
    assert!(waf.notes.is_empty());
}

#[test]
fn an_existing_web_acl_is_never_replaced_unless_the_allow_list_demands_it() {
    let mut stage = rest_stage("prod", &[("*/*", setting(Some("ERROR"), false, false))]);
    stage.tracing_enabled = true;
    stage.web_acl_arn = Some(OTHER_ACL.to_string());
    stage.client_certificate_id = Some("c9".to_string());
    let inventory = rest_inventory(vec![stage]);

    // Without an allow-list the stage passes; even a forged FAILED finding does not
    // make the plan replace the ACL.
    let params = ControlParameters::default();
    let mut found = findings(&inventory, &params);
    for f in &mut found {
        if f.control_id == crate::controls::waf_acl::ID {
            f.status = Status::Failed;
        }
    }
    let plan_without = plan(
        [&inventory],
        &found,
        &params,
        &all_on(),
        &OwnershipTags::default(),
    );
    assert!(plan_without.changes.is_empty(), "{plan_without:#?}");
    assert_eq!(
        unplanned_for(&plan_without, crate::controls::waf_acl::ID)[0].reason,
        UnplannedReason::ManualAction
    );

    // The allow-list names only ACL: the replacement is planned and said.
    let params = ControlParameters {
        waf: WafParameters {
            accepted_web_acl_arns: vec![ACL.to_string()],
        },
        ..ControlParameters::default()
    };
    let plan = plan_for(&inventory, &params, &all_on());
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].items[0].before, OTHER_ACL);
    assert_eq!(
        plan.changes[0].notes,
        [format!(
            "replaces web ACL {OTHER_ACL}, which acceptedWebAclArns does not list"
        )]
    );
}

#[test]
fn a_stage_in_a_region_with_no_web_acl_named_is_a_blocked_precondition() {
    let mut settings = all_on();
    settings.controls.waf = Some(WebAclRemediation {
        web_acl_arns: Vec::new(),
        web_acl_arn: Some(WEST_ACL.to_string()),
    });
    let plan = plan_for(
        &rest_inventory(vec![rest_stage("prod", &[])]),
        &ControlParameters::default(),
        &settings,
    );
    assert!(
        plan.changes
            .iter()
            .all(|c| !matches!(c.operation, Operation::AssociateWebAcl { .. }))
    );
    let blocked = unplanned_for(&plan, crate::controls::waf_acl::ID);
    assert_eq!(blocked[0].reason, UnplannedReason::BlockedPrecondition);
    // The only web ACL named is in eu-west-1; the stage is in us-east-1.
    assert_eq!(
        blocked[0].message,
        "no web ACL named for us-east-1: add one to spec.remediation.controls.waf.webAclArns"
    );
}

#[test]
fn a_web_acl_outside_the_allow_list_is_refused() {
    let params = ControlParameters {
        waf: WafParameters {
            accepted_web_acl_arns: vec![OTHER_ACL.to_string()],
        },
        ..ControlParameters::default()
    };
    let plan = plan_for(
        &rest_inventory(vec![rest_stage("prod", &[])]),
        &params,
        &all_on(),
    );
    assert_eq!(
        unplanned_for(&plan, crate::controls::waf_acl::ID)[0].reason,
        UnplannedReason::InvalidSettings
    );
}

#[test]
fn without_a_web_acl_setting_apigateway_4_is_not_remediated() {
    let plan = plan_for(
        &rest_inventory(vec![rest_stage("prod", &[])]),
        &ControlParameters::default(),
        &RemediationSettings::default(),
    );
    assert_eq!(
        unplanned_for(&plan, crate::controls::waf_acl::ID)[0].reason,
        UnplannedReason::Disabled
    );
}

#[test]
fn client_certificates_are_opt_in() {
    let inventory = rest_inventory(vec![rest_stage("prod", &[])]);
    let plan = plan_for(
        &inventory,
        &ControlParameters::default(),
        &RemediationSettings::default(),
    );
    assert!(
        plan.changes[0]
            .items
            .iter()
            .all(|i| i.control_id != crate::controls::client_certificate::ID)
    );
    assert_eq!(
        unplanned_for(&plan, crate::controls::client_certificate::ID)[0].reason,
        UnplannedReason::Disabled
    );

    let plan = plan_for(&inventory, &ControlParameters::default(), &all_on());
    let item = plan.changes[0]
        .items
        .iter()
        .find(|i| i.control_id == crate::controls::client_certificate::ID)
        .expect("cert item");
    assert_eq!(
        item.edit,
        Edit::RestReplace {
            path: "/clientCertificateId".into(),
            value: PatchValue::GeneratedClientCertificate
        }
    );
    assert_eq!(item.after, GENERATED_CERTIFICATE_PLACEHOLDER);
}

#[test]
fn a_generated_certificate_cannot_satisfy_an_allow_list() {
    let params = ControlParameters {
        client_certificate: ClientCertificateParameters {
            accepted_certificate_ids: vec!["c1".into()],
            ..ClientCertificateParameters::default()
        },
        ..ControlParameters::default()
    };
    let plan = plan_for(
        &rest_inventory(vec![rest_stage("prod", &[])]),
        &params,
        &all_on(),
    );
    assert_eq!(
        unplanned_for(&plan, crate::controls::client_certificate::ID)[0].reason,
        UnplannedReason::InvalidSettings
    );

    // A named certificate from the list replaces one that is not listed, and says so.
    let mut stage = rest_stage("prod", &[]);
    stage.client_certificate_id = Some("old".into());
    let mut settings = all_on();
    settings.controls.client_certificate = Some(CertificateRemediation {
        generate: false,
        certificate_id: Some("c1".into()),
    });
    let plan = plan_for(&rest_inventory(vec![stage]), &params, &settings);
    let change = &plan.changes[0];
    assert!(paths(change).contains(&"/clientCertificateId".to_string()));
    assert!(
        change.notes[0].contains("replaces client certificate old"),
        "{:?}",
        change.notes
    );
}

fn websocket_stage(default: Option<&str>, routes: &[(&str, Option<&str>)]) -> V2Stage {
    V2Stage {
        name: "live".into(),
        default_logging_level: default.map(str::to_string),
        route_logging_levels: routes
            .iter()
            .map(|(k, l)| ((*k).to_string(), l.map(str::to_string)))
            .collect(),
        access_log: Some(AccessLogSettings {
            destination_arn: Some(LOG_GROUP.into()),
            format: Some(FORMAT.into()),
        }),
        ..V2Stage::default()
    }
}

#[test]
fn websocket_default_and_route_levels_are_raised_in_one_v2_update_stage() {
    let stage = websocket_stage(
        Some("OFF"),
        &[
            ("$default", Some("OFF")),
            ("$connect", Some("INFO")),
            ("ping", None),
        ],
    );
    let plan = plan_for(
        &v2_inventory(V2Protocol::WebSocket, stage, Vec::new()),
        &ControlParameters::default(),
        &all_on(),
    );
    assert_eq!(plan.changes.len(), 1, "{plan:#?}");
    let change = &plan.changes[0];
    assert_eq!(change.call.operation, "apigatewayv2:UpdateStage");
    assert_eq!(change.call.http, "PATCH /v2/apis/w1/stages/live");
    assert_eq!(
        change.call.request,
        json!({
            "defaultRouteSettings": {"loggingLevel": "ERROR"},
            "routeSettings": {"$default": {"loggingLevel": "ERROR"}}
        })
    );
    assert!(change.notes[0].starts_with("read-modify-write"));
}

#[test]
fn aws_parity_leaves_websocket_route_overrides_alone() {
    let stage = websocket_stage(Some("OFF"), &[("$default", Some("OFF"))]);
    let params = ControlParameters {
        semantics: Semantics::AwsParity,
        ..ControlParameters::default()
    };
    let plan = plan_for(
        &v2_inventory(V2Protocol::WebSocket, stage, Vec::new()),
        &params,
        &all_on(),
    );
    assert_eq!(
        plan.changes[0].call.request,
        json!({"defaultRouteSettings": {"loggingLevel": "ERROR"}})
    );
}

#[test]
fn http_stages_are_never_sent_a_logging_level() {
    let stage = V2Stage {
        name: "live".into(),
        ..V2Stage::default()
    };
    let inventory = v2_inventory(V2Protocol::Http, stage, Vec::new());
    let params = ControlParameters::default();
    let mut found = findings(&inventory, &params);
    // Forge a FAILED execution-logging verdict on the HTTP stage.
    for f in &mut found {
        if f.control_id == crate::controls::execution_logging::ID {
            f.status = Status::Failed;
        }
    }
    let plan = plan(
        [&inventory],
        &found,
        &params,
        &all_on(),
        &OwnershipTags::default(),
    );
    let change = &plan.changes[0];
    assert_eq!(change.controls(), vec![crate::controls::access_logging::ID]);
    assert!(change.call.request.get("defaultRouteSettings").is_none());
    assert!(change.call.request.get("routeSettings").is_none());
    assert_eq!(
        unplanned_for(&plan, crate::controls::execution_logging::ID)[0].reason,
        UnplannedReason::ManualAction
    );
}

#[test]
fn access_logging_is_set_from_the_profile() {
    let stage = V2Stage {
        name: "live".into(),
        ..V2Stage::default()
    };
    let plan = plan_for(
        &v2_inventory(V2Protocol::Http, stage, Vec::new()),
        &ControlParameters::default(),
        &all_on(),
    );
    assert_eq!(
        plan.changes[0].call.request,
        json!({"accessLogSettings": {"destinationArn": LOG_GROUP, "format": FORMAT}})
    );
}

#[test]
fn websocket_access_logs_to_a_log_group_need_the_cloudwatch_role_and_http_ones_do_not() {
    let bare = V2Stage {
        name: "live".into(),
        default_logging_level: Some("ERROR".into()),
        ..V2Stage::default()
    };
    for (protocol, expected) in [
        (
            V2Protocol::WebSocket,
            Some(Precondition::CloudWatchRoleArn {
                region: REGION.into(),
            }),
        ),
        (V2Protocol::Http, None),
    ] {
        let plan = plan_for(
            &v2_inventory(protocol, bare.clone(), Vec::new()),
            &ControlParameters::default(),
            &all_on(),
        );
        let items = &plan.changes[0].items;
        assert_eq!(items.len(), 2, "{protocol:?}");
        assert!(
            items.iter().all(|i| i.precondition == expected),
            "{protocol:?}"
        );
    }
}

#[test]
fn an_access_log_destination_that_is_set_is_never_redirected() {
    let stage = V2Stage {
        name: "live".into(),
        access_log: Some(AccessLogSettings {
            destination_arn: Some("arn:aws:logs:us-east-1:123456789012:log-group:theirs".into()),
            format: None,
        }),
        ..V2Stage::default()
    };
    let plan = plan_for(
        &v2_inventory(V2Protocol::Http, stage, Vec::new()),
        &ControlParameters::default(),
        &all_on(),
    );
    assert_eq!(
        plan.changes[0].call.request,
        json!({"accessLogSettings": {"format": FORMAT}})
    );
}

fn stage_with_format_only(format: &str) -> V2Stage {
    V2Stage {
        name: "live".into(),
        access_log: Some(AccessLogSettings {
            destination_arn: None,
            format: Some(format.into()),
        }),
        ..V2Stage::default()
    }
}

#[test]
fn a_kept_format_without_the_request_id_is_noted_not_rewritten() {
    let theirs = "$context.identity.sourceIp $context.status";
    let plan = plan_for(
        &v2_inventory(V2Protocol::Http, stage_with_format_only(theirs), Vec::new()),
        &ControlParameters::default(),
        &all_on(),
    );
    let change = &plan.changes[0];
    // Only the destination is filled: the format someone wrote is kept as it is.
    assert_eq!(
        change.call.request,
        json!({"accessLogSettings": {"destinationArn": LOG_GROUP}})
    );
    assert_eq!(
        change.notes,
        [
            "read-modify-write: apply reads the stage (GetStage) and sends back the whole settings objects it \
             changes, with only these fields changed",
            "keeps the stage's access log format, which lacks $context.requestId, so its lines cannot be traced \
             to their requests; remediation never rewrites a format someone wrote: the owner should add \
             $context.requestId to it (apigatewayv2 UpdateStage AccessLogSettings.Format)",
        ]
    );
    assert!(unplanned_for(&plan, crate::controls::access_logging::ID).is_empty());
}

#[test]
fn a_kept_format_with_the_request_id_gets_no_note() {
    let plan = plan_for(
        &v2_inventory(
            V2Protocol::Http,
            stage_with_format_only("$context.requestId $context.status"),
            Vec::new(),
        ),
        &ControlParameters::default(),
        &all_on(),
    );
    let change = &plan.changes[0];
    assert_eq!(
        change.call.request,
        json!({"accessLogSettings": {"destinationArn": LOG_GROUP}})
    );
    assert_eq!(change.notes.len(), 1, "{:?}", change.notes);
    assert!(change.notes[0].starts_with("read-modify-write"));
}

#[test]
fn the_access_log_destination_must_be_a_log_group_in_the_stage_region() {
    let stage = V2Stage {
        name: "live".into(),
        ..V2Stage::default()
    };
    let inventory = v2_inventory(V2Protocol::Http, stage, Vec::new());
    let mut settings = all_on();
    settings.controls.access_logging = Some(AccessLogRemediation {
        destination_arns: vec!["arn:aws:s3:::my-bucket".into()],
        destination_arn: None,
        format: FORMAT.into(),
    });
    let plan = plan_for(&inventory, &ControlParameters::default(), &settings);
    assert!(plan.changes.is_empty());
    assert_eq!(
        unplanned_for(&plan, crate::controls::access_logging::ID)[0].reason,
        UnplannedReason::InvalidSettings
    );

    settings.controls.access_logging = Some(AccessLogRemediation {
        destination_arns: Vec::new(),
        destination_arn: Some(WEST_LOG_GROUP.into()),
        format: FORMAT.into(),
    });
    let plan = plan_for(&inventory, &ControlParameters::default(), &settings);
    assert!(plan.changes.is_empty());
    assert_eq!(
        unplanned_for(&plan, crate::controls::access_logging::ID)[0].reason,
        UnplannedReason::BlockedPrecondition
    );

    let plan = plan_for(
        &inventory,
        &ControlParameters::default(),
        &RemediationSettings::default(),
    );
    assert_eq!(
        unplanned_for(&plan, crate::controls::access_logging::ID)[0].reason,
        UnplannedReason::Disabled
    );
}

#[test]
fn route_authorization_is_never_changed_only_explained() {
    let stage = websocket_stage(Some("ERROR"), &[]);
    let routes = vec![Route {
        id: "r1".into(),
        route_key: "$connect".into(),
        authorization_type: None,
    }];
    let plan = plan_for(
        &v2_inventory(V2Protocol::WebSocket, stage, routes),
        &ControlParameters::default(),
        &all_on(),
    );
    assert!(plan.changes.is_empty(), "{plan:#?}");
    let manual = unplanned_for(&plan, crate::controls::route_authorization::ID);
    assert_eq!(manual.len(), 1);
    assert_eq!(manual[0].reason, UnplannedReason::ManualAction);
    assert_eq!(manual[0].resource_arn, v2_route_arn(REGION, "w1", "r1"));
    assert!(
        manual[0].message.contains("never adds authorization"),
        "{}",
        manual[0].message
    );
}

#[test]
fn websocket_route_messages_say_where_authorization_goes_and_when_to_deploy() {
    // The stage does not auto-deploy: $connect needs a deployment after its authorizer;
    // $default cannot carry one, so there is nothing to change or deploy on it.
    let stage = websocket_stage(Some("ERROR"), &[]);
    let routes = ["$connect", "$default"]
        .iter()
        .enumerate()
        .map(|(n, key)| Route {
            id: format!("r{n}"),
            route_key: (*key).into(),
            authorization_type: None,
        })
        .collect();
    let plan = plan_for(
        &v2_inventory(V2Protocol::WebSocket, stage, routes),
        &ControlParameters::default(),
        &all_on(),
    );
    let manual = unplanned_for(&plan, crate::controls::route_authorization::ID);
    let message = |route_id: &str| {
        let arn = v2_route_arn(REGION, "w1", route_id);
        manual
            .iter()
            .find(|u| u.resource_arn == arn)
            .map(|u| u.message.clone())
            .unwrap_or_else(|| panic!("no message for {route_id}: {manual:#?}"))
    };
    let connect = message("r0");
    assert!(
        connect.contains("attaches an authorizer (AWS_IAM or a Lambda authorizer)"),
        "{connect}"
    );
    assert!(
        connect.ends_with("then create a deployment for stages that do not auto-deploy"),
        "{connect}"
    );
    assert!(!connect.contains("JWT"), "{connect}");
    let default = message("r1");
    assert_eq!(
        default,
        "route $default has authorization NONE; only $connect can carry an authorizer on a WebSocket API, \
         so there is nothing to change on this route: the owner authorizes clients at $connect, then sets \
         routeAuthorization.websocketNonConnectRoutes to NotApplicable or exempts the route"
    );
}

#[test]
fn a_finding_for_a_resource_missing_from_the_inventory_is_not_guessed_at() {
    let inventory = rest_inventory(vec![rest_stage("prod", &[])]);
    let params = ControlParameters::default();
    let found = findings(&inventory, &params);
    let plan = plan(
        [&Inventory::default()],
        &found,
        &params,
        &RemediationSettings::default(),
        &OwnershipTags::default(),
    );
    assert!(plan.changes.is_empty());
    assert!(!plan.unplanned.is_empty());
}

#[test]
fn findings_of_a_region_nobody_read_are_not_planned() {
    let read = rest_inventory(vec![rest_stage("prod", &[])]);
    let params = ControlParameters::default();
    let elsewhere: Vec<Finding> = findings(&read, &params)
        .into_iter()
        .map(|f| Finding {
            region: "eu-west-1".into(),
            resource_arn: f.resource_arn.replace("us-east-1", "eu-west-1"),
            ..f
        })
        .collect();
    let planned = plan(
        [&read],
        &elsewhere,
        &params,
        &all_on(),
        &OwnershipTags::default(),
    );
    assert!(planned.changes.is_empty());
    assert!(!planned.unplanned.is_empty());
}

// ---------------------------------------------------------------------------------
// Property test: generated stages, parameters and settings; the plan applied to the
// model never weakens anything, and fixes every failing finding it does not explain.
// ---------------------------------------------------------------------------------

/// SplitMix64: a fixed seed makes every run test the same cases (no new crate).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

const LEVELS: [Option<&str>; 4] = [None, Some("OFF"), Some("ERROR"), Some("INFO")];
const KEYS: [&str; 4] = ["~1orders/GET", "~1orders~1{id}/POST", "~1/GET", "~1a/*"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

fn gen_level(rng: &mut Rng) -> Option<String> {
    rng.pick(&LEVELS).map(str::to_string)
}

fn gen_rest_stage(rng: &mut Rng, name: String) -> RestStage {
    let mut method_settings = BTreeMap::new();
    let gen_setting = |rng: &mut Rng| MethodSetting {
        logging_level: gen_level(rng),
        caching_enabled: rng.chance(30),
        cache_data_encrypted: rng.chance(50),
    };
    if rng.chance(70) {
        method_settings.insert(STAGE_WIDE_KEY.to_string(), gen_setting(rng));
    }
    for _ in 0..rng.below(4) {
        method_settings.insert(rng.pick(&KEYS).to_string(), gen_setting(rng));
    }
    RestStage {
        name,
        method_settings,
        tracing_enabled: rng.chance(50),
        client_certificate_id: rng.pick(&[None, Some("c1".to_string()), Some("c2".to_string())]),
        web_acl_arn: rng.pick(&[
            None,
            None,
            Some(ACL.to_string()),
            Some(OTHER_ACL.to_string()),
        ]),
        cache_cluster_enabled: rng.chance(50),
        access_log: gen_access_log(rng),
        tags: BTreeMap::new(),
    }
}

/// Absent, empty, half set, set with a format lacking the request id, or complete.
fn gen_access_log(rng: &mut Rng) -> Option<AccessLogSettings> {
    rng.pick(&[
        None,
        Some(AccessLogSettings::default()),
        Some(AccessLogSettings {
            destination_arn: Some(LOG_GROUP.into()),
            format: None,
        }),
        Some(AccessLogSettings {
            destination_arn: None,
            format: Some("$context.status".into()),
        }),
        Some(AccessLogSettings {
            destination_arn: Some(LOG_GROUP.into()),
            format: Some(FORMAT.into()),
        }),
    ])
}

/// A custom domain of a random endpoint type and policy, allowed or not.
fn gen_domain_name(rng: &mut Rng, n: usize) -> DomainName {
    DomainName {
        name: format!("d{n}.example.com"),
        security_policy: rng.pick(&[
            None,
            Some("TLS_1_0".to_string()),
            Some("TLS_1_2".to_string()),
            Some("SecurityPolicy_TLS13_1_2_FIPS_2021_06".to_string()),
            Some(REGIONAL_POLICIES[0].to_string()),
            Some(EDGE_POLICIES[1].to_string()),
        ]),
        endpoint_types: vec![rng.pick(&["REGIONAL", "EDGE", "PRIVATE"]).to_string()],
        tags: BTreeMap::new(),
    }
}

fn gen_v2_api(rng: &mut Rng, id: String) -> V2Api {
    let protocol = if rng.chance(50) {
        V2Protocol::WebSocket
    } else {
        V2Protocol::Http
    };
    let stages = (0..1 + rng.below(2))
        .map(|n| {
            let websocket = protocol == V2Protocol::WebSocket;
            V2Stage {
                name: format!("s{n}"),
                default_logging_level: if websocket { gen_level(rng) } else { None },
                route_logging_levels: if websocket {
                    (0..rng.below(3))
                        .map(|_| {
                            (
                                rng.pick(&["$default", "$connect", "send"]).to_string(),
                                gen_level(rng),
                            )
                        })
                        .collect()
                } else {
                    BTreeMap::new()
                },
                access_log: gen_access_log(rng),
                auto_deploy: rng.chance(50),
                tags: BTreeMap::new(),
            }
        })
        .collect();
    let routes = (0..rng.below(3))
        .map(|n| Route {
            id: format!("r{n}"),
            route_key: rng.pick(&["$connect", "GET /x", "$default"]).to_string(),
            authorization_type: rng.pick(&[
                None,
                Some("NONE".to_string()),
                Some("AWS_IAM".to_string()),
            ]),
        })
        .collect();
    V2Api {
        id,
        name: "api".into(),
        protocol,
        tags: BTreeMap::new(),
        stages,
        routes,
        integrations: Vec::new(),
    }
}

fn gen_case(rng: &mut Rng) -> (Inventory, ControlParameters, RemediationSettings) {
    let regions = REGIONS
        .iter()
        .map(|region| RegionInventory {
            region: region.to_string(),
            rest_apis: vec![RestApi {
                id: "r1".into(),
                name: "rest".into(),
                stages: (0..1 + rng.below(3))
                    .map(|n| gen_rest_stage(rng, format!("s{n}")))
                    .collect(),
                ..RestApi::default()
            }],
            v2_apis: (0..rng.below(3))
                .map(|n| gen_v2_api(rng, format!("v{n}")))
                .collect(),
            domain_names: (0..rng.below(3)).map(|n| gen_domain_name(rng, n)).collect(),
        })
        .collect();
    let params = ControlParameters {
        semantics: rng.pick(&[Semantics::Strict, Semantics::AwsParity]),
        execution_logging: ExecutionLoggingParameters {
            accepted_levels: rng.pick(&[
                vec![LoggingLevel::Error, LoggingLevel::Info],
                vec![LoggingLevel::Error],
                vec![LoggingLevel::Info],
            ]),
        },
        client_certificate: ClientCertificateParameters {
            accepted_certificate_ids: rng.pick(&[vec![], vec!["c1".to_string()]]),
            ..ClientCertificateParameters::default()
        },
        waf: WafParameters {
            accepted_web_acl_arns: rng.pick(&[vec![], vec![ACL.to_string()]]),
        },
        route_authorization: crate::controls::route_authorization::Parameters {
            accepted_authorization_types: vec![AuthorizationType::AwsIam],
            ..Default::default()
        },
    };
    let settings = RemediationSettings {
        max_changes_per_scan: 1 + rng.below(4) as u32,
        controls: ControlRemediations {
            execution_logging: ExecutionLoggingRemediation {
                enabled: rng.chance(85),
                logging_level: rng.pick(&[
                    None,
                    Some(LoggingLevel::Error),
                    Some(LoggingLevel::Info),
                ]),
            },
            client_certificate: rng.pick(&[
                None,
                Some(CertificateRemediation {
                    generate: true,
                    certificate_id: None,
                }),
                Some(CertificateRemediation {
                    generate: false,
                    certificate_id: Some("c1".into()),
                }),
                Some(CertificateRemediation {
                    generate: false,
                    certificate_id: Some("c3".into()),
                }),
            ]),
            xray_tracing: RemediationSwitch {
                enabled: rng.chance(85),
            },
            waf: rng.pick(&[
                None,
                Some(WebAclRemediation {
                    web_acl_arns: vec![ACL.into()],
                    web_acl_arn: None,
                }),
                Some(WebAclRemediation {
                    web_acl_arns: Vec::new(),
                    web_acl_arn: Some(WEST_ACL.into()),
                }),
            ]),
            cache_encryption: RemediationSwitch {
                enabled: rng.chance(85),
            },
            access_logging: rng.pick(&[
                None,
                Some(AccessLogRemediation {
                    destination_arns: vec![LOG_GROUP.into()],
                    destination_arn: None,
                    format: FORMAT.into(),
                }),
                Some(AccessLogRemediation {
                    destination_arns: Vec::new(),
                    destination_arn: Some(WEST_LOG_GROUP.into()),
                    format: FORMAT.into(),
                }),
            ]),
            rest_access_logging: rng.pick(&[
                None,
                Some(AccessLogRemediation {
                    destination_arns: vec![LOG_GROUP.into()],
                    destination_arn: None,
                    format: FORMAT.into(),
                }),
            ]),
            domain_security_policy: rng.pick(&[
                None,
                Some(PolicyRemediation {
                    regional_policy: Some(REGIONAL_POLICIES[2].to_string()),
                    edge_policy: Some(EDGE_POLICIES[0].to_string()),
                }),
                Some(PolicyRemediation {
                    regional_policy: Some(REGIONAL_POLICIES[1].to_string()),
                    edge_policy: None,
                }),
            ]),
        },
    };
    (
        Inventory {
            regions,
            errors: Vec::new(),
        },
        params,
        settings,
    )
}

/// The plan's edits made on the model, as AWS would make them. Panics on any edit a
/// safety rule forbids (a path outside the allowed set, a logging level for an HTTP
/// stage, an access log field that was already set).
fn simulate(inventory: &Inventory, changes: &[&Change]) -> Inventory {
    let mut after = inventory.clone();
    for change in changes {
        let region = after
            .regions
            .iter_mut()
            .find(|r| r.region == change.region)
            .expect("region");
        match &change.operation {
            Operation::RestUpdateStage {
                rest_api_id,
                stage_name,
            } => {
                let stage = region
                    .rest_apis
                    .iter_mut()
                    .find(|a| &a.id == rest_api_id)
                    .and_then(|a| a.stages.iter_mut().find(|s| &s.name == stage_name))
                    .expect("stage");
                for item in &change.items {
                    let Edit::RestReplace { path, value } = &item.edit else {
                        panic!("non-REST edit in a REST UpdateStage: {item:?}");
                    };
                    let value = match value {
                        PatchValue::Literal(v) => v.clone(),
                        PatchValue::GeneratedClientCertificate => "generated".to_string(),
                    };
                    assert!(!path.contains("dataTrace"), "{path}");
                    if let Some(field) = path.strip_prefix("/accessLogSettings/") {
                        let access = stage
                            .access_log
                            .get_or_insert_with(AccessLogSettings::default);
                        let slot = match field {
                            "destinationArn" => &mut access.destination_arn,
                            "format" => &mut access.format,
                            _ => panic!("patch path {path} is not one remediation may send"),
                        };
                        assert!(non_empty(slot).is_none(), "overwrote {path}");
                        *slot = Some(value);
                    } else if path == "/tracingEnabled" {
                        assert_eq!(value, "true");
                        stage.tracing_enabled = true;
                    } else if path == "/clientCertificateId" {
                        stage.client_certificate_id = Some(value);
                    } else if let Some(key) = path
                        .strip_prefix('/')
                        .and_then(|p| p.strip_suffix("/logging/loglevel"))
                    {
                        stage
                            .method_settings
                            .entry(key.to_string())
                            .or_default()
                            .logging_level = Some(value);
                    } else if let Some(key) = path
                        .strip_prefix('/')
                        .and_then(|p| p.strip_suffix("/caching/dataEncrypted"))
                    {
                        assert_eq!(value, "true");
                        let setting = stage
                            .method_settings
                            .get_mut(key)
                            .expect("encrypts only an existing setting");
                        assert!(setting.caching_enabled, "encrypts only where caching is on");
                        setting.cache_data_encrypted = true;
                    } else {
                        panic!("patch path {path} is not one remediation may send");
                    }
                }
            }
            Operation::AssociateWebAcl { web_acl_arn } => {
                let stage = region
                    .rest_apis
                    .iter_mut()
                    .flat_map(|a| {
                        let id = a.id.clone();
                        a.stages.iter_mut().map(move |s| (id.clone(), s))
                    })
                    .find(|(id, s)| {
                        rest_stage_arn(&change.region, id, &s.name) == change.resource_arn
                    })
                    .map(|(_, s)| s)
                    .expect("stage");
                stage.web_acl_arn = Some(web_acl_arn.clone());
            }
            Operation::UpdateDomainName { domain_name } => {
                let domain = region
                    .domain_names
                    .iter_mut()
                    .find(|d| &d.name == domain_name)
                    .expect("domain");
                assert!(
                    !domain.endpoint_types.iter().any(|t| t == "PRIVATE"),
                    "changed a private domain by name"
                );
                for item in &change.items {
                    let Edit::RestReplace {
                        path,
                        value: PatchValue::Literal(policy),
                    } = &item.edit
                    else {
                        panic!("not a domain edit: {item:?}");
                    };
                    assert_eq!(path, "/securityPolicy");
                    assert!(
                        REGIONAL_POLICIES.contains(&policy.as_str())
                            || EDGE_POLICIES.contains(&policy.as_str()),
                        "set a policy Security Hub does not accept: {policy}"
                    );
                    domain.security_policy = Some(policy.clone());
                }
            }
            Operation::V2UpdateStage {
                api_id,
                stage_name,
                protocol,
            } => {
                let api = region
                    .v2_apis
                    .iter_mut()
                    .find(|a| &a.id == api_id)
                    .expect("api");
                assert_eq!(api.protocol, *protocol);
                let stage = api
                    .stages
                    .iter_mut()
                    .find(|s| &s.name == stage_name)
                    .expect("stage");
                for item in &change.items {
                    match &item.edit {
                        Edit::DefaultRouteLoggingLevel { level } => {
                            assert_eq!(
                                *protocol,
                                V2Protocol::WebSocket,
                                "logging level sent to an HTTP stage"
                            );
                            stage.default_logging_level = Some(level.as_str().into());
                        }
                        Edit::RouteLoggingLevel { route_key, level } => {
                            assert_eq!(
                                *protocol,
                                V2Protocol::WebSocket,
                                "logging level sent to an HTTP stage"
                            );
                            let entry = stage
                                .route_logging_levels
                                .get_mut(route_key)
                                .expect("existing route override");
                            *entry = Some(level.as_str().into());
                        }
                        Edit::AccessLogDestination { destination_arn } => {
                            let access = stage
                                .access_log
                                .get_or_insert_with(AccessLogSettings::default);
                            assert!(
                                non_empty(&access.destination_arn).is_none(),
                                "redirected access logs"
                            );
                            access.destination_arn = Some(destination_arn.clone());
                        }
                        Edit::AccessLogFormat { format } => {
                            let access = stage
                                .access_log
                                .get_or_insert_with(AccessLogSettings::default);
                            assert!(
                                non_empty(&access.format).is_none(),
                                "rewrote an access log format"
                            );
                            access.format = Some(format.clone());
                        }
                        other => panic!("not a v2 stage edit: {other:?}"),
                    }
                }
            }
        }
    }
    after
}

/// Nothing the plan did weakens a stage.
fn assert_only_strengthened(before: &Inventory, after: &Inventory, params: &ControlParameters) {
    for (b_region, a_region) in before.regions.iter().zip(&after.regions) {
        for (b_api, a_api) in b_region.rest_apis.iter().zip(&a_region.rest_apis) {
            for (b, a) in b_api.stages.iter().zip(&a_api.stages) {
                for (key, bs) in &b.method_settings {
                    let as_ = a
                        .method_settings
                        .get(key)
                        .expect("a method setting was removed");
                    assert!(
                        LoggingLevel::rank_of(as_.logging_level.as_deref())
                            >= LoggingLevel::rank_of(bs.logging_level.as_deref()),
                        "lowered {key}"
                    );
                    assert_eq!(
                        as_.caching_enabled, bs.caching_enabled,
                        "caching toggled on {key}"
                    );
                    assert!(
                        as_.cache_data_encrypted || !bs.cache_data_encrypted,
                        "encryption turned off on {key}"
                    );
                }
                for key in a.method_settings.keys() {
                    assert!(
                        b.method_settings.contains_key(key) || key == STAGE_WIDE_KEY,
                        "created {key}"
                    );
                }
                assert_eq!(
                    a.cache_cluster_enabled, b.cache_cluster_enabled,
                    "cache cluster toggled"
                );
                assert!(
                    a.tracing_enabled || !b.tracing_enabled,
                    "tracing turned off"
                );
                assert_access_log_kept(b.access_log.as_ref(), a.access_log.as_ref());
                if let Some(acl) = &b.web_acl_arn {
                    let now = a.web_acl_arn.as_ref().expect("web ACL removed");
                    let allow = &params.waf.accepted_web_acl_arns;
                    assert!(
                        now == acl || (!allow.is_empty() && !allow.contains(acl)),
                        "replaced an accepted web ACL"
                    );
                }
                if let Some(cert) = &b.client_certificate_id {
                    let now = a
                        .client_certificate_id
                        .as_ref()
                        .expect("certificate removed");
                    let allow = &params.client_certificate.accepted_certificate_ids;
                    assert!(
                        now == cert || (!allow.is_empty() && !allow.contains(cert)),
                        "replaced an accepted certificate"
                    );
                }
            }
        }
        for (b_api, a_api) in b_region.v2_apis.iter().zip(&a_region.v2_apis) {
            for (b, a) in b_api.stages.iter().zip(&a_api.stages) {
                assert!(
                    LoggingLevel::rank_of(a.default_logging_level.as_deref())
                        >= LoggingLevel::rank_of(b.default_logging_level.as_deref())
                );
                assert_eq!(
                    a.route_logging_levels.keys().collect::<Vec<_>>(),
                    b.route_logging_levels.keys().collect::<Vec<_>>()
                );
                for (key, level) in &b.route_logging_levels {
                    assert!(
                        LoggingLevel::rank_of(a.route_logging_levels[key].as_deref())
                            >= LoggingLevel::rank_of(level.as_deref())
                    );
                }
                assert_access_log_kept(b.access_log.as_ref(), a.access_log.as_ref());
            }
        }
        for (b, a) in b_region.domain_names.iter().zip(&a_region.domain_names) {
            let allowed = |policy: &Option<String>| {
                policy
                    .as_deref()
                    .is_some_and(|p| REGIONAL_POLICIES.contains(&p) || EDGE_POLICIES.contains(&p))
            };
            if allowed(&b.security_policy) {
                assert_eq!(
                    a.security_policy, b.security_policy,
                    "replaced an accepted policy"
                );
            }
        }
    }
}

/// Access log settings that were set are never redirected or rewritten.
fn assert_access_log_kept(before: Option<&AccessLogSettings>, after: Option<&AccessLogSettings>) {
    if let Some(b_log) = before {
        let a_log = after.expect("access log settings removed");
        if non_empty(&b_log.destination_arn).is_some() {
            assert_eq!(a_log.destination_arn, b_log.destination_arn);
        }
        if non_empty(&b_log.format).is_some() {
            assert_eq!(a_log.format, b_log.format);
        }
    }
}

#[test]
fn property_plans_only_strengthen_and_fix_what_they_do_not_explain() {
    let mut rng = Rng(0x5EED_A91C_0DE5_2026);
    let mut fixed = 0usize;
    for case in 0..2000 {
        let (inventory, params, settings) = gen_case(&mut rng);
        let mut found = findings(&inventory, &params);
        for f in &mut found {
            f.exempted = rng.chance(10);
        }
        let plan = plan(
            [&inventory],
            &found,
            &params,
            &settings,
            &OwnershipTags::default(),
        );
        assert!(
            plan.changes.len() <= settings.max_changes_per_scan as usize,
            "case {case}"
        );
        let every: Vec<&Change> = plan.changes.iter().chain(&plan.pending).collect();

        // One UpdateStage per stage: every REST stage's patch operations in one call.
        let mut updates = BTreeSet::new();
        for change in &every {
            if !matches!(change.operation, Operation::AssociateWebAcl { .. }) {
                assert!(
                    updates.insert(change.resource_arn.clone()),
                    "case {case}: two UpdateStage calls for {}",
                    change.resource_arn
                );
            }
        }

        let after = simulate(&inventory, &every);
        assert_only_strengthened(&inventory, &after, &params);

        let now: BTreeMap<(ControlId, String), Status> = findings(&after, &params)
            .into_iter()
            .map(|f| ((f.control_id, f.resource_arn), f.status))
            .collect();
        for f in found.iter().filter(|f| f.status == Status::Failed) {
            let key = (f.control_id, f.resource_arn.clone());
            if f.exempted {
                // Never touched: an exempted control's own settings are unchanged
                // unless another, non-exempted control's change covered them.
                continue;
            }
            let explained = plan
                .unplanned
                .iter()
                .any(|u| u.control_id == f.control_id && u.resource_arn == f.resource_arn);
            if explained {
                continue;
            }
            assert_ne!(
                now.get(&key),
                Some(&Status::Failed),
                "case {case}: {} still fails on {} after the plan, and the plan did not say why\nplan: {plan:#?}",
                f.control_id,
                f.resource_arn
            );
            fixed += 1;
        }
    }
    assert!(
        fixed > 1000,
        "the generator should produce many fixable failures, got {fixed}"
    );
}

#[test]
fn property_exempted_controls_get_no_items() {
    let mut rng = Rng(0xE8E3_B7ED);
    for case in 0..500 {
        let (inventory, params, settings) = gen_case(&mut rng);
        let mut found = findings(&inventory, &params);
        for f in &mut found {
            f.exempted = rng.chance(50);
        }
        let plan = plan(
            [&inventory],
            &found,
            &params,
            &settings,
            &OwnershipTags::default(),
        );
        let exempted: BTreeSet<(ControlId, &str)> = found
            .iter()
            .filter(|f| f.exempted)
            .map(|f| (f.control_id, f.resource_arn.as_str()))
            .collect();
        for change in plan.changes.iter().chain(&plan.pending) {
            for item in &change.items {
                assert!(
                    !exempted.contains(&(item.control_id, change.resource_arn.as_str())),
                    "case {case}: planned {} on exempted {}",
                    item.control_id,
                    change.resource_arn
                );
            }
        }
    }
}
