//! Crash safety: the real binary with `--state-dir`, edited concurrently by WebSocket
//! controllers and HTTP clients, killed with SIGKILL at a random moment, restarted,
//! and checked against every acknowledged edit. Used by `tests/e2e/durability.rs` (a few
//! runs) and, with `CRASH_RUNS=25`, as the long run.
//!
//! Each writer owns its keys, so its history alone says what the scene must hold. A
//! writer's transaction adds a material `r{run}-w{writer}-{i}`, sets the writer's own
//! material `own-w{writer}` to an albedo encoding a counter, and every third one removes
//! the material it added two transactions before. A writer sends one transaction at a
//! time, so when the process dies at most one of its transactions is unanswered: that
//! one may or may not have been applied (it may have been synced but not yet
//! acknowledged), and both outcomes are accepted. Everything acknowledged must be
//! there, exactly: a key an acknowledged transaction added (and none removed) exists,
//! one it removed is gone, and each writer's own material holds its last
//! acknowledged value (or the unanswered one's).

use crate::api;
use crate::ws::ControlSocket;
use anyhow::Context;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a crash campaign saw.
#[derive(Clone, Debug, Default)]
pub struct CrashReport {
    /// Kills (and restarts).
    pub runs: usize,
    /// Transactions acknowledged over all runs.
    pub acknowledged: usize,
    /// Transactions sent but unanswered when the process died.
    pub unanswered: usize,
    /// Of those, how many turned out applied after the restart.
    pub unanswered_applied: usize,
    /// Keys whose restored state contradicts an acknowledged transaction.
    pub lost: usize,
    /// The kill moments, milliseconds after the writers started.
    pub kill_after_ms: Vec<u64>,
    /// How long each restart took to answer `/healthz`, milliseconds.
    pub restart_ms: Vec<u64>,
    /// Descriptions of the first few losses, for the failure message.
    pub losses: Vec<String>,
}

/// One transaction as a writer sent it: its effect on the writer's keys
/// (`None`: removed), and whether it was acknowledged.
#[derive(Clone, Debug)]
struct Sent {
    effects: Vec<(String, Option<Value>)>,
    acknowledged: bool,
    revision: u64,
}

/// The albedo that encodes `n`: exact in `f32`, as the server stores it.
fn albedo(n: u64) -> Value {
    let a = (n & 1023) as f64 / 1024.0;
    let b = ((n >> 10) & 1023) as f64 / 1024.0;
    let c = ((n >> 20) & 1023) as f64 / 1024.0;
    json!([a, b, c])
}

/// An array of numbers as the `f32`s the server holds: it writes the shortest text
/// that reads back as the same `f32` (`0.032226562` for 0.0322265625).
fn single(v: &Value) -> Value {
    match v.as_array() {
        Some(a) => Value::Array(
            a.iter()
                .map(|x| json!(x.as_f64().map(|x| x as f32 as f64)))
                .collect(),
        ),
        None => v.clone(),
    }
}

fn material(albedo: Value) -> Value {
    json!({"type": "diffuse", "albedo": albedo})
}

/// Transaction `i` of `writer` in `run`: its ops and their effects.
fn transaction(run: usize, writer: usize, i: u64) -> (Value, Vec<(String, Option<Value>)>) {
    let added = format!("r{run}-w{writer}-{i}");
    let own = format!("own-w{writer}");
    let value = albedo((run as u64) * 100_000 + i);
    let mut ops = vec![
        json!({"op": "add", "kind": "material", "key": added, "value": material(json!([0.5, 0.5, 0.5]))}),
        json!({"op": "update", "kind": "material", "key": own, "value": {"albedo": value}}),
    ];
    let mut effects = vec![(added, Some(json!([0.5, 0.5, 0.5]))), (own, Some(value))];
    if i >= 2 && i.is_multiple_of(3) {
        let old = format!("r{run}-w{writer}-{}", i - 2);
        ops.push(json!({"op": "remove", "kind": "material", "key": old}));
        effects.push((old, None));
    }
    (json!({"ops": ops}), effects)
}

/// A small deterministic generator (xorshift), seeded per campaign, so a failing
/// sequence of kill moments can be replayed with `CRASH_SEED`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The server process, killed (SIGKILL) and reaped when dropped, so that a campaign
/// ending early on an error leaves no server running.
pub struct Guard(pub Child);

impl Guard {
    /// SIGKILL, then wait for the process to be gone.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.0.kill()?;
        self.0.wait()?;
        Ok(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The binary serving the built-in scene on a free port with `state`.
pub fn spawn(state: &Path) -> anyhow::Result<(Guard, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(crate::server_binary()?)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--width", "160", "--height", "120", "--max-spp", "4"])
        // The writers measure durability, not the per-connection edit limit.
        .args(["--edit-rate", "10000"])
        .arg("--state-dir")
        .arg(state)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the server")?;
    Ok((Guard(child), format!("http://127.0.0.1:{port}")))
}

/// Waits until the server answers `/healthz`; how long that took. Fails if it exits.
pub async fn wait_ready(base: &str, child: &mut Guard) -> anyhow::Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Some(status) = child.0.try_wait()? {
            anyhow::bail!("the server exited with {status} while starting");
        }
        if let Ok(r) = reqwest::get(format!("{base}/healthz")).await {
            if r.status().is_success() {
                return Ok(start.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("the server did not come up at {base}")
}

/// One writer's loop until the server dies: sends transactions one at a time over
/// the WebSocket (`ws`) or HTTP, recording each and whether it was acknowledged.
async fn write(
    base: String,
    run: usize,
    writer: usize,
    ws: bool,
    log: Arc<Mutex<Vec<Sent>>>,
) -> anyhow::Result<()> {
    let mut socket = if ws {
        match ControlSocket::connect(&base).await {
            Ok(socket) => Some(socket),
            // The kill landed before the socket's hello: the server died before this
            // writer sent anything, which is a run like any other.
            Err(_) => return Ok(()),
        }
    } else {
        None
    };
    for i in 0.. {
        let (body, effects) = transaction(run, writer, i);
        let index = {
            let mut log = log.lock().unwrap();
            log.push(Sent {
                effects,
                acknowledged: false,
                revision: 0,
            });
            log.len() - 1
        };
        let reply = match &mut socket {
            Some(s) => {
                let mut m = body;
                m["type"] = "edit".into();
                s.request(m).await.ok()
            }
            None => match api::post(&base, "/api/edits", &body).await {
                Ok((_, reply)) => Some(reply),
                Err(_) => None,
            },
        };
        match reply {
            Some(r) if r["type"] == "ack" => {
                let mut log = log.lock().unwrap();
                log[index].acknowledged = true;
                log[index].revision = r["revision"].as_u64().unwrap_or(0);
            }
            // The server died with this transaction unanswered.
            None => return Ok(()),
            Some(r) => anyhow::bail!("writer {writer}: transaction {i} refused: {r}"),
        }
    }
    Ok(())
}

/// Checks the restored scene against every writer's history; returns the number of
/// keys that contradict it (describing the first few in `report.losses`). Then
/// settles each history's unanswered last transaction as the restart shows it: kept
/// as durable if applied, dropped if not. Half applied counts as lost too.
fn check(scene: &Value, histories: &mut [Vec<Sent>], report: &mut CrashReport) -> usize {
    let mut lost = 0;
    for history in histories.iter_mut() {
        // What the acknowledged transactions leave, and what the unanswered one
        // (the last, if unanswered) would leave on top.
        let mut acknowledged: BTreeMap<String, Option<Value>> = BTreeMap::new();
        let mut with_unanswered = acknowledged.clone();
        for sent in history.iter() {
            for (key, effect) in &sent.effects {
                if sent.acknowledged {
                    acknowledged.insert(key.clone(), effect.clone());
                }
                with_unanswered.insert(key.clone(), effect.clone());
            }
        }
        let actual = |key: &str| -> Option<Value> {
            let m = &scene["materials"][key];
            m.is_object().then(|| single(&m["albedo"]))
        };
        for (key, expected) in &with_unanswered {
            let got = actual(key);
            let before = acknowledged.get(key).cloned().flatten();
            if got != before && got != *expected {
                lost += 1;
                if report.losses.len() < 5 {
                    report
                        .losses
                        .push(format!("{key}: restored {got:?}, acknowledged {before:?}"));
                }
            }
        }
        if history.last().is_some_and(|s| !s.acknowledged) {
            let last = history.last().unwrap();
            let applied = last.effects.iter().all(|(k, e)| actual(k) == *e);
            let not_applied = last
                .effects
                .iter()
                .all(|(k, _)| actual(k) == acknowledged.get(k).cloned().flatten());
            if applied {
                report.unanswered_applied += 1;
                history.last_mut().unwrap().acknowledged = true;
            } else {
                if !not_applied {
                    lost += 1;
                    report
                        .losses
                        .push("an unanswered transaction was half applied".into());
                }
                history.pop();
            }
        }
    }
    lost
}

/// Runs `runs` kill-and-restart cycles with `ws_writers` WebSocket controllers and
/// `http_writers` HTTP clients editing, each kill a random 50..`max_kill_ms` ms after
/// the writers start (at least one transaction acknowledged first).
pub async fn campaign(
    state: &Path,
    runs: usize,
    ws_writers: usize,
    http_writers: usize,
    max_kill_ms: u64,
    seed: u64,
) -> anyhow::Result<CrashReport> {
    let mut rng = Rng::new(seed);
    let mut report = CrashReport::default();
    let writers = ws_writers + http_writers;
    let mut last_revision = 0;
    // Every run's histories, per writer; checked after each restart.
    let mut histories: Vec<Vec<Sent>> = Vec::new();
    for run in 0..=runs {
        let (mut child, base) = spawn(state)?;
        let ready = wait_ready(&base, &mut child).await?;
        if run > 0 {
            report.restart_ms.push(ready.as_millis() as u64);
        }
        let (scene, revision) = api::scene(&base).await?;
        anyhow::ensure!(
            revision >= last_revision,
            "run {run}: restored at revision {revision}, but {last_revision} was acknowledged"
        );
        report.lost += check(&scene, &mut histories, &mut report);
        if run == runs {
            child.kill()?;
            break;
        }
        if run == 0 && scene["materials"]["own-w0"].is_null() {
            let ops: Vec<Value> = (0..writers)
                .map(|w| json!({"op": "add", "kind": "material", "key": format!("own-w{w}"), "value": material(albedo(0))}))
                .collect();
            let (status, reply) = api::post(&base, "/api/edits", &json!({ "ops": ops })).await?;
            anyhow::ensure!(status == 200, "setup refused: {reply}");
            // The writers' own materials as the setup left them, so that a writer
            // whose first transaction goes unanswered is judged against them.
            histories = (0..writers)
                .map(|w| {
                    vec![Sent {
                        effects: vec![(format!("own-w{w}"), Some(albedo(0)))],
                        acknowledged: true,
                        revision: 0,
                    }]
                })
                .collect();
        }

        let logs: Vec<Arc<Mutex<Vec<Sent>>>> = (0..writers).map(|_| Arc::default()).collect();
        let tasks: Vec<_> = logs
            .iter()
            .enumerate()
            .map(|(w, log)| tokio::spawn(write(base.clone(), run, w, w < ws_writers, log.clone())))
            .collect();
        let started = Instant::now();
        let kill_after = Duration::from_millis(50 + rng.below(max_kill_ms.saturating_sub(50)));
        loop {
            let acked = logs
                .iter()
                .any(|l| l.lock().unwrap().iter().any(|s| s.acknowledged));
            if acked && started.elapsed() >= kill_after {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "no transaction was acknowledged within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill()?; // SIGKILL
        report
            .kill_after_ms
            .push(started.elapsed().as_millis() as u64);
        for task in tasks {
            task.await??;
        }
        for (w, log) in logs.iter().enumerate() {
            let log = std::mem::take(&mut *log.lock().unwrap());
            report.acknowledged += log.iter().filter(|s| s.acknowledged).count();
            report.unanswered += log.iter().filter(|s| !s.acknowledged).count();
            last_revision = last_revision.max(log.iter().map(|s| s.revision).max().unwrap_or(0));
            if histories.len() <= w {
                histories.resize(w + 1, Vec::new());
            }
            histories[w].extend(log);
        }
        report.runs += 1;
    }
    Ok(report)
}
