//! Denoising the film with Open Image Denoise (crate `denoise`), for the live views and
//! for `streamtracer render`.
//!
//! The denoiser works on the film's HDR averages before tone mapping, guided by the
//! first-hit albedo and normal the film accumulates next to the colour. The runtime is
//! opened when first needed; if it cannot be, that is said once in the log and the
//! pictures go out undenoised.

use glam::Vec3;
use render_core::film::{Film, FilmAverages};
use std::sync::atomic::{AtomicBool, Ordering};

pub use denoise::{Denoiser, Error, Options, Quality};

/// Whether denoising is on: `--denoise on|off`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    On,
    Off,
}

static REPORTED: AtomicBool = AtomicBool::new(false);

/// Opens a denoiser, or says once per process why none can be had and returns `None`.
pub fn open() -> Option<Denoiser> {
    match Denoiser::open(0) {
        Ok(d) => {
            if !REPORTED.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    "denoising with Open Image Denoise {} ({})",
                    d.version(),
                    d.path().display()
                );
            }
            Some(d)
        }
        Err(e) => {
            if !REPORTED.swap(true, Ordering::Relaxed) {
                tracing::warn!("denoising is off: {e}");
            }
            None
        }
    }
}

/// Denoises the film's picture (its radiance times `exposure`), guided by its albedo
/// and normals. Returns the denoised radiance, already scaled by `exposure`.
pub fn denoise_film(
    denoiser: &mut Denoiser,
    film: &Film,
    exposure: f32,
    options: Options,
) -> Result<Vec<Vec3>, Error> {
    let averages = film.averages(exposure);
    let size = (film.width as usize, film.height as usize);
    denoise_averages(denoiser, &averages, size, options, &|| false)
}

/// Denoises a film's averages (see [`Film::averages`]) of `width` by `height`, stopped
/// with [`Error::Cancelled`] once `cancel` returns true.
pub fn denoise_averages(
    denoiser: &mut Denoiser,
    averages: &FilmAverages,
    (width, height): (usize, usize),
    options: Options,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<Vec<Vec3>, Error> {
    let mut out = vec![Vec3::ZERO; averages.color.len()];
    let images = denoise::Images {
        width,
        height,
        color: bytemuck::cast_slice(&averages.color),
        albedo: Some(bytemuck::cast_slice(&averages.albedo)),
        normal: Some(bytemuck::cast_slice(&averages.normal)),
    };
    denoiser.denoise_cancellable(&images, options, bytemuck::cast_slice_mut(&mut out), cancel)?;
    Ok(out)
}

/// Denoises a film's averages as [`denoise_averages`] does, at `1 / downscale` of
/// the size in each direction: each block of `downscale` by `downscale` pixels is
/// averaged into one, and the result is scaled back up bilinearly. A quarter of the
/// pixels costs about a quarter of the time, and the averaging takes out much of the
/// noise. The blocks do not overlap, so the noise of the small picture stays
/// independent from pixel to pixel, as the denoiser expects: with an overlapping
/// filter it is smoothed into blotches the denoiser keeps as detail (a half-size
/// denoise of the built-in scene at 1280x720 and 1 spp gave 27 dB that way, against
/// the reference).
pub fn denoise_averages_reduced(
    denoiser: &mut Denoiser,
    averages: &FilmAverages,
    (width, height): (usize, usize),
    downscale: u32,
    options: Options,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<Vec<Vec3>, Error> {
    if downscale <= 1 {
        return denoise_averages(denoiser, averages, (width, height), options, cancel);
    }
    let d = downscale as usize;
    let small_size = (width.div_ceil(d), height.div_ceil(d));
    let reduced = FilmAverages {
        color: block_average(&averages.color, (width, height), d),
        albedo: block_average(&averages.albedo, (width, height), d),
        normal: block_average(&averages.normal, (width, height), d),
    };
    let small = denoise_averages(denoiser, &reduced, small_size, options, cancel)?;
    Ok(enlarge(&small, small_size, (width, height)))
}

/// The averages of the `d` by `d` blocks of a `width` by `height` picture (the blocks
/// on the right and bottom edges may be smaller).
fn block_average(pixels: &[Vec3], (width, height): (usize, usize), d: usize) -> Vec<Vec3> {
    let (w, h) = (width.div_ceil(d), height.div_ceil(d));
    let mut out = vec![Vec3::ZERO; w * h];
    for (by, row) in out.chunks_exact_mut(w).enumerate() {
        let ys = by * d..((by + 1) * d).min(height);
        for (bx, px) in row.iter_mut().enumerate() {
            let xs = bx * d..((bx + 1) * d).min(width);
            let sum: Vec3 = ys
                .clone()
                .flat_map(|y| pixels[y * width + xs.start..y * width + xs.end].iter())
                .copied()
                .sum();
            *px = sum / (ys.len() * xs.len()) as f32;
        }
    }
    out
}

/// `pixels` of size `from` enlarged to `to`, bilinearly.
fn enlarge(pixels: &[Vec3], from: (usize, usize), to: (usize, usize)) -> Vec<Vec3> {
    let floats: Vec<f32> = bytemuck::cast_slice(pixels).to_vec();
    let Some(image) = image::Rgb32FImage::from_raw(from.0 as u32, from.1 as u32, floats) else {
        // Sizes come from the film itself; a mismatch would be a bug.
        return vec![Vec3::ZERO; to.0 * to.1];
    };
    let out = image::imageops::resize(
        &image,
        to.0 as u32,
        to.1 as u32,
        image::imageops::FilterType::Triangle,
    );
    bytemuck::pod_collect_to_vec(out.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use render_core::scene::Material;
    use render_core::{Camera, Renderer, Scene};

    #[test]
    fn block_averages_cover_every_pixel_once_including_partial_edge_blocks() {
        // 5x3 pixels of value x + 10 y, in blocks of 2: 3x2 blocks.
        let pixels: Vec<Vec3> = (0..15)
            .map(|i| Vec3::splat((i % 5) as f32 + 10.0 * (i / 5) as f32))
            .collect();
        let blocks = block_average(&pixels, (5, 3), 2);
        let expected = [5.5, 7.5, 9.0, 20.5, 22.5, 24.0];
        assert_eq!(blocks.iter().map(|v| v.x).collect::<Vec<_>>(), expected);
    }

    /// Regression: the first reduced denoise averaged the picture down with an
    /// overlapping (tent) filter, which smoothed the noise into blotches that the
    /// denoiser kept as detail. Of the built-in scene at 4 spp, a patch of the back
    /// wall must come out about as close to the converged picture from a half-size
    /// denoise as from a full-size one (measured: 2% further off; with the tent
    /// filter, 21%).
    #[test]
    fn a_half_size_denoise_keeps_no_blotches_of_noise() {
        let mut denoiser = Denoiser::open(0).expect("scripts/oidn.sh installs the runtime");
        let scene = Scene::cornell_box();
        let (w, h) = (160usize, 120usize);
        let mut r = Renderer::new(&scene, w as u32, h as u32).unwrap();
        r.set_preview_scales(&[]);
        for _ in 0..4 {
            r.render_next(&|| false).unwrap();
        }
        let averages = r.film().averages(1.0);
        let options = Options {
            quality: Quality::Fast,
            prefilter: false,
        };
        // A converged picture to measure against (other random numbers).
        let mut converged = Renderer::new(&scene, w as u32, h as u32).unwrap();
        converged.set_preview_scales(&[]);
        converged.set_seed(99);
        for _ in 0..256 {
            converged.render_next(&|| false).unwrap();
        }
        let truth = converged.film().averages(1.0).color;
        // The relative RMS error over a patch of the back wall, 26x24 pixels.
        let error = |p: &[Vec3]| {
            let patch = (30..54).flat_map(|y| (67..93).map(move |x| y * w + x));
            let (mut e, mut t) = (0.0f32, 0.0f32);
            for i in patch {
                e += (p[i] - truth[i]).length_squared();
                t += truth[i].length_squared();
            }
            (e / t).sqrt()
        };
        let raw = error(&averages.color);
        let full = denoise_averages(&mut denoiser, &averages, (w, h), options, &|| false).unwrap();
        let half =
            denoise_averages_reduced(&mut denoiser, &averages, (w, h), 2, options, &|| false)
                .unwrap();
        let (full, half) = (error(&full), error(&half));
        assert!(raw > 0.1, "the test needs a noisy picture: {raw}");
        assert!(
            half < 1.12 * full,
            "relative error: raw {raw}, full-size denoise {full}, half-size {half}"
        );
    }

    /// A furnace: a grey diffuse sphere (albedo 0.5) in a uniform environment of
    /// radiance 1. The sphere is convex, so every ray leaving it reaches the
    /// environment: it shows exactly 0.5, the background exactly 1. The denoised
    /// picture of the converged render keeps both within 1% (pixels on the outline,
    /// which mix the two, aside), as it must not invent or lose light; so does the
    /// picture denoised at half size and scaled back up, as the first denoise of a
    /// large picture is.
    #[test]
    fn a_denoised_converged_furnace_stays_within_one_percent_of_the_closed_form() {
        let mut denoiser = Denoiser::open(0).expect("scripts/oidn.sh installs the runtime");
        let scene = Scene::sphere_in_environment(
            Material::Diffuse {
                albedo: Vec3::splat(0.5),
                texture: None,
            },
            Vec3::ONE,
            Camera {
                eye: Vec3::new(0.0, 0.0, 5.0),
                target: Vec3::ZERO,
                up: Vec3::Y,
                fov: 40.0,
            },
        );
        let (w, h) = (96u32, 64u32);
        let mut r = Renderer::new(&scene, w, h).unwrap();
        r.set_preview_scales(&[]);
        for _ in 0..64 {
            r.render_next(&|| false).unwrap();
        }
        let options = Options {
            quality: Quality::High,
            prefilter: true,
        };
        let full = denoise_film(&mut denoiser, r.film(), 1.0, options).unwrap();
        let averages = r.film().averages(1.0);
        let size = (w as usize, h as usize);
        let half = denoise_averages_reduced(&mut denoiser, &averages, size, 2, options, &|| false)
            .unwrap();
        assert_eq!(half.len(), full.len());
        for (downscale, denoised) in [(1i64, full), (2, half)] {
            check_furnace(r.film(), (w, h), downscale, &denoised);
        }
    }

    /// The sphere and the background of the furnace's `denoised` picture (reduced by
    /// `downscale` on the way) within 1% of 0.5 and 1.
    fn check_furnace(film: &Film, (w, h): (u32, u32), downscale: i64, denoised: &[Vec3]) {
        // Which pixels are wholly sphere or wholly background, from the albedo guide,
        // and at least two pixels from the outline (which the filter's footprint
        // reaches across; twice that at half size). The outermost three pixels of the
        // picture (six at half size) are left out too:
        // OIDN 2.5 puts up to 13% of colour noise into the corners of this flat,
        // noise-free background (seen here; the network's border), which a picture
        // of useful size hardly shows.
        let albedo = film.averages(1.0).albedo;
        let class = |x: i64, y: i64| -> Option<u8> {
            let a =
                albedo[(y.clamp(0, h as i64 - 1) * w as i64 + x.clamp(0, w as i64 - 1)) as usize].x;
            if (a - 0.5).abs() < 1e-4 {
                Some(0)
            } else if (a - 1.0).abs() < 1e-4 {
                Some(1)
            } else {
                None
            }
        };
        let (mut sphere, mut background) = (Vec::new(), Vec::new());
        let border = 3 * downscale;
        for y in border..h as i64 - border {
            for x in border..w as i64 - border {
                let c = class(x, y);
                let m = 2 * downscale;
                let inside = (-m..=m).all(|dy| (-m..=m).all(|dx| class(x + dx, y + dy) == c));
                match (inside, c) {
                    (true, Some(0)) => sphere.push(denoised[(y * w as i64 + x) as usize]),
                    (true, Some(1)) => background.push(denoised[(y * w as i64 + x) as usize]),
                    _ => {}
                }
            }
        }
        assert!(
            sphere.len() > 400 && background.len() > 2000,
            "{} {}",
            sphere.len(),
            background.len()
        );
        for (name, pixels, expected) in [
            ("sphere", &sphere, 0.5f32),
            ("background", &background, 1.0),
        ] {
            let mean = pixels.iter().copied().sum::<Vec3>() / pixels.len() as f32;
            assert!(
                (mean - Vec3::splat(expected)).abs().max_element() < 0.01 * expected,
                "{name} (1/{downscale} size): mean {mean}, closed form {expected}"
            );
            let worst = pixels
                .iter()
                .map(|p| (*p - Vec3::splat(expected)).abs().max_element())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 0.03 * expected,
                "{name} (1/{downscale} size): a pixel off by {worst}"
            );
        }
    }
}
