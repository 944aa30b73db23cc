//! What every role's HTTP server does around its routes: count and time each request by its
//! route (axum's `MatchedPath`, so a scanner's random paths all land in `other`), log it, and give
//! axum's bare 404 and 405 answers the JSON body every other error has.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::ALLOW;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tracing::{debug, info};

use super::error::ApiError;
use crate::metrics::Metrics;
use crate::telemetry::elapsed_ms;

/// Paths polled by probes and scrapers, and the console's long-lived stream: logged at debug,
/// so they do not drown the lines about real work.
const QUIET_ROUTES: [&str; 4] = ["/health", "/ready", "/metrics", "/events"];

/// Adds the request observation, the JSON 405s and the JSON 404 fallback to a finished router.
///
/// Two layers, because they need to stand in different places: the observation wraps each
/// route, where axum's `MatchedPath` is known; the JSON 405 wraps the whole router, because axum
/// adds the `Allow` header outside a route's layers, after they ran.
pub fn observed(router: Router, metrics: Arc<Metrics>) -> Router {
    let routes = router
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(metrics, observe));
    Router::new()
        .fallback_service(routes)
        .layer(axum::middleware::from_fn(json_method_not_allowed))
}

async fn not_found(method: Method, request: Request) -> ApiError {
    ApiError::NotFound {
        method: method.to_string(),
        path: request.uri().path().to_owned(),
    }
}

async fn observe(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics.request(&route, method.as_str(), status, started.elapsed());
    let elapsed_ms = elapsed_ms(started);
    if QUIET_ROUTES.contains(&route.as_str()) {
        debug!(%method, %path, status, elapsed_ms, "request");
    } else {
        info!(%method, %path, status, elapsed_ms, "request");
    }
    response
}

/// axum's own 405 carries the right `Allow` header and no body; this one says it in JSON too.
async fn json_method_not_allowed(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    let bare = response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE);
    if !bare {
        return response;
    }
    let allow = response
        .headers()
        .get(ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(", ");
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path,
        allow,
    }
    .into_response()
}
