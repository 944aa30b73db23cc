//! The live lab console: produce-server reads every role's snapshots from the telemetry exchange
//! (with its own exclusive queue), keeps an aggregated view, and streams it to browsers as
//! Server-Sent Events at `GET /events`; `GET /` serves the page (embedded, no build step).
//!
//! The view answers what the work-queue and pub/sub lessons are about and the broker's own UI
//! does not show: which instance handled which message — bars per consumer for the last burst, a
//! routing key × subscriber matrix, redeliveries and dead letters ([`view`]), and the lab's
//! topology as a live diagram ([`graph`]), fed by [`feed`].

mod feed;
mod graph;
mod view;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tokio_stream::{Stream, StreamExt};

pub use feed::spawn_tasks;

use crate::http::full_response;
use crate::roles::snapshot::Snapshot;
use view::View;

/// The page, embedded in the binary and built once: page.html with the topology diagram's styles
/// and scripts inlined where their markers stand. They live in their own files so that page.html
/// stays readable, and are inlined so that the page is still one response with no build step.
/// tests/browser/fixture-server.mjs does the same replacement to serve the page without a broker.
static PAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    include_str!("page.html")
        .replace("/* topology.css */", include_str!("topology.css"))
        .replace(
            "/* topology-layout.js */",
            include_str!("topology-layout.js"),
        )
        .replace("/* topology.js */", include_str!("topology.js"))
});

/// The aggregated view, shared by the telemetry consumer and every `/events` stream.
pub struct Console {
    state: Mutex<View>,
    view: watch::Sender<Arc<String>>,
    interval: Duration,
    closed: AtomicBool,
    /// When a snapshot last caused a render.
    last_publish: Mutex<Instant>,
}

/// The shortest gap between two renders caused by snapshots.
const MIN_PUBLISH_GAP: Duration = Duration::from_millis(250);

impl Console {
    /// An empty console; `interval` is the roles' snapshot interval (staleness, refresh).
    pub fn new(interval: Duration) -> Arc<Self> {
        let (view, _) = watch::channel(Arc::new(String::from("{}")));
        let console = Arc::new(Self {
            state: Mutex::new(View::default()),
            view,
            interval,
            closed: AtomicBool::new(false),
            last_publish: Mutex::new(Instant::now()),
        });
        console.publish();
        console
    }

    /// Folds one snapshot into the view, and renders it unless it was rendered moments ago: with
    /// many roles reporting, rendering on every snapshot would send each browser the whole
    /// document many times a second (the ticker renders at least once per interval anyway).
    pub fn ingest(&self, snapshot: Snapshot) {
        self.view_state().ingest(snapshot);
        let due = {
            let mut last = self.last_publish.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.elapsed() >= MIN_PUBLISH_GAP;
            if due {
                *last = Instant::now();
            }
            due
        };
        if due {
            self.publish();
        }
    }

    /// The queues to ask the broker about (see [`feed`]'s depth probe).
    fn probe_targets(&self) -> Vec<String> {
        self.view_state().probe_targets()
    }

    /// Keeps the broker's answer about one queue.
    fn record_probe(
        &self,
        queue: String,
        answer: Result<crate::amqp::QueueCounts, crate::amqp::ProbeFailure>,
    ) {
        self.view_state().record_probe(queue, answer);
    }

    /// Keeps where the lab's queues live (see [`feed`]'s management API task).
    fn record_homes(
        &self,
        homes: std::collections::HashMap<String, crate::management_api::QueueHome>,
    ) {
        self.view_state().record_homes(homes);
    }

    fn view_state(&self) -> std::sync::MutexGuard<'_, View> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-renders the view (ages, staleness) and hands it to every stream.
    pub fn publish(&self) {
        let view = self.view_state().render(self.interval);
        self.view.send_replace(Arc::new(view.to_string()));
    }

    /// Ends every `/events` stream (on shutdown), so graceful shutdown does not wait on them.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.publish();
    }

    /// `GET /events`: the view now, then on every change (at least once per interval), with
    /// keep-alive comments so proxies do not time the stream out; it ends on shutdown.
    pub fn events(
        self: &Arc<Self>,
    ) -> Sse<impl Stream<Item = Result<Event, Infallible>> + Send + 'static> {
        let console = self.clone();
        let stream = WatchStream::new(self.view.subscribe())
            .take_while(move |_| !console.closed.load(Ordering::SeqCst))
            .map(|view| Ok(Event::default().data(view.as_str())));
        Sse::new(stream).keep_alive(KeepAlive::default())
    }

    /// `GET /` for a browser.
    pub fn page() -> Response {
        full_response(StatusCode::OK, "text/html; charset=utf-8", PAGE.as_str())
    }
}

/// Whether a request's `Accept` header prefers HTML (a browser) over JSON (curl, scripts).
pub fn wants_html(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| accept.contains("text/html"))
}
