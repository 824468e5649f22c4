//! The binary under test has OpenH264's assembly whenever it could have it (issue 16).
//!
//! A release build made before nasm was installed linked a C-only OpenH264, about
//! three times slower, and kept it after nasm arrived (openh264-sys2's build script
//! never runs again), while the server said `OpenH264 assembly: yes` because nasm was
//! on PATH when the encoder crate was built. CI always has nasm, so it never builds
//! that binary; a developer's target directory can hold one. Here the real binary is
//! started and what it reports of its linked library must be `yes` on x86 when nasm
//! is installed and the C-only build was not asked for (`OPENH264_NO_ASM`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
