//! Portal sessions: the SHA-256 of each session's secret, its account and its expiry.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{passkeys, sessions, totp_factors, users};
use super::users::UserRow;
use crate::model::account::User;
use crate::model::{Timestamp, UserId};

/// Records a session; `awaiting_second_factor` for one that passed the password of an
/// account with a second factor and reaches nothing until that factor.
pub fn insert(
    conn: &mut DbConnection,
    id_hash: &str,
    user_id: UserId,
    expires_at: Timestamp,
    awaiting_second_factor: bool,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(id_hash),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(at),
            sessions::expires_at.eq(expires_at),
            sessions::awaiting_second_factor.eq(awaiting_second_factor),
        ))
        .execute(conn)
        .map(drop)
}

/// The account of a live session: not ended, not expired, and not disabled; signed in
/// (`awaiting_second_factor` false) or half-way (true).
pub fn resolve(
    conn: &mut DbConnection,
    id_hash: &str,
    awaiting_second_factor: bool,
    at: Timestamp,
) -> QueryResult<Option<User>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::id_hash.eq(id_hash))
        .filter(sessions::expires_at.gt(at))
        .filter(sessions::awaiting_second_factor.eq(awaiting_second_factor))
        .filter(users::disabled_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(UserRow::into_user)
        .transpose()
}

/// Whether the account has a second factor (a confirmed authenticator app or a passkey).
pub fn has_second_factor(conn: &mut DbConnection, user_id: UserId) -> QueryResult<bool> {
    let app: bool = diesel::select(diesel::dsl::exists(
        totp_factors::table
            .filter(totp_factors::user_id.eq(user_id))
            .filter(totp_factors::confirmed_at.is_not_null()),
    ))
    .get_result(conn)?;
    if app {
        return Ok(true);
    }
    diesel::select(diesel::dsl::exists(
        passkeys::table.filter(passkeys::user_id.eq(user_id)),
    ))
    .get_result(conn)
}

/// When a session last showed the account's second factor (`None` inside: never).
pub fn second_factor_at(
    conn: &mut DbConnection,
    id_hash: &str,
) -> QueryResult<Option<Option<Timestamp>>> {
    sessions::table
        .filter(sessions::id_hash.eq(id_hash))
        .select(sessions::second_factor_at)
        .first(conn)
        .optional()
}

/// A signed-in session shows the account's second factor again (step-up).
pub fn renew_second_factor(
    conn: &mut DbConnection,
    id_hash: &str,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::update(
        sessions::table
            .filter(sessions::id_hash.eq(id_hash))
            .filter(sessions::awaiting_second_factor.eq(false)),
    )
    .set(sessions::second_factor_at.eq(at))
    .execute(conn)
    .map(drop)
}

/// A half-way session passes its second factor; false when it was not awaiting one.
pub fn pass_second_factor(
    conn: &mut DbConnection,
    id_hash: &str,
    at: Timestamp,
) -> QueryResult<bool> {
    diesel::update(
        sessions::table
            .filter(sessions::id_hash.eq(id_hash))
            .filter(sessions::awaiting_second_factor.eq(true)),
    )
    .set((
        sessions::awaiting_second_factor.eq(false),
        sessions::second_factor_at.eq(at),
    ))
    .execute(conn)
    .map(|n| n == 1)
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
