//! Without a working Open Image Denoise runtime (none where it is looked for, or a
//! file that is not one), `streamtracer render` and the server say so once in the log
//! and go on undenoised; and with one, both denoise. The binary as a user runs it,
//! with `STREAMTRACER_OIDN_DIR` naming where the runtime is to be found.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::streamtracer;

/// A directory to put runtimes in, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("st-oidn-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The two broken runtimes: an empty directory, and one whose library is not one.
fn broken_runtimes() -> [(&'static str, Dir); 2] {
    let missing = Dir::new("missing");
    let broken = Dir::new("broken");
    std::fs::write(
        broken.0.join("lib/libOpenImageDenoise.so.2"),
        b"not a library",
    )
    .unwrap();
    [("missing", missing), ("broken", broken)]
}

fn render(runtime: Option<&Path>, out: &Path) -> (String, String) {
    let mut c = streamtracer();
    c.args([
        "render", "--width", "64", "--height", "48", "--spp", "4", "--out",
    ])
    .arg(out)
    .env("RUST_LOG", "info");
    if let Some(dir) = runtime {
        c.env("STREAMTRACER_OIDN_DIR", dir);
    }
    let o = c.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{stdout}{stderr}");
    (stdout, stderr)
}

#[test]
fn render_without_a_working_runtime_says_so_once_and_writes_the_raw_picture() {
    for (what, dir) in broken_runtimes() {
        let out = dir.0.join("out.png");
        let (stdout, stderr) = render(Some(&dir.0), &out);
        // The log goes to standard output, before the result line.
        let log = stdout.clone() + &stderr;
        assert_eq!(log.matches("denoising is off").count(), 1, "{what}: {log}");
        assert!(log.contains("Open Image Denoise"), "{what}: {log}");
        assert!(!log.contains("panicked"), "{what}: {log}");
        let wrote = stdout
            .lines()
            .find(|l| l.starts_with("wrote"))
            .unwrap_or_default();
        assert!(
            !wrote.is_empty() && !wrote.contains("denoised"),
            "{what}: {stdout}"
        );
        assert_eq!(image::open(&out).unwrap().to_rgb8().dimensions(), (64, 48));
    }
    // And with the project's runtime (scripts/oidn.sh), the picture is denoised.
    let dir = Dir::new("ok");
    let (stdout, stderr) = render(None, &dir.0.join("out.png"));
    let wrote = stdout
        .lines()
        .find(|l| l.starts_with("wrote"))
        .unwrap_or_default();
    assert!(wrote.contains("denoised"), "{stdout}{stderr}");
}

/// `GET path` on `port`: the status line and headers, lower-cased, and the body.
fn get(port: u16, path: &str) -> Option<(String, Vec<u8>)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    s.read_to_end(&mut response).ok()?;
    let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((
        String::from_utf8_lossy(&response[..end]).to_lowercase(),
        response[end + 4..].to_vec(),
    ))
}

/// The value of the sample `name` (with its labels) in a `/metrics` page.
fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Starts the server with `runtime` as its OIDN directory, waits until its (unwatched)
/// view has rendered its picture, and returns the snapshot's headers, `/metrics` and
/// the log.
fn serve(runtime: Option<&Path>) -> (String, String, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = streamtracer();
    c.args(["--width", "64", "--height", "48", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(dir) = runtime {
        c.env("STREAMTRACER_OIDN_DIR", dir);
    }
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut headers = String::new();
    // The view renders 16 samples per pixel while nobody watches, and with a runtime
    // it ends on a denoised picture of them.
    while Instant::now() < deadline {
        if let Some((h, _)) = get(port, "/api/snapshot.png") {
            let done = h.contains("x-streamtracer-samples: 16");
            headers = h;
            if done && (runtime.is_some() || headers.contains("x-streamtracer-denoised: 1")) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics = get(port, "/metrics")
        .map(|(_, body)| String::from_utf8_lossy(&body).into_owned())
        .unwrap_or_default();
    child.kill().unwrap();
    let mut log = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child.wait().unwrap();
    (headers, metrics, log)
}

#[test]
fn a_server_without_a_working_runtime_says_so_once_and_streams_raw_pictures() {
    for (what, dir) in broken_runtimes() {
        let (headers, metrics, log) = serve(Some(&dir.0));
        assert!(headers.starts_with("http/1.1 200"), "{what}: {headers}");
        assert!(
            headers.contains("x-streamtracer-samples: 16"),
            "{what}: {headers}"
        );
        assert!(
            headers.contains("x-streamtracer-denoised: 0"),
            "{what}: {headers}"
        );
        assert_eq!(log.matches("denoising is off").count(), 1, "{what}: {log}");
        assert!(!log.contains("panicked"), "{what}: {log}");
        assert_eq!(
            metric(&metrics, "streamtracer_view_denoising{view=\"main\"}"),
            Some(0.0),
            "{what}: {metrics}"
        );
        assert_eq!(
            metric(&metrics, "streamtracer_denoised_pictures_total"),
            Some(0.0),
            "{what}: {metrics}"
        );
    }
    let (headers, metrics, log) = serve(None);
    assert!(
        headers.contains("x-streamtracer-denoised: 1"),
        "{headers}\n{log}"
    );
    assert!(
        headers.contains("x-streamtracer-samples: 16"),
        "{headers}\n{log}"
    );
    assert_eq!(
        metric(&metrics, "streamtracer_view_denoising{view=\"main\"}"),
        Some(1.0),
        "{metrics}"
    );
    for name in [
        "streamtracer_denoised_pictures_total",
        "streamtracer_view_denoised_pictures_total{view=\"main\"}",
        "streamtracer_denoise_seconds_total",
    ] {
        assert!(
            metric(&metrics, name).unwrap_or(0.0) > 0.0,
            "{name}: {metrics}"
        );
    }
}
