//! The command line as an operator meets it: start-up errors are one clear line and a
//! non-zero exit; SIGTERM stops the server cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ssa-directory");

pub(crate) fn directory(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("SSA_DIRECTORY_DATA_DIR", dir.join("data"))
        .env("SSA_DIRECTORY_KEYS_DIR", dir.join("keys"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SSA_DIRECTORY_") {
            command.env_remove(key);
        }
    }
    command
}

fn fails_with(command: &mut Command, expected: &str) {
    let output = command.stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
}

#[test]
fn help_explains_every_command() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for word in ["serve", "migrate", "--config", "--log-format"] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
}

#[test]
fn unknown_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    fails_with(directory(dir.path()).arg("--colour"), "--colour");
}

#[test]
fn a_missing_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    fails_with(
        directory(dir.path()).args(["--config", "nowhere.toml", "migrate"]),
        "nowhere.toml",
    );
}

#[test]
fn an_invalid_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), "listen = 8080\n").unwrap();
    fails_with(
        directory(dir.path()).args(["--config", "c.toml", "migrate"]),
        "listen",
    );
}

#[test]
fn a_wrong_database_url_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    fails_with(
        directory(dir.path()).env("DATABASE_URL", "mysql://root@localhost/x"),
        "unsupported database URL scheme",
    );
    fails_with(
        directory(dir.path()).env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none"),
        "cannot connect to the database",
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    fails_with(
        directory(dir.path()).env("SSA_DIRECTORY_LISTEN", &address),
        "cannot listen on",
    );
}

#[test]
fn migrate_creates_the_embedded_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = directory(dir.path()).arg("migrate").output().unwrap();
    assert!(output.status.success(), "{:?}", output);
    assert!(dir.path().join("data/directory.db").exists());
    let again = directory(dir.path()).arg("migrate").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "applied 0 migration(s)"
    );
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let server = LoggingServer::start(dir.path(), "info");
    assert_eq!(server.get("/readyz").0, 200);
    let started = Instant::now();
    let rest = server.stop();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped in time"
    );
    assert!(
        rest.iter().any(|l| l.contains("directory stopped")),
        "{rest:?}"
    );
}

/// The real server with JSON logs, killed if a test fails before it stops it.
pub(crate) struct LoggingServer {
    pub(crate) child: std::process::Child,
    pub(crate) address: String,
    lines: std::sync::mpsc::Receiver<String>,
}

impl LoggingServer {
    /// Starts it with `RUST_LOG` = `filter`; its log lines are read on a thread (a full pipe
    /// would block the server).
    fn start(dir: &std::path::Path, filter: &str) -> Self {
        Self::start_with(dir, filter, &[])
    }

    /// Like [`LoggingServer::start`], with more environment variables.
    pub(crate) fn start_with(dir: &std::path::Path, filter: &str, env: &[(&str, String)]) -> Self {
        let mut child = directory(dir)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", filter)
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            address: String::new(),
            lines,
        };
        server.address = loop {
            let line = server
                .lines
                .recv_timeout(Duration::from_secs(30))
                .expect("the server logs its address");
            let event: serde_json::Value = serde_json::from_str(&line).expect("JSON log lines");
            if event["message"] == "directory listening" {
                break event["address"].as_str().unwrap().to_owned();
            }
        };
        server
    }

    fn get(&self, path: &str) -> (u16, String) {
        reqwest::blocking_request(&format!("http://{}{path}", self.address), "")
    }

    /// Stops it with SIGTERM and checks that it exits with success; everything it logged.
    fn stop(mut self) -> Vec<String> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
        self.lines.iter().collect()
    }
}

impl Drop for LoggingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn query_strings_never_reach_the_logs_and_tokens_in_them_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = LoggingServer::start(dir.path(), "debug");
    let (status, body) = server.get("/api/v1/me?access_token=ssad_leaked-secret-one");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Authorization"), "{body}");
    let (status, _) = server.get("/api/v1/organisations?status=leaked-secret-two");
    assert_eq!(status, 401);
    let (status, _) = server.get("/pki/crl?leaked-secret-three");
    assert_eq!(status, 200);
    let all = server.stop().join("\n");
    assert!(
        all.contains("/api/v1/organisations"),
        "the requests are logged: {all}"
    );
    assert!(!all.contains("leaked-secret"), "{all}");
}

#[test]
fn anonymous_portal_visits_are_not_logged_as_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = LoggingServer::start(dir.path(), "info");
    for path in ["/dashboard", "/tokens", "/organisations/new"] {
        assert_eq!(server.get(path).0, 303, "{path}");
    }
    let errors: Vec<String> = server
        .stop()
        .into_iter()
        .filter(|l| l.contains("\"ERROR\"") || l.contains("\"WARN\""))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

mod reqwest {
    /// A blocking GET with extra header lines (each ending in CRLF); the status and the
    /// whole response.
    pub fn blocking_request(url: &str, headers: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest.split_once('/').unwrap();
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let response = String::from_utf8_lossy(&response).into_owned();
        (response[9..12].parse().unwrap(), response)
    }
}

#[test]
fn operators_and_tokens_are_created_from_the_command_line() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = directory(dir.path())
        .args([
            "user",
            "create",
            "--email",
            "Op@Directory.example",
            "--operator",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("created operator op@directory.example")
    );

    let mut again = directory(dir.path())
        .args([
            "user",
            "create",
            "--email",
            "op@directory.example",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    again
        .stdin
        .take()
        .unwrap()
        .write_all(b"another long password\n")
        .unwrap();
    let output = again.wait_with_output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));

    let token = directory(dir.path())
        .args(["token", "create", "--email", "op@directory.example"])
        .output()
        .unwrap();
    assert!(token.status.success(), "{token:?}");
    let secret = String::from_utf8(token.stdout).unwrap();
    assert!(
        secret.trim().starts_with("ssad_"),
        "the token alone on stdout: {secret}"
    );
    assert_eq!(secret.trim().lines().count(), 1);

    fails_with(
        directory(dir.path()).args(["token", "create", "--email", "nobody@directory.example"]),
        "no account for nobody@directory.example",
    );
    fails_with(
        directory(dir.path()).args(["user", "create", "--email", "x@y.example"]),
        "--password-stdin",
    );
}

#[test]
fn the_openapi_document_is_printed_as_served() {
    let output = Command::new(BIN).arg("openapi").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed, *crate::helpers::document());
}
