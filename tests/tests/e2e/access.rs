//! Who may do what, end to end: tokens and roles on every transport, browser origins,
//! the session limit and the edit rate.
//!
//! Length: About 640 lines: one scenario per rule of who may do what, on every
//! transport.

use serde_json::{json, Value};
use streamtracer::Config;
use streamtracer_tests::client::{Viewer, ViewerOptions};
use streamtracer_tests::ws::{refused_status, ControlSocket};
use streamtracer_tests::{api, edit_scene, TestServer, WAIT};

const VIEWER: &str = "viewer-token-3f9a2c71d0";
const CONTROLLER: &str = "controller-token-8b41e6";

fn with_tokens() -> Config {
    Config {
        viewer_tokens: vec![VIEWER.into()],
        controller_tokens: vec![CONTROLLER.into()],
        ..TestServer::small_config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_decide_who_watches_and_who_edits_on_every_transport() -> anyhow::Result<()> {
    let server = TestServer::start(with_tokens(), edit_scene()).await?;
    let base = server.url("");
    let scene_of = |token| {
        let url = server.url("/api/scene");
        async move {
            let (status, body) = api::call(reqwest::Method::GET, url, Some(token), None).await?;
            anyhow::ensure!(status == 200, "GET /api/scene: {status} {body}");
            let v: Value = serde_json::from_str(&body)?;
            Ok::<_, anyhow::Error>((v["scene"].clone(), v["revision"].clone()))
        }
    };
    let before = scene_of(VIEWER).await?;

    // No token, or a wrong one: 401 everywhere, and no session is created.
    for token in [None, Some("not-a-token-of-this-server")] {
        let e = Viewer::connect_with(&base, ViewerOptions::with_token(token))
            .await
            .err()
            .expect("a viewer without a good token was let in");
        assert!(e.to_string().contains("401"), "{e}");
        let e = ControlSocket::connect_as(&base, token, None)
            .await
            .err()
            .unwrap();
        assert_eq!(refused_status(&e), Some(401), "{e:#}");
        for (method, path) in [
            (reqwest::Method::GET, "/api/scene"),
            (reqwest::Method::POST, "/api/edits"),
            (reqwest::Method::GET, "/api/snapshot.png"),
        ] {
            let (status, body) =
                api::call(method, server.url(path), token, Some(json!({"ops": []}))).await?;
            assert_eq!(status, 401, "{path}: {body}");
            assert!(body.contains("token"), "{body}");
        }
    }
    assert_eq!(server.metric("streamtracer_sessions").await?, 0.0);
    // The page, health and metrics stay open.
    assert_eq!(
        api::call(reqwest::Method::GET, server.url("/"), None, None)
            .await?
            .0,
        200
    );
    assert_eq!(
        api::call(reqwest::Method::GET, server.url("/healthz"), None, None)
            .await?
            .0,
        200
    );

    // A viewer watches, reads, and may change nothing: data channel, WebSocket, HTTP.
    let mut viewer = Viewer::connect_with(&base, ViewerOptions::with_token(Some(VIEWER))).await?;
    let hello = viewer.next_message("hello", WAIT).await?;
    assert_eq!(hello["role"], "viewer");
    viewer.next_frame(WAIT).await?;
    let edit = json!({"type": "edit", "id": "e", "ops": [{"op": "update", "kind": "settings", "value": {"exposure": 3.0}}]});
    let mut camera = hello["camera"].clone();
    camera["type"] = json!("camera");
    camera["id"] = json!("c");
    let resize = json!({"type": "resize", "id": "r", "width": 160, "height": 120});
    for m in [&edit, &camera, &resize, &json!({"type": "undo", "id": "u"})] {
        viewer.send_text(&m.to_string()).await?;
        let reply = viewer.next_message("error", WAIT).await?;
        assert_eq!(
            (reply["code"].as_str(), &reply["id"]),
            (Some("forbidden"), &m["id"]),
            "{reply}"
        );
    }
    viewer
        .send_text(r#"{"type":"get","id":"g","kind":"settings"}"#)
        .await?;
    assert_eq!(viewer.next_message("entity", WAIT).await?["id"], "g");

    let mut socket = ControlSocket::connect_as(&base, Some(VIEWER), None).await?;
    assert_eq!(socket.hello["role"], "viewer");
    let reply = socket.request(edit.clone()).await?;
    assert_eq!(reply["code"], "forbidden", "{reply}");
    let reply = socket.request(json!({"type": "get_scene"})).await?;
    assert_eq!(reply["type"], "scene");

    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/api/edits",
            json!({"ops": edit["ops"]}),
        ),
        (reqwest::Method::POST, "/api/undo", json!({})),
        (reqwest::Method::POST, "/api/control", edit.clone()),
    ] {
        let (status, text) = api::call(method, server.url(path), Some(VIEWER), Some(body)).await?;
        assert_eq!(status, 403, "{path}: {text}");
        let m: Value = serde_json::from_str(&text)?;
        assert_eq!(m["code"], "forbidden");
    }
    let (status, text) = {
        let r = reqwest::Client::new()
            .put(server.url("/api/meshes/grid"))
            .bearer_auth(VIEWER)
            .header("content-type", "model/gltf-binary")
            .body(streamtracer_tests::grid_glb(2))
            .send()
            .await?;
        (r.status().as_u16(), r.text().await?)
    };
    assert_eq!(status, 403, "{text}");
    assert_eq!(
        api::call(
            reqwest::Method::GET,
            server.url("/api/snapshot.png"),
            Some(VIEWER),
            None
        )
        .await?
        .0,
        200
    );
    assert_eq!(
        scene_of(VIEWER).await?,
        before,
        "a viewer changed something"
    );
    // The refusals are counted by code, and the viewer streams.
    let forbidden = server
        .metric("streamtracer_errors_total{code=\"forbidden\"}")
        .await?;
    assert!(forbidden >= 9.0, "{forbidden} forbidden errors counted");
    assert_eq!(
        server.metric("streamtracer_viewers{view=\"main\"}").await?,
        1.0
    );

    // A controller edits over each transport; the viewer sees the changes announced.
    let (status, text) = api::call(
        reqwest::Method::POST,
        server.url("/api/edits"),
        Some(CONTROLLER),
        Some(json!({"ops": edit["ops"]})),
    )
    .await?;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        socket.next_message("changed", WAIT).await?["client"],
        "http"
    );
    let mut controller = ControlSocket::connect_as(&base, Some(CONTROLLER), None).await?;
    assert_eq!(controller.hello["role"], "controller");
    let reply = controller.request(camera.clone()).await?;
    assert_eq!(reply["type"], "ack", "{reply}");
    assert_eq!(scene_of(CONTROLLER).await?.0["settings"]["exposure"], 3.0);
    viewer.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_from_other_origins_are_refused_unless_allowed() -> anyhow::Result<()> {
    let config = Config {
        allowed_origins: vec!["https://dashboard.example".into()],
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let base = server.url("");
    let get_from = |origin: &'static str| {
        let url = server.url("/api/scene");
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .header("origin", origin)
                .send()
                .await?;
            let allow = r
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            Ok::<_, anyhow::Error>((r.status().as_u16(), allow))
        }
    };
    assert_eq!(
        get_from("https://dashboard.example").await?,
        (200, Some("https://dashboard.example".into()))
    );
    assert_eq!(get_from("https://evil.example").await?, (403, None));
    // The server's own page is always allowed.
    let own = format!("http://{}", base.trim_start_matches("http://"));
    let r = reqwest::Client::new()
        .get(server.url("/api/scene"))
        .header("origin", own)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    // A WebSocket from a foreign page is refused before it opens; edits from such a
    // page over HTTP never apply.
    let e = ControlSocket::connect_as(&base, None, Some("https://evil.example"))
        .await
        .err()
        .unwrap();
    assert_eq!(refused_status(&e), Some(403), "{e:#}");
    ControlSocket::connect_as(&base, None, Some("https://dashboard.example")).await?;
    let (_, revision) = api::scene(&base).await?;
    let r = reqwest::Client::new()
        .post(server.url("/api/edits"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body(r#"{"ops":[{"op":"update","kind":"settings","value":{"exposure":4}}]}"#)
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert!(r.text().await?.contains("https://evil.example"));
    assert_eq!(api::scene(&base).await?.1, revision);
    // A preflight from an allowed page names it.
    let r = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, server.url("/whep"))
        .header("origin", "https://dashboard.example")
        .header("access-control-request-method", "POST")
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://dashboard.example"
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_answers_503_with_retry_after() -> anyhow::Result<()> {
    let config = Config {
        max_sessions: 1,
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let base = server.url("");
    let mut first = Viewer::connect(&base).await?;
    first.next_frame(WAIT).await?;
    let offer = Viewer::connect(&base)
        .await
        .err()
        .expect("a second session was let in");
    assert!(offer.to_string().contains("503"), "{offer}");
    assert!(offer.to_string().contains("at most 1 sessions"), "{offer}");
    // The raw reply carries Retry-After.
    let r = reqwest::Client::new()
        .post(server.url("/whep"))
        .header("content-type", "application/sdp")
        .body("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n")
        .send()
        .await?;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    assert_eq!(server.metric("streamtracer_sessions").await?, 1.0);
    // Once the first leaves, there is room again.
    first.close().await?;
    let mut second = Viewer::connect(&base).await?;
    second.next_frame(WAIT).await?;
    second.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_its_edit_and_pick_rates_is_refused_and_nothing_applies(
) -> anyhow::Result<()> {
    let config = Config {
        edit_rate: 5.0,
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let base = server.url("");
    let mut socket = ControlSocket::connect(&base).await?;
    let (_, r0) = api::scene(&base).await?;
    let (mut acked, mut limited) = (0, 0);
    for i in 0..30 {
        let reply = socket
            .request(json!({"type": "edit", "ops": [{"op": "update", "kind": "settings", "value": {"exposure": 1.0 + i as f64 / 100.0}}]}))
            .await?;
        match reply["type"].as_str() {
            Some("ack") => acked += 1,
            Some("error") if reply["code"] == "rate_limited" => limited += 1,
            _ => panic!("unexpected reply {reply}"),
        }
    }
    // A burst of twice the rate, and perhaps one more earned while sending.
    assert!((10..=12).contains(&acked), "{acked} acked");
    assert_eq!(acked + limited, 30);
    // Only what was acknowledged applied.
    assert_eq!(api::scene(&base).await?.1, r0 + acked);
    // Reads are never limited.
    let reply = socket
        .request(json!({"type": "get", "kind": "settings"}))
        .await?;
    assert_eq!(reply["type"], "entity");
    // Picks have an allowance of their own, spent the same way: the edits did not use
    // it up, and a flood of picks is refused beyond it.
    let (mut picked, mut limited) = (0, 0);
    for _ in 0..30 {
        let reply = socket
            .request(json!({"type": "pick", "x": 0.5, "y": 0.5}))
            .await?;
        match reply["type"].as_str() {
            Some("picked") => picked += 1,
            Some("error") if reply["code"] == "rate_limited" => limited += 1,
            _ => panic!("unexpected reply {reply}"),
        }
    }
    assert!(
        picked >= 10 && limited > 0,
        "{picked} picked, {limited} limited"
    );
    server.stop().await
}

/// So slow (one edit, then one more every ten seconds) that no test here is near
/// earning a second one by taking its time.
const SLOW: f64 = 0.1;

fn settings_edit(exposure: f64) -> Value {
    json!({"type": "edit", "ops": [{"op": "update", "kind": "settings", "value": {"exposure": exposure}}]})
}

/// `method base + path` with `token`, a body and its content type; the status, the
/// `Retry-After` header and the body as JSON.
async fn send(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> anyhow::Result<(u16, Option<String>, Value)> {
    let mut r = reqwest::Client::new()
        .request(method, url)
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await?;
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((status, retry, serde_json::from_str(&r.text().await?)?))
}

async fn post_json(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> anyhow::Result<(u16, Option<String>, Value)> {
    let body = body.to_string().into_bytes();
    send(
        reqwest::Method::POST,
        server.url(path),
        token,
        "application/json",
        body,
    )
    .await
}

/// A refused HTTP request: `429`, `rate_limited`, and a `Retry-After` of whole seconds,
/// at least one and at most the ten a token takes to come back.
fn assert_limited((status, retry, body): &(u16, Option<String>, Value), what: &str) {
    assert_eq!(*status, 429, "{what}: {body}");
    assert_eq!(body["code"], "rate_limited", "{what}: {body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("--edit-rate")),
        "{what}: {body}"
    );
    let seconds: u64 = retry
        .as_deref()
        .unwrap_or_else(|| panic!("{what}: 429 without Retry-After"))
        .parse()
        .unwrap_or_else(|_| panic!("{what}: Retry-After {retry:?} is not whole seconds"));
    assert!((1..=10).contains(&seconds), "{what}: Retry-After {seconds}");
}

/// Issue 16, item 3: `POST /api/edits`, `/api/undo`, `/api/redo`, `/api/control`,
/// `PUT /api/meshes/{key}` and picks over HTTP never passed through `--edit-rate`.
/// Now each spends the client's allowance, and beyond it is a `429` with
/// `Retry-After` that changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_edits_and_picks_bypassed_the_edit_rate() -> anyhow::Result<()> {
    let config = Config {
        edit_rate: SLOW,
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let base = server.url("");
    let first = post_json(&server, "/api/edits", None, &settings_edit(1.5)).await?;
    assert_eq!(first.0, 200, "{}", first.2);
    assert_eq!(first.1, None, "an accepted edit has no Retry-After");
    let (_, r1) = api::scene(&base).await?;
    // Every route that changes the scene is refused now, and applies nothing.
    assert_limited(
        &post_json(
            &server,
            "/api/edits",
            None,
            &json!({"ops": [{"op": "update", "kind": "settings", "value": {"exposure": 3.0}}]}),
        )
        .await?,
        "POST /api/edits",
    );
    assert_limited(
        &post_json(&server, "/api/undo", None, &json!({})).await?,
        "POST /api/undo",
    );
    assert_limited(
        &post_json(&server, "/api/redo", None, &json!({})).await?,
        "POST /api/redo",
    );
    assert_limited(
        &post_json(&server, "/api/control", None, &settings_edit(3.0)).await?,
        "POST /api/control (edit)",
    );
    let glb = streamtracer_tests::grid_glb(2);
    let upload = send(
        reqwest::Method::PUT,
        server.url("/api/meshes/grid"),
        None,
        "model/gltf-binary",
        glb,
    )
    .await?;
    assert_limited(&upload, "PUT /api/meshes/grid");
    let (scene, revision) = api::scene(&base).await?;
    assert_eq!(revision, r1, "a refused request changed the scene");
    assert_eq!(scene["settings"]["exposure"], 1.5, "{}", scene["settings"]);
    assert!(
        scene["meshes"].get("grid").is_none(),
        "the refused upload was added"
    );
    // Picks have their own allowance, spent over HTTP the same way.
    let pick = json!({"type": "pick", "x": 0.5, "y": 0.5});
    let picked = post_json(&server, "/api/control", None, &pick).await?;
    assert_eq!(
        (picked.0, &picked.2["type"]),
        (200, &json!("picked")),
        "{}",
        picked.2
    );
    assert_limited(
        &post_json(&server, "/api/control", None, &pick).await?,
        "POST /api/control (pick)",
    );
    // Reads are never limited.
    let (status, _) = api::get(&base, "/api/scene/settings").await?;
    assert_eq!(status, 200);
    server.stop().await
}

/// Issue 16, item 3: every new WebSocket started with a fresh allowance, so a client
/// that opened many (or mixed in HTTP) was never held to `--edit-rate`. Now one
/// client (here, one address on a server without tokens) has one allowance, shared
/// by its data channel, its WebSockets and its HTTP requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_websockets_and_http_started_fresh_edit_allowances() -> anyhow::Result<()> {
    let config = Config {
        edit_rate: SLOW,
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let base = server.url("");
    // The data channel alone: one edit, then refused.
    let mut viewer = Viewer::connect(&base).await?;
    viewer.next_message("hello", WAIT).await?;
    let ack = viewer.request(settings_edit(1.1), WAIT).await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    let refused = viewer.request(settings_edit(1.2), WAIT).await?;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    let (_, r1) = api::scene(&base).await?;
    // Ten new WebSockets of the same client: each refused, none with an allowance of
    // its own; so is HTTP.
    let mut sockets = Vec::new();
    for i in 0..10 {
        let mut socket = ControlSocket::connect(&base).await?;
        let reply = socket.request(settings_edit(2.0 + i as f64)).await?;
        assert_eq!(reply["code"], "rate_limited", "WebSocket {i}: {reply}");
        sockets.push(socket);
    }
    assert_limited(
        &post_json(&server, "/api/edits", None, &settings_edit(4.0)).await?,
        "POST /api/edits after the data channel's edit",
    );
    // Picks too: spent on one WebSocket, refused on the others and over HTTP.
    let pick = json!({"type": "pick", "x": 0.5, "y": 0.5});
    let picked = sockets[0].request(pick.clone()).await?;
    assert_eq!(picked["type"], "picked", "{picked}");
    let refused = sockets[1].request(pick.clone()).await?;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    let refused = viewer.request(pick.clone(), WAIT).await?;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    assert_limited(
        &post_json(&server, "/api/control", None, &pick).await?,
        "a pick over HTTP after one over a WebSocket",
    );
    assert_eq!(api::scene(&base).await?.1, r1, "a refused edit applied");
    viewer.close().await?;
    server.stop().await
}

/// The other half of the rule: a client's allowance is its token's. Another
/// controller token is unaffected when one is spent, on every transport, and the data
/// channel counts against the token its offer was made with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edit_rate_is_per_token_so_another_token_is_unaffected() -> anyhow::Result<()> {
    const OTHER: &str = "controller-token-second-5d2e";
    let config = Config {
        edit_rate: SLOW,
        controller_tokens: vec![CONTROLLER.into(), OTHER.into()],
        ..with_tokens()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let base = server.url("");
    let mut socket = ControlSocket::connect_as(&base, Some(CONTROLLER), None).await?;
    let ack = socket.request(settings_edit(1.1)).await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    let mut again = ControlSocket::connect_as(&base, Some(CONTROLLER), None).await?;
    let refused = again.request(settings_edit(1.2)).await?;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    assert_limited(
        &post_json(&server, "/api/edits", Some(CONTROLLER), &settings_edit(4.0)).await?,
        "the spent token over HTTP",
    );
    let mut viewer =
        Viewer::connect_with(&base, ViewerOptions::with_token(Some(CONTROLLER))).await?;
    viewer.next_message("hello", WAIT).await?;
    let refused = viewer.request(settings_edit(1.3), WAIT).await?;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    viewer.close().await?;
    // The other token has its whole allowance: one edit over HTTP...
    let ok = post_json(&server, "/api/edits", Some(OTHER), &settings_edit(2.0)).await?;
    assert_eq!(ok.0, 200, "{}", ok.2);
    // ...and it is then refused on its own data channel, as any other of its requests.
    let mut other = Viewer::connect_with(&base, ViewerOptions::with_token(Some(OTHER))).await?;
    other.next_message("hello", WAIT).await?;
    let refused = other.request(settings_edit(2.1), WAIT).await?;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    // Its picks are still whole.
    let picked = other
        .request(json!({"type": "pick", "x": 0.5, "y": 0.5}), WAIT)
        .await?;
    assert_eq!(picked["type"], "picked", "{picked}");
    other.close().await?;
    server.stop().await
}

/// A viewer may `pick` (it reads) but not change its view's `quality`; a controller
/// may do both. Module scripts from an allowed origin get CORS headers, so a page
/// there can import `<streamtracer-view>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_pick_but_only_controllers_set_the_quality() -> anyhow::Result<()> {
    let config = Config {
        allowed_origins: vec!["https://dash.example".into()],
        ..with_tokens()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let base = server.url("");
    let mut viewer = ControlSocket::connect_as(&base, Some(VIEWER), None).await?;
    let picked = viewer
        .request(json!({"type": "pick", "x": 0.5, "y": 0.5}))
        .await?;
    assert_eq!(picked["hit"]["object"], "ball", "{picked}");
    let refused = viewer
        .request(json!({"type": "quality", "fps": 10}))
        .await?;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    let mut controller = ControlSocket::connect_as(&base, Some(CONTROLLER), None).await?;
    let ack = controller
        .request(json!({"type": "quality", "fps": 10}))
        .await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    let heard = viewer.next_message("quality_changed", WAIT).await?;
    assert_eq!(heard["fps"], 10.0, "{heard}");

    // The element's module, and one of the modules it imports from beside it: CORS for
    // the allowed origin, none for another.
    for (path, origin, allowed) in [
        ("/streamtracer-view.js", "https://dash.example", true),
        ("/streamtracer-view.js", "https://evil.example", false),
        ("/protocol.js", "https://dash.example", true),
        ("/protocol.js", "https://evil.example", false),
    ] {
        let r = reqwest::Client::new()
            .get(server.url(path))
            .header("origin", origin)
            .send()
            .await?;
        let cors = r
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        if allowed {
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(cors.as_deref(), Some(origin), "{path}");
            assert!(r
                .headers()
                .get("content-type")
                .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/javascript")));
            let text = r.text().await?;
            assert!(text.contains(if path == "/protocol.js" {
                "export class ProtocolClient"
            } else {
                "customElements.define('streamtracer-view'"
            }));
        } else {
            assert_eq!(r.status(), 403, "{path} {origin}");
            assert_eq!(cors, None, "{path} {origin}");
        }
    }
    server.stop().await
}
