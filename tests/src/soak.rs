//! Soak: N WebRTC viewers and M WebSocket controllers editing, against the real
//! binary on loopback, for a set time. Every sample period it reads the server's
//! resident memory, open file descriptors and threads from `/proc/<pid>`, the sessions
//! from `/metrics`, the frames each viewer received and the edits acknowledged; at the
//! end, edits seen on the stream (a `frame` message naming their revision or a later
//! one) and in the scene, and what the server holds once everyone has left.
//!
//! Used by the `soak` binary (`cargo run --release -p streamtracer-tests --bin soak --
//! --seconds 600`) and, shortened, by `tests/e2e/soak.rs`.

use crate::client::{Viewer, ViewerOptions};
use crate::process::ServerProcess;
use crate::ws::ControlSocket;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct SoakOptions {
    pub viewers: usize,
    pub controllers: usize,
    pub duration: Duration,
    /// Between samples.
    pub sample: Duration,
    /// Memory growth is measured from the first sample after this.
    pub warmup: Duration,
    /// Edits per second per controller.
    pub edit_rate: f64,
    /// Extra server flags (picture size, frame rate...).
    pub server_args: Vec<String>,
}

/// One sample of the server.
#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Duration,
    pub rss_kib: u64,
    pub fds: usize,
    pub threads: usize,
    pub sessions: f64,
    /// Frames per second each viewer received since the previous sample.
    pub fps: Vec<f64>,
    /// Edits acknowledged since the previous sample, over all controllers.
    pub edits: u64,
}

/// The outcome.
#[derive(Clone, Debug)]
pub struct SoakReport {
    pub options: SoakOptions,
    pub samples: Vec<Sample>,
    /// Before anyone connected.
    pub idle: Sample,
    /// After everyone left (and the sessions were gone).
    pub after: Sample,
    pub edits_sent: u64,
    pub edits_acknowledged: u64,
    /// Acknowledged edits whose revision a later `frame` message covered.
    pub edits_on_stream: u64,
    /// Controllers whose last acknowledged value `get` read back.
    pub controllers_consistent: usize,
    /// Frames decoded by the one decoding viewer, and their size.
    pub decoded: u64,
}

impl SoakReport {
    /// Resident memory growth from the first sample after the warm-up to the last,
    /// as a fraction.
    pub fn memory_growth(&self) -> f64 {
        let warm = self
            .samples
            .iter()
            .find(|s| s.at >= self.options.warmup)
            .or(self.samples.first());
        match (warm, self.samples.last()) {
            (Some(a), Some(b)) => (b.rss_kib as f64 - a.rss_kib as f64) / a.rss_kib as f64,
            _ => 0.0,
        }
    }

    /// Mean frames per second per viewer over the samples after the warm-up, and the
    /// lowest any viewer had in any of them.
    pub fn fps(&self) -> (f64, f64) {
        let after: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.at >= self.options.warmup)
            .collect();
        let all: Vec<f64> = after.iter().flat_map(|s| s.fps.iter().copied()).collect();
        let mean = all.iter().sum::<f64>() / all.len().max(1) as f64;
        let min = all.iter().copied().fold(f64::INFINITY, f64::min);
        (mean, if min.is_finite() { min } else { 0.0 })
    }

    /// The table and the summary lines.
    pub fn print(&self) {
        let o = &self.options;
        println!(
            "soak: {} viewers, {} controllers ({} edits/s each), {} s, server {}",
            o.viewers,
            o.controllers,
            o.edit_rate,
            o.duration.as_secs(),
            o.server_args.join(" ")
        );
        println!("      t s |  RSS MiB |  fds | threads | sessions | fps/viewer min  median | edits acked");
        let row = |label: String, s: &Sample| {
            let mut fps = s.fps.clone();
            fps.sort_by(f64::total_cmp);
            let (min, med) = match fps.len() {
                0 => (f64::NAN, f64::NAN),
                n => (fps[0], fps[n / 2]),
            };
            println!(
                " {label:>8} | {:8.1} | {:4} | {:7} | {:8} | {:14.1} {:7.1} | {:11}",
                s.rss_kib as f64 / 1024.0,
                s.fds,
                s.threads,
                s.sessions,
                min,
                med,
                s.edits
            );
        };
        row("idle".into(), &self.idle);
        for s in &self.samples {
            row(format!("{:.0}", s.at.as_secs_f64()), s);
        }
        row("after".into(), &self.after);
        let (mean, min) = self.fps();
        println!(
            "frames per viewer per second after warm-up: mean {mean:.1}, lowest {min:.1}; one viewer decoded {} frames",
            self.decoded
        );
        println!(
            "edits: {} sent, {} acknowledged, {} seen on the stream, {} of {} controllers read their last value back",
            self.edits_sent,
            self.edits_acknowledged,
            self.edits_on_stream,
            self.controllers_consistent,
            o.controllers
        );
        println!(
            "memory: {:.1} MiB after warm-up ({} s), {:.1} MiB at the end: growth {:+.1}% ({})",
            self.samples
                .iter()
                .find(|s| s.at >= o.warmup)
                .map_or(0.0, |s| s.rss_kib as f64 / 1024.0),
            o.warmup.as_secs(),
            self.samples
                .last()
                .map_or(0.0, |s| s.rss_kib as f64 / 1024.0),
            self.memory_growth() * 100.0,
            if self.memory_growth() < 0.05 {
                "PASS: under 5%"
            } else {
                "FAIL: 5% or more"
            }
        );
        println!(
            "after everyone left: {} sessions, {} fds (idle {}), {} threads (idle {})",
            self.after.sessions,
            self.after.fds,
            self.idle.fds,
            self.after.threads,
            self.idle.threads
        );
    }
}

/// File descriptors and threads of process `pid`.
pub fn fds_and_threads(pid: u32) -> (usize, usize) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    let threads = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Threads:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    (fds, threads)
}

async fn sample(
    server: &ServerProcess,
    at: Duration,
    fps: Vec<f64>,
    edits: u64,
) -> anyhow::Result<Sample> {
    let (fds, threads) = fds_and_threads(server.pid());
    let metrics = server.metrics().await?;
    Ok(Sample {
        at,
        rss_kib: server.resident_kib()?,
        fds,
        threads,
        sessions: crate::metric_value(&metrics, "streamtracer_sessions").unwrap_or(f64::NAN),
        fps,
        edits,
    })
}

/// What one controller did.
struct ControllerResult {
    sent: u64,
    acknowledged: u64,
    on_stream: u64,
    consistent: bool,
}

/// A controller: edits its own material at `rate` until `until`, then checks which
/// acknowledged revisions a `frame` message covered and reads its material back.
async fn control(
    base: String,
    index: usize,
    rate: f64,
    until: Instant,
    acked: Arc<AtomicU64>,
) -> anyhow::Result<ControllerResult> {
    let mut socket = ControlSocket::connect(&base).await?;
    let key = format!("soak-c{index}");
    let add = json!({"type": "edit", "ops": [{"op": "add", "kind": "material", "key": key, "value": {"type": "diffuse", "albedo": [0.5, 0.5, 0.5]}}]});
    let reply = socket.request(add).await?;
    anyhow::ensure!(reply["type"] == "ack", "controller {index}: {reply}");
    let period = Duration::from_secs_f64(1.0 / rate.max(0.01));
    let (mut sent, mut revisions, mut last) = (0u64, Vec::new(), None);
    let mut tick = tokio::time::interval(period);
    while Instant::now() < until {
        tick.tick().await;
        let v = (sent % 1000) as f64 / 1000.0;
        let edit = json!({"type": "edit", "ops": [{"op": "update", "kind": "material", "key": key, "value": {"albedo": [v, 0.5, 0.5]}}]});
        sent += 1;
        let reply = socket.request(edit).await?;
        if reply["type"] == "ack" {
            acked.fetch_add(1, Ordering::Relaxed);
            revisions.push(reply["revision"].as_u64().unwrap_or(u64::MAX));
            last = Some(v as f32 as f64);
        }
    }
    // The frames of the last edits go out within a few frame ticks.
    socket.drain_for(Duration::from_secs(2)).await;
    let newest_frame = socket
        .take_kept("frame")
        .iter()
        .filter_map(|m| m["revision"].as_u64())
        .max()
        .unwrap_or(0);
    let on_stream = revisions.iter().filter(|&&r| r <= newest_frame).count() as u64;
    let got = socket
        .request(json!({"type": "get", "kind": "material", "key": key}))
        .await?;
    let consistent = last
        .is_some_and(|v| got["value"]["albedo"][0].as_f64().map(|x| x as f32 as f64) == Some(v));
    socket.close().await.ok();
    Ok(ControllerResult {
        sent,
        acknowledged: revisions.len() as u64,
        on_stream,
        consistent,
    })
}

/// Runs the soak against a server started with `options.server_args`.
pub async fn run(options: SoakOptions) -> anyhow::Result<SoakReport> {
    let mut args: Vec<&str> = options.server_args.iter().map(String::as_str).collect();
    let sessions = (options.viewers + 8).to_string();
    args.extend(["--max-sessions", &sessions, "--edit-rate", "1000"]);
    let server = ServerProcess::start(&args).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = sample(&server, Duration::ZERO, Vec::new(), 0).await?;

    // One viewer decodes, so the stream is checked to be real video; the rest count.
    let mut viewers = Vec::new();
    for i in 0..options.viewers {
        let opts = ViewerOptions {
            control: false,
            decode: i == 0,
            ..ViewerOptions::default()
        };
        viewers.push(Viewer::connect_with(&server.base, opts).await?);
    }
    let start = Instant::now();
    let until = start + options.duration;
    let acked = Arc::new(AtomicU64::new(0));
    let controllers: Vec<_> = (0..options.controllers)
        .map(|i| {
            tokio::spawn(control(
                server.base.clone(),
                i,
                options.edit_rate,
                until,
                acked.clone(),
            ))
        })
        .collect();

    let mut samples = Vec::new();
    let mut decoded = 0u64;
    let mut counts: Vec<u64> = viewers.iter().map(Viewer::access_units).collect();
    let (mut last_at, mut last_acked) = (Instant::now(), 0);
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        tokio::time::sleep(options.sample.min(left)).await;
        let elapsed = last_at.elapsed().as_secs_f64();
        last_at = Instant::now();
        let now: Vec<u64> = viewers.iter().map(Viewer::access_units).collect();
        let fps = now
            .iter()
            .zip(&counts)
            .map(|(n, b)| (n - b) as f64 / elapsed)
            .collect();
        counts = now;
        if let Some(v) = viewers.first_mut() {
            while let Ok(frame) = v.frames.try_recv() {
                anyhow::ensure!(frame.picture.width > 0, "an empty picture");
                decoded += 1;
            }
        }
        let a = acked.load(Ordering::Relaxed);
        samples.push(sample(&server, start.elapsed(), fps, a - last_acked).await?);
        last_acked = a;
    }

    let (mut edits_sent, mut edits_acknowledged, mut edits_on_stream, mut consistent) =
        (0, 0, 0, 0);
    for c in controllers {
        let r = c.await??;
        edits_sent += r.sent;
        edits_acknowledged += r.acknowledged;
        edits_on_stream += r.on_stream;
        consistent += usize::from(r.consistent);
    }
    for v in viewers {
        v.close().await?;
    }
    // Sessions end at DELETE; their sockets and tasks go with them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut after = sample(&server, start.elapsed(), Vec::new(), 0).await?;
    while after.sessions > 0.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        after = sample(&server, start.elapsed(), Vec::new(), 0).await?;
    }
    // Idle runtime threads (the blocking pool's) linger for 10 s before they exit.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        after = sample(&server, start.elapsed(), Vec::new(), 0).await?;
        let settled = after.fds <= idle.fds && after.threads <= idle.threads + 1;
        if settled || Instant::now() > deadline {
            break;
        }
    }
    Ok(SoakReport {
        options,
        samples,
        idle,
        after,
        edits_sent,
        edits_acknowledged,
        edits_on_stream,
        controllers_consistent: consistent,
        decoded,
    })
}
