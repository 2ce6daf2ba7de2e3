//! TLS: the listener's acceptor, the trusted directories' CAs for mutual TLS, and the client
//! certificate of a request (the connection's, or a trusted proxy's header).

use super::*;

/// The client certificate of a TLS connection (PEM).
#[derive(Clone)]
pub(super) struct PeerCertificate(pub(super) String);

/// The client certificate of a request: from the TLS connection, or from the proxy's
/// header when the request comes from a trusted proxy.
pub(super) fn client_certificate(state: &State, req: &HttpRequest) -> Option<String> {
    match &state.mtls {
        Mtls::Off => None,
        Mtls::Required => req.conn_data::<PeerCertificate>().map(|c| c.0.clone()),
        Mtls::Header { name, proxies } => {
            let peer = req.peer_addr()?.ip();
            if !proxies.contains(&peer) {
                return None;
            }
            let value = req.headers().get(name.as_str())?.to_str().ok()?;
            let pem = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .ok()?
                .into_owned();
            pem.contains("BEGIN CERTIFICATE").then_some(pem)
        }
    }
}

/// The PEM certificates of each trusted directory's CA chain (its discovery `ca_uri`).
pub(super) fn directory_cas(
    discovery_urls: &[String],
    http: &ssa_verifier::HttpClient,
) -> anyhow::Result<Vec<openssl::x509::X509>> {
    let mut certificates = vec![];
    for url in discovery_urls {
        let url = if url.contains("/.well-known/") {
            url.clone()
        } else {
            format!("{}/.well-known/ssa-directory", url.trim_end_matches('/'))
        };
        let discovery: Value = serde_json::from_slice(&http.get(&url)?)?;
        let ca_uri = discovery["ca_uri"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("{url} names no ca_uri"))?;
        let pem = http.get(ca_uri)?;
        certificates.extend(openssl::x509::X509::stack_from_pem(&pem)?);
    }
    Ok(certificates)
}

/// A TLS acceptor with the service's certificate; with `require_clients`, client
/// certificates are required and must chain to one of `cas`.
pub(super) fn acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
    cas: &[openssl::x509::X509],
    require_clients: bool,
) -> anyhow::Result<openssl::ssl::SslAcceptorBuilder> {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    builder
        .set_certificate_chain_file(cert)
        .map_err(|e| anyhow::anyhow!("TLS certificate {}: {e}", cert.display()))?;
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .map_err(|e| anyhow::anyhow!("TLS key {}: {e}", key.display()))?;
    if require_clients {
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
