//! What a view is configured with: its size, frame rate, bitrates, sample and time
//! limits, denoising and the indirect-light cap. `config.rs` builds them from flags.

use std::time::Duration;

/// Settings of a view.
#[derive(Clone, Copy, Debug)]
pub struct ViewSettings {
    /// The picture size at start.
    pub width: u32,
    pub height: u32,
    /// The largest size a `resize` may ask for.
    pub max_width: u32,
    pub max_height: u32,
    pub fps: f32,
    /// The bitrate of live video when every viewer's link allows it, and where the
    /// link estimates start.
    pub bitrate: u32,
    /// The floor: the encoder never goes below it, however poor a link.
    pub min_bitrate: u32,
    /// The ceiling of a still-quality refresh (and of link estimates).
    pub max_bitrate: u32,
    pub keyframe_interval: u32,
    /// The sample limit when the view is started on its own ([`super::View::start`]); a
    /// view following a scene store takes the scene's `settings.max_samples`.
    pub max_spp: u32,
    /// Rendering time after a change beyond which rendering pauses.
    pub max_time: Option<Duration>,
    /// Once the picture has not changed for [`super::planner::STILL_AFTER`], a frame at most this
    /// often (keeping the stream alive); `None` sends every tick.
    pub idle_interval: Option<Duration>,
    /// Denoise the pictures with Open Image Denoise (when its runtime is there).
    pub denoise: bool,
    /// The cap on each sample of indirect light; see `Renderer::set_indirect_clamp`.
    pub indirect_clamp: IndirectClamp,
}

/// The cap of `--indirect-clamp auto` on raw pictures (Cycles' viewport uses the same).
pub const DEFAULT_INDIRECT_CLAMP: f32 = 10.0;

/// `--indirect-clamp`: the cap on each sample of indirect light.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum IndirectClamp {
    /// [`DEFAULT_INDIRECT_CLAMP`] for raw pictures, none for denoised ones: measured
    /// with `time_to_quality`, the cap makes raw pictures of the built-in scene up to
    /// 3 dB better after 2 s, and denoised ones up to 1 dB worse.
    Auto,
    /// No cap: unbiased.
    Off,
    /// This radiance per channel, at exposure 1.
    Cap(f32),
}

impl IndirectClamp {
    /// The cap for the renderer when its pictures are `denoised` or not (`None`:
    /// unbiased).
    pub fn for_picture(self, denoised: bool) -> Option<f32> {
        match self {
            IndirectClamp::Auto => (!denoised).then_some(DEFAULT_INDIRECT_CLAMP),
            IndirectClamp::Off => None,
            IndirectClamp::Cap(v) => Some(v),
        }
    }
}

impl std::fmt::Display for IndirectClamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndirectClamp::Auto => f.write_str("auto"),
            IndirectClamp::Off => f.write_str("0"),
            IndirectClamp::Cap(v) => write!(f, "{v}"),
        }
    }
}

impl ViewSettings {
    /// A small, fast view for the server's unit tests: 64x48 at 60 fps, 4 spp.
    #[cfg(test)]
    pub(crate) fn small_for_tests() -> ViewSettings {
        ViewSettings {
            width: 64,
            height: 48,
            max_width: 128,
            max_height: 96,
            fps: 60.0,
            bitrate: 500_000,
            min_bitrate: 100_000,
            max_bitrate: 1_000_000,
            keyframe_interval: 0,
            max_spp: 4,
            max_time: None,
            idle_interval: None,
            denoise: false,
            indirect_clamp: IndirectClamp::Off,
        }
    }
}
