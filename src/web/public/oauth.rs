//! The token endpoint (`POST /oauth/token`) and its RFC 8414 metadata: machine clients of the
//! directory's API get short-lived DPoP-bound tokens there. Errors are RFC 6749 error JSON,
//! never problem+json: OAuth clients parse that.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;

use crate::keys::proofs::ALGORITHMS;
use crate::model::client::Scope;
use crate::model::protocol::OAuthCode;
use crate::services::Directory;
use crate::services::oauth::{self, Refusal, TokenRequest};
use crate::web::error::AppError;

fn refused(refusal: &Refusal) -> HttpResponse {
    let mut response = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(refusal.status())
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
    );
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if refusal.status() == 401 {
        // RFC 6749 section 5.2: a client that did not authenticate gets the challenge of
        // the method it should use (private_key_jwt is in the body, not a header scheme).
        response.insert_header((header::WWW_AUTHENTICATE, "DPoP realm=\"ssa-directory\""));
    }
    response.json(json!({"error": refusal.error, "error_description": refusal.description}))
}

/// A token request as the document describes it (the handler reads the form itself, to answer
/// RFC 6749 errors).
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a shape for the OpenAPI document; the handler reads the form itself"
)]
pub(crate) struct TokenForm {
    #[schema(pattern = "^client_credentials$")]
    grant_type: String,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` with `client_assertion`;
    /// absent over mutual TLS (`tls_client_auth`).
    #[schema(pattern = "^urn:ietf:params:oauth:client-assertion-type:jwt-bearer$")]
    client_assertion_type: Option<String>,
    /// The client assertion (RFC 7523), a JWS signed with a key of the client's keystore.
    #[schema(min_length = 1, max_length = 16384)]
    client_assertion: Option<String>,
    /// The software id or organisation id; required over mutual TLS.
    #[schema(min_length = 1, max_length = 64)]
    client_id: Option<String>,
    /// Space-separated scopes within the client's.
    #[schema(max_length = 1000)]
    scope: Option<String>,
}

/// Token endpoint
///
/// OAuth 2.0 client credentials (RFC 6749 section 4.4) for a software product (client_id its
/// software_id) or an organisation (its org id): the client authenticates with
/// `private_key_jwt` (RFC 7523: `client_assertion_type`
/// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, a `client_assertion` signed with
/// PS256 or ES256 by a live key of its keystore, `iss` and `sub` its client_id,
/// `aud` this endpoint's URL or the issuer, `exp` at most five minutes away, a `jti` used
/// once), or, over mutual TLS, with `tls_client_auth` (RFC 8705: `client_id` its software_id
/// and the product's good transport certificate). With a DPoP proof (RFC 9449) for this
/// endpoint the token is bound to that key and is used with `Authorization: DPoP` and a new
/// proof on every call; without one, over mutual TLS, it is bound to the client certificate
/// (`token_type` Bearer) and is used over mutual TLS with that certificate. `scope` is a subset of
/// the client's scopes (a product's `directory:read ssa:issue keys:write certificates:write`,
/// an organisation's `directory:read keys:write events:subscribe`; all when absent). A
/// suspended or revoked product or organisation gets `invalid_grant`, and its live tokens stop
/// working.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth", operation_id = "token", security(()),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded",
        description = "grant_type=client_credentials&client_assertion_type=…&client_assertion=…[&client_id=…][&scope=…], or over mutual TLS grant_type=client_credentials&client_id=…[&scope=…]"),
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof for POST to this endpoint; required unless over mutual TLS.")),
    responses((status = 200, description = "The token: access_token, token_type DPoP (or Bearer for a certificate-bound token), expires_in, scope.", body = Object),
        (status = 400, description = "RFC 6749 error JSON: invalid_request, invalid_grant, invalid_scope, unsupported_grant_type, invalid_dpop_proof.", body = Object),
        (status = 401, description = "RFC 6749 error JSON: invalid_client.", body = Object)))]
pub(crate) async fn token(
    req: HttpRequest,
    state: web::Data<Directory>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    if !crate::web::is_form(&req) {
        return Ok(refused(&Refusal {
            error: OAuthCode::InvalidRequest,
            description: "send the parameters as application/x-www-form-urlencoded".into(),
        }));
    }
    // A token request is small: assertion and proof included, far below this.
    const LIMIT: usize = 64 * 1024;
    let Some(body) = super::form_body(payload, LIMIT).await? else {
        return Ok(refused(&Refusal {
            error: OAuthCode::InvalidRequest,
            description: format!("the request is larger than {} KiB", LIMIT / 1024),
        }));
    };
    let mut request: TokenRequest = match serde_html_form::from_bytes(&body) {
        Ok(request) => request,
        Err(e) => {
            return Ok(refused(&Refusal {
                error: OAuthCode::InvalidRequest,
                description: format!("the parameters cannot be read (each at most once): {e}"),
            }));
        }
    };
    request.dpop = match crate::web::auth::dpop_proof(&req) {
        Ok(proof) => proof,
        Err(why) => {
            return Ok(refused(&Refusal {
                error: OAuthCode::InvalidDpopProof,
                description: why.into(),
            }));
        }
    };
    request.certificate = crate::web::tls::client_certificate(&state.config, &req);
    request.endpoint = format!("{}/oauth/token", crate::web::tls::base_url(&state, &req));
    Ok(match oauth::token(&state, request).await? {
        Ok(issued) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(issued),
        Err(refusal) => refused(&refusal),
    })
}

/// The authorization server metadata of the directory's own API (RFC 8414).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AuthorizationServerMetadata {
    issuer: String,
    token_endpoint: String,
    grant_types_supported: [&'static str; 1],
    response_types_supported: [&'static str; 0],
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    token_endpoint_auth_signing_alg_values_supported: [&'static str; 2],
    dpop_signing_alg_values_supported: [&'static str; 2],
    tls_client_certificate_bound_access_tokens: bool,
    /// RFC 8705 section 5: the token endpoint on the mutual-TLS listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    mtls_endpoint_aliases: Option<MtlsAliases>,
    scopes_supported: Vec<&'static str>,
    service_documentation: String,
}

/// The endpoints of the mutual-TLS listener (RFC 8705 section 5).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MtlsAliases {
    token_endpoint: String,
}

/// Authorization server metadata
///
/// RFC 8414 metadata of the token endpoint for machine clients of the directory's API; with
/// mutual TLS configured, `tls_client_auth`, certificate-bound tokens and (with a mutual-TLS
/// listener) its `mtls_endpoint_aliases`.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth", operation_id = "authorizationServerMetadata", security(()),
    responses((status = 200, description = "The metadata.", body = AuthorizationServerMetadata)))]
pub(crate) async fn metadata(state: web::Data<Directory>) -> HttpResponse {
    let base = &state.public_url;
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(AuthorizationServerMetadata {
            issuer: base.clone(),
            token_endpoint: oauth::token_endpoint(&state),
            grant_types_supported: ["client_credentials"],
            response_types_supported: [],
            token_endpoint_auth_methods_supported: if state.config.mutual_tls() {
                vec!["private_key_jwt", "tls_client_auth"]
            } else {
                vec!["private_key_jwt"]
            },
            token_endpoint_auth_signing_alg_values_supported: ALGORITHMS,
            dpop_signing_alg_values_supported: ALGORITHMS,
            tls_client_certificate_bound_access_tokens: state.config.mutual_tls(),
            mtls_endpoint_aliases: state.mtls_url.as_ref().map(|url| MtlsAliases {
                token_endpoint: format!("{url}/oauth/token"),
            }),
            scopes_supported: Scope::ALL.iter().map(|s| s.as_str()).collect(),
            service_documentation: format!("{base}/api/openapi.json"),
        })
}
