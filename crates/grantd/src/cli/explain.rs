//! `grantd explain`: the token decision for a client, scope by scope, without issuing a token.

use grantd_app::{Admin, ExplainOutcome, Explanation};

use super::{Output, yes_no};

pub(super) async fn run(
    admin: &Admin,
    client: &str,
    scope: Option<&str>,
    audience: Option<&str>,
    out: &Output,
) -> anyhow::Result<()> {
    let e = admin.explain(client, scope, audience).await?;
    explanation(out, &e)
}

pub(super) fn explanation(out: &Output, e: &Explanation) -> anyhow::Result<()> {
    if out.json {
        return out.print_json(&grantd_api::admin::views::explanation(e));
    }
    let rows: Vec<Vec<String>> = e
        .scopes
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.tier.as_str().to_owned(),
                s.level.to_string(),
                yes_no(s.in_client_grant),
                yes_no(s.held_by_owner),
                match (&s.audience_required, s.audience_met) {
                    (None, _) => "-".to_owned(),
                    (Some(a), Some(true)) => format!("{a}: met"),
                    (Some(a), _) => format!("{a}: missing"),
                },
                s.verdict.clone(),
            ]
        })
        .collect();
    out.table(
        &[
            "SCOPE",
            "TIER",
            "LEVEL",
            "IN CLIENT",
            "OWNER HOLDS",
            "AUDIENCE",
            "VERDICT",
        ],
        &rows,
    )?;
    if e.client_active.is_some() {
        for line in super::limits::lines(e.rate, &e.quota) {
            out.line(&line)?;
        }
    }
    if let Some(dpop) = e.dpop {
        out.line(&format!("\ndpop: {dpop}"))?;
    }
    if let Some(method) = e.auth_method {
        let alg = e
            .assertion_alg
            .map(|a| format!(" (alg {a})"))
            .unwrap_or_default();
        out.line(&format!("auth method: {method}{alg}"))?;
    }
    for c in &e.federated {
        let claims: String = c
            .claims
            .iter()
            .map(|p| format!(" {}={}", p.name, p.value_json))
            .collect();
        out.line(&format!(
            "federated: issuer={} subject={}{claims}",
            c.issuer, c.subject
        ))?;
    }
    match &e.outcome {
        ExplainOutcome::Ok { scope, audience } => out.line(&format!(
            "\noutcome: granted scope=\"{scope}\" aud={}",
            audience.join(",")
        )),
        ExplainOutcome::Err { error, description } => {
            out.line(&format!("\noutcome: refused {error}: {description}"))
        }
    }
}
