//! Streaming through the link emulator: every packet between the viewer and the server
//! crosses a userspace relay that can lose, rate-limit and delay them.

use std::time::{Duration, Instant};
use streamtracer_tests::client::{Viewer, ViewerOptions};
use streamtracer_tests::link::{Direction, Link};
use streamtracer_tests::TestServer;

const WAIT: Duration = Duration::from_secs(20);

async fn connect(server: &TestServer, link: Link) -> anyhow::Result<Viewer> {
    Viewer::connect_with(
        &server.url(""),
        ViewerOptions {
            link: Some(link),
            ..Default::default()
        },
    )
    .await
}

/// Decoded frames during `period`, and the longest wait for one.
async fn watch(viewer: &mut Viewer, period: Duration) -> anyhow::Result<(u32, Duration)> {
    let start = Instant::now();
    let (mut frames, mut last, mut longest) = (0, start, Duration::ZERO);
    while start.elapsed() < period {
        let frame = viewer.next_frame(WAIT).await?;
        longest = longest.max(frame.received.duration_since(last));
        last = frame.received;
        frames += 1;
    }
    Ok((frames, longest))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_streams_through_an_unimpaired_relay() -> anyhow::Result<()> {
    let server = TestServer::start(
        TestServer::small_config(),
        render_core::Scene::cornell_box(),
    )
    .await?;
    let mut viewer = connect(&server, Link::ideal()).await?;
    // The data channel crosses the relay too.
    viewer.next_message("hello", WAIT).await?;
    let first = viewer.next_frame(WAIT).await?;
    assert!(first.keyframe, "the first decoded frame must be a keyframe");
    assert_eq!(first.picture.width, server.config.width as usize);
    for _ in 1..20 {
        viewer.next_frame(WAIT).await?;
    }

    let relay = viewer.relay().expect("a relay");
    assert_eq!(relay.server_addr().map(|a| a.ip()), Some(server.addr.ip()));
    let stats = relay.stats();
    // Video one way; ICE, DTLS, SCTP and RTCP both ways.
    assert!(stats.down.forwarded_packets >= 20, "{stats:?}");
    assert!(stats.up.forwarded_packets >= 5, "{stats:?}");
    assert_eq!(stats.down.lost_packets + stats.down.overflow_packets, 0);
    assert_eq!(stats.up.lost_packets + stats.up.overflow_packets, 0);
    assert_eq!(
        stats.down.unroutable_packets + stats.up.unroutable_packets,
        0
    );
    assert!(relay.delivered_bitrate(Direction::Down, Duration::from_secs(1)) > 0.0);
    let received = viewer.receive_stats();
    assert!(received.access_units_complete >= 20, "{received:?}");
    assert_eq!(received.packets_lost, 0, "{received:?}");
    assert_eq!(received.plis_sent, 0, "{received:?}");

    viewer.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_keeps_flowing_with_five_percent_downstream_loss() -> anyhow::Result<()> {
    let server = TestServer::start(
        TestServer::small_config(),
        render_core::Scene::cornell_box(),
    )
    .await?;
    let mut viewer = connect(&server, Link::lossy_downstream(0.05, 7)).await?;
    viewer.next_frame(WAIT).await?;

    let (frames, longest) = watch(&mut viewer, Duration::from_secs(5)).await?;
    let relay = viewer.link_stats().expect("a relay");
    let received = viewer.receive_stats();
    eprintln!("{frames} frames, longest wait {longest:?}\n{relay:?}\n{received:?}");

    assert!(
        relay.down.lost_packets > 0,
        "the link lost nothing: {relay:?}"
    );
    assert!(frames >= 60, "only {frames} frames in 5 s");
    assert!(
        received.packets_recovered + received.plis_sent > 0,
        "losses were neither repaired nor reported: {received:?}"
    );

    viewer.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retransmissions_losses_are_repaired_by_keyframes() -> anyhow::Result<()> {
    let server = TestServer::start(
        TestServer::small_config(),
        render_core::Scene::cornell_box(),
    )
    .await?;
    // Holes are given up on at once, before any NACK can be answered, so every loss
    // of a video packet costs the picture until a keyframe asked for with a PLI.
    let mut viewer = Viewer::connect_with(
        &server.url(""),
        ViewerOptions {
            link: Some(Link::lossy_downstream(0.03, 11)),
            reorder_patience: Some(Duration::ZERO),
            ..Default::default()
        },
    )
    .await?;
    viewer.next_frame(WAIT).await?;
    let start = Instant::now();
    let (mut frames, mut keyframes) = (0, 0);
    while start.elapsed() < Duration::from_secs(5) {
        let frame = viewer.next_frame(WAIT).await?;
        frames += 1;
        keyframes += frame.keyframe as u32;
    }
    let received = viewer.receive_stats();
    eprintln!("{frames} frames, {keyframes} keyframes\n{received:?}");
    assert!(
        received.packets_lost > 0 && received.plis_sent > 0,
        "{received:?}"
    );
    assert!(received.access_units_dropped > 0, "{received:?}");
    // Keyframes are large and often lose a packet themselves, so this runs well
    // below the frame rate; it must not stop.
    assert!(keyframes > 0, "no keyframe came after a PLI");
    assert!(frames >= 10, "only {frames} frames in 5 s");

    viewer.close().await?;
    server.stop().await
}
