//! The only way a frame is published on a channel.
//!
//! On a confirm-mode channel the broker numbers publishes 1, 2, 3… and acks them by that number,
//! but amqprs' `basic_publish` returns none, so we count ourselves. That only works if "take the
//! next number" and "hand the frame to the connection" are one step for the whole channel: if two
//! code paths (say a request and a telemetry snapshot) could each reserve a number and enqueue
//! under their own lock, frames would reach the wire in another order than their numbers, and an
//! ack would resolve somebody else's publish. So each channel has exactly one gate, owned by its
//! session, and every publish on it — confirmed or not, whatever role or task it comes from —
//! goes through [`PublishGate::enqueue`].
//!
//! Cancellation is safe by construction: the gate's lock is held from the reservation until the
//! frame is enqueued, so a publish abandoned in between (a client that hung up, a deadline) holds
//! the newest number, which is simply given back. amqprs enqueues a publish as one message to its
//! writer task, so a frame is either wholly handed over or not at all.

use std::future::Future;
use std::sync::Arc;

use amqprs::channel::{BasicPublishArguments, Channel};
use amqprs::BasicProperties;
use tokio::sync::{oneshot, Mutex};

use super::confirms::{Confirm, ConfirmTracker};

/// One publish, ready for the wire.
pub struct Frame {
    /// Message id, persistence, content type, timestamp and app id, as consumers see them.
    pub properties: BasicProperties,
    /// The payload, sent as it is.
    pub body: Vec<u8>,
    /// Exchange, routing key and the `mandatory` flag.
    pub args: BasicPublishArguments,
    /// Matches a `basic.return` to its publish (the broker returns it before the ack).
    pub message_id: String,
}

/// Where frames go: the channel, or a stand-in in unit tests.
pub trait FrameSink: Send + Sync {
    /// Hands the frame to the connection's writer; an error means it never left.
    fn send(&self, frame: Frame) -> impl Future<Output = Result<(), amqprs::error::Error>> + Send;
}

impl FrameSink for Channel {
    fn send(&self, frame: Frame) -> impl Future<Output = Result<(), amqprs::error::Error>> + Send {
        self.basic_publish(frame.properties, frame.body, frame.args)
    }
}

/// A frame handed over on a confirm-mode channel: its number, and where its confirm will arrive.
#[derive(Debug)]
pub struct Enqueued {
    /// The publish's number on the channel: the delivery tag the broker's ack will carry.
    pub tag: u64,
    /// Resolves with the broker's answer, or `Lost` when the session ends first.
    pub confirm: oneshot::Receiver<Confirm>,
}

/// The channel is gone (its writer stopped, or the session failed its confirms): nothing was
/// sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the channel is closed")]
pub struct GateClosed;

/// The publish gate of one channel.
pub struct PublishGate<S = Channel> {
    sink: S,
    /// `Some` on a confirm-mode channel.
    confirms: Option<Arc<ConfirmTracker>>,
    /// Held from taking a number to enqueueing the frame.
    turn: Mutex<()>,
}

/// A number taken but not yet used; given back if the frame never leaves.
struct Reservation<'a> {
    confirms: &'a ConfirmTracker,
    tag: u64,
    confirm: Option<oneshot::Receiver<Confirm>>,
}

impl Reservation<'_> {
    fn enqueued(mut self) -> Enqueued {
        Enqueued {
            tag: self.tag,
            confirm: self.confirm.take().unwrap_or_else(|| oneshot::channel().1),
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        // Still holding the receiver: the frame was not enqueued.
        if self.confirm.is_some() {
            self.confirms.unreserve(self.tag);
        }
    }
}

impl<S: FrameSink> PublishGate<S> {
    /// The gate of a channel; `confirms` when the channel is in confirm mode.
    pub fn new(sink: S, confirms: Option<Arc<ConfirmTracker>>) -> Self {
        Self {
            sink,
            confirms,
            turn: Mutex::new(()),
        }
    }

    /// The channel's confirm book-keeping, `None` without confirm mode.
    pub fn confirms(&self) -> Option<&Arc<ConfirmTracker>> {
        self.confirms.as_ref()
    }

    /// Whether acks will come for what is published here.
    pub fn confirms_publishes(&self) -> bool {
        self.confirms.is_some()
    }

    /// Numbers the frame (in confirm mode) and hands it to the connection, as one step. Returns
    /// the number and the confirm's receiver in confirm mode, `None` otherwise. Dropping the
    /// returned future before it resolves sends nothing and keeps the numbering in step.
    pub async fn enqueue(&self, frame: Frame) -> Result<Option<Enqueued>, GateClosed> {
        // Declared first so it is released last, after the reservation's drop.
        let _turn = self.turn.lock().await;
        let reservation = match &self.confirms {
            Some(confirms) => {
                let (tag, confirm) = confirms.reserve(&frame.message_id).ok_or(GateClosed)?;
                Some(Reservation {
                    confirms,
                    tag,
                    confirm: Some(confirm),
                })
            }
            None => None,
        };
        self.sink.send(frame).await.map_err(|_| GateClosed)?;
        Ok(reservation.map(Reservation::enqueued))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;
    use std::time::Duration;

    use tokio::sync::Notify;

    use super::*;

    /// Records what reached "the wire"; a frame whose id starts with `hold` waits until released.
    #[derive(Default)]
    struct TestSink {
        wire: StdMutex<Vec<String>>,
        holding: Notify,
        release: Notify,
    }

    impl FrameSink for Arc<TestSink> {
        fn send(
            &self,
            frame: Frame,
        ) -> impl Future<Output = Result<(), amqprs::error::Error>> + Send {
            let sink = self.clone();
            async move {
                if frame.message_id.starts_with("hold") {
                    sink.holding.notify_one();
                    sink.release.notified().await;
                }
                sink.wire.lock().unwrap().push(frame.message_id);
                Ok(())
            }
        }
    }

    fn frame(id: &str) -> Frame {
        Frame {
            properties: BasicProperties::default(),
            body: Vec::new(),
            args: BasicPublishArguments::new("", "q"),
            message_id: id.to_owned(),
        }
    }

    fn gate() -> (Arc<PublishGate<Arc<TestSink>>>, Arc<TestSink>) {
        let sink = Arc::new(TestSink::default());
        let confirms = Arc::new(ConfirmTracker::default());
        (
            Arc::new(PublishGate::new(sink.clone(), Some(confirms))),
            sink,
        )
    }

    #[tokio::test]
    async fn a_publish_cancelled_between_reserve_and_enqueue_gives_its_number_back() {
        let (gate, sink) = gate();
        // A takes number 1 and stalls before its frame is enqueued.
        let a = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enqueue(frame("hold-a")).await }
        });
        sink.holding.notified().await;
        // B, concurrently, must wait for the gate rather than take number 2.
        let b = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enqueue(frame("b")).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!b.is_finished(), "B passed the gate while A held it");
        // A's client hangs up: its publish is dropped mid-way.
        a.abort();
        assert!(a.await.unwrap_err().is_cancelled());
        let b = b.await.unwrap().unwrap().expect("confirm mode");
        assert_eq!(
            b.tag, 1,
            "B is the first frame on the wire, so it is number 1"
        );
        let c = gate.enqueue(frame("c")).await.unwrap().unwrap();
        assert_eq!(c.tag, 2);
        assert_eq!(*sink.wire.lock().unwrap(), ["b", "c"]);

        // The broker acks number 2 alone: only C is resolved.
        let confirms = gate.confirms().unwrap();
        confirms.resolve(2, false, Confirm::Ack);
        assert_eq!(c.confirm.await.unwrap(), Confirm::Ack);
        let mut b_confirm = b.confirm;
        assert!(b_confirm.try_recv().is_err(), "B's confirm has not come");
        confirms.resolve(1, false, Confirm::Nack);
        assert_eq!(b_confirm.await.unwrap(), Confirm::Nack);
        assert_eq!(confirms.outstanding(), 0, "nothing left of A's reservation");
    }

    #[tokio::test]
    async fn concurrent_publishers_get_the_numbers_of_their_place_on_the_wire() {
        let (gate, sink) = gate();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("m{i}");
                let enqueued = gate.enqueue(frame(&id)).await.unwrap().unwrap();
                (id, enqueued.tag)
            }));
        }
        let mut numbered = Vec::new();
        for task in tasks {
            numbered.push(task.await.unwrap());
        }
        let wire = sink.wire.lock().unwrap().clone();
        for (id, tag) in numbered {
            let position = wire.iter().position(|w| *w == id).unwrap();
            assert_eq!(tag, position as u64 + 1, "{id}");
        }
    }

    #[tokio::test]
    async fn without_confirm_mode_nothing_is_numbered() {
        let sink = Arc::new(TestSink::default());
        let gate = PublishGate::new(sink.clone(), None);
        assert!(gate.enqueue(frame("x")).await.unwrap().is_none());
        assert!(!gate.confirms_publishes());
        assert_eq!(*sink.wire.lock().unwrap(), ["x"]);
    }

    #[tokio::test]
    async fn a_closed_channel_takes_no_number() {
        let (gate, _sink) = gate();
        gate.confirms().unwrap().fail_all();
        assert_eq!(gate.enqueue(frame("late")).await.unwrap_err(), GateClosed);
    }
}
