//! The HTTP callout: custom rules outside the registrar. After the policy has decided, the
//! proposed client is POSTed as JSON to a configured URL, which answers within the timeout
//! whether to allow it, refuse it (with an RFC 7591 error) or adjust its metadata. No answer
//! in time, or an answer that is not one of these, refuses the registration: a rule that
//! cannot be asked is not skipped.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{Client, Interceptor, RegistrationError};

/// The callout's endpoint and how long to wait for it.
pub struct Callout {
    url: String,
    agent: ureq::Agent,
}

impl Callout {
    /// A callout to `url`, answered within `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            url: url.to_owned(),
            agent,
        }
    }
}

fn refused(why: impl std::fmt::Display) -> RegistrationError {
    RegistrationError::metadata(format!("the registration could not be approved: {why}"))
}

impl Interceptor for Callout {
    fn after(&self, client: &mut Client) -> Result<(), RegistrationError> {
        let proposed = json!({
            "client_id": client.client_id,
            "metadata": client.metadata,
            "statement": client.statement,
            "certificate_subject": client.certificate_subject,
        });
        let mut response = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(proposed.to_string())
            .map_err(|e| {
                tracing::warn!(error = %e, url = %self.url, "the registration callout failed");
                refused("the bank's rules could not be consulted")
            })?;
        let body = response
            .body_mut()
            .with_config()
            .limit(256 * 1024)
            .read_to_vec()
            .map_err(|_| refused("the bank's rules answered unreadably"))?;
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|_| refused("the bank's rules answered unreadably"))?;
        match answer.get("decision").and_then(Value::as_str) {
            Some("allow") => Ok(()),
            Some("refuse") => {
                let code = answer
                    .get("error")
                    .and_then(Value::as_str)
                    .filter(|c| {
                        matches!(
                            *c,
                            "invalid_redirect_uri"
                                | "invalid_client_metadata"
                                | "invalid_software_statement"
                                | "unapproved_software_statement"
                        )
                    })
                    .unwrap_or("invalid_client_metadata");
                let description = answer
                    .get("error_description")
                    .and_then(Value::as_str)
                    .unwrap_or("refused by the bank's rules");
                Err(RegistrationError {
                    error: code.to_owned(),
                    error_description: description.to_owned(),
                })
            }
            Some("adjust") => {
                let Some(Value::Object(changes)) = answer.get("metadata") else {
                    return Err(refused(
                        "the bank's rules sent an adjustment without metadata",
                    ));
                };
                for (name, value) in changes {
                    // The identity of the client is not the callout's to change.
                    if matches!(name.as_str(), "software_id" | "org_id" | "client_id") {
                        continue;
                    }
                    if value.is_null() {
                        client.metadata.remove(name);
                    } else {
                        client.metadata.insert(name.clone(), value.clone());
                    }
                }
                Ok(())
            }
            _ => Err(refused("the bank's rules gave no decision")),
        }
    }
}
