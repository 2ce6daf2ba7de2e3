//! Following the trusted directories' change events: each page applied in one transaction,
//! clients disabled or re-enabled, and what stateless clients' statuses come from.

use super::*;

/// Follows directory `index`'s feed (long polls of 5 s) while the service runs. A page read
/// from a cursor that another reader (the feed barrier) moved on meanwhile is dropped: that
/// reader applied those events already, and the next poll starts from where it stopped.
pub(super) fn follow(state: &std::sync::Weak<State>, index: usize) {
    while let Some(state) = state.upgrade() {
        let Some(verifier) = state.registrar.directories().get(index) else {
            return;
        };
        let from = lock(&state.cursors[index]).clone();
        let applied = verifier
            .poll_events(from.as_deref(), std::time::Duration::from_secs(5))
            .map_err(anyhow::Error::from)
            .and_then(|page| {
                let mut cursor = lock(&state.cursors[index]);
                if *cursor == from {
                    apply_page(&state, index, &page)?;
                    *cursor = Some(page.next_cursor);
                }
                Ok(())
            });
        if let Err(error) = applied {
            tracing::warn!(%error, index, "cannot follow the directory's events");
            drop(state);
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
    }
}

/// The guarded value, whether or not a holder panicked.
pub(super) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads directory `index`'s feed from the applied cursor until it is empty (a page shorter
/// than the 1,000 asked for), without waiting, applying each page: afterwards every event the
/// directory had committed when this began is applied.
pub(super) fn read_to_end(state: &State, index: usize) -> anyhow::Result<()> {
    let verifier = state
        .registrar
        .directories()
        .get(index)
        .ok_or_else(|| anyhow::anyhow!("no directory {index}"))?;
    let mut cursor = lock(&state.cursors[index]);
    loop {
        let page = verifier.poll_events(cursor.as_deref(), std::time::Duration::ZERO)?;
        apply_page(state, index, &page)?;
        let read = page.events.len();
        *cursor = Some(page.next_cursor);
        if read < 1000 {
            return Ok(());
        }
    }
}

/// Applies one page of directory `index`'s feed and stores its next cursor, in one
/// transaction.
pub(super) fn apply_page(
    state: &State,
    index: usize,
    page: &ssa_verifier::EventPage,
) -> anyhow::Result<()> {
    let verifier = state
        .registrar
        .directories()
        .get(index)
        .ok_or_else(|| anyhow::anyhow!("no directory {index}"))?;
    let issuer = verifier.issuer();
    let stateless = state.sealer.is_some();
    let mut conn = state.pool.get()?;
    store::write(&mut conn, |tx| {
        for (_, event) in &page.events {
            if stateless {
                // No client rows: what the event stops or reinstates is kept instead.
                if let Some((concerned, reason)) = stopping(event) {
                    store::set_stopped(tx, issuer, &concerned.key(), reason.as_deref(), now())?;
                }
            } else {
                apply(tx, issuer, event)?;
            }
        }
        store::set_cursor(tx, issuer, &page.next_cursor)?;
        Ok(())
    })?;
    state.changed.notify_waiters();
    if stateless {
        for (_, event) in &page.events {
            if let Some((concerned, reason)) = stopping(event) {
                remember(state, issuer, concerned.key(), reason);
            }
        }
    }
    Ok(())
}

/// What a change event concerns, and whether it stops it (with the reason) or reinstates it
/// (`None`): a software, an organisation (suspended, revoked or rejected, or reinstated) or a
/// statement (revoked for good).
pub(super) fn stopping(
    event: &ssa_verifier::ChangeEvent,
) -> Option<(store::Concerned<'_>, Option<String>)> {
    use store::Concerned;
    let value = event
        .payload
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let stopped = matches!(value, "suspended" | "revoked" | "rejected");
    let (concerned, reason) = match (event.kind(), event.subject_id()) {
        ("software-status", Some(id)) => (Concerned::Software(id), format!("software {value}")),
        ("organisation-status", Some(id)) => {
            (Concerned::Organisation(id), format!("organisation {value}"))
        }
        ("statement-revoked", Some(jti)) => {
            return Some((
                Concerned::Statement(jti),
                Some("statement revoked".to_owned()),
            ));
        }
        _ => return None,
    };
    Some((concerned, stopped.then_some(reason)))
}

/// Keeps in memory what a feed stopped (or reinstated), for stateless clients' status.
pub(super) fn remember(state: &State, issuer: &str, subject: String, reason: Option<String>) {
    let Ok(mut map) = state.stopped.lock() else {
        return;
    };
    match reason {
        Some(reason) => map.insert((issuer.to_owned(), subject), reason),
        None => map.remove(&(issuer.to_owned(), subject)),
    };
}

/// Why a sealed registration is disabled, if it is.
pub(super) fn stopped_reason(state: &State, registration: &Value) -> Option<String> {
    let issuer = registration.get("iss")?.as_str()?.to_owned();
    let map = state.stopped.lock().ok()?;
    let field = |name: &str| registration.get(name).and_then(Value::as_str);
    [
        field("sid").map(store::Concerned::Software),
        field("oid").map(store::Concerned::Organisation),
        field("jti").map(store::Concerned::Statement),
    ]
    .into_iter()
    .flatten()
    .find_map(|concerned| map.get(&(issuer.clone(), concerned.key())).cloned())
}

/// What one change event does to the registered clients.
pub(super) fn apply(
    conn: &mut Db,
    issuer: &str,
    event: &ssa_verifier::ChangeEvent,
) -> anyhow::Result<()> {
    let Some((concerned, reason)) = stopping(event) else {
        return Ok(());
    };
    let changed = store::set_disabled(conn, issuer, concerned, reason.as_deref(), now())?;
    if changed > 0 {
        tracing::info!(
            changed,
            kind = event.kind(),
            reason = reason.as_deref().unwrap_or("reinstated"),
            "clients follow the directory"
        );
    }
    Ok(())
}
