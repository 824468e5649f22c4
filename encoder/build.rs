//! Records whether OpenH264's assembly will be compiled in.
//!
//! openh264-sys2 assembles its SIMD kernels with `nasm` when it is on PATH and
//! `OPENH264_NO_ASM` is unset, and silently falls back to C (about three times slower)
//! otherwise. The same test here lets the server say at start-up which path it got.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=OPENH264_NO_ASM");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo::rustc-check-cfg=cfg(openh264_asm)");
    let x86 = matches!(
        std::env::var("CARGO_CFG_TARGET_ARCH").as_deref(),
        Ok("x86_64" | "x86")
    );
    let disabled = std::env::var_os("OPENH264_NO_ASM").is_some();
    let nasm = Command::new("nasm")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if x86 && nasm && !disabled {
        println!("cargo:rustc-cfg=openh264_asm");
    }
}
