//! Test harness: starts the real server on a random port with a fresh database (a temporary
//! SQLite file, or a uniquely named PostgreSQL database when `TEST_DATABASE_URL` is set,
//! dropped afterwards).

use std::path::PathBuf;
use std::sync::LazyLock;

use diesel::{Connection, RunQueryDsl};
use ssa_directory::config::{Config, LogFormat, Secret};
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
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

/// A running directory and an HTTP client for it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub state: std::sync::Arc<AppState>,
    pub keys_dir: PathBuf,
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
    let mut config = Config::default();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = dir.join("data");
    config.keys_dir = dir.join("keys");
    config.database_url = Some(Secret::new(db.url.clone()));
    config.workers = 2;
    config.db_pool_size = 4;
    config.shutdown_timeout_secs = 1;
    config
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
    start(config, db, dir).await
}

/// Starts another instance on the same database and keys folder as `app`.
pub async fn spawn_sibling(app: &TestApp) -> TestApp {
    let config = test_config(app.dir.path(), &app.db);
    start(config, app.db.clone(), app.dir.clone()).await
}

async fn start(
    config: Config,
    db: std::sync::Arc<TestDatabase>,
    dir: std::sync::Arc<tempfile::TempDir>,
) -> TestApp {
    LazyLock::force(&TRACING);
    let keys_dir = config.keys_dir.clone();
    let app = Application::build(config).await.expect("the app builds");
    let port = app.port();
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: client(),
        state,
        keys_dir,
        handle,
        db,
        dir,
    }
}

/// A client with its own cookie store that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }
}
