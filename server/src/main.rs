//! The `streamtracer` binary: parses configuration, binds, and runs the server.

use anyhow::Context;
use streamtracer::{Cli, Command};
use tracing_subscriber::EnvFilter;

fn main() {
    // Errors are for people: the message and its causes, without a backtrace.
    if let Err(e) = serve_or_render() {
        eprintln!("error: {}", one_line(&e));
        std::process::exit(1);
    }
}

/// The error and its causes on one line, each said once: a cause whose text its
/// parent already ends with (an error that prints its source) is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !line.ends_with(&cause) {
            line = format!("{line}: {cause}");
        }
    }
    line
}

#[tokio::main]
async fn serve_or_render() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = match Cli::parse_with_config(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(streamtracer::config::ConfigError::Clap(e)) => e.exit(),
        Err(e) => return Err(e.into()),
    };
    if let Some(Command::Render(args)) = cli.command {
        let scene =
            streamtracer::scenes::load_and_report(&args.scene).context("cannot load the scene")?;
        let report = tokio::task::spawn_blocking(move || {
            let report = streamtracer::offline::render(&scene, &args);
            (report, args)
        })
        .await?;
        let (report, args) = report;
        let report = report?;
        let denoised = match report.denoised {
            Some(spp) if spp == report.samples_per_pixel => ", denoised".to_string(),
            Some(spp) => format!(", denoised at {spp} spp"),
            None => String::new(),
        };
        println!(
            "wrote {} ({}x{}, {} spp in {:.2} s, {:.2} M rays/s{denoised})",
            args.out.display(),
            args.width,
            args.height,
            report.samples_per_pixel,
            report.elapsed.as_secs_f64(),
            report.rays as f64 / report.elapsed.as_secs_f64().max(1e-9) / 1e6
        );
        return Ok(());
    }
    let config = cli.config;
    let scene =
        streamtracer::scenes::load_and_report(&config.scene).context("cannot load the scene")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    streamtracer::run(listener, config, scene, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
