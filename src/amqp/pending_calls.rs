//! The calls of one process that wait for their replies, by correlation id: bounded, and each
//! entry removed by its own call whichever way it ends, so a late reply finds nobody (see
//! [`rpc`](super::rpc)).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;
use tokio::time::Instant;

/// A reply as it arrived, before it is matched to its call's start.
pub(super) struct Arrived {
    pub body: Vec<u8>,
    pub server: Option<String>,
    pub at: Instant,
}

/// The calls waiting for replies, by correlation id.
#[derive(Default)]
pub(super) struct PendingCalls {
    calls: Mutex<HashMap<String, oneshot::Sender<Arrived>>>,
}

impl PendingCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Arrived>>> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a call; `None` when the map is full.
    pub fn register(
        self: &Arc<Self>,
        correlation_id: &str,
        limit: usize,
    ) -> Option<(PendingEntry, oneshot::Receiver<Arrived>)> {
        let (sender, receiver) = oneshot::channel();
        let mut calls = self.lock();
        if calls.len() >= limit {
            return None;
        }
        calls.insert(correlation_id.to_owned(), sender);
        let entry = PendingEntry {
            calls: self.clone(),
            correlation_id: correlation_id.to_owned(),
        };
        Some((entry, receiver))
    }

    /// Hands a reply to its call; `false` when no call waits for it (any more).
    pub fn resolve(&self, correlation_id: &str, arrived: Arrived) -> bool {
        let waiting = self.lock().remove(correlation_id);
        waiting.is_some_and(|call| call.send(arrived).is_ok())
    }

    /// How many calls wait.
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

/// A call's entry in the map, removed when the call ends, however it ends.
pub(super) struct PendingEntry {
    calls: Arc<PendingCalls>,
    correlation_id: String,
}

impl Drop for PendingEntry {
    fn drop(&mut self) {
        self.calls.lock().remove(&self.correlation_id);
    }
}
