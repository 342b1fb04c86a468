//! Connecting to PostgreSQL with TLS as the URL's `sslmode` asks, with
//! libpq's meanings (tokio-postgres knows only disable / prefer / require
//! and leaves checking the certificate to the TLS connector):
//!
//! - `disable`: plain.
//! - `allow`, `prefer` (the default): TLS when the server offers it, the
//!   certificate not checked (libpq checks it only against a root
//!   certificate file it is given).
//! - `require`: TLS or no connection; the chain is checked when the URL
//!   names `sslrootcert` (libpq does the same), else not.
//! - `verify-ca`: TLS, the chain checked against `sslrootcert` or the
//!   system's roots, any host name.
//! - `verify-full`: as `verify-ca`, and the certificate must name the host.
//!
//! `sslrootcert=PATH` is a PEM file of trusted roots; `sslrootcert=system`
//! the system's roots.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres::{Client, Config, NoTls};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    System,
    File(PathBuf),
}

/// A parsed connection URL: tokio-postgres's config plus how to do TLS.
#[derive(Debug, Clone)]
pub struct PgTarget {
    pub config: Config,
    mode: SslMode,
    roots: Option<Roots>,
}

#[derive(Debug, thiserror::Error)]
pub enum PgConnectError {
    /// TLS could not be set up (roots missing or unreadable): the message
    /// names the file or setting and the fix.
    #[error("{0}")]
    Tls(String),
    /// The connection or handshake failed (tokio-postgres's error, which the
    /// caller words without the password).
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

impl PgTarget {
    /// Parses `url` (`postgres://…` or `postgresql://…`); `sslmode` and
    /// `sslrootcert` are taken out of its query before tokio-postgres reads
    /// the rest. The error is a sentence naming the bad part.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => (url, ""),
        };
        let mut mode = SslMode::Prefer;
        let mut roots = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = url::form_urlencoded::parse(pair.as_bytes())
                .next()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .unwrap_or_default();
            match key.as_str() {
                "sslmode" => {
                    mode = match value.as_str() {
                        "disable" => SslMode::Disable,
                        "allow" => SslMode::Allow,
                        "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => {
                            return Err(format!(
                                "sslmode={other:?} is not a mode; use disable, allow, prefer, require, verify-ca or verify-full"
                            ));
                        }
                    }
                }
                "sslrootcert" if value == "system" => roots = Some(Roots::System),
                "sslrootcert" => roots = Some(Roots::File(PathBuf::from(value))),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: Config = rest.parse().map_err(|e| format!("{e}"))?;
        config.ssl_mode(match mode {
            SslMode::Disable => WireMode::Disable,
            SslMode::Allow | SslMode::Prefer => WireMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => WireMode::Require,
        });
        Ok(Self {
            config,
            mode,
            roots,
        })
    }

    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// Connects and drives the connection on the runtime.
    pub async fn connect(&self) -> Result<Client, PgConnectError> {
        let Some(tls) = self.client_config()? else {
            let (client, connection) = self.config.connect(NoTls).await?;
            tokio::spawn(connection);
            return Ok(client);
        };
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
        let (client, connection) = self.config.connect(tls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// The TLS settings for the mode; `None` for a plain connection.
    fn client_config(&self) -> Result<Option<ClientConfig>, PgConnectError> {
        let check = match (self.mode, &self.roots) {
            (SslMode::Disable, _) => return Ok(None),
            (SslMode::VerifyFull, roots) => Check::Full(roots.clone().unwrap_or(Roots::System)),
            (SslMode::VerifyCa, roots) => Check::Chain(roots.clone().unwrap_or(Roots::System)),
            (SslMode::Require, Some(roots)) => Check::Chain(roots.clone()),
            (SslMode::Allow | SslMode::Prefer | SslMode::Require, _) => Check::None,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| PgConnectError::Tls(format!("TLS set-up: {e}")))?;
        let config = match check {
            Check::None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unchecked(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth(),
            Check::Full(roots) => builder
                .with_root_certificates(load_roots(&roots)?)
                .with_no_client_auth(),
            Check::Chain(roots) => {
                let inner = WebPkiServerVerifier::builder_with_provider(
                    Arc::new(load_roots(&roots)?),
                    provider,
                )
                .build()
                .map_err(|e| PgConnectError::Tls(format!("TLS set-up: {e}")))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyName(inner)))
                    .with_no_client_auth()
            }
        };
        Ok(Some(config))
    }
}

enum Check {
    None,
    Chain(Roots),
    Full(Roots),
}

fn load_roots(roots: &Roots) -> Result<RootCertStore, PgConnectError> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(PgConnectError::Tls(
                    "no trusted root certificates on this machine; install the ca-certificates package, or name the server's CA with sslrootcert=PATH in the url".to_string(),
                ));
            }
        }
        Roots::File(path) => {
            let unreadable = |e: &dyn std::fmt::Display| {
                PgConnectError::Tls(format!(
                    "sslrootcert {}: {e}; name a PEM file of the server's CA certificate(s)",
                    path.display()
                ))
            };
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                store
                    .add(cert.map_err(|e| unreadable(&e))?)
                    .map_err(|e| unreadable(&e))?;
            }
            if store.is_empty() {
                return Err(unreadable(&"no certificate in the file"));
            }
        }
    }
    Ok(store)
}

/// `sslmode=prefer/require` without roots: encrypted, the server not
/// authenticated (libpq's behaviour); handshake signatures still checked.
#[derive(Debug)]
struct Unchecked(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name in the
/// certificate is not compared with the host.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_leave_the_url_before_tokio_postgres_reads_it() {
        let t = PgTarget::parse(
            "postgres://u@127.0.0.1:5432/db?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(t.mode(), SslMode::VerifyFull);
        assert_eq!(t.roots, Some(Roots::File(PathBuf::from("/tmp/ca.pem"))));
        assert_eq!(t.config.get_application_name(), Some("x"));
        assert_eq!(t.config.get_ssl_mode(), WireMode::Require);
        let t = PgTarget::parse("postgres://u@h/db").unwrap();
        assert_eq!(t.mode(), SslMode::Prefer);
        assert_eq!(t.config.get_ssl_mode(), WireMode::Prefer);
        let t = PgTarget::parse("postgres://u@h/db?sslrootcert=system&sslmode=disable").unwrap();
        assert_eq!((t.mode(), t.roots), (SslMode::Disable, Some(Roots::System)));
        assert_eq!(
            PgTarget::parse("postgres://u@h/db?sslmode=strict").unwrap_err(),
            "sslmode=\"strict\" is not a mode; use disable, allow, prefer, require, verify-ca or verify-full"
        );
    }
}
