//! H.264 encoding and decoding with OpenH264.

use crate::yuv::{i420_to_rgb, I420Frame};
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Level,
    Profile, RateControlMode, SpsPpsStrategy, UsageType, VuiConfig,
};
use openh264::formats::YUVSource;
use openh264::OpenH264API;
use openh264_sys2::{
    SBitrateInfo, ENCODER_OPTION_BITRATE, ENCODER_OPTION_MAX_BITRATE, SPATIAL_LAYER_0,
};
use std::os::raw::{c_int, c_void};

/// How the encoder is set up. The bitrate can change at any frame
/// ([`H264Encoder::set_bitrate`]); the rest is fixed for the encoder's life.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EncoderSettings {
    pub width: u32,
    pub height: u32,
    pub fps: f32,
    /// Target bitrate in bits per second.
    pub bitrate: u32,
    /// Frames between periodic keyframes; 0 for keyframes only on request.
    pub keyframe_interval: u32,
}

/// Why encoding or decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("frame size must be even and between 16x16 and 4096x2304, got {width}x{height}")]
    Size { width: u32, height: u32 },
    #[error("frame rate must be between 1 and 120, got {0}")]
    FrameRate(f32),
    #[error("bitrate must be between 50 kbit/s and 100 Mbit/s, got {0} bit/s")]
    Bitrate(u32),
    #[error("the frame is {got_w}x{got_h} but the encoder is set up for {want_w}x{want_h}")]
    FrameMismatch {
        got_w: usize,
        got_h: usize,
        want_w: u32,
        want_h: u32,
    },
    #[error("OpenH264 refused to set its {option} (status {status})")]
    SetOption { option: &'static str, status: i32 },
    #[error("OpenH264: {0}")]
    OpenH264(#[from] openh264::Error),
}

/// One encoded picture: a whole access unit in Annex B form (start codes included).
#[derive(Clone, Debug)]
pub struct AccessUnit {
    pub data: Vec<u8>,
    /// An IDR picture, preceded by SPS and PPS, that a decoder can start from.
    pub keyframe: bool,
}

impl EncoderSettings {
    /// Whether OpenH264 can be set up with these settings (and why not).
    pub fn validate(&self) -> Result<(), EncoderError> {
        let (w, h) = (self.width, self.height);
        if w % 2 != 0 || h % 2 != 0 || !(16..=4096).contains(&w) || !(16..=2304).contains(&h) {
            return Err(EncoderError::Size {
                width: w,
                height: h,
            });
        }
        if !(self.fps.is_finite() && (1.0..=120.0).contains(&self.fps)) {
            return Err(EncoderError::FrameRate(self.fps));
        }
        if !(50_000..=100_000_000).contains(&self.bitrate) {
            return Err(EncoderError::Bitrate(self.bitrate));
        }
        Ok(())
    }

    /// The lowest H.264 level whose limits hold this resolution and frame rate, so
    /// that decoders which advertise a level (browsers offer 3.1) accept the stream.
    fn level(&self) -> Level {
        let macroblocks = (self.width.div_ceil(16) * self.height.div_ceil(16)) as f32;
        let per_second = macroblocks * self.fps;
        match (macroblocks, per_second) {
            (f, r) if f <= 1620.0 && r <= 40_500.0 => Level::Level_3_0,
            (f, r) if f <= 3600.0 && r <= 108_000.0 => Level::Level_3_1,
            (f, r) if f <= 5120.0 && r <= 216_000.0 => Level::Level_3_2,
            (f, r) if f <= 8192.0 && r <= 245_760.0 => Level::Level_4_1,
            _ => Level::Level_5_1,
        }
    }
}

impl EncoderSettings {
    /// The highest bitrate the stream's level allows for constrained baseline
    /// (MaxBR of H.264 table A-1 times 1200 bit/s).
    pub fn level_max_bitrate(&self) -> u32 {
        match self.level() {
            Level::Level_3_0 => 12_000_000,
            Level::Level_3_1 => 16_800_000,
            Level::Level_3_2 => 24_000_000,
            Level::Level_4_1 => 60_000_000,
            _ => 100_000_000,
        }
    }
}

/// OpenH264 configured for live video.
pub struct H264Encoder {
    settings: EncoderSettings,
    inner: Encoder,
    force_keyframe: bool,
    frames: u64,
}

impl H264Encoder {
    pub fn new(settings: EncoderSettings) -> Result<H264Encoder, EncoderError> {
        settings.validate()?;
        // Above the level's limit OpenH264 would raise the level the SPS announces.
        let settings = EncoderSettings {
            bitrate: settings.bitrate.min(settings.level_max_bitrate()),
            ..settings
        };
        let config = EncoderConfig::new()
            .profile(Profile::Baseline)
            .level(settings.level())
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(settings.bitrate))
            .max_frame_rate(FrameRate::from_hz(settings.fps))
            // A live stream must not silently drop frames: with skipping on, an encode
            // may return nothing and viewers see a stall.
            .skip_frames(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(
                settings.keyframe_interval,
            ))
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            .complexity(Complexity::Low)
            // The render threads already use every core; one encoder thread keeps
            // latency predictable.
            .num_threads(1)
            .vui(VuiConfig::bt709())
            // Background detection skips blocks whose source did not change since the
            // last frame. A still rendered picture is exactly unchanged, so with it on
            // repeated frames never refine what the first one lost; with it off, rate
            // control spends its budget on the remaining error until it is below the
            // quantiser's reach, which is how a still picture becomes near-lossless.
            .background_detection(false)
            // A scene change (a camera jump) would otherwise become an intra frame as
            // large as a keyframe, beyond what rate control can bound per frame: on a
            // slow link a burst that stalls the frames behind it. As a P frame, its
            // blocks are still coded intra where that is cheaper, within budget.
            .scene_change_detect(false);
        let inner = Encoder::with_api_config(OpenH264API::from_source(), config)?;
        Ok(H264Encoder {
            settings,
            inner,
            force_keyframe: true,
            frames: 0,
        })
    }

    pub fn settings(&self) -> EncoderSettings {
        self.settings
    }

    /// Changes the target bitrate from the next frame on, without a keyframe: rate
    /// control moves the quantiser towards the new budget over the next frames. The
    /// value is clamped to what the stream's H.264 level allows (a higher rate would
    /// make OpenH264 raise the level mid-stream, which a decoder that negotiated the
    /// level may refuse). Returns the bitrate now in force.
    pub fn set_bitrate(&mut self, bitrate: u32) -> Result<u32, EncoderError> {
        if !(50_000..=100_000_000).contains(&bitrate) {
            return Err(EncoderError::Bitrate(bitrate));
        }
        let bitrate = bitrate.min(self.settings.level_max_bitrate());
        if bitrate == self.settings.bitrate {
            return Ok(bitrate);
        }
        if self.frames == 0 {
            // OpenH264 initialises on the first frame; until then a new configuration
            // is all it takes.
            *self = H264Encoder::new(EncoderSettings {
                bitrate,
                ..self.settings
            })?;
            return Ok(bitrate);
        }
        // The layer's maximum bounds the bits of any one frame; it stays equal to the
        // target as at start. Raising moves the maximum first, lowering the target
        // first, so that the target never exceeds the maximum in between.
        let raising = bitrate > self.settings.bitrate;
        let options = if raising {
            [ENCODER_OPTION_MAX_BITRATE, ENCODER_OPTION_BITRATE]
        } else {
            [ENCODER_OPTION_BITRATE, ENCODER_OPTION_MAX_BITRATE]
        };
        for option in options {
            let mut info = SBitrateInfo {
                iLayer: SPATIAL_LAYER_0,
                iBitrate: bitrate as c_int,
            };
            // SAFETY: both options take a pointer to an SBitrateInfo, which outlives
            // the call. The encoder was initialised by the first encode (had that
            // failed, OpenH264 refuses the option with a status, handled below).
            let status = unsafe {
                self.inner
                    .raw_api()
                    .set_option(option, (&raw mut info).cast::<c_void>())
            };
            if status != 0 {
                return Err(EncoderError::SetOption {
                    option: "bitrate",
                    status,
                });
            }
        }
        self.settings.bitrate = bitrate;
        Ok(bitrate)
    }

    /// Makes the next encoded frame a keyframe (IDR with SPS and PPS).
    pub fn request_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// Encodes one frame into one access unit.
    pub fn encode(&mut self, frame: &I420Frame) -> Result<AccessUnit, EncoderError> {
        if frame.width != self.settings.width as usize
            || frame.height != self.settings.height as usize
        {
            return Err(EncoderError::FrameMismatch {
                got_w: frame.width,
                got_h: frame.height,
                want_w: self.settings.width,
                want_h: self.settings.height,
            });
        }
        if self.force_keyframe {
            self.inner.force_intra_frame();
            self.force_keyframe = false;
        }
        // Timestamps in milliseconds at the nominal frame rate drive OpenH264's rate control.
        let ts = openh264::Timestamp::from_millis(
            (self.frames as f64 * 1000.0 / self.settings.fps as f64) as u64,
        );
        self.frames += 1;
        let stream = self.inner.encode_at(frame, ts)?;
        let keyframe = matches!(stream.frame_type(), FrameType::IDR | FrameType::I);
        Ok(AccessUnit {
            data: stream.to_vec(),
            keyframe,
        })
    }
}

/// OpenH264's decoder, for checking what was sent.
pub struct H264Decoder {
    inner: Decoder,
}

/// A decoded picture as packed RGB.
#[derive(Clone, Debug)]
pub struct DecodedFrame {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl H264Decoder {
    pub fn new() -> Result<H264Decoder, EncoderError> {
        Ok(H264Decoder {
            inner: Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())?,
        })
    }

    /// Decodes one access unit (Annex B); returns the picture when one is complete.
    pub fn decode(&mut self, access_unit: &[u8]) -> Result<Option<DecodedFrame>, EncoderError> {
        let Some(yuv) = self.inner.decode(access_unit)? else {
            return Ok(None);
        };
        let (width, height) = yuv.dimensions();
        let (ys, us, _) = yuv.strides();
        let mut rgb = vec![0u8; width * height * 3];
        i420_to_rgb(
            (yuv.y(), yuv.u(), yuv.v()),
            (ys, us),
            (width, height),
            &mut rgb,
        );
        Ok(Some(DecodedFrame { width, height, rgb }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::psnr;
    use crate::yuv::rgb_to_i420;

    fn settings() -> EncoderSettings {
        EncoderSettings {
            width: 128,
            height: 96,
            fps: 30.0,
            bitrate: 2_000_000,
            keyframe_interval: 0,
        }
    }

    fn gradient(w: usize, h: usize, shift: usize) -> Vec<u8> {
        let mut rgb = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let p = &mut rgb[(y * w + x) * 3..][..3];
                p[0] = ((x + shift) * 255 / (w + shift)) as u8;
                p[1] = (y * 255 / h) as u8;
                p[2] = 128;
            }
        }
        rgb
    }

    #[test]
    fn first_frame_and_requested_frames_are_keyframes_others_are_not() {
        let s = settings();
        let mut enc = H264Encoder::new(s).unwrap();
        let mut frame = I420Frame::new(s.width as usize, s.height as usize);
        let mut kinds = Vec::new();
        for i in 0..6 {
            rgb_to_i420(&gradient(128, 96, i), &mut frame);
            if i == 4 {
                enc.request_keyframe();
            }
            let au = enc.encode(&frame).unwrap();
            assert!(
                !au.data.is_empty(),
                "frame {i} produced no data: frames must never be skipped"
            );
            assert_eq!(&au.data[..4], &[0, 0, 0, 1], "Annex B start code");
            kinds.push(au.keyframe);
        }
        assert_eq!(kinds, vec![true, false, false, false, true, false]);
    }

    #[test]
    fn decoded_picture_matches_the_input() {
        let s = settings();
        let mut enc = H264Encoder::new(s).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let rgb = gradient(128, 96, 0);
        let mut frame = I420Frame::new(128, 96);
        rgb_to_i420(&rgb, &mut frame);
        let mut last = None;
        for _ in 0..3 {
            let au = enc.encode(&frame).unwrap();
            if let Some(d) = dec.decode(&au.data).unwrap() {
                last = Some(d);
            }
        }
        let d = last.expect("decoder produced a picture");
        assert_eq!((d.width, d.height), (128, 96));
        let p = psnr(&d.rgb, &rgb);
        assert!(p > 35.0, "PSNR {p:.1} dB");
    }

    #[test]
    fn bad_settings_and_mismatched_frames_are_rejected() {
        assert!(matches!(
            H264Encoder::new(EncoderSettings {
                width: 101,
                ..settings()
            }),
            Err(EncoderError::Size { .. })
        ));
        assert!(matches!(
            H264Encoder::new(EncoderSettings {
                fps: 0.0,
                ..settings()
            }),
            Err(EncoderError::FrameRate(_))
        ));
        assert!(matches!(
            H264Encoder::new(EncoderSettings {
                bitrate: 1,
                ..settings()
            }),
            Err(EncoderError::Bitrate(_))
        ));
        let mut enc = H264Encoder::new(settings()).unwrap();
        assert!(matches!(
            enc.encode(&I420Frame::new(64, 64)),
            Err(EncoderError::FrameMismatch { .. })
        ));
    }

    /// A frame of fine noise that moves every frame: hard to compress, so the
    /// encoder spends whatever budget it has.
    fn noise_frame(w: usize, h: usize, t: usize, frame: &mut I420Frame) {
        let mut rgb = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let mut v = ((x + 3 * t) as u32).wrapping_mul(0x9e37_79b9)
                    ^ (y as u32).wrapping_mul(0x85eb_ca6b);
                v ^= v >> 15;
                v = v.wrapping_mul(0x2c1b_3c6d);
                v ^= v >> 12;
                // Mild noise over a gradient: at 4 Mbit/s the encoder keeps much of
                // it, at 0.5 Mbit/s it can afford to keep little.
                let base = (x * 128 / w + 64) as u32;
                let c = |s: u32| (base + ((v >> s) & 31)) as u8;
                rgb[(y * w + x) * 3..][..3].copy_from_slice(&[c(0), c(8), c(16)]);
            }
        }
        rgb_to_i420(&rgb, frame);
    }

    #[test]
    fn bitrate_changes_at_runtime_without_a_keyframe() {
        let (w, h) = (640usize, 360usize);
        let mut enc = H264Encoder::new(EncoderSettings {
            width: w as u32,
            height: h as u32,
            bitrate: 4_000_000,
            ..settings()
        })
        .unwrap();
        let mut frame = I420Frame::new(w, h);
        // Bytes of the last 30 frames of each 60-frame phase (rate control settled).
        let mut phase = |enc: &mut H264Encoder, start: usize| -> usize {
            let mut bytes = 0;
            for t in start..start + 60 {
                noise_frame(w, h, t, &mut frame);
                let au = enc.encode(&frame).unwrap();
                assert!(!au.data.is_empty(), "frame {t} was skipped");
                if t == start && start > 0 {
                    assert!(!au.keyframe, "a bitrate change must not force a keyframe");
                }
                if t >= start + 30 {
                    bytes += au.data.len();
                }
            }
            bytes
        };
        let high = phase(&mut enc, 0);
        assert_eq!(enc.set_bitrate(500_000).unwrap(), 500_000);
        let low = phase(&mut enc, 60);
        assert_eq!(enc.set_bitrate(4_000_000).unwrap(), 4_000_000);
        let again = phase(&mut enc, 120);
        // One second at 30 fps: the budget is the bitrate in bits.
        let kbits = |b: usize| b as f64 * 8.0 / 1000.0;
        eprintln!(
            "kbit per second: 4 Mbit/s {:.0}, 0.5 Mbit/s {:.0}, back to 4 Mbit/s {:.0}",
            kbits(high),
            kbits(low),
            kbits(again)
        );
        assert!(
            kbits(low) < 500.0 * 1.3,
            "{:.0} kbit/s for a 500 kbit/s target",
            kbits(low)
        );
        assert!(kbits(high) > 4.0 * kbits(low) && kbits(again) > 4.0 * kbits(low));
        assert!(matches!(
            enc.set_bitrate(10),
            Err(EncoderError::Bitrate(10))
        ));
        // Beyond the level's limit (level 3.0 here) the rate is clamped, not refused.
        assert_eq!(enc.set_bitrate(50_000_000).unwrap(), 12_000_000);
    }

    #[test]
    fn level_covers_resolution_and_rate() {
        let s = EncoderSettings {
            width: 1280,
            height: 720,
            fps: 30.0,
            ..settings()
        };
        assert!(matches!(s.level(), Level::Level_3_1));
        let s = EncoderSettings {
            width: 1920,
            height: 1080,
            fps: 30.0,
            ..settings()
        };
        assert!(matches!(s.level(), Level::Level_4_1));
    }
}
