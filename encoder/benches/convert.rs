//! Conversion time per 720p and 1080p frame: the renderer's converged film tone-mapped
//! and converted to I420 in one pass, as the server does it, on every core and on one;
//! with the two halves of that pass timed apart (tone mapping into row buffers, and
//! RGB rows to Y, U and V), and the older two steps through packed RGB for comparison.
//! Prints medians of 41 runs; `cargo bench -p encoder --bench convert`.

use encoder::{rgb_to_i420, rows_to_i420, I420Frame, RgbRows};
use render_core::{Picture, Renderer, Scene};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

struct Rows<'a>(Picture<'a>);

impl RgbRows for Rows<'_> {
    fn row(&self, y: usize, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
        self.0.row(y, r, g, b);
    }
}

/// Rows already tone-mapped: what `rows_to_i420` costs without the tone mapping.
struct Planar {
    width: usize,
    rgb: Vec<[Vec<u8>; 3]>,
}

impl RgbRows for Planar {
    fn row(&self, y: usize, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
        let [pr, pg, pb] = &self.rgb[y];
        r[..self.width].copy_from_slice(pr);
        g[..self.width].copy_from_slice(pg);
        b[..self.width].copy_from_slice(pb);
    }
}

struct Figures {
    one_pass: f64,
    one_pass_one_core: f64,
    tone_map_only: f64,
    yuv_only: f64,
    two_steps: f64,
}

fn figures(w: u32, h: u32, one_core: &rayon::ThreadPool) -> Figures {
    let mut r = Renderer::new(&Scene::cornell_box(), w, h).expect("valid scene");
    r.set_preview_scales(&[]);
    for _ in 0..2 {
        r.render_next(&|| false);
    }
    let (wu, hu) = (w as usize, h as usize);
    let mut frame = I420Frame::new(wu, hu);
    let runs = 41;
    let one_pass = time_ms(runs, || rows_to_i420(&Rows(r.picture()), &mut frame));
    let one_pass_one_core =
        one_core.install(|| time_ms(runs, || rows_to_i420(&Rows(r.picture()), &mut frame)));
    // Tone mapping alone, into the same small row buffers, rows split over the cores
    // the same way.
    let tone_map_only = time_ms(runs, || {
        use rayon::prelude::*;
        let picture = r.picture();
        (0..hu / 16).into_par_iter().for_each(|task| {
            let mut rgb = vec![0u8; 3 * wu];
            let (red, rest) = rgb.split_at_mut(wu);
            let (green, blue) = rest.split_at_mut(wu);
            for y in 16 * task..16 * task + 16 {
                picture.row(y, red, green, blue);
            }
            std::hint::black_box(&rgb);
        });
    });
    let planar = Planar {
        width: wu,
        rgb: (0..hu)
            .map(|y| {
                let mut rows = [vec![0u8; wu], vec![0u8; wu], vec![0u8; wu]];
                let [a, b, c] = &mut rows;
                r.picture().row(y, a, b, c);
                rows
            })
            .collect(),
    };
    let yuv_only = time_ms(runs, || rows_to_i420(&planar, &mut frame));
    let mut rgb = vec![0u8; wu * hu * 3];
    let two_steps = time_ms(runs, || {
        r.write_rgb8(&mut rgb);
        rgb_to_i420(&rgb, &mut frame);
    });
    Figures {
        one_pass,
        one_pass_one_core,
        tone_map_only,
        yuv_only,
        two_steps,
    }
}

fn main() {
    let one_core = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    println!(
        "film to I420 (converged Cornell box film, medians of 41, {} threads):",
        rayon::current_num_threads()
    );
    for (name, w, h) in [("720p", 1280, 720), ("1080p", 1920, 1080)] {
        let f = figures(w, h, &one_core);
        println!("  {name:5} one pass:                {:6.3} ms", f.one_pass);
        println!(
            "  {name:5} one pass, one core:      {:6.3} ms",
            f.one_pass_one_core
        );
        println!(
            "  {name:5}   of which tone mapping: {:6.3} ms",
            f.tone_map_only
        );
        println!("  {name:5}   of which RGB to YUV:   {:6.3} ms", f.yuv_only);
        println!("  {name:5} film to RGB, then I420:  {:6.3} ms", f.two_steps);
    }
}
