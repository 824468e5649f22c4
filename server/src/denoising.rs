//! Denoising the film with Open Image Denoise (crate `denoise`), for the live views and
//! for `streamtracer render`.
//!
//! The denoiser works on the film's HDR averages before tone mapping, guided by the
//! first-hit albedo and normal the film accumulates next to the colour. The runtime is
//! opened when first needed; if it cannot be, that is said once in the log and the
//! pictures go out undenoised.

use glam::Vec3;
use render_core::film::Film;
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
    let mut out = vec![Vec3::ZERO; averages.color.len()];
    let images = denoise::Images {
        width: film.width as usize,
        height: film.height as usize,
        color: bytemuck::cast_slice(&averages.color),
        albedo: Some(bytemuck::cast_slice(&averages.albedo)),
        normal: Some(bytemuck::cast_slice(&averages.normal)),
    };
    denoiser.denoise(&images, options, bytemuck::cast_slice_mut(&mut out))?;
    Ok(out)
}
