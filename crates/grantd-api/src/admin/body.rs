//! Request bodies and preconditions: JSON only, under a size cap, unknown fields refused, every
//! mistake a 400 problem; `If-Match` against the current `ETag`.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::Payload;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::problem::Problem;
use super::views::etag;

/// Largest admin request body: 64 KiB (a client with many scopes fits many times over).
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// How long a whole admin request body may take to arrive, as on the public port.
const BODY_TIMEOUT: std::time::Duration = crate::DEFAULT_BODY_TIMEOUT;

/// Reads and parses a JSON body: `Content-Type` must be `application/json` (415 otherwise),
/// the body at most [`BODY_LIMIT`] bytes (413) arriving within [`BODY_TIMEOUT`] (408), and it
/// must parse into `T`, whose unknown
/// fields are refused (400, naming where it failed).
pub(crate) async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: Payload,
) -> Result<T, Problem> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .detail("the body must be application/json"));
    }
    let read = payload.to_bytes_limited(BODY_LIMIT);
    let Ok(read) = actix_web::rt::time::timeout(BODY_TIMEOUT, read).await else {
        return Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "Request timeout",
        )
        .detail("the body did not arrive in time"));
    };
    let bytes = match read {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            )
            .detail(format!("the body must be at most {BODY_LIMIT} bytes")));
        }
        Err(_) => return Err(Problem::bad_request("the body could not be read")),
    };
    serde_json::from_slice(&bytes).map_err(|e| Problem::bad_request(json_error(&e)))
}

/// serde_json's message without echoing the body: category, line and column, and for a data
/// error its own text (field names, never values).
fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => format!("invalid body: {e}"),
        Category::Syntax | Category::Eof | Category::Io => {
            format!("malformed JSON at line {} column {}", e.line(), e.column())
        }
    }
}

/// A request's `If-Match` header, if any. `If-Match` is optional: absent, an update applies;
/// present, it must list the current `ETag` (or be `*`), otherwise 412 and nothing changes.
/// Owned: the use case runs the comparison against the state it writes over.
pub(crate) struct IfMatch(Option<String>);

impl IfMatch {
    pub(crate) fn of(req: &HttpRequest) -> Self {
        Self(
            req.headers()
                .get(header::IF_MATCH)
                .map(|v| v.to_str().unwrap_or_default().to_owned()),
        )
    }

    pub(crate) fn is_given(&self) -> bool {
        self.0.is_some()
    }

    /// The use case's precondition: the header is absent, or lists the `ETag` of the stored
    /// value's representation `view`.
    pub(crate) fn holds<'a, T: 'a>(
        &'a self,
        view: fn(&T) -> Value,
    ) -> impl Fn(&T) -> bool + Sync + 'a {
        move |current: &T| self.0.as_deref().is_none_or(|h| matches(h, &view(current)))
    }
}

/// Whether an `If-Match` value lists `current`'s `ETag` (or is `*`).
fn matches(if_match: &str, current: &Value) -> bool {
    let tag = etag(current);
    if_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == tag)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::json;

    use super::*;

    #[test]
    fn if_match_is_optional_and_compared_with_the_current_etag() {
        let doc = json!({"id": "u1", "active": true});
        let tag = etag(&doc);
        let other = etag(&json!({"id": "u1", "active": false}));
        assert_ne!(tag, other, "the tag follows the representation");
        let cases: [(Option<&str>, bool); 6] = [
            (None, true),
            (Some(tag.as_str()), true),
            (Some("*"), true),
            (Some(&format!("\"x\", {tag}")), true),
            (Some(other.as_str()), false),
            (Some(""), false),
        ];
        for (header, ok) in cases {
            let mut req = TestRequest::default();
            if let Some(h) = header {
                req = req.insert_header((header::IF_MATCH, h));
            }
            let given = IfMatch::of(&req.to_http_request());
            assert_eq!(given.is_given(), header.is_some());
            let holds = given.holds(|d: &Value| d.clone());
            assert_eq!(holds(&doc), ok, "{header:?}");
        }
    }
}
