//! RFC 5425: syslog over TLS with rustls (ring provider), TLS 1.2 and 1.3.
//!
//! The server is verified against `ca_file` and its subjectAltName must match
//! `server_name` (default: the host part of each `address`). There is no switch to
//! turn verification off: plain `tcp` exists for tests and says so. A client
//! certificate (`cert_file` + `key_file`) gives the mutual TLS that rsyslog's
//! `x509/name` auth mode with `PermittedPeer` expects.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::OutputError;

/// The rustls connector for every target: our CA only, optional client
/// auth. Reads the files now, so that a bad one stops the relay at start-up
/// with the file's name.
pub(crate) fn connector(
    ca_file: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<tokio_rustls::TlsConnector, OutputError> {
    Ok(tokio_rustls::TlsConnector::from(Arc::new(client_config(
        ca_file, client,
    )?)))
}

/// The rustls client configuration: our CA only, optional client auth.
pub(crate) fn client_config(
    ca_file: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<ClientConfig, OutputError> {
    let builder = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| OutputError::Tls(e.to_string()))?
        .with_root_certificates(load_roots(ca_file)?);
    match client {
        Some((cert_file, key_file)) => {
            let certs = load_certs(cert_file, "output.cert_file")?;
            let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| OutputError::BadFile {
                what: "output.key_file",
                path: key_file.to_owned(),
                reason: format!("no usable PEM private key: {e}"),
            })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| OutputError::BadFile {
                    what: "output.cert_file/key_file",
                    path: cert_file.to_owned(),
                    reason: format!("certificate and key do not work together: {e}"),
                })
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// ring's suites with AES-128-GCM offered first: a quarter fewer AES rounds
/// than AES-256 per byte, the cipher Go's TLS stack and browsers prefer.
/// The server still decides; every default suite stays offered.
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::CipherSuite as C;
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites.sort_by_key(|s| {
        !matches!(
            s.suite(),
            C::TLS13_AES_128_GCM_SHA256
                | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        )
    });
    p
}

fn load_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, OutputError> {
    let bad = |reason: String| OutputError::BadFile {
        what,
        path: path.to_owned(),
        reason,
    };
    // Read first so that a missing file says "cannot read", not "bad PEM".
    let pem = std::fs::read(path).map_err(|source| OutputError::File {
        what,
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE block in the file".into()));
    }
    Ok(certs)
}

fn load_roots(ca_file: &Path) -> Result<RootCertStore, OutputError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca_file, "output.ca_file")? {
        roots.add(cert).map_err(|e| OutputError::BadFile {
            what: "output.ca_file",
            path: ca_file.to_owned(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}
