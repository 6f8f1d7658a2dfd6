//! Outside-in: the admin listener's Prometheus exposition, parsed with a real parser, counts
//! exactly the decisions made (tokens issued, refusals by code and reason, introspections).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::collections::HashMap;

use support::{BACKENDS, Env, Server};

/// Every sample of the exposition, keyed by `name{label="value",…}` (labels sorted).
fn scrape(server: &Server) -> HashMap<String, f64> {
    let resp = server.get_admin("/metrics");
    assert_eq!(resp.status, 200, "{}", resp.body);
    let lines = resp.body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("exposition parses");
    let mut out = HashMap::new();
    for s in scrape.samples {
        let mut labels: Vec<_> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        labels.sort();
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => continue,
        };
        out.insert(format!("{}{{{}}}", s.metric, labels.join(",")), value);
    }
    out
}

fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, key: &str) -> f64 {
    after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0)
}

fn refusal(code: &str, reason: &str) -> String {
    format!("grantd_refusals_total{{code={code:?},endpoint=\"token\",reason={reason:?}}}")
}

#[test]
fn counters_move_by_exactly_the_traffic_sent() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let (_, id, secret) = env.user_and_client(&["user"], "service user", "client_secret_basic");
        let server = env.start();
        assert_eq!(server.get_admin("/healthz").status, 200);
        assert_eq!(server.get_admin("/readyz").status, 200);
        assert_eq!(
            server.get("/metrics").status,
            404,
            "never on the public port"
        );
        let before = scrape(&server);

        let mut token = String::new();
        for _ in 0..3 {
            let r = server.token(&id, &secret, "scope=service");
            assert_eq!(r.status, 200, "{}", r.body);
            token = r.json()["access_token"].as_str().unwrap().to_owned();
        }
        assert_eq!(server.token(&id, "wrong", "").status, 401);
        assert_eq!(server.token(&id, "wrong", "").status, 401);
        assert_eq!(server.token("nobody", "x", "").status, 401);
        assert_eq!(server.token(&id, &secret, "scope=admin").status, 400);
        assert_eq!(server.token(&id, &secret, "audience=elsewhere").status, 400);
        let intro = |t: &str| {
            server.post_form(
                "/oauth/introspect",
                Some((&id, &secret)),
                &format!("token={}", support::form_encode(t)),
            )
        };
        assert_eq!(intro(&token).json()["active"], true);
        assert_eq!(intro("not-a-token").json()["active"], false);
        assert_eq!(intro("not-a-token").json()["active"], false);

        let after = scrape(&server);
        let issued = "grantd_tokens_issued_total{algorithm=\"ES256\",auth_method=\"client_secret_basic\",grant=\"client_credentials\"}";
        assert_eq!(
            delta(&before, &after, issued),
            3.0,
            "{backend:?}: {after:?}"
        );
        assert_eq!(
            delta(&before, &after, &refusal("invalid_client", "wrong_secret")),
            2.0
        );
        assert_eq!(
            delta(
                &before,
                &after,
                &refusal("invalid_client", "unknown_client")
            ),
            1.0
        );
        assert_eq!(
            delta(
                &before,
                &after,
                &refusal("invalid_scope", "scope_not_in_grant")
            ),
            1.0
        );
        assert_eq!(
            delta(
                &before,
                &after,
                &refusal("invalid_target", "audience_not_allowed")
            ),
            1.0
        );
        let intro_key = |o: &str| format!("grantd_introspections_total{{outcome={o:?}}}");
        assert_eq!(delta(&before, &after, &intro_key("active")), 1.0);
        assert_eq!(delta(&before, &after, &intro_key("inactive")), 2.0);
        assert_eq!(
            after.get("grantd_build_info{version=\"0.1.0\"}"),
            Some(&1.0)
        );
    }
}
