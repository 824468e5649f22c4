//! `streamtracer`: the server binary's library: configuration, the view (render and
//! encode threads), viewer sessions over WebRTC, the control protocol and the HTTP
//! routes.
//!
//! [`run`] is the whole server: it starts the [`view::View`] for the configured scene,
//! serves the [`web`] client and the WHEP routes from the `signaling` crate, whose
//! handler is [`session::Sessions`], and returns after the shutdown future resolves
//! and every session has been told to end. `main` only parses [`Config`], binds and
//! calls it; tests bind `127.0.0.1:0` and pass their own shutdown.
//!
//! Every client speaks the control protocol ([`protocol`]) through a
//! [`control::Connection`], whatever carries it: a session's data channel, the
//! WebSocket or HTTP routes of [`control::api`]. Scene edits go to the one
//! [`scene::store::SceneStore`], which applies them atomically to the keyed document, writes
//! them to the [`journal::Journal`] behind `--state-dir` (synced before the ack), and
//! hands the new scene to the view.
//!
//! Core algorithms live in `render-core` (rendering) and `encoder` (video); this crate
//! only wires them to threads, sockets and clocks.

pub mod config;
pub mod control;
pub mod metrics;
pub mod offline;
pub mod scene;
pub mod session;
pub mod view;
pub mod web;

/// The `--state-dir` journal (its own crate, which the fuzz targets share).
pub use ::journal;
/// The control protocol (its own crate, which the fuzz targets share).
pub use ::protocol;
/// Scene files and built-in scenes, as `main` and the tests load them.
pub use scene::files as scenes;

pub use config::{Cli, Command, Config};

use render_core::Scene;
use scene::store::SceneStore;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use view::View;

/// How long shutdown waits for sessions to close.
const SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("could not start the view: {0}")]
    View(#[from] view::ViewError),
    #[error("could not restore the scene: {0}")]
    Store(#[from] scene::store::StoreError),
    #[error("HTTP server: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// Serves `scene` on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: Config,
    scene: Scene,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let policy = Arc::new(config.policy().map_err(ServerError::Config)?);
    let address = listener.local_addr()?;
    if policy.access.is_open() {
        if !address.ip().is_loopback() && !config.allow_unauthenticated {
            return Err(ServerError::Config(format!(
                "refusing to serve on {address} without tokens: anyone who can reach it could \
                 edit the scene. Set --viewer-token/--controller-token or --token-file, listen on \
                 127.0.0.1, or pass --allow-unauthenticated"
            )));
        }
        tracing::warn!(
            "no tokens configured: every client is a controller{}",
            if address.ip().is_loopback() {
                " (listening on loopback only)"
            } else {
                " (--allow-unauthenticated)"
            }
        );
    }
    let settings = config.view_settings();
    // Restoring the scene reads files, and starting the view compiles the scene and
    // spawns threads: keep both off the runtime.
    let (store, view) = {
        let (dir, state_dir, max_spp) =
            (config.scene_dir(), config.state_dir.clone(), config.max_spp);
        tokio::task::spawn_blocking(move || -> Result<_, ServerError> {
            let store = Arc::new(SceneStore::open(
                &scene,
                &dir,
                max_spp,
                1.0,
                state_dir.as_deref(),
            )?);
            let view = Arc::new(View::start_with(store.version(), store.camera(), settings)?);
            store.add_view(&view);
            Ok((store, view))
        })
        .await
        .map_err(std::io::Error::other)??
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // One allowance per client, whichever transports it uses.
    let limiter = Arc::new(control::ratelimit::Limiter::new(config.edit_rate));
    let views = Arc::new(view::registry::Views::new(
        store.clone(),
        view,
        settings,
        config.max_views as usize,
    ));
    let sessions = Arc::new(session::Sessions::new(
        views.clone(),
        store.clone(),
        config.media_addrs(),
        session::Limits {
            max_sessions: config.max_sessions as usize,
            resume_grace: std::time::Duration::from_secs_f64(config.resume_grace),
        },
        limiter.clone(),
        shutdown_rx.clone(),
    ));
    let connections = control::conns::Connections::new(config.conn_limits(), policy.access.clone());
    let metrics = {
        let (sessions, views, store, connections) = (
            sessions.clone(),
            views.clone(),
            store.clone(),
            connections.clone(),
        );
        axum::routing::get(move || async move {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4",
                )],
                metrics::render(&sessions, &views, &store) + &connections.metrics(),
            )
        })
    };
    let api = Arc::new(control::api::Api {
        store: store.clone(),
        views: views.clone(),
        access: policy.access.clone(),
        limiter,
        shutdown: shutdown_rx.clone(),
        snapshots: control::snapshot::Snapshots::default(),
        connections: connections.clone(),
    });
    // The sessions and their states, and the WebSockets: a controller's view of who
    // is connected.
    let sessions_route = {
        let (sessions, access, connections) =
            (sessions.clone(), policy.access.clone(), connections.clone());
        axum::routing::get(
            move |headers: axum::http::HeaderMap,
                  axum::extract::RawQuery(query): axum::extract::RawQuery| async move {
                use axum::response::IntoResponse;
                match access.role_of(&headers, query.as_deref()) {
                    Ok(signaling::Role::Controller) => axum::Json(serde_json::json!({
                        "sessions": sessions.list(),
                        "websockets": connections.list_websockets(),
                    }))
                    .into_response(),
                    Ok(signaling::Role::Viewer) => {
                        signaling::AccessError::Forbidden.into_response()
                    }
                    Err(e) => e.into_response(),
                }
            },
        )
    };
    let app = web::router()
        .route("/metrics", metrics)
        .route("/api/sessions", sessions_route)
        .merge(control::api::router(api))
        .merge(signaling::router(sessions.clone(), policy.access.clone()))
        // After every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_such_route)
        .layer(axum::middleware::from_fn_with_state(
            policy.clone(),
            signaling::Policy::middleware,
        ));
    tracing::info!(
        "SIMD code paths: {} (STREAMTRACER_PORTABLE=1 forces portable)",
        render_core::cpu::simd().name()
    );
    tracing::info!(
        "serving on http://{} ({}x{} at {} fps, {} kbit/s live within {}..{}; WebRTC on {}; OpenH264 assembly: {})",
        address,
        config.width,
        config.height,
        config.fps,
        config.bitrate / 1000,
        config.min_bitrate / 1000,
        config.max_bitrate() / 1000,
        config.media_addrs().join(", "),
        if encoder::assembly() {
            "yes"
        } else if encoder::ASSEMBLY_OPTED_OUT {
            "no (built with OPENH264_NO_ASM; about 3x slower encoding)"
        } else {
            "no (install nasm, `cargo clean --release -p openh264-sys2` and rebuild for ~3x faster encoding)"
        }
    );
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
    };
    control::conns::serve(listener, app, connections, signal, SHUTDOWN_LIMIT).await?;
    // Every long-lived task ends on the one shutdown signal, and the server waits for
    // them: sessions close their peer connections, then the view joins its threads.
    sessions.shutdown(SHUTDOWN_LIMIT).await;
    let _ = tokio::task::spawn_blocking(move || views.stop_all()).await;
    tracing::info!("stopped");
    Ok(())
}

/// Both fallbacks echo the request's path in plain text; `nosniff` keeps a browser
/// from reading that text as anything else.
const NOSNIFF: (axum::http::HeaderName, &str) =
    (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff");

/// Any path no route serves: a `404` that says so (axum's own is an empty body).
async fn no_such_route(
    uri: axum::http::Uri,
) -> (
    axum::http::StatusCode,
    [(axum::http::HeaderName, &'static str); 1],
    String,
) {
    (
        axum::http::StatusCode::NOT_FOUND,
        [NOSNIFF],
        format!(
            "no such page or route: {} (the API is under /api/, WHEP at /whep)\n",
            uri.path().chars().take(200).collect::<String>()
        ),
    )
}

/// A route that exists, asked with a method it does not take: a `405` that says so
/// (axum's own is an empty body; it still adds the `Allow` header listing the methods).
async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> (
    axum::http::StatusCode,
    [(axum::http::HeaderName, &'static str); 1],
    String,
) {
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        [NOSNIFF],
        format!(
            "method {} is not allowed on {} (the Allow header lists the ones that are)\n",
            method.as_str().chars().take(20).collect::<String>(),
            uri.path().chars().take(200).collect::<String>()
        ),
    )
}
