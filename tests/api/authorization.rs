//! The authorization matrix: every API endpoint × {anonymous, member of another organisation,
//! developer, admin, operator}, with the exact status each must get; and for machine clients,
//! a product's token, its sibling's and its organisation's.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Cast, TestApp, cast, registration, spawn_app};

#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    Outsider,
    Developer,
    Admin,
    Operator,
}

const EVERYONE: [Who; 5] = [
    Who::Anonymous,
    Who::Outsider,
    Who::Developer,
    Who::Admin,
    Who::Operator,
];

fn token(c: &Cast, who: Who) -> Option<String> {
    match who {
        Who::Anonymous => None,
        Who::Outsider => Some(c.outsider.token.clone()),
        Who::Developer => Some(c.developer.token.clone()),
        Who::Admin => Some(c.admin.token.clone()),
        Who::Operator => Some(c.operator.token.clone()),
    }
}

/// One row: a request and the status for each caller, in the order of `EVERYONE`.
struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    expected: [u16; 5],
}

fn row(method: Method, path: String, body: Option<Value>, expected: [u16; 5]) -> Row {
    Row {
        method,
        path,
        body,
        expected,
    }
}

async fn check(app: &TestApp, c: &Cast, rows: Vec<Row>) {
    let mut failures = vec![];
    for row in rows {
        for (who, expected) in EVERYONE.into_iter().zip(row.expected) {
            let (status, body) = app
                .api(
                    row.method.clone(),
                    &row.path,
                    token(c, who).as_deref(),
                    row.body.clone(),
                )
                .await;
            if status != expected {
                failures.push(format!(
                    "{} {} as {who:?}: expected {expected}, got {status} {body}",
                    row.method, row.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn reads_and_edits_are_confined_to_members_and_operators() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let org = format!("/api/v1/organisations/{}", c.org_id);
    let software = format!("/api/v1/software/{}", c.software_id);
    use Method as M;
    let rows = vec![
        row(M::GET, "/api/v1/me".into(), None, [401, 200, 200, 200, 200]),
        row(
            M::GET,
            "/api/v1/organisations".into(),
            None,
            [401, 200, 200, 200, 200],
        ),
        row(M::GET, org.clone(), None, [401, 404, 200, 200, 200]),
        row(
            M::GET,
            format!("{org}/members"),
            None,
            [401, 404, 200, 200, 200],
        ),
        row(
            M::GET,
            format!("{org}/software"),
            None,
            [401, 404, 200, 200, 200],
        ),
        row(M::GET, software.clone(), None, [401, 404, 200, 200, 200]),
        row(
            M::PATCH,
            software.clone(),
            Some(json!({"version": "1.0.1"})),
            [401, 404, 200, 200, 200],
        ),
        row(
            M::POST,
            format!("{org}/software"),
            Some(registration("sandbox")),
            [401, 404, 201, 201, 201],
        ),
        row(
            M::PUT,
            format!("{org}/authorization-servers"),
            Some(json!({"authorization_servers": []})),
            [401, 404, 403, 200, 200],
        ),
        row(
            M::GET,
            "/api/v1/audit".into(),
            None,
            [401, 403, 403, 403, 200],
        ),
        row(
            M::GET,
            "/api/v1/tokens".into(),
            None,
            [401, 200, 200, 200, 200],
        ),
        row(
            M::GET,
            format!("{software}/keys"),
            None,
            [401, 404, 200, 200, 200],
        ),
        row(
            M::GET,
            format!("{org}/keys"),
            None,
            [401, 404, 200, 200, 200],
        ),
        // The product is pending: members may ask, and are told why there is no statement.
        row(
            M::POST,
            format!("{software}/ssa"),
            None,
            [401, 404, 409, 409, 409],
        ),
    ];
    check(&app, &c, rows).await;
}

fn ec_jwk() -> Value {
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let key =
        openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    Value::Object(ssa_directory::keys::jwk::public_jwk(&key, "ES256").unwrap())
}

/// Uploads a fresh key as each caller (so that a success is never a duplicate) and checks the
/// statuses; then tries to remove a key uploaded by the admin.
async fn check_keys(app: &TestApp, c: &Cast, path: &str, upload: [u16; 5], remove: [u16; 5]) {
    let mut failures = vec![];
    for (who, expected) in EVERYONE.into_iter().zip(upload) {
        let (status, body) = app
            .api(
                Method::POST,
                path,
                token(c, who).as_deref(),
                Some(json!({"jwk": ec_jwk()})),
            )
            .await;
        if status != expected {
            failures.push(format!(
                "POST {path} as {who:?}: expected {expected}, got {status} {body}"
            ));
        }
    }
    for (who, expected) in EVERYONE.into_iter().zip(remove) {
        let jwk = ec_jwk();
        let kid = jwk["kid"].as_str().unwrap().to_owned();
        let (status, body) = app
            .api(
                Method::POST,
                path,
                Some(&c.admin.token),
                Some(json!({"jwk": jwk})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = app
            .api(
                Method::DELETE,
                &format!("{path}/{kid}"),
                token(c, who).as_deref(),
                None,
            )
            .await;
        if status != expected {
            failures.push(format!(
                "DELETE {path}/{{kid}} as {who:?}: expected {expected}, got {status} {body}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn statements_and_keys_are_confined_to_members_and_operators() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let software = format!("/api/v1/software/{}", c.software_id);
    app.decide(&c.operator, &software, "approve").await;
    let rows = vec![row(
        Method::POST,
        format!("{software}/ssa"),
        None,
        [401, 404, 201, 201, 201],
    )];
    check(&app, &c, rows).await;
    check_keys(
        &app,
        &c,
        &format!("{software}/keys"),
        [401, 404, 201, 201, 201],
        [401, 404, 204, 204, 204],
    )
    .await;
    check_keys(
        &app,
        &c,
        &format!("/api/v1/organisations/{}/keys", c.org_id),
        [401, 404, 403, 201, 201],
        [401, 404, 403, 204, 204],
    )
    .await;
}

#[tokio::test]
async fn certificates_are_confined_to_members_and_operators() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let software = format!("/api/v1/software/{}", c.software_id);
    app.decide(&c.operator, &software, "approve").await;
    let dir = tempfile::tempdir().unwrap();
    let csr = crate::pki::make_csr(dir.path(), "m", "ec:P-256", "/CN=m");
    let request = json!({"type": "transport", "csr": csr});
    let mut failures = vec![];
    let mut serials = vec![];
    for _ in EVERYONE {
        let (status, issued) = app
            .post_json(
                &format!("{software}/certificates"),
                &c.admin,
                request.clone(),
            )
            .await;
        assert_eq!(status, 201, "{issued}");
        serials.push(issued["serial"].as_str().unwrap().to_owned());
    }
    let expected_issue = [401, 404, 201, 201, 201];
    let expected_read = [401, 404, 200, 200, 200];
    for ((who, serial), (issue, read)) in EVERYONE
        .into_iter()
        .zip(&serials)
        .zip(expected_issue.into_iter().zip(expected_read))
    {
        let token = token(&c, who);
        let cases = [
            (
                Method::POST,
                format!("{software}/certificates"),
                Some(request.clone()),
                issue,
            ),
            (Method::GET, format!("{software}/certificates"), None, read),
            (
                Method::GET,
                format!("/api/v1/certificates/{serial}"),
                None,
                read,
            ),
            (
                Method::POST,
                format!("/api/v1/certificates/{serial}/revoke"),
                Some(json!({"reason": "superseded"})),
                read,
            ),
        ];
        for (method, path, body, expected) in cases {
            let (status, body) = app.api(method.clone(), &path, token.as_deref(), body).await;
            if status != expected {
                failures.push(format!(
                    "{method} {path} as {who:?}: expected {expected}, got {status} {body}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn only_operators_decide_on_organisations_and_software() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let org = format!("/api/v1/organisations/{}", c.org_id);
    let software = format!("/api/v1/software/{}", c.software_id);
    let reason = Some(json!({"reason": "matrix"}));
    use Method as M;
    // Each row changes the state the next one starts from: operators succeed exactly once.
    let rows = vec![
        row(
            M::POST,
            format!("{software}/approve"),
            reason.clone(),
            [401, 404, 403, 403, 200],
        ),
        row(
            M::POST,
            format!("{software}/suspend"),
            reason.clone(),
            [401, 404, 403, 403, 200],
        ),
        row(
            M::POST,
            format!("{software}/reinstate"),
            reason.clone(),
            [401, 404, 403, 403, 200],
        ),
        row(
            M::POST,
            format!("{org}/suspend"),
            reason.clone(),
            [401, 404, 403, 403, 200],
        ),
        row(
            M::POST,
            format!("{org}/reinstate"),
            reason.clone(),
            [401, 404, 403, 403, 200],
        ),
        row(
            M::POST,
            format!("{software}/revoke"),
            reason.clone(),
            [401, 404, 403, 403, 200],
        ),
        row(
            M::POST,
            format!("{org}/revoke"),
            reason.clone(),
            [401, 404, 403, 403, 200],
        ),
        row(
            M::POST,
            format!("{org}/approve"),
            reason.clone(),
            [401, 404, 403, 403, 409],
        ),
    ];
    check(&app, &c, rows).await;
}

#[tokio::test]
async fn only_admins_and_operators_manage_members() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let members = format!("/api/v1/organisations/{}/members", c.org_id);
    let newcomer = app.user("new@fintech.example", false).await;
    use Method as M;
    let rows = vec![
        row(
            M::POST,
            members.clone(),
            Some(json!({"email": newcomer.email, "role": "developer"})),
            [401, 404, 403, 201, 409],
        ),
        row(
            M::DELETE,
            format!("{members}/{}", newcomer.id),
            None,
            [401, 404, 403, 204, 404],
        ),
    ];
    check(&app, &c, rows).await;
}

#[tokio::test]
async fn anyone_signed_in_may_apply_and_sees_only_their_own_organisations() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    use Method as M;
    let rows = vec![row(
        M::POST,
        "/api/v1/organisations".into(),
        Some(crate::helpers::application(&["AISP"])),
        [401, 201, 201, 201, 201],
    )];
    check(&app, &c, rows).await;

    let (_, mine) = app.get_json("/api/v1/organisations", &c.outsider).await;
    let ids: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&c.other_org_id.as_str()));
    assert!(!ids.contains(&c.org_id.as_str()));
    let (_, all) = app.get_json("/api/v1/organisations", &c.operator).await;
    assert_eq!(all["total"], 6);
}

#[tokio::test]
async fn tokens_of_other_users_cannot_be_revoked() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (_, tokens) = app.get_json("/api/v1/tokens", &c.admin).await;
    let admin_token = tokens["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v1/tokens/{admin_token}"),
            Some(&c.operator.token),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.get_json("/api/v1/me", &c.admin).await;
    assert_eq!(status, 200);
}

/// The matrix for machine clients: a product's token, its sibling's (another product of the
/// same organisation) and the organisation's own, each with every scope it may have.
#[tokio::test]
async fn machine_clients_reach_their_own_product_or_organisation_only() {
    use crate::oauth::{Client, Key, client};
    let app = spawn_app().await;
    let c = crate::verifier::approved(&app).await;
    let sibling = app.register(&c.developer, &c.org_id, "production").await;
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{sibling}"),
        "approve",
    )
    .await;
    let own = client(&app, &c, &c.software_id).await;
    let sibling = client(&app, &c, &sibling).await;
    let signing = Key::new();
    let org = format!("/api/v1/organisations/{}", c.org_id);
    let (status, body) = app
        .post_json(
            &format!("{org}/keys"),
            &c.admin,
            json!({"jwk": signing.jwk()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let organisation = Client {
        software_id: c.org_id.clone(),
        signing,
        dpop: Key::new(),
    };
    let clients = [&own, &sibling, &organisation];
    let mut tokens = vec![];
    for client in clients {
        let issued = client.token(&app, None).await;
        tokens.push(issued["access_token"].as_str().unwrap().to_owned());
    }
    let software = format!("/api/v1/software/{}", c.software_id);
    let dir = tempfile::tempdir().unwrap();
    let csr = crate::pki::make_csr(dir.path(), "m", "ec:P-256", "/CN=x");
    use Method as M;
    // Expected: [the product's token, its sibling's, the organisation's].
    let rows: Vec<(Method, String, Option<Value>, [u16; 3])> = vec![
        (M::GET, software.clone(), None, [200, 404, 200]),
        (M::GET, format!("{software}/keys"), None, [200, 404, 200]),
        (M::POST, format!("{software}/ssa"), None, [201, 404, 403]),
        (
            M::POST,
            format!("{software}/certificates"),
            Some(json!({"type": "transport", "csr": csr})),
            [201, 404, 403],
        ),
        (
            M::GET,
            format!("{software}/certificates"),
            None,
            [200, 404, 200],
        ),
        (
            M::PATCH,
            software.clone(),
            Some(json!({"version": "2"})),
            [403, 403, 403],
        ),
        (
            M::POST,
            format!("{software}/suspend"),
            None,
            [403, 403, 403],
        ),
        (M::GET, org.clone(), None, [404, 404, 200]),
        (M::GET, format!("{org}/software"), None, [404, 404, 200]),
        (M::GET, format!("{org}/keys"), None, [404, 404, 200]),
        (M::GET, format!("{org}/members"), None, [403, 403, 403]),
        (
            M::POST,
            format!("{org}/subscriptions"),
            // A product's token has no events:subscribe.
            Some(json!({"method": "poll"})),
            [403, 403, 201],
        ),
        (
            M::GET,
            format!("/api/v1/organisations/{}", c.other_org_id),
            None,
            [404, 404, 404],
        ),
        (
            M::GET,
            "/api/v1/organisations".into(),
            None,
            [403, 403, 403],
        ),
        (M::GET, "/api/v1/software".into(), None, [403, 403, 403]),
        (M::GET, "/api/v1/audit".into(), None, [403, 403, 403]),
        (M::GET, "/api/v1/me".into(), None, [403, 403, 403]),
        (M::GET, "/api/v1/tokens".into(), None, [403, 403, 403]),
    ];
    let names = ["product", "sibling product", "organisation"];
    let mut failures = vec![];
    for (method, path, body, expected) in rows {
        for (i, client) in clients.iter().enumerate() {
            let (status, _, answer) = client
                .call(&app, method.clone(), &path, &tokens[i], body.clone())
                .await;
            if status != expected[i] {
                failures.push(format!(
                    "{method} {path} as the {}: expected {}, got {status} {answer}",
                    names[i], expected[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
