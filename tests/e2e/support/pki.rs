//! Throwaway certificates for the TLS tests: a certificate authority made at run time, and
//! server certificates it signs, written as PEM files to a temporary directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, date_time_ymd,
};

/// A CA and one server certificate it signed, as files.
pub struct Pki {
    dir: tempfile::TempDir,
}

/// How the server certificate is made.
pub struct ServerCert<'a> {
    /// Its names (DNS names or IP addresses).
    pub names: &'a [&'a str],
    /// Whether its validity ended in the past.
    pub expired: bool,
}

impl Pki {
    /// A CA and a certificate for `localhost` and `127.0.0.1`, valid now.
    pub fn localhost() -> Self {
        Self::new(ServerCert {
            names: &["localhost", "127.0.0.1"],
            expired: false,
        })
    }

    /// A CA and a server certificate made as `server` says.
    pub fn new(server: ServerCert<'_>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own: two CAs of one name would be taken for each other (and a
        // certificate from the other one refused as a bad signature, not an unknown issuer).
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("ctl test CA {} {n}", std::process::id()),
        );
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let names: Vec<String> = server.names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, server.names[0]);
        if server.expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &*ca).unwrap();

        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        Pki { dir }
    }

    /// The CA certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server certificate (PEM).
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server key (PEM).
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// `ctl server` arguments serving this certificate.
    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".to_owned(),
            self.cert().to_str().unwrap().to_owned(),
            "--tls-key".to_owned(),
            self.key().to_str().unwrap().to_owned(),
        ]
    }

    /// The directory holding the files (for a config file next to them).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}
