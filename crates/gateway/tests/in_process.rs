//! The gateway and a tenant in one process, over real TLS on loopback: the core flows
//! (enrollment, authorization, a change the gateway reloads) without child processes and
//! without waiting for a reload poll, since the test holds the state and reloads it itself.

use std::sync::Arc;
use std::time::Duration;

use cloudgate_db::SqliteSpRepository;
use cloudgate_gateway::{Gateway, GatewayConfig, SharedState};
use cloudgate_store::{CertStore, FileOwnership, Layout};
use cloudgate_tenant::{AddRequest, Credentials, TenantError, TenantPaths};

const PASSWORD: &str = "in-process password";

struct Running {
    state: Arc<SharedState>,
    port: u16,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A gateway on an ephemeral loopback port with a first certificate and tenant `acme`, whose
/// reload poll is an hour: only the test's own `refresh` makes it see a change.
async fn gateway() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let own = FileOwnership::resolve(None).unwrap();
    let layout = Layout::new(dir.path().join("sp"));
    let store = CertStore::new(layout.clone(), own.clone());
    cloudgate_sp::certs::issue_default(&store, &cloudgate_sp::certs::SelfSigned).unwrap();
    let db: cloudgate_db::SharedRepository = Arc::new(
        SqliteSpRepository::open(&{
            std::fs::write(layout.sp_database(), b"").unwrap();
            layout.sp_database()
        })
        .await
        .unwrap(),
    );
    cloudgate_sp::add_tenant(&store, &*db, "acme", "", PASSWORD)
        .await
        .unwrap();
    let state = SharedState::load(store, db).await.unwrap();
    let config = GatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        reload_interval: Duration::from_secs(3600),
        ..GatewayConfig::default()
    };
    let gateway = Gateway::bind(config, state.clone()).await.unwrap();
    let port = gateway.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gateway.run(Box::pin(async move {
        let _ = stopped.await;
    })));
    Running {
        state,
        port,
        _dir: dir,
        stop: Some(stop),
    }
}

/// A tenant machine that verified the gateway's certificate and enrolled as `acme`.
async fn enrolled_tenant(gw: &Running) -> (tempfile::TempDir, TenantPaths) {
    let dir = tempfile::tempdir().unwrap();
    let paths = TenantPaths::new(Layout::new(dir.path().join("tenant")));
    let probe = cloudgate_tenant::probe("127.0.0.1", gw.port, false)
        .await
        .unwrap();
    assert_eq!(
        probe.cert.fingerprints.sha256,
        gw.state.current().cert.fingerprints.sha256,
        "the tenant sees the certificate the gateway serves"
    );
    cloudgate_tenant::add_provider(
        &paths,
        AddRequest {
            name: "sp",
            address: "127.0.0.1",
            port: gw.port,
            description: "",
            credentials: Credentials::Password {
                username: "acme",
                password: PASSWORD,
            },
            trust: cloudgate_db::TrustMode::Pinned,
        },
        &probe,
    )
    .await
    .unwrap();
    (dir, paths)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolled_tenant_sees_its_services_and_a_disable_takes_effect_at_the_reload() {
    let gw = gateway().await;
    let (_t, paths) = enrolled_tenant(&gw).await;
    let db = gw.state.db().clone();
    db.add_service("acme", "repo", "127.0.0.1:9").await.unwrap();
    // Not reloaded yet: the gateway still decides with the state it loaded.
    assert!(
        cloudgate_tenant::check(&paths, "sp")
            .await
            .unwrap()
            .services
            .is_empty()
    );
    assert!(gw.state.refresh().await.unwrap(), "the change is seen");
    assert_eq!(
        cloudgate_tenant::check(&paths, "sp")
            .await
            .unwrap()
            .services,
        vec!["repo".to_string()]
    );

    db.set_enabled("acme", false).await.unwrap();
    assert!(gw.state.refresh().await.unwrap());
    match cloudgate_tenant::check(&paths, "sp").await {
        Err(TenantError::AccountRefused(why)) => assert!(why.contains("disabled"), "{why}"),
        other => panic!("a disabled tenant must be refused: {other:?}"),
    }
    assert!(
        !gw.state.refresh().await.unwrap(),
        "nothing changed since the last reload"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_machine_is_refused_and_the_password_still_enrolls_another() {
    let gw = gateway().await;
    let (_t, paths) = enrolled_tenant(&gw).await;
    let db = gw.state.db().clone();
    let machines = db.client_certs("acme").await.unwrap();
    assert_eq!(
        machines.len(),
        1,
        "enrollment bound the machine's certificate"
    );
    db.revoke_client_cert("acme", &machines[0].sha256)
        .await
        .unwrap();
    gw.state.refresh().await.unwrap();
    assert!(
        matches!(
            cloudgate_tenant::check(&paths, "sp").await,
            Err(TenantError::Authentication(_))
        ),
        "a revoked client certificate opens nothing"
    );
    let (_t2, other) = enrolled_tenant(&gw).await;
    cloudgate_tenant::check(&other, "sp").await.unwrap();
}

/// A certificate enrolled behind the gateway's back (through another gateway of the fleet) is
/// known at its first use, even right after a stranger's unknown certificate made the gateway
/// read the database; those reads are spaced, and a crowd of strangers is answered together.
#[tokio::test]
async fn an_enrollment_elsewhere_is_known_at_once_and_strangers_reads_are_spaced() {
    use cloudgate_pki::fingerprint::upper_hex;
    let gw = gateway().await;
    let stranger = upper_hex(&[0xEE; 32]);
    let started = std::time::Instant::now();
    let snap = gw.state.current_knowing(&stranger).await;
    assert_eq!(snap.db.tenant_of_hex(&stranger), None);

    let machine = upper_hex(&[0x11; 32]);
    gw.state
        .db()
        .bind_client_cert("acme", &machine, b"der", None)
        .await
        .unwrap();
    let snap = gw.state.current_knowing(&machine).await;
    assert_eq!(snap.db.tenant_of_hex(&machine), Some("acme"));
    assert!(
        started.elapsed() >= cloudgate_gateway::MISS_READ_EVERY,
        "the second read waited for the first's interval"
    );

    let crowd: Vec<_> = (0x80u8..0xB2)
        .map(|i| {
            let state = gw.state.clone();
            tokio::spawn(async move {
                let sha = upper_hex(&[i; 32]);
                state
                    .current_knowing(&sha)
                    .await
                    .db
                    .tenant_of_hex(&sha)
                    .is_none()
            })
        })
        .collect();
    for unknown in crowd {
        assert!(unknown.await.unwrap());
    }
    let snap = gw.state.current_knowing(&machine).await;
    assert_eq!(
        snap.db.tenant_of_hex(&machine),
        Some("acme"),
        "known: no read"
    );
}
