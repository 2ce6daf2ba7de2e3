//! Health, readiness, metrics, request ids and error shapes.

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_is_200_once_migrations_are_applied() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    if app.db.is_postgres() {
        use diesel::{Connection, RunQueryDsl};
        let mut conn = diesel::PgConnection::establish(&app.db.url).unwrap();
        diesel::sql_query("DROP TABLE __diesel_schema_migrations")
            .execute(&mut conn)
            .unwrap();
    } else {
        let path = app.db.url.trim_start_matches("sqlite://").to_owned();
        let mut conn = diesel::SqliteConnection::establish(&path).unwrap();
        use diesel::{Connection, RunQueryDsl};
        diesel::sql_query("DROP TABLE __diesel_schema_migrations")
            .execute(&mut conn)
            .unwrap();
    }
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let first = app.get("/healthz").await;
    let second = app.get("/healthz").await;
    let a = first.headers()["x-request-id"].to_str().unwrap().to_owned();
    let b = second.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&a).is_ok(), "{a}");
    assert_ne!(a, b);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    app.get("/no/such/page").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_routes_are_problem_json_404() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["type"], "urn:ssa-directory:problem:not-found");
    assert_eq!(body["status"], 404);
}

#[tokio::test]
async fn every_documented_operation_exists_and_requires_a_token_but_the_password_reset() {
    let app = spawn_app().await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 14, "{}", paths.len());
    for (path, item) in paths {
        // Asked by people who cannot log in: documented without a token (security `[{}]`).
        if !path.starts_with("/api/v1/") || path.starts_with("/api/v1/password-reset") {
            let public = item
                .as_object()
                .unwrap()
                .values()
                .all(|operation| operation["security"] == serde_json::json!([{}]));
            assert!(
                !path.starts_with("/api/v1/") || public,
                "{path} documented without a token: {item}"
            );
            continue;
        }
        let action = if path.starts_with("/api/v1/users/") {
            "disable"
        } else if path.starts_with("/api/v1/invitations/") {
            "accept"
        } else {
            "approve"
        };
        let concrete = path.replace("{action}", action).replace(['{', '}'], "");
        for method in item.as_object().unwrap().keys() {
            let Ok(method) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            if !matches!(
                method,
                reqwest::Method::GET
                    | reqwest::Method::POST
                    | reqwest::Method::PUT
                    | reqwest::Method::PATCH
                    | reqwest::Method::DELETE
            ) {
                continue;
            }
            let (status, body) = app.api(method.clone(), &concrete, None, None).await;
            assert_eq!(status, 401, "{method} {path}: {body}");
        }
    }
}

/// An EC public JWK, as JSON text.
fn ec_jwk() -> String {
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let key =
        openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    serde_json::Value::Object(ssa_directory::keys::jwk::public_jwk(&key, "ES256").unwrap())
        .to_string()
}

#[tokio::test]
async fn an_upgrade_keeps_the_data_and_adds_the_constraints() {
    use diesel::RunQueryDsl;
    use ssa_directory::store;
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::TestDatabase::create(dir.path());
    let manager =
        store::ConnectionManager::new(&ssa_directory::config::Secret::new(db.url.clone())).unwrap();
    manager.prepare().unwrap();
    let mut conn = manager.open().unwrap();
    store::migrate_until(&mut conn, "2026-12-01-000001_hardening").unwrap();

    let org = uuid::Uuid::new_v4();
    let software = uuid::Uuid::new_v4();
    let user = uuid::Uuid::new_v4();
    let at = "'2026-11-30 10:00:00'";
    let statements = [
        format!(
            "INSERT INTO users (id, email, password_hash, is_operator, created_at) VALUES ('{user}', 'dev@example.com', 'x', FALSE, {at})"
        ),
        format!(
            "INSERT INTO organisations (id, legal_name, registration_number, country, competent_authority, authority_registration_id, roles, business_contact, technical_contact, authorization_servers, status, created_at, updated_at) VALUES ('{org}', 'Acme', '1', 'GB', 'FCA', '2', '[\"AISP\"]', '{{}}', '{{}}', '[]', 'active', {at}, {at})"
        ),
        format!(
            "INSERT INTO memberships (organisation_id, user_id, role, created_at) VALUES ('{org}', '{user}', 'admin', {at})"
        ),
        format!(
            "INSERT INTO software (id, organisation_id, client_id, client_name, description, version, redirect_uris, roles, environment, status, created_at, updated_at) VALUES ('{software}', '{org}', 'c1', 'App', '', '', '[\"https://a.example/cb\"]', '[\"AISP\"]', 'sandbox', 'suspended', {at}, {at})"
        ),
        format!(
            "INSERT INTO participant_keys (id, organisation_id, software_id, kid, jwk, created_at) VALUES ('k1', '{org}', '{software}', 'one', '{}', {at})",
            ec_jwk()
        ),
        format!(
            "INSERT INTO participant_keys (id, organisation_id, software_id, kid, jwk, created_at) VALUES ('k2', '{org}', '{software}', 'two', '{}', '2026-11-30 11:00:00')",
            ec_jwk()
        ),
        format!(
            "INSERT INTO participant_keys (id, organisation_id, software_id, kid, jwk, created_at, revoked_at) VALUES ('k3', '{org}', '{software}', 'gone', '{}', {at}, {at})",
            ec_jwk()
        ),
        format!(
            "INSERT INTO certificates (serial, organisation_id, software_id, cert_type, subject, not_before, not_after, pem, status, revocation_reason, revoked_at, created_at) VALUES ('0A', '{org}', '{software}', 'transport', 'CN=x', {at}, '2099-01-01 00:00:00', 'pem', 'hold', 'certificateHold', {at}, {at})"
        ),
        format!(
            "INSERT INTO audit_events (occurred_at, actor, action, subject_type, subject_id, organisation_id, old_status, new_status) VALUES ({at}, 'cli', 'certificate.hold', 'certificate', '0A', '{org}', 'good', 'hold')"
        ),
    ];
    for statement in &statements {
        diesel::sql_query(statement).execute(&mut conn).unwrap();
    }
    assert!(store::migrate(&mut conn).unwrap() >= 1);

    let count = |conn: &mut store::DbConnection, sql: &str| -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
    };
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) AS n FROM participant_keys"),
        3
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) AS n FROM participant_keys WHERE revoked_at IS NULL AND slot IS NOT NULL"
        ),
        2
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) AS n FROM participant_keys WHERE kid = 'two' AND slot = 1"
        ),
        1,
        "slots by age"
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) AS n FROM certificates WHERE status = 'hold'"
        ),
        1
    );
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM memberships"), 1);
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) AS n FROM audit_events"),
        1
    );
    for bad in [
        "UPDATE organisations SET status = 'bogus'",
        "UPDATE software SET environment = 'staging'",
        "UPDATE certificates SET status = 'unknown'",
        "UPDATE certificates SET revocation_reason = 'bored'",
        "UPDATE memberships SET role = 'owner'",
        "UPDATE participant_keys SET slot = 20 WHERE kid = 'one'",
        "UPDATE participant_keys SET kid = 'two' WHERE kid = 'one'",
    ] {
        assert!(diesel::sql_query(bad).execute(&mut conn).is_err(), "{bad}");
    }
    if !db.is_postgres() {
        #[derive(diesel::QueryableByName)]
        struct Violation {
            #[diesel(sql_type = diesel::sql_types::Text)]
            #[diesel(column_name = "table")]
            _table: String,
        }
        let violations: Vec<Violation> = diesel::sql_query("PRAGMA foreign_key_check")
            .load(&mut conn)
            .unwrap();
        assert!(violations.is_empty(), "foreign keys hold after the rebuild");
    }
    drop(conn);

    // The directory starts on it, fills in the thumbprints and serves the keys.
    let config = crate::helpers::test_config(dir.path(), &db);
    let app = ssa_directory::Application::build(config).await.unwrap();
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let mut conn = state.pool.get().unwrap();
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) AS n FROM participant_keys WHERE revoked_at IS NULL AND thumbprint IS NULL"
        ),
        0
    );
    drop(conn);
    let port = handle_port(&state);
    let doc: serde_json::Value = reqwest::get(format!(
        "http://127.0.0.1:{port}/keystore/{org}/{software}.jwks"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(doc["keys"].as_array().unwrap().len(), 2, "{doc}");
    handle.stop(false).await;
}

/// The port a directory listens on, from its public URL.
fn handle_port(state: &ssa_directory::AppState) -> u16 {
    state
        .public_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
