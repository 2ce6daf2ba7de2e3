//! Mail through a real SMTP server (aiosmtpd, tests/fixtures/smtp/server.py): a password
//! reset from the mailed link (STARTTLS), no enumeration, sessions ended; decisions mailed to
//! admins with the reason; a server that is down, then up (each message once); a permanent
//! refusal marked failed with its reason; and the `.eml` files without an SMTP server.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{PASSWORD, TestApp, spawn_app_with, tls_files};
use crate::portal::Browser;

/// An SMTP server process writing what it receives into a folder; killed on drop.
struct SmtpServer {
    child: Child,
    port: u16,
    out: tempfile::TempDir,
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpServer {
    /// Listens on `port`; with `tls` (certificate and key files) it requires STARTTLS.
    fn start(port: u16, tls: Option<(&Path, &Path)>) -> Self {
        Self::launch(port, tls, false)
    }

    /// Listens on `port`, and never answers the first message it receives (it keeps it).
    fn holding_the_first(port: u16) -> Self {
        Self::launch(port, None, true)
    }

    fn launch(port: u16, tls: Option<(&Path, &Path)>, hold_first: bool) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp/server.py");
        let out = tempfile::tempdir().unwrap();
        let mut command = Command::new("python3");
        command.arg(&script).arg(port.to_string()).arg(out.path());
        if let Some((cert, key)) = tls {
            command.arg("--tls").arg(cert).arg(key);
        }
        if hold_first {
            command.arg("--hold-first");
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test installs it)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the SMTP server did not listen (is aiosmtpd installed?)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, out }
    }

    /// What it received: each message's bytes, recipients, and whether it came over TLS.
    fn received(&self) -> Vec<(Vec<u8>, Vec<String>, bool)> {
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(self.out.path())
            .unwrap()
            .filter_map(|e| {
                let path = e.unwrap().path();
                let n = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".eml")?
                    .parse()
                    .ok()?;
                Some((n, path))
            })
            .collect();
        found.sort();
        found
            .into_iter()
            .map(|(_, path)| {
                let envelope = std::fs::read_to_string(path.with_extension("rcpt")).unwrap();
                let lines: Vec<String> = envelope.lines().map(str::to_owned).collect();
                let tls = lines.last().is_some_and(|l| l == "tls");
                (
                    std::fs::read(&path).unwrap(),
                    lines[..lines.len() - 1].to_vec(),
                    tls,
                )
            })
            .collect()
    }

    /// Waits until `to` received `count` messages; returns them.
    async fn wait_for(&self, to: &str, count: usize) -> Vec<(Vec<u8>, bool)> {
        let started = Instant::now();
        loop {
            let mine: Vec<(Vec<u8>, bool)> = self
                .received()
                .into_iter()
                .filter(|(_, rcpt, _)| rcpt.iter().any(|r| r == to))
                .map(|(bytes, _, tls)| (bytes, tls))
                .collect();
            if mine.len() >= count {
                return mine;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{to} received {} of {count} messages",
                mine.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Turns off `user`'s notices that are not about its security (`PATCH /api/v1/me`); the
/// account as the API then shows it.
async fn notices_off(app: &TestApp, user: &crate::helpers::TestUser) -> serde_json::Value {
    let (status, me) = app
        .api(
            reqwest::Method::PATCH,
            "/api/v1/me",
            Some(&user.token),
            Some(serde_json::json!({"notifications": false})),
        )
        .await;
    assert_eq!(status, 200, "{me}");
    me
}

/// The text part of a message, as a mail client shows it.
fn text_of(bytes: &[u8]) -> String {
    let message = mail_parser::MessageParser::default().parse(bytes).unwrap();
    assert!(message.body_html(0).is_some(), "an HTML part too");
    message.body_text(0).unwrap().into_owned()
}

fn subject_of(bytes: &[u8]) -> String {
    let message = mail_parser::MessageParser::default().parse(bytes).unwrap();
    message.subject().unwrap().to_owned()
}

/// The link in a message's text that starts with `prefix`.
fn link_in(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {text}"));
    text[start..].split_whitespace().next().unwrap().to_owned()
}

/// Waits until the outbox has nothing left to send.
async fn outbox_settled(app: &TestApp) {
    let started = Instant::now();
    loop {
        let mut conn = app.state.pool.get().unwrap();
        let (waiting, _) = ssa_directory::store::mail::backlog(&mut conn).unwrap();
        if waiting == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{waiting} waiting"
        );
        drop(conn);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn outbox_to(app: &TestApp, to: &str) -> Vec<ssa_directory::store::mail::Queued> {
    let mut conn = app.state.pool.get().unwrap();
    ssa_directory::store::mail::to_recipient(&mut conn, to).unwrap()
}

#[tokio::test]
async fn a_forgotten_password_is_reset_from_a_mailed_link_over_starttls() {
    let tls = tempfile::tempdir().unwrap();
    let (cert, key) = tls_files(tls.path());
    let smtp = SmtpServer::start(free_port(), Some((&cert, &key)));
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(ssa_directory::config::Secret::new(format!(
            "smtp://127.0.0.1:{}?tls=required",
            smtp.port
        )));
        c.smtp_ca_file = Some(cert.clone());
        c.login_max_failures = 3;
    })
    .await;
    let user = app.user("dev@fintech.example", false).await;
    let signed_in = Browser::new(&app);
    signed_in.log_in(&user.email, PASSWORD).await;
    assert_eq!(signed_in.get("/dashboard").await.0, 200);

    // The same answer whether or not the address has an account.
    let browser = Browser::new(&app);
    let (status, _, known) = browser
        .submit(
            "/password-reset",
            "/password-reset",
            &[("email", &user.email)],
        )
        .await;
    assert_eq!(status, 200);
    let (_, _, unknown) = browser
        .submit(
            "/password-reset",
            "/password-reset",
            &[("email", "nobody@fintech.example")],
        )
        .await;
    let said = |html: &str| {
        crate::mfa::between(html, "id=\"reset-requested\" role=\"status\">", "<").to_owned()
    };
    assert_eq!(said(&known), said(&unknown));
    let (status, body) = app
        .api(
            reqwest::Method::POST,
            "/api/v1/password-reset",
            None,
            Some(serde_json::json!({"email": "nobody@fintech.example"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["detail"], said(&known));
    // A fourth request from this address within the window: throttled.
    let (status, _) = app
        .api(
            reqwest::Method::POST,
            "/api/v1/password-reset",
            None,
            Some(serde_json::json!({"email": user.email})),
        )
        .await;
    assert_eq!(status, 429);

    // One message, over STARTTLS, with a link; nothing for the address without an account.
    let mail = smtp.wait_for(&user.email, 1).await;
    outbox_settled(&app).await;
    assert!(outbox_to(&app, "nobody@fintech.example").is_empty());
    let (bytes, over_tls) = &mail[0];
    assert!(over_tls, "delivered after STARTTLS");
    assert!(subject_of(bytes).contains("choose a new password"));
    let link = link_in(
        &text_of(bytes),
        &format!("{}/password-reset/confirm?token=", app.address),
    );
    let page = link.strip_prefix(&app.address).unwrap().to_owned();
    let token = link.split("token=").nth(1).unwrap().to_owned();

    // The link sets a new password, once; every session ends.
    let (status, location, html) = browser
        .submit(
            &page,
            "/password-reset/confirm",
            &[
                ("token", &token),
                ("new_password", "a brand new password"),
                ("new_password_confirm", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/login")),
        "{html}"
    );
    assert_ne!(
        signed_in.get("/dashboard").await.0,
        200,
        "the old session ended"
    );
    let (status, _, html) = browser
        .submit(
            &page,
            "/password-reset/confirm",
            &[
                ("token", &token),
                ("new_password", "yet another password"),
                ("new_password_confirm", "yet another password"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("expired or was used"), "{html}");
    let (status, location, _) = Browser::new(&app).log_in(&user.email, PASSWORD).await;
    assert_ne!(
        location.as_deref(),
        Some("/dashboard"),
        "{status}: the old password"
    );
    let (_, location, _) = Browser::new(&app)
        .log_in(&user.email, "a brand new password")
        .await;
    assert_eq!(location.as_deref(), Some("/dashboard"));

    // A notice follows; the reset is audited.
    let mail = smtp.wait_for(&user.email, 2).await;
    assert!(text_of(&mail[1].0).contains("password of dev@fintech.example was changed"));
    let mut conn = app.state.pool.get().unwrap();
    let history = ssa_directory::store::audit::subject_history(&mut conn, &user.id, 50).unwrap();
    assert!(
        history.iter().any(|e| e.action == "password.reset"),
        "{history:?}"
    );
    assert!(
        history
            .iter()
            .any(|e| e.action == "password.reset_requested"),
        "{history:?}"
    );
}

#[tokio::test]
async fn decisions_wait_for_a_server_that_is_down_and_arrive_once_and_a_refusal_fails() {
    let port = free_port();
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(ssa_directory::config::Secret::new(format!(
            "smtp://127.0.0.1:{port}"
        )));
        c.mail_backoff_ms = 10;
    })
    .await;
    let operator = app.user("operator@directory.example", true).await;
    let admin = app.user("admin@fintech.example", false).await;
    let other = app.user("other@fintech.example", false).await;
    let quiet = app.user("quiet@fintech.example", false).await;
    let approved = app.apply(&admin, &["AISP"]).await;
    let rejected = app.apply(&other, &["AISP"]).await;
    let unannounced = app.apply(&quiet, &["AISP"]).await;
    // An admin who turned off the mail about decisions gets none.
    let me = notices_off(&app, &quiet).await;
    assert_eq!(me["notifications"], false);
    assert_eq!(me["email_verified"], true, "made by the command line");
    app.decide(
        &operator,
        &format!("/api/v1/organisations/{unannounced}"),
        "approve",
    )
    .await;
    app.decide(
        &operator,
        &format!("/api/v1/organisations/{approved}"),
        "approve",
    )
    .await;
    app.decide(
        &operator,
        &format!("/api/v1/organisations/{rejected}"),
        "reject",
    )
    .await;

    // Nobody listens: the messages wait and are retried.
    let started = Instant::now();
    while outbox_to(&app, &admin.email)
        .first()
        .is_none_or(|m| m.attempts < 2)
    {
        assert!(started.elapsed() < Duration::from_secs(20), "no retries");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let queued = outbox_to(&app, &admin.email);
    assert_eq!(queued[0].status, "pending");
    assert!(queued[0].last_error.is_some());
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("ssa_mail_deliveries_total{outcome=\"retry\"}"),
        "{metrics}"
    );

    // The server comes up: each arrives once, with what was decided and why.
    let smtp = SmtpServer::start(port, None);
    let approval = smtp.wait_for(&admin.email, 1).await;
    let rejection = smtp.wait_for(&other.email, 1).await;
    outbox_settled(&app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.wait_for(&admin.email, 1).await.len(), 1, "sent once");
    assert_eq!(smtp.wait_for(&other.email, 1).await.len(), 1, "sent once");
    assert!(subject_of(&approval[0].0).contains("was approved"));
    let text = text_of(&rejection[0].0);
    assert!(text.contains("was rejected"), "{text}");
    assert!(
        text.contains("The operator's reason: test decision"),
        "{text}"
    );
    assert!(
        text.contains(&format!("/organisations/{rejected}")),
        "{text}"
    );
    assert!(outbox_to(&app, &quiet.email).is_empty());

    // A decision on a product reaches its organisation's admins too.
    let software = app.register(&admin, &approved, "production").await;
    app.decide(
        &operator,
        &format!("/api/v1/software/{software}"),
        "approve",
    )
    .await;
    let both = smtp.wait_for(&admin.email, 2).await;
    let subject = subject_of(&both[1].0);
    assert!(
        subject.contains("Example Budgeting App was approved"),
        "{subject}"
    );
    assert!(
        text_of(&both[1].0).contains(&format!("/software/{software}")),
        "a link to the product"
    );

    // A permanent refusal (550) is not retried: failed, with the server's reason.
    let refused = app.user("refused@fintech.example", false).await;
    let (status, _) = app
        .post_json(
            "/api/v1/tokens",
            &refused,
            serde_json::json!({"name": "ci"}),
        )
        .await;
    assert_eq!(status, 201);
    let started = Instant::now();
    loop {
        let queued = outbox_to(&app, &refused.email);
        if queued.first().is_some_and(|m| m.status == "failed") {
            assert_eq!(queued[0].attempts, 1);
            assert!(
                queued[0]
                    .last_error
                    .as_deref()
                    .unwrap_or_default()
                    .contains("550"),
                "{:?}",
                queued[0].last_error
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{queued:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Operators see an account's deliveries (not what they said); nobody else does.
    let support = Browser::new(&app);
    support.log_in(&operator.email, PASSWORD).await;
    let page = format!("/operator/users/{}/mail", refused.id);
    let (status, html) = support.get(&page).await;
    assert_eq!(status, 200, "{html}");
    let row = crate::mfa::between(&html, "<td>security.token_created</td>", "</tr>");
    assert!(row.contains("failed") && row.contains("550"), "{row}");
    assert!(!html.contains("API token named"), "no content: {html}");
    let member = Browser::new(&app);
    member.log_in(&admin.email, PASSWORD).await;
    assert_eq!(member.get(&page).await.0, 403);
}

/// A message's `Message-ID`.
fn message_id_of(bytes: &[u8]) -> String {
    let message = mail_parser::MessageParser::default().parse(bytes).unwrap();
    message.message_id().expect("a Message-ID").to_owned()
}

#[tokio::test]
async fn an_instance_killed_between_sending_and_recording_repeats_the_message_never_loses_it() {
    let smtp = SmtpServer::holding_the_first(free_port());
    let app = spawn_app_with(|_| {}).await;
    let user = app.user("forgetful@fintech.example", false).await;
    let stopped = app.stop().await;

    // The directory as a process of its own, to be killed with SIGKILL.
    let port = free_port();
    let folder = stopped.dir.path();
    let mut instance = Command::new(env!("CARGO_BIN_EXE_ssa-directory"))
        .env("DATABASE_URL", &stopped.db.url)
        .env("SSA_DIRECTORY_KEYS_DIR", folder.join("keys"))
        .env("SSA_DIRECTORY_DATA_DIR", folder.join("data"))
        .env("SSA_DIRECTORY_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "SSA_DIRECTORY_SMTP_URL",
            format!("smtp://127.0.0.1:{}", smtp.port),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let client = reqwest::Client::new();
    let requested = loop {
        let sent = client
            .post(format!("{base}/api/v1/password-reset"))
            .json(&serde_json::json!({"email": user.email}))
            .send()
            .await;
        if let Ok(response) = sent {
            break response.status().as_u16();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the instance did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(requested, 202);
    // The SMTP server has the message; the instance waits for its answer, and dies.
    let first = smtp.wait_for(&user.email, 1).await;
    instance.kill().unwrap();
    instance.wait().unwrap();

    // Not recorded as sent: the dead instance's lease holds it until it runs out, then the
    // next instance sends it again (its clock moved past the lease).
    stopped.clock.advance(Duration::from_secs(150));
    let app = stopped
        .start_with(|c| {
            c.smtp_url = Some(ssa_directory::config::Secret::new(format!(
                "smtp://127.0.0.1:{}",
                smtp.port
            )))
        })
        .await;
    let both = smtp.wait_for(&user.email, 2).await;
    assert_eq!(both.len(), 2, "repeated once");
    assert_eq!(both[0].0, first[0].0);
    assert_eq!(
        message_id_of(&both[0].0),
        message_id_of(&both[1].0),
        "the same message twice"
    );
    assert_eq!(both[0].0, both[1].0, "byte for byte");
    outbox_settled(&app).await;
    let queued = outbox_to(&app, &user.email);
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].status.as_str(), queued[0].attempts),
        ("sent", 2),
        "{queued:?}"
    );
}

#[tokio::test]
async fn without_an_smtp_server_messages_are_files_only_their_owner_reads() {
    let app = spawn_app_with(|_| {}).await;
    let user = app.user("dev@fintech.example", false).await;
    let browser = Browser::new(&app);
    browser
        .submit(
            "/password-reset",
            "/password-reset",
            &[("email", &user.email)],
        )
        .await;
    outbox_settled(&app).await;
    let folder = app.state.config.data_dir.join("mail");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&folder), 0o700);
    let files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().unwrap(), "eml");
    assert_eq!(mode(&files[0]), 0o600);
    let bytes = std::fs::read(&files[0]).unwrap();
    let text = text_of(&bytes);
    assert!(text.contains("/password-reset/confirm?token="), "{text}");
    let queued = outbox_to(&app, &user.email);
    assert_eq!(queued[0].status, "sent");
    assert!(
        files[0].to_string_lossy().contains(&queued[0].id),
        "named by the message's id"
    );
}

/// The link to `path` in the newest `.eml` file mailed to `to` (no SMTP server configured).
fn filed_link(app: &TestApp, to: &str, path: &str) -> String {
    let folder = app.state.config.data_dir.join("mail");
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| (std::fs::metadata(&p).unwrap().modified().unwrap(), p))
        .collect();
    files.sort();
    files
        .iter()
        .rev()
        .map(|(_, p)| std::fs::read(p).unwrap())
        .find_map(|bytes| {
            let text = text_of(&bytes);
            let addressed = String::from_utf8_lossy(&bytes).contains(&format!("To: {to}"));
            text.find(&format!("{}{path}", app.address))
                .filter(|_| addressed)
                .map(|_| link_in(&text, &format!("{}{path}", app.address)))
        })
        .unwrap_or_else(|| panic!("no link to {path} mailed to {to}"))
}

#[tokio::test]
async fn a_new_account_verifies_its_address_before_it_applies_invites_or_makes_tokens() {
    let app = spawn_app_with(|c| c.login_max_failures = 3).await;
    let admin = app.user("admin@fintech.example", false).await;
    let org = app.apply(&admin, &["AISP"]).await;
    let browser = Browser::new(&app);
    let email = "new.dev@fintech.example";
    let (status, location, _) = browser.sign_up(email).await;
    assert_eq!((status, location.as_deref()), (303, Some("/dashboard")));
    let (_, dashboard) = browser.get("/dashboard").await;
    assert!(dashboard.contains("id=\"unverified\""), "{dashboard}");

    // Unverified: no application, no token, no invitation.
    let (status, _, html) = browser
        .submit(
            "/organisations/new",
            "/organisations/new",
            &crate::portal::apply_fields("GB"),
        )
        .await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("verify your address first"), "{html}");
    let (status, _, _) = browser
        .submit("/tokens", "/tokens", &[("name", "ci")])
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .post_json(
            &format!("/api/v1/organisations/{org}/members"),
            &admin,
            serde_json::json!({"email": email, "role": "developer"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("not verified"));

    // The link again, a few times, then throttled; only the newest link works.
    outbox_settled(&app).await;
    let first = filed_link(&app, email, "/verify-email?token=");
    for _ in 0..3 {
        let (status, _, _) = browser
            .submit("/dashboard", "/account/verification", &[])
            .await;
        assert_eq!(status, 303);
    }
    let (_, account) = browser.get("/account").await;
    assert!(account.contains("A new link is on its way"), "{account}");
    browser
        .submit("/dashboard", "/account/verification", &[])
        .await;
    let (_, account) = browser.get("/account").await;
    assert!(account.contains("sent several times lately"), "{account}");
    outbox_settled(&app).await;
    let second = filed_link(&app, email, "/verify-email?token=");
    assert_ne!(first, second);
    let token = |link: &str| link.split("token=").nth(1).unwrap().to_owned();
    let (status, _, html) = browser
        .submit("/dashboard", "/verify-email", &[("token", &token(&first))])
        .await;
    assert_eq!(status, 422, "an older link: {html}");
    let (status, location, _) = browser
        .submit("/dashboard", "/verify-email", &[("token", &token(&second))])
        .await;
    assert_eq!((status, location.as_deref()), (303, Some("/dashboard")));
    let (_, dashboard) = browser.get("/dashboard").await;
    assert!(!dashboard.contains("id=\"unverified\""), "{dashboard}");
    let (status, _, html) = browser
        .submit("/dashboard", "/verify-email", &[("token", &token(&second))])
        .await;
    assert_eq!(status, 422, "used once: {html}");

    // Verified: it applies, and can be invited.
    let (status, location, html) = browser
        .submit(
            "/organisations/new",
            "/organisations/new",
            &crate::portal::apply_fields("GB"),
        )
        .await;
    assert_eq!(status, 303, "{html}");
    assert!(location.unwrap().starts_with("/organisations/"));
    let (status, body) = app
        .post_json(
            &format!("/api/v1/organisations/{org}/members"),
            &admin,
            serde_json::json!({"email": email, "role": "developer"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        outbox_to(&app, email)
            .iter()
            .any(|m| m.kind == "invitation"),
        "the invitation is mailed"
    );
    let mut conn = app.state.pool.get().unwrap();
    let user = ssa_directory::store::users::find_by_email(&mut conn, email)
        .unwrap()
        .unwrap();
    let history =
        ssa_directory::store::audit::subject_history(&mut conn, &user.id.to_string(), 50).unwrap();
    assert!(
        history.iter().any(|e| e.action == "user.email_verified"),
        "{history:?}"
    );
}

/// The reminders of expiring certificates written for `to`.
fn reminders_to(app: &TestApp, to: &str) -> usize {
    outbox_to(app, to)
        .iter()
        .filter(|m| m.kind == "certificate.expiring")
        .count()
}

/// Waits until `to` has `count` reminders, then another pass of both instances (each looks
/// every five seconds) to see no other comes.
async fn reminded(app: &TestApp, to: &str, count: usize) {
    let started = Instant::now();
    while reminders_to(app, to) < count {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} of {count} reminders",
            reminders_to(app, to)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(reminders_to(app, to), count, "once per threshold");
}

#[tokio::test]
async fn an_expiring_certificate_is_reminded_once_at_30_and_7_days_with_two_instances() {
    let app = spawn_app_with(|c| c.certificate_validity_days = 40).await;
    let sibling = crate::helpers::spawn_sibling(&app).await;
    let c = crate::helpers::cast(&app).await;
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "approve",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let csr = crate::pki::make_csr(dir.path(), "transport", "ec:P-256", "/CN=reminded");
    let (status, issued) = crate::pki::request_certificate(&app, &c, "transport", &csr).await;
    assert_eq!(status, 201, "{issued}");

    // Forty days to go: nothing yet. Then within 30 days: one reminder, whoever sends it.
    app.clock.advance(Duration::from_secs(11 * 24 * 3600));
    reminded(&sibling, &c.admin.email, 1).await;
    let message = outbox_to(&app, &c.admin.email)
        .into_iter()
        .find(|m| m.kind == "certificate.expiring")
        .unwrap();
    let text = text_of(&message.message);
    assert!(text.contains("transport certificate"), "{text}");
    assert!(text.contains(issued["serial"].as_str().unwrap()), "{text}");
    assert!(
        text.contains("in 30 days") || text.contains("in 29 days"),
        "{text}"
    );

    // Within 7 days: the second, once.
    app.clock.advance(Duration::from_secs(24 * 24 * 3600));
    reminded(&app, &c.admin.email, 2).await;
}

/// The operators' digests written for `to`.
fn digests_to(app: &TestApp, to: &str) -> usize {
    outbox_to(app, to)
        .iter()
        .filter(|m| m.kind == "operators.digest")
        .count()
}

#[tokio::test]
async fn operators_get_a_digest_of_waiting_decisions_at_most_hourly_across_instances() {
    let app = spawn_app_with(|_| {}).await;
    let sibling = crate::helpers::spawn_sibling(&app).await;
    let operator = app.user("operator@directory.example", true).await;
    let quiet = app.user("quiet.operator@directory.example", true).await;
    notices_off(&app, &quiet).await;
    // Nothing waits: no digest.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(digests_to(&app, &operator.email), 0);

    let developer = app.user("dev@fintech.example", false).await;
    app.apply(&developer, &["AISP"]).await;
    let started = Instant::now();
    while digests_to(&sibling, &operator.email) == 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "no digest");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let digest = outbox_to(&app, &operator.email)
        .into_iter()
        .find(|m| m.kind == "operators.digest")
        .unwrap();
    let text = text_of(&digest.message);
    assert!(text.contains("1 organisation application(s)"), "{text}");
    assert!(text.contains("/operator/queue"), "{text}");
    assert_eq!(digests_to(&app, &quiet.email), 0, "notices turned off");

    // Not again within the hour, whichever instance looks; again after it.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(digests_to(&app, &operator.email), 1);
    app.clock.advance(Duration::from_secs(61 * 60));
    let started = Instant::now();
    while digests_to(&app, &operator.email) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no second digest"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(digests_to(&app, &operator.email), 2);
}

#[tokio::test]
async fn an_address_without_an_account_is_invited_signs_up_and_joins_on_verification() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.user("admin@fintech.example", false).await;
    let org = app.apply(&admin, &["AISP"]).await;
    let email = "newcomer@fintech.example";
    let (status, body) = app
        .post_json(
            &format!("/api/v1/organisations/{org}/members"),
            &admin,
            serde_json::json!({"email": email, "role": "developer"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    // A second address, invited then withdrawn: listed while pending, then not.
    let withdrawn = "changed.mind@fintech.example";
    let (status, _) = app
        .post_json(
            &format!("/api/v1/organisations/{org}/members"),
            &admin,
            serde_json::json!({"email": withdrawn, "role": "admin"}),
        )
        .await;
    assert_eq!(status, 202);
    let (_, members) = app
        .get_json(&format!("/api/v1/organisations/{org}/members"), &admin)
        .await;
    let listed: Vec<&str> = members["address_invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [email, withdrawn], "{members}");
    let admin_browser = Browser::new(&app);
    admin_browser.log_in(&admin.email, PASSWORD).await;
    let org_page = format!("/organisations/{org}");
    let (_, html) = admin_browser.get(&org_page).await;
    assert_eq!(html.matches("class=\"mailed\"").count(), 2, "{html}");
    let (status, location, _) = admin_browser
        .submit(
            &org_page,
            &format!("/organisations/{org}/address-invitations/withdraw"),
            &[("email", withdrawn)],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some(org_page.as_str()))
    );
    let (_, html) = admin_browser.get(&org_page).await;
    assert!(
        html.contains("Invitation withdrawn.") && !html.contains(withdrawn),
        "{html}"
    );
    let withdraw = format!(
        "/api/v1/organisations/{org}/address-invitations?email={}",
        withdrawn.replace('@', "%40")
    );
    let (status, _) = app
        .api(reqwest::Method::DELETE, &withdraw, Some(&admin.token), None)
        .await;
    assert_eq!(status, 404, "withdrawn already");
    outbox_settled(&app).await;
    let link = filed_link(&app, email, "/signup?email=");
    let page = link.strip_prefix(&app.address).unwrap().to_owned();

    // The link's sign-up page holds the address; the account joins once it verifies it.
    let browser = Browser::new(&app);
    let (_, html) = browser.get(&page).await;
    assert!(html.contains(&format!("value=\"{email}\"")), "{html}");
    let (status, _, _) = browser
        .submit(
            &page,
            "/signup",
            &[
                ("email", email),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (status, _) = browser.get(&format!("/organisations/{org}")).await;
    assert_eq!(status, 404, "not a member before verifying");
    outbox_settled(&app).await;
    let verify = filed_link(&app, email, "/verify-email?token=");
    let token = verify.split("token=").nth(1).unwrap();
    let (status, _, _) = browser
        .submit("/dashboard", "/verify-email", &[("token", token)])
        .await;
    assert_eq!(status, 303);
    let (status, html) = browser.get(&format!("/organisations/{org}")).await;
    assert_eq!(status, 200, "a member now: {html}");
    let (_, members) = app
        .get_json(&format!("/api/v1/organisations/{org}/members"), &admin)
        .await;
    let joined = members["items"]
        .as_array()
        .or(members.as_array())
        .unwrap()
        .iter()
        .any(|m| m["email"] == email && m["role"] == "developer");
    assert!(joined, "{members}");
    assert_eq!(
        members["address_invitations"],
        serde_json::json!([]),
        "taken up"
    );

    // The withdrawn address signs up and verifies: it joins nothing.
    let late = Browser::new(&app);
    late.sign_up(withdrawn).await;
    outbox_settled(&app).await;
    let verify = filed_link(&app, withdrawn, "/verify-email?token=");
    let token = verify.split("token=").nth(1).unwrap();
    late.submit("/dashboard", "/verify-email", &[("token", token)])
        .await;
    let (status, _) = late.get(&org_page).await;
    assert_eq!(status, 404, "a withdrawn invitation joins nothing");
}

#[tokio::test]
async fn an_address_changes_once_the_new_one_is_verified_and_the_old_one_is_told() {
    let app = spawn_app_with(|_| {}).await;
    app.user("taken@fintech.example", false).await;
    let user = app.user("old@fintech.example", false).await;
    let browser = Browser::new(&app);
    browser.log_in(&user.email, PASSWORD).await;
    let change = |email: &'static str, password: &'static str| {
        let browser = &browser;
        async move {
            browser
                .submit(
                    "/account",
                    "/account/email",
                    &[("email", email), ("current_password", password)],
                )
                .await
        }
    };
    // Refused: a wrong password, an address taken, not an address, a header injection.
    let (status, _, html) = change("new@fintech.example", "not the password").await;
    assert_eq!(status, 422);
    assert!(html.contains("not the account&#39;s password"), "{html}");
    let (status, _, html) = change("taken@fintech.example", PASSWORD).await;
    assert_eq!(status, 422);
    assert!(html.contains("already exists"), "{html}");
    for bad in ["not an address", "x@y.example\r\nBcc: victim@y.example"] {
        let (status, _, html) = change(bad, PASSWORD).await;
        assert_eq!(status, 422, "{bad}: {html}");
    }

    let (status, location, _) = change("New@Fintech.example", PASSWORD).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account")));
    let (_, account) = browser.get("/account").await;
    assert!(
        account.contains("A link is on its way to new@fintech.example"),
        "{account}"
    );
    let (_, me) = app.get_json("/api/v1/me", &user).await;
    assert_eq!(
        me["email"], user.email,
        "unchanged until the link is opened"
    );
    outbox_settled(&app).await;
    let link = filed_link(&app, "new@fintech.example", "/verify-email?token=");
    let token = link.split("token=").nth(1).unwrap().to_owned();

    // Opened from another browser (the new mailbox's): the address changes.
    let mailbox = Browser::new(&app);
    let (status, _, html) = mailbox
        .submit("/login", "/verify-email", &[("token", &token)])
        .await;
    assert_eq!(status, 303, "{html}");
    let (_, me) = app.get_json("/api/v1/me", &user).await;
    assert_eq!(me["email"], "new@fintech.example", "{me}");
    let (status, _, html) = mailbox
        .submit("/login", "/verify-email", &[("token", &token)])
        .await;
    assert_eq!(status, 422, "used once: {html}");
    let told = outbox_to(&app, "old@fintech.example");
    assert!(
        told.iter().any(|m| m.kind == "security.address_changed"),
        "{told:?}"
    );
    let (status, _, _) = Browser::new(&app)
        .log_in("old@fintech.example", PASSWORD)
        .await;
    assert_eq!(status, 401, "the old address logs in no more");
    let (status, location, _) = Browser::new(&app)
        .log_in("new@fintech.example", PASSWORD)
        .await;
    assert_eq!((status, location.as_deref()), (303, Some("/dashboard")));

    // A link to an address someone signed up with meanwhile changes nothing.
    let (status, _, _) = change("race@fintech.example", PASSWORD).await;
    assert_eq!(status, 303);
    outbox_settled(&app).await;
    let link = filed_link(&app, "race@fintech.example", "/verify-email?token=");
    app.user("race@fintech.example", false).await;
    let token = link.split("token=").nth(1).unwrap();
    let (status, _, html) = mailbox
        .submit("/login", "/verify-email", &[("token", token)])
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("was made meanwhile"), "{html}");
    let (_, me) = app.get_json("/api/v1/me", &user).await;
    assert_eq!(me["email"], "new@fintech.example");

    // A change asked for, then the password changed (its owner taking the account back): the
    // link mailed before works no more.
    let (status, _, _) = change("intruder@elsewhere.example", PASSWORD).await;
    assert_eq!(status, 303);
    outbox_settled(&app).await;
    let link = filed_link(&app, "intruder@elsewhere.example", "/verify-email?token=");
    let (status, _) = app
        .post_json(
            "/api/v1/me/password",
            &user,
            serde_json::json!({"current_password": PASSWORD, "new_password": "a new long passphrase"}),
        )
        .await;
    assert_eq!(status, 204);
    let token = link.split("token=").nth(1).unwrap();
    let (status, _, html) = mailbox
        .submit("/login", "/verify-email", &[("token", token)])
        .await;
    assert_eq!(status, 422, "{html}");
    let (_, me) = app.get_json("/api/v1/me", &user).await;
    assert_eq!(me["email"], "new@fintech.example", "the address stays");
}

#[tokio::test]
async fn a_rotation_of_the_signing_keys_is_mailed_to_aspsps_technical_contacts() {
    let app = spawn_app_with(|_| {}).await;
    let operator = app.user("operator@directory.example", true).await;
    let bank = app.user("bank@bank.example", false).await;
    let fintech = app.user("dev@fintech.example", false).await;
    let aspsp = app.apply(&bank, &["ASPSP"]).await;
    app.apply(&fintech, &["AISP"]).await;
    app.decide(
        &operator,
        &format!("/api/v1/organisations/{aspsp}"),
        "approve",
    )
    .await;
    let state = app.state.clone();
    let kid = app
        .state
        .db(move |conn| {
            ssa_directory::services::signing_keys::rotate(
                conn,
                &state.keyring,
                state.config.signing_alg.as_str(),
                &ssa_directory::model::Actor::Cli,
                ssa_directory::model::keys::KeyPurpose::Ssa,
                Some(&state.mailer.composer),
                state.now(),
            )
        })
        .await
        .unwrap();
    // The application's technical contact (tech@example.com) of the one active ASPSP.
    let rotated: Vec<_> = outbox_to(&app, "tech@example.com")
        .into_iter()
        .filter(|m| m.kind == "keys.rotated")
        .collect();
    assert_eq!(rotated.len(), 1, "the ASPSP's contact, not the AISP's");
    let text = text_of(&rotated[0].message);
    assert!(text.contains(kid.as_str()), "{text}");
    assert!(text.contains("/.well-known/jwks.json"), "{text}");
}

#[tokio::test]
async fn an_organisation_may_have_its_notices_mailed_to_its_contacts_too() {
    let app = spawn_app_with(|_| {}).await;
    let c = crate::helpers::cast(&app).await;
    let page = format!("/organisations/{}", c.org_id);
    let toggle = format!("{page}/contacts-mail");
    let developer = Browser::new(&app);
    developer.log_in(&c.developer.email, PASSWORD).await;
    let (status, _, _) = developer.submit(&page, &toggle, &[("on", "true")]).await;
    assert_eq!(status, 403, "an admin's setting");
    let admin = Browser::new(&app);
    admin.log_in(&c.admin.email, PASSWORD).await;
    let (status, _, _) = admin.submit(&page, &toggle, &[("on", "true")]).await;
    assert_eq!(status, 303);
    let (_, org) = app
        .get_json(&format!("/api/v1/organisations/{}", c.org_id), &c.admin)
        .await;
    assert_eq!(org["notify_contacts"], true);

    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "approve",
    )
    .await;
    // The application's contacts (ada@example.com, tech@example.com) and the admin.
    for to in [
        "ada@example.com",
        "tech@example.com",
        c.admin.email.as_str(),
    ] {
        let decided = outbox_to(&app, to)
            .iter()
            .filter(|m| m.kind == "software.decision")
            .count();
        assert_eq!(decided, 1, "{to}");
    }
}
