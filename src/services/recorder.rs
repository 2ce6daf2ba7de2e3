//! Group commit of issued statements.
//!
//! Every statement is recorded (jti, software, kid, times, who) and audited before it is
//! handed out. Recording each in its own write transaction made the transaction itself
//! (`BEGIN IMMEDIATE`, commit, the WAL frames) the largest cost of an issuance after the
//! signature, and queued every request on SQLite's single writer. One thread now takes the
//! records waiting at that moment and writes them all in one transaction; each caller waits
//! for the outcome of its own record, so no statement leaves the directory unrecorded, and a
//! statement's record and audit event still share a transaction.

use std::collections::HashMap;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::model::audit::Entry;
use crate::model::{Error, Kid};
use crate::store::statements::{self, IssuedSsa};
use crate::store::{self as store, DbConnection, DbPool, write_transaction};

/// The most records written in one transaction.
const BATCH: usize = 128;

/// One issued statement, to be recorded with its audit event and logged.
pub struct Record {
    pub issued: IssuedSsa,
    pub event: Entry,
    /// The statement as issued (its compact JWS), for the transparency log.
    pub jwt: String,
}

struct Job {
    record: Record,
    done: oneshot::Sender<Result<(), Error>>,
}

/// The handle requests use; clones share one writer thread.
#[derive(Clone)]
pub struct Recorder {
    jobs: mpsc::Sender<Job>,
}

impl Recorder {
    /// Starts the writer thread. It ends when every handle is dropped.
    /// With `log`, each statement joins the transparency log in its batch's transaction.
    pub fn start(
        pool: DbPool,
        metrics: crate::metrics::Metrics,
        log: bool,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("ssa-recorder".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    metrics.observe_record_batch(batch.len());
                    write_batch(&pool, batch, log);
                }
            })?;
        Ok(Self { jobs })
    }

    /// Records one statement; returns once it is committed.
    pub async fn record(&self, record: Record) -> Result<(), Error> {
        let (done, outcome) = oneshot::channel();
        self.jobs
            .send(Job { record, done })
            .map_err(|_| Error::Unavailable("the statement recorder has stopped".into()))?;
        outcome.await.map_err(|_| {
            Error::Unavailable("the statement recorder stopped before recording".into())
        })?
    }
}

fn write_batch(pool: &DbPool, batch: Vec<Job>, log: bool) {
    let span = tracing::debug_span!("ssa.record", records = batch.len());
    let _entered = span.enter();
    let (records, waiting): (Vec<Record>, Vec<_>) =
        batch.into_iter().map(|job| (job.record, job.done)).unzip();
    let outcome = pool
        .get()
        .map_err(|e| Error::Unavailable(e.to_string()))
        .and_then(|mut conn| write_transaction(&mut conn, |tx| insert(tx, records, log)));
    match outcome {
        Ok(accepted) => {
            for (done, accepted) in waiting.into_iter().zip(accepted) {
                let result = if accepted {
                    Ok(())
                } else {
                    Err(Error::Conflict(
                        "the signing key changed meanwhile; try again".into(),
                    ))
                };
                let _ = done.send(result);
            }
        }
        Err(error) => {
            tracing::error!(%error, records = waiting.len(), "issued statements not recorded");
            let message = format!("the statement could not be recorded: {error}");
            for done in waiting {
                let _ = done.send(Err(Error::Unavailable(message.clone())));
            }
        }
    }
}

/// Inserts the records whose key is still published; answers, per record, whether it was.
fn insert(tx: &mut DbConnection, records: Vec<Record>, log: bool) -> Result<Vec<bool>, Error> {
    // A retired key stays published while the statements it signed live; a removed one does
    // not, so a statement signed with it is not handed out.
    let mut published: HashMap<Kid, bool> = HashMap::new();
    for record in &records {
        if !published.contains_key(&record.issued.kid) {
            let ok = store::signing_keys::vouches(tx, &record.issued.kid)?;
            published.insert(record.issued.kid.clone(), ok);
        }
    }
    let accepted: Vec<bool> = records
        .iter()
        .map(|r| published.get(&r.issued.kid).copied().unwrap_or(false))
        .collect();
    let mut logged = Vec::new();
    let (rows, events): (Vec<IssuedSsa>, Vec<Entry>) = records
        .into_iter()
        .zip(&accepted)
        .filter(|(_, ok)| **ok)
        .map(|(r, _)| {
            logged.push((r.jwt, r.issued.jti.to_string(), r.event.occurred_at));
            (r.issued, r.event)
        })
        .unzip();
    statements::insert_batch(tx, &rows, events)?;
    // Each statement handed out has its place in the log, in this same transaction.
    if log && !logged.is_empty() {
        let artefacts: Vec<(&[u8], &str, _)> = logged
            .iter()
            .map(|(jwt, jti, at)| (jwt.as_bytes(), jti.as_str(), *at))
            .collect();
        super::transparency::record_all_in(
            tx,
            ssa_verifier::transparency::EntryKind::Statement,
            &artefacts,
        )?;
    }
    Ok(accepted)
}
