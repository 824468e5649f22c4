//! Fan-out: one 1280x720, 30 fps view of the real binary watched by 10, 25 and 50
//! WebRTC viewers on loopback. For each count: the frames per second every viewer
//! receives (median and minimum), the server's CPU use, and its resident memory per
//! viewer added; one viewer decodes what it receives, so the stream is checked to be
//! real video. Then the time from `POST /whep` to the first decoded frame of a new
//! viewer while 25 others watch. Last, two views with one viewer each: how their
//! render threads share the cores.
//!
//! The viewers run in this process on the same two cores as the server, so the
//! figures are those of the server and its load together.
//!
//! `cargo build --release -p streamtracer && cargo bench -p streamtracer-tests --bench fanout`

use std::time::{Duration, Instant};
use streamtracer_tests::client::{received_fps, Viewer, ViewerOptions};
use streamtracer_tests::process::ServerProcess;

const WAIT: Duration = Duration::from_secs(30);
const STAGES: [usize; 3] = [10, 25, 50];
const WINDOW: Duration = Duration::from_secs(10);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn counting() -> ViewerOptions {
    ViewerOptions {
        control: false,
        decode: false,
        ..ViewerOptions::default()
    }
}

/// The median time from `POST /whep` to the first decoded frame of `n` new viewers,
/// one after another, each closed after.
async fn first_frame_ms(base: &str, n: usize) -> anyhow::Result<f64> {
    let mut times = Vec::new();
    for _ in 0..n {
        let start = Instant::now();
        let mut viewer = Viewer::connect_with(
            base,
            ViewerOptions {
                control: false,
                ..ViewerOptions::default()
            },
        )
        .await?;
        viewer.next_frame(WAIT).await?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        viewer.close().await?;
    }
    Ok(median(times))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let server = ServerProcess::start(&["--max-sessions", "100"]).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // One decoding viewer first: the reference for memory per added viewer.
    let mut viewers = vec![Viewer::connect_with(&server.base, ViewerOptions::default()).await?];
    viewers[0].next_frame(WAIT).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let base_kib = server.resident_kib()?;
    println!("fan-out of one 1280x720 view at 30 fps, viewers on loopback in the same machine");
    println!(
        "  resident memory with 1 viewer: {:.1} MiB",
        base_kib as f64 / 1024.0
    );
    println!(
        "  viewers | fps per viewer: median   min | server CPU (cores) | MiB per added viewer"
    );
    let mut ttff = None;
    for &n in &STAGES {
        while viewers.len() < n {
            viewers.push(Viewer::connect_with(&server.base, counting()).await?);
        }
        // Every new viewer's keyframe request is served, then the stream settles.
        tokio::time::sleep(Duration::from_secs(4)).await;
        while viewers[0].frames.try_recv().is_ok() {}
        let (cpu0, t0) = (server.cpu_seconds()?, Instant::now());
        let fps = received_fps(&viewers, WINDOW).await;
        let cpu = (server.cpu_seconds()? - cpu0) / t0.elapsed().as_secs_f64();
        let kib = server.resident_kib()?;
        // The sample viewer decoded real pictures all along.
        let mut decoded = 0;
        while let Ok(frame) = viewers[0].frames.try_recv() {
            anyhow::ensure!(frame.picture.width == 1280 && frame.picture.height == 720);
            decoded += 1;
        }
        anyhow::ensure!(
            decoded > 0,
            "the sample viewer decoded nothing at {n} viewers"
        );
        println!(
            "  {n:7} | {:21.1} {:5.1} | {cpu:18.2} | {:.2}",
            median(fps.clone()),
            fps.iter().copied().fold(f64::INFINITY, f64::min),
            (kib as f64 - base_kib as f64) / (n - 1) as f64 / 1024.0
        );
        if n == 25 {
            ttff = Some(first_frame_ms(&server.base, 5).await?);
        }
    }
    if let Some(ms) = ttff {
        println!(
            "  POST /whep to first decoded frame with 25 others watching: {ms:.1} ms (median of 5)"
        );
    }
    for v in viewers {
        v.close().await?;
    }
    drop(server);
    two_views().await
}

/// Two views of the same camera and size, each with one viewer: how the render
/// threads share the cores (render passes and render time of each over 10 s).
async fn two_views() -> anyhow::Result<()> {
    // A sample limit out of reach, so both keep rendering for the whole window.
    let server = ServerProcess::start(&["--max-spp", "100000"]).await?;
    let main = Viewer::connect_with(&server.base, counting()).await?;
    let side = Viewer::connect_with(
        &server.base,
        ViewerOptions {
            view: Some("side".into()),
            ..counting()
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let read = |metrics: &str, name: &str, view: &str| {
        streamtracer_tests::metric_value(metrics, &format!("{name}{{view=\"{view}\"}}"))
            .unwrap_or(f64::NAN)
    };
    let before = server.metrics().await?;
    tokio::time::sleep(WINDOW).await;
    let after = server.metrics().await?;
    println!(
        "two views of one scene, 1280x720, one viewer each, over {} s",
        WINDOW.as_secs()
    );
    let mut passes = Vec::new();
    for view in ["main", "side"] {
        let delta = |name: &str| read(&after, name, view) - read(&before, name, view);
        let p = delta("streamtracer_view_render_passes_total");
        let s = delta("streamtracer_view_render_seconds_total");
        println!("  {view:5}: {p:4.0} passes, {s:5.2} s in passes");
        passes.push(p);
    }
    let total = passes[0] + passes[1];
    println!(
        "  share of passes, main : side = {:.2} : {:.2}",
        passes[0] / total,
        passes[1] / total
    );
    main.close().await?;
    side.close().await?;
    Ok(())
}
