//! Where a stream reader is: the offset of the last message it handled. It decides where the next
//! session's consumer starts (right after it, so a reconnect neither replays nor skips), drops a
//! message the broker hands over twice, notices a gap, and says how far behind the end it is.
//!
//! A restart of the process starts from `--offset` again: the position lives in memory only.

use std::sync::Mutex;

use crate::amqp::StreamOffset;

/// The reader's position, shared by its consumer and its lag task.
#[derive(Debug, Default)]
pub struct Position {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The offset of the last message handled; `None` before the first.
    last: Option<i64>,
    /// The first offset to come while nothing was handled, when the start says it (`first`: 0,
    /// a number); `None` for `next`, `last` and a time, which start at (or near) the end.
    first_expected: Option<i64>,
    /// The broker's latest message count of the stream (its end, when nothing was truncated).
    end: u64,
}

/// What to do with a delivered offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Not seen before: handle it. `skipped` offsets lie between it and the previous one (the
    /// retention removed them, or they were never there).
    New {
        /// How many offsets were jumped over; 0 in the normal case.
        skipped: u64,
    },
    /// At or before the last one handled: already handled, only ack it.
    Seen,
}

impl Position {
    /// A reader that starts at `start` (resolved: no "ago" left).
    pub fn new(start: StreamOffset) -> Self {
        let first_expected = match start {
            StreamOffset::First => Some(0),
            StreamOffset::Offset(offset) => Some(offset),
            _ => None,
        };
        Self {
            state: Mutex::new(State {
                first_expected,
                ..State::default()
            }),
        }
    }

    /// Where a new consumer starts: after the last offset handled, or at `configured` (the
    /// start-up `--offset`) while nothing was handled.
    pub fn start(&self, configured: StreamOffset) -> StreamOffset {
        match self.lock().last {
            Some(last) => StreamOffset::Offset(last.saturating_add(1)),
            None => configured,
        }
    }

    /// Records `offset` as handled if it is new.
    pub fn arrive(&self, offset: i64) -> Arrival {
        let mut state = self.lock();
        match state.last {
            Some(last) if offset <= last => Arrival::Seen,
            previous => {
                state.last = Some(offset);
                let skipped = previous.map_or(0, |last| offset.saturating_sub(last) - 1);
                Arrival::New {
                    skipped: u64::try_from(skipped).unwrap_or(0),
                }
            }
        }
    }

    /// The offset of the last message handled.
    pub fn last(&self) -> Option<i64> {
        self.lock().last
    }

    /// Notes the stream's message count, as the broker last reported it.
    pub fn set_end(&self, messages: u64) {
        self.lock().end = messages;
    }

    /// Messages in the stream after the last one handled: the reported end minus the next offset
    /// to read. Assumes offsets start at 0 (nothing truncated by the retention yet) and lags the
    /// truth by the broker's refresh interval (about 5 s on 3.10); never negative. Before the
    /// first message it is 0 for a reader that starts at the end (`next`, `last`, a time).
    pub fn lag(&self) -> u64 {
        let state = self.lock();
        let next = match (state.last, state.first_expected) {
            (Some(last), _) => last.saturating_add(1),
            (None, Some(first)) => first,
            (None, None) => return 0,
        };
        state
            .end
            .saturating_sub(u64::try_from(next).unwrap_or(u64::MAX))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_after_the_last_offset_handled() {
        let position = Position::default();
        assert_eq!(position.start(StreamOffset::First), StreamOffset::First);
        assert_eq!(position.arrive(0), Arrival::New { skipped: 0 });
        assert_eq!(position.arrive(1), Arrival::New { skipped: 0 });
        assert_eq!(position.start(StreamOffset::First), StreamOffset::Offset(2));
    }

    #[test]
    fn duplicates_are_dropped_and_gaps_counted() {
        let position = Position::default();
        assert_eq!(position.arrive(10), Arrival::New { skipped: 0 });
        assert_eq!(position.arrive(10), Arrival::Seen);
        assert_eq!(position.arrive(3), Arrival::Seen);
        assert_eq!(position.arrive(14), Arrival::New { skipped: 3 });
        assert_eq!(position.last(), Some(14));
    }

    #[test]
    fn lag_is_what_follows_the_last_offset() {
        let position = Position::new(StreamOffset::Next);
        position.set_end(100);
        assert_eq!(position.lag(), 0, "next starts at the end");
        let position = Position::new(StreamOffset::Offset(40));
        position.set_end(100);
        assert_eq!(position.lag(), 60);
        let position = Position::new(StreamOffset::First);
        position.set_end(100);
        assert_eq!(position.lag(), 100);
        position.arrive(49);
        assert_eq!(position.lag(), 50);
        position.arrive(120);
        assert_eq!(position.lag(), 0, "a stale end never makes it negative");
    }
}
