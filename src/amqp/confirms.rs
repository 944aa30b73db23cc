//! Book-keeping for publisher confirms on one channel.
//!
//! The broker numbers the publishes on a confirm-mode channel 1, 2, 3… and later acks or nacks them,
//! often several at once (`multiple`). amqprs' `basic_publish` returns no number, so we count
//! ourselves: the publisher reserves the next tag and enqueues the frame as one step (see
//! `publisher.rs`), and the channel callback resolves the waiting publishers from here.
//!
//! Outstanding tags live in a `BTreeMap` so that a `multiple` ack resolves a whole prefix with one
//! `split_off`. When the channel or connection ends, the broker will never answer the outstanding
//! tags: `fail_all` resolves them as `Lost` so nobody waits for a confirm that cannot come.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

/// What the broker (or the loss of the connection) said about one published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// The broker took responsibility for the message.
    Ack,
    /// The broker refused it (e.g. a queue's `reject-publish` overflow).
    Nack,
    /// The channel ended before the broker answered: the message may or may not be queued.
    Lost,
}

#[derive(Debug)]
struct TrackerState {
    next_tag: u64,
    outstanding: BTreeMap<u64, oneshot::Sender<Confirm>>,
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
    pub fn reserve(&self) -> Option<(u64, oneshot::Receiver<Confirm>)> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let tag = state.next_tag;
        state.next_tag += 1;
        let (tx, rx) = oneshot::channel();
        state.outstanding.insert(tag, tx);
        Some((tag, rx))
    }

    /// Gives back the most recent reservation when its frame was never enqueued, so the numbering
    /// stays in step with the broker's.
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

    /// Resolves one tag, or with `multiple` every tag up to and including it.
    pub fn resolve(&self, tag: u64, multiple: bool, outcome: Confirm) {
        let resolved = {
            let mut state = self.lock();
            if multiple {
                let rest = state.outstanding.split_off(&(tag + 1));
                std::mem::replace(&mut state.outstanding, rest)
            } else {
                state
                    .outstanding
                    .remove(&tag)
                    .map(|tx| BTreeMap::from([(tag, tx)]))
                    .unwrap_or_default()
            }
        };
        for tx in resolved.into_values() {
            // The publisher may have given up (timeout, cancelled request): nothing to tell.
            let _ = tx.send(outcome);
        }
    }

    /// The channel is gone: every outstanding publish is `Lost` and new reservations fail.
    pub fn fail_all(&self) {
        let failed = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.outstanding)
        };
        for tx in failed.into_values() {
            let _ = tx.send(Confirm::Lost);
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
        let rx: Vec<_> = (1..=4).map(|_| t.reserve().unwrap()).collect();
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
        let rx: Vec<_> = (0..3).map(|_| t.reserve().unwrap()).collect();
        t.resolve(1, false, Confirm::Ack);
        t.fail_all();
        assert_eq!(
            futures_outcomes(rx).await,
            [Confirm::Ack, Confirm::Lost, Confirm::Lost]
        );
        assert!(t.reserve().is_none());
    }

    #[test]
    fn unreserve_keeps_numbering_in_step() {
        let t = ConfirmTracker::default();
        let (a, _ra) = t.reserve().unwrap();
        let (b, _rb) = t.reserve().unwrap();
        t.unreserve(b);
        let (c, _rc) = t.reserve().unwrap();
        assert_eq!((a, b, c), (1, 2, 2));
    }

    async fn futures_outcomes(rx: Vec<(u64, oneshot::Receiver<Confirm>)>) -> Vec<Confirm> {
        let mut out = Vec::new();
        for (_, r) in rx {
            out.push(r.await.unwrap());
        }
        out
    }
}
