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

    /// IP address WebRTC media uses (UDP host candidates). By default media is offered
    /// on every interface and on loopback, so browsers reach it however they gather.
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
    /// The UDP addresses WebRTC binds, one host candidate each: the configured IP, or
    /// every non-loopback interface (the wildcard) plus loopback. Browsers do not gather
    /// loopback candidates themselves, so a browser on the same machine pairs its
    /// interface addresses with the server's; loopback serves local tools.
    pub fn media_addrs(&self) -> Vec<String> {
        match self.webrtc_ip {
            Some(ip) => vec![std::net::SocketAddr::new(ip, 0).to_string()],
            None => vec!["0.0.0.0:0".to_owned(), "127.0.0.1:0".to_owned()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_addresses_follow_the_flag() {
        let c = Config::parse_from(["streamtracer", "--webrtc-ip", "::1"]);
        assert_eq!(c.media_addrs(), vec!["[::1]:0"]);
        let c = Config::parse_from(["streamtracer"]);
        assert_eq!(c.media_addrs(), vec!["0.0.0.0:0", "127.0.0.1:0"]);
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            (c.width, c.height, c.fps, c.bitrate),
            (1280, 720, 30.0, 4_000_000)
        );
    }
}
