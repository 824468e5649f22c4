//! Shared parts of the end-to-end tests and benchmarks: an in-process server and a
//! real WebRTC viewer that decodes what it receives.
//!
//! - [`TestServer`] runs `streamtracer::run` on `127.0.0.1:0` with its own shutdown.
//! - [`client::Viewer`] is a WHEP client built on the same `webrtc` crate: it offers a
//!   receive-only video transceiver and the `control` data channel, reassembles the
//!   H.264 access units from RTP and decodes them with OpenH264, so tests check the
//!   pictures that were actually sent. Like a browser, it puts RTP packets back in
//!   order, waits a little for NACK retransmissions, and after a loss drops frames
//!   until a keyframe it asks for with PLIs.
//! - [`link::Relay`] is a userspace link emulator (the kernel here has no `netem`): a
//!   UDP relay that loses, rate-limits and delays packets. A viewer with
//!   [`client::ViewerOptions::link`] sends and receives everything through one.
//! - [`browser::Browser`] drives headless Debian Chromium through chromedriver.
//! - [`ws::ControlSocket`] speaks the control protocol over the WebSocket API, as a
//!   remote UI without video would; [`api`] makes one-shot HTTP API calls.

pub mod browser;
pub mod client;
pub mod crash;
pub mod link;
pub mod process;
pub mod site;
pub mod soak;
pub mod ws;

use render_core::Scene;
use std::net::SocketAddr;
use std::time::Duration;
use streamtracer::Config;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for a message, a frame or a state before it fails, unless it
/// says otherwise.
pub const WAIT: Duration = Duration::from_secs(20);

/// A server running inside the test process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub config: Config,
    pub scene: Scene,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A small, fast configuration on loopback: tests compare pictures, not 720p.
    pub fn small_config() -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            webrtc_ip: Some([127, 0, 0, 1].into()),
            width: 320,
            height: 240,
            fps: 30.0,
            bitrate: 2_000_000,
            max_spp: 64,
            // Every tick sends a frame, so tests can count frames at the frame rate;
            // the keep-alive pacing of a still picture has its own test.
            idle_interval: 0.0,
            ..Config::default()
        }
    }

    pub async fn start(config: Config, scene: Scene) -> anyhow::Result<TestServer> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (cfg, sc) = (config.clone(), scene.clone());
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = streamtracer::run(listener, cfg, sc, shutdown).await {
                panic!("server failed: {e}");
            }
        });
        Ok(TestServer {
            addr,
            config,
            scene,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// [`TestServer::start`] with [`TestServer::small_config`].
    pub async fn small(scene: Scene) -> anyhow::Result<TestServer> {
        TestServer::start(TestServer::small_config(), scene).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The server's current value of a gauge or counter in `/metrics`.
    pub async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let text = reqwest::get(self.url("/metrics")).await?.text().await?;
        metric_value(&text, name).ok_or_else(|| anyhow::anyhow!("no {name} in /metrics"))
    }

    /// Shuts the server down and waits for it to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await?;
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The value of a gauge or counter `name` in a `/metrics` text.
pub fn metric_value(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Mean absolute difference per channel between two RGB images of the same size, in
/// code values (0 to 255).
pub fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images must have the same size");
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as i32 - *y as i32).unsigned_abs() as u64)
        .sum::<u64>() as f64
        / a.len() as f64
}

/// Box-filters an RGB image by `k` on each axis: comparing blurred images measures
/// whether two pictures show the same thing, not whether their noise matches.
pub fn downsample(rgb: &[u8], w: usize, h: usize, k: usize) -> Vec<u8> {
    let (ow, oh) = (w / k, h / k);
    let mut out = vec![0u8; ow * oh * 3];
    for oy in 0..oh {
        for ox in 0..ow {
            for c in 0..3 {
                let mut sum = 0u32;
                for y in 0..k {
                    for x in 0..k {
                        sum += rgb[((oy * k + y) * w + ox * k + x) * 3 + c] as u32;
                    }
                }
                out[(oy * ow + ox) * 3 + c] = (sum / (k * k) as u32) as u8;
            }
        }
    }
    out
}

/// Renders `scene` as the server would, with `spp` samples per pixel.
pub fn reference_render(scene: &Scene, width: u32, height: u32, spp: u32) -> Vec<u8> {
    let mut r = render_core::Renderer::new(scene, width, height).expect("valid scene");
    r.set_preview_scales(&[]);
    for _ in 0..spp {
        r.render_next(&|| false);
    }
    let mut out = vec![0u8; (width * height * 3) as usize];
    r.write_rgb8(&mut out);
    out
}

/// A scene for edit tests whose colours are known in closed form: a diffuse sphere
/// `ball` (material key `material-0`, albedo 0.5) filling the middle of the picture,
/// under a uniform sky of radiance 0.6. A convex diffuse object under a uniform sky
/// has radiance albedo x sky, so the middle pixel is 0.3 (grey), and the sky is 0.6.
pub fn edit_scene() -> Scene {
    use render_core::{Camera, Environment, Material, Object, Shape, Transform};
    Scene {
        camera: Camera {
            eye: glam::Vec3::new(0.0, 0.0, 5.0),
            target: glam::Vec3::ZERO,
            up: glam::Vec3::Y,
            fov: 40.0,
        },
        materials: vec![Material::Diffuse {
            albedo: glam::Vec3::splat(0.5),
            texture: None,
        }],
        objects: vec![Object {
            name: "ball".into(),
            material: 0,
            shape: Shape::Sphere {
                center: glam::Vec3::ZERO,
                radius: 1.0,
            },
            transform: Transform::default(),
        }],
        environment: Environment::Constant {
            radiance: glam::Vec3::splat(0.6),
        },
        textures: Vec::new(),
        meshes: Vec::new(),
        lights: Vec::new(),
        max_bounces: 8,
        images: Vec::new(),
    }
}

/// The `streamtracer` binary of this build (`cargo test --workspace` builds it with
/// the server package's own tests).
pub fn server_binary() -> anyhow::Result<std::path::PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("release/streamtracer");
    if !bin.exists() {
        anyhow::bail!(
            "{} is missing: run `cargo build --release -p streamtracer` first",
            bin.display()
        );
    }
    Ok(bin)
}

/// `value` encoded for a query string, as a browser's `URLSearchParams` does.
pub fn query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// One-shot calls to the HTTP API.
pub mod api {
    use serde_json::Value;

    /// `GET base + path` as JSON, with its status.
    pub async fn get(base: &str, path: &str) -> anyhow::Result<(u16, Value)> {
        let r = reqwest::get(format!("{base}{path}")).await?;
        let status = r.status().as_u16();
        Ok((status, serde_json::from_str(&r.text().await?)?))
    }

    /// `POST base + path` with a JSON body, answered with JSON and a status.
    pub async fn post(base: &str, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        post_text(base, path, &body.to_string()).await
    }

    /// `POST base + path` with raw text.
    pub async fn post_text(base: &str, path: &str, body: &str) -> anyhow::Result<(u16, Value)> {
        let r = reqwest::Client::new()
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, serde_json::from_str(&r.text().await?)?))
    }

    /// `method url` with `token` as its bearer token and, if any, a JSON body; the status
    /// and the body as text.
    pub async fn call(
        method: reqwest::Method,
        url: String,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, String)> {
        let mut r = reqwest::Client::new().request(method, url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let r = r.send().await?;
        Ok((r.status().as_u16(), r.text().await?))
    }

    /// The sessions `GET /api/sessions` lists, read with `token`.
    pub async fn sessions(base: &str, token: Option<&str>) -> anyhow::Result<Vec<Value>> {
        let url = format!("{base}/api/sessions");
        let (status, body) = call(reqwest::Method::GET, url, token, None).await?;
        anyhow::ensure!(status == 200, "GET /api/sessions: {status} {body}");
        let v: Value = serde_json::from_str(&body)?;
        Ok(v["sessions"].as_array().cloned().unwrap_or_default())
    }

    /// The scene as `GET /api/scene` gives it (without the revision), and its revision.
    pub async fn scene(base: &str) -> anyhow::Result<(Value, u64)> {
        let (status, m) = get(base, "/api/scene").await?;
        anyhow::ensure!(status == 200, "GET /api/scene answered {status}: {m}");
        let revision = m["revision"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no revision in {m}"))?;
        Ok((m["scene"].clone(), revision))
    }
}

/// A binary glTF (GLB) holding one mesh: a flat grid of `n` x `n` squares (two
/// triangles each) in the xy plane from -1 to 1, for upload tests.
pub fn grid_glb(n: u32) -> Vec<u8> {
    let mut positions = Vec::new();
    for y in 0..=n {
        for x in 0..=n {
            let (fx, fy) = (
                x as f32 / n as f32 * 2.0 - 1.0,
                y as f32 / n as f32 * 2.0 - 1.0,
            );
            positions.extend_from_slice(&[fx, fy, 0.0]);
        }
    }
    let mut indices = Vec::new();
    for y in 0..n {
        for x in 0..n {
            let i = y * (n + 1) + x;
            indices.extend_from_slice(&[i, i + 1, i + n + 2, i, i + n + 2, i + n + 1]);
        }
    }
    let mut bin: Vec<u8> = positions.iter().flat_map(|v| v.to_le_bytes()).collect();
    let index_offset = bin.len();
    bin.extend(indices.iter().flat_map(|v| v.to_le_bytes()));
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let json = serde_json::json!({
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": bin.len()}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": index_offset},
            {"buffer": 0, "byteOffset": index_offset, "byteLength": indices.len() * 4}
        ],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": positions.len() / 3, "type": "VEC3",
             "min": [-1.0, -1.0, 0.0], "max": [1.0, 1.0, 0.0]},
            {"bufferView": 1, "componentType": 5125, "count": indices.len(), "type": "SCALAR"}
        ],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "nodes": [{"mesh": 0}],
        "scenes": [{"nodes": [0]}],
        "scene": 0
    });
    let mut json = json.to_string().into_bytes();
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin);
    out
}

/// The mean colour of the middle 8x8 pixels of a decoded frame.
pub fn middle(frame: &client::Frame) -> [f64; 3] {
    let p = &frame.picture;
    let (cx, cy) = (p.width / 2, p.height / 2);
    let mut sum = [0.0; 3];
    for y in cy - 4..cy + 4 {
        for x in cx - 4..cx + 4 {
            for (c, s) in sum.iter_mut().enumerate() {
                *s += p.rgb[(y * p.width + x) * 3 + c] as f64;
            }
        }
    }
    sum.map(|s| s / 64.0)
}
