//! Uploading and removing participant keys from the organisation and software pages.

use actix_session::Session;

use actix_web::{HttpResponse, web};

use super::redirect;
use crate::model::Error;
use crate::model::Kid;
use crate::model::account::User;
use crate::model::keys::KeyOwner;
use crate::services::{Directory, keystore};
use crate::web::auth;
use crate::web::error::AppError;

#[derive(serde::Deserialize)]
pub(super) struct KeyForm {
    #[serde(default)]
    pub jwk: String,
}

impl KeyForm {
    /// The pasted JWK as JSON, or a message that says why it is not.
    pub fn value(&self) -> Result<serde_json::Value, AppError> {
        serde_json::from_str(self.jwk.trim())
            .map_err(|e| AppError::Domain(Error::Validation(format!("jwk: not JSON ({e})"))))
    }
}

/// Publishes the pasted JWK for `owner`; a flash and a redirect back to `page`, or the
/// refusal for the page to show beside its forms.
pub(super) async fn upload(
    state: &web::Data<Directory>,
    session: &Session,
    user: &User,
    owner: KeyOwner,
    page: &str,
    form: KeyForm,
) -> Result<HttpResponse, AppError> {
    let key = keystore::upload(state, user.actor(), owner, form.value()?).await?;
    auth::set_flash(session, format!("Key {} published.", key.kid));
    Ok(redirect(page))
}

/// Moves one of the owner's keys to the revoked set; a flash and a redirect back to `page`.
pub(super) async fn remove(
    state: &web::Data<Directory>,
    session: &Session,
    user: &User,
    owner: KeyOwner,
    page: &str,
    kid: String,
) -> Result<HttpResponse, AppError> {
    keystore::remove(state, user.actor(), owner, Kid::from_trusted(kid)).await?;
    auth::set_flash(session, "Key moved to the revoked set.");
    Ok(redirect(page))
}
