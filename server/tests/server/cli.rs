//! The binary as a user runs it: bad scene files fail with a clear message, and
//! `render` writes an image.

use crate::streamtracer;

/// The `error: ` line of a failed run's standard error.
fn error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"))
}

#[test]
fn a_missing_or_unknown_scene_is_a_one_line_error_naming_it() {
    for (scene, needle) in [
        ("/no/such/scene.gltf", "scene.gltf"),
        ("builtin:teapot", "teapot"),
        ("notes.txt", "notes.txt"),
    ] {
        let out = streamtracer()
            .args(["render", "--scene", scene, "--out", "/tmp/never.png"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{scene}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains(needle), "{scene}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
    }
}

/// Settings the encoder refuses stop the server with one line that says what was
/// wrong, once.
#[test]
fn bad_settings_are_one_line_errors_said_once() {
    for (args, needle) in [
        (["--width", "641"], "frame size must be even"),
        (["--fps", "500"], "frame rate must be between"),
        // hello's quality ranges are the flags': each within what `quality` accepts.
        (["--fps", "0.5"], "frame rate must be between 1 and 120"),
        (["--min-bitrate", "10000"], "--min-bitrate (10000)"),
        (["--max-bitrate", "200000000"], "--max-bitrate (200000000)"),
        (["--bitrate", "0"], "--bitrate (0)"),
        (
            ["--min-bitrate", "5000000"],
            "--min-bitrate (5000000) <= --bitrate",
        ),
        (["--max-bitrate", "1000000"], "--max-bitrate (1000000)"),
        (["--max-width", "5000"], "--max-width"),
    ] {
        let out = streamtracer()
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--webrtc-ip", "127.0.0.1"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let line = error_line(&err);
        assert_eq!(line.matches(needle).count(), 1, "{args:?}: {line}");
    }
}

#[test]
fn render_writes_a_png_of_a_scene_file() {
    let dir = std::env::temp_dir().join(format!("st-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_path = dir.join("room.png");
    let scene = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../render-core/tests/data/scene.gltf"
    );
    let out = streamtracer()
        .args([
            "render", "--scene", scene, "--spp", "4", "--width", "64", "--height", "36", "--out",
        ])
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 spp"));
    let img = image::open(&out_path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (64, 36));
    assert!(
        img.pixels().any(|p| p.0.iter().any(|&c| c > 0)),
        "the picture is black"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn loader_warnings_reach_the_user() {
    // An OBJ whose material library is missing still renders, in grey, and says why.
    let dir = std::env::temp_dir().join(format!("st-cli-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let obj = dir.join("tri.obj");
    std::fs::write(
        &obj,
        "mtllib missing.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl paint\nf 1 2 3\n",
    )
    .unwrap();
    let out = streamtracer()
        .args([
            "render", "--spp", "1", "--width", "16", "--height", "16", "--scene",
        ])
        .arg(&obj)
        .arg("--out")
        .arg(dir.join("tri.png"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("WARN") && all.contains("tri.obj") && all.contains("missing.mtl"),
        "{all}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Without tokens the server serves loopback only, unless told otherwise; token
/// settings that would be unsafe or unusable are refused, naming what is wrong.
#[test]
fn unsafe_access_settings_are_refused_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let bad_file = dir.path().join("tokens");
    std::fs::write(
        &bad_file,
        "viewer 0123456789abcdef\nadmin 0123456789abcdefgh\n",
    )
    .unwrap();
    let bad_file = bad_file.to_str().unwrap().to_owned();
    for (args, needle) in [
        (vec!["--listen", "0.0.0.0:0"], "without tokens"),
        (vec!["--viewer-token", "short"], "at least 16"),
        (
            vec![
                "--viewer-token",
                "same-token-for-both",
                "--controller-token",
                "same-token-for-both",
            ],
            "both a viewer and a controller",
        ),
        (vec!["--token-file", &bad_file], "line 2"),
        (vec!["--token-file", "/no/such/tokens"], "/no/such/tokens"),
        (
            vec!["--allowed-origin", "dashboard.example"],
            "--allowed-origin",
        ),
    ] {
        let mut command = streamtracer();
        command.args(&args).args(["--webrtc-ip", "127.0.0.1"]);
        if !args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let line = error_line(&err);
        assert!(line.contains(needle), "{args:?}: {line}");
        assert!(
            !line.contains("0123456789abcdef"),
            "a token was printed: {line}"
        );
    }
}

/// A config file is read beneath flags and environment variables, and its mistakes
/// are reported naming the file and the setting.
#[test]
fn a_config_file_is_overridden_by_the_environment_and_reports_its_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("streamtracer.toml");
    std::fs::write(&file, "max-sessions = 0\n").unwrap();
    let run = |env: Option<(&str, &str)>, extra: &[&str]| {
        let mut command = streamtracer();
        command
            .args(["--config", file.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--webrtc-ip", "127.0.0.1"])
            .args(extra);
        if let Some((k, v)) = env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The file's value is refused as the flag's would be.
    let (code, err) = run(None, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("max-sessions"), "{err}");
    // With the environment variable set, the file's value is not used: the server
    // gets as far as the next mistake, an odd width on the command line.
    let (code, err) = run(
        Some(("STREAMTRACER_MAX_SESSIONS", "5")),
        &["--width", "641"],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("frame size must be even"), "{err}");
    std::fs::write(&file, "listen-on = \"0.0.0.0:80\"\n").unwrap();
    let (code, err) = run(None, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("streamtracer.toml") && err.contains("unknown setting \"listen-on\""),
        "{err}"
    );
}
