//! Broker refusals and amqprs' ways of reporting them, sorted in one corner: which failures are
//! worth retrying, which need a person, and a one-line text that says what happened and what to do.
//!
//! amqprs reports most broker replies only through its `Debug` output or a callback, and a
//! refused login not at all (see [`classify_open_error`]), so this is also where those quirks live.

use std::time::Duration;

use super::settings::AmqpSettings;
use super::signals::{BrokerClose, SessionSignals};
use super::topology::Declaration;

/// A failed connect or set-up: worth retrying, or not.
#[derive(Debug)]
pub(super) enum ConnectError {
    /// Nothing answered (or not in time): retried with backoff.
    Unreachable(String),
    /// The broker answered and refused our credentials, the vhost or a permission: retried with
    /// backoff (a Secret or the broker's users may be fixed while we run), logged as an error.
    Refused(String),
    /// Retrying cannot help (a malformed TLS setup, a queue the broker will never let us use).
    Permanent(String),
    /// A declaration was refused because the object exists with other settings.
    Mismatch(String),
}

/// Sorts a failed `Connection::open`. A refused vhost comes back as a `connection.close` (530) we
/// can quote. A refused login does not: RabbitMQ only sends its reason to clients that advertise
/// `authentication_failure_close`, which amqprs does not, so the socket is just reset (≈3 s after
/// the attempt). A reset during the handshake of a broker that accepted the TCP connection is
/// therefore a probable login failure; the caller confirms the broker is really there (a proxy
/// with nothing behind it also resets) before calling it refused.
pub(super) fn classify_open_error(
    error: &amqprs::error::Error,
    settings: &AmqpSettings,
) -> ConnectError {
    use amqprs::error::Error;
    let text = error.to_string();
    let (user, vhost) = (settings.user.as_str(), settings.vhost.as_str());
    match error {
        Error::UriError(_) => ConnectError::Permanent(text),
        Error::ConnectionOpenError(msg) => match quoted_close(msg) {
            Some((530, reason)) if reason.contains("not found") => ConnectError::Refused(format!(
                "RabbitMQ has no vhost {vhost:?}: 530 {reason}. Create it and let user \
                     {user:?} use it (rabbitmqctl add_vhost {vhost}; rabbitmqctl set_permissions \
                     -p {vhost} {user} '.*' '.*' '.*'), or fix the vhost in the URL"
            )),
            Some((530, reason)) => ConnectError::Refused(format!(
                "RabbitMQ refused vhost {vhost:?} to user {user:?}: 530 {reason}. Grant access \
                 (rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*')"
            )),
            Some((403, reason)) => ConnectError::Refused(format!(
                "RabbitMQ refused the login of user {user:?}: 403 {reason}. Check RABBITMQ_USER \
                 / RABBITMQ_PASS (or the URL's)"
            )),
            Some((code, reason)) => ConnectError::Unreachable(format!(
                "RabbitMQ closed the connection: {code} {reason}"
            )),
            None => ConnectError::Unreachable(text),
        },
        Error::NetworkError(msg)
            if msg.contains("reset by peer") || msg.contains("peer shutdown") =>
        {
            // RabbitMQ gives no reason to clients that do not advertise
            // `authentication_failure_close` (amqprs does not): a wrong password and a vhost the
            // user may not open look the same, so name both.
            ConnectError::Refused(format!(
                "RabbitMQ answered but closed the connection during the login of user {user:?} \
                 to vhost {vhost:?} ({msg}): wrong credentials, or a vhost that does not exist \
                 or that the user may not access. Check RABBITMQ_USER / RABBITMQ_PASS (or the \
                 URL's) and the URL's vhost; RabbitMQ's guest user may only connect from \
                 localhost"
            ))
        }
        _ => ConnectError::Unreachable(text),
    }
}

/// The reply code and text of a `connection.close` that amqprs only gives us in Debug form
/// (`… reply_code: 530, reply_text: ShortStr(36, "NOT_ALLOWED - …") …`).
pub(super) fn quoted_close(message: &str) -> Option<(u16, String)> {
    let code_start = message.find("reply_code: ")? + "reply_code: ".len();
    let code_len = message[code_start..].find(|c: char| !c.is_ascii_digit())?;
    let code = message[code_start..code_start + code_len].parse().ok()?;
    let text_start = message.find("reply_text: ShortStr(")?;
    let quote = text_start + message[text_start..].find('"')? + 1;
    let text_len = message[quote..].find('"')?;
    Some((code, message[quote..quote + text_len].to_owned()))
}

/// A declaration failed. The broker's reply code comes through the channel (or connection)
/// callback, just before amqprs' call returns, so it is normally there already; wait briefly in
/// case it is still on its way.
pub(super) async fn classify_declare_error(
    what: &Declaration,
    error: &amqprs::error::Error,
    signals: &SessionSignals,
    hint: Option<&str>,
) -> ConnectError {
    let mut close = signals.broker_close();
    for _ in 0..20 {
        if close.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        close = signals.broker_close();
    }
    let Some(BrokerClose { code, text, .. }) = close else {
        return ConnectError::Unreachable(format!("declaring {what}: {error}"));
    };
    match code {
        406 => ConnectError::Mismatch(format!(
            "{}: delete it ({}) or run with settings that match it{} (RabbitMQ: {code} {text})",
            explain_mismatch(what, &text),
            what.how_to_delete(),
            hint.map(|h| format!(". {h}")).unwrap_or_default()
        )),
        403 => ConnectError::Refused(format!(
            "RabbitMQ refused to declare {what}: {code} {text}. The user lacks configure \
             permission on it (rabbitmqctl set_permissions)"
        )),
        // In a cluster, a classic queue lives on one node: while that node is away, declaring
        // the queue anywhere is refused, and it comes back with its node, so keep trying.
        404 if text.contains("down or inaccessible") => ConnectError::Unreachable(format!(
            "declaring {what}: its node is down ({code} {text}); a classic queue lives on one \
             node only, a quorum queue (--queue-type quorum) would have stayed available"
        )),
        404 | 530 => {
            ConnectError::Permanent(format!("RabbitMQ refused to declare {what}: {code} {text}"))
        }
        _ => ConnectError::Unreachable(format!("declaring {what}: {code} {text}")),
    }
}

/// RabbitMQ's `inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received the value
/// 'quorum' of type 'longstr' but current is none` in a person's words: "queue "q" exists as a
/// classic queue; this role declares it as a quorum queue".
fn explain_mismatch(what: &Declaration, broker_text: &str) -> String {
    let Some((arg, received, current)) = inequivalent_arg(broker_text) else {
        return format!("{what} exists with other settings than this role's");
    };
    let shown = |value: Option<&str>, unset: &str| value.unwrap_or(unset).to_owned();
    let (ours, theirs) = match arg {
        "x-queue-type" => (
            format!("a {} queue", shown(received, "classic")),
            format!("a {} queue", shown(current, "classic")),
        ),
        "type" => (
            format!("a {} exchange", shown(received, "?")),
            format!("a {} exchange", shown(current, "?")),
        ),
        "durable" => (
            durability(received).to_owned(),
            durability(current).to_owned(),
        ),
        "x-dead-letter-exchange" => (
            received.map_or("without dead letters".to_owned(), |x| {
                format!("with dead letters to exchange {x}")
            }),
            current.map_or("without dead letters".to_owned(), |x| {
                format!("with dead letters to exchange {x}")
            }),
        ),
        "x-delivery-limit" => (
            received.map_or("without a delivery limit".to_owned(), |n| {
                format!("with delivery limit {n}")
            }),
            current.map_or("without a delivery limit".to_owned(), |n| {
                format!("with delivery limit {n}")
            }),
        ),
        other => (
            format!("with {other} = {}", shown(received, "unset")),
            format!("with {other} = {}", shown(current, "unset")),
        ),
    };
    format!("{what} already exists {theirs}, but this role declares it {ours}")
        .replace("exists a ", "exists as a ")
        .replace("declares it a ", "declares it as a ")
}

fn durability(value: Option<&str>) -> &'static str {
    match value {
        Some("true") => "durable",
        _ => "non-durable",
    }
}

/// `(arg, received, current)` of an "inequivalent arg" refusal; `None` values were unset.
fn inequivalent_arg(text: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let rest = &text[text.find("inequivalent arg '")? + "inequivalent arg '".len()..];
    let arg = &rest[..rest.find('\'')?];
    let rest = &rest[rest.find("received ")? + "received ".len()..];
    let (received, current) = rest.split_once(" but current is ")?;
    Some((arg, quoted_value(received), quoted_value(current)))
}

/// `the value 'quorum' of type 'longstr'` or `'true'` → the value; `none` → `None`.
fn quoted_value(text: &str) -> Option<&str> {
    let text = text
        .trim()
        .strip_prefix("the value ")
        .unwrap_or(text.trim());
    let text = text.strip_prefix('\'')?;
    Some(&text[..text.find('\'')?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::names::{ExchangeName, QueueName};

    #[test]
    fn reply_code_and_text_are_read_from_amqprs_debug_output() {
        let msg = r#"failed to open connection, reason: Close(MethodHeader { class_id: 10, method_id: 50 }, Close { reply_code: 530, reply_text: ShortStr(36, "NOT_ALLOWED - vhost nosuch not found"), class_id: 10, method_id: 40 })"#;
        assert_eq!(
            quoted_close(msg),
            Some((530, "NOT_ALLOWED - vhost nosuch not found".to_owned()))
        );
        assert_eq!(quoted_close("peer shutdown"), None);
    }

    #[tokio::test]
    async fn a_queue_whose_node_is_down_is_retried_and_other_404s_are_not() {
        let queue = Declaration::Queue(Some(QueueName::parse("jobs").unwrap()));
        let error = amqprs::error::Error::ChannelUseError("closed".to_owned());
        let classify = |text: &str| {
            let signals = SessionSignals::default();
            signals.record_close(BrokerClose {
                connection: false,
                code: 404,
                text: text.to_owned(),
            });
            let (queue, error) = (&queue, &error);
            async move { classify_declare_error(queue, error, &signals, None).await }
        };
        let down = "NOT_FOUND - home node 'c2@localhost' of durable queue 'jobs' in vhost '/' is \
                    down or inaccessible";
        match classify(down).await {
            ConnectError::Unreachable(text) => assert!(text.contains("quorum"), "{text}"),
            other => panic!("{other:?}"),
        }
        let gone = "NOT_FOUND - no exchange 'logs' in vhost '/'";
        assert!(matches!(classify(gone).await, ConnectError::Permanent(_)));
    }

    #[test]
    fn mismatches_are_told_in_a_persons_words() {
        let queue = Declaration::Queue(Some(QueueName::parse("jobs").unwrap()));
        let text = "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'jobs' in \
                    vhost '/': received the value 'quorum' of type 'longstr' but current is none";
        assert_eq!(
            explain_mismatch(&queue, text),
            "queue \"jobs\" already exists as a classic queue, but this role declares it as a \
             quorum queue"
        );
        let text = "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'jobs' in vhost \
                    '/': received 'true' but current is 'false'";
        assert_eq!(
            explain_mismatch(&queue, text),
            "queue \"jobs\" already exists non-durable, but this role declares it durable"
        );
        let exchange = Declaration::Exchange(ExchangeName::parse("logs").unwrap());
        let text = "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'logs' in vhost \
                    '/': received 'fanout' but current is 'topic'";
        assert_eq!(
            explain_mismatch(&exchange, text),
            "exchange \"logs\" already exists as a topic exchange, but this role declares it as \
             a fanout exchange"
        );
        assert!(explain_mismatch(&queue, "something else").contains("other settings"));
    }
}
