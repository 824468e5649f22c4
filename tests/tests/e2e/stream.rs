//! End to end over real WebRTC: a viewer connects with WHEP, receives H.264 over RTP,
//! decodes it, and checks the picture against the renderer's own image of the scene.

use glam::Vec3;
use render_core::Camera;
use std::time::{Duration, Instant};
use streamtracer_tests::client::{Frame, Viewer, ViewerOptions};
use streamtracer_tests::{downsample, mean_abs_diff, reference_render, TestServer, WAIT};

/// Takes frames until one resembles `reference` (both blurred by 8 to compare what the
/// pictures show, not their noise), or `WAIT` passes. Returns that frame's difference,
/// or the smallest seen. Waiting on content rather than for a fixed time keeps the
/// test independent of how fast this machine renders.
async fn converge_to(
    viewer: &mut Viewer,
    reference: &[u8],
    w: usize,
    h: usize,
) -> anyhow::Result<(f64, Vec<u8>)> {
    let target = downsample(reference, w, h, 8);
    let deadline = Instant::now() + WAIT;
    let mut best = (f64::INFINITY, Vec::new());
    while Instant::now() < deadline {
        let frame = viewer.next_frame(WAIT).await?.picture.rgb;
        let diff = mean_abs_diff(&downsample(&frame, w, h, 8), &target);
        if diff < best.0 {
            best = (diff, frame);
        }
        if best.0 < MATCH {
            break;
        }
    }
    Ok(best)
}

/// Mean difference, in 8-bit code values after blurring, below which two pictures show
/// the same view. Different views of the room differ by several times this.
const MATCH: f64 = 8.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_sees_the_scene_and_a_camera_message_changes_it() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let (w, h) = (server.config.width as usize, server.config.height as usize);

    // The renderer's own images of the scene from the server's camera and from a
    // moved camera, rendered off the async runtime before any video flows.
    let camera = server.scene.camera;
    let moved = Camera {
        eye: Vec3::new(1.6, 1.5, 3.0),
        target: Vec3::new(0.0, 0.8, 0.0),
        ..camera
    };
    let (scene, mut other_scene) = (server.scene.clone(), server.scene.clone());
    other_scene.camera = moved;
    let (reference, other_reference) = tokio::task::spawn_blocking(move || {
        (
            reference_render(&scene, w as u32, h as u32, 16),
            reference_render(&other_scene, w as u32, h as u32, 16),
        )
    })
    .await?;
    let blur = |rgb: &[u8]| downsample(rgb, w, h, 8);

    let mut viewer = Viewer::connect(&server.url("")).await?;
    let hello = viewer.next_message("hello", WAIT).await?;
    assert_eq!(hello["protocol"], 1);
    assert_eq!(hello["width"], w);
    assert!(!hello["session"].as_str().unwrap_or("").is_empty());
    assert!(viewer
        .location
        .ends_with(hello["session"].as_str().unwrap()));

    let first = viewer.next_frame(WAIT).await?;
    assert!(
        first.keyframe,
        "the first frame a viewer decodes must be a keyframe"
    );
    assert_eq!((first.picture.width, first.picture.height), (w, h));

    // The streamed picture refines into the renderer's own image of the scene...
    let (diff_same, got) = converge_to(&mut viewer, &reference, w, h).await?;
    assert!(
        diff_same < MATCH,
        "streamed picture differs from the scene by {diff_same:.1} code values"
    );
    // ...and not into the moved view: the comparison tells views apart.
    let diff_other = mean_abs_diff(&blur(&got), &blur(&other_reference));
    assert!(
        diff_other > 2.0 * MATCH,
        "the moved view should look different: {diff_other:.1}"
    );

    // Move the camera: acknowledged with a newer revision, and the picture follows.
    let id = viewer.send_camera(&moved).await?;
    let ack = viewer.next_message("ack", WAIT).await?;
    assert_eq!(ack["id"], id);
    assert!(ack["revision"].as_u64() > hello["revision"].as_u64());
    let (diff_after, after) = converge_to(&mut viewer, &other_reference, w, h).await?;
    if std::env::var_os("STREAMTRACER_DEBUG_PNG").is_some() {
        image::save_buffer(
            "/tmp/after.png",
            &after,
            w as u32,
            h as u32,
            image::ColorType::Rgb8,
        )?;
        image::save_buffer(
            "/tmp/other.png",
            &other_reference,
            w as u32,
            h as u32,
            image::ColorType::Rgb8,
        )?;
    }
    assert!(
        diff_after < MATCH,
        "after the camera message the picture should show the new view: {diff_after:.1}"
    );
    let diff_old = mean_abs_diff(&blur(&after), &blur(&reference));
    assert!(
        diff_old > 2.0 * MATCH,
        "the picture still looks like the old view: {diff_old:.1}"
    );

    viewer.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_control_messages_get_errors_and_the_session_continues() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let mut viewer = Viewer::connect(&server.url("")).await?;
    let hello = viewer.next_message("hello", WAIT).await?;
    let revision = hello["revision"].as_u64().unwrap();

    let cases = [
        ("{this is not json", "invalid_json"),
        (r#"{"type":"warp","id":1}"#, "unknown_type"),
        (
            r#"{"type":"camera","id":2,"eye":[0,1,4],"target":[0,1,0],"up":[0,1,0]}"#,
            "missing_field",
        ),
        (
            r#"{"type":"camera","id":3,"eye":[0,1,4],"target":[0,1,0],"up":[0,1,0],"fov":-5}"#,
            "invalid_value",
        ),
        (
            r#"{"type":"camera","id":4,"eye":[0,1,0],"target":[0,1,0],"up":[0,1,0],"fov":40}"#,
            "invalid_value",
        ),
        (
            r#"{"type":"camera","id":5,"eye":[1e999,1,4],"target":[0,1,0],"up":[0,1,0],"fov":40}"#,
            "invalid_json",
        ),
        (
            r#"{"type":"camera","id":6,"eye":"here","target":[0,1,0],"up":[0,1,0],"fov":40}"#,
            "invalid_value",
        ),
    ];
    for (text, code) in cases {
        viewer.send_text(text).await?;
        let e = viewer.next_message("error", WAIT).await?;
        assert_eq!(e["code"], code, "{text} -> {e}");
        assert!(!e["message"].as_str().unwrap_or("").is_empty());
    }

    // Nothing was applied, and the session still works: a good message is acknowledged
    // with the next revision, and video keeps flowing.
    let camera = Camera {
        fov: 50.0,
        ..server.scene.camera
    };
    let id = viewer.send_camera(&camera).await?;
    let ack = viewer.next_message("ack", WAIT).await?;
    assert_eq!(ack["id"], id);
    assert_eq!(ack["revision"].as_u64(), Some(revision + 1));
    viewer.next_frame(WAIT).await?;
    viewer.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_viewers_share_the_stream_and_hear_each_others_camera() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let mut a = Viewer::connect(&server.url("")).await?;
    let mut b = Viewer::connect(&server.url("")).await?;
    a.next_message("hello", WAIT).await?;
    b.next_message("hello", WAIT).await?;
    for v in [&mut a, &mut b] {
        let f = v.next_frame(WAIT).await?;
        assert!(f.keyframe);
    }
    let camera = Camera {
        eye: Vec3::new(-1.0, 1.2, 3.5),
        ..server.scene.camera
    };
    a.send_camera(&camera).await?;
    let changed = b.next_message("camera_changed", WAIT).await?;
    assert_eq!(
        changed["camera"]["eye"],
        serde_json::json!([-1.0, 1.2, 3.5])
    );
    // Both keep receiving frames.
    for _ in 0..10 {
        a.next_frame(WAIT).await?;
        b.next_frame(WAIT).await?;
    }
    a.close().await?;
    b.next_frame(WAIT).await?;
    b.close().await?;
    server.stop().await
}

/// `resize` changes the picture every viewer gets: an ack, a `resized` event, and then
/// a keyframe of the new size. Bad sizes get an `error` naming the field and change
/// nothing: the stream stays at its size and the session continues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_brings_frames_of_the_new_size_and_bad_sizes_change_nothing() -> anyhow::Result<()> {
    let config = streamtracer::config::Config {
        max_width: Some(640),
        max_height: Some(480),
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, render_core::Scene::cornell_box()).await?;
    let mut viewer = Viewer::connect(&server.url("")).await?;
    let hello = viewer.next_message("hello", WAIT).await?;
    assert_eq!(
        (hello["width"].as_u64(), hello["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(
        (hello["max_width"].as_u64(), hello["max_height"].as_u64()),
        (Some(640), Some(480))
    );
    let first = viewer.next_frame(WAIT).await?;
    assert_eq!((first.picture.width, first.picture.height), (320, 240));

    let bad = [
        (
            r#"{"type":"resize","id":1,"width":321,"height":240}"#,
            "invalid_value",
            "width",
        ),
        (
            r#"{"type":"resize","id":2,"width":0,"height":240}"#,
            "invalid_value",
            "width",
        ),
        (
            r#"{"type":"resize","id":3,"width":320,"height":0}"#,
            "invalid_value",
            "height",
        ),
        (
            r#"{"type":"resize","id":4,"width":1280,"height":720}"#,
            "invalid_value",
            "640x480",
        ),
        (
            r#"{"type":"resize","id":5,"width":99999,"height":240}"#,
            "invalid_value",
            "width",
        ),
        (
            r#"{"type":"resize","id":6,"width":"wide","height":240}"#,
            "invalid_value",
            "width",
        ),
        (
            r#"{"type":"resize","id":7,"height":240}"#,
            "missing_field",
            "width",
        ),
    ];
    for (text, code, needle) in bad {
        viewer.send_text(text).await?;
        let e = viewer.next_message("error", WAIT).await?;
        assert_eq!(e["code"], code, "{text} -> {e}");
        assert!(
            e["message"].as_str().unwrap_or("").contains(needle),
            "{text} -> {e}"
        );
    }
    // Nothing changed: a second of frames, all at the old size.
    for _ in 0..30 {
        let f = viewer.next_frame(WAIT).await?;
        assert_eq!((f.picture.width, f.picture.height), (320, 240));
    }

    viewer
        .send_text(r#"{"type":"resize","id":"r","width":192,"height":108}"#)
        .await?;
    let ack = viewer.next_message("ack", WAIT).await?;
    assert_eq!(ack["id"], "r");
    let resized = viewer.next_message("resized", WAIT).await?;
    assert_eq!(
        (resized["width"].as_u64(), resized["height"].as_u64()),
        (Some(192), Some(108))
    );
    // Frames of the old size may still be on their way; the first of the new size is
    // a keyframe.
    let mut frames = 0;
    let f = loop {
        let f = viewer.next_frame(WAIT).await?;
        if (f.picture.width, f.picture.height) != (320, 240) {
            break f;
        }
        frames += 1;
        assert!(frames < 60, "still the old size 60 frames after the resize");
    };
    assert_eq!((f.picture.width, f.picture.height), (192, 108));
    assert!(f.keyframe, "the first frame of a new size is a keyframe");
    // And it shows the scene: not a black or uniform picture.
    let luma: Vec<u32> = f.picture.rgb.chunks(3).map(|p| p[1] as u32).collect();
    let (lo, hi) = (luma.iter().min().unwrap(), luma.iter().max().unwrap());
    assert!(hi - lo > 50, "picture has contrast ({lo}..{hi})");
    viewer.close().await?;
    server.stop().await
}

/// A still picture costs (almost) no bits: once the render has converged, frames
/// come only at the keep-alive interval; an edit brings them back at once. When each
/// frame goes out is the encode planner's policy, unit-tested on a made-up clock
/// (`view::planner`); this checks what a viewer receives, waiting on frames rather
/// than sleeping: keep-alives carry RTP timestamps as far apart as they were made, and
/// an edit's frames follow at the frame rate, not at the keep-alive pace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_still_picture_is_sent_only_to_keep_the_stream_alive() -> anyhow::Result<()> {
    let config = streamtracer::config::Config {
        max_spp: 4,
        idle_interval: 2.0,
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, render_core::Scene::cornell_box()).await?;
    let mut viewer = Viewer::connect(&server.url("")).await?;
    assert!(viewer.next_frame(WAIT).await?.keyframe);
    // Four samples per pixel at 320x240 take a fraction of a second; then the picture
    // stops changing and the frames thin out to keep-alives.
    let deadline = Instant::now() + WAIT;
    let mut a = viewer.next_frame(WAIT).await?;
    let b = loop {
        let next = viewer.next_frame(WAIT).await?;
        if next.received - a.received > Duration::from_millis(1500) {
            break next;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no pause of 1.5 s between frames within {WAIT:?} of a still picture"
        );
        a = next;
    };
    // RTP timestamps tell when frames were made, not how many came before: two
    // keep-alives are two seconds apart on the 90 kHz clock as on the wall clock.
    let seconds = |from: &Frame, to: &Frame| {
        to.rtp_timestamp.wrapping_sub(from.rtp_timestamp) as f64 / 90_000.0
    };
    let rtp = seconds(&a, &b);
    let wall = (b.received - a.received).as_secs_f64();
    assert!(
        rtp > 1.5 && (rtp - wall).abs() < 0.25,
        "keep-alives {wall:.3} s apart carry timestamps {rtp:.3} s apart"
    );
    // An edit: the new picture's frames follow at once, not at the next keep-alive
    // (three keep-alives would span four seconds).
    let camera = Camera {
        fov: 45.0,
        ..server.scene.camera
    };
    viewer.send_camera(&camera).await?;
    viewer.next_message("ack", WAIT).await?;
    while viewer.frames.try_recv().is_ok() {}
    let first = viewer.next_frame(WAIT).await?;
    viewer.next_frame(WAIT).await?;
    let third = viewer.next_frame(WAIT).await?;
    let span = seconds(&first, &third);
    assert!(
        span < 1.0,
        "three frames after an edit were made {span:.3} s apart"
    );
    viewer.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_whep_player_without_data_channel_gets_video() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let mut player = Viewer::connect_with(
        &server.url(""),
        ViewerOptions {
            control: false,
            decode: true,
            ..Default::default()
        },
    )
    .await?;
    let first = player.next_frame(WAIT).await?;
    assert!(first.keyframe);
    assert_eq!(first.picture.width, server.config.width as usize);
    for _ in 0..5 {
        player.next_frame(WAIT).await?;
    }
    assert!(
        player.send_text("{}").await.is_err(),
        "no control channel was offered"
    );
    player.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picture_loss_indication_brings_a_keyframe() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let mut viewer = Viewer::connect(&server.url("")).await?;
    assert!(viewer.next_frame(WAIT).await?.keyframe);
    // Without periodic keyframes, a second of stream holds no further keyframe...
    for _ in 0..30 {
        assert!(
            !viewer.next_frame(WAIT).await?.keyframe,
            "unrequested keyframe"
        );
    }
    // ...until the viewer asks for one: it comes with the next frame the encoder
    // makes (allowing for frames already on their way, within 4 frames; 100 ms at
    // the test's 30 fps is 3).
    let asked = Instant::now();
    viewer.request_keyframe().await?;
    let mut frames = 0;
    loop {
        let f = viewer.next_frame(WAIT).await?;
        if f.keyframe {
            eprintln!("keyframe {:?} after the PLI", f.received - asked);
            break;
        }
        frames += 1;
        assert!(frames < 4, "no keyframe within 4 frames of a PLI");
    }
    viewer.close().await?;
    server.stop().await
}

/// A storm of picture loss reports (one per frame for two seconds) gets keyframes
/// at the rate limit, not one per report: the rest of the stream stays small frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_keyframe_requests_is_rate_limited() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let mut viewer = Viewer::connect(&server.url("")).await?;
    assert!(viewer.next_frame(WAIT).await?.keyframe);
    let (mut frames, mut keyframes) = (0, 0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        viewer.request_keyframe().await?;
        let f = viewer.next_frame(WAIT).await?;
        frames += 1;
        keyframes += usize::from(f.keyframe);
    }
    let limit = (start.elapsed().as_secs_f64()
        / streamtracer::view::MIN_KEYFRAME_INTERVAL.as_secs_f64())
    .ceil() as usize
        + 1;
    assert!(
        keyframes <= limit,
        "{keyframes} keyframes in {frames} frames (limit {limit})"
    );
    // Requests are not dropped: they are served at the limit.
    assert!(keyframes >= 3, "{keyframes} keyframes in {frames} frames");
    viewer.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_every_client_closes_sessions_and_returns() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let base = server.url("");
    let mut viewer = Viewer::connect_watching(&base).await?;
    let mut socket = streamtracer_tests::ws::ControlSocket::connect(&base).await?;
    tokio::time::timeout(Duration::from_secs(10), server.stop()).await??;
    // Both clients are told why, before their connections close.
    let closing = viewer.next_message("closing", WAIT).await?;
    assert_eq!(closing["reason"], "shutdown");
    let closing = socket.next_message("closing", WAIT).await?;
    assert_eq!(closing["reason"], "shutdown");
    let e = socket.next_message("anything", WAIT).await.unwrap_err();
    assert!(format!("{e:#}").contains("closed"), "{e:#}");
    // The server's end is gone: its sockets no longer answer the viewer's ICE consent
    // checks, so the viewer's connection drops too (webrtc-rs sends no DTLS alert on
    // close, so this takes the consent timeout; `closing` is what tells at once).
    let closed = async {
        while let Some(state) = viewer.states.recv().await {
            use webrtc::peer_connection::RTCPeerConnectionState as S;
            if matches!(state, S::Closed | S::Failed | S::Disconnected) {
                return true;
            }
        }
        false
    };
    assert!(
        tokio::time::timeout(WAIT, closed).await.unwrap_or(false),
        "the viewer was not disconnected"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_by_delete_is_told_so() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let mut viewer = Viewer::connect(&server.url("")).await?;
    viewer.next_message("hello", WAIT).await?;
    let status = reqwest::Client::new()
        .delete(server.url(&viewer.location))
        .send()
        .await?
        .status();
    assert_eq!(status, 200);
    let closing = viewer.next_message("closing", WAIT).await?;
    assert_eq!(closing["reason"], "ended");
    server.stop().await
}
