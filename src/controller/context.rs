//! What every reconcile shares, built once: the clients, the tenancy, the AWS access,
//! the shared inventory reads, and what the process remembers per profile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::aws::identity::{AwsAccess, Identity};
use crate::crd::{ComplianceProfile, ComplianceProfileStatus};
use crate::inventory::cache::{Held, InventoryCache, ReadKey, ReadPlan, SharedRead};
use crate::inventory::reader::{ReadOptions, read_inventory};
use crate::inventory::targeted::retry_failed_parts;
use crate::inventory::{Inventory, Needs, ReadError};
use crate::metrics::{Metrics, Outcome};
use crate::model::ErrorKind;
use crate::pipeline;

use super::args::MANAGER;
use super::events::Events;
use super::reports::Reports;
use super::requests::Requests;
use super::tenancy::Tenancy;
use super::writes::Writes;

/// First retry after a recoverable failure (throttling, an outage, credentials);
/// doubled per consecutive failure.
const BACKOFF_START: Duration = Duration::from_secs(5);
/// Recoverable retries never wait longer than this (nor longer than the interval).
const BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);
/// First retry after a terminal failure (access denied, not found): retrying cannot
/// help until someone changes IAM or the resource, which the operator cannot watch, so
/// it looks again slowly, up to the profile's interval.
const TERMINAL_BACKOFF_START: Duration = Duration::from_secs(5 * 60);

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
    pub(super) client: Client,
    pub(super) tenancy: Tenancy,
    pub(super) aws: Arc<AwsAccess>,
    pub(super) events: Events,
    pub(super) metrics: Arc<Metrics>,
    pub(super) store: Store<ComplianceProfile>,
    /// Concurrency of reads; the needs and retry partition are set per read.
    pub(super) read_base: ReadOptions,
    /// Inventory reads shared by the profiles of one identity and region.
    pub(super) inventories: InventoryCache,
    /// `--inventory-max-age-seconds`.
    pub(super) max_inventory_age: Option<Duration>,
    /// One evaluation at a time: it is CPU-bound (no gain from more on a small pod) and
    /// its findings are the largest allocation of a reconcile, so this bounds memory
    /// however many profiles finish their reads together.
    pub(super) evaluation: Arc<tokio::sync::Semaphore>,
    pub(super) memory: ProfileMemory,
    /// Where remediation last wrote, so no read from before a change is reused after it.
    pub(super) writes: Writes,
    /// Re-evaluations asked by change events, and the change-events queues' health.
    pub(super) requests: Requests,
    /// What /healthz and /readyz report.
    pub(super) health: Arc<crate::http::Health>,
    /// Asked before each remediation write (leading, not shutting down).
    pub(super) write_gate: crate::pipeline::apply::WriteGate,
    /// What each profile exporting to Security Hub has imported there.
    pub(super) securityhub: super::securityhub::SecurityHubExports,
    /// The profiles' policy reports (`--report-api`).
    pub(super) reports: Reports,
    /// `--ownership-tag`: resources infrastructure as code owns are not written.
    pub(super) ownership: crate::pipeline::ownership::OwnershipTags,
    /// `--account-max-changes`: the writes each account may still take.
    pub(super) account_writes: super::writers::AccountWrites,
    /// The member roles each profile of an organization last scanned with: the
    /// identities it scans as, for [`Context::scanning`].
    pub(super) members: Mutex<HashMap<ObjectRef<ComplianceProfile>, Vec<Identity>>>,
}

/// How one reconcile ended: the classification drives the requeue, the metric label
/// and (through the status) the condition and the Event type.
pub(super) struct Step {
    pub(super) action: Action,
    pub(super) outcome: Outcome,
    pub(super) reason: Option<&'static str>,
}

impl Step {
    pub(super) fn scanned(after: Duration) -> Self {
        Step {
            action: Action::requeue(after),
            outcome: Outcome::scanned,
            reason: None,
        }
    }

    pub(super) fn skipped(after: Duration) -> Self {
        Step {
            action: Action::requeue(after),
            outcome: Outcome::skipped,
            reason: None,
        }
    }

    /// Retried after `after`: soon when the failure is recoverable, slowly when it is
    /// terminal (and counted as such).
    pub(super) fn failed(reason: &'static str, after: Duration, terminal: bool) -> Self {
        Step {
            action: Action::requeue(after),
            outcome: if terminal {
                Outcome::terminal_error
            } else {
                Outcome::recoverable_error
            },
            reason: Some(reason),
        }
    }

    /// Waits for the profile to change: retrying cannot help. Counted as an error
    /// when it was found (the status changed), not on every later event that finds
    /// the same stall (such as our own status write coming back).
    pub(super) fn stalled(reason: &'static str, found: bool) -> Self {
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

/// Whether a failure is terminal: every error it carries is (an API denied by an SCP
/// alongside a throttled one is retried soon, for the throttled one).
pub(super) fn all_terminal(kinds: impl IntoIterator<Item = ErrorKind>) -> bool {
    let mut any = false;
    for kind in kinds {
        if !kind.is_terminal() {
            return false;
        }
        any = true;
    }
    any
}

/// The wait before retry number `failures + 1`: 5s, 10s, 20s... up to 5 minutes for a
/// recoverable failure, 5m, 10m, 20m... for a terminal one; never beyond `cap` (the
/// profile's interval).
pub(super) fn backoff_delay(failures: u32, cap: Duration, terminal: bool) -> Duration {
    let (start, max) = if terminal {
        (TERMINAL_BACKOFF_START, cap)
    } else {
        (BACKOFF_START, BACKOFF_MAX)
    };
    start
        .saturating_mul(1 << failures.min(16))
        .min(max)
        .min(cap)
}

/// The generation a scan covered, and when the next one is due.
type ScanRecord = (Option<i64>, Time);

/// What the process remembers per profile: consecutive failures (for the backoff) and
/// its last scan (the watch event of our own "scanning" status write can reach a
/// reconcile before the event of the final write; the cached object then still looks
/// unfinished, and without this record the profile would be scanned twice).
#[derive(Debug, Default)]
pub(super) struct ProfileMemory {
    failures: Mutex<HashMap<ObjectRef<ComplianceProfile>, u32>>,
    scans: Mutex<HashMap<ObjectRef<ComplianceProfile>, ScanRecord>>,
    /// The scan-request annotation value last acted on, for the same reason: the
    /// cached object may not show `status.requestedScanAt` yet.
    requests: Mutex<HashMap<ObjectRef<ComplianceProfile>, String>>,
}

impl ProfileMemory {
    /// The wait before the next retry of `key`, counting this failure.
    pub(super) fn backoff(
        &self,
        key: &ObjectRef<ComplianceProfile>,
        cap: Duration,
        terminal: bool,
    ) -> Duration {
        let mut failures = lock(&self.failures);
        let n = failures.entry(key.clone()).or_default();
        let delay = backoff_delay(*n, cap, terminal);
        *n = n.saturating_add(1);
        delay
    }

    pub(super) fn succeeded(&self, key: &ObjectRef<ComplianceProfile>) {
        lock(&self.failures).remove(key);
    }

    pub(super) fn record_scan(
        &self,
        key: &ObjectRef<ComplianceProfile>,
        generation: Option<i64>,
        next: &Time,
    ) {
        lock(&self.scans).insert(key.clone(), (generation, next.clone()));
    }

    /// When this process already scanned this generation and the next scan is not due
    /// yet: the time it is due.
    pub(super) fn scanned_until(
        &self,
        key: &ObjectRef<ComplianceProfile>,
        generation: Option<i64>,
        now: &Time,
    ) -> Option<Time> {
        lock(&self.scans)
            .get(key)
            .filter(|(scanned, next)| *scanned == generation && next.0 > now.0)
            .map(|(_, next)| next.clone())
    }

    /// Notes that the scan requested with `value` was made.
    pub(super) fn record_request(&self, key: &ObjectRef<ComplianceProfile>, value: &str) {
        lock(&self.requests).insert(key.clone(), value.to_string());
    }

    /// Whether this process already made the scan requested with `value`.
    pub(super) fn requested(&self, key: &ObjectRef<ComplianceProfile>, value: &str) -> bool {
        lock(&self.requests).get(key).is_some_and(|v| v == value)
    }

    /// Drops what is kept for the profiles that no longer exist, so that memory follows
    /// the profiles there are, not all there ever were.
    pub(super) fn forget(&self, exists: impl Fn(&ObjectRef<ComplianceProfile>) -> bool) {
        lock(&self.failures).retain(|key, _| exists(key));
        lock(&self.scans).retain(|key, _| exists(key));
        lock(&self.requests).retain(|key, _| exists(key));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Context {
    /// Drops what this process keeps per profile for the profiles that no longer exist.
    pub(super) fn forget_deleted_profiles(&self) {
        let exists = |key: &ObjectRef<ComplianceProfile>| self.store.get(key).is_some();
        self.metrics
            .retain_profiles(|namespace, name| exists(&ObjectRef::new(name).within(namespace)));
        self.memory.forget(exists);
        self.requests.forget(exists);
        self.securityhub.forget(exists);
        lock(&self.members).retain(|key, _| exists(key));
    }

    /// What every profile allowed to use `key`'s identity in its region needs read:
    /// a new read covers them all, so their next scans can share it.
    fn needs_wanted(&self, key: &ReadKey) -> Needs {
        self.scanning(&key.region)
            .into_iter()
            .filter(|(_, identity)| *identity == key.identity)
            .fold(Needs::default(), |wanted, (p, _)| {
                wanted.union(pipeline::needs(&p.spec))
            })
    }

    /// The profiles that scan `region` and may (tenancy), with the identity each scans
    /// it as: a profile of an organization once per member role of its last discovery
    /// (none before its first).
    pub(super) fn scanning(&self, region: &str) -> Vec<(Arc<ComplianceProfile>, Identity)> {
        let members = lock(&self.members);
        self.store
            .state()
            .into_iter()
            .filter(|p| {
                let scope = &p.spec.scope;
                scope.regions.iter().any(|r| r == region)
                    && self
                        .tenancy
                        .check(&p.namespace().unwrap_or_default(), &p.spec)
                        .is_ok()
            })
            .flat_map(|p| {
                let scope = &p.spec.scope;
                let identities = if scope.organization.is_some() {
                    members
                        .get(&ObjectRef::from_obj(&*p))
                        .cloned()
                        .unwrap_or_default()
                } else {
                    vec![Identity::new(
                        scope.role_arn.as_deref(),
                        scope.external_id.as_deref(),
                    )]
                };
                identities
                    .into_iter()
                    .map(move |identity| (p.clone(), identity))
            })
            .collect()
    }

    /// Records the member roles a profile of an organization scans with now.
    pub(super) fn record_members(
        &self,
        profile: &ObjectRef<ComplianceProfile>,
        identities: Vec<Identity>,
    ) {
        lock(&self.members).insert(profile.clone(), identities);
    }

    /// The profile's regions as `options` read them with `sdk`, each shared with the
    /// overlapping profiles (see `inventory::cache`). A read runs in a task of its own
    /// so that its response parsing uses every core and the controller keeps polling
    /// the other reconciles meanwhile. `prefer_held`: a held read that covers `needed`
    /// is taken whatever its age (a change event kept it current).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn read_regions(
        &self,
        identity: &Identity,
        regions: &[String],
        needed: Needs,
        max_age: Duration,
        sdk: &aws_config::SdkConfig,
        options: &ReadOptions,
        now: &Time,
        prefer_held: bool,
    ) -> Vec<SharedRead> {
        let started = Instant::now();
        futures::future::join_all(regions.iter().map(|region| async move {
            let key = ReadKey {
                identity: identity.clone(),
                region: region.clone(),
            };
            // A change event patched the held read: it is as current as the events
            // that reached it, whatever its age.
            if prefer_held
                && let Held::Read {
                    inventory,
                    needs,
                    started_at,
                } = self.inventories.held(&key)
                && needs.covers(needed)
            {
                return SharedRead {
                    inventory,
                    started_at,
                    fresh: false,
                };
            }
            let wanted = self.needs_wanted(&key);
            self.inventories
                .get(&key, needed, wanted, max_age, (started, now), |plan| {
                    let (sdk, options, region) = (sdk.clone(), options.clone(), region.clone());
                    let unread = region.clone();
                    async move {
                        let read = tokio::spawn(async move {
                            match plan {
                                ReadPlan::Whole(needs) => {
                                    let options = ReadOptions { needs, ..options };
                                    read_inventory(&sdk, &[region], &options).await
                                }
                                ReadPlan::Retry {
                                    earlier,
                                    targets,
                                    needs,
                                } => {
                                    let options = ReadOptions { needs, ..options };
                                    retry_failed_parts(&sdk, &region, &earlier, &targets, &options)
                                        .await
                                }
                            }
                        });
                        // Only a bug in the reader ends here; its region is reported
                        // unread rather than the reconcile failing without a status.
                        read.await.unwrap_or_else(|e| Inventory {
                            regions: Vec::new(),
                            errors: vec![ReadError {
                                account_id: None,
                                region: unread,
                                resource_arn: None,
                                operation: "ReadInventory".into(),
                                kind: ErrorKind::Other,
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
    pub(super) async fn write_status(
        &self,
        profile: &ComplianceProfile,
        previous: Option<&ComplianceProfileStatus>,
        new: &ComplianceProfileStatus,
    ) -> Result<bool, Error> {
        // Every status carries the queues' health, the Security Hub export's condition
        // and the last scan request acted on, whichever stage wrote it.
        let mut new = super::status::with_change_events(
            new.clone(),
            self.requests.condition(),
            &crate::crd::status::now(),
        );
        if new.requested_scan_at.is_none() {
            new.requested_scan_at = previous.and_then(|p| p.requested_scan_at.clone());
        }
        let new = super::securityhub::with_export_condition(
            new,
            previous,
            self.securityhub.condition(profile),
            &crate::crd::status::now(),
        );
        if previous == Some(&new) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    fn profile(name: &str) -> ObjectRef<ComplianceProfile> {
        ObjectRef::new(name).within("team")
    }

    #[test]
    fn recoverable_failures_back_off_from_seconds_up_to_five_minutes_and_the_interval() {
        let hour = Duration::from_secs(3600);
        assert_eq!(backoff_delay(0, hour, false), Duration::from_secs(5));
        assert_eq!(backoff_delay(3, hour, false), Duration::from_secs(40));
        assert_eq!(backoff_delay(30, hour, false), BACKOFF_MAX);
        assert_eq!(
            backoff_delay(30, Duration::from_secs(60), false),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn terminal_failures_back_off_from_minutes_up_to_the_interval() {
        let hour = Duration::from_secs(3600);
        assert_eq!(backoff_delay(0, hour, true), Duration::from_secs(300));
        assert_eq!(backoff_delay(2, hour, true), Duration::from_secs(1200));
        assert_eq!(backoff_delay(30, hour, true), hour);
        assert_eq!(
            backoff_delay(0, Duration::from_secs(60), true),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn a_failure_is_terminal_only_when_every_error_is() {
        assert!(all_terminal([ErrorKind::AccessDenied, ErrorKind::NotFound]));
        assert!(!all_terminal([
            ErrorKind::AccessDenied,
            ErrorKind::Throttled
        ]));
        assert!(!all_terminal([]));
    }

    #[test]
    fn the_backoff_grows_per_profile_and_resets_on_success() {
        let memory = ProfileMemory::default();
        let cap = Duration::from_secs(3600);
        let (a, b) = (profile("a"), profile("b"));
        assert_eq!(memory.backoff(&a, cap, false), Duration::from_secs(5));
        assert_eq!(memory.backoff(&a, cap, false), Duration::from_secs(10));
        assert_eq!(memory.backoff(&b, cap, false), Duration::from_secs(5));
        memory.succeeded(&a);
        assert_eq!(memory.backoff(&a, cap, false), Duration::from_secs(5));
    }

    #[test]
    fn a_scan_record_holds_until_its_next_scan_for_its_generation() {
        let memory = ProfileMemory::default();
        let a = profile("a");
        memory.record_scan(&a, Some(2), &at(200));
        assert_eq!(memory.scanned_until(&a, Some(2), &at(100)), Some(at(200)));
        assert_eq!(memory.scanned_until(&a, Some(3), &at(100)), None);
        assert_eq!(memory.scanned_until(&a, Some(2), &at(200)), None);
    }

    #[test]
    fn a_scan_request_is_remembered_per_value() {
        let memory = ProfileMemory::default();
        let a = profile("a");
        assert!(!memory.requested(&a, "t1"));
        memory.record_request(&a, "t1");
        assert!(memory.requested(&a, "t1"));
        assert!(!memory.requested(&a, "t2"));
        memory.forget(|_| false);
        assert!(!memory.requested(&a, "t1"));
    }

    #[test]
    fn deleted_profiles_are_forgotten() {
        let memory = ProfileMemory::default();
        let cap = Duration::from_secs(3600);
        let (kept, gone) = (profile("kept"), profile("gone"));
        for key in [&kept, &gone] {
            memory.backoff(key, cap, false);
            memory.record_scan(key, Some(1), &at(200));
        }
        memory.forget(|key| *key == kept);
        assert!(memory.scanned_until(&gone, Some(1), &at(100)).is_none());
        assert!(memory.scanned_until(&kept, Some(1), &at(100)).is_some());
        // The forgotten profile's backoff starts over.
        assert_eq!(memory.backoff(&gone, cap, false), Duration::from_secs(5));
        assert_eq!(memory.backoff(&kept, cap, false), Duration::from_secs(10));
    }
}
