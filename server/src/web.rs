//! The static web client, embedded in the binary so the binary alone serves it: the
//! viewer page, the `<streamtracer-view>` element other pages embed (an ES module),
//! the iframe page and the examples. Cross-origin use of the module is let through
//! (or refused) by the origin and CORS middleware around every route.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("../../web-client/index.html");
const EMBED_HTML: &str = include_str!("../../web-client/embed.html");
const APP_JS: &str = include_str!("../../web-client/app.js");
const VIEW_JS: &str = include_str!("../../web-client/streamtracer-view.js");
const STYLE_CSS: &str = include_str!("../../web-client/style.css");
const FAVICON_SVG: &str = include_str!("../../web-client/favicon.svg");
const DASHBOARD_HTML: &str = include_str!("../../web-client/examples/dashboard.html");
const REMOTE_HTML: &str = include_str!("../../web-client/examples/remote.html");

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// Routes for the pages and their assets.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { asset(HTML, INDEX_HTML) }))
        .route("/embed", get(|| async { asset(HTML, EMBED_HTML) }))
        .route("/app.js", get(|| async { asset(JS, APP_JS) }))
        .route(
            "/streamtracer-view.js",
            get(|| async { asset(JS, VIEW_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route(
            "/favicon.svg",
            get(|| async { asset("image/svg+xml", FAVICON_SVG) }),
        )
        .route(
            "/examples/dashboard.html",
            get(|| async { asset(HTML, DASHBOARD_HTML) }),
        )
        .route(
            "/examples/remote.html",
            get(|| async { asset(HTML, REMOTE_HTML) }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
}
