//! Second factors through the portal: an authenticator app enrolled with its first code, a
//! log-in that then takes a code, each code accepted once, wrong codes throttled, recovery
//! codes used once, and nothing secret in the audit.

use totp_rs::{Algorithm, Secret, TOTP};

use crate::helpers::{PASSWORD, TestApp, spawn_app_with};
use crate::portal::Browser;

/// The app's code at the directory's current time (plus `ahead` seconds), computed as a
/// phone computes it.
fn code(app: &TestApp, secret: &str, ahead: u64) -> String {
    let totp = TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        Secret::Encoded(secret.to_owned()).to_bytes().unwrap(),
        None,
        "phone".into(),
    )
    .unwrap();
    let now = app.state.now().assume_utc().unix_timestamp() as u64;
    totp.generate(now + ahead)
}

pub(crate) fn between<'a>(html: &'a str, before: &str, after: &str) -> &'a str {
    let start = html
        .find(before)
        .unwrap_or_else(|| panic!("{before} in {html}"))
        + before.len();
    let end = html[start..].find(after).unwrap() + start;
    &html[start..end]
}

/// Posts `code` as the second step of the browser's log-in.
async fn second_factor(browser: &Browser<'_>, code: &str) -> (u16, Option<String>, String) {
    browser
        .submit(
            "/login/second-factor",
            "/login/second-factor",
            &[("code", code)],
        )
        .await
}

/// An authenticator app enrolled by [`enrol`]: its key, and the recovery codes when it was
/// the account's first factor.
struct Enrolled {
    secret: String,
    codes: Vec<String>,
}

/// Enrols an authenticator app named "phone" for the browser's account.
async fn enrol(app: &TestApp, browser: &Browser<'_>) -> Enrolled {
    let (_, _, html) = browser
        .submit("/account", "/account/totp", &[("name", "phone")])
        .await;
    let secret = between(&html, "id=\"totp-secret\">", "<").to_owned();
    let id = between(&html, "action=\"/account/totp/", "/confirm").to_owned();
    let (status, _, html) = browser
        .submit(
            "/account",
            &format!("/account/totp/{id}/confirm"),
            &[("code", &code(app, &secret, 0))],
        )
        .await;
    assert_eq!(status, 200, "{html}");
    let codes = html
        .split("<li><code>")
        .skip(1)
        .map(|part| part[..part.find('<').unwrap()].to_owned())
        .collect();
    Enrolled { secret, codes }
}

/// Waits out the current 30-second step on the directory's clock: a code of the next step
/// is a new code.
fn next_step(app: &TestApp) {
    app.clock.advance(std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn an_authenticator_app_is_a_second_factor_and_each_code_works_once() {
    let app = spawn_app_with(|c| c.login_max_failures = 3).await;
    let user = app.user("ops@directory.example", false).await;
    let browser = Browser::new(&app);
    let (status, location, _) = browser.log_in(&user.email, PASSWORD).await;
    assert_eq!((status, location.as_deref()), (303, Some("/dashboard")));

    // Enrolment: a QR code and the key, confirmed with a first code.
    let (status, _, html) = browser
        .submit("/account", "/account/totp", &[("name", "phone")])
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<svg"), "a QR code drawn here: {html}");
    let secret = between(&html, "id=\"totp-secret\">", "<").to_owned();
    let id = between(&html, "action=\"/account/totp/", "/confirm").to_owned();
    let confirm = format!("/account/totp/{id}/confirm");
    let (status, _, html) = browser
        .submit("/account", &confirm, &[("code", "000000")])
        .await;
    assert_eq!(status, 422, "a wrong first code: {html}");
    // The code that confirms the app, kept: it is never accepted again.
    let used = code(&app, &secret, 0);
    let (status, _, html) = browser
        .submit("/account", &confirm, &[("code", &used)])
        .await;
    assert_eq!(status, 200, "{html}");
    let codes: Vec<String> = html
        .split("<li><code>")
        .skip(1)
        .map(|part| part[..part.find('<').unwrap()].to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "ten recovery codes, shown once: {html}");
    let (_, account) = browser.get("/account").await;
    assert!(
        account.contains(">phone<") && account.contains("10 recovery codes left"),
        "{account}"
    );

    // Logging in now takes the password, then a code; the password alone reaches nothing.
    browser.submit("/dashboard", "/logout", &[]).await;
    let (status, location, _) = browser.log_in(&user.email, PASSWORD).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/login/second-factor"))
    );
    let (status, _) = browser.get("/dashboard").await;
    assert_ne!(status, 200, "not signed in before the second factor");
    // The code that confirmed the app was accepted already; the next step's works.
    let (status, _, html) = second_factor(&browser, &used).await;
    assert_eq!(status, 401, "{html}");
    assert!(html.contains("already used"), "{html}");
    next_step(&app);
    let fresh = code(&app, &secret, 0);
    let (status, location, _) = second_factor(&browser, &fresh).await;
    assert_eq!((status, location.as_deref()), (303, Some("/dashboard")));
    let (status, _) = browser.get("/dashboard").await;
    assert_eq!(status, 200);

    // The same code again, on another log-in: refused.
    let other = Browser::new(&app);
    other.log_in(&user.email, PASSWORD).await;
    let (status, _, _) = second_factor(&other, &fresh).await;
    assert_eq!(status, 401, "a code is accepted once");

    // A recovery code logs in once, whatever its case and spacing.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let (status, location, _) = second_factor(&other, &typed).await;
    assert_eq!((status, location.as_deref()), (303, Some("/dashboard")));
    let third = Browser::new(&app);
    third.log_in(&user.email, PASSWORD).await;
    let (status, _, _) = second_factor(&third, &codes[0]).await;
    assert_eq!(status, 401, "a recovery code is used once");

    // Wrong codes are throttled like wrong passwords: the right one waits too.
    second_factor(&third, "123456").await;
    second_factor(&third, "654321").await;
    next_step(&app);
    let (status, _, html) = second_factor(&third, &code(&app, &secret, 0)).await;
    assert_eq!(status, 429, "{html}");
    assert!(html.contains("too many wrong codes"), "{html}");

    // Audited, with nothing secret.
    let mut conn = app.state.pool.get().unwrap();
    let history =
        ssa_directory::store::audit::subject_history(&mut conn, &user.id.to_string(), 50).unwrap();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    for expected in ["mfa.enrol", "mfa.recovery_codes", "mfa.recovery_code_used"] {
        assert!(actions.contains(&expected), "{actions:?}");
    }
    let everything = format!("{history:?}");
    assert!(!everything.contains(&secret), "the key is never audited");
    assert!(!everything.contains(&codes[1]), "nor a recovery code");

    // Wrong codes count against the address as wrong passwords do, until the window passes.
    let (status, _, _) = Browser::new(&app).log_in(&user.email, PASSWORD).await;
    assert_eq!(status, 429);
    app.clock.advance(std::time::Duration::from_secs(
        app.state.config.login_throttle_window_secs + 1,
    ));

    // Removing the app ends the second step (and its recovery codes).
    let (_, account) = browser.get("/account").await;
    let remove = format!("/account/factors/{id}/remove");
    assert!(account.contains(&remove), "{account}");
    // A quarter of an hour after its last code, the session shows the factor again first.
    let (status, _, html) = browser.submit("/account", &remove, &[]).await;
    assert_eq!(status, 200);
    assert!(html.contains("Confirm with your second factor"), "{html}");
    let (status, _, _) = browser
        .submit(
            "/account",
            &remove,
            &[("step_up_code", &code(&app, &secret, 0))],
        )
        .await;
    assert_eq!(status, 303);
    let last = Browser::new(&app);
    let (status, location, _) = last.log_in(&user.email, PASSWORD).await;
    assert_eq!((status, location.as_deref()), (303, Some("/dashboard")));
}

#[tokio::test]
async fn an_operator_without_a_second_factor_reaches_only_its_enrolment() {
    let app =
        spawn_app_with(|c| c.operator_mfa = ssa_directory::config::OperatorMfa::Required).await;
    let operator = app.user("ops@directory.example", true).await;
    let developer = app.user("dev@fintech.example", false).await;
    let browser = Browser::new(&app);
    let (status, location, _) = browser.log_in(&operator.email, PASSWORD).await;
    // Operators land on the overview of the ecosystem (others on their dashboard).
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/operator/overview"))
    );
    for page in [
        "/operator/overview",
        "/dashboard",
        "/operator/queue",
        "/operator/users",
        "/tokens",
        "/audit",
    ] {
        let response = browser.client.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{page}");
        assert_eq!(response.headers()["location"], "/account", "{page}");
    }
    let (status, account) = browser.get("/account").await;
    assert_eq!(status, 200);
    assert!(
        account.contains("Operators need a second factor"),
        "{account}"
    );
    // This directory is reached at an address (127.0.0.1), where browsers offer no passkeys:
    // the page says why, and offers an authenticator app.
    assert!(
        between(&account, "id=\"passkeys-unavailable\">", "</p>").contains("PUBLIC_URL"),
        "{account}"
    );

    // Enrolled, the operator reaches its pages; from the next log-in on, with a code.
    enrol(&app, &browser).await;
    for page in ["/dashboard", "/operator/queue", "/tokens"] {
        assert_eq!(browser.get(page).await.0, 200, "{page}");
    }

    // Everyone else chooses.
    let other = Browser::new(&app);
    other.log_in(&developer.email, PASSWORD).await;
    assert_eq!(other.get("/dashboard").await.0, 200);
}

#[tokio::test]
async fn a_reset_from_the_command_line_removes_the_factors_and_ends_the_sessions() {
    let app = spawn_app_with(|_| {}).await;
    let user = app.user("dev@fintech.example", false).await;
    let browser = Browser::new(&app);
    browser.log_in(&user.email, PASSWORD).await;
    enrol(&app, &browser).await;
    assert_eq!(browser.get("/dashboard").await.0, 200);

    let output = crate::cli::directory(app.dir.path())
        .args(["user", "mfa-reset", "--email", &user.email])
        .env("DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("1 second factor(s)"), "{said}");

    assert_ne!(browser.get("/dashboard").await.0, 200, "the session ended");
    let (status, location, _) = browser.log_in(&user.email, PASSWORD).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/dashboard")),
        "the password alone again"
    );
    let mut conn = app.state.pool.get().unwrap();
    let history =
        ssa_directory::store::audit::subject_history(&mut conn, &user.id.to_string(), 50).unwrap();
    assert!(
        history
            .iter()
            .any(|e| e.action == "mfa.reset" && e.actor == "cli"),
        "{history:?}"
    );

    let output = crate::cli::directory(app.dir.path())
        .args(["user", "mfa-reset", "--email", "nobody@fintech.example"])
        .env("DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no account for nobody@fintech.example")
    );
}

#[tokio::test]
async fn operators_tokens_expire_and_others_last_until_revoked() {
    let app = spawn_app_with(|c| c.operator_token_ttl_days = 30).await;
    let operator = app.user("ops@directory.example", true).await;
    let developer = app.user("dev@fintech.example", false).await;
    let (status, created) = app
        .post_json(
            "/api/v1/tokens",
            &operator,
            serde_json::json!({"name": "ops"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let expires = created["expires_at"]
        .as_str()
        .expect("an operator's token expires");
    let (status, mine) = app
        .post_json(
            "/api/v1/tokens",
            &developer,
            serde_json::json!({"name": "ci"}),
        )
        .await;
    assert_eq!(status, 201, "{mine}");
    assert!(mine["expires_at"].is_null(), "{mine}");
    let with = |secret: &str| crate::helpers::TestUser {
        id: String::new(),
        email: String::new(),
        token: secret.to_owned(),
    };
    let ops = with(created["secret"].as_str().unwrap());
    let dev = with(mine["secret"].as_str().unwrap());
    assert_eq!(app.get_json("/api/v1/me", &ops).await.0, 200);

    // A day past its expiry it answers 401; the developer's still works.
    app.clock
        .advance(std::time::Duration::from_secs(31 * 24 * 3600));
    let (status, problem) = app.get_json("/api/v1/me", &ops).await;
    assert_eq!(status, 401, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );
    assert_eq!(app.get_json("/api/v1/me", &dev).await.0, 200, "{expires}");

    // From the command line: an operator's token says when it ends, and never lasts longer.
    let output = crate::cli::directory(app.dir.path())
        .args([
            "token",
            "create",
            "--email",
            &operator.email,
            "--expires-in",
            "7",
        ])
        .env("DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("the token expires at"));
    let output = crate::cli::directory(app.dir.path())
        .args([
            "token",
            "create",
            "--email",
            &operator.email,
            "--expires-in",
            "90",
        ])
        .env("DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at most operator_token_ttl_days"));
}

#[tokio::test]
async fn a_sensitive_action_asks_for_a_fresh_code_and_then_goes_on() {
    let app = spawn_app_with(|c| c.step_up_secs = 600).await;
    let user = app.user("dev@fintech.example", false).await;
    let browser = Browser::new(&app);
    browser.log_in(&user.email, PASSWORD).await;
    let secret = enrol(&app, &browser).await.secret;

    // Just enrolled: the factor is fresh, a token is made at once.
    let (status, _, html) = browser
        .submit("/tokens", "/tokens", &[("name", "first")])
        .await;
    assert_eq!(status, 201, "{html}");
    assert!(html.contains("id=\"new-token\""), "{html}");

    // Eleven minutes later the same action asks for a code, keeping what was asked.
    app.clock.advance(std::time::Duration::from_secs(11 * 60));
    let (status, _, html) = browser
        .submit("/tokens", "/tokens", &[("name", "second")])
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Confirm with your second factor"), "{html}");
    assert!(html.contains("name=\"name\" value=\"second\""), "{html}");
    assert!(
        !html.contains("id=\"new-token\""),
        "nothing made yet: {html}"
    );
    let (_, tokens) = browser.get("/tokens").await;
    assert!(!tokens.contains(">second<"), "{tokens}");

    // A wrong code asks again; the right one goes on with the action.
    let (_, _, html) = browser
        .submit(
            "/tokens",
            "/tokens",
            &[("name", "second"), ("step_up_code", "000000")],
        )
        .await;
    assert!(html.contains("wrong code"), "{html}");
    let (status, _, html) = browser
        .submit(
            "/tokens",
            "/tokens",
            &[
                ("name", "second"),
                ("step_up_code", &code(&app, &secret, 0)),
            ],
        )
        .await;
    assert_eq!(status, 201, "{html}");
    assert!(html.contains("id=\"new-token\""), "{html}");
    let (_, tokens) = browser.get("/tokens").await;
    assert!(tokens.contains(">second<"), "{tokens}");

    // Fresh again: the next sensitive action goes through without a code.
    let (status, _, html) = browser
        .submit("/tokens", "/tokens", &[("name", "third")])
        .await;
    assert!(status == 201 && html.contains("id=\"new-token\""), "{html}");
}

#[tokio::test]
async fn an_organisation_that_requires_a_second_factor_sends_its_members_to_enrolment() {
    let app = spawn_app_with(|_| {}).await;
    let c = crate::helpers::cast(&app).await;
    let org_page = format!("/organisations/{}", c.org_id);
    let policy = format!("/organisations/{}/second-factor-policy", c.org_id);
    let admin = Browser::new(&app);
    admin.log_in(&c.admin.email, PASSWORD).await;

    // An admin without a second factor cannot require one of everyone.
    let (status, _, html) = admin
        .submit(&org_page, &policy, &[("required", "true")])
        .await;
    assert_eq!(status, 422, "the page again, with its message");
    assert!(
        html.contains("add a second factor to your own account"),
        "{html}"
    );
    enrol(&app, &admin).await;
    let (status, location, _) = admin
        .submit(&org_page, &policy, &[("required", "true")])
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some(org_page.as_str()))
    );
    let (_, html) = admin.get(&org_page).await;
    assert!(html.contains("Members need a second factor"), "{html}");

    // A developer of the organisation without one is sent to enrolment, which names it;
    // their token reaches it no more either. Other pages stay open.
    let developer = Browser::new(&app);
    developer.log_in(&c.developer.email, PASSWORD).await;
    let response = developer
        .client
        .get(app.url(&org_page))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/account");
    let software_page = format!("/software/{}", c.software_id);
    let response = developer
        .client
        .get(app.url(&software_page))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["location"],
        "/account",
        "its products too"
    );
    let (_, account) = developer.get("/account").await;
    assert!(
        between(&account, "id=\"required-by\">", "</p>").contains("require"),
        "{account}"
    );
    assert_eq!(developer.get("/dashboard").await.0, 200);
    let (status, body) = app
        .get_json(&format!("/api/v1/organisations/{}", c.org_id), &c.developer)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["type"],
        "urn:ssa-directory:problem:second-factor-required"
    );
    // The outsider still learns nothing about it; operators are not members.
    let (status, _) = app
        .get_json(&format!("/api/v1/organisations/{}", c.org_id), &c.outsider)
        .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .get_json(&format!("/api/v1/organisations/{}", c.org_id), &c.operator)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["require_second_factor"], true);

    // Enrolled, the developer reaches it again.
    enrol(&app, &developer).await;
    assert_eq!(developer.get(&org_page).await.0, 200);
    let (status, _) = app
        .get_json(&format!("/api/v1/organisations/{}", c.org_id), &c.developer)
        .await;
    assert_eq!(status, 200);

    // The setting is the admins', and audited.
    let (status, _, _) = developer
        .submit(&org_page, &policy, &[("required", "false")])
        .await;
    assert_eq!(status, 403, "a developer does not set it");
    let mut conn = app.state.pool.get().unwrap();
    let history = ssa_directory::store::audit::subject_history(&mut conn, &c.org_id, 50).unwrap();
    let set: Vec<_> = history
        .iter()
        .filter(|e| e.action == "organisation.second_factor_policy")
        .collect();
    assert_eq!(set.len(), 1, "{history:?}");
    assert_eq!(set[0].actor, c.admin.email);

    // Publishing or removing a key banks will trust is a sensitive action: past the window,
    // the portal asks for the factor first.
    app.clock.advance(std::time::Duration::from_secs(11 * 60));
    let keys = format!("/organisations/{}/keys", c.org_id);
    let (status, _, html) = admin.submit(&org_page, &keys, &[("jwk", "{}")]).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"step-up-form\""), "{html}");
}

#[tokio::test]
async fn an_operator_resets_a_colleagues_second_factors_from_the_portal_after_a_step_up() {
    let app = spawn_app_with(|_| {}).await;
    let operator = app.user("ops@directory.example", true).await;
    let colleague = app.user("lost@directory.example", true).await;
    let theirs = Browser::new(&app);
    theirs.log_in(&colleague.email, PASSWORD).await;
    enrol(&app, &theirs).await;
    let ours = Browser::new(&app);
    ours.log_in(&operator.email, PASSWORD).await;
    let secret = enrol(&app, &ours).await.secret;
    let reset = |id: &str| format!("/operator/users/{id}/second-factors/reset");

    // Nobody resets their own.
    let (status, _, html) = ours
        .submit("/operator/users", &reset(&operator.id), &[])
        .await;
    assert_eq!(status, 403, "{html}");

    // Past the step-up window, the portal asks for a code first, then resets.
    app.clock.advance(std::time::Duration::from_secs(11 * 60));
    let (status, _, html) = ours
        .submit("/operator/users", &reset(&colleague.id), &[])
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("step-up-form"), "{html}");
    assert_eq!(theirs.get("/dashboard").await.0, 200, "nothing reset yet");
    let (_, account) = theirs.get("/account").await;
    assert!(account.contains(">phone<"), "{account}");
    next_step(&app);
    let (status, location, html) = ours
        .submit(
            "/operator/users",
            &reset(&colleague.id),
            &[("step_up_code", &code(&app, &secret, 0))],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/operator/users")),
        "{html}"
    );
    let (_, users) = ours.get("/operator/users").await;
    assert!(users.contains("second factor(s) removed"), "{users}");
    assert_ne!(
        theirs.get("/dashboard").await.0,
        200,
        "their sessions ended"
    );
    let (status, location, _) = theirs.log_in(&colleague.email, PASSWORD).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/operator/overview")),
        "the password alone, then enrolment"
    );
    let mut conn = app.state.pool.get().unwrap();
    let history =
        ssa_directory::store::audit::subject_history(&mut conn, &colleague.id, 50).unwrap();
    assert!(
        history
            .iter()
            .any(|e| e.action == "mfa.reset" && e.actor == operator.email),
        "{history:?}"
    );
}

#[tokio::test]
async fn a_lost_mfa_key_leaves_the_recovery_codes_working() {
    let app = spawn_app_with(|_| {}).await;
    let user = app.user("dev@fintech.example", false).await;
    let browser = Browser::new(&app);
    browser.log_in(&user.email, PASSWORD).await;
    let Enrolled { secret, codes } = enrol(&app, &browser).await;
    // keys/mfa.key is lost (and a new one made at start): the app's codes no longer open,
    // a recovery code still logs in.
    std::fs::remove_file(app.dir.path().join("keys/mfa.key")).unwrap();
    let app = app.restart().await;
    let browser = Browser::new(&app);
    browser.log_in(&user.email, PASSWORD).await;
    next_step(&app);
    let (status, _, _) = second_factor(&browser, &code(&app, &secret, 0)).await;
    assert_eq!(status, 401, "the app's key is gone");
    let (status, location, _) = second_factor(&browser, &codes[0]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/dashboard")));
}
