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

pub mod browser;
pub mod client;
pub mod link;

use render_core::Scene;
use std::net::SocketAddr;
use streamtracer::Config;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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

/// Mean absolute difference per channel between two RGB images of the same size, in
/// code values (0 to 255).
/// The value of a gauge or counter `name` in a `/metrics` text.
pub fn metric_value(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

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
