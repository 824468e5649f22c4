//! Bad offers against the real server: each gets a clear 4xx and creates nothing.

use streamtracer_tests::client::Viewer;
use streamtracer_tests::TestServer;

async fn post(
    server: &TestServer,
    content_type: Option<&str>,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let mut req = reqwest::Client::new()
        .post(server.url("/whep"))
        .body(body.to_owned());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let res = req.send().await?;
    Ok((res.status().as_u16(), res.text().await?))
}

async fn sessions(server: &TestServer) -> anyhow::Result<u64> {
    Ok(server.metric("streamtracer_sessions").await? as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_offers_get_clear_errors_and_create_no_session() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let cases: &[(Option<&str>, &str, u16, &str)] = &[
        (Some("application/json"), "{\"sdp\":\"v=0\"}", 415, "application/sdp"),
        (None, "v=0\r\n", 415, "Content-Type"),
        (Some("application/sdp"), "", 400, "empty"),
        (Some("application/sdp"), "hello, server", 400, "v=0"),
        // Starts like SDP but is not a usable session description.
        (Some("application/sdp"), "v=0\r\nthis is not sdp\r\n", 400, "offer"),
        // A well-formed offer with no video to receive.
        (
            Some("application/sdp"),
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=recvonly\r\n",
            400,
            "video",
        ),
    ];
    for (ct, body, status, needle) in cases {
        let (got, text) = post(&server, *ct, body).await?;
        assert_eq!(got, *status, "{ct:?} {body:?}: {text}");
        assert!(
            text.contains(needle),
            "{ct:?} {body:?}: message {text:?} should mention {needle:?}"
        );
    }
    assert_eq!(
        sessions(&server).await?,
        0,
        "a rejected offer must not leave a session behind"
    );

    // The server still serves a good viewer afterwards.
    let mut viewer = Viewer::connect(&server.url("")).await?;
    viewer
        .next_frame(std::time::Duration::from_secs(20))
        .await?;
    assert_eq!(sessions(&server).await?, 1);
    viewer.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_unknown_session_is_404() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let res = reqwest::Client::new()
        .delete(server.url("/whep/nosuchsession"))
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 404);
    assert!(res.text().await?.contains("nosuchsession"));
    server.stop().await
}

/// A browser-shaped offer whose only video codec is VP8: nothing the server can send.
const VP8_ONLY_OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=msid-semantic: WMS\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:abcd\r\n\
a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=recvonly\r\n\
a=rtcp-mux\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtcp-fb:96 nack pli\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_without_h264_is_rejected_naming_the_codec() -> anyhow::Result<()> {
    let server = TestServer::small(render_core::Scene::cornell_box()).await?;
    let (status, text) = post(&server, Some("application/sdp"), VP8_ONLY_OFFER).await?;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("H.264"), "{text}");
    assert_eq!(sessions(&server).await?, 0);
    server.stop().await
}
