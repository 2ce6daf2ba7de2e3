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
    let target = browser
        .wait()
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"));
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

async fn log_out(browser: &Client) {
    click(browser, "logout").await;
    text_of(browser, "login").await;
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
