//! A strict `application/x-www-form-urlencoded` parser (RFC 6749 Appendix B).
//!
//! Written here rather than taken from `serde_urlencoded`/`web::Form` because those replace
//! invalid UTF-8 with U+FFFD and keep only one of several repeated parameters: both would let a
//! malformed or ambiguous request through silently. Here invalid percent-encoding and invalid
//! UTF-8 are errors, repeats are visible, and values borrow from the body when they contain no
//! escapes (no allocation on the common path).

use std::borrow::Cow;

use grantd_domain::{DomainError, InvalidRequest};

/// Why a form-encoded string could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    Percent,
    Utf8,
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result must be UTF-8.
pub(crate) fn decode(raw: &[u8]) -> Result<Cow<'_, str>, DecodeError> {
    if !raw.iter().any(|&b| b == b'%' || b == b'+') {
        return std::str::from_utf8(raw)
            .map(Cow::Borrowed)
            .map_err(|_| DecodeError::Utf8);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex_value);
                let lo = raw.get(i + 2).copied().and_then(hex_value);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(DecodeError::Percent);
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| DecodeError::Utf8)
}

/// A decoded form: every `name=value` pair whose value is not empty, in order.
#[derive(Debug, Default)]
pub(crate) struct Form<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

fn body_error(e: DecodeError) -> DomainError {
    DomainError::InvalidRequest(InvalidRequest::Body(
        match e {
            DecodeError::Percent => "request body has invalid percent-encoding",
            DecodeError::Utf8 => "request body is not valid UTF-8",
        }
        .to_owned(),
    ))
}

impl<'a> Form<'a> {
    /// Parses a whole body. Any malformed component, even of a parameter nobody reads, rejects
    /// the body: a request is either well-formed or refused. Empty pieces (`a=1&&b=2`) are
    /// skipped; a parameter with an empty value is treated as absent (RFC 6749 §3.2).
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, DomainError> {
        let mut pairs = Vec::new();
        for piece in body.split(|&b| b == b'&') {
            if piece.is_empty() {
                continue;
            }
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                None => (piece, &piece[piece.len()..]),
            };
            let name = decode(name).map_err(body_error)?;
            let value = decode(value).map_err(body_error)?;
            if !value.is_empty() {
                pairs.push((name, value));
            }
        }
        Ok(Self { pairs })
    }

    /// The value of a parameter that may appear at most once.
    pub(crate) fn single(&self, name: &'static str) -> Result<Option<&str>, DomainError> {
        let mut found = None;
        for (n, v) in &self.pairs {
            if n == name {
                if found.is_some() {
                    return Err(DomainError::InvalidRequest(
                        InvalidRequest::RepeatedParameter(name.to_owned()),
                    ));
                }
                found = Some(v.as_ref());
            }
        }
        Ok(found)
    }

    /// Every value of a parameter that may repeat, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
            .collect()
    }
}

/// Whether a query string carries a non-empty parameter of one of `names`. The query is not
/// ours to validate, so pieces that do not decode are not counted, except that a raw value is
/// checked for emptiness before decoding (`client_secret=%zz` still counts).
pub(crate) fn query_has_any(query: &str, names: &[&str]) -> bool {
    query.split('&').any(|piece| {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        !value.is_empty() && decode(name.as_bytes()).is_ok_and(|n| names.contains(&n.as_ref()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(body: &str) -> Result<Vec<(String, String)>, DomainError> {
        Form::parse(body.as_bytes()).map(|f| {
            f.pairs
                .into_iter()
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect()
        })
    }

    fn p(n: &str, v: &str) -> (String, String) {
        (n.to_owned(), v.to_owned())
    }

    #[test]
    fn decoding() {
        let cases: &[(&[u8], Result<&str, DecodeError>)] = &[
            (b"plain", Ok("plain")),
            (b"a+b", Ok("a b")),
            (b"a%2Bb", Ok("a+b")),
            (b"%25%3a%3A", Ok("%::")),
            (b"%C3%A9", Ok("\u{e9}")),
            (b"", Ok("")),
            (b"%", Err(DecodeError::Percent)),
            (b"%4", Err(DecodeError::Percent)),
            (b"%zz", Err(DecodeError::Percent)),
            (b"%+1", Err(DecodeError::Percent)),
            (b"%FF", Err(DecodeError::Utf8)),
            (b"%C3", Err(DecodeError::Utf8)),
            (b"\xff", Err(DecodeError::Utf8)),
        ];
        for (raw, want) in cases {
            assert_eq!(
                decode(raw).map(|c| c.into_owned()),
                want.map(str::to_owned),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn no_escapes_borrows() {
        assert!(matches!(
            decode(b"client_credentials"),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn parsing() {
        assert_eq!(
            pairs("grant_type=client_credentials&scope=a+b&&x&y=&resource=r1&resource=r2&"),
            Ok(vec![
                p("grant_type", "client_credentials"),
                p("scope", "a b"),
                p("resource", "r1"),
                p("resource", "r2"),
            ])
        );
        assert_eq!(pairs("a=b=c"), Ok(vec![p("a", "b=c")]));
        assert_eq!(pairs("grant%5Ftype=x"), Ok(vec![p("grant_type", "x")]));
        assert_eq!(pairs(""), Ok(vec![]));
        for bad in ["a=%zz", "unknown=%ff", "%=x", "a=%C3"] {
            assert!(pairs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn single_and_all() {
        let f = Form::parse(b"scope=a&scope=&resource=x&resource=y&token=t&token=u").unwrap();
        assert_eq!(f.single("scope"), Ok(Some("a")), "empty repeat is absent");
        assert_eq!(f.single("audience"), Ok(None));
        assert_eq!(
            f.single("token"),
            Err(DomainError::InvalidRequest(
                InvalidRequest::RepeatedParameter("token".into())
            ))
        );
        assert_eq!(f.all("resource"), vec!["x", "y"]);
    }

    #[test]
    fn query_credentials() {
        let names = ["client_id", "client_secret"];
        assert!(query_has_any("client_secret=x", &names));
        assert!(query_has_any("a=1&client%5Fid=svc", &names));
        assert!(query_has_any("client_secret=%zz", &names));
        assert!(!query_has_any("", &names));
        assert!(!query_has_any("client_id=", &names));
        assert!(!query_has_any("client_idx=1&foo=client_id", &names));
    }
}
