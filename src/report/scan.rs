//! The findings and read errors of a scan, as `scan` prints them: the JSON contract and
//! a table for people.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::inventory::ReadError;
use crate::model::{Finding, Status};

/// Everything one scan found. Serialises to the `scan --output json` contract:
/// `{"findings": [...], "errors": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    pub findings: Vec<Finding>,
    /// What could not be read at all (a region, or an API whose stages were denied).
    pub errors: Vec<ReadError>,
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
    pub fn summary(&self) -> Summary {
        Summary::of(&self.findings)
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
    /// the rest; each resource's findings by verdict, then control.
    pub fn to_table(&self) -> String {
        let mut by_resource: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for finding in &self.findings {
            by_resource
                .entry(&finding.resource_arn)
                .or_default()
                .push(finding);
        }
        let mut resources: Vec<(&str, Vec<&Finding>)> = by_resource.into_iter().collect();
        let rank = |findings: &Vec<&Finding>| {
            findings
                .iter()
                .filter(|f| !f.exempted)
                .map(|f| f.status)
                .min()
                .unwrap_or(Status::NotApplicable)
        };
        resources
            .sort_by(|(arn_a, a), (arn_b, b)| rank(a).cmp(&rank(b)).then_with(|| arn_a.cmp(arn_b)));

        let mut out = String::new();
        for (arn, mut findings) in resources {
            findings.sort_by_key(|f| (f.exempted, f.status, f.control_id));
            let first = findings[0];
            let _ = writeln!(
                out,
                "{arn}  ({}, {})",
                first.resource_type.as_str(),
                first.region
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

    #[test]
    fn json_report_has_findings_and_errors_in_contract_shape() {
        let report = ScanReport {
            findings: vec![finding(
                "arn:a",
                crate::controls::execution_logging::ID,
                Status::Failed,
                false,
            )],
            errors: vec![ReadError {
                region: "eu-west-1".into(),
                resource_arn: None,
                operation: "GetRestApis".into(),
                kind: crate::model::ErrorKind::AccessDenied,
                message: "denied".into(),
            }],
        };
        let mut text = Vec::new();
        report.write_json(&mut text).expect("writes to a Vec");
        let value: serde_json::Value = serde_json::from_slice(&text).expect("valid JSON");
        assert_eq!(
            value,
            serde_json::json!({
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
        assert_eq!(
            Summary::of(&findings),
            Summary {
                evaluated: 5,
                passed: 1,
                failed: 1,
                not_applicable: 1,
                errors: 1,
                exempted: 1
            }
        );
    }

    #[test]
    fn exempted_failures_do_not_trip_the_gate() {
        let report = ScanReport {
            findings: vec![finding(
                "arn:a",
                crate::controls::execution_logging::ID,
                Status::Failed,
                true,
            )],
            errors: vec![],
        };
        assert!(!report.has_any(&[Status::Failed]));
    }

    #[test]
    fn table_lists_resources_with_failures_first_and_ends_with_a_summary() {
        let report = ScanReport {
            findings: vec![
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
            errors: vec![],
        };
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
}
