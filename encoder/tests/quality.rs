//! Picture quality through a real encode and decode at the server's default settings:
//! 1280x720, 4 Mbit/s, 30 fps, on the frames a viewer sees while orbiting (each a
//! preview of a new camera, as the server sends them).

use encoder::{psnr, rows_to_i420, EncoderSettings, H264Decoder, H264Encoder, I420Frame, RgbRows};
use render_core::{Camera, Picture, Renderer, Scene};

struct Rows<'a>(Picture<'a>);

impl RgbRows for Rows<'_> {
    fn row(&self, y: usize, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
        self.0.row(y, r, g, b);
    }
}

/// OpenH264 as the server sets it up by default: 30 fps, 4 Mbit/s, no periodic
/// keyframes.
fn default_encoder(width: u32, height: u32) -> H264Encoder {
    H264Encoder::new(EncoderSettings {
        width,
        height,
        fps: 30.0,
        bitrate: 4_000_000,
        keyframe_interval: 0,
    })
    .unwrap()
}

#[test]
fn moving_frames_at_4_mbits_720p_keep_30_db() {
    let (w, h) = (1280u32, 720u32);
    let scene = Scene::cornell_box();
    let mut renderer = Renderer::new(&scene, w, h).unwrap();
    let mut encoder = default_encoder(w, h);
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

/// A still picture (a converged render: the same frame repeated) refines through
/// repeated frames: each spends its budget on what the previous ones lost, until the
/// error is below the quantiser's reach and frames cost almost nothing. This is the
/// mechanism of the server's still-quality refresh (see the server's view).
#[test]
fn a_repeated_still_frame_refines_beyond_38_db_then_stops_spending() {
    let (w, h) = (1280u32, 720u32);
    let scene = Scene::cornell_box();
    let mut renderer = Renderer::new(&scene, w, h).unwrap();
    // Few samples: a noisy picture is the hard case for an encoder.
    while renderer.samples_per_pixel() < 16 {
        renderer.render_next(&|| false).unwrap();
    }
    let mut frame = I420Frame::new(w as usize, h as usize);
    rows_to_i420(&Rows(renderer.picture()), &mut frame);
    // What the encoder was given, as RGB: the reference for its losses alone.
    let source = frame.to_rgb();
    let mut encoder = default_encoder(w, h);
    let mut decoder = H264Decoder::new().unwrap();
    let mut trace = Vec::new();
    for i in 0..30 {
        if i == 1 {
            // The refresh: twice the live rate, as the server's default maximum.
            encoder.set_bitrate(8_000_000).unwrap();
        }
        let au = encoder.encode(&frame).unwrap();
        let decoded = decoder
            .decode(&au.data)
            .unwrap()
            .expect("a picture per frame");
        trace.push((psnr(&source, &decoded.rgb), au.data.len()));
    }
    let text: Vec<String> = trace
        .iter()
        .map(|(p, n)| format!("{p:.1} dB/{} kB", n / 1000))
        .collect();
    eprintln!("still refresh: {}", text.join(", "));
    let (first, _) = trace[0];
    let (last, last_bytes) = *trace.last().unwrap();
    assert!(
        last >= 38.0,
        "after the refresh {last:.1} dB (first frame {first:.1} dB)"
    );
    assert!(
        last > first + 3.0,
        "refresh gained only {first:.1} → {last:.1} dB"
    );
    // Refined as far as the quantiser reaches: the last frames cost almost nothing
    // (a frame at 8 Mbit/s may spend 33 kB).
    assert!(
        last_bytes < 3000,
        "still spending {last_bytes} bytes a frame"
    );
}
