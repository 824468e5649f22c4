//! Durability: the real binary with `--state-dir`, killed with SIGKILL in the middle of
//! a stream of edits, restarts with every acknowledged edit.

use anyhow::Context;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use streamtracer_tests::{api, server_binary};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_edits_loses_no_acknowledged_edit() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("streamtracer-durability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // (run, edit number) of every acknowledged edit, with its revision.
    let mut acknowledged: Vec<(String, u64)> = Vec::new();
    let mut last_revision = 0;
    for run in 0..3 {
        let (mut child, base) = spawn(&dir)?;
        wait_ready(&base).await?;
        // Everything acknowledged before is there, at a revision at least as new.
        let (scene, revision) = api::scene(&base).await?;
        assert!(
            revision >= last_revision,
            "revision {revision} after {last_revision}"
        );
        for (key, _) in &acknowledged {
            assert!(
                scene["materials"][key].is_object(),
                "run {run}: acknowledged material {key} is missing"
            );
        }
        // A stream of edits from two writers; the process is killed while they run.
        let acks = Arc::new(Mutex::new(Vec::new()));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (base, acks) = (base.clone(), acks.clone());
                tokio::spawn(async move {
                    for i in 0.. {
                        let key = format!("r{run}-w{w}-{i}");
                        let body = json!({"ops": [
                            {"op": "add", "kind": "material", "key": key, "value": {"type": "diffuse", "albedo": [0.5, 0.5, 0.5]}}
                        ]});
                        match api::post(&base, "/api/edits", &body).await {
                            Ok((200, reply)) => {
                                let revision = reply["revision"].as_u64().unwrap_or(0);
                                acks.lock().unwrap().push((key, revision));
                            }
                            _ => break,
                        }
                    }
                })
            })
            .collect();
        // Kill once some edits went through, at a moment that varies between runs.
        let wait_for = 20 + 15 * run;
        while acks.lock().unwrap().len() < wait_for {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill()?; // SIGKILL
        child.wait()?;
        for w in writers {
            w.await?;
        }
        let acks = std::mem::take(&mut *acks.lock().unwrap());
        assert!(acks.len() >= wait_for);
        last_revision = last_revision.max(acks.iter().map(|a| a.1).max().unwrap_or(0));
        acknowledged.extend(acks);
    }
    // A last start checks the last run's edits.
    let (mut child, base) = spawn(&dir)?;
    wait_ready(&base).await?;
    let (scene, revision) = api::scene(&base).await?;
    child.kill()?;
    child.wait()?;
    assert!(revision >= last_revision);
    let missing: Vec<&String> = acknowledged
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !scene["materials"][k.as_str()].is_object())
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    println!(
        "{} acknowledged edits over 3 kills, none lost (last revision {revision})",
        acknowledged.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
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
