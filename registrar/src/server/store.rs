//! The stateful store: registered clients, the statements they used (each once) and initial
//! access tokens, on SQLite (the default, a file made 0600 in a 0700 folder) or PostgreSQL.
//! Secrets are kept as SHA-256 hashes only.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use sha2::{Digest, Sha256};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

diesel::table! {
    clients (client_id) {
        client_id -> Text,
        software_id -> Nullable<Text>,
        org_id -> Nullable<Text>,
        issuer -> Nullable<Text>,
        statement -> Nullable<Text>,
        metadata -> Text,
        secret_hash -> Nullable<Text>,
        access_token_hash -> Text,
        issued_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
        disabled_at -> Nullable<BigInt>,
        disabled_reason -> Nullable<Text>,
    }
}

diesel::table! {
    client_changes (id) {
        id -> BigInt,
        client_id -> Text,
        status -> Text,
        reason -> Nullable<Text>,
        at -> BigInt,
        event -> Text,
    }
}

diesel::table! {
    directory_cursors (issuer) {
        issuer -> Text,
        cursor -> Text,
    }
}

diesel::table! {
    request_object_uses (client_id, jti) {
        client_id -> Text,
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    statement_uses (issuer, jti) {
        issuer -> Text,
        jti -> Text,
        client_id -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    initial_tokens (token_hash) {
        token_hash -> Text,
        single_use -> Bool,
        expires_at -> Nullable<BigInt>,
        used_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    stopped_subjects (issuer, subject) {
        issuer -> Text,
        subject -> Text,
        reason -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    subject_changes (id) {
        id -> BigInt,
        issuer -> Text,
        subject -> Text,
        status -> Text,
        reason -> Nullable<Text>,
        at -> BigInt,
    }
}

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum Db {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Opens connections to the database a URL names (`postgres://…` or `sqlite://PATH`).
pub struct Manager {
    url: String,
    sqlite: bool,
}

impl ManageConnection for Manager {
    type Connection = Db;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Db, Self::Error> {
        if self.sqlite {
            let mut conn = diesel::SqliteConnection::establish(&self.url)
                .map_err(diesel::r2d2::Error::ConnectionError)?;
            conn.batch_execute(
                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
            Ok(Db::Sqlite(conn))
        } else {
            diesel::PgConnection::establish(&self.url)
                .map(Db::Postgresql)
                .map_err(diesel::r2d2::Error::ConnectionError)
        }
    }

    fn is_valid(&self, conn: &mut Db) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, _: &mut Db) -> bool {
        false
    }
}

/// The connection pool.
pub type Pool = r2d2::Pool<Manager>;

/// A connection taken from the pool.
pub type Pooled = r2d2::PooledConnection<Manager>;

/// Opens the database at `url` and applies the migrations. An SQLite file is created 0600
/// in a 0700 folder first (it holds token hashes and the registered clients).
pub fn open(url: &str) -> anyhow::Result<Pool> {
    let (sqlite, target) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (false, url.to_owned())
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        prepare_file(Path::new(path))?;
        (true, path.to_owned())
    } else {
        anyhow::bail!("unsupported database URL: use postgres://… or sqlite://PATH");
    };
    // libpq may initialise OpenSSL with an exit-time clean-up that races other threads;
    // rust-openssl's initialisation asks for none, and the first one wins (as in the
    // directory).
    openssl::init();
    // An SQLite connection cannot break: testing it with a query at every check-out would
    // only cost a round through SQLite per request.
    let pool = r2d2::Pool::builder()
        .max_size(8)
        .test_on_check_out(!sqlite)
        .build(Manager {
            url: target,
            sqlite,
        })?;
    let mut conn = pool.get()?;
    let migrations = if sqlite { SQLITE } else { POSTGRES };
    conn.run_pending_migrations(migrations)
        .map_err(|e| anyhow::anyhow!("cannot apply migrations: {e}"))?;
    Ok(pool)
}

fn prepare_file(file: &Path) -> anyhow::Result<()> {
    if let Some(parent) = file.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::metadata(file)?;
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// SQLite writers of this process queue here rather than in SQLite's busy handler, which
/// sleeps.
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` in a write transaction: `BEGIN IMMEDIATE` on SQLite (a transaction that reads
/// then writes would otherwise fail with "database is locked" when another writer started
/// first), an ordinary transaction on PostgreSQL. A call inside another (a savepoint) takes
/// no second lock: it already holds the process's writer lock.
///
/// This is the directory's `write_transaction` without its change-event staging; the
/// registrar keeps its own copy because it is deployed by banks without the directory, and
/// its store (pool, pragmas, migrations) is a few dozen lines, not worth a shared crate
/// that would tie the two release cycles together.
pub fn write<T>(conn: &mut Db, f: impl FnOnce(&mut Db) -> anyhow::Result<T>) -> anyhow::Result<T> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let Db::Sqlite(inner) = conn else {
        return conn.transaction(f);
    };
    let nested = matches!(
        AnsiTransactionManager::transaction_manager_status_mut(inner).transaction_depth(),
        Ok(Some(_))
    );
    if nested {
        return conn.transaction(f);
    }
    let _writer = SQLITE_WRITER.lock().unwrap_or_else(|p| p.into_inner());
    AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
    let outcome = f(conn);
    match (outcome, conn) {
        (Ok(value), Db::Sqlite(inner)) => {
            AnsiTransactionManager::commit_transaction(inner)?;
            Ok(value)
        }
        (Err(error), Db::Sqlite(inner)) => {
            AnsiTransactionManager::rollback_transaction(inner)?;
            Err(error)
        }
        // The backend of a connection never changes.
        (outcome, Db::Postgresql(_)) => outcome,
    }
}

/// The SHA-256 of a secret, hex.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new random secret of 32 bytes, URL-safe.
pub fn secret(prefix: &str) -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// A stored client.
#[derive(Queryable, Selectable, Insertable, Debug, Clone)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub client_id: String,
    pub software_id: Option<String>,
    pub org_id: Option<String>,
    pub issuer: Option<String>,
    pub statement: Option<String>,
    pub metadata: String,
    pub secret_hash: Option<String>,
    pub access_token_hash: String,
    pub issued_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
}

/// The live client whose registration access token is `token`.
pub fn client_by_token(
    conn: &mut Db,
    client_id: &str,
    token: &str,
) -> QueryResult<Option<ClientRow>> {
    clients::table
        .filter(clients::client_id.eq(client_id))
        .filter(clients::access_token_hash.eq(hash(token)))
        .filter(clients::deleted_at.is_null())
        .select(ClientRow::as_select())
        .first(conn)
        .optional()
}

/// The client of this id, live or deleted.
pub fn client(conn: &mut Db, client_id: &str) -> QueryResult<Option<ClientRow>> {
    clients::table
        .filter(clients::client_id.eq(client_id))
        .select(ClientRow::as_select())
        .first(conn)
        .optional()
}

/// The live client of a software (shared client ids).
pub fn client_of_software(conn: &mut Db, software_id: &str) -> QueryResult<Option<ClientRow>> {
    clients::table
        .filter(clients::software_id.eq(software_id))
        .filter(clients::deleted_at.is_null())
        .select(ClientRow::as_select())
        .first(conn)
        .optional()
}

/// Stores a client, replacing the row of the same id.
pub fn save(conn: &mut Db, row: &ClientRow) -> QueryResult<()> {
    diesel::delete(clients::table.filter(clients::client_id.eq(&row.client_id))).execute(conn)?;
    diesel::insert_into(clients::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Marks a client deleted (RFC 7592 delete: it may no longer be used).
pub fn delete(conn: &mut Db, client_id: &str, at: i64) -> QueryResult<()> {
    diesel::update(clients::table.filter(clients::client_id.eq(client_id)))
        .set(clients::deleted_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// Records a statement's use by `client_id`; false when another client used it already.
pub fn use_statement(
    conn: &mut Db,
    issuer: &str,
    jti: &str,
    client_id: &str,
    expires_at: i64,
) -> QueryResult<bool> {
    let existing: Option<String> = statement_uses::table
        .filter(statement_uses::issuer.eq(issuer))
        .filter(statement_uses::jti.eq(jti))
        .select(statement_uses::client_id)
        .first(conn)
        .optional()?;
    match existing {
        Some(owner) => Ok(owner == client_id),
        None => {
            diesel::insert_into(statement_uses::table)
                .values((
                    statement_uses::issuer.eq(issuer),
                    statement_uses::jti.eq(jti),
                    statement_uses::client_id.eq(client_id),
                    statement_uses::expires_at.eq(expires_at),
                ))
                .execute(conn)?;
            Ok(true)
        }
    }
}

/// Records a request object of `client_id` by its `jti` until `expires_at`; false when it was
/// seen before (a replay). Forgets request objects that expired before `now`. Call it in a
/// write transaction.
pub fn use_request_object(
    conn: &mut Db,
    client_id: &str,
    jti: &str,
    expires_at: i64,
    now: i64,
) -> QueryResult<bool> {
    diesel::delete(request_object_uses::table.filter(request_object_uses::expires_at.lt(now)))
        .execute(conn)?;
    // In a savepoint: a concurrent replay that inserted first makes this insert a unique
    // violation, which (on PostgreSQL) must not abort the caller's transaction.
    let inserted = conn.transaction(|tx| {
        diesel::insert_into(request_object_uses::table)
            .values((
                request_object_uses::client_id.eq(client_id),
                request_object_uses::jti.eq(jti),
                request_object_uses::expires_at.eq(expires_at),
            ))
            .execute(tx)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Creates an initial access token; the token (shown once).
pub fn create_initial_token(
    conn: &mut Db,
    single_use: bool,
    expires_at: Option<i64>,
    now: i64,
) -> QueryResult<String> {
    let token = secret("ssar_");
    diesel::insert_into(initial_tokens::table)
        .values((
            initial_tokens::token_hash.eq(hash(&token)),
            initial_tokens::single_use.eq(single_use),
            initial_tokens::expires_at.eq(expires_at),
            initial_tokens::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(token)
}

/// Whether the initial access token with this hash is current (not spent, not expired), and
/// then whether it is single-use.
fn current_token(conn: &mut Db, hash: &str, now: i64) -> QueryResult<Option<bool>> {
    let found: Option<(bool, Option<i64>, Option<i64>)> = initial_tokens::table
        .filter(initial_tokens::token_hash.eq(hash))
        .select((
            initial_tokens::single_use,
            initial_tokens::expires_at,
            initial_tokens::used_at,
        ))
        .first(conn)
        .optional()?;
    Ok(found
        .filter(|(single_use, expires_at, used_at)| {
            !(expires_at.is_some_and(|e| e <= now) || (*single_use && used_at.is_some()))
        })
        .map(|(single_use, ..)| single_use))
}

/// Whether `token` is a current initial access token (not spent, not expired).
pub fn initial_token_valid(conn: &mut Db, token: &str, now: i64) -> QueryResult<bool> {
    Ok(current_token(conn, &hash(token), now)?.is_some())
}

/// Whether `token` is a current initial access token; a single-use one is spent. Call in
/// the registration's transaction.
pub fn spend_initial_token(conn: &mut Db, token: &str, now: i64) -> QueryResult<bool> {
    let hash = hash(token);
    match current_token(conn, &hash, now)? {
        None => Ok(false),
        Some(false) => Ok(true),
        Some(true) => {
            let spent = diesel::update(
                initial_tokens::table
                    .filter(initial_tokens::token_hash.eq(&hash))
                    .filter(initial_tokens::used_at.is_null()),
            )
            .set(initial_tokens::used_at.eq(now))
            .execute(conn)?;
            Ok(spent == 1)
        }
    }
}

/// Where the registrar stands in a directory's feed.
pub fn cursor(conn: &mut Db, issuer: &str) -> QueryResult<Option<String>> {
    directory_cursors::table
        .filter(directory_cursors::issuer.eq(issuer))
        .select(directory_cursors::cursor)
        .first(conn)
        .optional()
}

/// Records where the registrar stands in a directory's feed.
pub fn set_cursor(conn: &mut Db, issuer: &str, cursor: &str) -> QueryResult<()> {
    diesel::delete(directory_cursors::table.filter(directory_cursors::issuer.eq(issuer)))
        .execute(conn)?;
    diesel::insert_into(directory_cursors::table)
        .values((
            directory_cursors::issuer.eq(issuer),
            directory_cursors::cursor.eq(cursor),
        ))
        .execute(conn)?;
    Ok(())
}

/// Which clients a directory's change concerns.
#[derive(Debug, Clone, Copy)]
pub enum Concerned<'a> {
    Software(&'a str),
    Organisation(&'a str),
    Statement(&'a str),
}

impl Concerned<'_> {
    /// Its key among what the feeds stopped: `software:ID`, `organisation:ID` or
    /// `statement:JTI`.
    pub fn key(self) -> String {
        match self {
            Concerned::Software(id) => format!("software:{id}"),
            Concerned::Organisation(id) => format!("organisation:{id}"),
            Concerned::Statement(jti) => format!("statement:{jti}"),
        }
    }
}

/// Disables (with `reason`) or re-enables (`None`) the live clients a change concerns, of
/// the directory `issuer`, and records each client whose status changed in
/// `client_changes`; the number changed. Call in a write transaction.
pub fn set_disabled(
    conn: &mut Db,
    issuer: &str,
    concerned: Concerned<'_>,
    reason: Option<&str>,
    at: i64,
) -> QueryResult<usize> {
    let ids: Vec<String> = match concerned {
        Concerned::Software(id) => clients::table
            .filter(clients::issuer.eq(issuer))
            .filter(clients::software_id.eq(id))
            .select(clients::client_id)
            .load(conn)?,
        Concerned::Organisation(id) => clients::table
            .filter(clients::issuer.eq(issuer))
            .filter(clients::org_id.eq(id))
            .select(clients::client_id)
            .load(conn)?,
        Concerned::Statement(jti) => statement_uses::table
            .filter(statement_uses::issuer.eq(issuer))
            .filter(statement_uses::jti.eq(jti))
            .select(statement_uses::client_id)
            .load(conn)?,
    };
    let live = clients::table
        .filter(clients::client_id.eq_any(ids))
        .filter(clients::deleted_at.is_null());
    let changed: Vec<String> = match reason {
        Some(_) => live
            .filter(clients::disabled_at.is_null())
            .select(clients::client_id)
            .load(conn)?,
        // A statement revoked stays revoked whatever happens to its product.
        None => live
            .filter(clients::disabled_at.is_not_null())
            .filter(clients::disabled_reason.not_like("statement%"))
            .select(clients::client_id)
            .load(conn)?,
    };
    let target = clients::table.filter(clients::client_id.eq_any(&changed));
    match reason {
        Some(reason) => diesel::update(target)
            .set((
                clients::disabled_at.eq(at),
                clients::disabled_reason.eq(reason),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                clients::disabled_at.eq(None::<i64>),
                clients::disabled_reason.eq(None::<String>),
            ))
            .execute(conn)?,
    };
    for client_id in &changed {
        record_change(conn, client_id, "status", reason, at)?;
    }
    Ok(changed.len())
}

/// Takes, on PostgreSQL, the transaction-long lock that orders the writers of the client
/// feeds (`client_changes`, `subject_changes`): an id is assigned at insert but seen at
/// commit, so without it a poller could pass an id whose transaction commits later, and never
/// see that change. SQLite has one writer at a time already.
fn feed_writer(conn: &mut Db) -> QueryResult<()> {
    if let Db::Postgresql(pg) = conn {
        // The key is arbitrary; the registrar takes no other advisory lock.
        diesel::sql_query("SELECT pg_advisory_xact_lock(7591)").execute(pg)?;
    }
    Ok(())
}

/// Records a change of a client in `client_changes`: `event` is `status` (with `reason` when
/// disabled), `updated` or `deleted`; the status recorded is the client's after it.
pub fn record_change(
    conn: &mut Db,
    client_id: &str,
    event: &str,
    reason: Option<&str>,
    at: i64,
) -> QueryResult<()> {
    let status = if reason.is_some() || event == "deleted" {
        "disabled"
    } else {
        "active"
    };
    feed_writer(conn)?;
    diesel::insert_into(client_changes::table)
        .values((
            client_changes::client_id.eq(client_id),
            client_changes::status.eq(status),
            client_changes::reason.eq(reason),
            client_changes::at.eq(at),
            client_changes::event.eq(event),
        ))
        .execute(conn)?;
    Ok(())
}

/// A change of a client: id, client id, status, reason, when, and what happened.
pub type Change = (i64, String, String, Option<String>, i64, String);

/// Up to `limit` client changes after `after`, oldest first.
pub fn changes_after(conn: &mut Db, after: i64, limit: i64) -> QueryResult<Vec<Change>> {
    client_changes::table
        .filter(client_changes::id.gt(after))
        .order(client_changes::id.asc())
        .limit(limit)
        .select((
            client_changes::id,
            client_changes::client_id,
            client_changes::status,
            client_changes::reason,
            client_changes::at,
            client_changes::event,
        ))
        .load(conn)
}

/// Records that the directory `issuer` stopped `subject` (`software:ID`, `organisation:ID`
/// or `statement:JTI`) for `reason`, or reinstated it (`None`), with an entry in
/// `subject_changes` when that changes anything; whether it did. Call in a write
/// transaction.
pub fn set_stopped(
    conn: &mut Db,
    issuer: &str,
    subject: &str,
    reason: Option<&str>,
    at: i64,
) -> QueryResult<bool> {
    let current: Option<String> = stopped_subjects::table
        .filter(stopped_subjects::issuer.eq(issuer))
        .filter(stopped_subjects::subject.eq(subject))
        .select(stopped_subjects::reason)
        .first(conn)
        .optional()?;
    if current.as_deref() == reason {
        return Ok(false);
    }
    diesel::delete(
        stopped_subjects::table
            .filter(stopped_subjects::issuer.eq(issuer))
            .filter(stopped_subjects::subject.eq(subject)),
    )
    .execute(conn)?;
    if let Some(reason) = reason {
        diesel::insert_into(stopped_subjects::table)
            .values((
                stopped_subjects::issuer.eq(issuer),
                stopped_subjects::subject.eq(subject),
                stopped_subjects::reason.eq(reason),
                stopped_subjects::at.eq(at),
            ))
            .execute(conn)?;
    }
    // A changed reason while stopped (suspended, then revoked) is a change too.
    feed_writer(conn)?;
    diesel::insert_into(subject_changes::table)
        .values((
            subject_changes::issuer.eq(issuer),
            subject_changes::subject.eq(subject),
            subject_changes::status.eq(if reason.is_some() {
                "disabled"
            } else {
                "active"
            }),
            subject_changes::reason.eq(reason),
            subject_changes::at.eq(at),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Everything the directories have stopped: issuer, subject, reason.
pub fn stopped(conn: &mut Db) -> QueryResult<Vec<(String, String, String)>> {
    stopped_subjects::table
        .select((
            stopped_subjects::issuer,
            stopped_subjects::subject,
            stopped_subjects::reason,
        ))
        .load(conn)
}

/// A change of what a directory stopped: id, issuer, subject, status, reason, when.
pub type SubjectChange = (i64, String, String, String, Option<String>, i64);

/// Up to `limit` changes of what the directories stopped after `after`, oldest first.
pub fn subject_changes_after(
    conn: &mut Db,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<SubjectChange>> {
    subject_changes::table
        .filter(subject_changes::id.gt(after))
        .order(subject_changes::id.asc())
        .limit(limit)
        .select((
            subject_changes::id,
            subject_changes::issuer,
            subject_changes::subject,
            subject_changes::status,
            subject_changes::reason,
            subject_changes::at,
        ))
        .load(conn)
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::{client_changes, open, record_change, write};

    #[test]
    fn a_write_inside_a_write_is_a_savepoint_and_takes_no_second_lock() {
        let dir = tempfile::tempdir().unwrap();
        let pool = open(&format!("sqlite://{}", dir.path().join("r.db").display())).unwrap();
        let mut conn = pool.get().unwrap();
        let count = |conn: &mut super::Db| -> i64 {
            client_changes::table.count().get_result(conn).unwrap()
        };
        write(&mut conn, |outer| {
            record_change(outer, "a", "updated", None, 1)?;
            // A nested write that fails rolls back alone; one that succeeds stays.
            let failed: anyhow::Result<()> = write(outer, |inner| {
                record_change(inner, "b", "updated", None, 2)?;
                anyhow::bail!("refused")
            });
            assert!(failed.is_err());
            write(outer, |inner| {
                Ok(record_change(inner, "c", "deleted", None, 3)?)
            })
        })
        .unwrap();
        assert_eq!(count(&mut conn), 2);
    }
}
