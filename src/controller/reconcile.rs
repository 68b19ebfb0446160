//! One reconcile of one profile, as a list of stages. Only the first stages (the spec,
//! the tenancy, whether a scan is due) and the last (the status, Events) touch the API
//! server; the middle is the pipeline (`crate::pipeline`), whose ends alone touch AWS:
//!
//! ```text
//! check_spec -> check_tenancy -> due -> announce -> identity -> read -> evaluate
//!   -> policy reports -> remediate -> report
//! ```
//!
//! The policy reports (`reports`) are written from the findings before remediation,
//! which holds no findings (they are the largest allocation of a reconcile), and
//! before the status write, which then points to them and says whether they hold the
//! scan (one status write per scan, as before).
//!
//! A scan is due on the profile's schedule, for a new spec, when a change event asked
//! for it (the held inventory, patched by the event, is evaluated: no sweep), or when
//! the `apigwcompliance.io/requested-scan-at` annotation has a new value (a fresh read).
//!
//! A stage either hands its result to the next or ends the reconcile with a [`Step`]
//! (`ControlFlow::Break`), having written the status that says why.
//!
//! No self-triggering loop: our own status write comes back as a watch event, but the
//! status then says the current generation was scanned and when the next scan is due,
//! so that reconcile makes no AWS call and writes nothing; it only requeues at the due
//! time.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use futures::StreamExt as _;

use crate::aws::identity::{Identity, ScanIdentity};
use crate::crd::status::{ExpiredExemption, now, reason};
use crate::crd::{ComplianceProfile, ComplianceProfileStatus, RemediationMode};
use crate::inventory::Inventory;
use crate::inventory::cache::{SharedRead, max_age};
use crate::inventory::reader::ReadOptions;
use crate::metrics::{Outcome, ReadSource};
use crate::model::outcome::{ApplyOutcome, ItemStatus, Mode};
use crate::model::plan::RemediationPlan;
use crate::pipeline::accounts::{self, DiscoveryError};
use crate::pipeline::{self, Scan, Verdicts};
use crate::report::remediation::RemediationReport;

use super::context::{Context, Error, Step, all_terminal};
use super::events::ResourceNames;
use super::status::{self, ScanResult};

/// Why a reconcile scans.
#[derive(Clone, Debug, PartialEq)]
enum Why {
    /// The schedule, or a new spec: reads are shared within their freshness window.
    Scheduled,
    /// A change event patched the held inventory: evaluate what is held.
    Changed,
    /// The scan-request annotation has this new value: read afresh.
    Requested(String),
}

/// What every stage knows about the reconcile.
struct Run<'a> {
    profile: &'a Arc<ComplianceProfile>,
    ctx: &'a Context,
    key: ObjectRef<ComplianceProfile>,
    namespace: String,
    generation: Option<i64>,
    /// The status the object had when the reconcile started.
    before: Option<&'a ComplianceProfileStatus>,
    /// The status as last written by this reconcile.
    current: Option<ComplianceProfileStatus>,
    now: Time,
    /// The change-event revision asked of this profile when the reconcile started.
    asked: Option<u64>,
}

/// A stage's result: go on with `T`, or end with a step.
type Flow<T> = ControlFlow<Result<Step, Error>, T>;

pub(super) async fn reconcile(
    profile: Arc<ComplianceProfile>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        namespace = profile.namespace().unwrap_or_default(),
        profile = profile.name_any()
    );
    let _running = ctx.health.reconciling(&ctx.metrics);
    let key = ObjectRef::from_obj(&*profile);
    let asked = ctx.requests.pending(&key);
    let reconciled = isolated(tracing::Instrument::instrument(
        reconcile_profile(&profile, &ctx, asked),
        span.clone(),
    ))
    .await;
    let result = match reconciled {
        Ok(result) => result,
        Err(panic) => {
            let _entered = span.enter();
            tracing::error!(panic = %panic, "the reconcile of this profile panicked; the profile is stalled, the others go on");
            stall_after_panic(&profile, &ctx, panic).await
        }
    };
    // Whatever the reconcile wrote is the answer to the change events asked before it
    // started (a scan, or the stall that prevents one); a failed status write is not.
    if let (Ok(_), Some(revision)) = (&result, asked) {
        ctx.requests.done(&key, revision);
    }
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

/// Runs `reconcile`, turning a panic into an error carrying its message: a bug met by
/// one profile stalls that profile, never the controller and the other profiles.
async fn isolated<T>(reconcile: impl std::future::Future<Output = T>) -> Result<T, String> {
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(reconcile)
        .catch_unwind()
        .await
        .map_err(|payload| {
            payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string())
        })
}

/// The profile's status after a panic: Stalled with `InternalError` until its spec
/// changes.
async fn stall_after_panic(
    profile: &ComplianceProfile,
    ctx: &Context,
    panic: String,
) -> Result<Step, Error> {
    let before = profile.status.as_ref();
    let new = status::stalled(
        before,
        profile.metadata.generation,
        reason::INTERNAL_ERROR,
        format!(
            "apigw-compliance hit a bug while reconciling this profile ({panic}); it is retried when the spec changes; please report it with the profile's spec"
        ),
        &now(),
    );
    let found = ctx.write_status(profile, before, &new).await?;
    ctx.events.scan(profile, before, &new).await;
    Ok(Step::stalled(reason::INTERNAL_ERROR, found))
}

pub(super) fn error_policy(
    profile: Arc<ComplianceProfile>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let delay = ctx.memory.backoff(
        &ObjectRef::from_obj(&*profile),
        Duration::from_secs(5 * 60),
        false,
    );
    tracing::warn!(error = %error, retry_in_seconds = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

async fn reconcile_profile(
    profile: &Arc<ComplianceProfile>,
    ctx: &Context,
    asked: Option<u64>,
) -> Result<Step, Error> {
    let mut run = Run {
        profile,
        ctx,
        key: ObjectRef::from_obj(&**profile),
        namespace: profile.namespace().unwrap_or_default(),
        generation: profile.metadata.generation,
        before: profile.status.as_ref(),
        current: profile.status.clone(),
        now: now(),
        asked,
    };
    macro_rules! stage {
        ($flow:expr) => {
            match $flow {
                ControlFlow::Continue(value) => value,
                ControlFlow::Break(step) => return step,
            }
        };
    }
    let (scan, interval) = stage!(check_spec(&run).await);
    stage!(check_tenancy(&run).await);
    let why = stage!(due(&run).await);
    stage!(announce(&mut run).await);
    let accounts = stage!(accounts(&mut run, interval).await);
    let accounts = read(&run, &scan, accounts, interval, &why).await;
    let (scan, verdicts) = evaluate(ctx, scan, &accounts, &run.now).await;
    report(&mut run, scan, verdicts, accounts, interval, why).await
}

/// One account of a scan: the account of the profile's identity, or one member account
/// of its organization.
struct AccountScan {
    /// The account, when known (always, for a member account).
    account: Option<String>,
    /// What the account's reads are shared, and its writes recorded, under.
    key: Identity,
    /// `None`: the member role was refused; `refused` then holds that error.
    identity: Option<ScanIdentity>,
    /// One read per region of the scope.
    reads: Vec<SharedRead>,
    refused: Option<Arc<Inventory>>,
}

impl AccountScan {
    /// What was read in the account, each read with the account it is of.
    fn inventories(&self) -> impl Iterator<Item = &Arc<Inventory>> {
        self.reads
            .iter()
            .map(|read| &read.inventory)
            .chain(self.refused.as_ref())
    }
}

/// 1. The spec, as the API server should already have checked it, plus what it cannot
///    check (glob syntax). Terminal: only a spec change helps.
async fn check_spec(run: &Run<'_>) -> Flow<(Scan, Duration)> {
    let spec = &run.profile.spec;
    let checked = Scan::new(spec.clone()).and_then(|scan| Ok((scan, spec.interval()?)));
    match checked {
        Ok(checked) => ControlFlow::Continue(checked),
        Err(e) => ControlFlow::Break(stall(run, reason::INVALID_SPEC, e.to_string()).await),
    }
}

/// 2. Tenancy (the role, its external id, Enforce), before any AWS call. Terminal
///    until the spec or the operator's configuration changes.
async fn check_tenancy(run: &Run<'_>) -> Flow<()> {
    match run.ctx.tenancy.check(&run.namespace, &run.profile.spec) {
        Ok(()) => ControlFlow::Continue(()),
        Err(denial) => {
            ControlFlow::Break(stall(run, reason::ROLE_NOT_ALLOWED, denial.to_string()).await)
        }
    }
}

async fn stall(run: &Run<'_>, why: &'static str, message: String) -> Result<Step, Error> {
    let new = status::stalled(run.before, run.generation, why, message, &run.now);
    let found = run.ctx.write_status(run.profile, run.before, &new).await?;
    run.ctx.events.scan(run.profile, run.before, &new).await;
    Ok(Step::stalled(why, found))
}

/// 3. Nothing due: typically the watch event of our own status write. Then only the
///    change-events condition is brought up to date, if the queues' health changed.
async fn due(run: &Run<'_>) -> Flow<Why> {
    let requested = run
        .profile
        .annotations()
        .get(super::SCAN_REQUEST_ANNOTATION)
        .filter(|value| !value.trim().is_empty())
        .filter(|value| {
            run.before.and_then(|s| s.requested_scan_at.as_ref()) != Some(*value)
                && !run.ctx.memory.requested(&run.key, value)
        });
    if let Some(value) = requested {
        return ControlFlow::Continue(Why::Requested(value.clone()));
    }
    if run.asked.is_some() {
        return ControlFlow::Continue(Why::Changed);
    }
    let skipped = match not_due(run) {
        Some(step) => step,
        None => return ControlFlow::Continue(Why::Scheduled),
    };
    // Only the queues' health can have changed; without queues there is nothing to
    // write (this runs for every watch event of our own status writes).
    if let Some(before) = run
        .before
        .filter(|_| run.ctx.requests.condition().is_some())
        && let Err(e) = run.ctx.write_status(run.profile, run.before, before).await
    {
        return ControlFlow::Break(Err(e));
    }
    ControlFlow::Break(Ok(skipped))
}

/// The step that ends a reconcile with no scan due.
fn not_due(run: &Run<'_>) -> Option<Step> {
    if let Some(next) = run
        .ctx
        .memory
        .scanned_until(&run.key, run.generation, &run.now)
    {
        return Some(Step::skipped(until(Some(&next), &run.now)));
    }
    if !status::scan_due(run.before, run.generation, &run.now) {
        let next = run.before.and_then(|s| s.next_scan_time.as_ref());
        return Some(Step::skipped(until(next, &run.now)));
    }
    None
}

/// 4. A new generation: say so before the (possibly long) scan.
async fn announce(run: &mut Run<'_>) -> Flow<()> {
    if run.before.and_then(|s| s.observed_generation) != run.generation {
        let scanning = status::scanning(run.before, run.generation, &run.now);
        if let Err(e) = run
            .ctx
            .write_status(run.profile, run.before, &scanning)
            .await
        {
            return ControlFlow::Break(Err(e));
        }
        run.current = Some(scanning);
    }
    ControlFlow::Continue(())
}

/// 5. The accounts and the AWS identity for each: the operator's own or the
///    profile's role (one account); or, for an organization, the member role in each
///    account the organization lists (a refused member role is an error of that
///    account alone, reported with the verdicts of the others).
async fn accounts(run: &mut Run<'_>, interval: Duration) -> Flow<Vec<AccountScan>> {
    let ctx = run.ctx;
    let scope = &run.profile.spec.scope;
    let first_region = scope
        .regions
        .first()
        .map(String::as_str)
        .unwrap_or("us-east-1");
    let members = match accounts::discover(&ctx.aws, scope, first_region).await {
        None => {
            let key = Identity::new(scope.role_arn.as_deref(), scope.external_id.as_deref());
            return match ctx.aws.identity(&key, first_region).await {
                Ok(identity) => ControlFlow::Continue(vec![AccountScan {
                    account: identity.account.clone(),
                    key,
                    identity: Some(identity),
                    reads: Vec::new(),
                    refused: None,
                }]),
                Err(e) => ControlFlow::Break(
                    unavailable(
                        run,
                        interval,
                        reason::CREDENTIALS_UNAVAILABLE,
                        e.to_string(),
                        e.kind.is_terminal(),
                    )
                    .await,
                ),
            };
        }
        Some(Ok(members)) => {
            ctx.record_members(
                &run.key,
                members.iter().map(|m| m.identity.clone()).collect(),
            );
            members
        }
        Some(Err(e)) => {
            let why = match e {
                DiscoveryError::Lister(_) => reason::CREDENTIALS_UNAVAILABLE,
                DiscoveryError::Organization(_) => reason::ORGANIZATION_UNREADABLE,
            };
            let terminal = e.is_terminal();
            return ControlFlow::Break(
                unavailable(run, interval, why, e.to_string(), terminal).await,
            );
        }
    };
    let accounts = futures::stream::iter(members)
        .map(|member| async move {
            let identity = ctx.aws.identity(&member.identity, first_region).await;
            let refused = identity
                .as_ref()
                .err()
                .map(|e| Arc::new(accounts::unreachable(&member.account, &scope.regions, e)));
            AccountScan {
                account: Some(member.account),
                key: member.identity,
                identity: identity.ok(),
                reads: Vec::new(),
                refused,
            }
        })
        .buffered(accounts::ACCOUNT_CONCURRENCY)
        .collect()
        .await;
    ControlFlow::Continue(accounts)
}

/// Ends a reconcile whose scan could not start (`why`: credentials, or the
/// organization unreadable), retried with backoff.
async fn unavailable(
    run: &Run<'_>,
    interval: Duration,
    why: &'static str,
    message: String,
    terminal: bool,
) -> Result<Step, Error> {
    let delay = run.ctx.memory.backoff(&run.key, interval, terminal);
    let new = status::credentials_unavailable(
        run.current.as_ref(),
        run.generation,
        why,
        message,
        &run.now,
        &later(&run.now, delay),
    );
    run.ctx
        .write_status(run.profile, run.current.as_ref(), &new)
        .await?;
    run.ctx.events.scan(run.profile, run.before, &new).await;
    Ok(Step::failed(why, delay, terminal))
}

/// 6. Read: one read per identity and region, shared with the profiles that overlap
///    it, every API Gateway request paced by the account's rate limit; the accounts of
///    an organization several at once. The cache of profiles fills in one go when the
///    initial list completes; until then it could not say what the other profiles need
///    read. An error means the watch is gone (shutdown): the read then covers this
///    profile alone.
async fn read(
    run: &Run<'_>,
    scan: &Scan,
    accounts: Vec<AccountScan>,
    interval: Duration,
    why: &Why,
) -> Vec<AccountScan> {
    let ctx = run.ctx;
    let _ = ctx.store.wait_until_ready().await;
    let regions = &run.profile.spec.scope.regions;
    let needs = scan.needs();
    futures::stream::iter(accounts)
        .map(|mut account| async move {
            let Some(identity) = &account.identity else {
                return account;
            };
            let options = ReadOptions {
                retry_partition: Some(identity.key.clone()),
                ..ctx.read_base.clone()
            };
            let oldest = match why {
                Why::Requested(_) => Duration::ZERO,
                Why::Scheduled | Why::Changed => ctx.writes.max_age(
                    &account.key,
                    regions,
                    max_age(interval, ctx.max_inventory_age),
                    Instant::now(),
                ),
            };
            let reads = ctx
                .read_regions(
                    &account.key,
                    regions,
                    needs,
                    oldest,
                    &identity.sdk,
                    &options,
                    &run.now,
                    *why == Why::Changed,
                )
                .await;
            for (region, read) in regions.iter().zip(&reads) {
                let source = if read.fresh {
                    ReadSource::aws
                } else {
                    ReadSource::shared
                };
                ctx.metrics.inventory_read(region, source);
                if read.fresh {
                    for error in &read.inventory.errors {
                        ctx.metrics.read_error(&error.region, error.kind);
                    }
                }
            }
            account.reads = reads;
            account
        })
        .buffered(accounts::ACCOUNT_CONCURRENCY)
        .collect()
        .await
}

/// 7. Scope, evaluate, exempt (pure, CPU-bound): on a blocking thread, one at a time
///    (see `Context::evaluation`), borrowing the shared reads; each read's account goes
///    on its findings and errors.
async fn evaluate(
    ctx: &Context,
    scan: Scan,
    accounts: &[AccountScan],
    now: &Time,
) -> (Scan, Verdicts) {
    let permit = ctx.evaluation.clone().acquire_owned().await.ok();
    let reads: Vec<(Arc<Inventory>, Option<String>)> = accounts
        .iter()
        .flat_map(|a| {
            a.inventories()
                .map(|read| (read.clone(), a.account.clone()))
        })
        .collect();
    let now = now.0;
    let evaluated = tokio::task::spawn_blocking(move || {
        let verdicts = scan.evaluate_accounts(
            reads
                .iter()
                .map(|(read, account)| (&**read, account.as_deref())),
            now,
        );
        (scan, verdicts)
    })
    .await;
    drop(permit);
    match evaluated {
        Ok(evaluated) => evaluated,
        // The evaluation is pure: a panic there is a bug; re-raised here, it stalls this
        // profile alone (`isolated`).
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// 8 and 9. The status (counts, failing findings, conditions), remediation (DryRun,
///    Enforce) with the scan's identity, then the status write and Events.
async fn report(
    run: &mut Run<'_>,
    scan: Scan,
    verdicts: Verdicts,
    accounts: Vec<AccountScan>,
    interval: Duration,
    why: Why,
) -> Result<Step, Error> {
    let ctx = run.ctx;
    let spec = &run.profile.spec;
    for invalid in &verdicts.exemptions.invalid {
        // validate() refuses these; a profile stored before that check lands here.
        tracing::warn!(exemption = %invalid, "exemption not applied");
    }
    let failed = !verdicts.errors.is_empty();
    let terminal = all_terminal(verdicts.errors.iter().map(|e| e.kind));
    // The data is as old as its oldest read: the next scan is due an interval after
    // it, so profiles sharing reads fall due together (see inventory::cache).
    let reads = || accounts.iter().flat_map(|a| &a.reads);
    let read_at = reads()
        .map(|r| r.started_at.clone())
        .min_by(|a, b| a.0.cmp(&b.0))
        .unwrap_or_else(|| run.now.clone());
    let (delay, next) = if failed {
        let delay = ctx.memory.backoff(&run.key, interval, terminal);
        (delay, later(&run.now, delay))
    } else {
        ctx.memory.succeeded(&run.key);
        let next = later(&read_at, interval);
        // A read whose first caller was cancelled can be older than its data; never
        // schedule into the past.
        if next.0 > run.now.0 {
            (until(Some(&next), &run.now), next)
        } else {
            (interval, later(&run.now, interval))
        }
    };
    let shared_regions = reads().filter(|r| !r.fresh).count();
    let organization = spec.scope.organization.is_some();
    let result = ScanResult {
        findings: verdicts.findings,
        read_errors: verdicts.errors,
        read_anything: verdicts.read_anything,
        expired_exemptions: verdicts
            .exemptions
            .expired
            .iter()
            .map(|e| ExpiredExemption {
                control: e.control,
                resource_arn_glob: e.resource_arn_glob.clone(),
                expires: e.expired_at.to_string(),
            })
            .collect(),
        account: if organization {
            None
        } else {
            accounts.first().and_then(|a| a.account.clone())
        },
        accounts: if organization {
            accounts.iter().filter_map(|a| a.account.clone()).collect()
        } else {
            Vec::new()
        },
        regions: spec.scope.regions.clone(),
    };
    ctx.metrics.scanned(
        &run.namespace,
        &run.profile.name_any(),
        (!result.read_nothing()).then_some(result.findings.as_slice()),
        result.read_errors.is_empty(),
        run.now.0.as_second(),
    );
    let new = status::scanned(
        run.current.as_ref(),
        run.generation,
        spec.remediation.mode,
        &result,
        &run.now,
        &next,
    );
    // The plan is pure and needs the findings, so it is made before they go; a scan
    // that read nothing has nothing to act on.
    let mode = match spec.remediation.mode {
        RemediationMode::Observe => None,
        RemediationMode::DryRun => Some(Mode::DryRun),
        RemediationMode::Enforce => Some(Mode::Enforce),
    };
    // Each account's changes are planned on its own reads; the profile's
    // maxChangesPerScan is shared by the accounts, in order.
    let planned = match mode.filter(|_| !result.read_nothing()) {
        Some(mode) => {
            let mut plans = Vec::new();
            for account in &accounts {
                let Some(identity) = &account.identity else {
                    continue;
                };
                let inventories: Vec<&Inventory> =
                    account.reads.iter().map(|r| &*r.inventory).collect();
                let findings =
                    pipeline::accounts::findings_of(&result.findings, account.account.as_deref());
                plans.push(
                    super::writers::plan(
                        ctx,
                        run.profile,
                        &scan,
                        &inventories,
                        findings,
                        identity,
                        &run.now,
                    )
                    .await,
                );
            }
            RemediationPlan::share_changes(&mut plans);
            Some((mode, plans))
        }
        None => None,
    };
    let new = if result.read_nothing() {
        // Nothing read, nothing new: the reports keep the last scan that read anything.
        new
    } else {
        let written = ctx
            .reports
            .write(
                run.profile,
                result.account.as_deref(),
                &result.findings,
                &run.now,
            )
            .await;
        status::with_reports(new, written.as_ref(), &run.now)
    };
    let (findings, read_errors) = (result.findings.len(), result.read_errors.len());
    // What the Security Hub export sends is decided now; it is sent once the scan's
    // status is written.
    let export = (!result.read_nothing())
        .then(|| {
            ctx.securityhub
                .plan(run.profile, &result.findings, &result.read_errors)
        })
        .flatten();
    // The Events of remediation lead with the names of the resources it touched.
    let names = planned
        .as_ref()
        .map(|(_, plans)| {
            ResourceNames::of(
                &RemediationPlan::merge(plans.iter().cloned()),
                &result.findings,
            )
        })
        .unwrap_or_default();
    drop(result);
    // The identities stay for remediation and the export; the reads go.
    let identities: Vec<(Identity, ScanIdentity)> = accounts
        .into_iter()
        .filter_map(|a| a.identity.map(|identity| (a.key, identity)))
        .collect();
    super::memory::release_freed_memory();

    let remediation = match planned {
        Some((mode, plans)) => {
            let mut applied_plans = Vec::with_capacity(plans.len());
            let mut outcomes = Vec::with_capacity(plans.len());
            for (plan, (key, identity)) in plans.into_iter().zip(&identities) {
                let report = remediate(run, key, identity, mode, plan).await;
                applied_plans.push(report.plan);
                outcomes.push(report.outcome);
            }
            Some(RemediationReport {
                mode,
                plan: RemediationPlan::merge(applied_plans),
                outcome: ApplyOutcome::merge(outcomes),
            })
        }
        None => None,
    };
    let mut new = match &remediation {
        Some(report) => status::remediated(new, run.current.as_ref(), report, &run.now),
        None => new,
    };
    let request = match why {
        Why::Requested(value) => Some(value),
        Why::Scheduled | Why::Changed => None,
    };
    if let Some(value) = &request {
        new.requested_scan_at = Some(value.clone());
    }

    ctx.write_status(run.profile, run.current.as_ref(), &new)
        .await?;
    ctx.memory.record_scan(&run.key, run.generation, &next);
    if let Some(value) = &request {
        ctx.memory.record_request(&run.key, value);
    }
    ctx.events.scan(run.profile, run.before, &new).await;
    if let Some(report) = &remediation {
        ctx.events
            .remediation(run.profile, report, run.current.as_ref(), &new, &names)
            .await;
    }
    if let Some(export) = export {
        let identities: Vec<&ScanIdentity> = identities.iter().map(|(_, i)| i).collect();
        ctx.securityhub
            .export(
                ctx,
                run.profile,
                &identities,
                export,
                &new,
                run.current.as_ref(),
            )
            .await?;
    }
    tracing::info!(
        findings,
        read_errors,
        shared_regions,
        next_scan_in_seconds = delay.as_secs(),
        "scanned"
    );
    Ok(if failed {
        let ready_reason = if verdicts.read_anything {
            reason::SCAN_INCOMPLETE
        } else {
            reason::SCAN_FAILED
        };
        Step::failed(ready_reason, delay, terminal)
    } else {
        Step::scanned(delay)
    })
}

/// Applies (Enforce) or checks and shows (DryRun) the plan with the scan's identity,
/// within what the account's write cap leaves (Enforce), then counts its items and
/// records where it wrote.
async fn remediate(
    run: &Run<'_>,
    key: &Identity,
    identity: &ScanIdentity,
    mode: Mode,
    mut plan: crate::model::plan::RemediationPlan,
) -> RemediationReport {
    let ctx = run.ctx;
    let taken_at = Instant::now();
    let taken = (mode == Mode::Enforce)
        .then(|| {
            ctx.account_writes
                .take(&identity.key, plan.changes.len(), taken_at)
        })
        .flatten();
    if let Some(allowed) = taken {
        plan.hold_beyond(allowed, &ctx.account_writes.hold(&identity.key));
    }
    let outcome =
        pipeline::remediate(mode, &plan, &identity.sdk, Some(ctx.write_gate.clone())).await;
    if let Some(allowed) = taken {
        let sent = outcome
            .changes
            .iter()
            .filter(|c| c.items.iter().any(|i| i.status == ItemStatus::Applied))
            .count();
        ctx.account_writes
            .give_back(&identity.key, taken_at, allowed.saturating_sub(sent));
    }
    ctx.writes.record(key, &outcome, Instant::now());
    ctx.metrics.remediated(&outcome);
    let summary = outcome.summary();
    tracing::info!(
        mode = ?mode,
        changes = plan.changes.len(),
        pending = plan.pending.len(),
        held = plan.held.len(),
        unplanned = plan.unplanned.len(),
        applied = summary.applied,
        would_apply = summary.would_apply,
        already_compliant = summary.already_compliant,
        changed_since_plan = summary.changed_since_plan,
        failed = summary.failed,
        blocked = summary.blocked,
        "remediation"
    );
    RemediationReport {
        mode,
        plan,
        outcome,
    }
}

fn until(time: Option<&Time>, now: &Time) -> Duration {
    time.and_then(|t| t.0.duration_since(now.0).try_into().ok())
        .unwrap_or(Duration::ZERO)
}

fn later(now: &Time, after: Duration) -> Time {
    Time(now.0.checked_add(after).unwrap_or(now.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    #[tokio::test]
    async fn a_panic_in_a_reconcile_becomes_its_error() {
        assert_eq!(isolated(async { 7 }).await, Ok(7));
        let panicked = isolated(async {
            let empty: Vec<u8> = Vec::new();
            // An out-of-bounds index: a bug as it would happen.
            empty[usize::from(empty.is_empty())]
        })
        .await;
        assert!(
            panicked
                .as_ref()
                .is_err_and(|message| message.contains("index out of bounds")),
            "{panicked:?}"
        );
        let with_text = isolated(async { std::panic::panic_any("evaluation bug") }).await;
        assert_eq!(with_text, Err::<(), _>("evaluation bug".to_string()));
    }

    #[test]
    fn due_times_turn_into_requeue_delays() {
        assert_eq!(until(Some(&at(160)), &at(100)), Duration::from_secs(60));
        assert_eq!(until(Some(&at(90)), &at(100)), Duration::ZERO);
        assert_eq!(until(None, &at(100)), Duration::ZERO);
        assert_eq!(later(&at(100), Duration::from_secs(30)), at(130));
    }
}
