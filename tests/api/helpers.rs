//! Test harness: starts the real server on a random port with a fresh database (a temporary
//! SQLite file, or a uniquely named PostgreSQL database when `TEST_DATABASE_URL` is set,
//! dropped afterwards).

use std::os::unix::fs::PermissionsExt;
use std::sync::LazyLock;

use diesel::{Connection, RunQueryDsl};
use ssa_directory::config::{Config, LogFormat, Secret};
use ssa_directory::model::ShiftedClock;
use ssa_directory::{AppState, Application};

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        ssa_directory::telemetry::init(LogFormat::Pretty, "info");
    }
});

/// A database that lives as long as the test.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A fresh, empty database on the backend selected by `TEST_DATABASE_URL`.
    pub fn create(dir: &std::path::Path) -> Self {
        // Before libpq initialises OpenSSL with an exit-time clean-up (see `db::open`).
        openssl::init();
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("ssa_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = diesel::PgConnection::establish(&admin_url)
                    .expect("TEST_DATABASE_URL must reach a PostgreSQL server");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create the test database");
                let base = admin_url
                    .rsplit_once('/')
                    .filter(|(scheme, _)| !scheme.ends_with('/'))
                    .map(|(base, _)| base.to_owned())
                    .unwrap_or(admin_url.clone());
                Self {
                    url: format!("{base}/{name}"),
                    postgres: Some((admin_url, name)),
                }
            }
            _ => Self {
                url: format!("sqlite://{}", dir.join("directory.db").display()),
                postgres: None,
            },
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres
            && let Ok(mut admin) = diesel::PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

/// A running directory and an HTTP client for it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// The mutual-TLS listener's port, when `mtls_listen` is set.
    pub mtls_port: Option<u16>,
    pub client: reqwest::Client,
    pub state: std::sync::Arc<AppState>,
    /// The clock the app reads the time from: a test moves it forward instead of sleeping.
    pub clock: std::sync::Arc<ShiftedClock>,
    handle: actix_web::dev::ServerHandle,
    // Dropped last: the server must stop before its database and folders go.
    pub db: std::sync::Arc<TestDatabase>,
    pub dir: std::sync::Arc<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting at once; the database is dropped (with FORCE on PostgreSQL) after.
        drop(self.handle.stop(false));
    }
}

/// The configuration every test app starts from.
pub fn test_config(dir: &std::path::Path, db: &TestDatabase) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("data"),
        keys_dir: dir.join("keys"),
        database_url: Some(Secret::new(db.url.clone())),
        workers: 2,
        db_pool_size: 4,
        shutdown_timeout_secs: 1,
        // Most tests drive operators' pages without enrolling an app; tests/api/mfa.rs
        // tests the default, required.
        operator_mfa: ssa_directory::config::OperatorMfa::Optional,
        ..Config::default()
    }
}

/// Starts a directory on a fresh database with the default test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a directory on a fresh database after `customise` adjusts the configuration.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Config)) -> TestApp {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let db = std::sync::Arc::new(TestDatabase::create(dir.path()));
    let mut config = test_config(dir.path(), &db);
    customise(&mut config);
    seed_keys(&config);
    start(config, db, dir, std::sync::Arc::default()).await
}

/// Puts a shared, pre-generated PS256 key in each of the new directory's key folders, which
/// it adopts as its active key at start: an RSA key takes most of a second of CPU to
/// generate, and every test starts a directory. The next keys are still generated (a key
/// file the database does not know is adopted as active only when there is none). Only for
/// the default algorithm without a passphrase, and never over keys already there.
fn seed_keys(config: &Config) {
    use ssa_directory::keys::signing::KeyRing;
    if config.key_passphrase.is_some()
        || config.key_provider != ssa_directory::config::KeyProvider::File
        || config.signing_alg.as_str() != "PS256"
        || config.keys_dir.exists()
    {
        return;
    }
    static SHARED: LazyLock<std::path::PathBuf> = LazyLock::new(|| {
        let shared = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ssa-test-keys-v1");
        if !shared.exists() {
            // Made aside and renamed into place: concurrent test processes race harmlessly.
            let parent = shared.parent().unwrap();
            std::fs::create_dir_all(parent).unwrap();
            let making = tempfile::tempdir_in(parent).unwrap();
            let at = ssa_directory::model::Clock::now(&ssa_directory::model::SystemClock);
            KeyRing::new(making.path(), None)
                .generate("PS256", at)
                .unwrap();
            KeyRing::federation(making.path(), None)
                .generate("PS256", at)
                .unwrap();
            let _ = std::fs::rename(making.keep(), &shared);
        }
        shared
    });
    for folder in ["signing", "federation"] {
        let target = config.keys_dir.join(folder);
        std::fs::create_dir_all(&target).unwrap();
        std::fs::set_permissions(&config.keys_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).unwrap();
        for entry in std::fs::read_dir(SHARED.join(folder)).unwrap() {
            let entry = entry.unwrap();
            let copy = target.join(entry.file_name());
            std::fs::copy(entry.path(), &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}

/// Starts another instance on the same database and keys folder as `app`, with the same
/// configuration and public URL (as instances behind one load balancer have).
pub async fn spawn_sibling(app: &TestApp) -> TestApp {
    spawn_sibling_with(app, |_| {}).await
}

/// [`spawn_sibling`] with a configuration of its own (such as another key provider).
pub async fn spawn_sibling_with(app: &TestApp, customise: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = app.state.config.clone();
    config.public_url = Some(app.address.clone());
    customise(&mut config);
    start(config, app.db.clone(), app.dir.clone(), app.clock.clone()).await
}

/// What a stopped instance leaves: its configuration (with its public URL), database,
/// folders and clock, for another instance to start on.
pub struct Stopped {
    pub config: Config,
    pub db: std::sync::Arc<TestDatabase>,
    pub dir: std::sync::Arc<tempfile::TempDir>,
    pub clock: std::sync::Arc<ShiftedClock>,
}

impl Stopped {
    /// Starts an instance on what the stopped one left, after `customise` adjusts its
    /// configuration.
    pub async fn start_with(self, customise: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = self.config;
        customise(&mut config);
        start(config, self.db, self.dir, self.clock).await
    }
}

impl TestApp {
    /// Stops this instance: its server and its background delivery.
    pub async fn stop(self) -> Stopped {
        let (db, dir, clock) = (self.db.clone(), self.dir.clone(), self.clock.clone());
        let mut config = self.state.config.clone();
        config.public_url = Some(self.address.clone());
        let mut stopped = self.state.stopped.subscribe();
        self.handle.stop(true).await;
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), stopped.wait_for(|s| *s)).await;
        drop(self);
        Stopped {
            config,
            db,
            dir,
            clock,
        }
    }

    /// Stops this instance and starts a new one on the same database, keys folder and public
    /// URL, as a restart does.
    pub async fn restart(self) -> TestApp {
        self.stop().await.start_with(|_| {}).await
    }
}

async fn start(
    config: Config,
    db: std::sync::Arc<TestDatabase>,
    dir: std::sync::Arc<tempfile::TempDir>,
    clock: std::sync::Arc<ShiftedClock>,
) -> TestApp {
    LazyLock::force(&TRACING);
    // With TLS on, the client trusts the directory's certificate (self-signed in tests).
    let (scheme, client) = match &config.tls_cert_file {
        Some(cert) => (
            "https",
            client_trusting(&std::fs::read(cert).unwrap(), None),
        ),
        None => ("http", client()),
    };
    let app = Application::build_with_clock(config, clock.clone())
        .await
        .expect("the app builds");
    let (port, mtls_port) = (app.port(), app.mtls_port());
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("{scheme}://127.0.0.1:{port}"),
        port,
        mtls_port,
        client,
        state,
        clock,
        handle,
        db,
        dir,
    }
}

/// A request to `url` with an optional bearer token and JSON body.
pub fn request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> reqwest::RequestBuilder {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request
}

/// A client with its own cookie store that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A client like [`client`] over HTTPS, trusting `ca_pem` only and presenting `identity`
/// (certificate and PKCS#8 key, PEM).
pub fn client_trusting(ca_pem: &[u8], identity: Option<(&str, &str)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(ca_pem).unwrap());
    if let Some((cert, key)) = identity {
        builder = builder
            .identity(reqwest::Identity::from_pkcs8_pem(cert.as_bytes(), key.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// A self-signed TLS certificate for 127.0.0.1 and its key, written into `dir`: the files of
/// `tls_cert_file` and `tls_key_file`.
pub fn tls_files(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_file, key_file) = (dir.join("tls.pem"), dir.join("tls.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (cert_file, key_file)
}

impl TestApp {
    /// The base URL of the mutual-TLS listener.
    pub fn mtls_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.mtls_port.unwrap())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }
}

/// A user of the directory with an API token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub token: String,
}

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Creates a user (through the domain, as the CLI does) and an API token for them.
    pub async fn user(&self, email: &str, operator: bool) -> TestUser {
        let (pool, at) = (self.state.pool.clone(), self.state.now());
        let email = email.to_owned();
        tokio::task::spawn_blocking(move || {
            use ssa_directory::model::Actor;
            use ssa_directory::services::accounts;
            let mut conn = pool.get().unwrap();
            let cli = Some(&Actor::Cli);
            let user =
                accounts::create_user_in(&mut conn, &email, PASSWORD, operator, cli, None, at)
                    .unwrap();
            let token = accounts::create_token_in(
                &mut conn,
                &user.actor(),
                "tests",
                &Actor::Cli,
                None,
                None,
                at,
            )
            .unwrap();
            TestUser {
                id: user.id.to_string(),
                email: user.email,
                token: token.secret,
            }
        })
        .await
        .unwrap()
    }

    /// Calls the API with an optional token and JSON body; returns the status and JSON body
    /// (`Null` when the body is empty).
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let response = request(&self.client, method.clone(), &self.url(path), token, body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        // Every answer the tests see through here is held against the document.
        if status != 405 {
            assert_documented(&method, path, status, content_type.as_deref(), &json);
        }
        (status, json)
    }

    pub async fn get_json(&self, path: &str, user: &TestUser) -> (u16, serde_json::Value) {
        self.api(reqwest::Method::GET, path, Some(&user.token), None)
            .await
    }

    pub async fn post_json(
        &self,
        path: &str,
        user: &TestUser,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.api(reqwest::Method::POST, path, Some(&user.token), Some(body))
            .await
    }

    /// Applies for an organisation as `user`; returns its id.
    pub async fn apply(&self, user: &TestUser, roles: &[&str]) -> String {
        let (status, body) = self
            .post_json("/api/v1/organisations", user, application(roles))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Registers a software product; returns its id.
    pub async fn register(&self, user: &TestUser, org_id: &str, environment: &str) -> String {
        let (status, body) = self
            .post_json(
                &format!("/api/v1/organisations/{org_id}/software"),
                user,
                registration(environment),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// An operator decision that must succeed.
    pub async fn decide(&self, operator: &TestUser, path: &str, action: &str) {
        let (status, body) = self
            .post_json(
                &format!("{path}/{action}"),
                operator,
                serde_json::json!({"reason": "test decision"}),
            )
            .await;
        assert_eq!(status, 200, "{action} {path}: {body}");
    }
}

/// A valid application to onboard an organisation.
pub fn application(roles: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "legal_name": "Example Payments Ltd",
        "registration_number": "12345678",
        "country": "GB",
        "competent_authority": "FCA",
        "authority_registration_id": "123456",
        "roles": roles,
        "business_contact": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0000"},
        "technical_contact": {"name": "Charles Babbage", "email": "tech@example.com"}
    })
}

/// A valid software registration.
pub fn registration(environment: &str) -> serde_json::Value {
    serde_json::json!({
        "client_name": "Example Budgeting App",
        "description": "Shows where the money goes",
        "version": "1.0.0",
        "client_uri": "https://app.example.com",
        "logo_uri": "https://app.example.com/logo.png",
        "tos_uri": "https://app.example.com/tos",
        "policy_uri": "https://app.example.com/privacy",
        "redirect_uris": ["https://app.example.com/callback"],
        "roles": ["AISP"],
        "environment": environment
    })
}

/// Everyone the authorization rules distinguish, around one active organisation with one
/// pending software product.
pub struct Cast {
    pub operator: TestUser,
    pub admin: TestUser,
    pub developer: TestUser,
    pub outsider: TestUser,
    pub org_id: String,
    pub other_org_id: String,
    pub software_id: String,
}

pub async fn cast(app: &TestApp) -> Cast {
    let operator = app.user("operator@directory.example", true).await;
    let admin = app.user("admin@fintech.example", false).await;
    let developer = app.user("dev@fintech.example", false).await;
    let outsider = app.user("someone@other.example", false).await;
    let org_id = app.apply(&admin, &["AISP", "PISP"]).await;
    let other_org_id = app.apply(&outsider, &["AISP"]).await;
    let (status, body) = app
        .post_json(
            &format!("/api/v1/organisations/{org_id}/members"),
            &admin,
            serde_json::json!({"email": developer.email, "role": "developer"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .post_json(
            &format!("/api/v1/invitations/{org_id}/accept"),
            &developer,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "the developer accepts: {body}");
    app.decide(
        &operator,
        &format!("/api/v1/organisations/{org_id}"),
        "approve",
    )
    .await;
    app.decide(
        &operator,
        &format!("/api/v1/organisations/{other_org_id}"),
        "approve",
    )
    .await;
    let software_id = app.register(&developer, &org_id, "production").await;
    Cast {
        operator,
        admin,
        developer,
        outsider,
        org_id,
        other_org_id,
        software_id,
    }
}

/// The CSRF token of the first form on a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// A browser-like client signed in to the portal as `user`.
pub async fn portal_session(app: &TestApp, user: &TestUser) -> reqwest::Client {
    let browser = client();
    let login = browser.get(app.url("/login")).send().await.unwrap();
    let csrf = csrf_of(&login.text().await.unwrap());
    let response = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", user.email.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{} logs in", user.email);
    browser
}

/// A portal page as `user` sees it.
pub async fn portal_page(app: &TestApp, user: &TestUser, path: &str) -> String {
    let browser = portal_session(app, user).await;
    let response = browser.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// The generated OpenAPI document.
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: LazyLock<serde_json::Value> = LazyLock::new(|| {
        use utoipa::OpenApi;
        serde_json::to_value(ssa_directory::web::api::ApiDoc::openapi()).unwrap()
    });
    &DOCUMENT
}

/// A validator for the schema at `pointer` (a JSON pointer into the document), with the
/// document as the root so that its `#/components/...` references resolve.
fn validator(pointer: &str) -> std::sync::Arc<jsonschema::Validator> {
    static CACHE: LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
    > = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache
        .entry(pointer.to_owned())
        .or_insert_with(|| {
            let mut schema = document().clone();
            schema["$ref"] = serde_json::json!(format!("#{pointer}"));
            std::sync::Arc::new(
                jsonschema::draft202012::new(&schema).expect("the document is a valid schema"),
            )
        })
        .clone()
}

/// A JSON pointer token (RFC 6901), percent-encoded where a URI fragment needs it.
fn escape(segment: &str) -> String {
    segment
        .replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

/// Asserts that `value` is valid against the document's component schema `name`.
pub fn assert_conforms(name: &str, value: &serde_json::Value) {
    let validator = validator(&format!("/components/schemas/{name}"));
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "not a {name}: {errors:?}\n{value:#}");
}

/// The document's path template that `path` (without its query) matches, the most specific
/// first (the most literal segments).
pub fn template_of(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut candidates: Vec<(&'static str, usize)> = document()["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s);
            matches.then(|| {
                let literal = parts.iter().filter(|t| !t.starts_with('{')).count();
                (template.as_str(), literal)
            })
        })
        .collect();
    candidates.sort_by_key(|(_, literal)| std::cmp::Reverse(*literal));
    candidates.first().map(|(t, _)| *t)
}

/// Asserts that a response is what the document says the operation answers: its status is
/// documented, with this content type, and a JSON body validates against the schema.
pub fn assert_documented(
    method: &reqwest::Method,
    path: &str,
    status: u16,
    content_type: Option<&str>,
    body: &serde_json::Value,
) {
    let path = path.split('?').next().unwrap_or(path);
    let Some(template) = template_of(path) else {
        panic!("{method} {path} is not in the document");
    };
    let operation = &document()["paths"][template][method.as_str().to_lowercase()];
    assert!(
        operation.is_object(),
        "{method} {template} is not documented"
    );
    let response = &operation["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {template} does not document {status}: {body}"
    );
    let Some(content_type) = content_type.map(|c| c.split(';').next().unwrap_or(c).trim()) else {
        return;
    };
    let content = &response["content"][content_type];
    assert!(
        content.is_object(),
        "{method} {template} {status} does not document {content_type}"
    );
    if content_type.ends_with("json") && content.get("schema").is_some() {
        let pointer = format!(
            "/paths/{}/{}/responses/{status}/content/{}/schema",
            escape(template),
            method.as_str().to_lowercase(),
            escape(content_type)
        );
        let errors: Vec<String> = validator(&pointer)
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {status}: {errors:?}\n{body:#}"
        );
    }
}

/// The verifier's HTTP client (platform trust, 5 s), as the federation functions take it.
pub fn http_client() -> ssa_verifier::HttpClient {
    ssa_verifier::HttpClient::new(
        &ssa_verifier::Settings::default().with_http_timeout(std::time::Duration::from_secs(5)),
    )
    .unwrap()
}
