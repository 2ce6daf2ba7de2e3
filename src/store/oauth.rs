//! The token endpoint's records: access tokens issued to software products (SHA-256 hashes,
//! with what binds them) and the client assertions spent.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{client_assertions, client_tokens, dpop_proofs, organisations, software};
use crate::model::{OrgId, SoftwareId, Status, Timestamp};

/// Spends a client assertion's `jti` (kept until `expires_at`); false when it was spent
/// already (a replay). Call in a write transaction.
pub fn spend_assertion(
    conn: &mut DbConnection,
    client_id: &str,
    jti: &str,
    expires_at: Timestamp,
) -> QueryResult<bool> {
    let spent = client_assertions::table
        .filter(client_assertions::client_id.eq(client_id))
        .filter(client_assertions::jti.eq(jti))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if spent {
        return Ok(false);
    }
    match diesel::insert_into(client_assertions::table)
        .values((
            client_assertions::client_id.eq(client_id),
            client_assertions::jti.eq(jti),
            client_assertions::expires_at.eq(expires_at),
        ))
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Spends a DPoP proof's `jti` for its key (kept until `expires_at`, when no instance would
/// accept the proof any more); false when it was spent already, on any instance. One
/// statement, safe inside or outside a transaction on both backends (a conflict is no error).
pub fn spend_proof(
    conn: &mut DbConnection,
    jkt: &str,
    jti: &str,
    expires_at: Timestamp,
) -> QueryResult<bool> {
    let row = (
        dpop_proofs::jkt.eq(jkt),
        dpop_proofs::jti.eq(jti),
        dpop_proofs::expires_at.eq(expires_at),
    );
    let inserted = per_backend!(conn, |c| diesel::insert_into(dpop_proofs::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// An access token to store.
pub struct NewToken<'a> {
    pub hash: &'a str,
    /// `None` for an organisation's token.
    pub software: Option<SoftwareId>,
    pub organisation: OrgId,
    pub scope: &'a str,
    pub jkt: Option<&'a str>,
    pub x5t_s256: Option<&'a str>,
    pub expires_at: Timestamp,
}

pub fn insert_token(
    conn: &mut DbConnection,
    token: &NewToken<'_>,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::insert_into(client_tokens::table)
        .values((
            client_tokens::token_hash.eq(token.hash),
            client_tokens::software_id.eq(token.software.map(|s| s.to_string())),
            client_tokens::organisation_id.eq(token.organisation),
            client_tokens::scope.eq(token.scope),
            client_tokens::jkt.eq(token.jkt),
            client_tokens::x5t_s256.eq(token.x5t_s256),
            client_tokens::created_at.eq(at),
            client_tokens::expires_at.eq(token.expires_at),
        ))
        .execute(conn)
        .map(drop)
}

/// A live (unexpired) access token with the current status of its product (none for an
/// organisation's token) and organisation.
pub struct LiveToken {
    pub software: Option<SoftwareId>,
    pub organisation: OrgId,
    pub scope: String,
    pub jkt: Option<String>,
    pub x5t_s256: Option<String>,
    pub software_status: Option<Status>,
    pub organisation_status: Status,
}

/// The unexpired token of this hash, read with its product's and organisation's statuses in
/// one query: a suspension stops it at its next use.
pub fn live_token(
    conn: &mut DbConnection,
    hash: &str,
    at: Timestamp,
) -> QueryResult<Option<LiveToken>> {
    type Row = (
        Option<SoftwareId>,
        OrgId,
        String,
        Option<String>,
        Option<String>,
        Option<Status>,
        Status,
    );
    let row: Option<Row> = client_tokens::table
        .left_join(software::table.on(client_tokens::software_id.eq(software::id.nullable())))
        .inner_join(organisations::table.on(organisations::id.eq(client_tokens::organisation_id)))
        .filter(client_tokens::token_hash.eq(hash))
        .filter(client_tokens::expires_at.gt(at))
        .select((
            client_tokens::software_id,
            client_tokens::organisation_id,
            client_tokens::scope,
            client_tokens::jkt,
            client_tokens::x5t_s256,
            software::status.nullable(),
            organisations::status,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(
        |(software, organisation, scope, jkt, x5t_s256, software_status, organisation_status)| {
            LiveToken {
                software,
                organisation,
                scope,
                jkt,
                x5t_s256,
                software_status,
                organisation_status,
            }
        },
    ))
}

/// Forgets expired tokens and spent assertions; how many rows went.
/// Ends the tokens bound to the certificate of this `x5t#S256` (it was revoked or put on
/// hold), in the caller's transaction.
pub fn drop_certificate_tokens(conn: &mut DbConnection, x5t_s256: &str) -> QueryResult<usize> {
    diesel::delete(client_tokens::table.filter(client_tokens::x5t_s256.eq(x5t_s256))).execute(conn)
}

pub fn sweep(conn: &mut DbConnection, at: Timestamp) -> QueryResult<usize> {
    let tokens = diesel::delete(client_tokens::table.filter(client_tokens::expires_at.le(at)))
        .execute(conn)?;
    let assertions =
        diesel::delete(client_assertions::table.filter(client_assertions::expires_at.le(at)))
            .execute(conn)?;
    let proofs =
        diesel::delete(dpop_proofs::table.filter(dpop_proofs::expires_at.le(at))).execute(conn)?;
    Ok(tokens + assertions + proofs)
}
