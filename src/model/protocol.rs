//! The error codes of the protocols the directory speaks, each with its wire name and its
//! HTTP status in one place. They are defined once, in the verifier crate, for the directory,
//! the registrar and the banks that embed the verifier.

pub use ssa_verifier::protocol::{FederationCode, OAuthCode, RegistrationCode};
