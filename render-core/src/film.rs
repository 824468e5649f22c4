//! The film: per-pixel sums of radiance estimates, and tone mapping to sRGB bytes.
//!
//! Length: Over 600 lines because of its tests (about 300 lines), beside the SIMD tone
//! mapping they check against the scalar code.

use crate::cpu::Simd;
use glam::Vec3;
use rayon::prelude::*;

/// Accumulated radiance for an image, one sum per pixel, with the sums of the
/// denoiser's guides (first-hit albedo and normal) next to it. Every pass adds one
/// sample to every pixel, so one pass count serves the whole image.
#[derive(Clone)]
pub struct Film {
    pub width: u32,
    pub height: u32,
    sums: Vec<Vec3>,
    albedo_sums: Vec<Vec3>,
    normal_sums: Vec<Vec3>,
    passes: u32,
}

/// The film's averages, as a denoiser takes them.
pub struct FilmAverages {
    /// Radiance, times the scale asked for.
    pub color: Vec<Vec3>,
    pub albedo: Vec<Vec3>,
    pub normal: Vec<Vec3>,
}

impl Film {
    pub fn new(width: u32, height: u32) -> Film {
        Film {
            width,
            height,
            sums: vec![Vec3::ZERO; (width * height) as usize],
            albedo_sums: vec![Vec3::ZERO; (width * height) as usize],
            normal_sums: vec![Vec3::ZERO; (width * height) as usize],
            passes: 0,
        }
    }

    pub fn clear(&mut self) {
        self.sums.fill(Vec3::ZERO);
        self.albedo_sums.fill(Vec3::ZERO);
        self.normal_sums.fill(Vec3::ZERO);
        self.passes = 0;
    }

    /// Samples per pixel accumulated so far.
    pub fn samples_per_pixel(&self) -> u32 {
        self.passes
    }

    /// Adds one pass (one sample per pixel, in row-major order): radiance, albedo
    /// and normal.
    pub fn add_pass(&mut self, pass: &[Vec3], albedo: &[Vec3], normal: &[Vec3]) {
        assert!(
            [pass.len(), albedo.len(), normal.len()] == [self.sums.len(); 3],
            "a pass must cover the whole film"
        );
        // Every full pass comes through here: split it over the cores.
        const CHUNK: usize = 16 * 1024;
        for (sums, pass) in [
            (&mut self.sums, pass),
            (&mut self.albedo_sums, albedo),
            (&mut self.normal_sums, normal),
        ] {
            sums.par_chunks_mut(CHUNK)
                .zip(pass.par_chunks(CHUNK))
                .for_each(|(sums, pass)| {
                    for (s, p) in sums.iter_mut().zip(pass) {
                        *s += *p;
                    }
                });
        }
        self.passes += 1;
    }

    /// The averages of radiance (times `scale`), albedo and normal per pixel.
    pub fn averages(&self, scale: f32) -> FilmAverages {
        let n = 1.0 / self.passes.max(1) as f32;
        let average =
            |sums: &[Vec3], k: f32| -> Vec<Vec3> { sums.par_iter().map(|s| *s * k).collect() };
        FilmAverages {
            color: average(&self.sums, scale * n),
            albedo: average(&self.albedo_sums, n),
            normal: average(&self.normal_sums, n),
        }
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

    /// Tone-maps row `y` into separate red, green and blue bytes (`width` each): the
    /// same bytes as [`Film::write_rgb8`] gives for the row.
    pub fn tone_map_row(&self, exposure: f32, y: usize, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
        let w = self.width as usize;
        let sums = &self.sums[y * w..(y + 1) * w];
        let (r, g, b) = (&mut r[..w], &mut g[..w], &mut b[..w]);
        let scale = exposure / self.passes.max(1) as f32;
        tone_map_row_with(crate::cpu::simd(), sums, scale, r, g, b);
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

/// Tone-maps one row of radiance (times `scale`) into separate red, green and blue
/// bytes: what [`Film::tone_map_row`] does for the film's own rows.
pub fn tone_map_radiance_row(
    radiance: &[Vec3],
    scale: f32,
    r: &mut [u8],
    g: &mut [u8],
    b: &mut [u8],
) {
    let w = radiance.len();
    tone_map_row_with(
        crate::cpu::simd(),
        radiance,
        scale,
        &mut r[..w],
        &mut g[..w],
        &mut b[..w],
    );
}

// Tone mapping computes the sRGB code value of each channel value directly, in a form
// that maps onto eight-lane AVX2 arithmetic. The scalar and vector versions do the
// same f32 operations in the same order, so they give identical bytes.
//
// Below 0.0031308 the sRGB curve is linear, 12.92 v. Above, the code value is
// 255 (1.055 v^(1/2.4) - 0.055). Writing v = 2^-k m with m in [1, 2), read from the
// float's exponent and mantissa bits, splits the power into 2^(-k/2.4) m^(1/2.4): the
// first factor is one constant per binary segment [2^-k, 2^(1-k)), kept together with
// 255 * 1.055 in `SEGMENT_SCALE`, and the second is a smooth function on the one fixed
// interval [1, 2), which a cubic matches to within 8.5e-5. The power part is then
// `SEGMENT_SCALE[k] * p(m) - 14.025`: a lookup, four multiply-adds and some bit
// manipulation, with no table of the curve and no `powf`.
//
// Rather than computing both parts and choosing one, the value is clamped twice: to
// at most 0.0031308 for the linear part, and to [0.0031308, 1] for the power part.
// Each part is then constant on the other's range, and their sum, less the value of
// the linear part at 0.0031308, is the curve (its two segments meet there to within
// 1e-4 code values). Against choosing by comparing the value with 0.0031308, this
// saves floating-point operations, which (on the two ports of current x86 cores that
// execute them) limit the speed of the AVX2 code; and it keeps the power part on the
// ten segments k = 0..=9 (0.0031308 lies in the tenth, [2^-9, 2^-8)).
//
// The linear part needs no lower clamp: values below 0, and NaN, which that clamp
// passes on, give code values below 0.5 or NaN, and the conversion to a byte makes
// them 0 (Rust's `as` saturates and maps NaN to 0; in the vector code, NaN and
// out-of-range floats convert to i32::MIN, and the packs to bytes saturate).

/// Where the sRGB curve changes from its linear to its power segment.
const LINEAR_LIMIT: f32 = 0.003_130_8;
/// The slope of the linear segment in code values: 12.92 * 255.
const LINEAR_SCALE: f32 = 3294.6;
/// The offset of the power segment in code values, 0.055 * 255, plus the value of the
/// linear part at `LINEAR_LIMIT` (which the sum of the two parts counts twice).
const POWER_OFFSET: f32 = 14.025 + LINEAR_SCALE * LINEAR_LIMIT;
/// The coefficients (constant term first) of the cubic minimax fit to m^(1/2.4) on
/// [1, 2); its largest error is 8.5e-5, 0.023 code values at most.
const ROOT_FIT: [f32; 4] = [0.45901588, 0.6929694, -0.17629397, 0.024393195];
/// `255 * 1.055 * 2^(-k / 2.4)` for the segment [2^-k, 2^(1-k)), k = 0..=9.
const SEGMENT_SCALE: [f32; 10] = [
    269.025, 201.54103, 150.98518, 113.11108, 84.737564, 63.481445, 47.55735, 35.627758, 26.69066,
    19.995403,
];

/// The sRGB code value of a linear value (exposure already applied), before rounding:
/// in [-0.002, 255.03] for values in [0, 1], 255.03 above (and for +inf), below 0.5 for
/// negative values (large negative ones give large negative codes) and NaN for NaN.
#[inline(always)]
fn srgb_code_unrounded(v: f32) -> f32 {
    // Written as `_mm256_min_ps(LINEAR_LIMIT, v)` works, NaN passing through.
    let linear = if LINEAR_LIMIT < v { LINEAR_LIMIT } else { v };
    // `max` returns the other operand for NaN, as `_mm256_max_ps` returns its second
    // (`clamp` would return NaN).
    #[allow(clippy::manual_clamp, reason = "NaN must become LINEAR_LIMIT")]
    let power = v.max(LINEAR_LIMIT).min(1.0);
    // power = 2^-k m: k (0..=9) from the exponent, m from the mantissa.
    let bits = power.to_bits();
    let segment = SEGMENT_SCALE[(127 - (bits >> 23)) as usize];
    let m = f32::from_bits(bits & 0x007f_ffff | 0x3f80_0000);
    let [c0, c1, c2, c3] = ROOT_FIT;
    let p = c3.mul_add(m, c2).mul_add(m, c1).mul_add(m, c0);
    linear.mul_add(LINEAR_SCALE, segment.mul_add(p, -POWER_OFFSET))
}

/// The 8-bit sRGB code value of a linear value (exposure already applied): clamped to
/// [0, 1] (NaN to 0), through the sRGB curve, rounded to the nearest code value (ties
/// to even, as the vector conversion does).
#[inline(always)]
fn srgb_code(v: f32) -> u8 {
    // The conversion saturates: negative values and NaN give 0 (see above).
    srgb_code_unrounded(v).round_ties_even() as u8
}

/// Tone-maps one row with the given code paths (chosen once per row).
fn tone_map_row_with(
    simd: Simd,
    sums: &[Vec3],
    scale: f32,
    r: &mut [u8],
    g: &mut [u8],
    b: &mut [u8],
) {
    match simd {
        // SAFETY: `Avx2Fma` is only chosen when the processor has AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2Fma => unsafe { tone_map_row_avx2(sums, scale, r, g, b) },
        _ => tone_map_row_portable(sums, scale, r, g, b),
    }
}

/// Tone-maps one row of radiance sums (times `scale`) into separate channel bytes, one
/// value at a time. This is the code for processors without AVX2 and FMA, and for the
/// last few pixels of a row with them.
#[inline(always)]
fn tone_map_row_portable(sums: &[Vec3], scale: f32, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
    for (((s, r), g), b) in sums.iter().zip(r).zip(g).zip(b) {
        *r = srgb_code(s.x * scale);
        *g = srgb_code(s.y * scale);
        *b = srgb_code(s.z * scale);
    }
}

/// Tone-maps one row as `tone_map_row_portable` does, eight pixels at a time with
/// AVX2, giving the same bytes. Only for processors with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tone_map_row_avx2(sums: &[Vec3], scale: f32, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
    use std::arch::x86_64::*;
    let w = sums.len();
    let (r, g, b) = (&mut r[..w], &mut g[..w], &mut b[..w]);
    let (pixels, _) = sums.as_chunks::<8>();
    let blocks = pixels.len() * 8;
    let (r8, _) = r.as_chunks_mut::<8>();
    let (g8, _) = g.as_chunks_mut::<8>();
    let (b8, _) = b.as_chunks_mut::<8>();
    for (((px, r8), g8), b8) in pixels.iter().zip(r8).zip(g8).zip(b8) {
        let px: &[f32; 24] = bytemuck::cast_ref(px);
        // SAFETY: AVX2 and FMA are enabled for this function. `px` holds
        // the 24 floats read (as three unaligned vectors of eight), `PLANAR_SHUFFLES`
        // the 32 bytes read from each of its rows, and `r8`, `g8` and `b8` the 8 bytes
        // written to each (with one unaligned store each).
        unsafe {
            // The code values do not depend on the channel, so the eight pixels'
            // values are mapped as they lie in memory, r0 g0 b0 r1 ... g7 b7, and the
            // channels separated afterwards, as bytes.
            let scale8 = _mm256_set1_ps(scale);
            let codes = |i: usize| {
                srgb_codes_avx2(_mm256_mul_ps(_mm256_loadu_ps(px[8 * i..].as_ptr()), scale8))
            };
            let (a, b, c) = (codes(0), codes(1), codes(2));
            // Narrowed to bytes (the packs saturate, but the codes already fit) the
            // codes come out in groups of four per 128-bit half of the register:
            // a0-3 b0-3 c0-3 c0-3 | a4-7 b4-7 c4-7 c4-7.
            let bytes = _mm256_packus_epi16(_mm256_packus_epi32(a, b), _mm256_packus_epi32(c, c));
            // Every half of the result needs bytes from both halves: one shuffle takes
            // them from the same half, the other from the halves swapped.
            let swapped = _mm256_permute4x64_epi64::<0b01_00_11_10>(bytes);
            let planar = _mm256_or_si256(
                _mm256_shuffle_epi8(
                    bytes,
                    _mm256_loadu_si256(PLANAR_SHUFFLES[0].as_ptr().cast()),
                ),
                _mm256_shuffle_epi8(
                    swapped,
                    _mm256_loadu_si256(PLANAR_SHUFFLES[1].as_ptr().cast()),
                ),
            );
            let low = _mm256_castsi256_si128(planar);
            _mm_storel_epi64(r8.as_mut_ptr().cast(), low);
            _mm_storeh_pd(g8.as_mut_ptr().cast(), _mm_castsi128_pd(low));
            _mm_storel_epi64(
                b8.as_mut_ptr().cast(),
                _mm256_extracti128_si256::<1>(planar),
            );
        }
    }
    tone_map_row_portable(
        &sums[blocks..],
        scale,
        &mut r[blocks..],
        &mut g[blocks..],
        &mut b[blocks..],
    );
}

/// Byte shuffles (`_mm256_shuffle_epi8`, which works within each 128-bit half) that
/// take the narrowed codes of eight pixels' values (a0-3 b0-3 c0-3 c0-3 |
/// a4-7 b4-7 c4-7 c4-7, where a, b and c hold the values r0 g0 b0 r1 ... g7 b7) to
/// r0-7 g0-7 | b0-7 and 8 zero bytes. Row 0 picks the bytes found in the same half of
/// its input, row 1 those in the other half (from the input with its halves swapped);
/// -128 gives zero, for the bytes the other row supplies.
#[cfg(target_arch = "x86_64")]
const PLANAR_SHUFFLES: [[i8; 32]; 2] = {
    let mut rows = [[-128i8; 32]; 2];
    let mut out = 0;
    while out < 24 {
        // Output byte `out` is channel out / 8 of pixel out % 8: value 3 * pixel +
        // channel, which lies in vector value / 8 (a, b or c) at lane value % 8, so
        // in half lane / 4 of the narrowed codes, at byte 4 * vector + lane % 4.
        let value = 3 * (out % 8) + out / 8;
        let (vector, lane) = (value / 8, value % 8);
        let other_half = lane / 4 != out / 16;
        rows[other_half as usize][out] = (4 * vector + lane % 4) as i8;
        out += 1;
    }
    rows
};

/// `srgb_code` for eight values, as 32-bit integers, with the same operations.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn srgb_codes_avx2(v: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    {
        let f = _mm256_set1_ps;
        // `min` and `max` return their second operand if either is NaN: NaN passes
        // into the linear part (as in `srgb_code_unrounded`) and not the power part.
        let linear = _mm256_min_ps(f(LINEAR_LIMIT), v);
        let power = _mm256_min_ps(_mm256_max_ps(v, f(LINEAR_LIMIT)), f(1.0));
        let bits = _mm256_castps_si256(power);
        // SEGMENT_SCALE[k] for k = 127 - E, where E (the biased exponent) is
        // 118..=127. E's low three bits pick a lane of either half of the table, the
        // halves ordered to match: E = 120..=127 is k = 7..=0, and E = 119 or 118
        // (the same low bits as 127 and 126) is k = 8 or 9, in the other half. The
        // sign of bits - (120 << 23), negative for E < 120, picks the half.
        let e = _mm256_srli_epi32::<23>(bits);
        let below_120 = _mm256_add_epi32(bits, _mm256_set1_epi32(-(120 << 23)));
        let s = &SEGMENT_SCALE;
        let low = _mm256_setr_ps(s[7], s[6], s[5], s[4], s[3], s[2], s[1], s[0]);
        let high = _mm256_setr_ps(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, s[9], s[8]);
        let segment = _mm256_blendv_ps(
            _mm256_permutevar8x32_ps(low, e),
            _mm256_permutevar8x32_ps(high, e),
            _mm256_castsi256_ps(below_120),
        );
        let m = _mm256_castsi256_ps(_mm256_or_si256(
            _mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)),
            _mm256_set1_epi32(0x3f80_0000),
        ));
        let [c0, c1, c2, c3] = ROOT_FIT;
        let p = _mm256_fmadd_ps(f(c3), m, f(c2));
        let p = _mm256_fmadd_ps(p, m, f(c1));
        let p = _mm256_fmadd_ps(p, m, f(c0));
        let code = _mm256_fmadd_ps(
            linear,
            f(LINEAR_SCALE),
            _mm256_fmadd_ps(segment, p, f(-POWER_OFFSET)),
        );
        // Rounds to nearest, ties to even (the default rounding mode).
        _mm256_cvtps_epi32(code)
    }
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
    // Packed bytes keep the order of the channel values, so each value maps to the
    // byte at its own position, whatever its channel.
    let values: &[f32] = bytemuck::cast_slice(radiance);
    let done = match crate::cpu::simd() {
        // SAFETY: `Avx2Fma` is only chosen when the processor has AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2Fma => unsafe { write_codes_avx2(values, scale, out) },
        _ => 0,
    };
    for (byte, v) in out[done..].iter_mut().zip(&values[done..]) {
        *byte = srgb_code(v * scale);
    }
}

/// Writes the code values of `values` (times `scale`) to `out`, as `srgb_code` does,
/// for as many whole blocks of 32 as both hold; returns how many it wrote. Only for
/// processors with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn write_codes_avx2(values: &[f32], scale: f32, out: &mut [u8]) -> usize {
    use std::arch::x86_64::*;
    let (blocks, _) = values.as_chunks::<32>();
    let (out_blocks, _) = out.as_chunks_mut::<32>();
    let n = blocks.len().min(out_blocks.len());
    for (v, out) in blocks.iter().zip(out_blocks) {
        // SAFETY: AVX2 and FMA are enabled for this function. `v` holds
        // the 32 floats read (as four unaligned vectors of eight), and `out` the 32
        // bytes written (with one unaligned store).
        unsafe {
            let scale8 = _mm256_set1_ps(scale);
            let codes = |i: usize| {
                srgb_codes_avx2(_mm256_mul_ps(_mm256_loadu_ps(v[8 * i..].as_ptr()), scale8))
            };
            // Narrowed to bytes, the four vectors' codes come out in groups of four, per
            // 128-bit half: a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7; a permutation
            // of the groups restores the order.
            let bytes = _mm256_packus_epi16(
                _mm256_packus_epi32(codes(0), codes(1)),
                _mm256_packus_epi32(codes(2), codes(3)),
            );
            let bytes =
                _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(out.as_mut_ptr().cast(), bytes);
        }
    }
    n * 32
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
        film.add_pass(&pixels, &pixels, &pixels);
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

    /// The exact sRGB code value, unrounded, of a value after clamping (in f64).
    fn exact_code(v: f32) -> f64 {
        let c = if v >= 0.0 { v.min(1.0) as f64 } else { 0.0 };
        255.0
            * if c <= 0.003_130_8 {
                12.92 * c
            } else {
                1.055 * c.powf(1.0 / 2.4) - 0.055
            }
    }

    /// Every 97th float in [0, 1] in increasing order, then the edge cases.
    fn sweep() -> Vec<f32> {
        let mut values: Vec<f32> = (0..=1f32.to_bits())
            .step_by(97)
            .map(f32::from_bits)
            .collect();
        let limit = 0.003_130_8f32;
        values.extend([
            1e-9,
            f32::from_bits(limit.to_bits() - 1),
            limit,
            f32::from_bits(limit.to_bits() + 1),
            f32::from_bits(1f32.to_bits() - 2),
            f32::from_bits(1f32.to_bits() - 1),
            1.0,
            f32::from_bits(1f32.to_bits() + 1),
            1.5,
            1e30,
            f32::MAX,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            -1e-30,
            -0.5,
            -f32::MAX,
            f32::from_bits(1),
        ]);
        values
    }

    /// A deterministic xorshift generator, for test inputs.
    fn random_values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let special = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -1.0, 1e30, 0.0];
        (0..n)
            .map(|_| {
                let r = next();
                match r % 8 {
                    // Any bit pattern: NaNs, infinities, huge, tiny and negative values.
                    0 => f32::from_bits((r >> 32) as u32),
                    1 => special[(r >> 32) as usize % special.len()],
                    // Mostly the values a film holds, a little past white too.
                    _ => (r >> 40) as f32 / (1u64 << 24) as f32 * 1.2,
                }
            })
            .collect()
    }

    /// The rounded codes are at most one code value from the old table's rounding of
    /// `linear_to_srgb`, and within 0.6 of the exact curve; before rounding they are
    /// within 0.03 (for values that are not negative or NaN, which all give 0).
    #[test]
    fn srgb_codes_follow_the_curve() {
        let values = sweep();
        let (mut off_by_one, mut off_from_exact, mut max_error) = (0usize, 0usize, 0f64);
        for &v in &values {
            let exact = exact_code(v);
            let unrounded = srgb_code_unrounded(v) as f64;
            let code = srgb_code(v);
            let clamped = if v >= 0.0 { v.min(1.0) } else { 0.0 };
            let reference = (linear_to_srgb(clamped) * 255.0 + 0.5) as u8;
            assert!(
                code.abs_diff(reference) <= 1,
                "{v:e}: {code} against {reference}"
            );
            assert!(
                (code as f64 - exact).abs() <= 0.6,
                "{v:e}: {code} against {exact}"
            );
            if v >= 0.0 {
                assert!(
                    (unrounded - exact).abs() <= 0.03,
                    "{v:e}: {unrounded} against {exact}"
                );
                max_error = max_error.max((unrounded - exact).abs());
            } else {
                // Below zero (and for NaN) the linear part is left unclamped: the code
                // value is below 0.5 (less than 0 but for rounding errors) or NaN, and
                // converts to 0.
                assert!(unrounded.is_nan() || unrounded < 0.5, "{v:e}: {unrounded}");
                assert_eq!(code, 0, "{v:e}");
            }
            off_by_one += usize::from(code != reference);
            off_from_exact += usize::from(code as f64 != (exact + 0.5).floor());
        }
        println!(
            "{} values: {off_by_one} codes differ by one from the table's, \
             {off_from_exact} from the exactly rounded curve; largest error before \
             rounding {max_error:.4} code values",
            values.len()
        );
        assert!(
            off_by_one * 1000 < values.len(),
            "{off_by_one} codes differ"
        );
    }

    #[test]
    fn srgb_codes_never_decrease() {
        let values: Vec<f32> = sweep().into_iter().filter(|v| v.is_finite()).collect();
        let mut sorted = values.clone();
        sorted.sort_by(f32::total_cmp);
        let mut last = 0;
        for v in sorted {
            let code = srgb_code(v);
            assert!(code >= last, "{v:e} gives {code} after {last}");
            last = code;
        }
        assert_eq!(last, 255);
    }

    #[test]
    fn srgb_codes_of_known_values() {
        assert_eq!(srgb_code(0.0), 0);
        assert_eq!(srgb_code(1.0), 255);
        assert!((187..=188).contains(&srgb_code(0.5)));
        assert_eq!(
            srgb_code(0.2),
            (255.0 * linear_to_srgb(0.2) as f64).round() as u8
        );
        assert_eq!(srgb_code(f32::NAN), 0);
        assert_eq!(srgb_code(f32::INFINITY), 255);
        assert_eq!(srgb_code(f32::NEG_INFINITY), 0);
    }

    /// The segment scales are `255 * 1.055 * 2^(-k / 2.4)`, rounded to f32.
    #[test]
    fn segment_scales_match_their_formula() {
        for (k, &s) in SEGMENT_SCALE.iter().enumerate() {
            let exact = 255.0 * 1.055 * 2f64.powf(-(k as f64) / 2.4);
            assert_eq!(s, exact as f32, "k = {k}");
        }
    }

    /// A row function: radiance sums, scale, and the red, green and blue bytes.
    type RowFn = fn(&[Vec3], f32, &mut [u8], &mut [u8], &mut [u8]);

    /// Tone-maps `values` (three a pixel) as one row, with the given row function.
    fn map_row(values: &[f32], scale: f32, row: RowFn) -> Vec<u8> {
        let pixels: &[Vec3] = bytemuck::cast_slice(values);
        let n = pixels.len();
        let mut out = vec![0u8; 3 * n];
        let (r, gb) = out.split_at_mut(n);
        let (g, b) = gb.split_at_mut(n);
        row(pixels, scale, r, g, b);
        out
    }

    /// The AVX2 row function (on a processor that has it, whether or not
    /// `STREAMTRACER_PORTABLE` is set) gives the same bytes as the portable one, which
    /// gives `srgb_code` of each channel value, as the packed path does (with the
    /// paths this process chose), for any value and for row widths that are and are
    /// not multiples of eight.
    #[test]
    fn all_paths_give_identical_bytes() {
        let fast: RowFn =
            |sums, scale, r, g, b| tone_map_row_with(crate::cpu::hardware(), sums, scale, r, g, b);
        println!("comparing {} with portable", crate::cpu::hardware().name());
        let mut rows: Vec<(Vec<f32>, f32)> = Vec::new();
        for (i, w) in [1usize, 7, 8, 9, 16, 70, 1283].into_iter().enumerate() {
            for scale in [1.0, 0.37, 3.0e7] {
                rows.push((random_values(3 * w, i as u64 + 1), scale));
            }
        }
        // The whole sweep too, as one long row.
        let mut sweep = sweep();
        sweep.truncate(sweep.len() / 3 * 3);
        rows.push((sweep, 1.0));
        for (values, scale) in &rows {
            let n = values.len() / 3;
            let portable = map_row(values, *scale, tone_map_row_portable);
            assert_eq!(map_row(values, *scale, fast), portable, "width {n}");
            let mut packed = vec![0u8; values.len()];
            write_rgb8(bytemuck::cast_slice(values), *scale, &mut packed);
            for (p, c) in values.chunks(3).enumerate() {
                let codes = c.iter().map(|v| srgb_code(v * scale));
                for (channel, code) in codes.enumerate() {
                    assert_eq!(portable[channel * n + p], code, "pixel {p} of {n}");
                    assert_eq!(packed[3 * p + channel], code, "packed pixel {p} of {n}");
                }
            }
        }
    }

    /// A film row wide enough for the eight-pixel blocks gives the packed path's bytes.
    #[test]
    fn wide_film_rows_match_the_packed_path() {
        let (w, h) = (70u32, 3u32);
        let values = random_values((3 * w * h) as usize, 99);
        let mut film = Film::new(w, h);
        let zeros = vec![Vec3::ZERO; values.len() / 3];
        film.add_pass(bytemuck::cast_slice(&values), &zeros, &zeros);
        film.add_pass(
            bytemuck::cast_slice(&random_values(values.len(), 7)),
            &zeros,
            &zeros,
        );
        let mut packed = vec![0u8; values.len()];
        film.write_rgb8(0.8, &mut packed);
        let w = w as usize;
        let (mut r, mut g, mut b) = (vec![0u8; w], vec![0u8; w], vec![0u8; w]);
        for y in 0..h as usize {
            film.tone_map_row(0.8, y, &mut r, &mut g, &mut b);
            for x in 0..w {
                let i = 3 * (y * w + x);
                assert_eq!([r[x], g[x], b[x]], packed[i..i + 3], "pixel {x}, {y}");
            }
        }
    }

    #[test]
    fn film_averages_passes() {
        let mut film = Film::new(2, 1);
        film.add_pass(&[Vec3::ONE, Vec3::ZERO], &[Vec3::ZERO; 2], &[Vec3::ZERO; 2]);
        film.add_pass(
            &[Vec3::ZERO, Vec3::ZERO],
            &[Vec3::ZERO; 2],
            &[Vec3::ZERO; 2],
        );
        assert_eq!(film.samples_per_pixel(), 2);
        assert_eq!(film.pixel(0, 0), Vec3::splat(0.5));
        assert_eq!(film.mean(), Vec3::splat(0.25));
    }
}
