//! The registrar's floor: what any registration endpoint on this stack pays before deciding
//! anything. An actix-web HTTPS server set up as `ssa-registrar serve` is (OpenSSL, the same
//! acceptor settings, two workers) that answers `POST /register` with a client information
//! response of the real size without checking anything, and with `sqlite` also stores the
//! real rows (a client row with its statement and metadata, a statement-use row) in the
//! registrar's schema, with the same pragmas and the same group commit, before answering.
//! `scripts/bench/registrar.sh` runs it under the same load as the service to tell how much
//! of the ceiling is within reach at all.
//!
//!   floor PORT CERT KEY RESPONSE_BYTES [sqlite FILE]

use std::sync::mpsc;

use actix_web::{App, HttpResponse, HttpServer, web};
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use sha2::Digest;

/// A registration to store: its body, and where to say it is committed.
type Job = (String, mpsc::Sender<()>);

struct Floor {
    response: String,
    writer: Option<std::sync::Mutex<mpsc::Sender<Job>>>,
}

async fn register(floor: web::Data<Floor>, body: String) -> HttpResponse {
    if let Some(writer) = &floor.writer {
        let (done, committed) = mpsc::channel();
        let sent = writer
            .lock()
            .map(|w| w.send((body, done)).is_ok())
            .unwrap_or(false);
        let stored = sent
            && web::block(move || committed.recv().is_ok())
                .await
                .unwrap_or(false);
        if !stored {
            return HttpResponse::InternalServerError().finish();
        }
    }
    HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .content_type("application/json")
        .body(floor.response.clone())
}

/// The writer thread: every waiting registration (up to 64) in one `BEGIN IMMEDIATE`
/// transaction, as the registrar's writer does.
fn writer(file: &str) -> Result<mpsc::Sender<Job>, Box<dyn std::error::Error>> {
    let mut conn = SqliteConnection::establish(file)?;
    conn.batch_execute(
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
    )?;
    for dir in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))? {
        conn.batch_execute(&std::fs::read_to_string(dir?.path().join("up.sql"))?)?;
    }
    let (jobs, queue) = mpsc::channel::<Job>();
    std::thread::spawn(move || {
        while let Ok(first) = queue.recv() {
            let mut batch = vec![first];
            while batch.len() < 64 {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let stored = conn.batch_execute("BEGIN IMMEDIATE").is_ok()
                && batch.iter().all(|(body, _)| store(&mut conn, body).is_ok())
                && conn.batch_execute("COMMIT").is_ok();
            assert!(stored, "the floor's store failed");
            for (_, done) in batch {
                let _ = done.send(());
            }
        }
    });
    Ok(jobs)
}

/// The rows of one registration, of the real sizes: the statement (the body) and about 1.5 KB
/// of metadata in the client row, the hashes of a fresh token and secret, a statement use.
fn store(conn: &mut SqliteConnection, body: &str) -> diesel::QueryResult<()> {
    let client_id = uuid::Uuid::new_v4().to_string();
    let jti = uuid::Uuid::new_v4().to_string();
    let hash = |_: ()| hex::encode(sha2::Sha256::digest(rand::random::<[u8; 32]>()));
    let metadata = "m".repeat(1500);
    let issuer = "http://127.0.0.1";
    let found: Vec<Count> =
        diesel::sql_query("SELECT count(*) AS n FROM statement_uses WHERE issuer = ? AND jti = ?")
            .bind::<Text, _>(issuer)
            .bind::<Text, _>(&jti)
            .load(conn)?;
    assert_eq!(found[0].n, 0);
    diesel::sql_query(
        "INSERT INTO statement_uses (issuer, jti, client_id, expires_at) VALUES (?, ?, ?, ?)",
    )
    .bind::<Text, _>(issuer)
    .bind::<Text, _>(&jti)
    .bind::<Text, _>(&client_id)
    .bind::<BigInt, _>(0)
    .execute(conn)?;
    diesel::sql_query("DELETE FROM clients WHERE client_id = ?")
        .bind::<Text, _>(&client_id)
        .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO clients (client_id, software_id, org_id, issuer, statement, metadata, secret_hash, access_token_hash, issued_at, updated_at) VALUES (?, 'software', 'organisation', ?, ?, ?, ?, ?, 0, 0)",
    )
    .bind::<Text, _>(&client_id)
    .bind::<Text, _>(issuer)
    .bind::<Text, _>(body)
    .bind::<Text, _>(&metadata)
    .bind::<Text, _>(hash(()))
    .bind::<Text, _>(hash(()))
    .execute(conn)?;
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
    let args: Vec<String> = std::env::args().collect();
    let (port, cert, key, size, sqlite) = match args.as_slice() {
        [_, port, cert, key, size] => (port, cert, key, size, None),
        [_, port, cert, key, size, mode, file] if mode == "sqlite" => {
            (port, cert, key, size, Some(file))
        }
        _ => return Err("usage: floor PORT CERT KEY RESPONSE_BYTES [sqlite FILE]".into()),
    };
    let size: usize = size.parse()?;
    let response = format!("{{\"pad\":\"{}\"}}", "x".repeat(size.saturating_sub(10)));
    let writer = match sqlite {
        Some(file) => Some(std::sync::Mutex::new(writer(file)?)),
        None => None,
    };
    let floor = web::Data::new(Floor { response, writer });
    let mut tls = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    tls.set_certificate_chain_file(cert)?;
    tls.set_private_key_file(key, SslFiletype::PEM)?;
    HttpServer::new(move || {
        App::new()
            .app_data(floor.clone())
            .app_data(web::PayloadConfig::new(64 * 1024))
            .route("/register", web::post().to(register))
    })
    .workers(2)
    .bind_openssl(("127.0.0.1", port.parse::<u16>()?), tls)?
    .run()
    .await?;
    Ok(())
}
