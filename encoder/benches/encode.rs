//! Conversion time per 720p and 1080p frame (the renderer's film tone-mapped and
//! converted in one pass, as the server does, and the older two steps through packed
//! RGB for comparison), and encode time per 720p frame for noisy early frames and for
//! a converged picture. Prints medians; run with `cargo bench -p encoder`.

use encoder::{rgb_to_i420, rows_to_i420, EncoderSettings, H264Encoder, I420Frame, RgbRows};
use render_core::{Picture, Renderer, Scene};
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

struct Rows<'a>(Picture<'a>);

impl RgbRows for Rows<'_> {
    fn row(&self, y: usize, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
        self.0.row(y, r, g, b);
    }
}

/// Median times (ms) to turn a converged film of `w` x `h` into I420: in one pass, and
/// by tone-mapping to packed RGB and converting that.
fn conversion(w: u32, h: u32) -> (f64, f64) {
    let mut r = Renderer::new(&Scene::cornell_box(), w, h).expect("valid scene");
    r.set_preview_scales(&[]);
    for _ in 0..2 {
        r.render_next(&|| false);
    }
    let mut frame = I420Frame::new(w as usize, h as usize);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..31 {
        let start = Instant::now();
        rows_to_i420(&Rows(r.picture()), &mut frame);
        one.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        r.write_rgb8(&mut rgb);
        rgb_to_i420(&rgb, &mut frame);
        two.push(start.elapsed().as_secs_f64() * 1e3);
    }
    (median(one), median(two))
}

fn main() {
    let conv720 = conversion(1280, 720);
    let conv1080 = conversion(1920, 1080);
    let (w, h) = (1280u32, 720u32);
    // Early frames: each 1 spp pass is new noise, the worst case for the encoder.
    let noisy: Vec<Vec<u8>> = (0..4).map(|seed| render(w, h, 1, seed)).collect();
    let converged = render(w, h, 16, 99);

    let mut frame = I420Frame::new(w as usize, h as usize);
    let mut convert = Vec::new();
    for _ in 0..21 {
        let start = Instant::now();
        rgb_to_i420(&converged, &mut frame);
        convert.push(start.elapsed().as_secs_f64());
    }

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
            times.push(start.elapsed().as_secs_f64());
            bytes += au.data.len();
        }
        (median(times), bytes / count)
    };
    let to_i420 = |rgb: &Vec<u8>| {
        let mut f = I420Frame::new(w as usize, h as usize);
        rgb_to_i420(rgb, &mut f);
        f
    };
    let noisy_frames: Vec<I420Frame> = noisy.iter().map(to_i420).collect();
    let converged_frames = vec![to_i420(&converged)];
    let (noisy_t, noisy_b) = encode_run(&noisy_frames, 60);
    let (still_t, still_b) = encode_run(&converged_frames, 60);
    let keyframe = {
        let mut enc = H264Encoder::new(settings).expect("valid settings");
        let mut t = Vec::new();
        for _ in 0..9 {
            enc.request_keyframe();
            let start = Instant::now();
            let au = enc.encode(&converged_frames[0]).expect("encodes");
            assert!(au.keyframe);
            t.push(start.elapsed().as_secs_f64());
        }
        median(t)
    };
    println!(
        "encoder, {w}x{h}, 4 Mbit/s, OpenH264 assembly: {} (medians)",
        if encoder::ASSEMBLY { "yes" } else { "no" }
    );
    println!(
        "  film to I420, one pass:     {:8.2} ms at 720p, {:.2} ms at 1080p ({} threads)",
        conv720.0,
        conv1080.0,
        rayon::current_num_threads()
    );
    println!(
        "  film to RGB, then to I420:  {:8.2} ms at 720p, {:.2} ms at 1080p",
        conv720.1, conv1080.1
    );
    println!(
        "  packed RGB to I420 alone:   {:8.2} ms at 720p",
        median(convert) * 1e3
    );
    println!(
        "  encode, noisy 1 spp frames: {:8.2} ms ({} bytes per frame)",
        noisy_t * 1e3,
        noisy_b
    );
    println!(
        "  encode, converged (P):      {:8.2} ms ({} bytes per frame)",
        still_t * 1e3,
        still_b
    );
    println!("  encode, keyframe:           {:8.2} ms", keyframe * 1e3);
}
