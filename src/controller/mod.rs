//! The operator (`apigw-compliance run`): a kube-runtime Controller over
//! ComplianceProfiles, around the same pipeline as `scan` (`crate::pipeline`).
//!
//! This module wires the process together: the HTTP endpoints, the tenancy, the AWS
//! access, the watch on profiles, leader election and the shutdown signal. A reconcile
//! is a list of stages ([`reconcile`]); what it shares with the others is its
//! [`context`]; the status it writes is built by [`status`] (pure), the Events it
//! records by [`events`]. Errors are classified once: terminal ones (an invalid spec, a
//! role not allowed) set `Stalled` and wait for a change; AWS failures retry, soon when
//! recoverable (throttling, outages, credentials) and slowly when terminal (access
//! denied, not found); Kubernetes API errors back off per profile.

mod args;
mod changes;
mod context;
mod events;
pub mod leader;
mod memory;
mod reconcile;
mod reports;
mod requests;
mod securityhub;
pub mod status;
pub mod tenancy;
mod writers;
mod writes;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::ListParams;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use crate::aws::client::{AwsHttp, RateLimit};
use crate::aws::identity::AwsAccess;
use crate::aws::load_sdk_config;
use crate::changes::queue::Queue;
use crate::crd::ComplianceProfile;
use crate::http::{self, HttpState};
use crate::inventory::cache::InventoryCache;
use crate::inventory::reader::ReadOptions;
use crate::metrics::Metrics;
use crate::pipeline::apply::WriteGate;
use crate::pipeline::ownership::OwnershipTags;
use crate::telemetry;

pub use args::{MANAGER, ReportApiArg, RunArgs};
use context::Context;
use events::Events;
use leader::{LeaderElector, LeaseConfig};
use tenancy::Tenancy;

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
    let stall_after = Duration::from_secs(args.liveness_stall_seconds);
    let longest_call =
        Duration::from_secs(args.aws_read_timeout_seconds).saturating_mul(args.max_attempts.max(1));
    if stall_after <= longest_call {
        tracing::warn!(
            liveness_stall_seconds = args.liveness_stall_seconds,
            longest_call_seconds = longest_call.as_secs(),
            "--liveness-stall-seconds is not above --max-attempts x --aws-read-timeout-seconds: one slow AWS call can fail /healthz and restart the operator"
        );
    }
    let state = Arc::new(HttpState::new(metrics.clone(), stall_after));
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
    if tenancy.legacy_entries() > 0 {
        tracing::warn!(
            entries = tenancy.legacy_entries(),
            "tenancy entries with allowedRoleArns or allowOperatorIdentity grant no external id and no Enforce: profiles using an external id or Enforce under them are Stalled; grant roles[] with externalId and enforce, and operatorIdentity (docs/operator.md, Tenancy)"
        );
    }

    let client = Client::try_default().await.map_err(RunError::Kubernetes)?;
    let api: Api<ComplianceProfile> = match &args.watch_namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let selector = args
        .profile_selector
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(selector) = selector {
        tracing::info!(
            selector,
            "reconciling only the profiles whose labels match --profile-selector"
        );
    }
    tokio::spawn(report_readiness(
        api.clone(),
        selector.map(str::to_string),
        state.clone(),
        shutdown.clone(),
    ));

    let base = load_sdk_config(
        args.max_attempts,
        Duration::from_secs(args.aws_read_timeout_seconds.max(1)),
    )
    .await;
    let aws_http = AwsHttp::new(
        RateLimit::new(args.aws_rate_limit, args.aws_burst),
        Some(metrics.clone()),
    );
    // The cache of profiles keeps only what reconciles read: managedFields and
    // annotations (kubectl's last-applied-configuration is a second copy of the spec)
    // are dropped as objects arrive.
    let (store, writer) = reflector::store();
    // A deleted profile triggers no reconcile; what is kept for it (its metric series
    // above all: a firing alert) goes as soon as the watch says so, the last profile's
    // too. A relist (after a restart of the watch) may have missed deletions as well.
    let (deleted_tx, mut deleted) = tokio::sync::mpsc::unbounded_channel();
    let watch = match selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    let profiles = watcher(api, watch)
        .modify(trim_cached_profile)
        .reflect(writer)
        .inspect({
            let health = state.health.clone();
            move |event| {
                health.watch_ok(event.is_ok());
                if matches!(
                    event,
                    Ok(watcher::Event::Delete(_) | watcher::Event::InitDone)
                ) {
                    let _ = deleted_tx.send(());
                }
            }
        })
        .applied_objects();
    let queue_urls: Vec<String> = args
        .change_events_queue_urls
        .iter()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect();
    let (requests, asked) = requests::Requests::new(&queue_urls);
    let asked = futures::stream::unfold(asked, |mut asked| async move {
        asked.recv().await.map(|key| (key, asked))
    });
    let controller = Controller::for_stream(profiles, store)
        .reconcile_on(asked)
        .with_config(ControllerConfig::default().concurrency(args.concurrency));
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = hostname();
        format!("{host}-{}", std::process::id())
    });
    match aws_http.rate_limit() {
        Some(limit) => tracing::info!(
            requests_per_second = limit.per_second,
            burst = limit.burst,
            "API Gateway requests are limited per account and region"
        ),
        None => tracing::warn!(
            "no client-side limit on API Gateway requests (--aws-rate-limit 0): the account's shared quota is only protected by the SDK's adaptive retry"
        ),
    }
    // Set once this replica takes part in leader election; unset, every write may go.
    let leadership: Arc<std::sync::OnceLock<leader::Leadership>> = Arc::default();
    let ctx = Arc::new(Context {
        client: client.clone(),
        tenancy,
        aws: AwsAccess::new(base, aws_http),
        events: Events::new(client.clone(), identity.clone()),
        metrics: metrics.clone(),
        store: controller.store(),
        read_base: ReadOptions {
            api_concurrency: args.api_concurrency,
            ..ReadOptions::default()
        },
        inventories: if queue_urls.is_empty() {
            InventoryCache::default()
        } else {
            InventoryCache::holding()
        },
        max_inventory_age: args.inventory_max_age_seconds.map(Duration::from_secs),
        evaluation: Arc::new(tokio::sync::Semaphore::new(1)),
        memory: Default::default(),
        writes: Default::default(),
        requests,
        health: state.health.clone(),
        write_gate: write_gate(&shutdown, &leadership),
        securityhub: Default::default(),
        reports: reports::Reports::new(client.clone(), args.report_api.api(), metrics.clone()),
        ownership: OwnershipTags::new(args.ownership_tags.iter().cloned()),
        account_writes: writers::AccountWrites::new(
            args.account_max_changes,
            Duration::from_secs(args.account_changes_window_seconds),
        ),
        members: Default::default(),
    });
    tokio::spawn(sweep_inventories(ctx.clone(), shutdown.clone()));
    {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            while deleted.recv().await.is_some() {
                ctx.forget_deleted_profiles();
            }
        });
    }
    let change_options = changes::ChangeOptions {
        debounce: Duration::from_millis(args.change_events_debounce_ms),
        visibility: Duration::from_secs(args.change_events_visibility_seconds.max(30)),
    };

    if !args.leader_election {
        metrics.set_leader(true);
        consume_change_events(&ctx, &queue_urls, change_options, &shutdown);
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
    let _ = leadership.set(elector.leadership());
    if !elector.acquire(shutdown.clone().wait()).await {
        return Ok(());
    }
    metrics.set_leader(true);
    // Only the leader takes messages: a standby would hide them from the leader for
    // their visibility timeout without ever answering them (its controller is idle).
    // Losing the lease ends the process, and with it the consumers.
    consume_change_events(&ctx, &queue_urls, change_options, &shutdown);
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

/// What remediation asks before each write: no write starts once the operator shuts
/// down or this replica stops leading, so a write goes whole or not at all and two
/// replicas never write at once.
fn write_gate(
    shutdown: &Shutdown,
    leadership: &Arc<std::sync::OnceLock<leader::Leadership>>,
) -> WriteGate {
    let (stopping, leadership) = (shutdown.0.clone(), leadership.clone());
    WriteGate(Arc::new(move || {
        if *stopping.borrow() {
            return Err("the operator is shutting down".to_string());
        }
        match leadership.get() {
            Some(lead) if !lead.holds(Instant::now()) => {
                Err("this replica no longer holds the leader lease".to_string())
            }
            _ => Ok(()),
        }
    }))
}

/// One consumer task per change-events queue, until shutdown.
fn consume_change_events(
    ctx: &Arc<Context>,
    queue_urls: &[String],
    options: changes::ChangeOptions,
    shutdown: &Shutdown,
) {
    for url in queue_urls {
        let queue = Queue::new(ctx.aws.operator_sdk(), url);
        tokio::spawn(changes::consume(
            ctx.clone(),
            queue,
            options,
            shutdown.clone(),
        ));
    }
}

async fn run_controller(
    controller: Controller<ComplianceProfile>,
    ctx: Arc<Context>,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    controller
        .graceful_shutdown_on(stop)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
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
                    memory::release_freed_memory();
                }
            }
            () = &mut stop => return,
        }
    }
}

/// `kubectl annotate complianceprofile NAME apigwcompliance.io/requested-scan-at=...`:
/// each new value re-reads the profile's scope at once.
pub const SCAN_REQUEST_ANNOTATION: &str = "apigwcompliance.io/requested-scan-at";

/// What the controller's cache keeps of a profile: the spec, the status and the
/// identifying metadata, not the bookkeeping fields nothing here reads.
fn trim_cached_profile(profile: &mut ComplianceProfile) {
    profile.metadata.managed_fields = None;
    // Only the on-demand scan request is read.
    profile.metadata.annotations = profile
        .metadata
        .annotations
        .take()
        .and_then(|mut all| all.remove(SCAN_REQUEST_ANNOTATION))
        .map(|requested| [(SCAN_REQUEST_ANNOTATION.to_string(), requested)].into());
    profile.metadata.labels = None;
}

/// Marks the operator ready once it can list ComplianceProfiles (the API server is
/// reachable, the CRD installed, RBAC in place), retrying until then.
async fn report_readiness(
    api: Api<ComplianceProfile>,
    selector: Option<String>,
    state: Arc<HttpState>,
    shutdown: Shutdown,
) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let mut list = ListParams::default().limit(1);
    if let Some(selector) = &selector {
        list = list.labels(selector);
    }
    loop {
        match api.list_metadata(&list).await {
            Ok(_) => {
                state.health.set_listed();
                return;
            }
            Err(kube::Error::Api(status)) if status.code == 400 && selector.is_some() => {
                tracing::error!(error = %status.message, selector = selector.as_deref().unwrap_or_default(), "the API server refuses --profile-selector: give a label selector such as apigwcompliance.io/shard=a")
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
