//! Durability: the real binary with `--state-dir`, killed with SIGKILL at random
//! moments in the middle of concurrent edits, restarts with every acknowledged edit;
//! stopped with SIGTERM, it exits cleanly and keeps them too.

use anyhow::Context;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use streamtracer_tests::{api, crash, server_binary};

/// The binary serving the built-in scene on a free port with `state`.
fn spawn(state: &std::path::Path) -> anyhow::Result<(Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(server_binary()?)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--width", "160", "--height", "120", "--max-spp", "4"])
        .arg("--state-dir")
        .arg(state)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the server")?;
    Ok((child, format!("http://127.0.0.1:{port}")))
}

async fn wait_ready(base: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{base}/healthz")).await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the server did not come up at {base}")
}

/// SIGKILL at random moments while two WebSocket controllers and one HTTP client
/// edit (`streamtracer_tests::crash`): every restart holds every acknowledged
/// transaction, exactly. `CRASH_RUNS` sets the number of kills (4 here; the long run
/// is `CRASH_RUNS=25`), `CRASH_SEED` replays a sequence of kill moments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_during_edits_loses_no_acknowledged_edit() -> anyhow::Result<()> {
    let runs: usize = std::env::var("CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let seed: u64 = match std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(seed) => seed,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos() as u64,
    };
    // Printed before the campaign, so that a failing or hanging one can be replayed.
    println!("crash restarts: {runs} runs, seed {seed} (CRASH_SEED={seed} replays them)");
    let dir = tempfile::tempdir()?;
    let report = crash::campaign(dir.path(), runs, 2, 1, 1500, seed).await?;
    println!(
        "crash restarts: {} runs (seed {seed}), {} edits acknowledged, {} lost; {} unanswered at the kill, {} of them applied",
        report.runs, report.acknowledged, report.lost, report.unanswered, report.unanswered_applied
    );
    println!(
        "killed after (ms): {:?}; restarts answered after (ms): {:?}",
        report.kill_after_ms, report.restart_ms
    );
    assert_eq!(report.runs, runs);
    assert!(
        report.acknowledged >= runs,
        "too few edits to mean anything"
    );
    assert_eq!(
        report.lost, 0,
        "acknowledged edits lost: {:?}",
        report.losses
    );
    Ok(())
}

/// SIGTERM with a viewer watching: the viewer is told, the process exits cleanly
/// within a few seconds, and every acknowledged edit is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_viewers_exits_cleanly_and_keeps_every_acknowledged_edit() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let (mut child, base) = spawn(dir.path())?;
    wait_ready(&base).await?;
    let mut viewer = streamtracer_tests::client::Viewer::connect(&base).await?;
    viewer
        .next_message("hello", Duration::from_secs(20))
        .await?;
    viewer.next_frame(Duration::from_secs(20)).await?;
    let mut acknowledged = Vec::new();
    for i in 0..10 {
        let key = format!("term-{i}");
        let (status, ack) = api::post(
            &base,
            "/api/edits",
            &json!({"ops": [{"op": "add", "kind": "material", "key": key, "value": {"type": "diffuse", "albedo": [0.5, 0.5, 0.5]}}]}),
        )
        .await?;
        assert_eq!(status, 200, "{ack}");
        acknowledged.push(key);
    }
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status()?;
    assert!(sent.success());
    let closing = viewer
        .next_message("closing", Duration::from_secs(5))
        .await?;
    assert_eq!(closing["reason"], "shutdown");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(10),
            "the server did not exit within 10 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    println!("exited {:?} after SIGTERM", start.elapsed());

    let (mut child, base) = spawn(dir.path())?;
    wait_ready(&base).await?;
    let (scene, _) = api::scene(&base).await?;
    for key in &acknowledged {
        assert!(scene["materials"][key].is_object(), "{key} was lost");
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}
