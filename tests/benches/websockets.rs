//! Many WebSocket clients: how long a controller waits for the `ack` of an edit
//! (median and p95) with no other client connected and with 2000 WebSocket clients
//! connected to `/api/control` (each of which hears of every edit), and the server's
//! resident memory before and after connecting them. The real binary at 640x360; the
//! clients run in this process, on the same cores as the server, and read and drop
//! whatever they are sent. The 2000 listeners have a runtime of their own, as they
//! would be other processes: the controller's reply is then not queued in this
//! process behind their reading of the same change.
//!
//! `cargo build --release -p streamtracer && cargo bench -p streamtracer-tests --bench websockets`

use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use streamtracer_tests::process::ServerProcess;
use streamtracer_tests::ws::ControlSocket;

const CLIENTS: usize = 2000;
const SAMPLES: usize = 40;
/// Between two edits, so that each is measured on its own and not behind the last
/// one's fan-out.
const PAUSE: Duration = Duration::from_millis(250);

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Opens as many descriptors as the hard limit allows: 2000 sockets on each side
/// (the child server inherits the limit).
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        if (limit.rlim_cur as usize) < 2 * CLIENTS + 200 {
            eprintln!(
                "warning: the open-file limit is {}; {} clients may not fit",
                limit.rlim_cur, CLIENTS
            );
        }
    }
}

/// The i-th edit: a material colour that differs from the previous one.
fn edit(i: usize) -> Value {
    let v = 0.2 + 0.6 * ((i % 7) as f64 / 6.0);
    json!({"type": "edit", "ops": [
        {"op": "update", "kind": "material", "key": "material-1", "value": {"albedo": [v, 0.05, 0.05]}}
    ]})
}

/// Edit round trips of a controller on its own WebSocket, in milliseconds.
async fn acks(base: &str) -> anyhow::Result<Vec<f64>> {
    let mut controller = ControlSocket::connect(base).await?;
    let mut times = Vec::new();
    for i in 0..SAMPLES {
        tokio::time::sleep(PAUSE).await;
        let sent = Instant::now();
        let reply = controller.request(edit(i)).await?;
        times.push(sent.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(reply["type"] == "ack", "edit not acknowledged: {reply}");
        // Frames and other news are not what is measured.
        controller.take_kept("frame");
    }
    controller.close().await?;
    Ok(times)
}

/// One listening client: connects, then reads and drops everything until closed.
async fn listener(url: String) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(_)) = socket.next().await {}
    }))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    raise_fd_limit();
    let server = ServerProcess::start(&[
        "--width",
        "640",
        "--height",
        "360",
        // Room for every client (the defaults refuse far fewer from one address).
        "--max-connections",
        "4000",
        "--max-connections-per-client",
        "4000",
        "--max-websockets-per-client",
        "4000",
    ])
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "a controller's edit acknowledgement over the WebSocket, 640x360, clients on loopback"
    );
    let quiet = acks(&server.base).await?;
    let before_kib = server.resident_kib()?;

    let url = format!(
        "{}/api/control",
        server.base.replacen("http://", "ws://", 1)
    );
    let listeners = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS / 100 {
        let batch: Vec<_> = (0..100)
            .map(|_| listeners.spawn(listener(url.clone())))
            .collect();
        for b in batch {
            clients.push(b.await??);
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_kib = server.resident_kib()?;
    let loaded = acks(&server.base).await?;

    println!("  clients | ack p50 (ms) | ack p95 (ms)");
    for (n, times) in [(0, &quiet), (CLIENTS, &loaded)] {
        println!(
            "  {n:>7} | {:>12.2} | {:>12.2}",
            percentile(times.clone(), 0.5),
            percentile(times.clone(), 0.95)
        );
    }
    println!(
        "  resident memory: {:.1} MiB before, {:.1} MiB with {CLIENTS} WebSockets ({:.1} KiB each); connecting them took {connect_s:.1} s",
        before_kib as f64 / 1024.0,
        after_kib as f64 / 1024.0,
        (after_kib as f64 - before_kib as f64) / CLIENTS as f64
    );
    for c in clients {
        c.abort();
    }
    listeners.shutdown_background();
    Ok(())
}
