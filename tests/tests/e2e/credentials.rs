//! Who may act on a session, and tokens in query strings (issue 16, items 2 and 5).
//!
//! - `DELETE /whep/<session>` ends a session only for the token that created it or a
//!   controller token: any other viewer token gets `403` and the session goes on.
//! - What other clients hear of a session (the `client` of `changed`) is a public id,
//!   drawn apart from the session id and the resume token: it ends nothing, resumes
//!   nothing, and no route takes it, also without tokens, where every caller is a
//!   controller and the session id's secrecy is all that guards a session.
//! - `?access_token=` is percent-decoded, so tokens with `%`, `+` or `&` work there.

use serde_json::{json, Value};
use streamtracer::Config;
use streamtracer_tests::client::{Viewer, ViewerOptions};
use streamtracer_tests::ws::{refused_status, ControlSocket};
use streamtracer_tests::{api, edit_scene, query_value, TestServer, WAIT};

const ALICE: &str = "viewer-alice-token-5b2e90";
const BOB: &str = "viewer-bob-token-c7a13f";
const BOSS: &str = "controller-boss-token-e04d";

/// Whether session `id` is still listed.
async fn listed(server: &TestServer, token: Option<&str>, id: &str) -> anyhow::Result<bool> {
    Ok(api::sessions(&server.url(""), token)
        .await?
        .iter()
        .any(|s| s["session"] == id))
}

/// The session id at the end of a viewer's `Location`.
fn id_of(viewer: &Viewer) -> String {
    viewer.location.trim_start_matches("/whep/").to_owned()
}

fn settings_edit(exposure: f64) -> Value {
    json!({"type": "edit", "id": "e", "ops": [
        {"op": "update", "kind": "settings", "value": {"exposure": exposure}}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_token_cannot_end_another_tokens_session() -> anyhow::Result<()> {
    let config = Config {
        viewer_tokens: vec![ALICE.into(), BOB.into()],
        controller_tokens: vec![BOSS.into()],
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let base = server.url("");
    let mut boss = Viewer::connect_with(&base, ViewerOptions::with_token(Some(BOSS))).await?;
    let mut alice = Viewer::connect_with(&base, ViewerOptions::with_token(Some(ALICE))).await?;
    let mut bob = Viewer::connect_with(&base, ViewerOptions::with_token(Some(BOB))).await?;
    for v in [&mut boss, &mut alice, &mut bob] {
        v.next_message("hello", WAIT).await?;
        v.next_frame(WAIT).await?;
    }
    let (boss_id, bob_id) = (id_of(&boss), id_of(&bob));

    // A viewer token ends neither a controller's session nor another viewer's, by
    // header or by query: 403 with a reason, and both sessions go on streaming.
    let (status, body) = api::call(
        reqwest::Method::DELETE,
        server.url(&boss.location),
        Some(ALICE),
        None,
    )
    .await?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("another token"), "{body}");
    let by_query = format!("{}?access_token={}", bob.location, query_value(ALICE));
    let (status, body) =
        api::call(reqwest::Method::DELETE, server.url(&by_query), None, None).await?;
    assert_eq!(status, 403, "{body}");
    assert!(listed(&server, Some(BOSS), &boss_id).await?);
    assert!(listed(&server, Some(BOSS), &bob_id).await?);
    boss.next_frame(WAIT).await?;
    bob.next_frame(WAIT).await?;

    // The id a viewer hears of the controller's edits is no handle on its session.
    boss.send_text(&settings_edit(2.0).to_string()).await?;
    assert_eq!(boss.next_message("ack", WAIT).await?["id"], "e");
    let changed = alice.next_message("changed", WAIT).await?;
    let heard = changed["client"].as_str().unwrap_or_default().to_owned();
    assert!(!heard.is_empty(), "{changed}");
    assert_ne!(heard, boss_id);
    for token in [ALICE, BOSS] {
        let (status, body) = api::call(
            reqwest::Method::DELETE,
            server.url(&format!("/whep/{heard}")),
            Some(token),
            None,
        )
        .await?;
        assert_eq!(status, 404, "DELETE /whep/{heard} with {token}: {body}");
    }
    assert!(listed(&server, Some(BOSS), &boss_id).await?);
    boss.next_frame(WAIT).await?;

    // The creator ends its own session; a controller token ends anyone's.
    let (status, body) = api::call(
        reqwest::Method::DELETE,
        server.url(&bob.location),
        Some(BOSS),
        None,
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    let closing = bob.next_message("closing", WAIT).await?;
    assert_eq!(closing["reason"], "ended");
    assert!(!listed(&server, Some(BOSS), &bob_id).await?);
    alice.close().await?; // DELETE with ALICE, its creator; fails unless 2xx
    boss.close().await?;
    assert!(api::sessions(&base, Some(BOSS)).await?.is_empty());
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_id_other_clients_hear_cannot_end_or_resume_a_session() -> anyhow::Result<()> {
    // No tokens (loopback): every caller is a controller, so only the secrecy of the
    // session id and the resume token guards a session.
    let server = TestServer::small(edit_scene()).await?;
    let base = server.url("");
    let mut editor = Viewer::connect(&base).await?;
    let mut other = Viewer::connect(&base).await?;
    let hello = editor.next_message("hello", WAIT).await?;
    other.next_message("hello", WAIT).await?;
    editor.next_frame(WAIT).await?;
    let (id, resume, client) = (
        id_of(&editor),
        hello["resume_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        hello["client"].as_str().unwrap_or_default().to_owned(),
    );
    assert_eq!(hello["session"], id.as_str(), "{hello}");
    assert!(!client.is_empty() && !resume.is_empty(), "{hello}");
    assert!(
        !client.contains(&id) && !id.contains(&client) && client != resume,
        "{hello}"
    );

    // Its edits over the data channel, and a WebSocket's, are heard by their public ids.
    editor.send_text(&settings_edit(2.0).to_string()).await?;
    editor.next_message("ack", WAIT).await?;
    let changed = other.next_message("changed", WAIT).await?;
    assert_eq!(changed["client"], client.as_str(), "{changed}");
    let text = changed.to_string();
    assert!(
        !text.contains(&id) && !text.contains(&resume),
        "a secret was broadcast: {text}"
    );
    let mut socket = ControlSocket::connect(&base).await?;
    let ws_client = socket.hello["client"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!ws_client.is_empty(), "{}", socket.hello);
    let reply = socket.request(settings_edit(3.0)).await?;
    assert_eq!(reply["type"], "ack", "{reply}");
    let changed = other.next_message("changed", WAIT).await?;
    assert_eq!(changed["client"], ws_client.as_str(), "{changed}");

    // Every route that takes a session id or a resume token refuses the public ids.
    for heard in [&client, &ws_client] {
        let url = server.url(&format!("/whep/{heard}"));
        let (status, body) = api::call(reqwest::Method::DELETE, url.clone(), None, None).await?;
        assert_eq!(status, 404, "DELETE /whep/{heard}: {body}");
        assert!(body.contains("no session"), "{body}");
        let (status, _) = api::call(reqwest::Method::PATCH, url, None, None).await?;
        assert_eq!(status, 405);
        let e = Viewer::connect_with(&base, ViewerOptions::resuming(heard.clone()))
            .await
            .err()
            .expect("a public client id resumed a session");
        assert!(e.to_string().contains("404"), "{e}");
    }
    // The session is untouched: listed (with its public id), streaming, editing.
    let list = api::sessions(&base, None).await?;
    let row = list
        .iter()
        .find(|s| s["session"] == id.as_str())
        .ok_or_else(|| anyhow::anyhow!("the session is gone: {list:?}"))?;
    assert_eq!(row["client"], client.as_str());
    assert_eq!(row["state"], "connected");
    editor.next_frame(WAIT).await?;
    editor.send_text(&settings_edit(1.0).to_string()).await?;
    editor.next_message("ack", WAIT).await?;
    // Its own DELETE, with the secret of its Location, still ends it.
    editor.close().await?;
    other.close().await?;
    assert!(api::sessions(&base, None).await?.is_empty());
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_percent_plus_and_ampersand_works_as_access_token() -> anyhow::Result<()> {
    let viewer = "v%41+lo&access_token=x-0123";
    let controller = "c%2B+ctl&view=no#-4567";
    let config = Config {
        viewer_tokens: vec![viewer.into()],
        controller_tokens: vec![controller.into()],
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, edit_scene()).await?;
    let base = server.url("");
    let get = |path: String| {
        let url = server.url(&path);
        async move { api::call(reqwest::Method::GET, url, None, None).await }
    };
    // Percent-encoded, each token is its role, on the API and the WebSocket.
    let (status, body) = get(format!("/api/scene?access_token={}", query_value(viewer))).await?;
    assert_eq!(status, 200, "{body}");
    let sessions_path = format!("/api/sessions?access_token={}", query_value(controller));
    let (status, body) = get(sessions_path).await?;
    assert_eq!(status, 200, "{body}");
    let socket = ControlSocket::connect_as(&base, Some(viewer), None).await?;
    assert_eq!(socket.hello["role"], "viewer");
    let socket = ControlSocket::connect_as(&base, Some(controller), None).await?;
    assert_eq!(socket.hello["role"], "controller");
    // The token as a browser would never send it (not encoded) is not the token.
    let (status, body) = get(format!("/api/scene?access_token={viewer}")).await?;
    assert_eq!(status, 401, "{body}");
    // The WHEP routes read it the same way: a viewer ends only its own session.
    let mut watcher = Viewer::connect_with(&base, ViewerOptions::with_token(Some(viewer))).await?;
    watcher.next_message("hello", WAIT).await?;
    watcher.next_frame(WAIT).await?;
    let by_query = format!("{}?access_token={}", watcher.location, query_value(viewer));
    let (status, body) =
        api::call(reqwest::Method::DELETE, server.url(&by_query), None, None).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        watcher.next_message("closing", WAIT).await?["reason"],
        "ended"
    );
    let e = ControlSocket::connect_as(&base, Some("v%41+lo"), None)
        .await
        .err()
        .expect("a token's prefix was let in");
    assert_eq!(refused_status(&e), Some(401), "{e:#}");
    server.stop().await
}
