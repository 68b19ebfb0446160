//! The operator's command line (`apigw-compliance run`): every flag has an environment
//! variable for the chart to set.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::aws::{self, client};
use crate::http;
use crate::inventory::reader;
use crate::report::policy_report::ReportApi;
use crate::telemetry::LogFormat;

/// The field manager of our server-side-apply status writes, the Event reporter, and
/// the default Lease name.
pub const MANAGER: &str = "apigw-compliance";

/// `apigw-compliance run`: the operator.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The tenancy configuration (YAML or JSON): which IAM roles each namespace's
    /// profiles may assume, and where the operator's own identity may be used. Without
    /// it every profile is refused (deny by default). See docs/operator.md.
    #[arg(long, env = "APIGW_TENANCY_CONFIG", value_name = "FILE")]
    pub tenancy_config: Option<PathBuf>,

    /// Where /healthz, /readyz and /metrics are served.
    #[arg(long, env = "APIGW_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,

    /// Where every finding of each profile's last scan is kept in the cluster:
    /// `openreports` (Report, openreports.io/v1alpha1, what Policy Reporter 3 reads),
    /// `wgpolicyk8s` (PolicyReport, wgpolicyk8s.io/v1alpha2, for older Policy Reporter
    /// installs) or `none`. The CRD must be installed (the operator never installs
    /// it); without it the profiles say so in their `Reports` condition and everything
    /// else goes on. See docs/reports.md.
    #[arg(
        long,
        env = "APIGW_REPORT_API",
        value_enum,
        default_value = "openreports"
    )]
    pub report_api: ReportApiArg,

    /// Log format: `json` (for log collectors) or `text`.
    #[arg(long, env = "APIGW_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,

    /// Only reconcile profiles of this namespace (default: all namespaces).
    #[arg(long, env = "APIGW_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,

    /// Only watch and reconcile the profiles whose labels match this Kubernetes label
    /// selector (e.g. `apigwcompliance.io/shard=a`, `tier in (prod,stage)`): one shard
    /// of the profiles, for several operator releases side by side (docs/operator.md,
    /// "Sharding"). Default: every profile.
    #[arg(long, env = "APIGW_PROFILE_SELECTOR", value_name = "SELECTOR")]
    pub profile_selector: Option<String>,

    /// A tag key that says infrastructure as code owns a stage, API or domain name:
    /// remediation plans the changes there and holds them back, never writing them
    /// (the stack would revert them). Replaces the default; an empty value turns the
    /// check off. The tag `apigwcompliance.io/remediate: "false"` always holds a
    /// resource back. Repeatable; the environment variable takes a comma-separated
    /// list.
    #[arg(
        long = "ownership-tag",
        env = "APIGW_OWNERSHIP_TAGS",
        value_name = "KEY",
        value_delimiter = ',',
        default_value = crate::pipeline::ownership::CLOUDFORMATION_STACK_TAG
    )]
    pub ownership_tags: Vec<String>,

    /// Remediation write calls per AWS account, for all profiles together, within
    /// `--account-changes-window-seconds`: bounds what a wrong setting can change at
    /// once. Changes over it are held back and made at a later scan. 0: no cap.
    #[arg(long, env = "APIGW_ACCOUNT_MAX_CHANGES", default_value_t = 100)]
    pub account_max_changes: u32,

    /// The window of `--account-max-changes`, in seconds. Default: the default
    /// profile interval, so the cap is per scan.
    #[arg(
        long,
        env = "APIGW_ACCOUNT_CHANGES_WINDOW_SECONDS",
        default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub account_changes_window_seconds: u64,

    /// Profiles reconciled at the same time. Most of a reconcile is waiting on AWS
    /// (often on a read shared with other profiles), and the request rate is bounded by
    /// `--aws-rate-limit`, not by this: it only caps how many profiles wait at once.
    #[arg(long, env = "APIGW_CONCURRENCY", default_value_t = 32)]
    pub concurrency: u16,

    /// Take part in leader election (a coordination.k8s.io Lease): needed when more
    /// than one replica runs; only the leader reconciles.
    #[arg(long, env = "APIGW_LEADER_ELECTION")]
    pub leader_election: bool,

    /// The Lease's name.
    #[arg(long, env = "APIGW_LEASE_NAME", default_value = MANAGER)]
    pub lease_name: String,

    /// The Lease's namespace (in a pod: its own namespace, from POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,

    /// This replica's identity in the Lease (in a pod: its name, from POD_NAME).
    /// Default: the host name and process id.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// Seconds a Lease lasts without renewal; a standby takes over after it.
    #[arg(long, env = "APIGW_LEASE_DURATION_SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: u64,

    /// Attempts per AWS call, with adaptive backoff on throttling.
    #[arg(long, default_value_t = aws::DEFAULT_MAX_ATTEMPTS)]
    pub max_attempts: u32,

    /// Seconds an AWS request may wait for its answer to start before the attempt
    /// fails (and is retried, up to --max-attempts): a hung connection never holds a
    /// reconcile, or the profiles sharing its read, for longer.
    #[arg(long, env = "APIGW_AWS_READ_TIMEOUT_SECONDS", default_value_t = aws::DEFAULT_READ_TIMEOUT_SECONDS)]
    pub aws_read_timeout_seconds: u64,

    /// Seconds reconciles may run with no progress (no AWS answer, no reconcile
    /// finished) before /healthz fails and the kubelet restarts the operator. Keep it
    /// above --max-attempts x --aws-read-timeout-seconds plus the retries' backoff, the
    /// longest one AWS call can take.
    #[arg(long, env = "APIGW_LIVENESS_STALL_SECONDS", default_value_t = http::DEFAULT_STALL_AFTER_SECONDS, value_parser = clap::value_parser!(u64).range(1..))]
    pub liveness_stall_seconds: u64,

    /// Per-API AWS calls in flight per region (an account shares 10 requests/s).
    #[arg(long, default_value_t = reader::DEFAULT_API_CONCURRENCY)]
    pub api_concurrency: usize,

    /// API Gateway requests per second per AWS account and region (retries included),
    /// for all profiles together. Default: half of API Gateway's shared 10/s. 0 turns
    /// the client-side limit off (for emulators; the SDK still backs off on throttling).
    #[arg(long, env = "APIGW_AWS_RATE_LIMIT", default_value_t = client::DEFAULT_RATE)]
    pub aws_rate_limit: f64,

    /// Requests that may go at once after a quiet period, per account and region.
    /// Default: half of API Gateway's burst of 40.
    #[arg(long, env = "APIGW_AWS_BURST", default_value_t = client::DEFAULT_BURST)]
    pub aws_burst: u32,

    /// The oldest inventory read (in seconds) a profile may reuse from another profile
    /// of the same identity and region. Default: half the profile's interval, which
    /// lets N overlapping profiles share one read per interval.
    #[arg(long, env = "APIGW_INVENTORY_MAX_AGE_SECONDS")]
    pub inventory_max_age_seconds: Option<u64>,

    /// An SQS queue that EventBridge fills with CloudTrail's records of API Gateway and
    /// WAF calls: a change is re-checked within seconds (docs/change-events.md).
    /// Repeatable; the environment variable takes a comma-separated list.
    #[arg(
        long = "change-events-queue-url",
        env = "APIGW_CHANGE_EVENTS_QUEUE_URLS",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub change_events_queue_urls: Vec<String>,

    /// How long (milliseconds) to gather change events after the first before
    /// re-reading: a burst on one resource makes one read.
    #[arg(long, env = "APIGW_CHANGE_EVENTS_DEBOUNCE_MS", default_value_t = 300)]
    pub change_events_debounce_ms: u64,

    /// How long (seconds) a received message stays hidden from other receivers: longer
    /// than a re-read plus the re-evaluation. A message not deleted by then (the
    /// operator stopped) is received again.
    #[arg(
        long,
        env = "APIGW_CHANGE_EVENTS_VISIBILITY_SECONDS",
        default_value_t = 300
    )]
    pub change_events_visibility_seconds: u64,
}

/// `--report-api`: a report API, or none.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportApiArg {
    Openreports,
    Wgpolicyk8s,
    None,
}

impl ReportApiArg {
    /// The API to write, or `None` for no reports.
    pub fn api(self) -> Option<ReportApi> {
        match self {
            ReportApiArg::Openreports => Some(ReportApi::OpenReports),
            ReportApiArg::Wgpolicyk8s => Some(ReportApi::Wgpolicyk8s),
            ReportApiArg::None => None,
        }
    }
}
