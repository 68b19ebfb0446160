//! The Security Hub export against moto: the operator with a profile that opts in
//! (`spec.export.securityHub.enabled`) imports its findings with BatchImportFindings,
//! and `scan --output asff` prints the same findings for the AWS CLI.
//!
//! moto's Security Hub stores what it is sent and checks almost nothing (only that a
//! finding has a `Resources` list), so these tests check every field themselves: what
//! the operator imported is read back with GetFindings and validated against the ASFF
//! rules (required fields, enums, lengths, formats), compared field for field with
//! `scan --output asff` on the same world, and with `scan --output json`'s verdicts;
//! the CLI's list is also validated by botocore, as `aws securityhub
//! batch-import-findings` would validate it before sending.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;
use std::time::Duration;

use apigw_compliance::crd::{ComplianceProfile, ConditionStatus};
use aws_sdk_apigatewayv2::types::{AuthorizationType, ProtocolType};
use aws_sdk_securityhub::types::AwsSecurityFinding;
use kube::api::Api;
use serde_json::{Value, json};

use crate::support::cluster;
use crate::support::moto::{MotoAccount, new_account};
use crate::support::operator::{
    Operator, Scrape, apply, client_with_crd, condition, kubectl_stdout, profile_yaml, repo,
    temp_dir, wait_for,
};
use crate::support::seed::{self, V2StageSpec};

const BIN: &str = env!("CARGO_BIN_EXE_apigw-compliance");
const WAIT: Duration = Duration::from_secs(120);
const REGION: &str = "us-east-1";
const IMPORT: &str = "securityhub:BatchImportFindings";
const EXPORTED_ACTIVE: &str =
    "apigw_compliance_securityhub_findings_exported_total{record_state=\"ACTIVE\"}";
const EXPORTED_ARCHIVED: &str =
    "apigw_compliance_securityhub_findings_exported_total{record_state=\"ARCHIVED\"}";
const DENIED: &str = "apigw_compliance_securityhub_export_errors_total{kind=\"accessDenied\"}";

/// Every Security Hub control, every scan's findings to Security Hub.
const EXPORTING: &str = "  scope:\n    regions: [us-east-1]\n  export:\n    securityHub:\n      enabled: true\n  interval: 1h\n";

/// `orders` (a compliant `prod`, a bare `dev`), `bulk` with 20 bare stages (so the
/// first export needs two batches of at most 100), and a WebSocket API `chat` with an
/// unauthorised `$connect` route (a resource type ASFF has none for). Returns the id of
/// `orders`.
async fn seed_world(account: &MotoAccount) -> String {
    let sdk = account.sdk_config(REGION);
    let orders = seed::rest_api_with_prod_and_dev(&sdk, "orders").await;
    let (bulk, deployment) = seed::rest_api(&sdk, "bulk").await;
    for i in 0..20 {
        seed::rest_stage(&sdk, &bulk, &deployment, &format!("s{i:02}"), &[]).await;
    }
    let chat = seed::v2_api(&sdk, "chat", ProtocolType::Websocket).await;
    seed::v2_route(&sdk, &chat, "$connect", Some(AuthorizationType::None)).await;
    seed::v2_stage(&sdk, &chat, "live", V2StageSpec::default()).await;
    orders
}

fn run_scan(account: &MotoAccount, args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .arg("scan")
        .args(args)
        .env_clear()
        .envs(account.env(REGION))
        .output()
        .expect("run apigw-compliance")
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "scan did not print JSON ({e}); stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The profile as a file, for `scan --profile` (which prints, and never imports).
fn profile_file(name: &str) -> String {
    let path = temp_dir("securityhub").join(format!("{name}.yaml"));
    std::fs::write(&path, profile_yaml(name, EXPORTING)).expect("write the profile");
    path.display().to_string()
}

/// Every finding moto's Security Hub holds for the account in `region`.
async fn imported(account: &MotoAccount, region: &str) -> Vec<AwsSecurityFinding> {
    let client = aws_sdk_securityhub::Client::new(&account.sdk_config(region));
    let mut findings = Vec::new();
    let mut pages = client
        .get_findings()
        .max_results(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        findings.extend(page.expect("GetFindings").findings().iter().cloned());
    }
    findings
}

/// An imported finding in ASFF's JSON spelling (what GetFindings gives back of what
/// was sent), for validation and comparison.
fn as_json(f: &AwsSecurityFinding) -> Value {
    let severity = f.severity();
    let provider = f.finding_provider_fields();
    let recommendation = f.remediation().and_then(|r| r.recommendation());
    json!({
        "SchemaVersion": f.schema_version(),
        "Id": f.id(),
        "ProductArn": f.product_arn(),
        "GeneratorId": f.generator_id(),
        "AwsAccountId": f.aws_account_id(),
        "Types": f.types(),
        "CreatedAt": f.created_at(),
        "UpdatedAt": f.updated_at(),
        "Severity": {
            "Label": severity.and_then(|s| s.label()).map(|l| l.as_str()),
            "Original": severity.and_then(|s| s.original()),
        },
        "Title": f.title(),
        "Description": f.description(),
        "Remediation": {"Recommendation": {
            "Text": recommendation.and_then(|r| r.text()),
            "Url": recommendation.and_then(|r| r.url()),
        }},
        "ProductFields": f.product_fields().map(|fields| fields.iter().collect::<BTreeMap<_, _>>()),
        "Resources": f.resources().iter().map(|r| json!({
            "Type": r.r#type(),
            "Id": r.id(),
            "Partition": r.partition().map(|p| p.as_str()),
            "Region": r.region(),
        })).collect::<Vec<_>>(),
        "Compliance": {
            "Status": f.compliance().and_then(|c| c.status()).map(|s| s.as_str()),
            "RelatedRequirements": f.compliance().map(|c| c.related_requirements()),
        },
        "RecordState": f.record_state().map(|s| s.as_str()),
        "FindingProviderFields": {
            "Severity": {
                "Label": provider.and_then(|p| p.severity()).and_then(|s| s.label()).map(|l| l.as_str()),
                "Original": provider.and_then(|p| p.severity()).and_then(|s| s.original()),
            },
            "Types": provider.map(|p| p.types()),
        },
    })
}

fn text<'a>(finding: &'a Value, pointer: &str) -> &'a str {
    finding
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} missing or not a string in {finding:#}"))
}

fn length_within(finding: &Value, pointer: &str, min: usize, max: usize) {
    let n = text(finding, pointer).chars().count();
    assert!(
        (min..=max).contains(&n),
        "{pointer} is {n} characters, not {min}..={max}: {finding:#}"
    );
}

fn one_of(finding: &Value, pointer: &str, allowed: &[&str]) {
    let value = text(finding, pointer);
    assert!(
        allowed.contains(&value),
        "{pointer} is {value:?}, not one of {allowed:?}"
    );
}

/// The ASFF rules (AwsSecurityFinding in the Security Hub API reference) for every
/// field we send, checked on the JSON itself.
fn assert_valid_asff(f: &Value, account: &str) {
    assert_eq!(text(f, "/SchemaVersion"), "2018-10-08");
    length_within(f, "/Id", 1, 512);
    length_within(f, "/GeneratorId", 1, 512);
    length_within(f, "/ProductArn", 12, 2048);
    assert_eq!(text(f, "/AwsAccountId"), account);
    let region = text(f, "/Resources/0/Region");
    assert_eq!(
        text(f, "/ProductArn"),
        format!("arn:aws:securityhub:{region}:{account}:product/{account}/default")
    );
    for types in ["/Types", "/FindingProviderFields/Types"] {
        let types = f.pointer(types).and_then(Value::as_array).expect("Types");
        assert!((1..=50).contains(&types.len()));
        for t in types {
            let t = t.as_str().expect("a type is a string");
            let parts: Vec<&str> = t.split('/').collect();
            assert!(
                parts.len() <= 3 && parts.iter().all(|p| !p.is_empty()),
                "{t}"
            );
            assert!(
                [
                    "Software and Configuration Checks",
                    "TTPs",
                    "Effects",
                    "Unusual Behaviors",
                    "Sensitive Data Identifications"
                ]
                .contains(&parts[0]),
                "{t}"
            );
        }
    }
    for time in ["/CreatedAt", "/UpdatedAt"] {
        let value = text(f, time);
        assert!(
            value.parse::<k8s_openapi::jiff::Timestamp>().is_ok() && value.ends_with('Z'),
            "{time} {value:?} is not an RFC 3339 UTC time"
        );
    }
    assert!(text(f, "/CreatedAt") <= text(f, "/UpdatedAt"));
    const LABELS: &[&str] = &["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
    for severity in ["/Severity", "/FindingProviderFields/Severity"] {
        one_of(f, &format!("{severity}/Label"), LABELS);
        length_within(f, &format!("{severity}/Original"), 1, 64);
    }
    length_within(f, "/Title", 1, 256);
    length_within(f, "/Description", 1, 1024);
    assert!(!text(f, "/Title").trim().is_empty() && !text(f, "/Description").trim().is_empty());
    length_within(f, "/Remediation/Recommendation/Text", 1, 512);
    assert!(text(f, "/Remediation/Recommendation/Url").starts_with("https://"));
    let fields = f["ProductFields"].as_object().expect("ProductFields");
    assert!(fields.len() <= 50);
    for (key, value) in fields {
        assert!(
            key.chars().count() <= 128 && !key.starts_with("aws/"),
            "{key}"
        );
        assert!(value.as_str().is_some_and(|v| v.chars().count() <= 2048));
    }
    let resources = f["Resources"].as_array().expect("Resources");
    assert!((1..=32).contains(&resources.len()));
    for i in 0..resources.len() {
        length_within(f, &format!("/Resources/{i}/Type"), 1, 256);
        one_of(
            f,
            &format!("/Resources/{i}/Partition"),
            &["aws", "aws-cn", "aws-us-gov"],
        );
        length_within(f, &format!("/Resources/{i}/Region"), 1, 16);
        assert!(text(f, &format!("/Resources/{i}/Id")).starts_with("arn:aws:apigateway:"));
    }
    one_of(
        f,
        "/Resources/0/Type",
        &["AwsApiGatewayStage", "AwsApiGatewayV2Stage", "Other"],
    );
    one_of(
        f,
        "/Compliance/Status",
        &["PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"],
    );
    let requirements = f
        .pointer("/Compliance/RelatedRequirements")
        .and_then(Value::as_array)
        .expect("RelatedRequirements");
    assert!(requirements.len() <= 32);
    one_of(f, "/RecordState", &["ACTIVE", "ARCHIVED"]);
}

/// The finding without its times, which differ between two runs of the same world.
fn timeless(mut finding: Value) -> Value {
    if let Some(object) = finding.as_object_mut() {
        object.remove("CreatedAt");
        object.remove("UpdatedAt");
    }
    finding
}

/// ASFF's Compliance.Status of a verdict of `scan --output json`.
fn compliance_of(status: &str) -> &'static str {
    match status {
        "PASSED" => "PASSED",
        "FAILED" => "FAILED",
        "NOT_APPLICABLE" => "NOT_AVAILABLE",
        "ERROR" => "WARNING",
        other => panic!("unknown verdict {other}"),
    }
}

/// Validates `findings` (a `scan --output asff` list) with botocore, the library the
/// AWS CLI validates `batch-import-findings --findings` with before sending: required
/// members, types and minimum lengths of the BatchImportFindings input shape.
fn botocore_accepts(findings: &[Value]) {
    let install = std::process::Command::new(repo("tests/moto/install"))
        .output()
        .expect("tests/moto/install");
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let python = String::from_utf8_lossy(&install.stdout).trim().to_string();
    let file = temp_dir("securityhub").join("findings.json");
    std::fs::write(&file, serde_json::to_vec(findings).expect("json")).expect("write");
    let script = r#"
import json, sys
import botocore.session
from botocore.validate import ParamValidator
model = botocore.session.get_session().get_service_model("securityhub")
shape = model.operation_model("BatchImportFindings").input_shape
findings = json.load(open(sys.argv[1]))
report = ParamValidator().validate({"Findings": findings}, shape)
if report.has_errors():
    print(report.generate_report())
    sys.exit(1)
"#;
    let checked = std::process::Command::new(python)
        .args(["-c", script])
        .arg(&file)
        .output()
        .expect("run botocore");
    assert!(
        checked.status.success(),
        "botocore refuses the list:\n{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

fn request_scan(namespace: &str, value: &str) {
    kubectl_stdout(
        cluster::shared(),
        &[
            "annotate",
            "acp",
            "orders",
            "-n",
            namespace,
            &format!("apigwcompliance.io/requested-scan-at={value}"),
            "--overwrite",
        ],
        None,
    );
}

/// Waits until `scans` scans have finished, export included (a scan counts once its
/// reconcile, which exports after the status write, is over).
async fn scanned(operator: &Operator, scans: f64) -> Scrape {
    operator
        .wait_metrics(WAIT, "the scan and its export", |m| {
            m.reconciles_with("scanned") >= scans
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_output_asff_is_a_list_batch_import_findings_takes_with_every_finding() {
    let account = new_account().await;
    seed_world(&account).await;
    let profile = profile_file("orders");

    let asff = run_scan(&account, &["--profile", &profile, "--output", "asff"]);
    assert!(
        asff.status.success(),
        "{}",
        String::from_utf8_lossy(&asff.stderr)
    );
    let list = stdout_json(&asff);
    let findings = list.as_array().expect("a JSON list of findings");
    let report = stdout_json(&run_scan(
        &account,
        &["--profile", &profile, "--output", "json"],
    ));
    let verdicts = report["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), verdicts.len());
    assert!(findings.len() > 100, "the world needs two batches");

    let mut ids = BTreeSet::new();
    for (finding, verdict) in findings.iter().zip(verdicts) {
        assert_valid_asff(finding, &account.account_id);
        assert!(
            ids.insert(text(finding, "/Id").to_string()),
            "ids are unique"
        );
        // Same order, same finding: ARN, control, verdict, readable name first.
        let arn = verdict["resourceArn"].as_str().expect("resourceArn");
        let control = verdict["controlId"].as_str().expect("controlId");
        assert_eq!(
            text(finding, "/Id"),
            format!("apigw-compliance/{control}/{arn}")
        );
        assert_eq!(text(finding, "/Resources/0/Id"), arn);
        assert_eq!(
            text(finding, "/GeneratorId"),
            format!("apigw-compliance/{control}")
        );
        assert_eq!(
            text(finding, "/Compliance/Status"),
            compliance_of(verdict["status"].as_str().expect("status"))
        );
        let name = verdict["resourceName"].as_str().expect("resourceName");
        assert!(
            text(finding, "/Title").starts_with(&format!("{name}: ")),
            "{finding:#}"
        );
        assert_eq!(text(finding, "/RecordState"), "ACTIVE");
        assert_eq!(text(finding, "/CreatedAt"), text(finding, "/UpdatedAt"));
    }
    let types: BTreeSet<&str> = findings
        .iter()
        .map(|f| text(f, "/Resources/0/Type"))
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["AwsApiGatewayStage", "AwsApiGatewayV2Stage", "Other"])
    );
    botocore_accepts(findings);
    // The CLI never imports, whatever the profile says.
    assert_eq!(account.call_counts().await.get(IMPORT), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_imports_its_findings_then_only_what_changes() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "securityhub").await;
    let account = new_account().await;
    let orders = seed_world(&account).await;
    let plane = cluster::shared();
    let operator = Operator::watching(&namespace, &account).start().await;
    apply(plane, &namespace, &profile_yaml("orders", EXPORTING));
    let api: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    wait_for(&api, "orders", &operator, WAIT, "the export", |_, s| {
        s.condition("SecurityHubExport").is_some()
    })
    .await;
    let first = scanned(&operator, 1.0).await;
    let status = api
        .get_status("orders")
        .await
        .expect("profile")
        .status
        .expect("status");
    assert_eq!(
        condition(&status, "SecurityHubExport"),
        Some((ConditionStatus::True, "Exported".into())),
        "{status:#?}"
    );
    assert_eq!(
        condition(&status, "Ready"),
        Some((ConditionStatus::True, "ScanSucceeded".into()))
    );

    // Exactly the profile's findings, each as `scan --output asff` prints it.
    let profile = profile_file("orders");
    let expected_list = stdout_json(&run_scan(
        &account,
        &["--profile", &profile, "--output", "asff"],
    ));
    let expected: BTreeMap<String, Value> = expected_list
        .as_array()
        .expect("asff list")
        .iter()
        .map(|f| (text(f, "/Id").to_string(), timeless(f.clone())))
        .collect();
    let report = stdout_json(&run_scan(
        &account,
        &["--profile", &profile, "--output", "json"],
    ));
    let total = report["findings"].as_array().expect("findings").len();
    assert_eq!(expected.len(), total);
    let holding = imported(&account, REGION).await;
    assert_eq!(holding.len(), total, "one imported finding per finding");
    let mut created = BTreeMap::new();
    for finding in &holding {
        let finding = as_json(finding);
        assert_valid_asff(&finding, &account.account_id);
        let id = text(&finding, "/Id").to_string();
        created.insert(id.clone(), text(&finding, "/CreatedAt").to_string());
        assert_eq!(
            Some(&timeless(finding.clone())),
            expected.get(&id),
            "imported as the CLI prints it"
        );
    }
    // Batches of at most 100: two calls for this world, counted by the operator too.
    let calls = account.call_counts().await;
    assert_eq!(calls.get(IMPORT), total.div_ceil(100) as u64, "{calls:?}");
    assert_eq!(first.value(EXPORTED_ACTIVE), total as f64, "{first}");
    assert!(
        first.value("apigw_compliance_aws_calls_total{service=\"securityhub\"}") >= 2.0,
        "{first}"
    );

    // A second scan of an unchanged world sends nothing.
    account.reset_call_counts().await;
    request_scan(&namespace, "unchanged");
    let second = scanned(&operator, 2.0).await;
    let calls = account.call_counts().await;
    assert!(
        calls.get("apigateway:GetStages") > 0,
        "it did scan: {calls:?}"
    );
    assert_eq!(calls.get(IMPORT), 0, "{calls:?}");
    assert_eq!(second.value(EXPORTED_ACTIVE), total as f64);

    // The dev stage fixed in AWS: its two findings turn PASSED, and only they are sent.
    let sdk = account.sdk_config(REGION);
    seed::update_rest_stage(&sdk, &orders, "dev", seed::COMPLIANT_REST_PATCHES).await;
    account.reset_call_counts().await;
    request_scan(&namespace, "fixed");
    let third = scanned(&operator, 3.0).await;
    assert_eq!(account.call_counts().await.get(IMPORT), 1);
    assert_eq!(third.value(EXPORTED_ACTIVE), total as f64 + 2.0, "{third}");
    let dev = format!("arn:aws:apigateway:{REGION}::/restapis/{orders}/stages/dev");
    let now_held: BTreeMap<String, Value> = imported(&account, REGION)
        .await
        .iter()
        .map(|f| (f.id().unwrap_or_default().to_string(), as_json(f)))
        .collect();
    for control in ["APIGateway.1", "APIGateway.3"] {
        let finding = &now_held[&format!("apigw-compliance/{control}/{dev}")];
        assert_valid_asff(finding, &account.account_id);
        assert_eq!(text(finding, "/Compliance/Status"), "PASSED", "{finding:#}");
        assert_eq!(text(finding, "/Severity/Label"), "INFORMATIONAL");
        let id = text(finding, "/Id");
        assert_eq!(text(finding, "/CreatedAt"), created[id], "created once");
        assert!(text(finding, "/UpdatedAt") >= created[id].as_str());
    }

    // The dev stage deleted: its findings are archived, once.
    aws_sdk_apigateway::Client::new(&sdk)
        .delete_stage()
        .rest_api_id(&orders)
        .stage_name("dev")
        .send()
        .await
        .expect("DeleteStage");
    account.reset_call_counts().await;
    request_scan(&namespace, "deleted");
    let fourth = scanned(&operator, 4.0).await;
    assert_eq!(account.call_counts().await.get(IMPORT), 1);
    assert_eq!(fourth.value(EXPORTED_ARCHIVED), 5.0, "{fourth}");
    let archived: Vec<Value> = imported(&account, REGION)
        .await
        .iter()
        .map(as_json)
        .filter(|f| text(f, "/Resources/0/Id") == dev)
        .collect();
    assert_eq!(archived.len(), 5);
    for finding in &archived {
        assert_valid_asff(finding, &account.account_id);
        assert_eq!(text(finding, "/RecordState"), "ARCHIVED", "{finding:#}");
    }
    account.reset_call_counts().await;
    request_scan(&namespace, "after-archive");
    scanned(&operator, 5.0).await;
    assert_eq!(account.call_counts().await.get(IMPORT), 0, "archived once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_import_is_a_condition_and_a_metric_and_the_findings_arrive_once_allowed() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "securityhub-denied").await;
    let account = new_account().await;
    seed::rest_api_with_prod_and_dev(&account.sdk_config(REGION), "orders").await;
    account.deny(IMPORT, None, None).await;
    let plane = cluster::shared();
    let operator = Operator::watching(&namespace, &account).start().await;
    apply(plane, &namespace, &profile_yaml("orders", EXPORTING));
    let api: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    let status = wait_for(
        &api,
        "orders",
        &operator,
        WAIT,
        "the failed export",
        |_, s| {
            condition(s, "SecurityHubExport")
                .is_some_and(|(status, _)| status == ConditionStatus::False)
        },
    )
    .await
    .status
    .expect("status");
    let export = status.condition("SecurityHubExport").expect("condition");
    assert_eq!(export.reason, "ExportDenied");
    assert!(
        export.message.contains(&format!(
            "grant the profile's identity securityhub:BatchImportFindings on arn:aws:securityhub:{REGION}:{id}:product/{id}/default",
            id = account.account_id
        )) && export.message.contains("sent again at the next scan"),
        "{}",
        export.message
    );
    // The verdicts are in status all the same.
    assert_eq!(
        condition(&status, "Ready"),
        Some((ConditionStatus::True, "ScanSucceeded".into()))
    );
    let findings = status
        .summary
        .as_ref()
        .map(|s| s.evaluated)
        .expect("summary");
    let failed = scanned(&operator, 1.0).await;
    assert_eq!(failed.value(DENIED), f64::from(findings), "{failed}");
    assert!(imported(&account, REGION).await.is_empty());

    // Granted: the next scan imports every finding, and says so.
    account.allow(IMPORT).await;
    request_scan(&namespace, "allowed");
    let status = wait_for(
        &api,
        "orders",
        &operator,
        WAIT,
        "the export after the grant",
        |_, s| {
            condition(s, "SecurityHubExport") == Some((ConditionStatus::True, "Exported".into()))
        },
    )
    .await
    .status
    .expect("status");
    let held = imported(&account, REGION).await;
    assert_eq!(held.len(), findings as usize);
    for finding in &held {
        assert_valid_asff(&as_json(finding), &account.account_id);
    }
    assert!(
        status
            .condition("SecurityHubExport")
            .is_some_and(|c| c.message.contains(&format!("{findings} finding(s)")))
    );
    let after = scanned(&operator, 2.0).await;
    assert_eq!(after.value(EXPORTED_ACTIVE), f64::from(findings), "{after}");
}
