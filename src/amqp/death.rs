//! A message's `x-death` header, read: the broker's own record of every time the message was
//! dead-lettered, which is how a retry knows its attempt and a learner sees why a message is
//! where it is.
//!
//! RabbitMQ keeps one entry per (queue, reason); an entry's `count` grows each time the message
//! dies the same way in the same queue again, and its `time` stays at the first death. The newest
//! entry comes first, but the order of the older ones is not to be relied on: measured on 3.10.8,
//! a message that expired in `q.retry.200ms`, then `q.retry.400ms` (header `[400ms, 200ms]`), then
//! was rejected from `q`, reached the dead-letter queue as `[q rejected, 200ms, 400ms]`. So the
//! attempt is counted from the counts, never from positions. A copy published by a client keeps
//! the header, so the history survives a publish-then-ack retry step.

use amqprs::{FieldTable, FieldValue, ShortStr};

/// One `x-death` entry: the message died `count` times in `queue` for `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    /// The queue it died in (a delay queue for a retry, the work queue for a rejection).
    pub queue: String,
    /// `rejected`, `expired`, `maxlen` or `delivery_limit`.
    pub reason: String,
    /// How many times it died this way in this queue.
    pub count: i64,
    /// The exchange it had been published to before that death (`""`: the default exchange).
    pub exchange: String,
}

/// The whole `x-death` header, newest entry first; empty when the message never died.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeathHistory(pub Vec<Death>);

impl DeathHistory {
    /// Reads the `x-death` header of `headers`; entries it cannot read are skipped (a header a
    /// client forged is not worth failing a delivery over).
    pub fn from_headers(headers: Option<&FieldTable>) -> Self {
        let Some(FieldValue::A(entries)) =
            headers.and_then(|h| h.get(&ShortStr::try_from("x-death").ok()?))
        else {
            return Self::default();
        };
        let entries: Vec<FieldValue> = entries.clone().into();
        Self(
            entries
                .iter()
                .filter_map(|entry| match entry {
                    FieldValue::F(table) => Death::from_table(table),
                    _ => None,
                })
                .collect(),
        )
    }

    /// How many times the message expired in a queue whose name starts with `prefix` (the delay
    /// queues of one work queue): the retries it went through.
    pub fn expired_in(&self, prefix: &str) -> u32 {
        let total: i64 = self
            .0
            .iter()
            .filter(|d| d.reason == "expired" && d.queue.starts_with(prefix))
            .map(|d| d.count.max(0))
            .sum();
        u32::try_from(total).unwrap_or(u32::MAX)
    }

    /// Whether the message never died.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The story in one line, in the header's order (newest first), for a log: `expired in
    /// q.retry.10s ×1, expired in q.retry.1s ×1`; `none` when it never died.
    pub fn story(&self) -> String {
        if self.0.is_empty() {
            return "none".to_owned();
        }
        self.0
            .iter()
            .map(|d| format!("{} in {} ×{}", d.reason, d.queue, d.count))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Death {
    fn from_table(table: &FieldTable) -> Option<Self> {
        let text = |key: &str| match table.get(&ShortStr::try_from(key).ok()?)? {
            FieldValue::S(s) => Some(String::from(s.clone())),
            _ => None,
        };
        let count = match table.get(&ShortStr::try_from("count").ok()?)? {
            FieldValue::l(n) => *n,
            FieldValue::I(n) => i64::from(*n),
            FieldValue::i(n) => i64::from(*n),
            FieldValue::s(n) => i64::from(*n),
            FieldValue::u(n) => i64::from(*n),
            _ => return None,
        };
        Some(Self {
            queue: text("queue")?,
            reason: text("reason")?,
            count,
            exchange: text("exchange").unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use amqprs::{FieldArray, LongStr};

    use super::*;

    fn key(k: &str) -> ShortStr {
        ShortStr::try_from(k).unwrap()
    }

    fn text(s: &str) -> FieldValue {
        FieldValue::S(LongStr::try_from(s).unwrap())
    }

    /// An entry as RabbitMQ 3.10 writes it (count as a signed 64-bit, time as a timestamp).
    fn entry(queue: &str, reason: &str, count: i64) -> FieldValue {
        let mut table = FieldTable::new();
        table.insert(key("queue"), text(queue));
        table.insert(key("reason"), text(reason));
        table.insert(key("count"), FieldValue::l(count));
        table.insert(key("exchange"), text(""));
        table.insert(key("time"), FieldValue::T(1_700_000_000));
        table.insert(
            key("routing-keys"),
            FieldValue::A(FieldArray::try_from(vec![text(queue)]).unwrap()),
        );
        FieldValue::F(table)
    }

    fn headers(entries: Vec<FieldValue>) -> FieldTable {
        let mut headers = FieldTable::new();
        headers.insert(
            key("x-death"),
            FieldValue::A(FieldArray::try_from(entries).unwrap()),
        );
        headers.insert(key("other"), text("kept"));
        headers
    }

    #[test]
    fn the_history_is_read_and_told_in_the_header_order() {
        let headers = headers(vec![
            entry("jobs", "rejected", 1),
            entry("jobs.retry.10s", "expired", 1),
            entry("jobs.retry.1s", "expired", 2),
        ]);
        let history = DeathHistory::from_headers(Some(&headers));
        assert_eq!(history.0.len(), 3);
        assert_eq!(history.0[0].reason, "rejected");
        assert_eq!(history.expired_in("jobs.retry."), 3);
        assert_eq!(history.expired_in("other.retry."), 0);
        assert_eq!(
            history.story(),
            "rejected in jobs ×1, expired in jobs.retry.10s ×1, expired in jobs.retry.1s ×2"
        );
    }

    #[test]
    fn no_header_or_an_odd_one_is_an_empty_history() {
        assert!(DeathHistory::from_headers(None).is_empty());
        let mut odd = FieldTable::new();
        odd.insert(key("x-death"), text("not an array"));
        assert!(DeathHistory::from_headers(Some(&odd)).is_empty());
        let mut partial = FieldTable::new();
        partial.insert(key("queue"), text("q"));
        let headers = headers(vec![
            FieldValue::F(partial),
            entry("q.retry.1s", "expired", 1),
        ]);
        let history = DeathHistory::from_headers(Some(&headers));
        assert_eq!(history.0.len(), 1, "the unreadable entry is skipped");
        assert_eq!(DeathHistory::default().story(), "none");
    }
}
