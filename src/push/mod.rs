//! The RFC 8935 transmitter: POSTs one SET to a subscriber's endpoint and reads the answer.
//! Against server-side request forgery every connection goes through a resolver that drops
//! addresses the policy refuses (so a name that resolves to a private address, or is changed
//! to one after registration, is never connected to), IP-literal URLs are checked before the
//! request, redirects are not followed and no proxy from the environment is used.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::model::subscription::{TargetPolicy, check_address, check_endpoint};
use crate::model::{Error, Result, invalid};

/// The media type of a pushed SET (RFC 8935 section 2).
pub const SET_MEDIA_TYPE: &str = "application/secevent+jwt";

/// What the receiver made of one SET.
#[derive(Debug)]
pub enum Outcome {
    /// 202 (or another 2xx): received; the next event follows.
    Accepted,
    /// 400 with an RFC 8935 error (`err`, `description`): received and refused. The same bytes
    /// would be refused again, so the event is not sent again; the error is shown to the
    /// subscriber.
    Refused(String),
    /// No answer, or another status: tried again later with backoff.
    Failed(String),
}

/// Sends SETs to push endpoints.
#[derive(Clone)]
pub struct Transmitter {
    client: reqwest::Client,
    policy: TargetPolicy,
}

impl Transmitter {
    /// A transmitter under `policy`, trusting the system's CAs and those in `ca_file`.
    pub fn new(policy: TargetPolicy, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("ssa-directory/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .https_only(!policy.allow_http)
            .dns_resolver(Arc::new(GuardedResolver { policy }));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("push_ca_file {}: {e}", path.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| anyhow::anyhow!("push_ca_file {}: {e}", path.display()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Self {
            client: builder.build()?,
            policy,
        })
    }

    /// Checks an endpoint a subscriber registers: its form, and every address its host
    /// resolves to now (it is checked again at every connection).
    pub async fn check_target(&self, endpoint: &str) -> Result<url::Url> {
        let url = check_endpoint(endpoint, self.policy)?;
        if let Some(url::Host::Domain(name)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(443);
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| invalid("endpoint", format!("{name} does not resolve: {e}")))?
                .collect();
            if addresses.is_empty() {
                return Err(invalid("endpoint", format!("{name} does not resolve")));
            }
            for address in addresses {
                check_address(address.ip(), self.policy)
                    .map_err(|e| invalid("endpoint", format!("{name} {e}")))?;
            }
        }
        Ok(url)
    }

    /// POSTs one SET to `endpoint`.
    pub async fn send(&self, endpoint: &str, set: &str) -> Outcome {
        if let Err(e) = check_endpoint(endpoint, self.policy) {
            return Outcome::Failed(refusal(e));
        }
        let response = self
            .client
            .post(endpoint)
            .header(reqwest::header::CONTENT_TYPE, SET_MEDIA_TYPE)
            .header(reqwest::header::ACCEPT, "application/json")
            .body(set.to_owned())
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(e) => return Outcome::Failed(describe(&e)),
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Accepted;
        }
        if status == reqwest::StatusCode::BAD_REQUEST {
            // RFC 8935 section 2.3: {"err": "...", "description": "..."}.
            let body = read_limited(response, 4096).await;
            if let Ok(error) = serde_json::from_slice::<serde_json::Value>(&body)
                && let Some(code) = error.get("err").and_then(|v| v.as_str())
            {
                let description = error
                    .get("description")
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                return Outcome::Refused(
                    format!("the receiver refused the SET: {code} {description}")
                        .trim()
                        .chars()
                        .take(500)
                        .collect(),
                );
            }
        }
        Outcome::Failed(format!("the receiver answered HTTP {status}"))
    }

    /// GETs an entity's own document (a federation entity configuration) under the same
    /// guards as pushes: the URL's form, every address checked at connection, no redirects,
    /// 10 s; at most `limit` bytes. The body, or why there is none.
    pub async fn fetch(
        &self,
        url: &str,
        accept: &str,
        limit: usize,
    ) -> std::result::Result<String, String> {
        let url = check_endpoint(url, self.policy).map_err(|e| e.to_string())?;
        let response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("it answered HTTP {status}"));
        }
        let body = read_limited(response, limit + 1).await;
        if body.len() > limit {
            return Err(format!("it is larger than {limit} bytes"));
        }
        String::from_utf8(body).map_err(|_| "it is not text".to_owned())
    }
}

/// The first `limit` bytes of a response body.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= limit {
            body.truncate(limit);
            break;
        }
    }
    body
}

fn refusal(e: Error) -> String {
    format!("the endpoint is no longer acceptable: {e}")
}

/// A transport error with its causes (reqwest's own message names only the outer one).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "no answer within 10 s".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

/// Resolves names with the system resolver and keeps only the addresses the policy allows.
struct GuardedResolver {
    policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| check_address(a.ip(), policy).is_ok())
                .collect();
            if allowed.is_empty() {
                let why = found
                    .first()
                    .and_then(|a| check_address(a.ip(), policy).err())
                    .unwrap_or_else(|| "resolves to no address".into());
                return Err(format!("{host} {why}").into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_resolver_drops_loopback_addresses_unless_allowed() {
        let strict = GuardedResolver {
            policy: TargetPolicy::default(),
        };
        let name = || -> Name { "localhost".parse().unwrap_or_else(|_| unreachable!()) };
        let refused = strict.resolve(name()).await;
        assert!(
            refused.is_err(),
            "localhost was resolved under the strict policy"
        );
        let open = GuardedResolver {
            policy: TargetPolicy {
                allow_http: false,
                allow_private: true,
            },
        };
        let allowed = open.resolve(name()).await.map(|a| a.count()).unwrap_or(0);
        assert!(allowed > 0);
    }
}
