//! Checking a software statement: the JWS, its key, its signature, its time and issuer, and
//! the claims its profile requires.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::claims::StatementClaims;
use crate::error::VerifyError;
use crate::jose::{Header, Member, check_signature, check_times, read_part, split};
use crate::keys::KeyLookup;
use crate::settings::{Profile, Settings};

/// A verified statement's values.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SoftwareStatement {
    /// The profile its claim names follow.
    pub profile: Profile,
    /// `iss`: the directory.
    pub issuer: String,
    /// The directory key it was signed with.
    pub kid: String,
    /// `jti`.
    pub jti: Option<String>,
    /// `iat` (seconds since the Unix epoch).
    pub issued_at: i64,
    /// `exp` (seconds since the Unix epoch).
    pub expires_at: i64,
    /// `software_id`.
    pub software_id: String,
    /// `org_id`.
    pub org_id: String,
    /// `org_name`.
    pub org_name: Option<String>,
    /// `software_client_id` (UK profile).
    pub client_id: Option<String>,
    /// `software_client_name` or `client_name`.
    pub client_name: Option<String>,
    /// `software_redirect_uris` or `redirect_uris`: absolute https URIs.
    pub redirect_uris: Vec<String>,
    /// `software_roles`.
    pub roles: Vec<String>,
    /// The software's keystore JWKS (for signed registration requests).
    pub jwks_uri: Option<String>,
    /// `software_version`.
    pub software_version: Option<String>,
    /// Its index in the directory's transparency log, when a proof was checked.
    pub log_index: Option<u64>,
    /// Why it is not shown in the transparency log, in
    /// [`Transparency::Warn`](crate::Transparency::Warn) mode.
    pub log_problem: Option<String>,
    /// Every claim, as signed (serialised as the JSON object `claims`; see [`Self::claims`]).
    #[serde(rename = "claims")]
    payload: Payload,
}

impl SoftwareStatement {
    /// Every claim, as signed. The payload is kept as verified and read on demand, so the
    /// hot path does not build a map that most callers never look at.
    pub fn claims(&self) -> Map<String, Value> {
        self.payload.object()
    }

    /// One claim, as signed.
    pub fn claim(&self, name: &str) -> Option<Value> {
        self.payload.object().remove(name)
    }

    /// The claims as the typed contract the directory signs them by; an error when a
    /// claim has another type than the contract says (a statement of another directory).
    pub fn typed_claims(&self) -> Result<StatementClaims, VerifyError> {
        serde_json::from_slice(&self.payload.0).map_err(|e| {
            VerifyError::statement(format!("the claims do not follow the contract: {e}"))
        })
    }

    /// Whether this is the statement whose JWS payload is `payload`.
    pub(crate) fn has_payload(&self, payload: &[u8]) -> bool {
        self.payload.0 == payload
    }
}

/// A JWS payload that parsed as a JSON object.
#[derive(Clone)]
struct Payload(Vec<u8>);

impl Payload {
    fn object(&self) -> Map<String, Value> {
        serde_json::from_slice(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.object().serialize(serializer)
    }
}

/// The claims a statement's checks read, borrowed from the decoded payload. Other claims are
/// skipped here and kept in the payload.
#[derive(Deserialize)]
struct Claims<'a> {
    #[serde(default, borrow)]
    iss: Option<Member<'a>>,
    #[serde(default, borrow)]
    iat: Option<Member<'a>>,
    #[serde(default, borrow)]
    exp: Option<Member<'a>>,
    #[serde(default, borrow)]
    jti: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_id: Option<Member<'a>>,
    #[serde(default, borrow)]
    org_id: Option<Member<'a>>,
    #[serde(default, borrow)]
    org_name: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_client_id: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_client_name: Option<Member<'a>>,
    #[serde(default, borrow)]
    client_name: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_redirect_uris: Option<Member<'a>>,
    #[serde(default, borrow)]
    redirect_uris: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_roles: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_jwks_endpoint: Option<Member<'a>>,
    #[serde(default, borrow)]
    jwks_uri: Option<Member<'a>>,
    #[serde(default, borrow)]
    software_version: Option<Member<'a>>,
}

fn https_uri(value: &str) -> bool {
    url::Url::parse(value)
        .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some() && u.fragment().is_none())
}

/// Reads the required claims of the statement's profile into a typed value.
fn typed(
    claims: &mut Claims<'_>,
    profiles: &[Profile],
    issuer: String,
    kid: String,
    (issued_at, expires_at): (i64, i64),
) -> Result<SoftwareStatement, VerifyError> {
    let profile =
        if claims.software_redirect_uris.is_some() || claims.software_client_name.is_some() {
            Profile::Obuk
        } else {
            Profile::Rfc7591
        };
    if !profiles.contains(&profile) {
        return Err(VerifyError::statement(format!(
            "statements of profile {profile:?} are not accepted here"
        )));
    }
    let required = |member: &Option<Member<'_>>, name: &str| {
        Member::str(member)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| VerifyError::statement(format!("the claim {name} is missing or empty")))
    };
    let (redirect_claim, redirects, name, jwks) = match profile {
        Profile::Obuk => (
            "software_redirect_uris",
            &mut claims.software_redirect_uris,
            &claims.software_client_name,
            &claims.software_jwks_endpoint,
        ),
        Profile::Rfc7591 => (
            "redirect_uris",
            &mut claims.redirect_uris,
            &claims.client_name,
            &claims.jwks_uri,
        ),
    };
    let redirect_uris = Member::strings(redirects)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            VerifyError::statement(format!("the claim {redirect_claim} is missing or empty"))
        })?;
    if let Some(bad) = redirect_uris.iter().find(|u| !https_uri(u)) {
        return Err(VerifyError::statement(format!(
            "{redirect_claim} holds {bad:?}, which is not an absolute https URI without fragment"
        )));
    }
    let roles = Member::strings(&mut claims.software_roles)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| VerifyError::statement("the claim software_roles is missing or empty"))?;
    Ok(SoftwareStatement {
        profile,
        issuer,
        kid,
        jti: Member::owned(&claims.jti),
        issued_at,
        expires_at,
        software_id: required(&claims.software_id, "software_id")?,
        org_id: required(&claims.org_id, "org_id")?,
        org_name: Member::owned(&claims.org_name),
        client_id: Member::owned(&claims.software_client_id),
        client_name: Member::owned(name),
        redirect_uris,
        roles,
        jwks_uri: Member::owned(jwks),
        software_version: Member::owned(&claims.software_version),
        log_index: None,
        log_problem: None,
        // Filled in by the caller once the claims no longer borrow the payload.
        payload: Payload(Vec::new()),
    })
}

/// Verifies a software statement of `issuer`: compact JWS, allowed algorithm, a key `keys`
/// finds by the header's kid, a valid signature, the issuer, current times at `now`, and the
/// claims of its profile.
pub(crate) fn verify(
    token: &str,
    issuer: &str,
    keys: KeyLookup<'_>,
    settings: &Settings,
    now: i64,
) -> Result<SoftwareStatement, VerifyError> {
    let jws = split(token)?;
    let header: Header<'_> = read_part(&jws.header, "JWS header")?;
    let alg = crate::jose::algorithm(&header, &settings.algorithms)?;
    let kid = crate::jose::kid(&header)?;
    check_signature(&jws, kid, alg, &keys(kid)?)?;
    let kid = kid.to_owned();
    let mut claims: Claims<'_> = read_part(&jws.payload, "JWS payload")?;
    let claimed = Member::str(&claims.iss).unwrap_or_default();
    if claimed != issuer {
        return Err(VerifyError::statement(format!(
            "the statement was issued by {claimed:?}, not by the trusted directory {issuer:?}"
        )));
    }
    let times = check_times(
        Member::int(&claims.iat),
        Member::int(&claims.exp),
        settings,
        now,
        "statement",
    )?;
    let mut statement = typed(
        &mut claims,
        &settings.profiles,
        issuer.to_owned(),
        kid,
        times,
    )?;
    drop(claims);
    statement.payload = Payload(jws.payload);
    Ok(statement)
}

/// The message of a key lookup that found nothing.
pub(crate) fn unknown_key(kid: &str) -> VerifyError {
    VerifyError::statement(format!(
        "the statement is signed with key {kid:?}, which the directory does not publish"
    ))
}
