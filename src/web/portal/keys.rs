//! Uploading and removing participant keys from the organisation and software pages.

use actix_session::Session;

use super::{PortalResult, redirect, require_user};
use crate::AppState;
use crate::db;
use crate::directory::keystore::{self, Owner};
use crate::error::AppError;
use crate::web::auth::{self, SessionUser};

#[derive(serde::Deserialize)]
pub(super) struct KeyForm {
    #[serde(default)]
    pub jwk: String,
}

impl KeyForm {
    /// The pasted JWK as JSON, or a message that says why it is not.
    pub fn value(&self) -> Result<serde_json::Value, AppError> {
        serde_json::from_str(self.jwk.trim())
            .map_err(|e| AppError::Validation(format!("jwk: not JSON ({e})")))
    }
}

/// The page a key form sits on.
#[derive(Clone, Copy)]
pub(super) enum Page {
    Organisation,
    Software,
}

impl Page {
    fn owner(self, id: &str) -> Owner {
        match self {
            Page::Organisation => Owner::Organisation(id.to_owned()),
            Page::Software => Owner::Software(id.to_owned()),
        }
    }

    fn path(self, id: &str) -> String {
        match self {
            Page::Organisation => format!("/organisations/{id}"),
            Page::Software => format!("/software/{id}"),
        }
    }

    /// Shows the page again with the error beside its forms.
    async fn refused(
        self,
        state: &AppState,
        session: &Session,
        user: &crate::directory::users::User,
        id: String,
        error: AppError,
    ) -> PortalResult {
        match self {
            Page::Organisation => {
                super::organisations::refused(state, session, user, id, error).await
            }
            Page::Software => super::software::refused(state, session, user, id, error).await,
        }
    }
}

/// Publishes the pasted JWK for the page's owner.
pub(super) async fn upload(
    page: Page,
    state: &AppState,
    session: &Session,
    user: SessionUser,
    id: String,
    form: KeyForm,
) -> PortalResult {
    let user = require_user(user)?;
    let actor = user.actor();
    let owner = page.owner(&id);
    let result = match form.value() {
        Ok(jwk) => {
            db::run(&state.pool, move |conn| {
                keystore::upload(conn, &actor, &owner, &jwk)
            })
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(key) => {
            auth::set_flash(session, format!("Key {} published.", key.kid));
            Ok(redirect(&page.path(&id)))
        }
        Err(error) => page.refused(state, session, &user, id, error).await,
    }
}

/// Moves one of the owner's keys to the revoked set.
pub(super) async fn remove(
    page: Page,
    state: &AppState,
    session: &Session,
    user: SessionUser,
    id: String,
    kid: String,
) -> PortalResult {
    let user = require_user(user)?;
    let actor = user.actor();
    let owner = page.owner(&id);
    db::run(&state.pool, move |conn| {
        keystore::remove(conn, &actor, &owner, &kid)
    })
    .await?;
    auth::set_flash(session, "Key moved to the revoked set.");
    Ok(redirect(&page.path(&id)))
}
