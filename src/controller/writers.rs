//! No two writers fighting, the operator's part: the other Enforce profiles that write
//! in a profile's account (from the controller's cache of profiles; the decision is
//! `pipeline::claims`, pure), and the account's cap on writes across profiles.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use crate::aws::identity::{Identity, ScanIdentity};
use crate::crd::{ComplianceProfile, RemediationMode};
use crate::inventory::Inventory;
use crate::model::Finding;
use crate::model::plan::{Hold, HoldReason, RemediationPlan};
use crate::pipeline::Scan;
use crate::pipeline::claims::{Claimant, Seniority, hold_claimed};

use super::context::Context;

/// The profile's plan on its reads: held back where the resource is owned elsewhere
/// (tags) and where an older Enforce profile of the same account sets a setting to
/// another value.
pub(super) async fn plan(
    ctx: &Context,
    profile: &ComplianceProfile,
    scan: &Scan,
    reads: &[&Inventory],
    findings: &[Finding],
    identity: &ScanIdentity,
    now: &Time,
) -> RemediationPlan {
    let mut plan = scan.plan(reads.iter().copied(), findings, &ctx.ownership);
    if plan.changes.is_empty() && plan.pending.is_empty() {
        return plan;
    }
    let me = seniority(profile);
    let claimants = older_writers(ctx, profile, &me, identity.account.as_deref()).await;
    hold_claimed(
        &mut plan,
        reads,
        identity.account.as_deref(),
        now.0,
        &me,
        &claimants,
    );
    plan
}

fn seniority(profile: &ComplianceProfile) -> Seniority {
    Seniority::new(
        profile.metadata.creation_timestamp.as_ref().map(|t| t.0),
        &profile.namespace().unwrap_or_default(),
        &profile.name_any(),
    )
}

/// The Enforce profiles older than `me` that may write (valid spec, allowed by the
/// tenancy: [`Context::scanning`], not being deleted) in one of its regions of the same
/// account: the role's account, or the operator's own; when an account cannot be
/// told, the same identity.
async fn older_writers(
    ctx: &Context,
    profile: &ComplianceProfile,
    me: &Seniority,
    account: Option<&str>,
) -> Vec<Claimant> {
    let mine = ObjectRef::from_obj(profile);
    let my_scope = &profile.spec.scope;
    let my_identity = Identity::new(
        my_scope.role_arn.as_deref(),
        my_scope.external_id.as_deref(),
    );
    let mut seen: Vec<ObjectRef<ComplianceProfile>> = vec![mine];
    let mut claimants = Vec::new();
    for region in &my_scope.regions {
        for (other, identity) in ctx.scanning(region) {
            let key = ObjectRef::from_obj(&*other);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let seniority = seniority(&other);
            if other.spec.remediation.mode != RemediationMode::Enforce
                || other.metadata.deletion_timestamp.is_some()
                || seniority >= *me
            {
                continue;
            }
            let same_account = match (account, ctx.aws.account_of(&identity, region).await) {
                (Some(mine), Some(theirs)) => mine == theirs,
                _ => identity == my_identity,
            };
            if !same_account {
                continue;
            }
            if let Ok(scan) = Scan::new(other.spec.clone()) {
                claimants.push(Claimant { seniority, scan });
            }
        }
    }
    claimants
}

/// The cap on remediation writes per AWS account across profiles: at most `limit`
/// write calls in any `window` (`--account-max-changes`,
/// `--account-changes-window-seconds`). A scan takes what it may make before its
/// calls and gives back what it did not send, so profiles remediating the same account
/// at once share the cap.
#[derive(Debug)]
pub struct AccountWrites {
    limit: usize,
    window: Duration,
    /// Per account (the scan identity's key), when each write counted was taken.
    taken: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl AccountWrites {
    /// `limit` 0: no cap.
    pub fn new(limit: u32, window: Duration) -> Self {
        AccountWrites {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            window,
            taken: Mutex::default(),
        }
    }

    /// How many of `wanted` writes `account` may make now (taken from the cap), or
    /// `None` without a cap.
    pub fn take(&self, account: &str, wanted: usize, now: Instant) -> Option<usize> {
        if self.limit == 0 {
            return None;
        }
        let mut taken = self.lock();
        taken.retain(|_, times| {
            while times
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
            {
                times.pop_front();
            }
            !times.is_empty()
        });
        let times = taken.entry(account.to_string()).or_default();
        let allowed = wanted.min(self.limit.saturating_sub(times.len()));
        times.extend(std::iter::repeat_n(now, allowed));
        Some(allowed)
    }

    /// Gives back `unused` of the writes taken at `at` (calls not sent: found
    /// compliant by the read before the write, blocked, refused).
    pub fn give_back(&self, account: &str, at: Instant, unused: usize) {
        let mut taken = self.lock();
        if let Some(times) = taken.get_mut(account) {
            let mut left = unused;
            times.retain(|t| {
                if left > 0 && *t == at {
                    left -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }

    /// Why the changes over the cap wait.
    pub fn hold(&self, account: &str) -> Hold {
        Hold {
            reason: HoldReason::AccountWriteLimit,
            owner: format!("account {account}"),
            message: format!(
                "the account's cap of {} remediation writes per {} s across profiles (--account-max-changes) is reached; made at a later scan",
                self.limit,
                self.window.as_secs()
            ),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.taken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cap_takes_nothing() {
        let writes = AccountWrites::new(0, Duration::from_secs(60));
        assert_eq!(writes.take("111", 1000, Instant::now()), None);
    }

    #[test]
    fn profiles_of_one_account_share_the_cap_and_other_accounts_have_their_own() {
        let writes = AccountWrites::new(5, Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!(writes.take("111", 3, now), Some(3));
        assert_eq!(writes.take("111", 3, now), Some(2));
        assert_eq!(writes.take("111", 1, now), Some(0));
        assert_eq!(writes.take("222", 4, now), Some(4));
    }

    #[test]
    fn writes_not_sent_are_given_back_and_the_window_frees_the_rest() {
        let writes = AccountWrites::new(4, Duration::from_secs(60));
        let start = Instant::now();
        let later = start + Duration::from_secs(30);
        assert_eq!(writes.take("111", 3, start), Some(3));
        assert_eq!(writes.take("111", 1, later), Some(1));
        // Two of the first three were found compliant before their write.
        writes.give_back("111", start, 2);
        assert_eq!(writes.take("111", 5, later), Some(2));
        // A minute after the first, its one write no longer counts; the later ones do.
        let after_window = start + Duration::from_secs(60);
        assert_eq!(writes.take("111", 5, after_window), Some(1));
        assert_eq!(
            writes.take("111", 5, later + Duration::from_secs(60)),
            Some(3)
        );
    }

    #[test]
    fn the_hold_says_what_the_cap_is() {
        let hold = AccountWrites::new(50, Duration::from_secs(900)).hold("111");
        assert_eq!(hold.reason, HoldReason::AccountWriteLimit);
        assert_eq!(hold.owner, "account 111");
        assert!(
            hold.message.contains("50 remediation writes per 900 s"),
            "{}",
            hold.message
        );
    }
}
