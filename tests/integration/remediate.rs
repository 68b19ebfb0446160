//! Remediation against moto (REST stage changes, web ACL association, v2 stages, client
//! certificates, preconditions, partial failure, idempotence, the `scan --remediate`
//! command) and, for apigatewayv2 UpdateStage and GenerateClientCertificate, at the
//! HTTP layer: the requests the AWS SDK sends, captured by a loopback listener and
//! checked against the API reference's method, path and body.

use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_apigateway::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_apigatewayv2::types::{LoggingLevel as V2Level, ProtocolType};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::moto::{MotoAccount, new_account};
use crate::support::seed::{self, V2StageSpec};
use apigw_compliance::controls::AccessLogRemediation as AccessLoggingRemediation;
use apigw_compliance::controls::client_certificate::CertificateRemediation as ClientCertificateRemediation;
use apigw_compliance::controls::waf_acl::WebAclRemediation as WafRemediation;
use apigw_compliance::controls::{
    ControlParameters, all_ids, cache_encryption, execution_logging, waf_acl, xray_tracing,
};
use apigw_compliance::crd::RemediationSettings;
use apigw_compliance::inventory::reader::{ReadOptions, read_inventory};
use apigw_compliance::inventory::{
    Inventory, MethodSetting, RegionInventory, RestApi, RestStage, V2Api, V2Stage,
};
use apigw_compliance::model::outcome::{ItemStatus, Mode};
use apigw_compliance::model::{ControlId, ErrorKind, Finding, V2Protocol};
use apigw_compliance::pipeline::apply::{ApplyOptions, apply};
use apigw_compliance::pipeline::evaluate::evaluate;
use apigw_compliance::pipeline::ownership::OwnershipTags;
use apigw_compliance::pipeline::plan::plan;
use apigw_compliance::report::remediation::RemediationReport;

const REGION: &str = "us-east-1";
const BIN: &str = env!("CARGO_BIN_EXE_apigw-compliance");
const FORMAT: &str = r#"{"requestId":"$context.requestId","status":"$context.status"}"#;

fn rest(sdk: &SdkConfig) -> aws_sdk_apigateway::Client {
    aws_sdk_apigateway::Client::new(sdk)
}

async fn stage(
    sdk: &SdkConfig,
    api: &str,
    name: &str,
) -> aws_sdk_apigateway::operation::get_stage::GetStageOutput {
    rest(sdk)
        .get_stage()
        .rest_api_id(api)
        .stage_name(name)
        .send()
        .await
        .expect("GetStage")
}

fn method<'a>(
    stage: &'a aws_sdk_apigateway::operation::get_stage::GetStageOutput,
    key: &str,
) -> &'a aws_sdk_apigateway::types::MethodSetting {
    stage
        .method_settings()
        .and_then(|m| m.get(key))
        .unwrap_or_else(|| panic!("no method setting {key}: {stage:?}"))
}

/// One scan (every control, default parameters) and its findings.
async fn scan(sdk: &SdkConfig, params: &ControlParameters) -> (Inventory, Vec<Finding>) {
    let inventory = read_inventory(sdk, &[REGION.to_string()], &ReadOptions::default()).await;
    assert!(inventory.errors.is_empty(), "{:?}", inventory.errors);
    let findings = evaluate(&inventory.regions, Some("123456789012"), &all_ids(), params);
    (inventory, findings)
}

/// A scan, then remediation in `mode`.
async fn remediate(
    sdk: &SdkConfig,
    settings: &RemediationSettings,
    mode: Mode,
) -> RemediationReport {
    let params = ControlParameters::default();
    let (inventory, findings) = scan(sdk, &params).await;
    run(mode, sdk, &inventory, &findings, &params, settings).await
}

/// Plans on the scan's inventory and findings, then applies (Enforce) or checks and
/// shows the calls (DryRun), as the pipeline does.
async fn run(
    mode: Mode,
    sdk: &SdkConfig,
    inventory: &Inventory,
    findings: &[Finding],
    params: &ControlParameters,
    settings: &RemediationSettings,
) -> RemediationReport {
    let plan = plan(
        [inventory],
        findings,
        params,
        settings,
        &OwnershipTags::default(),
    );
    let outcome = apigw_compliance::pipeline::remediate(mode, &plan, sdk, None).await;
    RemediationReport {
        mode,
        plan,
        outcome,
    }
}

fn statuses(report: &RemediationReport) -> Vec<(ControlId, String, ItemStatus)> {
    report
        .outcome
        .changes
        .iter()
        .flat_map(|c| {
            c.items
                .iter()
                .map(|i| (i.control_id, i.setting.clone(), i.status))
        })
        .collect()
}

/// A REST stage failing APIGateway.1 (stage-wide and one override OFF), .3, .4 and
/// .5 (the override caches unencrypted), with data tracing on stage-wide.
async fn failing_rest_stage(sdk: &SdkConfig, name: &str) -> String {
    let (api, deployment) = seed::rest_api(sdk, name).await;
    seed::rest_stage(
        sdk,
        &api,
        &deployment,
        "prod",
        &[
            ("/*/*/logging/loglevel", "OFF"),
            ("/*/*/logging/dataTrace", "true"),
            ("/~1orders~1{id}/GET/logging/loglevel", "OFF"),
            ("/~1orders~1{id}/GET/caching/enabled", "true"),
        ],
    )
    .await;
    api
}

fn settings_with_acl(acl: &str) -> RemediationSettings {
    let mut settings = RemediationSettings::default();
    settings.controls.waf = Some(WafRemediation {
        web_acl_arns: vec![acl.to_string()],
        web_acl_arn: None,
    });
    settings
}

/// Access logging (APIGateway.9) to `destination_arn` in `FORMAT`.
fn settings_with_access_log(destination_arn: &str) -> RemediationSettings {
    let mut settings = RemediationSettings::default();
    settings.controls.access_logging = Some(AccessLoggingRemediation {
        destination_arns: vec![destination_arn.to_string()],
        destination_arn: None,
        format: FORMAT.to_string(),
    });
    settings
}

/// APIGateway.2 with `generate: true`: a certificate is generated, or one generated
/// before is reused.
fn settings_generating_a_certificate() -> RemediationSettings {
    let mut settings = RemediationSettings::default();
    settings.controls.client_certificate = Some(ClientCertificateRemediation {
        generate: true,
        certificate_id: None,
    });
    settings
}

#[tokio::test]
async fn enforce_fixes_a_rest_stage_with_one_update_stage_and_associates_the_web_acl() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    seed::set_cloudwatch_role(&sdk, &account.account_id).await;
    let api = failing_rest_stage(&sdk, "orders").await;
    let acl = seed::web_acl(&sdk, "api").await;
    let settings = settings_with_acl(&acl);

    account.reset_call_counts().await;
    let first = remediate(&sdk, &settings, Mode::Enforce).await;
    let calls = account.call_counts().await;
    assert_eq!(
        calls.get("apigateway:UpdateStage"),
        1,
        "one call for all patch operations: {calls:?}"
    );
    assert_eq!(calls.get("wafv2:AssociateWebACL"), 1, "{calls:?}");
    assert_eq!(
        calls.get("apigateway:GetStage"),
        1,
        "the stage is re-read once before its writes, and the association uses that read: {calls:?}"
    );
    assert_eq!(calls.get("apigateway:GetAccount"), 1, "{calls:?}");
    assert_eq!(calls.get("wafv2:GetWebACL"), 1, "{calls:?}");
    let summary = first.outcome.summary();
    assert_eq!((summary.failed, summary.blocked), (0, 0), "{first:#?}");
    assert_eq!(summary.applied, 5, "{:?}", statuses(&first));
    let audited: Vec<ControlId> = first
        .outcome
        .audit_records()
        .iter()
        .map(|r| r.control_id)
        .collect();
    for control in [
        execution_logging::ID,
        xray_tracing::ID,
        waf_acl::ID,
        cache_encryption::ID,
    ] {
        assert!(
            audited.contains(&control),
            "{control} not audited: {audited:?}"
        );
    }

    let after = stage(&sdk, &api, "prod").await;
    let stage_wide = method(&after, "*/*");
    assert_eq!(stage_wide.logging_level(), Some("ERROR"));
    assert!(
        stage_wide.data_trace_enabled(),
        "dataTrace must never be touched"
    );
    let get = method(&after, "~1orders~1{id}/GET");
    assert_eq!(get.logging_level(), Some("ERROR"));
    assert!(get.caching_enabled(), "caching stays as it was");
    assert!(get.cache_data_encrypted());
    assert!(after.tracing_enabled());
    assert!(
        !after.cache_cluster_enabled(),
        "the cache cluster is never turned on"
    );
    assert_eq!(after.web_acl_arn(), Some(acl.as_str()));

    // The world is compliant now: a second Enforce writes nothing.
    account.reset_call_counts().await;
    let second = remediate(&sdk, &settings, Mode::Enforce).await;
    assert!(second.plan.changes.is_empty(), "{:#?}", second.plan);
    let calls = account.call_counts().await;
    assert_eq!(calls.writes(), 0, "{calls:?}");
}

#[tokio::test]
async fn dry_run_shows_the_exact_calls_and_changes_nothing() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    seed::set_cloudwatch_role(&sdk, &account.account_id).await;
    let api = failing_rest_stage(&sdk, "orders").await;
    let acl = seed::web_acl(&sdk, "api").await;
    let before = stage(&sdk, &api, "prod").await;

    account.reset_call_counts().await;
    let dry = remediate(&sdk, &settings_with_acl(&acl), Mode::DryRun).await;
    let calls = account.call_counts().await;
    assert_eq!(calls.writes(), 0, "{calls:?}");
    assert!(
        statuses(&dry)
            .iter()
            .all(|(_, _, s)| *s == ItemStatus::WouldApply),
        "{:?}",
        statuses(&dry)
    );
    let update = dry
        .outcome
        .changes
        .iter()
        .find(|c| c.call.operation == "apigateway:UpdateStage")
        .expect("an UpdateStage");
    assert_eq!(
        update.call.http,
        format!("PATCH /restapis/{api}/stages/prod")
    );
    assert_eq!(
        update.call.request,
        json!({"patchOperations": [
            {"op": "replace", "path": "/*/*/logging/loglevel", "value": "ERROR"},
            {"op": "replace", "path": "/~1orders~1{id}/GET/logging/loglevel", "value": "ERROR"},
            {"op": "replace", "path": "/tracingEnabled", "value": "true"},
            {"op": "replace", "path": "/~1orders~1{id}/GET/caching/dataEncrypted", "value": "true"},
        ]})
    );
    assert!(
        dry.to_table()
            .contains("REMEDIATION PLAN (dry run: nothing was changed)")
    );

    let after = stage(&sdk, &api, "prod").await;
    assert_eq!(after.method_settings(), before.method_settings());
    assert_eq!(after.tracing_enabled(), before.tracing_enabled());
    assert_eq!(after.web_acl_arn(), None);
}

#[tokio::test]
async fn a_stage_deleted_between_plan_and_apply_fails_alone_with_the_aws_message() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    for name in ["kept", "gone"] {
        seed::rest_stage(
            &sdk,
            &api,
            &deployment,
            name,
            &[("/*/*/logging/loglevel", "ERROR")],
        )
        .await;
    }
    let params = ControlParameters::default();
    let (inventory, findings) = scan(&sdk, &params).await;
    let plan = plan(
        [&inventory],
        &findings,
        &params,
        &RemediationSettings::default(),
        &OwnershipTags::default(),
    );
    assert_eq!(plan.changes.len(), 2, "{plan:#?}");

    account.reset_call_counts().await;
    rest(&sdk)
        .delete_stage()
        .rest_api_id(&api)
        .stage_name("gone")
        .send()
        .await
        .expect("DeleteStage");
    let outcome = apply(&plan, &sdk, &ApplyOptions::default()).await;

    let by_stage = |name: &str| {
        outcome
            .changes
            .iter()
            .find(|c| c.resource_arn.ends_with(&format!("/stages/{name}")))
            .unwrap_or_else(|| panic!("no change for {name}"))
    };
    assert_eq!(by_stage("kept").items[0].status, ItemStatus::Applied);
    let gone = &by_stage("gone").items[0];
    assert_eq!(gone.status, ItemStatus::Failed);
    assert_eq!(gone.kind, Some(ErrorKind::NotFound));
    let message = gone.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("no longer exists") && message.contains("nothing was sent"),
        "the read before the write found it gone: {message}"
    );
    assert_eq!(
        by_stage("gone").call.request,
        json!({"patchOperations": []}),
        "nothing sent"
    );
    let calls = account.call_counts().await;
    assert_eq!(
        calls.get("apigateway:UpdateStage"),
        1,
        "only `kept`: {calls:?}"
    );
    assert!(stage(&sdk, &api, "kept").await.tracing_enabled());
}

/// Patches a REST stage directly, as someone else would between the plan's read and
/// the apply.
async fn patch_stage(sdk: &SdkConfig, api: &str, name: &str, path: &str, value: &str) {
    rest(sdk)
        .update_stage()
        .rest_api_id(api)
        .stage_name(name)
        .patch_operations(
            aws_sdk_apigateway::types::PatchOperation::builder()
                .op(aws_sdk_apigateway::types::Op::Replace)
                .path(path)
                .value(value)
                .build(),
        )
        .send()
        .await
        .expect("UpdateStage");
}

#[tokio::test]
async fn a_level_raised_to_info_after_the_plan_is_not_set_back_to_error() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    seed::set_cloudwatch_role(&sdk, &account.account_id).await;
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    seed::rest_stage(
        &sdk,
        &api,
        &deployment,
        "prod",
        &[
            ("/*/*/logging/loglevel", "OFF"),
            ("/tracingEnabled", "true"),
        ],
    )
    .await;
    let params = ControlParameters::default();
    let (inventory, findings) = scan(&sdk, &params).await;
    let plan = plan(
        [&inventory],
        &findings,
        &params,
        &RemediationSettings::default(),
        &OwnershipTags::default(),
    );
    assert_eq!(plan.changes.len(), 1, "{plan:#?}");
    let items: Vec<(ControlId, &str, &str)> = plan.changes[0]
        .items
        .iter()
        .map(|i| (i.control_id, i.before.as_str(), i.after.as_str()))
        .collect();
    assert_eq!(items, [(execution_logging::ID, "OFF", "ERROR")]);

    // Someone raises the level while the plan waits.
    patch_stage(&sdk, &api, "prod", "/*/*/logging/loglevel", "INFO").await;

    for dry_run in [true, false] {
        account.reset_call_counts().await;
        let options = ApplyOptions {
            dry_run,
            ..ApplyOptions::default()
        };
        let outcome = apply(&plan, &sdk, &options).await;
        let calls = account.call_counts().await;
        assert_eq!(calls.get("apigateway:GetStage"), 1, "{calls:?}");
        assert_eq!(calls.writes(), 0, "{calls:?}");
        let change = &outcome.changes[0];
        assert_eq!(change.call.request, json!({"patchOperations": []}));
        let item = &change.items[0];
        assert_eq!(
            (item.status, item.message.as_deref()),
            (ItemStatus::AlreadyCompliant, Some("now INFO")),
            "dry run: {dry_run}"
        );
        assert_eq!(outcome.summary().already_compliant, 1);
    }
    assert_eq!(
        method(&stage(&sdk, &api, "prod").await, "*/*").logging_level(),
        Some("INFO")
    );
}

#[tokio::test]
async fn a_web_acl_associated_after_the_plan_is_not_replaced() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    seed::rest_stage(
        &sdk,
        &api,
        &deployment,
        "prod",
        &[
            ("/*/*/logging/loglevel", "ERROR"),
            ("/tracingEnabled", "true"),
        ],
    )
    .await;
    let planned = seed::web_acl(&sdk, "planned").await;
    let params = ControlParameters::default();
    let (inventory, findings) = scan(&sdk, &params).await;
    let plan = plan(
        [&inventory],
        &findings,
        &params,
        &settings_with_acl(&planned),
        &OwnershipTags::default(),
    );
    let operations: Vec<&str> = plan
        .changes
        .iter()
        .map(|c| c.call.operation.as_str())
        .collect();
    assert_eq!(operations, ["wafv2:AssociateWebACL"], "{plan:#?}");
    assert_eq!(plan.changes[0].items[0].before, "none");

    // Someone associates another web ACL while the plan waits.
    let theirs = seed::associate_web_acl(&sdk, REGION, &api, "prod").await;

    account.reset_call_counts().await;
    let outcome = apply(&plan, &sdk, &ApplyOptions::default()).await;
    let calls = account.call_counts().await;
    assert_eq!(calls.get("apigateway:GetStage"), 1, "{calls:?}");
    assert_eq!(calls.get("wafv2:AssociateWebACL"), 0, "{calls:?}");
    assert_eq!(calls.writes(), 0, "{calls:?}");
    let item = &outcome.changes[0].items[0];
    assert_eq!(item.status, ItemStatus::ChangedSincePlan, "{item:?}");
    let message = item.message.as_deref().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "web ACL {theirs} was associated after the plan's read"
        )) && message.contains("the next scan re-plans"),
        "{message}"
    );
    assert_eq!(outcome.summary().changed_since_plan, 1);
    assert_eq!(
        stage(&sdk, &api, "prod").await.web_acl_arn(),
        Some(theirs.as_str())
    );
}

#[tokio::test]
async fn a_web_acl_that_does_not_exist_is_a_blocked_precondition_and_the_rest_still_applies() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    seed::rest_stage(
        &sdk,
        &api,
        &deployment,
        "prod",
        &[("/*/*/logging/loglevel", "ERROR")],
    )
    .await;
    let missing = format!(
        "arn:aws:wafv2:{REGION}:{}:regional/webacl/missing/00000000-0000-0000-0000-000000000000",
        account.account_id
    );

    account.reset_call_counts().await;
    let outcome = remediate(&sdk, &settings_with_acl(&missing), Mode::Enforce).await;
    let calls = account.call_counts().await;
    assert_eq!(calls.get("wafv2:AssociateWebACL"), 0, "{calls:?}");
    assert_eq!(calls.get("apigateway:UpdateStage"), 1, "{calls:?}");
    let check = &outcome.outcome.preconditions[0];
    assert!(!check.satisfied);
    assert!(
        check.message.starts_with("GetWebACL in us-east-1"),
        "{}",
        check.message
    );
    let waf = statuses(&outcome)
        .into_iter()
        .find(|(c, _, _)| *c == waf_acl::ID)
        .expect("the web ACL item");
    assert_eq!(waf.2, ItemStatus::BlockedPrecondition);
    assert!(stage(&sdk, &api, "prod").await.tracing_enabled());
    assert!(
        !outcome.has_failures(),
        "a precondition is not a failed call"
    );
}

#[tokio::test]
async fn without_a_cloudwatch_role_execution_logging_is_reported_blocked_and_not_sent() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    // `logs` fails only APIGateway.1; `both` fails .1 and .3.
    seed::rest_stage(
        &sdk,
        &api,
        &deployment,
        "logs",
        &[
            ("/*/*/logging/loglevel", "OFF"),
            ("/tracingEnabled", "true"),
        ],
    )
    .await;
    seed::rest_stage(
        &sdk,
        &api,
        &deployment,
        "both",
        &[("/*/*/logging/loglevel", "OFF")],
    )
    .await;

    account.reset_call_counts().await;
    let outcome = remediate(&sdk, &RemediationSettings::default(), Mode::Enforce).await;
    let calls = account.call_counts().await;
    assert_eq!(
        calls.get("apigateway:GetAccount"),
        1,
        "checked once for the region: {calls:?}"
    );
    assert_eq!(
        calls.get("apigateway:UpdateStage"),
        1,
        "only `both`, with tracing only: {calls:?}"
    );
    let check = &outcome.outcome.preconditions[0];
    assert!(!check.satisfied);
    assert!(
        check.message.contains("no CloudWatch Logs role"),
        "{}",
        check.message
    );
    for (control, setting, status) in statuses(&outcome) {
        let expected = if control == execution_logging::ID {
            ItemStatus::BlockedPrecondition
        } else {
            ItemStatus::Applied
        };
        assert_eq!(status, expected, "{control} {setting}");
    }
    let logs_change = outcome
        .outcome
        .changes
        .iter()
        .find(|c| c.resource_arn.ends_with("/stages/logs"))
        .expect("logs change");
    assert_eq!(
        logs_change.call.request,
        json!({"patchOperations": []}),
        "nothing sent"
    );
    let both = stage(&sdk, &api, "both").await;
    assert!(both.tracing_enabled());
    assert_eq!(method(&both, "*/*").logging_level(), Some("OFF"));
    assert!(!outcome.has_failures());
}

#[tokio::test]
async fn websocket_and_http_stages_get_logging_and_access_logs_and_http_no_logging_level() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    seed::set_cloudwatch_role(&sdk, &account.account_id).await;
    let log_group = format!(
        "arn:aws:logs:{REGION}:{}:log-group:/apigw/access",
        account.account_id
    );
    let ws = seed::v2_api(&sdk, "chat", ProtocolType::Websocket).await;
    seed::v2_stage(
        &sdk,
        &ws,
        "live",
        V2StageSpec {
            default_logging_level: Some(V2Level::Off),
            route_logging_levels: &[("$default", V2Level::Off), ("$connect", V2Level::Info)],
            access_log: None,
            description: None,
        },
    )
    .await;
    let http = seed::v2_api(&sdk, "web", ProtocolType::Http).await;
    seed::v2_stage(&sdk, &http, "$default", V2StageSpec::default()).await;
    let settings = settings_with_access_log(&log_group);

    account.reset_call_counts().await;
    let first = remediate(&sdk, &settings, Mode::Enforce).await;
    assert!(!first.has_failures(), "{:#?}", first.outcome);
    let calls = account.call_counts().await;
    assert_eq!(calls.get("apigatewayv2:UpdateStage"), 2, "{calls:?}");
    assert_eq!(
        calls.get("apigatewayv2:GetStage"),
        2,
        "read-modify-write: {calls:?}"
    );

    let v2 = aws_sdk_apigatewayv2::Client::new(&sdk);
    let live = v2
        .get_stage()
        .api_id(&ws)
        .stage_name("live")
        .send()
        .await
        .expect("GetStage");
    assert_eq!(
        live.default_route_settings()
            .and_then(|s| s.logging_level()),
        Some(&V2Level::Error)
    );
    let routes = live.route_settings().expect("route settings kept");
    assert_eq!(routes["$default"].logging_level(), Some(&V2Level::Error));
    assert_eq!(
        routes["$connect"].logging_level(),
        Some(&V2Level::Info),
        "INFO is never lowered"
    );
    let access = live.access_log_settings().expect("access logs");
    assert_eq!(
        (access.destination_arn(), access.format()),
        (Some(log_group.as_str()), Some(FORMAT))
    );
    let web = v2
        .get_stage()
        .api_id(&http)
        .stage_name("$default")
        .send()
        .await
        .expect("GetStage");
    assert_eq!(
        web.access_log_settings().and_then(|a| a.destination_arn()),
        Some(log_group.as_str())
    );
    assert!(
        web.default_route_settings()
            .and_then(|s| s.logging_level())
            .is_none()
    );

    account.reset_call_counts().await;
    let second = remediate(&sdk, &settings, Mode::Enforce).await;
    assert!(second.plan.changes.is_empty());
    assert_eq!(account.call_counts().await.writes(), 0);
}

#[tokio::test]
async fn a_generated_client_certificate_is_reused_across_stages_and_scans() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    for name in ["a", "b"] {
        seed::rest_stage(
            &sdk,
            &api,
            &deployment,
            name,
            &[
                ("/*/*/logging/loglevel", "ERROR"),
                ("/tracingEnabled", "true"),
            ],
        )
        .await;
    }
    let settings = settings_generating_a_certificate();

    account.reset_call_counts().await;
    let first = remediate(&sdk, &settings, Mode::Enforce).await;
    assert!(!first.has_failures(), "{:#?}", first.outcome);
    let calls = account.call_counts().await;
    assert_eq!(
        calls.get("apigateway:GenerateClientCertificate"),
        1,
        "one per region: {calls:?}"
    );
    let a = stage(&sdk, &api, "a")
        .await
        .client_certificate_id()
        .map(str::to_string);
    let b = stage(&sdk, &api, "b")
        .await
        .client_certificate_id()
        .map(str::to_string);
    assert!(a.is_some());
    assert_eq!(a, b);
    let cert = rest(&sdk)
        .get_client_certificate()
        .client_certificate_id(a.clone().unwrap_or_default())
        .send()
        .await
        .expect("GetClientCertificate");
    assert_eq!(
        cert.tags()
            .and_then(|t| t.get("apigwcompliance.io/managed"))
            .map(String::as_str),
        Some("true")
    );

    account.reset_call_counts().await;
    remediate(&sdk, &settings, Mode::Enforce).await;
    assert_eq!(account.call_counts().await.writes(), 0);

    // A new stage later gets the same certificate, not a new one.
    seed::rest_stage(
        &sdk,
        &api,
        &deployment,
        "c",
        &[
            ("/*/*/logging/loglevel", "ERROR"),
            ("/tracingEnabled", "true"),
        ],
    )
    .await;
    account.reset_call_counts().await;
    remediate(&sdk, &settings, Mode::Enforce).await;
    let calls = account.call_counts().await;
    assert_eq!(
        calls.get("apigateway:GenerateClientCertificate"),
        0,
        "{calls:?}"
    );
    assert_eq!(
        stage(&sdk, &api, "c")
            .await
            .client_certificate_id()
            .map(str::to_string),
        a
    );
}

#[tokio::test]
async fn max_changes_per_scan_leaves_the_rest_for_the_next_scans() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    for name in ["s1", "s2", "s3"] {
        seed::rest_stage(
            &sdk,
            &api,
            &deployment,
            name,
            &[("/*/*/logging/loglevel", "ERROR")],
        )
        .await;
    }
    let settings = RemediationSettings {
        max_changes_per_scan: 2,
        ..RemediationSettings::default()
    };
    let mut updates = Vec::new();
    for _ in 0..3 {
        account.reset_call_counts().await;
        let run = remediate(&sdk, &settings, Mode::Enforce).await;
        updates.push((
            account.call_counts().await.get("apigateway:UpdateStage"),
            run.plan.pending.len(),
        ));
    }
    assert_eq!(updates, [(2, 1), (1, 0), (0, 0)]);
}

// ---------------------------------------------------------------------------------
// `scan --remediate` end to end.
// ---------------------------------------------------------------------------------

fn profile_file(account: &MotoAccount, api: &str, acl: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("remediate-{}.yaml", account.account_id));
    let text = format!(
        r#"apiVersion: apigwcompliance.io/v1alpha1
kind: ComplianceProfile
metadata: {{name: team}}
spec:
  scope: {{regions: [{REGION}]}}
  controls: {{enabled: [APIGateway.1, APIGateway.3, APIGateway.4, APIGateway.5]}}
  exemptions:
    - control: APIGateway.3
      resourceArnGlob: "arn:aws:apigateway:{REGION}::/restapis/{api}/stages/legacy"
      reason: the legacy backend cannot take X-Ray headers
  remediation:
    mode: Enforce
    maxChangesPerScan: 10
    controls:
      waf: {{webAclArn: "{acl}"}}
"#
    );
    std::fs::write(&path, text).expect("write profile");
    path
}

fn run_scan(account: &MotoAccount, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .arg("scan")
        .args(args)
        .env_clear()
        .envs(account.env(REGION))
        .output()
        .expect("run apigw-compliance")
}

fn stdout(output: &std::process::Output) -> String {
    format!(
        "{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn scan_remediate_dry_run_then_enforce_twice_through_the_binary() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    seed::set_cloudwatch_role(&sdk, &account.account_id).await;
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    for name in ["prod", "legacy"] {
        seed::rest_stage(
            &sdk,
            &api,
            &deployment,
            name,
            &[("/*/*/logging/loglevel", "OFF")],
        )
        .await;
    }
    let acl = seed::web_acl(&sdk, "api").await;
    let profile = profile_file(&account, &api, &acl);
    let profile = profile.to_str().expect("utf-8 path");

    // DryRun: the plan in the JSON contract, beside findings and errors; no write.
    account.reset_call_counts().await;
    let dry = run_scan(
        &account,
        &[
            "--profile",
            profile,
            "--remediate",
            "dry-run",
            "--output",
            "json",
        ],
    );
    assert_eq!(dry.status.code(), Some(0), "{}", stdout(&dry));
    assert_eq!(account.call_counts().await.writes(), 0);
    let json: Value =
        serde_json::from_slice(&dry.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&dry)));
    assert!(json["findings"].as_array().is_some_and(|f| !f.is_empty()));
    assert!(json["errors"].as_array().is_some());
    let remediation = &json["remediation"];
    assert_eq!(remediation["mode"], "DryRun");
    let changes = remediation["outcome"]["changes"]
        .as_array()
        .expect("changes");
    assert_eq!(
        changes.len(),
        4,
        "UpdateStage and AssociateWebACL for each stage: {remediation:#}"
    );
    for change in changes {
        for item in change["items"].as_array().expect("items") {
            assert_eq!(item["status"], "WouldApply", "{item}");
        }
    }
    let legacy = changes
        .iter()
        .find(|c| {
            c["resourceArn"]
                .as_str()
                .is_some_and(|a| a.ends_with("/stages/legacy"))
                && c["call"]["operation"] == "apigateway:UpdateStage"
        })
        .expect("legacy UpdateStage");
    assert_eq!(
        legacy["call"]["request"],
        json!({"patchOperations": [{"op": "replace", "path": "/*/*/logging/loglevel", "value": "ERROR"}]}),
        "the exempted APIGateway.3 is not touched"
    );

    // Enforce: the table says what changed.
    let enforce = run_scan(&account, &["--profile", profile, "--remediate", "enforce"]);
    assert_eq!(enforce.status.code(), Some(0), "{}", stdout(&enforce));
    let table = String::from_utf8_lossy(&enforce.stdout);
    assert!(table.contains("REMEDIATION (enforce)"), "{table}");
    assert!(table.contains("X-Ray tracing"), "{table}");
    assert!(table.contains("false -> true  [applied]"), "{table}");
    let prod = stage(&sdk, &api, "prod").await;
    assert!(prod.tracing_enabled());
    assert_eq!(prod.web_acl_arn(), Some(acl.as_str()));
    let legacy = stage(&sdk, &api, "legacy").await;
    assert!(!legacy.tracing_enabled(), "exempted: never touched");
    assert_eq!(method(&legacy, "*/*").logging_level(), Some("ERROR"));

    // Enforce again: nothing to change, no write.
    account.reset_call_counts().await;
    let again = run_scan(&account, &["--profile", profile, "--remediate", "enforce"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert_eq!(account.call_counts().await.writes(), 0);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("no changes to make"),
        "{}",
        stdout(&again)
    );
}

// ---------------------------------------------------------------------------------
// At the HTTP layer: what the SDK sends for apigatewayv2 UpdateStage and
// GenerateClientCertificate (API reference: PATCH /v2/apis/{apiId}/stages/{stageName}
// with a JSON body of the fields to set; POST /clientcertificates with
// {description, tags}; REST UpdateStage PATCH /restapis/{id}/stages/{stage} with
// {patchOperations: [{op, path, value}]}).
// ---------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    content_type: Option<String>,
    body: String,
}

impl Request {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

fn methods_and_paths(requests: &[Request]) -> Vec<(&str, &str)> {
    requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect()
}

/// A loopback HTTP/1.1 server that records every request and answers the canned
/// response of the first `(method, path prefix)` that matches (404 otherwise).
async fn listener(
    canned: Vec<(&'static str, String, &'static str)>,
) -> (String, Arc<Mutex<Vec<Request>>>) {
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", socket.local_addr().expect("addr"));
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let log = recorded.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = socket.accept().await else {
                return;
            };
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                let n = stream.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buffer.extend_from_slice(&chunk[..n]);
                if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
            let header = |name: &str| {
                head.lines().find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.trim().to_string())
                })
            };
            let length: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buffer.len() < head_end + length {
                let n = stream.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let mut request_line = head.lines().next().unwrap_or_default().split_whitespace();
            let request = Request {
                method: request_line.next().unwrap_or_default().to_string(),
                path: request_line.next().unwrap_or_default().to_string(),
                content_type: header("content-type"),
                body: String::from_utf8_lossy(&buffer[head_end..]).to_string(),
            };
            let (status, body) = canned
                .iter()
                .find(|(m, p, _)| *m == request.method && request.path.starts_with(p.as_str()))
                .map(|(_, _, body)| ("200 OK", *body))
                .unwrap_or(("404 Not Found", r#"{"message":"not canned"}"#));
            log.lock().expect("log").push(request);
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    (url, recorded)
}

fn loopback_sdk(url: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDLOOPBACK",
            "secret",
            None,
            None,
            "test",
        )))
        .build()
}

fn one_region(rest_apis: Vec<RestApi>, v2_apis: Vec<V2Api>) -> Inventory {
    Inventory {
        regions: vec![RegionInventory {
            region: REGION.to_string(),
            rest_apis,
            v2_apis,
            domain_names: Vec::new(),
        }],
        errors: Vec::new(),
    }
}

async fn plan_and_apply(
    inventory: &Inventory,
    settings: &RemediationSettings,
    dry_run: bool,
    url: &str,
) -> RemediationReport {
    let params = ControlParameters::default();
    let findings = evaluate(
        &inventory.regions,
        Some("123456789012"),
        &all_ids(),
        &params,
    );
    let mode = if dry_run { Mode::DryRun } else { Mode::Enforce };
    run(
        mode,
        &loopback_sdk(url),
        inventory,
        &findings,
        &params,
        settings,
    )
    .await
}

#[tokio::test]
async fn v2_update_stage_sends_the_whole_read_modified_settings_objects() {
    // The stage as GetStage returns it: throttling, metrics and data trace settings that
    // must come back unchanged, a route override at OFF and one at INFO.
    const GET_STAGE: &str = r#"{"stageName":"live",
        "defaultRouteSettings":{"dataTraceEnabled":false,"detailedMetricsEnabled":true,"loggingLevel":"OFF","throttlingBurstLimit":100,"throttlingRateLimit":12.5},
        "routeSettings":{"$default":{"loggingLevel":"OFF","throttlingBurstLimit":10},"$connect":{"loggingLevel":"INFO"}},
        "accessLogSettings":{"destinationArn":"arn:aws:logs:us-east-1:123456789012:log-group:theirs"}}"#;
    let (url, recorded) = listener(vec![
        (
            "GET",
            "/account".to_string(),
            r#"{"cloudwatchRoleArn":"arn:aws:iam::123456789012:role/cw"}"#,
        ),
        ("GET", "/v2/apis/abc123/stages/live".to_string(), GET_STAGE),
        (
            "PATCH",
            "/v2/apis/abc123/stages/live".to_string(),
            r#"{"stageName":"live"}"#,
        ),
    ])
    .await;
    let stage = V2Stage {
        name: "live".into(),
        default_logging_level: Some("OFF".into()),
        route_logging_levels: [
            ("$default".to_string(), Some("OFF".to_string())),
            ("$connect".to_string(), Some("INFO".to_string())),
        ]
        .into_iter()
        .collect(),
        access_log: Some(apigw_compliance::inventory::AccessLogSettings {
            destination_arn: Some("arn:aws:logs:us-east-1:123456789012:log-group:theirs".into()),
            format: None,
        }),
        ..V2Stage::default()
    };
    let inventory = one_region(
        Vec::new(),
        vec![V2Api {
            id: "abc123".into(),
            name: "chat".into(),
            protocol: V2Protocol::WebSocket,
            tags: Default::default(),
            stages: vec![stage],
            routes: Vec::new(),
            integrations: Vec::new(),
        }],
    );
    let settings =
        settings_with_access_log("arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access");

    let outcome = plan_and_apply(&inventory, &settings, false, &url).await;
    assert!(!outcome.has_failures(), "{:#?}", outcome.outcome);
    let requests = recorded.lock().expect("log").clone();
    assert_eq!(
        methods_and_paths(&requests),
        [
            ("GET", "/account"),
            ("GET", "/v2/apis/abc123/stages/live"),
            ("PATCH", "/v2/apis/abc123/stages/live")
        ]
    );
    let update = &requests[2];
    assert_eq!(update.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        update.json(),
        json!({
            "defaultRouteSettings": {"dataTraceEnabled": false, "detailedMetricsEnabled": true, "loggingLevel": "ERROR", "throttlingBurstLimit": 100, "throttlingRateLimit": 12.5},
            "routeSettings": {"$default": {"loggingLevel": "ERROR", "throttlingBurstLimit": 10}, "$connect": {"loggingLevel": "INFO"}},
            "accessLogSettings": {"destinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:theirs", "format": FORMAT}
        }),
        "the existing destination is kept, only the empty format is filled"
    );
    // What the outcome says it sent is what went over the wire.
    assert_eq!(outcome.outcome.changes[0].call.request, update.json());
}

#[tokio::test]
async fn http_stages_get_access_logs_and_never_route_settings_on_the_wire() {
    let (url, recorded) = listener(vec![
        (
            "GET",
            "/v2/apis/web1/stages/api".to_string(),
            r#"{"stageName":"api","defaultRouteSettings":{"detailedMetricsEnabled":false}}"#,
        ),
        (
            "PATCH",
            "/v2/apis/web1/stages/api".to_string(),
            r#"{"stageName":"api"}"#,
        ),
    ])
    .await;
    let inventory = one_region(
        Vec::new(),
        vec![V2Api {
            id: "web1".into(),
            name: "web".into(),
            protocol: V2Protocol::Http,
            tags: Default::default(),
            stages: vec![V2Stage {
                name: "api".into(),
                ..V2Stage::default()
            }],
            routes: Vec::new(),
            integrations: Vec::new(),
        }],
    );
    let settings =
        settings_with_access_log("arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access");
    let outcome = plan_and_apply(&inventory, &settings, false, &url).await;
    assert!(!outcome.has_failures(), "{:#?}", outcome.outcome);
    let requests = recorded.lock().expect("log").clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1].method, "PATCH");
    assert_eq!(
        requests[1].json(),
        json!({"accessLogSettings": {"destinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access", "format": FORMAT}})
    );
}

/// GetStage's answer for the stage of [`compliant_rest_stage_without_certificate`].
const PROD: &str = r#"{"stageName":"prod","tracingEnabled":true,
    "methodSettings":{"*/*":{"loggingLevel":"INFO"}},
    "webAclArn":"arn:aws:wafv2:us-east-1:123456789012:regional/webacl/api/0a1b"}"#;

fn compliant_rest_stage_without_certificate() -> Inventory {
    let stage = RestStage {
        name: "prod".into(),
        method_settings: [(
            "*/*".to_string(),
            MethodSetting {
                logging_level: Some("INFO".into()),
                ..MethodSetting::default()
            },
        )]
        .into_iter()
        .collect(),
        tracing_enabled: true,
        web_acl_arn: Some("arn:aws:wafv2:us-east-1:123456789012:regional/webacl/api/0a1b".into()),
        ..RestStage::default()
    };
    one_region(
        vec![RestApi {
            id: "a1b2c3".into(),
            name: "orders".into(),
            stages: vec![stage],
            ..RestApi::default()
        }],
        Vec::new(),
    )
}

#[tokio::test]
async fn generate_client_certificate_then_update_stage_on_the_wire() {
    let (url, recorded) = listener(vec![
        ("GET", "/clientcertificates".to_string(), r#"{"item":[]}"#),
        (
            "POST",
            "/clientcertificates".to_string(),
            r#"{"clientCertificateId":"cc42xy","description":"d","expirationDate":1900000000}"#,
        ),
        ("GET", "/restapis/a1b2c3/stages/prod".to_string(), PROD),
        (
            "PATCH",
            "/restapis/a1b2c3/stages/prod".to_string(),
            r#"{"stageName":"prod","clientCertificateId":"cc42xy"}"#,
        ),
    ])
    .await;
    let outcome = plan_and_apply(
        &compliant_rest_stage_without_certificate(),
        &settings_generating_a_certificate(),
        false,
        &url,
    )
    .await;
    assert!(!outcome.has_failures(), "{:#?}", outcome.outcome);
    let requests = recorded.lock().expect("log").clone();
    assert_eq!(
        methods_and_paths(&requests),
        [
            ("GET", "/clientcertificates?limit=500"),
            ("POST", "/clientcertificates"),
            ("GET", "/restapis/a1b2c3/stages/prod"),
            ("PATCH", "/restapis/a1b2c3/stages/prod")
        ]
    );
    assert_eq!(
        requests[1].content_type.as_deref(),
        Some("application/json")
    );
    let generate = requests[1].json();
    assert_eq!(
        generate["tags"],
        json!({"apigwcompliance.io/managed": "true"})
    );
    assert!(
        generate["description"]
            .as_str()
            .is_some_and(|d| d.contains("APIGateway.2")),
        "{generate}"
    );
    assert_eq!(
        generate.as_object().map(|o| o.len()),
        Some(2),
        "only description and tags: {generate}"
    );
    assert_eq!(
        requests[3].json(),
        json!({"patchOperations": [{"op": "replace", "path": "/clientCertificateId", "value": "cc42xy"}]})
    );
    let item = &outcome.outcome.changes[0].items[0];
    assert_eq!(
        (item.after.as_str(), item.status),
        ("cc42xy", ItemStatus::Applied)
    );
}

#[tokio::test]
async fn dry_run_looks_for_a_certificate_to_reuse_and_sends_nothing_else() {
    let (url, recorded) = listener(vec![
        ("GET", "/clientcertificates".to_string(), r#"{"item":[]}"#),
        ("GET", "/restapis/a1b2c3/stages/prod".to_string(), PROD),
    ])
    .await;
    let outcome = plan_and_apply(
        &compliant_rest_stage_without_certificate(),
        &settings_generating_a_certificate(),
        true,
        &url,
    )
    .await;
    let requests = recorded.lock().expect("log").clone();
    assert_eq!(
        methods_and_paths(&requests),
        [
            ("GET", "/clientcertificates?limit=500"),
            ("GET", "/restapis/a1b2c3/stages/prod")
        ],
        "reads only: the certificates to reuse, the stage before its write"
    );
    assert_eq!(
        outcome.outcome.changes[0].items[0].status,
        ItemStatus::WouldApply
    );
    assert_eq!(
        outcome.outcome.changes[0].call.request,
        json!({"patchOperations": [{"op": "replace", "path": "/clientCertificateId", "value": "${generatedClientCertificateId}"}]})
    );
}

/// Once the write gate closes (the operator shutting down, a lost leader lease), no
/// write starts: every item says it was not sent, and AWS saw only reads.
#[tokio::test]
async fn a_closed_write_gate_sends_no_write() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    seed::set_cloudwatch_role(&sdk, &account.account_id).await;
    failing_rest_stage(&sdk, "orders").await;
    let acl = seed::web_acl(&sdk, "api").await;
    let params = ControlParameters::default();
    let (inventory, findings) = scan(&sdk, &params).await;
    let plan = plan(
        [&inventory],
        &findings,
        &params,
        &settings_with_acl(&acl),
        &OwnershipTags::default(),
    );
    assert!(!plan.changes.is_empty());

    account.reset_call_counts().await;
    let gate = apigw_compliance::pipeline::apply::WriteGate(std::sync::Arc::new(|| {
        Err("this replica no longer holds the leader lease".to_string())
    }));
    let outcome =
        apigw_compliance::pipeline::remediate(Mode::Enforce, &plan, &sdk, Some(gate)).await;
    let calls = account.call_counts().await;
    assert_eq!(calls.writes(), 0, "{calls:?}");
    let items: Vec<_> = outcome.changes.iter().flat_map(|c| &c.items).collect();
    assert!(!items.is_empty());
    for item in items {
        assert_eq!(item.status, ItemStatus::Failed, "{item:?}");
        assert!(
            item.message.as_deref().is_some_and(
                |m| m.starts_with("not sent: this replica no longer holds the leader lease")
            ),
            "{item:?}"
        );
    }
}

/// A web ACL and a log destination are regional: a profile over three regions names
/// one of each for two of them (webAclArns, destinationArns). Each of those regions'
/// stages gets its own region's ACL and destination; the third region's failing stages
/// get nothing and are reported as needing one, each with the field to add it to.
#[tokio::test]
async fn each_region_gets_its_own_web_acl_and_log_destination_and_a_region_without_is_reported() {
    use apigw_compliance::crd::ComplianceProfile;
    use apigw_compliance::model::plan::UnplannedReason;
    use apigw_compliance::pipeline::Scan;

    const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-south-1"];
    let account = new_account().await;
    let mut seeded = Vec::new();
    for region in REGIONS {
        let sdk = account.sdk_config(region);
        let (rest_api, deployment) = seed::rest_api(&sdk, "orders").await;
        seed::rest_stage(&sdk, &rest_api, &deployment, "prod", &[]).await;
        let http_api = seed::v2_api(&sdk, "web", ProtocolType::Http).await;
        seed::v2_stage(&sdk, &http_api, "live", V2StageSpec::default()).await;
        seeded.push((region, rest_api, http_api));
    }
    let east_acl = seed::web_acl(&account.sdk_config("us-east-1"), "api").await;
    let west_acl = seed::web_acl(&account.sdk_config("eu-west-1"), "api").await;
    let log_group = |region: &str| {
        format!(
            "arn:aws:logs:{region}:{}:log-group:/apigw/access",
            account.account_id
        )
    };
    let manifest = format!(
        r#"apiVersion: apigwcompliance.io/v1alpha1
kind: ComplianceProfile
metadata: {{name: per-region}}
spec:
  scope:
    regions: [{regions}]
  controls:
    enabled: [APIGateway.4, APIGateway.9]
  remediation:
    mode: Enforce
    controls:
      waf:
        webAclArns: ["{west_acl}", "{east_acl}"]
      accessLogging:
        destinationArns: ["{east_log}", "{west_log}"]
        format: '{FORMAT}'
"#,
        regions = REGIONS.join(", "),
        east_log = log_group("us-east-1"),
        west_log = log_group("eu-west-1"),
    );
    let profile = ComplianceProfile::from_manifest(&manifest).expect("a valid profile");
    let scan = Scan::new(profile.spec).expect("a valid spec");
    let sdk = account.sdk_config(REGIONS[0]);
    let regions: Vec<String> = REGIONS.iter().map(|r| (*r).to_string()).collect();
    let options = ReadOptions {
        needs: scan.needs(),
        ..ReadOptions::default()
    };
    let inventory = read_inventory(&sdk, &regions, &options).await;
    assert!(inventory.errors.is_empty(), "{:?}", inventory.errors);
    let verdicts = scan.evaluate(
        [&inventory],
        Some(&account.account_id),
        k8s_openapi::jiff::Timestamp::now(),
    );
    let plan = scan.plan([&inventory], &verdicts.findings, &OwnershipTags::default());
    let outcome = apigw_compliance::pipeline::remediate(Mode::Enforce, &plan, &sdk, None).await;
    let summary = outcome.summary();
    assert_eq!((summary.failed, summary.blocked), (0, 0), "{outcome:#?}");
    // Per region: the web ACL, and the access log destination and format.
    assert_eq!(summary.applied, 6, "{outcome:#?}");

    // The two regions with targets: each stage has its own region's.
    for (region, acl) in [("us-east-1", &east_acl), ("eu-west-1", &west_acl)] {
        let sdk = account.sdk_config(region);
        let (_, rest_api, http_api) = seeded.iter().find(|(r, ..)| *r == region).expect("seeded");
        assert_eq!(
            stage(&sdk, rest_api, "prod").await.web_acl_arn(),
            Some(acl.as_str()),
            "{region}"
        );
        let live = aws_sdk_apigatewayv2::Client::new(&sdk)
            .get_stage()
            .api_id(http_api)
            .stage_name("live")
            .send()
            .await
            .expect("GetStage");
        assert_eq!(
            live.access_log_settings().and_then(|a| a.destination_arn()),
            Some(log_group(region).as_str()),
            "{region}"
        );
    }

    // The third: nothing written, and the plan says what it needs.
    let south = account.sdk_config("ap-south-1");
    let (_, rest_api, http_api) = &seeded[2];
    assert_eq!(stage(&south, rest_api, "prod").await.web_acl_arn(), None);
    let live = aws_sdk_apigatewayv2::Client::new(&south)
        .get_stage()
        .api_id(http_api)
        .stage_name("live")
        .send()
        .await
        .expect("GetStage");
    assert!(live.access_log_settings().is_none(), "{live:?}");
    let mut needed: Vec<(String, UnplannedReason, String)> = plan
        .unplanned
        .iter()
        .map(|u| (u.control_id.to_string(), u.reason, u.message.clone()))
        .collect();
    needed.sort_by(|a, b| (&a.0, &a.2).cmp(&(&b.0, &b.2)));
    assert_eq!(
        needed,
        [
            (
                "APIGateway.4".to_string(),
                UnplannedReason::BlockedPrecondition,
                "no web ACL named for ap-south-1: add one to spec.remediation.controls.waf.webAclArns"
                    .to_string()
            ),
            (
                "APIGateway.9".to_string(),
                UnplannedReason::BlockedPrecondition,
                "no access log destination named for ap-south-1: add one to spec.remediation.controls.accessLogging.destinationArns"
                    .to_string()
            ),
        ]
    );
    assert!(
        plan.unplanned
            .iter()
            .all(|u| u.resource_arn.contains(":ap-south-1:") && u.region == "ap-south-1"),
        "{:?}",
        plan.unplanned
    );
}
