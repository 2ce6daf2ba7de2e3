//! Storage: one diesel connection type over SQLite and PostgreSQL, the pool, embedded
//! migrations, write transactions, and one module of rows and queries per aggregate.
//!
//! The rule: every public store function returns diesel's `QueryResult`, and services turn
//! its error into the domain's with `?`. Rows hold the model's ids and states as their own
//! types (`columns` maps them to text on both backends), and queries bind them as they are;
//! a stored value that does not read back (an id, a state, a JSON document: corrupt data) is
//! a `DeserializationError`, never a panic or a user's error.

/// Runs one diesel expression on the backend's own connection, bound to `$c` in `$body`, for
/// whichever backend `conn` is (after vaultwarden's `db_run!`). Through `MultiConnection` a
/// statement is serialised and its SQL rebuilt on every call, and multi-row inserts are not
/// available; on the backend's own connection diesel keeps prepared statements and batches.
/// Where the backends need different SQL, write the `match` out instead. Defined before the
/// `mod` lines below so that every store module sees it.
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConnection::Postgresql($c) => $body,
            $crate::store::DbConnection::Sqlite($c) => $body,
        }
    };
}

pub mod audit;
pub mod certificates;
mod columns;
pub mod crls;
pub mod discovery;
pub mod events;
pub mod federation;
pub mod issuers;
pub mod keystore;
pub mod log;
pub mod mail;
pub mod mfa;
pub mod oauth;
pub mod organisations;
pub mod overview;
pub mod passkeys;
pub mod schema;
pub mod search;
pub mod sessions;
pub mod signing_keys;
pub mod software;
pub mod statements;
pub mod subscriptions;
pub mod users;

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::Secret;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend; queries written against it run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// The connection pool shared by every worker.
pub type DbPool = r2d2::Pool<ConnectionManager>;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "unsupported database URL scheme in {0:?}: use postgres://… for PostgreSQL or sqlite://PATH for SQLite"
    )]
    Scheme(String),
    #[error("cannot prepare the database file {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the database")]
    Connect(#[from] diesel::ConnectionError),
    #[error("cannot prepare the database connection")]
    Setup(#[from] diesel::result::Error),
    #[error("cannot apply migrations: {0}")]
    Migrate(String),
    #[error(
        "there is no database at {0}: this command reads an existing directory's database (start the directory or run `ssa-directory migrate` first, or set DATABASE_URL to the directory's database)"
    )]
    Missing(String),
    #[error(
        "the database at {0} needs migrations this command does not apply: run `ssa-directory migrate` (or start the directory) first"
    )]
    Outdated(String),
}

/// Opens connections to the backend chosen by the URL scheme, and rejects every other scheme
/// (diesel's derived `establish` would silently treat a mistyped URL as an SQLite file name).
#[derive(Clone)]
pub struct ConnectionManager {
    backend: Backend,
    url: Secret,
    /// SQLite: the server checkpoints the write-ahead log itself (see [`checkpoint`]).
    manual_checkpoints: bool,
}

impl ConnectionManager {
    pub fn new(url: &Secret) -> Result<Self, DbError> {
        let raw = url.expose();
        let (backend, url) = if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            (Backend::Postgres, raw.to_owned())
        } else if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() || path.contains(":memory:") {
                return Err(DbError::Scheme(redact(raw)));
            }
            (Backend::Sqlite, path.to_owned())
        } else {
            return Err(DbError::Scheme(redact(raw)));
        };
        Ok(Self {
            backend,
            url: Secret::new(url),
            manual_checkpoints: false,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opens a database that must already exist: an SQLite file is never created (a command
    /// run in the wrong folder, or without `DATABASE_URL`, says so instead of starting an
    /// empty directory), and a database with pending migrations is refused rather than
    /// changed. For commands that only read.
    pub fn open_existing(&self) -> Result<DbConnection, DbError> {
        if self.backend == Backend::Sqlite && !Path::new(self.url.expose()).is_file() {
            return Err(DbError::Missing(self.url.expose().to_owned()));
        }
        let mut conn = self.open()?;
        if pending_migrations(&mut conn)? {
            return Err(DbError::Outdated(self.described()));
        }
        Ok(conn)
    }

    /// The database as an error message may name it (a PostgreSQL URL without its password).
    fn described(&self) -> String {
        match self.backend {
            Backend::Sqlite => self.url.expose().to_owned(),
            Backend::Postgres => redact(self.url.expose()),
        }
    }

    /// Makes an SQLite file ready so that the default runs with no set-up: its folder is
    /// created with mode 0700, and the database file with mode 0600 before SQLite opens it
    /// (SQLite gives its `-wal` and `-shm` files the mode of the database file). The file
    /// holds password and token hashes, contact data and the audit log, so an existing file
    /// (or WAL) that others can read is narrowed to 0600, with a warning.
    pub fn prepare(&self) -> Result<(), DbError> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        let file = Path::new(self.url.expose());
        let data_dir = |source| DbError::DataDir {
            path: file.display().to_string(),
            source,
        };
        if let Some(parent) = file.parent()
            && !parent.as_os_str().is_empty()
            && !parent.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|source| DbError::DataDir {
                    path: parent.display().to_string(),
                    source,
                })?;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(data_dir(e)),
        }
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", file.display()));
            if let Ok(meta) = std::fs::metadata(&path)
                && meta.permissions().mode() & 0o077 != 0
            {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(data_dir)?;
                tracing::warn!(
                    file = %path.display(),
                    "the database file was readable by other users; its mode is now 0600"
                );
            }
        }
        Ok(())
    }

    pub fn open(&self) -> Result<DbConnection, DbError> {
        // libpq initialises OpenSSL when it connects, and a library initialised that way
        // registers a clean-up at process exit that frees OpenSSL's global state while other
        // threads may still use it (a crash at exit was seen in the PostgreSQL test run).
        // rust-openssl's initialisation asks for no such clean-up, and the first one wins.
        openssl::init();
        match self.backend {
            Backend::Postgres => Ok(DbConnection::Postgresql(diesel::PgConnection::establish(
                self.url.expose(),
            )?)),
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(self.url.expose())?;
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                )?;
                if self.manual_checkpoints {
                    conn.batch_execute("PRAGMA wal_autocheckpoint = 0;")?;
                }
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        self.open().map_err(|e| match e {
            DbError::Connect(c) => r2d2::Error::ConnectionError(c),
            DbError::Setup(q) => r2d2::Error::QueryError(q),
            other => r2d2::Error::QueryError(diesel::result::Error::QueryBuilderError(
                other.to_string().into(),
            )),
        })
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// Connects once (so that a wrong URL fails at start with its own message), applies pending
/// migrations, and builds the pool.
pub fn connect_and_migrate(url: &Secret, pool_size: u32) -> Result<DbPool, DbError> {
    let mut manager = ConnectionManager::new(url)?;
    manager.prepare()?;
    let mut conn = manager.open()?;
    migrate(&mut conn)?;
    drop(conn);
    manager.manual_checkpoints = true;
    let pool = r2d2::Pool::builder()
        .max_size(pool_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(10))
        .test_on_check_out(false)
        .build_unchecked(manager);
    Ok(pool)
}

/// Key of the PostgreSQL advisory lock that serialises migrations of instances starting together.
const MIGRATION_LOCK: i64 = 0x5353_4144_6d69_6772;

/// Applies every pending migration of the connection's backend; returns how many ran.
pub fn migrate(conn: &mut DbConnection) -> Result<usize, DbError> {
    let applied = match conn {
        DbConnection::Postgresql(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let applied = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            applied
        }
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    applied.map_err(|e| DbError::Migrate(e.to_string()))
}

/// Whether migrations are waiting to be applied (an empty database has them all waiting).
pub fn pending_migrations(conn: &mut DbConnection) -> Result<bool, DbError> {
    let pending = match conn {
        DbConnection::Postgresql(c) => c.pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
        DbConnection::Sqlite(c) => c.pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    pending
        .map(|n| n > 0)
        .map_err(|e| DbError::Migrate(e.to_string()))
}

/// Applies pending migrations in order up to and including the one named `last` (its
/// folder name, such as `2026-12-01-000001_hardening`); returns how many ran. For tests that
/// upgrade a database holding data, and for operators who stage an upgrade.
pub fn migrate_until(conn: &mut DbConnection, last: &str) -> Result<usize, DbError> {
    macro_rules! run_until {
        ($conn:expr, $source:expr) => {{
            let mut applied = 0;
            loop {
                let pending = $conn
                    .pending_migrations($source)
                    .map_err(|e| DbError::Migrate(e.to_string()))?;
                let Some(next) = pending.first() else {
                    break;
                };
                if next.name().to_string().as_str() > last {
                    break;
                }
                $conn
                    .run_migration(next.as_ref())
                    .map_err(|e| DbError::Migrate(e.to_string()))?;
                applied += 1;
            }
            applied
        }};
    }
    Ok(match conn {
        DbConnection::Postgresql(c) => run_until!(c, POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(c) => run_until!(c, SQLITE_MIGRATIONS),
    })
}

/// Copies SQLite's write-ahead log back into the database file as far as no reader still
/// needs it (a passive checkpoint); nothing on PostgreSQL. The server's connections leave
/// this to a task that calls it once a second instead of SQLite's automatic checkpoint, which
/// ran whenever a commit took the log past 1000 pages: under load several times a second,
/// on the statement recorder's thread, copying the same pages again each time.
pub fn checkpoint(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Postgresql(_) => Ok(()),
        DbConnection::Sqlite(c) => c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);"),
    }
}

/// Whether every embedded migration has been applied; an error when the database fails.
pub fn is_ready(conn: &mut DbConnection) -> Result<bool, String> {
    let pending = match conn {
        DbConnection::Postgresql(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
    };
    pending.map(|p| !p).map_err(|e| e.to_string())
}

/// Serialises this process's SQLite writers. SQLite admits one writer at a time; without this,
/// contending writers wait in SQLite's busy handler, which sleeps in steps of milliseconds
/// and leaves the CPU idle. Other processes on the same file still meet `busy_timeout`.
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` in a write transaction, and writes the change events it staged as its last step
/// (see [`events`]). On SQLite the transaction starts with `BEGIN IMMEDIATE` so that it holds
/// the write lock from the start: a deferred transaction that reads, then writes, fails with
/// SQLITE_BUSY when another connection wrote in between.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let stage = events::Stage::enter();
    let body = |tx: &mut DbConnection| {
        let outcome = f(tx).and_then(|value| {
            stage.flush(tx)?;
            Ok(value)
        });
        if outcome.is_err() {
            stage.discard();
        }
        outcome
    };
    let DbConnection::Sqlite(inner) = conn else {
        return conn.transaction(body);
    };
    // A nested call (a transaction inside a transaction) already holds the lock.
    let _writer =
        match AnsiTransactionManager::transaction_manager_status_mut(inner).transaction_depth() {
            Ok(Some(_)) => None,
            _ => Some(SQLITE_WRITER.lock().unwrap_or_else(|p| p.into_inner())),
        };
    AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
    let outcome = body(conn);
    match (outcome, conn) {
        (Ok(value), DbConnection::Sqlite(inner)) => {
            AnsiTransactionManager::commit_transaction(inner)?;
            Ok(value)
        }
        (Err(error), DbConnection::Sqlite(inner)) => {
            AnsiTransactionManager::rollback_transaction(inner)?;
            Err(error)
        }
        // The backend of a connection never changes, so this arm is never taken.
        (outcome, DbConnection::Postgresql(_)) => outcome,
    }
}

/// Database failures are unexpected, except a row that is not there.
impl From<diesel::result::Error> for crate::model::Error {
    fn from(error: diesel::result::Error) -> Self {
        match error {
            diesel::result::Error::NotFound => crate::model::Error::NotFound("resource"),
            other => {
                crate::model::Error::Unexpected(anyhow::Error::new(other).context("database query"))
            }
        }
    }
}

/// True when a statement failed on a unique index (a duplicate).
pub fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Parses a JSON column written by this directory; what does not parse is corrupt.
pub fn from_json<T: serde::de::DeserializeOwned>(column: &str, value: &str) -> QueryResult<T> {
    serde_json::from_str(value).map_err(|e| corrupt(column, e))
}

/// A stored value that does not read back: corrupt data, as diesel reports a column whose
/// value does not convert.
pub fn corrupt(column: &str, error: impl std::fmt::Display) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(format!("corrupt {column} column: {error}").into())
}

/// Writes a JSON column.
pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_schemes_are_accepted() {
        assert!(ConnectionManager::new(&Secret::new("mysql://u:p@h/db")).is_err());
        assert!(ConnectionManager::new(&Secret::new("./data/x.db")).is_err());
        assert!(ConnectionManager::new(&Secret::new("sqlite://:memory:")).is_err());
        let pg = ConnectionManager::new(&Secret::new("postgresql://u@h/db")).unwrap();
        assert_eq!(pg.backend(), Backend::Postgres);
        let lite = ConnectionManager::new(&Secret::new("sqlite://./data/x.db")).unwrap();
        assert_eq!(lite.backend(), Backend::Sqlite);
    }

    #[test]
    fn error_messages_hide_the_password() {
        let err = ConnectionManager::new(&Secret::new("mysql://user:hunter2@host/db"))
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn migrations_apply_to_a_fresh_sqlite_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = Secret::new(format!("sqlite://{}/t.db", dir.path().display()));
        let pool = connect_and_migrate(&url, 2).unwrap();
        let mut conn = pool.get().unwrap();
        assert_eq!(is_ready(&mut conn), Ok(true));
        assert_eq!(migrate(&mut conn).unwrap(), 0);
    }

    #[derive(diesel::QueryableByName)]
    struct Autocheckpoint {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        wal_autocheckpoint: i32,
    }

    fn autocheckpoint(conn: &mut DbConnection) -> i32 {
        diesel::sql_query("PRAGMA wal_autocheckpoint")
            .get_result::<Autocheckpoint>(conn)
            .unwrap()
            .wal_autocheckpoint
    }

    #[test]
    fn the_server_checkpoints_sqlite_itself_and_the_command_line_leaves_it_to_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = Secret::new(format!("sqlite://{}/t.db", dir.path().display()));
        let pool = connect_and_migrate(&url, 2).unwrap();
        let mut conn = pool.get().unwrap();
        assert_eq!(autocheckpoint(&mut conn), 0);
        let mut cli = ConnectionManager::new(&url).unwrap().open().unwrap();
        assert_eq!(autocheckpoint(&mut cli), 1000);

        // Without a checkpoint the log only grows; after one that copied everything, the
        // next commit writes it again from its start.
        let wal = dir.path().join("t.db-wal");
        let size = || std::fs::metadata(&wal).unwrap().len();
        let insert = "INSERT INTO t VALUES (hex(randomblob(20000)))";
        conn.batch_execute("CREATE TABLE t (v TEXT)").unwrap();
        conn.batch_execute(insert).unwrap();
        let first = size();
        conn.batch_execute(insert).unwrap();
        let grown = size();
        assert!(grown > first, "{grown} > {first}");
        checkpoint(&mut conn).unwrap();
        conn.batch_execute(insert).unwrap();
        assert_eq!(size(), grown);
    }
}
