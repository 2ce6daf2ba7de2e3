//! Public documents (JWKS, keystore, status) prepared as bytes with a strong ETag, so that a
//! request costs a lookup and a copy, and `If-None-Match` answers 304.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// A document's bytes and their ETag (a quoted SHA-256 prefix of the bytes).
#[derive(Debug, Clone)]
pub struct Published {
    pub body: Bytes,
    pub etag: String,
}

impl Published {
    pub fn new(body: impl Into<Bytes>) -> Self {
        let body = body.into();
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", &hex::encode(digest)[..32]);
        Self { body, etag }
    }

    pub fn json(value: &impl serde::Serialize) -> Self {
        Self::new(serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec()))
    }

    /// True when an `If-None-Match` header value names this version.
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match.trim() == "*"
            || if_none_match
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == self.etag)
    }
}

/// A document rebuilt in the background and read by every request.
pub struct Cached(RwLock<Arc<Published>>);

impl Cached {
    pub fn new(initial: Published) -> Self {
        Self(RwLock::new(Arc::new(initial)))
    }

    pub fn get(&self) -> Arc<Published> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the document if its bytes changed; returns whether they did.
    pub fn replace(&self, next: Published) -> bool {
        let mut guard = match self.0.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.etag == next.etag {
            return false;
        }
        *guard = Arc::new(next);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_follow_the_bytes_and_match_if_none_match_lists() {
        let a = Published::new("{\"keys\":[]}");
        let b = Published::new("{\"keys\":[1]}");
        assert_ne!(a.etag, b.etag);
        assert!(a.matches(&a.etag));
        assert!(a.matches(&format!("\"x\", W/{}", a.etag)));
        assert!(!a.matches(&b.etag));
        let cached = Cached::new(a.clone());
        assert!(!cached.replace(a));
        assert!(cached.replace(b.clone()));
        assert_eq!(cached.get().etag, b.etag);
    }
}

/// A document built on request and kept while the version it was built from stands (the
/// participants list: rebuilt when an organisation changed, on whichever instance).
#[derive(Debug, Default)]
pub struct Versioned(RwLock<Option<(String, Arc<Published>)>>);

impl Versioned {
    /// The document built from `version`, if that is the one kept.
    pub fn get(&self, version: &str) -> Option<Arc<Published>> {
        let guard = self.0.read().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|(kept, _)| kept == version)
            .map(|(_, doc)| doc.clone())
    }

    /// Keeps `doc`, built from `version`.
    pub fn put(&self, version: String, doc: Arc<Published>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some((version, doc));
    }
}
