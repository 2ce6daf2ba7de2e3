//! Software statement assertions: their claims, in UK Open Banking names by default or RFC
//! 7591 / CDR names by configuration. Issuing one (checks, signing, the record) is
//! `services::statements`.

use ssa_verifier::{
    Authorisation, CompetentAuthorityClaims, ObukClaims, ProfileClaims, Rfc7591Claims,
    StatementClaims,
};

use crate::config::SsaProfile;
use crate::model::Status;
use crate::model::organisation::Organisation;
use crate::model::software::Software;

/// Where the public keystore documents of an organisation and its software live.
pub struct KeystoreUrls {
    pub software_jwks: String,
    pub software_jwks_revoked: String,
    pub org_jwks: String,
    pub org_jwks_revoked: String,
}

impl KeystoreUrls {
    pub fn new(
        public_url: &str,
        org_id: impl std::fmt::Display,
        software_id: impl std::fmt::Display,
    ) -> Self {
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

/// The claims of a statement for `product` of `org` under `profile`, as the verifier crate
/// defines them (one definition for the directory and the banks). Pure: unit-tested.
pub fn claims(
    profile: SsaProfile,
    stamp: &Stamp,
    product: &Software,
    org: &Organisation,
    urls: &KeystoreUrls,
) -> StatementClaims {
    let roles = |roles: &[crate::model::inputs::RegulatedRole]| {
        roles
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let names = match profile {
        SsaProfile::Obuk => ProfileClaims::Obuk(ObukClaims {
            software_client_id: Some(product.client_id.clone()),
            software_client_name: Some(product.client_name.clone()),
            software_client_description: Some(product.description.clone()),
            software_client_uri: product.client_uri.clone(),
            software_logo_uri: product.logo_uri.clone(),
            software_tos_uri: product.tos_uri.clone(),
            software_policy_uri: product.policy_uri.clone(),
            software_redirect_uris: product.redirect_uris.clone(),
            software_environment: Some(product.environment.as_str().to_owned()),
            software_jwks_endpoint: Some(urls.software_jwks.clone()),
            software_jwks_revoked_endpoint: Some(urls.software_jwks_revoked.clone()),
            org_status: Some(title_case(org.status)),
            org_jwks_endpoint: Some(urls.org_jwks.clone()),
            org_jwks_revoked_endpoint: Some(urls.org_jwks_revoked.clone()),
            organisation_competent_authority_claims: Some(CompetentAuthorityClaims {
                authority_id: org.competent_authority.clone(),
                registration_id: org.authority_registration_id.clone(),
                status: title_case(org.status),
                authorisations: vec![Authorisation {
                    member_state: org.country.clone(),
                    roles: roles(&org.roles),
                }],
            }),
        }),
        SsaProfile::Rfc7591 => ProfileClaims::Rfc7591(Rfc7591Claims {
            client_name: Some(product.client_name.clone()),
            client_description: Some(product.description.clone()),
            client_uri: product.client_uri.clone(),
            logo_uri: product.logo_uri.clone(),
            tos_uri: product.tos_uri.clone(),
            policy_uri: product.policy_uri.clone(),
            redirect_uris: product.redirect_uris.clone(),
            jwks_uri: Some(urls.software_jwks.clone()),
        }),
    };
    StatementClaims {
        iss: stamp.issuer.clone(),
        iat: stamp.iat,
        exp: stamp.exp,
        jti: stamp.jti.clone(),
        software_id: product.id.to_string(),
        software_version: Some(product.version.clone()),
        software_roles: roles(&product.roles),
        org_id: org.id.to_string(),
        org_name: Some(org.legal_name.clone()),
        profile: names,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::inputs::{Contact, Environment, RegulatedRole};
    use serde_json::{Map, Value, json};

    /// The claims as the JWS payload carries them.
    fn signed(claims: StatementClaims) -> Map<String, Value> {
        match serde_json::to_value(claims).unwrap() {
            Value::Object(map) => map,
            other => panic!("{other}"),
        }
    }
    use crate::model::software::{Grant, Ineligible};
    use crate::model::{Clock, OrgId, SoftwareId, SystemClock, Timestamp};

    fn now() -> Timestamp {
        SystemClock.now()
    }

    fn org_id() -> OrgId {
        "00000000-0000-4000-8000-000000000001".parse().unwrap()
    }

    fn software_id() -> SoftwareId {
        "00000000-0000-4000-8000-000000000002".parse().unwrap()
    }

    fn org() -> Organisation {
        let at = now();
        Organisation {
            id: org_id(),
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
            require_second_factor: false,
            notify_contacts: false,
            created_at: at,
            updated_at: at,
        }
    }

    fn product() -> Software {
        let at = now();
        Software {
            id: software_id(),
            organisation_id: org_id(),
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
        let c = signed(claims(
            SsaProfile::Obuk,
            &stamp(),
            &product(),
            &org(),
            &urls,
        ));
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
        let c = signed(claims(
            SsaProfile::Rfc7591,
            &stamp(),
            &product(),
            &org(),
            &urls,
        ));
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
        let message =
            |result: Result<(), Ineligible>, grant| result.unwrap_err().refusal(grant).to_string();
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
