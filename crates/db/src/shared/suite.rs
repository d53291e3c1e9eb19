//! The SP repository's behaviour, run against every implementation: SQLite always, PostgreSQL
//! where a server is given (`CLOUDGATE_TEST_DATABASE_URL`).

use crate::stamp::now;
use crate::*;

/// Everything below, in order.
pub(crate) async fn all(db: &dyn SpRepository) {
    join_tokens(db).await;
    confirmations(db).await;
    tenants_services_and_certs(db).await;
    prune(db).await;
    pools(db).await;
    fleet(db).await;
    enroll_failures(db).await;
    published_certificate(db).await;
    admins_and_api_tokens(db).await;
    audit(db).await;
    usage(db).await;
    governance(db).await;
}

/// An address tests enroll from.
fn local() -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 0, 1])
}

/// Policies: stored whole and seen by the gateways; a token of a tenant that may not connect
/// from the address, or whose lease ended, is refused and keeps its use; lease warnings are
/// claimed once each, and a new lease end starts them over; maintenance is seen by a full read.
pub(crate) async fn governance(db: &dyn SpRepository) {
    use cloudgate_policy::{Cidr, Maintenance, MaintenanceScope, TenantPolicy};
    db.add_tenant("gov", "", "hash").await.unwrap();
    let mut policy = TenantPolicy {
        max_tunnels: Some(3),
        allow_from: Cidr::parse_list("10.0.0.0/8").unwrap(),
        expires_at: Some(now() + time::Duration::days(5)),
        ..Default::default()
    };
    let before = db.version().await.unwrap();
    db.set_policy("gov", &policy).await.unwrap();
    assert!(
        db.version().await.unwrap() > before,
        "gateways reload for a policy"
    );
    assert_eq!(db.tenant("gov").await.unwrap().policy, policy);
    let state = db.gateway_state().await.unwrap();
    assert_eq!(
        state.tenant("gov").unwrap().policy.as_deref(),
        Some(&policy)
    );
    assert!(matches!(
        db.set_policy("nobody", &policy).await,
        Err(DbError::NoSuchTenant(_))
    ));

    db.add_join_token(&JoinTokenRecord {
        id: "g1".into(),
        tenant: "gov".into(),
        secret_sha256: "cc".repeat(32),
        label: String::new(),
        created_by: "root".into(),
        created_at: now(),
        expires_at: time::macros::datetime!(2999-01-01 00:00 UTC),
        uses_left: 1,
        revoked_at: None,
    })
    .await
    .unwrap();
    let secret = "cc".repeat(32);
    assert_eq!(
        db.enroll_with_token("g1", &secret, "G1", &[1], None, local())
            .await
            .unwrap(),
        Err(TokenRefusal::AddressNotAllowed)
    );
    policy.expires_at = Some(now() - time::Duration::seconds(1));
    policy.allow_from.clear();
    db.set_policy("gov", &policy).await.unwrap();
    assert_eq!(
        db.enroll_with_token("g1", &secret, "G1", &[1], None, local())
            .await
            .unwrap(),
        Err(TokenRefusal::LeaseExpired)
    );
    assert_eq!(
        db.join_tokens(Some("gov")).await.unwrap()[0].uses_left,
        1,
        "refusals keep the use"
    );

    // Ended: one warning (0), claimed once.
    let due = db.lease_warnings_due(now()).await.unwrap();
    assert_eq!(
        due.iter()
            .filter(|w| w.tenant == "gov")
            .map(|w| w.days)
            .collect::<Vec<_>>(),
        [0]
    );
    assert!(
        db.lease_warnings_due(now())
            .await
            .unwrap()
            .iter()
            .all(|w| w.tenant != "gov")
    );
    // Extended to 5 days ahead: the 7-day warning is due again, once.
    policy.expires_at = Some(now() + time::Duration::days(5));
    db.set_policy("gov", &policy).await.unwrap();
    let due = db.lease_warnings_due(now()).await.unwrap();
    assert_eq!(
        due.iter()
            .filter(|w| w.tenant == "gov")
            .map(|w| w.days)
            .collect::<Vec<_>>(),
        [7]
    );
    // Another change keeps what was given.
    policy.max_tunnels = Some(4);
    db.set_policy("gov", &policy).await.unwrap();
    assert!(
        db.lease_warnings_due(now())
            .await
            .unwrap()
            .iter()
            .all(|w| w.tenant != "gov")
    );
    assert_eq!(
        db.enroll_with_token("g1", &secret, "G1", &[1], None, local())
            .await
            .unwrap(),
        Ok("gov".to_string())
    );

    let m = Maintenance {
        scope: MaintenanceScope::Pool("eu".into()),
        message: "disk replacement".into(),
        started_at: time::OffsetDateTime::from_unix_timestamp(now().unix_timestamp()).unwrap(),
        drain_until: Some(
            time::OffsetDateTime::from_unix_timestamp(now().unix_timestamp() + 60).unwrap(),
        ),
        ends_at: None,
    };
    let before = db.version().await.unwrap();
    db.start_maintenance(&m).await.unwrap();
    assert!(db.version().await.unwrap() > before);
    assert_eq!(db.maintenance().await.unwrap(), vec![m.clone()]);
    assert!(
        db.state_delta(before).await.unwrap().is_none(),
        "a full read"
    );
    assert_eq!(
        &*db.gateway_state().await.unwrap().maintenance,
        std::slice::from_ref(&m)
    );
    assert!(db.end_maintenance(&m.scope).await.unwrap());
    assert!(!db.end_maintenance(&m.scope).await.unwrap());
    assert!(db.gateway_state().await.unwrap().maintenance.is_empty());
    db.remove_tenant("gov").await.unwrap();
}

/// The audit: appended in order and chained, searched newest first by time, event prefix and
/// text; a removed or edited row breaks the chain; appending bumps no change counter.
pub(crate) async fn audit(db: &dyn SpRepository) {
    let entry = |time: &str, event: &str, actor: &str, details: &str| NewAuditRecord {
        time: time.into(),
        event: event.into(),
        actor: actor.into(),
        message: format!("{event} happened"),
        details: details.into(),
    };
    let v = db.version().await.unwrap();
    let first = db
        .append_audit(&[
            entry(
                "2026-12-01T10:00:00Z",
                "tenant.added",
                "user:root",
                r#"{"tenant":"acme"}"#,
            ),
            entry(
                "2026-12-02T10:00:00Z",
                "enroll.refused",
                "anonymous",
                r#"{"reason":"bad_credentials","source":"192.0.2.7"}"#,
            ),
        ])
        .await
        .unwrap();
    assert_eq!(first.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
    let more = db
        .append_audit(&[entry(
            "2026-12-03T10:00:00Z",
            "enroll.granted",
            "gateway:gw-1",
            r#"{"tenant":"100%_acme"}"#,
        )])
        .await
        .unwrap();
    assert_eq!(more[0].seq, 3);
    assert_eq!(
        db.version().await.unwrap(),
        v,
        "the audit is not a change to reload"
    );

    let mut check = ChainCheck::default();
    for r in db.audit_after(0, 100).await.unwrap() {
        check.next(&r).unwrap();
    }
    assert_eq!(check.checked(), 3);
    assert_eq!(db.audit_after(1, 1).await.unwrap()[0].seq, 2);

    let search = |q: AuditQuery| async move {
        db.audit_search(&AuditQuery { limit: 10, ..q })
            .await
            .unwrap()
    };
    let (all, total) = search(AuditQuery::default()).await;
    assert_eq!(
        (all.iter().map(|r| r.seq).collect::<Vec<_>>(), total),
        (vec![3, 2, 1], 3)
    );
    let (enrolls, total) = search(AuditQuery {
        event: Some("enroll.".into()),
        ..Default::default()
    })
    .await;
    assert_eq!((enrolls.len(), total), (2, 2));
    let (since, _) = search(AuditQuery {
        since: Some("2026-12-02T00:00:00Z".into()),
        until: Some("2026-12-03T00:00:00Z".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(since.iter().map(|r| r.seq).collect::<Vec<_>>(), [2]);
    let (text, _) = search(AuditQuery {
        text: Some("192.0.2".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(text.iter().map(|r| r.seq).collect::<Vec<_>>(), [2]);
    // LIKE's wildcards in the text are taken literally.
    let (literal, _) = search(AuditQuery {
        text: Some("0%_A".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(literal.iter().map(|r| r.seq).collect::<Vec<_>>(), [3]);
    let (none, _) = search(AuditQuery {
        text: Some("%".into()),
        event: Some("tenant.".into()),
        ..Default::default()
    })
    .await;
    assert!(none.is_empty());
    let (page, total) = search(AuditQuery {
        offset: 1,
        limit: 1,
        ..Default::default()
    })
    .await;
    assert_eq!((page[0].seq, total), (2, 3));
}

/// Administrators and API tokens: names unique, tokens revoked by a unique prefix, nothing a
/// gateway reloads for; both carried by a dump.
pub(crate) async fn admins_and_api_tokens(db: &dyn SpRepository) {
    let at = now();
    let admin = |name: &str| AdminRecord {
        name: name.into(),
        password_hash: "hash".into(),
        created_at: at,
        updated_at: at,
    };
    let v = db.version().await.unwrap();
    db.add_admin(&admin("alice")).await.unwrap();
    assert!(matches!(
        db.add_admin(&admin("alice")).await,
        Err(DbError::AdminExists(_))
    ));
    db.set_admin_password_hash("alice", "other").await.unwrap();
    assert_eq!(db.admin("alice").await.unwrap().password_hash, "other");
    assert!(matches!(
        db.set_admin_password_hash("nobody", "x").await,
        Err(DbError::NoSuchAdmin(_))
    ));
    let token = |id: &str| ApiTokenRecord {
        id: id.into(),
        name: "ci".into(),
        secret_sha256: "ab".repeat(32),
        created_by: "root".into(),
        created_at: at,
        expires_at: at + time::Duration::days(30),
        last_used_at: None,
        revoked_at: None,
    };
    db.add_api_token(&token("0123456789abcdef")).await.unwrap();
    db.add_api_token(&token("0123459999abcdef")).await.unwrap();
    assert!(matches!(
        db.revoke_api_token("012345").await,
        Err(DbError::AmbiguousToken(_))
    ));
    assert!(matches!(
        db.revoke_api_token("fff").await,
        Err(DbError::NoSuchApiToken(_))
    ));
    let revoked = db.revoke_api_token("0123456").await.unwrap();
    assert!(revoked.revoked_at.is_some());
    db.touch_api_token("0123459999abcdef", at).await.unwrap();
    let kept = db.api_token("0123459999abcdef").await.unwrap().unwrap();
    assert!(kept.last_used_at.is_some() && kept.revoked_at.is_none());
    assert!(db.api_token("nope").await.unwrap().is_none());
    assert_eq!(db.version().await.unwrap(), v, "nothing for the gateways");
    let dump = db.dump().await.unwrap();
    assert_eq!(dump.admins.len(), 1);
    assert_eq!(dump.api_tokens.len(), 2);
    db.remove_admin("alice").await.unwrap();
    assert!(matches!(
        db.remove_admin("alice").await,
        Err(DbError::NoSuchAdmin(_))
    ));
}

/// A tenant's pool: `default` until set, and setting it is a change the gateways reload for.
pub(crate) async fn pools(db: &dyn SpRepository) {
    db.add_tenant("pooled", "", "hash").await.unwrap();
    let t = db.tenant("pooled").await.unwrap();
    assert_eq!(
        (t.pool.as_str(), t.failover_outside_pool),
        ("default", false)
    );
    let v = db.version().await.unwrap();
    db.set_pool("pooled", "eu", true).await.unwrap();
    assert!(db.version().await.unwrap() > v);
    let t = db.tenant("pooled").await.unwrap();
    assert_eq!((t.pool.as_str(), t.failover_outside_pool), ("eu", true));
    assert!(matches!(
        db.set_pool("nobody", "eu", false).await,
        Err(DbError::NoSuchTenant(_))
    ));
    db.remove_tenant("pooled").await.unwrap();
}

/// Gateways heartbeat, stop and come back; none of it is a change to reload for.
pub(crate) async fn fleet(db: &dyn SpRepository) {
    let v = db.version().await.unwrap();
    let started = now() - time::Duration::seconds(30);
    let mut g = GatewayRecord {
        id: "gw-b:6180".into(),
        public_address: "b.example:6180".into(),
        pool: "eu".into(),
        version: "1.0.0".into(),
        cert_sha256: "AB".repeat(32),
        open_tunnels: 3,
        relayed_bytes: 0,
        started_at: started,
        heartbeat_at: now(),
        stopped_at: None,
    };
    db.heartbeat(&g).await.unwrap();
    let mut a = g.clone();
    a.id = "gw-a:6180".into();
    db.heartbeat(&a).await.unwrap();
    g.open_tunnels = 7;
    db.heartbeat(&g).await.unwrap();
    let all = db.gateways().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, "gw-a:6180", "by id");
    assert_eq!(
        all[1], g,
        "the last heartbeat wins, times kept to the second"
    );
    db.gateway_stopped("gw-b:6180").await.unwrap();
    let b = db.gateways().await.unwrap().pop().unwrap();
    assert!(b.stopped_at.is_some());
    db.heartbeat(&g).await.unwrap();
    assert_eq!(db.gateways().await.unwrap()[1].stopped_at, None, "back up");
    assert!(db.remove_gateway("gw-a:6180").await.unwrap());
    assert!(!db.remove_gateway("gw-a:6180").await.unwrap());
    assert_eq!(db.gateways().await.unwrap().len(), 1);
    assert_eq!(db.version().await.unwrap(), v, "bookkeeping only");
}

/// Failed enrollments counted per source within a window, by every gateway together.
pub(crate) async fn enroll_failures(db: &dyn SpRepository) {
    let window = now() - time::Duration::seconds(300);
    assert_eq!(db.enroll_failures("192.0.2.1", window).await.unwrap(), 0);
    for n in 1..=3 {
        assert_eq!(
            db.record_enroll_failure("192.0.2.1", window).await.unwrap(),
            n
        );
    }
    assert_eq!(
        db.record_enroll_failure("192.0.2.2", window).await.unwrap(),
        1
    );
    assert_eq!(db.enroll_failures("192.0.2.1", window).await.unwrap(), 3);
    // A window that began before the current one's start has passed: counting starts anew.
    let later = now() + time::Duration::seconds(1);
    assert_eq!(db.enroll_failures("192.0.2.1", later).await.unwrap(), 0);
    assert_eq!(
        db.record_enroll_failure("192.0.2.1", later).await.unwrap(),
        1
    );
    db.clear_enroll_failures("192.0.2.1").await.unwrap();
    assert_eq!(db.enroll_failures("192.0.2.1", window).await.unwrap(), 0);
    db.prune_enroll_failures(now() + time::Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(db.enroll_failures("192.0.2.2", window).await.unwrap(), 0);
}

/// Join tokens: redeemed once, refused with their reason, gone with their tenant.
pub(crate) async fn join_tokens(db: &dyn SpRepository) {
    db.add_tenant("acme", "", "hash").await.unwrap();
    let token = |id: &str, expires: time::OffsetDateTime, uses: i64| JoinTokenRecord {
        id: id.into(),
        tenant: "acme".into(),
        secret_sha256: "aa".repeat(32),
        label: String::new(),
        created_by: "root".into(),
        created_at: now(),
        expires_at: expires,
        uses_left: uses,
        revoked_at: None,
    };
    db.add_join_token(&token(
        "t1",
        time::macros::datetime!(2999-01-01 00:00 UTC),
        1,
    ))
    .await
    .unwrap();
    db.add_join_token(&token(
        "t2",
        time::macros::datetime!(2000-01-01 00:00 UTC),
        1,
    ))
    .await
    .unwrap();
    let good = "aa".repeat(32);
    let v = db.version().await.unwrap();
    assert_eq!(
        db.enroll_with_token("t1", &"bb".repeat(32), "M1", &[1], None, local())
            .await
            .unwrap(),
        Err(TokenRefusal::Unknown),
        "a wrong secret is an unknown token"
    );
    assert_eq!(
        db.enroll_with_token("t1", &good, "M1", &[1], Some("laptop"), local())
            .await
            .unwrap(),
        Ok("acme".to_string())
    );
    assert!(db.version().await.unwrap() > v, "the gateway reloads");
    assert_eq!(
        db.client_certs("acme").await.unwrap()[0].label.as_deref(),
        Some("laptop")
    );
    assert_eq!(
        db.enroll_with_token("t1", &good, "M2", &[2], None, local())
            .await
            .unwrap(),
        Err(TokenRefusal::UsedUp)
    );
    assert_eq!(
        db.enroll_with_token("t2", &good, "M2", &[2], None, local())
            .await
            .unwrap(),
        Err(TokenRefusal::Expired)
    );
    db.add_join_token(&token(
        "t3abcdef0",
        time::macros::datetime!(2999-01-01 00:00 UTC),
        5,
    ))
    .await
    .unwrap();
    db.revoke_join_token("t3abcdef").await.unwrap();
    assert_eq!(
        db.enroll_with_token("t3abcdef0", &good, "M2", &[2], None, local())
            .await
            .unwrap(),
        Err(TokenRefusal::Revoked)
    );
    assert_eq!(
        db.client_certs("acme").await.unwrap().len(),
        1,
        "nothing bound on refusal"
    );
    db.remove_tenant("acme").await.unwrap();
    assert!(
        db.join_tokens(None).await.unwrap().is_empty(),
        "tokens go with their tenant"
    );
}

/// A machine's confirmation of the SP certificate it trusts.
pub(crate) async fn confirmations(db: &dyn SpRepository) {
    db.add_tenant("acme", "", "hash").await.unwrap();
    db.bind_client_cert("acme", "M1", &[1], Some("host-1"))
        .await
        .unwrap();
    db.confirm_client_cert("M1", "CUR", Some("NEXT"))
        .await
        .unwrap();
    let all = db.all_client_certs().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].confirmed_sha256.as_deref(), Some("CUR"));
    assert_eq!(all[0].successor_sha256.as_deref(), Some("NEXT"));
    assert!(all[0].confirmed_at.is_some() && all[0].last_seen.is_some());
    assert_eq!(db.client_certs("acme").await.unwrap(), all);
    db.remove_tenant("acme").await.unwrap();
}

/// Tenants, services and enrolled certificates, with their refusals.
pub(crate) async fn tenants_services_and_certs(db: &dyn SpRepository) {
    let v0 = db.version().await.unwrap();
    db.add_tenant("acme", "Acme Corp", "hash").await.unwrap();
    assert!(matches!(
        db.add_tenant("acme", "", "h").await,
        Err(DbError::TenantExists(_))
    ));
    // Unique without regard to case.
    for other_case in ["ACME", "Acme"] {
        assert!(matches!(
            db.add_tenant(other_case, "", "h").await,
            Err(DbError::TenantExists(_))
        ));
    }
    db.add_service("acme", "repo", "127.0.0.1:9000")
        .await
        .unwrap();
    assert!(matches!(
        db.add_service("acme", "repo", "x:1").await,
        Err(DbError::ServiceExists { .. })
    ));
    assert!(matches!(
        db.add_service("nobody", "repo", "x:1").await,
        Err(DbError::NoSuchTenant(_))
    ));
    // A client certificate's SHA-256, as the gateway computes it.
    let ab = "AB".repeat(32);
    db.bind_client_cert("acme", &ab, b"der", None)
        .await
        .unwrap();
    db.bind_client_cert("acme", &ab, b"der", None)
        .await
        .unwrap();
    db.add_tenant("other", "", "h").await.unwrap();
    assert!(matches!(
        db.bind_client_cert("other", &ab, b"der", None).await,
        Err(DbError::ClientCertTaken)
    ));
    db.touch_client_cert(&ab).await.unwrap();
    assert!(
        db.client_certs("acme").await.unwrap()[0]
            .last_seen
            .is_some()
    );
    let state = db.gateway_state().await.unwrap();
    assert_eq!(state.tenant_of_hex(&ab), Some("acme"));
    assert_eq!(state.service("acme", "repo"), Some("127.0.0.1:9000"));
    assert!(state.version > v0);
    // One tenant's change is read back as that tenant alone, and applied it equals a full read.
    db.set_enabled("acme", false).await.unwrap();
    let delta = db
        .state_delta(state.version)
        .await
        .unwrap()
        .expect("logged");
    assert_eq!(delta.version, state.version + 1);
    assert_eq!(delta.tenants.len(), 1);
    assert_eq!(delta.tenants[0].name, "acme");
    assert_eq!(
        delta.tenants[0].tenant.as_ref().map(|t| t.enabled),
        Some(false)
    );
    let mut patched = state.clone();
    patched.apply(delta);
    let full = db.gateway_state().await.unwrap();
    assert_eq!(patched.version, full.version);
    assert_eq!(patched, full);
    assert!(
        state.tenant("acme").unwrap().enabled,
        "the copy held before is untouched"
    );
    let unchanged = db.state_delta(full.version).await.unwrap().unwrap();
    assert!(unchanged.tenants.is_empty() && unchanged.version == full.version);
    assert!(!db.tenant("acme").await.unwrap().enabled);
    db.revoke_client_cert("acme", &ab).await.unwrap();
    assert!(matches!(
        db.revoke_client_cert("acme", &ab).await,
        Err(DbError::NoSuchClientCert { .. })
    ));
    db.remove_tenant("acme").await.unwrap();
    assert!(db.services("acme").await.is_err());
    assert!(matches!(
        db.remove_tenant("acme").await,
        Err(DbError::NoSuchTenant(_))
    ));
}

/// Pruning removes machines quiet since the cutoff, and only those.
pub(crate) async fn prune(db: &dyn SpRepository) {
    db.add_tenant("prune", "", "h").await.unwrap();
    db.bind_client_cert("prune", "P1", b"1", None)
        .await
        .unwrap();
    db.bind_client_cert("prune", "P2", b"2", None)
        .await
        .unwrap();
    let past = now() - time::Duration::days(30);
    assert!(
        db.prune_client_certs("prune", past)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.client_certs("prune").await.unwrap().len(), 2);
    let future = now() + time::Duration::days(1);
    assert_eq!(
        db.prune_client_certs("prune", future).await.unwrap().len(),
        2
    );
    assert!(db.client_certs("prune").await.unwrap().is_empty());
}

/// A populated database moved into an empty one reads back equal, every column of it; the
/// target then refuses a second import and keeps what it holds.
pub(crate) async fn transfer(src: &dyn SpRepository, dst: &dyn SpRepository) {
    src.add_tenant(
        "acme",
        "Acme Backup",
        "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA",
    )
    .await
    .unwrap();
    src.add_tenant("off", "", "h2").await.unwrap();
    src.set_enabled("off", false).await.unwrap();
    src.set_pool("acme", "eu", true).await.unwrap();
    src.add_service("acme", "repo", "10.0.0.5:10005")
        .await
        .unwrap();
    src.add_service("acme", "mount", "10.0.0.5:10006")
        .await
        .unwrap();
    src.bind_client_cert("acme", "M1", &[0, 1, 2, 255], Some("laptop"))
        .await
        .unwrap();
    src.bind_client_cert("acme", "M2", &[9; 300], None)
        .await
        .unwrap();
    src.confirm_client_cert("M1", "CC", Some("DD"))
        .await
        .unwrap();
    src.touch_client_cert("M1").await.unwrap();
    src.add_join_token(&JoinTokenRecord {
        id: "0123456789abcdef0123456789abcdef".into(),
        tenant: "acme".into(),
        secret_sha256: "ee".repeat(32),
        label: "rollout".into(),
        created_by: "root".into(),
        created_at: now(),
        expires_at: now() + time::Duration::days(7),
        uses_left: 5,
        revoked_at: Some(now()),
    })
    .await
    .unwrap();
    let dump = src.dump().await.unwrap();
    assert_eq!(
        (
            dump.tenants.len(),
            dump.services.len(),
            dump.client_certs.len(),
            dump.join_tokens.len()
        ),
        (2, 2, 2, 1)
    );
    let v = dst.version().await.unwrap();
    dst.import(&dump).await.unwrap();
    assert!(
        dst.version().await.unwrap() > v,
        "gateways reload the import"
    );
    assert_eq!(
        dst.dump().await.unwrap(),
        dump,
        "nothing lost, nothing changed"
    );
    let again = dst.import(&dump).await.unwrap_err();
    assert!(
        matches!(
            again,
            DbError::NotEmpty {
                tenants: 2,
                tokens: 1,
                ..
            }
        ),
        "{again:?}"
    );
    assert_eq!(dst.dump().await.unwrap(), dump);
}

/// The fleet's certificate: none until published, replaced whole, a change to reload for,
/// logged as a certificate change (the gateways read it again, and no tenant).
pub(crate) async fn published_certificate(db: &dyn SpRepository) {
    assert_eq!(db.published_certificate().await.unwrap(), None);
    let mut c = PublishedCertificate {
        sha256: "AB".repeat(32),
        cert_der: vec![0, 1, 2, 255],
        chain_pem: String::new(),
        friendly_name: "SP".into(),
        provider_name: "Acme Cloud".into(),
        rollover: "{}".into(),
        sealed_keys: "[]".into(),
        published_at: now(),
    };
    let v = db.version().await.unwrap();
    db.publish_certificate(&c).await.unwrap();
    assert!(db.version().await.unwrap() > v, "gateways reload it");
    assert_eq!(
        db.state_delta(v).await.unwrap(),
        Some(StateDelta {
            version: v + 1,
            tenants: vec![],
            certificate: true,
        }),
        "a certificate change, no tenant's"
    );
    db.add_tenant("cert-and-tenant", "", "h").await.unwrap();
    let both = db.state_delta(v).await.unwrap().expect("logged");
    assert!(both.certificate && both.tenants.len() == 1, "{both:?}");
    let after = db.state_delta(v + 1).await.unwrap().expect("logged");
    assert!(!after.certificate, "{after:?}");
    assert_eq!(db.published_certificate().await.unwrap().as_ref(), Some(&c));
    c.sha256 = "CD".repeat(32);
    c.sealed_keys = "[{}]".into();
    db.publish_certificate(&c).await.unwrap();
    assert_eq!(db.published_certificate().await.unwrap(), Some(c));
}

/// The chain over 10,000 entries written by several writers at once verifies; removing,
/// editing or swapping a row (with `tamper`, raw SQL on the same database) is found, and a
/// restored row verifies again.
pub(crate) async fn audit_chain_under_tampering<F, Fut>(db: &dyn SpRepository, tamper: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let entry = |i: usize| NewAuditRecord {
        time: format!("2026-12-05T12:{:02}:{:02}Z", (i / 60) % 60, i % 60),
        event: "tenant.added".into(),
        actor: format!("user:writer{}", i % 4),
        message: "tenant added".into(),
        details: format!("{{\"tenant\":\"t{i}\"}}"),
    };
    // Four writers at once, 2,500 entries each in batches of 250: one chain, no gap.
    let writers = (0..4).map(|w| async move {
        for batch in 0..10 {
            let entries: Vec<_> = (0..250)
                .map(|i| entry(w * 2_500 + batch * 250 + i))
                .collect();
            db.append_audit(&entries).await.unwrap();
        }
    });
    futures_util::future::join_all(writers).await;
    let walk = || async {
        let mut check = ChainCheck::default();
        let mut after = 0;
        loop {
            let page = db.audit_after(after, 1_000).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            for r in &page {
                check.next(r)?;
            }
        }
        Ok::<u64, ChainBreak>(check.checked())
    };
    assert_eq!(walk().await, Ok(10_000));
    let row = |seq: i64| async move { db.audit_after(seq - 1, 1).await.unwrap().remove(0) };
    let set_details = |seq: i64, details: String| {
        tamper(format!(
            "UPDATE audit SET details = '{}' WHERE seq = {seq}",
            details.replace('\'', "''")
        ))
    };

    let kept = row(5000).await;
    set_details(5000, r#"{"tenant":"someone-else"}"#.into()).await;
    assert!(matches!(
        walk().await,
        Err(ChainBreak::Mismatch { seq: 5000, .. })
    ));
    set_details(5000, kept.entry.details.clone()).await;
    assert_eq!(walk().await, Ok(10_000), "restored");

    // Two rows' contents swapped, each keeping its place and hash.
    let (ten, eleven) = (row(10).await, row(11).await);
    set_details(10, eleven.entry.details.clone()).await;
    set_details(11, ten.entry.details.clone()).await;
    assert!(matches!(
        walk().await,
        Err(ChainBreak::Mismatch { seq: 10, .. })
    ));
    set_details(10, ten.entry.details).await;
    set_details(11, eleven.entry.details).await;
    assert_eq!(walk().await, Ok(10_000), "restored");

    tamper("DELETE FROM audit WHERE seq = 7000".into()).await;
    assert_eq!(
        walk().await,
        Err(ChainBreak::Gap {
            expected: 7000,
            found: 7001
        })
    );
}

/// Usage: two gateways' flushes add up per tenant, machine and hour; a flush adds to the hour's
/// row; open tunnels are replaced per gateway, summed over the fresh ones; nothing bumps the
/// change counter.
pub(crate) async fn usage(db: &dyn SpRepository) {
    let version = db.version().await.unwrap();
    let hour = crate::usage::hour_of(now());
    let count = |tenant: &str, machine: &str, up: i64| UsageCount {
        tenant: tenant.into(),
        machine: machine.into(),
        hour: hour + time::Duration::minutes(7),
        bytes_up: up,
        bytes_down: 2 * up,
        tunnels: 1,
        tunnel_ms: 1500,
    };
    let open = |tenant: &str, n: i64| OpenTunnelCount {
        tenant: tenant.into(),
        machine: "M1".into(),
        open: n,
    };
    let at = now();
    db.record_usage(
        "gw-a",
        at,
        &[count("u1", "M1", 100), count("u2", "M9", 5)],
        &[open("u1", 2)],
    )
    .await
    .unwrap();
    db.record_usage("gw-a", at, &[count("u1", "M1", 10)], &[open("u1", 3)])
        .await
        .unwrap();
    db.record_usage(
        "gw-b",
        at,
        &[count("u1", "M1", 1)],
        &[open("u1", 4), open("u2", 0)],
    )
    .await
    .unwrap();
    let all = db.usage(&UsageQuery::default()).await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    let u1 = all.iter().find(|u| u.tenant == "u1").unwrap();
    assert_eq!(
        (u1.bytes_up, u1.bytes_down, u1.tunnels, u1.tunnel_ms),
        (111, 222, 3, 4500)
    );
    assert_eq!(u1.hour, hour, "stored by the hour's first second");
    let only = db
        .usage(&UsageQuery {
            tenant: Some("u2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].bytes_up, 5);
    let later = db
        .usage(&UsageQuery {
            since: Some(hour + time::Duration::hours(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(later.is_empty(), "{later:?}");
    let before = db
        .usage(&UsageQuery {
            until: Some(hour),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(before.is_empty(), "{before:?}");
    let open_now = db
        .open_tunnel_counts(at - time::Duration::seconds(10), None)
        .await
        .unwrap();
    assert_eq!(
        open_now,
        vec![open("u1", 7)],
        "gw-a's second flush replaced its first"
    );
    let stale = db
        .open_tunnel_counts(at + time::Duration::seconds(1), None)
        .await
        .unwrap();
    assert!(stale.is_empty(), "{stale:?}");
    assert_eq!(db.version().await.unwrap(), version, "bookkeeping");
}
