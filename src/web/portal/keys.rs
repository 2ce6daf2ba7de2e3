//! Uploading and removing participant keys from the organisation and software pages.

use actix_session::Session;

use actix_web::web;

use super::{PortalPath, PortalResult, SignedIn, SteppedUp, redirect};
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

/// A page that shows an owner's keys, with the forms that upload and remove them: the
/// organisation's page or the product's.
pub(super) trait KeysPage: Copy + serde::de::DeserializeOwned + 'static {
    /// Whose keys the page shows.
    fn owner(self) -> KeyOwner;
    /// The page's address.
    fn page(self) -> String;
    /// The page again, with the refusal of an action beside its forms.
    async fn refused(
        state: &web::Data<Directory>,
        session: &Session,
        user: &User,
        id: Self,
        error: AppError,
    ) -> PortalResult;
}

/// Publishes the pasted JWK for the page's owner (behind a step-up: banks will accept what
/// it signs): a flash and a redirect back to the page, or the page again with the refusal.
pub(super) async fn upload_key<P: KeysPage>(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<P>,
    SteppedUp(form): SteppedUp<KeyForm>,
) -> PortalResult {
    let uploaded = match form.value() {
        Ok(jwk) => keystore::upload(&state, user.actor(), id.owner(), jwk)
            .await
            .map_err(AppError::from),
        Err(error) => Err(error),
    };
    match uploaded {
        Ok(key) => {
            auth::set_flash(&session, format!("Key {} published.", key.kid));
            Ok(redirect(&id.page()))
        }
        Err(error) => P::refused(&state, &session, &user, id, error).await,
    }
}

/// Moves one of the page owner's keys to the revoked set (behind a step-up): a flash and a
/// redirect back.
pub(super) async fn remove_key<P: KeysPage>(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath((id, kid)): PortalPath<(P, String)>,
    SteppedUp(_): SteppedUp<serde::de::IgnoredAny>,
) -> PortalResult {
    keystore::remove(&state, user.actor(), id.owner(), Kid::from_trusted(kid)).await?;
    auth::set_flash(&session, "Key moved to the revoked set.");
    Ok(redirect(&id.page()))
}
