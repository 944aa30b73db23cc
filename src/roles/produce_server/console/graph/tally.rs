//! How many messages went along one edge of the diagram, and how fast lately.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The window the rate is measured over: long enough to smooth one-second snapshots, short
/// enough that an edge goes quiet a few seconds after its traffic stops.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// One edge's counts.
#[derive(Debug, Default)]
pub struct EdgeTally {
    /// A total reported by the roles themselves (a publisher's confirmed publishes, a consumer's
    /// deliveries): replaced, never added to.
    reported: u64,
    /// Messages the console saw go along the edge in the roles' handled lists.
    events: u64,
    /// `(when, count)` samples within the rate window, oldest first.
    samples: VecDeque<(Instant, u64)>,
}

impl EdgeTally {
    /// Messages along the edge since the console saw it.
    pub fn count(&self) -> u64 {
        self.reported + self.events
    }

    /// Adds messages seen in a handled list.
    pub fn add(&mut self, n: u64) {
        self.events += n;
    }

    /// Replaces the total a role reported (counters only grow, except when the role restarts,
    /// which starts its total afresh).
    pub fn report(&mut self, total: u64) {
        self.reported = total;
    }

    /// Takes a sample for the rate and returns messages per second over the window.
    pub fn sample(&mut self, now: Instant) -> f64 {
        let count = self.count();
        self.samples.push_back((now, count));
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let Some(&(first_at, first)) = self.samples.front() else {
            return 0.0;
        };
        let seconds = now.duration_since(first_at).as_secs_f64();
        if seconds < 0.5 {
            return 0.0;
        }
        let rate = count.saturating_sub(first) as f64 / seconds;
        (rate * 10.0).round() / 10.0
    }

    /// When the edge last had a sample, to forget edges nobody reports any more.
    pub fn last_sampled(&self) -> Option<Instant> {
        self.samples.back().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_messages_over_the_window_and_reports_replace() {
        let start = Instant::now();
        let mut tally = EdgeTally::default();
        assert_eq!(tally.sample(start), 0.0);
        tally.report(10);
        tally.add(2);
        assert_eq!(tally.count(), 12);
        assert_eq!(tally.sample(start + Duration::from_secs(2)), 6.0);
        tally.report(10);
        assert_eq!(tally.count(), 12, "a report replaces, it does not add");
        // Quiet for longer than the window: the rate falls to zero.
        assert_eq!(tally.sample(start + Duration::from_secs(9)), 0.0);
    }
}
