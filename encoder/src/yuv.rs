//! Colour conversion between packed RGB and planar I420 (YUV 4:2:0).
//!
//! BT.709 matrix, limited ("studio") range: Y in [16, 235], U and V in [16, 240].
//! Fixed-point arithmetic with 14 fractional bits keeps it exact to within one code
//! value of the floating-point formula while staying cheap. Chroma is the average of
//! each 2x2 block.

use crate::cpu::Simd;

/// A picture in I420: a full-resolution luma plane and two half-resolution chroma planes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct I420Frame {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl I420Frame {
    /// A black frame. Both dimensions must be even (H.264 4:2:0 needs whole chroma blocks).
    pub fn new(width: usize, height: usize) -> I420Frame {
        assert!(
            width.is_multiple_of(2) && height.is_multiple_of(2) && width > 0 && height > 0,
            "I420 needs even, non-zero dimensions"
        );
        let c = (width / 2) * (height / 2);
        I420Frame {
            width,
            height,
            y: vec![16; width * height],
            u: vec![128; c],
            v: vec![128; c],
        }
    }
}

impl I420Frame {
    /// The picture as packed RGB bytes (see [`i420_to_rgb`]).
    pub fn to_rgb(&self) -> Vec<u8> {
        let mut rgb = vec![0u8; self.width * self.height * 3];
        i420_to_rgb(
            (&self.y, &self.u, &self.v),
            (self.width, self.width / 2),
            (self.width, self.height),
            &mut rgb,
        );
        rgb
    }

    /// The picture at half the width and height (each output sample the rounded mean
    /// of a 2x2 block, in every plane), or `None` when a half size would not be even
    /// or would be under 16 pixels.
    pub fn half(&self) -> Option<I420Frame> {
        let (w, h) = (self.width / 2, self.height / 2);
        if !self.width.is_multiple_of(4) || !self.height.is_multiple_of(4) || w < 16 || h < 16 {
            return None;
        }
        let mut out = I420Frame::new(w, h);
        half_plane(&self.y, self.width, &mut out.y, w);
        half_plane(&self.u, self.width / 2, &mut out.u, w / 2);
        half_plane(&self.v, self.width / 2, &mut out.v, w / 2);
        Some(out)
    }
}

/// 2x2 box filter from a plane `width` wide into one `out_width` wide (half).
fn half_plane(plane: &[u8], width: usize, out: &mut [u8], out_width: usize) {
    for (y, row) in out.chunks_exact_mut(out_width).enumerate() {
        let top = &plane[2 * y * width..][..width];
        let bottom = &plane[(2 * y + 1) * width..][..width];
        for (x, o) in row.iter_mut().enumerate() {
            let sum = top[2 * x] as u16
                + top[2 * x + 1] as u16
                + bottom[2 * x] as u16
                + bottom[2 * x + 1] as u16;
            *o = ((sum + 2) / 4) as u8;
        }
    }
}

impl openh264::formats::YUVSource for I420Frame {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }
    fn strides(&self) -> (usize, usize, usize) {
        (self.width, self.width / 2, self.width / 2)
    }
    fn y(&self) -> &[u8] {
        &self.y
    }
    fn u(&self) -> &[u8] {
        &self.u
    }
    fn v(&self) -> &[u8] {
        &self.v
    }
}

const SHIFT: i32 = 14;
const ONE: f64 = (1 << SHIFT) as f64;
// BT.709: Kr = 0.2126, Kb = 0.0722. Limited range scales Y by 219/255 and chroma by 224/255.
const KR: f64 = 0.2126;
const KB: f64 = 0.0722;
const KG: f64 = 1.0 - KR - KB;
const YR: i32 = (KR * 219.0 / 255.0 * ONE + 0.5) as i32;
const YG: i32 = (KG * 219.0 / 255.0 * ONE + 0.5) as i32;
const YB: i32 = (KB * 219.0 / 255.0 * ONE + 0.5) as i32;
const UR: i32 = -((KR / (2.0 * (1.0 - KB))) * 224.0 / 255.0 * ONE + 0.5) as i32;
const UG: i32 = -((KG / (2.0 * (1.0 - KB))) * 224.0 / 255.0 * ONE + 0.5) as i32;
const UB: i32 = (0.5 * 224.0 / 255.0 * ONE + 0.5) as i32;
const VR: i32 = (0.5 * 224.0 / 255.0 * ONE + 0.5) as i32;
const VG: i32 = -((KG / (2.0 * (1.0 - KR))) * 224.0 / 255.0 * ONE + 0.5) as i32;
const VB: i32 = -((KB / (2.0 * (1.0 - KR))) * 224.0 / 255.0 * ONE + 0.5) as i32;
const HALF: i32 = 1 << (SHIFT - 1);

#[inline]
fn luma(r: i32, g: i32, b: i32) -> u8 {
    (((YR * r + YG * g + YB * b + HALF) >> SHIFT) + 16) as u8
}

/// A picture that can hand out its rows as planar sRGB bytes, computed on demand: the
/// renderer's film tone-maps each row straight into the converter's small row
/// buffers, so no full-size RGB copy of the frame is ever made.
pub trait RgbRows: Sync {
    /// Writes row `y` (`r.len()` pixels) as separate red, green and blue bytes.
    fn row(&self, y: usize, r: &mut [u8], g: &mut [u8], b: &mut [u8]);
}

/// Row pairs per parallel task: enough work to amortise scheduling, small enough to
/// balance two to a few dozen cores at 720p and above.
const PAIRS_PER_TASK: usize = 8;

/// Fills `frame` from `source`, row pairs in parallel (rayon), each converted while
/// its rows are still in the core's cache.
pub fn rows_to_i420(source: &impl RgbRows, frame: &mut I420Frame) {
    use rayon::prelude::*;
    let (w, cw) = (frame.width, frame.width / 2);
    let y_chunks = frame.y.par_chunks_mut(2 * w * PAIRS_PER_TASK);
    let u_chunks = frame.u.par_chunks_mut(cw * PAIRS_PER_TASK);
    let v_chunks = frame.v.par_chunks_mut(cw * PAIRS_PER_TASK);
    y_chunks
        .zip(u_chunks)
        .zip(v_chunks)
        .enumerate()
        .for_each(|(task, ((y, u), v))| {
            // The code paths, chosen once per task: the whole task (the source's rows
            // too, where they inline) is compiled for each.
            match crate::cpu::simd() {
                // SAFETY: `Avx2Fma` is only chosen when the processor has AVX2.
                #[cfg(target_arch = "x86_64")]
                Simd::Avx2Fma => unsafe { convert_task_avx2(source, task, w, y, u, v) },
                simd => convert_task(simd, source, task, w, y, u, v),
            }
        });
}

/// [`convert_task`] with AVX2 enabled for the whole task.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
fn convert_task_avx2(
    source: &impl RgbRows,
    task: usize,
    w: usize,
    y: &mut [u8],
    u: &mut [u8],
    v: &mut [u8],
) {
    convert_task(Simd::Avx2Fma, source, task, w, y, u, v);
}

/// Converts one task's row pairs (`task` counts tasks of [`PAIRS_PER_TASK`] pairs)
/// with the `simd` code paths; inlined into its caller, with the caller's features.
#[inline(always)]
fn convert_task(
    simd: Simd,
    source: &impl RgbRows,
    task: usize,
    w: usize,
    y: &mut [u8],
    u: &mut [u8],
    v: &mut [u8],
) {
    let cw = w / 2;
    // Two rows of planar RGB: a few kilobytes that stay in L1.
    let mut rgb = vec![0u8; 6 * w];
    let (top, bottom) = rgb.split_at_mut(3 * w);
    let (r0, rest) = top.split_at_mut(w);
    let (g0, b0) = rest.split_at_mut(w);
    let (r1, rest) = bottom.split_at_mut(w);
    let (g1, b1) = rest.split_at_mut(w);
    for (pair, ((y, u), v)) in y
        .chunks_exact_mut(2 * w)
        .zip(u.chunks_exact_mut(cw))
        .zip(v.chunks_exact_mut(cw))
        .enumerate()
    {
        let row = 2 * (task * PAIRS_PER_TASK + pair);
        source.row(row, r0, g0, b0);
        source.row(row + 1, r1, g1, b1);
        let (y0, y1) = y.split_at_mut(w);
        luma_row(simd, r0, g0, b0, y0);
        luma_row(simd, r1, g1, b1, y1);
        chroma_row(simd, [r0, g0, b0], [r1, g1, b1], u, v);
    }
}

/// Luma of one row, 32 pixels at a time with AVX2 where `simd` says the processor
/// has it, the rest (and everything elsewhere) one pixel at a time; both give the
/// same bytes.
#[inline]
fn luma_row(simd: Simd, r: &[u8], g: &[u8], b: &[u8], y: &mut [u8]) {
    let n = y.len();
    let (r, g, b) = (&r[..n], &g[..n], &b[..n]);
    let done = match simd {
        // SAFETY: `Avx2Fma` is only chosen when the processor has AVX2.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2Fma => unsafe { avx2::luma(r, g, b, y) },
        _ => 0,
    };
    luma_row_scalar(&r[done..], &g[done..], &b[done..], &mut y[done..]);
}

#[inline]
fn luma_row_scalar(r: &[u8], g: &[u8], b: &[u8], y: &mut [u8]) {
    for (i, y) in y.iter_mut().enumerate() {
        *y = luma(r[i] as i32, g[i] as i32, b[i] as i32);
    }
}

/// Chroma of a row pair, 32 columns at a time with AVX2 where `simd` says the
/// processor has it, the rest one 2x2 block at a time; both give the same bytes.
#[inline]
fn chroma_row(simd: Simd, top: [&[u8]; 3], bottom: [&[u8]; 3], u: &mut [u8], v: &mut [u8]) {
    let done = match simd {
        // SAFETY: `Avx2Fma` is only chosen when the processor has AVX2.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2Fma => unsafe { avx2::chroma(top, bottom, u, v) },
        _ => 0,
    };
    chroma_row_scalar(
        top.map(|c| &c[2 * done..]),
        bottom.map(|c| &c[2 * done..]),
        &mut u[done..],
        &mut v[done..],
    );
}

/// Chroma of each 2x2 block from the sums of its four values: the matrix is linear,
/// so this is the matrix applied to the block's average, with the division by four
/// folded into the shift.
#[inline]
fn chroma_row_scalar(top: [&[u8]; 3], bottom: [&[u8]; 3], u: &mut [u8], v: &mut [u8]) {
    for (i, (u, v)) in u.iter_mut().zip(v.iter_mut()).enumerate() {
        let sum = |c: usize| {
            let (t, b) = (top[c], bottom[c]);
            t[2 * i] as i32 + t[2 * i + 1] as i32 + b[2 * i] as i32 + b[2 * i + 1] as i32
        };
        let (sr, sg, sb) = (sum(0), sum(1), sum(2));
        *u = chroma(UR * sr + UG * sg + UB * sb);
        *v = chroma(VR * sr + VG * sg + VB * sb);
    }
}

/// A chroma sample from the matrix applied to the sums of a 2x2 block.
#[inline]
fn chroma(sum: i32) -> u8 {
    (((sum + (HALF << 2)) >> (SHIFT + 2)) + 128).clamp(0, 255) as u8
}

/// The same integer arithmetic as `luma` and `chroma`, in 16- and 32-bit lanes: every
/// coefficient fits in 16 bits (at most 10063 for 14 fractional bits), so pairs of
/// channels are multiplied and added in one `madd`, whose 32-bit sums (at most about
/// 1020 * 7196 * 2) cannot overflow; and a 2x2 block's sums (at most 1020) come from
/// adding neighbouring bytes with `maddubs` and then the two rows. Compiled with AVX2
/// enabled, for processors that have it (`crate::cpu`).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    /// Interleaves `a` and `b` (16 lanes of 16 bits each) as pairs and multiplies them
    /// by the pair `(ka, kb)`, adding each pair: the lanes in order 0-3 8-11 (first)
    /// and 4-7 12-15 (second), as 32-bit sums.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn dot_pairs(a: __m256i, b: __m256i, ka: i32, kb: i32) -> (__m256i, __m256i) {
        // The pair (ka, kb) as one 32-bit lane: ka in the low half.
        let k = _mm256_set1_epi32((ka & 0xffff) | (kb << 16));
        (
            _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), k),
            _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), k),
        )
    }

    /// Y of 16 pixels from their channels widened to 16 bits, as 16-bit lanes.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn luma16(r: __m256i, g: __m256i, b: __m256i) -> __m256i {
        let (rg_lo, rg_hi) = dot_pairs(r, g, YR, YG);
        // b times YB plus one times HALF: the rounding term in the same multiply-add.
        let (b_lo, b_hi) = dot_pairs(b, _mm256_set1_epi16(1), YB, HALF);
        let lo = _mm256_srai_epi32::<SHIFT>(_mm256_add_epi32(rg_lo, b_lo));
        let hi = _mm256_srai_epi32::<SHIFT>(_mm256_add_epi32(rg_hi, b_hi));
        // Packing undoes the interleaving's lane order.
        _mm256_add_epi16(_mm256_packs_epi32(lo, hi), _mm256_set1_epi16(16))
    }

    /// Writes the luma of the first multiple of 32 pixels; returns how many.
    #[target_feature(enable = "avx2")]
    pub(super) fn luma(r: &[u8], g: &[u8], b: &[u8], y: &mut [u8]) -> usize {
        let n = y.len().min(r.len()).min(g.len()).min(b.len()) / 32 * 32;
        for x in (0..n).step_by(32) {
            // SAFETY: AVX2 is enabled for this function; x + 32 <= n,
            // which no slice is shorter than, bounds the 32 bytes read from each input
            // (as two unaligned 16-byte loads) and written to `y` (one unaligned store).
            unsafe {
                let load = |c: &[u8], at: usize| {
                    _mm256_cvtepu8_epi16(_mm_loadu_si128(c.as_ptr().add(at).cast()))
                };
                let first = luma16(load(r, x), load(g, x), load(b, x));
                let second = luma16(load(r, x + 16), load(g, x + 16), load(b, x + 16));
                // Saturating to bytes interleaves the two halves by 64 bits; the
                // permutation puts them back in order.
                let bytes =
                    _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi16(first, second));
                _mm256_storeu_si256(y.as_mut_ptr().add(x).cast(), bytes);
            }
        }
        n
    }

    /// Writes the chroma of the first multiple of 16 blocks (32 columns); returns how
    /// many blocks.
    #[target_feature(enable = "avx2")]
    pub(super) fn chroma(top: [&[u8]; 3], bottom: [&[u8]; 3], u: &mut [u8], v: &mut [u8]) -> usize {
        let columns = top
            .iter()
            .chain(&bottom)
            .map(|c| c.len())
            .min()
            .unwrap_or(0)
            .min(2 * u.len())
            .min(2 * v.len());
        let blocks = columns / 32 * 16;
        for x in (0..2 * blocks).step_by(32) {
            // SAFETY: AVX2 is enabled for this function; x + 32 is at
            // most 2 * blocks <= `columns`, which bounds the 32 bytes read from each
            // row of each channel, and x / 2 + 16 <= blocks the 16 bytes written to
            // `u` and to `v`.
            unsafe {
                let ones = _mm256_set1_epi8(1);
                // The sums of each 2x2 block, 16 lanes of 16 bits, in order.
                let sum = |c: usize| {
                    let row = |p: &[u8]| {
                        _mm256_maddubs_epi16(_mm256_loadu_si256(p.as_ptr().add(x).cast()), ones)
                    };
                    _mm256_add_epi16(row(top[c]), row(bottom[c]))
                };
                let (sr, sg, sb) = (sum(0), sum(1), sum(2));
                let round = _mm256_set1_epi32(HALF << 2);
                let plane = |kr: i32, kg: i32, kb: i32| {
                    let (rg_lo, rg_hi) = dot_pairs(sr, sg, kr, kg);
                    let (b_lo, b_hi) = dot_pairs(sb, _mm256_setzero_si256(), kb, 0);
                    let at = |rg, b| {
                        _mm256_srai_epi32::<{ SHIFT + 2 }>(_mm256_add_epi32(
                            _mm256_add_epi32(rg, b),
                            round,
                        ))
                    };
                    _mm256_add_epi16(
                        _mm256_packs_epi32(at(rg_lo, b_lo), at(rg_hi, b_hi)),
                        _mm256_set1_epi16(128),
                    )
                };
                // Saturating to bytes clamps to [0, 255] and gives u0-7 v0-7 |
                // u8-15 v8-15; the permutation makes that u0-15 | v0-15.
                let uv = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi16(
                    plane(UR, UG, UB),
                    plane(VR, VG, VB),
                ));
                _mm_storeu_si128(u.as_mut_ptr().add(x / 2).cast(), _mm256_castsi256_si128(uv));
                _mm_storeu_si128(
                    v.as_mut_ptr().add(x / 2).cast(),
                    _mm256_extracti128_si256::<1>(uv),
                );
            }
        }
        blocks
    }
}

/// Packed RGB bytes as a row source.
struct PackedRgb<'a> {
    rgb: &'a [u8],
    width: usize,
}

impl RgbRows for PackedRgb<'_> {
    #[inline]
    fn row(&self, y: usize, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
        let row = &self.rgb[y * self.width * 3..(y + 1) * self.width * 3];
        for (i, px) in row.chunks_exact(3).enumerate() {
            r[i] = px[0];
            g[i] = px[1];
            b[i] = px[2];
        }
    }
}

/// Converts packed RGB (`width * height * 3` bytes) into `frame`, whose size it must match.
pub fn rgb_to_i420(rgb: &[u8], frame: &mut I420Frame) {
    assert_eq!(
        rgb.len(),
        frame.width * frame.height * 3,
        "RGB buffer does not match the frame size"
    );
    let source = PackedRgb {
        rgb,
        width: frame.width,
    };
    rows_to_i420(&source, frame);
}

/// Converts an I420 picture given as planes and strides to packed RGB with the same
/// BT.709 limited-range convention (the inverse of [`rgb_to_i420`]).
pub fn i420_to_rgb(
    (y_plane, u_plane, v_plane): (&[u8], &[u8], &[u8]),
    (y_stride, c_stride): (usize, usize),
    (width, height): (usize, usize),
    out: &mut [u8],
) {
    assert_eq!(
        out.len(),
        width * height * 3,
        "RGB buffer does not match the picture size"
    );
    for y in 0..height {
        for x in 0..width {
            let yy = (y_plane[y * y_stride + x] as f32 - 16.0) * (255.0 / 219.0);
            let u = (u_plane[(y / 2) * c_stride + x / 2] as f32 - 128.0) * (255.0 / 224.0);
            let v = (v_plane[(y / 2) * c_stride + x / 2] as f32 - 128.0) * (255.0 / 224.0);
            let r = yy + 2.0 * (1.0 - KR as f32) * v;
            let b = yy + 2.0 * (1.0 - KB as f32) * u;
            let g = (yy - KR as f32 * r - KB as f32 * b) / KG as f32;
            let o = &mut out[(y * width + x) * 3..][..3];
            o[0] = (r + 0.5).clamp(0.0, 255.0) as u8;
            o[1] = (g + 0.5).clamp(0.0, 255.0) as u8;
            o[2] = (b + 0.5).clamp(0.0, 255.0) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_averages_blocks_in_every_plane() {
        let mut f = I420Frame::new(32, 32);
        for (i, p) in f.y.iter_mut().enumerate() {
            // Columns alternate 10 and 20, rows add 0 or 4: each block averages to 17.
            *p = if i % 2 == 0 { 10 } else { 20 } + if (i / 32) % 2 == 0 { 0 } else { 4 };
        }
        f.u.fill(200);
        f.v[0] = 60;
        let h = f.half().unwrap();
        assert_eq!((h.width, h.height), (16, 16));
        assert!(h.y.iter().all(|&p| p == 17));
        assert!(h.u.iter().all(|&p| p == 200));
        // (60 + 128 * 3) / 4, rounded.
        assert_eq!(h.v[0], 111);
        assert!(h.half().is_none(), "16x16 has no even half of at least 16");
        assert!(I420Frame::new(34, 32).half().is_none());
    }

    fn convert_solid(rgb: [u8; 3]) -> (u8, u8, u8) {
        let mut frame = I420Frame::new(4, 2);
        let buf: Vec<u8> = rgb.iter().copied().cycle().take(4 * 2 * 3).collect();
        rgb_to_i420(&buf, &mut frame);
        assert!(frame.y.iter().all(|&v| v == frame.y[0]));
        (frame.y[0], frame.u[0], frame.v[0])
    }

    /// Reference values of the BT.709 limited-range matrix for the primaries.
    #[test]
    fn known_colours_convert_to_known_yuv() {
        assert_eq!(convert_solid([0, 0, 0]), (16, 128, 128));
        assert_eq!(convert_solid([255, 255, 255]), (235, 128, 128));
        assert_eq!(convert_solid([255, 0, 0]), (63, 102, 240));
        assert_eq!(convert_solid([0, 255, 0]), (173, 42, 26));
        assert_eq!(convert_solid([0, 0, 255]), (32, 240, 118));
    }

    /// A picture larger than one parallel task, with every pixel different: each
    /// output sample matches the formula computed directly for its pixels.
    #[test]
    fn rows_convert_in_parallel_tasks_like_the_formula() {
        let (w, h) = (70usize, 2 * PAIRS_PER_TASK * 3 + 6);
        let px = |x: usize, y: usize| -> [i32; 3] {
            [
                (x * 7 + y * 3) % 256,
                (x * 13 + y * 29) % 256,
                (x * y + 11) % 256,
            ]
            .map(|v| v as i32)
        };
        let rgb: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| px(x, y).map(|v| v as u8)))
            .collect();
        let mut frame = I420Frame::new(w, h);
        rgb_to_i420(&rgb, &mut frame);
        for y in 0..h {
            for x in 0..w {
                let [r, g, b] = px(x, y);
                assert_eq!(frame.y[y * w + x], luma(r, g, b), "Y at {x},{y}");
            }
        }
        for cy in 0..h / 2 {
            for cx in 0..w / 2 {
                let mut s = [0i32; 3];
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let p = px(2 * cx + dx, 2 * cy + dy);
                    (0..3).for_each(|c| s[c] += p[c]);
                }
                // The floating-point formula on the block's average, to within one.
                let [r, g, b] = s.map(|v| v as f64 / 4.0);
                let u = 128.0
                    + (-KR * r - KG * g + (1.0 - KB) * b) / (2.0 * (1.0 - KB)) * 224.0 / 255.0;
                let v =
                    128.0 + ((1.0 - KR) * r - KG * g - KB * b) / (2.0 * (1.0 - KR)) * 224.0 / 255.0;
                let i = cy * (w / 2) + cx;
                assert!((frame.u[i] as f64 - u).abs() <= 1.0, "U at {cx},{cy}");
                assert!((frame.v[i] as f64 - v).abs() <= 1.0, "V at {cx},{cy}");
            }
        }
    }

    /// The vector kernels (on a processor that has them, whether or not
    /// `STREAMTRACER_PORTABLE` is set) give the same bytes as the scalar code for
    /// every width, including the leftovers past the last 32 pixels, and for the
    /// extremes: the corners of the RGB cube in every channel.
    #[test]
    fn row_kernels_match_the_scalar_code_at_every_width() {
        let simd = crate::cpu::hardware();
        println!("comparing {} with scalar", simd.name());
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut byte = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Every value, with the extremes five times as likely.
            match state % 10 {
                0..=1 => 0,
                2..=3 => 255,
                _ => (state >> 8) as u8,
            }
        };
        for width in [2usize, 30, 32, 34, 62, 64, 66, 96, 1280, 1282] {
            for _ in 0..20 {
                let mut row = || (0..width).map(|_| byte()).collect::<Vec<u8>>();
                let top = [row(), row(), row()];
                let bottom = [row(), row(), row()];
                let (mut y, mut y_ref) = (vec![0u8; width], vec![0u8; width]);
                luma_row(simd, &top[0], &top[1], &top[2], &mut y);
                luma_row_scalar(&top[0], &top[1], &top[2], &mut y_ref);
                assert_eq!(y, y_ref, "Y at width {width}");
                let (mut u, mut v) = (vec![0u8; width / 2], vec![0u8; width / 2]);
                let (mut u_ref, mut v_ref) = (u.clone(), v.clone());
                let t = [&top[0][..], &top[1][..], &top[2][..]];
                let b = [&bottom[0][..], &bottom[1][..], &bottom[2][..]];
                chroma_row(simd, t, b, &mut u, &mut v);
                chroma_row_scalar(t, b, &mut u_ref, &mut v_ref);
                assert_eq!(u, u_ref, "U at width {width}");
                assert_eq!(v, v_ref, "V at width {width}");
            }
        }
    }

    #[test]
    fn round_trip_stays_within_two_code_values_for_flat_colours() {
        for rgb in [
            [10u8, 200, 30],
            [128, 128, 128],
            [250, 5, 120],
            [40, 60, 80],
        ] {
            let mut frame = I420Frame::new(2, 2);
            let buf: Vec<u8> = rgb.iter().copied().cycle().take(12).collect();
            rgb_to_i420(&buf, &mut frame);
            let mut back = vec![0u8; 12];
            i420_to_rgb((&frame.y, &frame.u, &frame.v), (2, 1), (2, 2), &mut back);
            for (a, b) in back.iter().zip(buf.iter()) {
                assert!((*a as i32 - *b as i32).abs() <= 2, "{rgb:?} -> {back:?}");
            }
        }
    }
}
