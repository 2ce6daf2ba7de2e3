//! `ssa-verify`: the verifier for authorization servers that are not written in Rust.
//!
//! `ssa-verify events --directory URL [--follow]` prints the directory's change events, each
//! verified, as JSON lines; exit 1 when the feed cannot be read or a SET does not verify.
//!
//! `ssa-verify log monitor --directory URL --state FILE [--org ID] [--software ID]` follows
//! the directory's transparency log from the checkpoint kept in FILE and prints every entry
//! logged since for that organisation or product as JSON lines; exit 3 when the log is
//! inconsistent (it went back, forked, or served entries its signed tree does not hold).
//!
//! Prints the verified values as JSON on stdout and exits 0, or prints the RFC 7591 error
//! response and exits 10 (invalid_software_statement), 11 (unapproved_software_statement),
//! 12 (invalid_redirect_uri) or 13 (invalid_client_metadata). Exit 1: configuration or input
//! error (message on stderr); exit 2: usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ssa_verifier::{
    Algorithm, CaChain, KeySet, Settings, Transparency, Trust, Verifier, VerifyError,
};

#[derive(Parser)]
#[command(
    name = "ssa-verify",
    version,
    about = "Verify software statements, registration requests and client certificates issued by an SSA directory"
)]
struct Cli {
    /// Trust exactly the CA certificates in this PEM file for HTTPS (a directory whose TLS
    /// certificate comes from a private CA); without it, the platform's trust store
    /// (which SSL_CERT_FILE and SSL_CERT_DIR also set).
    #[arg(long, value_name = "FILE", global = true)]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The settings every command starts from: the trusted CA certificates of `--ca-file`.
fn base_settings(ca_file: Option<&PathBuf>) -> Result<Settings, String> {
    let settings = Settings::default();
    match ca_file {
        None => Ok(settings),
        Some(path) => std::fs::read(path)
            .map(|pem| settings.with_ca_certificates(pem))
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display())),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Verify a software statement (a file holding the compact JWS; `-` reads stdin).
    Ssa(SsaArgs),
    /// Print the directory's change events, each SET verified, as JSON lines.
    Events(EventsArgs),
    /// Validate an OpenID Federation trust chain from an entity to a trust anchor and print
    /// the entity's resolved metadata.
    Chain(ChainArgs),
    /// The directory's transparency log.
    #[command(subcommand)]
    Log(LogCommand),
}

#[derive(Subcommand)]
enum LogCommand {
    /// Follow the log from the kept checkpoint, check that it only grew, and print every
    /// statement, certificate and status event logged since for the organisation (or
    /// product) as JSON lines.
    Monitor(MonitorArgs),
    /// Act as a witness of the log (C2SP tlog-witness): serve POST /add-checkpoint and
    /// cosign each checkpoint the log signed that extends the last one cosigned. Prints the
    /// witness's verifier key, then serves until interrupted.
    Witness(WitnessArgs),
}

#[derive(clap::Args)]
struct WitnessArgs {
    /// Where to listen (host:port).
    #[arg(long, value_name = "ADDRESS")]
    listen: std::net::SocketAddr,
    /// The witness's name (its key's name, such as witness.example).
    #[arg(long, value_name = "NAME")]
    name: String,
    /// The witness's Ed25519 key (a 32-byte seed), made (mode 0600) when missing.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The log's note verifier key: only its checkpoints are cosigned.
    #[arg(long, value_name = "VKEY")]
    log_key: String,
    /// The file that keeps the last checkpoint cosigned.
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
}

/// The witness's key: read, or made with mode 0600.
fn witness_seed(path: &PathBuf) -> Result<[u8; 32], String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read(path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| format!("{} is not a 32-byte key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            aws_lc_rs::rand::fill(&mut seed).map_err(|_| "no randomness".to_owned())?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .and_then(|mut file| file.write_all(&seed))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(seed)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Serves the witness until interrupted.
fn witness(args: WitnessArgs) -> Result<(), String> {
    use ssa_verifier::witness::Witness;
    use std::io::Read;
    let seed = witness_seed(&args.key)?;
    let log =
        ssa_verifier::transparency::LogKey::parse(&args.log_key).map_err(|e| e.to_string())?;
    let kept = match std::fs::read(&args.state) {
        Ok(note) => Some(note),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", args.state.display())),
    };
    let mut witness =
        Witness::new(&args.name, seed, log, kept.as_deref()).map_err(|e| e.to_string())?;
    let server = tiny_http::Server::http(args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    println!("{}", witness.verifier_key());
    let typed = |response: tiny_http::Response<std::io::Cursor<Vec<u8>>>, value: &str| {
        match tiny_http::Header::from_bytes("Content-Type", value) {
            Ok(header) => response.with_header(header),
            Err(()) => response,
        }
    };
    for mut request in server.incoming_requests() {
        if request.method() != &tiny_http::Method::Post || request.url() != "/add-checkpoint" {
            let _ = request
                .respond(tiny_http::Response::from_string("not found").with_status_code(404));
            continue;
        }
        let mut body = Vec::new();
        if request
            .as_reader()
            .take(1 << 20)
            .read_to_end(&mut body)
            .is_err()
        {
            let _ = request
                .respond(tiny_http::Response::from_string("unreadable").with_status_code(400));
            continue;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let answer = match witness.add_checkpoint(&body, now) {
            Ok(line) => {
                // Kept before it is answered: a restart never cosigns a fork of it.
                let note = witness.latest_note().unwrap_or_default().to_vec();
                let kept = args.state.with_extension("tmp");
                match std::fs::write(&kept, &note)
                    .and_then(|()| std::fs::rename(&kept, &args.state))
                {
                    Ok(()) => typed(
                        tiny_http::Response::from_data(line),
                        "text/x.tlog.signature",
                    ),
                    Err(e) => {
                        tiny_http::Response::from_string(format!("cannot keep the checkpoint: {e}"))
                            .with_status_code(500)
                    }
                }
            }
            Err(ssa_verifier::witness::Refusal::Conflict(size)) => typed(
                tiny_http::Response::from_string(format!("{size}\n")).with_status_code(409),
                "text/x.tlog.size",
            ),
            Err(refusal) => tiny_http::Response::from_string(format!("{refusal}\n"))
                .with_status_code(refusal.status()),
        };
        let _ = request.respond(answer);
    }
    Ok(())
}

#[derive(clap::Args)]
struct MonitorArgs {
    /// The directory's base URL or its /.well-known/ssa-directory URL.
    #[arg(long, value_name = "URL")]
    directory: String,
    /// The file that keeps the last checkpoint checked (made on the first run, which reads
    /// the whole log).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// Print only entries for this organisation.
    #[arg(long, value_name = "ORG_ID")]
    org: Option<String>,
    /// Print only entries for this software product.
    #[arg(long, value_name = "SOFTWARE_ID")]
    software: Option<String>,
    /// The log's note verifier key to pin; without it, the one the directory publishes
    /// (log_verifier_key).
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// Keep following: look again every --interval seconds until interrupted.
    #[arg(long)]
    follow: bool,
    /// Seconds between looks with --follow.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    interval: u64,
}

/// Why the monitor stopped.
enum MonitorFailure {
    Setup(String),
    Inconsistent(String),
}

/// Follows the log once (or forever with --follow), printing matching entries.
fn monitor(args: MonitorArgs, settings: Settings) -> Result<(), MonitorFailure> {
    use ssa_verifier::monitor::{LogMonitor, MonitorError};
    use std::io::Write;
    let setup = |e: String| MonitorFailure::Setup(e);
    let failure = |e: MonitorError| match e {
        MonitorError::Inconsistent(why) => MonitorFailure::Inconsistent(why),
        other => MonitorFailure::Setup(other.to_string()),
    };
    let http = ssa_verifier::HttpClient::new(&settings).map_err(|e| setup(e.to_string()))?;
    let metadata_url = if args.directory.contains("/.well-known/") {
        args.directory.clone()
    } else {
        format!(
            "{}/.well-known/ssa-directory",
            args.directory.trim_end_matches('/')
        )
    };
    let metadata: serde_json::Value = http
        .get(&metadata_url)
        .map_err(|e| setup(e.to_string()))
        .and_then(|body| serde_json::from_slice(&body).map_err(|e| setup(e.to_string())))?;
    let field = |name: &str| metadata.get(name).and_then(|v| v.as_str());
    let prefix = field("log_checkpoint_uri")
        .and_then(|uri| uri.strip_suffix("/checkpoint"))
        .ok_or_else(|| setup(format!("{metadata_url} names no log_checkpoint_uri")))?
        .to_owned();
    let vkey = args
        .log_key
        .as_deref()
        .or(field("log_verifier_key"))
        .ok_or_else(|| {
            setup("no --log-key, and the directory publishes no log_verifier_key".into())
        })?;
    let key = ssa_verifier::transparency::LogKey::parse(vkey).map_err(|e| setup(e.to_string()))?;
    let log = LogMonitor::new(http, prefix, key.clone());
    let mut out = std::io::stdout().lock();
    loop {
        let older = match std::fs::read(&args.state) {
            Ok(note) => log.open(&note).map_err(failure)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                ssa_verifier::transparency::SignedCheckpoint {
                    origin: key.origin().to_owned(),
                    size: 0,
                    root: ssa_verifier::transparency::Hash::default(),
                }
            }
            Err(e) => {
                return Err(setup(format!("cannot read {}: {e}", args.state.display())));
            }
        };
        let (newer, note) = log.latest().map_err(failure)?;
        let entries = log.entries_between(&older, &newer).map_err(failure)?;
        for entry in &entries {
            let wanted = args
                .org
                .as_ref()
                .is_none_or(|o| entry.org_id.as_ref() == Some(o))
                && args
                    .software
                    .as_ref()
                    .is_none_or(|s| entry.software_id.as_ref() == Some(s));
            if wanted {
                let line = serde_json::to_string(entry).unwrap_or_default();
                writeln!(out, "{line}")
                    .and_then(|()| out.flush())
                    .map_err(|e| setup(format!("cannot write: {e}")))?;
            }
        }
        let kept = args.state.with_extension("tmp");
        std::fs::write(&kept, &note)
            .and_then(|()| std::fs::rename(&kept, &args.state))
            .map_err(|e| {
                setup(format!(
                    "cannot keep the checkpoint in {}: {e}",
                    args.state.display()
                ))
            })?;
        eprintln!(
            "ssa-verify: the log grew from {} to {} entries, consistently",
            older.size, newer.size
        );
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(args.interval.max(1)));
    }
}

#[derive(clap::Args)]
struct ChainArgs {
    /// The entity's identifier (its entity configuration is at /.well-known/openid-federation
    /// below it).
    #[arg(long, value_name = "URL")]
    entity: String,
    /// The trust anchor's entity identifier; it must be among the entity's authority_hints.
    #[arg(long, value_name = "URL")]
    trust_anchor: String,
    /// The trust anchor's keys (a JWKS file) to pin; without it, those its own entity
    /// configuration publishes.
    #[arg(long, value_name = "FILE")]
    anchor_jwks: Option<std::path::PathBuf>,
}

/// Validates the chain: the resolved metadata as JSON, or the error JSON and exit code 14.
fn chain(args: ChainArgs, settings: Settings) -> ExitCode {
    let http =
        match ssa_verifier::HttpClient::new(&settings.with_http_timeout(Duration::from_secs(10))) {
            Ok(http) => http,
            Err(e) => {
                eprintln!("ssa-verify: {e}");
                return ExitCode::from(1);
            }
        };
    let keys = match args.anchor_jwks.map(std::fs::read_to_string).transpose() {
        Ok(text) => match text.map(|t| KeySet::from_json(&t)).transpose() {
            Ok(keys) => keys,
            Err(e) => {
                eprintln!("ssa-verify: {e}");
                return ExitCode::from(1);
            }
        },
        Err(e) => {
            eprintln!("ssa-verify: cannot read the anchor's JWKS: {e}");
            return ExitCode::from(1);
        }
    };
    match ssa_verifier::federation::resolve_chain(
        &args.entity,
        &args.trust_anchor,
        keys.as_ref(),
        &http,
    ) {
        Ok(chain) => {
            let out = serde_json::json!({
                "entity_id": chain.entity_id,
                "trust_anchor": chain.trust_anchor,
                "expires_at": chain.expires_at,
                "metadata": chain.metadata,
            });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!(
                "{}",
                serde_json::json!({"error": error.code, "error_description": error.description})
            );
            ExitCode::from(14)
        }
    }
}

#[derive(clap::Args)]
struct EventsArgs {
    /// The directory's base URL or its /.well-known/ssa-directory URL.
    #[arg(long, value_name = "URL")]
    directory: String,
    /// Start after this cursor (a `cursor` printed earlier); without it, the oldest kept.
    #[arg(long, value_name = "CURSOR")]
    after: Option<String>,
    /// Keep following: wait for new events (long-polling) until interrupted.
    #[arg(long)]
    follow: bool,
}

/// Prints events as JSON lines until the feed is empty (or forever with --follow).
fn events(args: EventsArgs, settings: Settings) -> Result<(), String> {
    use std::io::Write;
    let settings = settings.with_http_timeout(Duration::from_secs(35));
    let verifier = Verifier::discover(&args.directory, settings).map_err(|e| e.to_string())?;
    let wait = Duration::from_secs(if args.follow { 30 } else { 0 });
    let mut after = args.after;
    let mut out = std::io::stdout().lock();
    loop {
        let page = verifier
            .poll_events(after.as_deref(), wait)
            .map_err(|e| e.to_string())?;
        for (cursor, event) in &page.events {
            let line = serde_json::json!({
                "cursor": cursor,
                "jti": event.jti,
                "event_type": event.event_type,
                "txn": event.txn,
                "toe": event.occurred_at,
                "payload": event.payload,
            });
            writeln!(out, "{line}")
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write: {e}"))?;
        }
        if page.events.is_empty() && !args.follow {
            return Ok(());
        }
        after = Some(page.next_cursor);
    }
}

#[derive(clap::Args)]
struct SsaArgs {
    /// File with the software statement.
    file: PathBuf,
    /// The directory's base URL or its /.well-known/ssa-directory URL.
    #[arg(long, value_name = "URL", required_unless_present = "offline")]
    directory: Option<String>,
    /// Never go online: take the keys from --jwks and the CA from --ca.
    #[arg(long, requires_all = ["jwks", "issuer"])]
    offline: bool,
    /// The directory JWKS (offline).
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    /// The directory's issuer (offline).
    #[arg(long, value_name = "ISS")]
    issuer: Option<String>,
    /// The directory's CA chain, PEM (offline; needed for --certificate).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Also check a registration request (JSON metadata or a signed JWS).
    #[arg(long, value_name = "FILE")]
    registration: Option<PathBuf>,
    /// Also check a client certificate (PEM) and its binding to the statement.
    #[arg(long, value_name = "FILE")]
    certificate: Option<PathBuf>,
    /// Ask the directory whether the software is still active.
    #[arg(long)]
    check_status: bool,
    /// This authorization server's issuer: the aud of signed registration requests.
    #[arg(long, value_name = "URL")]
    audience: Option<String>,
    /// Refuse statements older than this many seconds.
    #[arg(long, value_name = "SECS")]
    max_age: Option<u64>,
    /// Tolerated clock difference in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    clock_skew: u64,
    /// Accepted algorithms (repeat; default PS256 and ES256).
    #[arg(long = "alg", value_name = "ALG")]
    algorithms: Vec<String>,
    /// Whether the statement (and --certificate) must be shown in the directory's
    /// transparency log: off, warn or require.
    #[arg(long, value_name = "MODE", default_value = "off")]
    transparency: String,
    /// The log's note verifier key to pin (needed --offline).
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// The statement's tlog-proof (else fetched from the directory).
    #[arg(long, value_name = "FILE")]
    proof: Option<PathBuf>,
}

fn read(path: &PathBuf) -> Result<String, String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

enum Failure {
    Refused(VerifyError),
    Setup(String),
}

impl From<VerifyError> for Failure {
    fn from(e: VerifyError) -> Self {
        Failure::Refused(e)
    }
}

fn run(args: SsaArgs, settings: Settings) -> Result<serde_json::Value, Failure> {
    let mut settings = settings
        .with_check_status(args.check_status)
        .with_max_age(args.max_age.map(Duration::from_secs))
        .with_clock_skew(Duration::from_secs(args.clock_skew));
    if let Some(audience) = &args.audience {
        settings = settings.with_audience(audience);
    }
    if !args.algorithms.is_empty() {
        let algorithms: Vec<Algorithm> = args
            .algorithms
            .iter()
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|e| Failure::Setup(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        settings = settings.with_algorithms(algorithms);
    }
    let mode: Transparency = args.transparency.parse().map_err(Failure::Setup)?;
    settings = settings.with_transparency(mode);
    if let Some(vkey) = &args.log_key {
        settings = settings.with_log_key(vkey);
    }
    let setup = |e: ssa_verifier::ConfigError| Failure::Setup(e.to_string());
    let verifier = if args.offline {
        let jwks = read(
            args.jwks
                .as_ref()
                .ok_or_else(|| Failure::Setup("--jwks is required".into()))?,
        )
        .map_err(Failure::Setup)?;
        let issuer = args.issuer.clone().unwrap_or_default();
        let mut trust = Trust::new(issuer, KeySet::from_json(&jwks).map_err(setup)?);
        if let Some(path) = &args.ca {
            let pem = read(path).map_err(Failure::Setup)?;
            trust = trust.with_ca_chain(CaChain::from_pem(&pem).map_err(setup)?);
        }
        Verifier::offline(trust, settings)
    } else {
        let url = args.directory.clone().unwrap_or_default();
        Verifier::discover(&url, settings).map_err(setup)?
    };
    let token = read(&args.file).map_err(Failure::Setup)?;
    let proof = match &args.proof {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| Failure::Setup(format!("cannot read {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let statement = verifier.verify_ssa_with_proof(token.trim(), proof.as_deref())?;
    let mut out = serde_json::json!({ "software_statement": statement });
    let mut metadata = None;
    if let Some(path) = &args.registration {
        let request = read(path).map_err(Failure::Setup)?;
        let registration = verifier.verify_registration(&request, Some(&statement))?;
        out["client_metadata"] = serde_json::Value::Object(registration.metadata.clone());
        metadata = Some(registration.metadata);
    }
    if let Some(path) = &args.certificate {
        let pem = read(path).map_err(Failure::Setup)?;
        let info = verifier.verify_client_certificate(&pem, &statement, metadata.as_ref())?;
        out["client_certificate"] = serde_json::to_value(info).unwrap_or_default();
    }
    Ok(out)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match base_settings(cli.ca_file.as_ref()) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("ssa-verify: {message}");
            return ExitCode::from(1);
        }
    };
    let args = match cli.command {
        Command::Ssa(args) => args,
        Command::Chain(args) => return chain(args, settings),
        Command::Log(LogCommand::Witness(args)) => {
            return match witness(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("ssa-verify: {message}");
                    ExitCode::from(1)
                }
            };
        }
        Command::Log(LogCommand::Monitor(args)) => {
            return match monitor(args, settings) {
                Ok(()) => ExitCode::SUCCESS,
                Err(MonitorFailure::Setup(message)) => {
                    eprintln!("ssa-verify: {message}");
                    ExitCode::from(1)
                }
                Err(MonitorFailure::Inconsistent(why)) => {
                    eprintln!("ssa-verify: the log is inconsistent: {why}");
                    ExitCode::from(3)
                }
            };
        }
        Command::Events(args) => {
            return match events(args, settings) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("ssa-verify: {message}");
                    ExitCode::from(1)
                }
            };
        }
    };
    match run(args, settings) {
        Ok(value) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(Failure::Refused(error)) => {
            println!("{}", error.to_json());
            ExitCode::from(error.code.exit_code() as u8)
        }
        Err(Failure::Setup(message)) => {
            eprintln!("ssa-verify: {message}");
            ExitCode::from(1)
        }
    }
}
