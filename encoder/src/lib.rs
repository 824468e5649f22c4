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

extern "C" {
    /// OpenH264's own CPU detection (`codec/common/src/cpu.cpp`, C linkage, in the
    /// static library openh264-sys2 links): the SIMD features its kernels will use.
    /// Built without its assembly (on x86: `X86_ASM` undefined because nasm was
    /// missing) it is a stub that returns 0, whatever the processor.
    fn WelsCPUFeatureDetect(logical_processors: *mut i32) -> u32;
}

/// Whether the OpenH264 linked into this binary has its SIMD kernels (on x86 the
/// assembly nasm builds; on ARM its NEON code), asked of the library itself, so it
/// is true of the code that runs, not of the build machine. Without them encoding
/// is about three times slower.
pub fn assembly() -> bool {
    static FLAGS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *FLAGS.get_or_init(|| {
        let mut logical_processors = 0i32;
        // SAFETY: the function only executes `cpuid` and writes the count through
        // the pointer, which is valid for the call.
        unsafe { WelsCPUFeatureDetect(&mut logical_processors) }
    }) != 0
}

/// Whether this encoder was built with `OPENH264_NO_ASM` set, the explicit opt-out
/// from OpenH264's assembly (`build.rs` otherwise refuses to build on x86 without
/// nasm).
pub const ASSEMBLY_OPTED_OUT: bool = cfg!(openh264_no_asm);

#[cfg(test)]
mod tests {
    /// Issue 16: a release build made before nasm was installed kept a C-only
    /// OpenH264 for good (openh264-sys2 never rebuilds) while the server, judging by
    /// nasm on PATH, claimed the assembly. CI always has nasm, so here a binary that
    /// lacks the assembly on x86 while nasm is present fails, and `assembly()` is what
    /// the server reports.
    #[test]
    fn openh264_without_assembly_while_nasm_is_present() {
        if !cfg!(any(target_arch = "x86_64", target_arch = "x86")) {
            return;
        }
        if super::ASSEMBLY_OPTED_OUT || std::env::var_os("OPENH264_NO_ASM").is_some() {
            eprintln!("OPENH264_NO_ASM: the C-only encoder was asked for");
            return;
        }
        let nasm = std::process::Command::new("nasm")
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            !nasm || super::assembly(),
            "nasm is installed but the linked OpenH264 has no assembly: it was built \
             before nasm was; run `cargo clean --release -p openh264-sys2` and build again"
        );
    }
}
