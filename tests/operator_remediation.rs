//! Remediation through the operator, end to end: the CRD applied with kubectl to the
//! real local kube-apiserver, the operator binary (`apigw-compliance run`) as a
//! subprocess, moto as AWS. A profile in DryRun shows the plan in its status and
//! changes nothing; switched to Enforce it fixes the stages, says so in Events and
//! status; the next scan writes nothing.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apigw_compliance::crd::{ComplianceProfile, ComplianceProfileStatus, ConditionStatus};
use aws_config::SdkConfig;
use aws_sdk_apigateway::types::{Op, PatchOperation};
use aws_sdk_wafv2::types::{AllowAction, DefaultAction, Scope, VisibilityConfig};
use kube::api::Api;
use support::cluster;
use support::moto::{MotoAccount, new_account};
use support::seed;

const BIN: &str = env!("CARGO_BIN_EXE_apigw-compliance");
const CRD_FILE: &str = "crds/apigwcompliance.io_complianceprofiles.yaml";
/// Long enough for a scan and its remediation against moto on a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(120);
const REGION: &str = "us-east-1";

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A running `apigw-compliance run` watching one namespace, stopped (SIGTERM, then
/// SIGKILL) when dropped.
struct Operator {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Operator {
    fn start(kubeconfig: &Path, namespace: &str, account: &MotoAccount) -> Operator {
        let dir = std::env::temp_dir().join(format!(
            "apigw-remediation-test-{namespace}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let tenancy = dir.join("tenancy.yaml");
        std::fs::write(
            &tenancy,
            format!("namespaces:\n  - namespace: {namespace}\n    allowOperatorIdentity: true\n"),
        )
        .expect("write tenancy");
        let log = dir.join("operator.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(BIN)
            .arg("run")
            .arg("--tenancy-config")
            .arg(&tenancy)
            .args(["--watch-namespace", namespace])
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .args(["--log-format", "text"])
            .env_clear()
            .envs(account.env(REGION))
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,apigw_compliance=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the operator");
        Operator { child, port, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The value of one series on /metrics (0 when absent or not served).
    fn metric(&self, series: &str) -> f64 {
        use std::io::Read;
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return 0.0;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reply = String::new();
        if write!(stream, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err()
            || stream.read_to_string(&mut reply).is_err()
        {
            return 0.0;
        }
        reply
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(cluster::KUBECTL)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("kubectl stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("kubectl output");
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls the profile until `done` holds for it and its status; panics with the last
/// status and the operator's log after [`WAIT`].
async fn wait_for(
    api: &Api<ComplianceProfile>,
    name: &str,
    operator: &Operator,
    what: &str,
    done: impl Fn(&ComplianceProfile, &ComplianceProfileStatus) -> bool,
) -> ComplianceProfileStatus {
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(Some(profile)) = api.get_opt(name).await {
            if let Some(status) = &profile.status
                && done(&profile, status)
            {
                return status.clone();
            }
            last = profile.status;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!(
        "profile {name}: {what} not reached after {WAIT:?}; last status: {last:#?}\noperator log:\n{}",
        operator.log()
    );
}

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

fn condition(status: &ComplianceProfileStatus, type_: &str) -> (ConditionStatus, String) {
    status
        .condition(type_)
        .map(|c| (c.status, c.reason.clone()))
        .unwrap_or_else(|| panic!("no {type_} condition in {status:#?}"))
}

/// Names a CloudWatch Logs role in API Gateway's account settings: execution logging's
/// precondition.
async fn set_cloudwatch_role(account: &MotoAccount, sdk: &SdkConfig) {
    aws_sdk_apigateway::Client::new(sdk)
        .update_account()
        .patch_operations(
            PatchOperation::builder()
                .op(Op::Replace)
                .path("/cloudwatchRoleArn")
                .value(format!(
                    "arn:aws:iam::{}:role/apigw-cloudwatch",
                    account.account_id
                ))
                .build(),
        )
        .send()
        .await
        .expect("UpdateAccount");
}

/// A REGIONAL web ACL, associated with nothing. Returns its ARN.
async fn web_acl(sdk: &SdkConfig, name: &str) -> String {
    aws_sdk_wafv2::Client::new(sdk)
        .create_web_acl()
        .name(name)
        .scope(Scope::Regional)
        .default_action(
            DefaultAction::builder()
                .allow(AllowAction::builder().build())
                .build(),
        )
        .visibility_config(
            VisibilityConfig::builder()
                .sampled_requests_enabled(false)
                .cloud_watch_metrics_enabled(false)
                .metric_name(name)
                .build()
                .expect("visibility config"),
        )
        .send()
        .await
        .expect("CreateWebACL")
        .summary()
        .and_then(|s| s.arn())
        .expect("web ACL ARN")
        .to_string()
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

/// The profile's Events as `reason/type/note` lines.
fn events(kubeconfig: &Path, namespace: &str) -> Vec<String> {
    kubectl(
        kubeconfig,
        &[
            "get",
            "events.events.k8s.io",
            "-n",
            namespace,
            "-o",
            "jsonpath={range .items[*]}{.reason}/{.type}/{.note}{\"\\n\"}{end}",
        ],
        None,
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// Polls the namespace's Events until `count` of them start with `prefix`; panics with
/// them and the operator's log after [`WAIT`].
fn wait_for_events(
    kubeconfig: &Path,
    namespace: &str,
    operator: &Operator,
    prefix: &str,
    count: usize,
) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let matching: Vec<String> = events(kubeconfig, namespace)
            .into_iter()
            .filter(|e| e.starts_with(prefix))
            .collect();
        if matching.len() >= count {
            return matching;
        }
        assert!(
            Instant::now() < deadline,
            "{count} {prefix} Events not seen after {WAIT:?}: {matching:#?}\noperator log:\n{}",
            operator.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_plans_without_writing_then_enforce_fixes_the_stages_and_the_next_scan_writes_nothing()
 {
    let client = cluster::client().await;
    cluster::apply_crd_yaml(
        &client,
        &std::fs::read_to_string(repo(CRD_FILE)).expect("crds/ holds the CRD"),
    )
    .await;
    let namespace = cluster::test_namespace(&client, "remediate").await;
    let kubeconfig = cluster::kubeconfig_path();
    // The sample remediation profile passes admission (schema and CEL rules).
    kubectl(
        &kubeconfig,
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
    set_cloudwatch_role(&account, &sdk).await;
    let acl = web_acl(&sdk, "apis").await;
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

    let operator = Operator::start(&kubeconfig, &namespace, &account);
    let profile = format!(
        "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata:\n  name: orders\nspec:\n  scope:\n    regions: [{REGION}]\n  controls:\n    enabled: [APIGateway.1, APIGateway.3, APIGateway.4]\n  remediation:\n    mode: DryRun\n    controls:\n      waf: {{webAclArn: \"{acl}\"}}\n  interval: 1m\n"
    );
    kubectl(
        &kubeconfig,
        &["apply", "-n", &namespace, "-f", "-"],
        Some(&profile),
    );
    let api_profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);

    // DryRun: the exact changes in status, and no AWS write.
    let status = wait_for(
        &api_profiles,
        "orders",
        &operator,
        "a DryRun scan",
        scanned_in(1, "DryRun"),
    )
    .await;
    assert_eq!(
        account.call_counts().await.writes(),
        0,
        "DryRun wrote: {:?}",
        account.call_counts().await
    );
    let remediation = status.remediation.clone().expect("remediation status");
    assert_eq!(
        condition(&status, "Remediated"),
        (ConditionStatus::False, "ChangesPlanned".into())
    );
    assert_eq!(
        condition(&status, "Compliant"),
        (ConditionStatus::False, "FindingsFailed".into())
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
    kubectl(
        &kubeconfig,
        &[
            "patch",
            "acp",
            "orders",
            "-n",
            &namespace,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"remediation":{"mode":"Enforce"}}}"#,
        ],
        None,
    );
    let status = wait_for(
        &api_profiles,
        "orders",
        &operator,
        "an Enforce scan",
        scanned_in(2, "Enforce"),
    )
    .await;
    let remediation = status.remediation.clone().expect("remediation status");
    assert_eq!(
        condition(&status, "Remediated"),
        (ConditionStatus::True, "ChangesApplied".into()),
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
    let remediated = wait_for_events(&kubeconfig, &namespace, &operator, "Remediated/Normal/", 7);
    assert_eq!(remediated.len(), 7, "{remediated:#?}");
    assert!(
        remediated.iter().any(|e| e
            == &format!(
                "Remediated/Normal/APIGateway.3 on arn:aws:apigateway:{REGION}::/restapis/{api}/stages/dev: X-Ray tracing false -> true (apigateway:UpdateStage)"
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
    kubectl(
        &kubeconfig,
        &[
            "patch",
            "acp",
            "orders",
            "-n",
            &namespace,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"interval":"2m"}}"#,
        ],
        None,
    );
    let status = wait_for(
        &api_profiles,
        "orders",
        &operator,
        "the scan after Enforce",
        scanned_in(3, "Enforce"),
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
        (ConditionStatus::True, "AllPassed".into())
    );
    assert_eq!(
        condition(&status, "Remediated"),
        (ConditionStatus::True, "NothingToChange".into())
    );
    let remediation = status.remediation.expect("remediation status");
    assert_eq!(remediation.last_run.map(|l| l.applied), Some(0));
    assert_eq!(remediation.recent_changes.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_cloudwatch_role_blocks_execution_logging_once_reported_while_tracing_is_fixed() {
    let client = cluster::client().await;
    cluster::apply_crd_yaml(
        &client,
        &std::fs::read_to_string(repo(CRD_FILE)).expect("crds/ holds the CRD"),
    )
    .await;
    let namespace = cluster::test_namespace(&client, "remediate-blocked").await;
    let kubeconfig = cluster::kubeconfig_path();

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

    let operator = Operator::start(&kubeconfig, &namespace, &account);
    let profile = |interval: &str| {
        format!(
            "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata:\n  name: orders\nspec:\n  scope:\n    regions: [{REGION}]\n  controls:\n    enabled: [APIGateway.1, APIGateway.3]\n  remediation:\n    mode: Enforce\n  interval: {interval}\n"
        )
    };
    kubectl(
        &kubeconfig,
        &["apply", "-n", &namespace, "-f", "-"],
        Some(&profile("10m")),
    );
    let api_profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let status = wait_for(
        &api_profiles,
        "orders",
        &operator,
        "an Enforce scan",
        scanned_in(1, "Enforce"),
    )
    .await;
    let remediation = status.remediation.clone().expect("remediation status");
    assert_eq!(
        condition(&status, "Remediated"),
        (ConditionStatus::False, "RemediationBlocked".into()),
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
        vec![apigw_compliance::controls::ControlId::ApiGateway1]
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
        &kubeconfig,
        &namespace,
        &operator,
        "RemediationBlocked/Warning/APIGateway.1: ",
        1,
    );
    wait_for_events(
        &kubeconfig,
        &namespace,
        &operator,
        "Remediated/Normal/APIGateway.3 on ",
        1,
    );

    // Two more scans (spec changes): still blocked, nothing sent, and the persisting
    // problem is not reported again. A profile's reconciles run one at a time, so once
    // the third generation's status is written, the second's Events are out.
    account.reset_call_counts().await;
    for (generation, interval) in [(2, "11m"), (3, "12m")] {
        kubectl(
            &kubeconfig,
            &["apply", "-n", &namespace, "-f", "-"],
            Some(&profile(interval)),
        );
        let status = wait_for(
            &api_profiles,
            "orders",
            &operator,
            "a later Enforce scan",
            scanned_in(generation, "Enforce"),
        )
        .await;
        assert_eq!(
            condition(&status, "Remediated"),
            (ConditionStatus::False, "RemediationBlocked".into())
        );
    }
    let calls = account.call_counts().await;
    assert_eq!(calls.writes(), 0, "{calls:?}");
    assert!(calls.get("apigateway:GetAccount") >= 2, "{calls:?}");
    let warnings: Vec<String> = events(&kubeconfig, &namespace)
        .into_iter()
        .filter(|e| e.starts_with("RemediationBlocked/"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
}
