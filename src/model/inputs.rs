//! Inputs built by parsing: once constructed they are valid and nobody re-checks them.
//! Every parse error names the field and the problem, ready to show to the user.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::{Result, invalid};

/// Trimmed, non-empty text of bounded length without control characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    optional_text(field, value, max).map(|v| v.unwrap_or_default())
}

/// Like [`text`], but an empty value means "not given".
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<Option<String>> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(Some(value.to_owned()))
}

/// A normalised (lower-case) email address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, value: &str) -> Result<Self> {
        let value = value.trim().to_lowercase();
        if value.is_empty() {
            return Err(invalid(field, "must not be empty"));
        }
        if value.len() > 254 {
            return Err(invalid(field, "must be at most 254 characters"));
        }
        let valid = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.len() <= 64
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
                    && value
                        .chars()
                        .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | ',' | ';'))
            }
            None => false,
        };
        if !valid {
            return Err(invalid(field, format!("{value:?} is not an email address")));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password within the accepted length; never printed.
pub struct Password(String);

impl Password {
    pub const MIN: usize = 10;
    pub const MAX: usize = 256;

    pub fn parse(value: &str) -> Result<Self> {
        let count = value.chars().count();
        if count < Self::MIN {
            return Err(invalid(
                "password",
                format!("must be at least {} characters", Self::MIN),
            ));
        }
        if count > Self::MAX {
            return Err(invalid(
                "password",
                format!("must be at most {} characters", Self::MAX),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// ISO 3166-1 alpha-2 country code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Country(String);

impl Country {
    pub fn parse(field: &str, value: &str) -> Result<Self> {
        let code = value.trim().to_ascii_uppercase();
        if code.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == code) {
            Ok(Self(code))
        } else {
            Err(invalid(
                field,
                format!("{value:?} is not an ISO 3166-1 alpha-2 country code (such as GB or BR)"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// A regulated open-banking role.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum RegulatedRole {
    Aspsp,
    Aisp,
    Pisp,
    Cbpii,
}

impl RegulatedRole {
    pub const ALL: [RegulatedRole; 4] = [Self::Aspsp, Self::Aisp, Self::Pisp, Self::Cbpii];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aspsp => "ASPSP",
            Self::Aisp => "AISP",
            Self::Pisp => "PISP",
            Self::Cbpii => "CBPII",
        }
    }

    /// Parses a non-empty, duplicate-free list of roles, sorted.
    pub fn parse_list(field: &str, values: &[String]) -> Result<Vec<Self>> {
        let mut roles = Vec::new();
        for value in values {
            let role = Self::ALL
                .into_iter()
                .find(|r| r.as_str().eq_ignore_ascii_case(value.trim()))
                .ok_or_else(|| {
                    invalid(
                        field,
                        format!("{value:?} is not one of ASPSP, AISP, PISP, CBPII"),
                    )
                })?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        if roles.is_empty() {
            return Err(invalid(field, "at least one role is required"));
        }
        roles.sort();
        Ok(roles)
    }
}

impl fmt::Display for RegulatedRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's role within an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    Admin,
    Developer,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Developer => "developer",
        }
    }

    pub fn parse(field: &str, value: &str) -> Result<Self> {
        match value.trim() {
            "admin" => Ok(Self::Admin),
            "developer" => Ok(Self::Developer),
            other => Err(invalid(
                field,
                format!("{other:?} is not admin or developer"),
            )),
        }
    }
}

/// The environment a software product runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Sandbox,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Production => "production",
        }
    }

    pub fn parse(field: &str, value: &str) -> Result<Self> {
        match value.trim() {
            "sandbox" => Ok(Self::Sandbox),
            "production" => Ok(Self::Production),
            other => Err(invalid(
                field,
                format!("{other:?} is not sandbox or production"),
            )),
        }
    }
}

/// An absolute `https` URL with a host and no fragment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HttpsUrl(String);

impl HttpsUrl {
    pub const MAX: usize = 2048;

    pub fn parse(field: &str, value: &str) -> Result<Self> {
        let value = value.trim();
        if value.is_empty() {
            return Err(invalid(field, "must not be empty"));
        }
        if value.len() > Self::MAX {
            return Err(invalid(
                field,
                format!("must be at most {} characters", Self::MAX),
            ));
        }
        let url = url::Url::parse(value)
            .map_err(|e| invalid(field, format!("{value:?} is not an absolute URL ({e})")))?;
        if url.scheme() != "https" {
            return Err(invalid(field, format!("{value:?} must use https")));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(field, format!("{value:?} has no host")));
        }
        if url.fragment().is_some() || value.contains('#') {
            return Err(invalid(
                field,
                format!("{value:?} must not have a fragment"),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                field,
                format!("{value:?} must not carry credentials"),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// An optional URL: empty or absent means none.
    pub fn parse_optional(field: &str, value: Option<&str>) -> Result<Option<Self>> {
        match value.map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => Self::parse(field, v).map(Some),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A person to contact at an organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl Contact {
    pub fn parse(field: &str, input: &Contact) -> Result<Self> {
        let phone = match input.phone.as_deref() {
            Some(p) => optional_text(&format!("{field}.phone"), p, 32)?,
            None => None,
        };
        if let Some(p) = &phone
            && !p
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'))
        {
            return Err(invalid(&format!("{field}.phone"), "is not a phone number"));
        }
        Ok(Self {
            name: text(&format!("{field}.name"), &input.name, 200)?,
            email: Email::parse(&format!("{field}.email"), &input.email)?.0,
            phone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("email", " Dev@Example.COM ").unwrap().as_str(),
            "dev@example.com"
        );
        for bad in [
            "",
            "plain",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "@b.com",
            "a@.com",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn countries_are_iso_alpha2() {
        assert_eq!(Country::parse("country", "gb").unwrap().as_str(), "GB");
        assert_eq!(Country::parse("country", "BR").unwrap().as_str(), "BR");
        for bad in ["", "UK", "GBR", "XX", "1"] {
            let err = Country::parse("country", bad).unwrap_err().to_string();
            assert!(err.starts_with("country:"), "{err}");
        }
    }

    #[test]
    fn redirect_uris_must_be_absolute_https_without_fragment() {
        assert!(HttpsUrl::parse("u", "https://app.example/cb?x=1").is_ok());
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "/relative",
            "https://user:pw@app.example/",
            "not a url",
            "https://",
        ] {
            assert!(HttpsUrl::parse("u", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_parse_to_a_sorted_set() {
        let roles =
            RegulatedRole::parse_list("roles", &["pisp".into(), "AISP".into(), "PISP".into()])
                .unwrap();
        assert_eq!(roles, vec![RegulatedRole::Aisp, RegulatedRole::Pisp]);
        assert!(RegulatedRole::parse_list("roles", &[]).is_err());
        assert!(RegulatedRole::parse_list("roles", &["BANK".into()]).is_err());
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("f", "  x ", 3).unwrap(), "x");
        assert!(text("f", "   ", 3).is_err());
        assert!(text("f", "abcd", 3).is_err());
        assert!(text("f", "a\u{0}b", 3).is_err());
    }

    #[test]
    fn passwords_have_a_length_range() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("long enough pw").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("long enough pw").unwrap()),
            "Password(***)"
        );
    }
}
