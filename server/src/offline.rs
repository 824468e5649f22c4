//! `streamtracer render`: one image to a PNG file, for batch use and for comparing
//! against other renderers.
//!
//! With denoising on (and its runtime there) the picture is denoised once rendering
//! ends, with OIDN's best quality when there is no time limit. Under `--max-seconds`
//! the denoise must fit in the limit too: the first sample is denoised at once, in
//! OIDN's fast mode, which both gives a picture to fall back on and measures what a
//! denoise costs at this size; rendering then stops while there is still time for
//! one more.

use crate::config::RenderArgs;
use crate::view::denoising::{self, Mode, Options, Quality};
use render_core::{Renderer, Scene};
use std::time::{Duration, Instant};

/// What an offline render did.
#[derive(Debug)]
pub struct OfflineReport {
    pub samples_per_pixel: u32,
    pub elapsed: Duration,
    pub rays: u64,
    /// The samples per pixel of the denoised picture written, if it was denoised.
    pub denoised: Option<u32>,
}

/// Margin on the measured cost of a denoise when deciding whether one more fits.
const DENOISE_MARGIN: f64 = 1.25;

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
    let mut denoiser = match args.denoise {
        Mode::On => denoising::open(),
        Mode::Off => None,
    };
    r.set_indirect_clamp(args.indirect_clamp.for_picture(denoiser.is_some()));
    let fast = Options {
        quality: Quality::Fast,
        prefilter: false,
    };
    // The latest denoised picture and its samples per pixel.
    let mut denoised: Option<(Vec<glam::Vec3>, u32)> = None;
    let mut denoise_cost: Option<Duration> = None;
    let mut rays = 0;
    while r.samples_per_pixel() < args.spp.max(1) {
        if let Some(l) = limit {
            let reserve = match (&denoiser, denoise_cost) {
                (Some(_), Some(cost)) => cost.mul_f64(DENOISE_MARGIN),
                _ => Duration::ZERO,
            };
            if r.samples_per_pixel() > 0 && start.elapsed() + reserve >= l {
                break;
            }
        }
        if let Some(report) = r.render_next(&|| false) {
            rays += report.rays;
        }
        if let (Some(d), Some(_), None) = (denoiser.as_mut(), limit, denoise_cost) {
            let t = Instant::now();
            match denoising::denoise_film(d, r.film(), r.exposure, fast) {
                Ok(p) => denoised = Some((p, r.samples_per_pixel())),
                Err(e) => {
                    tracing::warn!("denoising failed, the picture is written undenoised: {e}");
                    denoiser = None;
                }
            }
            denoise_cost = Some(t.elapsed());
        }
    }
    if let Some(d) = denoiser.as_mut() {
        let spp = r.samples_per_pixel();
        if denoised.as_ref().is_none_or(|(_, s)| *s != spp) {
            // Without a limit, the best OIDN does; within one, what was measured.
            let options = match limit {
                None => Options {
                    quality: Quality::High,
                    prefilter: true,
                },
                Some(_) => fast,
            };
            match denoising::denoise_film(d, r.film(), r.exposure, options) {
                Ok(p) => denoised = Some((p, spp)),
                Err(e) => {
                    tracing::warn!("denoising failed, the picture is written undenoised: {e}");
                    denoised = None;
                }
            }
        }
    }
    let mut rgb = vec![0u8; (args.width * args.height * 3) as usize];
    match &denoised {
        Some((radiance, _)) => render_core::film::write_rgb8(radiance, 1.0, &mut rgb),
        None => r.write_rgb8(&mut rgb),
    }
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
        denoised: denoised.map(|(_, spp)| spp),
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
            denoise: Mode::Off,
            indirect_clamp: crate::config::IndirectClamp::Off,
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
