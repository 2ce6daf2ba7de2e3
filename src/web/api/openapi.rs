//! The OpenAPI 3.1 document, generated from the handlers' and types' annotations. Each
//! handler declares what it answers on success and the refusals particular to it; the
//! refusals every operation can meet (a malformed request, a missing token, an unknown id, a
//! body too large or too slow, the database being unavailable) are added here once, with the
//! bearer-token security of the API.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use super::{
    accounts, certificates, keys, organisations, search, software, statements, subscriptions,
};
use crate::model;
use crate::web::{error::Problem, public};

/// The document: every path the directory serves outside the portal.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "SSA directory",
        description = "An open-banking trust directory: onboarding of organisations and their software products, signed software statement assertions (SSAs), the directory JWKS, the participant keystore, status and discovery documents, and a certificate authority with CRL and OCSP. The JSON API under /api/v1 takes a bearer token (Authorization: Bearer <token>) created in the portal or with `ssa-directory token create`, or, for a software product's or an organisation's own software, an access token of POST /oauth/token sent as Authorization: DPoP <token> with a DPoP proof (RFC 9449) on the calls a machine client may make. Errors are RFC 9457 problem+json with type urn:ssa-directory:problem:<slug>. A known path asked with another method answers 405 with an Allow header.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        accounts::me,
        accounts::update_me,
        accounts::change_password,
        accounts::request_password_reset,
        accounts::confirm_password_reset,
        accounts::list_users,
        accounts::set_user_disabled,
        organisations::my_invitations,
        organisations::answer_invitation,
        organisations::apply,
        organisations::list,
        organisations::get,
        organisations::transition,
        organisations::members,
        organisations::add_member,
        organisations::remove_member,
        organisations::withdraw_address_invitation,
        organisations::set_authorization_servers,
        organisations::issuer_claims,
        organisations::verify_issuer,
        organisations::release_issuer,
        organisations::contested_issuers,
        software::register,
        software::list_for_organisation,
        software::list,
        software::get,
        software::update,
        software::transition,
        software::issue_ssa,
        software::decide_change,
        software::withdraw_change,
        keys::list_software_keys,
        keys::upload_software_key,
        keys::remove_software_key,
        keys::list_org_keys,
        keys::upload_org_key,
        keys::remove_org_key,
        certificates::issue,
        certificates::list,
        certificates::get,
        certificates::revoke,
        certificates::validate,
        search::search,
        search::overview,
        statements::revoke,
        subscriptions::list,
        subscriptions::create,
        subscriptions::get,
        subscriptions::change,
        subscriptions::delete,
        subscriptions::poll,
        accounts::audit_log,
        accounts::list_tokens,
        accounts::create_token,
        accounts::revoke_token,
        serve,
        public::healthz,
        public::readyz,
        public::metrics,
        public::jwks,
        public::metadata,
        public::keystore_document,
        public::revoked_keystore,
        public::software_status,
        public::software_statuses,
        public::participants,
        public::log_checkpoint,
        public::log_proof,
        public::log_tile,
        public::log_entries_tile,
        public::events::feed,
        public::statement_status,
        public::ca_chain,
        public::crl,
        public::issuer_crl,
        public::ocsp_post,
        public::ocsp_get,
        public::oauth::token,
        public::oauth::metadata,
        public::federation::entity_configuration,
        public::federation::fetch,
        public::federation::list,
        public::federation::resolve,
        software::put_entity_configuration,
        software::entity_identifier,
        software::set_entity_identifier,
        organisations::put_entity_configuration,
        public::federation::leaf_configuration,
        public::federation::organisation_configuration,
        public::federation::trust_mark,
        public::federation::trust_mark_list,
        public::federation::trust_mark_status,
        public::federation::historical_keys,
    ),
    components(schemas(
        Problem,
        model::organisation::Organisation,
        model::software::Software,
        model::audit::AuditEvent,
        model::account::Account,
        model::account::ApiToken,
        model::keys::ParticipantKey,
        model::certificate::Certificate,
        model::discovery::SoftwareStatus,
        model::Status,
        model::Transition,
    )),
    modifiers(&Common),
    tags(
        (name = "meta", description = "This document."),
        (name = "account", description = "The caller's account and API tokens; operators' list of accounts."),
        (name = "organisations", description = "Organisations: applications, operator decisions and authorization servers."),
        (name = "members", description = "Members of organisations and their invitations."),
        (name = "software", description = "Software products: registration, edits and their re-approval, operator decisions and software statements (SSAs)."),
        (name = "keys", description = "Participant keys: public JWKs of software products and organisations, published in the keystore."),
        (name = "certificates", description = "Certificates issued by the directory's CA from CSRs, their revocation, and validation of a certificate a client presented."),
        (name = "events", description = "Push subscriptions: RFC 8935 delivery of the signed change events to an organisation's endpoints, with their delivery status."),
        (name = "audit", description = "The append-only audit log."),
        (name = "operators", description = "The operator's console: search across everything, and the ecosystem's health in numbers."),
        (name = "oauth", description = "The token endpoint for machine clients of the API (OAuth 2.0 client credentials with private_key_jwt and DPoP-bound tokens) and its RFC 8414 metadata."),
        (name = "federation", description = "OpenID Federation 1.0: the directory as a trust anchor (its entity configuration, subordinate statements about software products, the list of subordinates), signed with federation keys apart from the SSA keys."),
        (name = "public", description = "Unauthenticated documents for relying parties (banks' authorization servers)."),
        (name = "operations", description = "Unauthenticated liveness, readiness and metrics."),
    ),
)]
pub struct ApiDoc;

/// The security scheme of the API and the refusals every operation can meet.
struct Common;

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

fn add(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| problem(description));
}

impl utoipa::Modify for Common {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let api = path.starts_with("/api/v1/");
            // Asked by people who cannot log in: no token.
            let public = path.starts_with("/api/v1/password-reset");
            let has_parameters = path.contains('{');
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                if api && !public {
                    operation.security = Some(vec![SecurityRequirement::new(
                        "bearer",
                        Vec::<String>::new(),
                    )]);
                    add(
                        operation,
                        "401",
                        "No token, or an unknown, revoked or expired one.",
                    );
                }
                if api {
                    add(
                        operation,
                        "422",
                        "Invalid input; the detail names the field.",
                    );
                    add(
                        operation,
                        "400",
                        "A malformed request (query string or body), or a token in the URL.",
                    );
                }
                if api || has_parameters {
                    add(operation, "404", "Unknown, or not visible to the caller.");
                }
                if api && !public {
                    add(
                        operation,
                        "403",
                        "Not allowed; the detail says why: not an operator or an admin, the account's address not verified yet, or an organisation that requires a second factor of its members (problem type second-factor-required).",
                    );
                }
                let has_query =
                    operation.parameters.iter().flatten().any(|p| {
                        matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)
                    });
                if has_query {
                    add(operation, "400", "A malformed query string.");
                    add(operation, "422", "A query parameter out of its range.");
                }
                if operation.request_body.is_some() {
                    add(
                        operation,
                        "408",
                        "The body did not arrive within body_read_timeout_secs.",
                    );
                    add(operation, "413", "The body is larger than max_body_bytes.");
                    add(operation, "415", "The body is not of the expected type.");
                }
                add(
                    operation,
                    "500",
                    "An unexpected error, logged with the request id.",
                );
                add(operation, "503", "The database is unavailable.");
            }
        }
    }
}

/// The document as served, generated once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| ApiDoc::openapi().to_pretty_json().unwrap_or_default())
}

/// This document
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", operation_id = "openapi", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object)))]
pub(crate) async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(document())
}
