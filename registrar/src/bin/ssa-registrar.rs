//! `ssa-registrar`: the registration service in front of an authorization server that has
//! none. `serve` (the default) runs it; `token create` prints one initial access token.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
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
        hide_env_values = true,
        default_value = "sqlite://registrar-data/registrar.db",
        global = true
    )]
    database_url: String,
    /// A TOML file of settings (each key a setting's name: `listen`, `directories`,
    /// `profile`, ...); the environment and flags take precedence over it.
    #[arg(long, env = "SSA_REGISTRAR_CONFIG", global = true)]
    config: Option<std::path::PathBuf>,
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
    /// `stateful` (registrations in the database) or `stateless` (sealed into the client ids).
    #[arg(long, env = "SSA_REGISTRAR_STATE", default_value = "stateful")]
    state: String,
    /// The token the authorization server shows to read clients' statuses and changes.
    #[arg(long, env = "SSA_REGISTRAR_STATUS_TOKEN", hide_env_values = true)]
    status_token: Option<String>,
    /// The registrar's key folder (stateless client id keys, the federation key).
    #[arg(long, env = "SSA_REGISTRAR_KEYS_DIR", default_value = "registrar-keys")]
    keys_dir: std::path::PathBuf,
    /// The OpenID Federation trust anchor (entity identifier) to register clients under by
    /// explicit registration; it also serves its own entity configuration then.
    #[arg(long, env = "SSA_REGISTRAR_TRUST_ANCHOR")]
    trust_anchor: Option<String>,
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
    /// Custom rules: POST the proposed client here; the answer allows, refuses or adjusts it.
    #[arg(long, env = "SSA_REGISTRAR_CALLOUT_URL", hide_env_values = true)]
    callout_url: Option<String>,
    /// How long to wait for the callout (milliseconds); no answer in time refuses.
    #[arg(long, env = "SSA_REGISTRAR_CALLOUT_TIMEOUT_MS", default_value_t = 2000)]
    callout_timeout_ms: u64,
    /// The key of that certificate (PEM).
    #[arg(long, env = "SSA_REGISTRAR_TLS_KEY_FILE", requires = "tls_cert_file")]
    tls_key_file: Option<std::path::PathBuf>,
    /// Trust exactly the CA certificates of this PEM file for every HTTPS request the
    /// registrar makes (directories, callout, clients' jwks_uri); without it, the platform's
    /// trust store (which SSL_CERT_FILE and SSL_CERT_DIR also set).
    #[arg(long, env = "SSA_REGISTRAR_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// How long a request's head may take to arrive (milliseconds); slower: 408.
    #[arg(long, env = "SSA_REGISTRAR_HEADER_READ_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..=300_000))]
    header_read_timeout_ms: u64,
    /// How long a request's body may take to arrive after its head (milliseconds); slower: 408.
    #[arg(long, env = "SSA_REGISTRAR_BODY_READ_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..=300_000))]
    body_read_timeout_ms: u64,
    /// A folder of answers to SSA directories' proof-of-control challenges for the bank's
    /// issuer: the file named TOKEN is served at /.well-known/ssa-directory-challenge/TOKEN.
    #[arg(long, env = "SSA_REGISTRAR_CHALLENGE_DIR")]
    challenge_dir: Option<std::path::PathBuf>,
    /// Connections served at once; more wait in the listen backlog.
    #[arg(long, env = "SSA_REGISTRAR_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    max_connections: u64,
}

/// Settings whose values may carry a secret (a password in a URL, a token): their values
/// are never shown by `--help`, whether they come from the environment or the file.
const SECRET_SETTINGS: [&str; 3] = ["database_url", "status_token", "callout_url"];

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = file_settings().and_then(|file| run(&file)) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

/// The settings of the configuration file named by `--config` or `SSA_REGISTRAR_CONFIG`,
/// as flag values.
fn file_settings() -> anyhow::Result<Vec<(String, String)>> {
    let args: Vec<String> = std::env::args().collect();
    let named = args
        .iter()
        .position(|a| a == "--config")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--config=").map(str::to_owned))
        })
        .or_else(|| std::env::var("SSA_REGISTRAR_CONFIG").ok());
    let Some(path) = named else {
        return Ok(vec![]);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read the configuration file {path}: {e}"))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    let known: Vec<String> = ServeOnly::command()
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .chain(["database_url".to_owned()])
        .collect();
    let mut settings = vec![];
    for (key, value) in table {
        if !known.contains(&key) {
            anyhow::bail!("{path}: unknown setting {key:?}");
        }
        let text = match value {
            toml::Value::Array(items) if items.is_empty() => continue,
            toml::Value::String(s) => s,
            toml::Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        settings.push((key, text));
    }
    Ok(settings)
}

/// `command` with the file's settings as its defaults (the environment and flags win).
fn with_defaults(mut command: clap::Command, file: &[(String, String)]) -> clap::Command {
    for (key, value) in file {
        let value = value.clone();
        if command.get_arguments().any(|a| a.get_id() == key.as_str()) {
            let secret = SECRET_SETTINGS.contains(&key.as_str());
            command = command.mut_arg(key.as_str(), |a| {
                a.default_value(value).hide_default_value(secret)
            });
        }
    }
    command
}

fn run(file: &[(String, String)]) -> anyhow::Result<()> {
    let command = with_defaults(Cli::command(), file)
        .mut_subcommand("serve", |serve| with_defaults(serve, file));
    let cli = Cli::from_arg_matches(&command.get_matches())?;
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
        None => {
            let matches =
                with_defaults(ServeOnly::command(), file).get_matches_from(["ssa-registrar"]);
            serve(
                ServeOnly::from_arg_matches(&matches)?.args,
                cli.database_url,
            )
        }
    }
}

fn serve(mut args: ServeArgs, database_url: String) -> anyhow::Result<()> {
    args.directories.retain(|d| !d.trim().is_empty());
    let stateless = match args.state.as_str() {
        "stateful" => false,
        "stateless" => true,
        other => anyhow::bail!("SSA_REGISTRAR_STATE={other}: stateful or stateless"),
    };
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
        stateless,
        keys_dir: args.keys_dir,
        status_token: args.status_token,
        trust_anchor: args.trust_anchor,
        callout: args.callout_url.map(|url| {
            (
                url,
                std::time::Duration::from_millis(args.callout_timeout_ms),
            )
        }),
        ca_file: args.ca_file,
        header_read_timeout: std::time::Duration::from_millis(args.header_read_timeout_ms),
        body_read_timeout: std::time::Duration::from_millis(args.body_read_timeout_ms),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        challenge_dir: args.challenge_dir,
    };
    tokio::runtime::Runtime::new()?.block_on(async move {
        let running = server::start(config).await?;
        eprintln!("ssa-registrar listening on port {}", running.port);
        running.server.await?;
        Ok(())
    })
}
