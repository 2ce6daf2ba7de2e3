//! The operator's console and what banks ask of the directory's records: certificate
//! validation as a service.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_documented, spawn_app, spawn_app_with};
use crate::verifier::approved;

const VALIDATE: &str = "/api/v1/certificates/validate";

/// Asks the directory to validate `pem` as `user`: the status and the answer, which the
/// document describes.
async fn validate(app: &TestApp, user: &TestUser, pem: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(VALIDATE))
        .bearer_auth(&user.token)
        .json(&json!({"certificate": pem}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_documented(
        &Method::POST,
        VALIDATE,
        status,
        content_type.as_deref(),
        &body,
    );
    (status, body)
}

#[tokio::test]
async fn a_bank_learns_what_the_directory_knows_of_a_certificate_it_was_presented() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let folder = tempfile::tempdir().unwrap();
    let (issued, _) =
        crate::registrar::transport_certificate(&app, &c, &c.software_id, folder.path()).await;
    let pem = issued["certificate"].as_str().unwrap();
    let chain = format!("{pem}{}", issued["chain"].as_str().unwrap());
    // The bank is a member of another active organisation.
    let bank = &c.outsider;

    // Good, with the chain after it as a client sends it.
    let (status, good) = validate(&app, bank, &chain).await;
    assert_eq!(status, 200, "{good}");
    assert_eq!(good["valid"], true, "{good}");
    assert_eq!(good["problems"], json!([]));
    assert_eq!(good["chains_to_directory"], true);
    assert_eq!(good["status"], "good");
    assert_eq!(good["validity"], "valid");
    assert_eq!(good["type"], "transport");
    assert_eq!(good["serial"], issued["serial"]);
    assert_eq!(good["subject"], issued["subject"]);
    assert_eq!(good["not_after"], issued["not_after"]);
    assert_eq!(good["organisation"]["id"], c.org_id.as_str());
    assert_eq!(good["organisation"]["status"], "active");
    assert_eq!(good["software"]["id"], c.software_id.as_str());
    assert_eq!(good["software"]["status"], "active");
    assert_eq!(good["log_index"], issued["log_index"]);
    assert!(good["log_index"].is_i64(), "{good}");
    assert!(good["issuer"].as_str().unwrap().contains("CN="), "{good}");
    let der = openssl::x509::X509::from_pem(pem.as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    assert_eq!(
        good["sha256"],
        hex::encode(openssl::sha::sha256(&der)).as_str()
    );

    // On hold while its product is suspended, good again once reinstated.
    let software = format!("/api/v1/software/{}", c.software_id);
    app.decide(&c.operator, &software, "suspend").await;
    let (_, held) = validate(&app, bank, pem).await;
    assert_eq!(held["valid"], false);
    assert_eq!(held["status"], "hold");
    assert_eq!(held["revocation_reason"], "certificateHold");
    assert!(held["revoked_at"].is_string(), "{held}");
    assert_eq!(held["software"]["status"], "suspended");
    let problems = held["problems"].to_string();
    assert!(
        problems.contains("on hold") && problems.contains("its software is suspended"),
        "{problems}"
    );
    app.decide(&c.operator, &software, "reinstate").await;
    let (_, released) = validate(&app, bank, pem).await;
    assert_eq!(released["status"], "good", "{released}");
    assert_eq!(released["valid"], true, "{released}");

    // Revoked for good, with the reason and time.
    let (status, body) = app
        .post_json(
            &format!(
                "/api/v1/certificates/{}/revoke",
                issued["serial"].as_str().unwrap()
            ),
            &c.developer,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, revoked) = validate(&app, bank, pem).await;
    assert_eq!(revoked["valid"], false);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revocation_reason"], "keyCompromise");
    assert_eq!(revoked["revoked_at"], body["revoked_at"]);

    // A certificate of another CA, even one that copies the serial and subject, is not ours.
    let (foreign_cert, _) = crate::helpers::tls_files(folder.path());
    let foreign = std::fs::read_to_string(foreign_cert).unwrap();
    let (status, unknown) = validate(&app, bank, &foreign).await;
    assert_eq!(status, 200, "{unknown}");
    assert_eq!(unknown["valid"], false);
    assert_eq!(unknown["chains_to_directory"], false);
    assert_eq!(unknown["status"], "unknown");
    assert!(unknown["issuer"].is_null() && unknown["organisation"].is_null());
    assert!(unknown["type"].is_null() && unknown["log_index"].is_null());
    assert!(
        unknown["problems"]
            .to_string()
            .contains("not signed by the directory's CA"),
        "{unknown}"
    );

    // What is not a certificate: 422 saying so.
    for garbage in [
        "hello".to_owned(),
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
            .to_owned(),
        pem.replace("-----END CERTIFICATE-----", ""),
    ] {
        let (status, problem) = validate(&app, bank, &garbage).await;
        assert_eq!(status, 422, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with("certificate:"),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn validation_is_for_participants_and_machines_with_directory_read_and_is_rate_limited() {
    let app = spawn_app_with(|c| c.validations_per_minute = 3).await;
    let c = approved(&app).await;
    let folder = tempfile::tempdir().unwrap();
    let (issued, _) =
        crate::registrar::transport_certificate(&app, &c, &c.software_id, folder.path()).await;
    let pem = issued["certificate"].as_str().unwrap();

    // An account of no organisation is not a participant.
    let stranger = app.user("stranger@nowhere.example", false).await;
    let (status, problem) = validate(&app, &stranger, pem).await;
    assert_eq!(status, 403, "{problem}");
    let (status, _) = validate(&app, &c.operator, pem).await;
    assert_eq!(status, 200);

    // A machine client with directory:read; one without it is refused.
    let client = crate::oauth::client(&app, &c, &c.software_id).await;
    let token = client.token(&app, Some("directory:read")).await;
    let token = token["access_token"].as_str().unwrap();
    let (status, _, body) = client
        .call(
            &app,
            Method::POST,
            VALIDATE,
            token,
            Some(json!({"certificate": pem})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["status"], "good");
    let narrow = client.token(&app, Some("ssa:issue")).await;
    let narrow = narrow["access_token"].as_str().unwrap();
    let (status, _, body) = client
        .call(
            &app,
            Method::POST,
            VALIDATE,
            narrow,
            Some(json!({"certificate": pem})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("directory:read"), "{body}");

    // Three a minute for each caller: the developer's fourth waits; others are not slowed.
    for _ in 0..3 {
        assert_eq!(validate(&app, &c.developer, pem).await.0, 200);
    }
    let response = app
        .client
        .post(app.url(VALIDATE))
        .bearer_auth(&c.developer.token)
        .json(&json!({"certificate": pem}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(validate(&app, &c.admin, pem).await.0, 200);
}

/// An organisation applied for with these roles and country, approved by `operator`.
async fn participant(
    app: &TestApp,
    operator: &TestUser,
    n: usize,
    roles: &[&str],
    country: &str,
) -> String {
    let admin = app
        .user(&format!("admin{n}@participant.example"), false)
        .await;
    let mut application = crate::helpers::application(roles);
    application["legal_name"] = json!(format!("Participant {n} Ltd"));
    application["country"] = json!(country);
    let (status, body) = app
        .post_json("/api/v1/organisations", &admin, application)
        .await;
    assert_eq!(status, 201, "{body}");
    let org = body["id"].as_str().unwrap().to_owned();
    app.decide(operator, &format!("/api/v1/organisations/{org}"), "approve")
        .await;
    org
}

async fn participants(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/participants{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    let body: Value = response.json().await.unwrap();
    assert_documented(
        &Method::GET,
        "/participants",
        200,
        Some("application/json"),
        &body,
    );
    body
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["org_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn participants_are_prepared_with_an_etag_and_paged_and_filtered_for_those_who_sync() {
    let app = spawn_app().await;
    let c = crate::helpers::cast(&app).await;
    let operator = &c.operator;
    let mut orgs = vec![c.org_id.clone(), c.other_org_id.clone()];
    orgs.push(participant(&app, operator, 1, &["ASPSP"], "BR").await);
    let brazilian_aisp = participant(&app, operator, 2, &["AISP"], "BR").await;
    orgs.push(brazilian_aisp.clone());
    orgs.push(participant(&app, operator, 3, &["ASPSP", "PISP"], "GB").await);
    orgs.sort();

    // The whole list: prepared bytes with an ETag, 304 while nothing changed.
    let whole = app.get("/participants").await;
    let etag = whole.headers()["etag"].to_str().unwrap().to_owned();
    let whole: Value = whole.json().await.unwrap();
    assert_eq!(whole.as_object().unwrap().len(), 1, "only items: {whole}");
    assert_eq!(ids(&whole).len(), 5);
    let again = app
        .client
        .get(app.url("/participants"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // Another instance serves the same bytes; a change shows on both.
    let sibling = crate::helpers::spawn_sibling(&app).await;
    let there = sibling.get("/participants").await;
    assert_eq!(there.headers()["etag"].to_str().unwrap(), etag);
    let fourth = participant(&app, operator, 4, &["CBPII"], "PT").await;
    orgs.push(fourth.clone());
    orgs.sort();
    for instance in [&app, &sibling] {
        let changed = instance.get("/participants").await;
        assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
        let changed: Value = changed.json().await.unwrap();
        assert!(ids(&changed).contains(&fourth));
    }

    // Pages of two by organisation id, each pointing at the next.
    let mut seen = vec![];
    let mut query = "?limit=2".to_owned();
    let first = participants(&app, &query).await;
    let cursor = first["event_cursor"].as_str().unwrap().to_owned();
    let mut page = first;
    loop {
        let items = ids(&page);
        assert!(items.len() <= 2);
        seen.extend(items);
        match page["next"].as_str() {
            Some(next) => {
                query = format!("?limit=2&after={next}");
                page = participants(&app, &query).await;
            }
            None => break,
        }
    }
    assert_eq!(seen, orgs, "every participant once, in id order");

    // Filters: role and country.
    let aspsps = participants(&app, "?role=ASPSP").await;
    assert_eq!(ids(&aspsps).len(), 2, "{aspsps}");
    assert!(
        aspsps["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["roles"].to_string().contains("ASPSP"))
    );
    let brazil = participants(&app, "?country=br&role=AISP").await;
    assert_eq!(ids(&brazil), vec![brazilian_aisp]);
    assert_eq!(brazil["items"][0]["country"], "BR");

    // Since a cursor: what changed, and what left.
    let nothing = participants(&app, &format!("?since={cursor}")).await;
    assert_eq!(ids(&nothing), Vec::<String>::new(), "{nothing}");
    assert_eq!(nothing["removed"], json!([]));
    app.decide(
        operator,
        &format!("/api/v1/organisations/{fourth}"),
        "suspend",
    )
    .await;
    let left = participants(&app, &format!("?since={cursor}")).await;
    assert_eq!(left["removed"], json!([fourth]), "{left}");
    assert!(!ids(&app_list(&app).await).contains(&fourth));
    app.decide(
        operator,
        &format!("/api/v1/organisations/{fourth}"),
        "reinstate",
    )
    .await;
    let back = participants(&app, &format!("?since={cursor}")).await;
    assert_eq!(ids(&back), vec![fourth.clone()], "{back}");
    assert_eq!(back["removed"], json!([]));

    // Bad parameters: 422 naming the parameter.
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?after=nope", "after"),
        ("?role=BANK", "role"),
        ("?country=GBR", "country"),
        ("?since=x", "since"),
    ] {
        let response = app.get(&format!("/participants{query}")).await;
        assert_eq!(response.status(), 422, "{query}");
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().starts_with(field),
            "{problem}"
        );
    }
}

async fn app_list(app: &TestApp) -> Value {
    app.get("/participants").await.json().await.unwrap()
}

/// The operator's search for `q` (with extra query pairs): status and answer.
async fn search(app: &TestApp, user: &TestUser, q: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut pairs = vec![("q", q)];
    pairs.extend_from_slice(extra);
    let response = app
        .client
        .get(url::Url::parse_with_params(&app.url("/api/v1/search"), &pairs).unwrap())
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_documented(
        &Method::GET,
        "/api/v1/search",
        status,
        content_type.as_deref(),
        &body,
    );
    (status, body)
}

/// The ids of `kind` an answer holds, and what each matched.
fn found(answer: &Value, kind: &str) -> Vec<(String, String)> {
    answer["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["kind"] == kind)
        .flat_map(|g| g["items"].as_array().unwrap().iter())
        .map(|h| {
            (
                h["id"].as_str().unwrap().to_owned(),
                h["matched"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_operator_finds_anything_by_any_identifier_or_any_part_of_a_name() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let operator = &c.operator;
    let org = participant(&app, operator, 1, &["ASPSP"], "BR").await;
    let second = participant(&app, operator, 2, &["AISP"], "BR").await;
    participant(&app, operator, 3, &["AISP"], "GB").await;
    let statement = crate::verifier::issue(&app, &c).await;
    let jti = crate::verifier::parts(&statement).1["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, kid) = crate::verifier::publish_key(&app, &c).await;
    let folder = tempfile::tempdir().unwrap();
    let (issued, _) =
        crate::registrar::transport_certificate(&app, &c, &c.software_id, folder.path()).await;
    let (_, product) = app
        .get_json(&format!("/api/v1/software/{}", c.software_id), &c.developer)
        .await;
    let client_id = product["client_id"].as_str().unwrap().to_owned();
    let pem = issued["certificate"].as_str().unwrap();
    let der = openssl::x509::X509::from_pem(pem.as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    let fingerprint = hex::encode(openssl::sha::sha256(&der));
    let serial = issued["serial"].as_str().unwrap().to_owned();
    let subject = issued["subject"].as_str().unwrap().to_owned();

    let cases: Vec<(String, &str, String, &str)> = vec![
        ("PARTICIPANT 1".into(), "organisation", org.clone(), "name"),
        (org.clone(), "organisation", org.clone(), "org id"),
        (
            "123456".into(),
            "organisation",
            org.clone(),
            "authority registration id",
        ),
        (
            "12345678".into(),
            "organisation",
            org.clone(),
            "registration number",
        ),
        (
            c.software_id.clone(),
            "software",
            c.software_id.clone(),
            "software id",
        ),
        (
            client_id.clone(),
            "software",
            c.software_id.clone(),
            "client id",
        ),
        (
            "Dev@Fintech.example".into(),
            "account",
            c.developer.id.clone(),
            "email",
        ),
        (
            serial.to_lowercase(),
            "certificate",
            serial.clone(),
            "serial",
        ),
        (subject.clone(), "certificate", serial.clone(), "subject"),
        (
            fingerprint.to_uppercase(),
            "certificate",
            serial.clone(),
            "sha256",
        ),
        (kid.clone(), "key", kid.clone(), "kid"),
        (jti.clone(), "statement", jti.clone(), "jti"),
    ];
    for (q, kind, id, matched) in cases {
        let (status, answer) = search(&app, operator, &q, &[]).await;
        assert_eq!(status, 200, "{answer}");
        assert!(
            found(&answer, kind).contains(&(id.clone(), matched.to_owned())),
            "{q:?} should find {kind} {id} by {matched}: {answer:#}"
        );
    }
    let (_, nothing) = search(&app, operator, "no such thing anywhere", &[]).await;
    assert_eq!(nothing["groups"], json!([]));

    // Any part of a name, from three characters, in any case; a shorter query is a prefix,
    // and LIKE's wildcards are plain characters.
    let named = |answer: &Value, kind: &str| -> Vec<String> {
        found(answer, kind)
            .into_iter()
            .filter(|(_, how)| how == "name")
            .map(|(id, _)| id)
            .collect()
    };
    let (_, middle) = search(&app, operator, "ICIPANT 2", &[]).await;
    assert_eq!(
        named(&middle, "organisation"),
        vec![second.clone()],
        "{middle}"
    );
    let (_, budgeting) = search(&app, operator, "budgeting", &[]).await;
    assert!(
        named(&budgeting, "software").contains(&c.software_id),
        "{budgeting}"
    );
    let (_, short) = search(&app, operator, "pa", &[]).await;
    assert_eq!(named(&short, "organisation").len(), 3, "{short}");
    let (_, short_middle) = search(&app, operator, "lt", &[]).await;
    assert!(
        named(&short_middle, "organisation").is_empty(),
        "{short_middle}"
    );
    for wildcard in ["nt_1", "nt%1", "a\\nt"] {
        let (status, literal) = search(&app, operator, wildcard, &[]).await;
        assert_eq!(status, 200, "{literal}");
        assert!(
            named(&literal, "organisation").is_empty(),
            "{wildcard}: {literal}"
        );
    }

    // Names a page at a time: one per page, each page after the last.
    let mut names = vec![];
    let (_, mut page) = search(&app, operator, "participant", &[("limit", "1")]).await;
    loop {
        let group = page["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["kind"] == "organisation")
            .cloned()
            .unwrap();
        names.extend(found(&page, "organisation").into_iter().map(|(id, _)| id));
        let Some(next) = group["next"].as_str() else {
            break;
        };
        page = search(
            &app,
            operator,
            "participant",
            &[("limit", "1"), ("kind", "organisation"), ("after", next)],
        )
        .await
        .1;
    }
    assert_eq!(names.len(), 3, "{names:?}");
    names.dedup();
    assert_eq!(names.len(), 3, "no participant twice");

    // Operators only; a bad query is a 422.
    assert_eq!(search(&app, &c.developer, &org, &[]).await.0, 403);
    assert_eq!(search(&app, operator, " ", &[]).await.0, 422);
    assert_eq!(
        search(
            &app,
            operator,
            "x",
            &[("kind", "organisation"), ("after", "nope!")]
        )
        .await
        .0,
        422
    );

    // The portal: the search box's page lists the hits with links.
    let html = crate::helpers::portal_page(
        &app,
        operator,
        &format!("/operator/search?q={}", c.software_id),
    )
    .await;
    assert!(html.contains("id=\"results-software\""), "{html}");
    assert!(html.contains(&format!("href=\"/software/{}\"", c.software_id)));
    assert!(html.contains("id=\"header-search\""));

    // A certificate recorded before fingerprints were kept is found by its fingerprint once
    // the directory has started again.
    // On SQLite, a name index that fell behind its table (as a VACUUM leaves it) is rebuilt
    // then too.
    let sqlite = {
        use diesel::connection::SimpleConnection;
        let mut conn = app.state.pool.get().unwrap();
        conn.batch_execute("UPDATE certificates SET sha256 = NULL")
            .unwrap();
        let sqlite = matches!(*conn, ssa_directory::store::DbConnection::Sqlite(_));
        if sqlite {
            conn.batch_execute(&format!(
                "INSERT INTO organisation_names (organisation_names, rowid, legal_name) \
                 SELECT 'delete', rowid, legal_name FROM organisations WHERE id = '{second}'"
            ))
            .unwrap();
            let (_, lost) = search(&app, operator, "ICIPANT 2", &[]).await;
            assert!(named(&lost, "organisation").is_empty(), "{lost}");
        }
        sqlite
    };
    let (_, before) = search(&app, operator, &fingerprint, &[]).await;
    assert!(found(&before, "certificate").is_empty(), "{before}");
    let app = app.restart().await;
    let (_, middle) = search(&app, operator, "ICIPANT 2", &[]).await;
    assert_eq!(
        named(&middle, "organisation"),
        vec![second.clone()],
        "rebuilt on SQLite ({sqlite}): {middle}"
    );
    let (_, after) = search(&app, operator, &fingerprint, &[]).await;
    assert_eq!(
        found(&after, "certificate"),
        vec![(serial.clone(), "sha256".to_owned())],
        "{after}"
    );
}

#[tokio::test]
async fn the_audit_log_exports_as_csv_with_its_filters_through_the_api_and_the_portal() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    // More events than one page of the export (1,000): the stream goes on past it.
    {
        let mut conn = app.state.pool.get().unwrap();
        for n in 0..1203 {
            ssa_directory::store::audit::record(
                &mut conn,
                ssa_directory::model::audit::Entry::new(
                    app.state.now(),
                    &ssa_directory::model::Actor::System,
                    "test.event",
                    "organisation",
                    format!("subject-{n}"),
                )
                .reason(Some("a reason, with a comma and \"quotes\"")),
            )
            .unwrap();
        }
    }
    let export = |query: &'static str, accept: Option<&'static str>| {
        let mut request = app
            .client
            .get(app.url(&format!("/api/v1/audit{query}")))
            .bearer_auth(&c.operator.token);
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        request.send()
    };
    let response = export("?format=csv&action=test.event", None).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("audit.csv")
    );
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "occurred_at",
            "actor",
            "action",
            "subject_type",
            "subject_id",
            "organisation_id",
            "old_status",
            "new_status",
            "reason",
            "details"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.len(),
        1203,
        "every event of the filter, and only those"
    );
    assert!(rows.iter().all(|r| &r[3] == "test.event"));
    assert_eq!(&rows[0][5], "subject-1202", "newest first");
    assert_eq!(&rows[1202][5], "subject-0");
    assert_eq!(&rows[0][9], "a reason, with a comma and \"quotes\"");
    let ids: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "no event twice");

    // Accept: text/csv asks the same; an organisation's filter keeps only its events.
    let by_accept = export("?action=organisation.approve", Some("text/csv"))
        .await
        .unwrap();
    assert_eq!(
        by_accept.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let text = by_accept.text().await.unwrap();
    assert!(text.contains(&c.org_id), "{text}");
    assert_eq!(export("?format=xml", None).await.unwrap().status(), 422);

    // Operators only.
    let refused = app
        .client
        .get(app.url("/api/v1/audit?format=csv"))
        .bearer_auth(&c.developer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    // The portal's export button downloads the filtered log.
    let browser = crate::helpers::portal_session(&app, &c.operator).await;
    let download = browser
        .get(
            app.url("/audit/export?action=test.event&actor=&subject_id=subject-7&organisation_id="),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    let text = download.text().await.unwrap();
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][5], "subject-7");
    let page = crate::helpers::portal_page(&app, &c.operator, "/audit").await;
    assert!(page.contains("id=\"audit-export\""));
}

#[tokio::test]
async fn a_signed_in_visitor_keeps_their_header_on_error_pages() {
    let app = spawn_app().await;
    let operator = app.user("operator@directory.example", true).await;
    let browser = crate::helpers::portal_session(&app, &operator).await;
    let page = browser
        .get(app.url("/no/such/page"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    let html = page.text().await.unwrap();
    assert!(html.contains("There is no page at this address."), "{html}");
    assert!(
        html.contains("id=\"signed-in-as\"") && html.contains("id=\"header-search\""),
        "{html}"
    );
    assert!(!html.contains("href=\"/signup\""), "{html}");
    // Error pages a handler fails with keep it too: a member on an operator's page (403), and
    // on another organisation's page (404).
    let member = app.user("dev@fintech.example", false).await;
    let browser = crate::helpers::portal_session(&app, &member).await;
    let elsewhere = format!("/organisations/{}", uuid::Uuid::new_v4());
    for (path, status) in [("/audit", 403), (elsewhere.as_str(), 404)] {
        let page = browser
            .get(app.url(path))
            .header("Accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), status, "{path}");
        let html = page.text().await.unwrap();
        assert!(
            html.contains("id=\"signed-in-as\"") && html.contains("dev@fintech.example"),
            "{path}: {html}"
        );
        assert!(!html.contains("href=\"/signup\""), "{path}: {html}");
        assert!(!html.contains("id=\"header-search\""), "{path}: {html}");
    }
    // A visitor who is not signed in is offered to.
    let html = app
        .client
        .get(app.url("/no/such/page"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("href=\"/signup\""), "{html}");
}

#[tokio::test]
async fn organisation_and_product_lists_filter_and_export_as_csv() {
    let app = spawn_app().await;
    let c = approved(&app).await;
    let operator = &c.operator;
    let before = app.state.now();
    let brazilian = participant(&app, operator, 1, &["ASPSP"], "BR").await;
    participant(&app, operator, 2, &["AISP"], "PT").await;
    let sandbox = app.register(&c.developer, &c.org_id, "sandbox").await;

    assert_eq!(
        org_ids(&app, operator, "?role=ASPSP").await,
        vec![brazilian.clone()]
    );
    assert_eq!(
        org_ids(&app, operator, "?country=br").await,
        vec![brazilian.clone()]
    );
    let since = ssa_directory::model::time::rfc3339_string(&before);
    let recent = org_ids(
        &app,
        operator,
        &format!("?created_since={}", since.replace('+', "%2B")),
    )
    .await;
    assert_eq!(recent.len(), 2, "{recent:?}");
    assert!(!recent.contains(&c.org_id));
    assert_eq!(
        org_ids(&app, operator, "?changed_since=2999-01-01T00:00:00Z")
            .await
            .len(),
        0
    );

    // CSV: the same filters, every row, a header naming the columns; no contacts.
    let (header, rows, text) = csv_list(&app, operator, "/api/v1/organisations?country=BR").await;
    assert_eq!(header[0], "id");
    assert!(header.contains(&"legal_name".to_owned()) && header.contains(&"roles".to_owned()));
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][0], brazilian.as_str());
    assert_eq!(&rows[0][1], "Participant 1 Ltd");
    assert!(!text.contains("ada@example.com"), "no contacts: {text}");
    let (_, all, _) = csv_list(&app, operator, "/api/v1/organisations?format=csv").await;
    assert_eq!(all.len(), 4, "every organisation");

    let (header, products, _) =
        csv_list(&app, operator, "/api/v1/software?environment=sandbox").await;
    assert_eq!(header[0], "id");
    let environment = header.iter().position(|h| h == "environment").unwrap();
    assert_eq!(products.len(), 1);
    assert_eq!(&products[0][0], sandbox.as_str());
    assert_eq!(&products[0][environment], "sandbox");
    // A member exports only their organisations' products.
    let (_, theirs, _) = csv_list(&app, &c.outsider, "/api/v1/software").await;
    assert_eq!(theirs.len(), 0);

    // Keyset pages: following `next` gives every item once, in the numbered pages' order.
    for list in ["/api/v1/organisations", "/api/v1/software", "/api/v1/audit"] {
        let (status, numbered) = app
            .get_json(&format!("{list}?per_page=100"), operator)
            .await;
        assert_eq!(status, 200, "{numbered}");
        let everything: Vec<Value> = numbered["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].clone())
            .collect();
        assert!(everything.len() >= 2, "{list}: {numbered}");
        assert!(numbered.get("next").is_none(), "one page holds it all");
        let (_, first) = app.get_json(&format!("{list}?per_page=1"), operator).await;
        let mut walked = vec![first["items"][0]["id"].clone()];
        let mut next = first["next"].as_str().map(str::to_owned);
        while let Some(after) = next {
            let path = format!("{list}?per_page=1&after={after}");
            let (status, page) = app.get_json(&path, operator).await;
            assert_eq!(status, 200, "{path}: {page}");
            assert_eq!(page["total"], everything.len(), "{path}");
            walked.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["id"].clone()),
            );
            next = page["next"].as_str().map(str::to_owned);
            assert!(
                walked.len() <= everything.len() + 1,
                "{list} loops: {walked:?}"
            );
        }
        assert_eq!(walked, everything, "{list}");
    }
    // A member's keyset pages hold their own organisations only, wherever they start: here,
    // after the operator's first organisation.
    let (_, first) = app
        .get_json("/api/v1/organisations?per_page=1", operator)
        .await;
    let after = first["next"].as_str().unwrap();
    let (status, theirs) = app
        .get_json(&format!("/api/v1/organisations?after={after}"), &c.outsider)
        .await;
    assert_eq!(status, 200, "{theirs}");
    assert!(
        theirs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|org| org["id"] == c.other_org_id.as_str()),
        "{theirs}"
    );

    // A position is self-contained: one past the end continues with nothing.
    let (status, beyond) = app
        .get_json(
            &format!(
                "/api/v1/software?after=9999999999999999.{}",
                uuid::Uuid::new_v4()
            ),
            operator,
        )
        .await;
    assert_eq!(status, 200, "{beyond}");
    assert_eq!(beyond["items"], json!([]));
    assert!(beyond.get("next").is_none());
    let bare_id = format!("/api/v1/software?after={}", c.software_id);
    for bad in [
        "/api/v1/organisations?role=BANK",
        "/api/v1/organisations?country=GBR",
        "/api/v1/organisations?created_since=yesterday",
        "/api/v1/software?environment=moon",
        "/api/v1/software?format=pdf",
        "/api/v1/organisations?after=not-an-id",
        "/api/v1/audit?after=minus-one",
        bare_id.as_str(),
    ] {
        let (status, body) = app.get_json(bad, &c.operator).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
}

/// A list asked for as CSV (`Accept: text/csv`): its header, rows and text.
async fn csv_list(
    app: &TestApp,
    user: &TestUser,
    path: &str,
) -> (Vec<String>, Vec<csv::StringRecord>, String) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(&user.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader.records().map(Result::unwrap).collect();
    (header, rows, text)
}

/// The ids of the organisations list with this query.
async fn org_ids(app: &TestApp, user: &TestUser, query: &str) -> Vec<String> {
    let (status, body) = app
        .get_json(&format!("/api/v1/organisations{query}"), user)
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The overview's chart `id` of an answer.
fn chart<'a>(overview: &'a Value, id: &str) -> &'a Value {
    overview["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no chart {id}: {overview}"))
}

/// The value of `series` at `label` in a chart.
fn value(chart: &Value, series: &str, label: &str) -> i64 {
    let at = chart["labels"]
        .as_array()
        .unwrap()
        .iter()
        .position(|l| l == label)
        .unwrap_or_else(|| panic!("no label {label}: {chart}"));
    let line = chart["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == series)
        .unwrap_or_else(|| panic!("no series {series}: {chart}"));
    line["values"][at].as_i64().unwrap()
}

async fn overview(app: &TestApp, user: &TestUser, period: &str) -> (u16, Value) {
    let path = format!("/api/v1/overview?period={period}");
    let response = app
        .client
        .get(app.url(&path))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_documented(&Method::GET, &path, status, content_type.as_deref(), &body);
    (status, body)
}

#[tokio::test]
async fn the_overview_counts_what_happened_by_day_and_month_and_draws_it() {
    let app = spawn_app_with(|c| c.certificate_validity_days = 30).await;
    let c = approved(&app).await;
    let today = app.state.now().date();
    for _ in 0..3 {
        crate::verifier::issue(&app, &c).await;
    }
    let folder = tempfile::tempdir().unwrap();
    let (revoked, _) =
        crate::registrar::transport_certificate(&app, &c, &c.software_id, folder.path()).await;
    let (status, body) = app
        .post_json(
            &format!(
                "/api/v1/certificates/{}/revoke",
                revoked["serial"].as_str().unwrap()
            ),
            &c.developer,
            json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    crate::registrar::transport_certificate(&app, &c, &c.software_id, folder.path()).await;
    let client = crate::oauth::client(&app, &c, &c.software_id).await;
    client.token(&app, None).await;
    // Waiting: a new organisation and a sandbox product.
    let applicant = app.user("applicant@bank.example", false).await;
    app.apply(&applicant, &["ASPSP"]).await;
    app.register(&c.developer, &c.org_id, "sandbox").await;

    // What stands now is counted in the background every 30 seconds: count it now.
    ssa_directory::services::overview::refresh_current(&app.state)
        .await
        .unwrap();
    let (status, week) = overview(&app, &c.operator, "7d").await;
    assert_eq!(status, 200, "{week}");
    assert!(week["current_at"].is_string(), "{week}");
    let day = today.to_string();
    let statements = chart(&week, "statements_issued");
    assert_eq!(statements["labels"].as_array().unwrap().len(), 7);
    assert_eq!(statements["labels"][6], day.as_str());
    assert_eq!(value(statements, "production", &day), 3);
    assert_eq!(value(statements, "sandbox", &day), 0);
    assert_eq!(
        value(chart(&week, "certificates_issued"), "transport", &day),
        2
    );
    assert_eq!(
        value(chart(&week, "certificates_revoked"), "transport", &day),
        1
    );
    assert_eq!(value(chart(&week, "token_requests"), "issued", &day), 1);
    // The good certificate (30 days) expires in the fifth week from now; the revoked one is
    // not counted.
    let expiring = chart(&week, "certificates_expiring");
    let fifth = expiring["labels"][4].as_str().unwrap();
    assert_eq!(value(expiring, "transport", fifth), 1, "{expiring}");
    let total: i64 = expiring["series"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(total, 1);
    let waiting = chart(&week, "waiting");
    assert_eq!(value(waiting, "organisations", "today"), 1);
    assert_eq!(value(waiting, "software products", "today"), 1);
    let status_chart = chart(&week, "by_status");
    assert_eq!(value(status_chart, "organisations", "active"), 2);
    assert_eq!(value(status_chart, "organisations", "pending"), 1);
    assert_eq!(value(status_chart, "software products", "active"), 1);
    assert_eq!(value(status_chart, "software products", "pending"), 1);
    let products = chart(&week, "software_by_role");
    assert_eq!(value(products, "all", "AISP"), 2, "{products}");
    assert_eq!(value(products, "active", "AISP"), 1, "{products}");
    assert_eq!(value(products, "all", "PISP"), 0, "{products}");
    let roles = chart(&week, "organisations_by_role");
    assert_eq!(value(roles, "all", "AISP"), 2);
    assert_eq!(value(roles, "active", "ASPSP"), 0);
    assert_eq!(value(roles, "all", "ASPSP"), 1);
    assert!(
        week["median_decision_hours"].as_f64().unwrap() >= 0.0,
        "{week}"
    );

    // Two days on, the same statements are two days back; over 12 months, this month's.
    app.clock
        .advance(std::time::Duration::from_secs(2 * 86_400));
    let (_, later) = overview(&app, &c.operator, "7d").await;
    let statements = chart(&later, "statements_issued");
    assert_eq!(statements["labels"][4], day.as_str());
    assert_eq!(value(statements, "production", &day), 3);
    // Once its day is rolled up, a day is read from the roll-up; a statement counts in the
    // environment it was issued in, whatever its product's environment is now.
    ssa_directory::services::overview::roll_up(&app.state)
        .await
        .unwrap();
    {
        use diesel::connection::SimpleConnection;
        let mut conn = app.state.pool.get().unwrap();
        conn.batch_execute("UPDATE software SET environment = 'sandbox'")
            .unwrap();
    }
    crate::verifier::issue(&app, &c).await;
    let (_, rolled) = overview(&app, &c.operator, "7d").await;
    let statements = chart(&rolled, "statements_issued");
    assert_eq!(value(statements, "production", &day), 3, "{statements}");
    assert_eq!(value(statements, "sandbox", &day), 0, "{statements}");
    let now = app.state.now().date().to_string();
    assert_eq!(value(statements, "sandbox", &now), 1, "{statements}");
    {
        use diesel::connection::SimpleConnection;
        let mut conn = app.state.pool.get().unwrap();
        conn.batch_execute("UPDATE software SET environment = 'production'")
            .unwrap();
    }
    let (_, moved) = overview(&app, &c.operator, "7d").await;
    let statements = chart(&moved, "statements_issued");
    assert_eq!(value(statements, "sandbox", &now), 1, "{statements}");
    assert_eq!(value(statements, "production", &now), 0, "{statements}");
    assert_eq!(
        value(chart(&rolled, "certificates_revoked"), "transport", &day),
        1
    );
    // Rolling up again adds nothing.
    ssa_directory::services::overview::roll_up(&app.state)
        .await
        .unwrap();
    let (_, again) = overview(&app, &c.operator, "7d").await;
    assert_eq!(again["charts"], rolled["charts"]);
    let (_, year) = overview(&app, &c.operator, "12m").await;
    let statements = chart(&year, "statements_issued");
    assert_eq!(statements["labels"].as_array().unwrap().len(), 12);
    let month = format!("{:04}-{:02}", today.year(), today.month() as u8);
    assert_eq!(value(statements, "production", &month), 3, "{statements}");
    let total: i64 = statements["series"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().iter())
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(total, 4, "the rolled-up days and today's: {statements}");
    let (_, month_view) = overview(&app, &c.operator, "30d").await;
    assert_eq!(
        chart(&month_view, "statements_issued")["labels"]
            .as_array()
            .unwrap()
            .len(),
        30
    );

    // Operators only; a period is one of three.
    assert_eq!(overview(&app, &c.developer, "7d").await.0, 403);
    assert_eq!(overview(&app, &c.operator, "1y").await.0, 422);

    // The portal page: a chart for each, its numbers in a table behind a disclosure.
    let html = crate::helpers::portal_page(&app, &c.operator, "/operator/overview?period=7d").await;
    assert_eq!(html.matches("<svg role=\"img\"").count(), 11, "{html}");
    assert!(html.contains("id=\"chart-statements_issued\""));
    assert!(html.contains("<summary>The numbers</summary>"));
    assert!(html.contains("aria-current=\"page\""));
    assert!(html.contains("id=\"nav-overview\""));
    assert!(
        html.contains("1 organisation(s), 1 software product(s) and 0 change request(s) waiting"),
        "{html}"
    );
}
