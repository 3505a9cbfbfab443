//! rustls configurations built from the PEM files of [`super::certs::TestPki`],
//! always on the ring provider passed explicitly (never a process default).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The crypto provider every test TLS endpoint uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// All certificates in a PEM file.
pub fn load_certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The first private key in a PEM file.
pub fn load_key(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).unwrap_or_else(|e| panic!("key {}: {e}", path.display()))
}

/// A root store holding the certificates of `ca_pem`.
pub fn roots(ca_pem: &Path) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca_pem) {
        roots.add(cert).expect("CA certificate accepted by webpki");
    }
    Arc::new(roots)
}

/// Client configuration trusting `ca_pem`, presenting `identity`
/// (certificate PEM, key PEM) when given.
pub fn client_config(ca_pem: &Path, identity: Option<(&Path, &Path)>) -> Arc<ClientConfig> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(ca_pem), provider())
        .build()
        .expect("server verifier");
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_webpki_verifier(verifier);
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certs(cert), load_key(key))
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// Server configuration presenting `cert`/`key`; when `client_ca` is given,
/// a client certificate chaining to it is required.
pub fn server_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let builder = match client_ca {
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(load_certs(cert), load_key(key))
        .expect("server certificate and key match");
    Arc::new(config)
}

/// A blocking TLS stream for test clients.
pub type BlockingTls = StreamOwned<ClientConnection, TcpStream>;

/// Connects to `addr` and completes the TLS handshake with `server_name`.
/// A 10 s read/write timeout keeps a wedged peer from hanging the test.
pub fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    server_name: &str,
) -> io::Result<BlockingTls> {
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    let sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    sock.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}
