//! What the operator's search finds: hits of six kinds, grouped, each a page.

use serde::{Deserialize, Serialize};

use super::certificate::CertStatus;
use super::ids::{OrgId, Serial, SoftwareId, UserId};
use super::status::Status;

/// What a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Organisation,
    Software,
    Account,
    Certificate,
    Key,
    Statement,
}

impl Kind {
    pub const ALL: [Self; 6] = [
        Self::Organisation,
        Self::Software,
        Self::Account,
        Self::Certificate,
        Self::Key,
        Self::Statement,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organisation => "organisation",
            Self::Software => "software",
            Self::Account => "account",
            Self::Certificate => "certificate",
            Self::Key => "key",
            Self::Statement => "statement",
        }
    }

    /// How the portal heads a group of them.
    pub fn heading(self) -> &'static str {
        match self {
            Self::Organisation => "Organisations",
            Self::Software => "Software products",
            Self::Account => "Accounts",
            Self::Certificate => "Certificates",
            Self::Key => "Participant keys",
            Self::Statement => "Software statements",
        }
    }
}

/// One thing found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hit {
    pub kind: Kind,
    /// Its identifier: an org id, software id, account id, serial, kid or jti.
    pub id: String,
    /// Its name, email or subject.
    pub title: String,
    /// Its status or state.
    pub status: String,
    /// What the query matched: `name`, `org id`, `client id`, `email`, `serial`, ...
    pub matched: String,
    /// The organisation it belongs to.
    #[schema(value_type = Option<String>)]
    pub organisation_id: Option<OrgId>,
    /// The product it belongs to.
    #[schema(value_type = Option<String>)]
    pub software_id: Option<SoftwareId>,
    /// Where the portal shows it.
    pub href: String,
}

impl Hit {
    pub fn organisation(id: OrgId, name: String, status: Status, matched: &str) -> Self {
        Self {
            kind: Kind::Organisation,
            href: format!("/organisations/{id}"),
            id: id.to_string(),
            title: name,
            status: status.as_str().to_owned(),
            matched: matched.to_owned(),
            organisation_id: Some(id),
            software_id: None,
        }
    }

    pub fn software(
        id: SoftwareId,
        name: String,
        status: Status,
        org: OrgId,
        matched: &str,
    ) -> Self {
        Self {
            kind: Kind::Software,
            href: format!("/software/{id}"),
            id: id.to_string(),
            title: name,
            status: status.as_str().to_owned(),
            matched: matched.to_owned(),
            organisation_id: Some(org),
            software_id: Some(id),
        }
    }

    pub fn account(id: UserId, email: String, operator: bool) -> Self {
        Self {
            kind: Kind::Account,
            href: format!(
                "/operator/users?email={}",
                percent_encoding::utf8_percent_encode(&email, percent_encoding::NON_ALPHANUMERIC)
            ),
            id: id.to_string(),
            title: email,
            status: if operator { "operator" } else { "developer" }.to_owned(),
            matched: "email".to_owned(),
            organisation_id: None,
            software_id: None,
        }
    }

    pub fn certificate(
        serial: Serial,
        subject: String,
        status: CertStatus,
        org: OrgId,
        product: SoftwareId,
        matched: &str,
    ) -> Self {
        Self {
            kind: Kind::Certificate,
            href: format!("/software/{product}#certificate-{serial}"),
            id: serial.to_string(),
            title: subject,
            status: status.as_str().to_owned(),
            matched: matched.to_owned(),
            organisation_id: Some(org),
            software_id: Some(product),
        }
    }

    pub fn key(kid: String, org: OrgId, product: Option<SoftwareId>, revoked: bool) -> Self {
        Self {
            kind: Kind::Key,
            href: match product {
                Some(product) => format!("/software/{product}"),
                None => format!("/organisations/{org}"),
            },
            title: kid.clone(),
            id: kid,
            status: if revoked { "revoked" } else { "published" }.to_owned(),
            matched: "kid".to_owned(),
            organisation_id: Some(org),
            software_id: product,
        }
    }

    pub fn statement(jti: String, product: SoftwareId, org: Option<OrgId>, revoked: bool) -> Self {
        Self {
            kind: Kind::Statement,
            href: format!("/software/{product}"),
            title: jti.clone(),
            id: jti,
            status: if revoked { "revoked" } else { "issued" }.to_owned(),
            matched: "jti".to_owned(),
            organisation_id: org,
            software_id: Some(product),
        }
    }
}

/// Where a page of name matches ends: the last one's lowercase name and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCursor {
    pub name: String,
    pub id: String,
}

impl NameCursor {
    /// The opaque form a page hands out as `next`.
    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}\n{}", self.name, self.id))
    }

    /// Reads a `next`; `None` for anything a page did not hand out.
    pub fn decode(text: &str) -> Option<Self> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (name, id) = text.rsplit_once('\n')?;
        Some(Self {
            name: name.to_owned(),
            id: id.to_owned(),
        })
    }
}

/// The hits of one kind, and the `after` of the next page of name matches when more follow.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub kind: Kind,
    pub items: Vec<Hit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// What a search found, grouped by kind (kinds with nothing left out).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Results {
    pub query: String,
    pub groups: Vec<Group>,
}
