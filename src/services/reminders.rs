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
