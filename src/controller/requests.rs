//! Re-evaluations asked of profiles from outside their schedule (a change event), and
//! when each is in status: the consumer asks, the reconcile answers, the consumer
//! deletes the message only after the answer.
//!
//! Each request gets a revision. A profile's reconcile takes the highest revision asked
//! of it when it starts, and once its status is written marks that revision done; a
//! request made while a reconcile runs is answered by the next one (the trigger
//! queues it), never by the run that started before the change was read.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use kube::runtime::reflector::ObjectRef;
use tokio::sync::{mpsc, watch};

use crate::crd::ComplianceProfile;
use crate::crd::ConditionStatus;
use crate::crd::status::{DesiredCondition, reason};

type Key = ObjectRef<ComplianceProfile>;

#[derive(Debug, Default)]
struct Revisions {
    last: u64,
    asked: HashMap<Key, u64>,
    done: HashMap<Key, u64>,
}

/// The requests, their answers, and the change-events queues' health.
#[derive(Debug)]
pub struct Requests {
    revisions: Mutex<Revisions>,
    /// Bumped whenever a revision is done, to wake the waiting consumers.
    answered: watch::Sender<u64>,
    trigger: mpsc::UnboundedSender<Key>,
    /// Queue URL -> why it cannot be read (`None`: it was read). Empty when change
    /// events are off.
    queues: Mutex<BTreeMap<String, Option<String>>>,
}

impl Requests {
    /// The requests, and the stream of profiles to reconcile that the controller
    /// takes (`Controller::reconcile_on`).
    pub fn new(queue_urls: &[String]) -> (Self, mpsc::UnboundedReceiver<Key>) {
        let (trigger, triggered) = mpsc::unbounded_channel();
        let requests = Requests {
            revisions: Mutex::default(),
            answered: watch::channel(0).0,
            trigger,
            queues: Mutex::new(queue_urls.iter().map(|u| (u.clone(), None)).collect()),
        };
        (requests, triggered)
    }

    /// Asks each of `profiles` to re-evaluate now; returns the revision to wait for.
    pub fn ask(&self, profiles: &[Key]) -> u64 {
        let revision = {
            let mut revisions = lock(&self.revisions);
            revisions.last += 1;
            let revision = revisions.last;
            for key in profiles {
                revisions.asked.insert(key.clone(), revision);
            }
            revision
        };
        for key in profiles {
            // Fails only when the controller is gone (shutdown).
            let _ = self.trigger.send(key.clone());
        }
        revision
    }

    /// Reconciles `profiles` now without a request (the queues' health changed).
    pub fn nudge(&self, profiles: impl IntoIterator<Item = Key>) {
        for key in profiles {
            let _ = self.trigger.send(key);
        }
    }

    /// The revision asked of `key` and not yet done, if any.
    pub fn pending(&self, key: &Key) -> Option<u64> {
        let revisions = lock(&self.revisions);
        let asked = *revisions.asked.get(key)?;
        (revisions.done.get(key).copied().unwrap_or(0) < asked).then_some(asked)
    }

    /// `revision` of `key` is in its status.
    pub fn done(&self, key: &Key, revision: u64) {
        {
            let mut revisions = lock(&self.revisions);
            let done = revisions.done.entry(key.clone()).or_default();
            *done = (*done).max(revision);
        }
        self.answered.send_modify(|n| *n += 1);
    }

    fn all_done(&self, profiles: &[Key], revision: u64) -> bool {
        let revisions = lock(&self.revisions);
        profiles
            .iter()
            .all(|key| revisions.done.get(key).copied().unwrap_or(0) >= revision)
    }

    /// Waits until every one of `profiles` has `revision` in its status, or `timeout`.
    /// Returns whether they all have.
    pub async fn wait(&self, profiles: &[Key], revision: u64, timeout: Duration) -> bool {
        let mut answered = self.answered.subscribe();
        let wait = async {
            loop {
                if self.all_done(profiles, revision) {
                    return;
                }
                if answered.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok() && self.all_done(profiles, revision)
    }

    /// Forgets the profiles that no longer exist.
    pub fn forget(&self, exists: impl Fn(&Key) -> bool) {
        let mut revisions = lock(&self.revisions);
        revisions.asked.retain(|key, _| exists(key));
        revisions.done.retain(|key, _| exists(key));
    }

    /// Records whether `url` could be read. Returns whether that changed.
    pub fn queue_read(&self, url: &str, problem: Option<String>) -> bool {
        let mut queues = lock(&self.queues);
        let slot = queues.entry(url.to_string()).or_default();
        let changed = *slot != problem;
        *slot = problem;
        changed
    }

    /// The `ChangeEvents` condition every profile carries, `None` when change events
    /// are off.
    pub fn condition(&self) -> Option<DesiredCondition> {
        let queues = lock(&self.queues);
        if queues.is_empty() {
            return None;
        }
        let problems: Vec<&String> = queues.values().flatten().collect();
        Some(match problems.first() {
            None => DesiredCondition {
                type_: reason::CHANGE_EVENTS,
                status: ConditionStatus::True,
                reason: reason::RECEIVING,
                message: format!(
                    "reading {} change-events queue(s); changes reach status within seconds",
                    queues.len()
                ),
            },
            Some(first) => DesiredCondition {
                type_: reason::CHANGE_EVENTS,
                status: ConditionStatus::False,
                reason: reason::QUEUE_UNREADABLE,
                message: format!(
                    "{} of {} change-events queue(s) cannot be read, first: {first}; changes are seen at the periodic scans only until it can",
                    problems.len(),
                    queues.len()
                ),
            },
        })
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

    fn key(name: &str) -> Key {
        ObjectRef::new(name).within("team")
    }

    #[tokio::test]
    async fn a_request_is_pending_until_done_and_triggers_a_reconcile() {
        let (requests, mut triggered) = Requests::new(&[]);
        let (a, b) = (key("a"), key("b"));
        assert_eq!(requests.pending(&a), None);
        let revision = requests.ask(&[a.clone(), b.clone()]);
        assert_eq!(requests.pending(&a), Some(revision));
        assert_eq!(triggered.recv().await, Some(a.clone()));
        assert_eq!(triggered.recv().await, Some(b.clone()));
        requests.done(&a, revision);
        assert_eq!(requests.pending(&a), None);
        assert!(
            !requests
                .wait(&[a.clone(), b.clone()], revision, Duration::from_millis(10))
                .await
        );
        requests.done(&b, revision);
        assert!(
            requests
                .wait(&[a, b], revision, Duration::from_secs(1))
                .await
        );
    }

    #[tokio::test]
    async fn a_run_that_started_before_a_newer_request_does_not_answer_it() {
        let (requests, _triggered) = Requests::new(&[]);
        let a = key("a");
        let first = requests.ask(std::slice::from_ref(&a));
        let started_with = requests.pending(&a);
        let second = requests.ask(std::slice::from_ref(&a));
        if let Some(revision) = started_with {
            requests.done(&a, revision);
        }
        assert_eq!(requests.pending(&a), Some(second));
        assert!(
            requests
                .wait(std::slice::from_ref(&a), first, Duration::from_millis(10))
                .await
        );
        assert!(
            !requests
                .wait(std::slice::from_ref(&a), second, Duration::from_millis(10))
                .await
        );
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_the_answer_comes() {
        let (requests, _triggered) = Requests::new(&[]);
        let requests = std::sync::Arc::new(requests);
        let a = key("a");
        let revision = requests.ask(std::slice::from_ref(&a));
        let answer = {
            let (requests, a) = (requests.clone(), a.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                requests.done(&a, revision);
            })
        };
        assert!(requests.wait(&[a], revision, Duration::from_secs(5)).await);
        answer.await.expect("answers");
    }

    #[test]
    fn the_condition_says_which_queue_cannot_be_read() {
        let (off, _) = Requests::new(&[]);
        assert_eq!(off.condition(), None);
        let urls = [
            "https://sqs.us-east-1.amazonaws.com/1/a".to_string(),
            "https://sqs.us-east-1.amazonaws.com/1/b".to_string(),
        ];
        let (requests, _) = Requests::new(&urls);
        let healthy = requests.condition().expect("on");
        assert_eq!(
            (healthy.status, healthy.reason),
            (ConditionStatus::True, reason::RECEIVING)
        );
        assert!(requests.queue_read(&urls[1], Some("queue b: denied".into())));
        assert!(!requests.queue_read(&urls[1], Some("queue b: denied".into())));
        let broken = requests.condition().expect("on");
        assert_eq!(
            (broken.status, broken.reason),
            (ConditionStatus::False, reason::QUEUE_UNREADABLE)
        );
        assert!(broken.message.contains("1 of 2") && broken.message.contains("queue b: denied"));
        assert!(requests.queue_read(&urls[1], None));
        assert_eq!(
            requests.condition().map(|c| c.status),
            Some(ConditionStatus::True)
        );
    }
}
