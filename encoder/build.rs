//! Refuses to build an x86 encoder without OpenH264's assembly, unless asked to.
//!
//! openh264-sys2 assembles its SIMD kernels with `nasm` when it is on PATH and
//! `OPENH264_NO_ASM` is unset, and otherwise falls back to C (about three times slower)
//! without a word. Worse, its build script never runs again once it has succeeded
//! (it does not watch PATH), so installing nasm afterwards changes nothing: the slow
//! library stays in the target directory for good. This script makes both mistakes
//! build errors that say what to do:
//!
//! 1. on x86 and x86-64, without `OPENH264_NO_ASM`, `nasm` must run;
//! 2. no finished openh264-sys2 build next to this one (same target directory and
//!    profile) may lack the assembly. Cargo's layout is not an interface, so this is a
//!    best effort: the truth is `encoder::assembly()`, which asks the linked library at
//!    run time, and the test suite asserts it whenever nasm is present.
//!
//! `OPENH264_NO_ASM` (any value) builds the C-only encoder on purpose; it is recorded
//! as `cfg(openh264_no_asm)`, so `encoder::ASSEMBLY_OPTED_OUT` can say so.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=OPENH264_NO_ASM");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo::rustc-check-cfg=cfg(openh264_no_asm)");
    let x86 = matches!(
        std::env::var("CARGO_CFG_TARGET_ARCH").as_deref(),
        Ok("x86_64" | "x86")
    );
    if std::env::var_os("OPENH264_NO_ASM").is_some() {
        println!("cargo:rustc-cfg=openh264_no_asm");
        return;
    }
    if !x86 {
        // Elsewhere openh264-sys2 needs no nasm (ARM builds its NEON code with cc).
        return;
    }
    let nasm = Command::new("nasm")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !nasm {
        fail(
            "nasm was not found on PATH. OpenH264 needs it for its SIMD assembly; without \
             it the encoder is about three times slower.\n\
             Install it (Debian/Ubuntu: `sudo apt-get install nasm`, or \
             `bash scripts/setup.sh --no-browser`), then run \
             `cargo clean --release -p openh264-sys2` (this build may have compiled \
             OpenH264 without it already, and it would not be rebuilt), then build again.\n\
             `scripts/run.sh` does all of this and then runs the server.\n\
             To build the slow C-only encoder on purpose, set OPENH264_NO_ASM=1.",
        );
    }
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/encoder-<hash>/out.
    if let Some(build_dir) = out_dir.parent().and_then(Path::parent) {
        let stale = c_only_openh264_builds(build_dir);
        if !stale.is_empty() {
            let dirs: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
            fail(&format!(
                "openh264-sys2 in this target directory was built without nasm (its build \
                 script does not run again when nasm appears, so it would stay C-only, \
                 about three times slower): {}.\n\
                 Rebuild it now that nasm is installed: \
                 `cargo clean --release -p openh264-sys2` (add `--target-dir` if you use \
                 one), then build again.\n\
                 To keep the slow C-only encoder on purpose, set OPENH264_NO_ASM=1.",
                dirs.join(", ")
            ));
        }
    }
}

/// The finished openh264-sys2 build-script runs in `build_dir` whose output has no
/// object assembled by nasm. A finished run has Cargo's `output` file (the script's
/// stdout) and an `out` directory; openh264-sys2 compiles its `.asm` kernels there
/// through nasm-rs, which names each object after its source (`cpuid.asm` gives
/// `out/cpuid.o`, the kernel the C code's CPU detection calls), and prints that it is "not using any
/// assembly" when nasm fails or is disabled. A run still in progress has no `output`
/// yet and is skipped: it is running now, with the nasm just found.
fn c_only_openh264_builds(build_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(build_dir) else {
        return Vec::new();
    };
    let mut stale = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let is_sys2 = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("openh264-sys2-"));
        if !is_sys2 {
            continue;
        }
        let Ok(output) = std::fs::read_to_string(dir.join("output")) else {
            continue;
        };
        if !dir.join("out").is_dir() {
            continue;
        }
        let assembled = dir.join("out").join("cpuid.o").is_file();
        if !assembled
            || output.contains("not using any assembly")
            || output.contains("NASM compilation disabled")
        {
            stale.push(dir);
        }
    }
    stale.sort();
    stale
}

/// Fails the build with `message`: Cargo prints each `cargo::error` line as an error
/// of its own and fails the build once the script ends.
fn fail(message: &str) -> ! {
    for line in message.lines() {
        println!("cargo::error={line}");
    }
    std::process::exit(0);
}
