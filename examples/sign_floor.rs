//! The floor under SSA issuance over HTTP: an actix-web server that does nothing but sign a
//! statement-sized PS256 JWS per request, with the directory's own signer, and answers 201 with
//! it. No database, no authorization, no record. `scripts/bench/ssa.sh` loads it with the same
//! wrk settings as the directory, beside `openssl speed`: the gap between this and
//! `openssl speed` is what HTTP and the thread hand-off cost before any directory work.
//!
//!   sign_floor 127.0.0.1:8080 [inline]
//!
//! With `inline`, the signature is made on the HTTP worker itself instead of the blocking pool.

use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

struct Signing {
    key: EncodingKey,
    header: Header,
    claims: serde_json::Value,
}

impl Signing {
    fn sign(&self) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&self.header, &self.claims, &self.key)
    }
}

fn answer(signed: Result<String, jsonwebtoken::errors::Error>) -> HttpResponse {
    match signed {
        Ok(jwt) => HttpResponse::Created()
            .content_type("application/jwt")
            .body(jwt),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

async fn pooled(signing: web::Data<Signing>) -> HttpResponse {
    match web::block(move || signing.sign()).await {
        Ok(signed) => answer(signed),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

async fn inline(signing: web::Data<Signing>) -> HttpResponse {
    answer(signing.sign())
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let on_worker = args.next().as_deref() == Some("inline");
    ssa_directory::keys::provider::install();
    let rsa = openssl::rsa::Rsa::generate(2048)?;
    let mut header = Header::new(Algorithm::PS256);
    header.kid = Some("floor".into());
    header.typ = Some("JWT".into());
    // About the size of a statement of the obuk profile.
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:8080", "iat": 1_800_000_000, "exp": 1_802_592_000,
        "jti": "2f1c2b0e-5d0a-4c55-9f6e-6d1f2a3b4c5d",
        "software_id": "0c0a7c52-8f8e-4f0d-9d36-0b9f5bbd7a31", "software_client_id": "f0e1d2c3b4a5968778695a4b3c2d1e0f",
        "software_client_name": "Bench App", "software_client_description": "", "software_version": "1.0",
        "software_environment": "production", "software_roles": ["AISP"],
        "software_redirect_uris": ["https://bench.example/cb"],
        "software_jwks_endpoint": "http://127.0.0.1:8080/keystore/3d6c1b8a-4e0f-4b7e-9a55-2c1d0e9f8a7b/0c0a7c52-8f8e-4f0d-9d36-0b9f5bbd7a31.jwks",
        "org_id": "3d6c1b8a-4e0f-4b7e-9a55-2c1d0e9f8a7b", "org_name": "Bench Ltd", "org_status": "Active",
        "org_jwks_endpoint": "http://127.0.0.1:8080/keystore/3d6c1b8a-4e0f-4b7e-9a55-2c1d0e9f8a7b/3d6c1b8a-4e0f-4b7e-9a55-2c1d0e9f8a7b.jwks",
        "organisation_competent_authority_claims": {"authority_id": "FCA", "registration_id": "1", "status": "Active",
            "authorisations": [{"member_state": "GB", "roles": ["AISP"]}]},
    });
    let signing = web::Data::new(Signing {
        key: EncodingKey::from_rsa_der(&rsa.private_key_to_der()?),
        header,
        claims,
    });
    HttpServer::new(move || {
        let app = App::new().app_data(signing.clone());
        if on_worker {
            app.route("/sign", web::post().to(inline))
        } else {
            app.route("/sign", web::post().to(pooled))
        }
    })
    .bind(listen)?
    .run()
    .await?;
    Ok(())
}
