//! Scene editing end to end: a remote UI (WebSocket or HTTP, no video) edits while a
//! WebRTC viewer watches; transactions are atomic; undo and redo; concurrent editors
//! converge; frames name the revision they show.
//!
//! Length: About 710 lines: one scenario per feature of transactions (atomicity, undo
//! and redo, concurrency, revisions), sharing their helpers.

use serde_json::{json, Value};
use std::time::Duration;
use streamtracer_tests::client::{Frame, Viewer};
use streamtracer_tests::ws::ControlSocket;
use streamtracer_tests::{api, edit_scene, middle, TestServer, WAIT};

/// Whether RTP timestamp `a` is before `b` (modulo wrap-around).
fn before(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) > 0
}

/// Waits for the viewer's `frame` message naming `revision` or later, then for the
/// decoded frame with that message's RTP timestamp. Frames before it must not be it.
async fn frame_showing(viewer: &mut Viewer, revision: u64) -> anyhow::Result<(Value, Frame)> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let note = loop {
        let m = viewer
            .next_message("frame", deadline - tokio::time::Instant::now())
            .await?;
        if m["revision"].as_u64() >= Some(revision) {
            break m;
        }
    };
    let ts = note["rtp_timestamp"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("frame message without rtp_timestamp: {note}"))?
        as u32;
    loop {
        let f = viewer.next_frame(WAIT).await?;
        if f.rtp_timestamp == ts {
            return Ok((note, f));
        }
        anyhow::ensure!(
            before(f.rtp_timestamp, ts),
            "passed RTP timestamp {ts} without decoding it (at {})",
            f.rtp_timestamp
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_ui_edits_and_the_viewer_sees_it_with_the_revision() -> anyhow::Result<()> {
    let server = TestServer::small(edit_scene()).await?;
    let base = server.url("");
    let mut viewer = Viewer::connect(&base).await?;
    let hello = viewer.next_message("hello", WAIT).await?;
    assert_eq!(hello["role"], "controller");
    assert_eq!(hello["view"], "main");
    // The data channel's messages are bounded by SCTP's message size.
    assert_eq!(hello["limits"]["max_message_bytes"], 256 * 1024);
    // Before any edit the ball is grey: 0.5 x 0.6 = 0.3 linear, sRGB about 149.
    let first = viewer.next_frame(WAIT).await?;
    let [r, g, b] = middle(&first);
    assert!(
        (r - g).abs() < 12.0 && (g - b).abs() < 12.0 && r > 100.0 && r < 200.0,
        "grey ball: {r} {g} {b}"
    );

    let mut ui = ControlSocket::connect(&base).await?;
    assert_eq!(ui.hello["type"], "hello");
    assert_eq!(ui.hello["limits"]["max_message_bytes"], 1024 * 1024);
    let ack = ui
        .request(json!({"type": "edit", "ops": [
            {"op": "update", "kind": "material", "key": "material-0", "value": {"albedo": [0.9, 0.05, 0.05]}}
        ]}))
        .await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    let red_revision = ack["revision"].as_u64().unwrap();
    assert!(red_revision > hello["revision"].as_u64().unwrap());
    // The viewer hears what changed, with the full material.
    let changed = viewer.next_message("changed", WAIT).await?;
    assert_eq!(changed["revision"].as_u64(), Some(red_revision));
    assert_eq!(changed["changes"][0]["key"], "material-0");
    assert_eq!(
        changed["changes"][0]["value"]["albedo"],
        json!([0.9, 0.05, 0.05])
    );

    let (note, frame) = frame_showing(&mut viewer, red_revision).await?;
    let [r, g, b] = middle(&frame);
    assert!(
        r > g + 60.0 && r > b + 60.0,
        "revision {} shows a red ball: {r} {g} {b}",
        note["revision"]
    );

    // Move the ball out of the picture: the middle shows the sky (0.6, sRGB about 203).
    let ack = ui
        .request(json!({"type": "edit", "ops": [
            {"op": "update", "kind": "object", "key": "ball", "value": {"transform": {"translation": [6.0, 0.0, 0.0]}}}
        ]}))
        .await?;
    let moved_revision = ack["revision"].as_u64().unwrap();
    assert!(moved_revision > red_revision);
    let (_, frame) = frame_showing(&mut viewer, moved_revision).await?;
    let [r, g, b] = middle(&frame);
    assert!(
        (r - g).abs() < 12.0 && (g - b).abs() < 12.0 && r > 180.0,
        "sky: {r} {g} {b}"
    );

    // The WebSocket client hears of frames too (without RTP timestamps), and the
    // scene as read back holds both edits.
    let shown = ui.next_message("frame", WAIT).await?;
    assert!(shown["revision"].as_u64() >= Some(red_revision));
    let (scene, revision) = api::scene(&base).await?;
    assert_eq!(revision, moved_revision);
    assert_eq!(
        scene["materials"]["material-0"]["albedo"],
        json!([0.9, 0.05, 0.05])
    );
    assert_eq!(
        scene["objects"]["ball"]["transform"]["translation"],
        json!([6.0, 0.0, 0.0])
    );
    // The partial update kept what it did not name.
    assert_eq!(scene["objects"]["ball"]["material"], "material-0");
    ui.close().await?;
    viewer.close().await?;
    server.stop().await
}

/// How much neighbouring pixels differ, on average (noise makes it large).
fn roughness(frame: &Frame) -> f64 {
    let p = &frame.picture;
    let mut sum = 0.0;
    for y in 0..p.height {
        for x in 1..p.width {
            let i = (y * p.width + x) * 3;
            sum += (0..3)
                .map(|c| (p.rgb[i + c] as f64 - p.rgb[i + c - 3] as f64).abs())
                .sum::<f64>();
        }
    }
    sum / (p.height * (p.width - 1) * 3) as f64
}

/// On a denoising view, a change's first frames are raw, and a second `frame` message
/// of the same revision names the RTP timestamp from which the picture is denoised:
/// that frame is much smoother than the raw frame before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_messages_say_from_which_frame_the_picture_is_denoised() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let base = server.url("");
    let mut viewer = Viewer::connect_watching(&base).await?;
    let (status, reply) = api::post(
        &base,
        "/api/control",
        &json!({"type": "camera", "eye": [0.1, 1, 3.4], "target": [0, 1, 0], "up": [0, 1, 0], "fov": 40}),
    )
    .await?;
    assert_eq!(status, 200, "{reply}");
    let revision = reply["revision"].as_u64().unwrap_or(u64::MAX);
    // The revision's frame messages: raw first, then denoised.
    let mut notes = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while notes.last().is_none_or(|m: &Value| m["denoised"] != true) {
        let m = viewer
            .next_message("frame", deadline - tokio::time::Instant::now())
            .await?;
        if m["revision"].as_u64() >= Some(revision) {
            notes.push(m);
        }
    }
    assert_eq!(notes[0]["denoised"], false, "{notes:?}");
    let (raw_ts, denoised_ts) = (
        notes[0]["rtp_timestamp"].as_u64().unwrap_or_default() as u32,
        notes.last().unwrap()["rtp_timestamp"]
            .as_u64()
            .unwrap_or_default() as u32,
    );
    assert!(before(raw_ts, denoised_ts), "{notes:?}");
    // The last raw frame (the film, past the previews) and the first denoised one.
    let mut last_raw: Option<Frame> = None;
    let denoised = loop {
        let f = viewer.next_frame(WAIT).await?;
        if f.rtp_timestamp == denoised_ts {
            break f;
        }
        anyhow::ensure!(
            before(f.rtp_timestamp, denoised_ts),
            "passed RTP timestamp {denoised_ts} without decoding it"
        );
        if !before(f.rtp_timestamp, raw_ts) {
            last_raw = Some(f);
        }
    };
    let last_raw =
        last_raw.ok_or_else(|| anyhow::anyhow!("no raw frame before the denoised one"))?;
    let (raw, clean) = (roughness(&last_raw), roughness(&denoised));
    assert!(
        clean < 0.6 * raw,
        "the denoised frame is not smoother: {clean} against {raw} raw"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_applies_whole_or_not_at_all() -> anyhow::Result<()> {
    let server = TestServer::small(edit_scene()).await?;
    let base = server.url("");
    let (before, revision) = api::scene(&base).await?;
    // Two good ops, then one naming an object that does not exist.
    let (status, reply) = api::post(
        &base,
        "/api/edits",
        &json!({"ops": [
            {"op": "update", "kind": "material", "key": "material-0", "value": {"albedo": [1, 0, 0]}},
            {"op": "add", "kind": "material", "key": "green", "value": {"type": "diffuse", "albedo": [0, 1, 0]}},
            {"op": "update", "kind": "object", "key": "nothing", "value": {"material": "green"}}
        ]}),
    )
    .await?;
    assert_eq!(status, 404, "{reply}");
    assert_eq!(reply["code"], "not_found");
    assert_eq!(reply["op"], 2);
    assert!(
        reply["message"].as_str().unwrap().contains("nothing"),
        "{reply}"
    );
    assert_eq!(api::scene(&base).await?, (before.clone(), revision));

    // The same ops without the bad one apply together, in one revision.
    let (status, reply) = api::post(
        &base,
        "/api/edits",
        &json!({"ops": [
            {"op": "add", "kind": "material", "key": "green", "value": {"type": "diffuse", "albedo": [0, 1, 0]}},
            {"op": "update", "kind": "object", "key": "ball", "value": {"material": "green"}}
        ]}),
    )
    .await?;
    assert_eq!(status, 200, "{reply}");
    let (after, new_revision) = api::scene(&base).await?;
    assert_eq!(new_revision, reply["revision"].as_u64().unwrap());
    assert!(new_revision > revision);
    assert_eq!(after["objects"]["ball"]["material"], "green");
    assert_eq!(
        after["materials"]["green"]["albedo"],
        json!([0.0, 1.0, 0.0])
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_and_redo_walk_the_history() -> anyhow::Result<()> {
    let server = TestServer::small(edit_scene()).await?;
    let base = server.url("");
    let (original, r0) = api::scene(&base).await?;
    let (status, reply) = api::post(&base, "/api/undo", &json!({})).await?;
    assert_eq!(
        (status, reply["code"].as_str()),
        (409, Some("nothing_to_undo"))
    );

    let edit = |value: Value| json!({"ops": [{"op": "update", "kind": "object", "key": "ball", "value": value}]});
    let (_, a) = api::post(
        &base,
        "/api/edits",
        &edit(json!({"transform": {"scale": [2, 2, 2]}})),
    )
    .await?;
    let (once, r1) = api::scene(&base).await?;
    let (_, b) = api::post(
        &base,
        "/api/edits",
        &json!({"ops": [
            {"op": "add", "kind": "light", "key": "lamp", "value": {"type": "point", "position": [0, 3, 3], "intensity": [5, 5, 5]}},
            {"op": "update", "kind": "settings", "value": {"exposure": 2.0}}
        ]}),
    )
    .await?;
    let (twice, r2) = api::scene(&base).await?;
    assert_eq!(
        (a["revision"].as_u64(), b["revision"].as_u64()),
        (Some(r1), Some(r2))
    );
    assert_eq!(twice["settings"]["exposure"], 2.0);
    assert!(twice["lights"]["lamp"].is_object());

    // Undo twice: back to the original scene, each step a new, larger revision.
    let (_, u1) = api::post(&base, "/api/undo", &json!({})).await?;
    assert_eq!(api::scene(&base).await?.0, once);
    let (_, u2) = api::post(&base, "/api/undo", &json!({})).await?;
    assert_eq!(api::scene(&base).await?.0, original);
    let (u1, u2) = (
        u1["revision"].as_u64().unwrap(),
        u2["revision"].as_u64().unwrap(),
    );
    assert!(r0 < r1 && r1 < r2 && r2 < u1 && u1 < u2);

    // Redo once; then a new edit makes the rest impossible to redo.
    let (status, _) = api::post(&base, "/api/redo", &json!({})).await?;
    assert_eq!(status, 200);
    assert_eq!(api::scene(&base).await?.0, once);
    api::post(&base, "/api/edits", &edit(json!({"name": "renamed"}))).await?;
    let (status, reply) = api::post(&base, "/api/redo", &json!({})).await?;
    assert_eq!(
        (status, reply["code"].as_str()),
        (409, Some("nothing_to_undo"))
    );
    // Two edits, two undos, a redo and an edit; the refused requests did not count.
    assert_eq!(
        server
            .metric("streamtracer_scene_transactions_total")
            .await?,
        6.0
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_editors_are_ordered_by_revision_and_converge() -> anyhow::Result<()> {
    let server = TestServer::small(edit_scene()).await?;
    let base = server.url("");
    let mut a = ControlSocket::connect(&base).await?;
    let mut b = ControlSocket::connect(&base).await?;
    const N: usize = 25;
    // Each client sends all its edits before reading any reply: they interleave in
    // the server. Both move the same ball (last writer wins) and add their own materials.
    let op = |who: &str, i: usize| {
        let x = if who == "a" { i as f64 } else { -(i as f64) };
        json!({"type": "edit", "ops": [
            {"op": "update", "kind": "object", "key": "ball", "value": {"transform": {"translation": [x, 0, 0]}}},
            {"op": "add", "kind": "material", "key": format!("{who}-{i}"), "value": {"type": "diffuse", "albedo": [0.5, 0.5, 0.5]}}
        ]})
    };
    let (mut ids_a, mut ids_b) = (Vec::new(), Vec::new());
    for i in 1..=N {
        ids_a.push(a.send(op("a", i)).await?);
        ids_b.push(b.send(op("b", i)).await?);
    }
    let mut acked = Vec::new(); // (revision, x)
    for (client, ids, who) in [(&mut a, &ids_a, "a"), (&mut b, &ids_b, "b")] {
        let mut last = 0;
        for (i, id) in ids.iter().enumerate() {
            let reply = client.reply(*id).await?;
            assert_eq!(reply["type"], "ack", "{reply}");
            let revision = reply["revision"].as_u64().unwrap();
            assert!(revision > last, "one client's revisions increase");
            last = revision;
            let x = if who == "a" {
                (i + 1) as f64
            } else {
                -((i + 1) as f64)
            };
            acked.push((revision, x));
        }
    }
    let mut revisions: Vec<u64> = acked.iter().map(|(r, _)| *r).collect();
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(
        revisions.len(),
        2 * N,
        "every transaction has its own revision"
    );

    // Each client heard of every transaction of the other, in revision order.
    for (client, other_ids) in [(&mut a, "b"), (&mut b, "a")] {
        let mut heard = Vec::new();
        while heard.len() < N {
            let m = client.next_message("changed", WAIT).await?;
            let key = m["changes"][1]["key"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(
                key.starts_with(other_ids),
                "heard only the other's changes: {m}"
            );
            heard.push(m["revision"].as_u64().unwrap());
        }
        assert!(heard.windows(2).all(|w| w[0] < w[1]), "in order: {heard:?}");
    }

    // The ball is where the edit with the last revision put it; every material is
    // there; both clients read the same scene as HTTP does.
    let last = acked.iter().max_by_key(|(r, _)| *r).unwrap();
    let (scene, revision) = api::scene(&base).await?;
    assert_eq!(revision, last.0);
    assert_eq!(
        scene["objects"]["ball"]["transform"]["translation"][0],
        last.1
    );
    for who in ["a", "b"] {
        for i in 1..=N {
            assert!(scene["materials"][format!("{who}-{i}")].is_object());
        }
    }
    let read_a = a.request(json!({"type": "get_scene"})).await?;
    let read_b = b.request(json!({"type": "get_scene"})).await?;
    assert_eq!(read_a["scene"]["objects"], read_b["scene"]["objects"]);
    assert_eq!(read_a["scene"]["materials"], scene["materials"]);
    assert_eq!(read_a["revision"], read_b["revision"]);
    a.close().await?;
    b.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_return_the_scene_and_single_entities() -> anyhow::Result<()> {
    let server = TestServer::small(edit_scene()).await?;
    let base = server.url("");
    let (status, ball) = api::get(&base, "/api/scene/object/ball").await?;
    assert_eq!(status, 200);
    assert_eq!(ball["type"], "entity");
    assert_eq!(ball["value"]["shape"]["radius"], 1.0);
    let (status, settings) = api::get(&base, "/api/scene/settings").await?;
    assert_eq!(status, 200);
    assert_eq!(settings["value"]["max_samples"], 64);
    let (status, missing) = api::get(&base, "/api/scene/object/nope").await?;
    assert_eq!((status, missing["code"].as_str()), (404, Some("not_found")));
    let (status, bad) = api::get(&base, "/api/scene/widget/x").await?;
    assert_eq!((status, bad["code"].as_str()), (400, Some("unknown_kind")));
    // One message over HTTP: a camera move, acknowledged with a revision.
    let (status, ack) = api::post(
        &base,
        "/api/control",
        &json!({"type": "camera", "eye": [0, 1, 5], "target": [0, 0, 0], "up": [0, 1, 0], "fov": 45}),
    )
    .await?;
    assert_eq!((status, ack["type"].as_str()), (200, Some("ack")), "{ack}");
    let (scene, _) = api::scene(&base).await?;
    assert_eq!(scene["camera"]["fov"], 45.0);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_is_the_rendered_picture_as_png() -> anyhow::Result<()> {
    let server = TestServer::small(edit_scene()).await?;
    let response = reqwest::get(server.url("/api/snapshot.png")).await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let revision: u64 = response.headers()["x-streamtracer-revision"]
        .to_str()?
        .parse()?;
    assert_eq!(revision, 0);
    let png = response.bytes().await?;
    let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png)?.to_rgb8();
    assert_eq!(
        image.dimensions(),
        (server.config.width, server.config.height)
    );
    // The grey ball in the middle, the sky in the corner, exactly as rendered.
    let px = |x: u32, y: u32| image.get_pixel(x, y).0;
    let [r, g, b] = px(160, 120);
    assert!(
        r.abs_diff(g) < 6 && g.abs_diff(b) < 6 && (130..170).contains(&r),
        "{r} {g} {b}"
    );
    let [r, _, _] = px(2, 2);
    assert!((190..215).contains(&r), "sky {r}");
    server.stop().await
}

/// Waits until the view's picture is still (rendered to its sample limit) at
/// `revision` or later; its `/api/stats`.
async fn still_picture(server: &TestServer, revision: u64) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, stats) = api::get(&server.url(""), "/api/stats").await?;
        anyhow::ensure!(status == 200, "{stats}");
        if stats["converged"] == true && stats["revision"].as_u64() >= Some(revision) {
            return Ok(stats);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the picture did not converge: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` concurrent snapshots: their revision headers and bytes.
async fn snapshots(server: &TestServer, n: usize) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
    let client = reqwest::Client::new();
    let requests = (0..n).map(|_| {
        let (client, url) = (client.clone(), server.url("/api/snapshot.png"));
        tokio::spawn(async move {
            let response = client.get(url).send().await?;
            anyhow::ensure!(response.status() == 200, "{}", response.status());
            let revision: u64 = response.headers()["x-streamtracer-revision"]
                .to_str()?
                .parse()?;
            anyhow::Ok((revision, response.bytes().await?.to_vec()))
        })
    });
    let requests: Vec<_> = requests.collect();
    let mut out = Vec::new();
    for r in requests {
        out.push(r.await??);
    }
    Ok(out)
}

/// Regression (unbounded work per snapshot): every `GET /api/snapshot.png` copied the
/// whole picture and encoded it as PNG again, so a burst of requests for a picture
/// that had not changed did the same work once per request. Now one picture state is
/// encoded once, concurrent requests share that encode and get the same bytes, and a
/// changed picture is encoded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_snapshots_of_an_unchanged_picture_are_encoded_once() -> anyhow::Result<()> {
    let config = streamtracer::Config {
        max_spp: 8,
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let encodes = "streamtracer_snapshot_encodes_total";
    still_picture(&server, 0).await?;
    let before = server.metric(encodes).await?;
    let shots = snapshots(&server, 24).await?;
    assert_eq!(server.metric(encodes).await? - before, 1.0, "one encode");
    let (revision, png) = &shots[0];
    assert!(
        shots.iter().all(|s| s == &shots[0]),
        "every request got the same revision and bytes"
    );
    let image = image::load_from_memory_with_format(png, image::ImageFormat::Png)?.to_rgb8();
    assert_eq!(
        image.dimensions(),
        (server.config.width, server.config.height)
    );
    // The same picture later: still no new encode. `/api/stats` counts them too.
    let again = snapshots(&server, 3).await?;
    assert!(again.iter().all(|s| s == &shots[0]));
    let (_, stats) = api::get(&server.url(""), "/api/stats").await?;
    assert_eq!(stats["snapshots_encoded"], 1, "{stats}");

    // A changed picture is a new encode, with new bytes.
    let (status, ack) = api::post(
        &server.url(""),
        "/api/edits",
        &json!({"ops": [{"op": "update", "kind": "settings", "value": {"exposure": 2.0}}]}),
    )
    .await?;
    assert_eq!(status, 200, "{ack}");
    let edited = ack["revision"].as_u64().expect("a revision");
    still_picture(&server, edited).await?;
    let changed = snapshots(&server, 8).await?;
    assert!(changed.iter().all(|s| s == &changed[0]));
    assert!(changed[0].0 >= edited && changed[0].0 > *revision);
    assert_ne!(changed[0].1, *png, "the brighter picture has other bytes");
    image::load_from_memory_with_format(&changed[0].1, image::ImageFormat::Png)?;
    assert_eq!(server.metric(encodes).await? - before, 2.0);
    server.stop().await
}

/// `base_revision` guards against other clients' transactions only: a revision read
/// before a camera move is still a good base, one read before a transaction is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_revision_conflicts_with_transactions_but_not_camera_moves() -> anyhow::Result<()> {
    let server = TestServer::small(edit_scene()).await?;
    let base = server.url("");
    let mut ui = ControlSocket::connect(&base).await?;
    let hello = ui.hello.clone();
    let mut camera = hello["camera"].clone();
    camera["type"] = json!("camera");
    camera["eye"][0] = json!(camera["eye"][0].as_f64().unwrap() + 0.5);
    let moved = ui.request(camera).await?;
    assert_eq!(moved["type"], "ack", "{moved}");
    // The revision a client reads after a camera move is the move's.
    let read = moved["revision"].as_u64().unwrap();
    assert!(read > hello["revision"].as_u64().unwrap());

    let exposure = |e: f64, base: u64| json!({"type": "edit", "base_revision": base, "ops": [{"op": "update", "kind": "settings", "value": {"exposure": e}}]});
    let first = ui.request(exposure(1.5, read)).await?;
    assert_eq!(
        first["type"], "ack",
        "a camera move is no conflict: {first}"
    );
    // The same base again: the transaction just made is newer than it.
    let second = ui.request(exposure(2.5, read)).await?;
    assert_eq!(
        (second["code"].as_str(), second["field"].as_str()),
        (Some("conflict"), Some("base_revision")),
        "{second}"
    );
    assert_eq!(api::scene(&base).await?.0["settings"]["exposure"], 1.5);
    let latest = first["revision"].as_u64().unwrap();
    let third = ui.request(exposure(2.5, latest)).await?;
    assert_eq!(third["type"], "ack", "{third}");
    assert_eq!(api::scene(&base).await?.0["settings"]["exposure"], 2.5);
    server.stop().await
}

/// `pick` names what is under a point of a view's picture: the ball in the middle,
/// nothing (the sky) in a corner; after the ball moves, the middle is sky. Over HTTP,
/// `?view=` picks in another view, whose camera is its own. Bad points change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pick_names_the_object_under_a_point_of_the_view() -> anyhow::Result<()> {
    let server = TestServer::small(edit_scene()).await?;
    let base = server.url("");
    let pick = |x: f64, y: f64, view: &'static str| {
        let base = base.clone();
        async move {
            api::post(
                &base,
                &format!("/api/control?view={view}"),
                &json!({"type": "pick", "id": "p", "x": x, "y": y}),
            )
            .await
        }
    };
    let (status, m) = pick(0.5, 0.5, "main").await?;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["type"], "picked", "{m}");
    assert_eq!(m["id"], "p", "{m}");
    assert_eq!(m["hit"]["object"], "ball", "{m}");
    assert_eq!(m["hit"]["material"], "material-0", "{m}");
    // The eye is at z = 5 looking at a unit sphere at the origin: the front point.
    let point: Vec<f64> = m["hit"]["point"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        point[0].abs() < 1e-3 && point[1].abs() < 1e-3 && (point[2] - 1.0).abs() < 1e-3,
        "{m}"
    );
    assert!(
        (m["hit"]["distance"].as_f64().unwrap() - 4.0).abs() < 1e-3,
        "{m}"
    );
    assert!(
        (m["hit"]["normal"][2].as_f64().unwrap() - 1.0).abs() < 1e-3,
        "{m}"
    );
    let (_, m) = pick(0.02, 0.02, "main").await?;
    assert_eq!(m["hit"], Value::Null, "{m}");

    // A single request never opens a view: one that does not exist is 404, a bad
    // message naming one is answered as bad, and neither opens it.
    let (status, m) = pick(0.5, 0.5, "side").await?;
    assert_eq!(
        (status, m["code"].as_str()),
        (404, Some("not_found")),
        "{m}"
    );
    let (status, m) = api::post_text(&base, "/api/control?view=side", "{garbage").await?;
    assert_eq!(
        (status, m["code"].as_str()),
        (400, Some("invalid_json")),
        "{m}"
    );
    let (status, m) = api::get(&base, "/api/stats?view=side").await?;
    assert_eq!(status, 404, "{m}");
    assert!(
        m["message"]
            .as_str()
            .unwrap_or("")
            .contains("no view \"side\""),
        "{m}"
    );
    let metrics = reqwest::get(server.url("/metrics")).await?.text().await?;
    assert!(
        !metrics.contains("view=\"side\""),
        "a single request opened a view"
    );
    // A controller's WebSocket opens it.
    let _side = ControlSocket::connect_to_view(&base, "side").await?;
    let (status, m) = api::get(&base, "/api/stats?view=side").await?;
    assert_eq!((status, m["view"].as_str()), (200, Some("side")), "{m}");

    // Another view, turned away from the ball, sees sky in its middle.
    let (status, m) = api::post(
        &base,
        "/api/control?view=side",
        &json!({"type": "camera", "eye": [0, 0, 5], "target": [0, 0, 10], "up": [0, 1, 0], "fov": 40}),
    )
    .await?;
    assert_eq!((status, m["type"].as_str()), (200, Some("ack")), "{m}");
    let (_, m) = pick(0.5, 0.5, "side").await?;
    assert_eq!(m["hit"], Value::Null, "{m}");
    let (_, m) = pick(0.5, 0.5, "main").await?;
    assert_eq!(m["hit"]["object"], "ball", "{m}");

    // The ball moves away: the pick sees the edit.
    let (status, m) = api::post(
        &base,
        "/api/edits",
        &json!({"ops": [{"op": "update", "kind": "object", "key": "ball",
                         "value": {"transform": {"translation": [3, 0, 0]}}}]}),
    )
    .await?;
    assert_eq!(status, 200, "{m}");
    let (_, m) = pick(0.5, 0.5, "main").await?;
    assert_eq!(m["hit"], Value::Null, "{m}");

    for bad in [
        json!({"type": "pick", "x": 1.5, "y": 0.5}),
        json!({"type": "pick", "x": 0.5}),
        json!({"type": "pick", "x": 0.5, "y": "top"}),
    ] {
        let (status, m) = api::post(&base, "/api/control", &bad).await?;
        assert_eq!(status, 400, "{bad}: {m}");
        assert_eq!(
            m["code"],
            if bad.get("y").is_none() {
                "missing_field"
            } else {
                "invalid_value"
            },
            "{bad}: {m}"
        );
    }
    server.stop().await
}
