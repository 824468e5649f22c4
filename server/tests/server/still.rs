//! The still-quality refresh, through the view's own render and encode threads: once
//! the render converges, frames keep coming at the tick rate and up to the maximum
//! bitrate until the picture is sharp, then only keep-alives follow. What a viewer
//! decodes at the end is compared with the picture the view rendered.

use encoder::{psnr, H264Decoder};
use std::time::{Duration, Instant};
use streamtracer::view::View;
use streamtracer::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converged_720p_picture_is_refreshed_beyond_38_db_then_goes_quiet() {
    // The server's defaults (30 fps, 4 Mbit/s live, 8 Mbit/s refresh, keep-alive
    // every second) at 720p, converging after few samples: early, and noisy, the
    // hard case for an encoder.
    let settings = Config {
        width: 1280,
        height: 720,
        max_spp: 8,
        ..Config::default()
    }
    .view_settings();
    let view = View::start(&render_core::Scene::cornell_box(), settings).unwrap();
    let mut frames = view.subscribe();
    let mut decoder = H264Decoder::new().unwrap();
    let start = Instant::now();
    // Frames and bytes after the render converged, and the last picture decoded.
    let mut after_convergence: Vec<(Instant, usize)> = Vec::new();
    let mut last = None;
    let mut converged_at = None;
    while start.elapsed() < Duration::from_secs(60) {
        let frame = tokio::time::timeout(Duration::from_secs(5), frames.recv())
            .await
            .expect("frames keep coming (keep-alives at least)")
            .expect("the view is running");
        last = Some(
            decoder
                .decode(&frame.data)
                .unwrap()
                .expect("a picture per frame"),
        );
        if converged_at.is_none() && view.latest_frame().is_some_and(|f| f.converged) {
            converged_at = Some(Instant::now());
        }
        if let Some(at) = converged_at {
            after_convergence.push((Instant::now(), frame.data.len()));
            // The refresh lasts at most 45 frames; two keep-alive intervals after it
            // tell whether it went quiet.
            if at.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
    }
    let converged_at = converged_at.expect("the render converged");
    let rendered = view.latest_frame().unwrap();
    assert!(rendered.converged);
    let source = rendered.i420.to_rgb();
    let decoded = last.unwrap();
    let quality = psnr(&source, &decoded.rgb);
    let refresh: Vec<usize> = after_convergence
        .iter()
        .filter(|(at, _)| at.duration_since(converged_at) < Duration::from_secs(2))
        .map(|(_, n)| *n)
        .collect();
    let quiet = after_convergence
        .iter()
        .filter(|(at, _)| at.duration_since(converged_at) >= Duration::from_secs(3))
        .count();
    eprintln!(
        "refresh: {} frames, {} kB in the 2 s after convergence; {quiet} frames in the next 2 s; final picture {quality:.1} dB",
        refresh.len(),
        refresh.iter().sum::<usize>() / 1000
    );
    assert!(
        quality >= 38.0,
        "after the refresh the picture is {quality:.1} dB"
    );
    assert!(
        refresh.len() >= 5,
        "no refresh: {} frames after convergence",
        refresh.len()
    );
    // Keep-alives every second, not frames at the tick rate.
    assert!(quiet <= 4, "{quiet} frames in about 2 s after the refresh");
    assert!(
        view.stats()
            .refreshes
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    view.stop();
}
