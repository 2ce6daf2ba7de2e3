//! Portal sessions end on the server: at logout, at expiry, when the password changes and
//! when an operator disables the account, on every instance, and a copied cookie does not
//! bring an ended session back.

use reqwest::Method;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, csrf_of, spawn_app, spawn_app_with, spawn_sibling};

/// A client that keeps no cookies, so that a test holds the cookie as an attacker copying it
/// would.
fn bare() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` part of a response's session cookie.
fn session_cookie(response: &reqwest::Response) -> String {
    let header = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("ssa_directory_session="))
        .expect("a session cookie");
    header.split(';').next().unwrap().to_owned()
}

/// Logs in as `email`; the session cookie.
async fn log_in(app: &TestApp, email: &str, password: &str) -> String {
    let client = bare();
    let page = client.get(app.url("/login")).send().await.unwrap();
    let cookie = session_cookie(&page);
    let csrf = csrf_of(&page.text().await.unwrap());
    let response = client
        .post(app.url("/login"))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{email} logs in");
    session_cookie(&response)
}

/// The status of a page asked for with `cookie`, and its body.
async fn visit(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let response = bare()
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Posts a portal form (with the page's CSRF token) as the holder of `cookie`.
async fn submit(
    app: &TestApp,
    cookie: &str,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let response = bare()
        .get(app.url(page))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    // The page may store a new CSRF token in the (encrypted) cookie.
    let cookie = if response.headers().contains_key(SET_COOKIE) {
        session_cookie(&response)
    } else {
        cookie.to_owned()
    };
    let csrf = csrf_of(&response.text().await.unwrap());
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    bare()
        .post(app.url(action))
        .header(COOKIE, &cookie)
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_copied_cookie_does_not_outlive_logout_on_any_instance() {
    let app = spawn_app().await;
    let sibling = spawn_sibling(&app).await;
    let user = app.user("dev@fintech.example", false).await;
    let cookie = log_in(&app, &user.email, PASSWORD).await;
    assert_eq!(visit(&app, &cookie, "/dashboard").await.0, 200);
    assert_eq!(
        visit(&sibling, &cookie, "/dashboard").await.0,
        200,
        "a session is good on every instance"
    );

    let response = submit(&app, &cookie, "/dashboard", "/logout", &[]).await;
    assert_eq!(response.status(), 303);
    for instance in [&app, &sibling] {
        let (status, _) = visit(instance, &cookie, "/dashboard").await;
        assert_eq!(status, 303, "the copied cookie after logout");
    }
    // A restart (here: a new instance on the same database and keys) does not revive it.
    let restarted = spawn_sibling(&app).await;
    assert_eq!(visit(&restarted, &cookie, "/dashboard").await.0, 303);
}

#[tokio::test]
async fn sessions_expire_on_the_server_whatever_the_cookie_says() {
    let app = spawn_app_with(|c| c.session_ttl_secs = 3600).await;
    let user = app.user("dev@fintech.example", false).await;
    let cookie = log_in(&app, &user.email, PASSWORD).await;
    assert_eq!(visit(&app, &cookie, "/dashboard").await.0, 200);
    // Most of an hour passes (by the directory's clock: the test does not wait for it).
    app.clock.advance(std::time::Duration::from_secs(3500));
    assert_eq!(visit(&app, &cookie, "/dashboard").await.0, 200);
    app.clock.advance(std::time::Duration::from_secs(101));
    let (status, _) = visit(&app, &cookie, "/dashboard").await;
    assert_eq!(status, 303, "expired on the server");
}

#[tokio::test]
async fn a_password_change_ends_every_other_session() {
    let app = spawn_app().await;
    let user = app.user("dev@fintech.example", false).await;
    let here = log_in(&app, &user.email, PASSWORD).await;
    let elsewhere = log_in(&app, &user.email, PASSWORD).await;

    let response = submit(
        &app,
        &here,
        "/account",
        "/account/password",
        &[
            ("current_password", "not the password"),
            ("new_password", "a brand new password"),
            ("new_password_confirm", "a brand new password"),
        ],
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("current_password"));
    assert_eq!(visit(&app, &elsewhere, "/dashboard").await.0, 200);

    let response = submit(
        &app,
        &here,
        "/account",
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", "a brand new password"),
            ("new_password_confirm", "a brand new password"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let renewed = session_cookie(&response);
    assert_eq!(
        visit(&app, &renewed, "/dashboard").await.0,
        200,
        "this browser stays"
    );
    assert_eq!(
        visit(&app, &here, "/dashboard").await.0,
        303,
        "its old cookie ends"
    );
    assert_eq!(
        visit(&app, &elsewhere, "/dashboard").await.0,
        303,
        "others end"
    );
    log_in(&app, &user.email, "a brand new password").await;

    // The API twin ends the portal sessions too.
    let portal = log_in(&app, &user.email, "a brand new password").await;
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v1/me/password",
            Some(&user.token),
            Some(json!({"current_password": "a brand new password", "new_password": "yet another password"})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(visit(&app, &portal, "/dashboard").await.0, 303);
    let operator = app.user("op@directory.example", true).await;
    let (_, audit) = app
        .get_json("/api/v1/audit?action=user.password_change", &operator)
        .await;
    assert_eq!(audit["total"], 2, "{audit}");
}

#[tokio::test]
async fn a_disabled_account_loses_its_sessions_and_tokens_until_enabled() {
    let app = spawn_app().await;
    let sibling = spawn_sibling(&app).await;
    let operator = app.user("op@directory.example", true).await;
    let user = app.user("dev@fintech.example", false).await;
    let cookie = log_in(&app, &user.email, PASSWORD).await;

    let (status, _) = app
        .api(
            Method::POST,
            &format!("/api/v1/users/{}/disable", user.id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(status, 403, "developers disable no one");
    let (status, account) = app
        .api(
            Method::POST,
            &format!("/api/v1/users/{}/disable", user.id),
            Some(&operator.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{account}");
    crate::helpers::assert_conforms("Account", &account);
    assert!(account["disabled_at"].is_string());
    for instance in [&app, &sibling] {
        assert_eq!(visit(instance, &cookie, "/dashboard").await.0, 303);
    }
    let (status, _) = app.get_json("/api/v1/me", &user).await;
    assert_eq!(status, 401, "its tokens stop");
    let page = bare().get(app.url("/login")).send().await.unwrap();
    let login_cookie = session_cookie(&page);
    let csrf = csrf_of(&page.text().await.unwrap());
    let response = bare()
        .post(app.url("/login"))
        .header(COOKIE, &login_cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", user.email.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("disabled"));

    let (status, problem) = app
        .api(
            Method::POST,
            &format!("/api/v1/users/{}/disable", operator.id),
            Some(&operator.token),
            None,
        )
        .await;
    assert_eq!(status, 409, "not oneself: {problem}");

    let (status, _) = app
        .api(
            Method::POST,
            &format!("/api/v1/users/{}/enable", user.id),
            Some(&operator.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.get_json("/api/v1/me", &user).await.0, 200);
    log_in(&app, &user.email, PASSWORD).await;
    assert_eq!(
        visit(&app, &cookie, "/dashboard").await.0,
        303,
        "ended stays ended"
    );

    let (_, list) = app.get_json("/api/v1/users?email=fintech", &operator).await;
    assert_eq!(list["total"], 1, "{list}");
    crate::helpers::assert_conforms("Page_Account", &list);
    assert_eq!(list["items"][0]["email"], "dev@fintech.example");
}

#[tokio::test]
async fn operators_disable_and_enable_accounts_in_the_portal() {
    let app = spawn_app().await;
    let operator = app.user("op@directory.example", true).await;
    let user = app.user("dev@fintech.example", false).await;
    let victim = log_in(&app, &user.email, PASSWORD).await;
    let admin = log_in(&app, &operator.email, PASSWORD).await;
    assert_eq!(visit(&app, &victim, "/operator/users").await.0, 403);
    let (_, html) = visit(&app, &admin, "/operator/users").await;
    assert!(html.contains("dev@fintech.example"), "{html}");
    let response = submit(
        &app,
        &admin,
        "/operator/users",
        &format!("/operator/users/{}/disable", user.id),
        &[],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(visit(&app, &victim, "/dashboard").await.0, 303);
    let (_, html) = visit(&app, &admin, "/operator/users").await;
    assert!(html.contains("Enable"), "{html}");
    let response = submit(
        &app,
        &admin,
        "/operator/users",
        &format!("/operator/users/{}/disable", operator.id),
        &[],
    )
    .await;
    assert_eq!(response.status(), 409);
    assert!(response.text().await.unwrap().contains("their own account"));
}

/// One log-in attempt from the client address `from` (the directory trusts
/// `X-Forwarded-For` in this test); the status and how long the answer took.
async fn attempt(
    app: &TestApp,
    email: &str,
    password: &str,
    from: &str,
) -> (u16, std::time::Duration) {
    let client = bare();
    let page = client.get(app.url("/login")).send().await.unwrap();
    let cookie = session_cookie(&page);
    let csrf = csrf_of(&page.text().await.unwrap());
    let started = std::time::Instant::now();
    let response = client
        .post(app.url("/login"))
        .header(COOKIE, &cookie)
        .header("x-forwarded-for", from)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), started.elapsed())
}

#[tokio::test]
async fn an_attackers_failures_do_not_lock_the_owner_out() {
    let app = spawn_app_with(|c| {
        c.login_max_failures = 3;
        c.trust_forwarded_for = true;
    })
    .await;
    let user = app.user("dev@fintech.example", false).await;
    let attacker = "203.0.113.7";
    for guess in ["guess one!", "guess two!", "guess three"] {
        assert_eq!(attempt(&app, &user.email, guess, attacker).await.0, 401);
    }
    let (status, _) = attempt(&app, &user.email, PASSWORD, attacker).await;
    assert_eq!(status, 429, "the attacking address is throttled");

    let (status, took) = attempt(&app, &user.email, PASSWORD, "198.51.100.2").await;
    assert_eq!(status, 303, "the owner, elsewhere, logs in");
    assert!(
        took >= std::time::Duration::from_millis(900),
        "but waits while the account is under attack: {took:?}"
    );
    // The owner's success clears the account's count: no more waiting.
    let (status, took) = attempt(&app, &user.email, PASSWORD, "198.51.100.2").await;
    assert_eq!(status, 303);
    assert!(took < std::time::Duration::from_millis(900), "{took:?}");
    // Another address guessing the same account is refused, slowly, not locked forever.
    let (status, _) = attempt(&app, &user.email, "guess four!", "203.0.113.8").await;
    assert_eq!(status, 401);
}
