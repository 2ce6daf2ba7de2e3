//! An organisation's push subscriptions in the portal: admins register endpoints, pause,
//! resume and remove them; members see the delivery status on the organisation page.

use actix_session::Session;
use actix_web::web;
use serde::Deserialize;

use super::organisations::refused;
use super::{PortalPath, SignedIn};
use super::{PortalResult, redirect};
use crate::model::subscription::{Delivery, SubscriptionState};
use crate::model::{OrgId, SubscriptionId};
use crate::services::Directory;
use crate::services::subscriptions::{self, NewSubscription};
use crate::web::auth::{self, PortalForm};
use crate::web::error::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/organisations/{org_id}/subscriptions",
        web::post().to(create),
    )
    .route(
        "/organisations/{org_id}/subscriptions/{subscription_id}/{action:pause|resume|remove}",
        web::post().to(change),
    );
}

#[derive(Deserialize)]
struct SubscriptionForm {
    #[serde(default)]
    endpoint: String,
    /// Checked kinds; none checked means every kind.
    #[serde(default)]
    kinds: Vec<String>,
}

async fn create(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<OrgId>,
    PortalForm(form): PortalForm<SubscriptionForm>,
) -> PortalResult {
    let org = id;
    let input = NewSubscription {
        method: Delivery::Push,
        endpoint: Some(form.endpoint),
        kinds: form.kinds,
    };
    match subscriptions::create(&state, user.actor(), org, input).await {
        Ok(view) => {
            auth::set_flash(
                &session,
                format!(
                    "Events will be pushed to {}.",
                    view.endpoint.unwrap_or_default()
                ),
            );
            Ok(redirect(&format!("/organisations/{id}#subscriptions")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}

/// What the buttons of a subscription ask for (the route admits only these three).
#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Action {
    Pause,
    Resume,
    Remove,
}

async fn change(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath((id, subscription, action)): PortalPath<(OrgId, SubscriptionId, Action)>,
    PortalForm(_): PortalForm<serde::de::IgnoredAny>,
) -> PortalResult {
    let org = id;
    let actor = user.actor();
    let result: Result<&str, AppError> = match action {
        Action::Pause => {
            subscriptions::set_state(&state, actor, org, subscription, SubscriptionState::Paused)
                .await
                .map(|_| "Subscription paused.")
                .map_err(AppError::from)
        }
        Action::Resume => {
            subscriptions::set_state(&state, actor, org, subscription, SubscriptionState::Active)
                .await
                .map(|_| "Subscription resumed: delivery continues from where it stood.")
                .map_err(AppError::from)
        }
        Action::Remove => subscriptions::delete(&state, actor, org, subscription)
            .await
            .map(|_| "Subscription removed.")
            .map_err(AppError::from),
    };
    match result {
        Ok(message) => {
            auth::set_flash(&session, message);
            Ok(redirect(&format!("/organisations/{id}#subscriptions")))
        }
        Err(error) => refused(&state, &session, &user, id, error).await,
    }
}
