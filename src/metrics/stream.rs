//! A stream reader's series: where it is in the stream and how far behind the end. Only the
//! `stream-sub` role registers them; every other role's registry leaves them out.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The role whose registry has the stream series.
pub const STREAM_ROLE: &str = "stream-sub";

/// Where a stream reader stands, for `playground_stream_offset` and `playground_stream_lag`.
#[derive(Debug, Clone, Default)]
pub struct StreamGauges {
    /// The offset of the last message handled; -1 before the first.
    pub offset: Gauge,
    /// Messages in the stream after the last one handled (see the role for how it is measured).
    pub lag: Gauge,
}

impl StreamGauges {
    /// Registers both, the offset at -1 until the first message.
    pub(super) fn register(&self, registry: &mut Registry) {
        self.offset.set(-1);
        registry.register(
            "stream_offset",
            "Offset of the last stream message handled (-1 before the first)",
            self.offset.clone(),
        );
        registry.register(
            "stream_lag",
            "Messages in the stream after the last one handled",
            self.lag.clone(),
        );
    }
}
