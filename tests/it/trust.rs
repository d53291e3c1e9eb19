//! The tenant's trust state machine end to end, as an attacker and as an SP changing its
//! certificate would exercise it: real gateways (one of them run from a stolen copy of the SP's
//! data directory), a man in the middle that can switch its target or refuse connections, and
//! the real tenant commands.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::gateway_util::*;
use crate::util::{CertJson, Env};

/// A TCP relay in front of a gateway, as a man in the middle would run one: it forwards to
/// whichever target is set, and refuses (closes at once) every connection after the first
/// `forward_budget` ones.
pub(crate) struct Mitm {
    pub(crate) addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    forward_budget: Arc<AtomicUsize>,
}

impl Mitm {
    pub(crate) async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target = Arc::new(Mutex::new(target));
        let forward_budget = Arc::new(AtomicUsize::new(usize::MAX));
        let (t, budget) = (target.clone(), forward_budget.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let forward = budget
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
                    .is_ok();
                if !forward {
                    drop(inbound);
                    continue;
                }
                let to = *t.lock().unwrap();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Mitm {
            addr,
            target,
            forward_budget,
        }
    }

    pub(crate) fn send_to(&self, gw: &GatewayProc) {
        *self.target.lock().unwrap() = gw.addr;
        self.forward_budget.store(usize::MAX, Ordering::SeqCst);
    }

    pub(crate) fn forward_only(&self, n: usize) {
        self.forward_budget.store(n, Ordering::SeqCst);
    }
}

pub(crate) fn current(sp: &Env) -> CertJson {
    serde_json::from_str(&sp.ok(&["sp", "cert", "current", "--json"])).unwrap()
}

pub(crate) fn generate(sp: &Env) -> CertJson {
    serde_json::from_str(&sp.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--json",
    ]))
    .unwrap()
}

/// Tells the gateway to reload now and waits until it serves `sha256` (and, when given, announces
/// `successor` as staged, or nothing when `Some(None)`).
pub(crate) async fn reloaded(
    gw: &GatewayProc,
    at: SocketAddr,
    sha256: &str,
    successor: Option<Option<&str>>,
) {
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &gw.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(probe) = cloudgate_tenant::probe("127.0.0.1", at.port(), false).await {
            let announced = probe
                .provider
                .as_ref()
                .and_then(|p| p.trust.successor.as_ref())
                .and_then(|link| {
                    cloudgate_pki::pem::decode_certificates(link.certificate_pem.as_bytes()).ok()
                })
                .and_then(|c| c.into_iter().next())
                .map(|der| cloudgate_pki::CertificateInfo::from_der(&der).unwrap())
                .map(|c| c.fingerprints.sha256_hex());
            let serving = probe.cert.fingerprints.sha256_hex() == sha256;
            if serving && successor.is_none_or(|s| s.map(str::to_string) == announced) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the gateway did not reload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A second data directory holding a copy of the SP's: what a thief of the SP's key holds.
pub(crate) fn stolen_copy(sp: &Env) -> Env {
    let thief = Env::new();
    let status = std::process::Command::new("cp")
        .args(["-a"])
        .arg(&sp.data)
        .arg(&thief.data)
        .status()
        .unwrap();
    assert!(status.success());
    // The copy must not share the SP's audit log or its gateway's pid-bound files.
    let _ = std::fs::remove_file(thief.data.join("audit.log"));
    thief
}

pub(crate) struct World {
    pub(crate) sp: Env,
    pub(crate) gw: GatewayProc,
    pub(crate) pw: std::path::PathBuf,
    pub(crate) backend: SocketAddr,
}

pub(crate) async fn world() -> World {
    let sp = Env::new();
    let backend = provider_with_tenant(&sp, "acme").await;
    let gw = GatewayProc::start(&sp, &[]);
    let pw = sp.path("tenant-pw");
    std::fs::write(&pw, format!("{TENANT_PASSWORD}\n")).unwrap();
    World {
        sp,
        gw,
        pw,
        backend,
    }
}

impl World {
    /// A tenant machine that added the provider at `at` after verifying the thumbprint.
    pub(crate) fn tenant_at(&self, at: SocketAddr) -> Env {
        let t = Env::new();
        t.ok(&[
            "tenant",
            "provider",
            "add",
            &at.to_string(),
            "--name",
            "sp",
            "--username",
            "acme",
            "--password-file",
            self.pw.to_str().unwrap(),
            "--thumbprint",
            &current(&self.sp).thumbprint,
        ]);
        t
    }
}

pub(crate) fn pinned(tenant: &Env) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&tenant.ok(&["tenant", "provider", "show", "sp", "--json"])).unwrap();
    v["thumbprint"].as_str().unwrap().to_string()
}

/// Runs a command that must exit with `code` (after whatever warnings and banner it prints);
/// returns stderr.
pub(crate) fn exits(env: &Env, args: &[&str], code: i32) -> String {
    let out = env.run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

pub(crate) fn audit(env: &Env) -> String {
    std::fs::read_to_string(env.data.join("audit.log")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successor_announced_with_a_stolen_key_is_never_followed_after_the_manual_repin() {
    let w = world().await;
    let mitm = Mitm::start(w.gw.addr).await;
    let tenant = w.tenant_at(mitm.addr);

    // A thief with the SP's key X runs two gateways: one that presents X, and one that presents
    // X and announces a successor Y of his own, with a valid proof signed by X.
    let thief_x = GatewayProc::start(&stolen_copy(&w.sp), &[]);
    let thief = stolen_copy(&w.sp);
    let y = generate(&thief);
    thief.ok(&["sp", "cert", "stage", &y.thumbprint]);
    let thief_gw = GatewayProc::start(&thief, &[]);
    mitm.send_to(&thief_gw);
    let out = tenant.run(&["tenant", "check", "sp"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("successor announced"));

    // The SP learns of the theft and switches to Z, marking X compromised.
    mitm.send_to(&w.gw);
    let z = generate(&w.sp);
    w.sp.ok(&["sp", "cert", "apply", &z.thumbprint, "--compromised"]);
    reloaded(&w.gw, w.gw.addr, &z.sha256, None).await;
    let e = exits(&tenant, &["tenant", "check", "sp"], 3);
    assert!(e.contains("compromise"), "{e}");
    // Until the user verifies by hand, nothing is trusted: not even X, presented by the thief.
    mitm.send_to(&thief_x);
    let e = exits(&tenant, &["tenant", "check", "sp"], 3);
    assert!(
        e.contains("earlier marked the pinned key as compromised"),
        "{e}"
    );

    // The user verifies Z by hand.
    mitm.send_to(&w.gw);
    tenant.ok(&[
        "tenant",
        "provider",
        "refresh",
        "sp",
        "--thumbprint",
        &z.thumbprint,
    ]);
    tenant.ok(&["tenant", "check", "sp"]);

    // The thief switches to Y (publishing its proof from X), or presents X: both refused.
    thief.ok(&["sp", "cert", "apply", &y.thumbprint]);
    reloaded(&thief_gw, thief_gw.addr, &y.sha256, None).await;
    for impostor in [&thief_gw, &thief_x] {
        mitm.send_to(impostor);
        let e = exits(&tenant, &["tenant", "check", "sp"], 3);
        assert!(e.contains("HAS CHANGED"), "{e}");
        assert_eq!(pinned(&tenant), z.thumbprint);
    }
    let log = audit(&tenant);
    assert!(
        log.contains("\"provider.refreshed\"") && log.contains("\"provider.compromised\""),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compromised_switch_makes_every_tenant_verify_even_one_that_learned_the_successor() {
    let w = world().await;
    let tenant = w.tenant_at(w.gw.addr);
    let z = generate(&w.sp);
    w.sp.ok(&["sp", "cert", "stage", &z.thumbprint]);
    reloaded(
        &w.gw,
        w.gw.addr,
        &current(&w.sp).sha256,
        Some(Some(&z.sha256)),
    )
    .await;
    let out = tenant.run(&["tenant", "check", "sp"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("successor announced"));
    w.sp.ok(&["sp", "cert", "apply", &z.thumbprint, "--compromised"]);
    reloaded(&w.gw, w.gw.addr, &z.sha256, None).await;
    let e = exits(&tenant, &["tenant", "check", "sp"], 3);
    assert!(e.contains("compromise of its previous key"), "{e}");
    assert_ne!(pinned(&tenant), z.thumbprint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatch_stays_a_trust_failure_when_the_second_connection_is_refused() {
    let w = world().await;
    let mitm = Mitm::start(w.gw.addr).await;
    let tenant = w.tenant_at(mitm.addr);
    let impostor = Env::new();
    provider_with_tenant(&impostor, "acme").await;
    let impostor_gw = GatewayProc::start(&impostor, &[]);
    mitm.send_to(&impostor_gw);
    // The impostor answers the first connection and refuses the one that looks for a proof.
    mitm.forward_only(1);
    let e = exits(&tenant, &["tenant", "check", "sp"], 3);
    assert!(e.contains("HAS CHANGED"), "{e}");
    assert!(audit(&tenant).contains("\"provider.refused\""));
    // Same for a tunnel: it must not start, and must not say "cannot reach".
    mitm.forward_only(1);
    let out = tenant.run(&["tenant", "tunnel", "sp", "echo", "--listen", "127.0.0.1:0"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "it listened"
    );
}

#[tokio::test]
async fn a_tenant_offline_across_renewals_and_rollovers_walks_the_chain() {
    let w = world().await;
    let offline = w.tenant_at(w.gw.addr);
    // C1 --renew--> C2 --staged rollover--> C3 --renew--> C3' --staged rollover--> C4
    w.sp.ok(&["sp", "cert", "renew", "--apply"]);
    let c3 = generate(&w.sp);
    w.sp.ok(&["sp", "cert", "stage", &c3.thumbprint]);
    w.sp.ok(&["sp", "cert", "apply", &c3.thumbprint]);
    w.sp.ok(&["sp", "cert", "renew", "--apply"]);
    let c4 = generate(&w.sp);
    w.sp.ok(&["sp", "cert", "stage", &c4.thumbprint]);
    w.sp.ok(&["sp", "cert", "apply", &c4.thumbprint]);
    reloaded(&w.gw, w.gw.addr, &c4.sha256, None).await;
    let out = offline.run(&["tenant", "check", "sp"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("rollover (proof verified)"), "{stderr}");
    assert_eq!(pinned(&offline), c4.thumbprint);
    assert!(
        audit(&offline).contains("\"links\":2"),
        "{}",
        audit(&offline)
    );
    let status: serde_json::Value =
        serde_json::from_str(&w.sp.ok(&["sp", "cert", "status", "--json"])).unwrap();
    assert_eq!(status["key_changes"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_running_tunnel_follows_a_planned_rollover_and_moves_the_pin() {
    let w = world().await;
    let tenant = w.tenant_at(w.gw.addr);
    let (mut tunnel, local) = start_tenant_tunnel(&tenant, false);
    let next = generate(&w.sp);
    w.sp.ok(&["sp", "cert", "stage", &next.thumbprint]);
    w.sp.ok(&["sp", "cert", "apply", &next.thumbprint]);
    reloaded(&w.gw, w.gw.addr, &next.sha256, None).await;
    let stream = tokio::net::TcpStream::connect(local).await.unwrap();
    let back = echo_roundtrip(stream, b"after the rollover".to_vec()).await;
    assert_eq!(back, b"after the rollover");
    assert!(tunnel.try_wait().unwrap().is_none(), "the tunnel stopped");
    assert_eq!(pinned(&tenant), next.thumbprint);
    let _ = tunnel.kill();
}

#[tokio::test]
async fn check_and_tunnel_refuse_a_disabled_tenant_and_an_unknown_service_before_listening() {
    let w = world().await;
    let tenant = w.tenant_at(w.gw.addr);
    let out = tenant.run(&[
        "tenant",
        "tunnel",
        "sp",
        "nosuch",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("no service named \"nosuch\"") && e.contains("echo"),
        "{e}"
    );
    assert!(out.stdout.is_empty());
    w.sp.ok(&["sp", "tenant", "disable", "acme"]);
    // The gateway sees the change at its next reload.
    let deadline = Instant::now() + Duration::from_secs(10);
    let e = loop {
        let out = tenant.run(&["tenant", "check", "sp"]);
        if out.status.code() == Some(4) {
            break String::from_utf8_lossy(&out.stderr).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "check never refused the disabled tenant"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(e.contains("disabled"), "{e}");
    let out = tenant.run(&["tenant", "tunnel", "sp", "echo", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(out.stdout.is_empty(), "it listened");
}

/// Waits for the gateway to cut `s`; returns how long it took.
async fn cut(mut s: tokio::net::TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 16];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the open tunnel was not cut"),
        }
    }
}

#[tokio::test]
async fn disabling_revoking_or_removing_cuts_open_tunnels() {
    let w = world().await;
    let tenant = w.tenant_at(w.gw.addr);
    let (mut tunnel, local) = start_tenant_tunnel(&tenant, false);
    let shown: serde_json::Value =
        serde_json::from_str(&w.sp.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    let machine = shown["machines"][0]["sha256"].as_str().unwrap().to_string();
    let backend = w.backend.to_string();
    let cases: [(&[&str], &[&str]); 3] = [
        (
            &["sp", "tenant", "disable", "acme"],
            &["sp", "tenant", "enable", "acme"],
        ),
        (
            &["sp", "tenant", "service", "remove", "acme", "echo"],
            &["sp", "tenant", "service", "add", "acme", "echo", &backend],
        ),
        (&["sp", "tenant", "revoke", "acme", &machine], &[]),
    ];
    for (change, undo) in cases {
        let s = open_through_when_allowed(local).await;
        w.sp.ok(change);
        let took = cut(s).await;
        eprintln!("{change:?}: open tunnel cut after {took:?}");
        // One reload interval (1 s in tests and by default) and the time to notice.
        assert!(
            took < Duration::from_secs(3),
            "{change:?}: cut after {took:?}"
        );
        if !undo.is_empty() {
            w.sp.ok(undo);
        }
    }
    let _ = tunnel.kill();
}

/// Opens a connection through the tunnel once the gateway allows it again (after an undo).
async fn open_through_when_allowed(local: SocketAddr) -> tokio::net::TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = tokio::net::TcpStream::connect(local).await.unwrap();
        if s.write_all(b"ping").await.is_ok() {
            let mut buf = [0u8; 4];
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf)).await
            {
                assert_eq!(&buf, b"ping");
                return s;
            }
        }
        assert!(Instant::now() < deadline, "the tunnel never carried data");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn manual_pin_changes_are_audited() {
    let w = world().await;
    let tenant = w.tenant_at(w.gw.addr);
    let next = generate(&w.sp);
    w.sp.ok(&["sp", "cert", "apply", &next.thumbprint, "--force"]);
    reloaded(&w.gw, w.gw.addr, &next.sha256, None).await;
    exits(&tenant, &["tenant", "check", "sp"], 3);
    tenant.ok(&[
        "tenant",
        "provider",
        "refresh",
        "sp",
        "--thumbprint",
        &next.thumbprint,
    ]);
    tenant.ok(&["tenant", "provider", "remove", "sp"]);
    let log = audit(&tenant);
    for event in [
        "provider.added",
        "provider.refused",
        "provider.refreshed",
        "provider.removed",
    ] {
        assert!(log.contains(&format!("\"{event}\"")), "{event}: {log}");
    }
    assert!(log.contains(&next.sha256));
}

#[tokio::test]
async fn applying_a_new_key_that_was_not_staged_warns_and_counts_the_tenants() {
    let w = world().await;
    let _tenant = w.tenant_at(w.gw.addr);
    let before = current(&w.sp);
    let next = generate(&w.sp);
    let e = exits(&w.sp, &["sp", "cert", "apply", &next.thumbprint], 2);
    assert!(
        e.contains("1 enrolled machine(s) of 1 tenant(s)") && e.contains("cloudgate sp cert stage"),
        "{e}"
    );
    assert_eq!(
        current(&w.sp).thumbprint,
        before.thumbprint,
        "nothing changed"
    );
    let e = exits(&w.sp, &["sp", "cert", "generate", "--apply"], 2);
    assert!(e.contains("not put into use"), "{e}");
    // A renewal and a staged successor need no confirmation.
    w.sp.ok(&["sp", "cert", "renew", "--apply"]);
    w.sp.ok(&["sp", "cert", "stage", &next.thumbprint]);
    w.sp.ok(&["sp", "cert", "apply", &next.thumbprint]);
    let third = generate(&w.sp);
    w.sp.ok(&["sp", "cert", "apply", &third.thumbprint, "--force"]);
    assert_eq!(current(&w.sp).thumbprint, third.thumbprint);
}

#[tokio::test]
async fn the_sp_sees_which_certificate_each_machine_confirmed() {
    let w = world().await;
    let early = w.tenant_at(w.gw.addr);
    let late = w.tenant_at(w.gw.addr);
    let now = current(&w.sp);
    let next = generate(&w.sp);
    w.sp.ok(&["sp", "cert", "stage", &next.thumbprint]);
    reloaded(&w.gw, w.gw.addr, &now.sha256, Some(Some(&next.sha256))).await;
    early.ok(&["tenant", "check", "sp"]);
    let status: serde_json::Value =
        serde_json::from_str(&w.sp.ok(&["sp", "cert", "status", "--json"])).unwrap();
    let a = &status["adoption"];
    assert_eq!(a["machines"], 2);
    assert_eq!(a["machines_seen_successor"], 1);
    assert_eq!(
        a["tenants_seen_successor"], 0,
        "one of acme's two machines has not"
    );
    let text = w.sp.ok(&["sp", "cert", "status"]);
    assert!(
        text.contains("0 of 1 tenants have seen the successor (1 of 2 machines)"),
        "{text}"
    );
    late.ok(&["tenant", "check", "sp"]);
    let text = w.sp.ok(&["sp", "cert", "status"]);
    assert!(
        text.contains("1 of 1 tenants have seen the successor (2 of 2 machines)"),
        "{text}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&w.sp.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    for m in shown["machines"].as_array().unwrap() {
        assert_eq!(m["confirmed_sha256"], now.sha256.as_str());
        assert_eq!(m["confirmed_current"], true);
        assert_eq!(m["successor_sha256"], next.sha256.as_str());
    }
}
