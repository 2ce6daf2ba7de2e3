//! `ssa-registrar`: the registration service in front of an authorization server that has
//! none. `serve` (the default) runs it; `token create` prints one initial access token.

use clap::{Parser, Subcommand};
use ssa_registrar::server::{self, Mtls, ServerConfig};
use ssa_registrar::{Access, ClientIds, SecurityProfile, Statements};

#[derive(Parser)]
#[command(
    name = "ssa-registrar",
    version,
    about = "RFC 7591/7592 registration with software statements"
)]
struct Cli {
    /// The database (SQLite by default; postgres://… for PostgreSQL).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://registrar-data/registrar.db",
        global = true
    )]
    database_url: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registration endpoint (the default).
    Serve(Box<ServeArgs>),
    /// Initial access tokens for protected registration.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create one and print it alone on stdout (it is stored hashed and shown only now).
    Create {
        /// Spent by its first registration.
        #[arg(long)]
        single_use: bool,
        /// Valid for this many seconds.
        #[arg(long)]
        expires_in: Option<u64>,
    },
}

/// `serve`'s options alone, for the default verb.
#[derive(Parser)]
struct ServeOnly {
    #[command(flatten)]
    args: ServeArgs,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, env = "SSA_REGISTRAR_LISTEN", default_value = "127.0.0.1:8090")]
    listen: std::net::SocketAddr,
    #[arg(long, env = "SSA_REGISTRAR_PUBLIC_URL")]
    public_url: Option<String>,
    /// Comma-separated discovery URLs of the trusted directories.
    #[arg(long, env = "SSA_REGISTRAR_DIRECTORIES", value_delimiter = ',')]
    directories: Vec<String>,
    #[arg(long, env = "SSA_REGISTRAR_PROFILE", default_value = "fapi2")]
    profile: SecurityProfile,
    #[arg(long, env = "SSA_REGISTRAR_REGISTRATION", default_value = "open")]
    registration: Access,
    #[arg(long, env = "SSA_REGISTRAR_STATEMENTS", default_value = "required")]
    statements: Statements,
    #[arg(long, env = "SSA_REGISTRAR_CLIENT_ID", default_value = "per-instance")]
    client_id: ClientIds,
    /// Only `stateful` is built so far.
    #[arg(long, env = "SSA_REGISTRAR_STATE", default_value = "stateful")]
    state: String,
    /// `off`, `required` (this service terminates TLS and requires a client certificate of
    /// a trusted directory's CA) or `header:NAME` (a proxy passes it in that header).
    #[arg(long, env = "SSA_REGISTRAR_MTLS", default_value = "off")]
    mtls: Mtls,
    /// Addresses of the TLS-terminating proxies whose certificate header is believed.
    #[arg(long, env = "SSA_REGISTRAR_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// The service's TLS certificate chain (PEM); with the key, it listens with TLS.
    #[arg(long, env = "SSA_REGISTRAR_TLS_CERT_FILE", requires = "tls_key_file")]
    tls_cert_file: Option<std::path::PathBuf>,
    /// The key of that certificate (PEM).
    #[arg(long, env = "SSA_REGISTRAR_TLS_KEY_FILE", requires = "tls_cert_file")]
    tls_key_file: Option<std::path::PathBuf>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = run(Cli::parse()) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Token {
            command:
                TokenCommand::Create {
                    single_use,
                    expires_in,
                },
        }) => {
            println!(
                "{}",
                server::create_initial_token(&cli.database_url, single_use, expires_in)?
            );
            Ok(())
        }
        Some(Command::Serve(args)) => serve(*args, cli.database_url),
        None => serve(
            ServeOnly::parse_from(["ssa-registrar"]).args,
            cli.database_url,
        ),
    }
}

fn serve(args: ServeArgs, database_url: String) -> anyhow::Result<()> {
    if args.state != "stateful" {
        anyhow::bail!(
            "SSA_REGISTRAR_STATE={}: only stateful is built so far",
            args.state
        );
    }
    let mtls = match args.mtls {
        Mtls::Header { name, .. } if args.trusted_proxies.is_empty() => {
            anyhow::bail!("SSA_REGISTRAR_MTLS=header:{name} needs SSA_REGISTRAR_TRUSTED_PROXIES");
        }
        Mtls::Header { name, .. } => Mtls::Header {
            name,
            proxies: args.trusted_proxies,
        },
        other => other,
    };
    if args.directories.is_empty() {
        anyhow::bail!(
            "name at least one trusted directory: SSA_REGISTRAR_DIRECTORIES or --directories"
        );
    }
    let config = ServerConfig {
        listen: args.listen,
        public_url: args.public_url,
        directories: args.directories,
        profile: args.profile,
        registration: args.registration,
        statements: args.statements,
        client_ids: args.client_id,
        database_url,
        tls: args.tls_cert_file.zip(args.tls_key_file),
        mtls,
    };
    tokio::runtime::Runtime::new()?.block_on(async move {
        let running = server::start(config).await?;
        eprintln!("ssa-registrar listening on port {}", running.port);
        running.server.await?;
        Ok(())
    })
}
