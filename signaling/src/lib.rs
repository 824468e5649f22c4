//! `signaling`: the HTTP offer/answer contract in the shape of WHEP.
//!
//! [`router`] serves these routes for any [`WhepHandler`]:
//! - `POST /whep` with `Content-Type: application/sdp` and an SDP offer as the body
//!   answers `201 Created` with the SDP answer, `Content-Type: application/sdp` and
//!   `Location: /whep/<session>`, the resource that ends the session.
//! - `DELETE /whep/<session>` ends the session (`200`, or `404` if it is unknown): the
//!   handler is told who asks ([`Caller`]) and refuses (`403`) anyone but the token
//!   that created the session or a controller's.
//! - `PATCH /whep/<session>` (trickle ICE) answers `405`: the answer already holds
//!   every candidate, and so must the offer.
//!
//! Both need a token when [`Access`] has any (`401` without a good one, before
//! anything else is looked at); the offer carries the token's [`Role`] and the view
//! asked for (`POST /whep?view=NAME`) and the session to resume (`?resume=TOKEN`)
//! to the handler. CORS preflights, the browser
//! origin allow-list and CORS headers are [`Policy::middleware`]'s, which the server
//! wraps around every route, these included ([`access`]).
//!
//! Bad requests get a 4xx with a plain-text message saying what was wrong: `415` for
//! a wrong content type, `400` for a body that is not an SDP offer (or that the
//! handler rejects), `404` for a view that does not exist, `413` for a body over
//! [`MAX_OFFER_BYTES`], `503` with `Retry-After` when the server is full.
//!
//! [`sdp`] holds the line-level checks a handler runs on an offer before answering it
//! (a live video section, H.264 offered).
//!
//! This crate never renders, encodes or touches WebRTC itself: it hands the offer to
//! the handler and returns what the handler answers.

pub mod access;
pub mod sdp;

pub use access::{
    query_param, Access, AccessError, Caller, Credential, Origins, Policy, Role, TokenError,
    TokenId,
};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Extension;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// The largest offer accepted. Browser offers are a few kilobytes.
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

/// What the handler returns for an accepted offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Identifies the session in `Location: /whep/<session_id>`; URL-safe characters only.
    pub session_id: String,
    /// The complete SDP answer, with every ICE candidate.
    pub sdp: String,
}

/// An offer as the handler gets it: checked to be SDP, from a client with `role`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub sdp: String,
    pub role: Role,
    /// The token the offer came with (`None` without tokens): the credential that may
    /// end the session it creates.
    pub token: Option<TokenId>,
    /// The view asked for with `?view=NAME`, if any.
    pub view: Option<String>,
    /// The resume token of a session to continue with this connection (`?resume=TOKEN`).
    pub resume: Option<String>,
    /// Who sent it ([`Access::identify`]): what its session's limits are counted against.
    pub credential: Credential,
}

/// Why an offer was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    /// The offer cannot be used (malformed, or nothing in it the server can serve): 400.
    #[error("{0}")]
    BadOffer(String),
    /// What the offer asks for does not exist (an unknown view): 404.
    #[error("{0}")]
    NotFound(String),
    /// The server cannot take another session now: 503 with `Retry-After`.
    #[error("{0}")]
    Unavailable(String),
    /// Something failed on the server's side: 500.
    #[error("{0}")]
    Internal(String),
}

/// Why a session could not be ended.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    #[error("no session {0}")]
    NotFound(String),
    /// The session exists, but the caller may not end it: 403.
    #[error("{0}")]
    Forbidden(String),
}

/// The server side of the contract: turns offers into answers and ends sessions.
pub trait WhepHandler: Send + Sync + 'static {
    fn offer(&self, offer: Offer) -> impl Future<Output = Result<Answer, OfferError>> + Send;
    /// Ends `session_id` if `caller` may: the credential that created it, or a
    /// controller's.
    fn delete(
        &self,
        session_id: &str,
        caller: Caller,
    ) -> impl Future<Output = Result<(), DeleteError>> + Send;
}

/// What the WHEP routes share.
struct Routes<H> {
    handler: Arc<H>,
    access: Access,
}

/// The WHEP routes for `handler`, admitting the clients `access` lets in.
pub fn router<H: WhepHandler>(handler: Arc<H>, access: Access) -> Router {
    Router::new()
        .route("/whep", post(post_offer::<H>))
        .route(
            "/whep/{session}",
            axum::routing::delete(delete_session::<H>).patch(patch_session),
        )
        .layer(DefaultBodyLimit::max(MAX_OFFER_BYTES))
        .with_state(Arc::new(Routes { handler, access }))
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut body = message.into();
    body.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Whether the request says its body is SDP (parameters such as charset are allowed).
fn is_sdp(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err("missing Content-Type: the offer must be sent as application/sdp".into());
    };
    let value = value.to_str().unwrap_or("");
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/sdp") {
        Ok(())
    } else {
        Err(format!(
            "unsupported Content-Type {value:?}: the offer must be sent as application/sdp"
        ))
    }
}

/// Cheap checks that the body is an SDP offer before the handler parses it properly.
fn offer_text(body: &[u8]) -> Result<String, String> {
    let sdp = std::str::from_utf8(body).map_err(|_| "the offer is not UTF-8 text".to_string())?;
    if sdp.trim().is_empty() {
        return Err("the body is empty: expected an SDP offer".into());
    }
    if !sdp.starts_with("v=0") {
        return Err("the body is not an SDP offer: it must start with \"v=0\"".into());
    }
    Ok(sdp.to_owned())
}

async fn post_offer<H: WhepHandler>(
    State(routes): State<Arc<Routes<H>>>,
    RawQuery(query): RawQuery,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let peer = peer.map(|Extension(ConnectInfo(address))| address.ip());
    let caller = match routes.access.caller_of(&headers, query.as_deref()) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    if let Err(message) = is_sdp(&headers) {
        return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    let sdp = match offer_text(&body) {
        Ok(sdp) => sdp,
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    let view = query_param(query.as_deref(), "view");
    let resume = query_param(query.as_deref(), "resume");
    match routes
        .handler
        .offer(Offer {
            sdp,
            role: caller.role,
            token: caller.token,
            view,
            resume,
            credential: caller.credential(peer),
        })
        .await
    {
        Ok(answer) => {
            let location = format!("/whep/{}", answer.session_id);
            (
                StatusCode::CREATED,
                [
                    (header::CONTENT_TYPE, "application/sdp".to_string()),
                    (header::LOCATION, location),
                ],
                answer.sdp,
            )
                .into_response()
        }
        Err(OfferError::BadOffer(m)) => text(StatusCode::BAD_REQUEST, m),
        Err(OfferError::NotFound(m)) => text(StatusCode::NOT_FOUND, m),
        Err(OfferError::Unavailable(m)) => {
            let mut r = text(StatusCode::SERVICE_UNAVAILABLE, m);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
        Err(OfferError::Internal(m)) => text(StatusCode::INTERNAL_SERVER_ERROR, m),
    }
}

async fn delete_session<H: WhepHandler>(
    State(routes): State<Arc<Routes<H>>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Path(session): Path<String>,
) -> Response {
    let caller = match routes.access.caller_of(&headers, query.as_deref()) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    match routes.handler.delete(&session, caller).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e @ DeleteError::NotFound(_)) => text(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ DeleteError::Forbidden(_)) => text(StatusCode::FORBIDDEN, e.to_string()),
    }
}

async fn patch_session(method: Method) -> Response {
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not supported: trickle ICE is not used, send every candidate in the offer"
        ),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("DELETE, OPTIONS"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use std::sync::Mutex;
    use tower::ServiceExt;

    /// Records what reached it, so tests can check that bad requests never do.
    #[derive(Default)]
    struct Recorder {
        offers: Mutex<Vec<Offer>>,
        /// Each session and the token that created it.
        sessions: Mutex<Vec<(String, Option<TokenId>)>>,
    }

    impl WhepHandler for Recorder {
        async fn offer(&self, offer: Offer) -> Result<Answer, OfferError> {
            let (sdp, offer_token) = (offer.sdp.clone(), offer.token);
            self.offers.lock().unwrap().push(offer);
            if sdp.contains("m=audio") && !sdp.contains("m=video") {
                return Err(OfferError::BadOffer(
                    "the offer has no video section".into(),
                ));
            }
            let id = format!("s{}", self.offers.lock().unwrap().len());
            self.sessions
                .lock()
                .unwrap()
                .push((id.clone(), offer_token));
            Ok(Answer {
                session_id: id,
                sdp: "v=0\r\nanswer\r\n".into(),
            })
        }
        async fn delete(&self, session_id: &str, caller: Caller) -> Result<(), DeleteError> {
            let mut s = self.sessions.lock().unwrap();
            match s.iter().position(|(x, _)| x == session_id) {
                Some(i) if caller.role == Role::Controller || s[i].1 == caller.token => {
                    s.remove(i);
                    Ok(())
                }
                Some(_) => Err(DeleteError::Forbidden(format!(
                    "session {session_id} was created with another token"
                ))),
                None => Err(DeleteError::NotFound(session_id.into())),
            }
        }
    }

    async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    fn post_req(content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
        let mut b = Request::post("/whep");
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        b.body(body.into()).unwrap()
    }

    #[tokio::test]
    async fn offer_gets_created_answer_with_location_and_delete_ends_it() {
        let rec = Arc::new(Recorder::default());
        let app = router(rec.clone(), Access::open());
        let (status, headers, body) = send(
            &app,
            post_req(Some("application/sdp"), "v=0\r\nm=video 9\r\n"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers["location"], "/whep/s1");
        assert_eq!(headers["content-type"], "application/sdp");
        assert_eq!(body, "v=0\r\nanswer\r\n");
        assert_eq!(rec.offers.lock().unwrap()[0].role, Role::Controller);

        let del = Request::delete("/whep/s1").body(Body::empty()).unwrap();
        assert_eq!(send(&app, del).await.0, StatusCode::OK);
        let again = Request::delete("/whep/s1").body(Body::empty()).unwrap();
        let (status, _, body) = send(&app, again).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("no session s1"));
    }

    #[tokio::test]
    async fn wrong_content_type_is_415_and_never_reaches_the_handler() {
        let rec = Arc::new(Recorder::default());
        let app = router(rec.clone(), Access::open());
        for ct in [Some("application/json"), Some("text/plain"), None] {
            let (status, _, body) = send(&app, post_req(ct, "v=0\r\n")).await;
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
            assert!(body.contains("application/sdp"), "{body}");
        }
        // Parameters are fine.
        let (status, _, _) = send(
            &app,
            post_req(Some("Application/SDP; charset=utf-8"), "v=0\r\nm=video\r\n"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(rec.offers.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn garbage_bodies_are_400_with_a_reason() {
        let rec = Arc::new(Recorder::default());
        let app = router(rec.clone(), Access::open());
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "empty"),
            (b"hello world".to_vec(), "v=0"),
            (vec![0xff, 0xfe, 0x00], "UTF-8"),
        ];
        for (body, expect) in cases {
            let (status, _, text) = send(&app, post_req(Some("application/sdp"), body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(text.contains(expect), "{text}");
        }
        assert!(rec.offers.lock().unwrap().is_empty());
        // The handler's own rejection is a 400 too, with its message.
        let (status, _, text) = send(
            &app,
            post_req(Some("application/sdp"), "v=0\r\nm=audio 9\r\n"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("no video"));
    }

    #[tokio::test]
    async fn oversized_offer_is_413() {
        let app = router(Arc::new(Recorder::default()), Access::open());
        let big = format!("v=0\r\n{}", "a=x\r\n".repeat(MAX_OFFER_BYTES / 4));
        let (status, _, _) = send(&app, post_req(Some("application/sdp"), big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    /// The routes as the server serves them, inside the policy's middleware.
    fn with_policy(app: Router, origins: Origins) -> Router {
        let policy = Arc::new(Policy {
            access: Access::open(),
            origins,
        });
        app.layer(axum::middleware::from_fn_with_state(
            policy,
            Policy::middleware,
        ))
    }

    #[tokio::test]
    async fn preflight_allows_the_whep_methods_and_headers() {
        let app = with_policy(
            router(Arc::new(Recorder::default()), Access::open()),
            Origins::any(),
        );
        let req = Request::builder()
            .method("OPTIONS")
            .uri("/whep")
            .header("origin", "http://dashboard.example")
            .header("access-control-request-method", "POST")
            .body(Body::empty())
            .unwrap();
        let (status, headers, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert!(headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST"));
        let allowed = headers["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.contains("Content-Type") && allowed.contains("Authorization"));
        let exposed = headers["access-control-expose-headers"].to_str().unwrap();
        for name in [
            "Location",
            "Retry-After",
            "X-Streamtracer-Revision",
            "X-Streamtracer-Samples",
            "X-Streamtracer-Denoised",
        ] {
            assert!(exposed.contains(name), "{name} not in {exposed}");
        }
    }

    #[tokio::test]
    async fn pages_of_other_origins_are_refused_unless_allowed() {
        let rec = Arc::new(Recorder::default());
        let origins = Origins::only(["https://dash.example".to_owned()]).unwrap();
        let app = with_policy(router(rec.clone(), Access::open()), origins);
        let offer = |origin: &str| {
            Request::post("/whep")
                .header("content-type", "application/sdp")
                .header("host", "127.0.0.1:8080")
                .header("origin", origin)
                .body(Body::from("v=0\r\nm=video 9\r\n"))
                .unwrap()
        };
        let (status, headers, body) = send(&app, offer("https://evil.example")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("https://evil.example"), "{body}");
        assert!(!headers.contains_key("access-control-allow-origin"));
        assert!(rec.offers.lock().unwrap().is_empty());
        let (status, headers, _) = send(&app, offer("https://dash.example")).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://dash.example"
        );
        let (status, _, _) = send(&app, offer("http://127.0.0.1:8080")).await;
        assert_eq!(status, StatusCode::CREATED, "the server's own page");
    }

    #[tokio::test]
    async fn tokens_are_checked_before_anything_else() {
        let rec = Arc::new(Recorder::default());
        let viewer = "viewer-token-0123456789".to_owned();
        let access = Access::new([viewer.clone()], []).unwrap();
        let app = router(rec.clone(), access);
        let offer = |auth: Option<&str>, uri: &str| {
            let mut b = Request::post(uri).header("content-type", "application/sdp");
            if let Some(a) = auth {
                b = b.header("authorization", a);
            }
            b.body(Body::from("v=0\r\nm=video 9\r\n")).unwrap()
        };
        let (status, headers, body) = send(&app, offer(None, "/whep")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        assert!(body.contains("token"), "{body}");
        let (status, _, _) =
            send(&app, offer(Some("Bearer wrong-token-0123456789"), "/whep")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Even a bad body is not looked at without a token.
        let bad = Request::post("/whep").body(Body::from("junk")).unwrap();
        assert_eq!(send(&app, bad).await.0, StatusCode::UNAUTHORIZED);
        assert!(rec.offers.lock().unwrap().is_empty());

        let (status, _, _) = send(
            &app,
            offer(Some(&format!("Bearer {viewer}")), "/whep?view=side"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let offers = rec.offers.lock().unwrap().clone();
        assert_eq!(
            (offers[0].role, offers[0].view.as_deref()),
            (Role::Viewer, Some("side"))
        );
        // Ending a session needs a token too.
        let del = Request::delete("/whep/s1").body(Body::empty()).unwrap();
        assert_eq!(send(&app, del).await.0, StatusCode::UNAUTHORIZED);
        let del = Request::delete(format!("/whep/s1?access_token={viewer}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, del).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn delete_by_another_viewer_token_is_403_and_the_session_stays() {
        let rec = Arc::new(Recorder::default());
        let (alice, bob) = ("viewer-alice-0123456789", "viewer-bob-0123456789");
        let boss = "controller-0123456789";
        let access = Access::new([alice.to_owned(), bob.to_owned()], [boss.to_owned()]).unwrap();
        let app = router(rec.clone(), access);
        let offer = |token: &str| {
            Request::post("/whep")
                .header("content-type", "application/sdp")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::from("v=0\r\nm=video 9\r\n"))
                .unwrap()
        };
        let delete = |id: &str, token: &str| {
            Request::delete(format!("/whep/{id}"))
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap()
        };
        assert_eq!(send(&app, offer(alice)).await.0, StatusCode::CREATED);
        assert_eq!(send(&app, offer(alice)).await.0, StatusCode::CREATED);
        let (status, _, body) = send(&app, delete("s1", bob)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("another token"), "{body}");
        assert_eq!(
            rec.sessions.lock().unwrap().len(),
            2,
            "the session was ended"
        );
        assert_eq!(send(&app, delete("s1", alice)).await.0, StatusCode::OK);
        assert_eq!(send(&app, delete("s2", boss)).await.0, StatusCode::OK);
        assert!(rec.sessions.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn trickle_patch_is_405() {
        let app = router(Arc::new(Recorder::default()), Access::open());
        let req = Request::patch("/whep/s1")
            .header("content-type", "application/trickle-ice-sdpfrag")
            .body(Body::from("a=candidate"))
            .unwrap();
        let (status, _, text) = send(&app, req).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(text.contains("trickle"));
    }
}
