//! `POST /whep` and the other WHEP routes as the server mounts them (inside the origin
//! and CORS middleware, with tokens set), with a handler that does what the server's
//! does with an offer before it makes a peer connection: the WebRTC stack's SDP parse
//! (`rtc-sdp`, as `RTCSessionDescription::offer`) and `signaling::sdp::check_offer`,
//! the function the server calls. What the stack does with the offer after that
//! (`set_remote_description`, answering) needs a peer connection and is not fuzzed.
//!
//! The input is a request: its first byte picks the method, then lines give the path
//! and query, the `Content-Type`, the `Authorization` and the `Origin`; the rest is
//! the body. Invariants: no panic, never a 5xx, and an offer reaches the handler only
//! with a good token, an allowed origin and an SDP-looking UTF-8 body.
#![no_main]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use signaling::{
    Access, Answer, Caller, DeleteError, Offer, OfferError, Origins, Policy, WhepHandler,
};
use std::io::Cursor;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

const VIEWER: &str = "viewer-token-0123456789";
const CONTROLLER: &str = "controller-token-0123456789";

struct Checks;

impl WhepHandler for Checks {
    async fn offer(&self, offer: Offer) -> Result<Answer, OfferError> {
        assert!(
            offer.token.is_some(),
            "an offer reached the handler without a token"
        );
        assert!(
            offer.sdp.starts_with("v=0"),
            "the routes passed a non-SDP body"
        );
        let mut reader = Cursor::new(offer.sdp.as_bytes());
        rtc_sdp::description::session::SessionDescription::unmarshal(&mut reader)
            .map_err(|e| OfferError::BadOffer(format!("malformed SDP offer: {e}")))?;
        // The server's own checks, the same function `server/src/session/peer.rs` calls.
        signaling::sdp::check_offer(&offer.sdp)?;
        Ok(Answer {
            session_id: "s1".into(),
            sdp: "v=0\r\n".into(),
        })
    }

    async fn delete(&self, session_id: &str, caller: Caller) -> Result<(), DeleteError> {
        // The routes let a DELETE through only with a good token, whose role it carries.
        assert!(
            caller.token.is_some(),
            "a DELETE reached the handler without a token"
        );
        match (session_id, caller.role) {
            ("s1", signaling::Role::Controller) => Ok(()),
            ("s1", _) => Err(DeleteError::Forbidden("not this viewer's session".into())),
            _ => Err(DeleteError::NotFound(session_id.to_owned())),
        }
    }
}

fn app() -> axum::Router {
    static APP: OnceLock<axum::Router> = OnceLock::new();
    APP.get_or_init(|| {
        let access = Access::new([VIEWER.to_owned()], [CONTROLLER.to_owned()]).unwrap();
        let policy = Arc::new(Policy {
            access: access.clone(),
            origins: Origins::only(["https://allowed.example".to_owned()]).unwrap(),
        });
        signaling::router(Arc::new(Checks), access).layer(axum::middleware::from_fn_with_state(
            policy,
            Policy::middleware,
        ))
    })
    .clone()
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let method = match selector % 6 {
        0 => Method::POST,
        1 => Method::DELETE,
        2 => Method::PATCH,
        3 => Method::OPTIONS,
        4 => Method::GET,
        _ => Method::PUT,
    };
    let mut parts = rest.splitn(5, |&b| b == b'\n');
    let uri = parts.next().unwrap_or_default();
    let content_type = parts.next().unwrap_or_default();
    let authorization = parts.next().unwrap_or_default();
    let origin = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default().to_vec();

    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in [
        ("content-type", content_type),
        ("authorization", authorization),
        ("origin", origin),
    ] {
        if !value.is_empty() {
            request = request.header(name, value);
        }
    }
    // A request line or header the HTTP layer would never let through is no test.
    let Ok(request) = request.body(Body::from(body)) else {
        return;
    };
    let response = runtime()
        .block_on(app().oneshot(request))
        .expect("the router is infallible");
    let status = response.status();
    assert!(!status.is_server_error(), "{status}");
    if status == StatusCode::CREATED {
        let auth = std::str::from_utf8(authorization).unwrap_or("");
        let query = std::str::from_utf8(uri).unwrap_or("");
        // The query's token as the routes read it: percent-decoded.
        let query_token = query
            .split_once('?')
            .and_then(|(_, q)| signaling::query_param(Some(q), "access_token"));
        let has = |t: &str| auth.contains(t) || query_token.as_deref() == Some(t);
        assert!(
            has(VIEWER) || has(CONTROLLER),
            "an offer was answered without a token"
        );
    }
});
