//! The messages people get by mail about their accounts and organisations (their words; the
//! outbox is `services::mail`'s). Security notices are always sent.

use crate::mail::Outgoing;
use crate::model::organisation::Organisation;

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

/// An operator decided on the organisation (`transition`: approve, reject, suspend,
/// reinstate, revoke), with the reason when one was given; to one of its admins.
pub fn organisation_decided(
    to: &str,
    org: &Organisation,
    transition: &str,
    reason: Option<&str>,
    page: String,
) -> Outgoing {
    let what = match transition {
        "approve" => {
            "was approved: it can register software products and get statements and certificates"
        }
        "reject" => "was rejected",
        "suspend" => {
            "was suspended: its statements and certificates no longer count until it is reinstated"
        }
        "reinstate" => "was reinstated",
        "revoke" => "was revoked for good",
        _ => "changed status",
    };
    let mut paragraphs = vec![format!("{} {what}.", org.legal_name)];
    if let Some(reason) = reason {
        paragraphs.push(format!("The operator's reason: {reason}"));
    }
    Outgoing {
        kind: match transition {
            "approve" => "organisation.approved",
            "reject" => "organisation.rejected",
            "suspend" => "organisation.suspended",
            "reinstate" => "organisation.reinstated",
            "revoke" => "organisation.revoked",
            _ => "organisation.changed",
        },
        to: to.to_owned(),
        subject: format!(
            "{} {}",
            org.legal_name,
            what.split(':').next().unwrap_or(what)
        ),
        paragraphs,
        action: Some(("Open the organisation".into(), page)),
    }
}
