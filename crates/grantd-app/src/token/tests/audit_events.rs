//! The audit events the token use cases record: one per decision, with the decision's data,
//! none for a failure (the API records those as refusals), no secret or token anywhere.

use grantd_ports::{
    AuditEvent, AuditKind, AuditSink, IntrospectionOutcome, RevocationEffect, Unavailable,
};

use super::*;
use crate::audit::Audit;

/// A sink that keeps what it is given.
#[derive(Default)]
struct Recorded(Mutex<Vec<AuditEvent>>);

impl AuditSink for Recorded {
    fn record(&self, event: AuditEvent) {
        self.0.lock().unwrap().push(event);
    }
}

fn audited(fx: Fx) -> (TokenService, Arc<Recorded>) {
    let sink = Arc::new(Recorded::default());
    let svc = fx.service().with_audit(Audit::new(sink.clone()));
    (svc, sink)
}

fn kinds(sink: &Recorded) -> Vec<AuditKind> {
    sink.0
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.kind.clone())
        .collect()
}

#[tokio::test]
async fn an_issued_token_is_one_event_with_its_data() {
    let fx = Fx::new()
        .with_ids()
        .with_owner(Some(owner(&["admin"], true)));
    let (fx, _) = fx.with_signer();
    let (fx, _) = fx.with_sessions_ok();
    let (svc, sink) = audited(fx);
    let req = TokenRequest {
        scope: Some("service"),
        context: RequestContext {
            ip: "10.0.0.7".parse().ok(),
            ..Default::default()
        },
        ..Default::default()
    };
    svc.issue(&authed(client(&["service"])), req).await.unwrap();
    let events = sink.0.lock().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].at.as_secs(), NOW);
    let AuditKind::TokenIssued(e) = &events[0].kind else {
        panic!("{:?}", events[0]);
    };
    assert_eq!(e.client_id.as_str(), "svc-a");
    assert_eq!(e.owner_id.as_str(), OWNER);
    assert_eq!(e.scope, "service");
    assert_eq!(e.audience, ["api"]);
    assert_eq!(e.jti.as_str(), JTI);
    assert_eq!(e.session_id.as_str(), SESSION);
    assert_eq!(e.auth_method, AuthMethod::ClientSecretBasic);
    assert_eq!(e.client_ip, "10.0.0.7".parse().ok());
    assert!(!format!("{events:?}").contains("signed.jwt.token"));
}

#[tokio::test]
async fn a_refused_or_failed_issue_records_nothing_here() {
    let fx = Fx::new().with_owner(Some(owner(&[], true)));
    let (svc, sink) = audited(fx);
    let req = TokenRequest {
        scope: Some("admin"),
        ..Default::default()
    };
    assert!(svc.issue(&authed(client(&["service"])), req).await.is_err());
    assert!(kinds(&sink).is_empty(), "the API records the refusal");
}

#[tokio::test]
async fn introspections_record_caller_and_outcome() {
    let caller = authed(client(&["service"]));
    let (svc, sink) = audited(introspect_fx(Some(session_record(false, JTI)), Some(true)));
    svc.introspect(&caller, "tok").await.unwrap();
    let (svc2, sink2) = audited(introspect_fx(Some(session_record(true, JTI)), Some(true)));
    svc2.introspect(&caller, "tok").await.unwrap();
    let got: Vec<_> = kinds(&sink).into_iter().chain(kinds(&sink2)).collect();
    let summary: Vec<_> = got
        .iter()
        .map(|k| match k {
            AuditKind::Introspected(e) => (
                e.caller.as_str().to_owned(),
                e.outcome,
                e.session_id.as_ref().map(|s| s.as_str().to_owned()),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "svc-a".to_owned(),
                IntrospectionOutcome::Active,
                Some(SESSION.to_owned())
            ),
            ("svc-a".to_owned(), IntrospectionOutcome::Inactive, None),
        ]
    );
}

fn revocation(claims_client: Result<&'static str, VerifyError>, found: bool) -> Vec<AuditKind> {
    let mut fx = Fx::new();
    fx.signer
        .expect_verify()
        .returning(move |_, _| claims_client.clone().map(claims_for));
    fx.sessions
        .expect_revoke_session()
        .returning(move |_, _, _| Ok(found));
    let (svc, sink) = audited(fx);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(svc.revoke(&authed(client(&[])), "tok"))
        .unwrap();
    kinds(&sink)
}

#[test]
fn revocations_record_their_effect() {
    let effect = |kinds: Vec<AuditKind>| match kinds.as_slice() {
        [AuditKind::Revoked(e)] => (e.effect, e.session_id.is_some()),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        effect(revocation(Ok("svc-a"), true)),
        (RevocationEffect::Revoked, true)
    );
    assert_eq!(
        effect(revocation(Ok("svc-a"), false)),
        (RevocationEffect::NoSession, true)
    );
    assert_eq!(
        effect(revocation(Ok("svc-b"), true)),
        (RevocationEffect::NotOwner, true)
    );
    assert_eq!(
        effect(revocation(Err(VerifyError::Malformed), true)),
        (RevocationEffect::InvalidToken, false)
    );
}

#[tokio::test]
async fn a_failed_revocation_records_nothing_here() {
    let mut fx = Fx::new();
    fx.signer
        .expect_verify()
        .returning(|_, _| Ok(claims_for("svc-a")));
    fx.sessions
        .expect_revoke_session()
        .returning(|_, _, _| Err(StoreError::Unavailable(Unavailable::PoolTimeout)));
    let (svc, sink) = audited(fx);
    assert!(svc.revoke(&authed(client(&[])), "tok").await.is_err());
    assert!(kinds(&sink).is_empty());
}
