//! The `ssa-registrar` command line: its configuration file, the environment over it, and
//! `token create`.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ssa-registrar");

fn registrar(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir).env_remove("DATABASE_URL");
    for (key, _) in std::env::vars() {
        if key.starts_with("SSA_REGISTRAR_") {
            command.env_remove(key);
        }
    }
    command
}

fn stderr_of(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_configuration_file_is_read_and_the_environment_wins_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registrar.toml");
    std::fs::write(&file, "unknown_thing = 1\n").unwrap();
    let err = stderr_of(registrar(dir.path()).args(["--config", file.to_str().unwrap()]));
    assert!(err.contains("unknown_thing"), "{err}");
    assert!(err.contains("registrar.toml"), "the file is named: {err}");

    std::fs::write(&file, "profile = \"nonsense\"\ndirectories = []\n").unwrap();
    let err = stderr_of(registrar(dir.path()).env("SSA_REGISTRAR_CONFIG", &file));
    assert!(
        err.contains("nonsense"),
        "the file's profile is read: {err}"
    );
    let err = stderr_of(
        registrar(dir.path())
            .env("SSA_REGISTRAR_CONFIG", &file)
            .env("SSA_REGISTRAR_PROFILE", "fapi2"),
    );
    assert!(
        err.contains("name at least one trusted directory"),
        "the environment wins: {err}"
    );
    // Flags win over the environment.
    let err = stderr_of(
        registrar(dir.path())
            .env("SSA_REGISTRAR_CONFIG", &file)
            .env("SSA_REGISTRAR_PROFILE", "fapi2")
            .args(["serve", "--profile", "nonsense"]),
    );
    assert!(err.contains("nonsense"), "the flag wins: {err}");
    // A value of the wrong type in the file names its key and the file; one out of its
    // range is refused as the flag would be.
    std::fs::write(&file, "max_connections = \"many\"\n").unwrap();
    let err = stderr_of(registrar(dir.path()).env("SSA_REGISTRAR_CONFIG", &file));
    assert!(
        err.contains("max_connections") && err.contains("registrar.toml"),
        "{err}"
    );
    std::fs::write(
        &file,
        "max_connections = 1\ndirectories = [\"https://d.example\"]\n",
    )
    .unwrap();
    let err = stderr_of(registrar(dir.path()).env("SSA_REGISTRAR_CONFIG", &file));
    assert!(err.contains("max_connections = 1"), "{err}");
    // A variable with the registrar's prefix that names no setting is refused, by name.
    let err = stderr_of(registrar(dir.path()).env("SSA_REGISTRAR_LISTN", "127.0.0.1:1"));
    assert!(err.contains("SSA_REGISTRAR_LISTN"), "{err}");
}

#[test]
fn token_create_prints_one_token_and_stores_only_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registrar.toml");
    let db = dir.path().join("elsewhere/tokens.db");
    std::fs::write(
        &file,
        format!("database_url = \"sqlite://{}\"\n", db.display()),
    )
    .unwrap();
    let output = registrar(dir.path())
        .args([
            "--config",
            file.to_str().unwrap(),
            "token",
            "create",
            "--single-use",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let token = token.trim();
    assert!(
        token.starts_with("ssar_") && !token.contains('\n'),
        "{token}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&db).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let bytes = std::fs::read(&db).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(token), "the token itself is not stored");
}

#[test]
fn help_never_shows_a_secret_from_the_environment_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registrar.toml");
    std::fs::write(
        &file,
        "status_token = \"FILE-TOKEN-SECRET\"\ncallout_url = \"https://rules:FILE-CALLOUT-SECRET@bank.example/rules\"\n",
    )
    .unwrap();
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["token", "create", "--help"],
    ] {
        let output = registrar(dir.path())
            .args(args)
            .env(
                "DATABASE_URL",
                "postgres://user:DB-SECRET@db.example/registrar",
            )
            .env("SSA_REGISTRAR_STATUS_TOKEN", "ENV-TOKEN-SECRET")
            .env(
                "SSA_REGISTRAR_CALLOUT_URL",
                "https://rules:ENV-CALLOUT-SECRET@bank.example/rules",
            )
            .env("SSA_REGISTRAR_CONFIG", &file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert!(text.contains("Usage"), "{args:?}: {text}");
        assert!(!text.contains("SECRET"), "{args:?} shows a secret:\n{text}");
    }
    // Settings without secrets still show where their value comes from.
    let output = registrar(dir.path())
        .args(["serve", "--help"])
        .env("SSA_REGISTRAR_LISTEN", "127.0.0.1:9999")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("127.0.0.1:9999"));
}
