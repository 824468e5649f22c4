//! Encode time per 720p and 1080p frame for noisy early frames and for a converged
//! picture. Prints medians; run with `cargo bench -p encoder --bench encode`, and with
//! `OPENH264_NO_ASM=1` (and another target directory) for the figures without
//! OpenH264's assembly (`scripts/bench.sh` runs both). Conversion times are the
//! `convert` bench's.

use encoder::{rgb_to_i420, EncoderSettings, H264Encoder, I420Frame};
use render_core::{Renderer, Scene};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The built-in scene at `spp` samples per pixel with the given seed, as RGB.
fn render(w: u32, h: u32, spp: u32, seed: u64) -> Vec<u8> {
    let mut r = Renderer::new(&Scene::cornell_box(), w, h).expect("valid scene");
    r.set_preview_scales(&[]);
    r.set_seed(seed);
    for _ in 0..spp {
        r.render_next(&|| false);
    }
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    r.write_rgb8(&mut rgb);
    rgb
}

/// Median encode times (ms) and sizes at `w` x `h`, 4 Mbit/s: noisy 1 spp frames
/// (each pass new noise, the worst case), a converged picture repeated (P frames),
/// and keyframes of it.
struct EncodeFigures {
    noisy_ms: f64,
    noisy_bytes: usize,
    still_ms: f64,
    still_bytes: usize,
    keyframe_ms: f64,
}

fn encode_figures(w: u32, h: u32) -> EncodeFigures {
    let to_i420 = |rgb: &Vec<u8>| {
        let mut f = I420Frame::new(w as usize, h as usize);
        rgb_to_i420(rgb, &mut f);
        f
    };
    let noisy: Vec<I420Frame> = (0..4).map(|seed| to_i420(&render(w, h, 1, seed))).collect();
    let converged = vec![to_i420(&render(w, h, 16, 99))];
    let settings = EncoderSettings {
        width: w,
        height: h,
        fps: 30.0,
        bitrate: 4_000_000,
        keyframe_interval: 0,
    };
    let encode_run = |frames: &[I420Frame], count: usize| {
        let mut enc = H264Encoder::new(settings).expect("valid settings");
        let _ = enc.encode(&frames[0]); // the first frame is a keyframe; time the deltas
        let mut times = Vec::new();
        let mut bytes = 0usize;
        for i in 0..count {
            let start = Instant::now();
            let au = enc
                .encode(&frames[(i + 1) % frames.len()])
                .expect("encodes");
            times.push(start.elapsed().as_secs_f64() * 1e3);
            bytes += au.data.len();
        }
        (median(times), bytes / count)
    };
    let (noisy_ms, noisy_bytes) = encode_run(&noisy, 60);
    let (still_ms, still_bytes) = encode_run(&converged, 60);
    let mut enc = H264Encoder::new(settings).expect("valid settings");
    let mut t = Vec::new();
    for _ in 0..9 {
        enc.request_keyframe();
        let start = Instant::now();
        let au = enc.encode(&converged[0]).expect("encodes");
        assert!(au.keyframe);
        t.push(start.elapsed().as_secs_f64() * 1e3);
    }
    EncodeFigures {
        noisy_ms,
        noisy_bytes,
        still_ms,
        still_bytes,
        keyframe_ms: median(t),
    }
}

fn main() {
    let enc720 = encode_figures(1280, 720);
    let enc1080 = encode_figures(1920, 1080);

    println!(
        "encoder, 4 Mbit/s, OpenH264 assembly: {} (medians)",
        if encoder::assembly() { "yes" } else { "no" }
    );
    for (name, f) in [("720p", &enc720), ("1080p", &enc1080)] {
        println!(
            "  {name:5} encode, noisy 1 spp:  {:8.2} ms ({} bytes per frame)",
            f.noisy_ms, f.noisy_bytes
        );
        println!(
            "  {name:5} encode, converged P: {:8.2} ms ({} bytes per frame)",
            f.still_ms, f.still_bytes
        );
        println!("  {name:5} encode, keyframe:    {:8.2} ms", f.keyframe_ms);
    }
}
