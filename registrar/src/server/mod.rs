//! The registration service (feature `server`): `POST /register` (RFC 7591) and the client
//! configuration endpoint `/register/{client_id}` (RFC 7592: read, update, delete with the
//! registration access token), over the library core and a stateful store.

mod store;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use diesel::Connection;
use serde_json::{Value, json};

use crate::{
    Access, Client, ClientIds, Policy, Presented, Registrar, RegistrationError, SecurityProfile,
    Statements,
};
use store::{ClientRow, Db, Pool};

/// The service's settings (each also an `SSA_REGISTRAR_` environment variable).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (`SSA_REGISTRAR_LISTEN`, default 127.0.0.1:8090).
    pub listen: SocketAddr,
    /// Its public URL: the `aud` of signed requests and the base of `registration_client_uri`
    /// (`SSA_REGISTRAR_PUBLIC_URL`; default `http://` and the address listened on).
    pub public_url: Option<String>,
    /// Discovery URLs of the trusted directories (`SSA_REGISTRAR_DIRECTORIES`).
    pub directories: Vec<String>,
    /// `SSA_REGISTRAR_PROFILE`: open, fapi2 (default), obuk or cdr.
    pub profile: SecurityProfile,
    /// `SSA_REGISTRAR_REGISTRATION`: open (default) or protected.
    pub registration: Access,
    /// `SSA_REGISTRAR_STATEMENTS`: required (default), optional or ignored.
    pub statements: Statements,
    /// `SSA_REGISTRAR_CLIENT_ID`: per-instance (default) or per-software.
    pub client_ids: ClientIds,
    /// `DATABASE_URL` (default `sqlite://registrar-data/registrar.db`).
    pub database_url: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            public_url: None,
            directories: vec![],
            profile: SecurityProfile::Fapi2,
            registration: Access::Open,
            statements: Statements::Required,
            client_ids: ClientIds::PerInstance,
            database_url: "sqlite://registrar-data/registrar.db".into(),
        }
    }
}

impl ServerConfig {
    /// The policy these settings describe.
    pub fn policy(&self) -> Policy {
        let mut policy = Policy::for_profile(self.profile);
        policy.access = self.registration;
        policy.statements = self.statements;
        policy.client_ids = self.client_ids;
        policy
    }
}

struct State {
    registrar: Registrar,
    pool: Pool,
    public_url: String,
}

/// A running registration service.
pub struct Running {
    /// The port it listens on.
    pub port: u16,
    /// Stops it.
    pub handle: ServerHandle,
    /// The server; await it (or spawn it) to serve.
    pub server: actix_web::dev::Server,
}

/// Opens the store, discovers the trusted directories and binds the listener.
pub async fn start(config: ServerConfig) -> anyhow::Result<Running> {
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let port = listener.local_addr()?.port();
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{port}", config.listen.ip()))
        .trim_end_matches('/')
        .to_owned();
    let (url, audience, directories, policy) = (
        config.database_url.clone(),
        public_url.clone(),
        config.directories.clone(),
        config.policy(),
    );
    let (pool, registrar) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let pool = store::open(&url)?;
        let urls: Vec<&str> = directories.iter().map(String::as_str).collect();
        let registrar = Registrar::discover(policy, &urls, &audience)
            .map_err(|e| anyhow::anyhow!("cannot read a trusted directory: {e}"))?;
        Ok((pool, registrar))
    })
    .await??;
    let state = web::Data::new(State {
        registrar,
        pool,
        public_url,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(64 * 1024))
            .route("/register", web::post().to(register))
            .route("/register/{client_id}", web::get().to(read))
            .route("/register/{client_id}", web::put().to(update))
            .route("/register/{client_id}", web::delete().to(delete))
    })
    .workers(2)
    .listen(listener)?
    .run();
    Ok(Running {
        port,
        handle: server.handle(),
        server,
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn error(e: &RegistrationError) -> HttpResponse {
    let mut response = if e.status() == 401 {
        let mut r = HttpResponse::Unauthorized();
        r.insert_header((
            header::WWW_AUTHENTICATE,
            format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                e.error_description.replace('"', "'")
            ),
        ));
        r
    } else {
        HttpResponse::BadRequest()
    };
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(e.to_json())
}

fn server_error(e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "registration failed");
    HttpResponse::InternalServerError()
        .content_type("application/json")
        .body(json!({"error": "server_error", "error_description": "the registration could not be stored"}).to_string())
}

fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

/// The outcome of a write on the blocking pool.
enum Stored {
    Done(Value, u16),
    Refused(RegistrationError),
}

async fn blocking<F>(state: &web::Data<State>, f: F) -> HttpResponse
where
    F: FnOnce(&State, &mut Db) -> Result<Stored, anyhow::Error> + Send + 'static,
{
    let state = state.clone().into_inner();
    let result = web::block(move || -> Result<Stored, anyhow::Error> {
        let mut conn = state.pool.get()?;
        f(&state, &mut conn)
    })
    .await;
    match result {
        Ok(Ok(Stored::Done(body, status))) => {
            let status = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::OK);
            HttpResponse::build(status)
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(body)
        }
        Ok(Ok(Stored::Refused(e))) => error(&e),
        Ok(Err(e)) => server_error(e),
        Err(e) => server_error(e),
    }
}

/// Stores the decided client and answers the client information response.
fn store_client(
    state: &State,
    conn: &mut Db,
    client: Client,
    statement: Option<String>,
    issued_at: i64,
) -> Result<Stored, anyhow::Error> {
    conn.transaction(|tx| -> Result<Stored, anyhow::Error> {
        let mut client = client;
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
                && !store::use_statement(
                    tx,
                    &facts.issuer,
                    jti,
                    &client.client_id,
                    facts.expires_at,
                )?
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
        };
        store::save(tx, &row)?;
        let uri = format!("{}/register/{}", state.public_url, client.client_id);
        Ok(Stored::Done(
            client.information_response(issued_at, secret.as_deref(), &token, &uri),
            201,
        ))
    })
}

async fn register(state: web::Data<State>, req: HttpRequest, body: String) -> HttpResponse {
    let token = bearer(&req);
    blocking(&state, move |state, conn| {
        let at = now();
        let initial = match &token {
            Some(token) => store::spend_initial_token(conn, token, at)?,
            None => false,
        };
        if token.is_some() && !initial && state.registrar.policy().access == Access::Protected {
            return Ok(Stored::Refused(RegistrationError::token(
                "the initial access token is unknown, expired or spent",
            )));
        }
        let presented = Presented {
            initial_access_token: initial,
            client_certificate: None,
        };
        let client = match state.registrar.register(&body, &presented) {
            Ok(client) => client,
            Err(e) => return Ok(Stored::Refused(e)),
        };
        let statement = statement_of(&body);
        let shared = if client.shared {
            client
                .statement
                .as_ref()
                .map(|s| store::client_of_software(conn, &s.software_id))
                .transpose()?
                .flatten()
        } else {
            None
        };
        let issued_at = shared.as_ref().map_or(at, |s| s.issued_at);
        let mut stored = store_client(state, conn, client, statement, issued_at)?;
        if let (Some(_), Stored::Done(_, status)) = (&shared, &mut stored) {
            // The same software again: its shared client, with a new access token.
            *status = 200;
        }
        Ok(stored)
    })
    .await
}

/// The `software_statement` a JSON request carries (a signed one keeps it in its claims).
fn statement_of(body: &str) -> Option<String> {
    let request = ssa_verifier::RegistrationRequest::parse(body).ok()?;
    request.software_statement().map(str::to_owned)
}

fn unauthorised() -> RegistrationError {
    RegistrationError::token("the registration access token is not valid for this client")
}

async fn read(state: web::Data<State>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let (token, client_id) = (bearer(&req), path.into_inner());
    blocking(&state, move |state, conn| {
        let Some(row) = (match &token {
            Some(t) => store::client_by_token(conn, &client_id, t)?,
            None => None,
        }) else {
            return Ok(Stored::Refused(unauthorised()));
        };
        let mut body: serde_json::Map<String, Value> = serde_json::from_str(&row.metadata)?;
        body.insert("client_id".into(), json!(row.client_id));
        body.insert("client_id_issued_at".into(), json!(row.issued_at));
        body.insert(
            "registration_client_uri".into(),
            json!(format!("{}/register/{}", state.public_url, row.client_id)),
        );
        Ok(Stored::Done(Value::Object(body), 200))
    })
    .await
}

async fn update(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
    body: String,
) -> HttpResponse {
    let (token, client_id) = (bearer(&req), path.into_inner());
    blocking(&state, move |state, conn| {
        let Some(row) = (match &token {
            Some(t) => store::client_by_token(conn, &client_id, t)?,
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
            client_certificate: None,
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
        let mut stored = store_client(state, conn, client, statement_of(&body), row.issued_at)?;
        if let Stored::Done(_, status) = &mut stored {
            *status = 200;
        }
        Ok(stored)
    })
    .await
}

async fn delete(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let (token, client_id) = (bearer(&req), path.into_inner());
    let response = blocking(&state, move |_, conn| {
        let Some(row) = (match &token {
            Some(t) => store::client_by_token(conn, &client_id, t)?,
            None => None,
        }) else {
            return Ok(Stored::Refused(unauthorised()));
        };
        store::delete(conn, &row.client_id, now())?;
        Ok(Stored::Done(Value::Null, 204))
    })
    .await;
    if response.status() == actix_web::http::StatusCode::NO_CONTENT {
        return HttpResponse::NoContent().finish();
    }
    response
}

/// Creates an initial access token in the store at `database_url`; the token.
pub fn create_initial_token(
    database_url: &str,
    single_use: bool,
    expires_in: Option<u64>,
) -> anyhow::Result<String> {
    let pool = store::open(database_url)?;
    let mut conn = pool.get()?;
    let at = now();
    Ok(store::create_initial_token(
        &mut conn,
        single_use,
        expires_in.map(|s| at + s as i64),
        at,
    )?)
}
