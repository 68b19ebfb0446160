//! `scan --output sarif` against moto: the log of a real scan validates against the
//! official SARIF 2.1.0 schema (fetched pinned by `tests/tools/fetch-sarif-schema`,
//! validated with the moto venv's pinned jsonschema), and holds one result per FAILED or
//! ERROR finding of `scan --output json` on the same world.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_apigatewayv2::types::{AuthorizationType, ProtocolType};
use serde_json::Value;

use crate::scan::{json, run_scan, tempdir};
use crate::support::moto::new_account;
use crate::support::seed::{self, V2StageSpec};

/// Validates the SARIF log at argv[2] against the draft-04 schema at argv[1]; prints
/// one line per error (path: message) and exits 1 when there is any. Formats are
/// checked where the venv has a checker (date-time: rfc3339-validator).
const VALIDATE: &str = r#"
import json, sys
import jsonschema
with open(sys.argv[1]) as f:
    schema = json.load(f)
with open(sys.argv[2]) as f:
    log = json.load(f)
jsonschema.Draft4Validator.check_schema(schema)
validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
errors = sorted(validator.iter_errors(log), key=lambda e: [str(p) for p in e.absolute_path])
for error in errors:
    print("/".join(str(p) for p in error.absolute_path) + ": " + error.message)
sys.exit(1 if errors else 0)
"#;

fn repo_script(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs a script of the repository that prints one path; returns it.
fn printed_path(script: &str) -> PathBuf {
    let out = Command::new(repo_script(script))
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim())
}

/// The schema errors of the SARIF log at `log` (empty: valid).
fn schema_errors(log: &Path) -> Vec<String> {
    let schema = printed_path("tests/tools/fetch-sarif-schema");
    let python = printed_path("tests/moto/install");
    let out = Command::new(python)
        .arg("-c")
        .arg(VALIDATE)
        .arg(&schema)
        .arg(log)
        .output()
        .expect("run the validator");
    let errors: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    match out.status.code() {
        Some(0) => assert!(errors.is_empty(), "valid, yet it printed {errors:?}"),
        Some(1) => assert!(!errors.is_empty(), "invalid, yet no error printed"),
        _ => panic!(
            "the validator did not run: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
    errors
}

#[tokio::test]
async fn scan_output_sarif_validates_against_the_sarif_2_1_0_schema() {
    let account = new_account().await;
    let east = account.sdk_config("us-east-1");
    // Failing findings of every resource type: a REST stage, a WebSocket stage and
    // route, an HTTP stage, route and integration, a custom domain name.
    let (rest, deployment) = seed::rest_api(&east, "orders").await;
    seed::rest_stage(&east, &rest, &deployment, "dev", &[]).await;
    let ws = seed::v2_api(&east, "chat-realtime", ProtocolType::Websocket).await;
    seed::v2_route(&east, &ws, "$connect", None).await;
    seed::v2_stage(&east, &ws, "staging", V2StageSpec::default()).await;
    let http = seed::v2_api(&east, "pets", ProtocolType::Http).await;
    seed::v2_route(&east, &http, "POST /pets", Some(AuthorizationType::None)).await;
    seed::v2_stage(&east, &http, "$default", V2StageSpec::default()).await;
    seed::v2_integration(&east, &http, true, None).await;
    seed::domain_name(&east, "api.example.com", "REGIONAL", "TLS_1_2").await;

    let dev = format!("arn:aws:apigateway:us-east-1::/restapis/{rest}/stages/dev");
    let dir = tempdir();
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        format!(
            r#"apiVersion: apigwcompliance.io/v1alpha1
kind: ComplianceProfile
metadata:
  name: ci-gate
spec:
  scope:
    regions: [us-east-1]
  exemptions:
    - control: APIGateway.4
      resourceArnGlob: "{dev}"
      reason: behind a private network
  interval: 15m
"#
        ),
    )
    .expect("write the profile");
    let profile = profile.to_str().expect("utf-8 path");

    let sarif_run = run_scan(&account, &["--profile", profile, "--output", "sarif"]);
    assert_eq!(
        sarif_run.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&sarif_run.stderr)
    );
    let log = json(&sarif_run);
    let path = dir.join("scan.sarif");
    std::fs::write(&path, &sarif_run.stdout).expect("write the log");
    let errors = schema_errors(&path);
    assert!(errors.is_empty(), "not valid SARIF 2.1.0: {errors:#?}");

    // The validator does refuse what the schema forbids: a result without a message.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .expect("a result")
        .remove("message");
    let broken_path = dir.join("broken.sarif");
    std::fs::write(&broken_path, broken.to_string()).expect("write");
    let refused = schema_errors(&broken_path);
    assert!(
        refused
            .iter()
            .any(|e| e.contains("'message' is a required property")),
        "{refused:#?}"
    );

    // One result per FAILED or ERROR finding of the JSON contract on the same world.
    let report = json(&run_scan(
        &account,
        &["--profile", profile, "--output", "json"],
    ));
    let non_passing: BTreeSet<(String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["status"] == "FAILED" || f["status"] == "ERROR")
        .map(|f| {
            (
                f["controlId"].as_str().expect("id").to_string(),
                f["resourceArn"].as_str().expect("arn").to_string(),
            )
        })
        .collect();
    let run = &log["runs"][0];
    let results = run["results"].as_array().expect("results");
    let located: BTreeSet<(String, String)> = results
        .iter()
        .map(|r| {
            let logical = &r["locations"][0]["logicalLocations"][0];
            assert_eq!(logical["kind"], "resource", "{r:#}");
            (
                r["ruleId"].as_str().expect("ruleId").to_string(),
                logical["fullyQualifiedName"]
                    .as_str()
                    .expect("the ARN")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(results.len(), located.len(), "one result per finding");
    assert_eq!(located, non_passing);
    let resource_types: BTreeSet<&str> = results
        .iter()
        .filter_map(|r| r["properties"]["resourceType"].as_str())
        .collect();
    assert_eq!(resource_types.len(), 5, "{resource_types:?}");

    // Each result leads with the resource's name; the exempted one is suppressed.
    for r in results {
        let name = r["locations"][0]["logicalLocations"][0]["name"]
            .as_str()
            .expect("name");
        assert!(
            r["message"]["text"]
                .as_str()
                .expect("text")
                .starts_with(&format!("{name}: ")),
            "{r:#}"
        );
        let suppressed = r.get("suppressions").is_some();
        let exempted_one = r["ruleId"] == "APIGateway.4"
            && r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == dev.as_str();
        assert_eq!(suppressed, exempted_one, "{r:#}");
    }
    let names: BTreeSet<&str> = results
        .iter()
        .filter_map(|r| r["locations"][0]["logicalLocations"][0]["name"].as_str())
        .collect();
    for name in [
        "orders/dev",
        "chat-realtime $connect",
        "pets POST /pets",
        "api.example.com",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }

    // One rule per control of the catalog, and the run says what it scanned.
    let catalog: Value = serde_json::from_slice(
        &Command::new(env!("CARGO_BIN_EXE_apigw-compliance"))
            .args(["controls", "--output", "json"])
            .output()
            .expect("controls")
            .stdout,
    )
    .expect("catalog JSON");
    let rule_ids: Vec<&Value> = run["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| &r["id"])
        .collect();
    let catalog_ids: Vec<&Value> = catalog
        .as_array()
        .expect("catalog")
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(rule_ids, catalog_ids);
    assert_eq!(run["properties"]["profile"], "ci-gate");
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
}
