//! `signaling`: the HTTP offer/answer contract in the shape of WHEP.
//!
//! [`router`] serves these routes for any [`WhepHandler`]:
//! - `POST /whep` with `Content-Type: application/sdp` and an SDP offer as the body
//!   answers `201 Created` with the SDP answer, `Content-Type: application/sdp` and
//!   `Location: /whep/<session>`, the resource that ends the session.
//! - `DELETE /whep/<session>` ends the session (`200`, or `404` if it is unknown).
//! - `PATCH /whep/<session>` (trickle ICE) answers `405`: the answer already holds
//!   every candidate, and so must the offer.
//! - `OPTIONS` on both answers a CORS preflight; every reply exposes `Location`.
//!
//! Bad requests get a 4xx with a plain-text message saying what was wrong: `415` for
//! a wrong content type, `400` for a body that is not an SDP offer (or that the
//! handler rejects), `413` for a body over [`MAX_OFFER_BYTES`].
//!
//! This crate never renders, encodes or touches WebRTC itself: it hands the offer to
//! the handler and returns what the handler answers.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::future::Future;
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

/// Why an offer was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    /// The offer cannot be used (malformed, or nothing in it the server can serve): 400.
    #[error("{0}")]
    BadOffer(String),
    /// The server cannot take another session now: 503.
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
}

/// The server side of the contract: turns offers into answers and ends sessions.
pub trait WhepHandler: Send + Sync + 'static {
    fn offer(&self, sdp: String) -> impl Future<Output = Result<Answer, OfferError>> + Send;
    fn delete(&self, session_id: &str) -> impl Future<Output = Result<(), DeleteError>> + Send;
}

/// The WHEP routes for `handler`.
pub fn router<H: WhepHandler>(handler: Arc<H>) -> Router {
    Router::new()
        .route("/whep", post(post_offer::<H>).options(preflight))
        .route(
            "/whep/{session}",
            axum::routing::delete(delete_session::<H>)
                .patch(patch_session)
                .options(preflight),
        )
        .layer(DefaultBodyLimit::max(MAX_OFFER_BYTES))
        .with_state(handler)
}

/// Sets headers from a table of static values.
fn set_headers(response: &mut Response, headers: &[(header::HeaderName, &'static str)]) {
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(name.clone(), HeaderValue::from_static(value));
    }
}

fn cors(mut response: Response) -> Response {
    set_headers(
        &mut response,
        &[
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::ACCESS_CONTROL_EXPOSE_HEADERS, "Location"),
        ],
    );
    response
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut body = message.into();
    body.push('\n');
    cors(
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response(),
    )
}

async fn preflight() -> Response {
    let mut response = cors(StatusCode::NO_CONTENT.into_response());
    set_headers(
        &mut response,
        &[
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                "POST, DELETE, PATCH, OPTIONS",
            ),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Content-Type, Authorization",
            ),
            (header::ACCESS_CONTROL_MAX_AGE, "600"),
            (header::ALLOW, "POST, DELETE, PATCH, OPTIONS"),
        ],
    );
    response
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
    State(handler): State<Arc<H>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(message) = is_sdp(&headers) {
        return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    let sdp = match offer_text(&body) {
        Ok(sdp) => sdp,
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    match handler.offer(sdp).await {
        Ok(answer) => {
            let location = format!("/whep/{}", answer.session_id);
            cors(
                (
                    StatusCode::CREATED,
                    [
                        (header::CONTENT_TYPE, "application/sdp".to_string()),
                        (header::LOCATION, location),
                    ],
                    answer.sdp,
                )
                    .into_response(),
            )
        }
        Err(OfferError::BadOffer(m)) => text(StatusCode::BAD_REQUEST, m),
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
    State(handler): State<Arc<H>>,
    Path(session): Path<String>,
) -> Response {
    match handler.delete(&session).await {
        Ok(()) => cors(StatusCode::OK.into_response()),
        Err(e @ DeleteError::NotFound(_)) => text(StatusCode::NOT_FOUND, e.to_string()),
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
        offers: Mutex<Vec<String>>,
        sessions: Mutex<Vec<String>>,
    }

    impl WhepHandler for Recorder {
        async fn offer(&self, sdp: String) -> Result<Answer, OfferError> {
            self.offers.lock().unwrap().push(sdp.clone());
            if sdp.contains("m=audio") && !sdp.contains("m=video") {
                return Err(OfferError::BadOffer(
                    "the offer has no video section".into(),
                ));
            }
            let id = format!("s{}", self.offers.lock().unwrap().len());
            self.sessions.lock().unwrap().push(id.clone());
            Ok(Answer {
                session_id: id,
                sdp: "v=0\r\nanswer\r\n".into(),
            })
        }
        async fn delete(&self, session_id: &str) -> Result<(), DeleteError> {
            let mut s = self.sessions.lock().unwrap();
            match s.iter().position(|x| x == session_id) {
                Some(i) => {
                    s.remove(i);
                    Ok(())
                }
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
        let app = router(rec.clone());
        let (status, headers, body) = send(
            &app,
            post_req(Some("application/sdp"), "v=0\r\nm=video 9\r\n"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers["location"], "/whep/s1");
        assert_eq!(headers["content-type"], "application/sdp");
        assert_eq!(headers["access-control-expose-headers"], "Location");
        assert_eq!(body, "v=0\r\nanswer\r\n");

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
        let app = router(rec.clone());
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
        let app = router(rec.clone());
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
        let app = router(Arc::new(Recorder::default()));
        let big = format!("v=0\r\n{}", "a=x\r\n".repeat(MAX_OFFER_BYTES / 4));
        let (status, _, _) = send(&app, post_req(Some("application/sdp"), big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn preflight_allows_the_whep_methods_and_headers() {
        let app = router(Arc::new(Recorder::default()));
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
        assert!(headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Content-Type"));
        assert_eq!(headers["access-control-expose-headers"], "Location");
    }

    #[tokio::test]
    async fn trickle_patch_is_405() {
        let app = router(Arc::new(Recorder::default()));
        let req = Request::patch("/whep/s1")
            .header("content-type", "application/trickle-ice-sdpfrag")
            .body(Body::from("a=candidate"))
            .unwrap();
        let (status, _, text) = send(&app, req).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(text.contains("trickle"));
    }
}
