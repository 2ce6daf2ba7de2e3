//! Registration (RFC 7591) and the client configuration endpoint (RFC 7592): the decision,
//! the group-commit writer, stateless sealing, and read, update and delete.

use super::*;

/// A decided registration to store.
pub(super) struct Record {
    client: Client,
    statement: Option<String>,
    issued_at: i64,
    initial_token: Option<String>,
}

/// Stores one decided client inside the caller's transaction: spends a single-use initial
/// token, refuses a replayed statement or another organisation's shared client, then writes
/// the row with the hashed access token (and secret).
pub(super) fn store_one(
    public_url: &str,
    tx: &mut Db,
    record: Record,
) -> Result<Stored, anyhow::Error> {
    let Record {
        mut client,
        statement,
        issued_at,
        initial_token,
    } = record;
    if let Some(token) = &initial_token
        && !store::spend_initial_token(tx, token, now())?
    {
        return Ok(Stored::Refused(RegistrationError::token(
            "the initial access token is unknown, expired or spent",
        )));
    }
    if let Some(facts) = &client.statement {
        if client.shared
            && let Some(existing) = store::client_of_software(tx, &facts.software_id)?
            && existing.org_id.as_deref() != Some(facts.org_id.as_str())
        {
            return Ok(Stored::Refused(RegistrationError::statement(
                "this software is registered here for another organisation",
            )));
        }
        if let Some(jti) = &facts.jti
            && !store::use_statement(tx, &facts.issuer, jti, &client.client_id, facts.expires_at)?
        {
            return Ok(Stored::Refused(RegistrationError::statement(format!(
                "this software statement (jti {jti}) was used for a registration already"
            ))));
        }
    }
    if client.shared {
        client.metadata.remove("client_secret");
    }
    let token = store::secret("ssarat_");
    let secret = client.needs_secret.then(|| store::secret(""));
    let row = ClientRow {
        client_id: client.client_id.clone(),
        software_id: client.statement.as_ref().map(|s| s.software_id.clone()),
        org_id: client.statement.as_ref().map(|s| s.org_id.clone()),
        issuer: client.statement.as_ref().map(|s| s.issuer.clone()),
        statement,
        metadata: Value::Object(client.metadata.clone()).to_string(),
        secret_hash: secret.as_deref().map(store::hash),
        access_token_hash: store::hash(&token),
        issued_at,
        updated_at: now(),
        deleted_at: None,
        disabled_at: None,
        disabled_reason: None,
    };
    store::save(tx, &row)?;
    let uri = format!("{public_url}/register/{}", client.client_id);
    Ok(Stored::Done(
        client.information_response(issued_at, secret.as_deref(), &token, &uri),
        201,
    ))
}

/// A registration for the writer and where to send its outcome.
pub(super) type Job = (Record, std::sync::mpsc::Sender<Result<Stored, String>>);

/// Group commit of registrations: one thread takes every registration waiting (up to 64) and
/// stores them in one transaction, then answers each, so that concurrent registrations share
/// a commit instead of queueing for one each. A registration is answered only after its
/// commit.
pub(super) struct Writer {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl Writer {
    pub(super) fn start(pool: Pool, public_url: String) -> anyhow::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("registration-writer".into())
            .spawn(move || {
                // Its own connection for as long as it runs: the registrations waiting for it
                // hold pooled ones.
                let mut conn = None;
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < 64 {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let (records, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                    if conn.is_none() {
                        conn = pool.get().ok();
                    }
                    let outcome = match conn.as_mut() {
                        Some(conn) => store::write(conn, |tx| {
                            records
                                .into_iter()
                                .map(|record| store_one(&public_url, tx, record))
                                .collect::<Result<Vec<_>, _>>()
                        }),
                        None => Err(anyhow::anyhow!("no database connection")),
                    };
                    match outcome {
                        Ok(results) => {
                            for (reply, result) in replies.into_iter().zip(results) {
                                let _ = reply.send(Ok(result));
                            }
                        }
                        Err(error) => {
                            for reply in replies {
                                let _ = reply.send(Err(error.to_string()));
                            }
                        }
                    }
                }
            })?;
        Ok(Self {
            jobs: std::sync::Mutex::new(jobs),
        })
    }

    /// Stores one registration with the others waiting; its outcome after the commit.
    fn store(&self, record: Record) -> Result<Stored, anyhow::Error> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.jobs
            .lock()
            .map_err(|_| anyhow::anyhow!("the registration writer is gone"))?
            .send((record, reply))
            .map_err(|_| anyhow::anyhow!("the registration writer is gone"))?;
        answer
            .recv()
            .map_err(|_| anyhow::anyhow!("the registration writer is gone"))?
            .map_err(|e| anyhow::anyhow!(e))
    }
}

/// Waits until the trusted directories' feeds have been read past the moment the request
/// arrived, so that a statement revoked (or a product suspended) before it is refused; a
/// refusal when the feeds cannot be read now. Nothing to wait for when statements are
/// ignored.
pub(super) async fn feeds_current(state: &State) -> Result<(), RegistrationError> {
    if state.registrar.policy().statements == Statements::Ignored
        || state.registrar.directories().is_empty()
        || state.barrier.pass().await
    {
        return Ok(());
    }
    Err(RegistrationError::unapproved(
        "the trusted directory's change events cannot be read now, so whether the statement was revoked is unknown: try again shortly",
    ))
}

pub(super) async fn register(
    state: web::Data<State>,
    req: HttpRequest,
    body: String,
) -> HttpResponse {
    if let Err(e) = feeds_current(&state).await {
        return error(&e);
    }
    let token = bearer(&req);
    let certificate = client_certificate(&state, &req);
    // A stateless registration of JSON metadata with neither an initial token (the database)
    // nor a client certificate (revocation lists), no callout configured and every
    // directory's keys cached waits on nothing: it is decided on the HTTP worker, saving two
    // thread hand-offs. (Its only possible fetch, a directory's keys again for an unknown
    // kid, happens at most once per refresh interval.)
    let on_worker = state.sealer.is_some()
        && !state.callout
        && token.is_none()
        && certificate.is_none()
        && body.trim_start().starts_with('{')
        && state.registrar.directories().iter().all(|d| d.keys_fresh());
    let decide = move |state: &State, conn: &mut Lazy| {
        let at = now();
        let initial = match &token {
            Some(token) => store::initial_token_valid(conn.db()?, token, at)?,
            None => false,
        };
        if token.is_some() && !initial && state.registrar.policy().access == Access::Protected {
            return Ok(Stored::Refused(RegistrationError::token(
                "the initial access token is unknown, expired or spent",
            )));
        }
        let presented = Presented {
            initial_access_token: initial,
            client_certificate: certificate,
        };
        let client = match state.registrar.register(&body, &presented) {
            Ok(client) => client,
            Err(e) => return Ok(Stored::Refused(e)),
        };
        let initial_token = token.clone().filter(|_| initial);
        if state.sealer.is_some() {
            return keep(state, conn, client, initial_token, at);
        }
        let shared = if client.shared {
            client
                .statement
                .as_ref()
                .map(|s| {
                    Ok::<_, anyhow::Error>(store::client_of_software(conn.db()?, &s.software_id)?)
                })
                .transpose()?
                .flatten()
        } else {
            None
        };
        let issued_at = shared.as_ref().map_or(at, |s| s.issued_at);
        let mut stored = keep(state, conn, client, initial_token, issued_at)?;
        if let (Some(_), Stored::Done(_, status)) = (&shared, &mut stored) {
            // The same software again: its shared client, with a new access token.
            *status = 200;
        }
        Ok(stored)
    };
    if on_worker {
        inline(&state, decide)
    } else {
        blocking(&state, decide).await
    }
}

/// Keeps a decided client: sealed into its client id when the registrar is stateless, else
/// stored with the registrations waiting.
pub(super) fn keep(
    state: &State,
    conn: &mut Lazy,
    client: Client,
    initial_token: Option<String>,
    issued_at: i64,
) -> Result<Stored, anyhow::Error> {
    if let Some(sealer) = &state.sealer {
        return seal(
            state,
            sealer,
            conn,
            client,
            initial_token.as_deref(),
            issued_at,
        );
    }
    let statement = client
        .statement
        .as_ref()
        .map(|s| s.token.clone())
        .filter(|t| !t.is_empty());
    state.writer.store(Record {
        client,
        statement,
        issued_at,
        initial_token,
    })
}

/// A stateless registration: the client id carries it, sealed; nothing is stored but the
/// spending of a single-use initial token.
pub(super) fn seal(
    state: &State,
    sealer: &stateless::Sealer,
    conn: &mut Lazy,
    client: Client,
    initial_token: Option<&str>,
    at: i64,
) -> Result<Stored, anyhow::Error> {
    if client.needs_secret {
        return Ok(Stored::Refused(RegistrationError::metadata(
            "this registrar is stateless and keeps no secrets: use private_key_jwt or tls_client_auth",
        )));
    }
    if let Some(token) = initial_token
        && !store::write(conn.db()?, |tx| {
            Ok(store::spend_initial_token(tx, token, at)?)
        })?
    {
        return Ok(Stored::Refused(RegistrationError::token(
            "the initial access token is unknown, expired or spent",
        )));
    }
    let facts = client.statement.as_ref();
    let sealed = sealer.seal(&json!({
        "m": client.metadata,
        "iat": at,
        "iss": facts.map(|f| f.issuer.clone()),
        "sid": facts.map(|f| f.software_id.clone()),
        "oid": facts.map(|f| f.org_id.clone()),
        "jti": facts.and_then(|f| f.jti.clone()),
    }))?;
    let token = sealer.access_token(&sealed);
    let uri = format!("{}/register/{sealed}", state.public_url);
    let mut client = client;
    client.client_id = sealed;
    Ok(Stored::Done(
        client.information_response(at, None, &token, &uri),
        201,
    ))
}

/// A sealed registration's client information (RFC 7592 read), if `token` is its access
/// token.
pub(super) fn read_sealed(
    state: &State,
    sealer: &stateless::Sealer,
    client_id: &str,
    token: Option<&str>,
) -> Stored {
    let registration = token
        .filter(|t| sealer.token_matches(client_id, t))
        .and_then(|_| sealer.open(client_id));
    let Some(registration) = registration else {
        return Stored::Refused(unauthorised());
    };
    let mut body = registration
        .get("m")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    body.insert("client_id".into(), json!(client_id));
    body.insert("client_id_issued_at".into(), registration["iat"].clone());
    let reason = stopped_reason(state, &registration);
    body.insert(
        "client_status".into(),
        json!(if reason.is_some() {
            "disabled"
        } else {
            "active"
        }),
    );
    if let Some(reason) = reason {
        body.insert("client_status_reason".into(), json!(reason));
    }
    body.insert(
        "registration_client_uri".into(),
        json!(format!("{}/register/{client_id}", state.public_url)),
    );
    body.insert("registration_access_token".into(), json!(token));
    Stored::Done(Value::Object(body), 200)
}

/// RFC 7592's answer when a method is not supported: a stateless registrar has no record to
/// change or delete (the client registers again).
pub(super) fn not_supported() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "error": "invalid_request",
            "error_description": "this registrar is stateless: a client cannot be updated or deleted here; register again",
        }))
}

pub(super) fn unauthorised() -> RegistrationError {
    RegistrationError::token("the registration access token is not valid for this client")
}

pub(super) async fn read(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let (token, client_id) = (bearer(&req), path.into_inner());
    blocking(&state, move |state, conn| {
        if let Some(sealer) = &state.sealer {
            return Ok(read_sealed(state, sealer, &client_id, token.as_deref()));
        }
        let Some(row) = (match &token {
            Some(t) => store::client_by_token(conn.db()?, &client_id, t)?,
            None => None,
        }) else {
            return Ok(Stored::Refused(unauthorised()));
        };
        let mut body: serde_json::Map<String, Value> = serde_json::from_str(&row.metadata)?;
        body.insert("client_id".into(), json!(row.client_id));
        body.insert("client_id_issued_at".into(), json!(row.issued_at));
        body.insert(
            "client_status".into(),
            json!(if row.disabled_at.is_some() {
                "disabled"
            } else {
                "active"
            }),
        );
        if let Some(reason) = &row.disabled_reason {
            body.insert("client_status_reason".into(), json!(reason));
        }
        body.insert(
            "registration_client_uri".into(),
            json!(format!("{}/register/{}", state.public_url, row.client_id)),
        );
        // RFC 7592 section 3 requires both in every client information response; the
        // registrar keeps only the token's hash, and the client has just shown the token.
        body.insert("registration_access_token".into(), json!(token));
        Ok(Stored::Done(Value::Object(body), 200))
    })
    .await
}

pub(super) async fn update(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
    body: String,
) -> HttpResponse {
    if state.sealer.is_some() {
        return not_supported();
    }
    if let Err(e) = feeds_current(&state).await {
        return error(&e);
    }
    let (token, client_id) = (bearer(&req), path.into_inner());
    let certificate = client_certificate(&state, &req);
    blocking(&state, move |state, conn| {
        let Some(row) = (match &token {
            Some(t) => store::client_by_token(conn.db()?, &client_id, t)?,
            None => None,
        }) else {
            return Ok(Stored::Refused(unauthorised()));
        };
        let Ok(Value::Object(mut request)) = serde_json::from_str::<Value>(&body) else {
            return Ok(Stored::Refused(RegistrationError::metadata(
                "an update is the client's full metadata as a JSON object",
            )));
        };
        if request.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
            return Ok(Stored::Refused(RegistrationError::metadata(
                "the update must carry the client's client_id",
            )));
        }
        for field in [
            "registration_access_token",
            "registration_client_uri",
            "client_id_issued_at",
            "client_secret_expires_at",
        ] {
            if request.contains_key(field) {
                return Ok(Stored::Refused(RegistrationError::metadata(format!(
                    "an update must not carry {field}"
                ))));
            }
        }
        request.remove("client_id");
        request.remove("client_secret");
        if !request.contains_key("software_statement")
            && let Some(statement) = &row.statement
        {
            request.insert("software_statement".into(), json!(statement));
        }
        let presented = Presented {
            initial_access_token: true,
            client_certificate: certificate,
        };
        let body = Value::Object(request).to_string();
        let mut client = match state.registrar.register(&body, &presented) {
            Ok(client) => client,
            Err(e) => return Ok(Stored::Refused(e)),
        };
        if client.statement.as_ref().map(|s| &s.software_id) != row.software_id.as_ref() {
            return Ok(Stored::Refused(RegistrationError::statement(
                "an update must keep the client's software",
            )));
        }
        client.client_id = row.client_id.clone();
        let statement = client.statement.as_ref().map(|s| s.token.clone());
        let record = Record {
            client,
            statement,
            issued_at: row.issued_at,
            initial_token: None,
        };
        // The client feed tells the authorization server of the new metadata.
        let mut stored = store::write(conn.db()?, |tx| {
            let stored = store_one(&state.public_url, tx, record)?;
            if let Stored::Done(..) = stored {
                store::record_change(tx, &row.client_id, "updated", None, now())?;
            }
            Ok(stored)
        })?;
        if let Stored::Done(_, status) = &mut stored {
            *status = 200;
            state.changed.notify_waiters();
        }
        Ok(stored)
    })
    .await
}

pub(super) async fn delete(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    if state.sealer.is_some() {
        return not_supported();
    }
    let (token, client_id) = (bearer(&req), path.into_inner());
    let response = blocking(&state, move |state, conn| {
        let Some(row) = (match &token {
            Some(t) => store::client_by_token(conn.db()?, &client_id, t)?,
            None => None,
        }) else {
            return Ok(Stored::Refused(unauthorised()));
        };
        store::write(conn.db()?, |tx| {
            store::delete(tx, &row.client_id, now())?;
            Ok(store::record_change(
                tx,
                &row.client_id,
                "deleted",
                None,
                now(),
            )?)
        })?;
        state.changed.notify_waiters();
        Ok(Stored::Done(Value::Null, 204))
    })
    .await;
    if response.status() == actix_web::http::StatusCode::NO_CONTENT {
        return HttpResponse::NoContent().finish();
    }
    response
}
