//! The static web client, embedded in the binary so the binary alone serves it: the
//! viewer page, the `<streamtracer-view>` element other pages embed (an ES module, with
//! the modules it imports beside it), the iframe page and the examples. Cross-origin use of the module is let through
//! (or refused) by the origin and CORS middleware around every route.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("../../web-client/index.html");
const EMBED_HTML: &str = include_str!("../../web-client/embed.html");
const APP_JS: &str = include_str!("../../web-client/app.js");
const VIEW_JS: &str = include_str!("../../web-client/streamtracer-view.js");
/// The modules `streamtracer-view.js` imports, by relative paths that resolve beside it:
/// served next to it, so a page of another origin that imports the element from this
/// server gets them from here too.
const VIEW_MODULES: [(&str, &str); 9] = [
    ("/config.js", include_str!("../../web-client/config.js")),
    ("/dom.js", include_str!("../../web-client/dom.js")),
    ("/input.js", include_str!("../../web-client/input.js")),
    ("/maths.js", include_str!("../../web-client/maths.js")),
    ("/orbit.js", include_str!("../../web-client/orbit.js")),
    ("/panel.js", include_str!("../../web-client/panel.js")),
    ("/protocol.js", include_str!("../../web-client/protocol.js")),
    ("/stats.js", include_str!("../../web-client/stats.js")),
    ("/whep.js", include_str!("../../web-client/whep.js")),
];
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
    let mut router = Router::new();
    for (path, body) in VIEW_MODULES {
        router = router.route(path, get(move || async move { asset(JS, body) }));
    }
    router
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The relative module paths `source` imports (`from './x.js'`), as absolute paths
    /// beside it.
    fn relative_imports(source: &str) -> Vec<String> {
        let mut found = Vec::new();
        for quote in ['\'', '"'] {
            let needle = format!("from {quote}./");
            let mut rest = source;
            while let Some(at) = rest.find(&needle) {
                rest = &rest[at + needle.len()..];
                if let Some(end) = rest.find(quote) {
                    found.push(format!("/{}", &rest[..end]));
                }
            }
        }
        found
    }

    #[test]
    fn every_module_the_element_imports_is_served_beside_it() {
        let served: Vec<&str> = VIEW_MODULES
            .iter()
            .map(|(path, _)| *path)
            .chain(["/streamtracer-view.js", "/app.js"])
            .collect();
        let sources = VIEW_MODULES
            .iter()
            .map(|(_, body)| *body)
            .chain([VIEW_JS, APP_JS]);
        let mut imported = Vec::new();
        for source in sources {
            for path in relative_imports(source) {
                assert!(
                    served.contains(&path.as_str()),
                    "{path} is imported but not served"
                );
                imported.push(path);
            }
        }
        // Every module is imported by someone (none is served for nothing), and the
        // scan found the element's imports at all.
        for (path, _) in VIEW_MODULES {
            assert!(
                imported.iter().any(|p| p == path),
                "{path} is served but never imported"
            );
        }
        assert!(imported.iter().any(|p| p == "/streamtracer-view.js"));
    }
}
