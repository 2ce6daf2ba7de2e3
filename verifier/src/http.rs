//! Fetching JSON and DER documents over HTTP(S), with their cache lifetime.

use std::time::Duration;

use crate::error::ConfigError;

/// A fetched document and its `Cache-Control: max-age`, if any.
pub struct Fetched {
    pub body: Vec<u8>,
    pub max_age: Option<Duration>,
}

/// A small blocking HTTP client (TLS through the system's OpenSSL).
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
}

impl Http {
    pub fn new(timeout: Duration) -> Self {
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .tls_config(tls)
            .build()
            .into();
        Self { agent }
    }

    /// GETs `url`; any status other than 200 is an error.
    pub fn get(&self, url: &str) -> Result<Fetched, ConfigError> {
        let fail = |reason: String| ConfigError::Fetch {
            url: url.to_owned(),
            reason,
        };
        let mut response = self
            .agent
            .get(url)
            .call()
            .map_err(|e| fail(e.to_string()))?;
        let max_age = response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let body = response
            .body_mut()
            .with_config()
            .limit(4 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| fail(e.to_string()))?;
        Ok(Fetched { body, max_age })
    }

    pub fn get_json(
        &self,
        url: &str,
    ) -> Result<(serde_json::Value, Option<Duration>), ConfigError> {
        let fetched = self.get(url)?;
        let value = serde_json::from_slice(&fetched.body).map_err(|e| ConfigError::Invalid {
            what: url.to_owned(),
            reason: format!("not JSON: {e}"),
        })?;
        Ok((value, fetched.max_age))
    }
}

/// The `max-age` of a Cache-Control header value.
pub fn max_age(header: &str) -> Option<Duration> {
    header.split(',').find_map(|part| {
        let (name, value) = part.trim().split_once('=')?;
        (name.eq_ignore_ascii_case("max-age"))
            .then(|| value.trim().parse::<u64>().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("no-store"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }
}
