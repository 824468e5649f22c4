//! Texture images: decoded to linear RGB and sampled bilinearly.
//!
//! Texture coordinates have (0, 0) at the top-left of the image and (1, 1) at the
//! bottom-right (glTF's convention; loaders of formats with the origin at the bottom
//! flip v). Coordinates outside [0, 1] repeat.

use crate::film::srgb_to_linear;
use glam::{Vec2, Vec3};
use std::path::Path;

/// A decoded image in linear RGB.
#[derive(Clone, Debug, PartialEq)]
pub struct TextureImage {
    pub width: u32,
    pub height: u32,
    pub texels: Vec<Vec3>,
}

/// Why an image could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TextureError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is {width}x{height}; textures must be between 1x1 and 16384x16384")]
    Size {
        path: String,
        width: u32,
        height: u32,
    },
}

impl TextureImage {
    /// Decodes an image file: 8- and 16-bit images are sRGB-encoded, floating-point
    /// images (Radiance HDR) linear.
    pub fn load(path: &Path) -> Result<TextureImage, TextureError> {
        let name = path.display().to_string();
        let image = image::ImageReader::open(path)
            .map_err(|e| TextureError::Read {
                path: name.clone(),
                reason: e.to_string(),
            })?
            .with_guessed_format()
            .map_err(|e| TextureError::Read {
                path: name.clone(),
                reason: e.to_string(),
            })?
            .decode()
            .map_err(|e| TextureError::Read {
                path: name.clone(),
                reason: e.to_string(),
            })?;
        Self::from_dynamic(&image, &name)
    }

    /// Decodes an image held in memory (an embedded glTF image, say).
    pub fn decode(bytes: &[u8], name: &str) -> Result<TextureImage, TextureError> {
        let image = image::load_from_memory(bytes).map_err(|e| TextureError::Read {
            path: name.to_owned(),
            reason: e.to_string(),
        })?;
        Self::from_dynamic(&image, name)
    }

    fn from_dynamic(image: &image::DynamicImage, name: &str) -> Result<TextureImage, TextureError> {
        let (width, height) = (image.width(), image.height());
        if width == 0 || height == 0 || width > 16384 || height > 16384 {
            return Err(TextureError::Size {
                path: name.to_owned(),
                width,
                height,
            });
        }
        let texels = match image {
            image::DynamicImage::ImageRgb32F(_) | image::DynamicImage::ImageRgba32F(_) => image
                .to_rgb32f()
                .pixels()
                .map(|p| Vec3::from_array(p.0).max(Vec3::ZERO))
                .collect(),
            _ => {
                let lut: Vec<f32> = (0..=255)
                    .map(|v| srgb_to_linear(v as f32 / 255.0))
                    .collect();
                image
                    .to_rgb8()
                    .pixels()
                    .map(|p| Vec3::new(lut[p[0] as usize], lut[p[1] as usize], lut[p[2] as usize]))
                    .collect()
            }
        };
        Ok(TextureImage {
            width,
            height,
            texels,
        })
    }

    /// A checkerboard of `squares` by `squares` squares alternating `a` and `b`.
    pub fn checker(squares: u32, a: Vec3, b: Vec3) -> TextureImage {
        let n = squares.max(1);
        let texels = (0..n * n)
            .map(|i| {
                if (i % n + i / n).is_multiple_of(2) {
                    a
                } else {
                    b
                }
            })
            .collect();
        TextureImage {
            width: n,
            height: n,
            texels,
        }
    }

    fn texel(&self, x: i64, y: i64) -> Vec3 {
        let x = x.rem_euclid(self.width as i64) as usize;
        let y = y.rem_euclid(self.height as i64) as usize;
        self.texels[y * self.width as usize + x]
    }

    /// Bilinear lookup at `uv`, repeating outside [0, 1].
    pub fn sample(&self, uv: Vec2) -> Vec3 {
        let x = uv.x * self.width as f32 - 0.5;
        let y = uv.y * self.height as f32 - 0.5;
        if !(x.is_finite() && y.is_finite()) {
            return Vec3::ZERO;
        }
        let (x0, y0) = (x.floor(), y.floor());
        let (tx, ty) = (x - x0, y - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let top = self.texel(x0, y0).lerp(self.texel(x0 + 1, y0), tx);
        let bottom = self.texel(x0, y0 + 1).lerp(self.texel(x0 + 1, y0 + 1), tx);
        top.lerp(bottom, ty)
    }

    /// The texel nearest to `uv` (no filtering), for environment lookups that must
    /// agree exactly with the distribution they were importance-sampled from.
    pub fn nearest(&self, uv: Vec2) -> Vec3 {
        let x = (uv.x * self.width as f32).floor();
        let y = (uv.y * self.height as f32).floor();
        if !(x.is_finite() && y.is_finite()) {
            return Vec3::ZERO;
        }
        self.texel(x as i64, y as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checker_samples_and_repeats() {
        let t = TextureImage::checker(2, Vec3::ZERO, Vec3::ONE);
        assert_eq!(t.sample(Vec2::new(0.25, 0.25)), Vec3::ZERO);
        assert_eq!(t.sample(Vec2::new(0.75, 0.25)), Vec3::ONE);
        assert_eq!(t.sample(Vec2::new(1.25, 0.25)), Vec3::ZERO, "repeats");
        assert_eq!(t.nearest(Vec2::new(0.75, 0.75)), Vec3::ZERO);
        // Halfway between texel centres blends both.
        assert!((t.sample(Vec2::new(0.5, 0.25)) - Vec3::splat(0.5)).length() < 1e-6);
    }

    #[test]
    fn png_round_trip_decodes_srgb_to_linear() {
        let dir = std::env::temp_dir().join(format!("rc-tex-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("grey.png");
        image::save_buffer(
            &path,
            &[188, 188, 188, 0, 0, 0],
            2,
            1,
            image::ColorType::Rgb8,
        )
        .unwrap();
        let t = TextureImage::load(&path).unwrap();
        assert_eq!((t.width, t.height), (2, 1));
        // sRGB 188 is linear 0.5.
        assert!((t.texels[0].x - 0.5).abs() < 0.01, "{}", t.texels[0]);
        assert_eq!(t.texels[1], Vec3::ZERO);
        let e = TextureImage::load(&dir.join("missing.png"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.png"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
