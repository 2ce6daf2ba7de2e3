//! Issued statements (`issued_ssas`: every jti, who asked, which key signed it, when it
//! expires) and the one-statement read an API issuance starts with.

use diesel::prelude::*;

use super::DbConnection;
use super::audit::NewEvent;
use super::organisations::OrganisationRow;
use super::schema::{
    api_tokens, audit_events, issued_ssas, memberships, organisations, signing_keys, software,
    users,
};
use super::signing_keys::SigningKeyRow;
use super::software::SoftwareRow;
use super::users::UserRow;
use crate::model::account::User;
use crate::model::audit::Entry;
use crate::model::inputs::{Environment, MemberRole};
use crate::model::keys::{KeyPurpose, KeyState, SigningKey};
use crate::model::organisation::Organisation;
use crate::model::software::Software;
use crate::model::{Kid, SoftwareId, Timestamp};

/// The row of an issued statement.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = issued_ssas)]
pub struct IssuedSsa {
    pub jti: String,
    pub software_id: SoftwareId,
    pub kid: Kid,
    pub issued_by: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// The product's environment when it was issued (the overview counts it there).
    pub environment: Environment,
}

impl IssuedSsa {
    pub fn new(
        jti: &str,
        software: &Software,
        kid: &Kid,
        issued_by: String,
        issued_at: Timestamp,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            jti: jti.to_owned(),
            software_id: software.id,
            kid: kid.clone(),
            issued_by,
            issued_at,
            expires_at,
            environment: software.environment,
        }
    }
}

/// Inserts statements and their audit events as two multi-row inserts (diesel's
/// `MultiConnection` does not batch, so each backend's own connection does).
pub fn insert_batch(
    conn: &mut DbConnection,
    rows: &[IssuedSsa],
    events: Vec<Entry>,
) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let events: Vec<NewEvent> = events.into_iter().map(NewEvent::from).collect();
    match conn {
        // Two multi-row statements: one round trip each.
        DbConnection::Postgresql(c) => {
            diesel::insert_into(issued_ssas::table)
                .values(rows)
                .execute(c)?;
            diesel::insert_into(audit_events::table)
                .values(&events)
                .execute(c)?;
        }
        // One single-row statement per row, prepared once per connection: a multi-row
        // statement has as many shapes as batch sizes, and SQLite parsed each batch's anew.
        DbConnection::Sqlite(c) => {
            for row in rows {
                diesel::insert_into(issued_ssas::table)
                    .values(row)
                    .execute(c)?;
            }
            for event in &events {
                diesel::insert_into(audit_events::table)
                    .values(event)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// What an issuance needs: the token's account, the product, its organisation, the account's
/// role in it (none for outsiders) and the active key.
pub struct Basis {
    pub user: User,
    pub product: Software,
    pub org: Organisation,
    pub role: Option<MemberRole>,
    pub key: SigningKey,
}

/// The token's account (live token, account not disabled), the product, its organisation,
/// the membership and the active key, in one statement; `None` when any is missing.
pub fn basis_by_token(
    conn: &mut DbConnection,
    token_hash: &str,
    product: SoftwareId,
    at: Timestamp,
) -> QueryResult<Option<Basis>> {
    let product = product.to_string();
    // Run on the backend's own connection: through `MultiConnection` the statement is
    // serialised and its SQL rebuilt on every call (measured at a third of this read's cost).
    let row = per_backend!(conn, |c| {
        api_tokens::table
            .inner_join(users::table)
            .inner_join(software::table.on(software::id.eq(product)))
            .inner_join(organisations::table.on(organisations::id.eq(software::organisation_id)))
            .left_join(
                memberships::table.on(memberships::organisation_id
                    .eq(organisations::id)
                    .and(memberships::user_id.eq(api_tokens::user_id))),
            )
            .inner_join(
                signing_keys::table.on(signing_keys::state
                    .eq(KeyState::Active)
                    .and(signing_keys::purpose.eq(KeyPurpose::Ssa))),
            )
            .filter(api_tokens::token_hash.eq(token_hash))
            .filter(api_tokens::revoked_at.is_null())
            .filter(
                api_tokens::expires_at
                    .is_null()
                    .or(api_tokens::expires_at.gt(at)),
            )
            .filter(users::disabled_at.is_null())
            .select((
                UserRow::as_select(),
                SoftwareRow::as_select(),
                OrganisationRow::as_select(),
                memberships::role.nullable(),
                SigningKeyRow::as_select(),
            ))
            .first::<(
                UserRow,
                SoftwareRow,
                OrganisationRow,
                Option<MemberRole>,
                SigningKeyRow,
            )>(c)
            .optional()?
    });
    let Some((user, product, org, role, key)) = row else {
        return Ok(None);
    };
    Ok(Some(Basis {
        user: user.into_user()?,
        product: product.into_software()?,
        org: org.into_organisation()?,
        role,
        key: key.into_key()?,
    }))
}

/// What is recorded of one statement: its product, times and revocation.
#[derive(Debug, Clone, Queryable)]
pub struct StatementRecord {
    pub jti: String,
    pub software_id: SoftwareId,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub revoked_reason: Option<String>,
}

pub fn find(conn: &mut DbConnection, jti: &str) -> QueryResult<Option<StatementRecord>> {
    issued_ssas::table
        .filter(issued_ssas::jti.eq(jti))
        .select((
            issued_ssas::jti,
            issued_ssas::software_id,
            issued_ssas::issued_at,
            issued_ssas::expires_at,
            issued_ssas::revoked_at,
            issued_ssas::revoked_reason,
        ))
        .first(conn)
        .optional()
}

/// Marks a statement revoked unless it already is; false when it was.
pub fn revoke(
    conn: &mut DbConnection,
    jti: &str,
    at: Timestamp,
    reason: &str,
) -> QueryResult<bool> {
    diesel::update(
        issued_ssas::table.filter(
            issued_ssas::jti
                .eq(jti)
                .and(issued_ssas::revoked_at.is_null()),
        ),
    )
    .set((
        issued_ssas::revoked_at.eq(at),
        issued_ssas::revoked_reason.eq(reason),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// The latest `limit` statements of a product, newest first.
pub fn for_software(
    conn: &mut DbConnection,
    product: SoftwareId,
    limit: i64,
) -> QueryResult<Vec<StatementRecord>> {
    issued_ssas::table
        .filter(issued_ssas::software_id.eq(product))
        .select((
            issued_ssas::jti,
            issued_ssas::software_id,
            issued_ssas::issued_at,
            issued_ssas::expires_at,
            issued_ssas::revoked_at,
            issued_ssas::revoked_reason,
        ))
        .order(issued_ssas::issued_at.desc())
        .limit(limit)
        .load(conn)
}
