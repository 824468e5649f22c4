//! The web client in a real browser: headless Chromium opens the viewer page, plays
//! the WebRTC stream; the mouse, touch, the keyboard and a double-click steer the
//! camera; the statistics overlay shows live numbers; a second window plays the same
//! stream. A controller edits a material in the scene panel while a viewer's page
//! has no editing controls; the dashboard example embeds two views from another
//! origin; the remote control example moves the camera another page watches; a cut
//! connection comes back by itself with the session's resume token; a browser without
//! H.264 and a full server are explained. None of this writes to the browser console
//! at level error (beyond the refused requests Chromium itself logs).
//!
//! Length: About 1,200 lines of scenarios that each need Chromium; they stay in one
//! binary of their own (see `e2e/main.rs`), so in one file.

use serde_json::{json, Value};
use std::time::Duration;
use streamtracer_tests::browser::Browser;
use streamtracer_tests::site::{web_client_file, Site, WhepProxy};
use streamtracer_tests::{edit_scene, TestServer};

const WAIT: Duration = Duration::from_secs(30);

/// The viewer page's video element.
const VIDEO: &str = "streamtracer-view video";

/// Draws the current video frame to a canvas and summarises it: per-channel mean and
/// standard deviation, the mean red-minus-green of two vertical bands where the
/// built-in room's side walls appear, and a 16x9 grid of mean luma for comparing
/// pictures. The field of view is vertical, so the walls sit at fixed offsets from
/// the centre in units of the picture's height, whatever its width (the page sizes
/// the stream to its window).
const PICTURE_STATS: &str = r#"
const v = document.querySelectorAll('streamtracer-view video')[typeof INDEX === 'number' ? INDEX : 0];
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

/// The page's camera azimuth around its target, in degrees.
const AZIMUTH_EXPR: &str = "(() => { const c = window.streamtracer.camera; \
    return Math.atan2(c.eye[0] - c.target[0], c.eye[2] - c.target[2]) * 180 / Math.PI; })()";
const AZIMUTH: &str = "return (() => { const c = window.streamtracer.camera; \
    return Math.atan2(c.eye[0] - c.target[0], c.eye[2] - c.target[2]) * 180 / Math.PI; })();";
/// The page's camera distance from its target.
const DISTANCE_EXPR: &str = "(() => { const c = window.streamtracer.camera; \
    return Math.hypot(c.eye[0] - c.target[0], c.eye[1] - c.target[1], c.eye[2] - c.target[2]); })()";
const DISTANCE: &str = "const c = window.streamtracer.camera; \
    return Math.hypot(c.eye[0] - c.target[0], c.eye[1] - c.target[1], c.eye[2] - c.target[2]);";

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
async fn viewer_page_plays_steers_by_mouse_touch_keys_and_double_click_shows_stats_and_a_second_window_plays(
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
    // pixels (the server started at 640x360; the window is 960x600), and the view
    // takes it (`resized`). The video itself has that shape; its size may be a
    // fraction of it while congestion control holds the stream lower.
    browser
        .wait_for(
            "(() => { const v = document.querySelector('streamtracer-view video'); \
              const st = window.streamtracer; \
              const r = v.getBoundingClientRect(); const dpr = window.devicePixelRatio || 1; \
              const even = (x) => 2 * Math.floor(x / 2); \
              const [w, h] = [even(r.width * dpr), even(r.height * dpr)]; \
              return st.width === w && st.height === h && w !== 640 && v.videoWidth > 0 \
                && Math.abs(v.videoWidth / v.videoHeight - w / h) < 0.05; })()",
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
        .eval("return document.querySelector('streamtracer-view .stv-status').textContent;")
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

    // Drag across the video with a real pointer: the camera orbits.
    let revision = f(&browser.eval("return window.streamtracer.revision;").await?);
    // About 100 CSS pixels to the right: an orbit of roughly 30 degrees.
    browser.drag(VIDEO, 10, 10.0, 1.0).await?;
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
        .eval("const r = document.querySelector('streamtracer-view video').getBoundingClientRect(); return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];")
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

    // Touch: one finger orbits (real touch input, not synthesised DOM events).
    let (cx, cy) = (cx as f64, cy as f64);
    let revision = f(&browser.eval("return window.streamtracer.revision;").await?);
    let azimuth = f(&browser.eval(AZIMUTH).await?);
    let before_touch = browser.eval(PICTURE_STATS).await?;
    browser
        .touch(&[(cx, cy)], &[(cx + 120.0, cy + 10.0)], 10)
        .await?;
    browser
        .wait_for(&format!("window.streamtracer.revision > {revision}"), WAIT)
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let turned = f(&browser.eval(AZIMUTH).await?);
    assert!(
        (turned - azimuth).abs() > 10.0,
        "one finger did not orbit: azimuth {azimuth:.1} -> {turned:.1} degrees"
    );
    let after_touch = browser.eval(PICTURE_STATS).await?;
    let touch_change = grid_diff(&before_touch, &after_touch);
    assert!(
        touch_change > 8.0,
        "the picture did not change after the touch orbit (mean luma change {touch_change:.1})"
    );
    // Two fingers spreading apart pinch-zoom in: the eye comes closer to the target.
    let distance = f(&browser.eval(DISTANCE).await?);
    let revision = f(&browser.eval("return window.streamtracer.revision;").await?);
    browser
        .touch(
            &[(cx - 40.0, cy), (cx + 40.0, cy)],
            &[(cx - 140.0, cy), (cx + 140.0, cy)],
            10,
        )
        .await?;
    browser
        .wait_for(&format!("window.streamtracer.revision > {revision}"), WAIT)
        .await?;
    let pinched = f(&browser.eval(DISTANCE).await?);
    assert!(
        pinched < distance * 0.7,
        "the pinch did not zoom in: distance {distance:.2} -> {pinched:.2}"
    );

    // The keyboard orbits too, once the player has the focus.
    let azimuth = f(&browser.eval(AZIMUTH).await?);
    browser
        .client
        .find(fantoccini::Locator::Css("streamtracer-view .stv-stage"))
        .await?
        .send_keys("\u{E012}\u{E012}\u{E012}")
        .await?;
    browser
        .wait_for(
            &format!("Math.abs(({AZIMUTH_EXPR}) - {azimuth}) > 10"),
            WAIT,
        )
        .await?;

    // Double-click focuses: the camera turns to the surface under the pointer (the
    // server's pick), keeping the eye where it is.
    let eye = browser
        .eval("return window.streamtracer.camera.eye;")
        .await?;
    browser
        .eval("window.targetBeforeFocus = window.streamtracer.camera.target.slice(); return null;")
        .await?;
    browser.double_click_at(cx - 30.0, cy + 30.0).await?;
    browser
        .wait_for(
            "Math.hypot(...window.streamtracer.camera.target.map((x, i) => x - window.targetBeforeFocus[i])) > 0.01",
            WAIT,
        )
        .await?;
    let focused = browser.eval("return window.streamtracer.camera;").await?;
    for k in 0..3 {
        assert!(
            (f(&focused["eye"][k]) - f(&eye[k])).abs() < 1e-3,
            "the eye moved on a focus: {eye} -> {focused}"
        );
    }
    // The built-in Cornell box spans [-1, 1] in x and z and [0, 2] in y: the new
    // target is on one of its surfaces.
    let t: Vec<f64> = (0..3).map(|k| f(&focused["target"][k])).collect();
    assert!(
        t.iter().all(|c| c.abs() <= 2.01) && t[1] >= -0.01,
        "the focus point is not in the room: {focused}"
    );

    // An orbit turns around the camera's own up, whatever axis that is: with +Z up,
    // the arrow keys swing the eye around Z, keeping its height along Z and its
    // distance (a +Y orbit would lift it off z = 1).
    browser
        .eval("window.streamtracer.sendCamera({ eye: [0, -3, 1], target: [0, 1, 1], up: [0, 0, 1], fov: 40 }); return null;")
        .await?;
    browser
        .client
        .find(fantoccini::Locator::Css("streamtracer-view .stv-stage"))
        .await?
        .send_keys("\u{E014}\u{E014}\u{E014}")
        .await?;
    browser
        .wait_for(
            "(() => { const c = window.streamtracer.camera; \
               return Math.abs(c.eye[0]) > 0.5 && c.up[2] === 1; })()",
            WAIT,
        )
        .await?;
    let turned = browser.eval("return window.streamtracer.camera;").await?;
    let (eye, target) = (&turned["eye"], &turned["target"]);
    let distance = (0..3)
        .map(|k| (f(&eye[k]) - f(&target[k])).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(
        (f(&eye[2]) - 1.0).abs() < 1e-3 && (distance - 4.0).abs() < 1e-3,
        "the orbit around +Z moved the eye off its circle: {turned}"
    );
    browser.click("streamtracer-view .stv-reset").await?;

    // The statistics overlay, opened with its button, shows live numbers; the time
    // from a camera edit to its first frame on screen is measured.
    browser.click("streamtracer-view .stv-stats-button").await?;
    browser
        .wait_for(
            "(() => { const s = window.streamtracer.stats; \
               return s.fps > 0 && s.bitrateKbps > 0 && s.rttMs != null && s.packetsLost != null \
                 && s.jitterBufferMs != null && s.samplesPerPixel != null && s.denoised != null \
                 && s.sceneRevision > 0 \
                 && s.editToFrameMs > 0; })()",
            WAIT,
        )
        .await?;
    let overlay = browser
        .eval("return document.querySelector('streamtracer-view .stv-stats').textContent;")
        .await?;
    let overlay = overlay.as_str().unwrap_or_default();
    for label in [
        "fps",
        "bitrate",
        "rtt",
        "packets lost",
        "jitter",
        "samples/px",
        "denoised",
        "revision",
        "edit→frame",
    ] {
        assert!(
            overlay.contains(label),
            "no {label} in the overlay:\n{overlay}"
        );
    }
    assert!(
        !overlay.contains("fps          0.0"),
        "the overlay shows no frame rate:\n{overlay}"
    );
    println!("stats overlay:\n{overlay}");
    // Of the frame on screen, the page knows whether it is denoised from the `frame`
    // messages' RTP timestamps: once the still picture's denoised frames arrive, the
    // overlay says so.
    browser
        .wait_for(
            "document.querySelector('streamtracer-view').shownDenoised === true \
               && window.streamtracer.stats.denoised === 'yes'",
            WAIT,
        )
        .await?;

    // For the README: the page with its statistics and scene panel open.
    if let Some(path) = std::env::var_os("STREAMTRACER_SCREENSHOT") {
        browser.click("streamtracer-view .stv-reset").await?;
        browser.click("streamtracer-view .stv-panel-button").await?;
        browser
            .wait_for("document.querySelector('.stv-objects li')", WAIT)
            .await?;
        browser.click(".stv-objects li").await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        std::fs::write(path, browser.client.screenshot().await?)?;
    }

    let errors = browser.console_errors().await?;
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    browser.close().await?;
    server.stop().await
}

/// The mean colour of the middle tenth of the page's picture (the ball of
/// `edit_scene`), 0 to 255 per channel.
const MIDDLE_COLOUR: &str = r#"
const v = document.querySelector('streamtracer-view video');
const w = v.videoWidth, h = v.videoHeight;
const c = document.createElement('canvas');
c.width = w; c.height = h;
const g = c.getContext('2d');
g.drawImage(v, 0, 0, w, h);
const d = g.getImageData(Math.floor(w * 0.45), Math.floor(h * 0.45), Math.ceil(w * 0.1), Math.ceil(h * 0.1)).data;
const m = [0, 0, 0];
for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) m[k] += d[i + k];
return m.map(x => x / (d.length / 4));
"#;

/// Sets the value of the input `element` (a JavaScript expression) and announces the
/// change, as a user's edit does. A colour picker's dialog is the browser's own, beyond
/// WebDriver: its value is set as the dialog would set it.
async fn set_input(browser: &Browser, element: &str, value: &str) -> anyhow::Result<()> {
    browser
        .eval(&format!(
            "const i = {element}; i.value = {value:?}; \
             i.dispatchEvent(new Event('change', {{ bubbles: true }})); return null;"
        ))
        .await?;
    Ok(())
}

/// The mean colour of the middle of the picture once `done` holds for it (red, green,
/// blue), or the last one read when `WAIT` has passed.
async fn middle_colour_when(
    browser: &Browser,
    done: impl Fn(f64, f64, f64) -> bool,
) -> anyhow::Result<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let c = browser.eval(MIDDLE_COLOUR).await?;
        if done(f(&c[0]), f(&c[1]), f(&c[2])) || std::time::Instant::now() > deadline {
            return Ok(c);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// With tokens, the page passes on its own `?token=`: without one it says the server
/// refused it; a controller's page edits a material's colour in the scene panel and
/// the picture takes that colour, sets the frame rate, bitrate and exposure, moves an
/// object out of the picture, and downloads the server's PNG; a viewer's page plays
/// with no editing controls at all, and a drag sends nothing the server would refuse;
/// given another token, it ends its old session with the old token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_edits_a_colour_in_the_panel_and_a_viewer_has_no_controls(
) -> anyhow::Result<()> {
    let viewer_token = "page-viewer-token-61c0d2";
    let controller_token = "page-controller-token-9e44";
    let config = streamtracer::Config {
        viewer_tokens: vec![viewer_token.into()],
        controller_tokens: vec![controller_token.into()],
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let browser = Browser::start(800, 600).await?;

    browser.client.goto(&server.url("/")).await?;
    browser
        .wait_for("window.streamtracer && window.streamtracer.lastError", WAIT)
        .await?;
    let error = browser
        .eval("return window.streamtracer.lastError.message;")
        .await?;
    assert!(error.as_str().unwrap_or("").contains("401"), "{error}");
    let shown = browser
        .eval("return document.querySelector('streamtracer-view').textContent;")
        .await?;
    assert!(
        shown.as_str().unwrap_or("").contains("401"),
        "the page does not say it was refused: {shown}"
    );
    // The refused request is the only console error (Chromium logs failed loads).
    assert!(browser
        .console_errors()
        .await?
        .iter()
        .all(|e| e.contains("401")));

    // A controller: the scene panel lists the scene; the ball's material turns blue.
    browser
        .client
        .goto(&server.url(&format!("/?token={controller_token}")))
        .await?;
    browser
        .wait_for("window.streamtracer && window.streamtracer.state === 'connected' && window.streamtracer.role === 'controller'", WAIT)
        .await?;
    browser
        .wait_for("window.streamtracer.framesPresented > 10", WAIT)
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let grey = browser.eval(MIDDLE_COLOUR).await?;
    let (r, g, b) = (f(&grey[0]), f(&grey[1]), f(&grey[2]));
    assert!(
        (b - r).abs() < 15.0 && (b - g).abs() < 15.0 && r > 40.0,
        "the ball is not grey at first: {grey}"
    );
    browser.click("streamtracer-view .stv-panel-button").await?;
    browser
        .wait_for(
            "document.querySelector('.stv-materials li[data-key=\"material-0\"]') && document.querySelector('.stv-objects li[data-key=\"ball\"]')",
            WAIT,
        )
        .await?;
    browser
        .click(".stv-materials li[data-key=\"material-0\"]")
        .await?;
    browser
        .wait_for(
            "document.querySelector('.stv-editor input.stv-color')",
            WAIT,
        )
        .await?;
    let revision = f(&browser.eval("return window.streamtracer.revision;").await?);
    set_input(
        &browser,
        "document.querySelector('.stv-editor input.stv-color')",
        "#1030ff",
    )
    .await?;
    browser
        .wait_for(
            &format!("window.streamtracer.revision > {revision} && window.streamtracer.shownRevision > {revision}"),
            WAIT,
        )
        .await?;
    let blue = middle_colour_when(&browser, |r, _, b| b > r + 60.0).await?;
    assert!(
        f(&blue[2]) > f(&blue[0]) + 60.0 && f(&blue[2]) > f(&blue[1]) + 40.0,
        "the ball did not turn blue: {grey} -> {blue}"
    );
    let material: Value = serde_json::from_str(
        &reqwest::Client::new()
            .get(server.url("/api/scene/material/material-0"))
            .bearer_auth(controller_token)
            .send()
            .await?
            .text()
            .await?,
    )?;
    let albedo = &material["value"]["albedo"];
    assert!(
        f(&albedo[2]) > 0.9 && f(&albedo[0]) < 0.05,
        "the server's material: {material}"
    );
    // The quality settings: the frame rate changes the view's stream.
    set_input(
        &browser,
        "document.querySelectorAll('.stv-quality input')[1]",
        "12",
    )
    .await?;
    browser
        .wait_for(
            "window.streamtracer.quality && window.streamtracer.quality.fps === 12",
            WAIT,
        )
        .await?;
    // The bitrate too: every client of the view hears the new one.
    set_input(
        &browser,
        "document.querySelectorAll('.stv-quality input')[0]",
        "900",
    )
    .await?;
    browser
        .wait_for("window.streamtracer.quality.bitrate === 900000", WAIT)
        .await?;
    // A render setting: the exposure in the scene's settings.
    set_input(
        &browser,
        "document.querySelectorAll('.stv-settings input')[2]",
        "1.7",
    )
    .await?;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let settings: Value = serde_json::from_str(
            &reqwest::Client::new()
                .get(server.url("/api/scene/settings"))
                .bearer_auth(controller_token)
                .send()
                .await?
                .text()
                .await?,
        )?;
        if f(&settings["value"]["exposure"]) == 1.7 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the exposure did not change: {settings}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An object's transform: the ball moves out of the picture, whose middle turns
    // to the grey sky.
    browser.click(".stv-objects li[data-key=\"ball\"]").await?;
    browser
        .wait_for(
            "document.querySelectorAll('.stv-editor .stv-vec input').length >= 9",
            WAIT,
        )
        .await?;
    let revision = f(&browser.eval("return window.streamtracer.revision;").await?);
    set_input(
        &browser,
        "document.querySelector('.stv-editor .stv-vec input')",
        "4",
    )
    .await?;
    browser
        .wait_for(
            &format!("window.streamtracer.shownRevision > {revision}"),
            WAIT,
        )
        .await?;
    let sky = middle_colour_when(&browser, |r, _, b| r > 150.0 && (r - b).abs() < 25.0).await?;
    assert!(
        f(&sky[0]) > 150.0 && (f(&sky[0]) - f(&sky[2])).abs() < 25.0,
        "the ball did not move out of the middle: {blue} -> {sky}"
    );
    // The PNG button fetches the server's full-quality picture.
    browser
        .eval("window.pngBlob = null; const make = URL.createObjectURL; \
               URL.createObjectURL = (b) => { window.pngBlob = b; return make.call(URL, b); }; return null;")
        .await?;
    browser.click("streamtracer-view .stv-png").await?;
    browser.wait_for("window.pngBlob", WAIT).await?;
    let png = browser
        .eval("return window.pngBlob.arrayBuffer().then((b) => [...new Uint8Array(b)]);")
        .await?;
    let png: Vec<u8> = png
        .as_array()
        .map(|a| a.iter().map(|x| x.as_u64().unwrap_or(0) as u8).collect())
        .unwrap_or_default();
    let picture = image::load_from_memory_with_format(&png, image::ImageFormat::Png)?.to_rgb8();
    let (w, h) = picture.dimensions();
    let middle = picture.get_pixel(w / 2, h / 2);
    assert!(
        middle[0] > 150 && middle[0].abs_diff(middle[2]) < 25,
        "the PNG's middle is not the sky: {middle:?} ({w}x{h})"
    );
    let errors = browser.console_errors().await?;
    assert!(errors.is_empty(), "browser console errors: {errors:?}");

    // A viewer: plays, and has nothing to edit with.
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
    let controls = browser
        .eval(
            "const v = document.querySelector('streamtracer-view'); \
             const b = v.querySelector('.stv-panel-button'); \
             const r = v.querySelector('.stv-reset'); \
             return { panel: v.querySelectorAll('.stv-panel').length, \
                      inputs: v.querySelectorAll('input, select, textarea').length, \
                      panelButton: !!b && !b.hidden && b.offsetParent !== null, \
                      resetButton: !!r && !r.hidden && r.offsetParent !== null, \
                      steerable: v.classList.contains('stv-steerable') };",
        )
        .await?;
    assert_eq!(
        controls,
        json!({"panel": 0, "inputs": 0, "panelButton": false, "resetButton": false, "steerable": false}),
        "the viewer's page offers editing controls"
    );
    let revision = server.metric("streamtracer_scene_revision").await?;
    browser.drag(VIDEO, 10, 10.0, 1.0).await?;
    // The control channel is ordered: once a request sent after the drag is answered,
    // any answer to something the drag sent (an ack, or a refusal) has come too.
    browser
        .eval("window.afterDrag = null; window.streamtracer.request({ type: 'get_scene' }).then((r) => { window.afterDrag = r; }); return null;")
        .await?;
    browser
        .wait_for(
            "window.afterDrag && window.afterDrag.type === 'scene'",
            WAIT,
        )
        .await?;
    let state = browser
        .eval("return [window.streamtracer.acks, window.streamtracer.lastError];")
        .await?;
    assert_eq!(state, json!([0, null]), "the viewer's page sent a change");
    assert_eq!(
        server.metric("streamtracer_scene_revision").await?,
        revision
    );
    // Another token on the element: the old session is ended with the token that
    // made it (the new one may belong to another server), and the new one starts.
    browser
        .eval(&format!(
            "window.deleteAuth = []; const send = window.fetch; \
             window.fetch = (url, init) => {{ \
               if (init && init.method === 'DELETE') window.deleteAuth.push((init.headers || {{}}).Authorization || null); \
               return send(url, init); }}; \
             document.querySelector('streamtracer-view').setAttribute('token', '{controller_token}'); return null;"
        ))
        .await?;
    browser
        .wait_for(
            "window.deleteAuth.length === 1 && window.streamtracer.role === 'controller' \
               && window.streamtracer.state === 'connected'",
            WAIT,
        )
        .await?;
    assert_eq!(
        browser.eval("return window.deleteAuth;").await?,
        json!([format!("Bearer {viewer_token}")])
    );
    let errors = browser.console_errors().await?;
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    browser.close().await?;
    server.stop().await
}

/// The dashboard example, served from another origin (another port) that the server
/// allows, loads `<streamtracer-view>` from the server and plays two views side by
/// side: both connected, both decoding frames that keep coming. An element removed or
/// switched while its offer is being answered ends that session. The iframe page
/// `/embed` plays a view without controls, unless asked for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_from_another_origin_plays_two_views() -> anyhow::Result<()> {
    let site = Site::start(vec![(
        "/dashboard.html".into(),
        "text/html; charset=utf-8",
        web_client_file("examples/dashboard.html")?,
    )])
    .await?;
    let mut config = TestServer::small_config();
    config.allowed_origins = vec![site.origin()];
    config.max_views = 4;
    let server = TestServer::start(config, render_core::Scene::cornell_box()).await?;
    let browser = Browser::start(1200, 700).await?;
    browser
        .client
        .goto(&site.url(&format!(
            "/dashboard.html?server={}&views=main,side",
            server.url("")
        )))
        .await?;
    let playing = |more: &str| {
        format!(
            "(() => {{ const vs = [...document.querySelectorAll('streamtracer-view')]; \
               return vs.length === 2 && vs.every((v, i) => v.state.state === 'connected' \
                 && v.querySelector('video').videoWidth > 0 && v.state.framesPresented > {more}); }})()"
        )
    };
    browser.wait_for(&playing("20"), WAIT).await?;
    let views = browser
        .eval("return [...document.querySelectorAll('streamtracer-view')].map(v => [v.state.view, v.state.session, v.state.framesPresented]);")
        .await?;
    assert_eq!(views[0][0], "main", "{views}");
    assert_eq!(views[1][0], "side", "{views}");
    assert_ne!(views[0][1], views[1][1], "{views}");
    // Both keep playing.
    let most = f(&views[0][2]).max(f(&views[1][2]));
    browser
        .wait_for(&playing(&format!("{most} + 20")), WAIT)
        .await?;
    for i in 0..2 {
        let stats = browser
            .eval(&format!("const INDEX = {i};\n{PICTURE_STATS}"))
            .await?;
        let mean: f64 = stats["mean"].as_array().unwrap().iter().map(f).sum::<f64>() / 3.0;
        assert!(mean > 25.0, "view {i} is (nearly) black: {stats}");
    }
    let page_origin = browser.eval("return location.origin;").await?;
    assert_eq!(page_origin, json!(site.origin()));
    assert_ne!(site.origin(), server.url(""));
    if let Some(path) = std::env::var_os("STREAMTRACER_DASHBOARD_SCREENSHOT") {
        tokio::time::sleep(Duration::from_secs(2)).await;
        std::fs::write(path, browser.client.screenshot().await?)?;
    }
    let errors = browser.console_errors().await?;
    assert!(errors.is_empty(), "browser console errors: {errors:?}");

    // Another view named on the element: it starts over on that view.
    browser
        .eval("document.querySelector('streamtracer-view').setAttribute('view', 'third'); return null;")
        .await?;
    browser
        .wait_for(
            "(() => { const v = document.querySelector('streamtracer-view'); \
               return v.state.view === 'third' && v.state.state === 'connected' \
                 && v.state.framesPresented > 10 && v.querySelectorAll('video').length === 1; })()",
            WAIT,
        )
        .await?;
    // An element removed, or switched to another view, while the server is answering
    // its offer: the session made for it is ended at once (DELETE), not left waiting.
    assert_eq!(server.metric("streamtracer_sessions").await?, 2.0);
    browser
        .eval(
            "window.whepDeletes = []; window.interrupt = null; const send = window.fetch; \
             window.fetch = async (url, init) => { \
               const res = await send(url, init); \
               const u = String(url), method = init && init.method; \
               if (method === 'DELETE' && u.includes('/whep/')) window.whepDeletes.push(res.status); \
               if (method === 'POST' && u.includes('/whep?') && window.interrupt) { \
                 const act = window.interrupt; window.interrupt = null; await act(); } \
               return res; }; \
             const e = document.createElement('streamtracer-view'); \
             e.setAttribute('server', document.querySelector('streamtracer-view').getAttribute('server') || ''); \
             e.setAttribute('view', 'main'); e.id = 'brief'; \
             window.interrupt = () => e.remove(); \
             document.body.append(e); return null;",
        )
        .await?;
    browser
        .wait_for("window.whepDeletes.length === 1", WAIT)
        .await?;
    assert_eq!(
        browser.eval("return window.whepDeletes;").await?,
        json!([200]),
        "the DELETE of the removed element's session"
    );
    assert_eq!(server.metric("streamtracer_sessions").await?, 2.0);
    browser
        .eval(
            "const e = document.querySelector('streamtracer-view'); \
             window.interrupt = () => { e.setAttribute('view', 'side'); \
               return new Promise((done) => setTimeout(done, 50)); }; \
             e.setAttribute('view', 'main'); return null;",
        )
        .await?;
    let switched = browser
        .wait_for(
            "(() => { const v = document.querySelector('streamtracer-view'); \
               return window.whepDeletes.length === 3 && v.state.view === 'side' \
                 && v.state.state === 'connected'; })()",
            WAIT,
        )
        .await;
    if let Err(e) = switched {
        let seen = browser
            .eval("const v = document.querySelector('streamtracer-view'); return [window.whepDeletes, v.state.view, v.state.state, v.state.lastError, v.getAttribute('view')];")
            .await?;
        anyhow::bail!("{e}; DELETE statuses, view, state, error, attribute: {seen}");
    }
    assert_eq!(server.metric("streamtracer_sessions").await?, 2.0);

    // The iframe page plays a view with no controls unless asked, and leaves the
    // size of the view others watch alone.
    let size = |stats: &Value| (stats["width"].clone(), stats["height"].clone());
    let (_, before) = streamtracer_tests::api::get(&server.url(""), "/api/stats?view=side").await?;
    browser.client.goto(&server.url("/embed?view=side")).await?;
    browser
        .wait_for("window.streamtracer && window.streamtracer.state === 'connected' && window.streamtracer.view === 'side' && window.streamtracer.framesPresented > 10", WAIT)
        .await?;
    // Longer than the page's resize debounce.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, after) = streamtracer_tests::api::get(&server.url(""), "/api/stats?view=side").await?;
    assert_eq!(
        size(&before),
        size(&after),
        "the embed without controls resized the view"
    );
    let controls = browser
        .eval("return document.querySelectorAll('streamtracer-view button, streamtracer-view .stv-panel').length;")
        .await?;
    assert_eq!(controls, json!(0), "the embed page has controls");
    browser
        .client
        .goto(&server.url("/embed?view=side&controls=1"))
        .await?;
    browser
        .wait_for(
            "document.querySelectorAll('streamtracer-view .stv-toolbar button').length > 0",
            WAIT,
        )
        .await?;
    let errors = browser.console_errors().await?;
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    browser.close().await?;
    server.stop().await
}

/// The remote control example (no video) moves the camera of the view another page
/// watches, and edits a material: over the WebSocket, then over HTTP; the watching
/// page's picture changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_control_moves_the_camera_another_page_watches() -> anyhow::Result<()> {
    let mut config = TestServer::small_config();
    config.width = 640;
    config.height = 360;
    let server = TestServer::start(config, render_core::Scene::cornell_box()).await?;
    let browser = Browser::start(800, 600).await?;
    browser
        .client
        .goto(&server.url("/?controls=0&resize=0"))
        .await?;
    browser
        .wait_for("window.streamtracer && window.streamtracer.state === 'connected' && window.streamtracer.framesPresented > 20", WAIT)
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = browser.eval(PICTURE_STATS).await?;
    let watcher = browser.client.window().await?;

    let remote = browser.client.new_window(false).await?;
    browser
        .client
        .switch_to_window(remote.handle.clone())
        .await?;
    browser
        .client
        .goto(&server.url("/examples/remote.html"))
        .await?;
    browser
        .wait_for("window.remote && window.remote.connected && window.remote.camera && Object.keys(window.remote.materials).length > 0", WAIT)
        .await?;
    assert_eq!(browser.eval("return window.remote.transport;").await?, "ws");
    browser.click("#orbit-right").await?;
    browser.wait_for("window.remote.acks >= 1", WAIT).await?;
    browser.click("#orbit-right").await?;
    browser.wait_for("window.remote.acks >= 2", WAIT).await?;
    let revision = f(&browser.eval("return window.remote.revision;").await?);

    browser.client.switch_to_window(watcher.clone()).await?;
    browser
        .wait_for(
            &format!("window.streamtracer.revision >= {revision} && window.streamtracer.shownRevision >= {revision}"),
            WAIT,
        )
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = browser.eval(PICTURE_STATS).await?;
    let moved = grid_diff(&before, &after);
    assert!(
        moved > 8.0,
        "the watching page's picture did not change (mean luma change {moved:.1})"
    );
    let distance = f(&browser.eval(DISTANCE).await?);

    // The same over HTTP: zoom in.
    browser
        .client
        .switch_to_window(remote.handle.clone())
        .await?;
    browser
        .client
        .goto(&server.url("/examples/remote.html?transport=http"))
        .await?;
    browser
        .wait_for(
            "window.remote && window.remote.connected && window.remote.transport === 'http'",
            WAIT,
        )
        .await?;
    browser.click("#zoom-in").await?;
    browser.wait_for("window.remote.acks >= 1", WAIT).await?;
    // A material's colour, from the remote's table (the colour dialog is the
    // browser's own: set the value as it would and announce the change).
    browser
        .eval("const i = document.querySelector('#materials tr[data-key=\"material-0\"] input.colour'); i.value = '#ff0000'; i.dispatchEvent(new Event('change')); return null;")
        .await?;
    browser.wait_for("window.remote.acks >= 2", WAIT).await?;
    let (_, material) =
        streamtracer_tests::api::get(&server.url(""), "/api/scene/material/material-0").await?;
    let colour = &material["value"]["albedo"];
    assert!(
        f(&colour[0]) > 0.99 && f(&colour[1]) < 0.01 && f(&colour[2]) < 0.01,
        "{material}"
    );
    let remote_errors = browser.console_errors().await?;
    browser.client.switch_to_window(watcher).await?;
    browser
        .wait_for(&format!("({DISTANCE_EXPR}) < {distance} * 0.9"), WAIT)
        .await?;
    assert!(
        remote_errors.is_empty(),
        "console errors on the remote page: {remote_errors:?}"
    );
    let errors = browser.console_errors().await?;
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    browser.close().await?;
    server.stop().await
}

/// A cut connection (the media relay stops: packets vanish, nobody is told) comes
/// back by itself: the page resumes its session with the resume token, and the
/// picture plays again; a drop whose session expired starts a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_comes_back_by_itself() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let proxy = WhepProxy::start(&server.url("")).await?;
    let browser = Browser::start(640, 480).await?;
    browser.client.goto(&proxy.url("/")).await?;
    browser
        .wait_for("window.streamtracer && window.streamtracer.state === 'connected' && window.streamtracer.framesPresented > 20", WAIT)
        .await?;
    let session = browser.eval("return window.streamtracer.session;").await?;
    assert!(session.is_string(), "{session}");
    assert_eq!(proxy.relays(), 1);

    assert_eq!(proxy.cut(), 1);
    let cut_at = std::time::Instant::now();
    let frames = f(&browser
        .eval("return window.streamtracer.framesPresented;")
        .await?);
    browser
        .wait_for(
            "window.streamtracer.state !== 'connected' && window.streamtracer.reconnects >= 1",
            Duration::from_secs(60),
        )
        .await?;
    browser
        .wait_for(
            &format!(
                "window.streamtracer.state === 'connected' && window.streamtracer.session === {session} \
                 && window.streamtracer.framesPresented > {frames} + 20"
            ),
            Duration::from_secs(60),
        )
        .await?;
    println!("playing again {:?} after the cut", cut_at.elapsed());
    assert!(proxy.relays() >= 1, "the page never made a new connection");
    let sessions: Value = serde_json::from_str(
        &reqwest::get(server.url("/api/sessions"))
            .await?
            .text()
            .await?,
    )?;
    let list = sessions["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 1, "{sessions}");
    assert_eq!(list[0]["session"], session, "{sessions}");
    assert_eq!(list[0]["state"], "connected", "{sessions}");
    let errors = browser.console_errors().await?;
    assert!(errors.is_empty(), "browser console errors: {errors:?}");

    // A drop whose session has expired meanwhile (its resume token is unknown): the
    // resume is refused with 404 and the page starts a new session by itself.
    browser
        .eval("const v = window.streamtracerView; v.resumeToken = 'expired-0000'; v.scheduleReconnect('test drop'); return null;")
        .await?;
    browser
        .wait_for(
            &format!(
                "window.streamtracer.state === 'connected' && window.streamtracer.session \
                 && window.streamtracer.session !== {session} && window.streamtracer.framesPresented > 10"
            ),
            Duration::from_secs(60),
        )
        .await?;
    // The refused resume is the only console error (Chromium logs failed loads).
    let errors = browser.console_errors().await?;
    assert!(
        errors.iter().all(|e| e.contains("404")),
        "browser console errors: {errors:?}"
    );
    browser.close().await?;
    server.stop().await
}

/// Refusals are explained: a browser without H.264 is told so and sends no offer; a
/// full server's `503` is shown, and the page gets in by itself once a place is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_decoder_and_a_full_server_are_explained() -> anyhow::Result<()> {
    let config = streamtracer::Config {
        max_sessions: 1,
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, render_core::Scene::cornell_box()).await?;
    let browser = Browser::start(640, 480).await?;

    // A browser whose WebRTC has no H.264 decoder (as some builds ship).
    let script = browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": "RTCRtpReceiver.getCapabilities = () => ({ codecs: [{ mimeType: 'video/VP8', clockRate: 90000 }], headerExtensions: [] });"}),
        )
        .await?;
    browser.client.goto(&server.url("/")).await?;
    browser
        .wait_for("window.streamtracer && window.streamtracer.lastError", WAIT)
        .await?;
    let error = browser
        .eval("return window.streamtracer.lastError;")
        .await?;
    assert_eq!(error["code"], "unsupported", "{error}");
    assert!(
        error["message"].as_str().unwrap_or("").contains("H.264"),
        "{error}"
    );
    let shown = browser
        .eval("return document.querySelector('streamtracer-view .stv-message').textContent;")
        .await?;
    assert!(shown.as_str().unwrap_or("").contains("H.264"), "{shown}");
    assert_eq!(server.metric("streamtracer_sessions").await?, 0.0);
    browser
        .cdp(
            "Page.removeScriptToEvaluateOnNewDocument",
            json!({"identifier": script["identifier"]}),
        )
        .await?;

    // The one place taken by a first window, a second is told the server is full.
    browser.client.goto(&server.url("/")).await?;
    browser
        .wait_for(
            "window.streamtracer && window.streamtracer.state === 'connected'",
            WAIT,
        )
        .await?;
    let first = browser.client.window().await?;
    let second = browser.client.new_window(false).await?;
    browser
        .client
        .switch_to_window(second.handle.clone())
        .await?;
    browser.client.goto(&server.url("/")).await?;
    browser
        .wait_for(
            "window.streamtracer && window.streamtracer.state === 'waiting'",
            WAIT,
        )
        .await?;
    let shown = browser
        .eval("return document.querySelector('streamtracer-view .stv-message').textContent;")
        .await?;
    let shown = shown.as_str().unwrap_or("");
    assert!(shown.contains("503") && shown.contains("full"), "{shown}");
    let second_errors = browser.console_errors().await?;
    // The first window leaves: the second gets in by itself.
    browser.client.switch_to_window(first).await?;
    browser.client.close_window().await?;
    browser.client.switch_to_window(second.handle).await?;
    browser
        .wait_for(
            "window.streamtracer.state === 'connected' && window.streamtracer.framesPresented > 10",
            WAIT,
        )
        .await?;
    let errors: Vec<String> = second_errors
        .into_iter()
        .chain(browser.console_errors().await?)
        .filter(|e| !e.contains("503"))
        .collect();
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    browser.close().await?;
    server.stop().await
}
