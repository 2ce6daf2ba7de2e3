//! Certificate signing requests, checked before anything is signed: one PEM CSR, its own
//! signature valid, an RSA key of 2048 to 8192 bits or an EC key on P-256 or P-384. The
//! checked public key is taken from it, and the DNS names and IP addresses it asks for as
//! subjectAltName (which the directory certifies only where they are hosts the organisation
//! registered); subject, the other extensions and validity come from the directory.

use openssl::nid::Nid;
use openssl::pkey::{PKey, Public};
use openssl::x509::X509Req;

use crate::model::Error;

/// Largest CSR accepted, in bytes of PEM.
pub const MAX_CSR_BYTES: usize = 16 * 1024;

/// A checked CSR.
pub struct Csr {
    pub public_key: PKey<Public>,
    /// DER SubjectPublicKeyInfo of the key.
    pub spki_der: Vec<u8>,
    /// The subject as requested, as (short name, value) pairs.
    pub subject: Vec<(String, String)>,
    /// JWS algorithm that fits the key (PS256, ES256 or ES384).
    pub jws_alg: &'static str,
    /// The DNS names and IP addresses asked for as subjectAltName, lower case.
    pub names: Vec<Name>,
}

/// A subjectAltName a CSR asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    Dns(String),
    Ip(std::net::IpAddr),
}

impl Name {
    /// The name as it appears in a URL's host.
    pub fn host(&self) -> String {
        match self {
            Name::Dns(name) => name.clone(),
            Name::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
            Name::Ip(ip) => ip.to_string(),
        }
    }
}

/// The subjectAltName entries of the CSR's extensionRequest attribute (PKCS #9): DNS names
/// and IP addresses; any other kind of name is refused rather than dropped silently.
fn requested_names(der: &[u8]) -> Result<Vec<Name>, Error> {
    use const_oid::AssociatedOid;
    use der::{Decode, Encode};
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::request::{CertReq, ExtensionReq};
    let request = CertReq::from_der(der).map_err(|_| invalid("cannot be parsed as DER"))?;
    let mut names = vec![];
    for attribute in request.info.attributes.iter() {
        if attribute.oid != ExtensionReq::OID {
            continue;
        }
        for value in attribute.values.iter() {
            let bytes = value
                .to_der()
                .map_err(|_| invalid("its extension request cannot be read"))?;
            let extensions = ExtensionReq::from_der(&bytes)
                .map_err(|_| invalid("its extension request cannot be read"))?;
            for extension in extensions.0 {
                if extension.extn_id != const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME {
                    continue;
                }
                let alt = SubjectAltName::from_der(extension.extn_value.as_bytes())
                    .map_err(|_| invalid("its subjectAltName cannot be read"))?;
                for name in alt.0 {
                    names.push(match name {
                        GeneralName::DnsName(dns) => Name::Dns(dns.as_str().to_ascii_lowercase()),
                        GeneralName::IpAddress(ip) => match ip.as_bytes().len() {
                            4 => Name::Ip(std::net::IpAddr::from(
                                <[u8; 4]>::try_from(ip.as_bytes()).unwrap_or_default(),
                            )),
                            16 => Name::Ip(std::net::IpAddr::from(
                                <[u8; 16]>::try_from(ip.as_bytes()).unwrap_or_default(),
                            )),
                            _ => {
                                return Err(invalid(
                                    "its subjectAltName has a malformed IP address",
                                ));
                            }
                        },
                        _ => {
                            return Err(invalid(
                                "its subjectAltName may hold DNS names and IP addresses only",
                            ));
                        }
                    });
                }
            }
        }
    }
    Ok(names)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Validation(format!("csr: {}", message.into()))
}

/// Parses and checks a PEM CSR.
pub fn parse(pem: &str) -> Result<Csr, Error> {
    let pem = pem.trim();
    if pem.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if pem.len() > MAX_CSR_BYTES {
        return Err(invalid(format!("larger than {MAX_CSR_BYTES} bytes")));
    }
    let begins = pem.matches("-----BEGIN ").count();
    if begins == 0
        || !pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----")
            && !pem.starts_with("-----BEGIN NEW CERTIFICATE REQUEST-----")
    {
        return Err(invalid(
            "not a PEM certificate signing request (expected -----BEGIN CERTIFICATE REQUEST-----)",
        ));
    }
    if begins > 1 {
        return Err(invalid(
            "holds more than one PEM block; send exactly one CSR",
        ));
    }
    let request = X509Req::from_pem(pem.as_bytes())
        .map_err(|_| invalid("cannot be parsed (truncated or corrupt PEM?)"))?;
    let public_key = request
        .public_key()
        .map_err(|_| invalid("its public key cannot be read"))?;
    if !request.verify(&public_key).unwrap_or(false) {
        return Err(invalid(
            "its signature does not match its public key (it was not signed by the key it carries)",
        ));
    }
    let jws_alg = if let Ok(rsa) = public_key.rsa() {
        let bits = rsa.n().num_bits();
        if !(2048..=8192).contains(&bits) {
            return Err(invalid(format!(
                "RSA keys need 2048 to 8192 bits (what banks' TLS and JOSE libraries verify); this one has {bits}"
            )));
        }
        "PS256"
    } else if let Ok(ec) = public_key.ec_key() {
        match ec.group().curve_name() {
            Some(Nid::X9_62_PRIME256V1) => "ES256",
            Some(Nid::SECP384R1) => "ES384",
            other => {
                let name = other
                    .and_then(|n| n.short_name().ok())
                    .unwrap_or("an unnamed curve");
                return Err(invalid(format!(
                    "EC keys must be on P-256 or P-384, not {name}"
                )));
            }
        }
    } else {
        return Err(invalid(
            "the key must be RSA (2048 bits or more) or EC (P-256, P-384)",
        ));
    };
    let spki_der = public_key
        .public_key_to_der()
        .map_err(|_| invalid("its public key cannot be encoded"))?;
    let subject = request
        .subject_name()
        .entries()
        .map(|e| {
            (
                e.object()
                    .nid()
                    .short_name()
                    .map(str::to_owned)
                    .unwrap_or_else(|_| e.object().to_string()),
                e.data().to_string().unwrap_or_default(),
            )
        })
        .collect();
    let names = requested_names(
        &request
            .to_der()
            .map_err(|_| invalid("cannot be encoded as DER"))?,
    )?;
    Ok(Csr {
        public_key,
        spki_der,
        subject,
        jws_alg,
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509NameBuilder, X509ReqBuilder};

    fn csr_for(key: &PKey<openssl::pkey::Private>, cn: &str) -> String {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let mut builder = X509ReqBuilder::new().unwrap();
        builder.set_subject_name(&name.build()).unwrap();
        builder.set_pubkey(key).unwrap();
        builder.sign(key, MessageDigest::sha256()).unwrap();
        String::from_utf8(builder.build().to_pem().unwrap()).unwrap()
    }

    fn csr_asking_for(key: &PKey<openssl::pkey::Private>, names: &[&str]) -> String {
        use openssl::x509::extension::SubjectAlternativeName;
        let mut builder = X509ReqBuilder::new().unwrap();
        builder.set_pubkey(key).unwrap();
        let mut alt = SubjectAlternativeName::new();
        for name in names {
            match name.split_once(':') {
                Some(("DNS", dns)) => alt.dns(dns),
                Some(("IP", ip)) => alt.ip(ip),
                Some(("email", email)) => alt.email(email),
                _ => unreachable!(),
            };
        }
        let mut extensions = openssl::stack::Stack::new().unwrap();
        extensions
            .push(alt.build(&builder.x509v3_context(None)).unwrap())
            .unwrap();
        builder.add_extensions(&extensions).unwrap();
        builder.sign(key, MessageDigest::sha256()).unwrap();
        String::from_utf8(builder.build().to_pem().unwrap()).unwrap()
    }

    #[test]
    fn the_names_a_csr_asks_for_are_read_and_other_kinds_refused() {
        let p256 = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&p256).unwrap()).unwrap();
        assert_eq!(parse(&csr_for(&key, "app")).unwrap().names, vec![]);
        let csr = parse(&csr_asking_for(
            &key,
            &["DNS:Bank.Example", "IP:127.0.0.1", "IP:::1"],
        ))
        .unwrap();
        assert_eq!(
            csr.names,
            vec![
                Name::Dns("bank.example".into()),
                Name::Ip("127.0.0.1".parse().unwrap()),
                Name::Ip("::1".parse().unwrap()),
            ]
        );
        assert_eq!(csr.names[2].host(), "[::1]");
        let Err(Error::Validation(message)) =
            parse(&csr_asking_for(&key, &["email:a@bank.example"]))
        else {
            panic!("an e-mail subjectAltName was accepted");
        };
        assert!(message.contains("DNS names and IP addresses"), "{message}");
    }

    #[test]
    fn good_csrs_yield_their_key_and_subject() {
        let rsa = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let csr = parse(&csr_for(&rsa, "app")).unwrap();
        assert_eq!(csr.jws_alg, "PS256");
        assert_eq!(csr.subject, vec![("CN".to_owned(), "app".to_owned())]);
        let p384 = EcGroup::from_curve_name(Nid::SECP384R1).unwrap();
        let ec = PKey::from_ec_key(EcKey::generate(&p384).unwrap()).unwrap();
        assert_eq!(parse(&csr_for(&ec, "app")).unwrap().jws_alg, "ES384");
    }

    #[test]
    fn bad_csrs_are_refused_with_the_reason() {
        let weak = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        assert!(
            parse(&csr_for(&weak, "x"))
                .err()
                .unwrap()
                .to_string()
                .contains("2048")
        );
        let k1 = EcGroup::from_curve_name(Nid::SECP256K1).unwrap();
        let ec = PKey::from_ec_key(EcKey::generate(&k1).unwrap()).unwrap();
        assert!(
            parse(&csr_for(&ec, "x"))
                .err()
                .unwrap()
                .to_string()
                .contains("P-256")
        );
        assert!(
            parse("hello")
                .err()
                .unwrap()
                .to_string()
                .contains("not a PEM")
        );
        let good = csr_for(&PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(), "x");
        let truncated = &good[..good.len() / 2];
        assert!(parse(truncated).is_err());
        let double = format!("{good}{good}");
        assert!(
            parse(&double)
                .err()
                .unwrap()
                .to_string()
                .contains("more than one")
        );
    }

    #[test]
    fn a_csr_signed_by_another_key_is_refused() {
        let a = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let b = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut builder = X509ReqBuilder::new().unwrap();
        builder.set_pubkey(&a).unwrap();
        builder.sign(&b, MessageDigest::sha256()).unwrap();
        let pem = String::from_utf8(builder.build().to_pem().unwrap()).unwrap();
        assert!(parse(&pem).err().unwrap().to_string().contains("signature"));
    }
}
