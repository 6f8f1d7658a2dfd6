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
use std::time::Duration;

use diesel::ConnectionResult;
use diesel::result::ConnectionError;
use diesel_async::AsyncPgConnection;
use grantd_ports::{Internal, InvalidInput, StoreError, UrlProblem};
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::NoTls;

use crate::error::PgConnectFailure;

/// How to open one Postgres connection: the URL to give tokio-postgres and the TLS
/// configuration, if any.
pub(crate) struct PgConnector {
    url: String,
    tls: Option<Arc<ClientConfig>>,
    /// The URL parsed once, with the tuning of [`PgConnector::tune`] applied.
    config: tokio_postgres::Config,
    /// The same without `statement_timeout`, for work that may rightly wait long (migrations
    /// waiting for another replica's advisory lock, DDL on a big table).
    unbounded: tokio_postgres::Config,
}

/// Connection settings that keep a dead server or network from hanging a request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PgTuning {
    /// Postgres `statement_timeout` for every pooled connection (`None`: the server's).
    pub statement_timeout: Option<Duration>,
    /// Idle time before TCP keepalive probes start; three probes `idle / 3` apart follow, and
    /// unacknowledged data fails the connection after `2 × idle` (`TCP_USER_TIMEOUT`).
    pub tcp_keepalive: Duration,
    /// Bound on opening a connection (TCP, TLS and start-up).
    pub connect_timeout: Duration,
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
                return Err(StoreError::Invalid(InvalidInput::DatabaseUrl(
                    UrlProblem::SslMode,
                )));
            }
        };
        if tls.is_none() && rootcert.is_some() {
            return Err(StoreError::Invalid(InvalidInput::DatabaseUrl(
                UrlProblem::RootCertWithoutTls,
            )));
        }
        // tokio-postgres only knows disable / prefer / require; certificate checks are rustls'.
        kept.push(if tls.is_some() {
            "sslmode=require"
        } else {
            "sslmode=disable"
        });
        let url = format!("{base}?{}", kept.join("&"));
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| StoreError::Invalid(InvalidInput::DatabaseUrl(UrlProblem::Unparseable)))?;
        Ok(PgConnector {
            url,
            tls,
            unbounded: config.clone(),
            config,
        })
    }

    /// Applies timeouts and keepalives to every connection opened from now on.
    pub(crate) fn tune(&mut self, t: PgTuning) {
        let interval = (t.tcp_keepalive / 3).max(Duration::from_secs(1));
        for config in [&mut self.config, &mut self.unbounded] {
            config
                .connect_timeout(t.connect_timeout)
                .keepalives(true)
                .keepalives_idle(t.tcp_keepalive)
                .keepalives_interval(interval)
                .keepalives_retries(3)
                .tcp_user_timeout(t.tcp_keepalive.saturating_mul(2));
        }
        if let Some(timeout) = t.statement_timeout {
            // A start-up option, so it is in force from the first statement of every
            // connection, pooled or not, without a round trip of its own.
            let setting = format!("-c statement_timeout={}", timeout.as_millis());
            let options = match self.config.get_options() {
                Some(given) if !given.is_empty() => format!("{given} {setting}"),
                _ => setting,
            };
            self.config.options(options);
        }
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
        self.connect_with(&self.config).await
    }

    /// A connection without `statement_timeout` (migrations).
    pub(crate) async fn connect_unbounded(&self) -> ConnectionResult<AsyncPgConnection> {
        self.connect_with(&self.unbounded).await
    }

    async fn connect_with(
        &self,
        config: &tokio_postgres::Config,
    ) -> ConnectionResult<AsyncPgConnection> {
        match &self.tls {
            None => {
                let (client, connection) = config.connect(NoTls).await.map_err(connect_error)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
            Some(tls) => {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                let (client, connection) = config.connect(tls).await.map_err(connect_error)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
        }
    }
}

/// Classifies a failed connection from the driver's typed error (see [`PgConnectFailure`]) and
/// logs the full chain of causes ("error connecting to server: Connection refused"): the
/// phrase is what callers see, the driver's text only goes to the log.
fn connect_error(e: tokio_postgres::Error) -> ConnectionError {
    let failure = connect_failure(&e);
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::warn!(error = %text, cause = %failure, "cannot connect to Postgres");
    ConnectionError::BadConnection(failure.to_string())
}

/// The SQLSTATE the server answered with, else the kind of the I/O error or a TLS error found
/// in the cause chain.
pub(crate) fn connect_failure(e: &tokio_postgres::Error) -> PgConnectFailure {
    if let Some(code) = e.code() {
        return crate::error::connect_failure_from_sqlstate(code.code());
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.is::<rustls::Error>() {
            return PgConnectFailure::Tls;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return PgConnectFailure::Tls;
            }
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => PgConnectFailure::Refused,
                std::io::ErrorKind::TimedOut => PgConnectFailure::TimedOut,
                _ => PgConnectFailure::Network,
            };
        }
        source = cause.source();
    }
    PgConnectFailure::Refusal
}

fn client_config(rootcert: Option<&str>) -> Result<ClientConfig, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match rootcert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path).map_err(|_| {
                StoreError::Invalid(InvalidInput::DatabaseUrl(UrlProblem::RootCertUnreadable))
            })?;
            for cert in certs {
                let cert = cert.map_err(|_| {
                    StoreError::Invalid(InvalidInput::DatabaseUrl(UrlProblem::RootCertNotPem))
                })?;
                roots.add(cert).map_err(|_| {
                    StoreError::Invalid(InvalidInput::DatabaseUrl(UrlProblem::RootCertUnusable))
                })?;
            }
            if roots.is_empty() {
                return Err(StoreError::Invalid(InvalidInput::DatabaseUrl(
                    UrlProblem::RootCertEmpty,
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    // An explicit provider: the process-wide default may be unset, or ambiguous when feature
    // unification enables both of rustls' providers.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| StoreError::Internal(Internal::Tls))?
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
                .ok_or(StoreError::Invalid(InvalidInput::DatabaseUrl(
                    UrlProblem::BadEscape,
                )))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| StoreError::Invalid(InvalidInput::DatabaseUrl(UrlProblem::NotUtf8)))
}

/// The URL with every credential replaced by `***`, for logs, messages and Debug: the password
/// of the user info, and the value of each query parameter whose (decoded) name says it holds
/// one (`password`, `sslpassword`, anything naming a password, secret or token).
pub(crate) fn redact(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let head = redact_user_info(head);
    match query {
        None => head,
        Some(query) => {
            let pairs: Vec<String> = query.split('&').map(redact_pair).collect();
            format!("{head}?{}", pairs.join("&"))
        }
    }
}

/// `scheme://user:password@host/…` → `scheme://user:***@host/…`. The user info ends at the
/// last `@` before the query, so an unencoded `/` or `@` in the password is masked too.
fn redact_user_info(head: &str) -> String {
    let Some((scheme, rest)) = head.split_once("://") else {
        return head.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => head.to_owned(),
        },
        None => head.to_owned(),
    }
}

fn redact_pair(pair: &str) -> String {
    match pair.split_once('=') {
        Some((key, value)) if !value.is_empty() && is_credential_key(key) => format!("{key}=***"),
        _ => pair.to_owned(),
    }
}

fn is_credential_key(key: &str) -> bool {
    // A key that does not decode is treated as a credential: better a masked option than a
    // leaked secret.
    let Ok(key) = percent_decode(key) else {
        return true;
    };
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token"]
        .iter()
        .any(|word| key.contains(word))
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

    /// Credentials in the query string (libpq accepts `password` and `sslpassword` there) are
    /// masked like the one in the user info; everything else stays readable.
    #[test]
    fn credential_query_parameters_are_redacted() {
        let cases = [
            (
                "postgres://db/grantd?user=app&password=s3cret",
                "postgres://db/grantd?user=app&password=***",
            ),
            (
                "postgresql://db/g?sslmode=require&sslpassword=s3cret&application_name=x",
                "postgresql://db/g?sslmode=require&sslpassword=***&application_name=x",
            ),
            (
                "postgres://db/g?PASSWORD=s3cret",
                "postgres://db/g?PASSWORD=***",
            ),
            // A percent-encoded key is still the key libpq reads.
            (
                "postgres://db/g?pass%77ord=s3cret",
                "postgres://db/g?pass%77ord=***",
            ),
            (
                "postgres://app:s3cret@db/g?password=s3cret",
                "postgres://app:***@db/g?password=***",
            ),
            // A '/' in an unencoded password must not end the user info early.
            ("postgres://app:s3/cret@db/g", "postgres://app:***@db/g"),
            ("postgres://db/g?password", "postgres://db/g?password"),
            (
                "postgres://db/g?passfile=/etc/pgpass",
                "postgres://db/g?passfile=/etc/pgpass",
            ),
            ("sqlite://grantd.db", "sqlite://grantd.db"),
            ("grantd.db", "grantd.db"),
        ];
        for (url, want) in cases {
            assert_eq!(redact(url), want, "{url}");
            assert!(!redact(url).contains("s3cret"), "{url}");
        }
    }
}
