//! With nobody watching, the view costs nothing once its picture has converged: the
//! encode thread sleeps between ticks. (It once spun on a frame it never encoded, at
//! about 90% of a core.) Alone in its own test binary, so the thread it measures is
//! the only encode thread in the process.

#![cfg(target_os = "linux")]

use std::time::Duration;
use streamtracer::view::View;
use streamtracer::Config;

/// CPU time (user + system, in clock ticks) of this process's threads named `name`.
fn thread_ticks(name: &str) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised command name: utime and stime are 14 and 15.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        total += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    total
}

#[test]
fn an_unwatched_view_does_not_spin() {
    let settings = Config {
        width: 64,
        height: 48,
        bitrate: 500_000,
        max_spp: 4,
        ..Config::default()
    }
    .view_settings();
    let view = View::start(&render_core::Scene::cornell_box(), settings).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(view.latest_frame().is_some(), "the view rendered");
    let before = thread_ticks("encode");
    std::thread::sleep(Duration::from_secs(2));
    let used = thread_ticks("encode") - before;
    // Clock ticks are 1/100 s: a sleeping thread uses about none of the 200.
    assert!(used <= 20, "the encode thread used {used} of 200 ticks");
    view.stop();
}
