//! OpenID Federation endpoints: the registrar's entity configuration, explicit registration
//! and automatic registration.

use super::*;

/// A federation endpoint's error (OpenID Federation 1.0, section 8.9).
pub(super) fn federation_error(
    status: u16,
    code: &str,
    description: impl std::fmt::Display,
) -> HttpResponse {
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
    )
    .insert_header((header::CACHE_CONTROL, "no-store"))
    .content_type("application/json")
    .body(json!({"error": code, "error_description": description.to_string()}).to_string())
}

/// `GET /.well-known/openid-federation`: the registrar's entity configuration.
pub(super) async fn entity_configuration(state: web::Data<State>) -> HttpResponse {
    let Some(federation) = &state.federation else {
        return federation_error(
            404,
            "not_found",
            "this registrar has no trust anchor configured",
        );
    };
    match federation.entity_configuration(now()) {
        Ok(jwt) => HttpResponse::Ok()
            .content_type("application/entity-statement+jwt")
            .body(jwt),
        Err(e) => server_error(e),
    }
}

/// `POST /federation/register`: explicit registration (OpenID Federation 1.0, section 12.2).
/// The body is the client's entity configuration (`application/entity-statement+jwt`),
/// addressed to this registrar; its trust chain is resolved up to the trust anchor, its
/// resolved metadata registered under the policy, and the answer is the signed
/// `explicit-registration-response+jwt` whose `openid_relying_party` metadata is the client
/// information (with the RFC 7592 access token and URI).
pub(super) async fn register_explicit(
    state: web::Data<State>,
    req: HttpRequest,
    body: String,
) -> HttpResponse {
    let Some(federation) = &state.federation else {
        return federation_error(
            404,
            "not_found",
            "this registrar has no trust anchor configured",
        );
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if !content_type.eq_ignore_ascii_case("application/entity-statement+jwt") {
        return federation_error(
            400,
            "invalid_request",
            "send the client's entity configuration as application/entity-statement+jwt",
        );
    }
    let request = body.trim().to_owned();
    let sub = match federation.check_request(&request) {
        Ok(sub) => sub,
        Err(why) => return federation_error(400, "invalid_request", why),
    };
    let state = state.into_inner();
    let decided = web::block(
        move || -> Result<Result<String, RegistrationError>, anyhow::Error> {
            let federation = state.federation()?;
            let chain = match ssa_verifier::federation::resolve_chain_from(
                &request,
                &federation.trust_anchor,
                federation.anchor_keys.as_ref(),
                &state.http,
            ) {
                Ok(chain) if chain.entity_id == sub => chain,
                Ok(_) => {
                    return Ok(Err(RegistrationError::from(
                        ssa_verifier::federation::FederationError {
                            code: ssa_verifier::protocol::FederationCode::InvalidTrustChain,
                            description: "the chain is not the requesting entity's".into(),
                        },
                    )));
                }
                Err(e) => return Ok(Err(e.into())),
            };
            let client = match state.registrar.register_federated(&chain) {
                Ok(client) => client,
                Err(e) => return Ok(Err(e)),
            };
            let mut conn = Lazy {
                pool: &state.pool,
                conn: None,
            };
            let at = now();
            match keep(&state, &mut conn, client, None, at)? {
                Stored::Done(registered, _) => {
                    Ok(Ok(federation.response(&sub, &chain, registered, at)?))
                }
                Stored::Refused(e) => Ok(Err(e)),
            }
        },
    )
    .await;
    match decided.map_err(anyhow::Error::from).and_then(|r| r) {
        Ok(Ok(jwt)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("application/explicit-registration-response+jwt")
            .body(jwt),
        Ok(Err(e)) => error(&e),
        Err(e) => server_error(e),
    }
}

/// `POST /federation/automatic`: automatic registration (OpenID Federation 1.0, section
/// 12.1), for the authorization server (with the status token, when one is set). The form's
/// `request` is the request object of an authorization request whose `client_id` is an entity
/// identifier: the registrar resolves that entity's trust chain up to the trust anchor,
/// checks the request object against the keys of its resolved metadata, and answers the
/// client (its id the entity identifier), registered under the policy. Refusals are
/// `invalid_request_object` (the request object) or the chain's and policy's errors.
pub(super) async fn register_automatic(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if !clients::allowed(&state, &req) {
        return actix_web::ResponseError::error_response(&clients::refused());
    }
    if state.federation.is_none() {
        return federation_error(
            404,
            "not_found",
            "this registrar has no trust anchor configured",
        );
    }
    let request = url::form_urlencoded::parse(&body)
        .find(|(name, _)| name == "request")
        .map(|(_, value)| value.trim().to_owned());
    let Some(request) = request.filter(|r| !r.is_empty()) else {
        return federation_error(
            400,
            "invalid_request",
            "send the request object as the form parameter request",
        );
    };
    let entity = match federation::requesting_entity(&request) {
        Ok(entity) => entity,
        Err(why) => return federation_error(400, "invalid_request_object", why),
    };
    blocking(&state, move |state, conn| {
        let federation = state.federation()?;
        // Resolved at the anchor: nothing is fetched from a URL the request names.
        let chain = match ssa_verifier::federation::resolve_at_anchor(
            &entity,
            &federation.trust_anchor,
            federation.anchor_keys.as_ref(),
            &state.http,
        ) {
            Ok(chain) => chain,
            Err(e) => return Ok(Stored::Refused(e.into())),
        };
        let metadata = ["openid_relying_party", "oauth_client"]
            .iter()
            .find_map(|kind| chain.metadata.get(*kind).cloned())
            .unwrap_or_default();
        let (jti, expires_at) =
            match federation.check_request_object(&request, &entity, &metadata, &state.http) {
                Ok(checked) => checked,
                Err(why) => return Ok(Stored::Refused(RegistrationError::request_object(why))),
            };
        // Each request object is taken once, until it expires (its leeway included).
        let first = store::write(conn.db()?, |tx| {
            Ok(store::use_request_object(
                tx,
                &entity,
                &jti,
                expires_at + 60,
                now(),
            )?)
        })?;
        if !first {
            return Ok(Stored::Refused(RegistrationError::request_object(format!(
                "this request object (jti {jti}) was used already"
            ))));
        }
        let client = match state.registrar.register_automatic(&chain) {
            Ok(client) => client,
            Err(e) => return Ok(Stored::Refused(e)),
        };
        // Registered before: the same client, its tokens untouched; deleted here, it stays so.
        if state.sealer.is_none()
            && let Some(row) = store::client(conn.db()?, &client.client_id)?
        {
            if row.deleted_at.is_some() {
                return Ok(Stored::Refused(RegistrationError::metadata(
                    "this client was deleted here",
                )));
            }
            let mut body: serde_json::Map<String, Value> =
                serde_json::from_str(&row.metadata).unwrap_or_default();
            body.insert("client_id".into(), json!(row.client_id));
            body.insert("client_id_issued_at".into(), json!(row.issued_at));
            return Ok(Stored::Done(Value::Object(body), 200));
        }
        if state.sealer.is_some() {
            // Nothing to seal: the client id is the entity identifier, and the chain is
            // resolved again at its next request.
            let mut body = client.metadata;
            body.insert("client_id".into(), json!(client.client_id));
            return Ok(Stored::Done(Value::Object(body), 200));
        }
        match keep(state, conn, client, None, now())? {
            Stored::Done(body, _) => Ok(Stored::Done(body, 200)),
            refused => Ok(refused),
        }
    })
    .await
}
