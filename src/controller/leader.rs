//! Leader election with a `coordination.k8s.io/v1` Lease, for running more than one
//! replica: only the holder reconciles; the others wait and take over when the holder
//! stops renewing (or releases the lease when it shuts down).
//!
//! kube-runtime has none built in. This follows client-go's algorithm: a lease is
//! expired when its record has not changed for `leaseDurationSeconds` as measured by
//! this replica's own clock since it last saw the record change, so clock skew between
//! replicas does not matter. Writes use the record's resourceVersion, so two replicas
//! racing for an expired lease cannot both win.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

/// How a replica takes part in the election.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This replica's identity (the pod name in a cluster).
    pub identity: String,
    /// How long a lease lasts without renewal.
    pub duration: Duration,
    /// How often the holder renews, and others retry.
    pub retry: Duration,
}

impl LeaseConfig {
    /// How long the holder keeps trying to renew before it gives up leadership.
    fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }
}

/// What the elector last saw of the lease, and when.
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    at: Instant,
}

pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
    leadership: Leadership,
}

/// Whether this replica still leads, for whoever must not act without it (remediation
/// writes): it does from a successful acquire or renewal until the renew deadline after
/// the last one, the time a holder keeps trying before it gives the lease up. Another
/// replica can take the lease only after the lease duration, which is longer.
#[derive(Clone, Debug)]
pub struct Leadership {
    epoch: Instant,
    /// Milliseconds after `epoch` until which this replica leads; 0: it does not.
    until: Arc<AtomicU64>,
}

impl Leadership {
    fn new() -> Self {
        Leadership {
            epoch: Instant::now(),
            until: Arc::default(),
        }
    }

    fn renewed(&self, at: Instant, valid_for: Duration) {
        let until = at.saturating_duration_since(self.epoch) + valid_for;
        let ms = u64::try_from(until.as_millis()).unwrap_or(u64::MAX);
        self.until.store(ms, Ordering::Relaxed);
    }

    fn ended(&self) {
        self.until.store(0, Ordering::Relaxed);
    }

    /// Whether this replica leads at `now`.
    pub fn holds(&self, now: Instant) -> bool {
        let until = self.until.load(Ordering::Relaxed);
        until > 0 && now.saturating_duration_since(self.epoch) < Duration::from_millis(until)
    }
}

/// Why leadership ended.
#[derive(Debug, thiserror::Error)]
#[error(
    "lost the leader lease {namespace}/{name}: it could not be renewed for {seconds}s (last error: {last_error}); stopping so another replica takes over"
)]
pub struct LeaseLost {
    pub namespace: String,
    pub name: String,
    pub seconds: u64,
    pub last_error: String,
}

impl LeaderElector {
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
            leadership: Leadership::new(),
        }
    }

    /// Whether this replica leads, readable while `hold` runs.
    pub fn leadership(&self) -> Leadership {
        self.leadership.clone()
    }

    /// Waits until this replica holds the lease. Returns false if `stop` completes first.
    pub async fn acquire(&mut self, stop: impl std::future::Future<Output = ()>) -> bool {
        tokio::pin!(stop);
        let mut waiting_logged = false;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    self.leadership
                        .renewed(Instant::now(), self.config.renew_deadline());
                    tracing::info!(lease = %self.config.name, identity = %self.config.identity, "acquired the leader lease");
                    return true;
                }
                Ok(false) => {
                    if !waiting_logged {
                        tracing::info!(lease = %self.config.name, holder = ?self.observed.as_ref().and_then(|o| o.holder.clone()), "another replica leads; standing by");
                        waiting_logged = true;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read or write the leader lease; retrying")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.retry) => {}
                () = &mut stop => return false,
            }
        }
    }

    /// Renews the lease until `stop` completes (Ok) or renewal fails for longer than
    /// the renew deadline (Err).
    pub async fn hold(
        &mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), LeaseLost> {
        tokio::pin!(stop);
        let mut last_renewal = Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.config.retry) => {}
                () = &mut stop => {
                    self.leadership.ended();
                    return Ok(());
                }
            }
            let failure = match self.try_acquire_or_renew().await {
                Ok(true) => {
                    last_renewal = Instant::now();
                    self.leadership
                        .renewed(last_renewal, self.config.renew_deadline());
                    continue;
                }
                Ok(false) => "another replica holds the lease".to_string(),
                Err(e) => e.to_string(),
            };
            if last_renewal.elapsed() >= self.config.renew_deadline() {
                self.leadership.ended();
                return Err(LeaseLost {
                    namespace: self.config.namespace.clone(),
                    name: self.config.name.clone(),
                    seconds: last_renewal.elapsed().as_secs(),
                    last_error: failure,
                });
            }
            tracing::warn!(error = %failure, "cannot renew the leader lease; retrying");
        }
    }

    /// Gives the lease up (on shutdown) so a standby replica takes over at once rather
    /// than after the lease expires.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(&self.config.identity) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.config.name, "released the leader lease"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot release the leader lease; it expires by itself")
            }
        }
    }

    /// One round of the election: true when this replica holds the lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let seconds = i32::try_from(self.config.duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.config.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                // Another replica created it first.
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|o| o.holder != holder || o.renew_time != spec.renew_time);
        if changed {
            self.observed = Some(Observed {
                holder: holder.clone(),
                renew_time: spec.renew_time.clone(),
                at: Instant::now(),
            });
        }
        let ours = holder.as_deref() == Some(self.config.identity.as_str());
        let lease_seconds = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.config.duration);
        let expired = holder.is_none()
            || self
                .observed
                .as_ref()
                .is_some_and(|o| o.at.elapsed() > lease_seconds);
        if !ours && !expired {
            return Ok(false);
        }
        if !ours {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.config.identity.clone());
        spec.lease_duration_seconds = Some(seconds);
        spec.renew_time = Some(now);
        // `lease` carries the resourceVersion read above: a concurrent writer makes
        // this fail with 409 instead of both replicas believing they lead.
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                let spec = written.spec.unwrap_or_default();
                self.observed = Some(Observed {
                    holder: spec.holder_identity,
                    renew_time: spec.renew_time,
                    at: Instant::now(),
                });
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leadership_lasts_the_renew_deadline_after_each_renewal() {
        let leadership = Leadership::new();
        let start = Instant::now();
        assert!(!leadership.holds(start));
        leadership.renewed(start, Duration::from_secs(10));
        assert!(leadership.holds(start + Duration::from_secs(9)));
        assert!(!leadership.holds(start + Duration::from_secs(10)));
        leadership.renewed(start + Duration::from_secs(8), Duration::from_secs(10));
        assert!(leadership.holds(start + Duration::from_secs(17)));
        leadership.ended();
        assert!(!leadership.holds(start + Duration::from_secs(9)));
    }
}
