//! Many WebSocket clients: how long a controller waits for the `ack` of an edit
//! (median and p95) with no other client connected and with 2000 WebSocket clients
//! connected to `/api/control` (each of which hears of every edit), and the server's
//! resident memory before and after connecting them. The real binary at 640x360.
//!
//! The 2000 listeners are other machines in real use; here they are a second process
//! (this bench started again with `WS_LISTENERS`), reading and dropping whatever
//! they are sent, on the same two cores as the server and the controller. Their
//! reading of each change then competes with the controller for the cores, which is
//! not the server's doing: the bench measures the acknowledgement twice with them
//! connected, once with their process at normal priority and once at the lowest
//! (`nice 19`), so that the second figure shows what the server itself adds.
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

/// The i-th camera move: a step around the scene.
fn camera(i: usize) -> Value {
    let a = 0.1 * (i % 20) as f64;
    json!({"type": "camera", "eye": [3.0 * a.sin(), 1.0, 3.0 * a.cos()], "target": [0, 0.8, 0], "up": [0, 1, 0], "fov": 40})
}

/// Round trips of a controller on its own WebSocket, in milliseconds: edits and
/// camera moves (both changes every client hears of).
async fn acks(base: &str) -> anyhow::Result<[Vec<f64>; 2]> {
    let mut controller = ControlSocket::connect(base).await?;
    let mut times = [Vec::new(), Vec::new()];
    for i in 0..SAMPLES {
        for (k, request) in [edit(i), camera(i)].into_iter().enumerate() {
            tokio::time::sleep(PAUSE).await;
            let sent = Instant::now();
            let reply = controller.request(request).await?;
            times[k].push(sent.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(reply["type"] == "ack", "not acknowledged: {reply}");
            // Frames and other news are not what is measured.
            controller.take_kept("frame");
            controller.take_kept("camera_changed");
            controller.take_kept("changed");
        }
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

/// The listeners' process: connects `CLIENTS` sockets to the URL in `WS_LISTENERS`,
/// says `ready` on standard output, and reads them until its standard input closes.
async fn listeners_process(url: String) -> anyhow::Result<()> {
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS / 100 {
        let batch: Vec<_> = (0..100)
            .map(|_| tokio::spawn(listener(url.clone())))
            .collect();
        for b in batch {
            clients.push(b.await??);
        }
    }
    println!("ready");
    tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
        .await??;
    Ok(())
}

/// Sets the niceness of a process (0 normal, 19 lowest).
fn renice(pid: u32, niceness: i32) -> anyhow::Result<()> {
    // Every thread of the process: niceness is per thread on Linux.
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let tid: libc::id_t = task?.file_name().to_string_lossy().parse()?;
        // SAFETY: setpriority only reads its arguments.
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, niceness) };
        anyhow::ensure!(r == 0, "setpriority: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    raise_fd_limit();
    if let Ok(url) = std::env::var("WS_LISTENERS") {
        return listeners_process(url).await;
    }
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
    let started = Instant::now();
    let mut listeners = std::process::Command::new(std::env::current_exe()?)
        .env("WS_LISTENERS", &url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let out = listeners.stdout.take().expect("piped");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).map(|_| line)
    })
    .await??;
    anyhow::ensure!(
        line.trim() == "ready",
        "the listeners' process did not connect: {line:?}"
    );
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_kib = server.resident_kib()?;
    let loaded = acks(&server.base).await?;
    renice(listeners.id(), 19)?;
    let loaded_niced = acks(&server.base).await?;

    println!(
        "  clients                         | edit ack p50 / p95 (ms) | camera ack p50 / p95 (ms)"
    );
    for (n, [edits, cameras]) in [
        ("none", &quiet),
        ("2000, listeners at nice 0", &loaded),
        ("2000, listeners at nice 19", &loaded_niced),
    ] {
        println!(
            "  {n:<31} | {:>10.2} / {:>10.2} | {:>11.2} / {:>10.2}",
            percentile(edits.clone(), 0.5),
            percentile(edits.clone(), 0.95),
            percentile(cameras.clone(), 0.5),
            percentile(cameras.clone(), 0.95)
        );
    }
    println!(
        "  resident memory: {:.1} MiB before, {:.1} MiB with {CLIENTS} WebSockets ({:.1} KiB each); connecting them took {connect_s:.1} s",
        before_kib as f64 / 1024.0,
        after_kib as f64 / 1024.0,
        (after_kib as f64 - before_kib as f64) / CLIENTS as f64
    );
    drop(listeners.stdin.take());
    listeners.wait()?;
    Ok(())
}
