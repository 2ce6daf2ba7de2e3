//! The messages people get by mail about their accounts and organisations (their words; the
//! outbox is `services::mail`'s). Security notices are always sent.

use crate::mail::Outgoing;

/// The account's password changed (by its owner or through a reset link).
pub fn password_changed(email: &str) -> Outgoing {
    Outgoing {
        kind: "security.password_changed",
        to: email.to_owned(),
        subject: "your password changed".into(),
        paragraphs: vec![
            format!("The password of {email} was changed, and every other session of the account ended."),
            "If it was not you, ask for a new password with \"Forgot your password?\" on the log-in page at once, and tell the directory's operators.".into(),
        ],
        action: None,
    }
}

/// The account's address changed: told to the address it had.
pub fn address_changed(old: &str, new: &str) -> Outgoing {
    Outgoing {
        kind: "security.address_changed",
        to: old.to_owned(),
        subject: "your account's address changed".into(),
        paragraphs: vec![
            format!(
                "The account that had the address {old} now has the address {new}, which it verified: mail about the account goes there from now on, and it logs in with it."
            ),
            "If it was not you, tell the directory's operators at once.".into(),
        ],
        action: None,
    }
}

/// A second factor was added to the account, or removed from it.
pub fn second_factor(email: &str, added: bool, kind: &str, name: &str) -> Outgoing {
    let (what, kind_name) = match kind {
        "passkey" => ("passkey", "passkey"),
        _ => ("authenticator app", "authenticator app"),
    };
    let verb = if added { "added to" } else { "removed from" };
    Outgoing {
        kind: if added {
            "security.second_factor_added"
        } else {
            "security.second_factor_removed"
        },
        to: email.to_owned(),
        subject: format!("a {what} was {verb} your account"),
        paragraphs: vec![
            format!("The {kind_name} \"{name}\" was {verb} {email}."),
            "If it was not you, change your password at once and tell the directory's operators."
                .into(),
        ],
        action: None,
    }
}

/// An API token was created for the account.
pub fn token_created(email: &str, name: &str) -> Outgoing {
    Outgoing {
        kind: "security.token_created",
        to: email.to_owned(),
        subject: "a new API token".into(),
        paragraphs: vec![
            format!("An API token named \"{name}\" was created for {email}. It acts as the account until it is revoked (or, for operators, expires)."),
            "If it was not you, revoke it on the portal's \"API tokens\" page, change your password and tell the directory's operators.".into(),
        ],
        action: None,
    }
}

/// An operator decided on an organisation or a software product (`what`) named `name`
/// (`transition`: approve, reject, suspend, reinstate, revoke, or a change request's
/// change_approve / change_reject), with the reason when one was given; to one of its admins.
pub fn decided(
    to: &str,
    what: &str,
    name: &str,
    transition: &str,
    reason: Option<&str>,
    page: String,
) -> Outgoing {
    let organisation = what == "organisation";
    let (verdict, consequence) = match transition {
        "approve" => (
            "was approved",
            Some(if organisation {
                "it can register software products and get statements and certificates"
            } else {
                "it can get statements and certificates"
            }),
        ),
        "reject" => ("was rejected", None),
        "suspend" => (
            "was suspended",
            Some("its statements and certificates no longer count until it is reinstated"),
        ),
        "reinstate" => ("was reinstated", None),
        "revoke" => ("was revoked for good", None),
        "change_approve" => ("had its requested change approved", None),
        "change_reject" => ("had its requested change rejected", None),
        _ => ("changed status", None),
    };
    let mut paragraphs = vec![match consequence {
        Some(consequence) => format!("The {what} {name} {verdict}: {consequence}."),
        None => format!("The {what} {name} {verdict}."),
    }];
    if let Some(reason) = reason {
        paragraphs.push(format!("The operator's reason: {reason}"));
    }
    Outgoing {
        kind: if organisation {
            "organisation.decision"
        } else {
            "software.decision"
        },
        to: to.to_owned(),
        subject: format!("{name} {verdict}"),
        paragraphs,
        action: Some((format!("Open the {what}"), page)),
    }
}

/// A certificate of one of the organisation's products expires in `days` days (a reminder at
/// 30 and at 7 days).
pub fn certificate_expiring(
    to: &str,
    cert: &crate::model::certificate::Certificate,
    product: &str,
    days: i64,
    page: String,
) -> Outgoing {
    let kind = cert.cert_type.as_str();
    Outgoing {
        kind: "certificate.expiring",
        to: to.to_owned(),
        subject: format!("the {kind} certificate of {product} expires in {days} days"),
        paragraphs: vec![
            format!(
                "The {kind} certificate {} of {product} ({}) expires on {} UTC, in {days} days.",
                cert.serial, cert.subject, cert.not_after
            ),
            "Request a new one from a new key (upload a CSR on the product's page or with the API) and move your software to it before then: banks refuse an expired certificate.".into(),
        ],
        action: Some(("Open the product".into(), page)),
    }
}

/// What waits for operators' decisions: applications (organisations), products and change
/// requests; to one operator.
pub fn operators_digest(
    to: &str,
    organisations: i64,
    software: i64,
    changes: i64,
    page: String,
) -> Outgoing {
    let mut waiting = Vec::new();
    for (count, what) in [
        (organisations, "organisation application(s)"),
        (software, "software product(s)"),
        (changes, "change request(s)"),
    ] {
        if count > 0 {
            waiting.push(format!("{count} {what}"));
        }
    }
    Outgoing {
        kind: "operators.digest",
        to: to.to_owned(),
        subject: "decisions waiting".into(),
        paragraphs: vec![
            format!("Waiting for a decision: {}.", waiting.join(", ")),
            "This digest comes at most once an hour, while something waits.".into(),
        ],
        action: Some(("Open the queue".into(), page)),
    }
}

/// A push subscription of the organisation turned failing: retried for `push_retry_secs`
/// without success; delivery goes on with backoff, and polling catches up.
pub fn subscription_failing(to: &str, endpoint: &str, why: &str, page: String) -> Outgoing {
    Outgoing {
        kind: "subscription.failing",
        to: to.to_owned(),
        subject: "a push subscription is failing".into(),
        paragraphs: vec![
            format!("The directory could not push change events to {endpoint} for a while, and marked its subscription failing. The last error: {why}"),
            "Events are kept and still tried, less often; fix the endpoint and resume the subscription on the organisation's page, or catch up with GET /events.".into(),
        ],
        action: Some(("Open the subscriptions".into(), page)),
    }
}

/// The account was invited to an organisation with a role, by `by`.
pub fn invited(to: &str, organisation: &str, role: &str, by: &str, page: String) -> Outgoing {
    Outgoing {
        kind: "invitation",
        to: to.to_owned(),
        subject: format!("an invitation to {organisation}"),
        paragraphs: vec![
            format!("{by} invited you to {organisation} as {role}."),
            "Accept or decline it on your dashboard; it expires unanswered.".into(),
        ],
        action: Some(("Open your dashboard".into(), page)),
    }
}

/// An address without an account was invited to an organisation: the link signs up with it.
pub fn invited_to_sign_up(
    to: &str,
    organisation: &str,
    role: &str,
    by: &str,
    link: String,
) -> Outgoing {
    Outgoing {
        kind: "invitation",
        to: to.to_owned(),
        subject: format!("an invitation to {organisation}"),
        paragraphs: vec![
            format!("{by} invited {to} to {organisation} as {role}."),
            "Make an account with this address; once you verify it (we mail you a link), you are a member.".into(),
            "If you do not know them, ignore this message.".into(),
        ],
        action: Some(("Make an account".into(), link)),
    }
}

/// The directory's SSA signing keys rotated; to an ASPSP's technical contact (its
/// authorization servers verify statements with them).
pub fn keys_rotated(
    to: &str,
    organisation: &str,
    signing: &str,
    upcoming: &str,
    jwks: String,
) -> Outgoing {
    Outgoing {
        kind: "keys.rotated",
        to: to.to_owned(),
        subject: "the directory's signing key rotated".into(),
        paragraphs: vec![
            format!("For {organisation}: software statements are now signed with the key {signing}, which the JWKS published before it signed; the key {upcoming} is published as the next one."),
            "Authorization servers that fetch the JWKS as it asks (its Cache-Control) need nothing; those that pin keys should add these. The retired key stays published until the statements it signed expire.".into(),
        ],
        action: Some(("The JWKS".into(), jwks)),
    }
}
