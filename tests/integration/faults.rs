//! Reliability under faults: what the AWS edge does with answers it cannot use. A local
//! server on 127.0.0.1 answers with arbitrary bytes; a fault-injecting proxy in front
//! of moto (`support::fault_proxy`) answers 500s and 503s, resets connections and
//! stalls. Whatever happens: no panic, no PASSED for anything unread, the right
//! verdicts once the fault clears, and no write sent twice.

use std::time::Duration;

use apigw_compliance::inventory::Needs;
use apigw_compliance::inventory::reader::{ReadOptions, read_inventory};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use apigw_compliance::crd::{ComplianceProfile, ConditionStatus};
use kube::api::Api;

use crate::support::cluster;
use crate::support::fault_proxy::{Fault, FaultProxy};
use crate::support::moto::{MotoAccount, new_account};
use crate::support::operator::{
    Operator, apply, client_with_crd, condition, kubectl_stdout, private_plane_with_crd,
    profile_yaml, wait_for,
};
use crate::support::seed;

/// Serves `bodies` in turn (then from the start again) as `200 OK` JSON answers to
/// whatever is asked; returns the endpoint URL.
async fn garbage_server(bodies: Vec<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let mut next = 0usize;
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let body = bodies[next % bodies.len()].clone();
            next += 1;
            tokio::spawn(async move {
                // Read the request head (and whatever body came with it).
                let mut seen = Vec::new();
                let mut buffer = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    url
}

/// Bodies an API Gateway answer could never be: random bytes, cut and bent JSON, the
/// right shapes with the wrong types (a fixed xorshift sequence).
fn garbage() -> Vec<Vec<u8>> {
    let valid = [
        r#"{"item":[{"id":"a1","name":"orders","tags":{"team":"a"}}],"position":null}"#,
        r#"{"item":[{"stageName":"prod","methodSettings":{"*/*":{"loggingLevel":"INFO"}},"tracingEnabled":true}]}"#,
        r#"{"items":[{"apiId":"v1","name":"chat","protocolType":"WEBSOCKET"}],"nextToken":""}"#,
        r#"{"items":[{"routeId":"r1","routeKey":"$default","authorizationType":"NONE"}]}"#,
    ];
    let mut out: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        br#"{"item":"not a list"}"#.to_vec(),
        br#"{"items":[{"apiId":7,"protocolType":["HTTP"]}]}"#.to_vec(),
        br#"{"item":[{"stageName":null,"methodSettings":[]}]}"#.to_vec(),
        br#"{"position":{"x":1},"item":[]}"#.to_vec(),
        br#"{"items":[],"nextToken":12}"#.to_vec(),
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for sample in valid {
        for cut in (0..sample.len()).step_by(7) {
            out.push(sample.as_bytes()[..cut].to_vec());
        }
        for _ in 0..40 {
            let mut bytes = sample.as_bytes().to_vec();
            for _ in 0..=(next() % 6) {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = (next() & 0xff) as u8;
            }
            out.push(bytes);
        }
    }
    for _ in 0..40 {
        let len = (next() % 300) as usize;
        out.push((0..len).map(|_| (next() & 0xff) as u8).collect());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_answers_become_read_errors_never_a_panic_or_a_pass() {
    let bodies = garbage();
    let bodies_len = bodies.len();
    let url = garbage_server(bodies).await;
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&url)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDFAULTS",
            "secret",
            None,
            None,
            "faults",
        )))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    let options = ReadOptions {
        needs: Needs {
            rest: true,
            v2: true,
            routes: true,
            http_integrations: true,
            integrations: true,
            domain_names: true,
        },
        ..ReadOptions::default()
    };
    // Each read walks on through the bodies (the server's turn moves with every
    // request); 100 reads of 3 or more requests each meet every body at least once.
    assert!(bodies_len <= 100 * 3, "{bodies_len} bodies");
    for _ in 0..100 {
        let inventory = read_inventory(&sdk, &["us-east-1".to_string()], &options).await;
        // A region whose lists could not be read is an error, never an empty pass.
        if inventory.regions.is_empty() {
            assert!(!inventory.errors.is_empty(), "{inventory:?}");
        }
    }
}

/// `scan` through `proxy` as `account`, with these arguments; (exit code, JSON report).
fn scan_through(
    proxy: &FaultProxy,
    account: &MotoAccount,
    args: &[&str],
) -> (Option<i32>, serde_json::Value) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_apigw-compliance"))
        .arg("scan")
        .args([
            "--region",
            "us-east-1",
            "--output",
            "json",
            "--aws-rate-limit",
            "0",
        ])
        .args(args)
        .env_clear()
        .envs(account.env("us-east-1"))
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .output()
        .expect("run apigw-compliance");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), report)
}

/// (control, resource ARN, status) of every finding.
fn verdicts(report: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["controlId"].as_str().unwrap_or_default().to_string(),
                f["resourceArn"].as_str().unwrap_or_default().to_string(),
                f["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_503s_and_connection_resets_are_retried_and_the_verdicts_are_right() {
    let account = new_account().await;
    let sdk = account.sdk_config("us-east-1");
    seed::rest_api_with_prod_and_dev(&sdk, "orders").await;
    let proxy = FaultProxy::start(&account.endpoint_url).await;
    let (code, clean) = scan_through(&proxy, &account, &["--control", "APIGateway.3"]);
    assert_eq!(code, Some(0), "{clean:#}");

    // The list call meets three 503s, the stages two resets: the SDK's retries ride
    // them out, and the verdicts are those of the clean scan.
    proxy.inject("/restapis", Some("GET"), Fault::Status(503), Some(3));
    proxy.inject("/stages", Some("GET"), Fault::Reset, Some(2));
    let (code, faulted) = scan_through(&proxy, &account, &["--control", "APIGateway.3"]);
    assert_eq!(proxy.fired(), 5, "every injected fault met a request");
    assert_eq!(code, Some(0), "{faulted:#}");
    assert_eq!(verdicts(&faulted), verdicts(&clean));
    assert_eq!(
        faulted["errors"].as_array().map(Vec::len),
        Some(0),
        "{faulted:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_keeps_failing_or_stalls_is_an_error_and_never_a_pass() {
    let account = new_account().await;
    let sdk = account.sdk_config("us-east-1");
    let open = seed::rest_api_with_prod_and_dev(&sdk, "open").await;
    let broken = seed::rest_api_with_prod_and_dev(&sdk, "broken").await;
    let stalled = seed::rest_api_with_prod_and_dev(&sdk, "stalled").await;
    let proxy = FaultProxy::start(&account.endpoint_url).await;
    proxy.inject(
        &format!("/restapis/{broken}/stages"),
        None,
        Fault::Status(500),
        None,
    );
    proxy.inject(
        &format!("/restapis/{stalled}/stages"),
        None,
        Fault::Stall(Duration::from_secs(30)),
        None,
    );
    let (code, report) = scan_through(
        &proxy,
        &account,
        &[
            "--control",
            "APIGateway.3",
            "--max-attempts",
            "2",
            "--aws-read-timeout-seconds",
            "2",
        ],
    );
    // Incomplete (exit 3), the readable API judged, nothing of the other two reported.
    assert_eq!(code, Some(3), "{report:#}");
    let judged: Vec<String> = verdicts(&report)
        .into_iter()
        .map(|(_, arn, _)| arn)
        .collect();
    assert!(judged.iter().all(|arn| arn.contains(&open)), "{judged:?}");
    assert_eq!(judged.len(), 2, "{judged:?}");
    let mut failed: Vec<(String, String)> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["resourceArn"].as_str().unwrap_or_default().to_string(),
                e["kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    failed.sort();
    let mut expected = vec![
        (
            format!("arn:aws:apigateway:us-east-1::/restapis/{broken}"),
            "unavailable".to_string(),
        ),
        (
            format!("arn:aws:apigateway:us-east-1::/restapis/{stalled}"),
            "unavailable".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(failed, expected, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_reset_before_it_reached_aws_is_sent_again_once_and_the_stage_is_fixed() {
    let account = new_account().await;
    let sdk = account.sdk_config("us-east-1");
    let api = seed::rest_api_with_prod_and_dev(&sdk, "orders").await;
    let proxy = FaultProxy::start(&account.endpoint_url).await;
    proxy.inject("/stages/", Some("PATCH"), Fault::Reset, Some(1));
    account.reset_call_counts().await;
    let (_, report) = scan_through(
        &proxy,
        &account,
        &["--control", "APIGateway.3", "--remediate", "enforce"],
    );
    assert_eq!(proxy.fired(), 1);
    let calls = account.call_counts().await;
    // The reset request never reached moto; the SDK's retry did, once per stage that
    // needed it: no write went twice.
    let needing = verdicts(&report)
        .iter()
        .filter(|(_, _, status)| status == "FAILED")
        .count() as u64;
    assert!(needing > 0, "{report:#}");
    assert_eq!(calls.get("apigateway:UpdateStage"), needing, "{calls:?}");
    for stage in ["prod", "dev"] {
        let read = aws_sdk_apigateway::Client::new(&sdk)
            .get_stage()
            .rest_api_id(&api)
            .stage_name(stage)
            .send()
            .await
            .expect("GetStage");
        assert!(read.tracing_enabled(), "{stage}: {read:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_through_an_outage_says_so_keeps_its_verdicts_and_recovers() {
    let (client, namespace, account, sdk) = operator_world().await;
    let plane = cluster::shared();
    seed::rest_api_with_prod_and_dev(&sdk, "orders").await;
    let proxy = FaultProxy::start(&account.endpoint_url).await;
    let operator = behind(
        &proxy,
        &namespace,
        &account,
        &["--max-attempts", "2", "--aws-read-timeout-seconds", "2"],
    )
    .await;
    apply(
        plane,
        &namespace,
        &profile_yaml(
            "orders",
            "  scope:\n    regions: [us-east-1]\n  controls:\n    enabled: [APIGateway.3]\n  interval: 1h\n",
        ),
    );
    let profiles: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    let ready = |reason: &'static str, status: ConditionStatus| {
        move |_: &ComplianceProfile, s: &apigw_compliance::crd::ComplianceProfileStatus| {
            condition(s, "Ready") == Some((status, reason.to_string()))
        }
    };
    let wait = Duration::from_secs(120);
    wait_for(
        &profiles,
        "orders",
        &operator,
        wait,
        "the first scan",
        ready("ScanSucceeded", ConditionStatus::True),
    )
    .await;
    let series = |m: &crate::support::operator::Scrape| {
        let mut lines: Vec<String> =
            m.0.lines()
                .filter(|l| l.starts_with("apigw_compliance_findings{") && l.contains(&namespace))
                .map(str::to_string)
                .collect();
        lines.sort();
        lines
    };
    let stale =
        format!("apigw_compliance_findings_stale{{namespace=\"{namespace}\",profile=\"orders\"}}");
    let before = operator
        .wait_metrics(wait, "the first scan's series", |m| !series(m).is_empty())
        .await;
    let request = |value: &str| {
        kubectl_stdout(
            plane,
            &[
                "annotate",
                "acp",
                "orders",
                "-n",
                &namespace,
                &format!("apigwcompliance.io/requested-scan-at={value}"),
                "--overwrite",
            ],
            None,
        );
    };

    // An outage: every REST API Gateway call answers 503.
    proxy.inject("/restapis", None, Fault::Status(503), None);
    request("outage");
    wait_for(
        &profiles,
        "orders",
        &operator,
        wait,
        "the failed scan",
        ready("ScanFailed", ConditionStatus::False),
    )
    .await;
    let during = operator
        .wait_metrics(wait, "the stale marker", |m| m.value(&stale) == 1.0)
        .await;
    assert_eq!(
        series(&during),
        series(&before),
        "the verdicts are kept through the outage"
    );
    assert!(
        during
            .value("apigw_compliance_read_errors_total{region=\"us-east-1\",kind=\"unavailable\"}")
            >= 1.0,
        "{}",
        during.0
    );

    // Over: the next scan reads again, and nothing is stale.
    proxy.clear();
    request("after");
    wait_for(
        &profiles,
        "orders",
        &operator,
        wait,
        "the scan after the outage",
        |_, s| {
            s.requested_scan_at.as_deref() == Some("after")
                && condition(s, "Ready")
                    == Some((ConditionStatus::True, "ScanSucceeded".to_string()))
        },
    )
    .await;
    let after = operator
        .wait_metrics(wait, "fresh verdicts", |m| m.value(&stale) == 0.0)
        .await;
    assert_eq!(series(&after), series(&before));
}

/// A test's own namespace on the shared control plane (with the CRD) and a fresh moto
/// account: (client, namespace, account, its us-east-1 SDK config).
async fn operator_world() -> (kube::Client, String, MotoAccount, SdkConfig) {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "faults").await;
    let account = new_account().await;
    let sdk = account.sdk_config("us-east-1");
    (client, namespace, account, sdk)
}

/// The operator watching `namespace` with `account`'s credentials, every AWS call going
/// through `proxy`, with `args`.
async fn behind(
    proxy: &FaultProxy,
    namespace: &str,
    account: &MotoAccount,
    args: &[&str],
) -> Operator {
    Operator::watching(namespace, account)
        .envs([("AWS_ENDPOINT_URL", proxy.url.as_str())])
        .args(args.iter().copied())
        .start()
        .await
}

/// The `orders` profile of `namespace` checking APIGateway.3 in us-east-1, hourly, with
/// `extra` spec lines.
fn xray_profile(extra: &str) -> String {
    profile_yaml(
        "orders",
        &format!(
            "  scope:\n    regions: [us-east-1]\n  controls:\n    enabled: [APIGateway.3]\n  interval: 1h\n{extra}"
        ),
    )
}

/// Whether `stage` of REST API `api` has X-Ray tracing on, as moto holds it.
async fn traced(sdk: &SdkConfig, api: &str, stage: &str) -> bool {
    aws_sdk_apigateway::Client::new(sdk)
        .get_stage()
        .rest_api_id(api)
        .stage_name(stage)
        .send()
        .await
        .expect("GetStage")
        .tracing_enabled()
}

fn ready_is(
    status: ConditionStatus,
    reason: &'static str,
) -> impl Fn(&ComplianceProfile, &apigw_compliance::crd::ComplianceProfileStatus) -> bool {
    move |_, s| condition(s, "Ready") == Some((status, reason.to_string()))
}

/// One API's GetStages fails with recoverable errors: the rest of the read stands and
/// is shared, and the profile's retry reads that API again and nothing else (no list
/// of the region, no other API), ending with the verdicts of a clean read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_reads_only_the_api_that_failed_and_keeps_what_succeeded() {
    let (client, namespace, account, sdk) = operator_world().await;
    let plane = cluster::shared();
    let orders = seed::rest_api_with_prod_and_dev(&sdk, "orders").await;
    let flaky = seed::rest_api_with_prod_and_dev(&sdk, "flaky").await;
    let proxy = FaultProxy::start(&account.endpoint_url).await;
    proxy.inject(
        &format!("/restapis/{flaky}/stages"),
        Some("GET"),
        Fault::Status(503),
        None,
    );
    let operator = behind(
        &proxy,
        &namespace,
        &account,
        &["--max-attempts", "2", "--aws-read-timeout-seconds", "5"],
    )
    .await;
    apply(plane, &namespace, &xray_profile(""));
    let profiles: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    let wait = Duration::from_secs(120);
    let incomplete = wait_for(
        &profiles,
        "orders",
        &operator,
        wait,
        "the scan with `flaky` unread",
        ready_is(ConditionStatus::False, "ScanIncomplete"),
    )
    .await;
    let summary = incomplete.status.and_then(|s| s.summary).expect("summary");
    assert_eq!(summary.evaluated, 2, "only `orders` is judged: {summary:?}");

    let mark = proxy.requests().len();
    proxy.clear();
    let fixed = wait_for(
        &profiles,
        "orders",
        &operator,
        wait,
        "the retry once `flaky` answers",
        ready_is(ConditionStatus::True, "ScanSucceeded"),
    )
    .await;
    let summary = fixed.status.and_then(|s| s.summary).expect("summary");
    assert_eq!((summary.evaluated, summary.failed), (4, 2), "{summary:?}");
    let read_again: Vec<String> = proxy.requests()[mark..]
        .iter()
        .filter(|r| r.contains("/restapis"))
        .cloned()
        .collect();
    assert!(
        read_again
            .iter()
            .any(|r| r.starts_with(&format!("GET /restapis/{flaky}/stages"))),
        "{read_again:?}"
    );
    assert!(
        read_again
            .iter()
            .all(|r| r.contains(&format!("/restapis/{flaky}"))),
        "the retry read only the API that failed (not the list, not {orders}): {read_again:?}"
    );
}

/// Enforce behind the fault proxy: one stage's UpdateStage meets two 500s, another's
/// reaches AWS but its answer is lost. Each stage ends fixed; the 500s never reached
/// AWS and the lost answer's retry sent the same settings again (harmless); status says
/// both were applied and the next scan writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_500s_and_a_lost_answer_fix_each_stage_and_the_next_scan_writes_nothing() {
    let (client, namespace, account, sdk) = operator_world().await;
    let plane = cluster::shared();
    let orders = seed::rest_api_with_prod_and_dev(&sdk, "orders").await;
    let billing = seed::rest_api_with_prod_and_dev(&sdk, "billing").await;
    let proxy = FaultProxy::start(&account.endpoint_url).await;
    proxy.inject(
        &format!("/restapis/{orders}/stages/dev"),
        Some("PATCH"),
        Fault::Status(500),
        Some(2),
    );
    proxy.inject(
        &format!("/restapis/{billing}/stages/dev"),
        Some("PATCH"),
        Fault::LoseAnswer,
        Some(1),
    );
    account.reset_call_counts().await;
    let operator = behind(
        &proxy,
        &namespace,
        &account,
        &["--max-attempts", "4", "--aws-read-timeout-seconds", "5"],
    )
    .await;
    apply(
        plane,
        &namespace,
        &xray_profile("  remediation:\n    mode: Enforce\n"),
    );
    let profiles: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    let wait = Duration::from_secs(120);
    let ran = |requested: Option<&'static str>| {
        move |_: &ComplianceProfile, s: &apigw_compliance::crd::ComplianceProfileStatus| {
            s.requested_scan_at.as_deref() == requested
                && s.condition("Reconciling").is_none()
                && s.remediation.as_ref().is_some_and(|r| r.last_run.is_some())
        }
    };
    let status = wait_for(
        &profiles,
        "orders",
        &operator,
        wait,
        "the Enforce scan",
        ran(None),
    )
    .await
    .status
    .expect("status");
    let run = status
        .remediation
        .and_then(|r| r.last_run)
        .expect("last run");
    assert_eq!((run.applied, run.failed), (2, 0), "{run:?}");
    assert_eq!(proxy.fired(), 3);
    // Two 500s answered by the proxy, the third attempt reached moto; the lost answer's
    // write reached moto and so did its retry.
    let calls = account.call_counts().await;
    assert_eq!(calls.get("apigateway:UpdateStage"), 3, "{calls:?}");
    for api in [&orders, &billing] {
        for stage in ["prod", "dev"] {
            assert!(traced(&sdk, api, stage).await, "{api}/{stage}");
        }
    }

    account.reset_call_counts().await;
    kubectl_stdout(
        plane,
        &[
            "annotate",
            "acp",
            "orders",
            "-n",
            &namespace,
            "apigwcompliance.io/requested-scan-at=again",
        ],
        None,
    );
    let status = wait_for(
        &profiles,
        "orders",
        &operator,
        wait,
        "the scan after",
        ran(Some("again")),
    )
    .await
    .status
    .expect("status");
    let run = status
        .remediation
        .and_then(|r| r.last_run)
        .expect("last run");
    assert_eq!(run.applied, 0, "{run:?}");
    assert_eq!(account.call_counts().await.writes(), 0);
}

/// A storm of HTTP 429s (TooManyRequestsException) on the reads: the operator backs off
/// and retries, counts them as throttled, and ends with the verdicts of a clean scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_429s_is_retried_to_the_right_verdicts_and_counted_as_throttling() {
    let (client, namespace, account, sdk) = operator_world().await;
    let plane = cluster::shared();
    seed::rest_api_with_prod_and_dev(&sdk, "orders").await;
    seed::rest_api_with_prod_and_dev(&sdk, "billing").await;
    let proxy = FaultProxy::start(&account.endpoint_url).await;
    proxy.inject("/restapis", Some("GET"), Fault::Status(429), Some(8));
    let operator = behind(&proxy, &namespace, &account, &[]).await;
    apply(plane, &namespace, &xray_profile(""));
    let profiles: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    let done = wait_for(
        &profiles,
        "orders",
        &operator,
        Duration::from_secs(180),
        "the scan through the storm",
        ready_is(ConditionStatus::True, "ScanSucceeded"),
    )
    .await;
    assert_eq!(proxy.fired(), 8);
    let summary = done.status.and_then(|s| s.summary).expect("summary");
    assert_eq!(
        (summary.evaluated, summary.passed, summary.failed),
        (4, 2, 2),
        "{summary:?}"
    );
    let throttled = operator
        .wait_metrics(Duration::from_secs(30), "the throttled calls", |m| {
            m.value(r#"apigw_compliance_aws_errors_total{service="apigateway",class="throttled"}"#)
                >= 8.0
        })
        .await;
    assert_eq!(
        throttled
            .value(r#"apigw_compliance_aws_errors_total{service="apigateway",class="throttled"}"#),
        8.0,
        "{}",
        throttled.0
    );
}

/// SIGTERM while remediation runs: the write in flight completes (its stage is fixed in
/// one call), no other write starts (reported `not sent`), the status says so, and the
/// operator exits cleanly. The next leader's scan makes the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_remediation_completes_the_write_in_flight_and_starts_no_other() {
    let (client, namespace, account, sdk) = operator_world().await;
    let plane = cluster::shared();
    let mut apis = Vec::new();
    for name in ["alpha", "bravo", "charlie"] {
        apis.push(seed::rest_api_with_prod_and_dev(&sdk, name).await);
    }
    let proxy = FaultProxy::start(&account.endpoint_url).await;
    // Each UpdateStage takes 4 s on its way to AWS: long enough to be caught in flight.
    proxy.inject(
        "/stages/dev",
        Some("PATCH"),
        Fault::Delay(Duration::from_secs(4)),
        None,
    );
    let mut operator = behind(&proxy, &namespace, &account, &[]).await;
    apply(
        plane,
        &namespace,
        &xray_profile("  remediation:\n    mode: Enforce\n"),
    );
    let patches = |proxy: &FaultProxy| {
        proxy
            .requests()
            .into_iter()
            .filter(|r| r.starts_with("PATCH "))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while patches(&proxy) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no write started; log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    operator.terminate();
    assert!(
        operator.wait_exit(Duration::from_secs(60)),
        "the operator did not exit after SIGTERM; log:\n{}",
        operator.log()
    );
    assert_eq!(patches(&proxy), 1, "{:?}", proxy.requests());
    let mut fixed = 0;
    for api in &apis {
        assert!(traced(&sdk, api, "prod").await);
        if traced(&sdk, api, "dev").await {
            fixed += 1;
        }
    }
    assert_eq!(fixed, 1, "the write in flight completed, and only it");
    let profiles: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    let status = profiles
        .get("orders")
        .await
        .expect("profile")
        .status
        .expect("status");
    let run = status
        .remediation
        .and_then(|r| r.last_run)
        .expect("the run was written before exiting");
    assert_eq!((run.applied, run.failed), (1, 2), "{run:?}");
    assert!(
        operator.log().contains("not sent"),
        "the held-back writes are reported; log:\n{}",
        operator.log()
    );
}

/// Polls /healthz until it answers `want`; returns the body.
async fn healthz_until(operator: &Operator, what: &str, want: u16) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = operator.get("/healthz");
        if let Some((code, body)) = &got
            && *code == want
        {
            return body.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: /healthz answered {got:?}; log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A reconcile that makes no progress (every answer stalls) fails /healthz after
/// `--liveness-stall-seconds`, with why; once the call times out and the reconcile
/// ends, /healthz is 200 again and the retry scans without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_without_progress_fails_liveness_until_it_moves_again() {
    let (client, namespace, account, sdk) = operator_world().await;
    let plane = cluster::shared();
    seed::rest_api_with_prod_and_dev(&sdk, "orders").await;
    let proxy = FaultProxy::start(&account.endpoint_url).await;
    proxy.inject(
        "/restapis",
        None,
        Fault::Stall(Duration::from_secs(60)),
        None,
    );
    let operator = behind(
        &proxy,
        &namespace,
        &account,
        &[
            "--max-attempts",
            "1",
            "--aws-read-timeout-seconds",
            "20",
            "--liveness-stall-seconds",
            "3",
        ],
    )
    .await;
    assert_eq!(operator.get("/healthz").map(|(code, _)| code), Some(200));
    apply(plane, &namespace, &xray_profile(""));
    let body = healthz_until(&operator, "liveness failing while the read hangs", 503).await;
    assert!(body.contains("no progress"), "{body}");
    proxy.clear();
    healthz_until(&operator, "liveness back once the reconcile ends", 200).await;
    let profiles: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    wait_for(
        &profiles,
        "orders",
        &operator,
        Duration::from_secs(60),
        "the scan after the hang (no restart needed)",
        ready_is(ConditionStatus::True, "ScanSucceeded"),
    )
    .await;
}

/// etcd restarted under a running operator (on a control plane of its own): what was
/// written survives, the same operator process goes on reconciling (a spec change
/// after the restart is scanned) and /healthz stays 200 throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_rides_out_an_etcd_restart() {
    let (plane, client) = private_plane_with_crd("etcd").await;
    let namespace = cluster::test_namespace(&client, "etcd").await;
    let account = new_account().await;
    seed::rest_api_with_prod_and_dev(&account.sdk_config("us-east-1"), "orders").await;
    let operator = Operator::watching(&namespace, &account)
        .kubeconfig(plane.kubeconfig_path())
        .start()
        .await;
    apply(&plane, &namespace, &xray_profile(""));
    let profiles: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    let wait = Duration::from_secs(120);
    let before = wait_for(
        &profiles,
        "orders",
        &operator,
        wait,
        "the scan before the restart",
        ready_is(ConditionStatus::True, "ScanSucceeded"),
    )
    .await
    .status
    .expect("status");

    let plane = tokio::task::spawn_blocking(move || {
        plane.restart_etcd();
        plane
    })
    .await
    .expect("restart etcd");
    assert_eq!(operator.get("/healthz").map(|(code, _)| code), Some(200));
    let kept = profiles.get("orders").await.expect("the profile survives");
    assert_eq!(
        kept.status.as_ref().map(|s| &s.last_scan_time),
        Some(&before.last_scan_time),
        "its status survives"
    );

    // The same process reconciles a change made after the restart.
    apply(
        &plane,
        &namespace,
        &profile_yaml(
            "orders",
            "  scope:\n    regions: [us-east-1]\n  controls:\n    enabled: [APIGateway.1, APIGateway.3]\n  interval: 1h\n",
        ),
    );
    let after = wait_for(
        &profiles,
        "orders",
        &operator,
        wait,
        "the change after the restart",
        |_, s| {
            s.observed_generation == Some(2)
                && condition(s, "Ready")
                    == Some((ConditionStatus::True, "ScanSucceeded".to_string()))
        },
    )
    .await
    .status
    .expect("status");
    assert_eq!(after.summary.map(|s| s.evaluated), Some(4));
    assert_eq!(operator.get("/healthz").map(|(code, _)| code), Some(200));
    drop(plane);
}
