//! The operator (`apigw-compliance run`): a kube-runtime Controller over
//! ComplianceProfiles.
//!
//! A reconcile is a pipeline whose ends alone touch the network:
//! check the spec and the tenancy (pure) -> is a scan due? (pure) -> obtain the AWS
//! identity -> read the inventory -> scope-filter, evaluate, apply exemptions (pure) ->
//! plan remediation (pure; DryRun and Enforce) -> apply it (AWS) -> build the status
//! (pure) -> write it if it changed, emit Events.
//!
//! No self-triggering loop: our own status write comes back as a watch event, but the
//! status then says the current generation was scanned and when the next scan is due,
//! so that reconcile makes no AWS call and writes nothing; it only requeues at the due
//! time. Errors are classified once (see [`Step`]): terminal ones (invalid spec, role
//! not allowed) set `Stalled` and wait for a change; recoverable ones (AWS read
//! failures, credentials, Kubernetes API errors) back off exponentially per profile, up
//! to the profile's interval.

pub mod aws;
pub mod leader;
pub mod remediation;
pub mod shared;
pub mod status;
pub mod tenancy;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::crd::status::{ExpiredExemption, now, reason};
use crate::crd::{ComplianceProfile, ComplianceProfileStatus, ConditionStatus, RemediationMode};
use crate::http::{self, HttpState};
use crate::inventory::aws::{
    DEFAULT_API_CONCURRENCY, DEFAULT_MAX_ATTEMPTS, DEFAULT_READ_TIMEOUT_SECONDS, ReadOptions,
    load_sdk_config, read_inventory,
};
use crate::inventory::{Inventory, ReadError};
use crate::metrics::{Metrics, Outcome, ReadSource};
use crate::ratelimit::{AwsRateLimiter, DEFAULT_BURST, DEFAULT_RATE, RateLimit};
use crate::scan::{profile_report_shared, read_options_for_profile};
use crate::scope::ScopeFilter;
use crate::telemetry::{self, LogFormat};
use aws::AwsAccess;
use leader::{LeaderElector, LeaseConfig};
use shared::{Coverage, Identity, InventoryCache, ReadKey, SharedRead};
use status::ScanResult;
use tenancy::Tenancy;

/// The field manager of our server-side-apply status writes, and the Event reporter.
pub const MANAGER: &str = "apigw-compliance";

/// First retry after a recoverable failure; doubled per consecutive failure.
const BACKOFF_START: Duration = Duration::from_secs(5);
/// Retries never wait longer than this (nor longer than the profile's interval).
const BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);

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

    /// Log format: `json` (for log collectors) or `text`.
    #[arg(long, env = "APIGW_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,

    /// Only reconcile profiles of this namespace (default: all namespaces).
    #[arg(long, env = "APIGW_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,

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
    #[arg(long, default_value_t = DEFAULT_MAX_ATTEMPTS)]
    pub max_attempts: u32,

    /// Seconds an AWS request may wait for its answer to start before the attempt
    /// fails (and is retried, up to --max-attempts): a hung connection never holds a
    /// reconcile, or the profiles sharing its read, for longer.
    #[arg(long, env = "APIGW_AWS_READ_TIMEOUT_SECONDS", default_value_t = DEFAULT_READ_TIMEOUT_SECONDS)]
    pub aws_read_timeout_seconds: u64,

    /// Per-API AWS calls in flight per region (an account shares 10 requests/s).
    #[arg(long, default_value_t = DEFAULT_API_CONCURRENCY)]
    pub api_concurrency: usize,

    /// API Gateway requests per second per AWS account and region (retries included),
    /// for all profiles together. Default: half of API Gateway's shared 10/s. 0 turns
    /// the client-side limit off (for emulators; the SDK still backs off on throttling).
    #[arg(long, env = "APIGW_AWS_RATE_LIMIT", default_value_t = DEFAULT_RATE)]
    pub aws_rate_limit: f64,

    /// Requests that may go at once after a quiet period, per account and region.
    /// Default: half of API Gateway's burst of 40.
    #[arg(long, env = "APIGW_AWS_BURST", default_value_t = DEFAULT_BURST)]
    pub aws_burst: u32,

    /// The oldest inventory read (in seconds) a profile may reuse from another profile
    /// of the same identity and region. Default: half the profile's interval, which
    /// lets N overlapping profiles share one read per interval.
    #[arg(long, env = "APIGW_INVENTORY_MAX_AGE_SECONDS")]
    pub inventory_max_age_seconds: Option<u64>,
}

/// Why the operator could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(
        "cannot reach the Kubernetes API: {0}; set KUBECONFIG, or run in a pod with a service account"
    )]
    Kubernetes(kube::Error),
    #[error(transparent)]
    Tenancy(#[from] tenancy::TenancyError),
    #[error(transparent)]
    Http(#[from] http::BindError),
    #[error(transparent)]
    LeaseLost(#[from] leader::LeaseLost),
}

/// A failed reconcile; always recoverable (the controller retries with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot write the status of {namespace}/{name}: {source}; check that the operator may patch complianceprofiles/status"
    )]
    StatusWrite {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

/// Everything a reconcile needs, built once.
pub struct Context {
    client: Client,
    tenancy: Tenancy,
    aws: AwsAccess,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    store: Store<ComplianceProfile>,
    read_base: ReadOptions,
    /// Paces every API Gateway request per account and region.
    limiter: Arc<AwsRateLimiter>,
    /// Inventory reads shared by the profiles of one identity and region.
    inventories: InventoryCache,
    /// `--inventory-max-age-seconds`.
    max_inventory_age: Option<Duration>,
    /// One evaluation at a time: it is CPU-bound (no gain from more on a small pod) and
    /// its findings are the largest allocation of a reconcile, so this bounds memory
    /// however many profiles finish their reads together.
    evaluation: Arc<tokio::sync::Semaphore>,
    /// Consecutive recoverable failures per profile, for the backoff.
    failures: std::sync::Mutex<HashMap<ObjectRef<ComplianceProfile>, u32>>,
    /// The generation and next scan time of each profile's last scan by this process.
    /// The watch event of our own "scanning" status write can reach a reconcile before
    /// the event of the final write; the cached object then still looks unfinished, and
    /// without this record the profile would be scanned twice.
    scans: std::sync::Mutex<HashMap<ObjectRef<ComplianceProfile>, ScanRecord>>,
    /// Where remediation last wrote, so no read from before a change is reused after it.
    writes: remediation::Writes,
    /// This replica's identity: the reporting instance of the Events written directly.
    instance: String,
}

/// The generation a scan covered, and when the next one is due.
type ScanRecord = (Option<i64>, Time);

/// How a profile's regions are read: the identity's rate-limited configuration, and
/// the read options with the identity's own SDK retry partition.
struct Reader {
    sdk: aws_config::SdkConfig,
    options: ReadOptions,
}

/// How one reconcile ended: the classification drives the requeue, the metric label
/// and (through the status) the condition and the Event type.
struct Step {
    action: Action,
    outcome: Outcome,
    reason: Option<&'static str>,
}

impl Step {
    fn scanned(after: Duration) -> Self {
        Step {
            action: Action::requeue(after),
            outcome: Outcome::scanned,
            reason: None,
        }
    }

    fn skipped(after: Duration) -> Self {
        Step {
            action: Action::requeue(after),
            outcome: Outcome::skipped,
            reason: None,
        }
    }

    fn recoverable(reason: &'static str, after: Duration) -> Self {
        Step {
            action: Action::requeue(after),
            outcome: Outcome::recoverable_error,
            reason: Some(reason),
        }
    }

    /// Waits for the profile to change: retrying cannot help. Counted as an error
    /// when it was found (the status changed), not on every later event that finds
    /// the same stall (such as our own status write coming back).
    fn terminal(reason: &'static str, found: bool) -> Self {
        Step {
            action: Action::await_change(),
            outcome: if found {
                Outcome::terminal_error
            } else {
                Outcome::skipped
            },
            reason: found.then_some(reason),
        }
    }
}

impl Context {
    fn backoff(&self, key: &ObjectRef<ComplianceProfile>, cap: Duration) -> Duration {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let n = failures.entry(key.clone()).or_default();
        let delay = backoff_delay(*n, cap);
        *n = n.saturating_add(1);
        delay
    }

    fn record_scan(
        &self,
        key: &ObjectRef<ComplianceProfile>,
        generation: Option<i64>,
        next: &Time,
    ) {
        self.scans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(key.clone(), (generation, next.clone()));
    }

    /// When this process already scanned this generation and the next scan is not due
    /// yet: the time it is due.
    fn scanned_until(
        &self,
        key: &ObjectRef<ComplianceProfile>,
        generation: Option<i64>,
        now: &Time,
    ) -> Option<Time> {
        let scans = self
            .scans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        scans
            .get(key)
            .filter(|(scanned, next)| *scanned == generation && next.0 > now.0)
            .map(|(_, next)| next.clone())
    }

    /// Drops what this process keeps per profile for the profiles that no longer
    /// exist, so that memory follows the profiles there are, not all there ever were.
    fn forget_deleted_profiles(&self) {
        let exists = |key: &ObjectRef<ComplianceProfile>| self.store.get(key).is_some();
        self.metrics
            .retain_profiles(|namespace, name| exists(&ObjectRef::new(name).within(namespace)));
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|key, _| exists(key));
        self.scans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|key, _| exists(key));
    }

    fn succeeded(&self, key: &ObjectRef<ComplianceProfile>) {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
    }

    /// What every profile allowed to use `key`'s identity in its region needs read:
    /// a new read covers them all, so their next scans can share it.
    fn coverage_wanted(&self, key: &ReadKey) -> Coverage {
        self.store
            .state()
            .iter()
            .filter(|p| {
                let scope = &p.spec.scope;
                scope.regions.contains(&key.region)
                    && Identity::new(scope.role_arn.as_deref(), scope.external_id.as_deref())
                        == key.identity
                    && self
                        .tenancy
                        .check(
                            &p.namespace().unwrap_or_default(),
                            scope.role_arn.as_deref(),
                        )
                        .is_ok()
            })
            .fold(Coverage::default(), |wanted, p| {
                wanted.union(Coverage::of(&read_options_for_profile(
                    &p.spec,
                    ReadOptions::default(),
                )))
            })
    }

    /// The profile's regions as `reader` reads them, each shared with the overlapping
    /// profiles (see [`shared`]). A read runs in a task of its own so that its
    /// response parsing uses every core and the controller keeps polling the other
    /// reconciles meanwhile.
    async fn read_regions(
        &self,
        identity: &Identity,
        regions: &[String],
        needed: Coverage,
        max_age: Duration,
        reader: &Reader,
        now: &Time,
    ) -> Vec<SharedRead> {
        let started = Instant::now();
        futures::future::join_all(regions.iter().map(|region| async move {
            let key = ReadKey {
                identity: identity.clone(),
                region: region.clone(),
            };
            let wanted = self.coverage_wanted(&key);
            self.inventories
                .get(&key, needed, wanted, max_age, (started, now), |coverage| {
                    let options = coverage.options(&reader.options);
                    let sdk = reader.sdk.clone();
                    let regions = [region.clone()];
                    async move {
                        let read =
                            tokio::spawn(
                                async move { read_inventory(&sdk, &regions, &options).await },
                            );
                        // Only a bug in the reader ends here; its region is reported
                        // unread rather than the reconcile failing without a status.
                        read.await.unwrap_or_else(|e| Inventory {
                            regions: Vec::new(),
                            errors: vec![ReadError {
                                region: region.clone(),
                                resource_arn: None,
                                operation: "ReadInventory".into(),
                                message: format!("the inventory read stopped unexpectedly: {e}"),
                            }],
                        })
                    }
                })
                .await
        }))
        .await
    }

    /// Writes `new` with server-side apply unless it equals what the object has.
    /// Returns whether it wrote.
    async fn write_status(
        &self,
        profile: &ComplianceProfile,
        previous: Option<&ComplianceProfileStatus>,
        new: &ComplianceProfileStatus,
    ) -> Result<bool, Error> {
        if previous == Some(new) {
            return Ok(false);
        }
        let namespace = profile.namespace().unwrap_or_default();
        let name = profile.name_any();
        let api: Api<ComplianceProfile> = Api::namespaced(self.client.clone(), &namespace);
        let patch = json!({
            "apiVersion": ComplianceProfile::api_version(&()),
            "kind": ComplianceProfile::kind(&()),
            "status": new,
        });
        api.patch_status(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(|source| Error::StatusWrite {
            namespace,
            name,
            source,
        })?;
        Ok(true)
    }

    /// Events for what changed between the status the object had and the one written.
    async fn publish_events(
        &self,
        profile: &ComplianceProfile,
        before: Option<&ComplianceProfileStatus>,
        after: &ComplianceProfileStatus,
    ) {
        let mut events = Vec::new();
        let condition = |s: Option<&ComplianceProfileStatus>, t: &str| {
            s.and_then(|s| s.condition(t))
                .map(|c| (c.status, c.reason.clone(), c.message.clone()))
        };
        let (old_compliant, new_compliant) = (
            condition(before, reason::COMPLIANT),
            condition(Some(after), reason::COMPLIANT),
        );
        if let Some((status, _, message)) = &new_compliant
            && old_compliant.as_ref().map(|c| c.0) != Some(*status)
        {
            match status {
                ConditionStatus::True => {
                    events.push((EventType::Normal, "Compliant", message.clone()))
                }
                ConditionStatus::False => {
                    events.push((EventType::Warning, "NonCompliant", message.clone()))
                }
                ConditionStatus::Unknown => {}
            }
        }
        if let Some((_, stalled_reason, message)) = condition(Some(after), reason::STALLED)
            && condition(before, reason::STALLED).map(|c| c.1) != Some(stalled_reason.clone())
        {
            events.push((
                EventType::Warning,
                stall_event_reason(&stalled_reason),
                message,
            ));
        }
        if let Some((ConditionStatus::False, ready_reason, message)) =
            condition(Some(after), reason::READY)
            && [
                reason::SCAN_FAILED,
                reason::SCAN_INCOMPLETE,
                reason::CREDENTIALS_UNAVAILABLE,
            ]
            .contains(&ready_reason.as_str())
        {
            events.push((
                EventType::Warning,
                stall_event_reason(&ready_reason),
                message,
            ));
        }
        let reference = profile.object_ref(&());
        for (type_, event_reason, note) in events {
            let event = Event {
                type_,
                reason: event_reason.to_string(),
                note: Some(crate::crd::status::truncate(&note)),
                action: "Scan".into(),
                secondary: None,
            };
            if let Err(e) = self.recorder.publish(&event, &reference).await {
                tracing::warn!(error = %e, reason = event_reason, "cannot publish an Event; check that the operator may create events.k8s.io events");
            }
        }
    }
}

/// The wait before retry number `failures + 1`: 5s, 10s, 20s... up to 5 minutes and
/// never beyond `cap` (the profile's interval).
fn backoff_delay(failures: u32, cap: Duration) -> Duration {
    BACKOFF_START
        .saturating_mul(1 << failures.min(16))
        .min(BACKOFF_MAX)
        .min(cap)
}

/// Event reasons are the condition reasons (a closed set), as `&'static str`.
fn stall_event_reason(condition_reason: &str) -> &'static str {
    [
        reason::ROLE_NOT_ALLOWED,
        reason::INVALID_SPEC,
        reason::SCAN_FAILED,
        reason::SCAN_INCOMPLETE,
        reason::CREDENTIALS_UNAVAILABLE,
    ]
    .into_iter()
    .find(|r| *r == condition_reason)
    .unwrap_or(reason::SCAN_FAILED)
}

fn until(time: Option<&Time>, now: &Time) -> Duration {
    time.and_then(|t| t.0.duration_since(now.0).try_into().ok())
        .unwrap_or(Duration::ZERO)
}

fn later(now: &Time, after: Duration) -> Time {
    Time(now.0.checked_add(after).unwrap_or(now.0))
}

async fn reconcile(profile: Arc<ComplianceProfile>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        namespace = profile.namespace().unwrap_or_default(),
        profile = profile.name_any()
    );
    let _entered = span.enter();
    // What is kept per profile (finding series, backoff, last scan) goes when any
    // profile reconciles after its deletion: deletion itself triggers no reconcile
    // (there is nothing to clean up in AWS or Kubernetes).
    ctx.forget_deleted_profiles();
    drop(_entered);
    let result = tracing::Instrument::instrument(reconcile_profile(&profile, &ctx), span).await;
    match &result {
        Ok(step) => ctx
            .metrics
            .reconciled(step.outcome, step.reason, started.elapsed()),
        Err(_) => ctx.metrics.reconciled(
            Outcome::recoverable_error,
            Some("StatusWriteFailed"),
            started.elapsed(),
        ),
    }
    result.map(|step| step.action)
}

fn error_policy(profile: Arc<ComplianceProfile>, error: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.backoff(&ObjectRef::from_obj(&profile), BACKOFF_MAX);
    tracing::warn!(error = %error, retry_in_seconds = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

async fn reconcile_profile(profile: &Arc<ComplianceProfile>, ctx: &Context) -> Result<Step, Error> {
    let key = ObjectRef::from_obj(&**profile);
    let namespace = profile.namespace().unwrap_or_default();
    let generation = profile.metadata.generation;
    let before = profile.status.as_ref();
    let spec = &profile.spec;
    let now = now();

    // 1. The spec, as the API server should already have checked it, plus what it
    //    cannot check (glob syntax). Terminal: only a spec change helps.
    let checked = spec
        .validate()
        .and_then(|()| Ok((ScopeFilter::new(&spec.scope)?, spec.interval()?)));
    let (filter, interval) = match checked {
        Ok(checked) => checked,
        Err(e) => {
            let new = status::stalled(
                before,
                generation,
                reason::INVALID_SPEC,
                e.to_string(),
                &now,
            );
            let found = ctx.write_status(profile, before, &new).await?;
            ctx.publish_events(profile, before, &new).await;
            return Ok(Step::terminal(reason::INVALID_SPEC, found));
        }
    };

    // 2. Tenancy, before any AWS call. Terminal until the spec or the operator's
    //    configuration changes.
    let role = spec.scope.role_arn.as_deref();
    if let Err(denial) = ctx.tenancy.check(&namespace, role) {
        let new = status::stalled(
            before,
            generation,
            reason::ROLE_NOT_ALLOWED,
            denial.to_string(),
            &now,
        );
        let found = ctx.write_status(profile, before, &new).await?;
        ctx.publish_events(profile, before, &new).await;
        return Ok(Step::terminal(reason::ROLE_NOT_ALLOWED, found));
    }

    // 3. Nothing due: typically the watch event of our own status write.
    if let Some(next) = ctx.scanned_until(&key, generation, &now) {
        return Ok(Step::skipped(until(Some(&next), &now)));
    }
    if !status::scan_due(before, generation, &now) {
        let wait = until(before.and_then(|s| s.next_scan_time.as_ref()), &now);
        return Ok(Step::skipped(wait));
    }

    // 4. A new generation: say so before the (possibly long) scan.
    let mut current = before.cloned();
    if before.and_then(|s| s.observed_generation) != generation {
        let scanning = status::scanning(before, generation, &now);
        ctx.write_status(profile, before, &scanning).await?;
        current = Some(scanning);
    }

    // 5. The AWS identity.
    let first_region = spec
        .scope
        .regions
        .first()
        .map(String::as_str)
        .unwrap_or("us-east-1");
    let identity = match ctx
        .aws
        .identity(role, spec.scope.external_id.as_deref(), first_region)
        .await
    {
        Ok(identity) => identity,
        Err(e) => {
            let delay = ctx.backoff(&key, interval);
            let new = status::credentials_unavailable(
                current.as_ref(),
                generation,
                e.to_string(),
                &now,
                &later(&now, delay),
            );
            ctx.write_status(profile, current.as_ref(), &new).await?;
            ctx.publish_events(profile, before, &new).await;
            return Ok(Step::recoverable(reason::CREDENTIALS_UNAVAILABLE, delay));
        }
    };

    // 6. Read: one read per identity and region, shared with the profiles that
    //    overlap it, every API Gateway request paced by the account's rate limit.
    //    The cache of profiles fills in one go when the initial list completes; until
    //    then it could not say what the other profiles need read. An error means the
    //    watch is gone (shutdown): the read then covers this profile alone.
    let _ = ctx.store.wait_until_ready().await;
    let identity_key = Identity::new(role, spec.scope.external_id.as_deref());
    let limiter_key = identity
        .account
        .clone()
        .unwrap_or_else(|| match &identity_key {
            Identity::Operator => "operator".to_string(),
            Identity::Role { arn, .. } => arn.clone(),
        });
    let sdk = ctx.limiter.limit(&identity.sdk, &limiter_key);
    let reader = Reader {
        sdk: sdk.clone(),
        options: ReadOptions {
            retry_partition: Some(limiter_key.clone()),
            ..ctx.read_base.clone()
        },
    };
    let needed = Coverage::of(&read_options_for_profile(spec, ReadOptions::default()));
    let reads = ctx
        .read_regions(
            &identity_key,
            &spec.scope.regions,
            needed,
            ctx.writes.max_age(
                &identity_key,
                &spec.scope.regions,
                shared::max_age(interval, ctx.max_inventory_age),
                Instant::now(),
            ),
            &reader,
            &now,
        )
        .await;
    let shared_regions = reads.iter().filter(|r| !r.fresh).count();
    for (region, read) in spec.scope.regions.iter().zip(&reads) {
        let source = if read.fresh {
            ReadSource::aws
        } else {
            ReadSource::shared
        };
        ctx.metrics.inventory_read(region, source);
    }
    // The data is as old as its oldest read: the next scan is due an interval after
    // it, so profiles sharing reads fall due together (see shared.rs).
    let read_at = reads
        .iter()
        .map(|r| r.started_at.clone())
        .min_by(|a, b| a.0.cmp(&b.0))
        .unwrap_or_else(|| now.clone());

    // 7. Filter, evaluate, exempt (pure, CPU-bound): on a blocking thread, one at a
    //    time (see Context::evaluation), borrowing the shared reads.
    let permit = ctx.evaluation.clone().acquire_owned().await.ok();
    // Remediation (DryRun, Enforce) plans on the same reads as the evaluation.
    let remediation_reads =
        (spec.remediation.mode != RemediationMode::Observe).then(|| reads.clone());
    let evaluation = {
        let profile = profile.clone();
        let now = now.0;
        tokio::task::spawn_blocking(move || {
            let inventories = reads.iter().map(|r| &*r.inventory);
            profile_report_shared(inventories, &filter, &profile.spec, now)
        })
    };
    let (report, exemptions, read_anything) = match evaluation.await {
        Ok(evaluated) => evaluated,
        // The evaluation is pure: a panic there is a bug, surfaced as such.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    for invalid in &exemptions.invalid {
        // validate() refuses these; a profile stored before that check lands here.
        tracing::warn!(exemption = %invalid, "exemption not applied");
    }
    let failed = !report.errors.is_empty();
    let (delay, next) = if failed {
        let delay = ctx.backoff(&key, interval);
        (delay, later(&now, delay))
    } else {
        ctx.succeeded(&key);
        let next = later(&read_at, interval);
        // A read whose first caller was cancelled can be older than its data; never
        // schedule into the past.
        if next.0 > now.0 {
            (until(Some(&next), &now), next)
        } else {
            (interval, later(&now, interval))
        }
    };
    let scan = ScanResult {
        findings: report.findings,
        read_errors: report.errors,
        read_anything,
        expired_exemptions: exemptions
            .expired
            .iter()
            .map(|e| ExpiredExemption {
                control: e.control,
                resource_arn_glob: e.resource_arn_glob.clone(),
                expires: e.expired_at.to_string(),
            })
            .collect(),
        account: identity.account,
        regions: spec.scope.regions.clone(),
    };
    ctx.metrics
        .set_findings(&namespace, &profile.name_any(), &scan.findings);
    let new = status::scanned(
        current.as_ref(),
        generation,
        spec.remediation.mode,
        &scan,
        &now,
        &next,
    );
    // The plan is pure and needs the findings, so it is made before they go; a scan
    // that read nothing has nothing to act on.
    let planned = remediation_reads
        .filter(|_| !scan.read_nothing())
        .and_then(|reads| remediation::plan_for(spec, &reads, &scan.findings));
    let (findings, read_errors) = (scan.findings.len(), scan.read_errors.len());
    drop(scan);
    release_freed_memory();
    drop(permit);

    // 8. Remediate (DryRun, Enforce) with the scan's identity, outside the evaluation
    //    permit: its AWS calls must not hold up other profiles' evaluations.
    let remediation = match planned {
        Some(planned) => Some(remediation::run(ctx, &identity_key, planned, &sdk).await),
        None => None,
    };
    let new = match &remediation {
        Some(report) => status::remediated(new, current.as_ref(), report, &now),
        None => new,
    };

    // 9. Report.
    ctx.write_status(profile, current.as_ref(), &new).await?;
    ctx.record_scan(&key, generation, &next);
    ctx.publish_events(profile, before, &new).await;
    if let Some(report) = &remediation {
        remediation::publish_events(ctx, profile, report, current.as_ref(), &new).await;
    }
    tracing::info!(
        findings,
        read_errors,
        shared_regions,
        next_scan_in_seconds = delay.as_secs(),
        "scanned"
    );
    Ok(if failed {
        let ready_reason = if read_anything {
            reason::SCAN_INCOMPLETE
        } else {
            reason::SCAN_FAILED
        };
        Step::recoverable(ready_reason, delay)
    } else {
        Step::scanned(delay)
    })
}

/// One shutdown signal for the whole process: SIGTERM or SIGINT. A second one exits at
/// once.
#[derive(Clone)]
struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    fn install() -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut terminate = match tokio::signal::unix::signal(
                tokio::signal::unix::SignalKind::terminate(),
            ) {
                Ok(signal) => Some(signal),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the operator gracefully");
                    None
                }
            };
            let mut signals = 0;
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    Some(()) = async { match terminate.as_mut() { Some(t) => t.recv().await, None => None } } => {}
                }
                signals += 1;
                if signals > 1 {
                    tracing::warn!("second shutdown signal: exiting now");
                    std::process::exit(130);
                }
                tracing::info!("shutting down: finishing the reconciles in flight");
                let _ = tx.send(true);
            }
        });
        Shutdown(rx)
    }

    fn from(rx: tokio::sync::watch::Receiver<bool>) -> Self {
        Shutdown(rx)
    }

    async fn wait(self) {
        let mut rx = self.0;
        // An error means the sender is gone, which happens only at process exit.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// `apigw-compliance run`: runs the operator until SIGTERM. Returns the exit code.
pub fn main(args: RunArgs) -> ExitCode {
    telemetry::init(args.log_format);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)
        .and_then(|runtime| runtime.block_on(run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the operator stopped");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the operator until the shutdown signal (or the loss of the leader lease).
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let shutdown = Shutdown::install();
    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(HttpState::new(metrics.clone()));
    let (listener, bound) = http::bind(args.http_addr).await?;
    tracing::info!(address = %bound, "serving /healthz, /readyz and /metrics");
    tokio::spawn(http::serve(
        listener,
        state.clone(),
        shutdown.clone().wait(),
    ));

    let tenancy = match &args.tenancy_config {
        Some(path) => Tenancy::load(path)?,
        None => Tenancy::default(),
    };
    if tenancy.denies_everything() {
        tracing::warn!(
            "the tenancy configuration grants nothing: every profile will be Stalled with RoleNotAllowed (give --tenancy-config; see docs/operator.md)"
        );
    }

    let client = Client::try_default().await.map_err(RunError::Kubernetes)?;
    let api: Api<ComplianceProfile> = match &args.watch_namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    tokio::spawn(report_readiness(
        api.clone(),
        state.clone(),
        shutdown.clone(),
    ));

    let base = load_sdk_config(
        args.max_attempts,
        Duration::from_secs(args.aws_read_timeout_seconds.max(1)),
    )
    .await;
    // The cache of profiles keeps only what reconciles read: managedFields and
    // annotations (kubectl's last-applied-configuration is a second copy of the spec)
    // are dropped as objects arrive.
    let (store, writer) = reflector::store();
    let profiles = watcher(api, watcher::Config::default())
        .modify(trim_cached_profile)
        .reflect(writer)
        .applied_objects();
    let controller = Controller::for_stream(profiles, store)
        .with_config(ControllerConfig::default().concurrency(args.concurrency));
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = hostname();
        format!("{host}-{}", std::process::id())
    });
    let ctx = Arc::new(Context {
        client: client.clone(),
        tenancy,
        aws: AwsAccess::new(base, metrics.clone()),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: MANAGER.into(),
                instance: Some(identity.clone()),
            },
        ),
        metrics: metrics.clone(),
        store: controller.store(),
        read_base: ReadOptions {
            api_concurrency: args.api_concurrency,
            ..ReadOptions::default()
        },
        limiter: AwsRateLimiter::counted(
            RateLimit::new(args.aws_rate_limit, args.aws_burst),
            Some(metrics.clone()),
        ),
        inventories: InventoryCache::default(),
        max_inventory_age: args.inventory_max_age_seconds.map(Duration::from_secs),
        evaluation: Arc::new(tokio::sync::Semaphore::new(1)),
        failures: Default::default(),
        scans: Default::default(),
        writes: Default::default(),
        instance: identity.clone(),
    });
    match ctx.limiter.rate_limit() {
        Some(limit) => tracing::info!(
            requests_per_second = limit.per_second,
            burst = limit.burst,
            "API Gateway requests are limited per account and region"
        ),
        None => tracing::warn!(
            "no client-side limit on API Gateway requests (--aws-rate-limit 0): the account's shared quota is only protected by the SDK's adaptive retry"
        ),
    }
    tokio::spawn(sweep_inventories(ctx.clone(), shutdown.clone()));

    if !args.leader_election {
        metrics.set_leader(true);
        run_controller(controller, ctx, shutdown.wait()).await;
        return Ok(());
    }

    let duration = Duration::from_secs(args.lease_duration_seconds.max(3));
    let mut elector = LeaderElector::new(
        client,
        LeaseConfig {
            name: args.lease_name.clone(),
            namespace: args.lease_namespace.clone(),
            identity,
            duration,
            retry: (duration / 5).max(Duration::from_millis(500)),
        },
    );
    if !elector.acquire(shutdown.clone().wait()).await {
        return Ok(());
    }
    metrics.set_leader(true);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let hold = async {
        let held = elector.hold(shutdown.clone().wait()).await;
        // Lost or shutting down: either way the controller stops.
        let _ = stop_tx.send(true);
        held
    };
    let ((), held) = tokio::join!(
        run_controller(controller, ctx, Shutdown::from(stop_rx).wait()),
        hold
    );
    metrics.set_leader(false);
    held?;
    elector.release().await;
    Ok(())
}

async fn run_controller(
    controller: Controller<ComplianceProfile>,
    ctx: Arc<Context>,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    controller
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(profile = %object, "reconciled"),
                // Watch errors (an API server restart, a missing CRD) are retried by the
                // controller with backoff.
                Err(e) => tracing::warn!(error = %e, "controller error"),
            }
        })
        .await;
    tracing::info!("controller stopped");
}

/// Hands the memory an evaluation freed back to the operating system. glibc keeps
/// freed memory in the arena of the thread that used it, and evaluations (the largest
/// allocations of a reconcile: every finding of a profile) run on blocking-pool
/// threads; without this the resident set grows towards the sum of every arena's
/// high-water mark instead of the largest one.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_memory() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim only walks and trims glibc's own arenas; it has no
    // preconditions and is safe to call from any thread at any time.
    unsafe {
        malloc_trim(0);
    }
}

/// Other allocators return freed memory on their own terms.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}

/// Drops expired shared reads every minute, so an idle operator holds no inventory.
async fn sweep_inventories(ctx: Arc<Context>, shutdown: Shutdown) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let before = ctx.inventories.len();
                ctx.inventories.sweep(Instant::now());
                if ctx.inventories.len() < before {
                    release_freed_memory();
                }
            }
            () = &mut stop => return,
        }
    }
}

/// What the controller's cache keeps of a profile: the spec, the status and the
/// identifying metadata, not the bookkeeping fields nothing here reads.
fn trim_cached_profile(profile: &mut ComplianceProfile) {
    profile.metadata.managed_fields = None;
    profile.metadata.annotations = None;
    profile.metadata.labels = None;
}

/// Marks the operator ready once it can list ComplianceProfiles (the API server is
/// reachable, the CRD installed, RBAC in place), retrying until then.
async fn report_readiness(api: Api<ComplianceProfile>, state: Arc<HttpState>, shutdown: Shutdown) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        match api.list_metadata(&ListParams::default().limit(1)).await {
            Ok(_) => {
                state.set_ready(true);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list ComplianceProfiles yet; is the CRD installed (kubectl apply -f crds/) and may the operator list them?")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            () = &mut stop => return,
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| MANAGER.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    #[test]
    fn due_times_turn_into_requeue_delays() {
        assert_eq!(until(Some(&at(160)), &at(100)), Duration::from_secs(60));
        assert_eq!(until(Some(&at(90)), &at(100)), Duration::ZERO);
        assert_eq!(until(None, &at(100)), Duration::ZERO);
        assert_eq!(later(&at(100), Duration::from_secs(30)), at(130));
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes_and_the_interval() {
        let hour = Duration::from_secs(3600);
        assert_eq!(backoff_delay(0, hour), Duration::from_secs(5));
        assert_eq!(backoff_delay(3, hour), Duration::from_secs(40));
        assert_eq!(backoff_delay(30, hour), BACKOFF_MAX);
        assert_eq!(
            backoff_delay(30, Duration::from_secs(60)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn event_reasons_are_condition_reasons() {
        assert_eq!(
            stall_event_reason(reason::ROLE_NOT_ALLOWED),
            reason::ROLE_NOT_ALLOWED
        );
        assert_eq!(stall_event_reason("SomethingElse"), reason::SCAN_FAILED);
    }
}
