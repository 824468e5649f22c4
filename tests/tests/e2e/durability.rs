//! Durability: the real binary with `--state-dir`, killed with SIGKILL at random
//! moments in the middle of concurrent edits, restarts with every acknowledged edit;
//! stopped with SIGTERM, it exits cleanly and keeps them too. The same binary reports
//! OpenH264's assembly whenever nasm is installed (module `assembly`).

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

/// The real binary as built reports the encoder it has: see the test.
mod assembly {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    /// The binary under test has OpenH264's assembly whenever it could have it (issue 16).
    ///
    /// A release build made before nasm was installed linked a C-only OpenH264, about
    /// three times slower, and kept it after nasm arrived (openh264-sys2's build script
    /// never runs again), while the server said `OpenH264 assembly: yes` because nasm was
    /// on PATH when the encoder crate was built. CI always has nasm, so it never builds
    /// that binary; a developer's target directory can hold one. Here the real binary is
    /// started and what it reports of its linked library must be `yes` on x86 when nasm
    /// is installed and the C-only build was not asked for (`OPENH264_NO_ASM`).
    #[test]
    fn server_binary_without_openh264_assembly_while_nasm_is_present() {
        if !cfg!(any(target_arch = "x86_64", target_arch = "x86")) {
            return;
        }
        if encoder::ASSEMBLY_OPTED_OUT || std::env::var_os("OPENH264_NO_ASM").is_some() {
            eprintln!("OPENH264_NO_ASM: the C-only encoder was asked for");
            return;
        }
        let nasm = Command::new("nasm")
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success());
        if !nasm {
            eprintln!("nasm is not installed: nothing to compare against");
            return;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(streamtracer_tests::server_binary().unwrap())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--webrtc-ip",
                "127.0.0.1",
                "--width",
                "160",
                "--height",
                "120",
            ])
            .env("RUST_LOG", "info")
            .env_remove("OPENH264_NO_ASM")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("OpenH264 assembly:") {
                    let _ = tx.send(line);
                    return;
                }
            }
        });
        // Generous: only a wedged or crashed start takes anywhere near this long.
        let line = rx.recv_timeout(Duration::from_secs(120));
        let _ = child.kill();
        let _ = child.wait();
        let line = line.expect("the server never logged its start-up line");
        assert!(
            line.contains("OpenH264 assembly: yes"),
            "nasm is installed but the binary under test has a C-only OpenH264 (rebuild it: \
             `cargo clean --release -p openh264-sys2`): {line}"
        );
        // The library in this test binary is the same build of openh264-sys2.
        assert!(encoder::assembly());
    }
}
