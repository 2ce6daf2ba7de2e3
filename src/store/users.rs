//! Accounts, their API tokens (stored as hashes) and failed log-ins.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{api_tokens, login_failures, users};
use crate::model::account::{ApiToken, User};
use crate::model::{Page, PageRequest, Timestamp, TokenId, UserId};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub(super) struct UserRow {
    id: UserId,
    email: String,
    password_hash: String,
    is_operator: bool,
    created_at: Timestamp,
    disabled_at: Option<Timestamp>,
    email_verified_at: Option<Timestamp>,
    notifications: bool,
}

impl UserRow {
    pub(super) fn into_user(self) -> QueryResult<User> {
        Ok(User {
            id: self.id,
            email: self.email,
            password_hash: self.password_hash,
            is_operator: self.is_operator,
            created_at: self.created_at,
            disabled_at: self.disabled_at,
            email_verified_at: self.email_verified_at,
            notifications: self.notifications,
        })
    }
}

fn load(row: Option<UserRow>) -> QueryResult<Option<User>> {
    row.map(UserRow::into_user).transpose()
}

pub fn find(conn: &mut DbConnection, user_id: UserId) -> QueryResult<Option<User>> {
    load(
        users::table
            .find(user_id)
            .select(UserRow::as_select())
            .first(conn)
            .optional()?,
    )
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
    load(
        users::table
            .filter(users::email.eq(email))
            .select(UserRow::as_select())
            .first(conn)
            .optional()?,
    )
}

pub fn insert(conn: &mut DbConnection, user: &User) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(UserRow {
            id: user.id,
            email: user.email.clone(),
            password_hash: user.password_hash.clone(),
            is_operator: user.is_operator,
            created_at: user.created_at,
            disabled_at: user.disabled_at,
            email_verified_at: user.email_verified_at,
            notifications: user.notifications,
        })
        .execute(conn)
        .map(drop)
}

/// Records the account's address as verified at `at`.
pub fn set_verified(conn: &mut DbConnection, user_id: UserId, at: Timestamp) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::email_verified_at.eq(at))
        .execute(conn)
        .map(drop)
}

/// Gives the account a new address, verified at `at`.
pub fn set_email(
    conn: &mut DbConnection,
    user_id: UserId,
    email: &str,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((users::email.eq(email), users::email_verified_at.eq(at)))
        .execute(conn)
        .map(drop)
}

/// Sets whether the account gets the notices that are not about its security.
pub fn set_notifications(conn: &mut DbConnection, user_id: UserId, on: bool) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::notifications.eq(on))
        .execute(conn)
        .map(drop)
}

pub fn set_password_hash(conn: &mut DbConnection, user_id: UserId, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .map(drop)
}

pub fn set_disabled(
    conn: &mut DbConnection,
    user_id: UserId,
    at: Option<Timestamp>,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::disabled_at.eq(at))
        .execute(conn)
        .map(drop)
}

/// Accounts by email; `pattern` is a SQL LIKE pattern.
pub fn list(
    conn: &mut DbConnection,
    pattern: Option<&str>,
    page: PageRequest,
) -> QueryResult<Page<User>> {
    let query = || {
        let mut query = users::table.into_boxed();
        if let Some(pattern) = pattern {
            query = query.filter(users::email.like(pattern.to_owned()));
        }
        query
    };
    let total: i64 = query().count().get_result(conn)?;
    let items = query()
        .select(UserRow::as_select())
        .order(users::email.asc())
        .limit(page.limit())
        .offset(page.offset())
        .load(conn)?
        .into_iter()
        .map(UserRow::into_user)
        .collect::<QueryResult<Vec<_>>>()?;
    Ok(page.wrap(items, total))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
struct TokenRow {
    id: TokenId,
    name: String,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
}

impl TokenRow {
    fn into_token(self) -> QueryResult<ApiToken> {
        Ok(ApiToken {
            id: self.id,
            name: self.name,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
            expires_at: self.expires_at,
        })
    }
}

pub fn insert_token(
    conn: &mut DbConnection,
    owner: UserId,
    token: &ApiToken,
    hash: &str,
) -> QueryResult<()> {
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::id.eq(token.id),
            api_tokens::user_id.eq(owner),
            api_tokens::name.eq(&token.name),
            api_tokens::token_hash.eq(hash),
            api_tokens::created_at.eq(token.created_at),
            api_tokens::expires_at.eq(token.expires_at),
        ))
        .execute(conn)
        .map(drop)
}

/// The owner's tokens, newest first.
pub fn tokens(conn: &mut DbConnection, owner: UserId) -> QueryResult<Vec<ApiToken>> {
    api_tokens::table
        .filter(api_tokens::user_id.eq(owner))
        .select(TokenRow::as_select())
        .order(api_tokens::created_at.desc())
        .load(conn)?
        .into_iter()
        .map(TokenRow::into_token)
        .collect()
}

/// `None` when the owner has no such token; `Some(revoked_at)` otherwise.
pub fn token_revoked_at(
    conn: &mut DbConnection,
    owner: UserId,
    token: TokenId,
) -> QueryResult<Option<Option<Timestamp>>> {
    api_tokens::table
        .filter(api_tokens::id.eq(token))
        .filter(api_tokens::user_id.eq(owner))
        .select(api_tokens::revoked_at)
        .first(conn)
        .optional()
}

pub fn revoke_token(conn: &mut DbConnection, token: TokenId, at: Timestamp) -> QueryResult<()> {
    diesel::update(api_tokens::table.find(token))
        .set(api_tokens::revoked_at.eq(Some(at)))
        .execute(conn)
        .map(drop)
}

/// The account of a live token (by its hash) whose account is not disabled.
/// The account of a live token: not revoked, not expired at `at`, its account enabled.
pub fn by_token_hash(
    conn: &mut DbConnection,
    hash: &str,
    at: Timestamp,
) -> QueryResult<Option<User>> {
    load(
        api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_hash.eq(hash))
            .filter(api_tokens::revoked_at.is_null())
            .filter(
                api_tokens::expires_at
                    .is_null()
                    .or(api_tokens::expires_at.gt(at)),
            )
            .filter(users::disabled_at.is_null())
            .select(UserRow::as_select())
            .first(conn)
            .optional()?,
    )
}

/// Failures per throttle key since `since`.
pub fn failure_counts(
    conn: &mut DbConnection,
    keys: &[&str],
    since: Timestamp,
) -> QueryResult<Vec<(String, i64)>> {
    login_failures::table
        .filter(login_failures::throttle_key.eq_any(keys))
        .filter(login_failures::failed_at.gt(since))
        .group_by(login_failures::throttle_key)
        .select((login_failures::throttle_key, diesel::dsl::count_star()))
        .load(conn)
}

pub fn record_failures(conn: &mut DbConnection, keys: &[&str], at: Timestamp) -> QueryResult<()> {
    // One statement per row: batch inserts are not portable over both backends.
    for key in keys {
        diesel::insert_into(login_failures::table)
            .values((
                login_failures::throttle_key.eq(key),
                login_failures::failed_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn clear_failures(conn: &mut DbConnection, keys: &[&str]) -> QueryResult<()> {
    diesel::delete(login_failures::table.filter(login_failures::throttle_key.eq_any(keys)))
        .execute(conn)
        .map(drop)
}

/// Forgets failures older than `before`; returns how many.
pub fn sweep_failures(conn: &mut DbConnection, before: Timestamp) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(login_failures::failed_at.le(before))).execute(conn)
}
