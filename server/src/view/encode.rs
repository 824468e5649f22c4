//! The encode thread: waits for the planner's next frame, asks it what to do with the
//! latest picture, encodes (halved for a poor link, at the planner's bitrate), and
//! broadcasts the access unit to every viewer of the view. The policy is
//! [`super::planner`]'s; this loop owns the clock, the encoder and the counters.

use super::planner::{Action, EncodePlanner, Picture, Viewers};
use super::{lock, EncodedFrame, Shared, Shown, ViewSettings};
use bytes::Bytes;
use encoder::{AccessUnit, EncoderSettings, H264Encoder};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

pub(super) fn encode_loop(shared: &Shared, mut encoder: H264Encoder, settings: ViewSettings) {
    let mut planner = EncodePlanner::new(settings, Instant::now());
    let s = &shared.stats;
    s.stream_width
        .store(settings.width as u64, Ordering::Relaxed);
    s.stream_height
        .store(settings.height as u64, Ordering::Relaxed);
    s.target_bitrate
        .store(settings.bitrate as u64, Ordering::Relaxed);
    loop {
        // A controller's bitrate and frame rate (`View::set_quality`) from this tick on.
        let quality = *lock(&shared.quality);
        planner.set_quality(quality.bitrate, quality.fps, Instant::now());
        let fps = planner.settings().fps;
        let frame = {
            let mut latest = lock(&shared.latest);
            loop {
                if shared.shutdown.load(Ordering::Acquire) {
                    return;
                }
                let now = Instant::now();
                let Err(until) = planner.due(latest.as_ref().map(|f| f.revision), now) else {
                    break;
                };
                latest = shared
                    .latest_changed
                    .wait_timeout(latest, until - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            latest.clone()
        };
        let now = Instant::now();
        planner.take(now);
        let Some(frame) = frame else {
            continue;
        };
        let watching = shared.frames.receiver_count() > 0;
        let lowest_link = watching.then(|| shared.lowest_link()).flatten();
        let viewers = Viewers {
            watching,
            keyframe_requested: shared.keyframe_requested.load(Ordering::Acquire),
            lowest_link,
        };
        let picture = Picture {
            revision: frame.revision,
            serial: frame.serial,
            converged: frame.converged,
            width: frame.i420.width,
            height: frame.i420.height,
        };
        let decision = planner.plan(&picture, &viewers, now);
        if decision.refresh_started {
            s.refreshes.fetch_add(1, Ordering::Relaxed);
        }
        s.lowest_link
            .store(lowest_link.unwrap_or(0.0) as u64, Ordering::Relaxed);
        let plan = match decision.action {
            Action::Unwatched => {
                // Nobody is watching: the next viewer gets a keyframe to start from.
                shared.keyframe_requested.store(true, Ordering::Release);
                continue;
            }
            Action::Idle => continue,
            Action::Drop => {
                s.frames_dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Action::Encode(plan) => plan,
        };
        let start = Instant::now();
        let mut scaled = None;
        for _ in 0..plan.halvings {
            match scaled.as_ref().unwrap_or(&frame.i420).half() {
                Some(half) => scaled = Some(half),
                None => break,
            }
        }
        let picture = scaled.as_ref().unwrap_or(&frame.i420);
        let size = (picture.width as u32, picture.height as u32);
        if size != (encoder.settings().width, encoder.settings().height)
            || encoder.settings().fps != fps
        {
            // A new size or frame rate: a new encoder, whose first frame is a
            // keyframe carrying the new parameter sets.
            match H264Encoder::new(EncoderSettings {
                width: size.0,
                height: size.1,
                bitrate: plan.bitrate,
                fps,
                ..encoder.settings()
            }) {
                Ok(e) => encoder = e,
                Err(e) => {
                    tracing::error!("no encoder for {}x{}: {e}", size.0, size.1);
                    continue;
                }
            }
            tracing::info!(
                "streaming at {}x{} and {} fps ({} kbit/s)",
                size.0,
                size.1,
                fps,
                plan.bitrate / 1000
            );
            s.stream_width.store(size.0 as u64, Ordering::Relaxed);
            s.stream_height.store(size.1 as u64, Ordering::Relaxed);
        }
        // Small moves are not worth disturbing rate control for.
        let current = encoder.settings().bitrate;
        let wanted_rate = plan.bitrate.min(encoder.settings().level_max_bitrate());
        if wanted_rate.abs_diff(current) > current / 32 {
            match encoder.set_bitrate(plan.bitrate) {
                Ok(now) => tracing::debug!("bitrate {} → {} kbit/s", current / 1000, now / 1000),
                Err(e) => tracing::warn!("could not change the bitrate: {e}"),
            }
        }
        s.target_bitrate
            .store(encoder.settings().bitrate as u64, Ordering::Relaxed);
        if plan.keyframe && shared.keyframe_requested.swap(false, Ordering::AcqRel) {
            encoder.request_keyframe();
        }
        let AccessUnit { data, keyframe } = match encoder.encode(picture) {
            Ok(au) => au,
            Err(e) => {
                tracing::error!("encoding failed: {e}");
                shared.keyframe_requested.store(true, Ordering::Release);
                continue;
            }
        };
        planner.encoded(
            data.len(),
            keyframe,
            encoder.settings().bitrate,
            Instant::now(),
        );
        s.frames_encoded.fetch_add(1, Ordering::Relaxed);
        s.keyframes_encoded
            .fetch_add(keyframe as u64, Ordering::Relaxed);
        s.bytes_encoded
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        s.encode_micros
            .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        shared.shown.send_if_modified(|shown| {
            let news = shown.is_none_or(|s| {
                frame.revision > s.revision
                    || (frame.revision == s.revision && frame.denoised != s.denoised)
            });
            if news {
                *shown = Some(Shown {
                    revision: frame.revision,
                    width: size.0,
                    height: size.1,
                    denoised: frame.denoised,
                });
            }
            news
        });
        let _ = shared.frames.send(Arc::new(EncodedFrame {
            data: Bytes::from(data),
            keyframe,
            revision: frame.revision,
            produced: Instant::now(),
            width: size.0,
            height: size.1,
            denoised: frame.denoised,
        }));
    }
}
