//! What remediation planned and did in one scan: the `"remediation"` object of
//! `scan --output json`, and the section `scan` prints after the findings table.

use std::fmt::Write as _;

use serde::Serialize;

use crate::model::outcome::{ApplyOutcome, Mode};
use crate::model::plan::RemediationPlan;

use super::scan::ScanReport;

/// What remediation planned and did in one scan: the `"remediation"` object of
/// `scan --output json`, and the section `scan` prints after the findings table.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationReport {
    pub mode: Mode,
    pub plan: RemediationPlan,
    pub outcome: ApplyOutcome,
}

impl RemediationReport {
    /// Writes the scan report's JSON contract with a `"remediation"` object added
    /// beside `"findings"` and `"errors"` (additive: nothing else changes), streamed to
    /// `out` like `ScanReport::write_json`.
    pub fn write_scan_json(
        &self,
        report: &ScanReport,
        out: impl std::io::Write,
    ) -> serde_json::Result<()> {
        #[derive(Serialize)]
        struct ScanWithRemediation<'a> {
            #[serde(flatten)]
            report: &'a ScanReport,
            remediation: &'a RemediationReport,
        }
        serde_json::to_writer_pretty(
            out,
            &ScanWithRemediation {
                report,
                remediation: self,
            },
        )
    }

    /// Whether a change was attempted and refused by AWS.
    pub fn has_failures(&self) -> bool {
        self.outcome.summary().failed > 0
    }

    /// A table for people: each change with its call and every setting's
    /// before -> after and result, then what is pending and what was not planned.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let heading = match self.mode {
            Mode::DryRun => "REMEDIATION PLAN (dry run: nothing was changed)",
            Mode::Enforce => "REMEDIATION (enforce)",
        };
        let _ = writeln!(out, "{heading}");
        for result in &self.outcome.preconditions {
            let verdict = if result.satisfied { "ok" } else { "NOT MET" };
            let _ = writeln!(
                out,
                "  precondition {}: {verdict}: {}",
                result.precondition.describe(),
                result.message
            );
        }
        for certificate in &self.outcome.client_certificates {
            let _ = writeln!(
                out,
                "  client certificate in {}: {}",
                certificate.region, certificate.message
            );
        }
        if self.outcome.changes.is_empty() {
            let _ = writeln!(out, "  no changes to make");
        }
        for change in &self.outcome.changes {
            let _ = writeln!(out, "  {}  ({})", change.resource_arn, change.region);
            let _ = writeln!(out, "    {} {}", change.call.operation, change.call.http);
            for item in &change.items {
                let _ = writeln!(
                    out,
                    "    {:<13} {:<45} {} -> {}  [{}]{}",
                    item.control_id.as_str(),
                    item.setting,
                    item.before,
                    item.after,
                    item.status.as_str(),
                    item.message
                        .as_deref()
                        .map(|m| format!(" {m}"))
                        .unwrap_or_default()
                );
            }
            for note in &change.notes {
                let _ = writeln!(out, "    note: {note}");
            }
        }
        if !self.plan.pending.is_empty() {
            let _ = writeln!(
                out,
                "  PENDING (over maxChangesPerScan = {}; made by the next scans):",
                self.plan.max_changes_per_scan
            );
            for change in &self.plan.pending {
                let controls: Vec<&str> = change.controls().iter().map(|c| c.as_str()).collect();
                let _ = writeln!(
                    out,
                    "    {}  {} ({})",
                    change.resource_arn,
                    change.call.operation,
                    controls.join(", ")
                );
            }
        }
        if !self.plan.held.is_empty() {
            let _ = writeln!(out, "  HELD BACK (not written):");
            for held in &self.plan.held {
                let controls: Vec<&str> =
                    held.change.controls().iter().map(|c| c.as_str()).collect();
                let _ = writeln!(
                    out,
                    "    {}  {} ({}) {}: {}",
                    held.change.resource_arn,
                    held.change.call.operation,
                    controls.join(", "),
                    held.hold.reason.as_str(),
                    held.hold.message
                );
            }
        }
        if !self.plan.unplanned.is_empty() {
            let _ = writeln!(out, "  NOT PLANNED:");
            for item in &self.plan.unplanned {
                let _ = writeln!(
                    out,
                    "    {}  {:<13} {}: {}",
                    item.resource_arn,
                    item.control_id.as_str(),
                    item.reason.as_str(),
                    item.message
                );
            }
        }
        let s = self.outcome.summary();
        let _ = writeln!(
            out,
            "{} changes: {} applied, {} would apply, {} already compliant, {} changed since plan, {} failed, {} blocked by a precondition; {} pending, {} held back, {} not planned",
            self.outcome.changes.len(),
            s.applied,
            s.would_apply,
            s.already_compliant,
            s.changed_since_plan,
            s.failed,
            s.blocked,
            self.plan.pending.len(),
            self.plan.held.len(),
            self.plan.unplanned.len()
        );
        out
    }
}
