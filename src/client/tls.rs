//! HTTPS for the client: which certificates it trusts, and what it says when a server's
//! certificate is refused.
//!
//! TLS is rustls with the `ring` crypto provider (smaller and faster to build than aws-lc-rs,
//! and it needs no cmake; docs/configuration.md#tls has the numbers). By default the server's
//! certificate is checked by the platform's verifier (`rustls-platform-verifier`: the system's
//! trust store, as a browser or curl on the same machine would); `--certificate-authority`
//! replaces it with the given CA bundle only, as kubectl does, and `--insecure-skip-tls-verify`
//! turns verification off.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// What the client trusts (from `--certificate-authority` / `CTL_CA_CERT` / a context's
/// `certificate-authority`, and `--insecure-skip-tls-verify`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file of CA certificates: trust these and nothing else.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (never for production; a warning says so on every run).
    pub insecure: bool,
}

/// Makes `ring` the process's rustls crypto provider. reqwest is built without a provider of
/// its own (so that aws-lc-rs is not compiled in) and takes the process default when a client
/// is built, so this must run before any `reqwest::Client` is built; it is idempotent.
pub fn install_crypto_provider() {
    // An error only says a provider is installed already, which is what was wanted.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The warning printed on stderr on every run with verification off.
pub const INSECURE_WARNING: &str = "warning: TLS certificate verification is off (--insecure-skip-tls-verify): \
     anyone between you and the server can read and change what is sent, API key included";

/// Applies `options` to a client under construction. A CA file that cannot be read or holds no
/// certificate is a usage error naming the file.
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
    options: &TlsOptions,
) -> Result<reqwest::ClientBuilder, Error> {
    install_crypto_provider();
    if options.insecure {
        return Ok(builder.tls_danger_accept_invalid_certs(true));
    }
    match &options.ca_file {
        Some(path) => Ok(builder.tls_certs_only(read_ca_file(path)?)),
        None => Ok(builder),
    }
}

/// Reads a PEM bundle of CA certificates.
fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, Error> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read the certificate authority file {shown}: {e}"
        ))
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|e| {
        Error::Usage(format!(
            "the certificate authority file {shown} is not a PEM certificate bundle: {}",
            super::describe(&e)
        ))
    })?;
    if certs.is_empty() {
        return Err(Error::Usage(format!(
            "the certificate authority file {shown} holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(certs)
}

/// Why a TLS connection failed, as far as the user can act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// The certificate's validity period has ended (or the local clock is wrong).
    Expired,
    /// The certificate is not valid yet (or the local clock is wrong).
    NotYetValid,
    /// No trusted certificate authority signed the certificate.
    UnknownIssuer,
    /// The certificate is for other names; `presented` are its names, when known.
    NameMismatch {
        /// The names the certificate is valid for.
        presented: Vec<String>,
    },
    /// The certificate was revoked by its authority.
    Revoked,
    /// Any other refusal of the certificate (bad signature, wrong purpose, ...).
    BadCertificate(String),
    /// The handshake failed for a reason other than the certificate (no TLS at all on that
    /// port, no common protocol version, ...).
    Handshake(String),
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsProblem::Expired => f.write_str("the server's certificate has expired"),
            TlsProblem::NotYetValid => f.write_str("the server's certificate is not valid yet"),
            TlsProblem::UnknownIssuer => f.write_str(
                "the server's certificate is signed by an unknown issuer (a certificate authority this client does not trust)",
            ),
            TlsProblem::NameMismatch { presented } if presented.is_empty() => {
                f.write_str("the server's certificate is not valid for this host name")
            }
            TlsProblem::NameMismatch { presented } => write!(
                f,
                "the server's certificate is not valid for this host name (it is for {})",
                presented.join(", ")
            ),
            TlsProblem::Revoked => f.write_str("the server's certificate has been revoked"),
            TlsProblem::BadCertificate(why) => {
                write!(f, "the server's certificate was refused: {why}")
            }
            TlsProblem::Handshake(why) => write!(f, "the TLS handshake failed: {why}"),
        }
    }
}

impl TlsProblem {
    /// What to do about it.
    pub fn hint(&self) -> String {
        const SKIP: &str =
            "--insecure-skip-tls-verify turns verification off, for a test server only";
        match self {
            TlsProblem::UnknownIssuer => format!(
                "if the server uses a private or self-signed certificate authority, pass it with --certificate-authority FILE (or CTL_CA_CERT, or `certificate-authority:` in the config context); {SKIP}"
            ),
            TlsProblem::NameMismatch { .. } => format!(
                "use the host name the certificate was issued for in --server (not an IP address or another alias); {SKIP}"
            ),
            TlsProblem::Expired | TlsProblem::NotYetValid => format!(
                "check this machine's clock; otherwise the server's certificate must be renewed; {SKIP}"
            ),
            TlsProblem::Revoked | TlsProblem::BadCertificate(_) => {
                format!("the server's certificate must be replaced; {SKIP}")
            }
            TlsProblem::Handshake(_) => {
                "is the server serving HTTPS on that port? A plain-HTTP server needs an http:// URL"
                    .to_owned()
            }
        }
    }

    /// Finds the rustls error in `error`'s chain of causes, if the failure was TLS's.
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Option<TlsProblem> {
        find_rustls(error).map(Self::from_rustls)
    }

    fn from_rustls(error: &rustls::Error) -> TlsProblem {
        use rustls::CertificateError as C;
        match error {
            rustls::Error::InvalidCertificate(cert) => match cert {
                C::Expired | C::ExpiredContext { .. } => TlsProblem::Expired,
                C::NotValidYet | C::NotValidYetContext { .. } => TlsProblem::NotYetValid,
                C::UnknownIssuer => TlsProblem::UnknownIssuer,
                C::NotValidForName => TlsProblem::NameMismatch { presented: vec![] },
                C::NotValidForNameContext { presented, .. } => TlsProblem::NameMismatch {
                    presented: presented.clone(),
                },
                C::Revoked => TlsProblem::Revoked,
                other => TlsProblem::BadCertificate(format!("{other:?}")),
            },
            other => TlsProblem::Handshake(other.to_string()),
        }
    }
}

/// The rustls error in `error` or its causes. `io::Error::source` skips the error it wraps
/// (it returns that error's source), and hyper-rustls reports a handshake failure as an
/// `io::Error` around an `io::Error` around the rustls error: each one is looked inside.
fn find_rustls<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    if let Some(inner) = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        return find_rustls(inner);
    }
    error.source().and_then(find_rustls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rustls_error_is_found_inside_an_io_error() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(TlsProblem::of(&io), Some(TlsProblem::UnknownIssuer));
        let twice = std::io::Error::other(io);
        assert_eq!(TlsProblem::of(&twice), Some(TlsProblem::UnknownIssuer));
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(TlsProblem::of(&plain), None);
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert_eq!(TlsProblem::of(&expired), Some(TlsProblem::Expired));
    }

    #[test]
    fn every_problem_names_a_way_out_and_never_asks_whether_the_server_runs() {
        for problem in [
            TlsProblem::Expired,
            TlsProblem::UnknownIssuer,
            TlsProblem::NameMismatch {
                presented: vec!["a.example".into()],
            },
            TlsProblem::Handshake("x".into()),
        ] {
            let hint = problem.hint();
            assert!(!hint.contains("running"), "{hint}");
            assert!(hint.contains("--") || hint.contains("http://"), "{hint}");
        }
        assert!(
            TlsProblem::UnknownIssuer
                .hint()
                .contains("--certificate-authority")
        );
    }

    #[test]
    fn a_bad_ca_file_is_a_usage_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = read_ca_file(&path).unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        let missing = dir.path().join("missing.pem");
        let err = read_ca_file(&missing).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
    }
}
