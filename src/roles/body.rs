//! Message bodies as it is safe and useful to log them: any bytes a producer sent, never a crash.

/// The longest body shown in a log line; the rest is summarised by its size.
const MAX_LOGGED_BODY: usize = 16 * 1024;

/// A body as it is safe and useful to log.
pub fn render_body(content: &[u8], pretty: bool) -> String {
    let parsed = serde_json::from_slice::<serde_json::Value>(content).ok();
    render_parsed_body(content, parsed.as_ref(), pretty)
}

/// The same, for a caller that already parsed the body as JSON (`parsed` is `None` when it is
/// not JSON): a consumer reads the envelope anyway, and parsing twice per message showed in its
/// profile.
pub fn render_parsed_body(
    content: &[u8],
    parsed: Option<&serde_json::Value>,
    pretty: bool,
) -> String {
    let shown = &content[..content.len().min(MAX_LOGGED_BODY)];
    let mut text = match std::str::from_utf8(content) {
        Ok(text) => match parsed {
            Some(json) if content.len() <= MAX_LOGGED_BODY => {
                let rendered = if pretty {
                    serde_json::to_string_pretty(json)
                } else {
                    serde_json::to_string(json)
                };
                rendered.unwrap_or_else(|_| text.to_owned())
            }
            _ => String::from_utf8_lossy(shown).into_owned(),
        },
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
        assert_eq!(render_body(br#"{"a":1}"#, false), r#"{"a":1}"#);
        assert_eq!(render_body(br#"{"a":1}"#, true), "{\n  \"a\": 1\n}");
        assert_eq!(render_body(b"plain text", true), "plain text");
        assert!(render_body(&[0xff, 0xfe, b'x'], true).starts_with("<3 bytes, not UTF-8>"));
        let big = vec![b'a'; MAX_LOGGED_BODY + 10];
        assert!(render_body(&big, true).ends_with(&format!("({} bytes in all)", big.len())));
    }
}
