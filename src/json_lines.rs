//! JSON log lines written straight into the line, for `--log-format json`.
//!
//! tracing-subscriber's JSON formatter builds each line through serde: every field goes through a
//! serializer, an `io::Write` adaptor that re-checks each chunk as UTF-8, and a `String` for each
//! `%value`. A consumer writes two lines per message, and in a drain's profile that formatter was
//! a quarter of the role's CPU. This one writes the same object — the same keys, in the same
//! order, with the same JSON types and escapes — directly, and hands the events it has no fast
//! path for (inside a span, or bridged from the `log` crate) to tracing-subscriber's formatter, so
//! they come out exactly as before. A unit test holds the two formatters to the same output.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// One JSON object per line: `timestamp`, `level`, the event's fields (`message` among them),
/// `target`.
pub struct JsonLines {
    /// For the events without a fast path, configured as the lines of the fast path look.
    fallback: Format<Json>,
}

impl JsonLines {
    /// The formatter; `fallback` must be tracing-subscriber's JSON format with flattened events
    /// and no current span, the shape the fast path writes.
    pub fn new(fallback: Format<Json>) -> Self {
        Self { fallback }
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let in_a_span = event.parent().is_some() || ctx.lookup_current().is_some();
        let from_log_crate = metadata.fields().field("log.target").is_some();
        if in_a_span || from_log_crate {
            return self.fallback.format_event(ctx, writer, event);
        }
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\"", metadata.level())?;
        let mut fields = FieldWriter {
            out: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str(",\"target\":")?;
        write_json_string(&mut writer, metadata.target())?;
        writer.write_str("}\n")
    }
}

/// Writes each field as `,"name":value`, as serde would type it: numbers and booleans bare,
/// strings and anything shown with `Debug` or `Display` as escaped strings, non-finite floats as
/// `null`.
struct FieldWriter<'w, 'a> {
    out: &'w mut Writer<'a>,
    result: fmt::Result,
}

impl FieldWriter<'_, '_> {
    fn entry(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = self
            .out
            .write_char(',')
            .and_then(|()| write_json_string(self.out, field.name()))
            .and_then(|()| self.out.write_char(':'))
            .and_then(|()| value(self.out));
    }
}

impl Visit for FieldWriter<'_, '_> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, |out| write!(out, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // `Debug` keeps the decimal point ("1.0"), so the value reads back as a float.
        self.entry(field, |out| {
            if value.is_finite() {
                write!(out, "{value:?}")
            } else {
                out.write_str("null")
            }
        });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, |out| write_json_string(out, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, |out| {
            out.write_char('"')?;
            write!(Escaping(out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

/// `text` as a JSON string, quotes included.
fn write_json_string(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaping(out).write_str(text)?;
    out.write_char('"')
}

/// Passes text through with JSON's string escapes, in runs: most text needs none.
struct Escaping<'w, W: Write>(&'w mut W);

impl<W: Write> Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut run_start = 0;
        for (at, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0x00..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&text[run_start..at])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            run_start = at + 1;
        }
        self.0.write_str(&text[run_start..])
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use tracing_subscriber::fmt::format::JsonFields;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<Value> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
                .collect()
        }
    }

    fn stock_json() -> Format<Json> {
        tracing_subscriber::fmt::format()
            .json()
            .flatten_event(true)
            .with_current_span(false)
    }

    /// Every kind of field a role logs, and the strings that need escapes.
    fn log_everything() {
        let body = "{\"a\":\"b\\c\"}\n\t\r\u{1}\u{8}\u{c}\u{1f} é ✓ \u{7f}";
        let error = io::Error::other("broken \"pipe\"");
        tracing::info!(
            consumer = "worker-1",
            delivery_tag = 7u64,
            offset = -3i64,
            elapsed_ms = 1.0f64,
            ratio = 0.1f64,
            huge = 1e300f64,
            not_a_number = f64::NAN,
            redelivered = false,
            seq = Some(4u64),
            missing = Option::<u64>::None,
            body = %body,
            debug = ?body,
            error = &error as &(dyn std::error::Error + 'static),
            "received \"message\"\n"
        );
        tracing::warn!(target: "some::other::target", "plain");
        let span = tracing::info_span!("request", id = 5);
        span.in_scope(|| tracing::error!(inside = true, "in a span"));
    }

    /// What a subscriber with event format `format` writes for [`log_everything`], parsed.
    fn lines_from<E>(format: E) -> Vec<Value>
    where
        E: FormatEvent<tracing_subscriber::Registry, JsonFields> + Send + Sync + 'static,
    {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .fmt_fields(JsonFields::new())
            .event_format(format)
            .finish();
        tracing::subscriber::with_default(subscriber, log_everything);
        captured.lines()
    }

    #[test]
    fn lines_are_the_ones_tracing_subscriber_writes() {
        let stock = lines_from(stock_json());
        let ours = lines_from(JsonLines::new(stock_json()));
        assert_eq!(stock.len(), 3);
        assert_eq!(ours.len(), 3);
        for (mut stock, mut ours) in stock.into_iter().zip(ours) {
            // Written a few microseconds apart: same shape, not the same instant.
            let stamp = ours["timestamp"].as_str().unwrap().to_owned();
            assert_eq!(
                stamp.len(),
                stock["timestamp"].as_str().unwrap().len(),
                "{stamp}"
            );
            assert!(
                stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
                "{stamp}"
            );
            stock["timestamp"] = Value::Null;
            ours["timestamp"] = Value::Null;
            assert_eq!(ours, stock);
        }
    }

    #[test]
    fn fields_read_back_with_their_json_types() {
        let ours = lines_from(JsonLines::new(stock_json()));
        let first = &ours[0];
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["message"], "received \"message\"\n");
        assert_eq!(first["delivery_tag"], 7);
        assert_eq!(first["offset"], -3);
        assert!(first["elapsed_ms"].is_f64());
        assert!(first["not_a_number"].is_null());
        assert_eq!(first["redelivered"], false);
        assert_eq!(first["error"], "broken \"pipe\"");
        assert_eq!(ours[1]["target"], "some::other::target");
    }

    #[test]
    fn escapes_match_serde_json() {
        let mut all = String::new();
        for byte in 0u8..=0x7f {
            all.push(char::from(byte));
        }
        all.push_str("é✓\u{2028}");
        let mut ours = String::new();
        write_json_string(&mut ours, &all).unwrap();
        assert_eq!(ours, serde_json::to_string(&all).unwrap());
    }
}
