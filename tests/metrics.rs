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

/// The value of `key`, which must be exported.
fn value(scrape: &HashMap<String, f64>, key: &str) -> f64 {
    *scrape
        .get(key)
        .unwrap_or_else(|| panic!("{key} not exported: {scrape:?}"))
}

#[test]
fn per_client_series_only_for_listed_clients_and_sampled_gauges() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        let (_, id, secret) = env.user_and_client(&["user"], "service", "client_secret_basic");
        let (_, other, other_secret) =
            env.user_and_client(&["user"], "service", "client_secret_basic");
        env.set("GRANTD_METRICS__PER_CLIENT", &format!("[{id:?}]"));
        let server = env.start();
        let before = scrape(&server);
        for _ in 0..2 {
            assert_eq!(server.token(&id, &secret, "").status, 200);
        }
        assert_eq!(server.token(&other, &other_secret, "").status, 200);
        assert_eq!(server.token(&id, "wrong", "").status, 401);
        assert_eq!(server.token("made-up-id", "x", "").status, 401);
        let after = scrape(&server);

        let issued = |c: &str| format!("grantd_client_tokens_issued_total{{client={c:?}}}");
        assert_eq!(delta(&before, &after, &issued(&id)), 2.0, "{after:?}");
        assert_eq!(delta(&before, &after, &issued("other")), 1.0);
        assert!(
            !after
                .keys()
                .any(|k| k.contains(&other) || k.contains("made-up-id")),
            "an unlisted id never becomes a label"
        );
        let refused = |c: &str, r: &str| {
            format!("grantd_client_refusals_total{{client={c:?},endpoint=\"token\",reason={r:?}}}")
        };
        assert_eq!(delta(&before, &after, &refused(&id, "wrong_secret")), 1.0);
        assert_eq!(
            delta(&before, &after, &refused("other", "unknown_client")),
            1.0
        );

        check_sampled_gauges(backend, &after);
        assert_eq!(value(&after, "grantd_audit_dropped_total{}"), 0.0);
    }
}

/// The pool and key-ring gauges sampled at scrape time, on a fresh database.
fn check_sampled_gauges(backend: support::Backend, after: &HashMap<String, f64>) {
    let pools: &[&str] = match backend {
        support::Backend::Sqlite => &["sqlite_read", "sqlite_write"],
        support::Backend::Postgres => &["pg"],
    };
    for pool in pools {
        let key = |m: &str| format!("{m}{{pool={pool:?}}}");
        let max = value(after, &key("grantd_db_pool_max_connections"));
        assert!(max >= 1.0, "{backend:?} {pool}: {max}");
        let in_use = value(after, &key("grantd_db_pool_connections_in_use"));
        let idle = value(after, &key("grantd_db_pool_connections_idle"));
        assert!(in_use + idle <= max, "{backend:?} {pool}");
        assert_eq!(value(after, &key("grantd_db_pool_waiting")), 0.0);
    }
    if backend == support::Backend::Sqlite {
        assert_eq!(
            value(
                after,
                "grantd_db_pool_max_connections{pool=\"sqlite_write\"}"
            ),
            1.0
        );
    }
    // A fresh database: the active key and the next one, both published.
    assert_eq!(value(after, "grantd_signing_keys_published{}"), 2.0);
    let age = value(after, "grantd_signing_key_active_age_seconds{}");
    assert!(
        (0.0..600.0).contains(&age),
        "{backend:?}: active key age {age}"
    );
}

/// Sets `default_transaction_read_only` on database `name` and ends its connections.
fn set_read_only(name: &str, on: bool) {
    let server = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| grantd_store::testing::DEFAULT_TEST_DATABASE_URL.to_owned());
    let value = if on { "on" } else { "off" };
    let sql = format!(
        "ALTER DATABASE \"{name}\" SET default_transaction_read_only = {value}; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid();"
    );
    let out = std::process::Command::new("psql")
        .args([&server, "-q", "-v", "ON_ERROR_STOP=1", "-c", &sql])
        .output()
        .expect("psql");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn store_errors_by_kind_and_503s_are_counted() {
    let env = Env::new(support::Backend::Postgres);
    let (_, id, secret) = env.user_and_client(&["user"], "service", "client_secret_basic");
    let server = env.start();
    assert_eq!(server.token(&id, &secret, "").status, 200);
    let name = env.db.url.rsplit('/').next().unwrap().to_owned();
    set_read_only(&name, true);
    let before = scrape(&server);
    for _ in 0..3 {
        let r = server.token(&id, &secret, "");
        assert_eq!(r.status, 503, "{}", r.body);
    }
    let after = scrape(&server);
    set_read_only(&name, false);
    assert_eq!(
        delta(
            &before,
            &after,
            "grantd_unavailable_total{endpoint=\"token\"}"
        ),
        3.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "grantd_store_errors_total{kind=\"unavailable\"}"
        ),
        3.0,
        "one store error per refused request: {after:?}"
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "grantd_store_errors_total{kind=\"internal\"}"
        ),
        0.0
    );
}

/// Every metric family name of the exposition (histograms under their base name).
fn family_names(server: &Server) -> std::collections::BTreeSet<String> {
    let resp = server.get_admin("/metrics");
    let lines = resp.body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("exposition parses");
    scrape.samples.into_iter().map(|s| s.metric).collect()
}

/// The metric names a PromQL expression reads (every `grantd_…` identifier).
fn queried(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("grantd_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[test]
fn the_grafana_dashboard_queries_only_metrics_grantd_exports() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grafana-dashboard.json"
    );
    let text = std::fs::read_to_string(path).expect("docs/grafana-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "{} panels", panels.len());

    // Traffic that makes every family exist, per-client and failure series included.
    let mut env = Env::new(support::Backend::Postgres);
    let (_, id, secret) = env.user_and_client(&["user"], "service", "client_secret_basic");
    env.set("GRANTD_METRICS__PER_CLIENT", &format!("[{id:?}]"));
    let server = env.start();
    let token = server.token(&id, &secret, "").json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(server.token(&id, "wrong", "").status, 401);
    let form = format!("token={}", support::form_encode(&token));
    let auth = Some((id.as_str(), secret.as_str()));
    assert_eq!(
        server.post_form("/oauth/introspect", auth, &form).status,
        200
    );
    assert_eq!(server.post_form("/oauth/revoke", auth, &form).status, 200);
    let name = env.db.url.rsplit('/').next().unwrap().to_owned();
    set_read_only(&name, true);
    assert_eq!(server.token(&id, &secret, "").status, 503);
    set_read_only(&name, false);
    let exported = family_names(&server);

    let mut checked = 0;
    for panel in panels {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel without a query: {panel}");
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            let names = queried(expr);
            assert!(!names.is_empty(), "{expr} reads no grantd metric");
            for n in names {
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| n.strip_suffix(s).filter(|b| exported.contains(*b)))
                    .unwrap_or(&n);
                assert!(
                    exported.contains(base),
                    "the dashboard queries {n}, which grantd does not export: {exported:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "{checked} metric references checked");
}
