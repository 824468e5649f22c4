//! `/metrics` in the Prometheus text format.

use crate::control::errors_sent;
use crate::scene::store::SceneStore;
use crate::session::Sessions;
use crate::view::registry::Views;
use crate::view::{View, ViewStats};
use protocol::ErrorCode;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Renders the current figures.
///
/// Counters add up every view; gauges of the video (target bitrate, link estimate,
/// stream size) are the main view's; `streamtracer_viewers` and
/// `streamtracer_view_render_passes_total` are given per view.
pub fn render(sessions: &Sessions, views: &Views, store: &SceneStore) -> String {
    type Field = fn(&ViewStats) -> &std::sync::atomic::AtomicU64;
    let all = views.list();
    let main = views.main();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let count = |f: Field| all.iter().map(|(_, v)| load(f(v.stats()))).sum::<f64>();
    let seconds = |f: Field| count(f) / 1e6;
    let gauge = |f: Field| load(f(main.stats()));
    let metrics = [
        (
            "streamtracer_sessions",
            "gauge",
            "Viewer sessions that are open.",
            sessions.count() as f64,
        ),
        (
            "streamtracer_frames_encoded_total",
            "counter",
            "Frames encoded for the view.",
            count(|s| &s.frames_encoded),
        ),
        (
            "streamtracer_keyframes_encoded_total",
            "counter",
            "Keyframes encoded for the view.",
            count(|s| &s.keyframes_encoded),
        ),
        (
            "streamtracer_encode_seconds_total",
            "counter",
            "Time spent encoding frames.",
            seconds(|s| &s.encode_micros),
        ),
        (
            "streamtracer_convert_seconds_total",
            "counter",
            "Time spent tone-mapping finished passes and converting them to I420.",
            seconds(|s| &s.convert_micros),
        ),
        (
            "streamtracer_video_bytes_total",
            "counter",
            "Bytes of encoded video (each frame once, however many viewers).",
            count(|s| &s.bytes_encoded),
        ),
        (
            "streamtracer_target_bitrate_bits",
            "gauge",
            "The encoder's target bitrate: the lowest viewer link estimate within the configured bounds.",
            gauge(|s| &s.target_bitrate),
        ),
        (
            "streamtracer_lowest_link_estimate_bits",
            "gauge",
            "The lowest congestion-control estimate among the viewers' links (0 without viewers).",
            gauge(|s| &s.lowest_link),
        ),
        (
            "streamtracer_frames_dropped_total",
            "counter",
            "Frames not encoded because the video had run ahead of what the poorest viewer link carries.",
            count(|s| &s.frames_dropped),
        ),
        (
            "streamtracer_stream_width_pixels",
            "gauge",
            "Width of the stream: the picture's, or smaller while the bitrate is low.",
            gauge(|s| &s.stream_width),
        ),
        (
            "streamtracer_stream_height_pixels",
            "gauge",
            "Height of the stream.",
            gauge(|s| &s.stream_height),
        ),
        (
            "streamtracer_still_refreshes_total",
            "counter",
            "Still-quality refreshes started.",
            count(|s| &s.refreshes),
        ),
        (
            "streamtracer_render_passes_total",
            "counter",
            "Render passes completed.",
            count(|s| &s.passes_rendered),
        ),
        (
            "streamtracer_render_samples_total",
            "counter",
            "Pixel samples rendered.",
            count(|s| &s.samples_rendered),
        ),
        (
            "streamtracer_rays_traced_total",
            "counter",
            "Rays traced (camera, bounce and shadow).",
            count(|s| &s.rays_traced),
        ),
        (
            "streamtracer_render_seconds_total",
            "counter",
            "Time spent in completed render passes.",
            seconds(|s| &s.render_micros),
        ),
        (
            "streamtracer_denoised_pictures_total",
            "counter",
            "Denoised pictures put on the stream.",
            count(|s| &s.pictures_denoised),
        ),
        (
            "streamtracer_denoise_seconds_total",
            "counter",
            "Time spent in completed denoises (the render waits meanwhile).",
            seconds(|s| &s.denoise_micros),
        ),
        (
            "streamtracer_snapshot_encodes_total",
            "counter",
            "Pictures encoded as PNG for GET /api/snapshot.png (once per picture state, however many ask).",
            count(|s| &s.snapshots_encoded),
        ),
        (
            "streamtracer_scene_transactions_total",
            "counter",
            "Scene transactions applied (edits, undos and redos).",
            store.transactions() as f64,
        ),
        (
            "streamtracer_scene_revision",
            "gauge",
            "The newest revision (of a transaction or a camera move).",
            store.revision().0 as f64,
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in metrics {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP streamtracer_errors_total Error messages sent to clients, by code.\n\
         # TYPE streamtracer_errors_total counter"
    );
    for code in ErrorCode::ALL {
        let _ = writeln!(
            out,
            "streamtracer_errors_total{{code=\"{}\"}} {}",
            code.name(),
            errors_sent(code)
        );
    }
    // One line per view for each of these.
    type PerView = fn(&View) -> f64;
    let per_view: [(&str, &str, &str, PerView); 7] = [
        (
            "streamtracer_viewers",
            "gauge",
            "Viewers streaming each view (connected WebRTC sessions).",
            |view| view.viewers() as f64,
        ),
        (
            "streamtracer_view_lowest_link_estimate_bits",
            "gauge",
            "The lowest congestion-control estimate among each view's streaming viewers (0 without viewers).",
            |view| view.stats().lowest_link.load(Ordering::Relaxed) as f64,
        ),
        (
            "streamtracer_view_render_passes_total",
            "counter",
            "Render passes completed by each view.",
            |view| view.stats().passes_rendered.load(Ordering::Relaxed) as f64,
        ),
        (
            "streamtracer_view_rendering",
            "gauge",
            "Whether each view's render is running (1) or paused (0: converged, out of time, or unwatched).",
            |view| view.stats().rendering.load(Ordering::Relaxed) as f64,
        ),
        (
            "streamtracer_view_render_seconds_total",
            "counter",
            "Time each view spent in completed render passes.",
            |view| view.stats().render_micros.load(Ordering::Relaxed) as f64 / 1e6,
        ),
        (
            "streamtracer_view_denoising",
            "gauge",
            "Whether each view denoises its pictures now (1: on, and its denoiser works).",
            |view| f64::from(u8::from(view.can_denoise() && view.quality().denoise)),
        ),
        (
            "streamtracer_view_denoised_pictures_total",
            "counter",
            "Denoised pictures each view put on its stream.",
            |view| view.stats().pictures_denoised.load(Ordering::Relaxed) as f64,
        ),
    ];
    for (metric, kind, help, value) in per_view {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} {kind}");
        for (name, view) in &all {
            let _ = writeln!(out, "{metric}{{view=\"{name}\"}} {}", value(view));
        }
    }
    let _ = writeln!(
        out,
        "# HELP streamtracer_sessions_by_state Viewer sessions in each state (pending: dropped, waiting to be resumed).\n\
         # TYPE streamtracer_sessions_by_state gauge"
    );
    for (state, n) in sessions.count_by_state() {
        let _ = writeln!(
            out,
            "streamtracer_sessions_by_state{{state=\"{}\"}} {n}",
            state.name()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::count_sent;
    use protocol::{ProtocolError, ServerMessage};

    #[test]
    fn error_messages_are_counted_by_code_when_sent() {
        let before = errors_sent(ErrorCode::TooDeep);
        let other = errors_sent(ErrorCode::TooLarge);
        count_sent(&ProtocolError::new(None, ErrorCode::TooDeep, "x").into_message());
        count_sent(&ServerMessage::Resync {
            revision: Default::default(),
        });
        assert_eq!(errors_sent(ErrorCode::TooDeep), before + 1);
        assert_eq!(errors_sent(ErrorCode::TooLarge), other);
    }
}
