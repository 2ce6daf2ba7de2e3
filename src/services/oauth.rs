//! The directory as an OAuth 2.0 authorization server for its own API: the token endpoint
//! (client credentials, RFC 6749 section 4.4) for software products authenticated with
//! `private_key_jwt` (RFC 7523) and their tokens bound to a DPoP key (RFC 9449), and the check
//! of such a token on every API call. Tokens are opaque and stored hashed; each use reads the
//! product's and its organisation's status again, so a suspension stops a live token at once.

use std::sync::Arc;

use serde_json::json;

use super::Directory;
use crate::keys::credentials;
use crate::keys::proofs::{self, Proof};
use crate::model::audit::Entry;
use crate::model::certificate::{CertStatus, CertType};
use crate::model::client::{ClientId, Scope};
use crate::model::protocol::OAuthCode;
use crate::model::software::Grant;
use crate::model::{Actor, Error, OrgId, Result, Serial, SoftwareId, Status, Timestamp};
use crate::store::{self, DbConnection, write_transaction};

/// The client assertion type of `private_key_jwt` (RFC 7523 section 2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A token request's parameters (`application/x-www-form-urlencoded`), with the request's
/// DPoP header.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    #[serde(skip)]
    pub dpop: Option<String>,
    /// The client certificate (DER) of the request's mutual TLS, or a trusted proxy's.
    #[serde(skip)]
    pub certificate: Option<Vec<u8>>,
    /// The URL the request was sent to (the token endpoint or its mutual-TLS alias): the
    /// `htu` its DPoP proof must name.
    #[serde(skip)]
    pub endpoint: String,
}

/// An access token issued (RFC 6749 section 5.1).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
}

/// A refused token request (RFC 6749 section 5.2, RFC 9449 section 5): the error code and
/// what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: OAuthCode,
    pub description: String,
}

impl Refusal {
    pub fn new(error: OAuthCode, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }

    /// 401 for a client that did not authenticate, 400 for everything else.
    pub fn status(&self) -> u16 {
        self.error.token_endpoint_status()
    }
}

/// The token endpoint's URL, the `htu` of its DPoP proofs and an `aud` of assertions.
pub fn token_endpoint(dir: &Directory) -> String {
    format!("{}/oauth/token", dir.public_url)
}

/// Issues an access token to a software product for a token request: grant
/// `client_credentials`, the client authenticated with a client assertion signed by a live
/// key of the product's keystore, a DPoP proof for the token endpoint, and scopes within those
/// a product may have. Issued and refused requests are audited and counted.
pub async fn token(
    dir: &Arc<Directory>,
    request: TokenRequest,
) -> Result<std::result::Result<TokenResponse, Refusal>> {
    let at = dir.now();
    let shared = dir.clone();
    let claimed = request.client_id.clone().or_else(|| {
        request
            .client_assertion
            .as_deref()
            .and_then(proofs::claimed_client)
    });
    let client_id = claimed.clone();
    let outcome = dir
        .db(move |conn| decide(&shared, conn, request, client_id))
        .await?;
    let label = match &outcome {
        Ok(_) => "issued",
        Err(refusal) => refusal.error.as_str(),
    };
    dir.metrics.oauth_token(label);
    if let Err(refusal) = &outcome {
        // Refusals are audited in their own transaction (there is nothing else to commit).
        let refusal = refusal.clone();
        let subject: String = claimed
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(64)
            .collect();
        dir.db(move |conn| {
            store::audit::record(
                conn,
                Entry::new(
                    at,
                    &Actor::System,
                    "oauth.token.refuse",
                    "software",
                    subject,
                )
                .reason(Some(&refusal.description))
                .details(json!({"error": refusal.error})),
            )?;
            Ok(())
        })
        .await?;
    }
    Ok(outcome)
}

/// Decides a token request of the client `client_id` (the request's, or the assertion's
/// `iss`).
fn decide(
    dir: &Directory,
    conn: &mut DbConnection,
    request: TokenRequest,
    client_id: Option<String>,
) -> Result<std::result::Result<TokenResponse, Refusal>> {
    let now = dir.now();
    let at = now.assume_utc().unix_timestamp();
    let refuse = |error, description: &str| Ok(Err(Refusal::new(error, description)));
    match request.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return refuse(
                OAuthCode::UnsupportedGrantType,
                &format!("grant_type {other:?} is not supported here: use client_credentials"),
            );
        }
        None => {
            return refuse(
                OAuthCode::InvalidRequest,
                "grant_type is required (client_credentials)",
            );
        }
    }
    let method = match (
        request.client_assertion_type.as_deref(),
        request.client_assertion.as_deref(),
        request.certificate.as_deref(),
    ) {
        (Some(JWT_BEARER), Some(assertion), _) => Method::PrivateKeyJwt(assertion),
        (None, None, Some(der)) => Method::TlsClientAuth(der),
        (None, None, None) => {
            return refuse(
                OAuthCode::InvalidClient,
                &format!(
                    "authenticate with private_key_jwt (client_assertion_type {JWT_BEARER} and a client_assertion signed by a key in the client's keystore) or, over mutual TLS, with tls_client_auth (the product's transport certificate and its client_id)"
                ),
            );
        }
        _ => {
            return refuse(
                OAuthCode::InvalidClient,
                &format!(
                    "private_key_jwt needs client_assertion_type {JWT_BEARER} and a client_assertion"
                ),
            );
        }
    };
    let Some(client_id) = client_id else {
        return refuse(
            OAuthCode::InvalidClient,
            match method {
                Method::PrivateKeyJwt(_) => "the client assertion names no client (iss)",
                Method::TlsClientAuth(_) => "tls_client_auth needs the client_id parameter",
            },
        );
    };
    // Bound to the DPoP key when the request proves one, else to the client certificate.
    let proof = match (request.dpop.as_deref(), request.certificate.as_deref()) {
        (Some(dpop), _) => match proofs::check_dpop(dpop, "POST", &request.endpoint, None, at) {
            Ok(proof) => Some(proof),
            Err(why) => return refuse(OAuthCode::InvalidDpopProof, &why),
        },
        (None, Some(_)) => None,
        (None, None) => {
            return refuse(
                OAuthCode::InvalidRequest,
                "a DPoP proof (RFC 9449) is required, or mutual TLS: this directory's tokens are bound to the client's key or certificate",
            );
        }
    };
    // The client: a software product by its software_id, or an organisation by its id.
    let unknown = "unknown client: the client_id is a software_id or an organisation id";
    let (Ok(software), Ok(org_id)) = (client_id.parse::<SoftwareId>(), client_id.parse::<OrgId>())
    else {
        return refuse(OAuthCode::InvalidClient, unknown);
    };
    let (client, org) = match store::software::find(conn, software)? {
        Some(product) => {
            let Some(org) = store::organisations::find(conn, product.organisation_id)? else {
                return refuse(OAuthCode::InvalidClient, unknown);
            };
            if let Err(why) = product.eligibility(org.status) {
                return refuse(
                    OAuthCode::InvalidGrant,
                    &why.refusal(Grant::Token).to_string(),
                );
            }
            (ClientId::Software(product.id), org)
        }
        None => {
            let Some(org) = store::organisations::find(conn, org_id)? else {
                return refuse(OAuthCode::InvalidClient, unknown);
            };
            if org.status != Status::Active {
                return refuse(
                    OAuthCode::InvalidGrant,
                    &format!(
                        "the organisation is {}; only an active organisation gets access tokens",
                        org.status
                    ),
                );
            }
            (ClientId::Organisation(org.id), org)
        }
    };
    let scopes = match Scope::parse_list(request.scope.as_deref(), client.allowed()) {
        Ok(scopes) => scopes,
        Err(why) => return refuse(OAuthCode::InvalidScope, &why.to_string()),
    };
    let spent = match method {
        Method::PrivateKeyJwt(assertion) => {
            let software = match client {
                ClientId::Software(id) => Some(id),
                ClientId::Organisation(_) => None,
            };
            let keys = super::keystore::live_jwks(conn, org.id, software)?;
            let mut audiences = vec![token_endpoint(dir), dir.public_url.clone()];
            audiences.extend(
                dir.mtls_url
                    .as_ref()
                    .map(|url| format!("{url}/oauth/token")),
            );
            match proofs::check_assertion(assertion, &client_id, &audiences, &keys, at) {
                Ok(assertion) => Some(assertion),
                Err(why) => return refuse(OAuthCode::InvalidClient, &why),
            }
        }
        Method::TlsClientAuth(der) => {
            let ClientId::Software(software) = client else {
                return refuse(
                    OAuthCode::InvalidClient,
                    "tls_client_auth is for software products (their transport certificates); an organisation authenticates with private_key_jwt",
                );
            };
            if let Err(why) = certified(conn, der, software, now)? {
                return refuse(OAuthCode::InvalidClient, &why);
            }
            None
        }
    };
    if let Some(proof) = &proof
        && !spend_proof(conn, proof)?
    {
        return refuse(
            OAuthCode::InvalidDpopProof,
            "the DPoP proof was used already (its jti)",
        );
    }
    let jkt = proof.as_ref().map(|p| p.jkt.clone());
    let x5t_s256 = match (&proof, request.certificate.as_deref()) {
        (None, Some(der)) => Some(proofs::certificate_thumbprint(der)),
        _ => None,
    };
    let token = credentials::new_client_token();
    let scope = Scope::join(&scopes);
    let ttl = dir.config.client_token_ttl_secs;
    // A replayed assertion rolls the transaction back (after a unique violation PostgreSQL
    // would commit nothing anyway).
    const REPLAYED: &str =
        "the client assertion was used already (its jti): sign a new one for each request";
    let kept_until = |assertion: &proofs::Assertion| {
        now + time::Duration::seconds(assertion.expires_at - at + 60)
    };
    let issued = write_transaction(conn, |tx| -> Result<()> {
        if let Some(assertion) = &spent
            && !store::oauth::spend_assertion(
                tx,
                &client_id,
                &assertion.jti,
                kept_until(assertion),
            )?
        {
            return Err(Error::Conflict(REPLAYED.into()));
        }
        store::oauth::insert_token(
            tx,
            &store::oauth::NewToken {
                hash: &credentials::secret_hash(&token),
                software: match client {
                    ClientId::Software(id) => Some(id),
                    ClientId::Organisation(_) => None,
                },
                organisation: org.id,
                scope: &scope,
                jkt: jkt.as_deref(),
                x5t_s256: x5t_s256.as_deref(),
                expires_at: now + time::Duration::seconds(ttl as i64),
            },
            now,
        )?;
        let actor = Actor::Client {
            client,
            organisation: org.id,
            scopes: scopes.clone(),
        };
        let subject = match client {
            ClientId::Software(_) => "software",
            ClientId::Organisation(_) => "organisation",
        };
        store::audit::record(
            tx,
            Entry::new(now, &actor, "oauth.token.issue", subject, client)
                .organisation(org.id)
                .details(json!({
                    "auth_method": match method {
                        Method::PrivateKeyJwt(_) => "private_key_jwt",
                        Method::TlsClientAuth(_) => "tls_client_auth",
                    },
                    "scope": scope,
                    "binding": if jkt.is_some() { "dpop" } else { "certificate" },
                    "jkt": jkt,
                    "x5t#S256": x5t_s256,
                    "expires_in": ttl,
                })),
        )?;
        Ok(())
    });
    match issued {
        Ok(()) => {}
        Err(Error::Conflict(_)) => return refuse(OAuthCode::InvalidClient, REPLAYED),
        Err(other) => return Err(other),
    }
    Ok(Ok(TokenResponse {
        access_token: token,
        // RFC 8705 certificate-bound tokens are used with the Bearer scheme.
        token_type: if jkt.is_some() { "DPoP" } else { "Bearer" },
        expires_in: ttl,
        scope,
    }))
}

/// How a token request's client authenticates.
#[derive(Clone, Copy)]
enum Method<'a> {
    /// RFC 7523: this client assertion.
    PrivateKeyJwt(&'a str),
    /// RFC 8705: this client certificate (DER) of the request's mutual TLS.
    TlsClientAuth(&'a [u8]),
}

/// Whether `der` is a transport certificate the directory issued to `software` and has not
/// revoked or put on hold, within its validity: the record of that serial must hold exactly
/// this certificate, so its subject is the one the directory gave the product.
fn certified(
    conn: &mut DbConnection,
    der: &[u8],
    software: SoftwareId,
    at: Timestamp,
) -> Result<std::result::Result<(), String>> {
    use der::Decode;
    let Ok(presented) = x509_cert::Certificate::from_der(der) else {
        return Ok(Err("the client certificate cannot be read".into()));
    };
    let serial = Serial::from_bytes(presented.tbs_certificate.serial_number.as_bytes());
    let not_ours = "the client certificate is not a transport certificate the directory issued to this software";
    let Some(stored) = store::certificates::find(conn, &serial)? else {
        return Ok(Err(not_ours.into()));
    };
    let same = openssl::x509::X509::from_pem(stored.pem.as_bytes())
        .and_then(|c| c.to_der())
        .is_ok_and(|d| d == der);
    if !same || stored.software_id != software || stored.cert_type != CertType::Transport {
        return Ok(Err(not_ours.into()));
    }
    if stored.status != CertStatus::Good {
        return Ok(Err(format!(
            "the client certificate is {} (serial {serial})",
            match stored.status {
                CertStatus::Hold => "on hold",
                _ => "revoked",
            }
        )));
    }
    if at < stored.not_before || at > stored.not_after {
        return Ok(Err(
            "the client certificate is not within its validity".into()
        ));
    }
    Ok(Ok(()))
}

fn refused(error: OAuthCode, description: impl Into<String>) -> Error {
    Error::TokenRefused {
        error,
        description: description.into(),
    }
}

/// What a machine client's API request shows with its access token.
pub struct Presented {
    /// Sent with the DPoP scheme (else Bearer, for a certificate-bound token).
    pub dpop_scheme: bool,
    /// The request's DPoP proof.
    pub proof: Option<String>,
    /// The client certificate (DER) of the request's mutual TLS.
    pub certificate: Option<Vec<u8>>,
}

/// The machine client of an API request carrying `token`: with the DPoP scheme, a proof for
/// `method` and `url` signed by the key the token is bound to; with the Bearer scheme, over
/// mutual TLS with the certificate it is bound to; the token unexpired and its product and
/// organisation active now.
pub async fn authenticate(
    dir: &Arc<Directory>,
    token: String,
    presented: Presented,
    method: String,
    url: String,
) -> Result<Actor> {
    let shared = dir.clone();
    let outcome = dir
        .db(move |conn| authenticate_in(&shared, conn, &token, &presented, &method, &url))
        .await;
    if let Err(Error::TokenRefused { error, .. }) = &outcome {
        dir.metrics.oauth_use(error.as_str());
    }
    outcome
}

/// Spends a DPoP proof in the database shared by every instance: false when it was used.
fn spend_proof(conn: &mut DbConnection, proof: &Proof) -> Result<bool> {
    let until = time::OffsetDateTime::from_unix_timestamp(proof.accepted_until())
        .map_err(|e| crate::model::unexpected("a DPoP proof's lifetime", e))?;
    Ok(store::oauth::spend_proof(
        conn,
        &proof.jkt,
        &proof.jti,
        time::PrimitiveDateTime::new(until.date(), until.time()),
    )?)
}

fn authenticate_in(
    dir: &Directory,
    conn: &mut DbConnection,
    token: &str,
    presented: &Presented,
    method: &str,
    url: &str,
) -> Result<Actor> {
    let now = dir.now();
    let at = now.assume_utc().unix_timestamp();
    let Some(hash) = credentials::client_token_key(token) else {
        return Err(refused(
            OAuthCode::InvalidToken,
            "the access token is unknown or expired",
        ));
    };
    // A DPoP proof is checked before the database is asked.
    let proof: Option<Proof> = if presented.dpop_scheme {
        let Some(proof) = presented.proof.as_deref() else {
            return Err(refused(
                OAuthCode::InvalidDpopProof,
                "this token is bound to a DPoP key: send it as Authorization: DPoP with a DPoP proof",
            ));
        };
        Some(
            proofs::check_dpop(proof, method, url, Some(token), at)
                .map_err(|why| refused(OAuthCode::InvalidDpopProof, why))?,
        )
    } else {
        None
    };
    let live = store::oauth::live_token(conn, &hash, now)?.ok_or_else(|| {
        refused(
            OAuthCode::InvalidToken,
            "the access token is unknown or expired",
        )
    })?;
    match (&live.jkt, &live.x5t_s256, &proof) {
        (Some(jkt), _, Some(proof)) if *jkt == proof.jkt => {}
        (Some(_), _, Some(_)) => {
            return Err(refused(
                OAuthCode::InvalidDpopProof,
                "the DPoP proof is not signed by the key this token is bound to",
            ));
        }
        (Some(_), _, None) => {
            return Err(refused(
                OAuthCode::InvalidToken,
                "this token is bound to a DPoP key: send it as Authorization: DPoP <token> with a DPoP proof",
            ));
        }
        (None, Some(x5t), None) => {
            let shown = presented
                .certificate
                .as_deref()
                .map(proofs::certificate_thumbprint);
            if shown.as_deref() != Some(x5t.as_str()) {
                return Err(refused(
                    OAuthCode::InvalidToken,
                    "this token is bound to a client certificate: present that certificate over mutual TLS",
                ));
            }
        }
        (None, _, _) => {
            return Err(refused(
                OAuthCode::InvalidToken,
                "this token is bound to a client certificate: send it as Authorization: Bearer over mutual TLS with that certificate",
            ));
        }
    }
    let stopped = if live.organisation_status != Status::Active {
        Some(format!("the organisation is {}", live.organisation_status))
    } else {
        live.software_status
            .filter(|s| *s != Status::Active)
            .map(|s| format!("the software is {s}"))
    };
    if let Some(whose) = stopped {
        return Err(refused(
            OAuthCode::InvalidToken,
            format!("{whose}: its tokens stopped working"),
        ));
    }
    // A proof for a request that changes something is spent across instances; a safe
    // request's in this process (see `ReplayCache`).
    let safe = matches!(method, "GET" | "HEAD" | "OPTIONS");
    if let Some(proof) = &proof
        && !(if safe {
            dir.dpop_proofs.first_use(proof, at)
        } else {
            spend_proof(conn, proof)?
        })
    {
        return Err(refused(
            OAuthCode::InvalidDpopProof,
            "the DPoP proof was used already (its jti): sign a new one for each request",
        ));
    }
    let client = match live.software {
        Some(software) => ClientId::Software(software),
        None => ClientId::Organisation(live.organisation),
    };
    let scopes = Scope::parse_list(Some(&live.scope), &Scope::ALL)?;
    Ok(Actor::Client {
        client,
        organisation: live.organisation,
        scopes,
    })
}
