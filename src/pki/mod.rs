//! The certificate authority's cryptography: the CA itself (`ca`), CSR checks (`csr`),
//! building transport and signing certificates with the subject the directory assigns (here),
//! signing CRLs (`crl`) and OCSP responses (`ocsp`). Nothing here touches the database: the
//! services decide, these functions sign.

pub mod ca;
pub mod crl;
pub mod csr;
pub mod ocsp;

use der::Encode;
use rand::RngCore;
use rcgen::{
    CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SerialNumber, SubjectPublicKeyInfo,
};
use serde_json::json;

use crate::keys::jwk::{self, PublicJwk};
use crate::model::certificate::CertType;
use crate::model::organisation::Organisation;
use crate::model::{Error, Serial, SoftwareId, Timestamp, unexpected};

pub use ca::Ca;

/// A random positive 128-bit serial, for rcgen and as stored.
pub fn random_serial() -> (SerialNumber, Serial) {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // Positive, and no leading zero octet, so that the DER INTEGER is exactly these 16 octets.
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 1;
    }
    (SerialNumber::from_slice(&bytes), Serial::from_bytes(&bytes))
}

/// One attribute of a subject the directory assigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    Country,
    Organization,
    OrganizationalUnit,
    CommonName,
    /// organizationIdentifier (2.5.4.97), ETSI TS 119 495 style.
    OrganizationIdentifier,
}

impl Attribute {
    /// The short name a CSR's subject uses for it (as OpenSSL prints it).
    fn short_name(self) -> &'static str {
        match self {
            Attribute::Country => "C",
            Attribute::Organization => "O",
            Attribute::OrganizationalUnit => "OU",
            Attribute::CommonName => "CN",
            Attribute::OrganizationIdentifier => "organizationIdentifier",
        }
    }

    fn dn_type(self) -> DnType {
        match self {
            Attribute::Country => DnType::CountryName,
            Attribute::Organization => DnType::OrganizationName,
            Attribute::OrganizationalUnit => DnType::OrganizationalUnitName,
            Attribute::CommonName => DnType::CommonName,
            Attribute::OrganizationIdentifier => DnType::CustomDnType(vec![2, 5, 4, 97]),
        }
    }
}

/// The subject the directory assigns: C, O, OU = organisation id, CN = software id and
/// organizationIdentifier = the competent-authority registration.
pub fn assigned_subject(org: &Organisation, software: SoftwareId) -> Vec<(Attribute, String)> {
    vec![
        (Attribute::Country, org.country.clone()),
        (Attribute::Organization, org.legal_name.clone()),
        (Attribute::OrganizationalUnit, org.id.to_string()),
        (Attribute::CommonName, software.to_string()),
        (
            Attribute::OrganizationIdentifier,
            format!(
                "PSD{}-{}-{}",
                org.country, org.competent_authority, org.authority_registration_id
            ),
        ),
    ]
}

/// Whether a CSR's subject (short name, value pairs) asks for nothing but what the
/// directory assigns (an empty subject asks for nothing).
pub fn subject_agrees(requested: &[(String, String)], assigned: &[(Attribute, String)]) -> bool {
    requested.iter().all(|(name, value)| {
        assigned
            .iter()
            .any(|(a, v)| a.short_name().eq_ignore_ascii_case(name) && v == value)
    })
}

/// A subject for people: `C=GB, O=…` in the order it is assigned.
pub fn subject_for_people(entries: &[(Attribute, String)]) -> String {
    entries
        .iter()
        .map(|(a, v)| format!("{}={v}", a.short_name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The RFC 4514 string of a certificate's subject (escaped, last RDN first), read back from
/// the DER the directory signed: what `tls_client_auth_subject_dn` must say, and what
/// `openssl x509 -subject -nameopt RFC2253` prints. Written by the verifier crate, so that
/// banks compute the same string from the same certificate.
pub fn subject_dn(der: &[u8]) -> Result<String, Error> {
    ssa_verifier::subject_dn(der).map_err(|e| unexpected("reading a certificate", e))
}

/// What a certificate needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a> {
    pub public_url: &'a str,
    pub validity_days: u32,
}

/// A certificate the CA signed, before it is stored.
#[derive(Debug, Clone)]
pub struct Signed {
    pub serial: Serial,
    pub der: Vec<u8>,
    pub pem: String,
    /// RFC 4514.
    pub subject: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// The id of the issuing CA that signed it (see [`ca::IssuingCa::id`]).
    pub issuer: String,
}

/// Signs a certificate of `cert_type` for the public key of a checked CSR, with the assigned
/// subject, a random serial, the configured validity (starting a minute ago), key
/// identifiers, the CRL distribution point and the OCSP responder; `names` become its
/// subjectAltName (the caller has checked them).
pub fn sign(
    ca: &Ca,
    csr: &csr::Csr,
    cert_type: CertType,
    subject: &[(Attribute, String)],
    names: &[csr::Name],
    profile: Profile<'_>,
    at: crate::model::Timestamp,
) -> Result<Signed, Error> {
    let (serial, serial_hex) = random_serial();
    let issued_at = at.assume_utc();
    let not_before = issued_at - time::Duration::minutes(1);
    let not_after = issued_at + time::Duration::days(i64::from(profile.validity_days));
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for (attribute, value) in subject {
        dn.push(attribute.dn_type(), value.clone());
    }
    params.distinguished_name = dn;
    params.serial_number = Some(serial);
    params.not_before = not_before;
    params.not_after = not_after;
    // Not a CA: rcgen then writes basicConstraints cA=FALSE and the subject key identifier.
    params.is_ca = IsCa::ExplicitNoCa;
    params.subject_alt_names = names
        .iter()
        .map(|name| match name {
            csr::Name::Dns(dns) => rcgen::string::Ia5String::try_from(dns.as_str())
                .map(rcgen::SanType::DnsName)
                .map_err(|_| Error::Validation(format!("csr: {dns:?} is not a DNS name"))),
            csr::Name::Ip(ip) => Ok(rcgen::SanType::IpAddress(*ip)),
        })
        .collect::<Result<_, _>>()?;
    params.use_authority_key_identifier_extension = true;
    // The CRL of the issuing CA that signs it: each issuing CA has its own.
    let issuing = &ca.current;
    params.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![format!("{}/pki/crl/{}", profile.public_url, issuing.id)],
    }];
    params.custom_extensions = vec![authority_info_access(&format!(
        "{}/pki/ocsp",
        profile.public_url
    ))?];
    match cert_type {
        CertType::Transport => {
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsagePurpose::ServerAuth,
            ];
        }
        CertType::Signing => {
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ];
        }
    }
    let spki = SubjectPublicKeyInfo::from_der(&csr.spki_der)
        .map_err(|e| Error::Validation(format!("csr: unsupported public key ({e})")))?;
    let cert = params
        .signed_by(&spki, &issuing.issuer)
        .map_err(|e| signing_failed("signing a certificate", e))?;
    let der = cert.der().to_vec();
    Ok(Signed {
        issuer: issuing.id.clone(),
        serial: serial_hex,
        subject: subject_dn(&der)?,
        pem: cert.pem(),
        der,
        not_before: primitive(not_before),
        not_after: primitive(not_after),
    })
}

/// The AuthorityInfoAccess extension (RFC 5280 4.2.2.1) with one OCSP access location.
fn authority_info_access(ocsp_url: &str) -> Result<CustomExtension, Error> {
    use x509_cert::ext::pkix::AccessDescription;
    use x509_cert::ext::pkix::AuthorityInfoAccessSyntax;
    use x509_cert::ext::pkix::name::GeneralName;
    let location = der::asn1::Ia5String::new(ocsp_url)
        .map_err(|e| unexpected("the OCSP URL is not IA5", e))?;
    let content = AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: const_oid::db::rfc5280::ID_AD_OCSP,
        access_location: GeneralName::UniformResourceIdentifier(location),
    }])
    .to_der()
    .map_err(|e| unexpected("encoding AuthorityInfoAccess", e))?;
    let oid: Vec<u64> = const_oid::db::rfc5280::ID_PE_AUTHORITY_INFO_ACCESS
        .arcs()
        .map(u64::from)
        .collect();
    Ok(CustomExtension::from_oid_content(&oid, content))
}

fn primitive(t: time::OffsetDateTime) -> Timestamp {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    time::PrimitiveDateTime::new(t.date(), t.time())
}

/// The public JWK of a signing certificate: kid = thumbprint, with x5c and x5t#S256.
pub fn certificate_jwk(csr: &csr::Csr, der: &[u8]) -> Result<PublicJwk, Error> {
    use base64::Engine;
    let mut map = jwk::public_jwk(&csr.public_key, csr.jws_alg)?;
    map.insert(
        "x5c".into(),
        json!([base64::engine::general_purpose::STANDARD.encode(der)]),
    );
    map.insert(
        "x5t#S256".into(),
        json!(jwk::b64(&openssl::sha::sha256(der))),
    );
    let thumbprint = jwk::thumbprint(&map)?;
    Ok(PublicJwk {
        kid: thumbprint.clone(),
        thumbprint,
        jwk: map,
    })
}

/// What a failed CA signature is: the token not answering (503, nothing issued), or a bug.
pub(crate) fn signing_failed(what: &str, error: rcgen::Error) -> Error {
    match error {
        rcgen::Error::RemoteKeyError => {
            Error::SigningUnavailable(format!("the key store did not sign ({what})"))
        }
        other => unexpected(what, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Decode;

    #[test]
    fn serials_are_positive_16_octet_integers() {
        for _ in 0..200 {
            let (serial, hex) = random_serial();
            let bytes = serial.to_bytes();
            assert_eq!(bytes.len(), 16);
            assert!(bytes[0] > 0 && bytes[0] < 0x80);
            assert_eq!(hex.as_str().len(), 32);
        }
    }

    #[test]
    fn the_aia_extension_decodes_as_one_ocsp_location() {
        use x509_cert::ext::pkix::AuthorityInfoAccessSyntax;
        let ext = authority_info_access("http://d.example/pki/ocsp").unwrap();
        let aia = AuthorityInfoAccessSyntax::from_der(ext.content()).unwrap();
        assert_eq!(aia.0.len(), 1);
        assert_eq!(aia.0[0].access_method, const_oid::db::rfc5280::ID_AD_OCSP);
        // A URL longer than 255 bytes still encodes (a hand-written TLV broke at 64 KiB).
        let long = format!("http://d.example/{}", "x".repeat(70_000));
        let ext = authority_info_access(&long).unwrap();
        assert!(AuthorityInfoAccessSyntax::from_der(ext.content()).is_ok());
    }

    #[test]
    fn subjects_are_rfc_4514_with_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca::init(dir.path(), None).unwrap();
        let key = openssl::pkey::PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let mut req = openssl::x509::X509ReqBuilder::new().unwrap();
        req.set_pubkey(&key).unwrap();
        req.sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        let pem = String::from_utf8(req.build().to_pem().unwrap()).unwrap();
        let csr = csr::parse(&pem).unwrap();
        let subject = vec![
            (Attribute::Country, "GB".to_owned()),
            (Attribute::Organization, "Acme, Ltd + Co \"UK\"".to_owned()),
            (Attribute::CommonName, "sw".to_owned()),
        ];
        let profile = Profile {
            public_url: "http://d.example",
            validity_days: 1,
        };
        let at = crate::model::Clock::now(&crate::model::SystemClock);
        let signed = sign(&ca, &csr, CertType::Transport, &subject, &[], profile, at).unwrap();
        assert_eq!(signed.subject, "CN=sw,O=Acme\\, Ltd \\+ Co \\\"UK\\\",C=GB");
        let with_identifier = vec![
            (Attribute::CommonName, "sw".to_owned()),
            (
                Attribute::OrganizationIdentifier,
                "PSDGB-FCA-1, 2".to_owned(),
            ),
        ];
        let signed = sign(
            &ca,
            &csr,
            CertType::Transport,
            &with_identifier,
            &[],
            profile,
            at,
        )
        .unwrap();
        assert_eq!(
            signed.subject,
            "organizationIdentifier=PSDGB-FCA-1\\, 2,CN=sw"
        );
    }
}

/// A certificate someone was presented, read from PEM (the leaf first; a chain after it is
/// ignored: only the directory's own CA is trusted).
#[derive(Debug, Clone)]
pub struct Presented {
    pub der: Vec<u8>,
    pub pem: String,
    pub serial: Serial,
    /// RFC 4514.
    pub subject: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
}

/// The SHA-256 fingerprint (of the DER, lowercase hex) of the first certificate of `pem`, if
/// it holds one.
pub fn fingerprint(pem: &str) -> Option<String> {
    use sha2::Digest;
    presented(pem)
        .ok()
        .map(|cert| hex::encode(sha2::Sha256::digest(&cert.der)))
}

/// Reads the first certificate of `pem`; an error says what is wrong with it, for a 422.
pub fn presented(pem: &str) -> Result<Presented, String> {
    use der::DecodePem;
    let begin = pem
        .find("-----BEGIN CERTIFICATE-----")
        .ok_or("no PEM certificate (-----BEGIN CERTIFICATE-----) found")?;
    let end = pem[begin..]
        .find("-----END CERTIFICATE-----")
        .map(|at| begin + at + "-----END CERTIFICATE-----".len())
        .ok_or("the PEM certificate has no -----END CERTIFICATE----- line")?;
    let block = &pem[begin..end];
    let cert = x509_cert::Certificate::from_pem(block.as_bytes())
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let der = cert
        .to_der()
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let tbs = &cert.tbs_certificate;
    let time = |t: x509_cert::time::Time| {
        time::OffsetDateTime::from_unix_timestamp(t.to_unix_duration().as_secs() as i64)
            .map(primitive)
            .map_err(|e| format!("a validity time out of range: {e}"))
    };
    Ok(Presented {
        subject: subject_dn(&der).map_err(|e| e.to_string())?,
        serial: Serial::from_bytes(tbs.serial_number.as_bytes()),
        not_before: time(tbs.validity.not_before)?,
        not_after: time(tbs.validity.not_after)?,
        pem: format!("{block}\n"),
        der,
    })
}
