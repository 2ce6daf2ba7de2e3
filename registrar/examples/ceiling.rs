//! The registrar's ceiling: the verifier's checks of registration requests (a statement each,
//! RFC 7591 section 2.3 and the policy's checks) with the registrar's core, in one thread, with
//! no HTTP and no storage. `scripts/bench/registrar.sh` runs it beside the service on the same
//! core and the same statements.
//!
//!   ceiling ISSUER JWKS_FILE STATEMENTS_FILE
//!
//! Prints the decisions per second.

use std::time::Instant;

use ssa_registrar::{Policy, Presented, Registrar, SecurityProfile};
use ssa_verifier::{KeySet, Settings, Trust, Verifier};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, issuer, jwks, statements] = args.as_slice() else {
        return Err("usage: ceiling ISSUER JWKS_FILE STATEMENTS_FILE".into());
    };
    let keys = KeySet::from_json(&std::fs::read_to_string(jwks)?)?;
    let policy = Policy::for_profile(SecurityProfile::Fapi2);
    let settings =
        Settings::default().with_token_endpoint_auth_methods(policy.auth_methods.iter().cloned());
    let verifier = Verifier::offline(Trust::new(issuer.as_str(), keys), settings);
    let registrar = Registrar::new(policy, vec![verifier]);
    let bodies: Vec<String> = std::fs::read_to_string(statements)?
        .lines()
        .map(|ssa| format!("{{\"software_statement\":\"{ssa}\"}}"))
        .collect();
    let presented = Presented::default();
    // Warm up, then measure every statement once.
    for body in bodies.iter().take(100) {
        registrar.register(body, &presented)?;
    }
    let started = Instant::now();
    for body in &bodies {
        registrar.register(body, &presented)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("{:.0}", bodies.len() as f64 / elapsed);
    Ok(())
}
