//! The soak tool: N WebRTC viewers and M WebSocket controllers editing, against the
//! real binary (`streamtracer_tests::soak`). Prints a sample table and exits non-zero
//! when resident memory grew 5% or more after the warm-up, a viewer went without
//! frames, or an acknowledged edit was not seen.
//!
//! `cargo build --release -p streamtracer && cargo run --release -p streamtracer-tests
//! --bin soak -- --viewers 8 --controllers 2 --seconds 600`

use clap::Parser;
use std::time::Duration;
use streamtracer_tests::soak::{run, SoakOptions};

#[derive(Parser)]
#[command(about = "Soak the streamtracer binary with viewers and controllers")]
struct Args {
    /// WebRTC viewers (one decodes, the others count frames).
    #[arg(long, default_value_t = 8)]
    viewers: usize,
    /// WebSocket controllers, each editing its own material.
    #[arg(long, default_value_t = 2)]
    controllers: usize,
    /// How long, in seconds.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 30)]
    sample: u64,
    /// Seconds of warm-up before memory growth is measured: long enough for the undo
    /// history (the last 1000 transactions) to fill at the default edit rates.
    #[arg(long, default_value_t = 240)]
    warmup: u64,
    /// Edits per second per controller.
    #[arg(long, default_value_t = 5.0)]
    edit_rate: f64,
    /// Server flags, after `--` (default: --width 640 --height 360 --fps 30).
    #[arg(last = true)]
    server: Vec<String>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server_args = if args.server.is_empty() {
        ["--width", "640", "--height", "360", "--fps", "30"]
            .map(String::from)
            .to_vec()
    } else {
        args.server
    };
    let report = run(SoakOptions {
        viewers: args.viewers,
        controllers: args.controllers,
        duration: Duration::from_secs(args.seconds),
        sample: Duration::from_secs(args.sample),
        warmup: Duration::from_secs(args.warmup),
        edit_rate: args.edit_rate,
        server_args,
    })
    .await?;
    report.print();
    let (_, lowest_fps) = report.fps();
    let ok = report.memory_growth() < 0.05
        && lowest_fps > 0.0
        && report.edits_on_stream == report.edits_acknowledged
        && report.controllers_consistent == args.controllers
        && report.after.sessions == 0.0;
    println!("soak: {}", if ok { "PASS" } else { "FAIL" });
    std::process::exit(if ok { 0 } else { 1 });
}
