//! Portal sessions, kept on the server so that they can end there: at logout, when they
//! expire, and all at once for an account whose password changes or that an operator
//! disables. The encrypted session cookie carries a random secret; the database keeps only
//! its SHA-256, with the account and the expiry. Every instance on one database agrees.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::DbConnection;
use crate::db::schema::{sessions, users};

use super::now;
use super::users::User;

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Starts a session for `user_id` that ends after `ttl`; returns its secret, for the cookie.
pub fn start(conn: &mut DbConnection, user_id: &str, ttl: time::Duration) -> QueryResult<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let at = now();
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(hash(&secret)),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(at),
            sessions::expires_at.eq(at + ttl),
        ))
        .execute(conn)?;
    Ok(secret)
}

/// The account of a live session: not ended, not expired, and not disabled.
pub fn resolve(conn: &mut DbConnection, secret: &str) -> QueryResult<Option<User>> {
    if secret.len() > 64 {
        return Ok(None);
    }
    sessions::table
        .inner_join(users::table)
        .filter(sessions::id_hash.eq(hash(secret)))
        .filter(sessions::expires_at.gt(now()))
        .filter(users::disabled_at.is_null())
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Ends one session (logout).
pub fn end(conn: &mut DbConnection, secret: &str) -> QueryResult<()> {
    diesel::delete(sessions::table.filter(sessions::id_hash.eq(hash(secret))))
        .execute(conn)
        .map(drop)
}

/// Ends every session of an account; returns how many there were.
pub fn end_all(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

/// Forgets expired sessions; returns how many.
pub fn sweep(conn: &mut DbConnection) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::expires_at.le(now()))).execute(conn)
}
