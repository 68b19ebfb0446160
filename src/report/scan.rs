//! The findings and read errors of a scan, as `scan` prints them: the JSON contract and
//! a table for people.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::controls::Semantics;
use crate::inventory::ReadError;
use crate::model::{Finding, Status};

/// This build's version, as `scan` reports it.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything one scan found. Serialises to the `scan --output json` contract:
/// `{"scan": {...}, "findings": [...], "errors": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// What ran, when, and its counts.
    pub scan: ScanRun,
    pub findings: Vec<Finding>,
    /// What could not be read at all (a region, or an API whose stages were denied).
    pub errors: Vec<ReadError>,
}

/// The `"scan"` object of the contract: which tool and profile ran, over which
/// regions with which semantics, from when to when, and the counts of its findings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanRun {
    /// [`TOOL_VERSION`] of the build that scanned.
    pub tool_version: String,
    /// The profile's `metadata.name` when the scan ran a profile file; absent when the
    /// flags were the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// When the scan started (before the first read), RFC 3339.
    pub started_at: Timestamp,
    /// When it ended (after remediation, when it ran), RFC 3339.
    pub finished_at: Timestamp,
    pub semantics: Semantics,
    pub regions: Vec<String>,
    pub summary: Summary,
}

/// What the shell knows of a scan beyond its results; [`ScanReport::new`] completes it
/// into the [`ScanRun`] of the report.
#[derive(Clone, Debug)]
pub struct ScanRunInfo {
    pub profile: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub semantics: Semantics,
    pub regions: Vec<String>,
}

/// Counts of findings by verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub evaluated: usize,
    pub passed: usize,
    pub failed: usize,
    pub not_applicable: usize,
    pub errors: usize,
    pub exempted: usize,
}

impl Summary {
    /// Exempted findings count once, as exempted, not under their verdict.
    pub fn of(findings: &[Finding]) -> Self {
        let mut summary = Summary {
            evaluated: findings.len(),
            ..Summary::default()
        };
        for finding in findings {
            if finding.exempted {
                summary.exempted += 1;
                continue;
            }
            match finding.status {
                Status::Passed => summary.passed += 1,
                Status::Failed => summary.failed += 1,
                Status::NotApplicable => summary.not_applicable += 1,
                Status::Error => summary.errors += 1,
            }
        }
        summary
    }
}

impl ScanReport {
    /// The report of a scan that ran as `run` describes (its summary is counted here,
    /// from `findings`).
    pub fn new(run: ScanRunInfo, findings: Vec<Finding>, errors: Vec<ReadError>) -> Self {
        ScanReport {
            scan: ScanRun {
                tool_version: TOOL_VERSION.to_string(),
                profile: run.profile,
                started_at: run.started_at,
                finished_at: run.finished_at,
                semantics: run.semantics,
                regions: run.regions,
                summary: Summary::of(&findings),
            },
            findings,
            errors,
        }
    }

    pub fn summary(&self) -> Summary {
        self.scan.summary
    }

    /// Whether any non-exempted finding has one of these verdicts.
    pub fn has_any(&self, statuses: &[Status]) -> bool {
        self.findings
            .iter()
            .any(|f| !f.exempted && statuses.contains(&f.status))
    }

    /// Writes the JSON contract to `out` as it is serialised: a large estate's report is
    /// never held in memory a second time as text. Fails only when `out` does.
    pub fn write_json(&self, out: impl std::io::Write) -> serde_json::Result<()> {
        serde_json::to_writer_pretty(out, self)
    }

    /// A table grouped by resource: resources with failures first, then errors, then
    /// the rest, each rank by readable name (an API's stages, routes and integrations
    /// side by side); each resource headed by its name with its ARN beside it, then its
    /// findings by verdict, then control.
    pub fn to_table(&self) -> String {
        let mut by_resource: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for finding in &self.findings {
            by_resource
                .entry(&finding.resource_arn)
                .or_default()
                .push(finding);
        }
        let mut resources: Vec<Vec<&Finding>> = by_resource.into_values().collect();
        let rank = |findings: &Vec<&Finding>| {
            findings
                .iter()
                .filter(|f| !f.exempted)
                .map(|f| f.status)
                .min()
                .unwrap_or(Status::NotApplicable)
        };
        // Each group holds at least one finding (it was made for one).
        let key = |findings: &Vec<&Finding>| {
            let first = findings[0];
            (
                rank(findings),
                first.resource_name.clone(),
                first.resource_arn.clone(),
            )
        };
        resources.sort_by_cached_key(key);

        let mut out = String::new();
        for mut findings in resources {
            findings.sort_by_key(|f| (f.exempted, f.status, f.control_id));
            let first = findings[0];
            let name = if first.resource_name.is_empty() {
                &first.resource_arn
            } else {
                &first.resource_name
            };
            let account = if first.account_id.is_empty() {
                String::new()
            } else {
                format!(", account {}", first.account_id)
            };
            let _ = writeln!(
                out,
                "{name}  {}  ({}, {}{account})",
                first.resource_arn,
                first.resource_type.as_str(),
                first.region,
            );
            for f in findings {
                let verdict = if f.exempted {
                    format!("{} (exempted)", f.status)
                } else {
                    f.status.to_string()
                };
                let _ = writeln!(
                    out,
                    "  {verdict:<26} {:<13} {:<7} {}",
                    f.control_id.as_str(),
                    f.severity.as_str(),
                    f.reason
                );
            }
            out.push('\n');
        }
        if !self.errors.is_empty() {
            let _ = writeln!(out, "NOT READ (these resources were not evaluated):");
            for e in &self.errors {
                let target = e.resource_arn.as_deref().unwrap_or(&e.region);
                let _ = writeln!(out, "  {target}  {}: {}", e.operation, e.message);
            }
            out.push('\n');
        }
        let s = self.summary();
        let _ = writeln!(
            out,
            "{} findings: {} failed, {} passed, {} not applicable, {} error, {} exempted; {} read errors",
            s.evaluated,
            s.failed,
            s.passed,
            s.not_applicable,
            s.errors,
            s.exempted,
            self.errors.len()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ControlId, ResourceType, Severity};

    fn finding(arn: &str, control: ControlId, status: Status, exempted: bool) -> Finding {
        Finding {
            control_id: control,
            resource_type: ResourceType::RestStage,
            resource_arn: arn.to_string(),
            resource_name: format!("name of {arn}"),
            account_id: "123456789012".to_string(),
            region: "us-east-1".to_string(),
            status,
            severity: Severity::Medium,
            reason: format!("{control} on {arn}"),
            exempted,
        }
    }

    fn run() -> ScanRunInfo {
        ScanRunInfo {
            profile: Some("team-a".to_string()),
            started_at: "2026-01-15T12:00:00Z".parse().unwrap(),
            finished_at: "2026-01-15T12:00:07.5Z".parse().unwrap(),
            semantics: Semantics::Strict,
            regions: vec!["us-east-1".to_string(), "eu-west-1".to_string()],
        }
    }

    #[test]
    fn json_report_has_findings_and_errors_in_contract_shape() {
        let report = ScanReport::new(
            run(),
            vec![finding(
                "arn:a",
                crate::controls::execution_logging::ID,
                Status::Failed,
                false,
            )],
            vec![ReadError {
                account_id: None,
                region: "eu-west-1".into(),
                resource_arn: None,
                operation: "GetRestApis".into(),
                kind: crate::model::ErrorKind::AccessDenied,
                message: "denied".into(),
            }],
        );
        let mut text = Vec::new();
        report.write_json(&mut text).expect("writes to a Vec");
        let value: serde_json::Value = serde_json::from_slice(&text).expect("valid JSON");
        assert_eq!(
            value,
            serde_json::json!({
                "scan": {
                    "toolVersion": TOOL_VERSION,
                    "profile": "team-a",
                    "startedAt": "2026-01-15T12:00:00Z",
                    "finishedAt": "2026-01-15T12:00:07.5Z",
                    "semantics": "Strict",
                    "regions": ["us-east-1", "eu-west-1"],
                    "summary": {"evaluated": 1, "passed": 0, "failed": 1, "notApplicable": 0, "errors": 0, "exempted": 0}
                },
                "findings": [{
                    "controlId": "APIGateway.1",
                    "resourceType": "AWS::ApiGateway::Stage",
                    "resourceArn": "arn:a",
                    "resourceName": "name of arn:a",
                    "accountId": "123456789012",
                    "region": "us-east-1",
                    "status": "FAILED",
                    "severity": "MEDIUM",
                    "reason": "APIGateway.1 on arn:a"
                }],
                "errors": [{"region": "eu-west-1", "operation": "GetRestApis", "kind": "accessDenied", "message": "denied"}]
            })
        );
        // Without a profile file, the flags were the profile: no name to give.
        let flags = ScanReport::new(
            ScanRunInfo {
                profile: None,
                ..run()
            },
            Vec::new(),
            Vec::new(),
        );
        let value = serde_json::to_value(&flags).expect("serialises");
        assert!(value["scan"].get("profile").is_none());
        let back: ScanReport = serde_json::from_value(value).expect("reads back");
        assert_eq!(back, flags);
    }

    #[test]
    fn summary_counts_exempted_findings_once_as_exempted() {
        let findings = vec![
            finding(
                "arn:a",
                crate::controls::execution_logging::ID,
                Status::Failed,
                true,
            ),
            finding(
                "arn:a",
                crate::controls::xray_tracing::ID,
                Status::Failed,
                false,
            ),
            finding(
                "arn:b",
                crate::controls::xray_tracing::ID,
                Status::Passed,
                false,
            ),
            finding(
                "arn:b",
                crate::controls::cache_encryption::ID,
                Status::NotApplicable,
                false,
            ),
            finding(
                "arn:c",
                crate::controls::client_certificate::ID,
                Status::Error,
                false,
            ),
        ];
        let expected = Summary {
            evaluated: 5,
            passed: 1,
            failed: 1,
            not_applicable: 1,
            errors: 1,
            exempted: 1,
        };
        assert_eq!(Summary::of(&findings), expected);
        assert_eq!(
            ScanReport::new(run(), findings, Vec::new()).scan.summary,
            expected
        );
    }

    #[test]
    fn exempted_failures_do_not_trip_the_gate() {
        let report = ScanReport::new(
            run(),
            vec![finding(
                "arn:a",
                crate::controls::execution_logging::ID,
                Status::Failed,
                true,
            )],
            vec![],
        );
        assert!(!report.has_any(&[Status::Failed]));
    }

    #[test]
    fn table_lists_resources_with_failures_first_and_ends_with_a_summary() {
        let report = ScanReport::new(
            run(),
            vec![
                finding(
                    "arn:a-passing",
                    crate::controls::xray_tracing::ID,
                    Status::Passed,
                    false,
                ),
                finding(
                    "arn:z-failing",
                    crate::controls::xray_tracing::ID,
                    Status::Failed,
                    false,
                ),
                finding(
                    "arn:z-failing",
                    crate::controls::execution_logging::ID,
                    Status::Passed,
                    false,
                ),
            ],
            vec![],
        );
        let table = report.to_table();
        let failing = table
            .find("arn:z-failing")
            .expect("failing resource listed");
        let passing = table
            .find("arn:a-passing")
            .expect("passing resource listed");
        assert!(failing < passing, "failures first:\n{table}");
        let failing_block = &table[failing..passing];
        assert!(
            failing_block.find("FAILED").expect("FAILED row")
                < failing_block.find("PASSED").expect("PASSED row"),
            "within a resource, failures first:\n{table}"
        );
        assert!(table.trim_end().ends_with(
            "3 findings: 1 failed, 2 passed, 0 not applicable, 0 error, 0 exempted; 0 read errors"
        ));
    }

    #[test]
    fn table_leads_each_resource_with_its_name_and_keeps_the_arn_beside_it() {
        let arn = "arn:aws:apigateway:us-east-1::/apis/bzrwsuem/stages/dev";
        let mut stage = finding(
            arn,
            crate::controls::xray_tracing::ID,
            Status::Failed,
            false,
        );
        stage.resource_name = "chat-realtime/dev".to_string();
        let mut route = finding(
            "arn:aws:apigateway:us-east-1::/apis/bzrwsuem/routes/r1",
            crate::controls::route_authorization::ID,
            Status::Failed,
            false,
        );
        route.resource_name = "chat-realtime $connect".to_string();
        let mut other = finding(
            "arn:aws:apigateway:us-east-1::/apis/aaaa/stages/dev",
            crate::controls::xray_tracing::ID,
            Status::Failed,
            false,
        );
        other.resource_name = "orders/dev".to_string();
        let table = ScanReport::new(run(), vec![other, route, stage], Vec::new()).to_table();
        let headings: Vec<&str> = table
            .lines()
            .filter(|line| !line.starts_with(' ') && line.contains("arn:"))
            .collect();
        assert_eq!(
            headings,
            [
                "chat-realtime $connect  arn:aws:apigateway:us-east-1::/apis/bzrwsuem/routes/r1  (AWS::ApiGateway::Stage, us-east-1, account 123456789012)",
                "chat-realtime/dev  arn:aws:apigateway:us-east-1::/apis/bzrwsuem/stages/dev  (AWS::ApiGateway::Stage, us-east-1, account 123456789012)",
                "orders/dev  arn:aws:apigateway:us-east-1::/apis/aaaa/stages/dev  (AWS::ApiGateway::Stage, us-east-1, account 123456789012)",
            ],
            "{table}"
        );
    }
}
