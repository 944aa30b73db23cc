//! Retry with delay: a ladder of delay queues beside the work queue.
//!
//! A failed message is not requeued at once (it would come straight back and fail again in a hot
//! loop): it is parked in the delay queue of its attempt, `<queue>.retry.<delay>`, a durable queue
//! with a queue-level `x-message-ttl` that dead-letters expired messages back to the work queue
//! through the default exchange. One queue per delay, because a per-message TTL only expires at
//! the head of its queue (a 500 ms message behind a 3 s one waits 3 s). After the last delay the
//! message is rejected into the work queue's dead-letter queue, carrying its whole `x-death`
//! history, from which the attempt number is also read (see [`death`](super::death)).

use std::time::Duration;

use amqprs::{FieldTable, FieldValue, ShortStr};

use super::death::DeathHistory;
use super::names::QueueName;
use super::topology::QueueSpec;
use super::work_queue::QueueType;

/// The most delays a ladder may have: enough for any lesson, and a bound on the queues declared.
pub const MAX_RETRY_DELAYS: usize = 10;

/// The validated `--retry-delays` list: 1 to [`MAX_RETRY_DELAYS`] delays, each a whole number of
/// milliseconds (the unit of `x-message-ttl`) of at least 1 ms. Not necessarily increasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryDelays(Vec<Duration>);

impl RetryDelays {
    /// Checks the list; the error says which bound was broken.
    pub fn new(delays: Vec<Duration>) -> Result<Self, String> {
        if delays.is_empty() {
            return Err("needs at least one delay (e.g. 1s,10s,1m)".to_owned());
        }
        if delays.len() > MAX_RETRY_DELAYS {
            return Err(format!(
                "has {} delays; at most {MAX_RETRY_DELAYS} are allowed",
                delays.len()
            ));
        }
        for delay in &delays {
            if *delay < Duration::from_millis(1) {
                return Err("every delay must be at least 1ms".to_owned());
            }
            if delay.subsec_nanos() % 1_000_000 != 0 {
                return Err(format!(
                    "{} is not a whole number of milliseconds (the broker's TTL unit)",
                    humantime::format_duration(*delay)
                ));
            }
        }
        Ok(Self(delays))
    }

    /// The delays, in the order they apply.
    pub fn as_slice(&self) -> &[Duration] {
        &self.0
    }
}

/// A delay in the compact form used in queue names and logs: `200ms`, `1s`, `90s`, `10m`, `1h`.
pub fn delay_label(delay: Duration) -> String {
    let ms = delay.as_millis();
    if ms > 0 && ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms > 0 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms > 0 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// One rung: after a failure, wait `delay` in `queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryStep {
    /// How long the message waits before it is back in the work queue.
    pub delay: Duration,
    /// `<queue>.retry.<delay>`.
    pub queue: QueueName,
}

/// The delay queues of one work queue, in the order a message climbs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryLadder {
    work_queue: QueueName,
    steps: Vec<RetryStep>,
}

/// What to do with a message whose handling failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure<'a> {
    /// Park it in this delay queue; it comes back for the next attempt.
    Retry(&'a RetryStep),
    /// No delay left: reject it into the dead-letter queue.
    GiveUp,
}

impl RetryLadder {
    /// The ladder of `work_queue`; fails when a delay queue's name would not fit AMQP's 255 bytes.
    pub fn for_queue(work_queue: &QueueName, delays: &RetryDelays) -> Result<Self, String> {
        let steps = delays
            .as_slice()
            .iter()
            .map(|&delay| {
                let suffix = format!(".retry.{}", delay_label(delay));
                let queue = work_queue.with_suffix(&suffix).map_err(|e| {
                    format!(
                        "the delay queues are named after the work queue, and \
                         \"{work_queue}{suffix}\" {e} (use a shorter queue name)"
                    )
                })?;
                Ok(RetryStep { delay, queue })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            work_queue: work_queue.clone(),
            steps,
        })
    }

    /// The rungs, in order.
    pub fn steps(&self) -> &[RetryStep] {
        &self.steps
    }

    /// Attempts a message gets in all: the first, plus one per delay.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.steps.len()).unwrap_or(u32::MAX) + 1
    }

    /// Which attempt a delivery is (1 for a message that never went through a delay queue),
    /// read from its `x-death` history: one more than the times it expired in a delay queue.
    pub fn attempt_of(&self, deaths: &DeathHistory) -> u32 {
        deaths.expired_in(&self.prefix()).saturating_add(1)
    }

    /// What follows a failure of attempt `attempt` (1-based).
    pub fn after_failure(&self, attempt: u32) -> AfterFailure<'_> {
        let index = usize::try_from(attempt.max(1) - 1).unwrap_or(usize::MAX);
        match self.steps.get(index) {
            Some(step) => AfterFailure::Retry(step),
            None => AfterFailure::GiveUp,
        }
    }

    /// `<queue>.retry.`: every delay queue of this work queue, whatever its delay (so a message
    /// still counts its attempts after the delays were changed).
    fn prefix(&self) -> String {
        format!("{}.retry.", self.work_queue)
    }

    /// The delay queues to declare, of the work queue's type, each once even when a delay is
    /// listed twice.
    pub fn queue_specs(&self, queue_type: QueueType) -> Vec<QueueSpec> {
        let mut specs: Vec<QueueSpec> = Vec::new();
        for step in &self.steps {
            if specs.iter().any(|s| s.name.as_ref() == Some(&step.queue)) {
                continue;
            }
            let mut spec = QueueSpec::durable(step.queue.clone());
            let mut arguments = queue_type.arguments();
            let ttl = i64::try_from(step.delay.as_millis()).unwrap_or(i64::MAX);
            insert(&mut arguments, "x-message-ttl", FieldValue::l(ttl));
            insert(
                &mut arguments,
                "x-dead-letter-exchange",
                FieldValue::from(""),
            );
            insert(
                &mut arguments,
                "x-dead-letter-routing-key",
                FieldValue::from(self.work_queue.as_str().to_owned()),
            );
            spec.arguments = arguments;
            specs.push(spec);
        }
        specs
    }

    /// `1s, 10s, 1m` for logs and `--check-config`.
    pub fn describe(&self) -> String {
        self.steps
            .iter()
            .map(|s| delay_label(s.delay))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn insert(table: &mut FieldTable, key: &'static str, value: FieldValue) {
    // Every key here is a short constant, well under ShortStr's 255 bytes.
    if let Ok(key) = ShortStr::try_from(key) {
        table.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::death::Death;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ladder(queue: &str, delays: &[u64]) -> RetryLadder {
        let delays = RetryDelays::new(delays.iter().map(|&n| ms(n)).collect()).unwrap();
        RetryLadder::for_queue(&QueueName::parse(queue).unwrap(), &delays).unwrap()
    }

    #[test]
    fn delays_are_bounded() {
        assert!(RetryDelays::new(vec![]).is_err());
        assert!(RetryDelays::new(vec![ms(1); 11])
            .unwrap_err()
            .contains("at most 10"));
        assert!(RetryDelays::new(vec![Duration::from_micros(500)]).is_err());
        assert!(RetryDelays::new(vec![Duration::from_micros(1500)])
            .unwrap_err()
            .contains("milliseconds"));
        assert!(
            RetryDelays::new(vec![ms(10_000), ms(1000)]).is_ok(),
            "any order"
        );
    }

    #[test]
    fn labels_are_compact() {
        let labels: Vec<String> = [200, 1000, 90_000, 600_000, 3_600_000, 1500]
            .iter()
            .map(|&n| delay_label(ms(n)))
            .collect();
        assert_eq!(labels, ["200ms", "1s", "90s", "10m", "1h", "1500ms"]);
    }

    #[test]
    fn the_ladder_names_its_queues_and_counts_attempts_from_x_death() {
        let ladder = ladder("jobs", &[1000, 10_000, 60_000]);
        let names: Vec<&str> = ladder.steps().iter().map(|s| s.queue.as_str()).collect();
        assert_eq!(names, ["jobs.retry.1s", "jobs.retry.10s", "jobs.retry.1m"]);
        assert_eq!(ladder.attempts(), 4);
        let death = |queue: &str, reason: &str| Death {
            queue: queue.to_owned(),
            reason: reason.to_owned(),
            count: 1,
            exchange: String::new(),
        };
        let fresh = DeathHistory::default();
        assert_eq!(ladder.attempt_of(&fresh), 1);
        let twice = DeathHistory(vec![
            death("jobs.retry.10s", "expired"),
            death("jobs.retry.1s", "expired"),
            death("jobs", "rejected"),
        ]);
        assert_eq!(ladder.attempt_of(&twice), 3);
        assert_eq!(
            ladder.after_failure(1),
            AfterFailure::Retry(&ladder.steps()[0])
        );
        assert_eq!(
            ladder.after_failure(3),
            AfterFailure::Retry(&ladder.steps()[2])
        );
        assert_eq!(ladder.after_failure(4), AfterFailure::GiveUp);
    }

    #[test]
    fn delay_queues_expire_back_into_the_work_queue() {
        let ladder = ladder("jobs", &[200, 200, 400]);
        let specs = ladder.queue_specs(QueueType::Classic);
        assert_eq!(specs.len(), 2, "a repeated delay shares its queue");
        let key = |k: &str| ShortStr::try_from(k).unwrap();
        let args = &specs[1].arguments;
        assert_eq!(args.get(&key("x-message-ttl")), Some(&FieldValue::l(400)));
        assert_eq!(
            args.get(&key("x-dead-letter-exchange")),
            Some(&FieldValue::from(""))
        );
        assert_eq!(
            args.get(&key("x-dead-letter-routing-key")),
            Some(&FieldValue::from("jobs"))
        );
        assert!(specs[1].durable);
        let quorum = ladder.queue_specs(QueueType::Quorum);
        assert_eq!(
            quorum[0].arguments.get(&key("x-queue-type")),
            Some(&FieldValue::from("quorum"))
        );
    }

    #[test]
    fn delay_queue_names_must_fit() {
        let long = QueueName::parse("q".repeat(250)).unwrap();
        let delays = RetryDelays::new(vec![ms(1000)]).unwrap();
        assert!(RetryLadder::for_queue(&long, &delays)
            .unwrap_err()
            .contains("shorter queue name"));
    }
}
