//! The change-events consumer: one task per queue receives CloudTrail records (long
//! polling), gathers what arrives within the debounce window, re-reads only what
//! changed into the held inventory of every identity covering it, asks the covering
//! profiles to re-evaluate, and deletes each message once its verdict is in their
//! status. A message whose re-read fails comes back soon (ChangeMessageVisibility); one
//! whose verdict is not written in time comes back after its visibility timeout
//! (at-least-once). A queue that cannot be read shows on every profile's status
//! (`ChangeEvents`), and the periodic scans go on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::ObjectRef;

use crate::aws::identity::Identity;
use crate::changes::event::{IgnoreReason, Parsed, parse};
use crate::changes::queue::{LONG_POLL, Message, Queue};
use crate::crd::ComplianceProfile;
use futures::{StreamExt, TryStreamExt};

use crate::inventory::Inventory;
use crate::inventory::cache::{Held, ReadKey};
use crate::inventory::patch::Patch;
use crate::inventory::reader::ReadOptions;
use crate::inventory::target::{Target, coalesce};
use crate::inventory::targeted::read_target;

use super::Shutdown;
use super::context::Context;

/// At most this many messages are gathered into one round.
const MAX_ROUND: usize = 100;
/// A message whose re-read failed comes back after this long.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Waits after a failed receive: doubled per failure, up to a minute.
const QUEUE_BACKOFF: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(60));
/// How long a re-read waits for a region read already under way to finish.
const RUNNING_READ_WAIT: Duration = Duration::from_secs(120);

/// `--change-events-*`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ChangeOptions {
    pub(super) debounce: Duration,
    pub(super) visibility: Duration,
}

/// Reads `queue` until shutdown.
pub(super) async fn consume(
    ctx: Arc<Context>,
    queue: Queue,
    options: ChangeOptions,
    shutdown: Shutdown,
) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    match queue.check().await {
        Ok(info) => {
            if !info.has_dead_letter_queue {
                tracing::warn!(queue = %queue.url, "the change-events queue has no dead-letter queue (RedrivePolicy): a message that keeps failing is received again until it expires; see docs/change-events.md");
            }
            tracing::info!(queue = %queue.url, "reading change events");
            healthy(&ctx, &queue, None);
        }
        Err(e) => {
            ctx.metrics.change_queue_error(e.kind);
            healthy(&ctx, &queue, Some(e.message));
        }
    }
    let mut failures = 0u32;
    loop {
        let received = tokio::select! {
            received = queue.receive(LONG_POLL, options.visibility) => received,
            () = &mut stop => return,
        };
        let mut messages = match received {
            Ok(messages) => {
                ctx.metrics.change_events_received(messages.len());
                failures = 0;
                healthy(&ctx, &queue, None);
                messages
            }
            Err(e) => {
                ctx.metrics.change_queue_error(e.kind);
                tracing::warn!(queue = %queue.url, error = %e, "cannot read the change-events queue");
                healthy(&ctx, &queue, Some(e.message));
                let wait = QUEUE_BACKOFF
                    .0
                    .saturating_mul(1 << failures.min(8))
                    .min(QUEUE_BACKOFF.1);
                failures += 1;
                tokio::select! {
                    () = tokio::time::sleep(wait) => continue,
                    () = &mut stop => return,
                }
            }
        };
        if messages.is_empty() {
            continue;
        }
        // Gather the burst: what arrives within the window is coalesced into one
        // re-read per resource.
        let deadline = Instant::now() + options.debounce;
        while messages.len() < MAX_ROUND && Instant::now() < deadline {
            match queue.receive(Duration::ZERO, options.visibility).await {
                Ok(more) if !more.is_empty() => {
                    ctx.metrics.change_events_received(more.len());
                    messages.extend(more);
                }
                Ok(_) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::sleep(left.min(Duration::from_millis(50))).await;
                }
                Err(_) => break,
            }
        }
        round(&ctx, &queue, options, messages).await;
    }
}

/// Records whether the queue could be read; when that changed, every profile writes
/// its `ChangeEvents` condition.
fn healthy(ctx: &Context, queue: &Queue, problem: Option<String>) {
    if ctx.requests.queue_read(&queue.url, problem) {
        ctx.requests
            .nudge(ctx.store.state().iter().map(|p| ObjectRef::from_obj(&**p)));
    }
}

/// The messages of one (account, region).
struct Group<'m> {
    messages: Vec<&'m Message>,
    targets: Vec<Target>,
}

/// One round: parse, re-read per (account, region), wait for the verdicts, delete.
async fn round(ctx: &Context, queue: &Queue, options: ChangeOptions, messages: Vec<Message>) {
    let mut delete: Vec<&str> = Vec::new();
    let mut groups: BTreeMap<(String, String), Group<'_>> = BTreeMap::new();
    for message in &messages {
        match parse(&message.body) {
            Ok(Parsed::Change(event)) => {
                let group = groups
                    .entry((event.account, event.region))
                    .or_insert_with(|| Group {
                        messages: Vec::new(),
                        targets: Vec::new(),
                    });
                group.messages.push(message);
                group.targets.push(event.target);
            }
            Ok(Parsed::Ignored(reason)) => {
                // The metric keeps to a few labels; the log says exactly why.
                let label = match reason {
                    IgnoreReason::FailedCall => "failedCall",
                    _ => "unrelated",
                };
                ctx.metrics.change_event_ignored(label);
                tracing::debug!(reason = reason.as_str(), "change event ignored");
                delete.push(&message.receipt_handle);
            }
            Err(e) => {
                ctx.metrics.change_event_ignored("unparseable");
                tracing::debug!(error = %e, "change-event message not understood; deleted");
                delete.push(&message.receipt_handle);
            }
        }
    }
    let answered = futures::future::join_all(
        groups
            .into_iter()
            .map(|((account, region), group)| apply_group(ctx, account, region, group, options)),
    )
    .await;
    for (handles, retry) in answered {
        delete.extend(handles);
        for handle in retry {
            if let Err(e) = queue.retry_after(handle, RETRY_AFTER).await {
                tracing::debug!(error = %e, "cannot shorten a message's visibility; it comes back after its timeout");
            }
        }
    }
    if !delete.is_empty()
        && let Err(e) = queue.delete(&delete).await
    {
        ctx.metrics.change_queue_error(e.kind);
        tracing::warn!(error = %e, "cannot delete change-event messages; they will be received again");
    }
}

/// Re-reads one (account, region)'s targets and waits for the covering profiles'
/// verdicts. Returns the handles to delete and those to retry soon.
async fn apply_group<'m>(
    ctx: &Context,
    account: String,
    region: String,
    group: Group<'m>,
    options: ChangeOptions,
) -> (Vec<&'m str>, Vec<&'m str>) {
    let handles: Vec<&str> = group
        .messages
        .iter()
        .map(|m| m.receipt_handle.as_str())
        .collect();
    let covering = covering(ctx, &account, &region).await;
    if covering.is_empty() {
        for _ in &group.messages {
            ctx.metrics.change_event_ignored("uncovered");
        }
        tracing::debug!(%account, %region, events = group.messages.len(), "change events for an account and region no profile covers; deleted");
        return (handles, Vec::new());
    }
    let targets = coalesce(group.targets);
    let mut identities: Vec<Identity> = covering.iter().map(|(_, i)| i.clone()).collect();
    identities.sort_by_key(|i| format!("{i:?}"));
    identities.dedup();
    for identity in identities {
        let key = ReadKey {
            identity,
            region: region.clone(),
        };
        if let Err(e) = refresh(ctx, &key, &targets).await {
            tracing::warn!(%account, %region, error = %e, "cannot re-read what a change event names; retrying it in {}s", RETRY_AFTER.as_secs());
            return (Vec::new(), handles);
        }
    }
    let profiles: Vec<ObjectRef<ComplianceProfile>> =
        covering.into_iter().map(|(k, _)| k).collect();
    let revision = ctx.requests.ask(&profiles);
    // Leave the message time to be deleted before it becomes visible again.
    let patience = options.visibility.saturating_sub(Duration::from_secs(5));
    if !ctx.requests.wait(&profiles, revision, patience).await {
        tracing::warn!(%account, %region, "the verdicts of a change event did not reach status in time; the message will be received again");
        return (Vec::new(), Vec::new());
    }
    let now = Timestamp::now();
    for message in &group.messages {
        let latency = message
            .sent_at
            .and_then(|sent| Duration::try_from(now.duration_since(sent)).ok());
        ctx.metrics.change_event_applied(latency);
    }
    tracing::debug!(%account, %region, events = group.messages.len(), reads = targets.len(), profiles = profiles.len(), "change events applied");
    (handles, Vec::new())
}

/// The profiles that scan `account` in `region` (and may), with their identities.
async fn covering(
    ctx: &Context,
    account: &str,
    region: &str,
) -> Vec<(ObjectRef<ComplianceProfile>, Identity)> {
    let mut found = Vec::new();
    for (profile, identity) in ctx.scanning(region) {
        if ctx.aws.account_of(&identity, region).await.as_deref() == Some(account) {
            found.push((ObjectRef::from_obj(&*profile), identity));
        }
    }
    found
}

/// Re-reads `targets` into the read held for `key`, if one is held: nothing to patch
/// otherwise (the profiles' next evaluation reads the region). Parts of an API the
/// held read does not know are read with their whole API.
async fn refresh(ctx: &Context, key: &ReadKey, targets: &[Target]) -> Result<(), String> {
    let waited = Instant::now();
    let (mut held, needs) = loop {
        match ctx.inventories.held(key) {
            Held::Read {
                inventory, needs, ..
            } => break (inventory, needs),
            Held::Nothing => return Ok(()),
            Held::Running if waited.elapsed() < RUNNING_READ_WAIT => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Held::Running => return Err("a read of the region is still running".to_string()),
        }
    };
    let identity = ctx
        .aws
        .identity(&key.identity, &key.region)
        .await
        .map_err(|e| e.to_string())?;
    let options = ReadOptions {
        needs,
        retry_partition: Some(identity.key.clone()),
        ..ctx.read_base.clone()
    };
    let reads = coalesce(
        targets
            .iter()
            .map(|t| whole_when_unknown(&held, &key.region, t)),
    );
    // Several at once, as the region read reads APIs (the rate limit paces them).
    let wanted: Vec<Target> = reads.into_iter().filter(|t| needed(t, needs)).collect();
    let (sdk, region, options) = (&identity.sdk, key.region.as_str(), &options);
    let patches: Vec<Patch> = futures::stream::iter(wanted)
        .map(|target| async move { read_target(sdk, region, &target, options).await })
        .buffer_unordered(options.api_concurrency.max(1))
        .try_collect()
        .await
        .map_err(|e: crate::inventory::ReadError| e.message)?;
    // A full read may have replaced the held one meanwhile; the patches are newer
    // than the change either way, so they go into whatever is held now.
    loop {
        let mut patched: Inventory = (*held).clone();
        for patch in patches.iter().cloned() {
            if let Err(why) = patched.apply_patch(&key.region, patch) {
                tracing::debug!(?why, "a change event's re-read does not fit the held read");
            }
        }
        if ctx.inventories.replace(key, &held, patched) {
            return Ok(());
        }
        match ctx.inventories.held(key) {
            Held::Read { inventory, .. } => held = inventory,
            _ => return Ok(()),
        }
    }
}

/// `target`, or its whole API when the held read does not know that API (it was
/// created after the read, and the event of its creation was missed).
fn whole_when_unknown(held: &Inventory, region: &str, target: &Target) -> Target {
    let Some(region) = held.regions.iter().find(|r| r.region == region) else {
        return target.clone();
    };
    match target {
        Target::RestStage { api_id, .. } if !region.rest_apis.iter().any(|a| &a.id == api_id) => {
            Target::RestApi {
                api_id: api_id.clone(),
            }
        }
        Target::V2Stage { api_id, .. }
        | Target::V2Routes { api_id }
        | Target::V2Integrations { api_id }
            if !region.v2_apis.iter().any(|a| &a.id == api_id) =>
        {
            Target::V2Api {
                api_id: api_id.clone(),
            }
        }
        _ => target.clone(),
    }
}

/// Whether the held read looks at what `target` names (a REST change is nothing to a
/// read of v2 APIs only).
fn needed(target: &Target, needs: crate::inventory::Needs) -> bool {
    match target {
        Target::RestApi { .. } | Target::RestStage { .. } => needs.rest,
        Target::V2Api { .. } | Target::V2Stage { .. } => needs.v2,
        Target::V2Routes { .. } => needs.routes,
        Target::V2Integrations { .. } => needs.integrations,
        Target::DomainName { .. } => needs.domain_names,
        Target::Account => false,
    }
}
