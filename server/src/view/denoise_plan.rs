//! When a view denoises, and how: a plan made from the render's progress and the
//! denoiser's measured costs, with no clock and no thread of its own, so that the
//! policy is tested without waiting (see the tests below).
//!
//! The render pauses while a denoise runs (the two would otherwise split the cores
//! and each take twice as long), so that the time a viewer waits for the next clean
//! picture is the render time before it plus the denoise itself. The plan spends at
//! most as much time denoising as rendering ([`SPACING`]):
//! - the first denoise of a change comes once the render has run as long as that
//!   denoise is expected to take (at once, while nothing has been measured): at
//!   640x360 the second sample rather than the first, which is worth about 2 dB of
//!   the picture shown half a second after an edit;
//! - on a large picture the first denoise works at half size or less (at most
//!   [`FIRST_DENOISE_PIXELS`]) and is scaled back up: at 1280x720 a full-size denoise
//!   costs as much as two passes, a half-size one a quarter of that, and it gives a
//!   clean picture within the first second. The next denoise is at full size;
//! - later ones wait until the samples have at least doubled, so each is visibly
//!   better than the last;
//! - when the render pauses (converged, out of time, or the sample budget of a view
//!   nobody watches) one more runs at the denoiser's best quality, with prefiltered
//!   guides.

use crate::view::denoising::{Options, Quality};
use std::time::Duration;

/// The render runs at least this many times as long as the next denoise is expected
/// to take, between denoises.
pub const SPACING: f64 = 1.0;

/// The largest picture, in pixels, that the first denoise of a change works on: a
/// larger one is denoised at half size (or less) first.
pub const FIRST_DENOISE_PIXELS: u64 = 400_000;

/// What the render thread knows after a full pass.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Samples per pixel in the film.
    pub samples_per_pixel: u32,
    /// The picture size.
    pub size: (u32, u32),
    /// Time spent rendering since the change, or since the last denoise ended.
    pub rendering: Duration,
    /// The render is pausing after this pass.
    pub pausing: bool,
}

/// A denoise to run: the film's picture reduced by `downscale` in each direction,
/// denoised with `options`, and scaled back up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Job {
    pub downscale: u32,
    pub options: Options,
    /// The change's last denoise (the render is pausing).
    pub last: bool,
}

/// What denoising has cost at each size it ran at (the latest measure of each).
#[derive(Clone, Debug, Default)]
pub struct Costs {
    measured: Vec<((u32, u32), Duration)>,
}

impl Costs {
    pub fn record(&mut self, size: (u32, u32), cost: Duration) {
        match self.measured.iter_mut().find(|(s, _)| *s == size) {
            Some(entry) => entry.1 = cost,
            None => self.measured.push((size, cost)),
        }
    }

    /// What a denoise at `size` should take: as measured, or scaled by the number
    /// of pixels from the nearest size measured; zero when nothing has been.
    pub fn expected(&self, size: (u32, u32)) -> Duration {
        let pixels = |(w, h): (u32, u32)| w as f64 * h as f64;
        self.measured
            .iter()
            .min_by(|a, b| {
                let gap = |s| (pixels(s) / pixels(size)).ln().abs();
                gap(a.0).total_cmp(&gap(b.0))
            })
            .map_or(Duration::ZERO, |(s, cost)| {
                cost.mul_f64(pixels(size) / pixels(*s).max(1.0))
            })
    }
}

/// The size of a `size` picture reduced by `downscale` (rounded up).
pub fn reduced((w, h): (u32, u32), downscale: u32) -> (u32, u32) {
    (w.div_ceil(downscale), h.div_ceil(downscale))
}

/// One change's denoising so far.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The samples per pixel and the downscale of the last denoise handed out.
    last: Option<(u32, u32)>,
    final_done: bool,
}

impl Plan {
    /// The denoise due after a pass with `progress`, if any.
    pub fn next(&mut self, progress: &Progress, costs: &Costs) -> Option<Job> {
        if progress.pausing {
            if self.final_done {
                return None;
            }
            self.final_done = true;
            self.last = Some((progress.samples_per_pixel, 1));
            return Some(Job {
                downscale: 1,
                options: Options {
                    quality: Quality::High,
                    prefilter: true,
                },
                last: true,
            });
        }
        let downscale = match self.last {
            None => first_downscale(progress.size),
            Some(_) => 1,
        };
        let more_samples = match self.last {
            None => true,
            // After a reduced denoise, the full-size one is better already.
            Some((_, reduced)) if reduced > 1 => true,
            Some((spp, _)) => progress.samples_per_pixel >= 2 * spp,
        };
        let expected = costs.expected(reduced(progress.size, downscale));
        if !more_samples || progress.rendering < expected.mul_f64(SPACING) {
            return None;
        }
        self.last = Some((progress.samples_per_pixel, downscale));
        Some(Job {
            downscale,
            options: Options {
                quality: Quality::Fast,
                prefilter: false,
            },
            last: false,
        })
    }
}

/// The downscale of a change's first denoise at `size`.
fn first_downscale(size: (u32, u32)) -> u32 {
    let mut d = 1;
    while d < 8 && {
        let (w, h) = reduced(size, d);
        w as u64 * h as u64 > FIRST_DENOISE_PIXELS
    } {
        d *= 2;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(spp: u32, size: (u32, u32), ms: u64) -> Progress {
        Progress {
            samples_per_pixel: spp,
            size,
            rendering: Duration::from_millis(ms),
            pausing: false,
        }
    }

    #[test]
    fn with_nothing_measured_the_first_denoise_comes_after_the_first_pass() {
        let mut plan = Plan::default();
        let job = plan
            .next(&progress(1, (640, 360), 70), &Costs::default())
            .unwrap();
        assert_eq!(job.downscale, 1);
        assert_eq!(job.options.quality, Quality::Fast);
        assert!(!job.last);
    }

    /// At 640x360 a denoise costs about 200 ms: the first waits for as much
    /// rendering (two samples), the next for the samples to double and as much
    /// rendering again.
    #[test]
    fn denoises_wait_for_as_much_rendering_as_they_cost_and_for_doubled_samples() {
        let mut costs = Costs::default();
        costs.record((640, 360), Duration::from_millis(200));
        let mut plan = Plan::default();
        assert_eq!(plan.next(&progress(1, (640, 360), 100), &costs), None);
        let first = plan.next(&progress(2, (640, 360), 210), &costs).unwrap();
        assert_eq!(first.downscale, 1);
        // Rendering has started again after the denoise.
        assert_eq!(plan.next(&progress(3, (640, 360), 250), &costs), None);
        assert_eq!(plan.next(&progress(4, (640, 360), 150), &costs), None);
        assert!(plan.next(&progress(4, (640, 360), 200), &costs).is_some());
        assert_eq!(plan.next(&progress(7, (640, 360), 900), &costs), None);
        assert!(plan.next(&progress(8, (640, 360), 900), &costs).is_some());
    }

    /// At 1280x720 the first denoise is at half size, the next at full size as soon
    /// as the render has run as long as that one should take.
    #[test]
    fn a_large_picture_is_denoised_small_first_then_at_full_size() {
        let mut costs = Costs::default();
        costs.record((640, 360), Duration::from_millis(200));
        let mut plan = Plan::default();
        let first = plan.next(&progress(1, (1280, 720), 300), &costs).unwrap();
        assert_eq!(first.downscale, 2);
        // A full-size denoise is expected to take four times as long (800 ms).
        assert_eq!(plan.next(&progress(2, (1280, 720), 700), &costs), None);
        let second = plan.next(&progress(2, (1280, 720), 800), &costs).unwrap();
        assert_eq!(second.downscale, 1);
        assert_eq!(first_downscale((1920, 1080)), 4);
        assert_eq!(first_downscale((640, 360)), 1);
        assert_eq!(reduced((1281, 721), 2), (641, 361));
    }

    #[test]
    fn a_pausing_render_gets_one_best_quality_denoise_whatever_the_timing() {
        let mut costs = Costs::default();
        costs.record((640, 360), Duration::from_secs(5));
        let mut plan = Plan::default();
        let pausing = Progress {
            pausing: true,
            ..progress(16, (640, 360), 0)
        };
        let job = plan.next(&pausing, &costs).unwrap();
        assert_eq!(
            job,
            Job {
                downscale: 1,
                options: Options {
                    quality: Quality::High,
                    prefilter: true
                },
                last: true
            }
        );
        assert_eq!(plan.next(&pausing, &costs), None);
    }

    #[test]
    fn expected_costs_scale_with_pixels_from_the_nearest_measure() {
        let mut costs = Costs::default();
        assert_eq!(costs.expected((640, 360)), Duration::ZERO);
        costs.record((640, 360), Duration::from_millis(200));
        costs.record((1280, 720), Duration::from_millis(1000));
        costs.record((640, 360), Duration::from_millis(220));
        assert_eq!(costs.expected((640, 360)), Duration::from_millis(220));
        assert_eq!(costs.expected((320, 180)), Duration::from_millis(55));
        assert_eq!(costs.expected((1920, 1080)), Duration::from_millis(2250));
    }
}
