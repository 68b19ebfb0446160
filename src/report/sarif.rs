//! `scan --output sarif`: a scan report as SARIF 2.1.0, for CI code-scanning views
//! (GitHub code scanning and other SARIF viewers). Pure: the report in, a JSON value out.
//!
//! - One rule per control of the catalog (not only the selected ones, so rule indexes
//!   do not move between profiles): its title, a help text with the remediation page,
//!   and its severity, category, source and requirements as properties.
//! - One result per FAILED or ERROR finding; PASSED and NOT_APPLICABLE ones give none.
//!   An exempted FAILED or ERROR finding is kept, with an `external` suppression
//!   (accepted by the profile's exemptions), so a viewer shows it as suppressed rather
//!   than losing it.
//! - An AWS resource is not a file. Each result's location names it twice: a logical
//!   location (`kind` `resource`, the ARN as `fullyQualifiedName`, the readable name as
//!   `name`), which is what SARIF has for things that are not files, and a physical
//!   location whose artifact URI is a path made from the ARN
//!   (`apigateway/<account>/<region>/restapis/<id>/stages/<stage>`), because GitHub
//!   code scanning refuses a result without one. No such file exists in a repository:
//!   code scanning lists the alert under that path, without a code snippet.
//! - `partialFingerprints` carry (control, account, ARN), so an upload of a later scan
//!   updates the same alert instead of opening another.
//! - The read errors are the invocation's notifications: what was not read is not
//!   reported as passing there either.

use serde_json::{Value, json};

use crate::controls::{CATALOG, ControlMeta};
use crate::model::{Finding, Severity, Status};

use super::scan::{ScanReport, TOOL_VERSION};

/// The SARIF version written.
pub const SARIF_VERSION: &str = "2.1.0";
/// The schema a SARIF 2.1.0 log names: the OASIS standard's, with its errata.
pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
/// The key of the fingerprint that identifies a result across scans.
const FINGERPRINT: &str = "apigwComplianceResource/v1";

/// The SARIF log of one scan: one run of this tool.
pub fn to_sarif(report: &ScanReport) -> Value {
    let rules: Vec<Value> = CATALOG.iter().map(|control| rule(control.meta)).collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Failed | Status::Error))
        .map(result)
        .collect();
    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|e| {
            let mut properties = json!({"region": e.region, "kind": e.kind});
            if let Some(arn) = &e.resource_arn {
                properties["resourceArn"] = json!(arn);
            }
            json!({
                "level": "error",
                "message": {"text": e.message},
                "descriptor": {"id": e.operation},
                "properties": properties,
            })
        })
        .collect();
    let scan = &report.scan;
    let mut run_properties = json!({
        "semantics": scan.semantics,
        "regions": scan.regions,
        "summary": scan.summary,
    });
    if let Some(profile) = &scan.profile {
        run_properties["profile"] = json!(profile);
    }
    json!({
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "apigw-compliance",
                "version": TOOL_VERSION,
                "semanticVersion": TOOL_VERSION,
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "startTimeUtc": scan.started_at,
                "endTimeUtc": scan.finished_at,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
            "properties": run_properties,
        }],
    })
}

/// A control as a SARIF rule (`reportingDescriptor`).
fn rule(meta: &ControlMeta) -> Value {
    let resource_types: Vec<&str> = meta.resource_types.iter().map(|t| t.as_str()).collect();
    let mut facts = format!(
        "Severity {}; category {}; source {}; applies to {}",
        meta.severity.as_str(),
        meta.category,
        meta.source.as_str(),
        resource_types.join(", ")
    );
    if !meta.config_rule.is_empty() {
        facts.push_str(&format!("; AWS Config rule {}", meta.config_rule));
    }
    if !meta.related_requirements.is_empty() {
        facts.push_str(&format!(
            "; related requirements: {}",
            meta.related_requirements.join(", ")
        ));
    }
    let mut properties = json!({
        "tags": ["security", "aws", "api-gateway", meta.source.as_str()],
        "precision": "very-high",
        "security-severity": security_severity(meta.severity),
        "severity": meta.severity,
        "category": meta.category,
        "source": meta.source,
        "resourceTypes": resource_types,
        "relatedRequirements": meta.related_requirements,
    });
    if !meta.config_rule.is_empty() {
        properties["configRule"] = json!(meta.config_rule);
    }
    json!({
        "id": meta.id,
        "name": rule_name(meta),
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": format!("{}. {facts}.", meta.title)},
        "helpUri": meta.remediation_url,
        "help": {
            "text": format!(
                "{}.\n\n{facts}.\n\nHow to fix it: {}",
                meta.title, meta.remediation_url
            ),
            "markdown": format!(
                "**{}**\n\n{facts}.\n\nHow to fix it: [{}]({})",
                meta.title, meta.remediation_url, meta.remediation_url
            ),
        },
        "defaultConfiguration": {"level": failed_level(meta.severity)},
        "properties": properties,
    })
}

/// A rule's name as SARIF wants it (an identifier a person can read): the AWS Config
/// rule in PascalCase (`api-gw-xray-enabled` -> `ApiGwXrayEnabled`), else the id (our
/// own checks have no Config rule and are named by their id, e.g. `RestAccessLogging`).
fn rule_name(meta: &ControlMeta) -> String {
    if meta.config_rule.is_empty() {
        return meta.id.to_string();
    }
    meta.config_rule
        .split('-')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// One non-passing finding as a SARIF result.
fn result(finding: &Finding) -> Value {
    let name = if finding.resource_name.is_empty() {
        &finding.resource_arn
    } else {
        &finding.resource_name
    };
    let (level, text) = match finding.status {
        Status::Error => (
            "warning",
            format!("{name}: could not be evaluated: {}", finding.reason),
        ),
        _ => (
            failed_level(finding.severity),
            format!("{name}: {}", finding.reason),
        ),
    };
    let rule_index = CATALOG
        .iter()
        .position(|control| control.id() == finding.control_id);
    let mut properties = json!({
        "resourceArn": finding.resource_arn,
        "resourceName": finding.resource_name,
        "resourceType": finding.resource_type,
        "region": finding.region,
        "status": finding.status,
        "severity": finding.severity,
    });
    if !finding.account_id.is_empty() {
        properties["accountId"] = json!(finding.account_id);
    }
    let mut result = json!({
        "ruleId": finding.control_id,
        "level": level,
        "message": {"text": text},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": artifact_uri(finding)}},
            "logicalLocations": [{
                "name": name,
                "fullyQualifiedName": finding.resource_arn,
                "kind": "resource",
            }],
        }],
        "partialFingerprints": {
            FINGERPRINT: format!(
                "{}|{}|{}",
                finding.control_id, finding.account_id, finding.resource_arn
            ),
        },
        "properties": properties,
    });
    if let Some(index) = rule_index {
        result["ruleIndex"] = json!(index);
    }
    if finding.exempted {
        mark_exempted(&mut result);
    }
    result
}

/// Marks a result as suppressed by the profile's exemptions.
fn mark_exempted(result: &mut Value) {
    result["suppressions"] = json!([{
        "kind": "external",
        "status": "accepted",
        "justification": "exempted by the profile (spec.exemptions)",
    }]);
    result["properties"]["exempted"] = json!(true);
}

/// The level of a FAILED finding: its control's severity.
fn failed_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub's `security-severity` (a CVSS-like score: critical from 9.0, high from 7.0,
/// medium from 4.0, low below), so code scanning sorts alerts as Security Hub does.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// A relative URI that stands for the resource where SARIF consumers want a file:
/// `apigateway/<account>/<region>/<the ARN's resource path>`, stable across scans.
/// Characters a URI path cannot hold are percent-encoded.
fn artifact_uri(finding: &Finding) -> String {
    let account = if finding.account_id.is_empty() {
        "unknown-account"
    } else {
        &finding.account_id
    };
    // arn:partition:apigateway:region:account:/path
    let path = finding
        .resource_arn
        .splitn(6, ':')
        .nth(5)
        .and_then(|path| path.strip_prefix('/'))
        .unwrap_or(&finding.resource_arn);
    format!(
        "apigateway/{}/{}/{}",
        encode(account),
        encode(&finding.region),
        path.split('/').map(encode).collect::<Vec<_>>().join("/")
    )
}

/// Percent-encodes what a URI path segment cannot hold (RFC 3986 `pchar` is kept).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&byte);
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::{Semantics, execution_logging, route_authorization, xray_tracing};
    use crate::inventory::ReadError;
    use crate::model::{ControlId, ErrorKind, ResourceType};
    use crate::report::scan::ScanRunInfo;

    fn finding(control: ControlId, status: Status, severity: Severity) -> Finding {
        Finding {
            control_id: control,
            resource_type: ResourceType::RestStage,
            resource_arn: "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod".to_string(),
            resource_name: "orders/prod".to_string(),
            account_id: "123456789012".to_string(),
            region: "us-east-1".to_string(),
            status,
            severity,
            reason: "X-Ray active tracing is off".to_string(),
            exempted: false,
        }
    }

    fn report(findings: Vec<Finding>, errors: Vec<ReadError>) -> ScanReport {
        ScanReport::new(
            ScanRunInfo {
                profile: Some("team-a".to_string()),
                started_at: "2026-01-15T12:00:00Z".parse().unwrap(),
                finished_at: "2026-01-15T12:00:07Z".parse().unwrap(),
                semantics: Semantics::Strict,
                regions: vec!["us-east-1".to_string()],
            },
            findings,
            errors,
        )
    }

    #[test]
    fn every_control_is_a_rule_with_its_title_help_and_severity() {
        let log = to_sarif(&report(Vec::new(), Vec::new()));
        assert_eq!(log["version"], "2.1.0");
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        assert_eq!(rules.len(), CATALOG.len());
        for (rule, control) in rules.iter().zip(CATALOG) {
            let meta = control.meta;
            assert_eq!(rule["id"], meta.id.as_str());
            assert_eq!(rule["shortDescription"]["text"], meta.title);
            assert_eq!(rule["helpUri"], meta.remediation_url);
            assert!(
                rule["help"]["text"]
                    .as_str()
                    .unwrap()
                    .contains(meta.remediation_url)
            );
            assert_eq!(rule["properties"]["severity"], meta.severity.as_str());
            assert_eq!(rule["properties"]["category"], meta.category);
        }
        let xray = &rules[CATALOG
            .iter()
            .position(|c| c.id() == xray_tracing::ID)
            .unwrap()];
        assert_eq!(xray["name"], "ApiGwXrayEnabled");
        let own = CATALOG
            .iter()
            .find(|c| c.meta.config_rule.is_empty())
            .expect("a check of our own");
        assert_eq!(rule_name(own.meta), own.id().as_str());
    }

    #[test]
    fn only_failed_and_error_findings_are_results_leading_with_the_name() {
        let log = to_sarif(&report(
            vec![
                finding(xray_tracing::ID, Status::Failed, Severity::Low),
                finding(execution_logging::ID, Status::Passed, Severity::Medium),
                finding(
                    route_authorization::ID,
                    Status::NotApplicable,
                    Severity::Medium,
                ),
                finding(execution_logging::ID, Status::Error, Severity::High),
            ],
            Vec::new(),
        ));
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        let failed = &results[0];
        assert_eq!(failed["ruleId"], "APIGateway.3");
        assert_eq!(
            CATALOG[failed["ruleIndex"].as_u64().unwrap() as usize].id(),
            xray_tracing::ID
        );
        assert_eq!(failed["level"], "note");
        assert_eq!(
            failed["message"]["text"],
            "orders/prod: X-Ray active tracing is off"
        );
        let location = &failed["locations"][0];
        assert_eq!(
            location["logicalLocations"][0],
            json!({
                "name": "orders/prod",
                "fullyQualifiedName": "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod",
                "kind": "resource",
            })
        );
        assert_eq!(
            location["physicalLocation"]["artifactLocation"]["uri"],
            "apigateway/123456789012/us-east-1/restapis/a1b2c3/stages/prod"
        );
        assert_eq!(
            failed["partialFingerprints"][FINGERPRINT],
            "APIGateway.3|123456789012|arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod"
        );
        assert!(failed.get("suppressions").is_none());
        let error = &results[1];
        assert_eq!(error["level"], "warning");
        assert!(
            error["message"]["text"]
                .as_str()
                .unwrap()
                .starts_with("orders/prod: could not be evaluated: ")
        );
    }

    #[test]
    fn exempted_failures_are_suppressed_not_dropped() {
        let mut exempted = finding(xray_tracing::ID, Status::Failed, Severity::High);
        exempted.exempted = true;
        let log = to_sarif(&report(vec![exempted], Vec::new()));
        let result = &log["runs"][0]["results"][0];
        assert_eq!(result["level"], "error");
        assert_eq!(result["suppressions"][0]["kind"], "external");
        assert_eq!(result["suppressions"][0]["status"], "accepted");
        assert_eq!(result["properties"]["exempted"], true);
    }

    #[test]
    fn read_errors_are_notifications_and_the_run_did_not_fully_succeed() {
        let log = to_sarif(&report(
            Vec::new(),
            vec![ReadError {
                account_id: None,
                region: "eu-west-1".to_string(),
                resource_arn: None,
                operation: "GetRestApis".to_string(),
                kind: ErrorKind::AccessDenied,
                message: "denied".to_string(),
            }],
        ));
        let invocation = &log["runs"][0]["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        assert_eq!(invocation["startTimeUtc"], "2026-01-15T12:00:00Z");
        let notification = &invocation["toolExecutionNotifications"][0];
        assert_eq!(notification["level"], "error");
        assert_eq!(notification["descriptor"]["id"], "GetRestApis");
        assert_eq!(notification["properties"]["kind"], "accessDenied");
        assert_eq!(log["runs"][0]["properties"]["profile"], "team-a");
    }

    #[test]
    fn artifact_uris_are_paths_made_from_the_arn() {
        let mut domain = finding(xray_tracing::ID, Status::Failed, Severity::Low);
        domain.resource_arn =
            "arn:aws:apigateway:eu-west-1::/domainnames/api.example.com".to_string();
        domain.region = "eu-west-1".to_string();
        domain.account_id = String::new();
        assert_eq!(
            artifact_uri(&domain),
            "apigateway/unknown-account/eu-west-1/domainnames/api.example.com"
        );
        let mut stage = finding(xray_tracing::ID, Status::Failed, Severity::Low);
        stage.resource_arn = "arn:aws:apigateway:us-east-1::/apis/h1/stages/$default".to_string();
        assert_eq!(
            artifact_uri(&stage),
            "apigateway/123456789012/us-east-1/apis/h1/stages/$default"
        );
        assert_eq!(encode("a b%/é"), "a%20b%25%2F%C3%A9");
    }
}
