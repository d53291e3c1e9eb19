//! The tenant side end to end with two data directories (SP and tenant) and the real binary.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

use crate::gateway_util::*;
use crate::util::{CertJson, Env};

struct World {
    sp: Env,
    tenant: Env,
    gw: GatewayProc,
    pw: std::path::PathBuf,
}

async fn world() -> World {
    let sp = Env::new();
    provider_with_tenant(&sp, "acme").await;
    let gw = GatewayProc::start(&sp, &[]);
    let tenant = Env::new();
    let pw = tenant.path("pw");
    std::fs::write(&pw, format!("{TENANT_PASSWORD}\n")).unwrap();
    World { sp, tenant, gw, pw }
}

fn current(sp: &Env) -> CertJson {
    serde_json::from_str(&sp.ok(&["sp", "cert", "current", "--json"])).unwrap()
}

impl World {
    fn add(&self, extra: &[&str]) -> std::process::Output {
        let addr = self.gw.addr.to_string();
        let mut args = vec![
            "tenant",
            "provider",
            "add",
            addr.as_str(),
            "--username",
            "acme",
            "--password-file",
            self.pw.to_str().unwrap(),
            "--name",
            "sp",
        ];
        args.extend_from_slice(extra);
        self.tenant.run(&args)
    }

    fn providers(&self) -> serde_json::Value {
        serde_json::from_str(&self.tenant.ok(&["tenant", "provider", "list", "--json"])).unwrap()
    }

    fn sp_enrollments(&self) -> usize {
        let v: serde_json::Value =
            serde_json::from_str(&self.sp.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
        v["machines"].as_array().unwrap().len()
    }
}

#[tokio::test]
async fn add_with_the_sha1_thumbprint_then_show_and_check() {
    let w = world().await;
    let c = current(&w.sp);
    let out = w.add(&["--thumbprint", &c.thumbprint]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("Thumbprint: {}", c.thumbprint)),
        "the presented certificate is shown: {stderr}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&w.tenant.ok(&["tenant", "provider", "show", "sp", "--json"]))
            .unwrap();
    for field in [
        "name",
        "address",
        "port",
        "thumbprint",
        "sha256",
        "spki_sha256",
        "first_seen",
        "last_seen",
        "username",
        "services",
    ] {
        assert!(!shown[field].is_null(), "missing {field}: {shown}");
    }
    assert_eq!(shown["thumbprint"], c.thumbprint.as_str());
    assert_eq!(shown["sha256"], c.sha256.as_str());
    assert_eq!(shown["spki_sha256"], c.spki_sha256.as_str());
    assert_eq!(shown["services"], serde_json::json!(["echo"]));
    assert_eq!(w.sp_enrollments(), 1);
    let report: serde_json::Value =
        serde_json::from_str(&w.tenant.ok(&["tenant", "check", "sp", "--json"])).unwrap();
    assert_eq!(report["username"], "acme");
    // The client key is owner-only.
    use std::os::unix::fs::PermissionsExt;
    let keys: Vec<_> = std::fs::read_dir(w.tenant.data.join("tenant-keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        std::fs::metadata(&keys[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn add_with_a_pasted_sha256_and_with_accept_new() {
    let w = world().await;
    let c = current(&w.sp);
    let colons: String = c
        .sha256
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let out = w.add(&["--thumbprint", &format!("\u{200E}{colons}")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    w.tenant.ok(&["tenant", "provider", "remove", "sp"]);
    let out = w.add(&["--accept-new"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("without verification"));
}

#[tokio::test]
async fn a_wrong_thumbprint_exits_3_saves_nothing_and_sends_nothing() {
    let w = world().await;
    let other = "00".repeat(20);
    let out = w.add(&["--thumbprint", &other]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not match the thumbprint you gave")
    );
    assert_eq!(w.providers(), serde_json::json!([]));
    assert_eq!(w.sp_enrollments(), 0, "the gateway saw no enrollment");
    let log = std::fs::read_to_string(w.sp.path("gateway.log")).unwrap();
    assert!(!log.contains("enroll"), "{log}");
}

#[tokio::test]
async fn a_wrong_password_exits_4_and_saves_nothing() {
    let w = world().await;
    std::fs::write(&w.pw, "not the password\n").unwrap();
    let c = current(&w.sp);
    let out = w.add(&["--thumbprint", &c.thumbprint]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(w.providers(), serde_json::json!([]));
    assert!(
        !w.tenant.data.join("tenant-keys").exists()
            || std::fs::read_dir(w.tenant.data.join("tenant-keys"))
                .unwrap()
                .count()
                == 0
    );
}

#[tokio::test]
async fn verification_is_required_without_a_terminal_and_bad_addresses_are_refused() {
    let w = world().await;
    let out = w.add(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--thumbprint"));
    let e = w.tenant.fails(
        &[
            "tenant",
            "provider",
            "add",
            "bad address",
            "--username",
            "acme",
            "--accept-new",
        ],
        2,
    );
    assert!(e.contains("HOST:PORT"), "{e}");
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let e = w.tenant.fails(
        &[
            "tenant",
            "provider",
            "add",
            &free,
            "--username",
            "acme",
            "--accept-new",
        ],
        1,
    );
    assert!(e.contains("cannot reach"), "{e}");
    w.tenant.fails(&["tenant", "check", "nosuch"], 2);
}

#[tokio::test]
async fn a_tunnel_carries_data_intact_then_a_changed_certificate_is_a_hard_failure() {
    let w = world().await;
    let c = current(&w.sp);
    assert!(w.add(&["--thumbprint", &c.thumbprint]).status.success());
    let (mut child, local) = start_tenant_tunnel(&w.tenant, true);
    for round in 0..3 {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + round) as u8).collect();
        let stream = tokio::net::TcpStream::connect(local).await.unwrap();
        let back = echo_roundtrip(stream, data.clone()).await;
        assert_eq!(back, data, "round {round}");
    }
    let _ = child.kill();
    let _ = child.wait();

    // The SP replaces its certificate: every connection now fails loudly with exit 3.
    w.sp.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--apply",
        "--force",
    ]);
    let new = current(&w.sp);
    w.gw.reload().await;
    let out = w.tenant.run(&["tenant", "check", "sp"]);
    assert_eq!(out.status.code(), Some(3));
    let e = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "CERTIFICATE HAS CHANGED",
        &c.thumbprint,
        &new.thumbprint,
        "first seen",
        "cloudgate tenant provider refresh sp --thumbprint",
    ] {
        assert!(e.contains(needle), "missing {needle:?} in {e}");
    }
    let out = w
        .tenant
        .run(&["tenant", "tunnel", "sp", "echo", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(3));
    // A refresh without the new thumbprint refuses; with it, service is back.
    let out = w.tenant.run(&["tenant", "provider", "refresh", "sp"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = w.tenant.run(&[
        "tenant",
        "provider",
        "refresh",
        "sp",
        "--thumbprint",
        &c.thumbprint,
    ]);
    assert_eq!(out.status.code(), Some(3));
    w.tenant.ok(&[
        "tenant",
        "provider",
        "refresh",
        "sp",
        "--thumbprint",
        &new.thumbprint,
    ]);
    w.tenant.ok(&["tenant", "check", "sp"]);
}

/// A TLS server with its own certificate that records every decrypted byte it receives.
pub(crate) async fn impostor() -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let g = cloudgate_pki::generate_self_signed(&cloudgate_pki::SelfSignedRequest {
        key_type: cloudgate_pki::KeyType::EcdsaP256,
        subject: cloudgate_pki::dn::SubjectName::parse("CN=impostor").unwrap(),
        sans: vec![],
        valid_days: 1,
        now: time::OffsetDateTime::now_utc(),
    })
    .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(cloudgate_pki::verify::TenantClientVerifier::new(&provider))
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(g.cert_der.clone())],
            rustls::pki_types::PrivateKeyDer::Pkcs8(g.key_pkcs8_der.to_vec().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut buf = vec![0u8; 65536];
                    while let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_secs(2), tls.read(&mut buf)).await
                    {
                        if n == 0 {
                            break;
                        }
                        seen.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                }
            });
        }
    });
    (addr, seen)
}

// Multi-threaded: the impostor must keep serving while the test blocks on the tenant process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_man_in_the_middle_never_receives_the_password() {
    let w = world().await;
    let c = current(&w.sp);
    let (mitm, seen) = impostor().await;
    let addr = mitm.to_string();
    let out = w.tenant.run(&[
        "tenant",
        "provider",
        "add",
        &addr,
        "--username",
        "acme",
        "--password-file",
        w.pw.to_str().unwrap(),
        "--thumbprint",
        &c.thumbprint,
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(
        !received.contains("enroll") && !received.to_lowercase().contains("authorization"),
        "{received}"
    );
    assert!(!received.contains(TENANT_PASSWORD));
    assert_eq!(w.providers(), serde_json::json!([]));
}

/// Makes a CA and a `localhost` server certificate it issued; returns (ca.pem, cert.pem, key.pem).
fn ca_and_localhost_cert(
    env: &Env,
    prefix: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use crate::util::openssl;
    let p = |n: &str| env.path(&format!("{prefix}-{n}"));
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        p("ca.key").to_str().unwrap(),
    ]);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        p("ca.key").to_str().unwrap(),
        "-subj",
        &format!("/CN={prefix} Root CA"),
        "-days",
        "30",
        "-out",
        p("ca.pem").to_str().unwrap(),
    ]);
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        p("leaf.key").to_str().unwrap(),
    ]);
    openssl(&[
        "req",
        "-new",
        "-key",
        p("leaf.key").to_str().unwrap(),
        "-subj",
        "/CN=localhost",
        "-out",
        p("leaf.csr").to_str().unwrap(),
    ]);
    std::fs::write(p("leaf.ext"), "basicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        p("leaf.csr").to_str().unwrap(),
        "-CA",
        p("ca.pem").to_str().unwrap(),
        "-CAkey",
        p("ca.key").to_str().unwrap(),
        "-CAcreateserial",
        "-days",
        "20",
        "-extfile",
        p("leaf.ext").to_str().unwrap(),
        "-out",
        p("leaf.pem").to_str().unwrap(),
    ]);
    (p("ca.pem"), p("leaf.pem"), p("leaf.key"))
}

#[tokio::test]
async fn a_ca_issued_provider_can_be_trusted_through_the_roots_instead_of_a_pin() {
    let sp = Env::new();
    let (ca, leaf, key) = ca_and_localhost_cert(&sp, "good");
    sp.ok(&[
        "sp",
        "cert",
        "import",
        leaf.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--apply",
    ]);
    add_tenant(&sp, "acme");
    let gw = GatewayProc::start(&sp, &[]);
    let tenant = Env::new();
    let pw = tenant.path("pw");
    std::fs::write(&pw, format!("{TENANT_PASSWORD}\n")).unwrap();
    let target = format!("localhost:{}", gw.addr.port());
    let add = |roots: &std::path::Path| {
        tenant
            .cmd()
            .env("SSL_CERT_FILE", roots)
            .args([
                "tenant",
                "provider",
                "add",
                &target,
                "--trust",
                "ca",
                "--username",
                "acme",
                "--password-file",
                pw.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    // Roots that do not include the issuing CA: a trust failure, nothing saved.
    let (other_ca, _, _) = ca_and_localhost_cert(&sp, "other");
    let out = add(&other_ca);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not trusted"));
    // The issuing CA among the roots: added without a thumbprint, and checked the same way later.
    let out = add(&ca);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value =
        serde_json::from_str(&tenant.ok(&["tenant", "provider", "show", &target, "--json"]))
            .unwrap();
    assert_eq!(shown["trust"], "ca");
    let out = tenant
        .cmd()
        .env("SSL_CERT_FILE", &ca)
        .args(["tenant", "check", &target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tenant
        .cmd()
        .env("SSL_CERT_FILE", &other_ca)
        .args(["tenant", "check", &target])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let e = tenant.fails(
        &[
            "tenant",
            "provider",
            "add",
            &target,
            "--trust",
            "ca",
            "--accept-new",
            "--username",
            "x",
        ],
        2,
    );
    assert!(e.contains("--trust pinned"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_the_thumbprint_is_asked_for_and_checked() {
    use expectrl::Expect as _;
    let w = world().await;
    let c = current(&w.sp);
    let run = |answer: String| {
        let bin = assert_cmd::cargo::cargo_bin("cloudgate");
        let addr = w.gw.addr.to_string();
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "'{}' tenant provider add {addr} --name sp --username acme --password-file '{}'; echo \"EXIT=$?\"",
                bin.display(),
                w.pw.display()
            ))
            .env("CLOUDGATE_HOME", &w.tenant.data)
            .env("TERM", "xterm");
        let mut s = expectrl::session::Session::spawn(cmd).unwrap();
        s.set_expect_timeout(Some(Duration::from_secs(30)));
        s.expect("Type yes, or paste the thumbprint you received")
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        s.send(format!("{answer}\r")).unwrap();
        let found = s.expect(expectrl::Regex("EXIT=([0-9]+)")).unwrap();
        std::str::from_utf8(found.get(1).unwrap())
            .unwrap()
            .parse::<i32>()
            .unwrap()
    };
    assert_eq!(
        run("AB".repeat(20)),
        3,
        "a wrong pasted thumbprint is a trust failure"
    );
    assert_eq!(w.providers(), serde_json::json!([]));
    let spaced: String = c
        .thumbprint
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(run(spaced.to_lowercase()), 0);
    assert_eq!(w.providers()[0]["thumbprint"], c.thumbprint.as_str());
}

#[tokio::test]
async fn a_second_connection_resumes_the_tls_session() {
    let w = world().await;
    let c = current(&w.sp);
    assert!(w.add(&["--thumbprint", &c.thumbprint]).status.success());
    let pin = applied_pin(&w.sp);
    let client =
        cloudgate_tenant::GatewayClient::pinned("127.0.0.1", w.gw.addr.port(), vec![pin], None)
            .unwrap();
    // The first request reads the answer, and with it the session ticket.
    assert_eq!(
        client
            .request("GET", "/v1/provider", None, None)
            .await
            .map(|r| r.status)
            .ok(),
        Some(200)
    );
    let first = client.connect().await.map_err(|_| "connect").unwrap();
    assert_eq!(
        first.get_ref().1.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
}

#[tokio::test]
async fn sighup_reloads_at_once() {
    let sp = Env::new();
    provider_with_tenant(&sp, "acme").await;
    let gw = GatewayProc::start(&sp, &["--reload-interval", "3600"]);
    sp.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--apply",
        "--force",
    ]);
    let new_pin = applied_pin(&sp);
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &gw.child.id().to_string()])
        .status();
    let started = std::time::Instant::now();
    loop {
        let client = cloudgate_tenant::GatewayClient::capture("127.0.0.1", gw.addr.port()).unwrap();
        let _ = client.connect().await;
        let presented = client.presented_chain().unwrap();
        if <sha2::Sha256 as sha2::Digest>::digest(&presented[0]).as_slice() == new_pin {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_renewal_with_the_same_key_is_accepted_without_asking() {
    let w = world().await;
    let old = current(&w.sp);
    assert!(w.add(&["--thumbprint", &old.thumbprint]).status.success());
    let before: serde_json::Value =
        serde_json::from_str(&w.tenant.ok(&["tenant", "provider", "show", "sp", "--json"]))
            .unwrap();
    let renewed: CertJson = serde_json::from_str(&w.sp.ok(&[
        "sp",
        "cert",
        "renew",
        "--apply",
        "--valid-days",
        "30",
        "--json",
    ]))
    .unwrap();
    assert_eq!(renewed.spki_sha256, old.spki_sha256);
    assert_ne!(renewed.thumbprint, old.thumbprint);
    assert_eq!(renewed.source, "renewed");
    w.gw.reload().await;
    let out = w.tenant.run(&["tenant", "check", "sp"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("renewed (same key)")
            && log.contains(&old.thumbprint)
            && log.contains(&renewed.thumbprint),
        "{log}"
    );
    let after: serde_json::Value =
        serde_json::from_str(&w.tenant.ok(&["tenant", "provider", "show", "sp", "--json"]))
            .unwrap();
    assert_eq!(after["thumbprint"], renewed.thumbprint.as_str());
    assert_eq!(
        after["first_seen"], before["first_seen"],
        "trust is continuous across a renewal"
    );
    // A new key is still a hard failure.
    w.sp.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--apply",
        "--force",
    ]);
    w.gw.reload().await;
    assert_eq!(
        w.tenant.run(&["tenant", "check", "sp"]).status.code(),
        Some(3)
    );
}

#[tokio::test]
async fn the_gateway_warns_before_expiry_and_auto_renews_with_the_same_key() {
    let sp = Env::new();
    sp.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--valid-days",
        "5",
        "--apply",
    ]);
    add_tenant(&sp, "acme");
    let old = current(&sp);
    {
        let gw = GatewayProc::start(&sp, &[]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(gw);
        let log = std::fs::read_to_string(sp.path("gateway.log")).unwrap();
        assert!(
            log.contains("the applied certificate expires in 4 days"),
            "{log}"
        );
        assert_eq!(log.matches("expires in").count(), 1, "warned once: {log}");
    }
    // A tenant pinned to the short-lived certificate.
    let gw = GatewayProc::start(&sp, &[]);
    let tenant = Env::new();
    let pw = tenant.path("pw");
    std::fs::write(&pw, format!("{TENANT_PASSWORD}\n")).unwrap();
    let addr = gw.addr.to_string();
    tenant.ok(&[
        "tenant",
        "provider",
        "add",
        &addr,
        "--name",
        "sp",
        "--username",
        "acme",
        "--password-file",
        pw.to_str().unwrap(),
        "--thumbprint",
        &old.thumbprint,
    ]);
    drop(gw);
    // With --auto-renew 10 the gateway renews at once, applies, and serves the renewal.
    let gw = GatewayProc::start(&sp, &["--auto-renew", "10", "--listen", &addr]);
    let started = std::time::Instant::now();
    loop {
        let now = current(&sp);
        if now.source == "renewed" {
            assert_eq!(now.spki_sha256, old.spki_sha256);
            assert!(
                (4..=5).contains(&now.days_left),
                "the renewal keeps the 5-day lifetime: {}",
                now.days_left
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no auto-renewal"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The store has changed; make the gateway serve it now rather than at its next poll.
    gw.reload().await;
    let out = tenant.run(&["tenant", "check", "sp"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("renewed (same key)"));
    // The renewal (5 days) is inside the 10-day window too: renewed once, not at every check.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(gw);
    let log = std::fs::read_to_string(sp.path("gateway.log")).unwrap();
    assert_eq!(log.matches("auto-renew: renewed").count(), 1, "{log}");
    assert!(log.contains("not renewed again"), "{log}");
    assert_eq!(sp.list().len(), 2, "one renewal in the store");
}

fn add_tenant_machine(w: &World) -> Env {
    let t = Env::new();
    let addr = w.gw.addr.to_string();
    let thumb = current(&w.sp).thumbprint;
    t.ok(&[
        "tenant",
        "provider",
        "add",
        &addr,
        "--name",
        "sp",
        "--username",
        "acme",
        "--password-file",
        w.pw.to_str().unwrap(),
        "--thumbprint",
        &thumb,
    ]);
    t
}

#[tokio::test]
async fn a_staged_rollover_is_followed_by_online_and_offline_tenants() {
    let w = world().await;
    let online = add_tenant_machine(&w);
    let offline = add_tenant_machine(&w);
    let next: CertJson = serde_json::from_str(&w.sp.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p384",
        "--json",
    ]))
    .unwrap();
    w.sp.ok(&["sp", "cert", "stage", &next.thumbprint]);
    w.gw.reload().await;
    let out = online.run(&["tenant", "check", "sp"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("successor announced with a valid rollover proof")
    );

    w.sp.ok(&["sp", "cert", "apply", &next.thumbprint]);
    w.gw.reload().await;
    for (who, tenant) in [("online", &online), ("offline", &offline)] {
        let out = tenant.run(&["tenant", "check", "sp"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{who}: {stderr}");
        assert!(
            stderr.contains("rollover (proof verified)"),
            "{who}: {stderr}"
        );
        let shown: serde_json::Value =
            serde_json::from_str(&tenant.ok(&["tenant", "provider", "show", "sp", "--json"]))
                .unwrap();
        assert_eq!(shown["thumbprint"], next.thumbprint.as_str(), "{who}");
    }
    let audit = std::fs::read_to_string(w.sp.data.join("audit.log")).unwrap();
    assert!(audit.contains("cert.staged"));
    for tenant in [&online, &offline] {
        let audit = std::fs::read_to_string(tenant.data.join("audit.log")).unwrap();
        assert!(
            audit.contains("\"provider.rollover\"") && audit.contains(&next.sha256),
            "{audit}"
        );
    }
}

#[tokio::test]
async fn a_forged_proof_and_a_compromised_switch_need_manual_verification() {
    let w = world().await;
    let tenant = add_tenant_machine(&w);
    // A proof whose signature was tampered with.
    let next: CertJson = serde_json::from_str(&w.sp.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--json",
    ]))
    .unwrap();
    w.sp.ok(&["sp", "cert", "stage", &next.thumbprint]);
    w.sp.ok(&["sp", "cert", "apply", &next.thumbprint]);
    let path = w.sp.data.join("store/rollover.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let last = record["switches"].as_array().unwrap().len() - 1;
    let proof = &mut record["switches"][last]["proof"];
    let sig = proof["signature"].as_str().unwrap().to_string();
    // Change the first base64 character: the signature no longer verifies.
    let first = if sig.starts_with('A') { "B" } else { "A" };
    let flipped = format!("{first}{}", &sig[1..]);
    proof["signature"] = serde_json::Value::String(flipped);
    std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
    // The store has changed; make the gateway serve it now rather than at its next poll.
    w.gw.reload().await;
    let out = tenant.run(&["tenant", "check", "sp"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
    let audit = std::fs::read_to_string(tenant.data.join("audit.log")).unwrap();
    assert!(
        audit.contains("\"provider.refused\"") && audit.contains("\"bad_proof\""),
        "{audit}"
    );

    // The user verifies the new certificate by hand; then a switch marked compromised
    // publishes no proof, and says why.
    tenant.ok(&[
        "tenant",
        "provider",
        "refresh",
        "sp",
        "--thumbprint",
        &next.thumbprint,
    ]);
    let third: CertJson = serde_json::from_str(&w.sp.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--json",
    ]))
    .unwrap();
    w.sp.ok(&["sp", "cert", "apply", &third.thumbprint, "--compromised"]);
    w.gw.reload().await;
    let out = tenant.run(&["tenant", "check", "sp"]);
    assert_eq!(out.status.code(), Some(3));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("compromise of its previous key") && e.contains("HAS CHANGED"),
        "{e}"
    );
    // The manual path still works.
    tenant.ok(&[
        "tenant",
        "provider",
        "refresh",
        "sp",
        "--thumbprint",
        &third.thumbprint,
    ]);
    tenant.ok(&["tenant", "check", "sp"]);
}

#[tokio::test]
async fn stage_at_a_time_switches_by_itself_and_tenants_follow() {
    let w = world().await;
    let tenant = add_tenant_machine(&w);
    let next: CertJson = serde_json::from_str(&w.sp.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--json",
    ]))
    .unwrap();
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    w.sp.ok(&["sp", "cert", "stage", &next.thumbprint, "--at", &at]);
    let e = w.sp.fails(
        &[
            "sp",
            "cert",
            "stage",
            &next.thumbprint,
            "--at",
            "2001-01-01T00:00:00Z",
        ],
        2,
    );
    assert!(e.contains("in the past"), "{e}");
    w.sp.fails(
        &["sp", "cert", "stage", &next.thumbprint, "--at", "tomorrow"],
        2,
    );
    let started = std::time::Instant::now();
    while current(&w.sp).thumbprint != next.thumbprint {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the gateway did not switch"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The store has changed; make the gateway serve it now rather than at its next poll.
    w.gw.reload().await;
    let out = tenant.run(&["tenant", "check", "sp"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("rollover (proof verified)"));
}
