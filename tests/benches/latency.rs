//! Server-side latency and pacing of a view at 1280x720, 30 fps, measured in process:
//! the time from a camera edit to the first encoded frame that shows it leaving the
//! encoder (p50, p95), and the interval between encoded frames over ten seconds of
//! streaming (p50, p99). Then the same edit latency when edits come at irregular
//! intervals of 0.45 to 1.25 s, long enough for a denoise to be under way when many of
//! them arrive (the render waits for a denoise, which the edit cancels), with
//! denoising on and off in the same run. Run with
//! `cargo bench -p streamtracer-tests --bench latency`.

use render_core::Scene;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use streamtracer::view::View;
use streamtracer::Config;

/// The next encoded frame; frames the bench was too slow to take (while it slept
/// between edits) are skipped, not an error.
async fn next(
    frames: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<streamtracer::view::EncodedFrame>>,
) -> anyhow::Result<std::sync::Arc<streamtracer::view::EncodedFrame>> {
    loop {
        match frames.recv().await {
            Ok(f) => return Ok(f),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Camera edits, `count` small orbit steps with `pause(i)` after the i-th; for each,
/// the time until the first frame whose revision includes it leaves the encoder.
async fn edits(
    view: &View,
    scene: &Scene,
    count: u32,
    pause: impl Fn(u32) -> Duration,
) -> anyhow::Result<Vec<f64>> {
    let mut frames = view.subscribe();
    let mut latency = Vec::new();
    let base = scene.camera;
    let (_, first) = view.camera();
    for i in 0..count {
        let angle = 0.02 * (i + 1) as f32;
        let eye = glam::Quat::from_rotation_y(angle) * (base.eye - base.target) + base.target;
        let edited = Instant::now();
        let revision = streamtracer::protocol::Revision(first.0 + i as u64 + 1);
        drop(view.set_camera(render_core::Camera { eye, ..base }, revision));
        loop {
            let f = next(&mut frames).await?;
            if f.revision >= revision {
                latency.push((f.produced - edited).as_secs_f64() * 1e3);
                break;
            }
        }
        tokio::time::sleep(pause(i)).await;
    }
    Ok(latency)
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let scene = Scene::cornell_box();
    // The server's defaults at 720p, with a frame on every tick (no keep-alive
    // pacing: the pacing figure is of a picture that keeps refining).
    let settings = Config {
        width: 1280,
        height: 720,
        idle_interval: 0.0,
        ..Config::default()
    }
    .view_settings();
    let view = View::start(&scene, settings)?;
    let mut frames = view.subscribe();
    // Warm up: the first frames, and the renderer's preview-rate estimate.
    let warm = Instant::now() + Duration::from_secs(2);
    while Instant::now() < warm {
        next(&mut frames).await?;
    }

    // Edits: a small orbit step every 250 ms.
    let latency = edits(&view, &scene, 40, |_| Duration::from_millis(250)).await?;

    // Pacing: intervals between frames while the picture refines.
    let mut intervals = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    let mut last = next(&mut frames).await?.produced;
    while Instant::now() < end {
        let f = next(&mut frames).await?;
        intervals.push((f.produced - last).as_secs_f64() * 1e3);
        last = f.produced;
    }
    view.stop();

    // Edits at irregular intervals, so that many arrive while a denoise is under way;
    // the same schedule without denoising, for comparison.
    let mut irregular = Vec::new();
    for denoise in [false, true] {
        let view = View::start(
            &scene,
            streamtracer::view::ViewSettings {
                denoise,
                ..settings
            },
        )?;
        let mut frames = view.subscribe();
        let warm = Instant::now() + Duration::from_secs(2);
        while Instant::now() < warm {
            next(&mut frames).await?;
        }
        let denoised = view.stats().pictures_denoised.load(Ordering::Relaxed);
        let latency = edits(&view, &scene, 30, |i| {
            Duration::from_millis(450 + 200 * ((i * 3) % 5) as u64)
        })
        .await?;
        let denoised = view.stats().pictures_denoised.load(Ordering::Relaxed) - denoised;
        view.stop();
        irregular.push((denoise, latency, denoised));
    }

    println!("view, 1280x720 at 30 fps, built-in scene, in process (2 threads)");
    println!(
        "  edit to first encoded frame:   p50 {:6.1} ms, p95 {:6.1} ms ({} edits)",
        percentile(latency.clone(), 0.5),
        percentile(latency.clone(), 0.95),
        latency.len()
    );
    println!(
        "  frame interval over 10 s:      p50 {:6.1} ms, p99 {:6.1} ms ({} frames; 33.3 ms is on time)",
        percentile(intervals.clone(), 0.5),
        percentile(intervals.clone(), 0.99),
        intervals.len() + 1
    );
    for (denoise, latency, denoised) in irregular {
        println!(
            "  edits 0.45-1.25 s apart, denoising {:>3}: p50 {:6.1} ms, p95 {:6.1} ms ({} edits, {denoised} denoised pictures)",
            if denoise { "on" } else { "off" },
            percentile(latency.clone(), 0.5),
            percentile(latency.clone(), 0.95),
            latency.len()
        );
    }
    Ok(())
}
