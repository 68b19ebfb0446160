//! The `scan` command end to end: moto seeded with REST, WebSocket and HTTP APIs in
//! two regions, the public binary run against it, its JSON findings asserted.

use std::collections::BTreeMap;
use std::process::Output;

use aws_sdk_apigatewayv2::types::{AuthorizationType, LoggingLevel, ProtocolType};
use serde_json::Value;

use crate::support::moto::{MotoAccount, new_account};
use crate::support::seed::{self, V2StageSpec};

const BIN: &str = env!("CARGO_BIN_EXE_apigw-compliance");
const LOG_GROUP: &str = "arn:aws:logs:us-east-1:123456789012:log-group:apigw-access";

pub(crate) fn run_scan(account: &MotoAccount, args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .arg("scan")
        .args(args)
        .env_clear()
        .envs(account.env("us-east-1"))
        .output()
        .expect("run apigw-compliance")
}

pub(crate) fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "scan did not print JSON ({e}); stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// (controlId, resourceArn) -> status
fn verdicts(report: &Value) -> BTreeMap<(String, String), String> {
    let mut map = BTreeMap::new();
    for f in report["findings"].as_array().expect("findings array") {
        let key = (
            f["controlId"].as_str().expect("controlId").to_string(),
            f["resourceArn"].as_str().expect("resourceArn").to_string(),
        );
        let previous = map.insert(
            key.clone(),
            f["status"].as_str().expect("status").to_string(),
        );
        assert!(previous.is_none(), "two findings for {key:?}");
    }
    map
}

fn reason<'a>(report: &'a Value, control: &str, arn: &str) -> &'a str {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["controlId"] == control && f["resourceArn"] == arn)
        .and_then(|f| f["reason"].as_str())
        .unwrap_or_else(|| panic!("no {control} finding for {arn}"))
}

fn rest_arn(region: &str, api: &str, stage: &str) -> String {
    format!("arn:aws:apigateway:{region}::/restapis/{api}/stages/{stage}")
}

fn v2_arn(region: &str, api: &str, stage: &str) -> String {
    format!("arn:aws:apigateway:{region}::/apis/{api}/stages/{stage}")
}

fn route_arn(region: &str, api: &str, route: &str) -> String {
    format!("arn:aws:apigateway:{region}::/apis/{api}/routes/{route}")
}

#[tokio::test]
async fn scan_reports_every_control_on_rest_websocket_and_http_apis_in_two_regions() {
    let account = new_account().await;
    let east = account.sdk_config("us-east-1");
    let west = account.sdk_config("eu-west-1");

    // us-east-1, REST: `prod` is compliant on .1 .3 .4; `dev` has one method at OFF.
    let (rest, deployment) = seed::rest_api(&east, "orders").await;
    seed::rest_stage(
        &east,
        &rest,
        &deployment,
        "prod",
        seed::COMPLIANT_REST_PATCHES,
    )
    .await;
    let acl = seed::associate_web_acl(&east, "us-east-1", &rest, "prod").await;
    seed::rest_stage(
        &east,
        &rest,
        &deployment,
        "dev",
        &[
            ("/*/*/logging/loglevel", "ERROR"),
            ("/~1orders~1{id}/GET/logging/loglevel", "OFF"),
        ],
    )
    .await;

    // us-east-1, WebSocket: default INFO but $default overridden to OFF; access log set.
    let ws = seed::v2_api(&east, "chat", ProtocolType::Websocket).await;
    let connect = seed::v2_route(&east, &ws, "$connect", Some(AuthorizationType::AwsIam)).await;
    let default_route = seed::v2_route(&east, &ws, "$default", None).await;
    seed::v2_stage(
        &east,
        &ws,
        "live",
        V2StageSpec {
            default_logging_level: Some(LoggingLevel::Info),
            route_logging_levels: &[("$default", LoggingLevel::Off)],
            access_log: Some((LOG_GROUP, "$context.requestId")),
            description: None,
        },
    )
    .await;

    // us-east-1, HTTP: no access log; one route with IAM, one with none.
    let http = seed::v2_api(&east, "pets", ProtocolType::Http).await;
    let get_pets = seed::v2_route(&east, &http, "GET /pets", Some(AuthorizationType::AwsIam)).await;
    let post_pets = seed::v2_route(&east, &http, "POST /pets", Some(AuthorizationType::None)).await;
    seed::v2_stage(&east, &http, "$default", V2StageSpec::default()).await;

    // eu-west-1, REST: caching on but unencrypted.
    let (cached, cached_deployment) = seed::rest_api(&west, "catalog").await;
    seed::rest_stage(
        &west,
        &cached,
        &cached_deployment,
        "prod",
        &[
            ("/*/*/logging/loglevel", "INFO"),
            ("/cacheClusterEnabled", "true"),
            ("/*/*/caching/enabled", "true"),
        ],
    )
    .await;

    let output = run_scan(
        &account,
        &[
            "--region",
            "us-east-1",
            "--region",
            "eu-west-1",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    assert_eq!(report["errors"], serde_json::json!([]));
    let got = verdicts(&report);

    let prod = rest_arn("us-east-1", &rest, "prod");
    let dev = rest_arn("us-east-1", &rest, "dev");
    let live = v2_arn("us-east-1", &ws, "live");
    let http_stage = v2_arn("us-east-1", &http, "$default");
    let cached_prod = rest_arn("eu-west-1", &cached, "prod");
    let connect = route_arn("us-east-1", &ws, &connect);
    let default_route = route_arn("us-east-1", &ws, &default_route);
    let get_pets = route_arn("us-east-1", &http, &get_pets);
    let post_pets = route_arn("us-east-1", &http, &post_pets);
    let expected: BTreeMap<(String, String), String> = [
        ("APIGateway.1", &prod, "PASSED"),
        ("APIGateway.2", &prod, "FAILED"),
        ("APIGateway.3", &prod, "PASSED"),
        ("APIGateway.4", &prod, "PASSED"),
        ("APIGateway.5", &prod, "NOT_APPLICABLE"),
        ("APIGateway.1", &dev, "FAILED"),
        ("APIGateway.2", &dev, "FAILED"),
        ("APIGateway.3", &dev, "FAILED"),
        ("APIGateway.4", &dev, "FAILED"),
        ("APIGateway.5", &dev, "NOT_APPLICABLE"),
        ("APIGateway.1", &live, "FAILED"),
        ("APIGateway.9", &live, "PASSED"),
        ("APIGateway.8", &connect, "PASSED"),
        ("APIGateway.8", &default_route, "FAILED"),
        ("APIGateway.1", &http_stage, "NOT_APPLICABLE"),
        ("APIGateway.9", &http_stage, "FAILED"),
        ("APIGateway.8", &get_pets, "PASSED"),
        ("APIGateway.8", &post_pets, "FAILED"),
        ("APIGateway.1", &cached_prod, "PASSED"),
        ("APIGateway.2", &cached_prod, "FAILED"),
        ("APIGateway.3", &cached_prod, "FAILED"),
        ("APIGateway.4", &cached_prod, "FAILED"),
        ("APIGateway.5", &cached_prod, "FAILED"),
    ]
    .into_iter()
    .map(|(control, arn, status)| ((control.to_string(), arn.clone()), status.to_string()))
    .collect();
    assert_eq!(got, expected);

    assert!(
        reason(&report, "APIGateway.1", &dev).contains("GET /orders/{id}"),
        "{report:#}"
    );
    assert!(
        reason(&report, "APIGateway.1", &live).contains("$default"),
        "{report:#}"
    );
    // Every finding carries a readable name and the account it was read in.
    let names: BTreeMap<&str, &str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            assert_eq!(f["accountId"], account.account_id.as_str(), "{f:#}");
            (
                f["resourceArn"].as_str().expect("arn"),
                f["resourceName"].as_str().expect("resourceName"),
            )
        })
        .collect();
    for (arn, name) in [
        (&dev, "orders/dev"),
        (&live, "chat/live"),
        (&http_stage, "pets/$default"),
        (&cached_prod, "catalog/prod"),
        (&connect, "chat $connect"),
        (&default_route, "chat $default"),
        (&post_pets, "pets POST /pets"),
    ] {
        assert_eq!(names.get(arn.as_str()).copied(), Some(name), "{names:#?}");
    }

    // The table leads each resource with its name, its ARN beside it.
    let table = run_scan(
        &account,
        &["--region", "us-east-1", "--region", "eu-west-1"],
    );
    let table = String::from_utf8_lossy(&table.stdout);
    let heading = format!(
        "orders/dev  {dev}  (AWS::ApiGateway::Stage, us-east-1, account {})",
        account.account_id
    );
    assert!(
        table.lines().any(|line| line == heading),
        "no line {heading:?} in:\n{table}"
    );

    // The ACL allow-list parameter: the associated ACL passes, any other fails.
    let allowed = run_scan(
        &account,
        &[
            "--region",
            "us-east-1",
            "--control",
            "APIGateway.4",
            "--output",
            "json",
            "--accepted-web-acl-arn",
            &acl,
        ],
    );
    let allowed = verdicts(&json(&allowed));
    assert_eq!(
        allowed
            .get(&("APIGateway.4".to_string(), prod.clone()))
            .map(String::as_str),
        Some("PASSED")
    );
    let other = run_scan(
        &account,
        &[
            "--region",
            "us-east-1",
            "--control",
            "APIGateway.4",
            "--output",
            "json",
            "--accepted-web-acl-arn",
            "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/other/1",
        ],
    );
    let other = verdicts(&json(&other));
    assert_eq!(
        other
            .get(&("APIGateway.4".to_string(), prod))
            .map(String::as_str),
        Some("FAILED")
    );
}

#[tokio::test]
async fn every_finding_follows_the_json_contract() {
    let account = new_account().await;
    let east = account.sdk_config("us-east-1");
    let (rest, deployment) = seed::rest_api(&east, "contract").await;
    seed::rest_stage(&east, &rest, &deployment, "prod", &[]).await;
    let output = run_scan(&account, &["--region", "us-east-1", "--output", "json"]);
    let report = json(&output);
    let top: Vec<&str> = report
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(top, ["errors", "findings", "scan"]);
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(
        findings.len(),
        5,
        "APIGateway.1 to .5 on the one REST stage: {report:#}"
    );
    for f in findings {
        let keys: Vec<&str> = f
            .as_object()
            .expect("finding object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "accountId",
                "controlId",
                "reason",
                "region",
                "resourceArn",
                "resourceName",
                "resourceType",
                "severity",
                "status"
            ],
            "{f:#}"
        );
        assert_eq!(f["resourceType"], "AWS::ApiGateway::Stage");
        assert_eq!(f["region"], "us-east-1");
        assert_eq!(f["resourceArn"], rest_arn("us-east-1", &rest, "prod"));
        assert_eq!(f["resourceName"], "contract/prod");
        assert_eq!(f["accountId"], account.account_id.as_str());
        assert!(!f["reason"].as_str().expect("reason").is_empty());
    }

    // The scan object: what ran, when, and the counts of the findings beside it.
    let scan = &report["scan"];
    let keys: Vec<&str> = scan
        .as_object()
        .expect("scan object")
        .keys()
        .map(String::as_str)
        .collect();
    // No profile file: the flags were the profile, which has no name.
    assert_eq!(
        keys,
        [
            "finishedAt",
            "regions",
            "semantics",
            "startedAt",
            "summary",
            "toolVersion"
        ],
        "{scan:#}"
    );
    assert_eq!(scan["toolVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(scan["semantics"], "Strict");
    assert_eq!(scan["regions"], serde_json::json!(["us-east-1"]));
    let time = |field: &str| -> k8s_openapi::jiff::Timestamp {
        scan[field]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{field} is not an RFC 3339 time: {scan:#}"))
    };
    assert!(time("startedAt") <= time("finishedAt"), "{scan:#}");
    let count = |status: &str| findings.iter().filter(|f| f["status"] == status).count();
    assert_eq!(
        scan["summary"],
        serde_json::json!({
            "evaluated": findings.len(),
            "passed": count("PASSED"),
            "failed": count("FAILED"),
            "notApplicable": count("NOT_APPLICABLE"),
            "errors": count("ERROR"),
            "exempted": 0,
        })
    );
}

#[tokio::test]
async fn fail_on_failed_gates_the_exit_status() {
    let account = new_account().await;
    let east = account.sdk_config("us-east-1");
    let (rest, deployment) = seed::rest_api(&east, "gate").await;
    seed::rest_stage(
        &east,
        &rest,
        &deployment,
        "prod",
        seed::COMPLIANT_REST_PATCHES,
    )
    .await;

    let compliant = run_scan(
        &account,
        &[
            "--region",
            "us-east-1",
            "--control",
            "APIGateway.3",
            "--fail-on",
            "FAILED",
        ],
    );
    assert_eq!(
        compliant.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&compliant.stdout)
    );
    let table = String::from_utf8_lossy(&compliant.stdout);
    assert!(table.contains("1 findings: 0 failed, 1 passed"), "{table}");

    let failing = run_scan(
        &account,
        &[
            "--region",
            "us-east-1",
            "--control",
            "APIGateway.4",
            "--fail-on",
            "FAILED",
        ],
    );
    assert_eq!(failing.status.code(), Some(1));
    let without_gate = run_scan(
        &account,
        &["--region", "us-east-1", "--control", "APIGateway.4"],
    );
    assert_eq!(without_gate.status.code(), Some(0));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_reported_as_an_error_and_nothing_passes() {
    let account = new_account().await;
    let output = std::process::Command::new(BIN)
        .args([
            "scan",
            "--region",
            "us-east-1",
            "--output",
            "json",
            "--max-attempts",
            "1",
        ])
        .env_clear()
        .envs(account.env("us-east-1"))
        // Port 9 (discard) on loopback: nothing listens, the connection is refused.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .expect("run");
    assert_nothing_read_in_us_east_1(&output, "could not connect");
}

/// The scan exited 3 (incomplete) with no finding, and the three list calls of
/// us-east-1 the default controls make are errors whose message says `why`.
fn assert_nothing_read_in_us_east_1(output: &Output, why: &str) {
    assert_eq!(output.status.code(), Some(3), "incomplete scans exit 3");
    let report = json(output);
    assert_eq!(report["findings"], serde_json::json!([]));
    let errors = report["errors"].as_array().expect("errors");
    let operations: Vec<&str> = errors
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .collect();
    assert_eq!(operations, ["GetRestApis", "GetApis", "GetDomainNames"]);
    for e in errors {
        assert_eq!(e["region"], "us-east-1");
        assert!(
            e["message"].as_str().expect("message").contains(why),
            "{e:#}"
        );
    }
}

#[test]
fn a_region_typo_is_refused_before_any_call() {
    let output = std::process::Command::new(BIN)
        .args(["scan", "--region", "us-esat1"])
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"us-esat1\" is not an AWS region code"),
        "{stderr}"
    );
}

#[test]
fn missing_credentials_are_reported_with_what_to_do() {
    let empty = std::env::temp_dir();
    let output = std::process::Command::new(BIN)
        .args(["scan", "--region", "us-east-1"])
        .env_clear()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", empty.join("apigw-no-such-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            empty.join("apigw-no-such-credentials"),
        )
        .env("HOME", empty.join("apigw-no-such-home"))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no usable AWS credentials"), "{stderr}");
    assert!(stderr.contains("AWS_PROFILE"), "{stderr}");
}

#[test]
fn an_unknown_control_id_is_refused() {
    let output = std::process::Command::new(BIN)
        .args(["scan", "--region", "us-east-1", "--control", "APIGateway.6"])
        .env_clear()
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown control id \"APIGateway.6\""),
        "{stderr}"
    );
}

#[test]
fn controls_lists_the_catalog_as_json_with_each_source() {
    let output = std::process::Command::new(BIN)
        .args(["controls", "--output", "json"])
        .output()
        .expect("run");
    assert!(output.status.success());
    let catalog: Value = serde_json::from_slice(&output.stdout).expect("json");
    let ids: Vec<&str> = catalog
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "APIGateway.1",
            "APIGateway.2",
            "APIGateway.3",
            "APIGateway.4",
            "APIGateway.5",
            "APIGateway.8",
            "APIGateway.9",
            "APIGateway.10",
            "APIGateway.11",
            "RestAccessLogging"
        ]
    );
    assert_eq!(catalog[0]["source"], "Security Hub");
    assert_eq!(catalog[9]["source"], "CIS");
    assert_eq!(
        catalog[8]["resourceTypes"][0],
        "AWS::ApiGateway::DomainName"
    );
    assert_eq!(catalog[0]["severity"], "MEDIUM");
    assert_eq!(catalog[2]["severity"], "LOW");
}

#[tokio::test]
async fn scan_with_a_profile_applies_its_role_scope_controls_and_exemptions() {
    // The resources live in one account; the scan runs with another account's
    // credentials and reaches them only through the profile's roleArn.
    let target = new_account().await;
    let caller = new_account().await;
    let east = target.sdk_config("us-east-1");
    let (payments, payments_deployment) = seed::rest_api(&east, "payments-api").await;
    seed::rest_stage(&east, &payments, &payments_deployment, "prod", &[]).await;
    seed::rest_stage(&east, &payments, &payments_deployment, "test", &[]).await;
    let (other, other_deployment) = seed::rest_api(&east, "inventory-api").await;
    seed::rest_stage(&east, &other, &other_deployment, "prod", &[]).await;

    let prod = rest_arn("us-east-1", &payments, "prod");
    let test = rest_arn("us-east-1", &payments, "test");
    let manifest = format!(
        r#"apiVersion: apigwcompliance.io/v1alpha1
kind: ComplianceProfile
metadata:
  name: payments
spec:
  scope:
    regions: [us-east-1]
    roleArn: arn:aws:iam::{account}:role/apigw-compliance-test
    apis:
      include: ["payments-*"]
  controls:
    enabled: [APIGateway.3, APIGateway.4]
  exemptions:
    - control: APIGateway.4
      resourceArnGlob: "arn:aws:apigateway:us-east-1::/restapis/{payments}/stages/test"
      reason: test stage is internal only
  interval: 15m
"#,
        account = target.account_id
    );
    let dir = tempdir();
    let path = dir.join("profile.yaml");
    std::fs::write(&path, manifest).expect("write profile");

    let output = run_scan(
        &caller,
        &[
            "--profile",
            path.to_str().expect("utf-8 path"),
            "--output",
            "json",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    let got = verdicts(&report);
    let expected: BTreeMap<(String, String), String> = [
        ("APIGateway.3", &prod, "FAILED"),
        ("APIGateway.4", &prod, "FAILED"),
        ("APIGateway.3", &test, "FAILED"),
        ("APIGateway.4", &test, "FAILED"),
    ]
    .into_iter()
    .map(|(c, a, s)| ((c.to_string(), a.clone()), s.to_string()))
    .collect();
    assert_eq!(got, expected, "only payments-* APIs, only .3 and .4");
    let exempted: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["exempted"] == true)
        .map(|f| {
            (
                f["controlId"].as_str().expect("id"),
                f["resourceArn"].as_str().expect("arn"),
            )
        })
        .collect();
    assert_eq!(exempted, [("APIGateway.4", test.as_str())]);
    // The profile's name is the scan's; each finding names its resource and the
    // account the role reads (not the caller's own).
    assert_eq!(report["scan"]["profile"], "payments");
    for f in report["findings"].as_array().expect("findings") {
        assert_eq!(f["accountId"], target.account_id.as_str(), "{f:#}");
        let name = if f["resourceArn"] == prod.as_str() {
            "payments-api/prod"
        } else {
            "payments-api/test"
        };
        assert_eq!(f["resourceName"], name, "{f:#}");
    }

    // `--control` narrows the profile's controls.
    let narrowed = run_scan(
        &caller,
        &[
            "--profile",
            path.to_str().expect("utf-8 path"),
            "--control",
            "APIGateway.3",
            "--output",
            "json",
        ],
    );
    let narrowed = verdicts(&json(&narrowed));
    assert!(
        narrowed
            .keys()
            .all(|(control, _)| control == "APIGateway.3"),
        "{narrowed:?}"
    );
    assert_eq!(narrowed.len(), 2);

    // Without the role, the caller's own account has none of these APIs.
    let own = run_scan(&caller, &["--region", "us-east-1", "--output", "json"]);
    assert_eq!(json(&own)["findings"], serde_json::json!([]));
}

#[test]
fn an_invalid_profile_is_refused_with_the_field_named() {
    let dir = tempdir();
    let path = dir.join("bad.yaml");
    std::fs::write(
        &path,
        "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {name: bad}\nspec:\n  scope:\n    regions: [us-esat1]\n",
    )
    .expect("write");
    let output = std::process::Command::new(BIN)
        .args(["scan", "--profile", path.to_str().expect("utf-8 path")])
        .env_clear()
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("scope.regions"), "{stderr}");
}

pub(crate) fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "apigw-scan-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn a_denied_api_and_a_denied_region_are_errors_and_the_rest_is_still_reported() {
    let account = new_account().await;
    let east = account.sdk_config("us-east-1");
    let west = account.sdk_config("eu-west-1");
    let (open, open_deployment) = seed::rest_api(&east, "open").await;
    seed::rest_stage(
        &east,
        &open,
        &open_deployment,
        "prod",
        seed::COMPLIANT_REST_PATCHES,
    )
    .await;
    let (locked, locked_deployment) = seed::rest_api(&east, "locked").await;
    seed::rest_stage(&east, &locked, &locked_deployment, "prod", &[]).await;
    let (west_api, west_deployment) = seed::rest_api(&west, "west").await;
    seed::rest_stage(&west, &west_api, &west_deployment, "prod", &[]).await;
    account
        .deny("apigateway:GetStages", Some("us-east-1"), Some(&locked))
        .await;
    account
        .deny("apigateway:GetRestApis", Some("eu-west-1"), None)
        .await;

    let output = run_scan(
        &account,
        &[
            "--region",
            "us-east-1",
            "--region",
            "eu-west-1",
            "--control",
            "APIGateway.3",
            "--output",
            "json",
            "--fail-on",
            "FAILED",
        ],
    );
    // Nothing failed among what was read, but the scan is incomplete: exit 3.
    assert_eq!(
        output.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    let got = verdicts(&report);
    assert_eq!(
        got,
        [(
            (
                "APIGateway.3".to_string(),
                rest_arn("us-east-1", &open, "prod")
            ),
            "PASSED".to_string()
        )]
        .into_iter()
        .collect(),
        "the readable API keeps its verdict; nothing unread is reported: {report:#}"
    );
    let errors: Vec<(String, String, Option<String>)> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["region"].as_str().expect("region").to_string(),
                e["operation"].as_str().expect("operation").to_string(),
                e["resourceArn"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (
                "us-east-1".to_string(),
                "GetStages".to_string(),
                Some(format!("arn:aws:apigateway:us-east-1::/restapis/{locked}"))
            ),
            ("eu-west-1".to_string(), "GetRestApis".to_string(), None),
        ]
    );
    for e in report["errors"].as_array().expect("errors") {
        let message = e["message"].as_str().expect("message");
        assert!(
            message.contains("was denied (AccessDeniedException"),
            "{message}"
        );
        assert!(
            message.contains("grant the scanning identity apigateway:GET"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn routes_are_read_only_when_route_authorization_is_checked() {
    let account = new_account().await;
    let sdk = account.sdk_config("us-east-1");
    let http = seed::v2_api(&sdk, "orders-http", ProtocolType::Http).await;
    seed::v2_route(&sdk, &http, "GET /orders", Some(AuthorizationType::Jwt)).await;
    seed::v2_stage(&sdk, &http, "prod", V2StageSpec::default()).await;
    let route_count = |report: &Value| {
        report["findings"]
            .as_array()
            .expect("findings array")
            .iter()
            .filter(|f| f["resourceType"] == "AWS::ApiGatewayV2::Route")
            .count()
    };

    // Access logging and execution logging are stage settings: no GetRoutes.
    account.reset_call_counts().await;
    let out = run_scan(
        &account,
        &[
            "--region",
            "us-east-1",
            "--control",
            "APIGateway.1",
            "--control",
            "APIGateway.9",
            "--output",
            "json",
        ],
    );
    let report = json(&out);
    let counts = account.call_counts().await;
    assert_eq!(counts.get("apigatewayv2:GetStages"), 1, "{counts:?}");
    assert_eq!(counts.get("apigatewayv2:GetRoutes"), 0, "{counts:?}");
    assert_eq!(route_count(&report), 0);
    assert_eq!(
        verdicts(&report).get(&(
            "APIGateway.9".to_string(),
            v2_arn("us-east-1", &http, "prod")
        )),
        Some(&"FAILED".to_string())
    );

    // Route authorization: one GetRoutes per v2 API, and the route's verdict.
    account.reset_call_counts().await;
    let out = run_scan(
        &account,
        &[
            "--region",
            "us-east-1",
            "--control",
            "APIGateway.8",
            "--output",
            "json",
        ],
    );
    let report = json(&out);
    let counts = account.call_counts().await;
    assert_eq!(counts.get("apigatewayv2:GetRoutes"), 1, "{counts:?}");
    assert_eq!(route_count(&report), 1);
    assert!(
        verdicts(&report)
            .iter()
            .any(|((control, arn), status)| control == "APIGateway.8"
                && arn.starts_with(&format!(
                    "arn:aws:apigateway:us-east-1::/apis/{http}/routes/"
                ))
                && status == "PASSED"),
        "{report}"
    );
}

#[tokio::test]
async fn an_endpoint_that_accepts_but_never_answers_times_out_as_an_error() {
    // A loopback server that accepts every connection and never answers: a black hole
    // after TCP connect, which a connect timeout alone does not catch.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming().flatten() {
            held.push(connection);
        }
    });
    let account = new_account().await;
    let mut child = std::process::Command::new(BIN)
        .args([
            "scan",
            "--region",
            "us-east-1",
            "--output",
            "json",
            "--max-attempts",
            "2",
            "--aws-read-timeout-seconds",
            "1",
        ])
        .env_clear()
        .envs(account.env("us-east-1"))
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    // Not a speed assertion: a bound so that a hang fails the test instead of
    // stalling the suite (each call needs about 2 attempts x 1 s plus backoff).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the scan still waits on an endpoint that never answers");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("output");
    assert_nothing_read_in_us_east_1(&output, "timed out");
}

/// An integration of a v2 API; `vpc_link` with an optional TLS server name.
#[tokio::test]
async fn integrations_and_domain_names_are_judged_and_read_only_when_their_controls_are_selected() {
    let account = new_account().await;
    let east = account.sdk_config("us-east-1");
    let west = account.sdk_config("eu-west-1");
    let http = seed::v2_api(&east, "orders", ProtocolType::Http).await;
    let no_tls = seed::v2_integration(&east, &http, true, None).await;
    let verified = seed::v2_integration(&east, &http, true, Some(Some("orders.internal"))).await;
    let internet = seed::v2_integration(&east, &http, false, None).await;
    seed::domain_name(&east, "api.example.com", "REGIONAL", "TLS_1_2").await;
    seed::domain_name(
        &west,
        "edge.example.com",
        "EDGE",
        "SecurityPolicy_TLS13_2025_EDGE",
    )
    .await;

    account.reset_call_counts().await;
    let args = [
        "--region",
        "us-east-1",
        "--region",
        "eu-west-1",
        "--output",
        "json",
    ];
    let out = run_scan(&account, &args);
    let report = json(&out);
    assert_eq!(report["errors"], serde_json::json!([]), "{report:#}");
    let counts = account.call_counts().await;
    // One GetIntegrations per v2 API, one GetDomainNames per region.
    assert_eq!(counts.get("apigatewayv2:GetIntegrations"), 1, "{counts:?}");
    assert_eq!(counts.get("apigateway:GetDomainNames"), 2, "{counts:?}");
    let got = verdicts(&report);
    let integration_arn =
        |id: &str| format!("arn:aws:apigateway:us-east-1::/apis/{http}/integrations/{id}");
    let status =
        |control: &str, arn: &str| got.get(&(control.to_string(), arn.to_string())).cloned();
    assert_eq!(
        status("APIGateway.10", &integration_arn(&no_tls)).as_deref(),
        Some("FAILED")
    );
    assert_eq!(
        status("APIGateway.10", &integration_arn(&verified)).as_deref(),
        Some("PASSED")
    );
    assert_eq!(
        status("APIGateway.10", &integration_arn(&internet)).as_deref(),
        Some("NOT_APPLICABLE")
    );
    let east_domain = "arn:aws:apigateway:us-east-1::/domainnames/api.example.com";
    let west_domain = "arn:aws:apigateway:eu-west-1::/domainnames/edge.example.com";
    assert_eq!(
        status("APIGateway.11", east_domain).as_deref(),
        Some("FAILED")
    );
    assert_eq!(
        status("APIGateway.11", west_domain).as_deref(),
        Some("PASSED")
    );
    assert!(
        reason(&report, "APIGateway.11", east_domain)
            .contains("should use SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09"),
        "{report:#}"
    );
    let resource_types: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["resourceType"].as_str())
        .collect();
    assert!(resource_types.contains(&"AWS::ApiGatewayV2::Integration"));
    assert!(resource_types.contains(&"AWS::ApiGateway::DomainName"));
    let name_of = |arn: &str| {
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["resourceArn"] == arn)
            .and_then(|f| f["resourceName"].as_str())
            .unwrap_or_else(|| panic!("no finding for {arn}"))
            .to_string()
    };
    assert_eq!(
        name_of(&integration_arn(&no_tls)),
        format!("orders integration {no_tls}")
    );
    assert_eq!(name_of(east_domain), "api.example.com");
    // The opt-in check is not in the default selection.
    assert!(
        !got.keys()
            .any(|(control, _)| control == "RestAccessLogging")
    );

    // Without .10 and .11 selected, neither list is read.
    account.reset_call_counts().await;
    run_scan(
        &account,
        &[
            "--region",
            "us-east-1",
            "--region",
            "eu-west-1",
            "--control",
            "APIGateway.9",
            "--output",
            "json",
        ],
    );
    let counts = account.call_counts().await;
    assert_eq!(counts.get("apigatewayv2:GetIntegrations"), 0, "{counts:?}");
    assert_eq!(counts.get("apigateway:GetDomainNames"), 0, "{counts:?}");
}

#[tokio::test]
async fn rest_access_logging_runs_when_selected_and_its_domain_policy_fix_is_opt_in() {
    let account = new_account().await;
    let sdk = account.sdk_config("us-east-1");
    let (rest, deployment) = seed::rest_api(&sdk, "orders").await;
    seed::rest_stage(
        &sdk,
        &rest,
        &deployment,
        "prod",
        &[
            ("/accessLogSettings/destinationArn", LOG_GROUP),
            ("/accessLogSettings/format", "$context.requestId"),
        ],
    )
    .await;
    seed::rest_stage(&sdk, &rest, &deployment, "dev", &[]).await;
    let out = run_scan(
        &account,
        &[
            "--region",
            "us-east-1",
            "--control",
            "RestAccessLogging",
            "--output",
            "json",
        ],
    );
    let got = verdicts(&json(&out));
    let key = |stage: &str| {
        (
            "RestAccessLogging".to_string(),
            rest_arn("us-east-1", &rest, stage),
        )
    };
    assert_eq!(
        got.get(&key("prod")).map(String::as_str),
        Some("PASSED"),
        "{got:?}"
    );
    assert_eq!(
        got.get(&key("dev")).map(String::as_str),
        Some("FAILED"),
        "{got:?}"
    );
    assert_eq!(got.len(), 2, "{got:?}");

    // APIGateway.11's fix: named in the profile, made with UpdateDomainName (moto
    // extension), and the domain passes afterwards.
    seed::domain_name(&sdk, "api.example.com", "REGIONAL", "TLS_1_2").await;
    let dir = tempdir();
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {name: domains}\n\
         spec:\n  scope: {regions: [us-east-1]}\n  controls: {enabled: [APIGateway.11]}\n\
         \x20 remediation:\n    controls:\n      domainSecurityPolicy: {regionalPolicy: SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09}\n",
    )
    .expect("write the profile");
    let profile = profile.to_string_lossy().to_string();
    let fixed = run_scan(
        &account,
        &[
            "--profile",
            &profile,
            "--remediate",
            "enforce",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        fixed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );
    let report = json(&fixed);
    let change = &report["remediation"]["outcome"]["changes"][0];
    assert_eq!(
        change["call"]["operation"], "apigateway:UpdateDomainName",
        "{report:#}"
    );
    assert_eq!(change["items"][0]["status"], "Applied", "{report:#}");
    let policy = aws_sdk_apigateway::Client::new(&sdk)
        .get_domain_name()
        .domain_name("api.example.com")
        .send()
        .await
        .expect("GetDomainName")
        .security_policy()
        .map(|p| p.as_str().to_string());
    assert_eq!(
        policy.as_deref(),
        Some("SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09")
    );
    let again = verdicts(&json(&run_scan(
        &account,
        &["--profile", &profile, "--output", "json"],
    )));
    assert_eq!(
        again
            .get(&(
                "APIGateway.11".to_string(),
                "arn:aws:apigateway:us-east-1::/domainnames/api.example.com".to_string()
            ))
            .map(String::as_str),
        Some("PASSED")
    );
}

#[tokio::test]
async fn rest_access_logging_remediation_fills_empty_settings_and_keeps_set_ones() {
    let account = new_account().await;
    let sdk = account.sdk_config("us-east-1");
    seed::set_cloudwatch_role(&sdk, &account.account_id).await;
    let (rest, deployment) = seed::rest_api(&sdk, "orders").await;
    let theirs = "arn:aws:logs:us-east-1:123456789012:log-group:theirs";
    // prod sends its logs somewhere but has no format: only the format is added.
    seed::rest_stage(
        &sdk,
        &rest,
        &deployment,
        "prod",
        &[("/accessLogSettings/destinationArn", theirs)],
    )
    .await;
    seed::rest_stage(&sdk, &rest, &deployment, "dev", &[]).await;
    let dir = tempdir();
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        format!(
            "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {{name: rest-logs}}\n\
             spec:\n  scope: {{regions: [us-east-1]}}\n  controls: {{enabled: [RestAccessLogging]}}\n\
             \x20 remediation:\n    controls:\n      restAccessLogging: {{destinationArn: '{LOG_GROUP}', format: '$context.requestId $context.status'}}\n"
        ),
    )
    .expect("write the profile");
    let profile = profile.to_string_lossy().to_string();

    let dry = json(&run_scan(
        &account,
        &[
            "--profile",
            &profile,
            "--remediate",
            "dry-run",
            "--output",
            "json",
        ],
    ));
    let planned = dry["remediation"]["plan"]["changes"]
        .as_array()
        .expect("planned changes");
    assert_eq!(planned.len(), 2, "{dry:#}");

    let fixed = run_scan(
        &account,
        &[
            "--profile",
            &profile,
            "--remediate",
            "enforce",
            "--output",
            "json",
        ],
    );
    let report = json(&fixed);
    assert_eq!(fixed.status.code(), Some(0), "{report:#}");
    let client = aws_sdk_apigateway::Client::new(&sdk);
    let access_log = |stage: &'static str| {
        let client = client.clone();
        let rest = rest.clone();
        async move {
            let got = client
                .get_stage()
                .rest_api_id(rest)
                .stage_name(stage)
                .send()
                .await
                .expect("GetStage");
            let settings = got.access_log_settings().expect("access log settings");
            (
                settings.destination_arn().map(str::to_string),
                settings.format().map(str::to_string),
            )
        }
    };
    assert_eq!(
        access_log("dev").await,
        (
            Some(LOG_GROUP.to_string()),
            Some("$context.requestId $context.status".to_string())
        )
    );
    assert_eq!(
        access_log("prod").await,
        (
            Some(theirs.to_string()),
            Some("$context.requestId $context.status".to_string())
        ),
        "logs already going somewhere are never redirected"
    );
    let again = verdicts(&json(&run_scan(
        &account,
        &["--profile", &profile, "--output", "json"],
    )));
    for stage in ["prod", "dev"] {
        assert_eq!(
            again
                .get(&(
                    "RestAccessLogging".to_string(),
                    rest_arn("us-east-1", &rest, stage)
                ))
                .map(String::as_str),
            Some("PASSED"),
            "{again:?}"
        );
    }
}

#[tokio::test]
async fn a_denied_get_routes_costs_only_the_route_findings_of_that_api() {
    use aws_sdk_apigatewayv2::types::ProtocolType;
    let account = new_account().await;
    let east = account.sdk_config("us-east-1");
    let api = seed::v2_api(&east, "chat", ProtocolType::Http).await;
    seed::v2_route(&east, &api, "GET /messages", None).await;
    seed::v2_stage(&east, &api, "prod", seed::V2StageSpec::default()).await;
    account
        .deny("apigatewayv2:GetRoutes", Some("us-east-1"), Some(&api))
        .await;

    let output = run_scan(
        &account,
        &[
            "--region",
            "us-east-1",
            "--control",
            "APIGateway.8",
            "--control",
            "APIGateway.9",
            "--output",
            "json",
        ],
    );
    let report = json(&output);
    let got = verdicts(&report);
    // The stage is still judged on what was read (no access logs: FAILED); the routes
    // were not read, so there is no route finding at all, and the error says why.
    assert_eq!(
        got,
        [(
            (
                "APIGateway.9".to_string(),
                v2_arn("us-east-1", &api, "prod")
            ),
            "FAILED".to_string()
        )]
        .into_iter()
        .collect(),
        "{report:#}"
    );
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{report:#}");
    assert_eq!(errors[0]["operation"], "GetRoutes");
    assert_eq!(
        errors[0]["resourceArn"],
        format!("arn:aws:apigateway:us-east-1::/apis/{api}")
    );
}

#[tokio::test]
async fn an_unreadable_api_that_the_scope_excludes_does_not_make_the_scan_incomplete() {
    let account = new_account().await;
    let east = account.sdk_config("us-east-1");
    let (open, open_deployment) = seed::rest_api(&east, "payments-api").await;
    seed::rest_stage(
        &east,
        &open,
        &open_deployment,
        "prod",
        seed::COMPLIANT_REST_PATCHES,
    )
    .await;
    let (locked, locked_deployment) = seed::rest_api(&east, "legacy-api").await;
    seed::rest_stage(&east, &locked, &locked_deployment, "prod", &[]).await;
    account
        .deny("apigateway:GetStages", Some("us-east-1"), Some(&locked))
        .await;
    let profile = |apis: &str| {
        let dir = tempdir();
        let path = dir.join("profile.yaml");
        std::fs::write(
            &path,
            format!(
                "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {{name: p}}\nspec:\n  scope:\n    regions: [us-east-1]\n    apis: {apis}\n  controls:\n    enabled: [APIGateway.3]\n"
            ),
        )
        .expect("write profile");
        path
    };
    let scan = |path: std::path::PathBuf| {
        run_scan(
            &account,
            &[
                "--profile",
                path.to_str().expect("path"),
                "--output",
                "json",
            ],
        )
    };

    // The unreadable API is known by its name: a scope that leaves it out is complete.
    let output = scan(profile("{exclude: [legacy-*]}"));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    assert_eq!(
        report["errors"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
    // A scope that takes it in is incomplete, and says why.
    let output = scan(profile("{include: [\"*\"]}"));
    assert_eq!(output.status.code(), Some(3));
    let report = json(&output);
    assert_eq!(report["errors"][0]["operation"], "GetStages", "{report:#}");
}
