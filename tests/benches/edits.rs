//! Scene edits against an in-process server at 1280x720, 30 fps, while a WebRTC viewer
//! streams: the round trip of an edit (sent to `ack`) and the time from sending it to
//! the `frame` message saying the first frame showing it left (p50, p95), over the data
//! channel and over the WebSocket; then the transactions per second the server
//! sustains while streaming, in memory and with `--state-dir` (each transaction synced
//! to disk before its ack). Run with `cargo bench -p streamtracer-tests --bench edits`.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use streamtracer::Config;
use streamtracer_tests::client::{Viewer, ViewerOptions};
use streamtracer_tests::ws::ControlSocket;
use streamtracer_tests::TestServer;

const WAIT: Duration = Duration::from_secs(20);
const SAMPLES: usize = 40;

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn config(state_dir: Option<std::path::PathBuf>) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("valid address"),
        webrtc_ip: Some([127, 0, 0, 1].into()),
        width: 1280,
        height: 720,
        state_dir,
        // The throughput figure is the server's, not the per-connection edit rate
        // limit's (100 a second by default).
        edit_rate: 1e6,
        ..Config::default()
    }
}

/// The i-th edit: a material colour that differs from the previous one.
fn edit(i: usize) -> Value {
    let v = 0.2 + 0.6 * ((i % 7) as f64 / 6.0);
    json!({"type": "edit", "ops": [
        {"op": "update", "kind": "material", "key": "material-1", "value": {"albedo": [v, 0.05, 0.05]}}
    ]})
}

fn report(name: &str, rtt: Vec<f64>, shown: Vec<f64>) {
    println!(
        "{name:<13} edit round trip p50 {:6.2} ms  p95 {:6.2} ms   edit to first frame p50 {:6.2} ms  p95 {:6.2} ms",
        percentile(rtt.clone(), 0.5),
        percentile(rtt, 0.95),
        percentile(shown.clone(), 0.5),
        percentile(shown, 0.95)
    );
}

async fn data_channel(viewer: &mut Viewer) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut rtt, mut shown) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        let mut m = edit(i);
        m["id"] = i.into();
        let sent = Instant::now();
        viewer.send_text(&m.to_string()).await?;
        let ack = loop {
            let a = viewer.next_message("ack", WAIT).await?;
            if a["id"] == i {
                break a;
            }
        };
        rtt.push(sent.elapsed().as_secs_f64() * 1e3);
        let revision = ack["revision"].as_u64().unwrap_or(u64::MAX);
        loop {
            let f = viewer.next_message("frame", WAIT).await?;
            if f["revision"].as_u64() >= Some(revision) {
                break;
            }
        }
        shown.push(sent.elapsed().as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok((rtt, shown))
}

async fn websocket(ws: &mut ControlSocket) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut rtt, mut shown) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        let sent = Instant::now();
        let ack = ws.request(edit(i + 1)).await?;
        rtt.push(sent.elapsed().as_secs_f64() * 1e3);
        let revision = ack["revision"].as_u64().unwrap_or(u64::MAX);
        loop {
            let f = ws.next_message("frame", WAIT).await?;
            if f["revision"].as_u64() >= Some(revision) {
                break;
            }
        }
        shown.push(sent.elapsed().as_secs_f64() * 1e3);
        ws.take_kept("frame");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok((rtt, shown))
}

/// Transactions per second from `clients` WebSocket clients, each keeping `window`
/// edits in flight, for `time`.
async fn throughput(
    base: &str,
    clients: usize,
    window: usize,
    time: Duration,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let base = base.to_owned();
            tokio::spawn(async move {
                let mut ws = ControlSocket::connect(&base).await?;
                let mut in_flight = std::collections::VecDeque::new();
                let mut done = 0u64;
                let mut i = c * 1_000_000;
                while start.elapsed() < time {
                    while in_flight.len() < window {
                        in_flight.push_back(ws.send(edit(i)).await?);
                        i += 1;
                    }
                    let id = in_flight.pop_front().unwrap_or_default();
                    let reply = ws.reply(id).await?;
                    anyhow::ensure!(reply["type"] == "ack", "{reply}");
                    done += 1;
                    // Others' `changed` and `frame` messages pile up unread otherwise.
                    ws.take_kept("changed");
                    ws.take_kept("frame");
                }
                for id in in_flight {
                    ws.reply(id).await?;
                    done += 1;
                }
                anyhow::Ok(done)
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let scene = render_core::Scene::cornell_box();
    println!("scene edits at 1280x720, 30 fps, one WebRTC viewer streaming, loopback ({SAMPLES} edits each, 250 ms apart)");
    let server = TestServer::start(config(None), scene.clone()).await?;
    let base = server.url("");
    let options = ViewerOptions {
        decode: false,
        ..ViewerOptions::default()
    };
    let mut viewer = Viewer::connect_with(&base, options.clone()).await?;
    viewer.next_message("hello", WAIT).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rtt, shown) = data_channel(&mut viewer).await?;
    report("data channel", rtt, shown);
    let mut ws = ControlSocket::connect(&base).await?;
    let (rtt, shown) = websocket(&mut ws).await?;
    report("WebSocket", rtt, shown);
    ws.close().await?;
    let memory = throughput(&base, 4, 8, Duration::from_secs(5)).await?;
    viewer.close().await?;
    server.stop().await?;

    let dir = std::env::temp_dir().join(format!("streamtracer-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = TestServer::start(config(Some(dir.clone())), scene).await?;
    let base = server.url("");
    let mut viewer = Viewer::connect_with(&base, options).await?;
    viewer.next_message("hello", WAIT).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let durable = throughput(&base, 4, 8, Duration::from_secs(5)).await?;
    viewer.close().await?;
    server.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "transactions per second while streaming (4 WebSocket clients, 8 in flight each, 5 s): in memory {memory:.0}, with --state-dir (synced) {durable:.0}"
    );
    Ok(())
}
