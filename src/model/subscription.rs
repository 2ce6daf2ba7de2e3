//! Push subscriptions to the change events (RFC 8935): where an organisation wants its SETs
//! POSTed, which kinds, and how delivery stands. Also what makes a push target acceptable:
//! the rules against server-side request forgery, and the backoff between failed attempts.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::event::{Cursor, EventKind};
use super::ids::{OrgId, SubscriptionId};
use super::time::rfc3339;
use super::{Error, Result, Timestamp, invalid};

/// Where delivery of a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionState {
    /// Delivering, or retrying with backoff after a failure.
    Active,
    /// Retries ran out; nothing is pushed until an admin resumes it (the receiver catches up
    /// by polling `GET /events`).
    Failing,
    /// Stopped by an admin.
    Paused,
}

impl SubscriptionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Failing => "failing",
            Self::Paused => "paused",
        }
    }
}

impl FromStr for SubscriptionState {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "active" => Ok(Self::Active),
            "failing" => Ok(Self::Failing),
            "paused" => Ok(Self::Paused),
            other => Err(format!("unknown subscription state {other:?}")),
        }
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a subscription's events reach the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// RFC 8935: the directory POSTs each SET to the endpoint.
    Push,
    /// RFC 8936: the receiver POSTs to the subscription's poll URL, acknowledging what it got
    /// and receiving what follows.
    Poll,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Poll => "poll",
        }
    }
}

impl FromStr for Delivery {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "push" => Ok(Self::Push),
            "poll" => Ok(Self::Poll),
            other => Err(format!("unknown delivery {other:?}")),
        }
    }
}

/// A subscription and its delivery status.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub organisation_id: OrgId,
    pub delivery: Delivery,
    /// Where pushed SETs go; none for a polled subscription.
    pub endpoint: Option<String>,
    /// The kinds delivered; empty for every kind.
    pub kinds: Vec<EventKind>,
    pub state: SubscriptionState,
    /// The last event delivered or passed over (not one of the kinds wanted).
    pub cursor: Cursor,
    /// Events delivered so far.
    pub delivered: i64,
    /// Failed attempts since the last success.
    pub attempts: i32,
    pub next_attempt_at: Timestamp,
    /// The first failure since the last success.
    pub failing_since: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Subscription {
    /// Whether events of `kind` are pushed.
    pub fn wants(&self, kind: EventKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }
}

/// A subscription as its organisation sees it, with its delivery status.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub id: SubscriptionId,
    pub organisation_id: OrgId,
    /// `push` (RFC 8935) or `poll` (RFC 8936).
    pub method: Delivery,
    /// Where the SETs are POSTed (RFC 8935); absent for a polled subscription.
    pub endpoint: Option<String>,
    /// The URL a polled subscription's receiver POSTs to (RFC 8936) with an API token of a
    /// member of the organisation; absent for a pushed one.
    pub poll_url: Option<String>,
    /// The kinds delivered; empty for every kind.
    pub kinds: Vec<EventKind>,
    pub state: SubscriptionState,
    pub delivery: DeliveryStatus,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// How delivery stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryStatus {
    /// The feed cursor of the last event delivered or passed over (opaque); `GET
    /// /events?after=` it reads what the subscription has yet to receive.
    pub cursor: String,
    /// Events delivered so far.
    pub delivered: i64,
    /// Events kept in the feed that are still to be pushed.
    pub backlog: i64,
    /// Failed attempts since the last success.
    pub attempts: i32,
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_success_at: Option<Timestamp>,
    /// The last error: of delivery, or an RFC 8935 error the receiver answered.
    pub last_error: Option<String>,
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_error_at: Option<Timestamp>,
    /// When delivery is tried next while retrying.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    /// Since when attempts have failed.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub failing_since: Option<Timestamp>,
}

impl SubscriptionView {
    /// The view of `sub`; `base` is the directory's public URL (for the poll URL).
    pub fn of(sub: Subscription, backlog: i64, base: &str) -> Self {
        let retrying = sub.attempts > 0 && sub.state == SubscriptionState::Active;
        let poll_url = (sub.delivery == Delivery::Poll).then(|| {
            format!(
                "{base}/api/v1/organisations/{}/subscriptions/{}/poll",
                sub.organisation_id, sub.id
            )
        });
        Self {
            id: sub.id,
            organisation_id: sub.organisation_id,
            method: sub.delivery,
            endpoint: sub.endpoint,
            poll_url,
            kinds: sub.kinds,
            state: sub.state,
            delivery: DeliveryStatus {
                cursor: sub.cursor.to_string(),
                delivered: sub.delivered,
                backlog,
                attempts: sub.attempts,
                last_success_at: sub.last_success_at,
                last_error: sub.last_error,
                last_error_at: sub.last_error_at,
                next_attempt_at: retrying.then_some(sub.next_attempt_at),
                failing_since: sub.failing_since,
            },
            created_at: sub.created_at,
        }
    }
}

/// The kinds a subscriber asked for, by name or event type URI; duplicates dropped.
pub fn parse_kinds(names: &[String]) -> Result<Vec<EventKind>> {
    let mut kinds = Vec::with_capacity(names.len());
    for name in names {
        let kind = name
            .parse::<EventKind>()
            .map_err(|e| invalid("kinds", &e))?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// What the operator allows as push targets beyond public https endpoints.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetPolicy {
    /// Plain `http` endpoints.
    pub allow_http: bool,
    /// Loopback, private, link-local and other non-public addresses.
    pub allow_private: bool,
}

/// Checks a push endpoint's form: an absolute https URL (http only when allowed) with a host,
/// no user information and no fragment, and when the host is an IP address, a public one
/// (unless allowed). Host names are checked again by address when resolved, at registration
/// and at every connection.
pub fn check_endpoint(endpoint: &str, policy: TargetPolicy) -> Result<url::Url> {
    let bad = |why: &str| invalid("endpoint", why);
    let url = url::Url::parse(endpoint.trim()).map_err(|e| bad(&format!("not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => return Err(bad("must use https")),
        _ => return Err(bad("must be an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry user information"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not carry a fragment"));
    }
    if url.as_str().len() > 2000 {
        return Err(bad("is longer than 2000 characters"));
    }
    let ip = match url.host() {
        None => return Err(bad("has no host")),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            if !policy.allow_private
                && (name.eq_ignore_ascii_case("localhost")
                    || name.to_ascii_lowercase().ends_with(".localhost"))
            {
                return Err(bad("names this machine (localhost)"));
            }
            None
        }
    };
    if let Some(ip) = ip {
        check_address(ip, policy).map_err(|e| bad(&e))?;
    }
    Ok(url)
}

/// Whether the directory may connect to `ip` for a push: public addresses always, others only
/// when the operator allows private targets.
pub fn check_address(ip: IpAddr, policy: TargetPolicy) -> std::result::Result<(), String> {
    if policy.allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(format!(
            "resolves to {ip}, which is not a public address (loopback, private, link-local \
             and reserved ranges are refused)"
        ))
    }
}

/// Whether an address is globally reachable (not loopback, private, shared, link-local,
/// documentation, benchmarking, multicast, reserved or unspecified; IPv4-mapped and
/// NAT64-embedded IPv4 addresses judged as the IPv4 address they carry).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b {
                // 64:ff9b::/96 (NAT64) carries an IPv4 address in its last 32 bits.
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments, Teredo
                || s[0] == 0x0100 && s[1..4] == [0, 0, 0] // discard-only 100::/64
                || v6 == Ipv6Addr::from(1u128)) // ::1
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// How long to wait after the `attempts`-th failure in a row: `initial`, doubled each time,
/// at most five minutes.
pub fn backoff(attempts: i32, initial: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    initial
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(Duration::from_secs(300))
}

/// A subscription that is not the actor's to see answers as missing.
pub fn not_found() -> Error {
    Error::NotFound("subscription")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_public_and_non_https_targets() {
        let strict = TargetPolicy::default();
        for bad in [
            "http://receiver.example/events",
            "ftp://receiver.example/",
            "https://user:pw@receiver.example/",
            "https://receiver.example/#f",
            "https://localhost/events",
            "https://a.localhost./events",
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://2130706433/",
            "not a url",
        ] {
            assert!(check_endpoint(bad, strict).is_err(), "{bad} was accepted");
        }
        for good in [
            "https://receiver.example/events",
            "https://93.184.216.34:8443/set",
            "https://[2606:4700::1111]/set",
        ] {
            assert!(check_endpoint(good, strict).is_ok(), "{good} was refused");
        }
        let open = TargetPolicy {
            allow_http: true,
            allow_private: true,
        };
        assert!(check_endpoint("http://127.0.0.1:9000/events", open).is_ok());
        assert!(check_endpoint("https://localhost/events", open).is_ok());
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let first = Duration::from_secs(1);
        assert_eq!(backoff(1, first), Duration::from_secs(1));
        assert_eq!(backoff(2, first), Duration::from_secs(2));
        assert_eq!(backoff(4, first), Duration::from_secs(8));
        assert_eq!(backoff(40, first), Duration::from_secs(300));
    }
}
