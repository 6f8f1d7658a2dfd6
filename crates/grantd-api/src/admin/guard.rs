//! The admin API's guard: an RFC 6750 bearer token issued by this grantd, checked by the same
//! code as introspection ([`grantd_app::TokenService::verify_bearer`]: signature, expiry,
//! session row not revoked, client and owner still standing), for the admin audience, holding
//! the scope the operation needs.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header;
use grantd_domain::ADMIN_AUDIENCE;

use super::AdminApi;
use super::problem::Problem;

/// The realm named in every challenge.
const REALM: &str = "grantd-admin";

/// Lets the request through when it carries a live admin token holding `scope`: otherwise 401
/// (no, malformed, unknown, expired, revoked or wrong-audience token) or 403 (`scope` missing).
pub(crate) async fn authorize(
    req: &HttpRequest,
    api: &AdminApi,
    scope: &'static str,
) -> Result<(), Problem> {
    let Some(token) = bearer(req)? else {
        return Err(unauthorized(
            None,
            "an admin access token is required (Authorization: Bearer)",
        ));
    };
    let introspection = api.tokens.verify_bearer(token).await?;
    let Some(claims) = introspection.claims else {
        return Err(invalid_token("the access token is not active"));
    };
    if !claims.aud.iter().any(|a| a == ADMIN_AUDIENCE) {
        return Err(invalid_token(
            "the access token is not for the admin API audience",
        ));
    }
    if !claims.scope.split(' ').any(|s| s == scope) {
        tracing::info!(client_id = %claims.client_id, scope, "admin API: insufficient scope");
        let challenge =
            format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\"");
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "insufficient-scope",
            "Insufficient scope",
        )
        .detail(format!("this operation needs the scope {scope}"))
        .challenge(challenge));
    }
    Ok(())
}

/// The token of an `Authorization: Bearer` header (scheme case-insensitive); `None` when there
/// is no `Authorization` header at all.
fn bearer(req: &HttpRequest) -> Result<Option<&str>, Problem> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| invalid_request("the Authorization header is not visible ASCII"))?;
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(invalid_request(
            "the Authorization header must be `Bearer <access token>`",
        )),
    }
}

fn unauthorized(error: Option<&str>, detail: &str) -> Problem {
    let challenge = match error {
        Some(e) => format!("Bearer realm=\"{REALM}\", error=\"{e}\""),
        None => format!("Bearer realm=\"{REALM}\""),
    };
    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
        .detail(detail)
        .challenge(challenge)
}

fn invalid_token(detail: &str) -> Problem {
    unauthorized(Some("invalid_token"), detail)
}

/// RFC 6750 §3.1 would allow 400 here; a malformed credential is answered as a missing one,
/// 401, so a caller has one status to handle for "no usable token".
fn invalid_request(detail: &str) -> Problem {
    unauthorized(Some("invalid_request"), detail)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    /// A header (or none) and the token it yields, `Err(())` for a 401.
    type Case<'a> = (Option<&'a str>, Result<Option<&'a str>, ()>);

    #[test]
    fn only_a_bearer_credential_is_a_token() {
        let cases: [Case<'_>; 6] = [
            (None, Ok(None)),
            (Some("Bearer abc.def"), Ok(Some("abc.def"))),
            (Some("bearer  abc "), Ok(Some("abc"))),
            (Some("Basic dXNlcjpwdw=="), Err(())),
            (Some("Bearer "), Err(())),
            (Some("Bearer"), Err(())),
        ];
        for (header, want) in cases {
            let mut req = TestRequest::default();
            if let Some(h) = header {
                req = req.insert_header((header::AUTHORIZATION, h));
            }
            let req = req.to_http_request();
            let got = bearer(&req);
            match (got, want) {
                (Ok(t), Ok(w)) => assert_eq!(t, w, "{header:?}"),
                (Err(p), Err(())) => {
                    assert_eq!(p.to_string().split(' ').next(), Some("401"), "{header:?}");
                }
                (got, want) => panic!("{header:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
