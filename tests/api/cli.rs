//! The command line as an operator meets it: start-up errors are one clear line and a
//! non-zero exit; SIGTERM stops the server cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ssa-directory");

fn directory(dir: &std::path::Path) -> Command {
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
    let mut child = directory(dir.path())
        .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("the server logs its address").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).expect("JSON log lines");
        if event["message"] == "directory listening" {
            break event["address"].as_str().unwrap().to_owned();
        }
    };
    let body = reqwest::blocking_get(&format!("http://{address}/readyz"));
    assert_eq!(body, 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("directory stopped")),
        "{rest:?}"
    );
}

mod reqwest {
    /// A tiny blocking GET over a raw socket, so this test needs no async runtime.
    pub fn blocking_get(url: &str) -> u16 {
        use std::io::{Read, Write};
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest.split_once('/').unwrap();
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response[9..12].parse().unwrap()
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
