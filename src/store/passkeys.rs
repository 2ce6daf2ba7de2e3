//! Passkeys and security keys (WebAuthn credentials, as webauthn-rs serialises them), and the
//! ceremonies under way between the options a browser gets and its answer.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{passkeys, webauthn_ceremonies};
use crate::model::{Timestamp, UserId};

/// A passkey or security key of an account.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = passkeys)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: UserId,
    pub name: String,
    /// The credential's id (base64url), unique across accounts.
    pub credential_id: String,
    /// The credential (public key, counter) as webauthn-rs serialises it: nothing secret.
    pub credential: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Adding a passkey to the account.
    Register,
    /// Showing one of the account's passkeys (a log-in's second step, a step-up).
    Authenticate,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::Authenticate => "authenticate",
        }
    }
}

/// A ceremony's state, kept between its two requests.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webauthn_ceremonies)]
pub struct Ceremony {
    pub id: String,
    pub user_id: UserId,
    /// The name a passkey being registered gets.
    pub name: Option<String>,
    /// webauthn-rs's state of the ceremony (JSON).
    pub state: String,
}

/// Records a passkey; false when its credential is registered already (to any account).
pub fn insert(conn: &mut DbConnection, row: &PasskeyRow) -> QueryResult<bool> {
    let taken: bool = diesel::select(diesel::dsl::exists(
        passkeys::table.filter(passkeys::credential_id.eq(&row.credential_id)),
    ))
    .get_result(conn)?;
    if taken {
        return Ok(false);
    }
    diesel::insert_into(passkeys::table)
        .values(row)
        .execute(conn)
        .map(|n| n == 1)
}

/// The account's passkeys, oldest first.
pub fn of_user(conn: &mut DbConnection, user: UserId) -> QueryResult<Vec<PasskeyRow>> {
    passkeys::table
        .filter(passkeys::user_id.eq(user))
        .select(PasskeyRow::as_select())
        .order((passkeys::created_at.asc(), passkeys::id.asc()))
        .load(conn)
}

/// One of the account's passkeys.
pub fn find(conn: &mut DbConnection, user: UserId, id: &str) -> QueryResult<Option<PasskeyRow>> {
    passkeys::table
        .filter(passkeys::user_id.eq(user))
        .filter(passkeys::id.eq(id))
        .select(PasskeyRow::as_select())
        .first(conn)
        .optional()
}

/// Stores a passkey's credential after a use (its counter moved) and when it was used.
pub fn used(conn: &mut DbConnection, id: &str, credential: &str, at: Timestamp) -> QueryResult<()> {
    diesel::update(passkeys::table.find(id))
        .set((
            passkeys::credential.eq(credential),
            passkeys::last_used_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// Removes one of the account's passkeys; false when it has no such passkey.
pub fn delete(conn: &mut DbConnection, user: UserId, id: &str) -> QueryResult<bool> {
    diesel::delete(
        passkeys::table
            .filter(passkeys::user_id.eq(user))
            .filter(passkeys::id.eq(id)),
    )
    .execute(conn)
    .map(|n| n == 1)
}

/// Removes every passkey of the account and its ceremonies; returns how many passkeys went.
pub fn delete_all(conn: &mut DbConnection, user: UserId) -> QueryResult<usize> {
    diesel::delete(webauthn_ceremonies::table.filter(webauthn_ceremonies::user_id.eq(user)))
        .execute(conn)?;
    diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user))).execute(conn)
}

/// Records a ceremony's state until `expires_at`, dropping expired ones of every account.
pub fn begin(
    conn: &mut DbConnection,
    ceremony: &Ceremony,
    purpose: Purpose,
    now: Timestamp,
    expires_at: Timestamp,
) -> QueryResult<()> {
    diesel::delete(webauthn_ceremonies::table.filter(webauthn_ceremonies::expires_at.lt(now)))
        .execute(conn)?;
    diesel::insert_into(webauthn_ceremonies::table)
        .values((
            webauthn_ceremonies::id.eq(&ceremony.id),
            webauthn_ceremonies::user_id.eq(ceremony.user_id),
            webauthn_ceremonies::purpose.eq(purpose.as_str()),
            webauthn_ceremonies::name.eq(&ceremony.name),
            webauthn_ceremonies::state.eq(&ceremony.state),
            webauthn_ceremonies::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(drop)
}

/// Takes the account's ceremony `id` for `purpose`, unexpired: it is gone afterwards, so a
/// ceremony completes once even when two requests race for it.
pub fn take(
    conn: &mut DbConnection,
    user: UserId,
    id: &str,
    purpose: Purpose,
    now: Timestamp,
) -> QueryResult<Option<Ceremony>> {
    let mine = || {
        webauthn_ceremonies::table
            .filter(webauthn_ceremonies::id.eq(id))
            .filter(webauthn_ceremonies::user_id.eq(user))
            .filter(webauthn_ceremonies::purpose.eq(purpose.as_str()))
    };
    let Some((ceremony, expires_at)) = mine()
        .select((Ceremony::as_select(), webauthn_ceremonies::expires_at))
        .first::<(Ceremony, Timestamp)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let deleted = diesel::delete(mine()).execute(conn)?;
    Ok((deleted == 1 && expires_at >= now).then_some(ceremony))
}
