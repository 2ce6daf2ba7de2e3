//! Push subscriptions to the change events (RFC 8935): where an organisation wants its SETs
//! POSTed, which kinds, and how delivery stands. Also what makes a push target acceptable:
//! the rules against server-side request forgery, and the backoff between failed attempts.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
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

/// What went wrong delivering a subscription's events (one row of `delivery_failures` each,
/// charted per day on the operator's overview).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryFailure {
    /// A push attempt failed: the receiver could not be reached, or answered 5xx; it is
    /// tried again with backoff.
    Attempt,
    /// The receiver refused an event: an RFC 8935 error on push, or one reported in an
    /// RFC 8936 poll's acknowledgement; it is not sent again.
    Refused,
    /// Events were removed by retention before they were delivered.
    Expired,
}

impl DeliveryFailure {
    pub const ALL: [Self; 3] = [Self::Attempt, Self::Refused, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attempt => "attempt",
            Self::Refused => "refused",
            Self::Expired => "expired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
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

/// What an IPv6 range means for a push target.
#[derive(Debug, Clone, Copy)]
enum V6Range {
    /// Never a public target.
    Refused,
    /// Carries an IPv4 address (the forms IPv6 stacks and relays turn into IPv4 traffic):
    /// judged as the IPv4 addresses this reads from it.
    Embeds(fn(u128) -> [Option<Ipv4Addr>; 2]),
}

/// The last 32 bits as an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64).
fn low_32(bits: u128) -> [Option<Ipv4Addr>; 2] {
    [Some(Ipv4Addr::from(bits as u32)), None]
}

/// 6to4 (`2002:AABB:CCDD::/48`): the IPv4 address in bits 16 to 47.
fn six_to_four(bits: u128) -> [Option<Ipv4Addr>; 2] {
    [Some(Ipv4Addr::from((bits >> 80) as u32)), None]
}

/// Teredo (`2001:0:SERVER:FLAGS:PORT:CLIENT`): the server in bits 32 to 63 and the client,
/// obscured (every bit inverted), in the last 32 bits; both must be public.
fn teredo(bits: u128) -> [Option<Ipv4Addr>; 2] {
    [
        Some(Ipv4Addr::from((bits >> 64) as u32)),
        Some(Ipv4Addr::from(!(bits as u32))),
    ]
}

/// The IPv6 ranges that are not plain global unicast, most specific first: the first that
/// holds an address decides (each row has its test below).
const V6_RANGES: [(u128, u8, V6Range, &str); 15] = [
    (
        0xffff_0000_0000,
        96,
        V6Range::Embeds(low_32),
        "IPv4-mapped ::ffff:0:0/96",
    ),
    // `::` and `::1` are in it too, and judged as 0.0.0.0 and 0.0.0.1: refused.
    (0, 96, V6Range::Embeds(low_32), "IPv4-compatible ::/96"),
    (
        0x0064_ff9b << 96,
        96,
        V6Range::Embeds(low_32),
        "NAT64 64:ff9b::/96",
    ),
    (
        0x0064_ff9b_0001 << 80,
        48,
        V6Range::Refused,
        "local-use NAT64 64:ff9b:1::/48",
    ),
    (0x0100 << 112, 64, V6Range::Refused, "discard-only 100::/64"),
    (
        0x2001 << 112,
        32,
        V6Range::Embeds(teredo),
        "Teredo 2001::/32",
    ),
    (
        0x2001_0db8 << 96,
        32,
        V6Range::Refused,
        "documentation 2001:db8::/32",
    ),
    (
        0x2001 << 112,
        23,
        V6Range::Refused,
        "IETF protocol assignments 2001::/23",
    ),
    (
        0x2002 << 112,
        16,
        V6Range::Embeds(six_to_four),
        "6to4 2002::/16",
    ),
    (
        0x3fff << 112,
        20,
        V6Range::Refused,
        "documentation 3fff::/20",
    ),
    (
        0x5f00 << 112,
        16,
        V6Range::Refused,
        "segment routing 5f00::/16",
    ),
    (0xfc00 << 112, 7, V6Range::Refused, "unique local fc00::/7"),
    (0xfe80 << 112, 10, V6Range::Refused, "link-local fe80::/10"),
    (0xfec0 << 112, 10, V6Range::Refused, "site-local fec0::/10"),
    (0xff00 << 112, 8, V6Range::Refused, "multicast ff00::/8"),
];

/// The IPv4 ranges that are not globally reachable (each row has its test below).
const V4_RANGES: [(u32, u8, &str); 15] = [
    (0x0000_0000, 8, "\"this network\" 0.0.0.0/8"),
    (0x0a00_0000, 8, "private 10.0.0.0/8"),
    (0x6440_0000, 10, "shared address space 100.64.0.0/10"),
    (0x7f00_0000, 8, "loopback 127.0.0.0/8"),
    (0xa9fe_0000, 16, "link-local 169.254.0.0/16"),
    (0xac10_0000, 12, "private 172.16.0.0/12"),
    (0xc000_0000, 24, "IETF protocol assignments 192.0.0.0/24"),
    (0xc000_0200, 24, "documentation 192.0.2.0/24"),
    (0xc058_6300, 24, "6to4 relay anycast 192.88.99.0/24"),
    (0xc0a8_0000, 16, "private 192.168.0.0/16"),
    (0xc612_0000, 15, "benchmarking 198.18.0.0/15"),
    (0xc633_6400, 24, "documentation 198.51.100.0/24"),
    (0xcb00_7100, 24, "documentation 203.0.113.0/24"),
    (0xe000_0000, 4, "multicast 224.0.0.0/4"),
    (0xf000_0000, 4, "reserved and broadcast 240.0.0.0/4"),
];

/// Whether an address is globally reachable: not in a refused IPv4 range (`V4_RANGES`), and
/// for IPv6 not in a refused row of `V6_RANGES` (the rows that carry an IPv4 address are
/// judged by it).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let within = |prefix: u128, len: u8| (bits ^ prefix) >> (128 - u32::from(len)) == 0;
            match V6_RANGES
                .iter()
                .find(|(prefix, len, ..)| within(*prefix, *len))
            {
                None => true,
                Some((_, _, V6Range::Refused, _)) => false,
                Some((_, _, V6Range::Embeds(carried), _)) => {
                    carried(bits).into_iter().flatten().all(is_public_v4)
                }
            }
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !V4_RANGES
        .iter()
        .any(|(prefix, len, _)| (bits ^ prefix) >> (32 - u32::from(*len)) == 0)
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
    use std::net::Ipv6Addr;

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
            "https://[::127.0.0.1]/",
            "https://[2002:7f00:1::]/",
            "https://[2001:0:7f00:1::]/",
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
    fn every_refused_range_is_refused_from_its_first_to_its_last_address() {
        for (prefix, len, name) in V4_RANGES {
            let last = prefix | (u32::MAX >> len);
            for bits in [prefix, prefix + 1, last] {
                assert!(
                    !is_public_v4(Ipv4Addr::from(bits)),
                    "{name}: {}",
                    Ipv4Addr::from(bits)
                );
            }
            // The addresses just outside are judged by their own rows.
            if let Some(after) = last.checked_add(1) {
                let outside = Ipv4Addr::from(after);
                let own_row = V4_RANGES
                    .iter()
                    .any(|(p, l, _)| (after ^ p) >> (32 - u32::from(*l)) == 0);
                assert_eq!(is_public_v4(outside), !own_row, "{name}: {outside}");
            }
        }
        for (prefix, len, range, name) in V6_RANGES {
            let last = prefix | (u128::MAX >> len);
            if let V6Range::Refused = range {
                for bits in [prefix, prefix + 1, last] {
                    let ip = IpAddr::V6(Ipv6Addr::from(bits));
                    assert!(!is_public(ip), "{name}: {ip}");
                }
            }
        }
    }

    #[test]
    fn ipv6_forms_that_carry_an_ipv4_address_are_judged_by_it() {
        let v6 = |text: &str| IpAddr::V6(text.parse().unwrap());
        for (refused, row) in [
            ("::", "IPv4-compatible"),
            ("::1", "IPv4-compatible"),
            ("::127.0.0.1", "IPv4-compatible, as the probe sent it"),
            ("::7f00:1", "IPv4-compatible, as it was stored"),
            ("::10.0.0.1", "IPv4-compatible"),
            ("::ffff:127.0.0.1", "IPv4-mapped"),
            ("::ffff:169.254.169.254", "IPv4-mapped"),
            ("64:ff9b::a00:1", "NAT64"),
            ("64:ff9b::7f00:1", "NAT64"),
            ("2002:7f00:1::", "6to4 of 127.0.0.1"),
            ("2002:a00:1::1", "6to4 of 10.0.0.1"),
            ("2002:c0a8:101::", "6to4 of 192.168.1.1"),
            ("2001:0:7f00:1::", "Teredo server 127.0.0.1"),
            (
                "2001:0:5db8:d822:0:f227:80ff:fffe",
                "Teredo client 127.0.0.1",
            ),
        ] {
            assert!(!is_public(v6(refused)), "{refused} ({row}) was accepted");
        }
        for (public, row) in [
            ("::5db8:d822", "IPv4-compatible 93.184.216.34"),
            ("::ffff:93.184.216.34", "IPv4-mapped"),
            ("64:ff9b::5db8:d822", "NAT64"),
            ("2002:5db8:d822::1", "6to4 of 93.184.216.34"),
            ("2001:0:5db8:d822:0:f227:a247:27dd", "Teredo, both public"),
            ("2606:4700::1111", "global unicast"),
        ] {
            assert!(is_public(v6(public)), "{public} ({row}) was refused");
        }
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
