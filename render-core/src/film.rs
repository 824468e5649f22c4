//! The film: per-pixel sums of radiance estimates, and tone mapping to sRGB bytes.

use glam::Vec3;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Accumulated radiance for an image, one sum per pixel. Every pass adds one sample
/// to every pixel, so one pass count serves the whole image.
#[derive(Clone)]
pub struct Film {
    pub width: u32,
    pub height: u32,
    sums: Vec<Vec3>,
    passes: u32,
}

impl Film {
    pub fn new(width: u32, height: u32) -> Film {
        Film {
            width,
            height,
            sums: vec![Vec3::ZERO; (width * height) as usize],
            passes: 0,
        }
    }

    pub fn clear(&mut self) {
        self.sums.fill(Vec3::ZERO);
        self.passes = 0;
    }

    /// Samples per pixel accumulated so far.
    pub fn samples_per_pixel(&self) -> u32 {
        self.passes
    }

    /// Adds one pass (one sample per pixel, in row-major order).
    pub fn add_pass(&mut self, pass: &[Vec3]) {
        assert_eq!(
            pass.len(),
            self.sums.len(),
            "a pass must cover the whole film"
        );
        // Every full pass comes through here: split it over the cores.
        self.sums
            .par_chunks_mut(16 * 1024)
            .zip(pass.par_chunks(16 * 1024))
            .for_each(|(sums, pass)| {
                for (s, p) in sums.iter_mut().zip(pass) {
                    *s += *p;
                }
            });
        self.passes += 1;
    }

    /// The current estimate of the radiance of pixel (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> Vec3 {
        self.sums[(y * self.width + x) as usize] / self.passes.max(1) as f32
    }

    /// The mean radiance over the image.
    pub fn mean(&self) -> Vec3 {
        let sum: glam::DVec3 = self.sums.iter().map(|s| s.as_dvec3()).sum();
        (sum / (self.sums.len().max(1) as f64 * self.passes.max(1) as f64)).as_vec3()
    }

    /// Tone-maps row `y` into separate red, green and blue bytes (`width` each).
    pub fn tone_map_row(&self, exposure: f32, y: usize, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
        let w = self.width as usize;
        let sums: &[f32] = bytemuck::cast_slice(&self.sums[y * w..(y + 1) * w]);
        let (r, g, b) = (&mut r[..w], &mut g[..w], &mut b[..w]);
        let scale = exposure / self.passes.max(1) as f32;
        let lut = srgb_lut();
        // Table positions for a block of channel values, in a loop the compiler
        // vectorises; then the lookups, which also split the channels apart.
        const BLOCK: usize = 96;
        let mut index = [0i32; BLOCK];
        for (block, values) in sums.chunks(BLOCK).enumerate() {
            for (i, v) in index.iter_mut().zip(values) {
                *i = lut_index(*v * scale);
            }
            let first = block * BLOCK / 3;
            for (p, idx) in index[..values.len()].chunks_exact(3).enumerate() {
                let x = first + p;
                r[x] = lut[idx[0] as usize & (LUT_SIZE - 1)];
                g[x] = lut[idx[1] as usize & (LUT_SIZE - 1)];
                b[x] = lut[idx[2] as usize & (LUT_SIZE - 1)];
            }
        }
    }

    /// Tone-maps into packed RGB bytes (`width * height * 3`).
    pub fn write_rgb8(&self, exposure: f32, out: &mut [u8]) {
        assert_eq!(
            out.len(),
            self.sums.len() * 3,
            "output must hold three bytes per pixel"
        );
        let scale = exposure / self.passes.max(1) as f32;
        // Rows of work for every core (offline renders, previews, tests; the server
        // reads rows through `tone_map_row` instead).
        const CHUNK: usize = 16 * 1024;
        out.par_chunks_mut(CHUNK * 3)
            .zip(self.sums.par_chunks(CHUNK))
            .for_each(|(out, sums)| write_rgb8(sums, scale, out));
    }
}

const LUT_SIZE: usize = 4096;

/// The sRGB transfer function sampled finely enough that the 8-bit result is exact
/// to within one code value, so tone mapping costs a multiply and a lookup per channel.
fn srgb_lut() -> &'static [u8; LUT_SIZE] {
    static LUT: OnceLock<[u8; LUT_SIZE]> = OnceLock::new();
    LUT.get_or_init(|| {
        let mut lut = [0u8; LUT_SIZE];
        for (i, v) in lut.iter_mut().enumerate() {
            *v = (linear_to_srgb(i as f32 / (LUT_SIZE - 1) as f32) * 255.0 + 0.5) as u8;
        }
        lut
    })
}

/// The table position of a linear value: clamped to [0, 1] (NaN to 0), rounded.
#[inline(always)]
fn lut_index(v: f32) -> i32 {
    // Written so that NaN fails the comparison and becomes 0.
    let c = if v >= 0.0 { v.min(1.0) } else { 0.0 };
    let x = c * (LUT_SIZE - 1) as f32 + 0.5;
    // SAFETY: x is finite and in [0.5, LUT_SIZE - 0.5], so it fits an i32. The
    // unchecked conversion is a single SIMD instruction where `as` (which must
    // saturate) keeps the loop from vectorising.
    unsafe { x.to_int_unchecked::<i32>() }
}

/// The sRGB opto-electronic transfer function on [0, 1].
pub fn linear_to_srgb(v: f32) -> f32 {
    if v <= 0.003_130_8 {
        12.92 * v
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// The sRGB electro-optical transfer function (decoding) on [0, 1].
pub fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.040_45 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// Tone-maps radiance values (times `scale`) to sRGB bytes: exposure, clamp, sRGB curve.
pub fn write_rgb8(radiance: &[Vec3], scale: f32, out: &mut [u8]) {
    assert_eq!(
        out.len(),
        radiance.len() * 3,
        "output must hold three bytes per pixel"
    );
    let lut = srgb_lut();
    let byte = |v: f32| lut[lut_index(v * scale) as usize & (LUT_SIZE - 1)];
    for (px, l) in out.chunks_exact_mut(3).zip(radiance) {
        px.copy_from_slice(&[byte(l.x), byte(l.y), byte(l.z)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_mapping_of_known_values() {
        let radiance = [
            Vec3::ZERO,
            Vec3::ONE,
            Vec3::splat(0.5),
            Vec3::new(10.0, -1.0, f32::NAN),
        ];
        let mut out = [0u8; 12];
        write_rgb8(&radiance, 1.0, &mut out);
        assert_eq!(&out[0..3], &[0, 0, 0]);
        assert_eq!(&out[3..6], &[255, 255, 255]);
        // sRGB(0.5) = 0.7354 -> 188.
        assert!(
            out[6..9].iter().all(|&v| (187..=188).contains(&v)),
            "{:?}",
            &out[6..9]
        );
        assert_eq!(&out[9..12], &[255, 0, 0]);
    }

    /// The row path (what the video converter reads) maps the same values, NaN and
    /// infinities included, to the same bytes as the packed path.
    #[test]
    fn tone_mapped_rows_match_the_packed_path_for_any_value() {
        let values = [
            0.0,
            1.0,
            0.5,
            0.0031308,
            1e-9,
            -1.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            10.0,
            0.2,
            0.999,
        ];
        let pixels: Vec<Vec3> = values
            .chunks(3)
            .map(|c| Vec3::new(c[0], c[1], c[2]))
            .collect();
        let mut film = Film::new(pixels.len() as u32, 1);
        film.add_pass(&pixels);
        let n = pixels.len();
        let (mut r, mut g, mut b) = (vec![0u8; n], vec![0u8; n], vec![0u8; n]);
        film.tone_map_row(1.0, 0, &mut r, &mut g, &mut b);
        let mut packed = vec![0u8; n * 3];
        film.write_rgb8(1.0, &mut packed);
        for i in 0..n {
            assert_eq!([r[i], g[i], b[i]], packed[3 * i..3 * i + 3], "pixel {i}");
        }
        assert_eq!([r[2], g[2], b[2]], [0, 255, 0], "NaN, +inf, -inf");
        assert_eq!(&packed[..3], &[0, 255, 188], "0, 1, 0.5");
    }

    #[test]
    fn film_averages_passes() {
        let mut film = Film::new(2, 1);
        film.add_pass(&[Vec3::ONE, Vec3::ZERO]);
        film.add_pass(&[Vec3::ZERO, Vec3::ZERO]);
        assert_eq!(film.samples_per_pixel(), 2);
        assert_eq!(film.pixel(0, 0), Vec3::splat(0.5));
        assert_eq!(film.mean(), Vec3::splat(0.25));
    }
}
