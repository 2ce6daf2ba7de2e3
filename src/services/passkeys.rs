//! Passkeys and security keys (WebAuthn Level 2, with webauthn-rs): the relying party named by
//! the public URL, and the two ceremonies. A ceremony's state waits in the database between
//! the options a browser gets and its answer, is taken once and lasts a few minutes; what the
//! second factors do with a passed ceremony (audit, recovery codes, throttling, the session)
//! is `services::mfa`'s.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

use crate::model::account::User;
use crate::model::{Error, Result, Timestamp};
use crate::store::passkeys::{Ceremony, PasskeyRow, Purpose};
use crate::store::{self, DbConnection};

/// How long a browser has to answer a ceremony's options.
const CEREMONY_LIFETIME: time::Duration = time::Duration::minutes(5);

/// The relying party: the directory as its public URL names it, or why passkeys are not
/// offered (a browser binds passkeys to a domain name, never to an IP address).
#[derive(Clone)]
pub struct RelyingParty(std::result::Result<Webauthn, String>);

impl RelyingParty {
    /// The relying party of `public_url`: its host is the RP id, the URL's origin the only
    /// origin accepted.
    pub fn of(public_url: &str) -> Self {
        RelyingParty(Self::build(public_url))
    }

    fn build(public_url: &str) -> std::result::Result<Webauthn, String> {
        let url = Url::parse(public_url).map_err(|e| format!("the public URL: {e}"))?;
        let Some(host) = url.domain() else {
            return Err(format!(
                "passkeys need the directory's public URL to name a host, not an address ({public_url}); set SSA_DIRECTORY_PUBLIC_URL, such as http://localhost:8080 to try it"
            ));
        };
        WebauthnBuilder::new(host, &url)
            .and_then(|builder| builder.rp_name("SSA directory").build())
            .map_err(|e| format!("passkeys cannot be offered for {public_url}: {e}"))
    }

    /// The relying party, or why passkeys are not offered.
    pub fn get(&self) -> Result<&Webauthn> {
        self.0.as_ref().map_err(|why| Error::Conflict(why.clone()))
    }

    /// Why passkeys are not offered, when they are not.
    pub fn unavailable(&self) -> Option<&str> {
        self.0.as_ref().err().map(String::as_str)
    }
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Ok(_) => f.write_str("RelyingParty(ready)"),
            Err(why) => write!(f, "RelyingParty(unavailable: {why})"),
        }
    }
}

/// A ceremony begun: its id (posted back with the answer) and the options for the browser's
/// `navigator.credentials` (JSON).
pub struct Begun {
    pub id: String,
    pub options: String,
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::Unexpected(anyhow::Error::new(e).context("serialising WebAuthn state")))
}

fn unjson<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::Unexpected(anyhow::Error::new(e).context(format!("reading {what}"))))
}

fn answer<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|_| {
        Error::Validation(
            "the browser's answer to the passkey request is not one; try again".into(),
        )
    })
}

fn credential_id(passkey: &Passkey) -> String {
    URL_SAFE_NO_PAD.encode(passkey.cred_id().as_ref())
}

/// The account's passkeys as webauthn-rs reads them, with their row ids.
fn passkeys_of(conn: &mut DbConnection, user: &User) -> Result<Vec<(String, Passkey)>> {
    store::passkeys::of_user(conn, user.id)?
        .into_iter()
        .map(|row| Ok((row.id, unjson("a stored passkey", &row.credential)?)))
        .collect()
}

/// Begins adding a passkey named `name` to the account (its existing ones excluded, so an
/// authenticator is registered once).
pub fn begin_registration(
    conn: &mut DbConnection,
    party: &RelyingParty,
    user: &User,
    name: &str,
    at: Timestamp,
) -> Result<Begun> {
    let webauthn = party.get()?;
    let exclude = passkeys_of(conn, user)?
        .iter()
        .map(|(_, passkey)| passkey.cred_id().clone())
        .collect::<Vec<_>>();
    let (options, state) = webauthn
        .start_passkey_registration(user.id.uuid(), &user.email, &user.email, Some(exclude))
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("starting a passkey registration: {e}")))?;
    begin(
        conn,
        user,
        Purpose::Register,
        Some(name),
        json(&state)?,
        json(&options)?,
        at,
    )
}

fn begin(
    conn: &mut DbConnection,
    user: &User,
    purpose: Purpose,
    name: Option<&str>,
    state: String,
    options: String,
    at: Timestamp,
) -> Result<Begun> {
    let id = uuid::Uuid::new_v4().to_string();
    store::passkeys::begin(
        conn,
        &Ceremony {
            id: id.clone(),
            user_id: user.id,
            name: name.map(str::to_owned),
            state,
        },
        purpose,
        at,
        at + CEREMONY_LIFETIME,
    )?;
    Ok(Begun { id, options })
}

fn take(
    conn: &mut DbConnection,
    user: &User,
    id: &str,
    purpose: Purpose,
    at: Timestamp,
) -> Result<Ceremony> {
    store::passkeys::take(conn, user.id, id, purpose, at)?.ok_or_else(|| {
        Error::Validation("the passkey request expired or was answered already; try again".into())
    })
}

/// Completes a registration with the browser's answer (`credential`, JSON) and records the
/// passkey; returns it (its row). The caller's transaction audits it.
pub fn finish_registration(
    conn: &mut DbConnection,
    party: &RelyingParty,
    user: &User,
    ceremony: &str,
    credential: &str,
    at: Timestamp,
) -> Result<PasskeyRow> {
    let webauthn = party.get()?;
    let ceremony = take(conn, user, ceremony, Purpose::Register, at)?;
    let state: PasskeyRegistration = unjson("a registration's state", &ceremony.state)?;
    let reg: RegisterPublicKeyCredential = answer(credential)?;
    let passkey = webauthn
        .finish_passkey_registration(&reg, &state)
        .map_err(|e| Error::Validation(format!("the authenticator's answer was refused: {e}")))?;
    let row = PasskeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.id,
        name: ceremony.name.unwrap_or_else(|| "passkey".into()),
        credential_id: credential_id(&passkey),
        credential: json(&passkey)?,
        created_at: at,
        last_used_at: None,
    };
    if !store::passkeys::insert(conn, &row)? {
        return Err(Error::Conflict(
            "that authenticator is registered already".into(),
        ));
    }
    Ok(row)
}

/// Begins showing one of the account's passkeys; `None` when it has none.
pub fn begin_authentication(
    conn: &mut DbConnection,
    party: &RelyingParty,
    user: &User,
    at: Timestamp,
) -> Result<Option<Begun>> {
    let Ok(webauthn) = party.get() else {
        return Ok(None);
    };
    let passkeys: Vec<Passkey> = passkeys_of(conn, user)?
        .into_iter()
        .map(|(_, passkey)| passkey)
        .collect();
    if passkeys.is_empty() {
        return Ok(None);
    }
    let (options, state) = webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(|e| {
            Error::Unexpected(anyhow::anyhow!("starting a passkey authentication: {e}"))
        })?;
    begin(
        conn,
        user,
        Purpose::Authenticate,
        None,
        json(&state)?,
        json(&options)?,
        at,
    )
    .map(Some)
}

/// Checks the browser's answer (`credential`, JSON) to the account's authentication
/// `ceremony`: `Some(passkey row)` when one of its passkeys signed the challenge with the
/// user verified (its counter and last use are stored), `None` when the answer is refused.
pub fn finish_authentication(
    conn: &mut DbConnection,
    party: &RelyingParty,
    user: &User,
    ceremony: &str,
    credential: &str,
    at: Timestamp,
) -> Result<Option<PasskeyRow>> {
    let webauthn = party.get()?;
    let ceremony = take(conn, user, ceremony, Purpose::Authenticate, at)?;
    let state: PasskeyAuthentication = unjson("an authentication's state", &ceremony.state)?;
    let assertion: PublicKeyCredential = answer(credential)?;
    let result = match webauthn.finish_passkey_authentication(&assertion, &state) {
        Ok(result) => result,
        Err(error) => {
            tracing::info!(user = %user.id, %error, "a passkey's answer was refused");
            return Ok(None);
        }
    };
    for (id, mut passkey) in passkeys_of(conn, user)? {
        if passkey.cred_id() != result.cred_id() {
            continue;
        }
        passkey.update_credential(&result);
        store::passkeys::used(conn, &id, &json(&passkey)?, at)?;
        return Ok(store::passkeys::find(conn, user.id, &id)?);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::RelyingParty;

    #[test]
    fn the_relying_party_is_the_public_urls_host_and_never_an_address() {
        for url in [
            "http://localhost:8080",
            "https://directory.example",
            "https://directory.example:8443/",
        ] {
            let party = RelyingParty::of(url);
            assert!(party.unavailable().is_none(), "{url}: {party:?}");
        }
        for url in ["http://127.0.0.1:8080", "https://[::1]:8443", "not a url"] {
            let party = RelyingParty::of(url);
            assert!(party.get().is_err(), "{url}");
        }
        let why = RelyingParty::of("http://127.0.0.1:8080");
        assert!(
            why.unavailable()
                .is_some_and(|why| why.contains("SSA_DIRECTORY_PUBLIC_URL")),
            "{why:?}"
        );
    }
}
