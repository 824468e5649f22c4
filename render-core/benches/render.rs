//! Render throughput on the built-in scene at 1280x720, and the time from an edit to
//! the first preview. Prints medians; run with `cargo bench -p render-core`.

use render_core::{Camera, PassKind, Renderer, Scene};
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let (w, h) = (1280u32, 720u32);
    let scene = Scene::cornell_box();
    let threads = rayon::current_num_threads();
    let mut r = Renderer::new(&scene, w, h).expect("built-in scene is valid");

    // Edit to first preview: move the camera, render the first (1/4 scale) pass, and
    // tone-map it to the full-size picture the encoder takes.
    let mut preview = Vec::new();
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    for i in 0..9 {
        let cam = Camera {
            eye: scene.camera.eye + glam::Vec3::new(0.05 * i as f32, 0.0, 0.0),
            ..scene.camera
        };
        let start = Instant::now();
        r.set_camera(cam).expect("valid camera");
        let report = r.render_next(&|| false).expect("not cancelled");
        assert_eq!(report.kind, PassKind::Preview { scale: 4 });
        r.write_rgb8(&mut rgb);
        preview.push(start.elapsed().as_secs_f64());
    }

    // Full-resolution passes: one sample per pixel each.
    r.set_preview_scales(&[]);
    r.render_next(&|| false);
    let mut pass_secs = Vec::new();
    let mut rays_per_sec = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pass_secs.len() < 7 && Instant::now() < deadline {
        let report = r.render_next(&|| false).expect("not cancelled");
        let secs = report.duration.as_secs_f64();
        pass_secs.push(secs);
        rays_per_sec.push(report.rays as f64 / secs);
    }
    let pass = median(pass_secs.clone());
    let tonemap = {
        let mut t = Vec::new();
        for _ in 0..9 {
            let start = Instant::now();
            r.write_rgb8(&mut rgb);
            t.push(start.elapsed().as_secs_f64());
        }
        median(t)
    };
    println!("render-core, built-in scene, {w}x{h}, {threads} threads (medians)");
    println!(
        "  full pass (1 spp):          {:8.1} ms over {} passes",
        pass * 1e3,
        pass_secs.len()
    );
    println!(
        "  samples per second:         {:8.2} M",
        (w * h) as f64 / pass / 1e6
    );
    println!(
        "  rays per second:            {:8.2} M (camera, bounce and shadow rays)",
        median(rays_per_sec) / 1e6
    );
    println!(
        "  edit to first preview:      {:8.1} ms (1/4 scale pass + tone map to {w}x{h})",
        median(preview) * 1e3
    );
    println!("  tone map {w}x{h}:         {:8.2} ms", tonemap * 1e3);
}
