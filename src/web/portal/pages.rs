//! The portal's page types: one askama template each, all on `layouts/base.html`.

use askama::Template;

use crate::model::account::{Account, ApiToken};
use crate::model::audit::AuditEvent;
use crate::model::certificate::{Certificate, Issued, RevocationReason};
use crate::model::keys::ParticipantKey;
use crate::model::organisation::{AddressInvitation, Invitation, Member, Organisation};
use crate::model::software::Software;
use crate::model::{Page, Status, Transition};

/// What every page needs: who is signed in, the CSRF token for its forms, a flash message.
#[derive(Debug, Clone, Default)]
pub struct PageCtx {
    pub email: Option<String>,
    pub is_operator: bool,
    pub csrf: String,
    pub flash: Option<String>,
    /// The signed-in account has not verified its address yet.
    pub unverified: bool,
}

impl PageCtx {
    pub fn anonymous() -> Self {
        Self::default()
    }
}

/// Previous and next links of a paginated list.
#[derive(Debug, Clone)]
pub struct Pager {
    pub page: u32,
    pub total: u64,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// Links that keep `base_query` (already URL-encoded, may be empty) and change the page.
    pub fn new<T>(page: &Page<T>, path: &str, base_query: &str) -> Self {
        let link = |n: u32| {
            if base_query.is_empty() {
                format!("{path}?page={n}")
            } else {
                format!("{path}?{base_query}&page={n}")
            }
        };
        Self {
            page: page.page,
            total: page.total,
            previous: page.has_previous().then(|| link(page.page - 1)),
            next: page.has_next().then(|| link(page.page + 1)),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub ctx: PageCtx,
    pub title: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub ctx: PageCtx,
    pub email: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "verify_email.html")]
pub struct VerifyEmailPage {
    pub ctx: PageCtx,
    pub token: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
pub struct PasswordResetPage {
    pub ctx: PageCtx,
    /// What happened: the request's answer, or why not.
    pub message: Option<String>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "password_reset_confirm.html")]
pub struct PasswordResetConfirmPage {
    pub ctx: PageCtx,
    pub token: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignupPage {
    pub ctx: PageCtx,
    pub email: String,
    pub error: Option<String>,
}

/// One row of a member's dashboard.
pub struct MembershipRow {
    pub organisation: Organisation,
    pub software: Vec<Software>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub ctx: PageCtx,
    pub invitations: Vec<Invitation>,
    pub memberships: Vec<MembershipRow>,
    pub pending_organisations: u64,
    pub pending_software: u64,
    pub organisations: Vec<Organisation>,
    pub pager: Option<Pager>,
}

/// The values of the application form, kept when it is shown again with an error.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ApplyForm {
    pub legal_name: String,
    pub registration_number: String,
    pub country: String,
    pub competent_authority: String,
    pub authority_registration_id: String,
    pub roles: Vec<String>,
    pub business_name: String,
    pub business_email: String,
    pub business_phone: String,
    pub technical_name: String,
    pub technical_email: String,
    pub technical_phone: String,
}

impl ApplyForm {
    pub fn has_role(&self, role: &&str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

#[derive(Template)]
#[template(path = "organisation_form.html")]
pub struct ApplyPage {
    pub ctx: PageCtx,
    pub form: ApplyForm,
    pub roles: Vec<&'static str>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "organisation.html")]
pub struct OrganisationPage {
    pub ctx: PageCtx,
    pub org: Organisation,
    pub is_admin: bool,
    pub is_operator: bool,
    pub transitions: Vec<Transition>,
    pub members: Vec<Member>,
    pub invitations: Vec<Invitation>,
    /// Invitations mailed to addresses without an account.
    pub mailed: Vec<AddressInvitation>,
    pub software: Vec<Software>,
    pub history: Vec<AuditEvent>,
    pub keys: Vec<ParticipantKey>,
    /// The authorization servers, one "issuer registration_endpoint" per line.
    pub servers_text: String,
    /// The claims to their issuers and how to prove each.
    pub issuer_claims: Vec<crate::model::organisation::IssuerClaim>,
    pub is_aspsp: bool,
    /// Push subscriptions with their delivery status.
    pub subscriptions: Vec<crate::model::subscription::SubscriptionView>,
    /// The event kinds one may subscribe to.
    pub event_kinds: Vec<&'static str>,
    pub error: Option<String>,
}

/// The values of the software form, kept when it is shown again with an error.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct SoftwareForm {
    pub client_name: String,
    pub description: String,
    pub version: String,
    pub client_uri: String,
    pub logo_uri: String,
    pub tos_uri: String,
    pub policy_uri: String,
    pub redirect_uris: String,
    pub roles: Vec<String>,
    pub environment: String,
}

impl SoftwareForm {
    pub fn has_role(&self, role: &&str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The form as the product stands, with the values of its pending change where it has
    /// one (submitting the form unchanged keeps the request).
    pub fn from_software(product: &Software) -> Self {
        let pending = product.pending_change.as_ref();
        let environment = pending
            .and_then(|p| p.environment)
            .unwrap_or(product.environment);
        let roles = pending
            .and_then(|p| p.roles.clone())
            .unwrap_or_else(|| product.roles.clone());
        Self {
            client_name: product.client_name.clone(),
            description: product.description.clone(),
            version: product.version.clone(),
            client_uri: product.client_uri.clone().unwrap_or_default(),
            logo_uri: product.logo_uri.clone().unwrap_or_default(),
            tos_uri: product.tos_uri.clone().unwrap_or_default(),
            policy_uri: product.policy_uri.clone().unwrap_or_default(),
            redirect_uris: product.redirect_uris.join("\n"),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            environment: environment.as_str().to_owned(),
        }
    }
}

#[derive(Template)]
#[template(path = "software_form.html")]
pub struct SoftwareFormPage {
    pub ctx: PageCtx,
    pub org: Organisation,
    /// Where the form posts: registration or edit.
    pub action: String,
    pub heading: String,
    pub form: SoftwareForm,
    pub roles: Vec<&'static str>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "software.html")]
pub struct SoftwarePage {
    pub ctx: PageCtx,
    pub product: Software,
    pub org: Organisation,
    pub effective_status: Status,
    pub is_operator: bool,
    pub editable: bool,
    pub transitions: Vec<Transition>,
    pub history: Vec<AuditEvent>,
    pub keys: Vec<ParticipantKey>,
    pub certificates: Vec<Certificate>,
    /// The latest statements issued for the product.
    pub statements: Vec<crate::model::discovery::StatementSummary>,
    /// Transparency log indexes by statement jti and certificate serial.
    pub log_indexes: std::collections::HashMap<String, i64>,
    pub reasons: Vec<RevocationReason>,
    /// A certificate just issued: shown with its chain and notes.
    pub issued: Option<Issued>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "queue.html")]
pub struct QueuePage {
    pub ctx: PageCtx,
    pub organisations: Vec<Organisation>,
    pub software: Vec<Software>,
    pub organisations_pager: Pager,
    pub software_pager: Pager,
    /// Products whose change waits for a decision (the oldest page of them).
    pub changes: Vec<Software>,
    pub changes_total: u64,
    /// Issuers more than one organisation claims.
    pub contested: Vec<crate::model::organisation::ContestedIssuer>,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub ctx: PageCtx,
    pub events: Vec<AuditEvent>,
    pub action: String,
    pub actor: String,
    pub subject_id: String,
    pub organisation_id: String,
    pub pager: Pager,
}

#[derive(Template)]
#[template(path = "tokens.html")]
pub struct TokensPage {
    pub ctx: PageCtx,
    pub tokens: Vec<ApiToken>,
    /// A token just created: its secret is shown this once.
    pub created: Option<String>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub ctx: PageCtx,
    /// Whether the account gets the notices that are not about its security.
    pub notifications: bool,
    pub factors: crate::services::mfa::Factors,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "step_up.html")]
pub struct StepUpPage {
    pub ctx: PageCtx,
    /// Where the form goes again, with its fields and the code.
    pub action: String,
    pub fields: Vec<(String, String)>,
    /// A passkey ceremony, when the account has a passkey.
    pub passkey: Option<crate::services::passkeys::Begun>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage {
    pub ctx: PageCtx,
    /// A passkey ceremony, when the account has a passkey.
    pub passkey: Option<crate::services::passkeys::Begun>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "passkey_enrol.html")]
pub struct PasskeyEnrolPage {
    pub ctx: PageCtx,
    pub name: String,
    pub ceremony: crate::services::passkeys::Begun,
}

#[derive(Template)]
#[template(path = "totp_enrol.html")]
pub struct TotpEnrolPage {
    pub ctx: PageCtx,
    pub enrolment: crate::services::mfa::Enrolment,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub ctx: PageCtx,
    pub codes: Vec<String>,
}

#[derive(Template)]
#[template(path = "account_mail.html")]
pub struct AccountMailPage {
    pub ctx: PageCtx,
    pub email: String,
    pub messages: Vec<crate::store::mail::Queued>,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub ctx: PageCtx,
    /// Each period: its query value, its name, and whether it is the one shown.
    pub periods: Vec<(&'static str, &'static str, bool)>,
    pub charts: Vec<ChartView>,
    pub median_decision_hours: Option<String>,
    pub push_backlog: i64,
    /// Organisations, products and change requests waiting for a decision.
    pub waiting: (i64, i64, i64),
    pub generated_at: String,
    pub current_at: String,
}

/// One chart on the overview: its SVG and the same numbers as a table.
pub struct ChartView {
    pub id: String,
    pub title: String,
    pub axis: String,
    pub svg: String,
    pub series: Vec<String>,
    /// Each label with its value in every series.
    pub rows: Vec<(String, Vec<i64>)>,
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub ctx: PageCtx,
    pub query: String,
    /// Whether a search ran (and found what `groups` holds, perhaps nothing).
    pub searched: bool,
    pub groups: Vec<SearchGroup>,
    pub error: Option<String>,
}

/// One kind of hits on the search page, and the link to its next page.
pub struct SearchGroup {
    pub heading: &'static str,
    pub kind: &'static str,
    pub items: Vec<crate::model::search::Hit>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "users.html")]
pub struct UsersPage {
    pub ctx: PageCtx,
    pub accounts: Vec<Account>,
    pub filter: String,
    pub pager: Pager,
    pub error: Option<String>,
}
