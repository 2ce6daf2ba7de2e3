//! The onboarding journey in a real headless Chromium, driven over WebDriver (Debian's
//! chromium and chromium-driver): a developer signs up and applies, an operator approves, the
//! developer registers software, the operator approves it, the developer sees it active.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::helpers::{PASSWORD, spawn_app};

/// A chromedriver process on a free port, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Self {
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {binary} ({e}): install chromium and chromium-driver (scripts/test does)")
            });
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,1024",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

/// Fills the fields (by element id) of the page's form.
async fn fill(browser: &Client, fields: &[(&str, &str)]) {
    for (id, value) in fields {
        let element = browser
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("field #{id}: {e}"));
        element.clear().await.unwrap();
        element.send_keys(value).await.unwrap();
    }
}

/// Clicks an element that loads a new page, and waits until the old page is gone.
async fn click(browser: &Client, id: &str) {
    let target = match browser.wait().for_element(Locator::Id(id)).await {
        Ok(target) => target,
        Err(e) => {
            let page = browser.source().await.unwrap_or_default();
            panic!("#{id}: {e}\npage:\n{page}")
        }
    };
    follow(browser, target).await;
}

async fn follow(browser: &Client, target: fantoccini::elements::Element) {
    let old_page = browser.find(Locator::Css("html")).await.unwrap();
    target.click().await.unwrap();
    let started = Instant::now();
    // The old document's root goes stale once the new page has replaced it.
    while old_page.tag_name().await.is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no new page after the click"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Ticks a checkbox (no navigation).
async fn check(browser: &Client, id: &str) {
    browser
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Follows the link with this text.
async fn click_link(browser: &Client, text: &str) {
    let target = browser
        .wait()
        .for_element(Locator::LinkText(text))
        .await
        .unwrap_or_else(|e| panic!("link {text:?}: {e}"));
    follow(browser, target).await;
}

async fn text_of(browser: &Client, id: &str) -> String {
    match browser.wait().for_element(Locator::Id(id)).await {
        Ok(element) => element.text().await.unwrap(),
        Err(e) => {
            let page = browser.source().await.unwrap_or_default();
            panic!("#{id}: {e}\npage:\n{page}")
        }
    }
}

async fn log_in(browser: &Client, base: &str, email: &str) {
    browser.goto(&format!("{base}/login")).await.unwrap();
    fill(browser, &[("email", email), ("password", PASSWORD)]).await;
    click(browser, "login").await;
    assert_eq!(
        text_of(browser, "signed-in-as").await.split(' ').next(),
        Some(email)
    );
}

/// The first step of a log-in, for an account with a second factor: its page follows.
async fn enter_password(browser: &Client, base: &str, email: &str) {
    browser.goto(&format!("{base}/login")).await.unwrap();
    fill(browser, &[("email", email), ("password", PASSWORD)]).await;
    click(browser, "login").await;
}

async fn log_out(browser: &Client) {
    click(browser, "logout").await;
    text_of(browser, "login").await;
}

/// The link starting with `path` in the last message mailed to `to` (written as a file:
/// the test directory has no SMTP server).
async fn mailed_link(app: &crate::helpers::TestApp, to: &str, path: &str) -> String {
    let started = Instant::now();
    let folder = app.state.config.data_dir.join("mail");
    loop {
        let mut messages: Vec<(std::time::SystemTime, Vec<u8>)> = std::fs::read_dir(&folder)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let path = e.ok()?.path();
                (path.extension()? == "eml").then_some(path)
            })
            .map(|path| {
                let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
                (modified, std::fs::read(&path).unwrap())
            })
            .collect();
        messages.sort_by_key(|(at, _)| *at);
        for (_, bytes) in messages.iter().rev() {
            let message = mail_parser::MessageParser::default().parse(bytes).unwrap();
            let addressed = message
                .to()
                .and_then(|to| to.first())
                .and_then(|a| a.address())
                .is_some_and(|a| a == to);
            let text = message.body_text(0).unwrap_or_default();
            if let (true, Some(start)) = (addressed, text.find(&format!("{}{path}", app.address))) {
                return text[start..].split_whitespace().next().unwrap().to_owned();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no message to {to} with a link to {path}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_developer_onboards_and_an_operator_approves_in_a_real_browser() {
    let app = spawn_app().await;
    app.user("operator@directory.example", true).await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = browser(&driver, profile.path()).await;
    let base = app.address.clone();
    let developer = "dev@fintech.example";

    // The developer signs up and applies.
    browser.goto(&format!("{base}/signup")).await.unwrap();
    fill(
        &browser,
        &[
            ("email", developer),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    click(&browser, "signup").await;
    assert!(text_of(&browser, "flash").await.contains("Welcome"));
    // The address is verified from the mailed link (a file here: no SMTP server configured).
    text_of(&browser, "unverified").await;
    let link = mailed_link(&app, developer, "/verify-email?token=").await;
    browser.goto(&link).await.unwrap();
    click(&browser, "verify-email").await;
    assert!(text_of(&browser, "flash").await.contains("is verified"));
    click(&browser, "apply-link").await;
    fill(
        &browser,
        &[
            ("legal_name", "Browser Budgeting Ltd"),
            ("registration_number", "11223344"),
            ("country", "GB"),
            ("competent_authority", "FCA"),
            ("authority_registration_id", "998877"),
            ("business_name", "Ada Lovelace"),
            ("business_email", "ada@browser.example"),
            ("technical_name", "Charles Babbage"),
            ("technical_email", "charles@browser.example"),
        ],
    )
    .await;
    check(&browser, "role-AISP").await;
    click(&browser, "apply").await;
    assert_eq!(text_of(&browser, "org-status").await, "pending");
    let org_url = browser.current_url().await.unwrap().to_string();
    log_out(&browser).await;

    // The operator approves the organisation from the queue.
    log_in(&browser, &base, "operator@directory.example").await;
    click(&browser, "queue-link").await;
    click_link(&browser, "Browser Budgeting Ltd").await;
    click(&browser, "action-approve").await;
    assert_eq!(text_of(&browser, "org-status").await, "active");
    log_out(&browser).await;

    // The developer registers a software product.
    log_in(&browser, &base, developer).await;
    browser.goto(&org_url).await.unwrap();
    click(&browser, "register-software").await;
    fill(
        &browser,
        &[
            ("client_name", "Browser Budgeting App"),
            ("description", "Budgets, in a browser"),
            ("version", "1.0"),
            ("client_uri", "https://browser.example"),
            ("redirect_uris", "https://browser.example/callback"),
        ],
    )
    .await;
    check(&browser, "role-AISP").await;
    click(&browser, "save-software").await;
    assert_eq!(text_of(&browser, "software-status").await, "pending");
    let software_url = browser.current_url().await.unwrap().to_string();
    log_out(&browser).await;

    // The operator approves it.
    log_in(&browser, &base, "operator@directory.example").await;
    click(&browser, "queue-link").await;
    click_link(&browser, "Browser Budgeting App").await;
    click(&browser, "action-approve").await;
    assert_eq!(text_of(&browser, "software-status").await, "active");
    log_out(&browser).await;

    // The developer sees it active.
    log_in(&browser, &base, developer).await;
    let dashboard = browser
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dashboard.contains("Browser Budgeting App active"),
        "{dashboard}"
    );
    browser.goto(&software_url).await.unwrap();
    assert_eq!(text_of(&browser, "software-status").await, "active");

    let started = Instant::now();
    browser.close().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn a_forgotten_password_is_reset_and_an_address_changed_in_a_real_browser() {
    let app = spawn_app().await;
    let user = app.user("forgetful@fintech.example", false).await;
    // Another session of the account, elsewhere: the reset ends it.
    let elsewhere = crate::helpers::portal_session(&app, &user).await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = browser(&driver, profile.path()).await;
    let base = app.address.clone();

    browser.goto(&format!("{base}/login")).await.unwrap();
    click(&browser, "forgot-password").await;
    fill(&browser, &[("email", &user.email)]).await;
    click(&browser, "request-reset").await;
    assert!(
        text_of(&browser, "reset-requested")
            .await
            .contains("If the address has an account"),
    );
    let link = mailed_link(&app, &user.email, "/password-reset/confirm?token=").await;
    browser.goto(&link).await.unwrap();
    let new_password = "a brand new passphrase";
    fill(
        &browser,
        &[
            ("new-password", new_password),
            ("new-password-confirm", new_password),
        ],
    )
    .await;
    click(&browser, "set-password").await;
    assert!(
        text_of(&browser, "flash")
            .await
            .contains("Your new password is set")
    );
    let dashboard = elsewhere
        .get(app.url("/dashboard"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 303, "the other session ended");

    // The link works once.
    browser.goto(&link).await.unwrap();
    fill(
        &browser,
        &[
            ("new-password", "yet another passphrase"),
            ("new-password-confirm", "yet another passphrase"),
        ],
    )
    .await;
    click(&browser, "set-password").await;
    assert!(
        text_of(&browser, "form-error")
            .await
            .contains("expired or was used")
    );

    // The new password logs in; the address then changes from the account page.
    browser.goto(&format!("{base}/login")).await.unwrap();
    fill(
        &browser,
        &[("email", &user.email), ("password", new_password)],
    )
    .await;
    click(&browser, "login").await;
    text_of(&browser, "signed-in-as").await;
    browser.goto(&format!("{base}/account")).await.unwrap();
    fill(
        &browser,
        &[
            ("new-email", "remembered@fintech.example"),
            ("email-password", new_password),
        ],
    )
    .await;
    click(&browser, "change-email").await;
    assert!(
        text_of(&browser, "flash")
            .await
            .contains("A link is on its way")
    );
    let link = mailed_link(&app, "remembered@fintech.example", "/verify-email?token=").await;
    browser.goto(&link).await.unwrap();
    click(&browser, "verify-email").await;
    assert!(
        text_of(&browser, "flash")
            .await
            .contains("remembered@fintech.example is verified")
    );
    assert_eq!(
        text_of(&browser, "signed-in-as").await.split(' ').next(),
        Some("remembered@fintech.example")
    );
    browser.close().await.unwrap();
}

/// A WebDriver command fantoccini has no method for: the WebAuthn extension's, on the
/// session (`POST /session/{id}/webauthn/...`, `DELETE ...`).
#[derive(Debug)]
struct WebAuthnCommand {
    method: http::Method,
    path: String,
    body: Option<serde_json::Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebAuthnCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(serde_json::Value::to_string),
        )
    }
}

/// Gives the browser a virtual platform authenticator (CTAP2, resident keys, the user
/// verified: a laptop's fingerprint reader as WebDriver simulates it); returns its id.
async fn add_authenticator(browser: &Client) -> String {
    let answer = browser
        .issue_cmd(WebAuthnCommand {
            method: http::Method::POST,
            path: "authenticator".into(),
            body: Some(serde_json::json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
                "automaticPresenceSimulation": true,
            })),
        })
        .await
        .expect("a virtual authenticator (chromedriver's WebAuthn extension)");
    answer.as_str().expect("the authenticator's id").to_owned()
}

/// The credentials the virtual authenticator holds.
async fn credentials_of(browser: &Client, authenticator: &str) -> Vec<serde_json::Value> {
    let answer = browser
        .issue_cmd(WebAuthnCommand {
            method: http::Method::GET,
            path: format!("authenticator/{authenticator}/credentials"),
            body: None,
        })
        .await
        .unwrap();
    answer.as_array().cloned().unwrap_or_default()
}

/// Runs the portal's passkey ceremony for the button `id` in the page and returns the
/// authenticator's answer (as webauthn.js would post it) without posting it.
async fn answer_of(browser: &Client, id: &str) -> String {
    let script = r#"
        const [id, done] = arguments;
        const button = document.getElementById(id);
        const form = button.closest("form");
        form.submit = () => done(form.querySelector("[data-webauthn-answer]").value);
        button.click();
    "#;
    let answer = browser
        .execute_async(script, vec![serde_json::json!(id)])
        .await
        .unwrap();
    answer.as_str().expect("an answer").to_owned()
}

#[tokio::test]
async fn an_operator_enrols_a_passkey_logs_in_with_it_and_approves_with_a_fresh_one() {
    // A browser binds passkeys to a host name: the directory is reached as localhost.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = crate::helpers::spawn_app_with(|c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
        c.public_url = Some(format!("http://localhost:{port}"));
        c.operator_mfa = ssa_directory::config::OperatorMfa::Required;
    })
    .await;
    let base = format!("http://localhost:{port}");
    let operator = app.user("operator@directory.example", true).await;
    let developer = app.user("dev@fintech.example", false).await;
    let org = app.apply(&developer, &["AISP"]).await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = browser(&driver, profile.path()).await;
    let authenticator = add_authenticator(&browser).await;

    // The operator's first log-in ends at enrolment: a passkey is created in the browser.
    log_in(&browser, &base, &operator.email).await;
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/account"),
        "sent to enrolment"
    );
    assert!(text_of(&browser, "flash").await.contains("second factor"));
    fill(&browser, &[("passkey-name", "laptop")]).await;
    click(&browser, "add-passkey").await;
    click(&browser, "create-passkey").await;
    let codes = browser
        .find_all(Locator::Css("#recovery-codes li"))
        .await
        .unwrap();
    assert_eq!(codes.len(), 10, "recovery codes come with the first factor");
    assert_eq!(credentials_of(&browser, &authenticator).await.len(), 1);
    browser.goto(&format!("{base}/account")).await.unwrap();
    let factors = text_of(&browser, "second-factors").await;
    assert!(
        factors.contains("laptop passkey"),
        "the passkey listed: {factors}"
    );
    log_out(&browser).await;

    // Password, then the passkey: signed in.
    enter_password(&browser, &base, &operator.email).await;
    click(&browser, "use-passkey").await;
    assert_eq!(
        text_of(&browser, "signed-in-as").await,
        format!("{} (operator)", operator.email)
    );

    // Eleven minutes on, approving asks for the passkey again, then goes on.
    app.clock.advance(Duration::from_secs(11 * 60));
    browser
        .goto(&format!("{base}/organisations/{org}"))
        .await
        .unwrap();
    click(&browser, "action-approve").await;
    text_of(&browser, "step-up-form").await;
    click(&browser, "step-up-passkey").await;
    assert_eq!(text_of(&browser, "org-status").await, "active");
    let (_, audit) = app
        .get_json("/api/v1/audit?action=mfa.enrol", &operator)
        .await;
    let details: serde_json::Value =
        serde_json::from_str(audit["items"][0]["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["kind"], "passkey", "{audit}");

    // The password alone does not log in: an answer of the passkey to another log-in's
    // challenge is refused, and nothing is reached.
    log_out(&browser).await;
    enter_password(&browser, &base, &operator.email).await;
    let answer = answer_of(&browser, "use-passkey").await;
    let intruder = crate::helpers::client();
    let page = |response: reqwest::Response| async move { response.text().await.unwrap() };
    let login = page(intruder.get(app.url("/login")).send().await.unwrap()).await;
    let response = intruder
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", crate::helpers::csrf_of(&login).as_str()),
            ("email", operator.email.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        "/login/second-factor"
    );
    let step = page(
        intruder
            .get(app.url("/login/second-factor"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let ceremony = crate::mfa::between(&step, "name=\"ceremony\" value=\"", "\"").to_owned();
    let response = intruder
        .post(app.url("/login/second-factor"))
        .form(&[
            ("csrf_token", crate::helpers::csrf_of(&step).as_str()),
            ("ceremony", ceremony.as_str()),
            ("credential", answer.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "another challenge's answer");
    let response = intruder.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(response.status(), 303, "not signed in");

    // The answer was made for the browser's own ceremony: there it signs in, once.
    // (The page leaves as the script ends: its result is of no interest.)
    let _ = browser
        .execute(
            r#"const form = document.getElementById("passkey-login");
               form.querySelector("[data-webauthn-answer]").value = arguments[0];
               HTMLFormElement.prototype.submit.call(form);"#,
            vec![serde_json::json!(answer)],
        )
        .await;
    assert_eq!(
        text_of(&browser, "signed-in-as").await,
        format!("{} (operator)", operator.email)
    );
    browser.close().await.unwrap();
}

/// How far the page is wider than the window (0 when it fits).
/// The pages of `pages` wider than the window, each with the innermost elements that reach
/// past it (to say what to fix).
async fn too_wide(browser: &Client, base: &str, pages: &[String]) -> Vec<String> {
    let mut wide = vec![];
    for page in pages {
        browser.goto(&format!("{base}{page}")).await.unwrap();
        let over = overflow(browser).await;
        if over > 0 {
            let culprits = browser
                .execute(
                    "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1 && ![...e.children].some(k => k.getBoundingClientRect().right > w + 1)).filter(e => !(e.parentElement && e.parentElement.closest('.list'))).slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 40));",
                    vec![],
                )
                .await
                .unwrap();
            wide.push(format!("{page}: {over} px too wide: {culprits}"));
        }
    }
    wide
}

async fn overflow(browser: &Client) -> i64 {
    browser
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn the_operators_charts_render_and_every_page_fits_a_phone() {
    let app = spawn_app().await;
    let c = crate::verifier::approved(&app).await;
    crate::verifier::issue(&app, &c).await;
    let folder = tempfile::tempdir().unwrap();
    crate::registrar::transport_certificate(&app, &c, &c.software_id, folder.path()).await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = browser(&driver, profile.path()).await;
    let base = app.address.clone();
    log_in(&browser, &base, &c.operator.email).await;
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        "/operator/overview",
        "an operator lands on the overview"
    );

    // The overview: an SVG chart for each, with the series in its legend.
    browser
        .goto(&format!("{base}/operator/overview?period=7d"))
        .await
        .unwrap();
    let charts = browser.find_all(Locator::Css("svg.chart")).await.unwrap();
    assert_eq!(charts.len(), 11);
    let statements = browser
        .find(Locator::Css("#chart-statements_issued svg"))
        .await
        .unwrap();
    let legend = statements.text().await.unwrap();
    assert!(
        legend.contains("sandbox") && legend.contains("production"),
        "{legend}"
    );
    let shown = browser
        .execute(
            "const r = document.querySelector('#chart-statements_issued svg').getBoundingClientRect(); return [r.width, r.height];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        shown[0].as_f64().unwrap() > 300.0 && shown[1].as_f64().unwrap() > 100.0,
        "{shown}"
    );
    // The numbers behind it open from their disclosure.
    let summary = browser
        .find(Locator::Css("#chart-statements_issued summary"))
        .await
        .unwrap();
    summary.click().await.unwrap();
    let table = browser
        .find(Locator::Css("#chart-statements_issued table"))
        .await
        .unwrap();
    assert!(table.is_displayed().await.unwrap());
    assert!(table.text().await.unwrap().contains("production"));

    // At a phone's width (375 px) every page fits: no sideways scrolling.
    browser.set_window_size(375, 800).await.unwrap();
    let pages = [
        "/operator/overview?period=30d".to_owned(),
        "/dashboard".to_owned(),
        "/operator/queue".to_owned(),
        "/operator/users".to_owned(),
        "/audit".to_owned(),
        format!("/operator/search?q={}", c.software_id),
        format!("/organisations/{}", c.org_id),
        format!("/software/{}", c.software_id),
        "/organisations/new".to_owned(),
        format!("/organisations/{}/software/new", c.org_id),
        format!("/software/{}/edit", c.software_id),
        "/tokens".to_owned(),
        "/account".to_owned(),
        format!("/operator/users/{}/mail", c.developer.id),
        "/no/such/page".to_owned(),
    ];
    let wide = too_wide(&browser, &base, &pages).await;
    assert!(wide.is_empty(), "{wide:?}");

    // One form layout: at a desktop's width, a form's fields line up at one width (in and out
    // of its fieldsets), whatever their type.
    browser.set_window_size(1280, 900).await.unwrap();
    for form in [
        "/organisations/new".to_owned(),
        format!("/organisations/{}/software/new", c.org_id),
    ] {
        browser.goto(&format!("{base}{form}")).await.unwrap();
        let widths = browser
            .execute(
                "return [...new Set([...document.querySelectorAll('form.card input:not([type=checkbox]):not([type=hidden]):not([type=radio]), form.card textarea, form.card select')].map(e => Math.round(e.getBoundingClientRect().width)))];",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            widths.as_array().map(Vec::len),
            Some(1),
            "{form}: the fields' widths {widths}"
        );
    }

    // The pages of those who are not signed in fit a phone too.
    log_out(&browser).await;
    browser.set_window_size(375, 800).await.unwrap();
    let pages = [
        "/login",
        "/signup",
        "/password-reset",
        "/password-reset/confirm?token=unknown",
        "/verify-email?token=unknown",
        "/no/such/page",
    ]
    .map(String::from);
    let wide = too_wide(&browser, &base, &pages).await;
    assert!(wide.is_empty(), "{wide:?}");
}
