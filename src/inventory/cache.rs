//! Shared inventory reads: profiles that scan the same AWS identity and region share
//! one read of it instead of each making its own.
//!
//! A read is kept per (identity, region) with what it covers (REST APIs, v2 APIs, HTTP
//! integrations). A profile whose scan is due takes a read that covers what it needs
//! and started less than its freshness window ago (half its interval, at most the
//! `--inventory-max-age-seconds` flag), or one still running; otherwise it starts a new
//! read covering everything the other profiles of that identity and region need too.
//! Concurrent reconciles of overlapping profiles therefore wait on one read (single
//! flight), and unrelated keys never wait on each other: the map's lock is held only
//! to look an entry up, never across a read.
//!
//! Why half the interval: a profile that takes a read started `age` ago sets its next
//! scan to that read's start plus its interval, so profiles sharing a read fall due
//! together and share the next one too. With a window of half the interval, any two
//! phases meet within one interval (one of them is always within half an interval of
//! the other's read), after which N profiles cost one read per interval. Their
//! verdicts are never older than their interval, as when each read alone.
//!
//! A read with recoverable errors (throttled, unavailable, credentials) serves the
//! reconciles that waited on it. Once finished, what it read is kept and shared like a
//! clean read, and a profile retrying within the window retries only what failed
//! ([`retry`](super::retry): the APIs, stages or domains its errors name), patched into
//! the shared read; only a failed list call of the region itself makes the next caller
//! read the region again. A read whose only errors are terminal (access denied, not
//! found: an SCP deny, say) is reused like a clean one: reading again cannot help until
//! someone changes IAM, and it would cost every profile a full read each retry.
//! Entries expire at the end of the longest window that asked for them, so memory
//! holds at most one inventory per identity and region, and none once profiles stop
//! scanning.
//!
//! With change events ([`InventoryCache::holding`]) a read is held twice as long (the
//! whole interval of the profiles that asked for it), failed reads too, because an
//! event patches the held read ([`InventoryCache::replace`]) and the profiles covering
//! the change re-evaluate it: without a held read an event would cost a sweep. A held
//! read is still reused by a periodic scan only within the window above, so the
//! periodic sweep stays the backstop for events CloudTrail never delivered.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::sync::OnceCell;

use crate::aws::identity::Identity;

use super::model::{Inventory, Needs};
use super::retry::retry_targets;
use super::target::Target;

/// What one shared read is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReadKey {
    pub identity: Identity,
    pub region: String,
}

/// One region's inventory as read for a profile, possibly shared with others.
#[derive(Clone, Debug)]
pub struct SharedRead {
    /// The region's inventory (at most one region) and its read errors.
    pub inventory: Arc<Inventory>,
    /// When the read started: the data is at least this recent.
    pub started_at: Time,
    /// Whether this caller made the read (false: it took one made for another profile).
    pub fresh: bool,
}

struct Entry {
    needs: Needs,
    started: Instant,
    started_at: Time,
    /// Kept (and reusable) until then, unless the read failed.
    keep_until: Instant,
    read: Arc<OnceCell<Arc<Inventory>>>,
}

impl Entry {
    /// Reusable for a caller needing `needed` with freshness `max_age` at `now`: a
    /// running read always is; a finished one when it read everything and is young
    /// enough.
    fn serves(&self, needed: Needs, max_age: Duration, now: Instant) -> bool {
        if !self.needs.covers(needed) {
            return false;
        }
        match self.read.get() {
            None => true,
            Some(inventory) => {
                only_terminal(inventory) && now.saturating_duration_since(self.started) < max_age
            }
        }
    }

    /// For a caller that this finished read would serve but for recoverable errors of
    /// single parts: the read and the targeted reads that retry those parts.
    fn retry(
        &self,
        needed: Needs,
        max_age: Duration,
        now: Instant,
    ) -> Option<(Arc<Inventory>, Vec<Target>)> {
        let inventory = self.read.get()?;
        if !self.needs.covers(needed) || now.saturating_duration_since(self.started) >= max_age {
            return None;
        }
        let targets = retry_targets(inventory).filter(|t| !t.is_empty())?;
        Some((inventory.clone(), targets))
    }

    fn expired(&self, now: Instant, hold: bool) -> bool {
        match self.read.get() {
            None => false,
            Some(inventory) => {
                let reusable = only_terminal(inventory) || retry_targets(inventory).is_some();
                (!hold && !reusable) || now >= self.keep_until
            }
        }
    }
}

/// Whether every error of a read is terminal (none: it is clean).
fn only_terminal(inventory: &Inventory) -> bool {
    inventory.errors.iter().all(|e| e.kind.is_terminal())
}

/// What a caller of [`InventoryCache::get`] is to read.
#[derive(Clone, Debug)]
pub enum ReadPlan {
    /// The whole region, covering these needs.
    Whole(Needs),
    /// Only `targets`, put into (a copy of) `earlier` with [`Inventory::retried`]:
    /// `earlier` failed on them with recoverable errors, the rest of it stands.
    Retry {
        earlier: Arc<Inventory>,
        targets: Vec<Target>,
        /// What `earlier` covers (what a re-read API must read of itself).
        needs: Needs,
    },
}

/// What the cache holds for a key.
#[derive(Clone, Debug)]
pub enum Held {
    /// A finished read: what it covers and when it started.
    Read {
        inventory: Arc<Inventory>,
        needs: Needs,
        started_at: Time,
    },
    /// A read still running.
    Running,
    Nothing,
}

/// The shared reads, by identity and region.
#[derive(Default)]
pub struct InventoryCache {
    entries: Mutex<HashMap<ReadKey, Entry>>,
    /// Whether reads are held for change events (see the module comment).
    hold: bool,
}

impl std::fmt::Debug for InventoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InventoryCache")
            .field("entries", &self.len())
            .finish()
    }
}

impl InventoryCache {
    /// A cache that holds reads for change events to patch.
    pub fn holding() -> Self {
        InventoryCache {
            hold: true,
            ..InventoryCache::default()
        }
    }

    /// The read of `key` for a caller that needs `needed`: an existing one that serves
    /// it (see the module comment), a retry of the failed parts of one, or a new one
    /// covering `needed` and `wanted` (what the other profiles of the key need), made by
    /// `read` as the [`ReadPlan`] says while every concurrent caller of the same key
    /// waits for it. `now` and `now_at` are the same instant, on the monotonic and the
    /// wall clock.
    pub async fn get<F, Fut>(
        &self,
        key: &ReadKey,
        needed: Needs,
        wanted: Needs,
        max_age: Duration,
        (now, now_at): (Instant, &Time),
        read: F,
    ) -> SharedRead
    where
        F: FnOnce(ReadPlan) -> Fut,
        Fut: Future<Output = Inventory>,
    {
        let (cell, plan, started_at) = {
            let mut entries = self.lock();
            entries.retain(|_, entry| !entry.expired(now, self.hold));
            let kept = if self.hold { max_age * 2 } else { max_age };
            let existing = entries.get_mut(key);
            let retry = existing
                .as_ref()
                .and_then(|entry| entry.retry(needed, max_age, now));
            match (existing, retry) {
                (Some(entry), _) if entry.serves(needed, max_age, now) => {
                    entry.keep_until = entry.keep_until.max(entry.started + kept);
                    // Read only if the caller that started it was cancelled (then the
                    // whole region: the same data or more).
                    let plan = ReadPlan::Whole(entry.needs);
                    (entry.read.clone(), plan, entry.started_at.clone())
                }
                // What succeeded is as old as the earlier read: the retry keeps its
                // start, so the window still ends with a read of the whole region.
                (Some(entry), Some((earlier, targets))) => {
                    entry.keep_until = entry.keep_until.max(entry.started + kept);
                    entry.read = Arc::new(OnceCell::new());
                    let plan = ReadPlan::Retry {
                        earlier,
                        targets,
                        needs: entry.needs,
                    };
                    (entry.read.clone(), plan, entry.started_at.clone())
                }
                _ => {
                    let needs = needed.union(wanted);
                    let entry = Entry {
                        needs,
                        started: now,
                        started_at: now_at.clone(),
                        keep_until: now + kept,
                        read: Arc::new(OnceCell::new()),
                    };
                    let cell = entry.read.clone();
                    entries.insert(key.clone(), entry);
                    (cell, ReadPlan::Whole(needs), now_at.clone())
                }
            }
        };
        // Whoever polls first reads; if that caller is cancelled, a waiting one takes
        // over with its own `read` (same identity and region, so the same data).
        let mut made_here = false;
        let inventory = cell
            .get_or_init(|| {
                made_here = true;
                async move { Arc::new(read(plan).await) }
            })
            .await
            .clone();
        SharedRead {
            inventory,
            started_at,
            fresh: made_here,
        }
    }

    /// Drops the entries nobody may reuse any more (expired or failed), releasing their
    /// memory once the profiles using them are done.
    pub fn sweep(&self, now: Instant) {
        self.lock()
            .retain(|_, entry| !entry.expired(now, self.hold));
    }

    /// What is held for `key` now.
    pub fn held(&self, key: &ReadKey) -> Held {
        match self.lock().get(key) {
            None => Held::Nothing,
            Some(entry) => match entry.read.get() {
                None => Held::Running,
                Some(inventory) => Held::Read {
                    inventory: inventory.clone(),
                    needs: entry.needs,
                    started_at: entry.started_at.clone(),
                },
            },
        }
    }

    /// Puts `patched` in place of the finished read `old` of `key`, keeping when it
    /// started (the data elsewhere is that old) and how long it is held. Returns false
    /// when `old` is no longer what is held (a new read replaced it meanwhile).
    pub fn replace(&self, key: &ReadKey, old: &Arc<Inventory>, patched: Inventory) -> bool {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(key) else {
            return false;
        };
        if !entry.read.get().is_some_and(|held| Arc::ptr_eq(held, old)) {
            return false;
        }
        entry.read = Arc::new(OnceCell::new_with(Some(Arc::new(patched))));
        true
    }

    /// How many reads are kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ReadKey, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How old a read a profile with `interval` may take: half its interval, capped by
/// `cap` when given.
pub fn max_age(interval: Duration, cap: Option<Duration>) -> Duration {
    let half = interval / 2;
    cap.map_or(half, |cap| half.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{ReadError, RegionInventory};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::{Notify, oneshot};

    fn key(region: &str) -> ReadKey {
        ReadKey {
            identity: Identity::new(Some("arn:aws:iam::111122223333:role/audit"), Some("x")),
            region: region.to_string(),
        }
    }

    const ALL: Needs = Needs {
        rest: true,
        v2: true,
        routes: true,
        http_integrations: false,
        integrations: false,
        domain_names: false,
    };
    const REST: Needs = Needs {
        rest: true,
        v2: false,
        routes: false,
        http_integrations: false,
        integrations: false,
        domain_names: false,
    };
    const V2: Needs = Needs {
        rest: false,
        v2: true,
        routes: true,
        http_integrations: false,
        integrations: false,
        domain_names: false,
    };

    fn wall() -> Time {
        Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
    }

    fn region(name: &str) -> Inventory {
        Inventory {
            regions: vec![RegionInventory {
                region: name.to_string(),
                ..RegionInventory::default()
            }],
            errors: Vec::new(),
        }
    }

    /// An `InventoryCache` used for the us-east-1 key only, counting the reads its
    /// callers make and recording the needs each read was asked for.
    #[derive(Default)]
    struct CountedCache {
        cache: InventoryCache,
        reads: AtomicUsize,
        /// The needs of each read of the whole region.
        asked: Mutex<Vec<Needs>>,
        /// The targets of each retry of the failed parts of a read.
        retried: Mutex<Vec<Vec<Target>>>,
    }

    impl CountedCache {
        /// `InventoryCache::get` of us-east-1 at `now`; a read it makes returns `result`.
        async fn get(
            &self,
            needed: Needs,
            wanted: Needs,
            max_age: Duration,
            now: Instant,
            result: Inventory,
        ) -> SharedRead {
            let read = |plan| {
                self.reads.fetch_add(1, Ordering::SeqCst);
                match plan {
                    ReadPlan::Whole(needs) => self
                        .asked
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(needs),
                    ReadPlan::Retry { targets, .. } => self
                        .retried
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(targets),
                }
                std::future::ready(result)
            };
            self.cache
                .get(
                    &key("us-east-1"),
                    needed,
                    wanted,
                    max_age,
                    (now, &wall()),
                    read,
                )
                .await
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }

        fn asked(&self) -> Vec<Needs> {
            self.asked.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }

        fn retried(&self) -> Vec<Vec<Target>> {
            self.retried
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        }
    }

    #[tokio::test]
    async fn concurrent_callers_of_one_key_wait_on_one_read() {
        let cache = Arc::new(InventoryCache::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Notify::new());
        let (started_tx, started_rx) = oneshot::channel();
        let now = Instant::now();
        let first = {
            let (cache, reads, gate) = (cache.clone(), reads.clone(), gate.clone());
            tokio::spawn(async move {
                cache
                    .get(
                        &key("us-east-1"),
                        ALL,
                        ALL,
                        Duration::from_secs(60),
                        (now, &wall()),
                        |_| async move {
                            reads.fetch_add(1, Ordering::SeqCst);
                            let _ = started_tx.send(());
                            gate.notified().await;
                            region("us-east-1")
                        },
                    )
                    .await
            })
        };
        started_rx.await.expect("the first read starts");
        let (k, at) = (key("us-east-1"), wall());
        let (second, ()) = tokio::join!(
            cache.get(&k, REST, ALL, Duration::from_secs(60), (now, &at), |_| {
                reads.fetch_add(1, Ordering::SeqCst);
                std::future::ready(region("us-east-1"))
            },),
            async { gate.notify_one() },
        );
        let first = first.await.expect("the first caller finishes");
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert!(Arc::ptr_eq(&first.inventory, &second.inventory));
        assert!(first.fresh && !second.fresh);
    }

    #[tokio::test]
    async fn a_slow_read_of_one_key_does_not_hold_up_another_key() {
        let cache = Arc::new(InventoryCache::default());
        let gate = Arc::new(Notify::new());
        let (started_tx, started_rx) = oneshot::channel();
        let now = Instant::now();
        let slow = {
            let (cache, gate) = (cache.clone(), gate.clone());
            tokio::spawn(async move {
                cache
                    .get(
                        &key("us-east-1"),
                        ALL,
                        ALL,
                        Duration::from_secs(60),
                        (now, &wall()),
                        |_| async move {
                            let _ = started_tx.send(());
                            gate.notified().await;
                            region("us-east-1")
                        },
                    )
                    .await
            })
        };
        started_rx.await.expect("the slow read starts");
        // Completes while the other key's read is still blocked.
        let other = cache
            .get(
                &key("eu-west-1"),
                ALL,
                ALL,
                Duration::from_secs(60),
                (now, &wall()),
                |_| std::future::ready(region("eu-west-1")),
            )
            .await;
        assert_eq!(other.inventory.regions[0].region, "eu-west-1");
        gate.notify_one();
        let slow = slow.await.expect("the slow read finishes");
        assert_eq!(slow.inventory.regions[0].region, "us-east-1");
    }

    #[tokio::test]
    async fn a_read_is_reused_within_the_window_and_replaced_after_it() {
        let counted = CountedCache::default();
        let t0 = Instant::now();
        let window = Duration::from_secs(30);
        let first = counted.get(ALL, ALL, window, t0, region("us-east-1")).await;
        let within = t0 + Duration::from_secs(29);
        let reused = counted
            .get(REST, ALL, window, within, region("us-east-1"))
            .await;
        assert_eq!(counted.reads(), 1);
        assert!(Arc::ptr_eq(&first.inventory, &reused.inventory));
        assert!(!reused.fresh);

        let after = t0 + Duration::from_secs(30);
        let replaced = counted
            .get(ALL, ALL, window, after, region("us-east-1"))
            .await;
        assert_eq!(counted.reads(), 2);
        assert!(!Arc::ptr_eq(&first.inventory, &replaced.inventory));
        assert!(replaced.fresh);
    }

    #[tokio::test]
    async fn a_read_that_does_not_cover_the_need_is_replaced_by_a_wider_one() {
        let counted = CountedCache::default();
        let now = Instant::now();
        let window = Duration::from_secs(30);
        counted
            .get(REST, REST, window, now, region("us-east-1"))
            .await;
        // A v2 profile appeared: the new read covers both, so the REST profile's next
        // scan reuses it.
        counted.get(V2, ALL, window, now, region("us-east-1")).await;
        counted
            .get(REST, REST, window, now, region("us-east-1"))
            .await;
        assert_eq!(counted.reads(), 2);
        assert_eq!(counted.asked(), vec![REST, ALL]);
    }

    fn failed(kind: crate::model::ErrorKind) -> Inventory {
        Inventory {
            regions: Vec::new(),
            errors: vec![ReadError {
                account_id: None,
                region: "us-east-1".into(),
                resource_arn: None,
                operation: "GetRestApis".into(),
                kind,
                message: format!("{kind:?}"),
            }],
        }
    }

    #[tokio::test]
    async fn a_read_whose_errors_are_all_terminal_is_reused_like_a_clean_one() {
        let counted = CountedCache::default();
        let now = Instant::now();
        let window = Duration::from_secs(30);
        let denied = failed(crate::model::ErrorKind::AccessDenied);
        counted.get(ALL, ALL, window, now, denied).await;
        counted.cache.sweep(now);
        let again = counted
            .get(
                ALL,
                ALL,
                window,
                now + Duration::from_secs(5),
                region("us-east-1"),
            )
            .await;
        assert_eq!(counted.reads(), 1);
        assert!(!again.fresh && again.inventory.errors.len() == 1);
    }

    #[tokio::test]
    async fn a_failed_read_is_not_reused_and_is_swept() {
        let counted = CountedCache::default();
        let now = Instant::now();
        let window = Duration::from_secs(30);
        let failed = failed(crate::model::ErrorKind::Throttled);
        counted.get(ALL, ALL, window, now, failed).await;
        counted.cache.sweep(now);
        assert!(counted.cache.is_empty());
        counted
            .get(ALL, ALL, window, now, region("us-east-1"))
            .await;
        assert_eq!(counted.reads(), 2);
    }

    /// A region read whose GetStages of one API was throttled beyond the retries.
    fn one_api_throttled() -> Inventory {
        Inventory {
            regions: vec![RegionInventory {
                region: "us-east-1".into(),
                ..RegionInventory::default()
            }],
            errors: vec![ReadError {
                account_id: None,
                region: "us-east-1".into(),
                resource_arn: Some("arn:aws:apigateway:us-east-1::/restapis/a1".into()),
                operation: "GetStages".into(),
                kind: crate::model::ErrorKind::Throttled,
                message: "throttled".into(),
            }],
        }
    }

    #[tokio::test]
    async fn a_read_with_errors_of_single_apis_is_kept_and_only_those_are_read_again() {
        let counted = CountedCache::default();
        let t0 = Instant::now();
        let window = Duration::from_secs(30);
        let first = counted.get(ALL, ALL, window, t0, one_api_throttled()).await;
        counted.cache.sweep(t0);
        assert_eq!(counted.cache.len(), 1, "what succeeded stays shared");
        // Another profile (or the same one retrying) reads only the failed API, and
        // its data is as old as the earlier read.
        let retried = counted
            .get(
                REST,
                ALL,
                window,
                t0 + Duration::from_secs(10),
                region("us-east-1"),
            )
            .await;
        assert!(retried.fresh);
        assert_eq!(retried.started_at, first.started_at);
        assert_eq!(counted.asked(), [ALL]);
        assert_eq!(
            counted.retried(),
            [vec![Target::RestApi {
                api_id: "a1".into()
            }]]
        );
        // The retry's result is clean: the next caller within the window shares it.
        let shared = counted
            .get(
                ALL,
                ALL,
                window,
                t0 + Duration::from_secs(11),
                one_api_throttled(),
            )
            .await;
        assert!(!shared.fresh && shared.inventory.errors.is_empty());
        // After the window, the whole region is read again.
        counted
            .get(ALL, ALL, window, t0 + window, region("us-east-1"))
            .await;
        assert_eq!(counted.asked(), [ALL, ALL]);
        assert_eq!(counted.reads(), 3);
    }

    #[tokio::test]
    async fn entries_expire_at_the_end_of_the_longest_window_that_asked() {
        let counted = CountedCache::default();
        let t0 = Instant::now();
        counted
            .get(ALL, ALL, Duration::from_secs(30), t0, region("us-east-1"))
            .await;
        // A profile with a longer interval reuses it and extends its life.
        counted
            .get(
                ALL,
                ALL,
                Duration::from_secs(300),
                t0 + Duration::from_secs(10),
                region("us-east-1"),
            )
            .await;
        counted.cache.sweep(t0 + Duration::from_secs(299));
        assert_eq!(counted.cache.len(), 1);
        counted.cache.sweep(t0 + Duration::from_secs(300));
        assert!(counted.cache.is_empty());
        assert_eq!(counted.reads(), 1);
    }

    #[tokio::test]
    async fn a_held_read_is_patched_in_place_and_a_replaced_one_is_not() {
        let counted = CountedCache::default();
        let now = Instant::now();
        let window = Duration::from_secs(30);
        assert!(matches!(
            counted.cache.held(&key("us-east-1")),
            Held::Nothing
        ));
        let read = counted
            .get(ALL, ALL, window, now, region("us-east-1"))
            .await;
        let Held::Read {
            inventory, needs, ..
        } = counted.cache.held(&key("us-east-1"))
        else {
            panic!("the finished read is held");
        };
        assert!(Arc::ptr_eq(&inventory, &read.inventory));
        assert_eq!(needs, ALL);
        let mut patched = (*inventory).clone();
        patched.regions[0].domain_names.push(Default::default());
        assert!(
            counted
                .cache
                .replace(&key("us-east-1"), &inventory, patched.clone())
        );
        // The patch went in; the old read can no longer be replaced.
        assert!(
            !counted
                .cache
                .replace(&key("us-east-1"), &inventory, patched)
        );
        let reused = counted
            .get(
                ALL,
                ALL,
                window,
                now + Duration::from_secs(1),
                region("us-east-1"),
            )
            .await;
        assert_eq!(reused.inventory.regions[0].domain_names.len(), 1);
        assert_eq!(counted.reads(), 1);
    }

    #[tokio::test]
    async fn a_holding_cache_keeps_reads_for_the_whole_interval_failed_ones_too() {
        let holding = CountedCache {
            cache: InventoryCache::holding(),
            ..CountedCache::default()
        };
        let t0 = Instant::now();
        let window = Duration::from_secs(30);
        let failed = Inventory {
            regions: vec![RegionInventory {
                region: "us-east-1".into(),
                ..RegionInventory::default()
            }],
            errors: vec![ReadError {
                account_id: None,
                region: "us-east-1".into(),
                resource_arn: Some("arn:aws:apigateway:us-east-1::/restapis/a1".into()),
                operation: "GetStages".into(),
                kind: crate::model::ErrorKind::Throttled,
                message: "throttled".into(),
            }],
        };
        holding.get(ALL, ALL, window, t0, failed).await;
        holding.cache.sweep(t0 + Duration::from_secs(59));
        assert!(matches!(
            holding.cache.held(&key("us-east-1")),
            Held::Read { .. }
        ));
        // Held, but a periodic scan does not take the failed part from it: it reads
        // that part again.
        holding
            .get(
                ALL,
                ALL,
                window,
                t0 + Duration::from_secs(1),
                region("us-east-1"),
            )
            .await;
        assert_eq!(holding.reads(), 2);
        assert_eq!(
            holding.retried(),
            [vec![Target::RestApi {
                api_id: "a1".into()
            }]]
        );
        holding.cache.sweep(t0 + Duration::from_secs(120));
        assert!(holding.cache.is_empty());
    }

    #[test]
    fn the_window_is_half_the_interval_capped_by_the_flag() {
        let minute = Duration::from_secs(60);
        assert_eq!(max_age(15 * minute, None), Duration::from_secs(450));
        assert_eq!(max_age(15 * minute, Some(2 * minute)), 2 * minute);
        assert_eq!(max_age(minute, Some(10 * minute)), Duration::from_secs(30));
    }

    #[test]
    fn needs_is_a_superset_check() {
        assert!(ALL.covers(REST) && ALL.covers(V2) && ALL.covers(ALL));
        assert!(!REST.covers(V2) && !REST.covers(ALL));
        assert_eq!(REST.union(V2), ALL);
        let integrations = Needs {
            http_integrations: true,
            ..REST
        };
        assert!(!ALL.covers(integrations));
        assert!(integrations.union(V2).covers(ALL));
        // A read of v2 stages without routes (APIGateway.1 and .9 only) does not serve
        // a profile checking route authorization.
        let v2_stages = Needs {
            routes: false,
            ..V2
        };
        assert!(V2.covers(v2_stages) && !v2_stages.covers(V2));
        assert_eq!(v2_stages.union(V2), V2);
    }

    #[test]
    fn identities_differ_by_role_and_external_id() {
        let a = Identity::new(Some("arn:aws:iam::1:role/r"), Some("x"));
        assert_eq!(a, Identity::new(Some("arn:aws:iam::1:role/r"), Some("x")));
        assert_ne!(a, Identity::new(Some("arn:aws:iam::1:role/r"), None));
        assert_ne!(a, Identity::new(None, None));
    }
}
