//! The portal over HTTP as a browser without JavaScript uses it: forms, CSRF, sessions,
//! messages beside forms, authorization and pagination.

use crate::helpers::{PASSWORD, TestApp, cast, client, csrf_of, spawn_app, spawn_app_with};

/// An HTTP client acting as one browser.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    pub(crate) client: reqwest::Client,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: client(),
        }
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.app.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Loads `page`, then posts `fields` to `action` with the page's CSRF token; returns the
    /// status, the Location header and the body.
    pub(crate) async fn submit(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> (u16, Option<String>, String) {
        let (_, html) = self.get(page).await;
        let csrf = csrf_of(&html);
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
        form.extend_from_slice(fields);
        let response = self
            .client
            .post(self.app.url(action))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, location, response.text().await.unwrap())
    }

    pub(crate) async fn log_in(
        &self,
        email: &str,
        password: &str,
    ) -> (u16, Option<String>, String) {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub(crate) async fn sign_up(&self, email: &str) -> (u16, Option<String>, String) {
        self.submit(
            "/signup",
            "/signup",
            &[
                ("email", email),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await
    }
}

pub(crate) fn apply_fields(country: &str) -> Vec<(&str, &str)> {
    vec![
        ("legal_name", "Portal Payments Ltd"),
        ("registration_number", "87654321"),
        ("country", country),
        ("competent_authority", "FCA"),
        ("authority_registration_id", "654321"),
        ("roles", "AISP"),
        ("roles", "PISP"),
        ("business_name", "Grace Hopper"),
        ("business_email", "grace@portal.example"),
        ("business_phone", ""),
        ("technical_name", "Alan Turing"),
        ("technical_email", "alan@portal.example"),
        ("technical_phone", "+44 1234 567890"),
    ]
}

#[tokio::test]
async fn signing_up_logs_in_and_shows_the_dashboard() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);

    let (status, location, _) = browser.sign_up("New.Dev@Fintech.example").await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/dashboard"));
    let (status, html) = browser.get("/dashboard").await;
    assert_eq!(status, 200);
    assert!(html.contains("new.dev@fintech.example"), "{html}");
    assert!(html.contains("Apply to onboard one"), "{html}");

    let other = Browser::new(&app);
    let (status, _, html) = other.sign_up("new.dev@fintech.example").await;
    assert_eq!(status, 422);
    assert!(html.contains("already exists"), "{html}");
}

#[tokio::test]
async fn bad_sign_ups_get_a_message_beside_the_form() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let (status, _, html) = browser
        .submit(
            "/signup",
            "/signup",
            &[
                ("email", "nope"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("id=\"form-error\""), "{html}");
    assert!(html.contains("is not an email address"), "{html}");

    let (status, _, html) = browser
        .submit(
            "/signup",
            "/signup",
            &[
                ("email", "a@b.example"),
                ("password", PASSWORD),
                ("password_confirm", "different pw 123"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("the two passwords differ"), "{html}");
    assert!(
        html.contains("value=\"a@b.example\""),
        "the email is kept: {html}"
    );
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    browser.get("/signup").await;

    let fields = [
        ("email", "csrf@fintech.example"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    let missing = browser
        .client
        .post(app.url("/signup"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    assert!(missing.text().await.unwrap().contains("CSRF"));

    let mut wrong = fields.to_vec();
    wrong.push(("csrf_token", "forged"));
    let response = browser
        .client
        .post(app.url("/signup"))
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let (_, html) = browser.get("/signup").await;
    let mut cross_site = fields.to_vec();
    let token = csrf_of(&html);
    cross_site.push(("csrf_token", &token));
    let response = browser
        .client
        .post(app.url("/signup"))
        .header("origin", "https://evil.example")
        .form(&cross_site)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // A forwarded host is not believed from a client (trust_forwarded_for is off): the
    // attacker's page cannot name its own origin as the directory's.
    for (name, value) in [
        ("x-forwarded-host", "evil.example"),
        ("forwarded", "host=evil.example;proto=https"),
    ] {
        let response = browser
            .client
            .post(app.url("/signup"))
            .header("origin", "https://evil.example")
            .header(name, value)
            .header("x-forwarded-proto", "https")
            .form(&cross_site)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{name}: {value}");
    }

    let operator = app.user("op@directory.example", true).await;
    let (_, audit) = app
        .get_json("/api/v1/audit?action=user.signup", &operator)
        .await;
    assert_eq!(audit["total"], 0, "no account was created: {audit}");

    // The directory's own origin, and the host the browser used, are accepted.
    let (_, html) = browser.get("/signup").await;
    let token = csrf_of(&html);
    let mut same_site = fields.to_vec();
    same_site.push(("csrf_token", &token));
    let response = browser
        .client
        .post(app.url("/signup"))
        .header("origin", format!("http://127.0.0.1:{}", app.port))
        .form(&same_site)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
}

#[tokio::test]
async fn session_cookies_are_http_only_and_same_site_lax() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/login")).send().await.unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("ssa_directory_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");

    let https = spawn_app_with(|c| c.public_url = Some("https://directory.example".into())).await;
    let response = https.client.get(https.url("/login")).send().await.unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_repeated_failures_throttled() {
    let app = spawn_app_with(|c| c.login_max_failures = 3).await;
    let user = app.user("dev@fintech.example", false).await;
    let browser = Browser::new(&app);

    let (status, _, html) = browser.log_in(&user.email, "wrong password 1").await;
    assert_eq!(status, 401);
    assert!(html.contains("wrong email or password"), "{html}");
    browser.log_in(&user.email, "wrong password 2").await;
    browser.log_in(&user.email, "wrong password 3").await;

    let (status, _, html) = browser.log_in(&user.email, PASSWORD).await;
    assert_eq!(status, 429, "even the right password waits: {html}");
    assert!(html.contains("too many failed log-ins"), "{html}");

    let fresh = spawn_app().await;
    let user = fresh.user("dev@fintech.example", false).await;
    let (status, location, _) = Browser::new(&fresh).log_in(&user.email, PASSWORD).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/dashboard"));
}

#[tokio::test]
async fn pages_need_a_session_and_logging_out_ends_it() {
    let app = spawn_app().await;
    let user = app.user("dev@fintech.example", false).await;
    let browser = Browser::new(&app);
    for path in ["/dashboard", "/organisations/new", "/tokens", "/audit"] {
        let response = browser.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/login", "{path}");
    }
    browser.log_in(&user.email, PASSWORD).await;
    assert_eq!(browser.get("/dashboard").await.0, 200);
    // An address whose id does not parse names no page: the portal's 404 page, not JSON.
    for path in [
        "/software/not-a-uuid",
        "/organisations/zz",
        "/software/zz/edit",
    ] {
        let (status, body) = browser.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(body.contains("<html"), "{path}: {body}");
    }
    let (status, location, _) = browser.submit("/dashboard", "/logout", &[]).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/login"));
    let response = browser
        .client
        .get(app.url("/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn applying_in_the_portal_names_bad_fields_and_keeps_the_values() {
    let app = spawn_app().await;
    let operator = app.user("op@directory.example", true).await;
    let user = app.user("dev@fintech.example", false).await;
    let browser = Browser::new(&app);
    browser.log_in(&user.email, PASSWORD).await;

    let (status, _, html) = browser
        .submit(
            "/organisations/new",
            "/organisations/new",
            &apply_fields("ZZ"),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        html.contains("is not an ISO 3166-1 alpha-2 country code"),
        "{html}"
    );
    assert!(html.contains("value=\"Portal Payments Ltd\""), "{html}");
    let (_, list) = app.get_json("/api/v1/organisations", &operator).await;
    assert_eq!(list["total"], 0);

    let (status, location, _) = browser
        .submit(
            "/organisations/new",
            "/organisations/new",
            &apply_fields("gb"),
        )
        .await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    let (status, html) = browser.get(&location).await;
    assert_eq!(status, 200);
    assert!(html.contains("Application received"), "{html}");
    assert!(html.contains("id=\"org-status\">pending"), "{html}");
    assert!(html.contains("AISP PISP"), "{html}");
}

#[tokio::test]
async fn operators_decide_in_the_portal_and_members_see_the_reason() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let operator = Browser::new(&app);
    operator.log_in(&c.operator.email, PASSWORD).await;
    let page = format!("/organisations/{}", c.org_id);

    let (status, _, html) = operator
        .submit(
            &page,
            &format!("{page}/status"),
            &[("action", "suspend"), ("reason", "")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("reason: required to suspend"), "{html}");

    let (status, _, _) = operator
        .submit(
            &page,
            &format!("{page}/status"),
            &[("action", "suspend"), ("reason", "unpaid fees")],
        )
        .await;
    assert_eq!(status, 303);

    let member = Browser::new(&app);
    member.log_in(&c.developer.email, PASSWORD).await;
    let (_, html) = member.get(&page).await;
    assert!(html.contains("id=\"org-status\">suspended"), "{html}");
    assert!(html.contains("Reason: unpaid fees"), "{html}");
    assert!(
        !html.contains("id=\"action-reinstate\""),
        "members cannot decide: {html}"
    );

    let (status, _, _) = member
        .submit(
            &page,
            &format!("{page}/status"),
            &[("action", "reinstate"), ("reason", "")],
        )
        .await;
    assert_eq!(status, 403);
    let (_, org) = app
        .get_json(&format!("/api/v1/organisations/{}", c.org_id), &c.admin)
        .await;
    assert_eq!(org["status"], "suspended");
}

#[tokio::test]
async fn other_organisations_pages_are_not_found_and_the_audit_log_is_for_operators() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let outsider = Browser::new(&app);
    outsider.log_in(&c.outsider.email, PASSWORD).await;
    for path in [
        format!("/organisations/{}", c.org_id),
        format!("/software/{}", c.software_id),
        format!("/software/{}/edit", c.software_id),
        format!("/organisations/{}/software/new", c.org_id),
    ] {
        let (status, html) = outsider.get(&path).await;
        assert_eq!(status, 404, "{path}: {html}");
        assert!(!html.contains("Example Budgeting App"), "{path}");
    }
    let (status, _) = outsider.get("/audit").await;
    assert_eq!(status, 403);
    let (status, _) = outsider.get("/operator/queue").await;
    assert_eq!(status, 403);

    let operator = Browser::new(&app);
    operator.log_in(&c.operator.email, PASSWORD).await;
    let (status, html) = operator.get("/audit?action=organisation.approve").await;
    assert_eq!(status, 200);
    assert_eq!(
        html.matches("<td>organisation.approve</td>").count(),
        2,
        "{html}"
    );
}

#[tokio::test]
async fn software_is_registered_and_edited_in_the_portal() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let dev = Browser::new(&app);
    dev.log_in(&c.developer.email, PASSWORD).await;
    let new = format!("/organisations/{}/software/new", c.org_id);
    let mut fields = vec![
        ("client_name", "Portal App"),
        ("description", "made in the portal"),
        ("version", "2.0"),
        ("client_uri", ""),
        ("logo_uri", ""),
        ("tos_uri", ""),
        ("policy_uri", ""),
        (
            "redirect_uris",
            "https://portal.example/cb\r\nhttp://insecure.example/cb",
        ),
        ("roles", "PISP"),
        ("environment", "sandbox"),
    ];
    let (status, _, html) = dev.submit(&new, &new, &fields).await;
    assert_eq!(status, 422);
    assert!(html.contains("redirect_uris[1]"), "{html}");

    fields[7] = (
        "redirect_uris",
        "https://portal.example/cb\r\nhttps://portal.example/cb2",
    );
    let (status, location, _) = dev.submit(&new, &new, &fields).await;
    assert_eq!(status, 303);
    let page = location.unwrap();
    let (_, html) = dev.get(&page).await;
    assert!(html.contains("id=\"software-status\">pending"), "{html}");
    assert!(html.contains("https://portal.example/cb2"), "{html}");

    let edit = format!("{page}/edit");
    fields[0] = ("client_name", "Portal App Renamed");
    let (status, _, _) = dev.submit(&edit, &edit, &fields).await;
    assert_eq!(status, 303);
    let (_, html) = dev.get(&page).await;
    assert!(html.contains("Portal App Renamed"), "{html}");
    assert!(
        html.contains("software.update"),
        "the edit is in the history: {html}"
    );
}

#[tokio::test]
async fn api_tokens_are_created_once_shown_and_revoked_in_the_portal() {
    let app = spawn_app().await;
    let user = app.user("dev@fintech.example", false).await;
    let browser = Browser::new(&app);
    browser.log_in(&user.email, PASSWORD).await;

    let (status, _, html) = browser
        .submit("/tokens", "/tokens", &[("name", "laptop")])
        .await;
    assert_eq!(status, 201);
    let marker = "<code id=\"new-token\">";
    let start = html.find(marker).unwrap() + marker.len();
    let secret = &html[start..start + html[start..].find('<').unwrap()];
    let (status, me) = app
        .api(reqwest::Method::GET, "/api/v1/me", Some(secret), None)
        .await;
    assert_eq!(status, 200, "{me}");

    let (_, html) = browser.get("/tokens").await;
    assert!(!html.contains(secret), "the secret is shown only once");
    let (_, tokens) = app.get_json("/api/v1/tokens", &user).await;
    let id = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "laptop")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, _) = browser
        .submit("/tokens", &format!("/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(status, 303);
    let (status, _) = app
        .api(reqwest::Method::GET, "/api/v1/me", Some(secret), None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_operator_dashboard_paginates() {
    let app = spawn_app().await;
    let operator = app.user("op@directory.example", true).await;
    let dev = app.user("dev@fintech.example", false).await;
    for _ in 0..21 {
        app.apply(&dev, &["AISP"]).await;
    }
    let browser = Browser::new(&app);
    browser.log_in(&operator.email, PASSWORD).await;
    let (_, first) = browser.get("/dashboard").await;
    assert!(
        first.contains("21 organisation(s) and 0 software product(s) pending"),
        "{first}"
    );
    assert!(first.contains("href=\"/dashboard?page=2\""), "{first}");
    assert_eq!(first.matches("<td><a href=\"/organisations/").count(), 20);
    let (_, second) = browser.get("/dashboard?page=2").await;
    assert_eq!(second.matches("<td><a href=\"/organisations/").count(), 1);
    let (_, queue) = browser.get("/operator/queue").await;
    assert_eq!(queue.matches("<td><a href=\"/organisations/").count(), 20);
    assert!(queue.contains("href=\"/operator/queue?page=2\""), "{queue}");
}

#[tokio::test]
async fn members_download_a_statement_and_manage_keys_in_the_portal() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let page = format!("/software/{}", c.software_id);
    let dev = Browser::new(&app);
    dev.log_in(&c.developer.email, PASSWORD).await;

    let (_, html) = dev.get(&page).await;
    assert!(
        !html.contains("id=\"download-ssa\""),
        "pending software offers no statement"
    );
    app.decide(&c.operator, &format!("/api/v1{page}"), "approve")
        .await;
    let (_, html) = dev.get(&page).await;
    assert!(html.contains("id=\"download-ssa\""), "{html}");

    let csrf = csrf_of(&html);
    let response = dev
        .client
        .post(app.url(&format!("{page}/ssa")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/jwt");
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"{}.jwt\"", c.software_id).as_str()
    );
    let jwt = response.text().await.unwrap();
    let jwks: serde_json::Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert!(crate::ssa::openssl_verifies(&jwt, &jwks));

    let (status, _, html) = dev
        .submit(&page, &format!("{page}/keys"), &[("jwk", "{not json")])
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("jwk: not JSON"), "{html}");
    let key = openssl::pkey::PKey::from_ec_key(
        openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let jwk = ssa_directory::keys::jwk::public_jwk(&key, "ES256").unwrap();
    let kid = jwk["kid"].as_str().unwrap().to_owned();
    let text = serde_json::Value::Object(jwk).to_string();
    let (status, _, _) = dev
        .submit(&page, &format!("{page}/keys"), &[("jwk", text.as_str())])
        .await;
    assert_eq!(status, 303);
    let published: serde_json::Value = app
        .get(&format!("/keystore/{}/{}.jwks", c.org_id, c.software_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(published["keys"][0]["kid"], kid.as_str());
    let (status, _, _) = dev
        .submit(&page, &format!("{page}/keys/{kid}/remove"), &[])
        .await;
    assert_eq!(status, 303);
    let revoked: serde_json::Value = app
        .get(&format!(
            "/keystore/{}/revoked/{}.jwks",
            c.org_id, c.software_id
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["keys"][0]["kid"], kid.as_str());
}

#[tokio::test]
async fn aspsp_admins_publish_authorization_servers_in_the_portal() {
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = crate::helpers::tls_files(files.path());
    let app = crate::issuers::trusting_app(&cert, |_| {}).await;
    let operator = app.user("op@directory.example", true).await;
    let admin = app.user("admin@bank.example", false).await;
    let org = app.apply(&admin, &["ASPSP"]).await;
    app.decide(
        &operator,
        &format!("/api/v1/organisations/{org}"),
        "approve",
    )
    .await;
    let host = crate::issuers::IssuerHost::start(&app, (cert, key), |_| {}).await;
    let issuer = host.issuer.clone();
    let browser = Browser::new(&app);
    browser.log_in(&admin.email, PASSWORD).await;
    let page = format!("/organisations/{org}");
    let action = format!("{page}/authorization-servers");

    let (status, _, html) = browser
        .submit(&page, &action, &[("servers", "https://as.bank.example")])
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("line 1"), "{html}");

    let (status, _, _) = browser
        .submit(
            &page,
            &action,
            &[("servers", &format!("{issuer} {issuer}/register"))],
        )
        .await;
    assert_eq!(status, 303);
    // Not published until proven; the page shows how.
    let participants: serde_json::Value = app.get("/participants").await.json().await.unwrap();
    assert_eq!(
        participants["items"][0]["authorization_servers"],
        serde_json::json!([])
    );
    let claim = crate::issuers::claim(&app, &admin, &org, &issuer).await;
    let (_, html) = browser.get(&page).await;
    assert!(html.contains("not proven"), "{html}");
    assert!(html.contains(claim["answer"].as_str().unwrap()), "{html}");
    let verify = format!("{page}/issuer-claims/verify");
    let (status, _, html) = browser.submit(&page, &verify, &[("issuer", &issuer)]).await;
    assert_eq!(status, 422, "the challenge is not answered yet");
    assert!(html.contains("challenge"), "{html}");
    host.answer(&claim);
    let (status, location, _) = browser.submit(&page, &verify, &[("issuer", &issuer)]).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some(page.as_str()));
    let (_, html) = browser.get(&page).await;
    assert!(html.contains("proven"), "{html}");
    let participants: serde_json::Value = app.get("/participants").await.json().await.unwrap();
    assert_eq!(
        participants["items"][0]["authorization_servers"][0]["issuer"],
        issuer.as_str()
    );
}

#[tokio::test]
async fn members_request_download_and_revoke_certificates_in_the_portal() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let page = format!("/software/{}", c.software_id);
    app.decide(&c.operator, &format!("/api/v1{page}"), "approve")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let csr = crate::pki::make_csr(dir.path(), "p", "ec:P-256", "/CN=portal");
    let dev = Browser::new(&app);
    dev.log_in(&c.developer.email, PASSWORD).await;

    // The form is multipart: a pasted CSR or an uploaded file.
    let post = |parts: Vec<(&'static str, String, bool)>| {
        let dev = &dev;
        let page = page.clone();
        let app = &app;
        async move {
            let (_, html) = dev.get(&page).await;
            let mut form = reqwest::multipart::Form::new().text("csrf_token", csrf_of(&html));
            for (name, value, as_file) in parts {
                form = if as_file {
                    form.part(
                        name,
                        reqwest::multipart::Part::text(value).file_name("request.csr"),
                    )
                } else {
                    form.text(name, value)
                };
            }
            let response = dev
                .client
                .post(app.url(&format!("{page}/certificates")))
                .multipart(form)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, html) = post(vec![
        ("type", "transport".into(), false),
        ("csr", "garbage".into(), false),
    ])
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("csr: not a PEM"), "{html}");

    let (status, html) = post(vec![
        ("type", "signing".into(), false),
        ("csr_file", csr.clone(), true),
    ])
    .await;
    assert_eq!(status, 201, "{html}");
    assert!(html.contains("id=\"issued-certificate\""), "{html}");
    assert!(
        html.contains("the directory assigned"),
        "the subject note: {html}"
    );
    let (status, html) = post(vec![
        ("type", "transport".into(), false),
        ("csr", csr.clone(), false),
    ])
    .await;
    assert_eq!(status, 201, "a pasted CSR: {html}");

    let forged = reqwest::multipart::Form::new()
        .text("csrf_token", "forged")
        .text("type", "transport")
        .text("csr", csr.clone());
    let response = dev
        .client
        .post(app.url(&format!("{page}/certificates")))
        .multipart(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        403,
        "the CSRF token is checked on uploads too"
    );
    let (_, certs) = app
        .get_json(
            &format!("/api/v1/software/{}/certificates", c.software_id),
            &c.admin,
        )
        .await;
    assert_eq!(certs["items"].as_array().unwrap().len(), 2);
    let serial = certs["items"][0]["serial"].as_str().unwrap().to_owned();

    let (status, pem) = dev.get(&format!("{page}/certificates/{serial}.pem")).await;
    assert_eq!(status, 200);
    assert_eq!(
        pem.matches("BEGIN CERTIFICATE").count(),
        3,
        "leaf and chain"
    );
    let outsider = Browser::new(&app);
    outsider.log_in(&c.outsider.email, PASSWORD).await;
    let (status, _) = outsider
        .get(&format!("{page}/certificates/{serial}.pem"))
        .await;
    assert_eq!(status, 404);

    let (status, _, _) = dev
        .submit(
            &page,
            &format!("{page}/certificates/{serial}/revoke"),
            &[("reason", "superseded")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, cert) = app
        .get_json(&format!("/api/v1/certificates/{serial}"), &c.admin)
        .await;
    assert_eq!(cert["status"], "revoked");
    assert_eq!(cert["revocation_reason"], "superseded");
}

#[tokio::test]
async fn invitations_are_sent_and_accepted_in_the_portal() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let invitee = app.user("invitee@elsewhere.example", false).await;
    let org_page = format!("/organisations/{}", c.org_id);

    let admin = Browser::new(&app);
    admin.log_in(&c.admin.email, PASSWORD).await;
    let (status, location, _) = admin
        .submit(
            &org_page,
            &format!("{org_page}/members"),
            &[("email", &invitee.email), ("role", "developer")],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some(org_page.as_str()));
    let (_, html) = admin.get(&org_page).await;
    assert!(html.contains("they join once they accept"), "{html}");
    assert!(html.contains("id=\"invitations\""), "{html}");

    let browser = Browser::new(&app);
    browser.log_in(&invitee.email, PASSWORD).await;
    assert_eq!(browser.get(&org_page).await.0, 404, "not yet a member");
    let (_, html) = browser.get("/dashboard").await;
    assert!(
        html.contains("invites you to <strong>Example Payments Ltd</strong>"),
        "{html}"
    );
    let (status, location, _) = browser
        .submit(
            "/dashboard",
            &format!("/invitations/{}/accept", c.org_id),
            &[],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some(org_page.as_str()));
    let (status, html) = browser.get(&org_page).await;
    assert_eq!(status, 200);
    assert!(html.contains("invitee@elsewhere.example"), "{html}");
}

#[tokio::test]
async fn a_move_to_production_waits_for_an_operator_in_the_portal() {
    let app = spawn_app_with(|c| c.auto_approve_sandbox = true).await;
    let c = cast(&app).await;
    let id = app.register(&c.developer, &c.org_id, "sandbox").await;
    let page = format!("/software/{id}");
    let edit = format!("{page}/edit");
    let dev = Browser::new(&app);
    dev.log_in(&c.developer.email, PASSWORD).await;
    let fields = [
        ("client_name", "Example Budgeting App"),
        ("description", "Shows where the money goes"),
        ("version", "1.0.0"),
        ("client_uri", ""),
        ("logo_uri", ""),
        ("tos_uri", ""),
        ("policy_uri", ""),
        ("redirect_uris", "https://app.example.com/callback"),
        ("roles", "AISP"),
        ("environment", "production"),
    ];
    let (status, _, _) = dev.submit(&edit, &edit, &fields).await;
    assert_eq!(status, 303);
    let (_, html) = dev.get(&page).await;
    assert!(html.contains("wait for an operator"), "{html}");
    assert!(html.contains("id=\"pending-change\""), "{html}");
    assert!(html.contains("<strong>production</strong>"), "{html}");
    // The edit form keeps the request: saving it again changes nothing.
    let (_, form) = dev.get(&edit).await;
    assert!(form.contains("value=\"production\" selected"), "{form}");

    let operator = Browser::new(&app);
    operator.log_in(&c.operator.email, PASSWORD).await;
    let (_, queue) = operator.get("/operator/queue").await;
    assert!(queue.contains("id=\"pending-changes\""), "{queue}");
    assert!(queue.contains(&format!("/software/{id}")), "{queue}");
    let (status, _, _) = operator
        .submit(
            &page,
            &format!("{page}/changes"),
            &[("action", "approve"), ("reason", "")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, html) = operator.get(&page).await;
    assert!(
        html.contains("<dt>Environment</dt><dd>production</dd>"),
        "{html}"
    );
    assert!(!html.contains("id=\"pending-change\""), "{html}");
}

#[tokio::test]
async fn members_revoke_a_statement_in_the_portal_with_a_reason() {
    let app = spawn_app().await;
    let c = crate::helpers::cast(&app).await;
    let software = format!("/software/{}", c.software_id);
    app.decide(&c.operator, &format!("/api/v1{software}"), "approve")
        .await;
    let response = app
        .client
        .post(app.url(&format!("/api/v1{software}/ssa")))
        .bearer_auth(&c.developer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let jwt = response.text().await.unwrap();
    let claims: serde_json::Value = {
        use base64::Engine;
        let part = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    };
    let jti = claims["jti"].as_str().unwrap().to_owned();
    let browser = Browser::new(&app);
    browser.log_in(&c.developer.email, PASSWORD).await;
    let (_, html) = browser.get(&software).await;
    assert!(html.contains(&jti), "the statement is listed: {html}");

    let action = format!("{software}/statements/{jti}/revoke");
    let (status, _, html) = browser.submit(&software, &action, &[("reason", "")]).await;
    assert_eq!(status, 422, "a reason is required");
    assert!(html.contains("reason"), "{html}");
    let (status, location, _) = browser
        .submit(&software, &action, &[("reason", "laptop stolen")])
        .await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some(software.as_str()));
    let (_, html) = browser.get(&software).await;
    assert!(html.contains("revoked (laptop stolen)"), "{html}");
    let status: serde_json::Value = app
        .get(&format!("/status/ssa/{jti}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "revoked");

    // Another organisation's member cannot revoke it, even with a valid form.
    let outsider = Browser::new(&app);
    outsider.log_in(&c.outsider.email, PASSWORD).await;
    let (status, _, _) = outsider
        .submit("/dashboard", &action, &[("reason", "mine now")])
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_portal_action_on_one_product_never_reaches_another_products_statement_or_certificate() {
    let app = spawn_app().await;
    let c = crate::helpers::cast(&app).await;
    // Two products of one organisation: A in the URL, B's statement and certificate.
    let a = c.software_id.clone();
    let b = app.register(&c.developer, &c.org_id, "production").await;
    for product in [&a, &b] {
        app.decide(
            &c.operator,
            &format!("/api/v1/software/{product}"),
            "approve",
        )
        .await;
    }
    let response = app
        .client
        .post(app.url(&format!("/api/v1/software/{b}/ssa")))
        .bearer_auth(&c.developer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let jwt = response.text().await.unwrap();
    let jti = crate::verifier::parts(&jwt).1["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let csr = crate::pki::make_csr(dir.path(), "b", "ec:P-256", "/CN=b");
    let (status, issued) = app
        .post_json(
            &format!("/api/v1/software/{b}/certificates"),
            &c.developer,
            serde_json::json!({"type": "transport", "csr": csr}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let serial = issued["serial"].as_str().unwrap().to_owned();

    let browser = Browser::new(&app);
    browser.log_in(&c.developer.email, PASSWORD).await;
    let page_a = format!("/software/{a}");
    for action in [
        format!("{page_a}/statements/{jti}/revoke"),
        format!("{page_a}/certificates/{serial}/revoke"),
    ] {
        let (status, location, _) = browser
            .submit(&page_a, &action, &[("reason", "keyCompromise")])
            .await;
        assert_eq!(status, 404, "{action} answered {location:?}");
    }
    let state: serde_json::Value = app
        .get(&format!("/status/ssa/{jti}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state["state"], "issued", "B's statement is untouched");
    let (status, cert) = app
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/certificates/{serial}"),
            Some(&c.developer.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        cert["status"], "good",
        "B's certificate is untouched: {cert}"
    );

    // Through B's own page both work.
    let page_b = format!("/software/{b}");
    for action in [
        format!("{page_b}/statements/{jti}/revoke"),
        format!("{page_b}/certificates/{serial}/revoke"),
    ] {
        let (status, location, _) = browser
            .submit(&page_b, &action, &[("reason", "keyCompromise")])
            .await;
        assert_eq!(status, 303, "{action}");
        assert_eq!(location.as_deref(), Some(page_b.as_str()));
    }
}

#[tokio::test]
async fn admins_manage_push_subscriptions_in_the_portal_and_members_see_their_status() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let page = format!("/organisations/{}", c.org_id);
    let admin = Browser::new(&app);
    admin.log_in(&c.admin.email, PASSWORD).await;
    let (status, html) = admin.get(&page).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"add-subscription\""), "{html}");

    // A loopback endpoint is refused (SSRF) with the reason beside the form.
    let action = format!("{page}/subscriptions");
    let (status, _, html) = admin
        .submit(
            &page,
            &action,
            &[("endpoint", "https://127.0.0.1:9/events")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("not a public address"), "{html}");

    let (status, location, _) = admin
        .submit(
            &page,
            &action,
            &[
                ("endpoint", "https://93.184.216.34/events"),
                ("kinds", "software-status"),
                ("kinds", "certificate-revoked"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(
        location.as_deref(),
        Some(format!("{page}#subscriptions").as_str())
    );
    let (_, list) = app
        .get_json(&format!("/api/v1{page}/subscriptions"), &c.admin)
        .await;
    let sub = &list["items"][0];
    assert_eq!(
        sub["kinds"],
        serde_json::json!(["software-status", "certificate-revoked"])
    );
    let id = sub["id"].as_str().unwrap();
    let (status, _, _) = admin
        .submit(&page, &format!("{action}/{id}/pause"), &[])
        .await;
    assert_eq!(status, 303);
    let (_, html) = admin.get(&page).await;
    assert!(html.contains("https://93.184.216.34/events"), "{html}");
    assert!(
        html.contains("software-status, certificate-revoked"),
        "{html}"
    );
    assert!(html.contains(">paused"), "{html}");
    assert!(html.contains("/resume"), "{html}");

    // A developer sees the status, without the forms; a post is refused.
    let developer = Browser::new(&app);
    developer.log_in(&c.developer.email, PASSWORD).await;
    let (_, html) = developer.get(&page).await;
    assert!(html.contains("https://93.184.216.34/events"));
    assert!(!html.contains("id=\"add-subscription\""));
    let (status, _, _) = developer
        .submit(&page, &format!("{action}/{id}/remove"), &[])
        .await;
    assert_eq!(status, 403);

    // Without the CSRF token nothing changes.
    let response = admin
        .client
        .post(app.url(&format!("{action}/{id}/remove")))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let (status, _, _) = admin
        .submit(&page, &format!("{action}/{id}/remove"), &[])
        .await;
    assert_eq!(status, 303);
    let (_, list) = app
        .get_json(&format!("/api/v1{page}/subscriptions"), &c.admin)
        .await;
    assert_eq!(list["items"], serde_json::json!([]));
}
