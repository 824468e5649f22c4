//! Time to quality: how good the picture a viewer sees is at 0.25, 0.5, 1, 2, 4 and 8 s
//! after an edit, raw and denoised, for the built-in scenes at 640x360 and 1280x720.
//!
//! A view runs in this process as the server runs it (its defaults, 4 Mbit/s, one
//! subscribed viewer, a frame every tick). Two seconds after it starts, a camera move
//! to the same camera starts the picture over; at each time after it the bench takes
//! the picture the view streams (before encoding) and the encoded frames are kept
//! and decoded afterwards, so decoding takes nothing from the render. Each is compared
//! with a reference of `TTQ_REFERENCE_SPP` samples per pixel (default 4096,
//! without denoising), rendered once and cached in `target/time-to-quality/`: PSNR of
//! the 8-bit sRGB pictures (the reference through the same 4:2:0 conversion, so chroma
//! subsampling is not counted as error) and the relative MSE in linear light against
//! the reference clamped to the displayable range. Also printed: denoise time per
//! picture, and samples per second with and without denoising.
//!
//! `TTQ_SIZES` (default `640x360,1280x720`) and `TTQ_SCENES` (default
//! `builtin:cornell,builtin:dense`) choose what runs. the
//! first time: at 4096 spp about 5 minutes for the built-in scene at 640x360 on two
//! cores, four times that at 1280x720.
//!
//! `cargo bench -p streamtracer-tests --bench time_to_quality`

use encoder::{psnr, H264Decoder, I420Frame};
use glam::Vec3;
use render_core::{Renderer, Scene};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use streamtracer::config::IndirectClamp;
use streamtracer::view::{EncodedFrame, View};
use streamtracer::Config;

const TIMES: [f64; 6] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0];

/// The reference: linear radiance, and its 8-bit sRGB picture through 4:2:0.
struct Reference {
    linear: Vec<Vec3>,
    rgb: Vec<u8>,
}

fn reference(spec: &str, scene: &Scene, w: u32, h: u32, spp: u32) -> anyhow::Result<Reference> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/time-to-quality");
    std::fs::create_dir_all(&dir)?;
    let name = spec.replace(':', "-");
    let path = dir.join(format!("{name}-{w}x{h}-{spp}spp.f32"));
    let linear: Vec<Vec3> = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == (w * h) as usize * 12 => {
            bytemuck::pod_collect_to_vec::<u8, Vec3>(&bytes)
        }
        _ => {
            eprintln!(
                "rendering the reference of {spec} at {w}x{h}, {spp} spp (cached in {})",
                path.display()
            );
            let start = Instant::now();
            let mut r = Renderer::new(scene, w, h)?;
            r.set_preview_scales(&[]);
            // Other random numbers than the view's.
            r.set_seed(0x7e5e_7e5e);
            while r.samples_per_pixel() < spp {
                r.render_next(&|| false);
            }
            eprintln!("  took {:.0} s", start.elapsed().as_secs_f64());
            let averages = r.film().averages(1.0);
            std::fs::write(&path, bytemuck::cast_slice(&averages.color))?;
            averages.color
        }
    };
    let mut srgb = vec![0u8; linear.len() * 3];
    render_core::film::write_rgb8(&linear, 1.0, &mut srgb);
    let mut i420 = I420Frame::new(w as usize, h as usize);
    encoder::rgb_to_i420(&srgb, &mut i420);
    Ok(Reference {
        linear,
        rgb: i420.to_rgb(),
    })
}

/// Relative MSE in linear light of an 8-bit sRGB picture against the reference
/// clamped to 0..=1.
fn rel_mse(rgb: &[u8], reference: &Reference) -> f64 {
    let mut sum = 0.0f64;
    for (px, r) in rgb.chunks_exact(3).zip(&reference.linear) {
        let r = r.clamp(Vec3::ZERO, Vec3::ONE);
        for c in 0..3 {
            let x = render_core::film::srgb_to_linear(px[c] as f32 / 255.0) as f64;
            let y = r[c] as f64;
            sum += (x - y) * (x - y) / (y * y + 0.01);
        }
    }
    sum / (rgb.len() as f64)
}

/// Encoded frames with the time each left the encoder.
type Kept = Vec<(Instant, Arc<EncodedFrame>)>;

/// One run's figures.
struct Run {
    /// At each of [`TIMES`]: the streamed picture's and the decoded frame's (PSNR,
    /// relMSE, samples per pixel, denoised).
    streamed: Vec<(f64, f64, u32, bool)>,
    decoded: Vec<(f64, f64)>,
    samples_per_second: f64,
    denoise_ms: Option<f64>,
    /// The largest fall of the streamed picture's PSNR between two checks, dB.
    worst_fall: f64,
}

/// One run: the server's defaults, with or without denoising, and an indirect clamp.
async fn run(
    scene: &Scene,
    (w, h): (u32, u32),
    denoise: bool,
    clamp: IndirectClamp,
    reference: &Reference,
) -> anyhow::Result<Run> {
    let mut settings = Config {
        width: w,
        height: h,
        idle_interval: 0.0,
        ..Config::default()
    }
    .view_settings();
    settings.denoise = denoise;
    settings.indirect_clamp = clamp;
    let view = View::start(scene, settings)?;
    let mut frames = view.subscribe();
    // Encoded frames with the time they left the encoder, from the start: decoded
    // afterwards, in order, so that every reference frame is there.
    let kept: Arc<std::sync::Mutex<Kept>> = Arc::default();
    let keeper = {
        let kept = kept.clone();
        tokio::spawn(async move {
            loop {
                match frames.recv().await {
                    Ok(f) => kept.lock().unwrap().push((Instant::now(), f)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        eprintln!("warning: {n} frames missed; the decoded figures may be off");
                    }
                    Err(_) => break,
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (camera, revision) = view.camera();
    let stats = view.stats();
    let (samples0, denoise0, pictures0) = (
        stats.samples_rendered.load(Ordering::Relaxed),
        stats.denoise_micros.load(Ordering::Relaxed),
        stats.pictures_denoised.load(Ordering::Relaxed),
    );
    let edited = Instant::now();
    drop(view.set_camera(camera, streamtracer::protocol::Revision(revision.0 + 1)));
    let mut streamed = Vec::new();
    let mut check_times = Vec::new();
    let mut worst_fall = 0.0f64;
    let mut last_psnr: Option<f64> = None;
    // The picture every 0.25 s, for the quality-never-falls check; figures at TIMES.
    for step in 1..=32 {
        let t = step as f64 * 0.25;
        tokio::time::sleep_until((edited + Duration::from_secs_f64(t)).into()).await;
        let Some(frame) = view.latest_frame() else {
            continue;
        };
        let rgb = frame.i420.to_rgb();
        let p = psnr(&rgb, &reference.rgb);
        if let Some(last) = last_psnr {
            worst_fall = worst_fall.max(last - p);
        }
        last_psnr = Some(p);
        if TIMES.contains(&t) {
            streamed.push((
                p,
                rel_mse(&rgb, reference),
                frame.samples_per_pixel,
                frame.denoised,
            ));
            check_times.push(edited + Duration::from_secs_f64(t));
        }
    }
    let elapsed = edited.elapsed().as_secs_f64();
    let samples = stats.samples_rendered.load(Ordering::Relaxed) - samples0;
    let pictures = stats.pictures_denoised.load(Ordering::Relaxed) - pictures0;
    let denoise_ms = (pictures > 0).then(|| {
        (stats.denoise_micros.load(Ordering::Relaxed) - denoise0) as f64 / pictures as f64 / 1e3
    });
    view.stop();
    keeper.abort();
    // Decode every frame kept, in order; at each time, the last frame decoded before it.
    let kept = std::mem::take(&mut *kept.lock().unwrap());
    let mut decoder = H264Decoder::new()?;
    let mut decoded = Vec::new();
    let mut last: Option<Vec<u8>> = None;
    let mut at = check_times.iter().peekable();
    for (when, frame) in &kept {
        while let Some(&&t) = at.peek() {
            if *when <= t {
                break;
            }
            decoded.push(last.as_ref().map_or((0.0, f64::NAN), |rgb| {
                (psnr(rgb, &reference.rgb), rel_mse(rgb, reference))
            }));
            at.next();
        }
        if let Some(d) = decoder.decode(&frame.data)? {
            if (d.width, d.height) == (w as usize, h as usize) {
                last = Some(d.rgb);
            }
        }
    }
    for _ in at {
        decoded.push(last.as_ref().map_or((0.0, f64::NAN), |rgb| {
            (psnr(rgb, &reference.rgb), rel_mse(rgb, reference))
        }));
    }
    Ok(Run {
        streamed,
        decoded,
        samples_per_second: samples as f64 / elapsed,
        denoise_ms,
        worst_fall,
    })
}

fn list(var: &str, default: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let reference_spp: u32 = std::env::var("TTQ_REFERENCE_SPP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4096);
    let runtime = denoise::Denoiser::open(0).map(|d| d.version().to_owned());
    match &runtime {
        Ok(v) => {
            println!("time to quality (Open Image Denoise {v}; reference {reference_spp} spp)")
        }
        Err(e) => anyhow::bail!("the denoised figures need the runtime: {e}"),
    }
    for spec in list("TTQ_SCENES", "builtin:cornell,builtin:dense") {
        let (scene, _) = streamtracer::scenes::load(&spec)?;
        for size in list("TTQ_SIZES", "640x360,1280x720") {
            let (w, h) = size
                .split_once('x')
                .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                .ok_or_else(|| anyhow::anyhow!("TTQ_SIZES: {size} is not WIDTHxHEIGHT"))?;
            let reference = reference(&spec, &scene, w, h, reference_spp)?;
            // Before this work (no clamp, no denoising); the server's default without
            // denoising (clamped) and with it (unclamped); and denoised with the clamp,
            // which is why the default drops it when denoising.
            let unbiased = run(&scene, (w, h), false, IndirectClamp::Off, &reference).await?;
            let raw = run(&scene, (w, h), false, IndirectClamp::Auto, &reference).await?;
            let denoised = run(&scene, (w, h), true, IndirectClamp::Auto, &reference).await?;
            let clamped_denoised = run(
                &scene,
                (w, h),
                true,
                IndirectClamp::Cap(streamtracer::config::DEFAULT_INDIRECT_CLAMP),
                &reference,
            )
            .await?;
            println!("\n{spec} at {w}x{h}: PSNR dB (relMSE) after an edit");
            println!(
                "  {:>6} | {:>22} | {:>22} | {:>22} | {:>22} | {:>15} | {:>15}",
                "time",
                "unclamped raw, stream",
                "clamped raw, stream",
                "denoised, stream",
                "den. + clamp, stream",
                "raw, decoded",
                "denoised, decoded"
            );
            for (i, t) in TIMES.iter().enumerate() {
                let cell = |r: &Run| {
                    r.streamed.get(i).map_or("-".to_owned(), |(p, m, spp, d)| {
                        format!("{p:5.1} ({m:.4}) {spp:>4}{}", if *d { "d" } else { " " })
                    })
                };
                let dec = |r: &Run| {
                    r.decoded
                        .get(i)
                        .map_or("-".to_owned(), |(p, m)| format!("{p:5.1} ({m:.4})"))
                };
                println!(
                    "  {:>5.2}s | {:>22} | {:>22} | {:>22} | {:>22} | {:>15} | {:>15}",
                    t,
                    cell(&unbiased),
                    cell(&raw),
                    cell(&denoised),
                    cell(&clamped_denoised),
                    dec(&raw),
                    dec(&denoised)
                );
            }
            println!(
                "  samples per second: {:.2} M unclamped, {:.2} M raw, {:.2} M while denoising ({:.0}% of raw); denoise per picture: {}; largest PSNR fall while still: raw {:.2} dB, denoised {:.2} dB",
                unbiased.samples_per_second / 1e6,
                raw.samples_per_second / 1e6,
                denoised.samples_per_second / 1e6,
                100.0 * denoised.samples_per_second / raw.samples_per_second,
                denoised.denoise_ms.map_or("-".to_owned(), |ms| format!("{ms:.0} ms")),
                raw.worst_fall,
                denoised.worst_fall
            );
        }
    }
    println!("\n(the spp column: samples per pixel of the picture streamed; d: denoised)");
    Ok(())
}
