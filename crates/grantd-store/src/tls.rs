//! Postgres connections, with TLS (rustls, aws-lc-rs provider) when the URL asks for it.
//!
//! URL options read here and removed before tokio-postgres sees the URL:
//! - `sslmode`: absent or `disable` → plain TCP; `require`, `verify-ca` or `verify-full` → TLS,
//!   and the server certificate is always verified against the roots and the host name (rustls
//!   has no "encrypt but trust anyone" mode, so `require` is as strict as libpq's
//!   `verify-full`). `prefer` and `allow` are refused: silently falling back to plain text is
//!   what they mean, and production must not do that.
//! - `sslrootcert=/path/ca.pem`: trust only these PEM certificates (a cloud provider's CA).
//!   Without it, the Mozilla roots of `webpki-roots`.

use std::fmt;
use std::sync::Arc;

use diesel::ConnectionResult;
use diesel::result::ConnectionError;
use diesel_async::AsyncPgConnection;
use grantd_ports::StoreError;
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::NoTls;

/// How to open one Postgres connection: the URL to give tokio-postgres and the TLS
/// configuration, if any.
pub(crate) struct PgConnector {
    url: String,
    tls: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for PgConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConnector")
            .field("url", &redact(&self.url))
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl PgConnector {
    pub(crate) fn from_url(url: &str) -> Result<PgConnector, StoreError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut sslmode = None;
        let mut rootcert = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => sslmode = Some(percent_decode(value)?),
                "sslrootcert" => rootcert = Some(percent_decode(value)?),
                _ => kept.push(pair),
            }
        }
        let tls = match sslmode.as_deref() {
            None | Some("disable") => None,
            Some("require" | "verify-ca" | "verify-full") => {
                Some(Arc::new(client_config(rootcert.as_deref())?))
            }
            Some(_) => {
                return Err(StoreError::Invalid(
                    "sslmode must be disable, require, verify-ca or verify-full".into(),
                ));
            }
        };
        if tls.is_none() && rootcert.is_some() {
            return Err(StoreError::Invalid(
                "sslrootcert needs sslmode=require (or verify-ca / verify-full)".into(),
            ));
        }
        // tokio-postgres only knows disable / prefer / require; certificate checks are rustls'.
        kept.push(if tls.is_some() {
            "sslmode=require"
        } else {
            "sslmode=disable"
        });
        Ok(PgConnector {
            url: format!("{base}?{}", kept.join("&")),
            tls,
        })
    }

    pub(crate) fn url(&self) -> String {
        self.url.clone()
    }

    /// The TLS configuration, for connections opened outside diesel (the change listener).
    pub(crate) fn tls(&self) -> Option<&Arc<ClientConfig>> {
        self.tls.as_ref()
    }

    /// Opens one connection. tokio-postgres is called directly (not through
    /// `AsyncPgConnection::establish`, which keeps only the top-level error text, "error
    /// connecting to server") so the cause survives for classification and the log.
    pub(crate) async fn connect(&self) -> ConnectionResult<AsyncPgConnection> {
        match &self.tls {
            None => {
                let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
                    .await
                    .map_err(connect_error)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
            Some(config) => {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new((**config).clone());
                let (client, connection) = tokio_postgres::connect(&self.url, tls)
                    .await
                    .map_err(connect_error)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
        }
    }
}

/// The error with its chain of causes ("error connecting to server: Connection refused").
fn connect_error(e: tokio_postgres::Error) -> ConnectionError {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    ConnectionError::BadConnection(text)
}

fn client_config(rootcert: Option<&str>) -> Result<ClientConfig, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match rootcert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|_| StoreError::Invalid("cannot read the sslrootcert file".into()))?;
            for cert in certs {
                let cert = cert.map_err(|_| {
                    StoreError::Invalid("the sslrootcert file is not valid PEM".into())
                })?;
                roots.add(cert).map_err(|_| {
                    StoreError::Invalid("the sslrootcert file holds an unusable certificate".into())
                })?;
            }
            if roots.is_empty() {
                return Err(StoreError::Invalid(
                    "the sslrootcert file holds no certificate".into(),
                ));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    // An explicit provider: the process-wide default may be unset, or ambiguous when feature
    // unification enables both of rustls' providers.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| StoreError::Internal("cannot configure TLS".into()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn percent_decode(s: &str) -> Result<String, StoreError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| StoreError::Invalid("bad %-escape in the database URL".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| StoreError::Invalid("the database URL is not valid UTF-8".into()))
}

/// The URL with its password replaced, for logs and Debug.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{masked}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_parsed_and_replaced() {
        let c = PgConnector::from_url("postgres://u@h/db?application_name=x&sslmode=disable");
        let c = c.ok();
        assert_eq!(
            c.as_ref().map(PgConnector::url).as_deref(),
            Some("postgres://u@h/db?application_name=x&sslmode=disable")
        );
        let c = PgConnector::from_url("postgres://u@h/db").ok();
        assert_eq!(
            c.map(|c| c.url()).as_deref(),
            Some("postgres://u@h/db?sslmode=disable")
        );
        let c = PgConnector::from_url("postgresql://u@h/db?sslmode=require").ok();
        assert!(c.as_ref().is_some_and(|c| c.tls.is_some()));
        assert_eq!(
            c.map(|c| c.url()).as_deref(),
            Some("postgresql://u@h/db?sslmode=require")
        );
        for bad in ["prefer", "allow", "bogus"] {
            let r = PgConnector::from_url(&format!("postgres://h/db?sslmode={bad}"));
            assert!(matches!(r, Err(StoreError::Invalid(_))), "{bad}");
        }
        let r = PgConnector::from_url("postgres://h/db?sslmode=require&sslrootcert=/nonexistent");
        assert!(matches!(r, Err(StoreError::Invalid(_))));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/grantd?sslmode=require"),
            "postgres://app:***@db:5432/grantd?sslmode=require"
        );
        assert_eq!(
            redact("postgres://app@db/grantd"),
            "postgres://app@db/grantd"
        );
        let c = PgConnector::from_url("postgres://app:s3cret@db/grantd").ok();
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
