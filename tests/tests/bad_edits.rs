//! Bad input to the control protocol: every kind gets an `error` with its stable code
//! and a message naming the field, nothing of it is applied, the session goes on, and
//! another session never notices.

use serde_json::json;
use std::time::Duration;
use streamtracer_tests::client::Viewer;
use streamtracer_tests::ws::ControlSocket;
use streamtracer_tests::{api, edit_scene, TestServer};

const WAIT: Duration = Duration::from_secs(20);

/// (what is wrong, the message, its code, a word the message or field must name)
fn cases() -> Vec<(&'static str, String, &'static str, &'static str)> {
    let edit = |op: serde_json::Value| json!({"type": "edit", "ops": [op]}).to_string();
    let deep = format!(
        r#"{{"type":"edit","ops":[{{"op":"add","kind":"material","key":"x","value":{}1{}}}]}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let oversized =
        json!({"type": "edit", "ops": [], "pad": "x".repeat(2 * 1024 * 1024)}).to_string();
    vec![
        ("not JSON", "{\"type\": \"edit\",".into(), "invalid_json", "JSON"),
        ("not an object", "[1, 2, 3]".into(), "invalid_json", "object"),
        ("unknown message type", r#"{"type":"teleport"}"#.into(), "unknown_type", "teleport"),
        ("unknown field", r#"{"type":"undo","force":true}"#.into(), "unknown_field", "force"),
        ("ops missing", r#"{"type":"edit"}"#.into(), "missing_field", "ops"),
        ("ops not an array", r#"{"type":"edit","ops":{"op":"add"}}"#.into(), "invalid_value", "ops"),
        ("unknown op", edit(json!({"op": "paint", "kind": "material", "key": "material-0"})), "unknown_op", "paint"),
        ("unknown kind", edit(json!({"op": "remove", "kind": "widget", "key": "a"})), "unknown_kind", "widget"),
        ("wrong type of a field", edit(json!({"op": "update", "kind": "material", "key": "material-0", "value": {"albedo": "red"}})), "invalid_value", "albedo"),
        ("unknown field of an entity", edit(json!({"op": "update", "kind": "material", "key": "material-0", "value": {"colour": [1, 0, 0]}})), "unknown_field", "colour"),
        ("missing field of a new entity", edit(json!({"op": "add", "kind": "object", "key": "o", "value": {"material": "material-0"}})), "missing_field", "shape"),
        ("NaN (not JSON)", r#"{"type":"edit","ops":[{"op":"update","kind":"material","key":"material-0","value":{"albedo":[NaN,0,0]}}]}"#.into(), "invalid_json", "JSON"),
        ("infinite once a float", edit(json!({"op": "update", "kind": "object", "key": "ball", "value": {"transform": {"translation": [1e39, 0, 0]}}})), "invalid_value", "translation"),
        ("negative radius", edit(json!({"op": "update", "kind": "object", "key": "ball", "value": {"shape": {"type": "sphere", "center": [0, 0, 0], "radius": -1}}})), "invalid_value", "radius"),
        ("albedo out of range", edit(json!({"op": "update", "kind": "material", "key": "material-0", "value": {"albedo": [2, 0, 0]}})), "invalid_value", "albedo"),
        ("reference to a missing material", edit(json!({"op": "update", "kind": "object", "key": "ball", "value": {"material": "ghost"}})), "not_found", "ghost"),
        ("update of a missing object", edit(json!({"op": "update", "kind": "object", "key": "ghost", "value": {"name": "x"}})), "not_found", "ghost"),
        ("duplicate key", edit(json!({"op": "add", "kind": "object", "key": "ball", "value": {"material": "material-0", "shape": {"type": "sphere", "center": [0, 0, 0], "radius": 1}}})), "duplicate_key", "ball"),
        ("removing a material in use", edit(json!({"op": "remove", "kind": "material", "key": "material-0"})), "in_use", "ball"),
        ("bad key", edit(json!({"op": "add", "kind": "material", "key": "no spaces allowed", "value": {"type": "diffuse", "albedo": [1, 1, 1]}})), "invalid_value", "key"),
        ("file texture from a client", edit(json!({"op": "add", "kind": "texture", "key": "t", "value": {"source": {"type": "file", "path": "/etc/passwd"}}})), "invalid_value", "file"),
        ("too many ops", json!({"type": "edit", "ops": vec![json!({"op": "update", "kind": "settings", "value": {"exposure": 1}}); 300]}).to_string(), "limit_exceeded", "ops"),
        ("stale base revision", r#"{"type":"edit","base_revision":999999,"ops":[]}"#.into(), "conflict", "revision"),
        ("oversized message", oversized, "too_large", "bytes"),
        ("deeply nested", deep, "too_deep", "nest"),
        ("nothing to undo", r#"{"type":"undo"}"#.into(), "nothing_to_undo", "undo"),
        ("odd resize", r#"{"type":"resize","width":641,"height":480}"#.into(), "invalid_value", "width"),
        ("camera inside its target", r#"{"type":"camera","eye":[0,0,0],"target":[0,0,0],"up":[0,1,0],"fov":40}"#.into(), "invalid_value", "eye"),
    ]
}

fn names(m: &serde_json::Value, needle: &str) -> bool {
    let text = format!("{} {}", m["message"], m["field"]).to_lowercase();
    text.contains(&needle.to_lowercase())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_message_gets_its_code_and_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start(TestServer::small_config(), edit_scene()).await?;
    let base = server.url("");
    let mut bad = ControlSocket::connect(&base).await?;
    let mut bystander = ControlSocket::connect(&base).await?;
    let (scene, revision) = api::scene(&base).await?;
    let cases = cases();
    let mut failures = Vec::new();
    for (what, text, code, needle) in &cases {
        bad.send_text(text).await?;
        let reply = bad.next_message("error", WAIT).await?;
        if reply["code"] != *code || !names(&reply, needle) {
            failures.push(format!(
                "{what}: expected {code} naming {needle:?}, got {reply}"
            ));
        }
        // The session goes on: a good request is answered.
        let ok = bad
            .request(json!({"type": "get", "kind": "settings"}))
            .await?;
        assert_eq!(ok["type"], "entity", "after {what}: {ok}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nothing changed, and the other session heard nothing.
    assert_eq!(api::scene(&base).await?, (scene, revision));
    bystander.drain_for(Duration::from_millis(300)).await;
    assert!(bystander.take_kept("changed").is_empty());
    assert!(bystander.take_kept("error").is_empty());
    let ok = bystander
        .request(json!({"type": "get", "kind": "object", "key": "ball"}))
        .await?;
    assert_eq!(ok["type"], "entity");
    println!("{} bad messages, each answered with its code", cases.len());
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_over_http_and_the_data_channel_gets_the_same_errors() -> anyhow::Result<()> {
    let server = TestServer::start(TestServer::small_config(), edit_scene()).await?;
    let base = server.url("");
    let (scene, revision) = api::scene(&base).await?;
    // HTTP: statuses that match the codes, bodies that are the protocol's errors.
    let (status, m) = api::post_text(&base, "/api/edits", "{\"ops\": [").await?;
    assert_eq!((status, m["code"].as_str()), (400, Some("invalid_json")));
    let (status, m) = api::post(
        &base,
        "/api/edits",
        &json!({"ops": [{"op": "remove", "kind": "material", "key": "material-0"}]}),
    )
    .await?;
    assert_eq!((status, m["code"].as_str()), (409, Some("in_use")));
    let (status, m) = api::post(&base, "/api/edits", &json!({"type": "undo"})).await?;
    assert_eq!((status, m["code"].as_str()), (400, Some("invalid_value")));
    let big = json!({"ops": [], "pad": "x".repeat(2 * 1024 * 1024)}).to_string();
    let (status, m) = api::post_text(&base, "/api/edits", &big).await?;
    assert_eq!((status, m["code"].as_str()), (413, Some("too_large")));
    assert_eq!(api::scene(&base).await?, (scene.clone(), revision));

    // The data channel: the same errors, and binary without an upload is refused.
    let mut viewer = Viewer::connect(&base).await?;
    viewer.next_message("hello", WAIT).await?;
    viewer
        .send_text(r#"{"type":"edit","id":"e1","ops":[{"op":"update","kind":"object","key":"ball","value":{"shape":{"type":"sphere","center":[0,0,0],"radius":-2}}}]}"#)
        .await?;
    let m = viewer.next_message("error", WAIT).await?;
    assert_eq!(
        (m["code"].as_str(), m["id"].as_str()),
        (Some("invalid_value"), Some("e1"))
    );
    assert!(names(&m, "radius"), "{m}");
    viewer.send_binary(&[1, 2, 3]).await?;
    let m = viewer.next_message("error", WAIT).await?;
    assert_eq!(m["code"], "binary_message");
    assert_eq!(api::scene(&base).await?, (scene, revision));
    // Video kept flowing through all of it.
    viewer.next_frame(WAIT).await?;
    viewer.close().await?;
    server.stop().await
}
