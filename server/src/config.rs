//! Configuration: command-line flags, each with an environment variable.
//!
//! Length: About 520 lines of code (and 140 of tests) because the flags are one clap
//! structure, which must stay one piece.

use clap::Parser;
use std::net::{IpAddr, SocketAddr};

/// Streamtracer: a progressive path tracer streamed to browsers as H.264 over WebRTC.
#[derive(Clone, Debug, Parser)]
#[command(name = "streamtracer", version, about)]
pub struct Config {
    /// A TOML file of settings, named like the long flags (`bitrate = 2000000`,
    /// `controller-token = ["..."]`, `allow-unauthenticated = true`). Flags and
    /// environment variables override it.
    #[arg(long, env = "STREAMTRACER_CONFIG")]
    pub config: Option<std::path::PathBuf>,

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

    /// The widest picture a client may ask for with `resize` [default: the larger of
    /// 1920 and --width].
    #[arg(long, env = "STREAMTRACER_MAX_WIDTH")]
    pub max_width: Option<u32>,

    /// The tallest picture a client may ask for with `resize` [default: the larger of
    /// 1080 and --height].
    #[arg(long, env = "STREAMTRACER_MAX_HEIGHT")]
    pub max_height: Option<u32>,

    /// Frames per second sent to viewers.
    #[arg(long, env = "STREAMTRACER_FPS", default_value_t = 30.0)]
    pub fps: f32,

    /// Bitrate of live video in bits per second, when every viewer's link allows it
    /// (congestion control lowers it for a poorer link).
    #[arg(long, env = "STREAMTRACER_BITRATE", default_value_t = 4_000_000)]
    pub bitrate: u32,

    /// The lowest bitrate the video goes down to, however poor a viewer's link.
    #[arg(long, env = "STREAMTRACER_MIN_BITRATE", default_value_t = 300_000)]
    pub min_bitrate: u32,

    /// The highest bitrate, spent on the still-quality refresh once the picture stops
    /// changing [default: twice --bitrate].
    #[arg(long, env = "STREAMTRACER_MAX_BITRATE")]
    pub max_bitrate: Option<u32>,

    /// Frames between periodic keyframes; 0 sends keyframes only when a viewer joins or asks.
    #[arg(long, env = "STREAMTRACER_KEYFRAME_INTERVAL", default_value_t = 0)]
    pub keyframe_interval: u32,

    /// While the picture does not change, seconds between the frames that keep the
    /// stream alive (0: send every frame anyway).
    #[arg(long, env = "STREAMTRACER_IDLE_INTERVAL", default_value_t = 1.0, value_parser = seconds)]
    pub idle_interval: f64,

    /// Denoise the live pictures with Open Image Denoise (when its runtime is there):
    /// the raw preview of a change goes out first, denoised pictures replace it as
    /// they are ready.
    #[arg(long, env = "STREAMTRACER_DENOISE", value_enum, default_value_t = crate::view::denoising::Mode::On)]
    pub denoise: crate::view::denoising::Mode,

    /// The cap on each sample of indirect light (light reaching the first surface
    /// seen by way of another one), as a radiance per channel at exposure 1: it
    /// removes most fireflies (bright pixels from light found through glass or a
    /// mirror by chance) at the cost of some bias in such light. 0: no cap, unbiased.
    /// auto: 10 for raw pictures, none for denoised ones (the denoiser removes
    /// fireflies itself, and the cap's bias costs denoised pictures up to 1 dB).
    #[arg(long, env = "STREAMTRACER_INDIRECT_CLAMP", default_value_t = IndirectClamp::Auto, value_parser = clamp)]
    pub indirect_clamp: IndirectClamp,

    /// Samples per pixel after which rendering pauses until the next change.
    #[arg(long, env = "STREAMTRACER_MAX_SPP", default_value_t = 1024)]
    pub max_spp: u32,

    /// Seconds of rendering after which it pauses until the next change (0: no limit).
    #[arg(long, env = "STREAMTRACER_MAX_SECONDS", default_value_t = 0.0, value_parser = seconds)]
    pub max_seconds: f64,

    /// The scene: a file (.gltf, .glb, .obj, .json) or a built-in one
    /// (`builtin:cornell`, `builtin:dense`).
    #[arg(long, env = "STREAMTRACER_SCENE", default_value = "builtin:cornell")]
    pub scene: String,

    /// A directory where every acknowledged scene change is saved (synced before it is
    /// acknowledged); on restart the scene comes back from it as it was. Without it
    /// the scene lives in memory only.
    #[arg(long, env = "STREAMTRACER_STATE_DIR")]
    pub state_dir: Option<std::path::PathBuf>,

    /// A token that lets a client watch (role `viewer`); repeat for more. Prefer the
    /// environment variable (comma-separated) or --token-file: command lines are
    /// visible to every user of the machine.
    #[arg(
        long = "viewer-token",
        env = "STREAMTRACER_VIEWER_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub viewer_tokens: Vec<String>,

    /// A token that lets a client watch and edit the scene (role `controller`).
    #[arg(
        long = "controller-token",
        env = "STREAMTRACER_CONTROLLER_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub controller_tokens: Vec<String>,

    /// A file of tokens, one `viewer TOKEN` or `controller TOKEN` per line (`#`
    /// starts a comment line).
    #[arg(long, env = "STREAMTRACER_TOKEN_FILE")]
    pub token_file: Option<std::path::PathBuf>,

    /// Serve on an address other than loopback without any token: anyone who can
    /// reach the server then controls it.
    #[arg(long, env = "STREAMTRACER_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,

    /// A web page origin (`https://host[:port]`) allowed to use the server from a
    /// browser (embedding, remote UIs); repeat for more. By default any origin may.
    #[arg(
        long = "allowed-origin",
        env = "STREAMTRACER_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// The most views at once (`main` included); a controller's request for another
    /// view beyond it is refused.
    #[arg(long, env = "STREAMTRACER_MAX_VIEWS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_views: u32,

    /// The most sessions (WebRTC viewers) at once; more are answered 503.
    #[arg(long, env = "STREAMTRACER_MAX_SESSIONS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_sessions: u32,

    /// Seconds a session whose connection dropped unexpectedly is kept, for its client
    /// to resume it with the resume token from `hello`.
    #[arg(long, env = "STREAMTRACER_RESUME_GRACE", default_value_t = 30.0, value_parser = seconds)]
    pub resume_grace: f64,

    /// Scene changes (edits, undos, redos, uploads) a client may make per second, on
    /// average, and as many picks (counted apart); bursts of up to twice that pass. A
    /// client is its token (its address without tokens), with one allowance over all
    /// its connections and HTTP requests. More get `rate_limited` (HTTP 429).
    #[arg(long, env = "STREAMTRACER_EDIT_RATE", default_value_t = 100.0, value_parser = edit_rate)]
    pub edit_rate: f64,

    /// The most TCP connections open at once (WebSockets included); past it a new
    /// connection is answered `503` with `Retry-After` and closed. Keep it below the
    /// process's open-file limit.
    #[arg(long, env = "STREAMTRACER_MAX_CONNECTIONS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// The most connections one client has open at once: per token, or per address
    /// for connections without a valid token; past it `429` with `Retry-After`.
    #[arg(long, env = "STREAMTRACER_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_client: u32,

    /// The most WebSockets (`/api/control`) one client (token, or address without
    /// one) has open at once; past it the upgrade is answered `429`.
    #[arg(long, env = "STREAMTRACER_MAX_WEBSOCKETS_PER_CLIENT", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_websockets_per_client: u32,

    /// Seconds a client has to send a request's line and headers (on a keep-alive
    /// connection, from the end of the previous answer); a connection that takes
    /// longer is closed.
    #[arg(long, env = "STREAMTRACER_HEADER_TIMEOUT", default_value_t = 10.0, value_parser = positive_seconds)]
    pub header_timeout: f64,

    /// Seconds a connection may stay idle (no request in progress, no bytes either
    /// way), and a WebSocket without a frame from its client (the server pings it a
    /// few times meanwhile, so a live client answers), before it is closed.
    #[arg(long, env = "STREAMTRACER_IDLE_TIMEOUT", default_value_t = 60.0, value_parser = positive_seconds)]
    pub idle_timeout: f64,
}

/// Seconds for a timeout: more than 0, up to a million.
fn positive_seconds(text: &str) -> Result<f64, String> {
    let value = seconds(text)?;
    if value >= 0.01 {
        Ok(value)
    } else {
        Err(format!(
            "{text} is too short: a timeout must be at least 0.01 seconds"
        ))
    }
}

/// Edits per second: from 0.1 to a million.
fn edit_rate(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of edits per second"))?;
    if value.is_finite() && (0.1..=1e6).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{text} is out of range: edits per second must be from 0.1 to 1000000"
        ))
    }
}

/// The command line: serving is the default; `render` writes one image and exits.
#[derive(Clone, Debug, Parser)]
#[command(name = "streamtracer", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

impl Cli {
    /// Parses `args` (the program name first) with the settings of the `--config`
    /// file (or `STREAMTRACER_CONFIG`) beneath them: a flag on the command line wins,
    /// then its environment variable, then the file, then the default.
    pub fn parse_with_config(args: Vec<std::ffi::OsString>) -> Result<Cli, ConfigError> {
        use clap::{CommandFactory, FromArgMatches};
        let path = config_path(&args);
        let mut all = args.clone();
        if let Some(path) = path {
            let from_file = file_args(&path)?;
            all = std::iter::once(args[0].clone())
                .chain(from_file.into_iter().map(Into::into))
                .chain(args.into_iter().skip(1))
                .collect();
        }
        let matches = Cli::command()
            .args_override_self(true)
            .try_get_matches_from(all)
            .map_err(ConfigError::Clap)?;
        Cli::from_arg_matches(&matches).map_err(ConfigError::Clap)
    }
}

/// Why the command line or the config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A bad flag or value (clap's own message, with usage).
    #[error(transparent)]
    Clap(clap::Error),
    #[error("config file {path}: {problem}")]
    File { path: String, problem: String },
}

/// The `--config` path from the command line, else from `STREAMTRACER_CONFIG`.
fn config_path(args: &[std::ffi::OsString]) -> Option<std::path::PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            return it.next().map(std::path::PathBuf::from);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(p.into());
        }
    }
    std::env::var_os("STREAMTRACER_CONFIG").map(std::path::PathBuf::from)
}

/// The file's settings as flags, leaving out those whose environment variable is set
/// (the environment wins over the file).
fn file_args(path: &std::path::Path) -> Result<Vec<String>, ConfigError> {
    use clap::CommandFactory;
    let problem = |problem: String| ConfigError::File {
        path: path.display().to_string(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| problem(e.message().to_owned()))?;
    let command = Cli::command();
    let mut out = Vec::new();
    for (key, value) in table {
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && key != "config")
            .ok_or_else(|| {
                problem(format!(
                    "unknown setting \"{key}\" (settings are named like the long flags, such as bitrate or viewer-token)"
                ))
            })?;
        if arg
            .get_env()
            .is_some_and(|env| std::env::var_os(env).is_some())
        {
            continue;
        }
        let flag = format!("--{key}");
        let scalar = |v: &toml::Value| match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            other => Err(problem(format!(
                "\"{key}\" must be a string or a number, not {}",
                other.type_str()
            ))),
        };
        match &value {
            toml::Value::Boolean(true) => out.push(flag),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                for item in items {
                    out.push(flag.clone());
                    out.push(scalar(item)?);
                }
            }
            v => {
                out.push(flag);
                out.push(scalar(v)?);
            }
        }
    }
    Ok(out)
}

#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Renders the scene to a PNG file without serving anything.
    Render(RenderArgs),
}

/// Options of `streamtracer render`.
#[derive(Clone, Debug, clap::Args)]
pub struct RenderArgs {
    /// The scene: a file (.gltf, .glb, .obj, .json) or `builtin:cornell`, `builtin:dense`.
    #[arg(long, default_value = "builtin:cornell")]
    pub scene: String,
    /// Samples per pixel.
    #[arg(long, default_value_t = 64)]
    pub spp: u32,
    /// Stop early after this many seconds (0: no limit), rendering and denoising
    /// together: the picture written is the best that fits.
    #[arg(long, default_value_t = 0.0, value_parser = seconds)]
    pub max_seconds: f64,
    /// Denoise the picture with Open Image Denoise (when its runtime is there).
    #[arg(long, env = "STREAMTRACER_DENOISE", value_enum, default_value_t = crate::view::denoising::Mode::On)]
    pub denoise: crate::view::denoising::Mode,
    /// The cap on each sample of indirect light (light reaching the first surface
    /// seen by way of another one), as a radiance per channel at exposure 1: it
    /// removes most fireflies (bright pixels from light found through glass or a
    /// mirror by chance) at the cost of some bias in such light. 0: no cap, unbiased.
    /// auto: 10 for raw pictures, none for denoised ones (the denoiser removes
    /// fireflies itself, and the cap's bias costs denoised pictures up to 1 dB).
    #[arg(long, env = "STREAMTRACER_INDIRECT_CLAMP", default_value_t = IndirectClamp::Auto, value_parser = clamp)]
    pub indirect_clamp: IndirectClamp,
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    #[arg(long, default_value_t = 720)]
    pub height: u32,
    /// Where to write the PNG.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

pub use crate::view::{IndirectClamp, DEFAULT_INDIRECT_CLAMP};

/// `--indirect-clamp`: `auto`, or a radiance from 0 (no cap) to a million.
fn clamp(text: &str) -> Result<IndirectClamp, String> {
    if text == "auto" {
        return Ok(IndirectClamp::Auto);
    }
    match text.parse::<f32>() {
        Ok(0.0) => Ok(IndirectClamp::Off),
        Ok(v) if v.is_finite() && (0.0..=1e6).contains(&v) => Ok(IndirectClamp::Cap(v)),
        _ => Err(format!(
            "{text:?} is not auto or a radiance from 0 (no cap) to 1000000"
        )),
    }
}

/// A number of seconds from 0 to a million; anything else (negative, NaN, infinite)
/// is refused with a message instead of quietly meaning something else.
fn seconds(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if value.is_finite() && (0.0..=1e6).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{text} is out of range: seconds must be from 0 to 1000000"
        ))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["streamtracer"])
    }
}

impl Config {
    /// The bounds on connections these settings give.
    pub fn conn_limits(&self) -> crate::control::conns::ConnLimits {
        crate::control::conns::ConnLimits {
            max_connections: self.max_connections as usize,
            max_per_client: self.max_connections_per_client as usize,
            max_websockets_per_client: self.max_websockets_per_client as usize,
            header_timeout: std::time::Duration::from_secs_f64(self.header_timeout),
            idle_timeout: std::time::Duration::from_secs_f64(self.idle_timeout),
        }
    }

    /// The directory texture files of the scene are relative to.
    pub fn scene_dir(&self) -> std::path::PathBuf {
        match self.scene.strip_prefix("builtin:") {
            Some(_) => std::path::PathBuf::from("."),
            None => std::path::Path::new(&self.scene)
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default(),
        }
    }

    /// The render time limit after each change, if any.
    pub fn max_time(&self) -> Option<std::time::Duration> {
        (self.max_seconds > 0.0 && self.max_seconds.is_finite())
            .then(|| std::time::Duration::from_secs_f64(self.max_seconds))
    }

    /// The keep-alive interval of a still picture, if any.
    pub fn idle_interval(&self) -> Option<std::time::Duration> {
        (self.idle_interval > 0.0 && self.idle_interval.is_finite())
            .then(|| std::time::Duration::from_secs_f64(self.idle_interval))
    }

    /// The still-refresh ceiling: the flag, or twice the live bitrate.
    pub fn max_bitrate(&self) -> u32 {
        self.max_bitrate
            .unwrap_or_else(|| self.bitrate.saturating_mul(2).min(100_000_000))
    }

    /// The view these flags describe.
    pub fn view_settings(&self) -> crate::view::ViewSettings {
        let (max_width, max_height) = self.max_size();
        crate::view::ViewSettings {
            width: self.width,
            height: self.height,
            max_width,
            max_height,
            fps: self.fps,
            bitrate: self.bitrate,
            min_bitrate: self.min_bitrate,
            max_bitrate: self.max_bitrate(),
            keyframe_interval: self.keyframe_interval,
            max_spp: self.max_spp,
            max_time: self.max_time(),
            idle_interval: self.idle_interval(),
            denoise: self.denoise == crate::view::denoising::Mode::On,
            indirect_clamp: self.indirect_clamp,
        }
    }

    /// The largest picture size a `resize` may ask for (never below the start size).
    pub fn max_size(&self) -> (u32, u32) {
        (
            self.max_width.unwrap_or(1920).max(self.width),
            self.max_height.unwrap_or(1080).max(self.height),
        )
    }

    /// Who may do what: the tokens (flags, environment and --token-file together)
    /// and the allowed origins. Errors name the flag or file at fault.
    pub fn policy(&self) -> Result<signaling::Policy, String> {
        let (mut viewer, mut controller) =
            (self.viewer_tokens.clone(), self.controller_tokens.clone());
        if let Some(path) = &self.token_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--token-file {}: {e}", path.display()))?;
            let (v, c) = signaling::Access::parse_token_file(&text)
                .map_err(|e| format!("--token-file {}: {e}", path.display()))?;
            viewer.extend(v);
            controller.extend(c);
        }
        let access =
            signaling::Access::new(viewer, controller).map_err(|e| format!("tokens: {e}"))?;
        let origins = if self.allowed_origins.is_empty() {
            signaling::Origins::any()
        } else {
            signaling::Origins::only(self.allowed_origins.clone())
                .map_err(|e| format!("--allowed-origin: {e}"))?
        };
        Ok(signaling::Policy { access, origins })
    }

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
    fn seconds_flags_refuse_nonsense() {
        for bad in ["-1", "NaN", "inf", "1e9", "soon"] {
            for flag in ["--idle-interval", "--max-seconds"] {
                let e = Config::try_parse_from(["streamtracer", flag, bad]).unwrap_err();
                assert!(e.to_string().contains(bad), "{flag} {bad}: {e}");
            }
        }
        let c = Config::parse_from(["streamtracer", "--idle-interval", "2.5"]);
        assert_eq!(
            c.idle_interval(),
            Some(std::time::Duration::from_millis(2500))
        );
        let c = Config::parse_from(["streamtracer", "--idle-interval", "0"]);
        assert_eq!(c.idle_interval(), None);
    }

    /// `auto` (the default) caps raw pictures only; a number caps both; 0 neither;
    /// anything else is refused with what was given.
    #[test]
    fn the_indirect_clamp_is_auto_by_default_and_refuses_nonsense() {
        let c = Config::parse_from(["streamtracer"]);
        assert_eq!(c.indirect_clamp, IndirectClamp::Auto);
        assert_eq!(
            c.indirect_clamp.for_picture(false),
            Some(DEFAULT_INDIRECT_CLAMP)
        );
        assert_eq!(c.indirect_clamp.for_picture(true), None);
        let c = Config::parse_from(["streamtracer", "--indirect-clamp", "4"]);
        assert_eq!(c.indirect_clamp.for_picture(true), Some(4.0));
        let c = Config::parse_from(["streamtracer", "--indirect-clamp", "0"]);
        assert_eq!(c.indirect_clamp.for_picture(false), None);
        for bad in ["-1", "NaN", "inf", "Auto", "lots"] {
            let e = Config::try_parse_from(["streamtracer", "--indirect-clamp", bad]).unwrap_err();
            assert!(e.to_string().contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn media_addresses_follow_the_flag() {
        let c = Config::parse_from(["streamtracer", "--webrtc-ip", "::1"]);
        assert_eq!(c.media_addrs(), vec!["[::1]:0"]);
        let c = Config::parse_from(["streamtracer"]);
        assert_eq!(c.media_addrs(), vec!["0.0.0.0:0", "127.0.0.1:0"]);
    }

    #[test]
    fn render_subcommand_parses() {
        let cli = Cli::parse_from([
            "streamtracer",
            "render",
            "--scene",
            "a.glb",
            "--spp",
            "8",
            "--out",
            "x.png",
        ]);
        let Some(Command::Render(args)) = cli.command else {
            panic!("expected render")
        };
        assert_eq!(
            (args.scene.as_str(), args.spp, args.width),
            ("a.glb", 8, 1280)
        );
        let cli = Cli::parse_from([
            "streamtracer",
            "--scene",
            "builtin:dense",
            "--max-seconds",
            "2.5",
        ]);
        assert!(cli.command.is_none());
        assert_eq!(
            cli.config.max_time(),
            Some(std::time::Duration::from_millis(2500))
        );
    }

    fn parse_with(file: &str, flags: &[&str]) -> Result<Cli, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streamtracer.toml");
        std::fs::write(&path, file).unwrap();
        let mut args: Vec<std::ffi::OsString> =
            vec!["streamtracer".into(), "--config".into(), path.into()];
        args.extend(flags.iter().map(Into::into));
        Cli::parse_with_config(args)
    }

    #[test]
    fn a_config_file_sets_what_flags_do_not() {
        let file = r#"
            bitrate = 3000000
            fps = 24.5
            controller-token = ["0123456789abcdef-c1", "0123456789abcdef-c2"]
            allow-unauthenticated = true
            allowed-origin = "https://dash.example"
        "#;
        let c = parse_with(file, &[]).unwrap().config;
        assert_eq!((c.bitrate, c.fps), (3_000_000, 24.5));
        assert_eq!(c.controller_tokens.len(), 2);
        assert!(c.allow_unauthenticated);
        assert_eq!(c.allowed_origins, ["https://dash.example"]);
        // A flag wins over the file.
        let c = parse_with(file, &["--bitrate", "2000000"]).unwrap().config;
        assert_eq!(c.bitrate, 2_000_000);
    }

    #[test]
    fn bad_config_files_are_refused_naming_the_file_and_setting() {
        for (file, needle) in [
            ("bitrat = 5", "unknown setting \"bitrat\""),
            ("bitrate = ", "streamtracer.toml"),
            ("width = [[1]]", "\"width\" must be"),
            ("config = \"other.toml\"", "unknown setting \"config\""),
        ] {
            let e = parse_with(file, &[]).unwrap_err().to_string();
            assert!(e.contains(needle), "{file}: {e}");
        }
        // A value the flag refuses is refused as the flag would be.
        let e = parse_with("max-sessions = 0", &[]).unwrap_err().to_string();
        assert!(e.contains("max-sessions"), "{e}");
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
