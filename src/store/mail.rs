//! The mail outbox (messages as the exact bytes to send, with the lease that lets one
//! instance at a time deliver each) and the single-use tokens of links sent by mail.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{digests, email_tokens, mail_outbox, users};
use crate::model::{Timestamp, UserId};

/// A message in the outbox.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct Queued {
    pub id: String,
    /// What it is about (`password_reset`, `organisation.approved`, …).
    pub kind: String,
    pub recipient: String,
    /// The account it was written for, when there is one.
    pub user_id: Option<UserId>,
    /// The formatted message (RFC 5322), sent as it is.
    pub message: Vec<u8>,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub next_attempt_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// Writes a message into the outbox (in the caller's transaction).
pub fn enqueue(conn: &mut DbConnection, message: &Queued) -> QueryResult<()> {
    diesel::insert_into(mail_outbox::table)
        .values(message)
        .execute(conn)
        .map(drop)
}

/// Takes the lease of up to `limit` pending messages due at `at` whose lease is free, for
/// `owner` until `until`, counting the attempt; returns them, oldest first. A row another
/// instance took between the read and the update is left to it.
pub fn claim_due(
    conn: &mut DbConnection,
    owner: &str,
    at: Timestamp,
    until: Timestamp,
    limit: i64,
) -> QueryResult<Vec<Queued>> {
    let free = || {
        mail_outbox::lease_until
            .is_null()
            .or(mail_outbox::lease_until.lt(at))
    };
    let due: Vec<String> = mail_outbox::table
        .filter(mail_outbox::status.eq("pending"))
        .filter(mail_outbox::next_attempt_at.le(at))
        .filter(free())
        .order((mail_outbox::next_attempt_at.asc(), mail_outbox::id.asc()))
        .select(mail_outbox::id)
        .limit(limit)
        .load(conn)?;
    let mut taken = Vec::new();
    for id in due {
        let claimed = diesel::update(
            mail_outbox::table
                .filter(mail_outbox::id.eq(&id))
                .filter(mail_outbox::status.eq("pending"))
                .filter(free()),
        )
        .set((
            mail_outbox::lease_owner.eq(owner),
            mail_outbox::lease_until.eq(until),
            // Counted when taken: an attempt an instance died in counts too.
            mail_outbox::attempts.eq(mail_outbox::attempts + 1),
        ))
        .execute(conn)?;
        if claimed == 1 {
            taken.push(id);
        }
    }
    mail_outbox::table
        .filter(mail_outbox::id.eq_any(&taken))
        .select(Queued::as_select())
        .order(mail_outbox::created_at.asc())
        .load(conn)
}

/// The message `id` while `owner` holds its lease.
macro_rules! leased {
    ($id:expr, $owner:expr) => {
        mail_outbox::table
            .filter(mail_outbox::id.eq($id))
            .filter(mail_outbox::lease_owner.eq($owner))
    };
}

/// Records a message sent; false when `owner` no longer held its lease.
pub fn sent(conn: &mut DbConnection, id: &str, owner: &str, at: Timestamp) -> QueryResult<bool> {
    diesel::update(leased!(id, owner))
        .set((
            mail_outbox::status.eq("sent"),
            mail_outbox::sent_at.eq(at),
            mail_outbox::last_error.eq(None::<String>),
            mail_outbox::lease_owner.eq(None::<String>),
            mail_outbox::lease_until.eq(None::<Timestamp>),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Records a failed attempt: tried again at `next` (`Some`), or failed for good (`None`).
pub fn attempt_failed(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    error: &str,
    next: Option<Timestamp>,
) -> QueryResult<bool> {
    let status = if next.is_some() { "pending" } else { "failed" };
    let target = leased!(id, owner);
    let changes = (
        mail_outbox::status.eq(status),
        mail_outbox::last_error.eq(error),
        mail_outbox::lease_owner.eq(None::<String>),
        mail_outbox::lease_until.eq(None::<Timestamp>),
    );
    match next {
        Some(at) => diesel::update(target)
            .set((changes, mail_outbox::next_attempt_at.eq(at)))
            .execute(conn),
        None => diesel::update(target).set(changes).execute(conn),
    }
    .map(|n| n == 1)
}

/// How many messages wait to be sent, and when the oldest of them was written.
pub fn backlog(conn: &mut DbConnection) -> QueryResult<(i64, Option<Timestamp>)> {
    let pending = || mail_outbox::table.filter(mail_outbox::status.eq("pending"));
    let count = pending().count().get_result(conn)?;
    let oldest = pending()
        .select(diesel::dsl::min(mail_outbox::created_at))
        .first(conn)?;
    Ok((count, oldest))
}

/// The messages written for an account, newest first (what support looks at).
pub fn of_user(conn: &mut DbConnection, user: UserId, limit: i64) -> QueryResult<Vec<Queued>> {
    mail_outbox::table
        .filter(mail_outbox::user_id.eq(user))
        .select(Queued::as_select())
        .order(mail_outbox::created_at.desc())
        .limit(limit)
        .load(conn)
}

/// The messages of a kind to a recipient, newest first (tests and support).
pub fn to_recipient(conn: &mut DbConnection, recipient: &str) -> QueryResult<Vec<Queued>> {
    mail_outbox::table
        .filter(mail_outbox::recipient.eq(recipient))
        .select(Queued::as_select())
        .order(mail_outbox::created_at.desc())
        .load(conn)
}

/// Records a single-use token (its hash) for `user` and `purpose`, ending the earlier unused
/// ones of the same purpose; `address` is the new address of an address change.
pub fn insert_token(
    conn: &mut DbConnection,
    hash: &str,
    user: UserId,
    purpose: &str,
    address: Option<&str>,
    (at, expires_at): (Timestamp, Timestamp),
) -> QueryResult<()> {
    end_tokens(conn, user, purpose, at)?;
    diesel::insert_into(email_tokens::table)
        .values((
            email_tokens::token_hash.eq(hash),
            email_tokens::user_id.eq(user),
            email_tokens::purpose.eq(purpose),
            email_tokens::created_at.eq(at),
            email_tokens::expires_at.eq(expires_at),
            email_tokens::address.eq(address),
        ))
        .execute(conn)
        .map(drop)
}

/// Uses the token with this hash for `purpose`: its account (and the address it carries),
/// once, before it expires; `None` when it is unknown, used or expired.
pub fn use_token(
    conn: &mut DbConnection,
    hash: &str,
    purpose: &str,
    at: Timestamp,
) -> QueryResult<Option<(UserId, Option<String>)>> {
    let used = diesel::update(
        email_tokens::table
            .filter(email_tokens::token_hash.eq(hash))
            .filter(email_tokens::purpose.eq(purpose))
            .filter(email_tokens::used_at.is_null())
            .filter(email_tokens::expires_at.gt(at)),
    )
    .set(email_tokens::used_at.eq(at))
    .execute(conn)?;
    if used != 1 {
        return Ok(None);
    }
    email_tokens::table
        .find(hash)
        .select((email_tokens::user_id, email_tokens::address))
        .first(conn)
        .optional()
}

/// Ends every unused link of the account, whatever its purpose: a reset, a change of its
/// password or address, or its disabling leaves no link mailed before it working.
pub fn end_all_tokens(conn: &mut DbConnection, user: UserId, at: Timestamp) -> QueryResult<usize> {
    diesel::update(
        email_tokens::table
            .filter(email_tokens::user_id.eq(user))
            .filter(email_tokens::used_at.is_null()),
    )
    .set(email_tokens::used_at.eq(at))
    .execute(conn)
}

/// Ends the account's unused tokens of `purpose`.
pub fn end_tokens(
    conn: &mut DbConnection,
    user: UserId,
    purpose: &str,
    at: Timestamp,
) -> QueryResult<usize> {
    diesel::update(
        email_tokens::table
            .filter(email_tokens::user_id.eq(user))
            .filter(email_tokens::purpose.eq(purpose))
            .filter(email_tokens::used_at.is_null()),
    )
    .set(email_tokens::used_at.eq(at))
    .execute(conn)
}

/// Whether the digest `name` was last written before `due_before` (a read; the turn is taken
/// by [`take_digest_turn`]).
pub fn digest_due(conn: &mut DbConnection, name: &str, due_before: Timestamp) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        digests::table
            .filter(digests::name.eq(name))
            .filter(digests::last_sent_at.lt(due_before)),
    ))
    .get_result(conn)
}

/// Takes the turn of the digest `name` when it was last written before `due_before`: true
/// for the one instance whose update took it (its time becomes `at`).
pub fn take_digest_turn(
    conn: &mut DbConnection,
    name: &str,
    due_before: Timestamp,
    at: Timestamp,
) -> QueryResult<bool> {
    diesel::update(
        digests::table
            .filter(digests::name.eq(name))
            .filter(digests::last_sent_at.lt(due_before)),
    )
    .set(digests::last_sent_at.eq(at))
    .execute(conn)
    .map(|n| n == 1)
}

/// The operators who want notices and are not disabled: ids and addresses.
pub fn operators_to_notify(conn: &mut DbConnection) -> QueryResult<Vec<(UserId, String)>> {
    users::table
        .filter(users::is_operator.eq(true))
        .filter(users::notifications.eq(true))
        .filter(users::disabled_at.is_null())
        .select((users::id, users::email))
        .order(users::email.asc())
        .load(conn)
}
