//! The `ssa-directory` command line: telemetry -> configuration -> command.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ssa_directory::config::{Config, LogFormat};
use ssa_directory::{Application, db, telemetry};

/// Open-banking trust directory: onboards organisations and software, issues signed software
/// statements (SSAs), publishes the JWKS, hosts participant keys and runs a small CA.
///
/// Settings come from built-in defaults, then the TOML file given with --config, then the
/// environment (SSA_DIRECTORY_*, DATABASE_URL); see the README's configuration table.
#[derive(Debug, Parser)]
#[command(name = "ssa-directory", version)]
struct Cli {
    /// TOML configuration file; environment variables override its settings.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format: `pretty` lines or `json` lines (overrides SSA_DIRECTORY_LOG_FORMAT).
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the directory server (the default when no command is given).
    Serve {
        /// Address to bind, such as 0.0.0.0:8080 (overrides SSA_DIRECTORY_LISTEN).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: libpq and others put newlines and tabs in their messages.
            let message = format!("{error:#}");
            eprintln!(
                "error: {}",
                message.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(format) = cli.log_format {
        config.log_format = format;
    }
    let command = cli.command.unwrap_or(Command::Serve { listen: None });
    let default_filter = match command {
        Command::Serve { .. } => "info",
        _ => "warn",
    };
    telemetry::init(config.log_format, default_filter);

    match command {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            actix_web::rt::System::new().block_on(async move {
                let app = Application::build(config).await?;
                app.run_until_stopped().await.context("server failed")
            })
        }
        Command::Migrate => {
            let manager = db::ConnectionManager::new(&config.database_url())?;
            manager.prepare()?;
            let mut conn = manager.open()?;
            let applied = db::migrate(&mut conn)?;
            println!("applied {applied} migration(s)");
            Ok(())
        }
    }
}

/// Reads the first line of standard input, without its line ending.
#[allow(dead_code)]
fn read_stdin_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
