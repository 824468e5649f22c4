//! Snapshot storm: does a burst of `GET /api/snapshot.png` slow the video of a viewer
//! watching the same view? A server in this process streams its main view at
//! 1280x720, 30 fps, to a real WebRTC viewer that decodes every frame. The viewer's
//! decoded frames per second are measured for a few seconds alone, then while rounds
//! of 50 concurrent snapshot requests follow one another; printed: the median of the
//! per-second frame rates in each phase, the snapshot latency (p50, p95), the answers
//! (200 or 503) and the PNG encodes the server did (`/metrics`).
//!
//! The server, the viewer and the requests share the two worker threads and the
//! machine's cores, so the figures are of the server and its load together.
//!
//! `cargo bench -p streamtracer-tests --bench snapshots`

use std::time::{Duration, Instant};
use streamtracer::Config;
use streamtracer_tests::client::{Viewer, ViewerOptions};
use streamtracer_tests::TestServer;

const WAIT: Duration = Duration::from_secs(30);
const PHASE: Duration = Duration::from_secs(6);
const CONCURRENT: usize = 50;
const ENCODES: &str = "streamtracer_snapshot_encodes_total";

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// The decoded frames the viewer received during each whole second of `[start, end)`.
fn per_second(received: &[Instant], start: Instant, end: Instant) -> Vec<f64> {
    let seconds = (end - start).as_secs() as usize;
    let mut counts = vec![0.0; seconds];
    for t in received {
        if *t >= start {
            let i = (*t - start).as_secs() as usize;
            if i < seconds {
                counts[i] += 1.0;
            }
        }
    }
    counts
}

/// Takes every frame the viewer has decoded so far, checking its size.
fn drain(viewer: &mut Viewer, into: &mut Vec<Instant>) -> anyhow::Result<()> {
    while let Ok(frame) = viewer.frames.try_recv() {
        anyhow::ensure!(
            (frame.picture.width, frame.picture.height) == (1280, 720),
            "a {}x{} frame",
            frame.picture.width,
            frame.picture.height
        );
        into.push(frame.received);
    }
    Ok(())
}

/// Waits `phase` while collecting the viewer's frames.
async fn watch(
    viewer: &mut Viewer,
    phase: Duration,
    into: &mut Vec<Instant>,
) -> anyhow::Result<()> {
    let end = Instant::now() + phase;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
        drain(viewer, into)?;
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let config = Config {
        listen: "127.0.0.1:0".parse()?,
        webrtc_ip: Some([127, 0, 0, 1].into()),
        width: 1280,
        height: 720,
        // A frame on every tick, so that the frame rate measures the stream, not the
        // keep-alive pacing of a still picture.
        idle_interval: 0.0,
        ..Config::default()
    };
    let server = TestServer::start(config, render_core::Scene::cornell_box()).await?;
    let base = server.url("");
    let mut viewer = Viewer::connect_with(
        &base,
        ViewerOptions {
            control: false,
            ..ViewerOptions::default()
        },
    )
    .await?;
    viewer.next_frame(WAIT).await?;
    // The first keyframe's burst and the bitrate ramp settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut received = Vec::new();
    drain(&mut viewer, &mut received)?;
    received.clear();

    let before_start = Instant::now();
    watch(&mut viewer, PHASE, &mut received).await?;
    let before = per_second(&received, before_start, Instant::now());

    let encodes_before = server.metric(ENCODES).await.ok();
    let client = reqwest::Client::new();
    let url = server.url("/api/snapshot.png");
    let during_start = Instant::now();
    let storm_end = during_start + PHASE;
    let mut latencies = Vec::new();
    let (mut ok, mut busy, mut other, mut rounds) = (0, 0, 0, 0);
    let mut storm = tokio::spawn(async move {
        let mut results = Vec::new();
        while Instant::now() < storm_end {
            let round = (0..CONCURRENT).map(|_| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    let start = Instant::now();
                    let response = client.get(url).send().await?;
                    let status = response.status().as_u16();
                    let bytes = response.bytes().await?;
                    anyhow::Ok((status, bytes.len(), start.elapsed()))
                })
            });
            let round: Vec<_> = round.collect();
            for task in round {
                results.push(task.await?);
            }
        }
        anyhow::Ok(results)
    });
    // Frames keep coming while the storm runs.
    let results = loop {
        tokio::select! {
            done = &mut storm => break done??,
            _ = tokio::time::sleep(Duration::from_millis(50)) => drain(&mut viewer, &mut received)?,
        }
    };
    let during_end = Instant::now();
    drain(&mut viewer, &mut received)?;
    let during = per_second(&received, during_start, during_end);
    for r in results {
        match r {
            Ok((200, len, t)) if len > 0 => {
                ok += 1;
                latencies.push(t.as_secs_f64() * 1e3);
            }
            Ok((503, _, _)) => busy += 1,
            _ => other += 1,
        }
    }
    rounds += (ok + busy + other) / CONCURRENT;
    let encodes = match (encodes_before, server.metric(ENCODES).await.ok()) {
        (Some(a), Some(b)) => format!("{:.0}", b - a),
        _ => format!("not counted by this server (one per answered request: {ok})"),
    };

    println!(
        "snapshot storm: 1280x720 view at {} fps, one decoding WebRTC viewer, in process (2 threads)",
        server.config.fps
    );
    println!("  phase                          | decoded fps: median  min");
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "  viewer alone ({:2} s)            | {:19.1} {:4.0}",
        before.len(),
        percentile(before.clone(), 0.5),
        min(&before)
    );
    println!(
        "  {CONCURRENT} concurrent snapshots ({:2} s) | {:19.1} {:4.0}",
        during.len(),
        percentile(during.clone(), 0.5),
        min(&during)
    );
    println!(
        "  snapshots: {rounds} rounds of {CONCURRENT}; {ok} answered 200, {busy} 503, {other} other"
    );
    println!(
        "  snapshot latency (200s): p50 {:7.1} ms, p95 {:7.1} ms",
        percentile(latencies.clone(), 0.5),
        percentile(latencies, 0.95)
    );
    println!("  PNG encodes by the server during the storm: {encodes}");
    viewer.close().await?;
    server.stop().await
}
