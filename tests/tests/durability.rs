//! Durability: the real binary with `--state-dir`, killed with SIGKILL at random
//! moments in the middle of concurrent edits, restarts with every acknowledged edit;
//! stopped with SIGTERM, it exits cleanly and keeps them too.

use serde_json::json;
use std::process::Command;
use std::time::Duration;
use streamtracer_tests::{api, crash};

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
    let (mut child, base) = crash::spawn(dir.path())?;
    crash::wait_ready(&base, &mut child).await?;
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
    let pid = child.0.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status()?;
    assert!(sent.success());
    let closing = viewer
        .next_message("closing", Duration::from_secs(5))
        .await?;
    assert_eq!(closing["reason"], "shutdown");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait()? {
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

    let (mut child, base) = crash::spawn(dir.path())?;
    crash::wait_ready(&base, &mut child).await?;
    let (scene, _) = api::scene(&base).await?;
    for key in &acknowledged {
        assert!(scene["materials"][key].is_object(), "{key} was lost");
    }
    child.kill()?;
    Ok(())
}
