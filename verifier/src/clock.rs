//! Where the verifier takes the time from.

use std::time::SystemTime;

/// The time statements, requests and CRLs are judged at. The fetching
/// [`Verifier`](crate::Verifier) reads it for every check (the system clock unless
/// [`Verifier::with_clock`](crate::Verifier::with_clock) gives another); the sans-IO
/// [`Trust`](crate::Trust) methods take the time as an argument instead.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<F: Fn() -> SystemTime + Send + Sync> Clock for F {
    fn now(&self) -> SystemTime {
        self()
    }
}

/// Seconds since the Unix epoch (negative before it).
pub(crate) fn unix(at: SystemTime) -> i64 {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}
