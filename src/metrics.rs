//! The operator's Prometheus metrics, served on `/metrics` in the OpenMetrics text
//! format. docs/operator.md lists them with their labels.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::model::outcome::{ApplyOutcome, ItemStatus};
use crate::model::{ErrorKind, Finding, Status};

/// How a reconcile ended; the label of `apigw_compliance_reconciles_total`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// A scan ran and its status was written.
    scanned,
    /// Nothing was due (typically the watch event of our own status write).
    skipped,
    /// A failure that is retried with backoff (AWS throttling, outage, credentials,
    /// Kubernetes API errors).
    recoverable_error,
    /// A failure that waits for the profile or the tenancy configuration to change.
    terminal_error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    class: Outcome,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct FindingLabels {
    namespace: String,
    profile: String,
    control: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ProfileLabels {
    namespace: String,
    profile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RemediationLabels {
    control: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AwsLabels {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AwsErrorLabels {
    service: String,
    class: String,
}

/// One account's (or identity's) API Gateway budget in one region.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BudgetLabels {
    account: String,
    region: String,
}

/// Where a profile's inventory of a region came from.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ReadSource {
    /// Read from AWS for this profile (and any profile that joined the read).
    aws,
    /// Taken from a read made for another profile of the same identity and region.
    shared,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadErrorLabels {
    region: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordStateLabels {
    record_state: String,
}

/// A report API (`openreports.io`, `wgpolicyk8s.io`) and what happened to a part.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReportPartLabels {
    api: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReportApiLabels {
    api: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InventoryReadLabels {
    region: String,
    source: ReadSource,
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<OutcomeLabels, Counter>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    reconcile_duration: Histogram,
    findings: Family<FindingLabels, Gauge>,
    /// The finding series set per profile, so a profile's series can be removed.
    finding_series: Mutex<BTreeSet<FindingLabels>>,
    findings_stale: Family<ProfileLabels, Gauge>,
    last_complete_scan: Family<ProfileLabels, Gauge>,
    /// The profiles with a series in the two families above.
    profile_series: Mutex<BTreeSet<ProfileLabels>>,
    /// Milliseconds after `epoch` of the last progress (for the liveness probe).
    progressed: AtomicU64,
    epoch: std::time::Instant,
    aws_calls: Family<AwsLabels, Counter>,
    aws_errors: Family<AwsErrorLabels, Counter>,
    remediations: Family<RemediationLabels, Counter>,
    rate_limit_waits: Family<BudgetLabels, Counter>,
    rate_limit_wait: Family<BudgetLabels, Counter<f64, AtomicU64>>,
    inventory_reads: Family<InventoryReadLabels, Counter>,
    read_errors: Family<ReadErrorLabels, Counter>,
    change_events_received: Counter,
    change_events_applied: Counter,
    change_events_ignored: Family<ReasonLabels, Counter>,
    change_event_latency: Histogram,
    change_queue_errors: Family<KindLabels, Counter>,
    report_parts: Family<ReportPartLabels, Counter>,
    report_crd_missing: Family<ReportApiLabels, Gauge>,
    leader: Gauge,
    securityhub_exported: Family<RecordStateLabels, Counter>,
    securityhub_export_errors: Family<KindLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("apigw_compliance");
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles of ComplianceProfiles, by outcome",
            reconciles.clone(),
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciles, by class (recoverable_error, terminal_error) and reason",
            reconcile_errors.clone(),
        );
        // 10 ms to about 20 minutes: a scan of a large estate under throttling is slow.
        let reconcile_duration = Histogram::new(exponential_buckets(0.01, 3.0, 12));
        registry.register_with_unit(
            "reconcile_duration",
            "Time spent in one reconcile, scan included",
            prometheus_client::registry::Unit::Seconds,
            reconcile_duration.clone(),
        );
        let findings = Family::<FindingLabels, Gauge>::default();
        registry.register(
            "findings",
            "Findings of each profile's last scan, by control and status (exempted counted apart)",
            findings.clone(),
        );
        let aws_calls = Family::<AwsLabels, Counter>::default();
        registry.register(
            "aws_calls",
            "AWS API requests sent (retries included), by service",
            aws_calls.clone(),
        );
        let aws_errors = Family::<AwsErrorLabels, Counter>::default();
        registry.register(
            "aws_errors",
            "AWS API requests that failed, by service and class (throttled, client, server, network)",
            aws_errors.clone(),
        );
        let remediations = Family::<RemediationLabels, Counter>::default();
        registry.register(
            "remediations",
            "Settings remediation changed or would change, by control and result (applied, would_apply, already_compliant, changed_since_plan, failed, blocked)",
            remediations.clone(),
        );
        let rate_limit_waits = Family::<BudgetLabels, Counter>::default();
        registry.register(
            "aws_rate_limit_waits",
            "API Gateway requests that waited for the client-side rate limit, by account (or identity) and region",
            rate_limit_waits.clone(),
        );
        let rate_limit_wait = Family::<BudgetLabels, Counter<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "aws_rate_limit_wait",
            "Time API Gateway requests spent waiting for the client-side rate limit, by account (or identity) and region",
            prometheus_client::registry::Unit::Seconds,
            rate_limit_wait.clone(),
        );
        let inventory_reads = Family::<InventoryReadLabels, Counter>::default();
        registry.register(
            "inventory_reads",
            "Regions' inventories used by scans, by source: read from AWS, or shared from another profile's read",
            inventory_reads.clone(),
        );
        let read_errors = Family::<ReadErrorLabels, Counter>::default();
        registry.register(
            "read_errors",
            "Parts of the inventory scans could not read (a region, an API's stages or routes), by region and kind (accessDenied, notFound, invalid, credentials, throttled, unavailable, other)",
            read_errors.clone(),
        );
        let findings_stale = Family::<ProfileLabels, Gauge>::default();
        registry.register(
            "findings_stale",
            "1 while a profile's finding series are from an earlier scan: the last scan could read nothing, so its verdicts (and the alerts on them) are kept as they were",
            findings_stale.clone(),
        );
        let last_complete_scan = Family::<ProfileLabels, Gauge>::default();
        registry.register(
            "last_complete_scan_timestamp_seconds",
            "When a profile's last scan that read everything in scope finished (Unix seconds): alert when it is older than a few intervals",
            last_complete_scan.clone(),
        );
        let change_events_received = Counter::default();
        registry.register(
            "change_events_received",
            "Change-event messages received from the SQS queues",
            change_events_received.clone(),
        );
        let change_events_applied = Counter::default();
        registry.register(
            "change_events_applied",
            "Change events whose re-read reached the status of every profile covering it",
            change_events_applied.clone(),
        );
        let change_events_ignored = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "change_events_ignored",
            "Change-event messages deleted without a re-read, by reason (unparseable, uncovered, unrelated, failedCall)",
            change_events_ignored.clone(),
        );
        // 50 ms to about 100 s.
        let change_event_latency = Histogram::new(exponential_buckets(0.05, 2.0, 12));
        registry.register_with_unit(
            "change_event_latency",
            "From a change event's arrival in the queue (SentTimestamp) to its verdict in status",
            prometheus_client::registry::Unit::Seconds,
            change_event_latency.clone(),
        );
        let change_queue_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "change_queue_errors",
            "Failed calls on the change-events queues, by kind (accessDenied, notFound, throttled, unavailable, credentials, other)",
            change_queue_errors.clone(),
        );
        let report_parts = Family::<ReportPartLabels, Counter>::default();
        registry.register(
            "report_parts",
            "Policy report parts after scans, by report API group and action: applied (written because their content changed), unchanged (left as they were), deleted (beyond the new count), failed",
            report_parts.clone(),
        );
        let report_crd_missing = Family::<ReportApiLabels, Gauge>::default();
        registry.register(
            "report_crd_missing",
            "1 while the CRD of the chosen report API (--report-api) is not installed: no report is written",
            report_crd_missing.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease (or runs without leader election)",
            leader.clone(),
        );
        let securityhub_exported = Family::<RecordStateLabels, Counter>::default();
        registry.register(
            "securityhub_findings_exported",
            "Findings Security Hub imported (BatchImportFindings), by record state (ACTIVE, ARCHIVED)",
            securityhub_exported.clone(),
        );
        let securityhub_export_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "securityhub_export_errors",
            "Findings the Security Hub export could not import (a refused call counts each of its findings; a partial failure each failed one), by kind (accessDenied, notEnabled, invalid, throttled, unavailable, credentials, other); they are sent again at the next scan",
            securityhub_export_errors.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            findings,
            finding_series: Mutex::default(),
            findings_stale,
            last_complete_scan,
            profile_series: Mutex::default(),
            progressed: AtomicU64::new(0),
            epoch: std::time::Instant::now(),
            aws_calls,
            aws_errors,
            remediations,
            rate_limit_waits,
            rate_limit_wait,
            inventory_reads,
            read_errors,
            change_events_received,
            change_events_applied,
            change_events_ignored,
            change_event_latency,
            change_queue_errors,
            report_parts,
            report_crd_missing,
            leader,
            securityhub_exported,
            securityhub_export_errors,
        }
    }
}

impl Metrics {
    /// Records a finished reconcile. `reason` is the condition reason of an error.
    pub fn reconciled(&self, outcome: Outcome, reason: Option<&str>, took: Duration) {
        self.reconciles
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        if let Some(reason) = reason {
            self.reconcile_errors
                .get_or_create(&ErrorLabels {
                    class: outcome,
                    reason: reason.to_string(),
                })
                .inc();
        }
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// Records a profile's scan. `findings: None` means it read nothing (every region
    /// failed): the last finding series stay as they were, marked stale, so an alert on
    /// failing findings does not resolve during an outage. `complete`: it read
    /// everything in scope, at `now` (Unix seconds).
    pub fn scanned(
        &self,
        namespace: &str,
        profile: &str,
        findings: Option<&[Finding]>,
        complete: bool,
        now: i64,
    ) {
        let labels = ProfileLabels {
            namespace: namespace.to_string(),
            profile: profile.to_string(),
        };
        if let Some(findings) = findings {
            self.set_findings(namespace, profile, findings);
        }
        self.findings_stale
            .get_or_create(&labels)
            .set(i64::from(findings.is_none()));
        if complete {
            self.last_complete_scan.get_or_create(&labels).set(now);
        }
        lock(&self.profile_series).insert(labels);
    }

    /// Replaces a profile's finding counts with those of its latest scan.
    fn set_findings(&self, namespace: &str, profile: &str, findings: &[Finding]) {
        let mut counts: std::collections::BTreeMap<FindingLabels, i64> = Default::default();
        for f in findings {
            let status = if f.exempted {
                "exempted"
            } else {
                match f.status {
                    Status::Passed => "passed",
                    Status::Failed => "failed",
                    Status::NotApplicable => "not_applicable",
                    Status::Error => "error",
                }
            };
            *counts
                .entry(FindingLabels {
                    namespace: namespace.to_string(),
                    profile: profile.to_string(),
                    control: f.control_id.to_string(),
                    status: status.to_string(),
                })
                .or_default() += 1;
        }
        let mut series = lock(&self.finding_series);
        series.retain(|labels| {
            let own = labels.namespace == namespace && labels.profile == profile;
            if own && !counts.contains_key(labels) {
                self.findings.remove(labels);
                return false;
            }
            true
        });
        for (labels, n) in counts {
            self.findings.get_or_create(&labels).set(n);
            series.insert(labels);
        }
    }

    /// Drops the series of profiles that no longer exist.
    pub fn retain_profiles(&self, exists: impl Fn(&str, &str) -> bool) {
        lock(&self.finding_series).retain(|labels| {
            if exists(&labels.namespace, &labels.profile) {
                return true;
            }
            self.findings.remove(labels);
            false
        });
        lock(&self.profile_series).retain(|labels| {
            if exists(&labels.namespace, &labels.profile) {
                return true;
            }
            self.findings_stale.remove(labels);
            self.last_complete_scan.remove(labels);
            false
        });
    }

    /// Something moved: an AWS response came, a reconcile started or ended.
    pub fn progressed(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.progressed
            .fetch_max(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// When something last moved.
    pub fn last_progress(&self) -> std::time::Instant {
        self.epoch
            + Duration::from_millis(self.progressed.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Counts one AWS request, and its failure class when it failed (a response, or a
    /// failure to get one, is progress).
    pub fn aws_call(&self, service: &str, error_class: Option<&str>) {
        self.progressed();
        self.aws_calls
            .get_or_create(&AwsLabels {
                service: service.to_string(),
            })
            .inc();
        if let Some(class) = error_class {
            self.aws_errors
                .get_or_create(&AwsErrorLabels {
                    service: service.to_string(),
                    class: class.to_string(),
                })
                .inc();
        }
    }

    /// Counts one API Gateway request that waited `wait` for `account`'s budget in
    /// `region`.
    pub fn rate_limit_waited(&self, account: &str, region: &str, wait: Duration) {
        let labels = BudgetLabels {
            account: account.to_string(),
            region: region.to_string(),
        };
        self.rate_limit_waits.get_or_create(&labels).inc();
        self.rate_limit_wait
            .get_or_create(&labels)
            .inc_by(wait.as_secs_f64());
    }

    /// Counts findings Security Hub imported, sent with `record_state`.
    pub fn securityhub_exported(&self, record_state: &str, findings: usize) {
        self.securityhub_exported
            .get_or_create(&RecordStateLabels {
                record_state: record_state.to_string(),
            })
            .inc_by(u64::try_from(findings).unwrap_or(u64::MAX));
    }

    /// Counts findings the Security Hub export could not import, by kind.
    pub fn securityhub_export_failed(&self, kind: &str, findings: usize) {
        self.securityhub_export_errors
            .get_or_create(&KindLabels {
                kind: kind.to_string(),
            })
            .inc_by(u64::try_from(findings).unwrap_or(u64::MAX));
    }

    /// Counts one region's inventory used by a scan, by where it came from.
    pub fn inventory_read(&self, region: &str, source: ReadSource) {
        self.inventory_reads
            .get_or_create(&InventoryReadLabels {
                region: region.to_string(),
                source,
            })
            .inc();
    }

    /// Counts one part of an inventory a scan could not read, by its kind.
    pub fn read_error(&self, region: &str, kind: ErrorKind) {
        self.read_errors
            .get_or_create(&ReadErrorLabels {
                region: region.to_string(),
                kind: kind.as_str().to_string(),
            })
            .inc();
    }

    /// Counts change-event messages received.
    pub fn change_events_received(&self, messages: usize) {
        self.change_events_received.inc_by(messages as u64);
    }

    /// Counts change events whose verdict reached status, and how long each took.
    pub fn change_event_applied(&self, latency: Option<Duration>) {
        self.change_events_applied.inc();
        if let Some(latency) = latency {
            self.change_event_latency.observe(latency.as_secs_f64());
        }
    }

    /// Counts a change-event message deleted without a re-read.
    pub fn change_event_ignored(&self, reason: &str) {
        self.change_events_ignored
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts a failed call on a change-events queue.
    pub fn change_queue_error(&self, kind: ErrorKind) {
        self.change_queue_errors
            .get_or_create(&KindLabels {
                kind: kind.as_str().to_string(),
            })
            .inc();
    }

    /// Counts each item of a remediation run by its control and result.
    pub fn remediated(&self, outcome: &ApplyOutcome) {
        for item in outcome.changes.iter().flat_map(|c| &c.items) {
            let result = match item.status {
                ItemStatus::Applied => "applied",
                ItemStatus::WouldApply => "would_apply",
                ItemStatus::AlreadyCompliant => "already_compliant",
                ItemStatus::ChangedSincePlan => "changed_since_plan",
                ItemStatus::Failed => "failed",
                ItemStatus::BlockedPrecondition => "blocked",
            };
            self.remediations
                .get_or_create(&RemediationLabels {
                    control: item.control_id.to_string(),
                    result: result.to_string(),
                })
                .inc();
        }
    }

    /// Counts `parts` policy report parts of `api` (its group) by what happened to
    /// them: `applied`, `unchanged`, `deleted` or `failed`.
    pub fn report_parts(&self, api: &str, action: &str, parts: usize) {
        if parts == 0 {
            return;
        }
        self.report_parts
            .get_or_create(&ReportPartLabels {
                api: api.to_string(),
                action: action.to_string(),
            })
            .inc_by(u64::try_from(parts).unwrap_or(u64::MAX));
    }

    /// Whether the CRD of report API `api` (its group) is installed.
    pub fn report_crd_installed(&self, api: &str, installed: bool) {
        self.report_crd_missing
            .get_or_create(&ReportApiLabels {
                api: api.to_string(),
            })
            .set(i64::from(!installed));
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an error here would be a bug in the encoder,
        // and an empty scrape is the honest answer to it.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResourceType, Severity};

    fn finding(status: Status, exempted: bool) -> Finding {
        Finding {
            control_id: crate::controls::xray_tracing::ID,
            resource_type: ResourceType::RestStage,
            resource_arn: "arn:aws:apigateway:us-east-1::/restapis/a/stages/prod".into(),
            resource_name: "a/prod".into(),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            status,
            severity: Severity::Low,
            reason: String::new(),
            exempted,
        }
    }

    #[test]
    fn findings_are_replaced_per_profile_and_dropped_with_it() {
        let m = Metrics::default();
        m.set_findings(
            "ns",
            "p",
            &[
                finding(Status::Failed, false),
                finding(Status::Failed, true),
            ],
        );
        m.set_findings("ns", "q", &[finding(Status::Passed, false)]);
        let text = m.encode();
        assert!(text.contains(r#"apigw_compliance_findings{namespace="ns",profile="p",control="APIGateway.3",status="failed"} 1"#), "{text}");
        assert!(
            text.contains(r#"profile="p",control="APIGateway.3",status="exempted"} 1"#),
            "{text}"
        );

        m.set_findings("ns", "p", &[finding(Status::Passed, false)]);
        let text = m.encode();
        assert!(
            !text.contains(r#"profile="p",control="APIGateway.3",status="failed""#),
            "{text}"
        );

        m.retain_profiles(|_, name| name == "q");
        let text = m.encode();
        assert!(!text.contains(r#"profile="p""#), "{text}");
        assert!(text.contains(r#"profile="q""#), "{text}");
    }

    #[test]
    fn a_scan_that_read_nothing_keeps_the_last_series_marked_stale() {
        let m = Metrics::default();
        m.scanned(
            "ns",
            "p",
            Some(&[finding(Status::Failed, false)]),
            true,
            100,
        );
        m.scanned("ns", "p", None, false, 200);
        let text = m.encode();
        assert!(
            text.contains(r#"apigw_compliance_findings{namespace="ns",profile="p",control="APIGateway.3",status="failed"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"apigw_compliance_findings_stale{namespace="ns",profile="p"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"apigw_compliance_last_complete_scan_timestamp_seconds{namespace="ns",profile="p"} 100"#),
            "{text}"
        );
        m.scanned("ns", "p", Some(&[]), true, 300);
        let text = m.encode();
        assert!(
            text.contains(r#"apigw_compliance_findings_stale{namespace="ns",profile="p"} 0"#),
            "{text}"
        );
        assert!(!text.contains(r#"status="failed""#), "{text}");
        m.retain_profiles(|_, _| false);
        assert!(!m.encode().contains(r#"profile="p""#));
    }

    #[test]
    fn remediation_items_are_counted_by_control_and_result() {
        use crate::model::outcome::{ChangeOutcome, ItemOutcome};
        use crate::model::plan::Call;
        let item = |control_id, status| ItemOutcome {
            control_id,
            setting: "X-Ray tracing".into(),
            before: "false".into(),
            after: "true".into(),
            status,
            message: None,
            kind: None,
        };
        let outcome = ApplyOutcome {
            changes: vec![ChangeOutcome {
                region: "us-east-1".into(),
                resource_arn: "arn:aws:apigateway:us-east-1::/restapis/a/stages/prod".into(),
                call: Call {
                    operation: "apigateway:UpdateStage".into(),
                    http: "PATCH /restapis/a/stages/prod".into(),
                    request: serde_json::Value::Null,
                },
                items: vec![
                    item(crate::controls::xray_tracing::ID, ItemStatus::Applied),
                    item(
                        crate::controls::execution_logging::ID,
                        ItemStatus::BlockedPrecondition,
                    ),
                    item(crate::controls::xray_tracing::ID, ItemStatus::Applied),
                ],
                notes: Vec::new(),
            }],
            ..ApplyOutcome::default()
        };
        let m = Metrics::default();
        m.remediated(&outcome);
        let text = m.encode();
        assert!(
            text.contains(
                r#"apigw_compliance_remediations_total{control="APIGateway.3",result="applied"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"apigw_compliance_remediations_total{control="APIGateway.1",result="blocked"} 1"#
            ),
            "{text}"
        );
    }

    #[test]
    fn rate_limit_waits_and_inventory_sources_are_counted() {
        let m = Metrics::default();
        m.rate_limit_waited("111122223333", "eu-west-1", Duration::from_millis(250));
        m.rate_limit_waited("111122223333", "eu-west-1", Duration::from_millis(500));
        m.inventory_read("eu-west-1", ReadSource::aws);
        m.inventory_read("eu-west-1", ReadSource::shared);
        m.inventory_read("eu-west-1", ReadSource::shared);
        let text = m.encode();
        for line in [
            r#"apigw_compliance_aws_rate_limit_waits_total{account="111122223333",region="eu-west-1"} 2"#,
            r#"apigw_compliance_aws_rate_limit_wait_seconds_total{account="111122223333",region="eu-west-1"} 0.75"#,
            r#"apigw_compliance_inventory_reads_total{region="eu-west-1",source="aws"} 1"#,
            r#"apigw_compliance_inventory_reads_total{region="eu-west-1",source="shared"} 2"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn reconciles_and_errors_are_counted_by_class() {
        let m = Metrics::default();
        m.reconciled(Outcome::scanned, None, Duration::from_millis(20));
        m.reconciled(
            Outcome::terminal_error,
            Some("RoleNotAllowed"),
            Duration::from_millis(1),
        );
        m.aws_call("apigateway", Some("throttled"));
        let text = m.encode();
        assert!(
            text.contains(r#"apigw_compliance_reconciles_total{outcome="scanned"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"apigw_compliance_reconcile_errors_total{class="terminal_error",reason="RoleNotAllowed"} 1"#), "{text}");
        assert!(
            text.contains("apigw_compliance_reconcile_duration_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"apigw_compliance_aws_errors_total{service="apigateway",class="throttled"} 1"#
            ),
            "{text}"
        );
    }
}
