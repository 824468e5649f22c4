//! `/metrics` in the Prometheus text format.

use crate::session::Sessions;
use crate::view::View;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Renders the current figures.
pub fn render(sessions: &Sessions, view: &View) -> String {
    let s = view.stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "streamtracer_sessions",
        "gauge",
        "Viewer sessions that are open.",
        sessions.count() as f64,
    );
    metric(
        "streamtracer_frames_encoded_total",
        "counter",
        "Frames encoded for the view.",
        load(&s.frames_encoded) as f64,
    );
    metric(
        "streamtracer_keyframes_encoded_total",
        "counter",
        "Keyframes encoded for the view.",
        load(&s.keyframes_encoded) as f64,
    );
    metric(
        "streamtracer_encode_seconds_total",
        "counter",
        "Time spent converting and encoding frames.",
        load(&s.encode_micros) as f64 / 1e6,
    );
    metric(
        "streamtracer_render_passes_total",
        "counter",
        "Render passes completed.",
        load(&s.passes_rendered) as f64,
    );
    metric(
        "streamtracer_render_samples_total",
        "counter",
        "Pixel samples rendered.",
        load(&s.samples_rendered) as f64,
    );
    metric(
        "streamtracer_rays_traced_total",
        "counter",
        "Rays traced (camera, bounce and shadow).",
        load(&s.rays_traced) as f64,
    );
    metric(
        "streamtracer_render_seconds_total",
        "counter",
        "Time spent in completed render passes.",
        load(&s.render_micros) as f64 / 1e6,
    );
    out
}
