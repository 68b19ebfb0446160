//! The policy reports the operator keeps (`--report-api`), with the report CRDs as their
//! projects publish them (`tests/tools/fetch-report-crds`: OpenReports v0.2.1 and
//! Kyverno v1.19.1's wgpolicyk8s.io, through the Go module proxy), applied to the
//! local kube-apiserver: their schemas check every field of every report written
//! (the operator applies with strict field validation).
//!
//! The report CRDs are cluster-scoped and shared by the tests running in parallel:
//! each test applies the ones it needs (server-side, idempotent) and never deletes
//! them. The test of a missing CRD runs on a private control plane, where none is
//! installed. Deleting a profile deletes its reports through the garbage collector of
//! the control plane's kube-controller-manager.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use apigw_compliance::crd::{ComplianceProfile, ConditionStatus};
use apigw_compliance::report::policy_report::PART_BUDGET_BYTES;
use aws_sdk_apigatewayv2::types::{AuthorizationType, ProtocolType};
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::support::cluster::{self, ControlPlane};
use crate::support::moto::{MotoAccount, new_account};
use crate::support::operator::{
    CRD_NAME, Operator, apply, client_with_crd, condition, crd_yaml, kubectl_stdout, profile_yaml,
    repo, temp_dir, wait_for,
};
use crate::support::seed::{self, V2StageSpec};

/// Long enough for a scan against moto on a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(120);
const REGION: &str = "us-east-1";
const SELECTOR: &str = "apigwcompliance.io/profile=orders";

/// The folder `tests/tools/fetch-report-crds` fills (once per cache).
fn report_crds() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new(repo("tests/tools/fetch-report-crds"))
            .stdin(Stdio::null())
            .output()
            .expect("run tests/tools/fetch-report-crds");
        assert!(
            out.status.success(),
            "tests/tools/fetch-report-crds failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// The report API's CRDs (namespaced and cluster-scoped) applied to the shared
/// control plane and served; returns the namespaced report resource. `api` is
/// `openreports` or `wgpolicyk8s`.
pub async fn install(client: &Client, api: &str) -> ApiResource {
    let (folder, namespaced) = match api {
        "openreports" => ("openreports", "openreports.io_reports.yaml"),
        _ => ("wgpolicyk8s", "wgpolicyk8s.io_policyreports.yaml"),
    };
    let dir = report_crds().join(folder);
    let mut resource = None;
    for entry in std::fs::read_dir(&dir).expect("the CRD folder") {
        let path = entry.expect("entry").path();
        let yaml = std::fs::read_to_string(&path).expect("a CRD file");
        let crd = cluster::apply_crd_yaml(client, &yaml).await;
        if path.file_name().is_some_and(|n| n == namespaced) {
            resource = Some(cluster::crd_api_resource(&crd));
        }
    }
    resource.expect("the namespaced report CRD")
}

/// A REST API `orders` (prod compliant, dev not) and a WebSocket API `chat` with an
/// unauthorised `$connect` route and a stage: stages, a route and their verdicts.
async fn seed_world(account: &MotoAccount) {
    let sdk = account.sdk_config(REGION);
    seed::rest_api_with_prod_and_dev(&sdk, "orders").await;
    let chat = seed::v2_api(&sdk, "chat", ProtocolType::Websocket).await;
    seed::v2_route(&sdk, &chat, "$connect", None).await;
    seed::v2_route(&sdk, &chat, "$default", Some(AuthorizationType::AwsIam)).await;
    seed::v2_stage(&sdk, &chat, "live", V2StageSpec::default()).await;
}

/// Every Security Hub control, and the dev stages' X-Ray finding exempted.
const SPEC: &str = "  scope:\n    regions: [us-east-1]\n  exemptions:\n    - control: APIGateway.3\n      resourceArnGlob: \"arn:aws:apigateway:us-east-1::/restapis/*/stages/dev\"\n      reason: dev has no traffic worth tracing\n";

/// `scan --profile` of the same profile on the same world: the findings as the JSON
/// contract gives them.
fn scan_findings(account: &MotoAccount, profile_yaml: &str) -> Vec<Value> {
    let dir = temp_dir("reports-scan");
    let file = dir.join("profile.yaml");
    std::fs::write(&file, profile_yaml).expect("write the profile");
    let out: Output = Command::new(env!("CARGO_BIN_EXE_apigw-compliance"))
        .args(["scan", "--profile"])
        .arg(&file)
        .args(["--output", "json"])
        .env_clear()
        .envs(account.env(REGION))
        .output()
        .expect("run apigw-compliance scan");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "scan printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    report["findings"].as_array().expect("findings").clone()
}

/// The profile's reports in `namespace`, by name.
async fn reports(client: &Client, namespace: &str, resource: &ApiResource) -> Vec<DynamicObject> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    let mut listed = api
        .list(&ListParams::default().labels(SELECTOR))
        .await
        .expect("list the reports")
        .items;
    listed.sort_by_key(|r| r.name_any());
    listed
}

/// Every result of the reports, keyed by (policy, resource ARN).
fn results(reports: &[DynamicObject]) -> BTreeMap<(String, String), Value> {
    let mut all = BTreeMap::new();
    for report in reports {
        for result in report.data["results"].as_array().expect("results") {
            let key = (
                result["policy"].as_str().expect("policy").to_string(),
                result["properties"]["resourceArn"]
                    .as_str()
                    .expect("resourceArn")
                    .to_string(),
            );
            assert!(
                all.insert(key.clone(), result.clone()).is_none(),
                "{key:?} twice"
            );
        }
    }
    all
}

/// What a finding of the JSON contract becomes in a report (all but the time).
fn expected_result(finding: &Value) -> Value {
    let status = finding["status"].as_str().expect("status");
    let exempted = finding["exempted"].as_bool().unwrap_or(false);
    let result = match (exempted, status) {
        (true, _) | (_, "NOT_APPLICABLE") => "skip",
        (_, "PASSED") => "pass",
        (_, "FAILED") => "fail",
        _ => "error",
    };
    let name = finding["resourceName"].as_str().unwrap_or_default();
    let reason = finding["reason"].as_str().expect("reason");
    let message = if name.is_empty() {
        reason.to_string()
    } else {
        format!("{name}: {reason}")
    };
    let mut properties = json!({
        "resourceArn": finding["resourceArn"],
        "region": finding["region"],
        "account": finding["accountId"],
        "semantics": "Strict",
    });
    if !name.is_empty() {
        properties["resourceName"] = json!(name);
    }
    if exempted {
        properties["verdict"] = json!(status);
        properties["exemption"] = json!("dev has no traffic worth tracing");
        properties["exemptionResourceArnGlob"] =
            json!("arn:aws:apigateway:us-east-1::/restapis/*/stages/dev");
    }
    json!({
        "source": "apigw-compliance",
        "policy": finding["controlId"],
        "rule": finding["resourceType"],
        "severity": finding["severity"].as_str().expect("severity").to_lowercase(),
        "result": result,
        "message": message,
        "properties": properties,
    })
}

/// The reports hold exactly the findings `scan` prints: one result each, the same
/// verdict, message and properties, and a category from the catalog.
fn assert_reports_hold(reports: &[DynamicObject], findings: &[Value]) {
    let results = results(reports);
    assert_eq!(results.len(), findings.len(), "one result per finding");
    for finding in findings {
        let key = (
            finding["controlId"]
                .as_str()
                .expect("controlId")
                .to_string(),
            finding["resourceArn"]
                .as_str()
                .expect("resourceArn")
                .to_string(),
        );
        let mut actual = results
            .get(&key)
            .unwrap_or_else(|| panic!("no result for {key:?}"))
            .clone();
        let object = actual.as_object_mut().expect("a result object");
        let timestamp = object.remove("timestamp").expect("a timestamp");
        assert!(
            timestamp["seconds"]
                .as_i64()
                .is_some_and(|s| s > 1_700_000_000)
        );
        let category = object.remove("category").expect("a category");
        assert!(category.as_str().is_some_and(|c| !c.is_empty()));
        assert_eq!(actual, expected_result(finding), "{key:?}");
    }
}

fn summed(reports: &[DynamicObject]) -> BTreeMap<String, i64> {
    let mut sum = BTreeMap::new();
    for report in reports {
        for (key, n) in report.data["summary"].as_object().expect("summary") {
            *sum.entry(key.clone()).or_default() += n.as_i64().expect("a count");
        }
    }
    sum
}

fn reports_written(
    _: &ComplianceProfile,
    status: &apigw_compliance::crd::ComplianceProfileStatus,
) -> bool {
    condition(status, "Reports") == Some((ConditionStatus::True, "ReportsWritten".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanned_profiles_reports_hold_exactly_its_findings_and_kubectl_lists_them() {
    let client = client_with_crd().await;
    let resource = install(&client, "openreports").await;
    let namespace = cluster::test_namespace(&client, "reports").await;
    let account = new_account().await;
    seed_world(&account).await;
    let operator = Operator::watching(&namespace, &account).start().await;
    let manifest = profile_yaml("orders", SPEC);
    apply(cluster::shared(), &namespace, &manifest);
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let profile = wait_for(
        &profiles,
        "orders",
        &operator,
        WAIT,
        "reports written",
        reports_written,
    )
    .await;
    let status = profile.status.clone().expect("status");

    let findings = scan_findings(&account, &manifest);
    assert!(findings.len() >= 10, "{findings:#?}");
    assert!(findings.iter().any(|f| f["exempted"] == true));
    let stored = reports(&client, &namespace, &resource).await;
    assert_eq!(stored.len(), 1, "a small profile fits in one report");
    assert_reports_hold(&stored, &findings);

    // The report names its source and its scope, the profile, which owns it.
    let report = &stored[0];
    assert_eq!(report.name_any(), "apigw-orders-0");
    assert_eq!(report.data["source"], "apigw-compliance");
    let uid = profile.metadata.uid.clone().expect("uid");
    assert_eq!(
        report.data["scope"],
        json!({"apiVersion": "apigwcompliance.io/v1alpha1", "kind": "ComplianceProfile", "name": "orders", "namespace": namespace, "uid": uid})
    );
    let owners = report.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(owners.len(), 1);
    assert_eq!(
        (
            owners[0].kind.as_str(),
            owners[0].name.as_str(),
            owners[0].uid.as_str()
        ),
        ("ComplianceProfile", "orders", uid.as_str())
    );
    assert_eq!(owners[0].controller, Some(true));
    assert_eq!(owners[0].block_owner_deletion, Some(true));

    // Status points to the reports with their counts, which add up to the findings.
    let pointer = status.reports.clone().expect("status.reports");
    assert_eq!(pointer.resource, "reports.openreports.io");
    assert_eq!(pointer.names, ["apigw-orders-0"]);
    assert_eq!(pointer.location, "Report apigw-orders-0");
    assert_eq!(pointer.selector, SELECTOR);
    let sum = summed(&stored);
    assert_eq!(sum["fail"], i64::from(pointer.results.fail));
    assert_eq!(sum["pass"], i64::from(pointer.results.pass));
    assert_eq!(
        sum.values().sum::<i64>(),
        i64::try_from(findings.len()).expect("a count")
    );
    let summary = status.summary.expect("summary");
    assert_eq!(pointer.results.fail, summary.failed);
    assert_eq!(
        pointer.results.skip,
        summary.not_applicable + summary.exempted
    );

    // As a user sees them: kubectl lists the report with its counts, and the profile
    // says where to look.
    let plane = cluster::shared();
    let table = kubectl_stdout(plane, &["get", "reports", "-n", &namespace], None);
    let header = table.lines().next().unwrap_or_default();
    for column in ["NAME", "PASS", "FAIL", "WARN", "ERROR", "SKIP"] {
        assert!(header.contains(column), "{table}");
    }
    let row = table
        .lines()
        .find(|l| l.starts_with("apigw-orders-0"))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], sum["pass"].to_string(), "{table}");
    assert_eq!(cells[2], sum["fail"].to_string(), "{table}");
    let profiles_table = kubectl_stdout(plane, &["get", "acp", "-n", &namespace], None);
    assert!(
        profiles_table
            .lines()
            .next()
            .unwrap_or_default()
            .contains("REPORTS")
            && profiles_table.contains("Report apigw-orders-0"),
        "{profiles_table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wgpolicyk8s_api_gets_the_same_content_in_policy_reports() {
    let client = client_with_crd().await;
    let resource = install(&client, "wgpolicyk8s").await;
    let namespace = cluster::test_namespace(&client, "polr").await;
    let account = new_account().await;
    seed_world(&account).await;
    let operator = Operator::watching(&namespace, &account)
        .args(["--report-api", "wgpolicyk8s"])
        .start()
        .await;
    let manifest = profile_yaml("orders", SPEC);
    apply(cluster::shared(), &namespace, &manifest);
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let profile = wait_for(
        &profiles,
        "orders",
        &operator,
        WAIT,
        "policy reports written",
        reports_written,
    )
    .await;
    let findings = scan_findings(&account, &manifest);
    let stored = reports(&client, &namespace, &resource).await;
    assert_eq!(stored.len(), 1);
    assert_reports_hold(&stored, &findings);
    let report = &stored[0];
    assert_eq!(
        report
            .types
            .as_ref()
            .map(|t| (t.api_version.as_str(), t.kind.as_str())),
        Some(("wgpolicyk8s.io/v1alpha2", "PolicyReport"))
    );
    assert_eq!(report.data["scope"]["name"], "orders");
    assert_eq!(
        profile.status.and_then(|s| s.reports).map(|r| r.resource),
        Some("policyreports.wgpolicyk8s.io".to_string())
    );
    let table = kubectl_stdout(cluster::shared(), &["get", "polr", "-n", &namespace], None);
    assert!(table.contains("apigw-orders-0"), "{table}");
}

/// 10,000 REST stages (1,000 APIs of 10), two controls: 20,000 findings.
fn ten_thousand_stages() -> Value {
    let apis: Vec<Value> = (0..1000)
        .map(|i| {
            let stages: Vec<Value> = (0..10)
                .map(|s| {
                    let level = if (i + s) % 2 == 0 { "INFO" } else { "OFF" };
                    json!({
                        "name": format!("stage{s}"),
                        "patches": [{"op": "replace", "path": "/*/*/logging/loglevel", "value": level}]
                    })
                })
                .collect();
            json!({"name": format!("estate-{i}"), "stages": stages})
        })
        .collect();
    json!({"restApis": apis, "v2Apis": []})
}

/// Report parts the operator has applied, from its metrics.
fn applied(operator: &Operator) -> f64 {
    operator.metric(r#"apigw_compliance_report_parts_total{api="openreports.io",action="applied"}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_stages_split_into_parts_that_fit_and_an_unchanged_rescan_writes_none() {
    let client = client_with_crd().await;
    let resource = install(&client, "openreports").await;
    let namespace = cluster::test_namespace(&client, "reports-large").await;
    let account = new_account().await;
    let created = account.seed_bulk(REGION, &ten_thousand_stages()).await;
    assert_eq!(created["restApis"].as_array().map(Vec::len), Some(1000));
    // Moto needs no pacing: the scan of 1,000 APIs goes as fast as moto answers.
    let operator = Operator::watching(&namespace, &account)
        .args(["--aws-rate-limit", "0"])
        .start()
        .await;
    let spec = "  scope:\n    regions: [us-east-1]\n  controls:\n    enabled: [APIGateway.1, APIGateway.3]\n  interval: 6h\n";
    apply(cluster::shared(), &namespace, &profile_yaml("orders", spec));
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let long = Duration::from_secs(900);
    let profile = wait_for(
        &profiles,
        "orders",
        &operator,
        long,
        "reports written",
        reports_written,
    )
    .await;
    let status = profile.status.expect("status");
    assert_eq!(status.summary.as_ref().map(|s| s.evaluated), Some(20_000));

    let stored = reports(&client, &namespace, &resource).await;
    let pointer = status.reports.clone().expect("status.reports");
    assert!(stored.len() > 1, "20,000 results need several parts");
    assert_eq!(
        stored.len(),
        pointer.names.len() + pointer.names_truncated as usize
    );
    let (mut total, mut largest) = (0, 0);
    for report in &stored {
        // Each part as stored, the server's metadata included, is within the budget
        // plus a little: well under etcd's 1.5 MiB.
        let size = serde_json::to_vec(report).expect("serialises").len();
        assert!(
            size <= PART_BUDGET_BYTES + 8 * 1024,
            "{} is {size} bytes",
            report.name_any()
        );
        // Labelled with the profile and its part index (the name's last segment).
        let name = report.name_any();
        assert_eq!(
            report
                .labels()
                .get("apigwcompliance.io/part")
                .map(String::as_str),
            name.rsplit('-').next(),
            "{name}"
        );
        total += report.data["results"].as_array().map_or(0, Vec::len);
        largest = largest.max(size);
    }
    assert_eq!(total, 20_000);
    // The figures docs/reports.md quotes (shown with --nocapture).
    eprintln!(
        "20,000 findings: {} parts, the largest {largest} bytes as stored",
        stored.len()
    );

    // A fresh scan of the unchanged world writes no report.
    let versions: Vec<(String, Option<String>)> = stored
        .iter()
        .map(|r| (r.name_any(), r.resource_version()))
        .collect();
    let before = applied(&operator);
    assert_eq!(before, stored.len() as f64, "{}", operator.metrics());
    let out = cluster::kubectl([
        "annotate",
        "--overwrite",
        "-n",
        &namespace,
        "acp",
        "orders",
        "apigwcompliance.io/requested-scan-at=again",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(
        &profiles,
        "orders",
        &operator,
        long,
        "the requested scan",
        |_, s| s.requested_scan_at.as_deref() == Some("again"),
    )
    .await;
    let unchanged = operator
        .metric(r#"apigw_compliance_report_parts_total{api="openreports.io",action="unchanged"}"#);
    assert_eq!(unchanged, stored.len() as f64, "{}", operator.metrics());
    assert_eq!(applied(&operator), before, "{}", operator.metrics());
    let after: Vec<(String, Option<String>)> = reports(&client, &namespace, &resource)
        .await
        .iter()
        .map(|r| (r.name_any(), r.resource_version()))
        .collect();
    assert_eq!(after, versions, "no report was written again");
}

/// On a control plane without any report CRD: the profile is scanned and Ready, its
/// `Reports` condition says why there is no report, the log says so once and the
/// metric shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_report_crd_the_profile_still_reconciles_and_says_why() {
    let plane = tokio::task::spawn_blocking(|| ControlPlane::start("reports-absent"))
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("cannot start a control plane: {e}"));
    let client = plane.client().await;
    let out = plane.kubectl_with_stdin(["apply", "-f", "-"], &crd_yaml());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster::wait_crd_established(&client, CRD_NAME).await;
    let namespace = cluster::test_namespace(&client, "no-reports").await;
    let account = new_account().await;
    seed_world(&account).await;
    let operator = Operator::watching(&namespace, &account)
        .kubeconfig(plane.kubeconfig_path())
        .start()
        .await;
    apply(&plane, &namespace, &profile_yaml("orders", SPEC));
    let profiles: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    let profile = wait_for(
        &profiles,
        "orders",
        &operator,
        WAIT,
        "Reports False",
        |_, s| condition(s, "Reports").is_some(),
    )
    .await;
    let status = profile.status.expect("status");
    assert_eq!(
        condition(&status, "Ready"),
        Some((ConditionStatus::True, "ScanSucceeded".into()))
    );
    assert_eq!(
        condition(&status, "Reports"),
        Some((ConditionStatus::False, "ReportCRDNotInstalled".into()))
    );
    let message = &status.condition("Reports").expect("Reports").message;
    assert!(
        message.contains("reports.openreports.io is not installed")
            && message.contains("--report-api none"),
        "{message}"
    );
    assert!(status.reports.is_none());
    assert!(status.summary.is_some_and(|s| s.evaluated > 0));

    // A second scan: still reconciled, still said on the profile, said once in the log.
    let out = plane.kubectl([
        "annotate",
        "-n",
        &namespace,
        "acp",
        "orders",
        "apigwcompliance.io/requested-scan-at=again",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let profile = wait_for(
        &profiles,
        "orders",
        &operator,
        WAIT,
        "the second scan",
        |_, s| s.requested_scan_at.as_deref() == Some("again"),
    )
    .await;
    assert_eq!(
        profile
            .status
            .as_ref()
            .and_then(|s| condition(s, "Reports")),
        Some((ConditionStatus::False, "ReportCRDNotInstalled".into()))
    );
    let said = operator
        .log()
        .matches("the report CRD is not installed")
        .count();
    assert_eq!(said, 1, "{}", operator.log());
    assert_eq!(
        operator.metric(r#"apigw_compliance_report_crd_missing{api="openreports.io"}"#),
        1.0,
        "{}",
        operator.metrics()
    );
}

/// The profile owns its reports: deleting it deletes them (the control plane's
/// kube-controller-manager runs the garbage collector, as a cluster's does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_profile_deletes_its_reports() {
    let client = client_with_crd().await;
    let resource = install(&client, "openreports").await;
    let namespace = cluster::test_namespace(&client, "reports-gc").await;
    let account = new_account().await;
    seed::rest_api_with_prod_and_dev(&account.sdk_config(REGION), "orders").await;
    let operator = Operator::watching(&namespace, &account).start().await;
    apply(cluster::shared(), &namespace, &profile_yaml("orders", SPEC));
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    wait_for(
        &profiles,
        "orders",
        &operator,
        WAIT,
        "reports written",
        reports_written,
    )
    .await;
    assert_eq!(reports(&client, &namespace, &resource).await.len(), 1);

    let out = cluster::kubectl(["delete", "-n", &namespace, "acp", "orders"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The garbage collector looks for a new resource type (a CRD applied a moment ago)
    // every 30 s: allow for that on a shared machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let left = reports(&client, &namespace, &resource).await;
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reports outlived their profile: {:?}",
            left.iter().map(ResourceExt::name_any).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
