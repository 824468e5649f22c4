//! Render figures at 1280x720 on (a) the built-in scene and (b) the built-in room
//! around a torus knot of 100k triangles: samples and rays per second, the time from
//! an edit to the first preview, and the BVH build time of the 100k-triangle mesh.
//! Prints medians; run with `cargo bench -p render-core`.

use render_core::accel::Geometry;
use render_core::generate::dense_scene;
use render_core::{Camera, PassKind, Renderer, Scene};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Figures {
    pass_ms: f64,
    passes: usize,
    samples_per_sec: f64,
    rays_per_sec: f64,
    preview_ms: f64,
    preview_scale: u32,
}

fn measure(scene: &Scene, w: u32, h: u32) -> Figures {
    let mut r = Renderer::new(scene, w, h).expect("valid scene");
    // Edit to first preview: move the camera, render the first (1/4 scale) pass, and
    // tone-map it to the full-size picture the encoder takes.
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    let mut preview = Vec::new();
    let mut first_scale = 0;
    for i in 0..9 {
        let cam = Camera {
            eye: scene.camera.eye + glam::Vec3::new(0.05 * i as f32, 0.0, 0.0),
            ..scene.camera
        };
        let start = Instant::now();
        r.set_camera(cam).expect("valid camera");
        let report = r.render_next(&|| false).expect("not cancelled");
        let PassKind::Preview { scale } = report.kind else {
            panic!("the first pass after an edit is a preview")
        };
        r.write_rgb8(&mut rgb);
        preview.push(start.elapsed().as_secs_f64());
        first_scale = scale;
    }
    // Full-resolution passes: one sample per pixel each.
    r.set_preview_scales(&[]);
    r.render_next(&|| false);
    let (mut secs, mut rays) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(20);
    while secs.len() < 7 && Instant::now() < deadline {
        let report = r.render_next(&|| false).expect("not cancelled");
        let s = report.duration.as_secs_f64();
        secs.push(s);
        rays.push(report.rays as f64 / s);
    }
    let pass = median(secs.clone());
    Figures {
        pass_ms: pass * 1e3,
        passes: secs.len(),
        samples_per_sec: (w * h) as f64 / pass,
        rays_per_sec: median(rays),
        preview_ms: median(preview) * 1e3,
        preview_scale: first_scale,
    }
}

fn main() {
    let (w, h) = (1280u32, 720u32);
    let threads = rayon::current_num_threads();
    let dense = dense_scene(100_000);
    let knot = Arc::clone(dense.meshes.last().expect("the knot"));

    let mut build = Vec::new();
    let mut triangles = 0;
    for _ in 0..9 {
        let start = Instant::now();
        let g = Geometry::mesh(knot.clone());
        build.push(start.elapsed().as_secs_f64());
        triangles = g.triangle_count();
    }

    println!("render-core, 1280x720, {threads} threads (medians)");
    for (name, scene) in [
        ("(a) built-in scene", Scene::cornell_box()),
        ("(b) room + 100k-triangle knot", dense.clone()),
    ] {
        let f = measure(&scene, w, h);
        println!("  {name}");
        println!(
            "    full pass (1 spp):        {:8.1} ms over {} passes",
            f.pass_ms, f.passes
        );
        println!(
            "    samples per second:       {:8.2} M",
            f.samples_per_sec / 1e6
        );
        println!(
            "    rays per second:          {:8.2} M (camera, bounce and shadow rays)",
            f.rays_per_sec / 1e6
        );
        println!(
            "    edit to first preview:    {:8.1} ms (1/{} scale pass, 3 bounces, tone-mapped to {w}x{h})",
            f.preview_ms, f.preview_scale
        );
    }
    println!(
        "  BVH build, {triangles} triangles: {:6.1} ms",
        median(build) * 1e3
    );
}
