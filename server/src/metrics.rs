//! `/metrics` in the Prometheus text format.

use crate::session::Sessions;
use crate::store::SceneStore;
use crate::view::View;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Renders the current figures.
pub fn render(sessions: &Sessions, view: &View, store: &SceneStore) -> String {
    let s = view.stats();
    let count = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let seconds = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64 / 1e6;
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
            count(&s.frames_encoded),
        ),
        (
            "streamtracer_keyframes_encoded_total",
            "counter",
            "Keyframes encoded for the view.",
            count(&s.keyframes_encoded),
        ),
        (
            "streamtracer_encode_seconds_total",
            "counter",
            "Time spent encoding frames.",
            seconds(&s.encode_micros),
        ),
        (
            "streamtracer_convert_seconds_total",
            "counter",
            "Time spent tone-mapping finished passes and converting them to I420.",
            seconds(&s.convert_micros),
        ),
        (
            "streamtracer_video_bytes_total",
            "counter",
            "Bytes of encoded video (each frame once, however many viewers).",
            count(&s.bytes_encoded),
        ),
        (
            "streamtracer_target_bitrate_bits",
            "gauge",
            "The encoder's target bitrate: the lowest viewer link estimate within the configured bounds.",
            count(&s.target_bitrate),
        ),
        (
            "streamtracer_lowest_link_estimate_bits",
            "gauge",
            "The lowest congestion-control estimate among the viewers' links (0 without viewers).",
            count(&s.lowest_link),
        ),
        (
            "streamtracer_frames_dropped_total",
            "counter",
            "Frames not encoded because the video had run ahead of what the poorest viewer link carries.",
            count(&s.frames_dropped),
        ),
        (
            "streamtracer_stream_width_pixels",
            "gauge",
            "Width of the stream: the picture's, or smaller while the bitrate is low.",
            count(&s.stream_width),
        ),
        (
            "streamtracer_stream_height_pixels",
            "gauge",
            "Height of the stream.",
            count(&s.stream_height),
        ),
        (
            "streamtracer_still_refreshes_total",
            "counter",
            "Still-quality refreshes started.",
            count(&s.refreshes),
        ),
        (
            "streamtracer_render_passes_total",
            "counter",
            "Render passes completed.",
            count(&s.passes_rendered),
        ),
        (
            "streamtracer_render_samples_total",
            "counter",
            "Pixel samples rendered.",
            count(&s.samples_rendered),
        ),
        (
            "streamtracer_rays_traced_total",
            "counter",
            "Rays traced (camera, bounce and shadow).",
            count(&s.rays_traced),
        ),
        (
            "streamtracer_render_seconds_total",
            "counter",
            "Time spent in completed render passes.",
            seconds(&s.render_micros),
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
    for code in crate::protocol::ErrorCode::ALL {
        let _ = writeln!(
            out,
            "streamtracer_errors_total{{code=\"{}\"}} {}",
            code.name(),
            code.sent()
        );
    }
    let _ = writeln!(
        out,
        "# HELP streamtracer_viewers Viewers streaming the view (connected WebRTC sessions).\n\
         # TYPE streamtracer_viewers gauge\nstreamtracer_viewers{{view=\"main\"}} {}",
        view.viewers()
    );
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
