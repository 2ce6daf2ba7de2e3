//! `ssa-registrar`: the registration service in front of an authorization server that has
//! none. `serve` (the default) runs it; `token create` prints one initial access token.

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, Parser, Subcommand};
use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
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
    /// A TOML file of settings (each key a setting's name: `listen`, `directories` (a list),
    /// `profile`, ...); the environment and flags take precedence over it, and it over the
    /// defaults.
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

/// `serve`'s settings: clap reads the flags, the environment and the defaults (and shows
/// them in `--help`); figment puts the configuration file between the defaults and the rest
/// and reads the result into this same struct, naming the key and its source on an error.
#[derive(clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeArgs {
    /// The global `--database-url`, layered like the rest.
    #[arg(skip)]
    database_url: String,
    #[arg(long, env = "SSA_REGISTRAR_LISTEN", default_value = "127.0.0.1:8090")]
    listen: std::net::SocketAddr,
    #[arg(long, env = "SSA_REGISTRAR_PUBLIC_URL")]
    public_url: Option<String>,
    /// Comma-separated discovery URLs of the trusted directories.
    #[serde(default)]
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
    /// The token the authorization server shows to read clients, their statuses and changes.
    #[arg(long, env = "SSA_REGISTRAR_CLIENTS_TOKEN", hide_env_values = true)]
    clients_token: Option<String>,
    /// The clients token's former name, still read.
    #[arg(long, env = "SSA_REGISTRAR_STATUS_TOKEN", hide_env_values = true)]
    status_token: Option<String>,
    /// The registrar's key folder (stateless client id keys, the federation key).
    #[arg(long, env = "SSA_REGISTRAR_KEYS_DIR", default_value = "registrar-keys")]
    keys_dir: std::path::PathBuf,
    /// The OpenID Federation trust anchor (entity identifier) to register clients under by
    /// explicit registration; it also serves its own entity configuration then.
    #[arg(long, env = "SSA_REGISTRAR_TRUST_ANCHOR")]
    trust_anchor: Option<String>,
    /// The trust anchor's keys, pinned (a JWKS file): its configuration, resolve answers and
    /// chains must be signed by one of them.
    #[arg(long, env = "SSA_REGISTRAR_TRUST_ANCHOR_JWKS")]
    trust_anchor_jwks: Option<std::path::PathBuf>,
    /// `off`, `required` (this service terminates TLS and requires a client certificate of
    /// a trusted directory's CA) or `header:NAME` (a proxy passes it in that header).
    #[arg(long, env = "SSA_REGISTRAR_MTLS", default_value = "off")]
    mtls: Mtls,
    /// Addresses of the TLS-terminating proxies whose certificate header is believed.
    #[serde(default)]
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
    /// Whether statements must be shown in their directory's transparency log: off
    /// (default), warn (logged as a warning) or require (refused with
    /// invalid_software_statement). The proof is fetched from the directory.
    #[arg(long, env = "SSA_REGISTRAR_TRANSPARENCY", default_value = "off")]
    transparency: ssa_verifier::Transparency,
    /// The transparency log's note verifier key to pin; without it, the one each directory
    /// publishes.
    #[arg(long, env = "SSA_REGISTRAR_LOG_KEY")]
    log_key: Option<String>,
    /// Connections served at once; more wait in the listen backlog.
    #[arg(long, env = "SSA_REGISTRAR_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    max_connections: u64,
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = run() {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

/// The values clap took from some sources (the defaults, or the environment and the command
/// line) as a figment layer: each value as text, which the setting's type reads; arguments
/// that take a list give a list.
struct Arguments<'a> {
    parsed: Vec<(&'a clap::Command, &'a ArgMatches)>,
    explicit: bool,
}

impl Provider for Arguments<'_> {
    fn metadata(&self) -> Metadata {
        Metadata::named(if self.explicit {
            "the command line or the environment"
        } else {
            "the defaults"
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut values = Dict::new();
        for (command, matches) in &self.parsed {
            for argument in command.get_arguments() {
                let id = argument.get_id().as_str();
                let from_defaults = match matches.value_source(id) {
                    Some(ValueSource::DefaultValue) => true,
                    Some(_) => false,
                    None => continue,
                };
                if id == "config" || from_defaults == self.explicit {
                    continue;
                }
                let Some(raw) = matches.get_raw(id) else {
                    continue;
                };
                let mut texts = raw
                    .map(|v| v.to_string_lossy().into_owned())
                    .filter(|v| !v.trim().is_empty());
                let value = if argument.get_value_delimiter().is_some() {
                    Value::from(texts.map(Value::from).collect::<Vec<_>>())
                } else {
                    match texts.next() {
                        Some(text) => Value::from(text),
                        None => continue,
                    }
                };
                values.insert(id.to_owned(), value);
            }
        }
        Ok(Profile::Default.collect(values))
    }
}

/// The layers, lowest first: the defaults, the configuration file (`--config` or
/// `SSA_REGISTRAR_CONFIG`), then the environment and the flags.
fn layers(parsed: Vec<(&clap::Command, &ArgMatches)>, file: Option<&std::path::Path>) -> Figment {
    let mut figment = Figment::from(Arguments {
        parsed: parsed.clone(),
        explicit: false,
    });
    if let Some(path) = file {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment.merge(Arguments {
        parsed,
        explicit: true,
    })
}

/// Refuses an `SSA_REGISTRAR_*` variable that names no setting, as the directory does.
fn check_environment(commands: &[&clap::Command]) -> anyhow::Result<()> {
    for (variable, _) in std::env::vars() {
        let Some(_) = variable.strip_prefix("SSA_REGISTRAR_") else {
            continue;
        };
        let known = commands
            .iter()
            .flat_map(|c| c.get_arguments())
            .any(|a| a.get_env().is_some_and(|env| env == variable.as_str()));
        if !known {
            anyhow::bail!("unknown environment variable {variable}: it names no setting");
        }
    }
    Ok(())
}

fn run() -> anyhow::Result<()> {
    let command = Cli::command();
    let matches = command.clone().get_matches();
    let file = matches.get_one::<std::path::PathBuf>("config").cloned();
    let serve_only = ServeOnly::command();
    check_environment(&[&command, &serve_only])?;
    match matches.subcommand() {
        Some(("token", token)) => {
            let Some(("create", create)) = token.subcommand() else {
                anyhow::bail!("token: create is the only command");
            };
            let database_url: String = layers(vec![(&command, &matches)], file.as_deref())
                .extract_inner_lossy("database_url")
                .map_err(one_line)?;
            println!(
                "{}",
                server::create_initial_token(
                    &database_url,
                    create.get_flag("single_use"),
                    create.get_one::<u64>("expires_in").copied(),
                )?
            );
            Ok(())
        }
        Some(("serve", serve_matches)) => {
            let serve_command = command
                .find_subcommand("serve")
                .ok_or_else(|| anyhow::anyhow!("no serve command"))?;
            let args = layers(
                vec![(&command, &matches), (serve_command, serve_matches)],
                file.as_deref(),
            )
            .extract_lossy()
            .map_err(one_line)?;
            serve(args)
        }
        _ => {
            let serve_matches = serve_only.clone().get_matches_from(["ssa-registrar"]);
            let args = layers(
                vec![(&command, &matches), (&serve_only, &serve_matches)],
                file.as_deref(),
            )
            .extract_lossy()
            .map_err(one_line)?;
            serve(args)
        }
    }
}

/// A figment error on one line, naming the key and where its value came from.
fn one_line(error: figment::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "{}",
        error
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn serve(mut args: ServeArgs) -> anyhow::Result<()> {
    for (name, value, range) in [
        (
            "header_read_timeout_ms",
            args.header_read_timeout_ms,
            100..=300_000,
        ),
        (
            "body_read_timeout_ms",
            args.body_read_timeout_ms,
            100..=300_000,
        ),
        ("max_connections", args.max_connections, 2..=100_000),
    ] {
        if !range.contains(&value) {
            anyhow::bail!(
                "{name} = {value}: between {} and {}",
                range.start(),
                range.end()
            );
        }
    }
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
    if let (Some(new), Some(old)) = (&args.clients_token, &args.status_token)
        && new != old
    {
        anyhow::bail!(
            "clients_token and status_token (its former name) differ: set clients_token alone"
        );
    }
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
        database_url: args.database_url,
        tls: args.tls_cert_file.zip(args.tls_key_file),
        mtls,
        stateless,
        keys_dir: args.keys_dir,
        clients_token: args.clients_token.or(args.status_token),
        trust_anchor: args.trust_anchor,
        trust_anchor_jwks: args.trust_anchor_jwks,
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
        transparency: args.transparency,
        log_key: args.log_key,
    };
    tokio::runtime::Runtime::new()?.block_on(async move {
        let running = server::start(config).await?;
        eprintln!("ssa-registrar listening on port {}", running.port);
        running.server.await?;
        Ok(())
    })
}
