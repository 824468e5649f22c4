//! `streamtracer render`: one image to a PNG file, for batch use and for comparing
//! against other renderers.

use crate::config::RenderArgs;
use render_core::{Renderer, Scene};
use std::time::{Duration, Instant};

/// What an offline render did.
#[derive(Debug)]
pub struct OfflineReport {
    pub samples_per_pixel: u32,
    pub elapsed: Duration,
    pub rays: u64,
}

/// Why an offline render failed.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("{0}")]
    Renderer(#[from] render_core::RendererError),
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

/// Renders `scene` as `args` ask and writes the PNG.
pub fn render(scene: &Scene, args: &RenderArgs) -> Result<OfflineReport, OfflineError> {
    let mut r = Renderer::new(scene, args.width, args.height)?;
    r.set_preview_scales(&[]);
    let start = Instant::now();
    let limit = (args.max_seconds > 0.0 && args.max_seconds.is_finite())
        .then(|| Duration::from_secs_f64(args.max_seconds));
    let mut rays = 0;
    while r.samples_per_pixel() < args.spp.max(1) {
        if limit.is_some_and(|l| start.elapsed() >= l) {
            break;
        }
        if let Some(report) = r.render_next(&|| false) {
            rays += report.rays;
        }
    }
    let mut rgb = vec![0u8; (args.width * args.height * 3) as usize];
    r.write_rgb8(&mut rgb);
    image::save_buffer(
        &args.out,
        &rgb,
        args.width,
        args.height,
        image::ColorType::Rgb8,
    )
    .map_err(|e| OfflineError::Write {
        path: args.out.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(OfflineReport {
        samples_per_pixel: r.samples_per_pixel(),
        elapsed: start.elapsed(),
        rays,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_of_the_scene_and_reports_bad_paths() {
        let dir = std::env::temp_dir().join(format!("st-offline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("cornell.png");
        let args = RenderArgs {
            scene: "builtin:cornell".into(),
            spp: 4,
            max_seconds: 0.0,
            width: 64,
            height: 48,
            out: out.clone(),
        };
        let report = render(&Scene::cornell_box(), &args).unwrap();
        assert_eq!(report.samples_per_pixel, 4);
        let img = image::open(&out).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (64, 48));
        // The red wall is on the left, the green one on the right.
        let (l, r) = (img.get_pixel(12, 24), img.get_pixel(52, 24));
        assert!(l[0] > l[1] && r[1] > r[0], "{l:?} {r:?}");
        let bad = RenderArgs {
            out: dir.join("no/such/dir/x.png"),
            ..args
        };
        assert!(render(&Scene::cornell_box(), &bad)
            .unwrap_err()
            .to_string()
            .contains("x.png"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
