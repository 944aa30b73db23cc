//! Message bodies as it is safe and useful to log them: any bytes a producer sent, never a crash.

/// The longest body shown in a log line; the rest is summarised by its size.
const MAX_LOGGED_BODY: usize = 16 * 1024;

/// How a consumer shows bodies in its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyStyle {
    /// JSON indented over several lines, for people reading a terminal.
    Pretty,
    /// As sent, on one line, for JSON log pipelines (and cheap: no re-serialising).
    Compact,
}

/// A body as it is safe and useful to log. `is_json` says the caller already found it to be
/// JSON (a consumer parses the envelope anyway, and parsing twice per message showed in its
/// profile); only the pretty style parses it again, to indent it.
pub fn render_body(content: &[u8], is_json: bool, style: BodyStyle) -> String {
    let shown = &content[..content.len().min(MAX_LOGGED_BODY)];
    let mut text = match std::str::from_utf8(content) {
        Ok(text) if is_json && content.len() <= MAX_LOGGED_BODY => match style {
            BodyStyle::Compact => text.to_owned(),
            BodyStyle::Pretty => serde_json::from_str::<serde_json::Value>(text)
                .and_then(|json| serde_json::to_string_pretty(&json))
                .unwrap_or_else(|_| text.to_owned()),
        },
        Ok(_) => String::from_utf8_lossy(shown).into_owned(),
        Err(_) => format!(
            "<{} bytes, not UTF-8> {}",
            content.len(),
            String::from_utf8_lossy(shown)
        ),
    };
    if content.len() > MAX_LOGGED_BODY {
        text.push_str(&format!("… ({} bytes in all)", content.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_render_safely() {
        let json = br#"{"a":1}"#;
        assert_eq!(render_body(json, true, BodyStyle::Compact), r#"{"a":1}"#);
        assert_eq!(
            render_body(json, true, BodyStyle::Pretty),
            "{\n  \"a\": 1\n}"
        );
        assert_eq!(
            render_body(b"plain text", false, BodyStyle::Pretty),
            "plain text"
        );
        assert!(render_body(&[0xff, 0xfe, b'x'], false, BodyStyle::Pretty)
            .starts_with("<3 bytes, not UTF-8>"));
        let big = vec![b'a'; MAX_LOGGED_BODY + 10];
        assert!(render_body(&big, false, BodyStyle::Pretty)
            .ends_with(&format!("({} bytes in all)", big.len())));
    }
}
