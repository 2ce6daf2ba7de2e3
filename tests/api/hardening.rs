//! Defects an outside probe found, each through the real server: files with secrets that
//! others could read, key files left half-written, logs that kept secrets, bodies that were
//! never bounded in size or time, headers built from user input, and wrong methods.

use std::os::unix::fs::PermissionsExt;

use crate::helpers::spawn_app_with;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_embedded_database_is_readable_by_its_owner_only() {
    // The embedded default (no database URL), whatever backend the other tests use.
    let app = spawn_app_with(|c| c.database_url = None).await;
    let operator = app.user("op@directory.example", true).await;
    // Some writes, so that the WAL and its index exist.
    app.apply(&operator, &["AISP"]).await;
    let data = app.dir.path().join("data");
    assert_eq!(mode(&data), 0o700, "the data folder");
    for file in ["directory.db", "directory.db-wal", "directory.db-shm"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
}
