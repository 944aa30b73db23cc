//! Book-keeping for publisher confirms on one channel.
//!
//! The broker numbers the publishes on a confirm-mode channel 1, 2, 3… and later acks or nacks them,
//! often several at once (`multiple`). amqprs' `basic_publish` returns no number, so we count
//! ourselves: the channel's [`PublishGate`](super::publish_gate::PublishGate) reserves the next
//! tag and enqueues the frame as one step, and the channel callback resolves the waiting
//! publishers from here.
//!
//! Outstanding tags live in a `BTreeMap` so that a `multiple` ack resolves a whole prefix with one
//! `split_off`. When the channel or connection ends, the broker will never answer the outstanding
//! tags: `fail_all` resolves them as `Lost` so nobody waits for a confirm that cannot come.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

/// What the broker (or the loss of the connection) said about one published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// The broker took responsibility for the message.
    Ack,
    /// The broker refused it (e.g. a queue's `reject-publish` overflow).
    Nack,
    /// The broker acked it but could not route it anywhere (a `mandatory` publish whose queue does
    /// not exist): it is not queued.
    Returned,
    /// The channel ended before the broker answered: the message may or may not be queued.
    Lost,
}

/// One publish waiting for its confirm.
#[derive(Debug)]
struct Pending {
    confirm: oneshot::Sender<Confirm>,
    message_id: String,
}

#[derive(Debug)]
struct TrackerState {
    next_tag: u64,
    outstanding: BTreeMap<u64, Pending>,
    /// Message ids the broker returned as unroutable; their ack follows the return on the same
    /// channel, and turns into `Confirm::Returned`.
    returned: HashSet<String>,
    /// Set once the channel is gone; reservations fail from then on.
    closed: bool,
}

/// Outstanding publishes of one confirm-mode channel.
#[derive(Debug)]
pub struct ConfirmTracker {
    state: Mutex<TrackerState>,
}

impl Default for ConfirmTracker {
    fn default() -> Self {
        Self {
            state: Mutex::new(TrackerState {
                next_tag: 1,
                outstanding: BTreeMap::new(),
                returned: HashSet::new(),
                closed: false,
            }),
        }
    }
}

impl ConfirmTracker {
    fn lock(&self) -> MutexGuard<'_, TrackerState> {
        // A panic while holding this lock cannot leave the map half-updated in a way that matters
        // more than losing the process, so a poisoned lock is simply taken over.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the next delivery tag and a receiver for its confirm; `None` once the channel is gone.
    /// The caller must publish exactly one message for this tag, or `unreserve` it.
    pub fn reserve(&self, message_id: &str) -> Option<(u64, oneshot::Receiver<Confirm>)> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let tag = state.next_tag;
        state.next_tag += 1;
        let (tx, rx) = oneshot::channel();
        state.outstanding.insert(
            tag,
            Pending {
                confirm: tx,
                message_id: message_id.to_owned(),
            },
        );
        Some((tag, rx))
    }

    /// Gives back a reservation whose frame was never enqueued, so the numbering stays in step
    /// with the broker's. Only the publish gate calls it, while it still holds the channel's turn,
    /// so the tag is always the newest one.
    pub fn unreserve(&self, tag: u64) {
        let mut state = self.lock();
        if state.next_tag == tag + 1 {
            state.next_tag = tag;
        }
        state.outstanding.remove(&tag);
    }

    /// Forgets a tag whose publisher stopped waiting (timeout); a late confirm is then ignored.
    pub fn abandon(&self, tag: u64) {
        self.lock().outstanding.remove(&tag);
    }

    /// Notes that the broker returned this message as unroutable (its ack comes next).
    pub fn mark_returned(&self, message_id: &str) {
        self.lock().returned.insert(message_id.to_owned());
    }

    /// Resolves one tag, or with `multiple` every tag up to and including it.
    pub fn resolve(&self, tag: u64, multiple: bool, outcome: Confirm) {
        let mut state = self.lock();
        let resolved = if multiple {
            let rest = state.outstanding.split_off(&(tag + 1));
            std::mem::replace(&mut state.outstanding, rest)
        } else {
            state
                .outstanding
                .remove(&tag)
                .map(|pending| BTreeMap::from([(tag, pending)]))
                .unwrap_or_default()
        };
        for pending in resolved.into_values() {
            let returned = state.returned.remove(&pending.message_id);
            let outcome = match outcome {
                Confirm::Ack if returned => Confirm::Returned,
                other => other,
            };
            // The publisher may have given up (timeout, cancelled request): nothing to tell.
            let _ = pending.confirm.send(outcome);
        }
    }

    /// The channel is gone: every outstanding publish is `Lost` and new reservations fail.
    pub fn fail_all(&self) {
        let failed = {
            let mut state = self.lock();
            state.closed = true;
            state.returned.clear();
            std::mem::take(&mut state.outstanding)
        };
        for pending in failed.into_values() {
            let _ = pending.confirm.send(Confirm::Lost);
        }
    }

    /// How many publishes wait for the broker; for shutdown logs and tests.
    pub fn outstanding(&self) -> usize {
        self.lock().outstanding.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn multiple_ack_resolves_the_prefix_only() {
        let t = ConfirmTracker::default();
        let rx: Vec<_> = (1..=4)
            .map(|i| t.reserve(&format!("m{i}")).unwrap())
            .collect();
        assert_eq!(
            rx.iter().map(|(tag, _)| *tag).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        t.resolve(3, true, Confirm::Ack);
        t.resolve(4, false, Confirm::Nack);
        let outcomes: Vec<_> = futures_outcomes(rx).await;
        assert_eq!(
            outcomes,
            [Confirm::Ack, Confirm::Ack, Confirm::Ack, Confirm::Nack]
        );
        assert_eq!(t.outstanding(), 0);
    }

    #[tokio::test]
    async fn fail_all_resolves_everything_as_lost_and_closes() {
        let t = ConfirmTracker::default();
        let rx: Vec<_> = (0..3)
            .map(|i| t.reserve(&format!("m{i}")).unwrap())
            .collect();
        t.resolve(1, false, Confirm::Ack);
        t.fail_all();
        assert_eq!(
            futures_outcomes(rx).await,
            [Confirm::Ack, Confirm::Lost, Confirm::Lost]
        );
        assert!(t.reserve("late").is_none());
    }

    #[test]
    fn unreserve_keeps_numbering_in_step() {
        let t = ConfirmTracker::default();
        let (a, _ra) = t.reserve("a").unwrap();
        let (b, _rb) = t.reserve("b").unwrap();
        t.unreserve(b);
        let (c, _rc) = t.reserve("c").unwrap();
        assert_eq!((a, b, c), (1, 2, 2));
    }

    #[tokio::test]
    async fn a_returned_message_is_not_reported_as_acked() {
        let t = ConfirmTracker::default();
        let rx: Vec<_> = ["kept", "dropped"]
            .iter()
            .map(|id| t.reserve(id).unwrap())
            .collect();
        t.mark_returned("dropped");
        t.resolve(2, true, Confirm::Ack);
        assert_eq!(
            futures_outcomes(rx).await,
            [Confirm::Ack, Confirm::Returned]
        );
    }

    async fn futures_outcomes(rx: Vec<(u64, oneshot::Receiver<Confirm>)>) -> Vec<Confirm> {
        let mut out = Vec::new();
        for (_, r) in rx {
            out.push(r.await.unwrap());
        }
        out
    }
}
