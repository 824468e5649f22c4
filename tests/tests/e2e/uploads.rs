//! Geometry uploads: binary GLB over the WebSocket and the data channel, and glTF over
//! HTTP, each becoming a mesh an object can use; broken files change nothing.

use serde_json::json;
use streamtracer_tests::client::Viewer;
use streamtracer_tests::ws::ControlSocket;
use streamtracer_tests::{api, edit_scene, grid_glb, TestServer, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meshes_upload_over_websocket_data_channel_and_http() -> anyhow::Result<()> {
    let server = TestServer::small(edit_scene()).await?;
    let base = server.url("");

    // WebSocket: 20,000 triangles (about 280 kB), in three binary messages.
    let glb = grid_glb(100);
    let mut ws = ControlSocket::connect(&base).await?;
    let id = ws
        .send(json!({"type": "upload", "key": "grid", "format": "glb", "bytes": glb.len()}))
        .await?;
    let third = glb.len() / 3;
    for piece in [&glb[..third], &glb[third..2 * third], &glb[2 * third..]] {
        ws.send_binary(piece).await?;
    }
    let ack = ws.reply(id).await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    let placed = ws
        .request(json!({"type": "edit", "ops": [{"op": "add", "kind": "object", "key": "floor",
            "value": {"material": "material-0", "shape": {"type": "mesh", "mesh": "grid"},
                      "transform": {"translation": [0, -1, 0], "rotation": [-std::f64::consts::FRAC_1_SQRT_2, 0, 0, std::f64::consts::FRAC_1_SQRT_2]}}}]}))
        .await?;
    assert_eq!(placed["type"], "ack", "{placed}");
    let (scene, _) = api::scene(&base).await?;
    assert_eq!(scene["meshes"]["grid"]["triangles"], 20_000);
    assert_eq!(scene["objects"]["floor"]["shape"]["mesh"], "grid");
    let (_, mesh) = api::get(&base, "/api/scene/mesh/grid").await?;
    assert_eq!(
        mesh["value"]["indices"].as_array().map(Vec::len),
        Some(20_000)
    );

    // A truncated file: an error naming the upload, and nothing changes.
    let (before, revision) = api::scene(&base).await?;
    let id = ws
        .send(json!({"type": "upload", "key": "broken", "format": "glb", "bytes": 100}))
        .await?;
    ws.send_binary(&glb[..100]).await?;
    let e = ws.reply(id).await?;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("invalid_value")),
        "{e}"
    );
    // More bytes than announced.
    let id = ws
        .send(json!({"type": "upload", "key": "long", "format": "glb", "bytes": 10}))
        .await?;
    ws.send_binary(&[0u8; 11]).await?;
    assert_eq!(ws.reply(id).await?["code"], "too_large");
    assert_eq!(api::scene(&base).await?, (before, revision));

    // The data channel: a small grid in one message replaces the mesh "grid".
    let small = grid_glb(4);
    let mut viewer = Viewer::connect(&base).await?;
    viewer.next_message("hello", WAIT).await?;
    viewer
        .send_text(&json!({"type": "upload", "id": "dc", "key": "grid", "format": "glb", "bytes": small.len()}).to_string())
        .await?;
    viewer.send_binary(&small).await?;
    let ack = viewer.next_message("ack", WAIT).await?;
    assert_eq!(ack["id"], "dc");
    let (scene, _) = api::scene(&base).await?;
    assert_eq!(scene["meshes"]["grid"]["triangles"], 32);

    // HTTP: PUT a GLB; a wrong content type is refused.
    let client = reqwest::Client::new();
    let r = client
        .put(server.url("/api/meshes/tile"))
        .header("content-type", "model/gltf-binary")
        .body(grid_glb(2))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let r = client
        .put(server.url("/api/meshes/tile2"))
        .header("content-type", "text/plain")
        .body(grid_glb(2))
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    let (scene, _) = api::scene(&base).await?;
    assert_eq!(scene["meshes"]["tile"]["triangles"], 8);
    assert!(scene["meshes"]["tile2"].is_null());
    viewer.close().await?;
    ws.close().await?;
    server.stop().await
}
