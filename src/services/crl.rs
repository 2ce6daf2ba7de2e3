//! The CRL as the directory serves it: signed anew (with the next number, kept in the
//! database so that numbers only grow across instances) when the set of revoked and held
//! certificates changes and before the current one's nextUpdate, and prepared in memory so
//! that `GET /pki/crl` costs a lookup and a copy, not a transaction.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::Directory;
use crate::documents::Published;
use crate::model::{Result, Timestamp};
use crate::pki::ca::IssuingCa;
use crate::pki::{self, Ca};
use crate::store::crls::StoredCrl;
use crate::store::{self, DbConnection, is_unique_violation, write_transaction};

/// A CRL ready to serve.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub document: Published,
    pub number: i64,
    pub next_update: Timestamp,
}

/// The CRLs this instance serves, one per issuing CA (by its id); replaced by [`refresh`].
pub struct Current {
    /// The id of the issuing CA that signs new certificates.
    id: String,
    /// Its CRL: what `GET /pki/crl` serves.
    current: RwLock<Arc<Prepared>>,
    /// Every issuing CA's.
    crls: RwLock<HashMap<String, Arc<Prepared>>>,
}

impl Current {
    fn new(id: &str, current: &StoredCrl, crls: &[(String, StoredCrl)]) -> Self {
        Self {
            id: id.to_owned(),
            current: RwLock::new(Arc::new(prepare(current))),
            crls: RwLock::new(
                crls.iter()
                    .map(|(id, crl)| (id.clone(), Arc::new(prepare(crl))))
                    .collect(),
            ),
        }
    }

    /// The CRL of the issuing CA that signs new certificates.
    pub fn get(&self) -> Arc<Prepared> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The CRL of the issuing CA `id`, if it is one of the directory's.
    pub fn of(&self, id: &str) -> Option<Arc<Prepared>> {
        match self.crls.read() {
            Ok(guard) => guard.get(id).cloned(),
            Err(poisoned) => poisoned.into_inner().get(id).cloned(),
        }
    }

    fn replace(&self, id: &str, crl: &StoredCrl) {
        let mut guard = match self.crls.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.get(id).is_some_and(|c| c.number == crl.number) {
            return;
        }
        let prepared = Arc::new(prepare(crl));
        guard.insert(id.to_owned(), prepared.clone());
        if id == self.id {
            match self.current.write() {
                Ok(mut current) => *current = prepared,
                Err(poisoned) => *poisoned.into_inner() = prepared,
            }
        }
    }
}

fn prepare(crl: &StoredCrl) -> Prepared {
    Prepared {
        document: Published::new(crl.der.clone()),
        number: crl.number,
        next_update: crl.next_update,
    }
}

/// Whether the stored CRL must be replaced: the revoked set changed, or it is within a
/// quarter of its validity of nextUpdate.
fn due(current: Option<&StoredCrl>, content_hash: &str, validity_secs: u64, at: Timestamp) -> bool {
    let margin = time::Duration::seconds((validity_secs / 4) as i64);
    !current.is_some_and(|crl| crl.content_hash == content_hash && crl.next_update - margin > at)
}

/// What the CRL of `issuing` lists now: every unexpired certificate it signed that is
/// revoked or on hold.
fn entries(
    conn: &mut DbConnection,
    ca: &Ca,
    issuing: &IssuingCa,
    at: Timestamp,
) -> Result<Vec<pki::crl::Entry>> {
    Ok(store::certificates::revoked(conn, at)?
        .into_iter()
        .filter(|(_, (_, issuer, pem))| {
            ca.issuer_of(issuer.as_deref(), pem)
                .is_some_and(|i| i.id == issuing.id)
        })
        .map(|(serial, (state, _, _))| pki::crl::Entry {
            serial,
            reason: state.reason,
            revoked_at: state.at,
        })
        .collect())
}

/// The latest CRL of `issuing`, signing the next one first when one is due. Instances that
/// race to sign the same number agree: the number is the key, the loser reads the winner's.
pub fn ensure_current(
    conn: &mut DbConnection,
    ca: &Ca,
    issuing: &IssuingCa,
    validity_secs: u64,
    at: Timestamp,
) -> Result<StoredCrl> {
    let listed = entries(conn, ca, issuing, at)?;
    let hash = pki::crl::content_hash(&listed);
    let latest = store::crls::latest(conn, &issuing.id)?;
    if !due(latest.as_ref(), &hash, validity_secs, at)
        && let Some(crl) = latest
    {
        return Ok(crl);
    }
    let signed = write_transaction(conn, |tx| {
        let listed = entries(tx, ca, issuing, at)?;
        let hash = pki::crl::content_hash(&listed);
        let current = store::crls::latest(tx, &issuing.id)?;
        if !due(current.as_ref(), &hash, validity_secs, at)
            && let Some(crl) = current
        {
            return Ok(crl);
        }
        let number = store::crls::highest_number(tx)?.map_or(1, |n| n + 1);
        let this_update = at.assume_utc();
        let this_update = this_update.replace_nanosecond(0).unwrap_or(this_update);
        let next_update = this_update + time::Duration::seconds(validity_secs as i64);
        let der = pki::crl::sign(issuing, number, this_update, next_update, &listed)?;
        let crl = StoredCrl {
            number,
            this_update: time::PrimitiveDateTime::new(this_update.date(), this_update.time()),
            next_update: time::PrimitiveDateTime::new(next_update.date(), next_update.time()),
            der,
            content_hash: hash,
            issuer: Some(issuing.id.clone()),
        };
        store::crls::insert(tx, &crl)?;
        tracing::info!(number, issuer = %issuing.id, revoked = listed.len(), "signed a new CRL");
        Ok(crl)
    });
    match signed {
        Err(crate::model::Error::Unexpected(cause))
            if cause
                .downcast_ref::<diesel::result::Error>()
                .is_some_and(is_unique_violation) =>
        {
            // Another instance signed this number first.
            Ok(store::crls::latest(conn, &issuing.id)?
                .ok_or(crate::model::Error::NotFound("CRL"))?)
        }
        other => other,
    }
}

/// The CRLs prepared for the first requests: each issuing CA's latest, signed now if one is
/// due.
pub fn initial(
    conn: &mut DbConnection,
    ca: &Ca,
    validity_secs: u64,
    at: Timestamp,
) -> Result<Current> {
    let current = ensure_current(conn, ca, &ca.current, validity_secs, at)?;
    let mut crls = vec![(ca.current.id.clone(), current.clone())];
    for issuing in &ca.previous {
        crls.push((
            issuing.id.clone(),
            ensure_current(conn, ca, issuing, validity_secs, at)?,
        ));
    }
    Ok(Current::new(&ca.current.id, &current, &crls))
}

/// Signs new CRLs where due (here, or found signed by another instance) and serves them.
pub async fn refresh(dir: &Arc<Directory>) -> Result<()> {
    let (shared, at) = (dir.clone(), dir.now());
    let crls = dir
        .db(move |conn| {
            let mut crls = vec![];
            for issuing in shared.ca.issuers() {
                let crl = ensure_current(
                    conn,
                    &shared.ca,
                    issuing,
                    shared.config.crl_validity_secs,
                    at,
                )?;
                crls.push((issuing.id.clone(), crl));
            }
            Ok(crls)
        })
        .await?;
    for (id, crl) in &crls {
        dir.crl.replace(id, crl);
    }
    Ok(())
}

/// `Cache-Control: max-age` of the CRL: the seconds left until its nextUpdate, at most 300
/// (or the refresh period, where that is longer: no instance serves an older CRL than it
/// advertises).
pub fn max_age(crl: &Prepared, refresh_secs: u64, at: Timestamp) -> u64 {
    let remaining = (crl.next_update - at).whole_seconds().max(0) as u64;
    remaining.min(300.max(refresh_secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Clock, SystemClock};

    fn now() -> Timestamp {
        SystemClock.now()
    }

    fn stored(hash: &str, next_update_in: i64) -> StoredCrl {
        StoredCrl {
            number: 7,
            this_update: now(),
            next_update: now() + time::Duration::seconds(next_update_in),
            der: vec![],
            content_hash: hash.into(),
            issuer: Some("i".into()),
        }
    }

    #[test]
    fn a_crl_is_signed_anew_when_its_content_changes_or_its_next_update_nears() {
        let day = 24 * 3600;
        assert!(due(None, "h", day, now()), "no CRL yet");
        assert!(!due(Some(&stored("h", day as i64)), "h", day, now()));
        assert!(due(Some(&stored("h", day as i64)), "other", day, now()));
        assert!(
            !due(Some(&stored("h", day as i64 / 4 + 60)), "h", day, now()),
            "more than a quarter of its validity left"
        );
        assert!(
            due(Some(&stored("h", day as i64 / 4 - 60)), "h", day, now()),
            "re-signed before nextUpdate, not after"
        );
        assert!(due(Some(&stored("h", -1)), "h", day, now()));
    }
}
