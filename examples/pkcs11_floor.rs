//! The ceiling of a PKCS#11 module for the directory's signatures: RSASSA-PSS (SHA-256,
//! 2048-bit key) over a digest, called straight through cryptoki on every thread, with
//! nothing around it. `scripts/bench/pkcs11.sh` compares issuance with keys in the token to
//! this rate.
//!
//!     pkcs11_floor 'pkcs11:token=LABEL?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/path' SECONDS THREADS

use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use sha2::Digest;
use ssa_directory::config::TokenUri;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Fallible<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, uri, seconds, threads] = &args[..] else {
        return Err("usage: pkcs11_floor URI SECONDS THREADS".into());
    };
    let uri: TokenUri = uri.parse()?;
    let (seconds, threads): (u64, usize) = (seconds.parse()?, threads.parse()?);
    let context = Pkcs11::new(&uri.module_path)?;
    context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let slot = context
        .get_slots_with_token()?
        .into_iter()
        .find(|slot| {
            context
                .get_token_info(*slot)
                .is_ok_and(|info| info.label() == uri.token)
        })
        .ok_or("no such token")?;
    let pin = std::fs::read_to_string(&uri.pin_source)?;
    let login = context.open_rw_session(slot)?;
    login.login(UserType::User, Some(&AuthPin::new(pin.trim().into())))?;
    // A key of this run alone (a session object), made as the directory makes its keys.
    let (_, key) = login.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::ModulusBits(2048.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Verify(true),
        ],
        &[
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ],
    )?;
    let pss = || {
        Mechanism::RsaPkcsPss(PkcsPssParams {
            hash_alg: MechanismType::SHA256,
            mgf: PkcsMgfType::MGF1_SHA256,
            s_len: 32.into(),
        })
    };
    let digest = sha2::Sha256::digest(b"a statement-sized signing input");
    let until = Instant::now() + Duration::from_secs(seconds);
    let signed: u64 = std::thread::scope(|scope| -> Fallible<u64> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<u64, cryptoki::error::Error> {
                    let session = context.open_ro_session(slot)?;
                    let mechanism = pss();
                    let mut n = 0;
                    while Instant::now() < until {
                        session.sign(&mechanism, key, &digest)?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        let mut signed = 0;
        for worker in workers {
            signed += worker.join().map_err(|_| "a signing thread panicked")??;
        }
        Ok(signed)
    })?;
    println!("{:.0}", signed as f64 / seconds as f64);
    drop(login);
    context.finalize()?;
    Ok(())
}
