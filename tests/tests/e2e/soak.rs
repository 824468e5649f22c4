//! A short soak of the real binary (`streamtracer_tests::soak`; the `soak` binary runs
//! the long one): four WebRTC viewers and two WebSocket controllers editing for 25 s.
//! Every viewer receives frames in every sample, every edit is acknowledged, seen on the
//! stream and read back, memory shows no gross leak after the warm-up (the 5% bound is
//! the long run's), and once everyone has left the sessions, sockets and threads are
//! back where they were.

use std::time::Duration;
use streamtracer_tests::soak::{run, SoakOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_keeps_serving_and_gives_everything_back() -> anyhow::Result<()> {
    let report = run(SoakOptions {
        viewers: 4,
        controllers: 2,
        duration: Duration::from_secs(25),
        sample: Duration::from_secs(5),
        warmup: Duration::from_secs(10),
        edit_rate: 5.0,
        server_args: ["--width", "320", "--height", "240", "--fps", "30"]
            .map(String::from)
            .to_vec(),
    })
    .await?;
    report.print();
    for s in &report.samples {
        assert!(
            s.fps.iter().all(|&f| f > 0.0),
            "a viewer received nothing in the sample at {:?}: {:?}",
            s.at,
            s.fps
        );
        assert_eq!(s.sessions, 4.0, "sessions at {:?}", s.at);
    }
    assert!(report.decoded > 0, "the decoding viewer decoded nothing");
    assert!(report.edits_acknowledged > 0);
    assert_eq!(report.edits_acknowledged, report.edits_sent);
    assert_eq!(report.edits_on_stream, report.edits_acknowledged);
    assert_eq!(report.controllers_consistent, 2);
    // The 5% criterion is the long run's (10 min, 240 s warm-up, by when the undo
    // history has filled its 1000 transactions). Here the samples from 10 s to 25 s
    // lie on the steepest part of that ramp (the history is still filling), so this
    // bound is loose on purpose: it only catches a gross leak.
    assert!(
        report.memory_growth() < 0.25,
        "resident memory grew {:.1}% after the warm-up",
        report.memory_growth() * 100.0
    );
    assert_eq!(report.after.sessions, 0.0);
    assert!(
        report.after.fds <= report.idle.fds,
        "file descriptors not given back: {} idle, {} after",
        report.idle.fds,
        report.after.fds
    );
    assert!(
        report.after.threads <= report.idle.threads + 2,
        "threads not given back: {} idle, {} after",
        report.idle.threads,
        report.after.threads
    );
    Ok(())
}
