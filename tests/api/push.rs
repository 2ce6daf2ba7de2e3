//! Push delivery (RFC 8935) to a local HTTPS receiver: every wanted event exactly once, in
//! cursor order, with two instances delivering; retries after failures and after a restart;
//! the failing state and resuming; a receiver's refusal; endpoints refused against SSRF; who
//! may manage subscriptions.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use openssl::ssl::{SslAcceptor, SslMethod};
use serde_json::{Value, json};

use crate::helpers::{TestApp, cast, spawn_app_with, spawn_sibling};

/// What the test receiver does with the next requests.
#[derive(Default)]
struct Receiver {
    /// Answer 503 to this many more requests.
    fail: AtomicUsize,
    /// Answer an RFC 8935 error to this many more requests.
    refuse: AtomicUsize,
    /// Hold this many more requests for a minute before answering.
    hang: AtomicUsize,
    /// Every request: its content type and body, and whether it was accepted.
    requests: Mutex<Vec<(String, String, bool)>>,
}

impl Receiver {
    fn accepted(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .filter(|(_, _, ok)| *ok)
            .map(|(_, set, _)| set.clone())
            .collect()
    }

    fn attempts(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

async fn receive(req: HttpRequest, body: String, receiver: web::Data<Receiver>) -> HttpResponse {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let take = |counter: &AtomicUsize| {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    };
    if take(&receiver.hang) {
        receiver
            .requests
            .lock()
            .unwrap()
            .push((content_type, body, false));
        tokio::time::sleep(Duration::from_secs(60)).await;
        return HttpResponse::ServiceUnavailable().finish();
    }
    let (accepted, response) = if take(&receiver.fail) {
        (false, HttpResponse::ServiceUnavailable().finish())
    } else if take(&receiver.refuse) {
        (
            false,
            HttpResponse::BadRequest()
                .json(json!({"err": "invalid_request", "description": "not for us"})),
        )
    } else {
        (true, HttpResponse::Accepted().finish())
    };
    receiver
        .requests
        .lock()
        .unwrap()
        .push((content_type, body, accepted));
    response
}

/// Starts an HTTPS receiver on 127.0.0.1 with a fresh self-signed certificate; its URL, its
/// state and the certificate's PEM (for the directory's `push_ca_file`).
fn start_receiver() -> (String, web::Data<Receiver>, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    let mut tls = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    tls.set_private_key(
        &openssl::pkey::PKey::private_key_from_pem(key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    tls.set_certificate(&openssl::x509::X509::from_pem(cert.pem().as_bytes()).unwrap())
        .unwrap();
    let receiver = web::Data::new(Receiver::default());
    let shared = receiver.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .route("/events", web::post().to(receive))
    })
    .workers(1)
    .listen_openssl(listener, tls)
    .unwrap()
    .run();
    tokio::spawn(server);
    (
        format!("https://127.0.0.1:{port}/events"),
        receiver,
        cert.pem(),
    )
}

/// A directory that may push to loopback and trusts the receiver's certificate.
async fn push_app(
    ca_pem: &str,
    customise: impl FnOnce(&mut ssa_directory::config::Config),
) -> TestApp {
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), ca_pem).unwrap();
    let (_, path) = ca.keep().unwrap();
    spawn_app_with(|config| {
        config.push_allow_private_targets = true;
        config.push_ca_file = Some(path);
        config.push_backoff_ms = 100;
        customise(config);
    })
    .await
}

/// Pauses (`paused`) or resumes (`active`) a subscription as `user`.
async fn set_state(
    app: &TestApp,
    path: &str,
    user: &crate::helpers::TestUser,
    state: &str,
) -> (u16, Value) {
    app.api(
        reqwest::Method::PATCH,
        path,
        Some(&user.token),
        Some(json!({"state": state})),
    )
    .await
}

/// Waits until `done` holds, for at most `seconds`.
async fn eventually(seconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// The jti and kind (the URI's tail) of a SET, unverified (the feed test verifies them).
fn jti_and_kind(set: &str) -> (String, String) {
    let payload = set.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    let uri = claims["events"].as_object().unwrap().keys().next().unwrap();
    (
        claims["jti"].as_str().unwrap().to_owned(),
        uri.rsplit(':').next().unwrap().to_owned(),
    )
}

/// The jtis of the feed's events after `cursor`, in cursor order, of the kinds wanted.
async fn feed_after(app: &TestApp, cursor: &str, kinds: &[&str]) -> Vec<String> {
    let page: Value = app
        .get(&format!("/events?after={cursor}&limit=1000"))
        .await
        .json()
        .await
        .unwrap();
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            let kind = e["event_type"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap();
            kinds.is_empty() || kinds.contains(&kind)
        })
        .map(|e| e["jti"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn push_delivers_every_event_once_in_order_across_instances_failures_and_a_restart() {
    let (endpoint, receiver, ca) = start_receiver();
    let app = push_app(&ca, |_| {}).await;
    let sibling = spawn_sibling(&app).await;
    let c = cast(&app).await;
    let base = format!("/api/v1/organisations/{}/subscriptions", c.org_id);
    let (status, sub) = app
        .post_json(&base, &c.admin, json!({"endpoint": endpoint}))
        .await;
    assert_eq!(status, 201, "{sub}");
    crate::helpers::assert_conforms("SubscriptionView", &sub);
    assert_eq!(sub["state"], "active");
    let start = sub["delivery"]["cursor"].as_str().unwrap().to_owned();
    let sub_path = format!("{base}/{}", sub["id"].as_str().unwrap());

    // The first two attempts fail; the retries deliver. Two instances compete for the lease.
    receiver.fail.store(2, Ordering::SeqCst);
    let software = format!("/api/v1/software/{}", c.software_id);
    app.decide(&c.operator, &software, "approve").await;
    app.decide(&c.operator, &software, "suspend").await;
    app.decide(&c.operator, &software, "reinstate").await;
    let expected = feed_after(&app, &start, &[]).await;
    assert_eq!(expected.len(), 3);
    let delivered = eventually(20, || receiver.accepted().len() >= expected.len()).await;
    assert!(
        delivered,
        "delivered {} of {}: {}",
        receiver.accepted().len(),
        expected.len(),
        app.get_json(&sub_path, &c.admin).await.1
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let accepted: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|s| jti_and_kind(s).0)
        .collect();
    assert_eq!(accepted, expected, "each event once, in cursor order");
    assert!(
        receiver.attempts() >= expected.len() + 2,
        "the failed attempts were made"
    );
    for (content_type, _, _) in receiver.requests.lock().unwrap().iter() {
        assert_eq!(content_type, "application/secevent+jwt");
    }
    let (status, view) = app.get_json(&sub_path, &c.developer).await;
    assert_eq!(status, 200, "members see the delivery status: {view}");
    crate::helpers::assert_conforms("SubscriptionView", &view);
    assert_eq!(view["delivery"]["delivered"], 3);
    assert_eq!(view["delivery"]["backlog"], 0);
    assert_eq!(view["delivery"]["attempts"], 0);
    assert!(view["delivery"]["last_success_at"].is_string());
    assert!(
        view["delivery"]["last_error"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{view}"
    );

    let metrics = format!(
        "{}{}",
        app.get("/metrics").await.text().await.unwrap(),
        sibling.get("/metrics").await.text().await.unwrap()
    );
    assert!(metrics.contains("ssa_push_attempts_total{outcome=\"failed\"}"));

    // The receiver goes down; changes made meanwhile wait in the backlog and survive a
    // restart of both instances.
    receiver.fail.store(1_000_000, Ordering::SeqCst);
    app.decide(&c.operator, &software, "suspend").await;
    app.decide(&c.operator, &software, "reinstate").await;
    let before = receiver.attempts();
    assert!(eventually(10, || receiver.attempts() > before).await);
    drop(sibling);
    let app = app.restart().await;
    let (_, view) = app.get_json(&sub_path, &c.admin).await;
    assert_eq!(view["delivery"]["backlog"], 2, "{view}");
    receiver.fail.store(0, Ordering::SeqCst);
    let expected = feed_after(&app, &start, &[]).await;
    assert_eq!(expected.len(), 5);
    assert!(eventually(20, || receiver.accepted().len() >= 5).await);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let accepted: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|s| jti_and_kind(s).0)
        .collect();
    assert_eq!(accepted, expected);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("ssa_push_attempts_total{outcome=\"delivered\"}"));
}

#[tokio::test]
async fn a_subscription_gets_only_its_kinds_fails_after_the_retry_time_and_resumes() {
    let (endpoint, receiver, ca) = start_receiver();
    let app = push_app(&ca, |config| config.push_retry_secs = 1).await;
    let c = cast(&app).await;
    let base = format!("/api/v1/organisations/{}/subscriptions", c.org_id);
    let (status, sub) = app
        .post_json(
            &base,
            &c.admin,
            json!({"endpoint": endpoint, "kinds": ["software-status", "urn:ssa-directory:event:participant-key-added"]}),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    assert_eq!(
        sub["kinds"],
        json!(["software-status", "participant-key-added"])
    );
    let start = sub["delivery"]["cursor"].as_str().unwrap().to_owned();
    let sub_path = format!("{base}/{}", sub["id"].as_str().unwrap());

    // A refused SET is not sent again; the error is shown; the next one is delivered.
    receiver.refuse.store(1, Ordering::SeqCst);
    let software = format!("/api/v1/software/{}", c.software_id);
    app.decide(&c.operator, &software, "approve").await;
    app.decide(&c.operator, &software, "suspend").await;
    let wanted = feed_after(&app, &start, &["software-status", "participant-key-added"]).await;
    assert_eq!(wanted.len(), 2);
    assert!(eventually(10, || receiver.accepted().len() == 1).await);
    let accepted: Vec<(String, String)> = receiver
        .accepted()
        .iter()
        .map(|s| jti_and_kind(s))
        .collect();
    assert_eq!(accepted[0].0, wanted[1]);
    assert_eq!(accepted[0].1, "software-status");
    assert_eq!(receiver.attempts(), 2, "the refused one is not retried");
    let (_, view) = app.get_json(&sub_path, &c.admin).await;
    assert!(
        view["delivery"]["last_error"]
            .as_str()
            .unwrap()
            .contains("invalid_request"),
        "{view}"
    );

    // Every attempt fails for longer than push_retry_secs: the subscription is failing and
    // the receiver catches up by polling from its cursor.
    receiver.fail.store(1_000_000, Ordering::SeqCst);
    app.decide(&c.operator, &software, "reinstate").await;
    let mut view = Value::Null;
    for _ in 0..100 {
        view = app.get_json(&sub_path, &c.admin).await.1;
        if view["state"] == "failing" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(view["state"], "failing", "{view}");
    assert_eq!(view["delivery"]["backlog"], 1);
    // The organisation's admin hears of it by mail, once.
    let notices: Vec<_> = {
        let mut conn = app.state.pool.get().unwrap();
        ssa_directory::store::mail::to_recipient(&mut conn, &c.admin.email)
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == "subscription.failing")
            .collect()
    };
    assert_eq!(notices.len(), 1, "{notices:?}");
    let cursor = view["delivery"]["cursor"].as_str().unwrap();
    let missed = feed_after(&app, cursor, &["software-status"]).await;
    assert_eq!(missed.len(), 1, "the feed holds what push did not deliver");
    let attempts = receiver.attempts();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        receiver.attempts(),
        attempts,
        "a failing subscription is not tried"
    );
    // The operator's overview charts each failure on its day: the refused event, and every
    // failed attempt (all but the accepted and the refused requests).
    let (status, overview) = app
        .get_json("/api/v1/overview?period=7d", &c.operator)
        .await;
    assert_eq!(status, 200, "{overview}");
    let failures = overview["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|chart| chart["id"] == "delivery_failures")
        .unwrap_or_else(|| panic!("{overview}"));
    let today = |series: &str| {
        failures["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == series)
            .unwrap_or_else(|| panic!("{failures}"))["values"][6]
            .as_i64()
            .unwrap()
    };
    assert_eq!(failures["labels"][6], app.state.now().date().to_string());
    assert_eq!(today("refused"), 1, "{failures}");
    assert_eq!(today("attempt") as usize, attempts - 2, "{failures}");
    assert_eq!(today("expired"), 0, "{failures}");

    // Developers may not resume it; admins may.
    receiver.fail.store(0, Ordering::SeqCst);
    let (status, _) = set_state(&app, &sub_path, &c.developer, "active").await;
    assert_eq!(status, 403);
    let (status, view) = set_state(&app, &sub_path, &c.admin, "active").await;
    assert_eq!(status, 200, "{view}");
    assert!(eventually(10, || receiver.accepted().len() == 2).await);
    assert_eq!(jti_and_kind(&receiver.accepted()[1]).0, missed[0]);

    // Paused: nothing is pushed; deleted: gone.
    let (status, view) = set_state(&app, &sub_path, &c.admin, "paused").await;
    assert_eq!((status, view["state"].as_str()), (200, Some("paused")));
    app.decide(&c.operator, &software, "suspend").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.accepted().len(), 2);
    let (status, _) = app
        .api(
            reqwest::Method::DELETE,
            &sub_path,
            Some(&c.admin.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(app.get_json(&sub_path, &c.admin).await.0, 404);
}

#[tokio::test]
async fn push_endpoints_are_refused_against_ssrf_and_subscriptions_are_the_organisations_own() {
    let app = spawn_app_with(|_| {}).await;
    let c = cast(&app).await;
    let base = format!("/api/v1/organisations/{}/subscriptions", c.org_id);
    for endpoint in [
        "http://receiver.example/events",
        "https://127.0.0.1/events",
        "https://localhost:8443/events",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.7/events",
        "https://[::1]/events",
        "https://[::ffff:192.168.0.1]/events",
        "https://[::127.0.0.1]/events",
        "https://[2002:7f00:1::]/events",
        "https://[2001:0:7f00:1::]/events",
        "https://[64:ff9b::a9fe:a9fe]/events",
        "https://user:secret@receiver.example/events",
        "receiver.example/events",
    ] {
        let (status, body) = app
            .post_json(&base, &c.admin, json!({"endpoint": endpoint}))
            .await;
        assert_eq!(status, 422, "{endpoint} was not refused: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("endpoint"),
            "{body}"
        );
    }
    let (status, body) = app
        .post_json(
            &base,
            &c.admin,
            json!({"endpoint": "https://93.184.216.34/events", "kinds": ["no-such-kind"]}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    // A public address is accepted (without connecting), paused at once for this test.
    let (status, sub) = app
        .post_json(
            &base,
            &c.admin,
            json!({"endpoint": "https://93.184.216.34/events"}),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    let sub_path = format!("{base}/{}", sub["id"].as_str().unwrap());
    let (status, _) = set_state(&app, &sub_path, &c.admin, "paused").await;
    assert_eq!(status, 200);
    let (status, body) = app
        .post_json(
            &base,
            &c.admin,
            json!({"endpoint": "https://93.184.216.34/events"}),
        )
        .await;
    assert_eq!(status, 409, "the same endpoint twice: {body}");
    // Developers see but do not manage; other organisations see nothing.
    let (status, _) = app
        .post_json(
            &base,
            &c.developer,
            json!({"endpoint": "https://93.184.216.35/events"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, list) = app.get_json(&base, &c.developer).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get_json(&base, &c.outsider).await.0, 404);
    assert_eq!(app.get_json(&sub_path, &c.outsider).await.0, 404);
    let other = format!(
        "/api/v1/organisations/{}/subscriptions/{}",
        c.other_org_id,
        sub["id"].as_str().unwrap()
    );
    assert_eq!(
        app.get_json(&other, &c.outsider).await.0,
        404,
        "another organisation's subscription is not found under one's own"
    );
    let (status, _) = app
        .api(
            reqwest::Method::DELETE,
            &sub_path,
            Some(&c.outsider.token),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, audit) = app.get_json("/api/v1/audit", &c.operator).await;
    assert_eq!(status, 200);
    assert!(audit.to_string().contains("subscription.create"), "audited");
}

#[tokio::test]
async fn a_polled_subscription_answers_rfc_8936_polls_until_acknowledged() {
    let app = spawn_app_with(|_| {}).await;
    let c = cast(&app).await;
    let base = format!("/api/v1/organisations/{}/subscriptions", c.org_id);
    let (status, body) = app
        .post_json(
            &base,
            &c.admin,
            json!({"method": "poll", "endpoint": "https://93.184.216.34/x"}),
        )
        .await;
    assert_eq!(status, 422, "a polled subscription has no endpoint: {body}");
    let (status, sub) = app
        .post_json(
            &base,
            &c.admin,
            json!({"method": "poll", "kinds": ["software-status"]}),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    crate::helpers::assert_conforms("SubscriptionView", &sub);
    let poll_url = sub["poll_url"].as_str().unwrap().to_owned();
    let poll = poll_url.strip_prefix(&app.address).unwrap().to_owned();
    let start = sub["delivery"]["cursor"].as_str().unwrap().to_owned();

    // Nothing yet: an immediate answer is empty.
    let (status, answer) = app
        .post_json(&poll, &c.developer, json!({"returnImmediately": true}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"sets": {}, "moreAvailable": false}));

    // A long poll is answered as soon as an event commits.
    let waiting = {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&poll),
            c.developer.token.clone(),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let answer: Value = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"maxEvents": 1}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (answer, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let software = format!("/api/v1/software/{}", c.software_id);
    app.decide(&c.operator, &software, "approve").await;
    let (answer, waited) = waiting.await.unwrap();
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
    let sets = answer["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 1, "{answer}");

    app.decide(&c.operator, &software, "suspend").await;
    app.decide(&c.operator, &software, "reinstate").await;
    let wanted = feed_after(&app, &start, &["software-status"]).await;
    assert_eq!(wanted.len(), 3);
    // Unacknowledged SETs come again; maxEvents bounds the answer.
    let (_, answer) = app
        .post_json(
            &poll,
            &c.developer,
            json!({"maxEvents": 2, "returnImmediately": true}),
        )
        .await;
    let jtis: Vec<&String> = answer["sets"].as_object().unwrap().keys().collect();
    assert_eq!(jtis.len(), 2);
    assert!(
        jtis.contains(&&wanted[0]) && jtis.contains(&&wanted[1]),
        "{answer}"
    );
    assert_eq!(answer["moreAvailable"], true);
    for (jti, set) in answer["sets"].as_object().unwrap() {
        assert_eq!(&jti_and_kind(set.as_str().unwrap()).0, jti);
    }
    // Acknowledging the first two (one as an error) answers the third.
    let (_, answer) = app
        .post_json(
            &poll,
            &c.developer,
            json!({"ack": [wanted[0]], "setErrs": {wanted[1].clone(): {"err": "invalid_key", "description": "test"}}, "returnImmediately": true}),
        )
        .await;
    let jtis: Vec<&String> = answer["sets"].as_object().unwrap().keys().collect();
    assert_eq!(jtis, vec![&wanted[2]], "{answer}");
    assert_eq!(answer["moreAvailable"], false);
    let (_, view) = app
        .get_json(&format!("{base}/{}", sub["id"].as_str().unwrap()), &c.admin)
        .await;
    assert_eq!(view["delivery"]["delivered"], 2, "{view}");
    assert_eq!(view["delivery"]["backlog"], 1);
    assert!(
        view["delivery"]["last_error"]
            .as_str()
            .unwrap()
            .contains("invalid_key"),
        "{view}"
    );
    let (_, answer) = app
        .post_json(
            &poll,
            &c.developer,
            json!({"ack": [wanted[2]], "maxEvents": 0}),
        )
        .await;
    assert_eq!(answer, json!({"sets": {}, "moreAvailable": false}));

    // Bad polls and other callers.
    let (status, _) = app
        .post_json(&poll, &c.developer, json!({"maxEvents": 5000}))
        .await;
    assert_eq!(status, 422);
    let (status, _) = app
        .post_json(&poll, &c.developer, json!({"acks": []}))
        .await;
    assert!(
        status == 400 || status == 422,
        "unknown members are refused"
    );
    assert_eq!(
        app.post_json(&poll, &c.outsider, json!({"returnImmediately": true}))
            .await
            .0,
        404
    );
    let (status, pushed) = app
        .post_json(
            &base,
            &c.admin,
            json!({"endpoint": "https://93.184.216.34/events"}),
        )
        .await;
    assert_eq!(status, 201);
    let pushed_poll = format!("{base}/{}/poll", pushed["id"].as_str().unwrap());
    assert_eq!(
        app.post_json(&pushed_poll, &c.admin, json!({"returnImmediately": true}))
            .await
            .0,
        409,
        "a pushed subscription is not polled"
    );
}

#[tokio::test]
async fn a_directory_killed_while_pushing_delivers_the_set_again_after_its_restart() {
    use crate::cli::LoggingServer;
    let (endpoint, receiver, ca) = start_receiver();
    let app = push_app(&ca, |_| {}).await;
    let c = cast(&app).await;
    let base = format!("/api/v1/organisations/{}/subscriptions", c.org_id);
    let (status, sub) = app
        .post_json(&base, &c.admin, json!({"endpoint": endpoint}))
        .await;
    assert_eq!(status, 201, "{sub}");
    let sub_path = format!("{base}/{}", sub["id"].as_str().unwrap());
    // The in-process instance stops; the real binary takes over the same database and keys.
    let config = app.state.config.clone();
    let (db, dir) = (app.db.clone(), app.dir.clone());
    let mut stopped = app.state.stopped.subscribe();
    drop(app);
    let _ = tokio::time::timeout(Duration::from_secs(5), stopped.wait_for(|s| *s)).await;
    let env = vec![
        ("DATABASE_URL", db.url.clone()),
        (
            "SSA_DIRECTORY_KEYS_DIR",
            dir.path().join("keys").display().to_string(),
        ),
        (
            "SSA_DIRECTORY_PUSH_ALLOW_PRIVATE_TARGETS",
            "true".to_owned(),
        ),
        (
            "SSA_DIRECTORY_PUSH_CA_FILE",
            config.push_ca_file.as_ref().unwrap().display().to_string(),
        ),
        ("SSA_DIRECTORY_PUSH_BACKOFF_MS", "100".to_owned()),
    ];
    let start = {
        let (path, env) = (dir.path().to_owned(), env.clone());
        move || {
            let (path, env) = (path.clone(), env.clone());
            async move {
                tokio::task::spawn_blocking(move || LoggingServer::start_with(&path, "info", &env))
                    .await
                    .unwrap()
            }
        }
    };
    let mut first = start().await;
    let api = |server: &LoggingServer, method: reqwest::Method, path: &str, token: &str| {
        crate::helpers::client()
            .request(method, format!("http://{}{path}", server.address))
            .bearer_auth(token.to_owned())
            .header("content-type", "application/json")
    };

    // The receiver holds the first push; the directory is killed while waiting for it.
    receiver.hang.store(1, Ordering::SeqCst);
    let software = format!("/api/v1/software/{}", c.software_id);
    let response = api(
        &first,
        reqwest::Method::POST,
        &format!("{software}/approve"),
        &c.operator.token,
    )
    .body("{}")
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        eventually(10, || receiver.attempts() == 1).await,
        "the push began"
    );
    let held = jti_and_kind(&receiver.requests.lock().unwrap()[0].1).0;
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    // After the restart the same SET (same jti) is delivered once the dead lease runs out.
    let second = start().await;
    assert!(
        eventually(60, || !receiver.accepted().is_empty()).await,
        "redelivered after the restart"
    );
    let accepted = receiver.accepted();
    assert_eq!(
        jti_and_kind(&accepted[0]).0,
        held,
        "the same event, the same jti"
    );
    let view: Value = api(&second, reqwest::Method::GET, &sub_path, &c.admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["delivery"]["delivered"], 1, "{view}");
    assert_eq!(view["delivery"]["backlog"], 0, "{view}");
}
