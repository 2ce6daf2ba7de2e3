//! Onboarding through the JSON API: applications, decisions, members, software, tokens, audit.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{application, cast, registration, spawn_app, spawn_app_with, spawn_sibling};

#[tokio::test]
async fn an_application_is_pending_and_the_applicant_becomes_admin() {
    let app = spawn_app().await;
    let dev = app.user("dev@fintech.example", false).await;

    let (status, org) = app
        .post_json("/api/v1/organisations", &dev, application(&["AISP"]))
        .await;

    assert_eq!(status, 201, "{org}");
    assert_eq!(org["status"], "pending");
    assert_eq!(org["country"], "GB");
    assert_eq!(org["roles"], json!(["AISP"]));
    let id = org["id"].as_str().unwrap();
    let (status, members) = app
        .get_json(&format!("/api/v1/organisations/{id}/members"), &dev)
        .await;
    assert_eq!(status, 200);
    assert_eq!(members["items"][0]["email"], "dev@fintech.example");
    assert_eq!(members["items"][0]["role"], "admin");
}

#[tokio::test]
async fn operators_approve_suspend_reinstate_and_revoke_with_reasons_members_see() {
    let app = spawn_app().await;
    let operator = app.user("op@directory.example", true).await;
    let dev = app.user("dev@fintech.example", false).await;
    let id = app.apply(&dev, &["AISP"]).await;
    let path = format!("/api/v1/organisations/{id}");

    let (status, pending) = app
        .get_json("/api/v1/organisations?status=pending", &operator)
        .await;
    assert_eq!(status, 200);
    assert_eq!(pending["total"], 1);
    assert_eq!(pending["items"][0]["id"], id.as_str());

    for (action, expected) in [
        ("approve", "active"),
        ("suspend", "suspended"),
        ("reinstate", "active"),
        ("revoke", "revoked"),
    ] {
        let (status, org) = app
            .post_json(
                &format!("{path}/{action}"),
                &operator,
                json!({"reason": format!("because {action}")}),
            )
            .await;
        assert_eq!(status, 200, "{action}: {org}");
        assert_eq!(org["status"], expected);
    }
    let (_, org) = app.get_json(&path, &dev).await;
    assert_eq!(org["status"], "revoked");
    assert_eq!(org["status_reason"], "because revoke");

    let (status, problem) = app
        .post_json(&format!("{path}/approve"), &operator, json!({}))
        .await;
    assert_eq!(status, 409);
    assert!(
        problem["detail"].as_str().unwrap().contains("final"),
        "{problem}"
    );
}

#[tokio::test]
async fn reject_suspend_and_revoke_need_a_reason() {
    let app = spawn_app().await;
    let operator = app.user("op@directory.example", true).await;
    let dev = app.user("dev@fintech.example", false).await;
    let id = app.apply(&dev, &["AISP"]).await;

    let (status, problem) = app
        .api(
            Method::POST,
            &format!("/api/v1/organisations/{id}/reject"),
            Some(&operator.token),
            None,
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["detail"], "reason: required to reject");
    let (_, org) = app
        .get_json(&format!("/api/v1/organisations/{id}"), &dev)
        .await;
    assert_eq!(org["status"], "pending");

    let (status, org) = app
        .post_json(
            &format!("/api/v1/organisations/{id}/reject"),
            &operator,
            json!({"reason": "no licence"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(org["status"], "rejected");
    let (_, org) = app
        .get_json(&format!("/api/v1/organisations/{id}"), &dev)
        .await;
    assert_eq!(org["status_reason"], "no licence");
}

#[tokio::test]
async fn unknown_actions_and_ids_are_404() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (status, _) = app
        .post_json(
            &format!("/api/v1/organisations/{}/explode", c.org_id),
            &c.operator,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .get_json(
            "/api/v1/organisations/00000000-0000-0000-0000-000000000000",
            &c.operator,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.get_json("/api/v1/software/nope", &c.admin).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_applications_name_the_problem_and_store_nothing() {
    let app = spawn_app().await;
    let operator = app.user("op@directory.example", true).await;
    let dev = app.user("dev@fintech.example", false).await;

    let mut cases = vec![];
    let mut missing = application(&["AISP"]);
    missing.as_object_mut().unwrap().remove("legal_name");
    cases.push((missing, "legal_name"));
    let mut empty = application(&["AISP"]);
    empty["legal_name"] = json!("   ");
    cases.push((empty, "legal_name: must not be empty"));
    let mut long = application(&["AISP"]);
    long["legal_name"] = json!("x".repeat(201));
    cases.push((long, "legal_name: must be at most 200"));
    let mut country = application(&["AISP"]);
    country["country"] = json!("UK");
    cases.push((country, "country:"));
    let mut email = application(&["AISP"]);
    email["technical_contact"]["email"] = json!("not-an-email");
    cases.push((email, "technical_contact.email"));
    cases.push((application(&["BANK"]), "roles:"));
    cases.push((application(&[]), "roles: at least one"));
    let mut unknown = application(&["AISP"]);
    unknown["colour"] = json!("red");
    cases.push((unknown, "colour"));

    for (body, expected) in cases {
        let (status, problem) = app.post_json("/api/v1/organisations", &dev, body).await;
        assert_eq!(status, 422, "{expected}: {problem}");
        assert_eq!(problem["status"], 422);
        assert!(
            problem["detail"].as_str().unwrap().contains(expected),
            "{expected}: {problem}"
        );
    }

    let response = app
        .client
        .post(app.url("/api/v1/organisations"))
        .bearer_auth(&dev.token)
        .header("content-type", "application/json")
        .body("{\"legal_name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let response = app
        .client
        .post(app.url("/api/v1/organisations"))
        .bearer_auth(&dev.token)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);

    let (_, list) = app.get_json("/api/v1/organisations", &operator).await;
    assert_eq!(list["total"], 0, "{list}");
    let (_, audit) = app
        .get_json("/api/v1/audit?action=organisation.apply", &operator)
        .await;
    assert_eq!(audit["total"], 0, "{audit}");
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4096).await;
    let dev = app.user("dev@fintech.example", false).await;
    let mut body = application(&["AISP"]);
    body["legal_name"] = json!("x".repeat(10_000));
    let (status, problem) = app.post_json("/api/v1/organisations", &dev, body).await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(
        problem["type"],
        "urn:ssa-directory:problem:payload-too-large"
    );
}

#[tokio::test]
async fn software_is_registered_pending_and_approved_by_an_operator() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let path = format!("/api/v1/software/{}", c.software_id);

    let (status, product) = app.get_json(&path, &c.developer).await;
    assert_eq!(status, 200);
    assert_eq!(product["status"], "pending");
    assert_eq!(product["organisation_id"], c.org_id.as_str());
    assert_eq!(
        product["redirect_uris"],
        json!(["https://app.example.com/callback"])
    );
    assert!(!product["client_id"].as_str().unwrap().is_empty());

    app.decide(&c.operator, &path, "approve").await;
    let (_, product) = app.get_json(&path, &c.developer).await;
    assert_eq!(product["status"], "active");

    let (_, list) = app
        .get_json(
            &format!("/api/v1/organisations/{}/software", c.org_id),
            &c.admin,
        )
        .await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], c.software_id.as_str());
}

#[tokio::test]
async fn software_of_an_inactive_organisation_cannot_be_approved() {
    let app = spawn_app().await;
    let operator = app.user("op@directory.example", true).await;
    let dev = app.user("dev@fintech.example", false).await;
    let org = app.apply(&dev, &["AISP"]).await;
    let software = app.register(&dev, &org, "sandbox").await;
    let (status, problem) = app
        .post_json(
            &format!("/api/v1/software/{software}/approve"),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(status, 409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("organisation that is pending"),
        "{problem}"
    );
}

#[tokio::test]
async fn bad_software_registrations_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let path = format!("/api/v1/organisations/{}/software", c.org_id);
    let mut cases = vec![];
    let mut http = registration("sandbox");
    http["redirect_uris"] = json!(["http://app.example.com/cb"]);
    cases.push((http, "redirect_uris[0]"));
    let mut fragment = registration("sandbox");
    fragment["redirect_uris"] = json!(["https://app.example.com/cb#x"]);
    cases.push((fragment, "fragment"));
    let mut many = registration("sandbox");
    many["redirect_uris"] = json!(
        (0..21)
            .map(|i| format!("https://app.example.com/{i}"))
            .collect::<Vec<_>>()
    );
    cases.push((many, "at most 20"));
    let mut roles = registration("sandbox");
    roles["roles"] = json!(["ASPSP"]);
    cases.push((roles, "ASPSP is not a role of the organisation"));
    let mut environment = registration("staging");
    environment["environment"] = json!("staging");
    cases.push((environment, "environment"));
    let mut logo = registration("sandbox");
    logo["logo_uri"] = json!("ftp://x");
    cases.push((logo, "logo_uri"));

    for (body, expected) in cases {
        let (status, problem) = app.post_json(&path, &c.developer, body).await;
        assert_eq!(status, 422, "{expected}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(expected),
            "{expected}: {problem}"
        );
    }
    let (_, list) = app.get_json(&path, &c.developer).await;
    assert_eq!(list["total"], 1, "only the cast's own product exists");
}

#[tokio::test]
async fn sandbox_software_of_active_organisations_can_be_approved_automatically() {
    let app = spawn_app_with(|c| c.auto_approve_sandbox = true).await;
    let c = cast(&app).await;
    let sandbox = app.register(&c.developer, &c.org_id, "sandbox").await;
    let (_, product) = app
        .get_json(&format!("/api/v1/software/{sandbox}"), &c.developer)
        .await;
    assert_eq!(product["status"], "active");
    let (_, production) = app
        .get_json(&format!("/api/v1/software/{}", c.software_id), &c.developer)
        .await;
    assert_eq!(production["status"], "pending");
}

#[tokio::test]
async fn edits_are_audited_and_refused_once_suspended() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let path = format!("/api/v1/software/{}", c.software_id);

    let (status, product) = app
        .api(
            Method::PATCH,
            &path,
            Some(&c.developer.token),
            Some(json!({"client_name": "Renamed App", "logo_uri": ""})),
        )
        .await;
    assert_eq!(status, 200, "{product}");
    assert_eq!(product["client_name"], "Renamed App");
    assert_eq!(product["logo_uri"], serde_json::Value::Null);

    let (_, audit) = app
        .get_json(
            &format!(
                "/api/v1/audit?action=software.update&subject_id={}",
                c.software_id
            ),
            &c.operator,
        )
        .await;
    assert_eq!(audit["total"], 1, "{audit}");
    let event = &audit["items"][0];
    assert_eq!(event["actor"], "dev@fintech.example");
    let details: serde_json::Value =
        serde_json::from_str(event["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["client_name"]["from"], "Example Budgeting App");
    assert_eq!(details["client_name"]["to"], "Renamed App");

    app.decide(&c.operator, &path, "approve").await;
    app.decide(&c.operator, &path, "suspend").await;
    let (status, problem) = app
        .api(
            Method::PATCH,
            &path,
            Some(&c.developer.token),
            Some(json!({"client_name": "Again"})),
        )
        .await;
    assert_eq!(status, 409, "{problem}");

    let (status, problem) = app
        .api(
            Method::PATCH,
            &path,
            Some(&c.operator.token),
            Some(json!({"redirect_uris": ["http://insecure.example"]})),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
}

#[tokio::test]
async fn every_state_change_is_in_the_audit_log() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (status, audit) = app
        .get_json("/api/v1/audit?per_page=100", &c.operator)
        .await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "user.create",
        "token.create",
        "organisation.apply",
        "membership.add",
        "organisation.approve",
        "software.register",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing: {actions:?}"
        );
    }
    let approval = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "organisation.approve" && e["subject_id"] == c.org_id.as_str())
        .unwrap();
    assert_eq!(approval["old_status"], "pending");
    assert_eq!(approval["new_status"], "active");
    assert_eq!(approval["actor"], "operator@directory.example");
    assert_eq!(approval["reason"], "test decision");

    let (_, filtered) = app
        .get_json(
            &format!(
                "/api/v1/audit?organisation_id={}&per_page=2",
                c.other_org_id
            ),
            &c.operator,
        )
        .await;
    assert_eq!(filtered["per_page"], 2);
    assert!(
        filtered["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["organisation_id"] == c.other_org_id.as_str())
    );
}

#[tokio::test]
async fn members_are_added_and_removed_but_the_last_admin_stays() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let members = format!("/api/v1/organisations/{}/members", c.org_id);

    let (status, problem) = app
        .post_json(
            &members,
            &c.admin,
            json!({"email": "ghost@nowhere.example", "role": "developer"}),
        )
        .await;
    assert_eq!(
        status, 202,
        "an address without an account is mailed a sign-up link"
    );
    assert_eq!(problem["email"], "ghost@nowhere.example");
    assert_eq!(problem["role"], "developer");
    let (status, _) = app
        .post_json(
            &members,
            &c.admin,
            json!({"email": "ghost@nowhere.example", "role": "developer"}),
        )
        .await;
    assert_eq!(status, 409, "invited already");

    let (status, _) = app
        .post_json(
            &members,
            &c.admin,
            json!({"email": c.developer.email, "role": "developer"}),
        )
        .await;
    assert_eq!(status, 409, "already a developer");

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("{members}/{}", c.admin.id),
            Some(&c.admin.token),
            None,
        )
        .await;
    assert_eq!(status, 409, "the last admin cannot leave");

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("{members}/{}", c.developer.id),
            Some(&c.admin.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .get_json(&format!("/api/v1/organisations/{}", c.org_id), &c.developer)
        .await;
    assert_eq!(
        status, 404,
        "a removed member no longer sees the organisation"
    );
}

#[tokio::test]
async fn revoked_and_unknown_tokens_are_refused() {
    let app = spawn_app().await;
    let dev = app.user("dev@fintech.example", false).await;

    let (status, created) = app
        .post_json("/api/v1/tokens", &dev, json!({"name": "ci"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let (status, me) = app
        .api(Method::GET, "/api/v1/me", Some(&secret), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], "dev@fintech.example");

    let id = created["id"].as_str().unwrap();
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(&dev.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, problem) = app
        .api(Method::GET, "/api/v1/me", Some(&secret), None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        problem["detail"],
        "authentication required: the API token is unknown, revoked or expired"
    );

    let (status, _) = app
        .api(Method::GET, "/api/v1/me", Some("ssad_made_up"), None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = app.api(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(status, 401);

    let (_, tokens) = app.get_json("/api/v1/tokens", &dev).await;
    let listed = tokens["items"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|t| t.get("secret").is_none()));
}

#[tokio::test]
async fn two_instances_on_one_database_see_each_others_writes() {
    let first = spawn_app().await;
    let second = spawn_sibling(&first).await;
    assert_ne!(first.port, second.port);
    let dev = first.user("dev@fintech.example", false).await;
    let operator = first.user("op@directory.example", true).await;

    let id = first.apply(&dev, &["AISP"]).await;
    second
        .decide(&operator, &format!("/api/v1/organisations/{id}"), "approve")
        .await;

    let (status, org) = first
        .get_json(&format!("/api/v1/organisations/{id}"), &dev)
        .await;
    assert_eq!(status, 200);
    assert_eq!(org["status"], "active");
}

#[tokio::test]
async fn oversized_transition_bodies_get_problem_json_413() {
    let app = spawn_app_with(|c| c.max_body_bytes = 2048).await;
    let c = cast(&app).await;
    let (status, problem) = app
        .post_json(
            &format!("/api/v1/organisations/{}/suspend", c.org_id),
            &c.operator,
            json!({"reason": "x".repeat(5000)}),
        )
        .await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(
        problem["type"],
        "urn:ssa-directory:problem:payload-too-large"
    );
}

#[tokio::test]
async fn pages_outside_the_documented_range_are_refused() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    for path in [
        "/api/v1/organisations?per_page=101",
        "/api/v1/organisations?per_page=0",
        "/api/v1/organisations?page=0",
        "/api/v1/audit?per_page=1000",
        &format!("/api/v1/organisations/{}/software?per_page=500", c.org_id),
    ] {
        let (status, problem) = app.get_json(path, &c.operator).await;
        assert_eq!(status, 422, "{path}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().starts_with("per_page:")
                || problem["detail"].as_str().unwrap().starts_with("page:"),
            "{problem}"
        );
    }
    let (status, page) = app
        .get_json("/api/v1/organisations?per_page=100", &c.operator)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["per_page"], 100);
}

#[tokio::test]
async fn nobody_joins_an_organisation_without_accepting_its_invitation() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let members = format!("/api/v1/organisations/{}/members", c.org_id);
    let invitee = app.user("invitee@elsewhere.example", false).await;

    // Even the operator can only invite.
    let (status, invitation) = app
        .post_json(
            &members,
            &c.operator,
            json!({"email": "INVITEE@elsewhere.example", "role": "admin"}),
        )
        .await;
    assert_eq!(status, 201, "{invitation}");
    crate::helpers::assert_conforms("Invitation", &invitation);
    assert_eq!(invitation["email"], "invitee@elsewhere.example");
    assert_eq!(invitation["role"], "admin");
    assert_eq!(invitation["organisation_name"], "Example Payments Ltd");
    let (status, _) = app
        .get_json(&format!("/api/v1/organisations/{}", c.org_id), &invitee)
        .await;
    assert_eq!(status, 404, "not a member before accepting");
    let (_, list) = app.get_json(&members, &c.admin).await;
    crate::helpers::assert_conforms("MemberList", &list);
    assert_eq!(list["invitations"][0]["email"], "invitee@elsewhere.example");
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["email"] != "invitee@elsewhere.example")
    );
    let (status, _) = app
        .post_json(
            &members,
            &c.admin,
            json!({"email": invitee.email, "role": "developer"}),
        )
        .await;
    assert_eq!(status, 409, "already invited");

    // Only the invited account answers.
    let accept = format!("/api/v1/invitations/{}/accept", c.org_id);
    let (status, _) = app.post_json(&accept, &c.outsider, json!({})).await;
    assert_eq!(status, 404);
    let (_, mine) = app.get_json("/api/v1/invitations", &invitee).await;
    assert_eq!(mine["items"][0]["organisation_id"], c.org_id.as_str());
    let (status, member) = app.post_json(&accept, &invitee, json!({})).await;
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["role"], "admin");
    let (status, _) = app
        .get_json(&format!("/api/v1/organisations/{}", c.org_id), &invitee)
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.post_json(&accept, &invitee, json!({})).await;
    assert_eq!(status, 404, "an invitation is answered once");

    // Declining and withdrawing.
    let other = app.user("other@elsewhere.example", false).await;
    let (status, _) = app
        .post_json(
            &members,
            &c.admin,
            json!({"email": other.email, "role": "developer"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .post_json(
            &format!("/api/v1/invitations/{}/decline", c.org_id),
            &other,
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .get_json(&format!("/api/v1/organisations/{}", c.org_id), &other)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post_json(
            &members,
            &c.admin,
            json!({"email": other.email, "role": "developer"}),
        )
        .await;
    assert_eq!(status, 201, "invited again after declining");
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("{members}/{}", other.id),
            Some(&c.admin.token),
            None,
        )
        .await;
    assert_eq!(status, 204, "withdrawn");
    let (status, _) = app
        .post_json(
            &format!("/api/v1/invitations/{}/accept", c.org_id),
            &other,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);

    // A role change of a member needs no consent.
    let (status, member) = app
        .post_json(
            &members,
            &c.admin,
            json!({"email": c.developer.email, "role": "admin"}),
        )
        .await;
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["role"], "admin");

    let (_, audit) = app
        .get_json(
            &format!("/api/v1/audit?organisation_id={}&per_page=100", c.org_id),
            &c.operator,
        )
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "invitation.create",
        "membership.add",
        "invitation.decline",
        "invitation.withdraw",
        "membership.role",
    ] {
        assert!(actions.contains(&expected), "{expected}: {actions:?}");
    }
}

#[tokio::test]
async fn audit_filters_that_name_nothing_possible_are_refused_with_422() {
    let app = crate::helpers::spawn_app().await;
    let operator = app.user("op@directory.example", true).await;
    for query in [
        "organisation_id=zz",
        "organisation_id=",
        "action=%00",
        "action=Organisation%20Approve",
        "action=",
        "subject_id=%00",
        "subject_id=",
        "actor=a%0Ab",
    ] {
        let (status, body) = app
            .get_json(&format!("/api/v1/audit?{query}"), &operator)
            .await;
        assert_eq!(status, 422, "{query}: {body}");
        let field = query.split('=').next().unwrap();
        assert!(
            body["detail"].as_str().unwrap().starts_with(field),
            "{query}: {body}"
        );
    }
    for query in [
        "organisation_id=5b0c6f43-8a6e-4c1b-9d7f-3d1e2a4b5c6d",
        "action=organisation.approve",
        "subject_id=not-a-uuid",
        "actor=op@directory.example",
    ] {
        let (status, body) = app
            .get_json(&format!("/api/v1/audit?{query}"), &operator)
            .await;
        assert_eq!(status, 200, "{query}: {body}");
    }
}
