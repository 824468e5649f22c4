//! `encoder`: turns rendered RGB frames into H.264 access units, and back for tests.
//!
//! - [`I420Frame`] holds a picture in the encoder's input format; [`rgb_to_i420`]
//!   fills it from packed sRGB bytes with BT.709 limited-range coefficients, the same
//!   colour description the encoder writes into the stream's VUI, so decoders show
//!   the colours that were rendered. [`i420_to_rgb`] is the exact inverse, used by
//!   tests and tools that check decoded pictures.
//! - [`H264Encoder`] wraps OpenH264 set up for live video: constrained baseline,
//!   explicit bitrate and frame rate, bitrate rate control without frame skipping (so
//!   every frame asked for is produced), no periodic keyframes unless configured, and
//!   a keyframe on request. Each call returns one whole access unit in Annex B form.
//! - [`H264Decoder`] decodes access units with OpenH264, for tests and tools.
//!
//! This crate never renders and never touches the network.

pub mod cpu;
mod h264;
mod yuv;

pub use h264::{AccessUnit, DecodedFrame, EncoderError, EncoderSettings, H264Decoder, H264Encoder};
pub use yuv::{i420_to_rgb, rgb_to_i420, rows_to_i420, I420Frame, RgbRows};

/// Peak signal-to-noise ratio of picture `b` against picture `a` (bytes of the same
/// layout, 8 bits each), over all samples, in dB; identical pictures give about 120.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "pictures of different sizes");
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len().max(1) as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

/// Whether OpenH264 was built with its SIMD assembly (nasm was found at build time).
pub const ASSEMBLY: bool = cfg!(openh264_asm);
