//! The public surface walked with malformed, oversized, out-of-range and hostile
//! input: HTTP routes, WHEP offers, the WebSocket, the data channel, scene files and
//! command-line flags. Each answer is checked (the expected status or error code, a
//! message saying what was wrong, never a 5xx or a panic), and after each surface
//! nothing has changed (same scene revision, same sessions) while a viewer watching all
//! along keeps receiving frames. Prints how many inputs each surface got and how many
//! were answered correctly. (`bad_edits.rs` walks the control messages themselves over
//! every transport; this file walks what carries them.)
//!
//! Length: About 920 lines: one walk per public surface, each a table of bad inputs and
//! the answer each must get.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use streamtracer_tests::client::{Viewer, ViewerOptions};
use streamtracer_tests::ws::{refused_status, ControlSocket};
use streamtracer_tests::{api, server_binary, TestServer, WAIT};

/// Inputs tried and answered correctly, per surface, with the wrong answers.
#[derive(Default)]
struct Tally {
    rows: Vec<(&'static str, usize, usize)>,
    wrong: Vec<String>,
    /// Checks that are not inputs (a connection still answering after the inputs, the
    /// headers of an answer): counted apart, and failing the test like a wrong answer.
    checks: Vec<(String, bool)>,
}

impl Tally {
    fn check(&mut self, name: &'static str, what: &str, ok: bool) {
        if !ok {
            self.wrong.push(format!("{name}: {what}"));
        }
        self.checks.push((format!("{name}: {what}"), ok));
    }

    fn surface(&mut self, name: &'static str, results: Vec<(String, bool)>) {
        let ok = results.iter().filter(|(_, ok)| *ok).count();
        self.rows.push((name, results.len(), ok));
        self.wrong.extend(
            results
                .into_iter()
                .filter(|(_, ok)| !ok)
                .map(|(d, _)| format!("{name}: {d}")),
        );
    }

    fn print(&self) {
        println!("bad inputs by surface:");
        println!("  surface           | inputs | answered correctly");
        for (name, n, ok) in &self.rows {
            println!("  {name:17} | {n:6} | {ok}");
        }
        let (n, ok) = self
            .rows
            .iter()
            .fold((0, 0), |(a, b), (_, n, ok)| (a + n, b + ok));
        println!("  {:17} | {n:6} | {ok}", "total");
        let passed = self.checks.iter().filter(|(_, ok)| *ok).count();
        println!(
            "  besides the inputs, {} other checks, {passed} passed:",
            self.checks.len()
        );
        for (what, ok) in &self.checks {
            println!("    {what}: {}", if *ok { "yes" } else { "NO" });
        }
    }
}

/// Sends one raw HTTP request; returns the status and the body.
async fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> anyhow::Result<(u16, String)> {
    let mut r = reqwest::Client::new().request(method.parse()?, url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.body(body).send().await?;
    let status = r.status().as_u16();
    Ok((status, r.text().await?))
}

/// (description, method, path, headers, body, expected status)
type HttpCase<P> = (
    &'static str,
    &'static str,
    P,
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
    u16,
);

/// (description, text or binary message, expected error code)
type MessageCase = (&'static str, Result<String, Vec<u8>>, &'static str);

const SDP: (&str, &str) = ("content-type", "application/sdp");
const JSON: (&str, &str) = ("content-type", "application/json");

/// A minimal offer with a receive-only H.264 video section; `video` replaces its
/// `m=video` line and `codec` its rtpmap.
fn offer(video: &str, codec: &str) -> String {
    [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        video,
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99",
        "a=setup:actpass",
        "a=mid:0",
        "a=recvonly",
        "a=rtcp-mux",
        codec,
        "a=fmtp:102 packetization-mode=1;profile-level-id=42e01f",
        "",
    ]
    .join("\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_surface_answers_bad_input_clearly_and_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let base = server.url("");
    // The bystander: a viewer with its control channel, watching throughout.
    let mut viewer = Viewer::connect_watching(&base).await?;
    let (_, revision) = api::scene(&base).await?;
    let sessions = server.metric("streamtracer_sessions").await?;
    let mut tally = Tally::default();

    // The bystander still streams, and nothing changed.
    async fn unchanged(
        server: &TestServer,
        viewer: &mut Viewer,
        revision: u64,
        sessions: f64,
        surface: &str,
    ) -> anyhow::Result<()> {
        while viewer.frames.try_recv().is_ok() {}
        viewer.next_frame(WAIT).await?;
        let (_, now) = api::scene(&server.url("")).await?;
        assert_eq!(now, revision, "{surface}: the scene changed");
        assert_eq!(
            server.metric("streamtracer_sessions").await?,
            sessions,
            "{surface}: sessions changed"
        );
        Ok(())
    }

    // --- HTTP routes.
    let huge_json = format!("{{\"ops\":[],\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let long_path = format!("/api/scene/material/{}", "k".repeat(10_000));
    let http_cases: Vec<HttpCase<String>> = vec![
        ("unknown page", "GET", "/nope".into(), vec![], vec![], 404),
        (
            "unknown API route",
            "GET",
            "/api/nope".into(),
            vec![],
            vec![],
            404,
        ),
        (
            "path traversal",
            "GET",
            "/../../etc/passwd".into(),
            vec![],
            vec![],
            404,
        ),
        (
            "encoded path traversal",
            "GET",
            "/%2e%2e/%2e%2e/etc/passwd".into(),
            vec![],
            vec![],
            404,
        ),
        (
            "DELETE the scene",
            "DELETE",
            "/api/scene".into(),
            vec![],
            vec![],
            405,
        ),
        (
            "GET the edits",
            "GET",
            "/api/edits".into(),
            vec![],
            vec![],
            405,
        ),
        (
            "PUT an edit",
            "PUT",
            "/api/edits".into(),
            vec![JSON],
            b"{}".to_vec(),
            405,
        ),
        (
            "POST the metrics",
            "POST",
            "/metrics".into(),
            vec![],
            vec![],
            405,
        ),
        (
            "GET an undo",
            "GET",
            "/api/undo".into(),
            vec![],
            vec![],
            405,
        ),
        (
            "edit: not JSON",
            "POST",
            "/api/edits".into(),
            vec![JSON],
            b"{\"ops\": [".to_vec(),
            400,
        ),
        (
            "edit: empty body",
            "POST",
            "/api/edits".into(),
            vec![JSON],
            vec![],
            400,
        ),
        (
            "edit: binary junk",
            "POST",
            "/api/edits".into(),
            vec![JSON],
            vec![0xff, 0xfe, 0, 1, 2],
            400,
        ),
        (
            "edit: ops not a list",
            "POST",
            "/api/edits".into(),
            vec![JSON],
            br#"{"ops":"all"}"#.to_vec(),
            400,
        ),
        (
            "edit: a JSON array",
            "POST",
            "/api/edits".into(),
            vec![JSON],
            b"[1,2]".to_vec(),
            400,
        ),
        (
            "edit: 2 MiB body",
            "POST",
            "/api/edits".into(),
            vec![JSON],
            huge_json.into_bytes(),
            413,
        ),
        (
            "edit: nested 10000 deep",
            "POST",
            "/api/edits".into(),
            vec![JSON],
            format!("{{\"ops\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            400,
        ),
        (
            "control: garbage",
            "POST",
            "/api/control".into(),
            vec![JSON],
            b"garbage".to_vec(),
            400,
        ),
        (
            "control: unknown type",
            "POST",
            "/api/control".into(),
            vec![JSON],
            br#"{"type":"reboot"}"#.to_vec(),
            400,
        ),
        (
            "undo with nothing to undo",
            "POST",
            "/api/undo".into(),
            vec![],
            vec![],
            409,
        ),
        (
            "redo with nothing to redo",
            "POST",
            "/api/redo".into(),
            vec![],
            vec![],
            409,
        ),
        (
            "unknown kind",
            "GET",
            "/api/scene/widget".into(),
            vec![],
            vec![],
            400,
        ),
        (
            "unknown entity",
            "GET",
            "/api/scene/material/ghost".into(),
            vec![],
            vec![],
            404,
        ),
        (
            "key that cannot be",
            "GET",
            "/api/scene/material/a%20b%2F..".into(),
            vec![],
            vec![],
            400,
        ),
        (
            "10 000-character key",
            "GET",
            long_path,
            vec![],
            vec![],
            400,
        ),
        (
            "mesh upload: junk",
            "PUT",
            "/api/meshes/junk".into(),
            vec![("content-type", "model/gltf-binary")],
            b"not a model".to_vec(),
            400,
        ),
        (
            "mesh upload: empty",
            "PUT",
            "/api/meshes/empty".into(),
            vec![("content-type", "model/gltf-binary")],
            vec![],
            400,
        ),
        (
            "mesh upload: truncated GLB",
            "PUT",
            "/api/meshes/trunc".into(),
            vec![("content-type", "model/gltf-binary")],
            b"glTF\x02\x00\x00\x00\xff\xff\xff\x7f".to_vec(),
            400,
        ),
        (
            "mesh upload: bad key",
            "PUT",
            "/api/meshes/bad%20key".into(),
            vec![("content-type", "model/gltf-binary")],
            b"glTF".to_vec(),
            400,
        ),
        (
            "snapshot of a view with a bad name",
            "GET",
            "/api/snapshot.png?view=%00%01".into(),
            vec![],
            vec![],
            400,
        ),
        (
            "WebSocket route without an upgrade",
            "GET",
            "/api/control".into(),
            vec![],
            vec![],
            400,
        ),
    ];
    let mut results = Vec::new();
    for (what, method, path, headers, body, expected) in http_cases {
        let (status, text) = http(method, &format!("{base}{path}"), &headers, body).await?;
        let explained = !text.trim().is_empty();
        let ok = status == expected && explained;
        if !ok {
            println!(
                "  HTTP {what}: {status} (expected {expected}) {:.200}",
                text
            );
        }
        results.push((format!("{what}: {status} {:.120}", text.trim()), ok));
    }
    tally.surface("HTTP routes", results);
    // The two fallbacks echo the path: plain text that a browser must not sniff; the
    // 405 keeps axum's `Allow` header.
    let client = reqwest::Client::new();
    let missing = client
        .get(format!("{base}/no/such/<script>"))
        .send()
        .await?;
    tally.check(
        "HTTP routes",
        "the 404 fallback is sent with nosniff",
        missing.status() == 404
            && missing.headers().get("x-content-type-options")
                == Some(&reqwest::header::HeaderValue::from_static("nosniff")),
    );
    let wrong = client.patch(format!("{base}/api/scene")).send().await?;
    let allow = wrong
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = wrong.text().await?;
    tally.check(
        "HTTP routes",
        "a 405 names the method, keeps the Allow header",
        text.contains("PATCH") && allow.contains("GET"),
    );
    unchanged(&server, &mut viewer, revision, sessions, "HTTP").await?;

    // --- WHEP offers.
    let valid = offer("m=video 9 UDP/TLS/RTP/SAVPF 102", "a=rtpmap:102 H264/90000");
    let whep_cases: Vec<HttpCase<&str>> = vec![
        (
            "garbage",
            "POST",
            "/whep",
            vec![SDP],
            b"hello there".to_vec(),
            400,
        ),
        ("empty", "POST", "/whep", vec![SDP], vec![], 400),
        (
            "not UTF-8",
            "POST",
            "/whep",
            vec![SDP],
            vec![b'v', b'=', b'0', 0xff, 0xfe],
            400,
        ),
        (
            "only v=0",
            "POST",
            "/whep",
            vec![SDP],
            b"v=0\r\n".to_vec(),
            400,
        ),
        (
            "malformed lines after v=0",
            "POST",
            "/whep",
            vec![SDP],
            b"v=0\r\nthis is not sdp\r\nm=video\r\n".to_vec(),
            400,
        ),
        (
            "no video section",
            "POST",
            "/whep",
            vec![SDP],
            offer(
                "m=audio 9 UDP/TLS/RTP/SAVPF 111",
                "a=rtpmap:111 opus/48000/2",
            )
            .into_bytes(),
            400,
        ),
        (
            "video rejected (port 0)",
            "POST",
            "/whep",
            vec![SDP],
            offer("m=video 0 UDP/TLS/RTP/SAVPF 102", "a=rtpmap:102 H264/90000").into_bytes(),
            400,
        ),
        (
            "no H.264",
            "POST",
            "/whep",
            vec![SDP],
            offer("m=video 9 UDP/TLS/RTP/SAVPF 96", "a=rtpmap:96 VP8/90000").into_bytes(),
            400,
        ),
        (
            "over 64 KiB",
            "POST",
            "/whep",
            vec![SDP],
            format!("{valid}{}", "a=x-pad:padding\r\n".repeat(5000)).into_bytes(),
            413,
        ),
        (
            "no content type",
            "POST",
            "/whep",
            vec![],
            valid.clone().into_bytes(),
            415,
        ),
        (
            "JSON content type",
            "POST",
            "/whep",
            vec![JSON],
            valid.clone().into_bytes(),
            415,
        ),
        (
            "unknown view as a viewer would name it",
            "POST",
            "/whep?view=Bad%20Name",
            vec![SDP],
            valid.clone().into_bytes(),
            400,
        ),
        (
            "resume of an unknown session",
            "POST",
            "/whep?resume=nosuchtoken",
            vec![SDP],
            valid.clone().into_bytes(),
            404,
        ),
        (
            "DELETE an unknown session",
            "DELETE",
            "/whep/nosuchsession",
            vec![],
            vec![],
            404,
        ),
        (
            "DELETE the endpoint",
            "DELETE",
            "/whep",
            vec![],
            vec![],
            405,
        ),
        (
            "PATCH (trickle ICE)",
            "PATCH",
            "/whep/nosuchsession",
            vec![("content-type", "application/trickle-ice-sdpfrag")],
            b"a=candidate:1 1 udp 1 1.2.3.4 5 typ host".to_vec(),
            405,
        ),
        ("GET the endpoint", "GET", "/whep", vec![], vec![], 405),
    ];
    let mut results = Vec::new();
    for (what, method, path, headers, body, expected) in whep_cases {
        let (status, text) = http(method, &format!("{base}{path}"), &headers, body).await?;
        let explained = !text.trim().is_empty();
        let ok = status == expected && explained;
        if !ok {
            println!(
                "  WHEP {what}: {status} (expected {expected}) {:.200}",
                text
            );
        }
        results.push((format!("{what}: {status} {:.120}", text.trim()), ok));
    }
    tally.surface("WHEP offers", results);
    unchanged(&server, &mut viewer, revision, sessions, "WHEP").await?;

    // --- WebSocket: refused upgrades, then hostile frames on one connection, which
    // must stay open and answer each with an `error`.
    let mut results = Vec::new();
    for (what, query, expected) in [
        (
            "view name of 40 characters",
            "?view=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            400u16,
        ),
        ("view name that cannot be", "?view=..%2F..", 400),
    ] {
        let url = format!("{base}/api/control{query}").replacen("http://", "ws://", 1);
        let status = match tokio_tungstenite::connect_async(url).await {
            Ok(_) => None,
            Err(e) => refused_status(&anyhow::Error::from(e)),
        };
        let ok = status == Some(expected);
        if !ok {
            println!("  WebSocket {what}: {status:?} (expected {expected})");
        }
        results.push((format!("{what}: {status:?}"), ok));
    }
    let mut socket = ControlSocket::connect(&base).await?;
    let frames: Vec<MessageCase> = vec![
        ("binary junk", Err(vec![0, 1, 2, 3, 255]), "binary_message"),
        ("empty text", Ok(String::new()), "invalid_json"),
        ("a lone quote", Ok("\"".into()), "invalid_json"),
        ("a number", Ok("42".into()), "invalid_json"),
        ("null", Ok("null".into()), "invalid_json"),
        (
            "2 MiB of text",
            Ok("x".repeat(2 * 1024 * 1024)),
            "too_large",
        ),
        (
            "10 000-deep nesting",
            Ok(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000))),
            "too_deep",
        ),
        (
            "a control character",
            Ok("{\"type\":\"undo\u{0}\"}".into()),
            "invalid_json",
        ),
        (
            "id an object",
            Ok(r#"{"type":"undo","id":{"a":1}}"#.into()),
            "invalid_value",
        ),
        (
            "upload without bytes",
            Ok(r#"{"type":"upload","key":"m","format":"glb"}"#.into()),
            "missing_field",
        ),
        (
            "upload of 1 TB",
            Ok(r#"{"type":"upload","key":"m","format":"glb","bytes":1000000000000}"#.into()),
            "too_large",
        ),
    ];
    for (what, frame, code) in frames {
        match frame {
            Ok(text) => socket.send_text(&text).await?,
            Err(bytes) => socket.send_binary(&bytes).await?,
        }
        let reply = socket.next_message("error", WAIT).await;
        let got = reply
            .as_ref()
            .map(|m| m["code"].clone())
            .unwrap_or(Value::Null);
        let ok = got == code;
        if !ok {
            println!("  WebSocket {what}: {reply:?} (expected {code})");
        }
        results.push((format!("{what}: {got}"), ok));
    }
    // Still open and answering.
    let reply = socket
        .request(serde_json::json!({"type": "get", "kind": "settings"}))
        .await?;
    socket.close().await.ok();
    tally.surface("WebSocket", results);
    tally.check(
        "WebSocket",
        "the connection answers after all that",
        reply["type"] == "entity",
    );
    unchanged(&server, &mut viewer, revision, sessions, "WebSocket").await?;

    // --- The data channel: the same frames on a second viewer's channel.
    let mut other = Viewer::connect_with(&base, ViewerOptions::default()).await?;
    other.next_message("hello", WAIT).await?;
    let mut results = Vec::new();
    let dc_cases: Vec<MessageCase> = vec![
        ("binary junk", Err(vec![9, 9, 9]), "binary_message"),
        ("a lone brace", Ok("{".into()), "invalid_json"),
        ("an array", Ok("[]".into()), "invalid_json"),
        (
            "200-deep nesting",
            Ok(format!("{}{}", "[".repeat(200), "]".repeat(200))),
            "too_deep",
        ),
        (
            "unknown type",
            Ok(r#"{"type":"format_disk"}"#.into()),
            "unknown_type",
        ),
        (
            "resize to 0x0",
            Ok(r#"{"type":"resize","width":0,"height":0}"#.into()),
            "invalid_value",
        ),
        (
            "camera with NaN-like strings",
            Ok(
                r#"{"type":"camera","eye":["NaN",0,0],"target":[0,0,0],"up":[0,1,0],"fov":40}"#
                    .into(),
            ),
            "invalid_value",
        ),
    ];
    for (what, frame, code) in dc_cases {
        match frame {
            Ok(text) => other.send_text(&text).await?,
            Err(bytes) => other.send_binary(&bytes).await?,
        }
        let reply = other.next_message("error", WAIT).await;
        let got = reply
            .as_ref()
            .map(|m| m["code"].clone())
            .unwrap_or(Value::Null);
        let ok = got == code;
        if !ok {
            println!("  data channel {what}: {reply:?} (expected {code})");
        }
        results.push((format!("{what}: {got}"), ok));
    }
    let video = other.next_frame(WAIT).await;
    other.close().await?;
    tally.surface("data channel", results);
    tally.check(
        "data channel",
        "its video goes on after all that",
        video.is_ok(),
    );
    unchanged(&server, &mut viewer, revision, sessions, "data channel").await?;

    viewer.close().await?;
    server.stop().await?;

    // --- Scene files and command-line flags: the binary itself.
    tally.surface("scene files", scene_files()?);
    tally.surface("command line", command_line()?);

    tally.print();
    assert!(tally.wrong.is_empty(), "wrong answers: {:#?}", tally.wrong);
    Ok(())
}

/// Runs the binary with `args`; it must exit by itself within a minute (a bad input
/// must never leave it serving). Returns the exit code and standard error.
fn run_binary(args: &[&str], dir: &Path) -> anyhow::Result<(Option<i32>, String)> {
    let mut child = Command::new(server_binary()?)
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            let out = child.wait_with_output()?;
            return Ok((
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill()?;
            child.wait()?;
            return Ok((None, "still running after 60 s".into()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A clean failure: the expected exit code and one `error:` line naming `needle`,
/// no panic.
fn clean_failure(code: Option<i32>, stderr: &str, expected: i32, needle: &str) -> bool {
    let error_lines = stderr.lines().filter(|l| l.starts_with("error:")).count();
    code == Some(expected)
        && error_lines == 1
        && stderr.contains(needle)
        && !stderr.contains("panicked")
}

/// Broken scene files given to `--scene`: each stops the server before it serves,
/// with exit code 1 and one line naming the file.
fn scene_files() -> anyhow::Result<Vec<(String, bool)>> {
    let dir = tempfile::tempdir()?;
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../render-core/tests/data");
    let gltf = std::fs::read(data.join("scene.gltf"))?;
    let glb = std::fs::read(data.join("scene.glb"))?;
    let json = std::fs::read(data.join("cornell.json"))?;
    let files: Vec<(&str, &str, Vec<u8>)> = vec![
        ("empty glTF", "empty.gltf", vec![]),
        (
            "truncated glTF JSON",
            "trunc.gltf",
            gltf[..gltf.len() / 2].to_vec(),
        ),
        (
            "glTF with a missing buffer file",
            "nobuf.gltf",
            gltf.clone(),
        ),
        (
            "garbage GLB",
            "junk.glb",
            b"glTF\x02\x00\x00\x00garbage garbage".to_vec(),
        ),
        ("truncated GLB", "trunc.glb", glb[..glb.len() / 2].to_vec()),
        ("GLB without its magic", "nomagic.glb", glb[4..].to_vec()),
        (
            "glTF whose accessor claims a billion vertices",
            "huge.gltf",
            String::from_utf8_lossy(&gltf)
                .replacen("\"count\"", "\"count\": 1000000000, \"x-count\"", 1)
                .to_string()
                .into_bytes(),
        ),
        ("empty OBJ", "empty.obj", vec![]),
        (
            "binary junk as OBJ",
            "junk.obj",
            (0..=255u8).cycle().take(4096).collect(),
        ),
        (
            "OBJ face out of range",
            "range.obj",
            b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99\n".to_vec(),
        ),
        (
            "OBJ with NaN coordinates",
            "nan.obj",
            b"v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n".to_vec(),
        ),
        (
            "truncated JSON scene",
            "trunc.json",
            json[..json.len() / 2].to_vec(),
        ),
        (
            "JSON scene of the wrong shape",
            "shape.json",
            b"{\"objects\": 5}".to_vec(),
        ),
        (
            "JSON scene with a negative radius",
            "neg.json",
            String::from_utf8_lossy(&json)
                .replacen("\"radius\": 0.", "\"radius\": -0.", 1)
                .to_string()
                .into_bytes(),
        ),
        ("a directory", "dir.json", vec![]),
        ("an unknown extension", "scene.blend", b"BLENDER".to_vec()),
    ];
    let mut results = Vec::new();
    for (what, name, bytes) in files {
        let path = dir.path().join(name);
        if what == "a directory" {
            std::fs::create_dir(&path)?;
        } else {
            std::fs::write(&path, bytes)?;
        }
        let path_text = path.to_string_lossy().into_owned();
        let (code, stderr) = run_binary(
            &[
                "--scene",
                &path_text,
                "--listen",
                "127.0.0.1:0",
                "--webrtc-ip",
                "127.0.0.1",
            ],
            dir.path(),
        )?;
        let ok = clean_failure(code, &stderr, 1, name);
        if !ok {
            println!("  scene file {what}: exit {code:?}: {stderr:.300}");
        }
        results.push((format!("{what}: exit {code:?}"), ok));
    }
    Ok(results)
}

/// Flags with values that cannot be parsed (exit code 2, clap's usage error) or that
/// parse but cannot be used (exit code 1): one `error:` line naming the flag.
fn command_line() -> anyhow::Result<Vec<(String, bool)>> {
    let dir = tempfile::tempdir()?;
    let cases: Vec<(&[&str], i32, &str)> = vec![
        (&["--bogus"], 2, "--bogus"),
        (&["--fps", "abc"], 2, "--fps"),
        (&["--width", "-5"], 2, "-5"),
        (&["--width", "99999999999"], 2, "--width"),
        (&["--listen", "not-an-address"], 2, "--listen"),
        (&["--webrtc-ip", "300.1.1.1"], 2, "--webrtc-ip"),
        (&["--edit-rate", "-1"], 2, "'-1'"),
        (&["--resume-grace", "nan"], 2, "--resume-grace"),
        (&["--bitrate", "1e99"], 2, "--bitrate"),
        (&["--max-sessions", "many"], 2, "--max-sessions"),
        (&["--fps"], 2, "--fps"),
        (&["--viewer-token", "short"], 1, "token"),
        (&["--allowed-origin", "not an origin"], 1, "origin"),
        (&["--config", "/no/such/config.toml"], 1, "config.toml"),
        (
            &["--state-dir", "/proc/streamtracer-cannot-be-here"],
            1,
            "streamtracer-cannot-be-here",
        ),
        (&["--width", "641"], 1, "even"),
        (&["--fps", "500"], 1, "frame rate"),
    ];
    let mut results = Vec::new();
    for (args, expected, needle) in cases {
        let mut full: Vec<&str> = args.to_vec();
        for (flag, value) in [("--listen", "127.0.0.1:0"), ("--webrtc-ip", "127.0.0.1")] {
            if !args.contains(&flag) {
                full.extend([flag, value]);
            }
        }
        let (code, stderr) = run_binary(&full, dir.path())?;
        let ok = clean_failure(code, &stderr, expected, needle);
        if !ok {
            println!("  flags {args:?}: exit {code:?}: {stderr:.300}");
        }
        results.push((format!("{args:?}: exit {code:?}"), ok));
    }
    Ok(results)
}
