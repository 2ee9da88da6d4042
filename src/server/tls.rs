//! HTTPS for `ctl server` (`--tls-cert FILE --tls-key FILE`): rustls with the `ring` provider,
//! the same as the client, so the server needs nothing the client does not.
//!
//! Only HTTP/1.1 is offered by ALPN: event streams are written by `conn`'s own HTTP/1.1 writer
//! (the reason is there), and a client that negotiated HTTP/2 would bypass it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::ServerError;

/// How long a client may take over its TLS handshake before the connection is dropped: a
/// client that opens connections and never speaks must not hold them.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A loaded certificate chain and key, ready to accept TLS connections.
#[derive(Clone)]
pub struct ServerTls(pub(crate) tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str("ServerTls")
    }
}

impl ServerTls {
    /// Reads a PEM certificate chain (the server's certificate first) and its PEM private key
    /// (PKCS#8, PKCS#1 or SEC1). Errors name the file.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, ServerError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| {
                ServerError::Tls(format!(
                    "cannot read the certificate file {}: {e}",
                    cert.display()
                ))
            })?;
        if chain.is_empty() {
            return Err(ServerError::Tls(format!(
                "the certificate file {} holds no PEM certificate",
                cert.display()
            )));
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
            ServerError::Tls(format!(
                "cannot read a private key from {}: {e}",
                key.display()
            ))
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ServerError::Tls(format!("TLS set-up failed: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|e| {
                ServerError::Tls(format!(
                    "the key {} does not fit the certificate {}: {e}",
                    key.display(),
                    cert.display()
                ))
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }
}
