//! Remediation through the operator, end to end: the CRD applied with kubectl to the
//! real local kube-apiserver, the operator binary (`apigw-compliance run`) as a
//! subprocess, moto as AWS. A profile in DryRun shows the plan in its status and
//! changes nothing; switched to Enforce it fixes the stages, says so in Events and
//! status; the next scan writes nothing.

use std::time::Duration;

use apigw_compliance::crd::{ComplianceProfile, ComplianceProfileStatus, ConditionStatus};
use aws_config::SdkConfig;
use kube::api::Api;

use crate::support::cluster::{self, ControlPlane};
use crate::support::moto::new_account;
use crate::support::operator::{
    Operator, apply, client_with_crd, condition, events, kubectl_stdout, profile_yaml, repo,
    wait_for, wait_for_events,
};
use crate::support::seed;

/// Long enough for a scan and its remediation against moto on a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(120);
const REGION: &str = "us-east-1";

/// The status of the scan of `generation` in `mode`, once written in full.
fn scanned_in(
    generation: i64,
    mode: &str,
) -> impl Fn(&ComplianceProfile, &ComplianceProfileStatus) -> bool {
    let mode = mode.to_string();
    move |profile, status| {
        profile.metadata.generation == Some(generation)
            && status.observed_generation == Some(generation)
            && status.condition("Reconciling").is_none()
            && status
                .remediation
                .as_ref()
                .is_some_and(|r| r.mode.as_str() == mode && r.last_run.is_some())
    }
}

/// Waits until the `orders` profile's scan of `generation` in `mode` is written in
/// full (`scanned_in`) and returns that status.
async fn wait_for_scan(
    api_profiles: &Api<ComplianceProfile>,
    operator: &Operator,
    what: &str,
    generation: i64,
    mode: &str,
) -> ComplianceProfileStatus {
    wait_for(
        api_profiles,
        "orders",
        operator,
        WAIT,
        what,
        scanned_in(generation, mode),
    )
    .await
    .status
    .expect("status")
}

/// `kubectl patch --type merge` of the `orders` profile.
fn merge_patch_orders(plane: &ControlPlane, namespace: &str, patch: &str) {
    kubectl_stdout(
        plane,
        &[
            "patch", "acp", "orders", "-n", namespace, "--type", "merge", "-p", patch,
        ],
        None,
    );
}

/// A stage as AWS has it now: (X-Ray on, stage-wide logging level, web ACL).
async fn stage(sdk: &SdkConfig, api: &str, name: &str) -> (bool, Option<String>, Option<String>) {
    let stage = aws_sdk_apigateway::Client::new(sdk)
        .get_stage()
        .rest_api_id(api)
        .stage_name(name)
        .send()
        .await
        .expect("GetStage");
    let level = stage
        .method_settings()
        .and_then(|m| m.get("*/*"))
        .and_then(|m| m.logging_level())
        .map(str::to_string);
    (
        stage.tracing_enabled(),
        level,
        stage.web_acl_arn().map(str::to_string),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_plans_without_writing_then_enforce_fixes_the_stages_and_the_next_scan_writes_nothing()
 {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "remediate").await;
    let plane = cluster::shared();
    // The sample remediation profile passes admission (schema and CEL rules).
    kubectl_stdout(
        plane,
        &["apply", "--dry-run=server", "-n", &namespace, "-f", "-"],
        Some(
            &std::fs::read_to_string(repo("examples/profile-remediate.yaml"))
                .expect("examples/profile-remediate.yaml"),
        ),
    );

    // A compliant `prod` (logging INFO, X-Ray; no web ACL) and two stages failing
    // APIGateway.1 and .3 (`dev` logs OFF, `qa` has no method settings); none has a
    // web ACL (APIGateway.4).
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    seed::set_cloudwatch_role(&sdk, &account.account_id).await;
    let acl = seed::web_acl(&sdk, "apis").await;
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    seed::rest_stage(
        &sdk,
        &api,
        &deployment,
        "prod",
        seed::COMPLIANT_REST_PATCHES,
    )
    .await;
    seed::rest_stage(
        &sdk,
        &api,
        &deployment,
        "dev",
        &[("/*/*/logging/loglevel", "OFF")],
    )
    .await;
    seed::rest_stage(&sdk, &api, &deployment, "qa", &[]).await;
    account.reset_call_counts().await;

    let operator = Operator::watching(&namespace, &account).start().await;
    let profile = profile_yaml(
        "orders",
        &format!(
            "  scope:\n    regions: [{REGION}]\n  controls:\n    enabled: [APIGateway.1, APIGateway.3, APIGateway.4]\n  remediation:\n    mode: DryRun\n    controls:\n      waf: {{webAclArn: \"{acl}\"}}\n  interval: 1m\n"
        ),
    );
    apply(plane, &namespace, &profile);
    let api_profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);

    // DryRun: the exact changes in status, and no AWS write.
    let status = wait_for_scan(&api_profiles, &operator, "a DryRun scan", 1, "DryRun").await;
    assert_eq!(
        account.call_counts().await.writes(),
        0,
        "DryRun wrote: {:?}",
        account.call_counts().await
    );
    let remediation = status.remediation.clone().expect("remediation status");
    assert_eq!(
        condition(&status, "Remediated"),
        Some((ConditionStatus::False, "ChangesPlanned".into()))
    );
    assert_eq!(
        condition(&status, "Compliant"),
        Some((ConditionStatus::False, "FindingsFailed".into()))
    );
    // dev and qa: one UpdateStage each (logging and X-Ray); all three: AssociateWebACL.
    assert_eq!(remediation.planned, 5, "{remediation:#?}");
    assert_eq!(remediation.plan.len(), 5, "{remediation:#?}");
    let dev = remediation
        .plan
        .iter()
        .find(|c| {
            c.resource_arn.ends_with("/stages/dev") && c.call.starts_with("apigateway:UpdateStage")
        })
        .expect("dev's UpdateStage in the plan");
    assert_eq!(
        dev.call,
        format!("apigateway:UpdateStage PATCH /restapis/{api}/stages/dev")
    );
    let items: Vec<(String, &str, &str)> = dev
        .items
        .iter()
        .map(|i| {
            (
                i.control_id.to_string(),
                i.before.as_str(),
                i.after.as_str(),
            )
        })
        .collect();
    assert!(
        items.contains(&("APIGateway.1".into(), "OFF", "ERROR")),
        "{items:?}"
    );
    assert!(
        items.contains(&("APIGateway.3".into(), "false", "true")),
        "{items:?}"
    );
    assert!(dev.request.contains("/tracingEnabled"), "{}", dev.request);
    assert!(
        remediation
            .plan
            .iter()
            .filter(|c| c.call.starts_with("wafv2:AssociateWebACL"))
            .count()
            == 3,
        "{remediation:#?}"
    );
    assert_eq!(
        remediation.last_run.map(|l| (l.would_apply, l.applied)),
        Some((7, 0))
    );
    assert!(remediation.recent_changes.is_empty());
    assert_eq!(
        stage(&sdk, &api, "dev").await,
        (false, Some("OFF".into()), None),
        "DryRun changed dev"
    );

    // Enforce: the stages become compliant, each change is an Event and in status.
    merge_patch_orders(
        plane,
        &namespace,
        r#"{"spec":{"remediation":{"mode":"Enforce"}}}"#,
    );
    let status = wait_for_scan(&api_profiles, &operator, "an Enforce scan", 2, "Enforce").await;
    let remediation = status.remediation.clone().expect("remediation status");
    assert_eq!(
        condition(&status, "Remediated"),
        Some((ConditionStatus::True, "ChangesApplied".into())),
        "{remediation:#?}"
    );
    assert_eq!(
        remediation
            .last_run
            .map(|l| (l.applied, l.failed, l.blocked)),
        Some((7, 0, 0))
    );
    assert!(remediation.plan.is_empty() && remediation.problems.is_empty());
    assert_eq!(remediation.recent_changes.len(), 7);
    assert!(
        remediation.recent_changes.iter().any(|c| {
            c.change.resource_arn.ends_with("/stages/qa")
                && c.change.setting == "X-Ray tracing"
                && (c.change.before.as_str(), c.change.after.as_str()) == ("false", "true")
        }),
        "{remediation:#?}"
    );
    for name in ["dev", "qa"] {
        assert_eq!(
            stage(&sdk, &api, name).await,
            (true, Some("ERROR".into()), Some(acl.clone())),
            "{name} after Enforce"
        );
    }
    assert_eq!(
        stage(&sdk, &api, "prod").await,
        (true, Some("INFO".into()), Some(acl.clone())),
        "prod keeps INFO (never lowered) and gets the web ACL"
    );
    let calls = account.call_counts().await;
    assert_eq!(
        (
            calls.get("apigateway:UpdateStage"),
            calls.get("wafv2:AssociateWebACL")
        ),
        (2, 3),
        "{calls:?}"
    );
    // The Events follow the status write.
    let remediated =
        wait_for_events(plane, &namespace, &operator, WAIT, "Remediated/Normal/", 7).await;
    assert_eq!(remediated.len(), 7, "{remediated:#?}");
    assert!(
        remediated.iter().any(|e| e
            == &format!(
                "Remediated/Normal/orders/dev: APIGateway.3 on arn:aws:apigateway:{REGION}::/restapis/{api}/stages/dev: X-Ray tracing false -> true (apigateway:UpdateStage)"
            )),
        "{remediated:#?}"
    );
    assert_eq!(
        operator.metric(
            "apigw_compliance_remediations_total{control=\"APIGateway.3\",result=\"applied\"}"
        ),
        2.0
    );

    // The next scan (a spec change scans at once) finds nothing to change and writes
    // nothing; the record of the changes stays.
    account.reset_call_counts().await;
    merge_patch_orders(plane, &namespace, r#"{"spec":{"interval":"2m"}}"#);
    let status = wait_for_scan(
        &api_profiles,
        &operator,
        "the scan after Enforce",
        3,
        "Enforce",
    )
    .await;
    let calls = account.call_counts().await;
    assert_eq!(calls.writes(), 0, "the scan after Enforce wrote: {calls:?}");
    assert!(
        calls.get("apigateway:GetStages") > 0,
        "it read the stages again: {calls:?}"
    );
    assert_eq!(
        condition(&status, "Compliant"),
        Some((ConditionStatus::True, "AllPassed".into()))
    );
    assert_eq!(
        condition(&status, "Remediated"),
        Some((ConditionStatus::True, "NothingToChange".into()))
    );
    let remediation = status.remediation.expect("remediation status");
    assert_eq!(remediation.last_run.map(|l| l.applied), Some(0));
    assert_eq!(remediation.recent_changes.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_cloudwatch_role_blocks_execution_logging_once_reported_while_tracing_is_fixed() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "remediate-blocked").await;
    let plane = cluster::shared();

    // No CloudWatch Logs role in API Gateway's account settings: execution logging
    // cannot be turned on. `dev` fails APIGateway.1 and .3.
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    seed::rest_stage(
        &sdk,
        &api,
        &deployment,
        "dev",
        &[("/*/*/logging/loglevel", "OFF")],
    )
    .await;

    let operator = Operator::watching(&namespace, &account).start().await;
    let profile = |interval: &str| {
        profile_yaml(
            "orders",
            &format!(
                "  scope:\n    regions: [{REGION}]\n  controls:\n    enabled: [APIGateway.1, APIGateway.3]\n  remediation:\n    mode: Enforce\n  interval: {interval}\n"
            ),
        )
    };
    apply(plane, &namespace, &profile("10m"));
    let api_profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let status = wait_for_scan(&api_profiles, &operator, "an Enforce scan", 1, "Enforce").await;
    let remediation = status.remediation.clone().expect("remediation status");
    assert_eq!(
        condition(&status, "Remediated"),
        Some((ConditionStatus::False, "RemediationBlocked".into())),
        "{remediation:#?}"
    );
    assert_eq!(
        remediation
            .last_run
            .map(|l| (l.applied, l.blocked, l.failed)),
        Some((1, 1, 0))
    );
    assert_eq!(remediation.problems.len(), 1, "{remediation:#?}");
    let problem = &remediation.problems[0];
    assert_eq!(
        problem.controls,
        vec![apigw_compliance::controls::execution_logging::ID]
    );
    assert!(
        problem.message.contains("CloudWatch Logs role"),
        "{problem:?}"
    );
    // The stage's other change went; the blocked one was not sent.
    assert_eq!(
        stage(&sdk, &api, "dev").await,
        (true, Some("OFF".into()), None)
    );
    wait_for_events(
        plane,
        &namespace,
        &operator,
        WAIT,
        "RemediationBlocked/Warning/APIGateway.1: ",
        1,
    )
    .await;
    wait_for_events(
        plane,
        &namespace,
        &operator,
        WAIT,
        "Remediated/Normal/orders/dev: APIGateway.3 on ",
        1,
    )
    .await;

    // Two more scans (spec changes): still blocked, nothing sent, and the persisting
    // problem is not reported again. A profile's reconciles run one at a time, so once
    // the third generation's status is written, the second's Events are out.
    account.reset_call_counts().await;
    for (generation, interval) in [(2, "11m"), (3, "12m")] {
        apply(plane, &namespace, &profile(interval));
        let status = wait_for_scan(
            &api_profiles,
            &operator,
            "a later Enforce scan",
            generation,
            "Enforce",
        )
        .await;
        assert_eq!(
            condition(&status, "Remediated"),
            Some((ConditionStatus::False, "RemediationBlocked".into()))
        );
    }
    let calls = account.call_counts().await;
    assert_eq!(calls.writes(), 0, "{calls:?}");
    assert!(calls.get("apigateway:GetAccount") >= 2, "{calls:?}");
    let warnings: Vec<String> = events(plane, &namespace)
        .into_iter()
        .filter(|e| e.starts_with("RemediationBlocked/"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
}
