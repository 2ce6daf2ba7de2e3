//! Software statement assertions: the claims (UK Open Banking names by default, RFC 7591 /
//! CDR names by configuration) and their issuance, recorded and audited.

pub mod recorder;

use diesel::Connection;
use serde_json::{Map, Value, json};

use crate::config::SsaProfile;
use crate::db::DbConnection;
use crate::directory::audit::Event;
use crate::directory::organisations::Organisation;
use crate::directory::software::{self, Grant, Software};
use crate::directory::{Actor, Status, now};
use crate::error::AppError;
use crate::keys::signing::{KeyRing, KeyState, SigningKeyRow};
pub use recorder::{Record, Recorder};

/// Where the public keystore documents of an organisation and its software live.
pub struct KeystoreUrls {
    pub software_jwks: String,
    pub software_jwks_revoked: String,
    pub org_jwks: String,
    pub org_jwks_revoked: String,
}

impl KeystoreUrls {
    pub fn new(public_url: &str, org_id: &str, software_id: &str) -> Self {
        Self {
            software_jwks: format!("{public_url}/keystore/{org_id}/{software_id}.jwks"),
            software_jwks_revoked: format!(
                "{public_url}/keystore/{org_id}/revoked/{software_id}.jwks"
            ),
            org_jwks: format!("{public_url}/keystore/{org_id}/{org_id}.jwks"),
            org_jwks_revoked: format!("{public_url}/keystore/{org_id}/revoked/{org_id}.jwks"),
        }
    }
}

/// Time and identity of one statement.
pub struct Stamp {
    pub issuer: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// "Active" as the UK directory spells statuses in claims.
fn title_case(status: Status) -> String {
    let s = status.as_str();
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn insert_optional(claims: &mut Map<String, Value>, name: &str, value: &Option<String>) {
    if let Some(v) = value {
        claims.insert(name.into(), json!(v));
    }
}

/// The claims of a statement for `product` of `org` under `profile`. Pure: unit-tested.
pub fn claims(
    profile: SsaProfile,
    stamp: &Stamp,
    product: &Software,
    org: &Organisation,
    urls: &KeystoreUrls,
) -> Map<String, Value> {
    let roles: Vec<&str> = product.roles.iter().map(|r| r.as_str()).collect();
    let mut c = Map::new();
    c.insert("iss".into(), json!(stamp.issuer));
    c.insert("iat".into(), json!(stamp.iat));
    c.insert("exp".into(), json!(stamp.exp));
    c.insert("jti".into(), json!(stamp.jti));
    c.insert("software_id".into(), json!(product.id));
    c.insert("software_version".into(), json!(product.version));
    c.insert("software_roles".into(), json!(roles));
    c.insert("org_id".into(), json!(org.id));
    c.insert("org_name".into(), json!(org.legal_name));
    match profile {
        SsaProfile::Obuk => {
            c.insert("software_client_id".into(), json!(product.client_id));
            c.insert("software_client_name".into(), json!(product.client_name));
            c.insert(
                "software_client_description".into(),
                json!(product.description),
            );
            insert_optional(&mut c, "software_client_uri", &product.client_uri);
            insert_optional(&mut c, "software_logo_uri", &product.logo_uri);
            insert_optional(&mut c, "software_tos_uri", &product.tos_uri);
            insert_optional(&mut c, "software_policy_uri", &product.policy_uri);
            c.insert(
                "software_redirect_uris".into(),
                json!(product.redirect_uris),
            );
            c.insert(
                "software_environment".into(),
                json!(product.environment.as_str()),
            );
            c.insert("software_jwks_endpoint".into(), json!(urls.software_jwks));
            c.insert(
                "software_jwks_revoked_endpoint".into(),
                json!(urls.software_jwks_revoked),
            );
            c.insert("org_status".into(), json!(title_case(org.status)));
            c.insert("org_jwks_endpoint".into(), json!(urls.org_jwks));
            c.insert(
                "org_jwks_revoked_endpoint".into(),
                json!(urls.org_jwks_revoked),
            );
            let org_roles: Vec<&str> = org.roles.iter().map(|r| r.as_str()).collect();
            c.insert(
                "organisation_competent_authority_claims".into(),
                json!({
                    "authority_id": org.competent_authority,
                    "registration_id": org.authority_registration_id,
                    "status": title_case(org.status),
                    "authorisations": [{"member_state": org.country, "roles": org_roles}],
                }),
            );
        }
        SsaProfile::Rfc7591 => {
            c.insert("client_name".into(), json!(product.client_name));
            c.insert("client_description".into(), json!(product.description));
            insert_optional(&mut c, "client_uri", &product.client_uri);
            insert_optional(&mut c, "logo_uri", &product.logo_uri);
            insert_optional(&mut c, "tos_uri", &product.tos_uri);
            insert_optional(&mut c, "policy_uri", &product.policy_uri);
            c.insert("redirect_uris".into(), json!(product.redirect_uris));
            c.insert("jwks_uri".into(), json!(urls.software_jwks));
        }
    }
    c
}

/// How statements are made: profile, issuer, where keystores live, lifetime.
pub struct Settings<'a> {
    pub profile: SsaProfile,
    pub issuer: &'a str,
    pub public_url: &'a str,
    pub lifetime: time::Duration,
}

/// An issued statement.
pub struct Issued {
    pub jwt: String,
    pub jti: String,
    pub kid: String,
}

/// Issues a statement for an active product of an active organisation: checks and signs on
/// the blocking pool, then records the jti and the audit event through the recorder (group
/// commit) before the statement is returned. Members of the organisation and operators may.
///
/// An API token is checked in the same database call as the rest (see [`Caller`]).
pub async fn issue(
    state: &actix_web::web::Data<crate::AppState>,
    caller: Caller,
    software_id: String,
) -> Result<Issued, AppError> {
    let shared = state.clone();
    let (issued, record) = crate::db::run(&state.pool, move |conn| {
        let settings = Settings {
            profile: shared.config.ssa_profile,
            issuer: &shared.issuer,
            public_url: &shared.public_url,
            lifetime: time::Duration::seconds(shared.config.ssa_lifetime_secs as i64),
        };
        sign(conn, &shared.keyring, caller, &software_id, &settings)
    })
    .await?;
    state.ssa_recorder.record(record).await?;
    Ok(issued)
}

/// Who asks for a statement.
pub enum Caller {
    /// A signed-in portal user.
    User(Actor),
    /// The secret of an API token, not yet checked.
    Token(String),
}

/// What an issuance reads: who asks, the product, its organisation, the signing key.
struct Basis {
    actor: Actor,
    product: Software,
    org: Organisation,
    key: SigningKeyRow,
}

/// The token's user, the product, its organisation, the caller's membership in it and the
/// active key, in one statement. `None` when any of them is missing; the caller then takes
/// the step-by-step path, which says which one (an unknown token is a 401, an unknown or
/// foreign product a 404).
fn basis_by_token(
    conn: &mut DbConnection,
    secret: &str,
    software_id: &str,
) -> Result<Option<Basis>, AppError> {
    use crate::db::schema::{api_tokens, memberships, organisations, signing_keys, software};
    use crate::directory::access::Access;
    use crate::directory::organisations::OrganisationRow;
    use crate::directory::software::SoftwareRow;
    use crate::directory::users::{self, User};
    use diesel::prelude::*;
    let Some(hash) = users::token_key(secret) else {
        return Ok(None);
    };
    // Run on the backend's own connection: through `MultiConnection` the statement is
    // serialised and its SQL rebuilt on every call (measured at a third of this read's cost).
    macro_rules! load {
        ($conn:expr) => {
            api_tokens::table
                .inner_join(crate::db::schema::users::table)
                .inner_join(software::table.on(software::id.eq(software_id.to_owned())))
                .inner_join(
                    organisations::table.on(organisations::id.eq(software::organisation_id)),
                )
                .left_join(
                    memberships::table.on(memberships::organisation_id
                        .eq(organisations::id)
                        .and(memberships::user_id.eq(api_tokens::user_id))),
                )
                .inner_join(
                    signing_keys::table.on(signing_keys::state.eq(KeyState::Active.as_str())),
                )
                .filter(api_tokens::token_hash.eq(hash))
                .filter(api_tokens::revoked_at.is_null())
                .filter(crate::db::schema::users::disabled_at.is_null())
                .select((
                    User::as_select(),
                    SoftwareRow::as_select(),
                    OrganisationRow::as_select(),
                    memberships::role.nullable(),
                    SigningKeyRow::as_select(),
                ))
                .first::<(
                    User,
                    SoftwareRow,
                    OrganisationRow,
                    Option<String>,
                    SigningKeyRow,
                )>($conn)
                .optional()?
        };
    }
    let row = match conn {
        DbConnection::Sqlite(conn) => load!(conn),
        DbConnection::Postgresql(conn) => load!(conn),
    };
    let Some((user, product, org, role, key)) = row else {
        return Ok(None);
    };
    let actor = user.actor();
    if !actor.is_operator {
        // Another organisation's product is not found, exactly as on the step-by-step path.
        Access::of_member(role.as_deref()).map_err(|_| AppError::NotFound("software"))?;
    }
    Ok(Some(Basis {
        actor,
        product: Software::try_from(product)?,
        org: Organisation::try_from(org)?,
        key,
    }))
}

/// The same, one query at a time; its errors say what is missing.
fn basis(conn: &mut DbConnection, caller: Caller, software_id: &str) -> Result<Basis, AppError> {
    if let Caller::Token(secret) = &caller
        && let Some(basis) = basis_by_token(conn, secret, software_id)?
    {
        return Ok(basis);
    }
    // One snapshot for the reads (and, on SQLite, one read lock instead of one per query).
    conn.transaction(|tx| {
        let actor = match caller {
            Caller::User(actor) => actor,
            Caller::Token(secret) => crate::directory::users::authenticate_token(tx, &secret)?,
        };
        let (product, org, _) = software::get(tx, &actor, software_id)?;
        let key = SigningKeyRow::active(tx)?
            .ok_or_else(|| AppError::Unavailable("no active signing key".into()))?;
        Ok(Basis {
            actor,
            product,
            org,
            key,
        })
    })
}

/// Checks that the product may get a statement and signs one with the active key; the
/// statement is not handed out until its record is committed.
pub fn sign(
    conn: &mut DbConnection,
    ring: &KeyRing,
    caller: Caller,
    software_id: &str,
    settings: &Settings<'_>,
) -> Result<(Issued, Record), AppError> {
    let Basis {
        actor,
        product,
        org,
        key,
    } = basis(conn, caller, software_id)?;
    product
        .eligibility(org.status)
        .map_err(|why| why.refusal(Grant::Statement))?;
    let actor = &actor;
    let issued_at = now();
    let expires_at = issued_at + settings.lifetime;
    let stamp = Stamp {
        issuer: settings.issuer.to_owned(),
        iat: issued_at.assume_utc().unix_timestamp(),
        exp: expires_at.assume_utc().unix_timestamp(),
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let urls = KeystoreUrls::new(settings.public_url, &org.id, &product.id);
    let claims = claims(settings.profile, &stamp, &product, &org, &urls);
    let jwt = ring.sign(&key.kid, &key.alg, &claims)?;
    let record = Record {
        issued: recorder::IssuedSsa {
            jti: stamp.jti.clone(),
            software_id: product.id.clone(),
            kid: key.kid.clone(),
            issued_by: actor.audit_name(),
            issued_at,
            expires_at,
        },
        event: Event::new(actor, "ssa.issue", "software", &product.id)
            .organisation(&org.id)
            .details(json!({"jti": stamp.jti, "kid": key.kid, "exp": stamp.exp})),
    };
    Ok((
        Issued {
            jwt,
            jti: stamp.jti,
            kid: key.kid,
        },
        record,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::types::{Contact, Environment, RegulatedRole};

    fn org() -> Organisation {
        let at = now();
        Organisation {
            id: "org-1".into(),
            legal_name: "Example Ltd".into(),
            registration_number: "1".into(),
            country: "GB".into(),
            competent_authority: "FCA".into(),
            authority_registration_id: "123".into(),
            roles: vec![RegulatedRole::Aisp, RegulatedRole::Pisp],
            business_contact: Contact::default(),
            technical_contact: Contact::default(),
            authorization_servers: vec![],
            status: Status::Active,
            status_reason: None,
            created_at: at,
            updated_at: at,
        }
    }

    fn product() -> Software {
        let at = now();
        Software {
            id: "sw-1".into(),
            organisation_id: "org-1".into(),
            client_id: "client-1".into(),
            client_name: "App".into(),
            description: "An app".into(),
            version: "1.0".into(),
            client_uri: Some("https://app.example".into()),
            logo_uri: None,
            tos_uri: None,
            policy_uri: Some("https://app.example/privacy".into()),
            redirect_uris: vec!["https://app.example/cb".into()],
            roles: vec![RegulatedRole::Aisp],
            environment: Environment::Sandbox,
            status: Status::Active,
            status_reason: None,
            created_at: at,
            updated_at: at,
            pending_change: None,
        }
    }

    fn stamp() -> Stamp {
        Stamp {
            issuer: "https://directory.example".into(),
            iat: 1_000,
            exp: 2_000,
            jti: "j".into(),
        }
    }

    #[test]
    fn obuk_claims_use_the_uk_names() {
        let urls = KeystoreUrls::new("https://d.example", "org-1", "sw-1");
        let c = claims(SsaProfile::Obuk, &stamp(), &product(), &org(), &urls);
        assert_eq!(c["software_client_name"], "App");
        assert_eq!(
            c["software_redirect_uris"],
            json!(["https://app.example/cb"])
        );
        assert_eq!(c["software_roles"], json!(["AISP"]));
        assert_eq!(c["software_environment"], "sandbox");
        assert_eq!(c["org_status"], "Active");
        assert_eq!(
            c["software_jwks_endpoint"],
            "https://d.example/keystore/org-1/sw-1.jwks"
        );
        assert_eq!(
            c["org_jwks_revoked_endpoint"],
            "https://d.example/keystore/org-1/revoked/org-1.jwks"
        );
        assert_eq!(
            c["organisation_competent_authority_claims"]["authorisations"][0]["roles"],
            json!(["AISP", "PISP"])
        );
        assert!(
            !c.contains_key("software_logo_uri"),
            "absent URIs are omitted"
        );
        assert!(!c.contains_key("client_name"));
    }

    #[test]
    fn rfc7591_claims_use_the_registration_names() {
        let urls = KeystoreUrls::new("https://d.example", "org-1", "sw-1");
        let c = claims(SsaProfile::Rfc7591, &stamp(), &product(), &org(), &urls);
        for name in [
            "client_name",
            "client_uri",
            "client_description",
            "redirect_uris",
            "policy_uri",
            "jwks_uri",
            "software_id",
            "software_version",
            "software_roles",
            "org_id",
            "org_name",
            "iss",
            "iat",
            "exp",
            "jti",
        ] {
            assert!(c.contains_key(name), "{name} missing");
        }
        assert!(!c.contains_key("software_client_name"));
        assert_eq!(c["jwks_uri"], "https://d.example/keystore/org-1/sw-1.jwks");
    }

    #[test]
    fn only_active_software_of_active_organisations_is_eligible() {
        let message = |result: Result<(), software::Ineligible>, grant| {
            result.unwrap_err().refusal(grant).to_string()
        };
        assert!(product().eligibility(Status::Active).is_ok());
        let mut suspended = product();
        suspended.status = Status::Suspended;
        assert_eq!(
            message(suspended.eligibility(Status::Active), Grant::Statement),
            "the software is suspended; only active software gets a software statement"
        );
        assert_eq!(
            message(product().eligibility(Status::Pending), Grant::Certificate),
            "the organisation is pending; only software of an active organisation gets a certificate"
        );
        assert!(
            message(suspended.eligibility(Status::Revoked), Grant::Key)
                .starts_with("the organisation is revoked")
        );
    }
}
