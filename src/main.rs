//! The `ssa-directory` command line: telemetry -> configuration -> command.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ssa_directory::config::{Config, KeyProvider, LogFormat};
use ssa_directory::keys::signing::KeyRing;
use ssa_directory::model::keys::{KeyPurpose, KeyState};
use ssa_directory::model::{Actor, Error, Kid};
use ssa_directory::services::{accounts, signing_keys};
use ssa_directory::{Application, pki, store, telemetry};

/// Open-banking trust directory: onboards organisations and software, issues signed software
/// statements (SSAs), publishes the JWKS, hosts participant keys and runs a small CA.
///
/// Settings come from built-in defaults, then the TOML file given with --config, then the
/// environment (SSA_DIRECTORY_*, DATABASE_URL), then the flags; see the README's configuration
/// table.
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
    /// Print the OpenAPI 3.1 document of the API and the public documents.
    Openapi,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the directory's signing keys (state shared through the database).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the certificate authority in keys/ca.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Check the directory's mail.
    #[command(subcommand)]
    Mail(MailCommand),
}

#[derive(Debug, Subcommand)]
enum MailCommand {
    /// Send a test message through the configured transport (SMTP_URL, or files in
    /// data/mail) at once, not through the outbox, and print how it went.
    Test {
        /// The address to send it to.
        #[arg(long, value_name = "ADDRESS")]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Create the root CA (10 years) and the issuing CA (5 years); refuses if one exists.
    Init,
    /// Print the subjects, SHA-256 fingerprints and validity of the CA certificates, and
    /// where each key is held (a file, or an object of the token with its evidence).
    Show,
    /// Replace the issuing CA: a new key (in the token with the pkcs11 provider) and a
    /// certificate from the root. The current one moves to keys/ca/previous/ and goes on
    /// signing CRLs and OCSP answers for its certificates until they expire; restart the
    /// instances to issue from the new one.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List signing keys: kid, algorithm, state, statements signed and their last expiry.
    List,
    /// Rotate: the next key starts signing, the active key retires (still published until
    /// the statements it signed expire), and a new next key is published.
    Rotate {
        /// Rotate the federation keys (OpenID Federation statements) instead of the SSA keys.
        #[arg(long)]
        federation: bool,
    },
    /// Withdraw a next key before it signs anything.
    Retire {
        /// The key's id (RFC 7638 thumbprint) as `keys list` prints it; base64url, so it
        /// may start with `-`.
        #[arg(long, value_name = "K", allow_hyphen_values = true)]
        kid: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account (an operator with --operator, else a developer).
    Create {
        /// Email address of the account.
        #[arg(long, value_name = "E")]
        email: String,
        /// Make the account a directory operator.
        #[arg(long)]
        operator: bool,
        /// Read the password from the first line of standard input (required: passwords
        /// never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable an account: it cannot log in, its portal sessions end at once and its API
    /// tokens stop working.
    Disable {
        /// Email address of the account.
        #[arg(long, value_name = "E")]
        email: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// Email address of the account.
        #[arg(long, value_name = "E")]
        email: String,
    },
    /// Remove every second factor of an account (authenticator apps and recovery codes) and
    /// end its sessions: for a person who lost both; they log in with the password and enrol
    /// again (an operator must, at once).
    MfaReset {
        /// Email address of the account.
        #[arg(long, value_name = "E")]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token for an account and print it (the token alone on stdout).
    Create {
        /// Email address of the account.
        #[arg(long, value_name = "E")]
        email: String,
        /// A name that reminds the owner what the token is for.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until the token stops working. An operator's token expires after
        /// operator_token_ttl_days (30) unless this says sooner; others' last until revoked
        /// unless this is given.
        #[arg(long, value_name = "DAYS")]
        expires_in: Option<u32>,
    },
}

fn main() -> ExitCode {
    // Before anything else initialises OpenSSL (libpq would, with an exit-time cleanup).
    openssl::init();
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
    let command = cli.command.unwrap_or(Command::Serve { listen: None });
    // Flags win over the environment, which wins over the file.
    let mut layers = Config::figment(cli.config.as_deref());
    if let Some(format) = cli.log_format {
        layers = layers.merge(("log_format", format));
    }
    if let Command::Serve {
        listen: Some(listen),
    } = &command
    {
        layers = layers.merge(("listen", listen));
    }
    let config = Config::from_figment(layers)?;
    let default_filter = match command {
        Command::Serve { .. } => "info",
        _ => "warn",
    };
    telemetry::init(config.log_format, default_filter);

    let result = match command {
        Command::Serve { .. } => actix_web::rt::System::new().block_on(async move {
            let app = Application::build(config).await?;
            app.run_until_stopped().await.context("server failed")
        }),
        Command::Openapi => {
            println!("{}", ssa_directory::web::api::openapi_document());
            Ok(())
        }
        Command::Migrate => {
            let manager = store::ConnectionManager::new(&config.database_url())?;
            manager.prepare()?;
            let mut conn = manager.open()?;
            let applied = store::migrate(&mut conn)?;
            println!("applied {applied} migration(s)");
            Ok(())
        }
        Command::User(UserCommand::Create {
            email,
            operator,
            password_stdin: _,
        }) => {
            let password = read_stdin_line()?;
            let mut conn = open_database(&config)?;
            let user = accounts::create_user_in(
                &mut conn,
                &email,
                &password,
                operator,
                Some(&Actor::Cli),
                None,
                cli_now(),
            )
            .map_err(domain_error)?;
            let kind = if user.is_operator { "operator" } else { "user" };
            println!("created {kind} {} ({})", user.email, user.id);
            Ok(())
        }
        Command::User(UserCommand::Disable { email }) => set_disabled(&config, &email, true),
        Command::User(UserCommand::Enable { email }) => set_disabled(&config, &email, false),
        Command::User(UserCommand::MfaReset { email }) => {
            let mut conn = open_existing(&config)?;
            let factors =
                ssa_directory::services::mfa::reset_in(&mut conn, &email, &Actor::Cli, cli_now())
                    .map_err(|e| match e {
                    Error::NotFound(_) => {
                        anyhow::anyhow!("no account for {}", email.trim().to_lowercase())
                    }
                    other => domain_error(other),
                })?;
            println!(
                "{}: {factors} second factor(s) (passkeys, authenticator apps) and the recovery codes removed, every session ended",
                email.trim().to_lowercase()
            );
            Ok(())
        }
        Command::Keys(command) => keys_command(&config, command),
        Command::Mail(MailCommand::Test { to }) => mail_test(&config, &to),
        Command::Ca(command) => {
            let token = ssa_directory::keys::pkcs11::Token::configured(&config)?;
            match command {
                CaCommand::Init => {
                    pki::ca::init(&config.keys_dir, token.as_ref())?;
                }
                CaCommand::Rotate => {
                    let ca = pki::ca::rotate(&config.keys_dir, token.as_ref())?;
                    println!(
                        "issuing CA {} now signs new certificates (restart the instances); {} kept for the certificates it signed",
                        ca.current.id,
                        ca.previous.first().map_or("none", |p| p.id.as_str())
                    );
                }
                CaCommand::Show => {}
            }
            for line in pki::ca::show(&config.keys_dir, token.as_ref())?.lines {
                println!("{line}");
            }
            Ok(())
        }
        Command::Token(TokenCommand::Create {
            email,
            name,
            expires_in,
        }) => {
            let mut conn = open_existing(&config)?;
            let user = account(&mut conn, &email)?;
            let limit = user.is_operator.then_some(config.operator_token_ttl_days);
            let days = match (expires_in, limit) {
                (Some(0), _) => anyhow::bail!("--expires-in must be at least 1 day"),
                (Some(days), Some(limit)) if days > limit => anyhow::bail!(
                    "an operator's token lasts at most operator_token_ttl_days ({limit} days)"
                ),
                (asked, limit) => asked.or(limit),
            };
            let at = cli_now();
            let expires_at = days.map(|d| at + time::Duration::days(i64::from(d)));
            let token = accounts::create_token_in(
                &mut conn,
                &user.actor(),
                &name,
                &Actor::Cli,
                expires_at,
                None,
                at,
            )
            .map_err(domain_error)?;
            println!("{}", token.secret);
            // The token alone on stdout; when it stops, on stderr.
            if let Some(at) = expires_at {
                eprintln!("the token expires at {at} UTC");
            }
            Ok(())
        }
    };
    // Modules that keep keys (PKCS#11) are finalised before the process exits.
    ssa_directory::keys::pkcs11::finalize_all();
    result
}

fn set_disabled(config: &Config, email: &str, disabled: bool) -> anyhow::Result<()> {
    let mut conn = open_existing(config)?;
    let user = account(&mut conn, email)?;
    let account = accounts::set_disabled_in(&mut conn, &Actor::Cli, user.id, disabled, cli_now())
        .map_err(domain_error)?;
    let state = if account.disabled_at.is_some() {
        "disabled; its sessions have ended"
    } else {
        "enabled"
    };
    println!("{} is {state}", account.email);
    Ok(())
}

fn keys_command(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    // Every verb works on an existing directory's database; `list` only reads it.
    let mut conn = open_existing(config)?;
    // `list` reads the database alone: it works while the token is out of reach.
    let token = match command {
        KeysCommand::List => None,
        _ => ssa_directory::keys::pkcs11::Token::configured(config)?,
    };
    let (ring, federation) = KeyRing::pair(config, token.as_ref());
    let alg = config.signing_alg.as_str();
    if !matches!(command, KeysCommand::List) {
        use signing_keys::Strays::Leave;
        signing_keys::initialise(&mut conn, &ring, alg, KeyPurpose::Ssa, Leave, cli_now())?;
        signing_keys::initialise(
            &mut conn,
            &federation,
            alg,
            KeyPurpose::Federation,
            Leave,
            cli_now(),
        )?;
    }
    match command {
        KeysCommand::List => {
            println!(
                "{:<44} {:<10} {:<6} {:<8} {:<6} {:>8}  {:<20} EVIDENCE",
                "KID", "PURPOSE", "ALG", "STATE", "HELD", "SIGNED", "LAST EXPIRY"
            );
            let keys = signing_keys::list(&mut conn).map_err(domain_error)?;
            for key in &keys {
                println!(
                    "{:<44} {:<10} {:<6} {:<8} {:<6} {:>8}  {:<20} {}",
                    key.kid,
                    key.purpose.as_str(),
                    key.alg,
                    key.state.as_str(),
                    key.location,
                    key.ssas_signed,
                    key.last_expiry.as_deref().unwrap_or("-"),
                    evidence_text(key.evidence.as_deref())
                );
            }
            // Moving to a token: file keys that sign nothing more are the operator's to
            // destroy.
            if config.key_provider == KeyProvider::Pkcs11 {
                let spent: Vec<String> = keys
                    .iter()
                    .filter(|k| matches!(k.state, KeyState::Retired | KeyState::Removed))
                    .filter_map(|k| {
                        let ring = if k.purpose == KeyPurpose::Ssa {
                            &ring
                        } else {
                            &federation
                        };
                        let path = ring.path(k.kid.as_str());
                        path.exists().then(|| path.display().to_string())
                    })
                    .collect();
                if !spent.is_empty() {
                    println!();
                    println!(
                        "key files that sign nothing more (their public keys stay published from the database); destroy them:"
                    );
                    for path in spent {
                        println!("  shred -u {path}");
                    }
                }
            }
        }
        KeysCommand::Rotate { federation: true } => {
            let kid = signing_keys::rotate(
                &mut conn,
                &federation,
                alg,
                &Actor::Cli,
                KeyPurpose::Federation,
                None,
                cli_now(),
            )
            .map_err(domain_error)?;
            println!(
                "{kid} now signs federation statements; the retired key stays in the historical keys"
            );
        }
        KeysCommand::Rotate { federation: false } => {
            let composer = ssa_directory::mail::Composer::new(config, &config.public_url())?;
            let kid = signing_keys::rotate(
                &mut conn,
                &ring,
                alg,
                &Actor::Cli,
                KeyPurpose::Ssa,
                Some(&composer),
                cli_now(),
            )
            .map_err(domain_error)?;
            println!(
                "{kid} now signs; every instance publishes the change within key_refresh_secs"
            );
        }
        KeysCommand::Retire { kid } => {
            let state = signing_keys::retire(
                &mut conn,
                &Kid::from_trusted(kid.clone()),
                &Actor::Cli,
                cli_now(),
            )
            .map_err(domain_error)?;
            println!("{kid} is now {}", state.as_str());
        }
    }
    Ok(())
}

/// What the token said of a key, for people: `local, always sensitive, never extractable`.
fn evidence_text(evidence: Option<&str>) -> String {
    let Some(evidence) = evidence
        .and_then(|e| serde_json::from_str::<ssa_directory::keys::pkcs11::Evidence>(e).ok())
    else {
        return "-".into();
    };
    let mut said = vec![];
    for (holds, what) in [
        (evidence.local, "local"),
        (evidence.always_sensitive, "always sensitive"),
        (evidence.never_extractable, "never extractable"),
    ] {
        said.push(if holds {
            what.to_owned()
        } else {
            format!("NOT {what}")
        });
    }
    said.join(", ")
}

/// Opens the configured database, which must exist and be migrated: never creates one.
/// `mail test`: one message through the configured transport, and what happened.
fn mail_test(config: &Config, to: &str) -> anyhow::Result<()> {
    let public_url = config.public_url();
    let mailer = ssa_directory::mail::Mailer::configured(config, &public_url)?;
    let id = uuid::Uuid::new_v4().to_string();
    let message = mailer.composer.compose(
        &id,
        &ssa_directory::mail::Outgoing {
            kind: "test",
            to: to.to_owned(),
            subject: "a test message".into(),
            paragraphs: vec![format!(
                "This message tests the mail of {} ({public_url}). Nothing needs doing.",
                mailer.composer.name()
            )],
            action: None,
        },
    )?;
    let sent = actix_web::rt::System::new().block_on(async {
        mailer
            .transport
            .send(&id, mailer.composer.sender(), to, &message)
            .await
    });
    match sent {
        Ok(()) => {
            println!(
                "sent a test message to {to} through {} (Message-ID <{id}@…>)",
                mailer.transport.describe()
            );
            Ok(())
        }
        Err(undelivered) => Err(anyhow::anyhow!(
            "not sent through {} ({}): {}",
            mailer.transport.describe(),
            if undelivered.permanent {
                "refused for good"
            } else {
                "a temporary failure"
            },
            undelivered.reason
        )),
    }
}

fn open_existing(config: &Config) -> anyhow::Result<store::DbConnection> {
    Ok(store::ConnectionManager::new(&config.database_url())?.open_existing()?)
}

/// Opens the configured database (creating an SQLite file) and applies pending migrations.
fn open_database(config: &Config) -> anyhow::Result<store::DbConnection> {
    let manager = store::ConnectionManager::new(&config.database_url())?;
    manager.prepare()?;
    let mut conn = manager.open()?;
    store::migrate(&mut conn)?;
    Ok(conn)
}

/// The account with this email.
fn account(
    conn: &mut store::DbConnection,
    email: &str,
) -> anyhow::Result<ssa_directory::model::account::User> {
    accounts::by_email(conn, email)
        .map_err(|_| anyhow::anyhow!("no account for {}", email.trim().to_lowercase()))
}

/// A domain error as the operator should read it.
fn domain_error(error: Error) -> anyhow::Error {
    match error {
        Error::Unexpected(cause) => cause,
        other => anyhow::anyhow!("{other}"),
    }
}

/// Reads the first line of standard input, without its line ending.
fn read_stdin_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// The time a command acts at: the system's (the server reads its own clock).
fn cli_now() -> ssa_directory::model::Timestamp {
    ssa_directory::model::Clock::now(&ssa_directory::model::SystemClock)
}
