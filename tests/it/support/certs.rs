//! A throw-away PKI for TLS tests: one CA that rsyslog and the relay trust,
//! the certificates they present, and strangers for the failure cases.
//!
//! Keys are ECDSA P-256 in PKCS#8 PEM (`BEGIN PRIVATE KEY`): rustls, GnuTLS
//! (rsyslog's `gtls` driver and librelp) and OpenSSL (`ossl`) all load that
//! form; `rsyslog_harness` proves it against the real daemons.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// Name the relay's client certificate carries (CN and DNS SAN); what
/// rsyslog's `PermittedPeer` is set to in the tests.
pub const CLIENT_NAME: &str = "relay.test";
/// DNS name in the server certificate besides `localhost` and `127.0.0.1`.
pub const SERVER_NAME: &str = "rsyslog.test";
/// Name of a client certificate issued by the right CA to the wrong peer.
pub const INTRUDER_NAME: &str = "intruder.test";
/// The only name in a server certificate from the right CA that the relay
/// must refuse (it dials `localhost`, `127.0.0.1` or [`SERVER_NAME`]).
pub const ELSEWHERE_NAME: &str = "elsewhere.test";

/// PEM files written by [`TestPki::new`]; every field is a path inside `dir`.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// Directory holding every file below.
    pub dir: PathBuf,
    /// The CA both sides trust.
    pub ca: PathBuf,
    /// Server certificate (SANs `localhost`, `127.0.0.1`, [`SERVER_NAME`]), signed by `ca`.
    pub server_cert: PathBuf,
    /// Private key of `server_cert`.
    pub server_key: PathBuf,
    /// Client certificate (CN and SAN [`CLIENT_NAME`]), signed by `ca`.
    pub client_cert: PathBuf,
    /// Private key of `client_cert`.
    pub client_key: PathBuf,
    /// Client certificate for [`INTRUDER_NAME`], signed by `ca`: right CA, wrong name.
    pub intruder_cert: PathBuf,
    /// Private key of `intruder_cert`.
    pub intruder_key: PathBuf,
    /// Server certificate for [`ELSEWHERE_NAME`] only, signed by `ca`: right CA, wrong name.
    pub elsewhere_cert: PathBuf,
    /// Private key of `elsewhere_cert`.
    pub elsewhere_key: PathBuf,
    /// A second CA nobody trusts ("wrong CA" tests).
    pub other_ca: PathBuf,
    /// Server certificate with the same names as `server_cert`, signed by `other_ca`.
    pub other_server_cert: PathBuf,
    /// Private key of `other_server_cert`.
    pub other_server_key: PathBuf,
    /// Client certificate for [`CLIENT_NAME`], signed by `other_ca`: right name, wrong CA.
    pub other_client_cert: PathBuf,
    /// Private key of `other_client_cert`.
    pub other_client_key: PathBuf,
}

impl TestPki {
    /// A PKI in a temp directory of its own, removed when the returned
    /// `TempDir` is dropped (keep it alive as long as the files are used).
    pub fn temp() -> (tempfile::TempDir, TestPki) {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = TestPki::new(dir.path());
        (dir, pki)
    }

    /// Generates all certificates and writes them as PEM files into `dir`
    /// (which must exist). Panics on failure: this is test set-up.
    pub fn new(dir: &Path) -> TestPki {
        let file = |name: &str| dir.join(name);
        let pki = TestPki {
            dir: dir.to_path_buf(),
            ca: file("ca.pem"),
            server_cert: file("server.pem"),
            server_key: file("server.key"),
            client_cert: file("client.pem"),
            client_key: file("client.key"),
            intruder_cert: file("intruder.pem"),
            intruder_key: file("intruder.key"),
            elsewhere_cert: file("elsewhere.pem"),
            elsewhere_key: file("elsewhere.key"),
            other_ca: file("other-ca.pem"),
            other_server_cert: file("other-server.pem"),
            other_server_key: file("other-server.key"),
            other_client_cert: file("other-client.pem"),
            other_client_key: file("other-client.key"),
        };
        let ca = Ca::new("reaplog test CA", &pki.ca);
        let other = Ca::new("unrelated test CA", &pki.other_ca);
        let server = server_params(vec![
            "localhost".into(),
            "127.0.0.1".into(),
            SERVER_NAME.into(),
        ]);
        let elsewhere = server_params(vec![ELSEWHERE_NAME.into()]);
        ca.issue(&server, &pki.server_cert, &pki.server_key);
        ca.issue(&elsewhere, &pki.elsewhere_cert, &pki.elsewhere_key);
        ca.issue(
            &client_params(CLIENT_NAME),
            &pki.client_cert,
            &pki.client_key,
        );
        ca.issue(
            &client_params(INTRUDER_NAME),
            &pki.intruder_cert,
            &pki.intruder_key,
        );
        other.issue(&server, &pki.other_server_cert, &pki.other_server_key);
        other.issue(
            &client_params(CLIENT_NAME),
            &pki.other_client_cert,
            &pki.other_client_key,
        );
        pki
    }
}

/// A CA's parameters and key, kept to sign leaf certificates.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
}

impl Ca {
    fn new(common_name: &str, pem_path: &Path) -> Ca {
        let mut params = base_params(common_name, Vec::new());
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("generate CA key");
        let cert = params.self_signed(&key).expect("self-sign CA");
        write(pem_path, &cert.pem());
        Ca { params, key }
    }

    fn issue(&self, params: &CertificateParams, cert_path: &Path, key_path: &Path) {
        let key = KeyPair::generate().expect("generate leaf key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("sign leaf");
        write(cert_path, &cert.pem());
        write(key_path, &key.serialize_pem());
    }
}

/// Validity pinned to sane dates: rcgen's default ends in year 4096, which
/// some X.509 stacks handle badly.
fn base_params(common_name: &str, sans: Vec<String>) -> CertificateParams {
    let mut params = CertificateParams::new(sans).expect("valid SANs");
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2099, 12, 31);
    params.use_authority_key_identifier_extension = true;
    params
}

/// The CN repeats the last SAN (webpki ignores the CN; GnuTLS may show it).
fn server_params(sans: Vec<String>) -> CertificateParams {
    let common_name = sans.last().expect("at least one name").clone();
    let mut params = base_params(&common_name, sans);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

/// rsyslog's `x509/name` matches the DNS SAN first, then the CN: both carry the name.
fn client_params(name: &str) -> CertificateParams {
    let mut params = base_params(name, vec![name.into()]);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params
}

fn write(path: &Path, pem: &str) {
    fs::write(path, pem).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
