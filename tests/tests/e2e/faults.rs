//! Network faults against the real binary: viewers behind loss, delay and a bandwidth
//! limit, a viewer through repeated loss bursts, and viewers that vanish without
//! closing. The healthy viewers keep their frame rate, every impaired viewer keeps
//! receiving, the burst viewer recovers (the time is reported), and what the vanished
//! sessions held (sessions, sockets, threads) is freed after `--resume-grace`.
//!
//! The kernel here has no `sch_netem` (`tc qdisc ... netem` is refused), so the
//! impairments come from the userspace relay of `streamtracer_tests::link`, which both
//! SDPs are rewritten to: every packet of an impaired viewer crosses it.

use std::time::{Duration, Instant};
use streamtracer_tests::client::{received_fps, Viewer, ViewerOptions};
use streamtracer_tests::link::{Link, LinkConditions};
use streamtracer_tests::process::ServerProcess;
use streamtracer_tests::soak::fds_and_threads;

const WAIT: Duration = Duration::from_secs(30);
const WINDOW: Duration = Duration::from_secs(4);

fn counting(link: Option<Link>) -> ViewerOptions {
    ViewerOptions {
        control: false,
        decode: false,
        link,
        ..ViewerOptions::default()
    }
}

async fn sessions(server: &ServerProcess) -> anyhow::Result<(f64, f64)> {
    let m = server.metrics().await?;
    let read = |name: &str| streamtracer_tests::metric_value(&m, name).unwrap_or(f64::NAN);
    Ok((
        read("streamtracer_sessions"),
        read("streamtracer_sessions_by_state{state=\"pending\"}"),
    ))
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impaired_and_vanishing_viewers_do_not_slow_the_others_and_are_freed() -> anyhow::Result<()>
{
    let server = ServerProcess::start(&[
        "--width",
        "320",
        "--height",
        "240",
        "--fps",
        "30",
        // A frame on every tick, however still the picture: the frame rate measured
        // is then the server's pace, not how often the picture changes (with
        // denoising it changes seldom once a denoised picture is up, and the stream
        // falls to keep-alive frames, which once failed this test on a still picture).
        "--idle-interval",
        "0",
        "--resume-grace",
        "2",
    ])
    .await?;
    let pid = server.pid();

    // Three healthy viewers, directly on loopback.
    let mut healthy = Vec::new();
    for _ in 0..3 {
        healthy.push(Viewer::connect_with(&server.base, counting(None)).await?);
    }
    // Impaired: 5% loss downstream, 100 ms each way, 2 Mbit/s with a 200 ms queue.
    let impaired_links = [
        ("5% loss", Link::lossy_downstream(0.05, 7)),
        (
            "100 ms delay",
            Link::symmetric(LinkConditions::ideal().with_delay(Duration::from_millis(100))),
        ),
        ("2 Mbit/s", Link::limited(2_000_000, 0.0, 3)),
    ];
    let mut impaired = Vec::new();
    for (_, link) in &impaired_links {
        impaired.push(Viewer::connect_with(&server.base, counting(Some(*link))).await?);
    }
    // Loss bursts: a decoding viewer behind an unimpaired relay that blacks out.
    let mut burst = Viewer::connect_with(
        &server.base,
        ViewerOptions {
            control: false,
            ..ViewerOptions::through(Link::ideal())
        },
    )
    .await?;
    burst.next_frame(WAIT).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let before = received_fps(&healthy, WINDOW).await;
    let (fds_before, threads_before) = fds_and_threads(pid);
    println!(
        "before the faults: healthy viewers {before:.1?} fps; server {fds_before} fds, {threads_before} threads"
    );
    assert!(
        min(&before) > 0.0,
        "a healthy viewer got nothing: {before:?}"
    );

    // Two viewers that will vanish: joined, streaming, then cut off without a word.
    let mut vanishing = Vec::new();
    for _ in 0..2 {
        let mut v = Viewer::connect_with(
            &server.base,
            ViewerOptions {
                control: false,
                ..ViewerOptions::through(Link::ideal())
            },
        )
        .await?;
        v.next_frame(WAIT).await?;
        vanishing.push(v);
    }
    let (fds_joined, threads_joined) = fds_and_threads(pid);
    let (count, _) = sessions(&server).await?;
    assert_eq!(count, 9.0);
    for v in &mut vanishing {
        assert!(v.cut());
    }
    let cut_at = Instant::now();
    let units_at_cut: Vec<u64> = healthy.iter().map(Viewer::access_units).collect();

    // The vanished sessions are held (their connections dead, the server not yet
    // told), turn pending, then are closed after the grace period. The healthy
    // viewers are counted over that whole span, from the cut until the sessions are
    // freed: a server held up by the dead sessions would show it here.
    let mut held_seen = false;
    let freed_after = loop {
        let (count, pending) = sessions(&server).await?;
        if count == 7.0 && pending == 0.0 {
            break cut_at.elapsed();
        }
        held_seen |= count > 7.0;
        anyhow::ensure!(
            cut_at.elapsed() < Duration::from_secs(60),
            "the vanished sessions were not freed: {count} sessions, {pending} pending"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let held: Vec<f64> = healthy
        .iter()
        .zip(&units_at_cut)
        .map(|(v, at_cut)| (v.access_units() - at_cut) as f64 / freed_after.as_secs_f64())
        .collect();
    let before_mean = before.iter().sum::<f64>() / before.len() as f64;
    println!(
        "while the vanished sessions were held ({:.1} s, cut to freed): healthy viewers {held:.1?} fps, {:.0}% of the {before_mean:.1} fps before",
        freed_after.as_secs_f64(),
        100.0 * min(&held) / before_mean
    );
    assert!(
        held_seen,
        "the vanished sessions were gone at the first look: nothing was measured while they were held"
    );
    // Relative to the same viewers before, on the same machine (see below).
    assert!(
        min(&held) >= 0.7 * before_mean,
        "healthy viewers slowed down while the vanished sessions were held: {before:?} fps before, {held:?} while held"
    );
    // Their sockets and tasks go with them (give the runtime a moment to reap).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (fds_after, threads_after) = fds_and_threads(pid);
    println!(
        "vanished viewers: 9 -> 7 sessions {:.1} s after they vanished (grace 2 s); server fds {fds_before} -> {fds_joined} with them -> {fds_after} after; threads {threads_before} -> {threads_joined} -> {threads_after}",
        freed_after.as_secs_f64()
    );
    assert!(
        fds_joined > fds_before,
        "the vanishing viewers held no sockets?"
    );
    assert!(
        fds_after <= fds_before,
        "file descriptors not freed: {fds_before} before, {fds_after} after"
    );
    assert!(
        threads_after <= threads_joined.max(threads_before),
        "threads grew: {threads_before} before, {threads_after} after"
    );

    // Loss bursts.
    let mut recoveries = Vec::new();
    // Bursts shorter than the server's grace for a lost connection: a longer outage
    // ends the connection, and the client resumes its session (tests/e2e/resume.rs).
    for burst_ms in [300u64, 600, 1000] {
        burst.relay().expect("a relay").set_blackout(true);
        tokio::time::sleep(Duration::from_millis(burst_ms)).await;
        while burst.frames.try_recv().is_ok() {}
        burst.relay().expect("a relay").set_blackout(false);
        let ended = Instant::now();
        let frame = burst.next_frame(WAIT).await?;
        let recovery = frame.received.saturating_duration_since(ended);
        println!(
            "loss burst of {burst_ms} ms: first decoded frame {:.0} ms after it ended",
            recovery.as_secs_f64() * 1e3
        );
        recoveries.push(recovery);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // With every fault in place (or just past), the healthy viewers keep their rate
    // and every impaired one keeps receiving.
    let mut all = healthy;
    all.extend(impaired);
    let during = received_fps(&all, WINDOW).await;
    println!("with the faults: healthy viewers {:.1?} fps", &during[..3]);
    for ((name, _), fps) in impaired_links.iter().zip(&during[3..]) {
        println!("  viewer behind {name}: {fps:.1} fps");
    }
    for (i, fps) in during.iter().enumerate() {
        assert!(*fps > 0.0, "viewer {i} stopped receiving: {during:?}");
    }
    // Measured against the same viewers before, on the same machine: a relative bound
    // that a busy machine does not break, but a server held up by a vanished or slow
    // viewer would.
    assert!(
        min(&during[..3]) >= 0.7 * before_mean,
        "healthy viewers slowed down: {before:?} fps before, {:?} with the faults",
        &during[..3]
    );
    for v in all {
        v.close().await?;
    }
    burst.close().await?;
    Ok(())
}

// Connections nobody bounded (issue 16, item 6): half-sent requests kept forever, no
// cap on connections, WebSockets neither counted nor bounded. In-process servers
// with short, test-set timeouts and small caps.

mod connections {
    use super::WAIT;
    use std::time::{Duration, Instant};
    use streamtracer::Config;
    use streamtracer_tests::client::Viewer;
    use streamtracer_tests::ws::{refused_status, ControlSocket};
    use streamtracer_tests::{edit_scene, TestServer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const TOKEN_A: &str = "viewer-token-a-5d1c9e";
    const TOKEN_B: &str = "viewer-token-b-7f20aa";
    const CONTROLLER: &str = "controller-token-3e8b41";

    /// Whether the server closed `stream` (end of stream or reset) within `limit`,
    /// whatever it sent before.
    async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Reads an HTTP answer's head (and whatever body came with it).
    async fn read_answer(stream: &mut TcpStream) -> anyhow::Result<String> {
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + WAIT;
        while !String::from_utf8_lossy(&text).contains("\r\n\r\n") {
            let n = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await??;
            anyhow::ensure!(
                n > 0,
                "closed without an answer: {:?}",
                String::from_utf8_lossy(&text)
            );
            text.extend_from_slice(&buf[..n]);
        }
        // The rest of a short body, if it comes at once.
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await
        {
            text.extend_from_slice(&buf[..n]);
        }
        Ok(String::from_utf8_lossy(&text).into_owned())
    }

    /// A connection that has sent one whole request (with `token`) and read its answer.
    async fn with_request(
        base: std::net::SocketAddr,
        token: Option<&str>,
    ) -> anyhow::Result<(TcpStream, String)> {
        let mut s = TcpStream::connect(base).await?;
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        s.write_all(format!("GET /api/stats HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes())
            .await?;
        let answer = read_answer(&mut s).await?;
        Ok((s, answer))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_half_request_flood_is_cut_off_by_the_header_timeout_while_healthz_and_a_viewer_keep_working(
    ) -> anyhow::Result<()> {
        const FLOOD: usize = 300;
        let config = Config {
            header_timeout: 1.0,
            max_connections: 1000,
            max_connections_per_client: 1000,
            ..TestServer::small_config()
        };
        let server = TestServer::start(config, edit_scene()).await?;
        let mut viewer = Viewer::connect(&server.url("")).await?;
        viewer.next_frame(WAIT).await?;

        let started = Instant::now();
        let mut flood = Vec::new();
        for _ in 0..FLOOD {
            let mut s = TcpStream::connect(server.addr).await?;
            // A request line and one header, then nothing.
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await?;
            flood.push(s);
        }
        // Everyone else is served meanwhile.
        let health = reqwest::Client::builder().timeout(WAIT).build()?;
        assert_eq!(
            health.get(server.url("/healthz")).send().await?.status(),
            200
        );
        viewer.next_frame(WAIT).await?;

        // Every half request is cut off: within the 1 s timeout, give or take a
        // generous margin for a loaded machine, never left open.
        let mut open = 0;
        for s in &mut flood {
            if !closed_within(s, Duration::from_secs(20)).await {
                open += 1;
            }
        }
        assert_eq!(
            open,
            0,
            "{open} of {FLOOD} half requests still open after {:?}",
            started.elapsed()
        );
        assert!(
            server
                .metric("streamtracer_connections_timed_out_total{reason=\"header\"}")
                .await?
                >= FLOOD as f64
        );
        assert_eq!(
            health.get(server.url("/healthz")).send().await?.status(),
            200
        );
        viewer.next_frame(WAIT).await?;
        viewer.close().await?;
        server.stop().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_keep_alive_connections_and_silent_websockets_are_closed_but_live_ones_stay(
    ) -> anyhow::Result<()> {
        let config = Config {
            idle_timeout: 1.0,
            // Far beyond the waits below: what closes the idle connection is the
            // idle timer, not the wait for a next request head.
            header_timeout: 100.0,
            ..TestServer::small_config()
        };
        let server = TestServer::start(config, edit_scene()).await?;
        // A keep-alive connection after its request: closed once idle.
        let (mut idle, answer) = with_request(server.addr, None).await?;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            closed_within(&mut idle, Duration::from_secs(20)).await,
            "an idle keep-alive connection stayed open"
        );

        // A WebSocket whose client never reads (so never answers a ping): closed.
        let url = format!("ws://{}/api/control", server.addr);
        let (silent, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
        // One that reads (and so answers pings) meanwhile stays past several idle
        // timeouts.
        let mut live = ControlSocket::connect(&server.url("")).await?;
        let mut silent = silent.into_inner();
        let stream = match &mut silent {
            tokio_tungstenite::MaybeTlsStream::Plain(s) => s,
            _ => anyhow::bail!("not a plain socket"),
        };
        let reading = tokio::spawn(async move {
            live.drain_for(Duration::from_secs(4)).await;
            live
        });
        let silent_closed = closed_within(stream, Duration::from_secs(20)).await;
        let mut live = reading.await?;
        assert!(silent_closed, "a silent WebSocket stayed open");
        let reply = live
            .request(serde_json::json!({"type": "get", "kind": "settings"}))
            .await?;
        assert_eq!(reply["type"], "entity", "{reply}");
        drop(live);
        assert!(
            server
                .metric("streamtracer_connections_timed_out_total{reason=\"idle\"}")
                .await?
                >= 1.0
        );
        server.stop().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_connection_cap_refuses_the_one_past_the_last_with_503_and_retry_after(
    ) -> anyhow::Result<()> {
        const MAX: usize = 20;
        let config = Config {
            max_connections: MAX as u32,
            max_connections_per_client: 1000,
            ..TestServer::small_config()
        };
        let server = TestServer::start(config, edit_scene()).await?;
        let mut held = Vec::new();
        for _ in 0..MAX {
            held.push(with_request(server.addr, None).await?.0);
        }
        let (mut past, answer) = with_request(server.addr, None).await?;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("retry-after: 5"),
            "{answer}"
        );
        assert!(answer.contains("at most 20 connections"), "{answer}");
        assert!(closed_within(&mut past, WAIT).await);
        // Once one closes, there is room again.
        drop(held.pop());
        let deadline = Instant::now() + WAIT;
        loop {
            let (_s, answer) = with_request(server.addr, None).await?;
            if answer.starts_with("HTTP/1.1 200") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no room after a connection closed: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The metrics are read once the held connections are gone (the server is
        // otherwise still full, and would refuse that request too).
        drop(held);
        let deadline = Instant::now() + WAIT;
        let refused = loop {
            match server
                .metric("streamtracer_connections_refused_total{limit=\"full\"}")
                .await
            {
                Ok(v) => break v,
                Err(e) => assert!(Instant::now() < deadline, "no /metrics: {e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(refused >= 1.0);
        server.stop().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_per_client_cap_refuses_an_address_or_a_token_past_its_share_with_429(
    ) -> anyhow::Result<()> {
        // Without tokens: per address (all of loopback here).
        let config = Config {
            max_connections_per_client: 5,
            ..TestServer::small_config()
        };
        let server = TestServer::start(config, edit_scene()).await?;
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(with_request(server.addr, None).await?.0);
        }
        let (_, answer) = with_request(server.addr, None).await?;
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("retry-after: 5"),
            "{answer}"
        );
        assert!(answer.contains("--max-connections-per-client"), "{answer}");
        drop(held);
        server.stop().await?;

        // With tokens: per token, once a request shows it.
        let config = Config {
            viewer_tokens: vec![TOKEN_A.into(), TOKEN_B.into()],
            controller_tokens: vec![CONTROLLER.into()],
            max_connections_per_client: 3,
            ..TestServer::small_config()
        };
        let server = TestServer::start(config, edit_scene()).await?;
        let mut held = Vec::new();
        for _ in 0..3 {
            let (s, answer) = with_request(server.addr, Some(TOKEN_A)).await?;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            held.push(s);
        }
        let (mut past, answer) = with_request(server.addr, Some(TOKEN_A)).await?;
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(
            answer.contains("too many connections from this client"),
            "{answer}"
        );
        assert!(closed_within(&mut past, WAIT).await);
        // Another token has its own share.
        let (_b, answer) = with_request(server.addr, Some(TOKEN_B)).await?;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            server
                .metric("streamtracer_connections_refused_total{limit=\"client\"}")
                .await?
                >= 1.0
        );
        drop(held);
        server.stop().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn websockets_are_listed_in_api_sessions_counted_in_metrics_and_capped_per_client(
    ) -> anyhow::Result<()> {
        let config = Config {
            controller_tokens: vec![CONTROLLER.into()],
            viewer_tokens: vec![TOKEN_A.into()],
            max_websockets_per_client: 2,
            ..TestServer::small_config()
        };
        let server = TestServer::start(config, edit_scene()).await?;
        let base = server.url("");
        let first = ControlSocket::connect_as(&base, Some(TOKEN_A), None).await?;
        let second = ControlSocket::connect_as(&base, Some(TOKEN_A), None).await?;
        let refused = ControlSocket::connect_as(&base, Some(TOKEN_A), None)
            .await
            .err()
            .expect("a third WebSocket of one token was let in");
        assert_eq!(refused_status(&refused), Some(429), "{refused:#}");
        // Another credential has its own share.
        let controller = ControlSocket::connect_as(&base, Some(CONTROLLER), None).await?;

        let sessions = reqwest::Client::new()
            .get(server.url("/api/sessions"))
            .bearer_auth(CONTROLLER)
            .send()
            .await?;
        assert_eq!(sessions.status(), 200);
        let sessions: serde_json::Value = serde_json::from_str(&sessions.text().await?)?;
        let listed: Vec<&str> = sessions["websockets"]
            .as_array()
            .map(|a| a.iter().filter_map(|w| w["session"].as_str()).collect())
            .unwrap_or_default();
        for socket in [&first, &second, &controller] {
            let id = socket.hello["session"].as_str().unwrap_or_default();
            assert!(listed.contains(&id), "{id} not in {sessions}");
        }
        assert_eq!(listed.len(), 3, "{sessions}");
        assert_eq!(server.metric("streamtracer_websockets").await?, 3.0);
        assert!(
            server
                .metric("streamtracer_connections_refused_total{limit=\"websockets\"}")
                .await?
                >= 1.0
        );

        // A closed one is no longer counted, and makes room.
        first.close().await?;
        let deadline = Instant::now() + WAIT;
        while server.metric("streamtracer_websockets").await? != 2.0 {
            assert!(
                Instant::now() < deadline,
                "a closed WebSocket is still counted"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let third = ControlSocket::connect_as(&base, Some(TOKEN_A), None).await?;
        for s in [second, third, controller] {
            s.close().await?;
        }
        server.stop().await
    }
}
