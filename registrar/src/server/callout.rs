//! The HTTP callout: custom rules outside the registrar. After the policy has decided, the
//! proposed client is POSTed as JSON to a configured URL, which answers within the timeout
//! whether to allow it, refuse it (with an RFC 7591 error) or adjust its metadata. No answer
//! in time, or an answer that is not one of these, refuses the registration: a rule that
//! cannot be asked is not skipped.

use serde_json::{Value, json};
use ssa_verifier::HttpClient;
use ssa_verifier::protocol::RegistrationCode;

use crate::{Client, Interceptor, RegistrationError};

/// The callout's endpoint and the client that asks it (its timeout the callout's).
pub struct Callout {
    url: String,
    http: HttpClient,
}

impl Callout {
    /// A callout to `url` through `http`.
    pub fn new(url: &str, http: HttpClient) -> Self {
        Self {
            url: url.to_owned(),
            http,
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
        let response = self
            .http
            .post_json(&self.url, &proposed.to_string(), 256 * 1024)
            .map_err(|e| {
                tracing::warn!(error = %e, url = %self.url, "the registration callout failed");
                refused("the bank's rules could not be consulted")
            })?;
        let answer: Value = serde_json::from_slice(&response.body)
            .map_err(|_| refused("the bank's rules answered unreadably"))?;
        match answer.get("decision").and_then(Value::as_str) {
            Some("allow") => Ok(()),
            Some("refuse") => {
                // The bank's rules may refuse with a registration code about the client;
                // anything else is reported as invalid_client_metadata.
                let code = answer
                    .get("error")
                    .and_then(|c| serde_json::from_value::<RegistrationCode>(c.clone()).ok())
                    .filter(|c| {
                        matches!(
                            c,
                            RegistrationCode::InvalidRedirectUri
                                | RegistrationCode::InvalidClientMetadata
                                | RegistrationCode::InvalidSoftwareStatement
                                | RegistrationCode::UnapprovedSoftwareStatement
                        )
                    })
                    .unwrap_or(RegistrationCode::InvalidClientMetadata);
                let description = answer
                    .get("error_description")
                    .and_then(Value::as_str)
                    .unwrap_or("refused by the bank's rules");
                Err(RegistrationError::new(code, description))
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
