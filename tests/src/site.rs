//! Small HTTP servers for browser tests: [`Site`], static pages on another origin
//! (another loopback port) than the Streamtracer server, and [`WhepProxy`], which
//! forwards every request to the server but routes each WebRTC session's media through
//! a [`Relay`], so that a test can cut a browser's connection the way a network fails:
//! packets stop, and neither side is told.

use crate::client::{relayed_candidate, rewrite_candidates};
use crate::link::{LinkConditions, Relay};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// Static pages served on `127.0.0.1:<port>`.
pub struct Site {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Site {
    /// Serves `pages`: (path, content type, body). Binds before it returns, so the
    /// origin is known before the server that must allow it starts.
    pub async fn start(pages: Vec<(String, &'static str, String)>) -> anyhow::Result<Site> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut app = Router::new();
        for (path, content_type, body) in pages {
            app = app.route(
                &path,
                axum::routing::get(move || {
                    let body = body.clone();
                    async move { ([(header::CONTENT_TYPE, content_type)], body) }
                }),
            );
        }
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Site { addr, task })
    }

    /// This site's origin, `http://127.0.0.1:<port>`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A file of the web client, read from the source tree.
pub fn web_client_file(path: &str) -> anyhow::Result<String> {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../web-client")
        .join(path);
    std::fs::read_to_string(&full).map_err(|e| anyhow::anyhow!("{}: {e}", full.display()))
}

struct ProxyState {
    target: String,
    client: reqwest::Client,
    relays: Mutex<Vec<Relay>>,
}

/// A reverse proxy in front of a Streamtracer server whose WebRTC media crosses relays.
pub struct WhepProxy {
    pub addr: SocketAddr,
    state: Arc<ProxyState>,
    task: JoinHandle<()>,
}

impl WhepProxy {
    /// Forwards to `target` (`http://host:port`). Must be called within a Tokio runtime.
    pub async fn start(target: &str) -> anyhow::Result<WhepProxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState {
            target: target.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            relays: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(forward).with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(WhepProxy { addr, state, task })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Drops every relay: the media and data channels of every session made through
    /// this proxy stop dead. Returns how many were cut.
    pub fn cut(&self) -> usize {
        let mut relays = self.state.relays.lock().unwrap_or_else(|e| e.into_inner());
        let n = relays.len();
        relays.clear();
        n
    }

    /// Relays made so far and not cut: one per WHEP offer answered.
    pub fn relays(&self) -> usize {
        self.state
            .relays
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl Drop for WhepProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bad_gateway(e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_GATEWAY, format!("proxy: {e}\n")).into_response()
}

async fn forward(
    State(state): State<Arc<ProxyState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let offer = method == Method::POST && uri.path() == "/whep";
    let mut body = body.to_vec();
    let mut relay = None;
    if offer {
        let sdp = String::from_utf8_lossy(&body).into_owned();
        let client = match relayed_candidate(&sdp) {
            Ok(c) => c,
            Err(e) => return bad_gateway(e),
        };
        let r = match Relay::bind(LinkConditions::ideal(), LinkConditions::ideal()) {
            Ok(r) => r,
            Err(e) => return bad_gateway(e),
        };
        r.set_client_addr(client);
        body = rewrite_candidates(&sdp, client, r.server_facing_addr()).into_bytes();
        relay = Some(r);
    }
    let mut request = state
        .client
        .request(method, format!("{}{path}", state.target))
        .body(body);
    for (name, value) in &headers {
        // The proxy is the server's client: its own host, no browser origin.
        if [
            header::HOST,
            header::ORIGIN,
            header::CONTENT_LENGTH,
            header::CONNECTION,
        ]
        .contains(name)
        {
            continue;
        }
        request = request.header(name, value);
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return bad_gateway(e),
    };
    let status = response.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in response.headers() {
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            out_headers.append(name, value.clone());
        }
    }
    let mut bytes = match response.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) => return bad_gateway(e),
    };
    if let (Some(relay), true) = (relay, status == StatusCode::CREATED) {
        let answer = String::from_utf8_lossy(&bytes).into_owned();
        let server = match relayed_candidate(&answer) {
            Ok(s) => s,
            Err(e) => return bad_gateway(e),
        };
        relay.set_server_addr(server);
        bytes = rewrite_candidates(&answer, server, relay.client_facing_addr()).into_bytes();
        state
            .relays
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(relay);
        out_headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/sdp"),
        );
    }
    let mut r = (status, bytes).into_response();
    for (name, value) in &out_headers {
        r.headers_mut().insert(name, value.clone());
    }
    r
}
