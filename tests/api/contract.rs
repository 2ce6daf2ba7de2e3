//! The OpenAPI document against the server: every route is documented and every documented
//! operation is served, the document is valid OpenAPI 3.1, every answer the other tests see
//! through `TestApp::api` validates against it (see `helpers::assert_documented`), and a
//! request the document calls invalid gets a 4xx, never a 5xx.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_documented, cast, document, spawn_app};

#[test]
fn every_route_is_documented_and_every_documented_operation_is_served() {
    let served: BTreeSet<(String, String)> = ssa_directory::web::documented_routes()
        .into_iter()
        .map(|(method, path)| (method.as_str().to_lowercase(), path))
        .collect();
    let documented: BTreeSet<(String, String)> = document()["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| matches!(k.as_str(), "get" | "post" | "put" | "patch" | "delete"))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
    assert!(served.len() > 50, "{}", served.len());
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let fixture = |name: &str| -> Value {
        let path = format!(
            "{}/tests/fixtures/openapi/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let registry = jsonschema::Registry::new()
        .add(
            "https://spec.openapis.org/oas/3.1/schema/2022-10-07",
            fixture("oas-3.1-schema.json"),
        )
        .unwrap()
        .add(
            "https://spec.openapis.org/oas/3.1/dialect/base",
            fixture("oas-3.1-dialect-base.json"),
        )
        .unwrap()
        .add(
            "https://spec.openapis.org/oas/3.1/meta/base",
            fixture("oas-3.1-meta-base.json"),
        )
        .unwrap()
        .prepare()
        .unwrap();
    // schema-base also checks every Schema Object against the OpenAPI dialect.
    let validator = jsonschema::options()
        .with_registry(&registry)
        .build(&fixture("oas-3.1-schema-base.json"))
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(document())
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(document()["openapi"], "3.1.0");

    // The checks the OpenAPI schema leaves out: references resolve, operation ids are
    // unique, and every path parameter is declared.
    let mut refs = vec![];
    fn walk<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r);
                }
                map.values().for_each(|v| walk(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    walk(document(), &mut refs);
    for r in refs {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(
            document()["components"]["schemas"][name].is_object(),
            "{r} resolves to nothing"
        );
    }
    let mut ids = BTreeSet::new();
    for (path, item) in document()["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(ids.insert(id.to_owned()), "{id} twice");
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let templated: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(declared, templated, "{method} {path}");
        }
    }
}

#[test]
#[should_panic(expected = "does not document 418")]
fn an_undocumented_answer_is_caught() {
    assert_documented(&Method::GET, "/api/v1/me", 418, None, &Value::Null);
}

#[test]
#[should_panic(expected = "/api/v1/me 200")]
fn an_answer_that_does_not_fit_its_schema_is_caught() {
    assert_documented(
        &Method::GET,
        "/api/v1/me",
        200,
        Some("application/json"),
        &json!({"user_id": 3}),
    );
}

/// Fills a path template with ids of things that exist (or at least parse).
fn concrete(template: &str, ids: &[(&str, String)]) -> String {
    let mut path = template.to_owned();
    for (name, value) in ids {
        path = path.replace(&format!("{{{name}}}"), value);
    }
    path
}

#[tokio::test]
async fn requests_the_document_calls_invalid_get_a_4xx_never_a_5xx() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let ids = [
        ("org_id", c.org_id.clone()),
        ("software_id", c.software_id.clone()),
        ("user_id", c.developer.id.clone()),
        ("token_id", uuid::Uuid::new_v4().to_string()),
        ("serial", "0A".to_owned()),
        ("kid", "nokey".to_owned()),
        ("action", "approve".to_owned()),
        ("file", format!("{}.jwks", c.org_id)),
        ("request", "bm90LW9jc3A".to_owned()),
    ];
    let mut tried = 0;
    for (template, item) in document()["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let path = concrete(template, &ids);
            let mut attempts: Vec<(String, Option<String>, &str)> = vec![];
            // A path parameter that names nothing.
            if template.contains('{') {
                attempts.push((
                    concrete(
                        template,
                        &[
                            ("software_id", "not-a-uuid".into()),
                            ("org_id", "x".into()),
                            ("user_id", "x".into()),
                            ("token_id", "x".into()),
                            ("serial", "zz".into()),
                        ],
                    )
                    .replace(['{', '}'], ""),
                    None,
                    "application/json",
                ));
            }
            // Query parameters of the wrong type or out of range.
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] == "query" {
                    let name = parameter["name"].as_str().unwrap();
                    attempts.push((format!("{path}?{name}=-1x"), None, "application/json"));
                }
            }
            // Bodies of the wrong shape.
            if operation["requestBody"]["content"]["application/json"].is_object() {
                for body in [
                    "[]",
                    "{}",
                    "{\"unexpected\": true}",
                    "{\"a\":",
                    "\"text\"",
                    "null",
                ] {
                    attempts.push((path.clone(), Some(body.to_owned()), "application/json"));
                }
                attempts.push((path.clone(), Some("a=b".to_owned()), "text/plain"));
            }
            for (url, body, content_type) in attempts {
                let mut request = app
                    .client
                    .request(method.clone(), app.url(&url))
                    .bearer_auth(&c.operator.token);
                if let Some(body) = body.clone() {
                    request = request.header("content-type", content_type).body(body);
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned());
                let text = response.text().await.unwrap();
                assert!(
                    status < 500,
                    "{method} {url} with {body:?} answered {status}: {text}"
                );
                // The refusal is one the document names, in the shape it gives.
                let json = serde_json::from_str(&text).unwrap_or(Value::Null);
                assert_documented(&method, &url, status, content_type.as_deref(), &json);
                tried += 1;
            }
        }
    }
    assert!(tried > 140, "{tried}");
}
