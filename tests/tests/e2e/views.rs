//! Views: a controller opens a second view of the one scene with its own camera; both
//! stream their own pictures, an edit shows in both, and a view nobody watches stops
//! rendering.

use serde_json::json;
use std::time::Duration;
use streamtracer::Config;
use streamtracer_tests::client::{Frame, Viewer, ViewerOptions};
use streamtracer_tests::{api, edit_scene, middle, TestServer, WAIT};

/// The newest decoded frame after `settle`.
async fn latest(viewer: &mut Viewer, settle: Duration) -> anyhow::Result<Frame> {
    tokio::time::sleep(settle).await;
    let mut frame = viewer.next_frame(WAIT).await?;
    while let Ok(f) = viewer.frames.try_recv() {
        frame = f;
    }
    Ok(frame)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_views_show_their_own_cameras_and_every_edit() -> anyhow::Result<()> {
    // Far from converging in the test's time, so that only being unwatched stops a view.
    let config = Config {
        max_spp: 100_000,
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let base = server.url("");
    let mut main = Viewer::connect(&base).await?;
    let mut side = Viewer::connect_with(&base, ViewerOptions::on_view("side")).await?;
    let hello = side.next_message("hello", WAIT).await?;
    assert_eq!(hello["view"], "side");
    main.next_message("hello", WAIT).await?;
    // The side view turns to look past the ball, at the sky.
    side.send_text(
        &json!({"type": "camera", "id": 1, "eye": [0, 0, 5], "target": [5, 0, 5], "up": [0, 1, 0], "fov": 40})
            .to_string(),
    )
    .await?;
    assert_eq!(side.next_message("ack", WAIT).await?["id"], 1);
    // Main still looks at the grey ball (0.3 linear, about 149); side sees the sky
    // (0.6, about 203). Main heard nothing of the side view's camera.
    let [r, g, b] = middle(&latest(&mut main, Duration::from_millis(800)).await?);
    assert!(
        (r - g).abs() < 12.0 && (120.0..175.0).contains(&r),
        "main: {r} {g} {b}"
    );
    let [r, g, b] = middle(&latest(&mut side, Duration::ZERO).await?);
    assert!((r - g).abs() < 12.0 && r > 185.0, "side: {r} {g} {b}");
    assert!(
        tokio::time::timeout(
            Duration::from_millis(200),
            main.next_message("camera_changed", WAIT)
        )
        .await
        .is_err(),
        "the main view's viewer heard of the side view's camera"
    );

    // One edit, the sky turned red: both views show it.
    let (status, ack) = api::post(
        &base,
        "/api/edits",
        &json!({"ops": [{"op": "update", "kind": "environment", "value": {"type": "constant", "radiance": [0.6, 0.05, 0.05]}}]}),
    )
    .await?;
    assert_eq!(status, 200, "{ack}");
    let [r, g, b] = middle(&latest(&mut main, Duration::from_millis(800)).await?);
    assert!(
        r > g + 50.0 && r > b + 50.0,
        "main after the edit: {r} {g} {b}"
    );
    let [r, g, b] = middle(&latest(&mut side, Duration::ZERO).await?);
    assert!(
        r > g + 80.0 && r > b + 80.0,
        "side after the edit: {r} {g} {b}"
    );
    assert_eq!(
        server.metric("streamtracer_viewers{view=\"side\"}").await?,
        1.0
    );

    // Nobody watches the side view any more: its render pauses at its modest budget
    // (the rule, `keeps_rendering`, is unit-tested in `view::render`).
    side.close().await?;
    until_metric(&server, "streamtracer_view_rendering{view=\"side\"}", |v| {
        v == 0.0
    })
    .await
    .map_err(|e| e.context("an unwatched view kept rendering"))?;
    // Main, still watched, keeps refining.
    let main_passes = "streamtracer_view_render_passes_total{view=\"main\"}";
    let before = server.metric(main_passes).await?;
    until_metric(&server, main_passes, |v| v > before).await?;
    // A viewer joining the side view again finds it where it was.
    let mut again = Viewer::connect_with(&base, ViewerOptions::on_view("side")).await?;
    let [r, g, b] = middle(&latest(&mut again, Duration::from_millis(500)).await?);
    assert!(r > g + 80.0 && r > b + 80.0, "side, rejoined: {r} {g} {b}");
    again.close().await?;
    main.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_controllers_open_views_and_only_so_many() -> anyhow::Result<()> {
    let config = Config {
        viewer_tokens: vec!["views-viewer-token-41aa".into()],
        controller_tokens: vec!["views-controller-token-9c".into()],
        max_views: 2,
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let base = server.url("");
    let as_viewer = |view: &str| ViewerOptions {
        token: Some("views-viewer-token-41aa".into()),
        ..ViewerOptions::on_view(view)
    };
    let as_controller = |view: &str| ViewerOptions {
        token: Some("views-controller-token-9c".into()),
        ..ViewerOptions::on_view(view)
    };
    let e = Viewer::connect_with(&base, as_viewer("mine"))
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("404"), "{e}");
    let e = Viewer::connect_with(&base, as_controller("no/such"))
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("400"), "{e}");
    // A bad offer naming a new view opens nothing, even from a controller.
    let status = reqwest::Client::new()
        .post(format!("{base}/whep?view=ghost"))
        .bearer_auth("views-controller-token-9c")
        .header("content-type", "application/sdp")
        .body("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n")
        .send()
        .await?
        .status();
    assert_eq!(status, 400);
    // Neither do bad input naming a view, nor reads: a controller's garbage over HTTP
    // and the statistics, a snapshot or a pick of a view that does not exist.
    let http = reqwest::Client::new();
    let control = |view: &str, body: &str| {
        http.post(format!("{base}/api/control?view={view}"))
            .bearer_auth("views-controller-token-9c")
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let r = control("typo", "{not json").await?;
    assert_eq!(r.status(), 400, "{}", r.text().await?);
    let r = control("typo", r#"{"type": "pick", "x": 0.5, "y": 0.5}"#).await?;
    assert_eq!(r.status(), 404);
    let m: serde_json::Value = serde_json::from_str(&r.text().await?)?;
    assert!(
        m["message"]
            .as_str()
            .unwrap_or("")
            .contains("no view \"typo\""),
        "{m}"
    );
    for path in ["/api/stats?view=nope", "/api/snapshot.png?view=nope"] {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth("views-controller-token-9c")
            .send()
            .await?;
        assert_eq!(r.status(), 404, "{path}");
        let m: serde_json::Value = serde_json::from_str(&r.text().await?)?;
        assert!(
            m["message"]
                .as_str()
                .unwrap_or("")
                .contains("no view \"nope\""),
            "{path}: {m}"
        );
    }
    let metrics = reqwest::get(server.url("/metrics")).await?.text().await?;
    for name in ["ghost", "typo", "nope"] {
        assert!(
            !metrics.contains(&format!("view=\"{name}\"")),
            "a refused offer, bad input or a read opened the view {name}"
        );
    }
    let mut second = Viewer::connect_with(&base, as_controller("second")).await?;
    second.next_frame(WAIT).await?;
    let e = Viewer::connect_with(&base, as_controller("third"))
        .await
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("503") && e.to_string().contains("2 views"),
        "{e}"
    );
    // A viewer may watch a view that exists.
    let mut watcher = Viewer::connect_with(&base, as_viewer("second")).await?;
    watcher.next_frame(WAIT).await?;
    watcher.close().await?;
    second.close().await?;
    server.stop().await
}

/// A controller changes its view's frame rate and live bitrate at run time with
/// `quality`: `hello` announces them and their ranges, every client of the view
/// hears `quality_changed`, frames come at the new rate and the encoder keeps under
/// the new bitrate; values outside the server's ranges are refused and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_changes_the_frame_rate_and_bitrate_of_a_view() -> anyhow::Result<()> {
    use streamtracer_tests::ws::ControlSocket;
    let server = TestServer::small(edit_scene()).await?;
    let base = server.url("");
    let mut viewer = Viewer::connect(&base).await?;
    let hello = viewer.next_message("hello", WAIT).await?;
    assert_eq!(
        hello["quality"],
        json!({"bitrate": 2_000_000, "fps": 30.0, "min_bitrate": 300_000,
               "max_bitrate": 4_000_000, "max_fps": 30.0, "denoise": true}),
        "{hello}"
    );
    viewer.next_frame(WAIT).await?;

    let mut ws = ControlSocket::connect(&base).await?;
    let reply = ws.request(json!({"type": "quality", "fps": 10})).await?;
    assert_eq!(reply["type"], "ack", "{reply}");
    let heard = viewer.next_message("quality_changed", WAIT).await?;
    assert_eq!(heard["fps"], 10.0, "{heard}");
    assert_eq!(heard["bitrate"], 2_000_000, "{heard}");
    assert_eq!(heard["denoise"], true, "{heard}");
    // Denoising off and on again, each heard by the viewer; a bad value refused.
    for on in [false, true] {
        let reply = ws
            .request(json!({"type": "quality", "denoise": on}))
            .await?;
        assert_eq!(reply["type"], "ack", "{reply}");
        let heard = viewer.next_message("quality_changed", WAIT).await?;
        assert_eq!(
            (heard["denoise"].clone(), heard["fps"].clone()),
            (json!(on), json!(10.0)),
            "{heard}"
        );
    }
    let refused = ws
        .request(json!({"type": "quality", "denoise": "yes"}))
        .await?;
    assert_eq!(
        (refused["code"].as_str(), refused["field"].as_str()),
        (Some("invalid_value"), Some("denoise")),
        "{refused}"
    );
    // At 10 fps frames are made at least 100 ms apart, and their RTP timestamps say
    // when each was made: a ceiling, not a window (a loaded machine may stream slower
    // than asked, never faster; at 30 fps they would be 33 ms apart). When frames go
    // out is the encode planner's policy, unit-tested; this checks the stream follows.
    while viewer.frames.try_recv().is_ok() {}
    let mut frames: Vec<Frame> = Vec::new();
    for _ in 0..10 {
        frames.push(viewer.next_frame(WAIT).await?);
    }
    let mut gaps: Vec<f64> = frames
        .windows(2)
        .map(|w| w[1].rtp_timestamp.wrapping_sub(w[0].rtp_timestamp) as f64 / 90_000.0)
        .collect();
    gaps.sort_by(f64::total_cmp);
    let median = gaps[gaps.len() / 2];
    assert!(
        median >= 0.077,
        "frames made {median:.3} s apart (median) after asking for 10 fps"
    );

    // Out of the server's ranges: refused, nothing changes.
    for (bad, field) in [
        (json!({"type": "quality", "fps": 60}), "fps"),
        (json!({"type": "quality", "bitrate": 5_000_000}), "bitrate"),
        (
            json!({"type": "quality", "bitrate": 100_000, "fps": 10}),
            "bitrate",
        ),
    ] {
        let reply = ws.request(bad.clone()).await?;
        assert_eq!(reply["code"], "invalid_value", "{bad}: {reply}");
        assert_eq!(reply["field"], field, "{bad}: {reply}");
    }
    let (status, reply) = api::post(
        &base,
        "/api/control",
        &json!({"type": "quality", "bitrate": 500_000}),
    )
    .await?;
    assert_eq!(
        (status, reply["type"].as_str()),
        (200, Some("ack")),
        "{reply}"
    );
    let hello = ControlSocket::connect(&base).await?.hello;
    assert_eq!(hello["quality"]["bitrate"], 500_000, "{hello}");
    assert_eq!(hello["quality"]["fps"], 10.0, "{hello}");

    // While the picture changes, the encoder stays under the new live bitrate.
    let mut lowest = f64::MAX;
    for i in 0..30 {
        let camera = render_core::Camera {
            eye: glam::Vec3::new(0.1 * i as f32, 0.0, 5.0),
            target: glam::Vec3::ZERO,
            up: glam::Vec3::Y,
            fov: 40.0,
        };
        viewer.send_camera(&camera).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        lowest = lowest.min(server.metric("streamtracer_target_bitrate_bits").await?);
        if lowest <= 500_000.0 {
            break;
        }
    }
    assert!(
        lowest <= 500_000.0,
        "the encoder's target stayed at {lowest}"
    );
    viewer.close().await?;
    server.stop().await
}

/// Regression: every session's link estimate started from the main view's bitrate,
/// also for sessions on another view. A viewer joining a view whose controller lowered
/// its bitrate starts its estimate there, not at the main view's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_of_another_view_starts_its_link_estimate_at_that_views_bitrate(
) -> anyhow::Result<()> {
    use streamtracer_tests::ws::ControlSocket;
    let server = TestServer::small(edit_scene()).await?;
    let base = server.url("");
    let mut controller = ControlSocket::connect_to_view(&base, "side").await?;
    let reply = controller
        .request(json!({"type": "quality", "bitrate": 400_000}))
        .await?;
    assert_eq!(reply["type"], "ack", "{reply}");
    let mut main = Viewer::connect(&base).await?;
    let mut side = Viewer::connect_with(&base, ViewerOptions::on_view("side")).await?;
    main.next_frame(WAIT).await?;
    side.next_frame(WAIT).await?;
    // The estimates move from where they started by a few percent a second at most:
    // read them as soon as both views stream.
    let estimate = |view: &str| {
        let name = format!("streamtracer_view_lowest_link_estimate_bits{{view=\"{view}\"}}");
        let server = &server;
        async move {
            for _ in 0..100 {
                let value = server.metric(&name).await?;
                if value > 0.0 {
                    return Ok(value);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            anyhow::bail!("{name} stayed 0")
        }
    };
    let side_estimate = estimate("side").await?;
    let main_estimate = estimate("main").await?;
    assert!(
        side_estimate <= 800_000.0,
        "the side view's viewer started its estimate at {side_estimate} bit/s, not near the view's 400000"
    );
    assert!(
        main_estimate >= 1_500_000.0,
        "the main view's viewer estimate is {main_estimate} bit/s, not near --bitrate 2000000"
    );
    side.close().await?;
    main.close().await?;
    server.stop().await
}

/// Waits (polling `/metrics`) until `metric` satisfies `done`, for at most [`WAIT`].
async fn until_metric(
    server: &TestServer,
    metric: &str,
    done: impl Fn(f64) -> bool,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let value = server.metric(metric).await?;
        if done(value) {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{metric} still {value} after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
