//! Credentials that last: a scan assumes its role through `AwsAccess` (the path both
//! shells take), with sessions shorter than the read and the remediation run that use
//! them. moto is told to end the target account's sessions at their Expiration, as AWS
//! does; the fault proxy slows the requests down so each run crosses an expiry.

use std::time::Duration;

use apigw_compliance::aws::client::AwsHttp;
use apigw_compliance::aws::identity::{AwsAccess, Identity, Sessions};
use apigw_compliance::crd::ComplianceProfile;
use apigw_compliance::inventory::reader::{ReadOptions, read_inventory};
use apigw_compliance::model::ErrorKind;
use apigw_compliance::model::outcome::Mode;
use apigw_compliance::pipeline::ownership::OwnershipTags;
use apigw_compliance::pipeline::{self, Scan};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::{ProvideCredentials, SharedCredentialsProvider};

use crate::support::fault_proxy::{Fault, FaultProxy};
use crate::support::moto::{MotoAccount, new_account};
use crate::support::seed;

const REGION: &str = "us-east-1";
/// REST APIs with one failing stage each: one GetStages each in the read, one GetStage
/// and one UpdateStage each in the remediation.
const APIS: usize = 6;
/// Sessions last 6 s and are renewed 2 to 4 s before they end (the SDK's cache picks
/// the moment between the margin and half of it).
const SESSIONS: Sessions = Sessions {
    duration: Duration::from_secs(6),
    renew_before: Duration::from_secs(4),
};
/// Each slowed request arrives this late: well within half the margin, so a request
/// signed just before the renewal still arrives before its session ends, while
/// `APIS` of them in a row take longer than a session.
const DELAY: Duration = Duration::from_millis(1500);

/// The operator's own identity (`operator`), an AWS configuration sent through the
/// proxy, the way `load_sdk_config` makes it (with a clock and a sleep, which the SDK's
/// identity cache needs).
async fn base_config(operator: &MotoAccount, proxy: &FaultProxy) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&proxy.url)
        .credentials_provider(SharedCredentialsProvider::new(operator.credentials()))
        .load()
        .await
}

/// The target account with `APIS` REST APIs whose `prod` stage has tracing off.
async fn seed_target(target: &MotoAccount) {
    let sdk = target.sdk_config(REGION);
    for i in 0..APIS {
        let (api, deployment) = seed::rest_api(&sdk, &format!("orders-{i}")).await;
        seed::rest_stage(&sdk, &api, &deployment, "prod", &[]).await;
    }
}

fn scan_of(role: &str) -> Scan {
    let profile = ComplianceProfile::from_manifest(&format!(
        "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {{name: long-runs}}\nspec:\n  scope:\n    regions: [{REGION}]\n    roleArn: {role}\n    externalId: long-runs\n    apiTypes: [REST]\n  controls:\n    enabled: [APIGateway.3]\n  remediation:\n    mode: Enforce\n    maxChangesPerScan: 100\n"
    ))
    .expect("a valid profile");
    Scan::new(profile.spec).expect("a valid spec")
}

fn read_options(scan: &Scan) -> ReadOptions {
    // One API at a time, so the slowed requests add up.
    ReadOptions {
        needs: scan.needs(),
        api_concurrency: 1,
        ..ReadOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_and_a_remediation_longer_than_the_session_renew_it_and_never_fail() {
    let operator = new_account().await;
    let target = new_account().await;
    seed_target(&target).await;
    target.enforce_session_expiry().await;
    let proxy = FaultProxy::start(&target.endpoint_url).await;
    let role = format!(
        "arn:aws:iam::{}:role/apigw-compliance-scan",
        target.account_id
    );
    let access = AwsAccess::with_sessions(
        base_config(&operator, &proxy).await,
        AwsHttp::new(None, None),
        SESSIONS,
    );
    let scan = scan_of(&role);

    operator.reset_call_counts().await;
    let identity = access
        .identity(&Identity::new(Some(&role), Some("long-runs")), REGION)
        .await
        .expect("the role is assumed");
    assert_eq!(
        identity.account.as_deref(),
        Some(target.account_id.as_str())
    );
    assert_eq!(operator.call_counts().await.get("sts:AssumeRole"), 1);

    // The read: APIS GetStages in a row, each 1.5 s late, cross the session's end.
    proxy.inject("/stages", Some("GET"), Fault::Delay(DELAY), None);
    let started = std::time::Instant::now();
    let inventory =
        read_inventory(&identity.sdk, &[REGION.to_string()], &read_options(&scan)).await;
    let read_took = started.elapsed();
    assert!(
        read_took > SESSIONS.duration,
        "the read must outlast a session to show anything: {read_took:?}"
    );
    assert!(inventory.errors.is_empty(), "{:#?}", inventory.errors);
    let stages: usize = inventory.regions[0]
        .rest_apis
        .iter()
        .map(|api| api.stages.len())
        .sum();
    assert_eq!(stages, APIS);
    let after_read = operator.call_counts().await.get("sts:AssumeRole");
    assert!(
        after_read >= 2,
        "a read of {read_took:?} on sessions of {:?} renews the session: {after_read} AssumeRole calls",
        SESSIONS.duration
    );

    // The remediation: APIS UpdateStage calls (each after its GetStage), each slowed.
    proxy.inject("/stages/prod", Some("PATCH"), Fault::Delay(DELAY), None);
    let verdicts = scan.evaluate([&inventory], identity.account.as_deref(), now());
    let plan = scan.plan([&inventory], &verdicts.findings, &OwnershipTags::default());
    assert_eq!(plan.changes.len(), APIS, "{plan:#?}");
    let started = std::time::Instant::now();
    let outcome = pipeline::remediate(Mode::Enforce, &plan, &identity.sdk, None).await;
    let remediation_took = started.elapsed();
    assert!(
        remediation_took > SESSIONS.duration,
        "the remediation must outlast a session: {remediation_took:?}"
    );
    let summary = outcome.summary();
    assert_eq!(
        (summary.applied, summary.failed, summary.blocked),
        (APIS, 0, 0),
        "{outcome:#?}"
    );
    let after_remediation = operator.call_counts().await.get("sts:AssumeRole");
    assert!(
        after_remediation > after_read,
        "the remediation of {remediation_took:?} renews the session too: {after_remediation} AssumeRole calls"
    );

    // Every stage was fixed, in the target account.
    let rest = aws_sdk_apigateway::Client::new(&target.sdk_config(REGION));
    let apis = rest.get_rest_apis().send().await.expect("GetRestApis");
    for api in apis.items() {
        let stage = rest
            .get_stage()
            .rest_api_id(api.id().expect("id"))
            .stage_name("prod")
            .send()
            .await
            .expect("GetStage");
        assert!(stage.tracing_enabled(), "{api:?}");
    }
}

/// The same slow read with one session taken once and kept (what the operator did
/// before sessions were renewed) fails with expired credentials: the emulator really
/// ends sessions, so the test above shows renewal, not an emulator that never says no.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_kept_past_its_end_is_refused_as_expired() {
    let operator = new_account().await;
    let target = new_account().await;
    seed_target(&target).await;
    target.enforce_session_expiry().await;
    let proxy = FaultProxy::start(&target.endpoint_url).await;
    let role = format!(
        "arn:aws:iam::{}:role/apigw-compliance-scan",
        target.account_id
    );
    let base = base_config(&operator, &proxy).await;
    let snapshot = aws_config::sts::AssumeRoleProvider::builder(&role)
        .external_id("long-runs")
        .session_length(SESSIONS.duration)
        .configure(&base)
        .build()
        .await
        .provide_credentials()
        .await
        .expect("the role is assumed");
    let kept = base
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(snapshot))
        .build();

    proxy.inject("/stages", Some("GET"), Fault::Delay(DELAY), None);
    let scan = scan_of(&role);
    let inventory = read_inventory(&kept, &[REGION.to_string()], &read_options(&scan)).await;
    assert!(
        !inventory.errors.is_empty()
            && inventory
                .errors
                .iter()
                .all(|e| e.kind == ErrorKind::Credentials && e.message.contains("ExpiredToken")),
        "{:#?}",
        inventory.errors
    );
}

fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

/// `scan` with an `AWS_PROFILE` whose credentials come from a `credential_process`
/// (aws-config's `credentials-process` feature): no key in the environment, and the
/// scan reads the account of the credentials the process prints.
#[tokio::test]
async fn scan_with_a_credential_process_profile_scans_that_profiles_account() {
    use std::os::unix::fs::PermissionsExt;

    let account = new_account().await;
    let api = seed::rest_api_with_prod_and_dev(&account.sdk_config(REGION), "orders").await;
    let dir = crate::support::operator::temp_dir("credential-process");
    let process = dir.join("print-credentials");
    let printed = serde_json::json!({
        "Version": 1,
        "AccessKeyId": account.access_key_id,
        "SecretAccessKey": account.secret_access_key,
        "SessionToken": account.session_token,
    });
    std::fs::write(
        &process,
        format!("#!/bin/sh\ncat <<'JSON'\n{printed}\nJSON\n"),
    )
    .expect("write the process");
    std::fs::set_permissions(&process, std::fs::Permissions::from_mode(0o755))
        .expect("make it executable");
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "[profile audit]\nregion = {REGION}\ncredential_process = {}\n",
            process.display()
        ),
    )
    .expect("write the AWS config");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_apigw-compliance"))
        .args(["scan", "--control", "APIGateway.3", "--output", "json"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_PROFILE", "audit")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_ENDPOINT_URL", &account.endpoint_url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run apigw-compliance");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let stages: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["resourceArn"].as_str().expect("ARN"),
                f["accountId"].as_str().expect("account"),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            (
                format!("arn:aws:apigateway:{REGION}::/restapis/{api}/stages/dev").as_str(),
                account.account_id.as_str()
            ),
            (
                format!("arn:aws:apigateway:{REGION}::/restapis/{api}/stages/prod").as_str(),
                account.account_id.as_str()
            ),
        ],
        "{report:#}"
    );
}
