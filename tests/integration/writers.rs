//! No two writers fighting, end to end against moto (AWS write calls counted there) and
//! the local kube-apiserver: two Enforce profiles wanting different web ACLs for one
//! stage (the younger writes nothing and says why, naming the older); stages that opt
//! out or that a CloudFormation stack owns (no write, reported as owned elsewhere, by
//! the operator and by `scan --remediate enforce`); the account's cap on writes across
//! profiles (the rest held back, made at a later scan).

use std::time::{Duration, Instant};

use apigw_compliance::crd::{ComplianceProfile, ComplianceProfileStatus, ConditionStatus};
use apigw_compliance::model::plan::HoldReason;
use aws_config::SdkConfig;
use kube::api::Api;
use serde_json::Value;

use crate::support::cluster;
use crate::support::moto::{MotoAccount, new_account};
use crate::support::operator::{
    BIN, Operator, apply, client_with_crd, condition, profile_yaml, request_scan, wait_all,
    wait_for,
};
use crate::support::seed;

const WAIT: Duration = Duration::from_secs(120);
const REGION: &str = "us-east-1";

/// A REST stage of `api` with X-Ray off (failing APIGateway.3) and the given tags.
async fn tagged_stage(
    sdk: &SdkConfig,
    api: &str,
    deployment: &str,
    name: &str,
    tags: &[(&str, &str)],
) {
    let mut create = aws_sdk_apigateway::Client::new(sdk)
        .create_stage()
        .rest_api_id(api)
        .deployment_id(deployment)
        .stage_name(name);
    for (key, value) in tags {
        create = create.tags(*key, *value);
    }
    create.send().await.expect("CreateStage");
}

/// The stage's web ACL as AWS has it now.
async fn web_acl_of(sdk: &SdkConfig, api: &str, name: &str) -> Option<String> {
    aws_sdk_apigateway::Client::new(sdk)
        .get_stage()
        .rest_api_id(api)
        .stage_name(name)
        .send()
        .await
        .expect("GetStage")
        .web_acl_arn()
        .map(str::to_string)
}

/// Whether the status is a finished Enforce run of the current generation.
fn enforced(profile: &ComplianceProfile, status: &ComplianceProfileStatus) -> bool {
    profile.metadata.generation.is_some()
        && status.observed_generation == profile.metadata.generation
        && status
            .remediation
            .as_ref()
            .is_some_and(|r| r.mode.as_str() == "Enforce" && r.last_run.is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_enforce_profiles_wanting_different_web_acls_the_younger_writes_nothing_and_names_the_older()
 {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "writers").await;
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    tagged_stage(&sdk, &api, &deployment, "prod", &[]).await;
    let (edge_acl, api_acl) = (
        seed::web_acl(&sdk, "edge").await,
        seed::web_acl(&sdk, "api").await,
    );
    // Each accepts only its own web ACL, so each would replace the other's every scan.
    let spec = |acl: &str| {
        format!(
            "  scope: {{regions: [{REGION}]}}\n  controls:\n    enabled: [APIGateway.4]\n    parameters: {{waf: {{acceptedWebAclArns: [\"{acl}\"]}}}}\n  remediation:\n    mode: Enforce\n    controls: {{waf: {{webAclArn: \"{acl}\"}}}}\n  interval: 1h\n"
        )
    };
    // `a-edge` first; created in the same second, its name still makes it the older.
    apply(
        cluster::shared(),
        &namespace,
        &profile_yaml("a-edge", &spec(&edge_acl)),
    );
    apply(
        cluster::shared(),
        &namespace,
        &profile_yaml("b-api", &spec(&api_acl)),
    );
    account.reset_call_counts().await;
    let operator = Operator::watching(&namespace, &account).start().await;
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let statuses = wait_all(
        &profiles,
        &["a-edge", "b-api"],
        &operator,
        WAIT,
        "both profiles' Enforce runs",
        enforced,
    )
    .await;

    assert_eq!(web_acl_of(&sdk, &api, "prod").await, Some(edge_acl.clone()));
    let calls = account.call_counts().await;
    assert_eq!(
        (calls.get("wafv2:AssociateWebACL"), calls.writes()),
        (1, 1),
        "only the older profile writes: {calls:?}"
    );
    let younger = &statuses[1];
    let remediation = younger.remediation.as_ref().expect("remediation status");
    assert_eq!(
        condition(younger, "Remediated"),
        Some((ConditionStatus::False, "ConflictingProfile".into()))
    );
    let message = &younger
        .condition("Remediated")
        .expect("Remediated condition")
        .message;
    assert!(
        message.contains(&format!("the older Enforce profile {namespace}/a-edge"))
            && message.contains(&edge_acl)
            && message.contains(&api_acl),
        "{message}"
    );
    assert_eq!(remediation.held, 1, "{remediation:#?}");
    assert_eq!(
        remediation.held_back[0].reason,
        HoldReason::ConflictingProfile
    );
    assert_eq!(
        remediation.held_back[0].owner,
        format!("profile {namespace}/a-edge")
    );
    assert_eq!(
        condition(&statuses[0], "Remediated"),
        Some((ConditionStatus::True, "ChangesApplied".into()))
    );

    // Scanned again, the younger finds the older one's web ACL (not in its allow-list)
    // and still holds back: no write from either, ever.
    account.reset_call_counts().await;
    for name in ["a-edge", "b-api"] {
        request_scan(&namespace, name, "again");
    }
    let statuses = wait_all(
        &profiles,
        &["a-edge", "b-api"],
        &operator,
        WAIT,
        "both profiles' second scans",
        |_, s| s.requested_scan_at.as_deref() == Some("again"),
    )
    .await;
    assert_eq!(
        account.call_counts().await.writes(),
        0,
        "{:?}",
        account.call_counts().await
    );
    assert_eq!(web_acl_of(&sdk, &api, "prod").await, Some(edge_acl));
    assert_eq!(
        condition(&statuses[1], "Remediated"),
        Some((ConditionStatus::False, "ConflictingProfile".into()))
    );
}

/// An API with three stages failing APIGateway.3: `free`, `opted-out` (tagged
/// `apigwcompliance.io/remediate: "false"`) and `stacked` (tagged
/// `aws:cloudformation:stack-name: orders-prod`). Returns the API id.
async fn owned_stages(sdk: &SdkConfig) -> String {
    let (api, deployment) = seed::rest_api(sdk, "orders").await;
    tagged_stage(sdk, &api, &deployment, "free", &[]).await;
    tagged_stage(
        sdk,
        &api,
        &deployment,
        "opted-out",
        &[("apigwcompliance.io/remediate", "false")],
    )
    .await;
    tagged_stage(
        sdk,
        &api,
        &deployment,
        "stacked",
        &[("aws:cloudformation:stack-name", "orders-prod")],
    )
    .await;
    api
}

const OWNED_SPEC: &str = "  scope: {regions: [us-east-1]}\n  controls: {enabled: [APIGateway.3]}\n  remediation: {mode: Enforce}\n  interval: 1h\n";

/// Each stage's X-Ray setting, in the order free, opted-out, stacked.
async fn tracing(sdk: &SdkConfig, api: &str) -> Vec<bool> {
    let mut on = Vec::new();
    for name in ["free", "opted-out", "stacked"] {
        on.push(
            aws_sdk_apigateway::Client::new(sdk)
                .get_stage()
                .rest_api_id(api)
                .stage_name(name)
                .send()
                .await
                .expect("GetStage")
                .tracing_enabled(),
        );
    }
    on
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opted_out_and_stack_owned_stages_get_no_write_from_the_operator_and_are_reported_owned_elsewhere()
 {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "owned").await;
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    let api = owned_stages(&sdk).await;
    apply(
        cluster::shared(),
        &namespace,
        &profile_yaml("orders", OWNED_SPEC),
    );
    account.reset_call_counts().await;
    let operator = Operator::watching(&namespace, &account).start().await;
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let status = wait_for(
        &profiles,
        "orders",
        &operator,
        WAIT,
        "an Enforce run",
        enforced,
    )
    .await
    .status
    .expect("status");

    assert_eq!(tracing(&sdk, &api).await, [true, false, false]);
    assert_eq!(
        account.call_counts().await.get("apigateway:UpdateStage"),
        1,
        "only the free stage is written"
    );
    let remediation = status.remediation.as_ref().expect("remediation status");
    assert_eq!(remediation.held, 2, "{remediation:#?}");
    let held: Vec<(&str, HoldReason, &str)> = remediation
        .held_back
        .iter()
        .map(|h| {
            (
                h.resource_arn.rsplit('/').next().unwrap_or_default(),
                h.reason,
                h.owner.as_str(),
            )
        })
        .collect();
    assert_eq!(
        held,
        [
            (
                "opted-out",
                HoldReason::OptedOut,
                "tag apigwcompliance.io/remediate=false on stage opted-out"
            ),
            (
                "stacked",
                HoldReason::OwnedElsewhere,
                "CloudFormation stack orders-prod"
            ),
        ]
    );
    assert!(
        remediation.held_back[1]
            .message
            .contains("the stack would revert a change made here; fix it in the template"),
        "{remediation:#?}"
    );
    assert_eq!(
        condition(&status, "Remediated"),
        Some((ConditionStatus::False, "ChangesHeldBack".into()))
    );
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

#[tokio::test]
async fn scan_remediate_enforce_holds_back_opted_out_and_stack_owned_stages_too() {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    let api = owned_stages(&sdk).await;
    let profile = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("owned-{}.yaml", account.account_id));
    std::fs::write(&profile, profile_yaml("orders", OWNED_SPEC)).expect("write profile");
    let profile = profile.to_str().expect("utf-8 path");

    account.reset_call_counts().await;
    let out = run_scan(
        &account,
        &[
            "--profile",
            profile,
            "--remediate",
            "enforce",
            "--output",
            "json",
        ],
    );
    let shown = format!(
        "{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert_eq!(tracing(&sdk, &api).await, [true, false, false]);
    assert_eq!(
        account.call_counts().await.get("apigateway:UpdateStage"),
        1,
        "{shown}"
    );
    let json: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {shown}"));
    let held = json["remediation"]["plan"]["held"]
        .as_array()
        .expect("held changes");
    let reasons: Vec<(&str, &str)> = held
        .iter()
        .map(|h| {
            (
                h["resourceArn"]
                    .as_str()
                    .and_then(|a| a.rsplit('/').next())
                    .unwrap_or_default(),
                h["reason"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [("opted-out", "OptedOut"), ("stacked", "OwnedElsewhere")],
        "{shown}"
    );
    // The held change is the exact call to make in the template.
    assert_eq!(held[1]["call"]["operation"], "apigateway:UpdateStage");
    assert_eq!(held[1]["owner"], "CloudFormation stack orders-prod");

    // The table says it too; without ownership tags the stack's stage is written.
    account.reset_call_counts().await;
    let out = run_scan(
        &account,
        &[
            "--profile",
            profile,
            "--remediate",
            "enforce",
            "--ownership-tag",
            "",
        ],
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(table.contains("HELD BACK (not written):"), "{table}");
    assert!(table.contains("OptedOut"), "{table}");
    assert_eq!(tracing(&sdk, &api).await, [true, false, true]);
    assert_eq!(account.call_counts().await.get("apigateway:UpdateStage"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_cap_holds_writes_back_across_profiles_until_a_later_scan() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "cap").await;
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    // Two APIs of two stages each, all failing APIGateway.3: four writes wanted.
    for name in ["one", "two"] {
        let (api, deployment) = seed::rest_api(&sdk, name).await;
        for stage in ["s1", "s2"] {
            tagged_stage(&sdk, &api, &deployment, stage, &[]).await;
        }
    }
    let spec = |api: &str| {
        format!(
            "  scope: {{regions: [{REGION}], apis: {{include: [\"{api}\"]}}}}\n  controls: {{enabled: [APIGateway.3]}}\n  remediation: {{mode: Enforce}}\n  interval: 1h\n"
        )
    };
    apply(
        cluster::shared(),
        &namespace,
        &format!(
            "{}{}",
            profile_yaml("one", &spec("one")),
            profile_yaml("two", &spec("two"))
        ),
    );
    account.reset_call_counts().await;
    let window_seconds = 20;
    let operator = Operator::watching(&namespace, &account)
        .args([
            "--account-max-changes",
            "3",
            "--account-changes-window-seconds",
            &window_seconds.to_string(),
        ])
        .start()
        .await;
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let started = Instant::now();
    let statuses = wait_all(
        &profiles,
        &["one", "two"],
        &operator,
        WAIT,
        "both profiles' Enforce runs",
        enforced,
    )
    .await;
    assert_eq!(
        account.call_counts().await.get("apigateway:UpdateStage"),
        3,
        "the cap is shared by the two profiles"
    );
    let held: Vec<(String, u32)> = ["one", "two"]
        .iter()
        .zip(&statuses)
        .filter_map(|(name, s)| {
            let r = s.remediation.as_ref()?;
            (r.held > 0).then(|| (name.to_string(), r.held))
        })
        .collect();
    assert_eq!(held.len(), 1, "one profile waits: {statuses:#?}");
    let (waiting, count) = &held[0];
    assert_eq!(*count, 1);
    let status = &statuses[if waiting == "one" { 0 } else { 1 }];
    let remediation = status.remediation.as_ref().expect("remediation");
    assert_eq!(
        remediation.held_back[0].reason,
        HoldReason::AccountWriteLimit
    );
    assert!(
        remediation.held_back[0].message.contains(&format!(
            "cap of 3 remediation writes per {window_seconds} s"
        )),
        "{remediation:#?}"
    );
    assert_eq!(
        condition(status, "Remediated"),
        Some((ConditionStatus::False, "ChangesHeldBack".into()))
    );

    // Once the window has passed, a later scan makes the held write.
    let mut attempt = 0;
    let done = loop {
        attempt += 1;
        let value = format!("later-{attempt}");
        request_scan(&namespace, waiting, &value);
        let profile = wait_for(
            &profiles,
            waiting,
            &operator,
            WAIT,
            "the requested scan",
            |_, s| s.requested_scan_at.as_deref() == Some(value.as_str()),
        )
        .await;
        let status = profile.status.expect("status");
        if status.remediation.as_ref().is_some_and(|r| r.held == 0) {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(window_seconds) + WAIT,
            "still held back long after the window: {status:#?}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    assert_eq!(
        condition(&done, "Remediated"),
        Some((ConditionStatus::True, "ChangesApplied".into()))
    );
    assert_eq!(account.call_counts().await.get("apigateway:UpdateStage"), 4);
}
