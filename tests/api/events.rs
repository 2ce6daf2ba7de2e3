//! The change-event feed: every change relying parties act on is a signed SET that verifies
//! with the directory JWKS, in cursor order, once; nothing for a rolled-back change; the order
//! holds when commit order and sequence order differ (two instances on one PostgreSQL); a
//! cursor past the retention is refused with the way out.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::Method;
use serde_json::{Value, json};
use ssa_directory::model::Actor;
use ssa_directory::model::audit::Entry;
use ssa_directory::store::{self, ConnectionManager, DbConnection};

use crate::helpers::{TestApp, cast, spawn_app, spawn_sibling};

const PREFIX: &str = "urn:ssa-directory:event:";

/// Every event after `after`, following `next_cursor` page by page (`limit` a page); the
/// cursor to follow from next.
pub(crate) async fn follow(
    app: &TestApp,
    after: Option<&str>,
    limit: usize,
) -> (Vec<Value>, String) {
    let mut events = vec![];
    let mut cursor = after.map(str::to_owned);
    loop {
        let path = match &cursor {
            Some(c) => format!("/events?after={c}&limit={limit}"),
            None => format!("/events?limit={limit}"),
        };
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let page: Value = response.json().await.unwrap();
        crate::helpers::assert_conforms("Feed", &page);
        let got = page["events"].as_array().unwrap().clone();
        let next = page["next_cursor"].as_str().unwrap().to_owned();
        if got.is_empty() {
            assert_eq!(Some(&next), cursor.as_ref().or(Some(&next)));
            return (events, next);
        }
        assert_eq!(got.last().unwrap()["cursor"], next.as_str());
        events.extend(got);
        cursor = Some(next);
    }
}

/// Verifies a SET with the directory JWKS (jsonwebtoken, not the directory's own code) and
/// returns its claims.
pub(crate) async fn verify(app: &TestApp, set: &str) -> Value {
    let jwks: JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(set).unwrap();
    assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
    let kid = header.kid.expect("a kid");
    let jwk = jwks.find(&kid).expect("the signing key is in the JWKS");
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    validation.set_issuer(&[app.address.as_str()]);
    let data =
        jsonwebtoken::decode::<Value>(set, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .expect("the SET verifies");
    data.claims
}

/// The kind (the tail of the event type URI) and payload of a verified SET.
pub(crate) fn kind_of(claims: &Value) -> (String, Value) {
    let events = claims["events"].as_object().unwrap();
    assert_eq!(events.len(), 1, "one event per SET: {claims}");
    let (uri, payload) = events.iter().next().unwrap();
    (
        uri.strip_prefix(PREFIX).expect(uri).to_owned(),
        payload.clone(),
    )
}

fn cursor_key(cursor: &str) -> i64 {
    cursor.parse().unwrap()
}

fn ec_jwk() -> Value {
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let key =
        openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    Value::Object(ssa_directory::keys::jwk::public_jwk(&key, "ES256").unwrap())
}

fn connect(app: &TestApp) -> DbConnection {
    ConnectionManager::new(&ssa_directory::config::Secret::new(app.db.url.clone()))
        .unwrap()
        .open()
        .unwrap()
}

#[tokio::test]
async fn every_change_relying_parties_act_on_is_a_signed_event_in_cursor_order() {
    let app = spawn_app().await;
    let (before, start) = follow(&app, None, 1000).await;
    // The first start published the first signing key.
    let kinds: Vec<String> = {
        let mut kinds = vec![];
        for e in &before {
            kinds.push(kind_of(&verify(&app, e["set"].as_str().unwrap()).await).0);
        }
        kinds
    };
    assert!(
        kinds.contains(&"signing-key-published".to_owned()),
        "{kinds:?}"
    );

    let c = cast(&app).await;
    let software = format!("/api/v1/software/{}", c.software_id);
    app.decide(&c.operator, &software, "approve").await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &software,
            Some(&c.developer.token),
            Some(json!({"client_name": "Renamed App", "redirect_uris": ["https://app.example.com/cb2"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let keys = format!("{software}/keys");
    let (status, key) = app
        .post_json(&keys, &c.developer, json!({"jwk": ec_jwk()}))
        .await;
    assert_eq!(status, 201, "{key}");
    let kid = key["kid"].as_str().unwrap().to_owned();
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("{keys}/{kid}"),
            Some(&c.developer.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let dir = tempfile::tempdir().unwrap();
    let csr = crate::pki::make_csr(dir.path(), "leaf", "ec:prime256v1", "/CN=leaf");
    let (status, cert) = app
        .post_json(
            &format!("{software}/certificates"),
            &c.developer,
            json!({"type": "transport", "csr": csr}),
        )
        .await;
    assert_eq!(status, 201, "{cert}");
    let serial = cert["serial"].as_str().unwrap().to_owned();
    app.decide(&c.operator, &software, "suspend").await;
    app.decide(&c.operator, &software, "reinstate").await;
    let (status, body) = app
        .post_json(
            &format!("/api/v1/certificates/{serial}/revoke"),
            &c.developer,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .api(
            Method::PUT,
            &format!("/api/v1/organisations/{}/authorization-servers", c.org_id),
            Some(&c.admin.token),
            Some(json!({"authorization_servers": []})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let state = app.state.clone();
    app.state
        .db(move |conn| {
            ssa_directory::services::signing_keys::rotate(
                conn,
                &state.keyring,
                "ES256",
                &Actor::Cli,
                ssa_directory::model::keys::KeyPurpose::Ssa,
                Some(&state.mailer.composer),
                state.now(),
            )
        })
        .await
        .unwrap();

    // Page by page (2 a page) and in one page agree, and both are in cursor order.
    let (small, end) = follow(&app, Some(&start), 2).await;
    let (whole, end_whole) = follow(&app, Some(&start), 1000).await;
    assert_eq!(small, whole);
    assert_eq!(end, end_whole);
    let cursors: Vec<i64> = whole
        .iter()
        .map(|e| cursor_key(e["cursor"].as_str().unwrap()))
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    assert!(cursor_key(&start) < cursors[0]);

    let mut seen = vec![];
    let mut jtis = HashSet::new();
    for event in &whole {
        let set = event["set"].as_str().unwrap();
        let claims = verify(&app, set).await;
        assert_eq!(claims["jti"], event["jti"]);
        assert!(jtis.insert(claims["jti"].as_str().unwrap().to_owned()));
        assert!(claims["iat"].as_i64().unwrap() > 0 && claims["toe"].as_i64().unwrap() > 0);
        assert!(claims["txn"].as_str().is_some_and(|t| !t.is_empty()));
        let (kind, payload) = kind_of(&claims);
        assert_eq!(event["event_type"], format!("{PREFIX}{kind}"));
        assert!(
            !payload.to_string().contains("@"),
            "no email in a public event: {payload}"
        );
        seen.push((kind, payload));
    }
    let find = |kind: &str, pred: &dyn Fn(&Value) -> bool| {
        seen.iter()
            .position(|(k, p)| k == kind && pred(p))
            .unwrap_or_else(|| panic!("no {kind} event in {seen:#?}"))
    };
    let is = |id: &str| {
        let id = id.to_owned();
        move |p: &Value| p["subject"]["id"] == id.as_str()
    };
    let org_approved = find("organisation-status", &|p| {
        p["subject"]["id"] == c.org_id.as_str() && p["state"] == "active"
    });
    let approved = find("software-status", &|p| {
        p["subject"]["id"] == c.software_id.as_str() && p["state"] == "active"
    });
    let metadata = find("software-metadata", &is(&c.software_id));
    assert_eq!(
        seen[metadata].1["changed"],
        json!(["client_name", "redirect_uris"])
    );
    let added = find("participant-key-added", &is(&kid));
    assert_eq!(seen[added].1["subject"]["owner"], c.software_id.as_str());
    let removed = find("participant-key-removed", &is(&kid));
    let issued = find("certificate-issued", &is(&serial));
    assert_eq!(seen[issued].1["software_id"], c.software_id.as_str());
    let suspended = find("software-status", &|p| p["state"] == "suspended");
    let held = find("certificate-held", &is(&serial));
    let reinstated = find("software-status", &|p| {
        p["state"] == "active" && p["previous_state"] == "suspended"
    });
    let released = find("certificate-released", &is(&serial));
    let revoked = find("certificate-revoked", &is(&serial));
    assert_eq!(seen[revoked].1["reason"], "keyCompromise");
    let servers = find("organisation-authorization-servers", &is(&c.org_id));
    let retired = find("signing-key-retired", &|_| true);
    let activated = find("signing-key-activated", &|_| true);
    let published = find("signing-key-published", &|_| true);
    let order = [
        org_approved,
        approved,
        metadata,
        added,
        removed,
        issued,
        suspended,
        reinstated,
        revoked,
        servers,
        retired,
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    // Within one transaction the order is the order of writing; across them, commit order.
    assert!(suspended.max(held) < reinstated.min(released));
    assert!(retired < activated && activated < published);
    // A suspension and the holds it causes are one transaction.
    let txn = |i: usize| verify_txn(&whole[i]);
    assert_eq!(txn(suspended), txn(held));
    assert_eq!(txn(reinstated), txn(released));
    assert_ne!(txn(suspended), txn(reinstated));

    // The same event read again is the same bytes (signed once), also after a rotation.
    let (again, _) = follow(&app, Some(&start), 1000).await;
    assert_eq!(again, whole);

    // Nothing new: an empty page with the same cursor, at once without wait.
    let page: Value = app
        .get(&format!("/events?after={end}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page, json!({"events": [], "next_cursor": end}));
}

fn verify_txn(event: &Value) -> String {
    // The txn claim, read without verifying (verify() checked the signature already).
    claims_of(event["set"].as_str().unwrap())["txn"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_long_poll_hears_of_a_change_within_a_second_and_an_idle_one_waits_its_time() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (_, end) = follow(&app, None, 1000).await;

    let started = Instant::now();
    let page: Value = app
        .get(&format!("/events?after={end}&wait=1"))
        .await
        .json()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(page["events"], json!([]));
    assert!(waited >= Duration::from_millis(900), "{waited:?}");

    let url = app.url(&format!("/events?after={end}&wait=20"));
    let client = app.client.clone();
    let poll = tokio::spawn(async move {
        let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        (page, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "approve",
    )
    .await;
    let changed = Instant::now();
    let (page, heard) = poll.await.unwrap();
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(events[0]["event_type"], format!("{PREFIX}software-status"));
    assert!(
        heard.duration_since(changed) < Duration::from_secs(1),
        "heard {:?} after the change",
        heard.duration_since(changed)
    );
}

#[tokio::test]
async fn a_change_that_rolls_back_emits_nothing_and_one_that_commits_emits_its_event() {
    let app = spawn_app().await;
    let (_, end) = follow(&app, None, 1000).await;
    let mut conn = connect(&app);
    let at = app.state.now();
    let entry = || {
        Entry::new(
            at,
            &Actor::Cli,
            "organisation.suspend",
            "organisation",
            "org-x",
        )
        .status(Some("active"), Some("suspended"))
    };
    let failed: Result<(), diesel::result::Error> = store::write_transaction(&mut conn, |tx| {
        store::audit::record(tx, entry())?;
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(failed.is_err());
    let (events, _) = follow(&app, Some(&end), 1000).await;
    assert_eq!(
        events,
        Vec::<Value>::new(),
        "a rolled-back change emits nothing"
    );

    store::write_transaction(&mut conn, |tx| store::audit::record(tx, entry())).unwrap();
    let (events, _) = follow(&app, Some(&end), 1000).await;
    assert_eq!(events.len(), 1);
    let (kind, payload) = kind_of(&verify(&app, events[0]["set"].as_str().unwrap()).await);
    assert_eq!(kind, "organisation-status");
    assert_eq!(payload["state"], "suspended");
}

#[tokio::test]
async fn bad_feed_requests_get_a_problem_that_names_the_parameter() {
    let app = spawn_app().await;
    for (query, names) in [
        ("after=yesterday", "after"),
        ("after=1-2", "after"),
        ("after=-1", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("wait=31", "wait"),
        ("wait=-1", "wait"),
        ("limit=ten", "limit"),
        ("since=0", "since"),
    ] {
        let response = app.get(&format!("/events?{query}")).await;
        let status = response.status().as_u16();
        assert!(matches!(status, 400 | 422), "{query}: {status}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{query}"
        );
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(names),
            "{query}: {problem}"
        );
    }
}

#[tokio::test]
async fn a_cursor_past_the_retention_is_gone_and_says_how_to_resynchronise() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (events, end) = follow(&app, None, 1000).await;
    assert!(!events.is_empty());
    let first = events[0]["cursor"].as_str().unwrap().to_owned();
    let mut conn = connect(&app);
    // Everything so far is past a retention that ended a day from now.
    let later = app.state.now() + time::Duration::days(1);
    let removed =
        store::write_transaction(&mut conn, |tx| store::events::prune(tx, later)).unwrap();
    assert_eq!(removed, events.len());

    for old in ["0", first.as_str()] {
        let response = app.get(&format!("/events?after={old}")).await;
        assert_eq!(response.status(), 410, "{old}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], "urn:ssa-directory:problem:gone");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("/status/software"),
            "{problem}"
        );
    }
    // The newest removed cursor is the horizon: following from it misses nothing.
    let (none, _) = follow(&app, Some(&end), 1000).await;
    assert!(none.is_empty());
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "approve",
    )
    .await;
    let (fresh, _) = follow(&app, None, 1000).await;
    assert_eq!(fresh.len(), 1);
    let (from_end, _) = follow(&app, Some(&end), 1000).await;
    assert_eq!(fresh, from_end);
}

/// How the slow transaction of [`round`] writes its event.
#[derive(Clone, Copy, PartialEq)]
enum Slow {
    /// Through `write_transaction`, as every service does: the event is staged and takes its
    /// id last, so a transaction that began first and commits last is read last.
    Staged,
    /// Written at once in a plain transaction: it holds the counter until it commits, so
    /// every other writer waits and nothing overtakes it.
    Immediate,
}

/// Twenty writers add keys through both instances while a slow transaction is open; a reader
/// follows the feed through both instances meanwhile. Returns what the reader saw, the
/// writers' kids and where the slow transaction's event is among the 21.
async fn round(
    app: &TestApp,
    sibling: &TestApp,
    c: &crate::helpers::Cast,
    slow_mode: Slow,
    tag: &'static str,
) -> (Vec<(String, String)>, Vec<String>, usize) {
    const WRITES: usize = 20;
    let (_, start) = follow(app, None, 1000).await;
    let mut slow = connect(app);
    let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
    let (written_tx, written_rx) = std::sync::mpsc::channel::<()>();
    let at = app.state.now();
    let slow_writer = std::thread::spawn(move || {
        let entry = Entry::new(at, &Actor::Cli, "organisation.suspend", "organisation", tag)
            .status(Some("active"), Some("suspended"));
        let work = |tx: &mut DbConnection| {
            store::audit::record(tx, entry)?;
            written_tx.send(()).unwrap();
            hold_rx.recv().unwrap();
            Ok::<_, diesel::result::Error>(())
        };
        match slow_mode {
            Slow::Staged => store::write_transaction(&mut slow, work),
            Slow::Immediate => diesel::Connection::transaction(&mut slow, work),
        }
        .unwrap();
    });
    written_rx.recv().unwrap();

    let reader = {
        let (a, b) = (app.url(""), sibling.url(""));
        let client = app.client.clone();
        let start = start.clone();
        tokio::spawn(async move {
            let mut cursor = start;
            let mut seen: Vec<(String, String)> = vec![];
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut turn = 0;
            while seen.len() < WRITES + 1 && Instant::now() < deadline {
                let base = if turn % 2 == 0 { &a } else { &b };
                turn += 1;
                let page: Value = client
                    .get(format!("{base}/events?after={cursor}&limit=7&wait=2"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                for event in page["events"].as_array().unwrap() {
                    seen.push((
                        event["cursor"].as_str().unwrap().to_owned(),
                        event["jti"].as_str().unwrap().to_owned(),
                    ));
                }
                cursor = page["next_cursor"].as_str().unwrap().to_owned();
            }
            seen
        })
    };
    // Ten keys for the product and ten for its organisation, half through each instance.
    let product_keys = format!("/api/v1/software/{}/keys", c.software_id);
    let org_keys = format!("/api/v1/organisations/{}/keys", c.org_id);
    let mut writers = vec![];
    for i in 0..WRITES {
        let keys = if i < WRITES / 2 {
            &product_keys
        } else {
            &org_keys
        };
        let target = if i % 2 == 0 {
            app.url(keys)
        } else {
            sibling.url(keys)
        };
        let client = app.client.clone();
        let token = c.admin.token.clone();
        writers.push(tokio::spawn(async move {
            let response = client
                .post(target)
                .bearer_auth(token)
                .json(&json!({"jwk": ec_jwk()}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let key: Value = response.json().await.unwrap();
            assert_eq!(status, 201, "{key}");
            key["kid"].as_str().unwrap().to_owned()
        }));
    }
    // Let the writers commit (staged) or queue behind the counter (immediate).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    if slow_mode == Slow::Immediate {
        assert!(
            writers.iter().all(|w| !w.is_finished()),
            "no writer commits while an earlier event's transaction is open"
        );
    }
    hold_tx.send(()).unwrap();
    tokio::task::spawn_blocking(move || slow_writer.join().unwrap())
        .await
        .unwrap();
    let mut kids = vec![];
    for writer in writers {
        kids.push(writer.await.unwrap());
    }
    let seen = reader.await.unwrap();

    assert_eq!(seen.len(), WRITES + 1, "{seen:?}");
    let cursors: Vec<i64> = seen.iter().map(|(c, _)| cursor_key(c)).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    assert_eq!(
        cursors.last().unwrap() - cursors[0],
        WRITES as i64,
        "no gaps"
    );
    let jtis: HashSet<&String> = seen.iter().map(|(_, j)| j).collect();
    assert_eq!(jtis.len(), WRITES + 1, "every event exactly once");
    // Everything the reader saw is what the feed holds, and the writers' keys are all there.
    let (whole, _) = follow(app, Some(&start), 1000).await;
    assert_eq!(
        whole
            .iter()
            .map(|e| (
                e["cursor"].as_str().unwrap().to_owned(),
                e["jti"].as_str().unwrap().to_owned()
            ))
            .collect::<Vec<_>>(),
        seen
    );
    let mut added = HashSet::new();
    let mut slow_at = None;
    for (i, event) in whole.iter().enumerate() {
        let (kind, payload) = kind_of(&verify(app, event["set"].as_str().unwrap()).await);
        if payload["subject"]["id"] == tag {
            slow_at = Some(i);
        } else {
            assert_eq!(kind, "participant-key-added");
            added.insert(payload["subject"]["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(added, kids.iter().cloned().collect::<HashSet<_>>());
    (seen, kids, slow_at.expect("the slow transaction's event"))
}

/// Two instances on one PostgreSQL write concurrently while one transaction stays open: a
/// reader following the feed through both instances sees every event exactly once, in cursor
/// order, without gaps, and never one with a smaller cursor after a larger one.
#[tokio::test]
async fn concurrent_writers_on_two_instances_never_reorder_the_feed() {
    let app = spawn_app().await;
    if !app.db.is_postgres() {
        // One writer at a time on SQLite: there is no commit order to get wrong.
        return;
    }
    let sibling = spawn_sibling(&app).await;
    let c = cast(&app).await;
    app.decide(
        &c.operator,
        &format!("/api/v1/software/{}", c.software_id),
        "approve",
    )
    .await;
    // Keys are limited per owner: remove each round's keys before the next.
    let (_, kids, slow_at) = round(&app, &sibling, &c, Slow::Staged, "staged").await;
    assert_eq!(slow_at, 20, "began first, committed last, read last");
    for kid in kids {
        for keys in [
            format!("/api/v1/software/{}/keys/{kid}", c.software_id),
            format!("/api/v1/organisations/{}/keys/{kid}", c.org_id),
        ] {
            app.api(Method::DELETE, &keys, Some(&c.admin.token), None)
                .await;
        }
    }
    let (_, _, slow_at) = round(&app, &sibling, &c, Slow::Immediate, "immediate").await;
    assert_eq!(
        slow_at, 0,
        "took its id first, so everyone waited and it is read first"
    );
}

/// The snapshot names the event cursor it is consistent with; applying the events after it
/// to the snapshot gives the state a fresh snapshot shows.
#[tokio::test]
async fn a_snapshot_then_the_feed_from_its_cursor_equals_the_final_state() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let other = app.register(&c.outsider, &c.other_org_id, "sandbox").await;
    let snapshot = |app: &TestApp| {
        let url = app.url("/status/software?limit=1000");
        let client = app.client.clone();
        async move {
            let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            crate::helpers::assert_conforms("StatusSnapshot", &body);
            body
        }
    };
    let before = snapshot(&app).await;
    let cursor = before["event_cursor"].as_str().unwrap().to_owned();
    let mut state: std::collections::HashMap<String, (String, String, String)> = before["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["software_id"].as_str().unwrap().to_owned(),
                (
                    s["org_id"].as_str().unwrap().to_owned(),
                    s["software_status"].as_str().unwrap().to_owned(),
                    s["org_status"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();

    let software = format!("/api/v1/software/{}", c.software_id);
    app.decide(&c.operator, &software, "approve").await;
    app.decide(&c.operator, &format!("/api/v1/software/{other}"), "approve")
        .await;
    app.decide(&c.operator, &software, "suspend").await;
    app.decide(
        &c.operator,
        &format!("/api/v1/organisations/{}", c.other_org_id),
        "suspend",
    )
    .await;

    let (events, _) = follow(&app, Some(&cursor), 1000).await;
    for event in &events {
        let (kind, payload) = kind_of(&verify(&app, event["set"].as_str().unwrap()).await);
        let id = payload["subject"]["id"].as_str().unwrap().to_owned();
        let new = payload["state"].as_str().unwrap_or_default().to_owned();
        match kind.as_str() {
            "software-status" => state.get_mut(&id).unwrap().1 = new,
            "organisation-status" => {
                for (org, _, org_status) in state.values_mut() {
                    if *org == id {
                        *org_status = new.clone();
                    }
                }
            }
            _ => {}
        }
    }
    let after = snapshot(&app).await;
    for s in after["items"].as_array().unwrap() {
        let id = s["software_id"].as_str().unwrap();
        let (_, software_status, org_status) = &state[id];
        assert_eq!(s["software_status"], software_status.as_str(), "{id}");
        assert_eq!(s["org_status"], org_status.as_str(), "{id}");
    }
    assert_eq!(after["items"].as_array().unwrap().len(), state.len());
    assert!(cursor_key(after["event_cursor"].as_str().unwrap()) > cursor_key(&cursor));
}

/// Decodes a JWT's claims without checking them (the statements' own tests verify them).
fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_statement_has_its_own_status_and_members_revoke_it_with_a_reason_and_an_event() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let software = format!("/api/v1/software/{}", c.software_id);
    app.decide(&c.operator, &software, "approve").await;
    let issue = || async {
        let response = app
            .client
            .post(app.url(&format!("{software}/ssa")))
            .bearer_auth(&c.developer.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        claims_of(&response.text().await.unwrap())["jti"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let jti = issue().await;
    let kept = issue().await;
    let status = |jti: String| {
        let url = app.url(&format!("/status/ssa/{jti}"));
        let client = app.client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            let code = response.status().as_u16();
            (code, response.json::<Value>().await.unwrap())
        }
    };
    let (code, body) = status(jti.clone()).await;
    assert_eq!(code, 200, "{body}");
    crate::helpers::assert_conforms("StatementStatus", &body);
    assert_eq!(body["state"], "issued");
    assert_eq!(body["usable"], true);
    assert_eq!(body["software"]["software_id"], c.software_id.as_str());
    let (code, _) = status("no-such-jti".into()).await;
    assert_eq!(code, 404);

    let (_, end) = follow(&app, None, 1000).await;
    let revoke = format!("/api/v1/ssa/{jti}/revoke");
    let (code, body) = app
        .post_json(&revoke, &c.outsider, json!({"reason": "not mine"}))
        .await;
    assert_eq!(
        code, 404,
        "another organisation's statement is not found: {body}"
    );
    let (code, body) = app
        .post_json(&revoke, &c.developer, json!({"reason": "  "}))
        .await;
    assert_eq!(code, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("reason"));
    let (code, body) = app
        .post_json(
            &revoke,
            &c.developer,
            json!({"reason": "the device was lost"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["state"], "revoked");
    assert_eq!(body["usable"], false);
    assert_eq!(body["revocation_reason"], "the device was lost");
    let (code, _) = app
        .post_json(&revoke, &c.developer, json!({"reason": "again"}))
        .await;
    assert_eq!(code, 409);
    let (_, body) = status(jti.clone()).await;
    assert_eq!(body["state"], "revoked");

    let (events, _) = follow(&app, Some(&end), 1000).await;
    assert_eq!(events.len(), 1);
    let (kind, payload) = kind_of(&verify(&app, events[0]["set"].as_str().unwrap()).await);
    assert_eq!(kind, "statement-revoked");
    assert_eq!(payload["subject"]["type"], "statement");
    assert_eq!(payload["subject"]["id"], jti.as_str());
    assert_eq!(payload["subject"]["software_id"], c.software_id.as_str());
    assert_eq!(payload["reason"], "the device was lost");

    // A statement of a suspended product is issued but not usable.
    app.decide(&c.operator, &software, "suspend").await;
    let (_, body) = status(kept).await;
    assert_eq!(body["state"], "issued");
    assert_eq!(body["usable"], false);
    assert_eq!(body["software"]["status"], "suspended");
}

#[tokio::test]
async fn the_snapshot_pages_by_key_and_since_lists_only_what_changed() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let mut products = vec![c.software_id.clone()];
    for _ in 0..4 {
        products.push(app.register(&c.developer, &c.org_id, "sandbox").await);
    }
    let other = app.register(&c.outsider, &c.other_org_id, "sandbox").await;
    products.push(other.clone());
    products.sort();

    // Page by page, two at a time, by software id.
    let mut seen = vec![];
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/status/software?limit=2&after={a}"),
            None => "/status/software?limit=2".to_owned(),
        };
        let page: Value = app.get(&path).await.json().await.unwrap();
        crate::helpers::assert_conforms("StatusSnapshot", &page);
        for item in page["items"].as_array().unwrap() {
            seen.push(item["software_id"].as_str().unwrap().to_owned());
        }
        match page.get("next") {
            Some(next) => after = Some(next.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, products);

    // Only what changed since a cursor: one product, then every product of an organisation.
    let cursor = {
        let page: Value = app
            .get("/status/software?limit=1")
            .await
            .json()
            .await
            .unwrap();
        page["event_cursor"].as_str().unwrap().to_owned()
    };
    let since = |cursor: String| {
        let url = app.url(&format!("/status/software?limit=1000&since={cursor}"));
        let client = app.client.clone();
        async move {
            let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            let mut ids: Vec<String> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["software_id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            (ids, page["event_cursor"].as_str().unwrap().to_owned())
        }
    };
    assert_eq!(since(cursor.clone()).await.0, Vec::<String>::new());
    app.decide(&c.operator, &format!("/api/v1/software/{other}"), "approve")
        .await;
    let (changed, later) = since(cursor.clone()).await;
    assert_eq!(changed, vec![other.clone()]);
    app.decide(
        &c.operator,
        &format!("/api/v1/organisations/{}", c.org_id),
        "suspend",
    )
    .await;
    let (changed, _) = since(later).await;
    let mut mine: Vec<String> = products.iter().filter(|p| **p != other).cloned().collect();
    mine.sort();
    assert_eq!(
        changed, mine,
        "an organisation's suspension concerns all its products"
    );

    for (query, name) in [
        ("after=nope", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("since=x", "since"),
        ("page=2", "page"),
    ] {
        let response = app.get(&format!("/status/software?{query}")).await;
        let status = response.status().as_u16();
        assert!(matches!(status, 400 | 422), "{query}: {status}");
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(name),
            "{query}: {problem}"
        );
    }
}
