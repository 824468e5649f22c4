//! Configuration: command-line flags, each with an environment variable.

use clap::Parser;
use std::net::{IpAddr, SocketAddr};

/// Streamtracer: a progressive path tracer streamed to browsers as H.264 over WebRTC.
#[derive(Clone, Debug, Parser)]
#[command(name = "streamtracer", version, about)]
pub struct Config {
    /// Address the HTTP server (viewer page, WHEP signaling) listens on.
    #[arg(long, env = "STREAMTRACER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// IP address WebRTC media uses (UDP host candidates). Defaults to 127.0.0.1 when
    /// listening on loopback and to every interface otherwise.
    #[arg(long, env = "STREAMTRACER_WEBRTC_IP")]
    pub webrtc_ip: Option<IpAddr>,

    /// Width of the rendered and streamed picture, in pixels (even).
    #[arg(long, env = "STREAMTRACER_WIDTH", default_value_t = 1280)]
    pub width: u32,

    /// Height of the rendered and streamed picture, in pixels (even).
    #[arg(long, env = "STREAMTRACER_HEIGHT", default_value_t = 720)]
    pub height: u32,

    /// Frames per second sent to viewers.
    #[arg(long, env = "STREAMTRACER_FPS", default_value_t = 30.0)]
    pub fps: f32,

    /// Video bitrate in bits per second.
    #[arg(long, env = "STREAMTRACER_BITRATE", default_value_t = 4_000_000)]
    pub bitrate: u32,

    /// Frames between periodic keyframes; 0 sends keyframes only when a viewer joins or asks.
    #[arg(long, env = "STREAMTRACER_KEYFRAME_INTERVAL", default_value_t = 0)]
    pub keyframe_interval: u32,

    /// Samples per pixel after which rendering pauses until the next change.
    #[arg(long, env = "STREAMTRACER_MAX_SPP", default_value_t = 1024)]
    pub max_spp: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["streamtracer"])
    }
}

impl Config {
    /// The IP address WebRTC binds its UDP sockets to.
    pub fn media_ip(&self) -> IpAddr {
        match self.webrtc_ip {
            Some(ip) => ip,
            None if self.listen.ip().is_loopback() => self.listen.ip(),
            None => IpAddr::from([0, 0, 0, 0]),
        }
    }
}
