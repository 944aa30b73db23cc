//! The messages a role handled since its last snapshot, bounded: the consumer records into it,
//! the snapshot task takes from it once per interval.

use std::sync::Mutex;

use super::{Handled, Outcome, MAX_HANDLED};

/// The messages a role handled since its last snapshot; one per role, shared by its consumer
/// and its snapshot task.
#[derive(Debug, Default)]
pub struct HandledLog {
    state: Mutex<LogState>,
}

#[derive(Debug, Default)]
struct LogState {
    handled: Vec<Handled>,
    cut: u64,
    dead_lettered: u64,
    retried: u64,
}

impl HandledLog {
    /// Notes a handled message for the next snapshot.
    pub fn record(&self, handled: Handled) {
        let mut log = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if handled.outcome == Outcome::DeadLettered {
            log.dead_lettered += 1;
        }
        if handled.outcome == Outcome::Retried {
            log.retried += 1;
        }
        if log.handled.len() < MAX_HANDLED {
            log.handled.push(handled);
        } else {
            log.cut += 1;
        }
    }

    /// Messages parked for a retry since start.
    pub(super) fn retried(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).retried
    }

    /// The handled messages since the last call, how many did not fit, and the dead-lettered
    /// total.
    pub(super) fn take(&self) -> (Vec<Handled>, u64, u64) {
        let mut log = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let handled = std::mem::take(&mut log.handled);
        let cut = std::mem::take(&mut log.cut);
        (handled, cut, log.dead_lettered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::snapshot::Trace;

    #[test]
    fn handled_messages_are_bounded_and_counted() {
        let log = HandledLog::default();
        for i in 0..(MAX_HANDLED + 5) {
            log.record(Handled {
                message_id: i.to_string(),
                seq: None,
                burst: None,
                routing_key: None,
                redelivered: false,
                outcome: Outcome::Acked,
                attempt: None,
                trace: Trace::default(),
            });
        }
        let (handled, cut, _) = log.take();
        assert_eq!(handled.len(), MAX_HANDLED);
        assert_eq!(cut, 5);
        assert_eq!(log.take().0.len(), 0, "taken once");
    }
}
