//! Colour conversion between packed RGB and planar I420 (YUV 4:2:0).
//!
//! BT.709 matrix, limited ("studio") range: Y in [16, 235], U and V in [16, 240].
//! Fixed-point arithmetic with 14 fractional bits keeps it exact to within one code
//! value of the floating-point formula while staying cheap. Chroma is the average of
//! each 2x2 block.

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

/// Converts packed RGB (`width * height * 3` bytes) into `frame`, whose size it must match.
pub fn rgb_to_i420(rgb: &[u8], frame: &mut I420Frame) {
    let (w, h) = (frame.width, frame.height);
    assert_eq!(
        rgb.len(),
        w * h * 3,
        "RGB buffer does not match the frame size"
    );
    let cw = w / 2;
    for cy in 0..h / 2 {
        let row0 = &rgb[(2 * cy) * w * 3..(2 * cy + 1) * w * 3];
        let row1 = &rgb[(2 * cy + 1) * w * 3..(2 * cy + 2) * w * 3];
        let (y_top, y_rest) = frame.y[(2 * cy) * w..].split_at_mut(w);
        let y_bottom = &mut y_rest[..w];
        let u_row = &mut frame.u[cy * cw..(cy + 1) * cw];
        let v_row = &mut frame.v[cy * cw..(cy + 1) * cw];
        for cx in 0..cw {
            let mut sr = 0;
            let mut sg = 0;
            let mut sb = 0;
            for (row, out) in [(row0, &mut *y_top), (row1, &mut *y_bottom)] {
                for dx in 0..2 {
                    let x = 2 * cx + dx;
                    let (r, g, b) = (
                        row[3 * x] as i32,
                        row[3 * x + 1] as i32,
                        row[3 * x + 2] as i32,
                    );
                    out[x] = luma(r, g, b);
                    sr += r;
                    sg += g;
                    sb += b;
                }
            }
            // Sums of four: fold the /4 into the shift.
            let u = ((UR * sr + UG * sg + UB * sb + (HALF << 2)) >> (SHIFT + 2)) + 128;
            let v = ((VR * sr + VG * sg + VB * sb + (HALF << 2)) >> (SHIFT + 2)) + 128;
            u_row[cx] = u.clamp(0, 255) as u8;
            v_row[cx] = v.clamp(0, 255) as u8;
        }
    }
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
