//! Picture quality through a real encode and decode at the server's default settings:
//! 1280x720, 4 Mbit/s, 30 fps, on the frames a viewer sees while orbiting (each a
//! preview of a new camera, as the server sends them).

use encoder::{rows_to_i420, EncoderSettings, H264Decoder, H264Encoder, I420Frame, RgbRows};
use render_core::{Camera, Picture, Renderer, Scene};

struct Rows<'a>(Picture<'a>);

impl RgbRows for Rows<'_> {
    fn row(&self, y: usize, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
        self.0.row(y, r, g, b);
    }
}

/// Peak signal-to-noise ratio of `b` against `a`, over all channels, in dB.
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

#[test]
fn moving_frames_at_4_mbits_720p_keep_30_db() {
    let (w, h) = (1280u32, 720u32);
    let scene = Scene::cornell_box();
    let mut renderer = Renderer::new(&scene, w, h).unwrap();
    let mut encoder = H264Encoder::new(EncoderSettings {
        width: w,
        height: h,
        fps: 30.0,
        bitrate: 4_000_000,
        keyframe_interval: 0,
    })
    .unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let mut scores = Vec::new();
    let mut bytes = 0;
    // Two seconds of orbiting, one small step per frame.
    for i in 0..60 {
        let angle = 0.01 * i as f32;
        let base = scene.camera;
        let eye = glam::Quat::from_rotation_y(angle) * (base.eye - base.target) + base.target;
        renderer.set_camera(Camera { eye, ..base }).unwrap();
        renderer.render_next(&|| false).unwrap();
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        renderer.write_rgb8(&mut rgb);
        let mut frame = I420Frame::new(w as usize, h as usize);
        rows_to_i420(&Rows(renderer.picture()), &mut frame);
        let au = encoder.encode(&frame).unwrap();
        bytes += au.data.len();
        let decoded = decoder
            .decode(&au.data)
            .unwrap()
            .expect("a picture per frame");
        assert_eq!((decoded.width, decoded.height), (w as usize, h as usize));
        scores.push(psnr(&rgb, &decoded.rgb));
    }
    let worst = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    let kbits = bytes as f64 * 8.0 / 2.0 / 1000.0;
    eprintln!(
        "PSNR over 60 moving frames: mean {mean:.1} dB, worst {worst:.1} dB; {kbits:.0} kbit/s"
    );
    assert!(
        worst >= 30.0,
        "worst frame {worst:.1} dB (mean {mean:.1} dB)"
    );
    // The encoder kept to its budget (within the usual overshoot of a start).
    assert!(
        kbits < 4000.0 * 1.5,
        "{kbits:.0} kbit/s for a 4000 kbit/s target"
    );
}
