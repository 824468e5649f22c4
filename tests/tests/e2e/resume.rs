//! Sessions that drop and come back: a viewer whose connection is cut (not closed)
//! is kept as `pending` and resumes with its resume token, keeping its session, role
//! and view; after the grace period the session is closed and cannot be resumed.

use std::time::{Duration, Instant};
use streamtracer::Config;
use streamtracer_tests::client::{Viewer, ViewerOptions};
use streamtracer_tests::link::Link;
use streamtracer_tests::{api, TestServer, WAIT};

/// Waits until session `id` is in `state` ("closed": gone); returns how long it took.
async fn until_state(server: &TestServer, id: &str, state: &str) -> anyhow::Result<Duration> {
    let start = Instant::now();
    loop {
        let list = api::sessions(&server.url(""), None).await?;
        let now = list.iter().find(|s| s["session"] == id);
        let here = match now {
            Some(s) => s["state"] == state,
            None => state == "closed",
        };
        if here {
            return Ok(start.elapsed());
        }
        anyhow::ensure!(
            start.elapsed() < WAIT,
            "session {id} never became {state}: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_session_is_pending_then_resumes_with_its_token() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let base = server.url("");
    let mut viewer = Viewer::connect_with(&base, ViewerOptions::through(Link::ideal())).await?;
    let hello = viewer.next_message("hello", WAIT).await?;
    let (id, token, client) = (
        hello["session"].as_str().unwrap().to_owned(),
        hello["resume_token"].as_str().unwrap().to_owned(),
        hello["client"].as_str().unwrap().to_owned(),
    );
    assert!(token.len() >= 32, "{hello}");
    viewer.next_frame(WAIT).await?;
    until_state(&server, &id, "connected").await?;
    assert!(api::sessions(&server.url(""), None)
        .await?
        .iter()
        .all(|s| s.get("resume_token").is_none()));

    // The network fails: nothing is closed, packets just stop.
    assert!(viewer.cut());
    let took = until_state(&server, &id, "pending").await?;
    println!("pending {took:?} after the cut");
    let pending = server
        .metric("streamtracer_sessions_by_state{state=\"pending\"}")
        .await?;
    assert_eq!(pending, 1.0);

    // The client comes back with its token: the same session, role and view.
    let mut back = Viewer::connect_with(&base, ViewerOptions::resuming(token.clone())).await?;
    assert_eq!(
        back.location, viewer.location,
        "a resumed session keeps its resource"
    );
    let hello = back.next_message("hello", WAIT).await?;
    assert_eq!(
        (
            hello["session"].as_str(),
            hello["role"].as_str(),
            hello["view"].as_str()
        ),
        (Some(id.as_str()), Some("controller"), Some("main"))
    );
    assert_eq!(hello["resume_token"], token.as_str());
    assert_eq!(
        hello["client"],
        client.as_str(),
        "the public id survives a resume"
    );
    back.next_frame(WAIT).await?;
    until_state(&server, &id, "connected").await?;
    assert_eq!(server.metric("streamtracer_sessions").await?, 1.0);
    // The old connection's end of the session is gone: when it finally fails it cannot
    // make the resumed session pending again (a connection changes its session's entry
    // only while it is the current generation: `session::table`'s unit tests).
    assert_eq!(
        api::sessions(&server.url(""), None).await?[0]["state"],
        "connected"
    );
    back.next_frame(WAIT).await?;

    // A wrong token resumes nothing.
    let e = Viewer::connect_with(&base, ViewerOptions::resuming("not-a-resume-token"))
        .await
        .err()
        .expect("a wrong resume token was accepted");
    assert!(e.to_string().contains("404"), "{e}");
    back.close().await?;
    until_state(&server, &id, "closed").await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_grace_period_a_session_is_closed_and_cannot_resume() -> anyhow::Result<()> {
    let config = Config {
        resume_grace: 2.0,
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, render_core::Scene::cornell_box()).await?;
    let base = server.url("");
    let mut viewer = Viewer::connect_with(&base, ViewerOptions::through(Link::ideal())).await?;
    let hello = viewer.next_message("hello", WAIT).await?;
    let id = hello["session"].as_str().unwrap().to_owned();
    let token = hello["resume_token"].as_str().unwrap().to_owned();
    viewer.next_frame(WAIT).await?;
    viewer.cut();
    until_state(&server, &id, "pending").await?;
    let closed_after = until_state(&server, &id, "closed").await?;
    assert!(
        closed_after >= Duration::from_millis(1500),
        "closed {closed_after:?} after turning pending; the grace period is 2 s"
    );
    assert_eq!(server.metric("streamtracer_sessions").await?, 0.0);
    let e = Viewer::connect_with(&base, ViewerOptions::resuming(token))
        .await
        .err()
        .expect("an expired session was resumed");
    assert!(e.to_string().contains("404"), "{e}");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_list_is_for_controllers() -> anyhow::Result<()> {
    let config = Config {
        viewer_tokens: vec!["list-viewer-token-0a9d".into()],
        controller_tokens: vec!["list-controller-token-77".into()],
        ..TestServer::small_config()
    };
    let server = TestServer::start(config, render_core::Scene::cornell_box()).await?;
    let get = |token: Option<&'static str>| {
        let url = server.url("/api/sessions");
        async move {
            let mut r = reqwest::Client::new().get(url);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            Ok::<_, anyhow::Error>(r.send().await?.status().as_u16())
        }
    };
    assert_eq!(get(None).await?, 401);
    assert_eq!(get(Some("list-viewer-token-0a9d")).await?, 403);
    assert_eq!(get(Some("list-controller-token-77")).await?, 200);
    server.stop().await
}
