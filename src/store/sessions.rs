//! Portal sessions: the SHA-256 of each session's secret, its account and its expiry.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{sessions, users};
use super::users::UserRow;
use crate::model::account::User;
use crate::model::{Timestamp, UserId};

pub fn insert(
    conn: &mut DbConnection,
    id_hash: &str,
    user_id: UserId,
    expires_at: Timestamp,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(id_hash),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(at),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(drop)
}

/// The account of a live session: not ended, not expired, and not disabled.
pub fn resolve(conn: &mut DbConnection, id_hash: &str, at: Timestamp) -> QueryResult<Option<User>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::id_hash.eq(id_hash))
        .filter(sessions::expires_at.gt(at))
        .filter(users::disabled_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(UserRow::into_user)
        .transpose()
}

pub fn delete(conn: &mut DbConnection, id_hash: &str) -> QueryResult<()> {
    diesel::delete(sessions::table.filter(sessions::id_hash.eq(id_hash)))
        .execute(conn)
        .map(drop)
}

/// Ends every session of an account; returns how many there were.
pub fn delete_all(conn: &mut DbConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

/// Forgets expired sessions; returns how many.
pub fn sweep(conn: &mut DbConnection, at: Timestamp) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::expires_at.le(at))).execute(conn)
}
