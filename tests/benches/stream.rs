//! End-to-end figures against the real `streamtracer` binary at its defaults
//! (1280x720, 30 fps): time from `POST /whep` to the first decoded frame, frames per
//! second each viewer actually receives, and the server's resident memory with one
//! viewer and per further viewer.
//!
//! Run with `scripts/bench.sh` (it builds the binary first), or
//! `cargo build --release -p streamtracer && cargo bench -p streamtracer-tests --bench stream`.

use std::time::{Duration, Instant};
use streamtracer_tests::client::{received_fps, Viewer, ViewerOptions};
use streamtracer_tests::metric_value;
use streamtracer_tests::process::ServerProcess;

const VIEWERS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let server = ServerProcess::start(&[]).await?;
    // Let the renderer get past its first previews, as a user arriving later would.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut first_frame = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut viewer = Viewer::connect_with(
            &server.base,
            ViewerOptions {
                control: true,
                decode: true,
                ..Default::default()
            },
        )
        .await?;
        viewer.next_frame(Duration::from_secs(20)).await?;
        first_frame.push(start.elapsed().as_secs_f64());
        viewer.close().await?;
    }

    let idle = server.resident_kib()?;
    let light = ViewerOptions {
        control: true,
        decode: false,
        ..Default::default()
    };
    let mut viewers = vec![Viewer::connect_with(&server.base, light.clone()).await?];
    tokio::time::sleep(Duration::from_secs(3)).await;
    let one = server.resident_kib()?;
    let fps_one = received_fps(&viewers, Duration::from_secs(5)).await;
    for _ in 1..VIEWERS {
        viewers.push(Viewer::connect_with(&server.base, light.clone()).await?);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let many = server.resident_kib()?;
    let fps_many = received_fps(&viewers, Duration::from_secs(5)).await;
    for v in viewers {
        v.close().await?;
    }

    let metrics = server.metrics().await?;
    let metric = |name: &str| metric_value(&metrics, name).unwrap_or(f64::NAN);
    let encode_ms = metric("streamtracer_encode_seconds_total")
        / metric("streamtracer_frames_encoded_total")
        * 1e3;
    let convert_ms = metric("streamtracer_convert_seconds_total")
        / metric("streamtracer_render_passes_total")
        * 1e3;
    let samples_per_sec =
        metric("streamtracer_render_samples_total") / metric("streamtracer_render_seconds_total");

    println!("streamtracer end to end, 1280x720 at 30 fps, loopback (medians)");
    println!(
        "  POST /whep to first decoded frame: {:7.1} ms (median of 5)",
        median(first_frame) * 1e3
    );
    println!(
        "  frames per second received, 1 viewer:  {:5.1}",
        median(fps_one)
    );
    println!(
        "  frames per second received, {VIEWERS} viewers: {:5.1} (min {:.1})",
        median(fps_many.clone()),
        fps_many.iter().copied().fold(f64::INFINITY, f64::min)
    );
    println!(
        "  server encode time per frame:     {:7.2} ms (OpenH264 only, while streaming)",
        encode_ms
    );
    println!(
        "  server film to I420 per pass:     {:7.2} ms (mean, all pass sizes, while streaming)",
        convert_ms
    );
    println!(
        "  server render samples per second: {:7.2} M (while streaming)",
        samples_per_sec / 1e6
    );
    println!(
        "  server resident memory, no viewer:   {:7.1} MiB",
        idle as f64 / 1024.0
    );
    println!(
        "  server resident memory, 1 viewer:    {:7.1} MiB",
        one as f64 / 1024.0
    );
    println!(
        "  per further viewer ({} more):        {:7.2} MiB",
        VIEWERS - 1,
        (many as f64 - one as f64) / (VIEWERS - 1) as f64 / 1024.0
    );
    Ok(())
}
