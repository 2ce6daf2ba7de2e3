#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod algorithm;
mod certificate;
mod claims;
mod clock;
mod error;
mod events;
pub mod federation;
#[cfg(feature = "fetch")]
mod fetch;
mod jose;
mod keys;
#[cfg(feature = "fetch")]
pub mod monitor;
pub mod protocol;
mod registration;
mod settings;
mod statement;
pub mod transparency;
mod trust;
pub mod witness;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use certificate::{CaChain, CertificateInfo, Crl, Revocation, subject_dn};
pub use claims::{
    Authorisation, CompetentAuthorityClaims, ObukClaims, ProfileClaims, Rfc7591Claims,
    StatementClaims,
};
pub use clock::{Clock, SystemClock};
pub use error::{ConfigError, ErrorCode, VerifyError};
pub use events::{ChangeEvent, EVENT_TYPE_PREFIX};
#[cfg(feature = "fetch")]
pub use fetch::http::{HttpClient, HttpResponse};
#[cfg(feature = "fetch")]
pub use fetch::{Directory, EventPage, Verifier};
pub use keys::KeySet;
pub use registration::{ClientMetadata, Registration, RegistrationRequest};
pub use settings::{CachePolicy, Profile, Settings, Transparency};
pub use statement::SoftwareStatement;
pub use trust::Trust;
