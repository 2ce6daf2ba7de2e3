//! The directory's own TLS: the acceptor of its listeners (the mutual-TLS one asks every client
//! for a certificate of the directory's CA), and the client certificate of a request, from the
//! TLS connection or, behind a TLS-terminating proxy, from the proxy's header.

use std::net::IpAddr;
use std::path::Path;

use actix_web::HttpRequest;
use actix_web::dev::Extensions;
use anyhow::Context;
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::X509;

use crate::config::Config;
use crate::services::Directory;

/// The client certificate of a TLS connection (DER), checked by OpenSSL against the directory's
/// CA when the connection was accepted.
#[derive(Clone)]
struct PeerCertificate(Vec<u8>);

/// Marks a connection accepted on the mutual-TLS listener.
#[derive(Clone, Copy)]
struct OnMutualTls;

/// A TLS acceptor with the directory's certificate chain and key; with `client_cas`, every
/// client must present a certificate that chains to them (revocation is the token endpoint's
/// check, against the directory's own records).
pub fn acceptor(
    cert: &Path,
    key: &Path,
    client_cas: Option<&[X509]>,
) -> anyhow::Result<SslAcceptorBuilder> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    builder
        .set_certificate_chain_file(cert)
        .with_context(|| format!("TLS certificate {}", cert.display()))?;
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .with_context(|| format!("TLS key {}", key.display()))?;
    builder
        .check_private_key()
        .with_context(|| format!("TLS key {} does not match the certificate", key.display()))?;
    if let Some(cas) = client_cas {
        let mut store = openssl::x509::store::X509StoreBuilder::new()?;
        for ca in cas {
            store.add_cert(ca.clone())?;
            builder.add_client_ca(ca)?;
        }
        builder.set_verify_cert_store(store.build())?;
        builder.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    }
    Ok(builder)
}

/// The server's `on_connect` hook: keeps a TLS connection's client certificate, and marks
/// connections to the mutual-TLS listener's port.
pub fn on_connect(
    mtls_port: Option<u16>,
) -> impl Fn(&dyn std::any::Any, &mut Extensions) + Send + Sync + 'static {
    move |connection, data| {
        use actix_web::rt::net::TcpStream;
        let Some(tls) =
            connection.downcast_ref::<actix_tls::accept::openssl::TlsStream<TcpStream>>()
        else {
            return;
        };
        let local = tls.get_ref().local_addr().ok().map(|a| a.port());
        if mtls_port.is_some() && local == mtls_port {
            data.insert(OnMutualTls);
        }
        if let Some(der) = tls.ssl().peer_certificate().and_then(|c| c.to_der().ok()) {
            data.insert(PeerCertificate(der));
        }
    }
}

/// The base URL a request was sent to (what DPoP proofs' `htu` name): the mutual-TLS
/// endpoints' for a request on the mutual-TLS listener, or one a trusted proxy forwards with a
/// client certificate; otherwise the public one.
pub fn base_url<'a>(state: &'a Directory, req: &HttpRequest) -> &'a str {
    let Some(url) = &state.mtls_url else {
        return &state.public_url;
    };
    let on_mtls = req.conn_data::<OnMutualTls>().is_some()
        || state
            .config
            .client_cert_header
            .as_deref()
            .is_some_and(|name| {
                req.headers().contains_key(name)
                    && req
                        .peer_addr()
                        .is_some_and(|peer| state.config.trusted_proxies.contains(&peer.ip()))
            });
    if on_mtls { url } else { &state.public_url }
}

/// The client certificate of a request (DER): the TLS connection's, or the one a trusted proxy
/// forwards in `client_cert_header` (URL-encoded PEM). A header from any other address is
/// ignored.
pub fn client_certificate(config: &Config, req: &HttpRequest) -> Option<Vec<u8>> {
    if let Some(peer) = req.conn_data::<PeerCertificate>() {
        return Some(peer.0.clone());
    }
    let name = config.client_cert_header.as_deref()?;
    let peer: IpAddr = req.peer_addr()?.ip();
    if !config.trusted_proxies.contains(&peer) {
        return None;
    }
    let value = req.headers().get(name)?.to_str().ok()?;
    let pem = percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .ok()?;
    X509::from_pem(pem.as_bytes()).ok()?.to_der().ok()
}
