//! Integration tests: one binary, so the crate links once. Every test starts the real server.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod authorization;
mod authorization_server;
mod browser;
mod cli;
mod console;
mod contract;
mod events;
mod federation;
mod foundation;
mod hardening;
mod helpers;
mod hsm;
mod issuers;
mod keystore;
mod mail;
mod mfa;
mod mtls;
mod oauth;
mod onboarding;
mod pki;
mod portal;
mod push;
mod registrar;
mod registrar_edges;
mod sessions;
mod ssa;
mod transparency;
mod verifier;
