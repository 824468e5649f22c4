//! The web client in a real browser: headless Chromium opens the viewer page, plays
//! the WebRTC stream, a mouse drag orbits the camera, the wheel zooms, and a second
//! window plays the same stream while the first keeps playing.

use serde_json::Value;
use std::time::Duration;
use streamtracer_tests::browser::Browser;
use streamtracer_tests::TestServer;

const WAIT: Duration = Duration::from_secs(30);

/// Draws the current video frame to a canvas and summarises it: per-channel mean and
/// standard deviation, the mean red-minus-green of two vertical bands where the
/// built-in room's side walls appear, and a 16x9 grid of mean luma for comparing
/// pictures. The field of view is vertical, so the walls sit at fixed offsets from
/// the centre in units of the picture's height, whatever its width (the page sizes
/// the stream to its window).
const PICTURE_STATS: &str = r#"
const v = document.getElementById('video');
const w = v.videoWidth, h = v.videoHeight;
const c = document.createElement('canvas');
c.width = w; c.height = h;
const g = c.getContext('2d');
g.drawImage(v, 0, 0, w, h);
const d = g.getImageData(0, 0, w, h).data;
const n = w * h;
const mean = [0, 0, 0], sq = [0, 0, 0];
let leftRg = 0, rightRg = 0, leftN = 0, rightN = 0;
const grid = new Array(16 * 9).fill(0), gridN = new Array(16 * 9).fill(0);
for (let y = 0; y < h; y++) {
  for (let x = 0; x < w; x++) {
    const i = (y * w + x) * 4;
    for (let k = 0; k < 3; k++) { mean[k] += d[i + k]; sq[k] += d[i + k] * d[i + k]; }
    const off = (x - w / 2) / h;
    if (off >= -0.497 && off < -0.391) { leftRg += d[i] - d[i + 1]; leftN++; }
    if (off >= 0.391 && off < 0.497) { rightRg += d[i] - d[i + 1]; rightN++; }
    const cell = Math.floor(y * 9 / h) * 16 + Math.floor(x * 16 / w);
    grid[cell] += 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
    gridN[cell]++;
  }
}
const sd = [0, 1, 2].map(k => Math.sqrt(sq[k] / n - (mean[k] / n) ** 2));
return { width: w, height: h, mean: mean.map(m => m / n), sd,
         leftRg: leftRg / leftN, rightRg: rightRg / rightN,
         grid: grid.map((s, i) => s / gridN[i]) };
"#;

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn grid_diff(a: &Value, b: &Value) -> f64 {
    let (a, b) = (a["grid"].as_array().unwrap(), b["grid"].as_array().unwrap());
    a.iter()
        .zip(b)
        .map(|(x, y)| (f(x) - f(y)).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_page_plays_orbits_on_drag_zooms_on_wheel_and_a_second_window_plays_too(
) -> anyhow::Result<()> {
    let mut config = TestServer::small_config();
    config.width = 640;
    config.height = 360;
    let server = TestServer::start(config, render_core::Scene::cornell_box()).await?;
    let browser = Browser::start(960, 600).await?;
    browser.client.goto(&server.url("/")).await?;

    // Playing: connected, decoded frames advancing, the full-size picture.
    browser
        .wait_for("window.streamtracer && window.streamtracer.state === 'connected' && window.streamtracer.session", WAIT)
        .await?;
    // The stream follows the video element: the page asks for its size in device
    // pixels (the server started at 640x360; the window is 960x600).
    browser
        .wait_for(
            "(() => { const v = document.getElementById('video'); \
              const r = v.getBoundingClientRect(); const dpr = window.devicePixelRatio || 1; \
              const even = (x) => 2 * Math.floor(x / 2); \
              return v.videoWidth === even(r.width * dpr) && v.videoHeight === even(r.height * dpr) \
                && v.videoWidth !== 640; })()",
            WAIT,
        )
        .await?;
    let frames_before = f(&browser
        .eval("return window.streamtracer.framesPresented;")
        .await?);
    browser
        .wait_for(
            &format!("window.streamtracer.framesPresented > {frames_before} + 20"),
            WAIT,
        )
        .await?;
    let status = browser
        .eval("return document.getElementById('status').textContent;")
        .await?;
    assert!(
        status.as_str().unwrap_or("").contains("connected"),
        "status line: {status}"
    );

    // Let the picture refine, then check it is the scene: lit, not a flat colour,
    // the red wall on the left and the green wall on the right.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = browser.eval(PICTURE_STATS).await?;
    let mean: f64 = before["mean"]
        .as_array()
        .unwrap()
        .iter()
        .map(f)
        .sum::<f64>()
        / 3.0;
    let sd: f64 = before["sd"].as_array().unwrap().iter().map(f).sum::<f64>() / 3.0;
    assert!(mean > 25.0, "picture is (nearly) black: {before}");
    assert!(sd > 20.0, "picture is (nearly) a solid colour: {before}");
    assert!(
        f(&before["leftRg"]) > 30.0,
        "no red wall on the left: {before}"
    );
    assert!(
        f(&before["rightRg"]) < -10.0,
        "no green wall on the right: {before}"
    );

    // Chromium reports arrivals (transport-wide congestion control feedback), so the
    // server's estimate of its link has moved from where it started.
    let estimate = server
        .metric("streamtracer_lowest_link_estimate_bits")
        .await?;
    assert!(
        estimate > 0.0 && estimate != server.config.bitrate as f64,
        "the link estimate is {estimate}: no congestion-control feedback from the browser"
    );

    if let Some(path) = std::env::var_os("STREAMTRACER_SCREENSHOT") {
        std::fs::write(path, browser.client.screenshot().await?)?;
    }

    // Drag across the video with a real pointer: the camera orbits.
    let revision = f(&browser.eval("return window.streamtracer.revision;").await?);
    // About 100 CSS pixels to the right: an orbit of roughly 30 degrees.
    browser.drag("video", 10, 10.0, 1.0).await?;
    browser
        .wait_for(&format!("window.streamtracer.revision > {revision}"), WAIT)
        .await?;
    browser
        .wait_for("window.streamtracer.acks > 0", WAIT)
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = browser.eval(PICTURE_STATS).await?;
    let moved = grid_diff(&before, &after);
    assert!(
        moved > 8.0,
        "the picture did not change after the drag (mean luma change {moved:.1})"
    );
    // Still the lit room, seen from elsewhere.
    let mean_after: f64 = after["mean"].as_array().unwrap().iter().map(f).sum::<f64>() / 3.0;
    assert!(
        mean_after > 25.0,
        "picture went dark after the drag: {after}"
    );
    // The wheel zooms: another camera message, and the room grows in the picture.
    let revision = f(&browser.eval("return window.streamtracer.revision;").await?);
    let before_zoom = browser.eval(PICTURE_STATS).await?;
    let center = browser
        .eval("const r = document.getElementById('video').getBoundingClientRect(); return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];")
        .await?;
    use fantoccini::actions::{InputSource, WheelAction, WheelActions};
    let (cx, cy) = (
        center[0].as_i64().unwrap_or(0),
        center[1].as_i64().unwrap_or(0),
    );
    let wheel = WheelActions::new("wheel".into()).then(WheelAction::Scroll {
        duration: None,
        x: cx,
        y: cy,
        delta_x: 0,
        delta_y: -400,
    });
    browser.client.perform_actions(wheel).await?;
    browser
        .wait_for(&format!("window.streamtracer.revision > {revision}"), WAIT)
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let zoomed = browser.eval(PICTURE_STATS).await?;
    let zoom_change = grid_diff(&before_zoom, &zoomed);
    assert!(
        zoom_change > 8.0,
        "the picture did not change after zooming (mean luma change {zoom_change:.1})"
    );

    // A second window on the same URL plays the same stream, and the first keeps playing.
    let first = browser.client.window().await?;
    let second = browser.client.new_window(false).await?;
    browser
        .client
        .switch_to_window(second.handle.clone())
        .await?;
    browser.client.goto(&server.url("/")).await?;
    browser
        .wait_for(
            "window.streamtracer && window.streamtracer.state === 'connected'",
            WAIT,
        )
        .await?;
    browser
        .wait_for("window.streamtracer.framesPresented > 20", WAIT)
        .await?;
    // It shows the shared camera: the zoomed view the first window set.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen_by_second = browser.eval(PICTURE_STATS).await?;
    let between_windows = grid_diff(&zoomed, &seen_by_second);
    assert!(
        between_windows < zoom_change / 2.0,
        "the second window shows another view: {between_windows:.1}"
    );
    let second_errors = browser.console_errors().await?;
    browser.client.switch_to_window(first).await?;
    let presented = f(&browser
        .eval("return window.streamtracer.framesPresented;")
        .await?);
    browser
        .wait_for(
            &format!("window.streamtracer.framesPresented > {presented} + 20"),
            WAIT,
        )
        .await?;
    assert!(
        second_errors.is_empty(),
        "browser console errors in the second window: {second_errors:?}"
    );

    let errors = browser.console_errors().await?;
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    browser.close().await?;
    server.stop().await
}

/// With tokens, the page passes on its own `?token=`: a viewer's page plays and
/// offers no orbiting (a drag sends nothing the server would refuse), and a page
/// without a token says the server refused it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_passes_its_token_and_a_viewer_only_watches() -> anyhow::Result<()> {
    let viewer_token = "page-viewer-token-61c0d2";
    let config = streamtracer::Config {
        viewer_tokens: vec![viewer_token.into()],
        controller_tokens: vec!["page-controller-token-9e44".into()],
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, render_core::Scene::cornell_box()).await?;
    let browser = Browser::start(640, 480).await?;

    browser.client.goto(&server.url("/")).await?;
    browser
        .wait_for("window.streamtracer && window.streamtracer.lastError", WAIT)
        .await?;
    let error = browser
        .eval("return window.streamtracer.lastError.message;")
        .await?;
    assert!(error.as_str().unwrap_or("").contains("401"), "{error}");
    let status = browser
        .eval("return document.getElementById('status').textContent;")
        .await?;
    assert!(
        status.as_str().unwrap_or("").contains("401"),
        "status line: {status}"
    );

    browser
        .client
        .goto(&server.url(&format!("/?token={viewer_token}")))
        .await?;
    browser
        .wait_for("window.streamtracer && window.streamtracer.state === 'connected' && window.streamtracer.role === 'viewer'", WAIT)
        .await?;
    browser
        .wait_for("window.streamtracer.framesPresented > 10", WAIT)
        .await?;
    let revision = server.metric("streamtracer_scene_revision").await?;
    browser.drag("video", 10, 10.0, 1.0).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let state = browser
        .eval("return [window.streamtracer.acks, window.streamtracer.lastError];")
        .await?;
    assert_eq!(
        state,
        serde_json::json!([0, null]),
        "the viewer's page sent a change"
    );
    assert_eq!(
        server.metric("streamtracer_scene_revision").await?,
        revision
    );
    assert!(browser
        .console_errors()
        .await?
        .iter()
        .all(|e| e.contains("401")));
    browser.close().await?;
    server.stop().await
}
