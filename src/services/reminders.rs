//! Reminders of what is about to expire: an active transport or signing certificate 30 days
//! and 7 days before its end, mailed to its organisation's admins who want notices. Every
//! instance looks every few seconds; the reminder's row is written with the message, so each
//! certificate gets each reminder once, whichever instance sends it.

use std::sync::Arc;

use super::Directory;
use crate::model::{Error, Result};
use crate::store::{self, write_transaction};

/// The reminders' thresholds in days, the nearest first (a certificate within 7 days gets
/// that one alone).
const THRESHOLDS: [i32; 2] = [7, 30];

/// At most this many certificates are reminded of in one pass (the next pass goes on).
const BATCH: i64 = 100;

/// Writes the reminders due now into the outbox; returns how many certificates got one.
pub async fn certificates_expiring(dir: &Arc<Directory>) -> Result<usize> {
    let (shared, at) = (dir.clone(), dir.now());
    dir.db(move |conn| {
        let mut reminded = 0;
        for threshold in THRESHOLDS {
            let horizon = at + time::Duration::days(i64::from(threshold));
            let due =
                store::certificates::expiring_unreminded(conn, at, horizon, threshold, BATCH)?;
            for cert in due {
                let sent = write_transaction(conn, |tx| -> Result<bool> {
                    match store::certificates::remember(tx, &cert.serial, threshold, at) {
                        Ok(true) => {}
                        Ok(false) => return Ok(false),
                        // Another instance recorded it at the same moment: its message.
                        Err(error) if store::is_unique_violation(&error) => {
                            return Err(Error::Conflict("reminded by another instance".into()));
                        }
                        Err(error) => return Err(error.into()),
                    }
                    for farther in THRESHOLDS.iter().filter(|t| **t > threshold) {
                        store::certificates::remember(tx, &cert.serial, *farther, at)?;
                    }
                    let product = store::software::find(tx, cert.software_id)?
                        .map_or_else(|| cert.software_id.to_string(), |s| s.client_name);
                    let days = (cert.not_after - at).whole_days().max(0) + 1;
                    let page = format!("{}/software/{}", shared.public_url, cert.software_id);
                    let notice = |to: &str| {
                        super::notices::certificate_expiring(
                            to,
                            &cert,
                            &product,
                            days,
                            page.clone(),
                        )
                    };
                    let composer = &shared.mailer.composer;
                    super::mail::to_admins(tx, composer, cert.organisation_id, notice, at)?;
                    Ok(true)
                });
                match sent {
                    Ok(sent) => reminded += usize::from(sent),
                    Err(Error::Conflict(_)) => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(reminded)
    })
    .await
}

/// How often the operators' digest may come.
const DIGEST_EVERY: time::Duration = time::Duration::hours(1);

/// The operators' digest of what waits for a decision: at most once an hour across instances,
/// only when something waits, to each operator who wants notices. True when written.
pub async fn operators_digest(dir: &Arc<Directory>) -> Result<bool> {
    use crate::model::organisation::OrganisationFilter;
    use crate::model::software::SoftwareFilter;
    use crate::model::{PageRequest, Status};
    let (shared, at) = (dir.clone(), dir.now());
    dir.db(move |conn| {
        // Within the hour nothing is counted (every instance looks every five seconds).
        if !store::mail::digest_due(conn, "operators", at - DIGEST_EVERY)? {
            return Ok(false);
        }
        let one = PageRequest {
            page: 1,
            per_page: 1,
        };
        let organisations = store::organisations::list(
            conn,
            None,
            &OrganisationFilter::status(Some(Status::Pending)),
            one,
        )?
        .total as i64;
        let pending = SoftwareFilter {
            status: Some(Status::Pending),
            ..SoftwareFilter::default()
        };
        let software = store::software::list(conn, None, None, pending, one)?.total as i64;
        let changes = SoftwareFilter {
            pending_change: true,
            ..SoftwareFilter::default()
        };
        let changes = store::software::list(conn, None, None, changes, one)?.total as i64;
        if organisations + software + changes == 0 {
            return Ok(false);
        }
        write_transaction(conn, |tx| {
            if !store::mail::take_digest_turn(tx, "operators", at - DIGEST_EVERY, at)? {
                return Ok(false);
            }
            let page = format!("{}/operator/queue", shared.public_url);
            for (id, email) in store::mail::operators_to_notify(tx)? {
                let notice = super::notices::operators_digest(
                    &email,
                    organisations,
                    software,
                    changes,
                    page.clone(),
                );
                super::mail::queue(tx, &shared.mailer.composer, Some(id), &notice, at)?;
            }
            Ok(true)
        })
    })
    .await
}
