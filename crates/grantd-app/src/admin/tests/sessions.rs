//! Session use cases: listing with its filter and limits, paged export, purge.

use super::*;

#[tokio::test]
async fn list_sessions_parses_the_filter_and_defaults_the_limit() {
    let mut fx = Fx::new();
    fx.sessions
        .expect_list_sessions()
        .with(eq(SessionFilter {
            limit: 50,
            ..Default::default()
        }))
        .times(1)
        .returning(|_| Ok(vec![session_record()]));
    assert_eq!(
        fx.admin().list_sessions(SessionQuery::default()).await,
        Ok(vec![session_record()])
    );

    let mut fx = Fx::new();
    fx.sessions
        .expect_list_sessions()
        .with(eq(SessionFilter {
            client_id: Some(ClientId::parse("svc-a").unwrap()),
            user_id: Some(UserId::parse(OWNER).unwrap()),
            since: Some(Timestamp::from_secs(10)),
            until: Some(Timestamp::from_secs(20)),
            after: None,
            limit: 10_000,
        }))
        .times(1)
        .returning(|_| Ok(vec![]));
    let q = SessionQuery {
        client_id: Some("svc-a".into()),
        user_id: Some(OWNER.to_ascii_uppercase()),
        since: Some(Timestamp::from_secs(10)),
        until: Some(Timestamp::from_secs(20)),
        limit: Some(10_000),
        ..Default::default()
    };
    assert_eq!(fx.admin().list_sessions(q).await, Ok(vec![]));

    let mut fx = Fx::new();
    fx.sessions.expect_list_sessions().returning(|_| {
        Err(StoreError::Unavailable(
            grantd_ports::Unavailable::PoolTimeout,
        ))
    });
    assert!(matches!(
        fx.admin().list_sessions(SessionQuery::default()).await,
        Err(AdminError::Unavailable(_))
    ));
}

#[tokio::test]
async fn list_sessions_after_a_session_starts_at_its_position() {
    let record = session_record();
    let id = record.session.id.clone();
    let mut fx = Fx::new();
    let found = record.clone();
    fx.sessions
        .expect_find_session()
        .with(eq(id.clone()))
        .times(1)
        .returning(move |_| Ok(Some(found.clone())));
    fx.sessions
        .expect_list_sessions()
        .with(eq(SessionFilter {
            after: Some(SessionCursor {
                created_at: record.session.created_at,
                id: id.clone(),
            }),
            limit: 50,
            ..Default::default()
        }))
        .times(1)
        .returning(|_| Ok(vec![]));
    let q = SessionQuery {
        after: Some(id.to_string()),
        ..Default::default()
    };
    assert_eq!(fx.admin().list_sessions(q.clone()).await, Ok(vec![]));

    // An unknown session is an error, never an empty page.
    let mut fx = Fx::new();
    fx.sessions.expect_find_session().returning(|_| Ok(None));
    assert!(matches!(
        fx.admin().list_sessions(q.clone()).await,
        Err(AdminError::NotFound(_))
    ));
    let mut fx = Fx::new();
    fx.sessions.expect_find_session().returning(|_| {
        Err(StoreError::Unavailable(
            grantd_ports::Unavailable::PoolTimeout,
        ))
    });
    assert!(matches!(
        fx.admin().list_sessions(q).await,
        Err(AdminError::Unavailable(_))
    ));
}

#[tokio::test]
async fn list_sessions_refusals_query_nothing() {
    let cases = [
        (
            SessionQuery {
                limit: Some(0),
                ..Default::default()
            },
            "limit must be between 1 and 10000",
        ),
        (
            SessionQuery {
                limit: Some(10_001),
                ..Default::default()
            },
            "limit must be between 1 and 10000",
        ),
        (
            SessionQuery {
                client_id: Some("no spaces allowed".into()),
                ..Default::default()
            },
            "client id",
        ),
        (
            SessionQuery {
                user_id: Some("nobody".into()),
                ..Default::default()
            },
            "user id",
        ),
        (
            SessionQuery {
                after: Some("sess_nope".into()),
                ..Default::default()
            },
            "session id",
        ),
        (
            SessionQuery {
                since: Some(Timestamp::from_secs(20)),
                until: Some(Timestamp::from_secs(20)),
                ..Default::default()
            },
            "--since must be earlier than --until",
        ),
    ];
    for (q, needle) in cases {
        let what = format!("{q:?}");
        assert_invalid(Fx::new().admin().list_sessions(q).await, needle, &what);
    }
}

/// A record created at `secs`, with an id that sorts by `n`.
fn record_at(secs: i64, n: u8) -> SessionRecord {
    let mut r = session_record();
    r.session.created_at = Timestamp::from_secs(secs);
    r.session.id = SessionId::from_bytes([n; 16]);
    r
}

#[tokio::test]
async fn export_reads_page_after_page_from_the_last_row() {
    // 2,500 rows: pages of 1000, each starting after the previous page's last row.
    let rows: Vec<SessionRecord> = (0..2500).map(|i| record_at(5000 - i, 1)).collect();
    let mut fx = Fx::new();
    let mut seq = Sequence::new();
    for (start, len) in [(0usize, 1000usize), (1000, 1000), (2000, 500)] {
        let page = rows[start..start + len].to_vec();
        let after = start.checked_sub(1).map(|i| SessionCursor::of(&rows[i]));
        fx.sessions
            .expect_list_sessions()
            .with(eq(SessionFilter {
                client_id: Some(ClientId::parse("svc-a").unwrap()),
                after,
                limit: 1000,
                ..Default::default()
            }))
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(page.clone()));
    }
    let mut export = fx
        .admin()
        .export_sessions(SessionQuery {
            client_id: Some("svc-a".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(page) = export.next_page().await.unwrap() {
        assert!(page.len() <= 1000);
        got.extend(page);
    }
    assert_eq!(got, rows);
    // Finished: no further read.
    assert_eq!(export.next_page().await, Ok(None));
}

#[tokio::test]
async fn export_stops_at_its_limit_and_on_an_empty_page() {
    let mut fx = Fx::new();
    let mut seq = Sequence::new();
    for (limit, n) in [(1000u32, 1000i64), (200, 200)] {
        fx.sessions
            .expect_list_sessions()
            .withf(move |f| f.limit == limit)
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok((0..n).map(|i| record_at(9000 - i, 2)).collect()));
    }
    let mut export = fx
        .admin()
        .export_sessions(SessionQuery {
            limit: Some(1200),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut total = 0;
    while let Some(page) = export.next_page().await.unwrap() {
        total += page.len();
    }
    assert_eq!(total, 1200);

    // A full page followed by nothing.
    let mut fx = Fx::new();
    let mut seq = Sequence::new();
    fx.sessions
        .expect_list_sessions()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok((0..1000).map(|i| record_at(9000 - i, 3)).collect()));
    fx.sessions
        .expect_list_sessions()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(vec![]));
    let mut export = fx
        .admin()
        .export_sessions(SessionQuery::default())
        .await
        .unwrap();
    assert_eq!(
        export.next_page().await.unwrap().map(|p| p.len()),
        Some(1000)
    );
    assert_eq!(export.next_page().await, Ok(None));

    // Store failure mid-export; a zero limit is refused before any read.
    let mut fx = Fx::new();
    fx.sessions.expect_list_sessions().returning(|_| {
        Err(StoreError::Unavailable(
            grantd_ports::Unavailable::PoolTimeout,
        ))
    });
    let mut export = fx
        .admin()
        .export_sessions(SessionQuery::default())
        .await
        .unwrap();
    assert!(matches!(
        export.next_page().await,
        Err(AdminError::Unavailable(_))
    ));
    let zero = SessionQuery {
        limit: Some(0),
        ..Default::default()
    };
    assert_invalid(
        Fx::new().admin().export_sessions(zero).await,
        "at least 1",
        "limit 0",
    );
}

#[tokio::test]
async fn purge_applies_the_retention_and_loops_until_a_short_batch() {
    let week = std::time::Duration::from_secs(7 * 86_400);
    for (batches, total) in [
        (vec![500, 500, 7], 1007u64),
        (vec![500, 0], 500),
        (vec![0], 0),
        (vec![499], 499),
    ] {
        let mut fx = Fx::new();
        let mut seq = Sequence::new();
        for n in batches.clone() {
            fx.sessions
                .expect_purge_sessions()
                // Expired more than the retention ago, not merely expired.
                .with(eq(now().minus_secs(7 * 86_400)), eq(500u32))
                .times(1)
                .in_sequence(&mut seq)
                .returning(move |_, _| Ok(n));
        }
        assert_eq!(
            fx.admin()
                .purge_sessions(PurgeCutoff::Retention(week))
                .await,
            Ok(total),
            "{batches:?}"
        );
    }

    // No retention: everything expired goes; a huge one reaches back as far as time goes
    // (it never wraps into the future).
    for (keep, before) in [
        (std::time::Duration::ZERO, now()),
        (std::time::Duration::MAX, now().minus_secs(i64::MAX)),
    ] {
        let mut fx = Fx::new();
        fx.sessions
            .expect_purge_sessions()
            .with(eq(before), eq(500u32))
            .times(1)
            .returning(|_, _| Ok(0));
        assert_eq!(
            fx.admin()
                .purge_sessions(PurgeCutoff::Retention(keep))
                .await,
            Ok(0),
            "{keep:?}"
        );
    }
}

#[tokio::test]
async fn purge_before_a_given_time_never_reaches_the_future() {
    let before = now().minus_secs(3600);
    let mut fx = Fx::new();
    fx.sessions
        .expect_purge_sessions()
        .with(eq(before), eq(500u32))
        .times(1)
        .returning(|_, _| Ok(3));
    assert_eq!(
        fx.admin().purge_sessions(PurgeCutoff::Before(before)).await,
        Ok(3)
    );

    // The cut-off may be now, but not later.
    let mut fx = Fx::new();
    fx.sessions
        .expect_purge_sessions()
        .times(1)
        .returning(|_, _| Ok(3));
    assert_eq!(
        fx.admin().purge_sessions(PurgeCutoff::Before(now())).await,
        Ok(3)
    );
    assert_invalid(
        Fx::new()
            .admin()
            .purge_sessions(PurgeCutoff::Before(now().plus_secs(1)))
            .await,
        "future",
        "future cut-off",
    );

    let mut fx = Fx::new();
    let mut seq = Sequence::new();
    fx.sessions
        .expect_purge_sessions()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(500));
    fx.sessions
        .expect_purge_sessions()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| {
            Err(StoreError::Unavailable(grantd_ports::Unavailable::Sqlite(
                grantd_ports::SqliteCondition::Locked,
            )))
        });
    assert!(matches!(
        fx.admin().purge_sessions(PurgeCutoff::Before(now())).await,
        Err(AdminError::Unavailable(_))
    ));
}

// ---------- revoke one ----------

#[tokio::test]
async fn revoke_session_marks_it_and_answers_it_as_stored() {
    let id = "sess_00112233445566778899aabbccddeeff";
    let revoked = SessionRecord {
        revoked_at: Some(Timestamp::from_secs(NOW)),
        revoke_reason: Some(OPERATOR_REVOCATION.to_owned()),
        ..session_record()
    };
    let mut fx = Fx::new();
    fx.sessions
        .expect_revoke_session()
        .withf(|s, at, why| {
            s.as_str() == "sess_00112233445566778899aabbccddeeff"
                && at.as_secs() == NOW
                && why == OPERATOR_REVOCATION
        })
        .times(1)
        .returning(|_, _, _| Ok(true));
    let stored = revoked.clone();
    fx.sessions
        .expect_find_session()
        .returning(move |_| Ok(Some(stored.clone())));
    assert_eq!(fx.admin().revoke_session(id).await, Ok(revoked));

    let mut fx = Fx::new();
    fx.sessions
        .expect_revoke_session()
        .returning(|_, _, _| Ok(false));
    let got = fx.admin().revoke_session(id).await;
    assert!(
        matches!(got, Err(AdminError::NotFound(Missing::Session(_)))),
        "{got:?}"
    );

    let got = Fx::new().admin().revoke_session("not-a-session").await;
    assert!(
        matches!(got, Err(AdminError::Invalid(InvalidReason::Id { .. }))),
        "{got:?}"
    );

    let mut fx = Fx::new();
    fx.sessions.expect_revoke_session().returning(|_, _, _| {
        Err(StoreError::Unavailable(
            grantd_ports::Unavailable::PoolTimeout,
        ))
    });
    let got = fx.admin().revoke_session(id).await;
    assert!(matches!(got, Err(AdminError::Unavailable(_))), "{got:?}");
}
