//! When a view encodes and how: the frame clock (a tick every period, an edit's frame
//! half a period after the previous one), the still-quality refresh and the idle
//! frames after it, the frame dropper, the bitrate from the viewers' links, the stream
//! halved on a poor link, and the spacing of requested keyframes.
//!
//! [`EncodePlanner`] holds only this policy's state. It is given the time, the latest
//! picture's state and what the viewers ask, and answers with what to do; it reads no
//! clock and owns no encoder, so every rule is unit-tested on a made-up clock. The
//! encode thread (`encode.rs`) waits, encodes and reports back.
//!
//! Length: Over 600 lines because its unit tests (about 275 lines) sit beside the
//! policy they pin down.

use super::ViewSettings;
use protocol::Revision;
use std::time::{Duration, Instant};

/// Requested keyframes are at most this frequent, whoever asks: a storm of picture
/// loss reports from one viewer cannot flood every viewer's link with large frames.
/// A request inside the interval is kept and served when it ends.
pub const MIN_KEYFRAME_INTERVAL: Duration = Duration::from_millis(250);

/// The longest a requested keyframe waits, however slow the link.
pub const MAX_KEYFRAME_INTERVAL: Duration = Duration::from_secs(3);

/// A picture that has not changed for this long counts as still (see
/// [`ViewSettings::idle_interval`]): longer than a full pass at the sizes served. A
/// converged picture counts as still at once.
pub const STILL_AFTER: Duration = Duration::from_millis(1000);

/// How far the video may run ahead of what the poorest link carries, in time at its
/// rate, before frames are dropped to let the link catch up.
pub const DEBT_LIMIT: Duration = Duration::from_millis(250);

/// Below this many bits per pixel and frame the stream halves its width and height
/// (at most twice), and above [`UPSCALE_BPP`] at the larger size it goes back: a
/// smaller picture coded well looks better, and its frames are small enough to keep
/// the frame rate on a slow link. At 1280x720 and 30 fps: half size under
/// 1.4 Mbit/s, back above 2.8 Mbit/s; quarter size under 350 kbit/s.
pub const DOWNSCALE_BPP: f64 = 0.05;
pub const UPSCALE_BPP: f64 = 0.1;

/// The stream size changes at most this often (each change costs a keyframe).
pub const SCALE_HOLD: Duration = Duration::from_secs(2);

/// The longest still-quality refresh, in frames.
pub const REFRESH_MAX_FRAMES: u32 = 45;

/// How soon after a keyframe of `bytes` another may be sent at `bitrate`: no sooner
/// than [`MIN_KEYFRAME_INTERVAL`], and not before twice its transmission time, so that
/// keyframes take at most half the link. On a poor, lossy link every keyframe risks
/// losing a packet and drawing another request; without this, keyframes would fill
/// the link and leave no room for the frames after them.
pub fn keyframe_spacing(bytes: usize, bitrate: u32) -> Duration {
    let transmission = bytes as f64 * 8.0 / bitrate.max(1) as f64;
    Duration::from_secs_f64(2.0 * transmission).clamp(MIN_KEYFRAME_INTERVAL, MAX_KEYFRAME_INTERVAL)
}

/// How many times to halve a `size` picture for `bitrate` at `fps`, starting from
/// `current`.
pub fn halvings(bitrate: u32, (width, height): (usize, usize), fps: f32, current: u32) -> u32 {
    let bpp = |n: u32| bitrate as f64 / ((width >> n) * (height >> n)) as f64 / fps as f64;
    let mut n = current.min(2);
    while n < 2 && bpp(n) < DOWNSCALE_BPP {
        n += 1;
    }
    while n > 0 && bpp(n - 1) > UPSCALE_BPP {
        n -= 1;
    }
    n
}

/// How the encoder's bitrate follows the viewers' links: the lowest estimate, capped
/// by the live bitrate (or, during a refresh, the maximum), never below the minimum.
pub fn target_bitrate(settings: &ViewSettings, lowest_link: Option<f64>, refreshing: bool) -> u32 {
    let cap = if refreshing {
        settings.max_bitrate
    } else {
        settings.bitrate
    } as f64;
    let rate = lowest_link.map_or(cap, |l| l.min(cap));
    rate.max(settings.min_bitrate as f64) as u32
}

/// A still-quality refresh. Once the picture is still, frames keep going out on every
/// tick at up to the maximum bitrate: each repeats the same picture, and the encoder
/// spends it on what earlier frames lost, until the error is below its quantiser's
/// reach and frames cost almost nothing. Then the refresh is done and only keep-alive
/// frames follow (see [`ViewSettings::idle_interval`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Refresh {
    /// The picture is changing, or has not been still for long enough.
    Waiting,
    Running {
        frames: u32,
        quiet: u32,
    },
    Done,
}

/// What the planner needs to know of the latest picture.
#[derive(Clone, Copy, Debug)]
pub struct Picture {
    pub revision: Revision,
    /// Changes with every new picture (a pass, a preview, a denoise).
    pub serial: u64,
    /// The render has converged: the picture counts as still at once.
    pub converged: bool,
    /// Its size, before any halving for the stream.
    pub width: usize,
    pub height: usize,
}

/// What the viewers ask of this frame.
#[derive(Clone, Copy, Debug)]
pub struct Viewers {
    /// Somebody subscribes to the view's frames.
    pub watching: bool,
    /// A keyframe was requested (a join, a PLI or FIR, a resize).
    pub keyframe_requested: bool,
    /// The lowest link estimate among the streaming viewers, bit/s.
    pub lowest_link: Option<f64>,
}

/// What to do with the picture at this tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    /// Nobody watches: nothing is encoded, and the next viewer gets a keyframe.
    Unwatched,
    /// The refresh is done and no keep-alive frame is due: nothing to send.
    Idle,
    /// The poorest link is still draining earlier frames: this tick is skipped.
    Drop,
    /// Encode the picture.
    Encode(Encode),
}

/// How to encode a frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Encode {
    /// The encoder's bitrate.
    pub bitrate: u32,
    /// Times to halve the picture for the stream.
    pub halvings: u32,
    /// Serve the keyframe request now (it may have to wait for its spacing).
    pub keyframe: bool,
}

/// The planner's answer for one tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    pub action: Action,
    /// A still-quality refresh began at this tick (counted in `/metrics`).
    pub refresh_started: bool,
}

/// The encode thread's policy state; see the module documentation.
pub struct EncodePlanner {
    settings: ViewSettings,
    period: Duration,
    /// The next tick.
    next: Instant,
    /// When the last keyframe was sent, and how soon the next may follow it.
    last_keyframe: Option<(Instant, Duration)>,
    /// The revision of the last frame handled (encoded, dropped or unwatched): a
    /// frame of a newer revision (an edit) goes out as soon as it is ready, if half a
    /// period has passed since the last frame, instead of waiting for the tick.
    handled_revision: Option<Revision>,
    /// The serial of the latest picture seen (encoded or not), and when it changed.
    seen_serial: Option<u64>,
    changed_at: Instant,
    last_encode: Instant,
    refresh: Refresh,
    /// Whether the picture planned last counted as still.
    still: bool,
    /// Times the picture is halved for the stream, and when that last changed.
    scale: (u32, Option<Instant>),
    /// Bits sent and not yet drained by the poorest link, as of `debt_at`.
    debt: f64,
    debt_at: Instant,
}

impl EncodePlanner {
    pub fn new(settings: ViewSettings, now: Instant) -> EncodePlanner {
        EncodePlanner {
            settings,
            period: Duration::from_secs_f64(1.0 / settings.fps as f64),
            next: now,
            last_keyframe: None,
            handled_revision: None,
            seen_serial: None,
            changed_at: now,
            last_encode: now,
            refresh: Refresh::Waiting,
            still: false,
            scale: (0, None),
            debt: 0.0,
            debt_at: now,
        }
    }

    /// The live bitrate cap and frame rate a controller's `quality` sets, from this
    /// tick on: a faster frame rate brings the next tick forward.
    pub fn set_quality(&mut self, bitrate: u32, fps: f32, now: Instant) {
        if fps != self.settings.fps {
            self.period = Duration::from_secs_f64(1.0 / fps as f64);
            self.next = self.next.min(now + self.period);
        }
        self.settings.bitrate = bitrate;
        self.settings.fps = fps;
    }

    /// The settings as the last [`EncodePlanner::set_quality`] left them.
    pub fn settings(&self) -> &ViewSettings {
        &self.settings
    }

    /// Whether the latest picture (of `latest` revision, if any) is to be taken at
    /// `now`: at the tick, or for an edit's frame half a period after the last frame.
    /// Otherwise, when to look again (sooner if the picture changes).
    pub fn due(&self, latest: Option<Revision>, now: Instant) -> Result<(), Instant> {
        let edit = latest.is_some_and(|r| self.handled_revision.is_none_or(|h| r > h));
        let early = self.last_encode + self.period / 2;
        if now >= self.next || (edit && now >= early) {
            return Ok(());
        }
        Err(if edit {
            early.min(self.next)
        } else {
            self.next
        })
    }

    /// The frame is taken at `now`: ticks are on a fixed grid from the last frame
    /// sent; after a stall, or an edit sent early, the grid starts again rather than
    /// bursting.
    pub fn take(&mut self, now: Instant) {
        self.next = if now >= self.next && now < self.next + self.period {
            self.next + self.period
        } else {
            now + self.period
        };
    }

    /// What to do with `picture` at `now` for `viewers`.
    pub fn plan(&mut self, picture: &Picture, viewers: &Viewers, now: Instant) -> Decision {
        if !viewers.watching {
            // The frame counts as handled, so the wait sleeps until the next tick
            // or edit instead of spinning on it.
            self.handled_revision = Some(picture.revision);
            return Decision {
                action: Action::Unwatched,
                refresh_started: false,
            };
        }
        let keyframe_allowed = self
            .last_keyframe
            .is_none_or(|(at, spacing)| now.saturating_duration_since(at) >= spacing);
        let keyframe = keyframe_allowed && viewers.keyframe_requested;
        // While the render produces passes, frames go out on every tick, repeating
        // the picture between passes. Once it is still, a refresh makes it sharp;
        // after that it is sent again only to keep the stream alive or when a
        // keyframe is due.
        if self.seen_serial != Some(picture.serial) {
            self.seen_serial = Some(picture.serial);
            self.changed_at = now;
            self.refresh = Refresh::Waiting;
        }
        self.still =
            picture.converged || now.saturating_duration_since(self.changed_at) >= STILL_AFTER;
        let refresh_started = self.still && self.refresh == Refresh::Waiting;
        if refresh_started {
            self.refresh = Refresh::Running {
                frames: 0,
                quiet: 0,
            };
        }
        let decision = |action| Decision {
            action,
            refresh_started,
        };
        if let Some(idle) = self.settings.idle_interval {
            if self.refresh == Refresh::Done
                && now.saturating_duration_since(self.last_encode) < idle
                && !keyframe
            {
                return decision(Action::Idle);
            }
        }
        let refreshing = matches!(self.refresh, Refresh::Running { .. });
        let bitrate = target_bitrate(&self.settings, viewers.lowest_link, refreshing);
        // The frame dropper: bits sent are a debt that drains at the rate the poorest
        // link carries (without estimates, the ceiling). While more than DEBT_LIMIT of
        // it is outstanding (the encoder overshot, as it does with a large picture at
        // a low rate, or a keyframe was sent), frames wait for the next tick instead
        // of queueing in the pacer and the network: the frame rate drops, the latency
        // does not grow. On a good link the encoder's target is below the estimate,
        // so its usual overshoot drains without dropping anything. Keyframes go
        // through; their spacing has its own limit.
        let drain = self.drain(viewers.lowest_link);
        self.debt = (self.debt - drain * now.saturating_duration_since(self.debt_at).as_secs_f64())
            .max(0.0);
        self.debt_at = now;
        // Handled either way for the early-edit rule, so that a dropped frame's wait
        // sleeps until the next tick instead of retrying at once.
        self.handled_revision = Some(picture.revision);
        if self.debt > drain * DEBT_LIMIT.as_secs_f64() && !keyframe {
            return decision(Action::Drop);
        }
        self.last_encode = now;
        // Too few bits for the picture's size: stream it smaller (see `halvings`).
        // Judged on the live rate only, so that a refresh does not flip the size;
        // and only while a link holds the rate under the configured one, which is
        // taken as right for the configured size.
        let live = target_bitrate(&self.settings, viewers.lowest_link, false);
        let wanted = if live >= self.settings.bitrate {
            0
        } else {
            halvings(
                live,
                (picture.width, picture.height),
                self.settings.fps,
                self.scale.0,
            )
        };
        if wanted != self.scale.0
            && self
                .scale
                .1
                .is_none_or(|at| now.saturating_duration_since(at) >= SCALE_HOLD)
        {
            self.scale = (wanted, Some(now));
        }
        decision(Action::Encode(Encode {
            bitrate,
            halvings: self.scale.0,
            keyframe,
        }))
    }

    /// The rate at which sent bits drain: the poorest link's, or the ceiling.
    fn drain(&self, lowest_link: Option<f64>) -> f64 {
        lowest_link
            .unwrap_or(self.settings.max_bitrate as f64)
            .max(self.settings.min_bitrate as f64)
    }

    /// The frame planned last was encoded into `bytes` (a keyframe or not) at the
    /// encoder's `bitrate`, finishing at `now`.
    pub fn encoded(&mut self, bytes: usize, keyframe: bool, bitrate: u32, now: Instant) {
        if keyframe {
            self.last_keyframe = Some((now, keyframe_spacing(bytes, bitrate)));
        }
        self.debt += bytes as f64 * 8.0;
        self.refresh = match self.refresh {
            // A keyframe restarts the refresh: it was coded from scratch, at the
            // live budget, for a viewer that has nothing better.
            _ if keyframe && self.still => Refresh::Running {
                frames: 1,
                quiet: 0,
            },
            Refresh::Running { frames, quiet } => {
                // "Quiet": a frame under a sixteenth of its budget has little left
                // to refine.
                let budget = bitrate as f64 / self.settings.fps as f64 / 8.0;
                let quiet = if (bytes as f64) < budget / 16.0 {
                    quiet + 1
                } else {
                    0
                };
                if quiet >= 2 || frames + 1 >= REFRESH_MAX_FRAMES {
                    Refresh::Done
                } else {
                    Refresh::Running {
                        frames: frames + 1,
                        quiet,
                    }
                }
            }
            other => other,
        };
    }

    /// Where the still-quality refresh is.
    pub fn refresh(&self) -> Refresh {
        self.refresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ViewSettings {
        ViewSettings::small_for_tests()
    }

    const MS: Duration = Duration::from_millis(1);

    fn picture(revision: u64, serial: u64) -> Picture {
        Picture {
            revision: Revision(revision),
            serial,
            converged: false,
            width: 1280,
            height: 720,
        }
    }

    fn watched(lowest_link: Option<f64>) -> Viewers {
        Viewers {
            watching: true,
            keyframe_requested: false,
            lowest_link,
        }
    }

    fn encode(d: Decision) -> Encode {
        match d.action {
            Action::Encode(e) => e,
            other => panic!("expected an encode, got {other:?}"),
        }
    }

    #[test]
    fn the_stream_shrinks_when_bits_are_few_and_grows_back_with_hysteresis() {
        let hd = (1280, 720);
        assert_eq!(halvings(4_000_000, hd, 30.0, 0), 0);
        assert_eq!(halvings(1_000_000, hd, 30.0, 0), 1);
        assert_eq!(halvings(300_000, hd, 30.0, 0), 2);
        // Between the thresholds the size stays what it is.
        assert_eq!(halvings(2_000_000, hd, 30.0, 1), 1);
        assert_eq!(halvings(2_000_000, hd, 30.0, 0), 0);
        assert_eq!(halvings(500_000, hd, 30.0, 2), 2);
        assert_eq!(halvings(3_000_000, hd, 30.0, 2), 0);
        // A small picture has bits enough.
        assert_eq!(halvings(300_000, (320, 240), 30.0, 0), 0);
    }

    #[test]
    fn keyframes_take_at_most_half_the_link() {
        // 100 kB at 4 Mbit/s: 0.2 s on the wire.
        assert_eq!(keyframe_spacing(100_000, 4_000_000), 400 * MS);
        assert_eq!(keyframe_spacing(10_000, 4_000_000), MIN_KEYFRAME_INTERVAL);
        assert_eq!(keyframe_spacing(1_000_000, 300_000), MAX_KEYFRAME_INTERVAL);
    }

    #[test]
    fn bitrate_follows_the_lowest_link_within_bounds() {
        let s = settings();
        // No estimate yet: the live bitrate, or the maximum during a refresh.
        assert_eq!(target_bitrate(&s, None, false), 500_000);
        assert_eq!(target_bitrate(&s, None, true), 1_000_000);
        assert_eq!(target_bitrate(&s, Some(300_000.0), false), 300_000);
        assert_eq!(target_bitrate(&s, Some(300_000.0), true), 300_000);
        assert_eq!(target_bitrate(&s, Some(5e6), false), 500_000);
        assert_eq!(target_bitrate(&s, Some(5e6), true), 1_000_000);
        // A link below the floor gets the floor.
        assert_eq!(target_bitrate(&s, Some(20_000.0), false), 100_000);
    }

    #[test]
    fn frames_tick_on_a_grid_and_an_edit_goes_out_half_a_period_after_the_last() {
        let t0 = Instant::now();
        let s = ViewSettings {
            fps: 20.0,
            ..settings()
        };
        let period = 50 * MS;
        let mut p = EncodePlanner::new(s, t0);
        let link = watched(Some(5e6));
        // The first frame is due at once.
        assert_eq!(p.due(Some(Revision(1)), t0), Ok(()));
        p.take(t0);
        encode(p.plan(&picture(1, 1), &link, t0));
        p.encoded(1_000, true, 500_000, t0);
        // The same revision waits for the tick.
        assert_eq!(p.due(Some(Revision(1)), t0 + 10 * MS), Err(t0 + period));
        // A taken tick late within its period keeps the grid.
        p.take(t0 + period + 20 * MS);
        encode(p.plan(&picture(1, 2), &link, t0 + period + 20 * MS));
        assert_eq!(p.due(Some(Revision(1)), t0 + 60 * MS), Err(t0 + 2 * period));
        // An edit (a newer revision) goes half a period after the last frame.
        let last = t0 + period + 20 * MS;
        assert_eq!(
            p.due(Some(Revision(2)), last + 10 * MS),
            Err(last + period / 2)
        );
        assert_eq!(p.due(Some(Revision(2)), last + period / 2), Ok(()));
        p.take(last + period / 2);
        // ... and the grid starts again from it.
        encode(p.plan(&picture(2, 3), &link, last + period / 2));
        assert_eq!(
            p.due(Some(Revision(2)), last + period / 2),
            Err(last + 3 * period / 2)
        );
        // After a stall the grid restarts rather than bursting.
        let stalled = t0 + 10 * period;
        p.take(stalled);
        assert_eq!(
            p.due(Some(Revision(2)), stalled + MS),
            Err(stalled + period)
        );
        // A faster frame rate brings the next tick forward.
        p.set_quality(500_000, 50.0, stalled + MS);
        assert_eq!(
            p.due(Some(Revision(2)), stalled + 2 * MS),
            Err(stalled + 21 * MS)
        );
    }

    #[test]
    fn a_still_picture_is_refreshed_at_the_maximum_rate_then_sent_only_to_keep_alive() {
        let t0 = Instant::now();
        let s = ViewSettings {
            fps: 30.0,
            idle_interval: Some(Duration::from_secs(1)),
            ..settings()
        };
        let mut p = EncodePlanner::new(s, t0);
        let link = watched(None);
        let frame = 33 * MS;
        // A changing picture: live bitrate, no refresh.
        let d = p.plan(&picture(1, 1), &link, t0);
        assert_eq!((encode(d).bitrate, d.refresh_started), (500_000, false));
        p.encoded(5_000, true, 500_000, t0);
        // The same picture for STILL_AFTER: the refresh starts, at the maximum rate.
        let still = t0 + STILL_AFTER;
        let d = p.plan(&picture(1, 1), &link, still);
        assert!(d.refresh_started);
        assert_eq!(encode(d).bitrate, 1_000_000);
        // Frames that still cost bits keep it running; two quiet ones end it.
        let mut t = still;
        p.encoded(4_000, false, 1_000_000, t);
        assert!(matches!(p.refresh(), Refresh::Running { frames: 1, .. }));
        for _ in 0..2 {
            t += frame;
            encode(p.plan(&picture(1, 1), &link, t));
            p.encoded(100, false, 1_000_000, t);
        }
        assert_eq!(p.refresh(), Refresh::Done);
        // Then only a keep-alive frame per idle interval, or a requested keyframe.
        t += frame;
        assert_eq!(p.plan(&picture(1, 1), &link, t).action, Action::Idle);
        let asks = Viewers {
            keyframe_requested: true,
            ..link
        };
        assert!(encode(p.plan(&picture(1, 1), &asks, t)).keyframe);
        t += Duration::from_secs(1);
        let keep_alive = encode(p.plan(&picture(1, 1), &link, t));
        assert_eq!(
            keep_alive.bitrate, 500_000,
            "after the refresh, the live rate"
        );
        // A new picture starts over.
        let d = p.plan(&picture(2, 2), &link, t + frame);
        assert_eq!(encode(d).bitrate, 500_000);
        assert_eq!(p.refresh(), Refresh::Waiting);
        // A converged picture is still at once.
        let converged = Picture {
            converged: true,
            ..picture(2, 3)
        };
        assert!(p.plan(&converged, &link, t + 2 * frame).refresh_started);
    }

    #[test]
    fn frames_are_dropped_while_the_poorest_link_drains_but_keyframes_go_through() {
        let t0 = Instant::now();
        let mut p = EncodePlanner::new(settings(), t0);
        // A 200 kbit/s link and a 20 kB frame: 0.8 s to drain, over the 0.25 s limit.
        let link = watched(Some(200_000.0));
        encode(p.plan(&picture(1, 1), &link, t0));
        p.encoded(20_000, false, 200_000, t0);
        let mut t = t0 + 100 * MS;
        assert_eq!(p.plan(&picture(1, 2), &link, t).action, Action::Drop);
        // A requested keyframe is not held back by the debt (its spacing allows it).
        let asks = Viewers {
            keyframe_requested: true,
            ..link
        };
        assert!(encode(p.plan(&picture(1, 2), &asks, t)).keyframe);
        p.encoded(1_000, true, 200_000, t);
        // Another requested keyframe inside its spacing (250 ms) waits too.
        t = t0 + 300 * MS;
        assert_eq!(p.plan(&picture(1, 3), &asks, t).action, Action::Drop);
        // Until the debt is under 0.25 s of the link (50 kbit), frames wait.
        t = t0 + 500 * MS;
        assert_eq!(p.plan(&picture(1, 3), &link, t).action, Action::Drop);
        t = t0 + 600 * MS;
        let e = encode(p.plan(&picture(1, 4), &link, t));
        assert_eq!(e.bitrate, 200_000);
        assert!(!e.keyframe);
    }

    #[test]
    fn the_stream_size_follows_the_link_at_most_every_scale_hold() {
        let t0 = Instant::now();
        let s = ViewSettings {
            fps: 30.0,
            bitrate: 4_000_000,
            min_bitrate: 100_000,
            max_bitrate: 8_000_000,
            ..settings()
        };
        let mut p = EncodePlanner::new(s, t0);
        let mut t = t0;
        let step = |p: &mut EncodePlanner, link: f64, t: Instant| {
            let e = encode(p.plan(
                &picture(1, t.duration_since(t0).as_millis() as u64),
                &watched(Some(link)),
                t,
            ));
            p.encoded(10, false, e.bitrate, t);
            e.halvings
        };
        assert_eq!(step(&mut p, 5e6, t), 0);
        // The link drops to 1 Mbit/s: half size at once (no change yet to hold).
        t += 100 * MS;
        assert_eq!(step(&mut p, 1e6, t), 1);
        // 300 kbit/s a moment later: held at half size for SCALE_HOLD.
        t += 100 * MS;
        assert_eq!(step(&mut p, 300_000.0, t), 1);
        t = t0 + 100 * MS + SCALE_HOLD;
        assert_eq!(step(&mut p, 300_000.0, t), 2);
        // Recovered: back to full size once the hold has passed.
        t += SCALE_HOLD;
        assert_eq!(step(&mut p, 5e6, t), 0);
    }

    #[test]
    fn an_unwatched_view_encodes_nothing_and_counts_its_frame_as_handled() {
        let t0 = Instant::now();
        let mut p = EncodePlanner::new(settings(), t0);
        let nobody = Viewers {
            watching: false,
            keyframe_requested: false,
            lowest_link: None,
        };
        p.take(t0);
        assert_eq!(
            p.plan(&picture(3, 1), &nobody, t0).action,
            Action::Unwatched
        );
        // The edit was handled: no early frame for it, the next tick only.
        assert!(p.due(Some(Revision(3)), t0 + MS).is_err());
    }
}
