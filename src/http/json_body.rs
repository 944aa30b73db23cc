//! The one extractor for request bodies: JSON only, bounded, deserialised into the handler's
//! request struct, every refusal one of [`ApiError`]'s 4xx answers.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The largest total size of a request's headers the handlers accept (hyper's own parser limit
/// is far higher).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The largest request body a role accepts (`--max-body`); the router's `DefaultBodyLimit` is
/// set from the same value, this copy names it in the 413.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A request body read as JSON into `T`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    BodyLimit: FromRef<S>,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let BodyLimit(limit) = BodyLimit::from_ref(state);
        check_headers(request.headers(), limit)?;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit }
                } else {
                    ApiError::BadRequest(format!(
                        "could not read the request body: {}",
                        rejection.body_text()
                    ))
                }
            })?;
        parse(&bytes).map(JsonBody)
    }
}

/// `T` from the body's bytes; a syntax error and a wrong shape read differently. The body must
/// be a JSON object (serde would also fill a struct from an array).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::BadRequest(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => "the body must be a JSON object".to_owned(),
                Err(error) => format!("malformed JSON body: {error}"),
            },
        ));
    }
    serde_json::from_slice(body).map_err(|error| {
        ApiError::BadRequest(match error.classify() {
            serde_json::error::Category::Data => format!("invalid request: {error}"),
            _ => format!("malformed JSON body: {error}"),
        })
    })
}

/// Refuses oversized headers (431), a body not declared as JSON (415) and a declared length over
/// the limit (413) before reading anything.
fn check_headers(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge {
            size: header_bytes,
            limit: MAX_HEADER_BYTES,
        });
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if !content_type.as_deref().is_some_and(is_json_media_type) {
        return Err(ApiError::UnsupportedMediaType(content_type.map_or_else(
            || "no Content-Type".to_owned(),
            |t| format!("{t:?}"),
        )));
    }
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(())
}

/// `application/json`, or any `application/…+json`, with or without parameters.
fn is_json_media_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_bodies_are_read() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonx",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }

    #[test]
    fn refusals_are_checked_before_the_body_is_read() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            check_headers(&headers, 10),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        headers.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        headers.insert(CONTENT_LENGTH, "11".parse().unwrap());
        assert!(matches!(
            check_headers(&headers, 10),
            Err(ApiError::PayloadTooLarge { limit: 10 })
        ));
        headers.insert("x-padding", "p".repeat(MAX_HEADER_BYTES).parse().unwrap());
        assert!(matches!(
            check_headers(&headers, 100),
            Err(ApiError::HeadersTooLarge { .. })
        ));
    }
}
