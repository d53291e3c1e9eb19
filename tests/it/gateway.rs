//! The gateway end to end over real loopback TCP: the real binary, a tenant client built on the
//! same pinning verifier tenants use, and openssl.

use std::time::{Duration, Instant};

use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::gateway_util::*;
use crate::util::{Env, openssl};

#[tokio::test]
async fn openssl_sees_tls13_and_the_applied_certificate() {
    let env = Env::new();
    env.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "rsa-2048",
        "--apply",
    ]);
    let gw = GatewayProc::start(&env, &[]);
    let c: crate::util::CertJson =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    let addr = gw.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &addr,
                "-tls1_3",
                "-showcerts",
                "-alpn",
                "http/1.1",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Protocol  : TLSv1.3") || text.contains("New, TLSv1.3"),
        "{text}"
    );
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
    let pem_start = text.find("-----BEGIN CERTIFICATE-----").unwrap();
    let pem_end =
        text.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
    std::fs::write(env.path("served.pem"), &text[pem_start..pem_end]).unwrap();
    let fp = openssl(&[
        "x509",
        "-in",
        env.path("served.pem").to_str().unwrap(),
        "-noout",
        "-fingerprint",
        "-sha1",
    ]);
    assert!(fp.replace(':', "").contains(&c.thumbprint), "{fp}");
    // TLS 1.1 and older are refused.
    let addr = gw.addr.to_string();
    let old = tokio::task::spawn_blocking(move || {
        std::process::Command::new("openssl")
            .args(["s_client", "-connect", &addr, "-tls1_1"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let old_text = String::from_utf8_lossy(&old.stdout);
    assert!(
        !old.status.success() || old_text.contains("Cipher is (NONE)"),
        "TLS 1.1 must fail: {old_text}"
    );
}

#[tokio::test]
async fn provider_data_is_public_and_names_the_certificate() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let gw = GatewayProc::start(&env, &[]);
    let pin = applied_pin(&env);
    let r = request(gw.addr, pin, None, "GET", "/v1/provider", None, None).await;
    assert_eq!(r.status, 200);
    let c: crate::util::CertJson =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    assert_eq!(r.json["certificate"]["thumbprint"], c.thumbprint.as_str());
    assert_eq!(r.json["certificate"]["sha256"], c.sha256.as_str());
    assert_eq!(r.json["certificate"]["spki_sha256"], c.spki_sha256.as_str());
    let r = request(gw.addr, pin, None, "GET", "/nope", None, None).await;
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn enrollment_checks_the_password_and_binds_the_presented_certificate() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let gw = GatewayProc::start(&env, &[]);
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme-backup");

    let r = enroll(gw.addr, pin, &id, "acme", "wrong password").await;
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    let r = enroll(gw.addr, pin, &id, "nobody", TENANT_PASSWORD).await;
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    // A certificate in the body that the handshake did not present is refused.
    let other = ClientIdentity::new("other");
    let r = request(
        gw.addr,
        pin,
        Some(&id),
        "POST",
        "/v1/enroll",
        Some(("acme", TENANT_PASSWORD)),
        Some(serde_json::json!({ "client_cert_pem": other.pem() })),
    )
    .await;
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (400, Some("certificate_mismatch"))
    );
    // No credentials at all.
    let r = request(
        gw.addr,
        pin,
        Some(&id),
        "POST",
        "/v1/enroll",
        None,
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (401, Some("credentials_required"))
    );

    let r = enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["tenant"], "acme");
    assert_eq!(r.json["services"], serde_json::json!(["echo"]));
    let expected = cloudgate_pki::fingerprint::upper_hex(&sha2::Sha256::digest(&id.cert_der));
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    assert_eq!(shown["machines"][0]["sha256"], expected.as_str());
    // The gateway log names the tenant and never the password.
    let log = std::fs::read_to_string(env.path("gateway.log")).unwrap();
    assert!(log.contains("tenant enrolled") && log.contains("acme"));
    assert!(
        !log.contains(TENANT_PASSWORD) && !log.contains("wrong password"),
        "{log}"
    );
}

#[tokio::test]
async fn a_disabled_tenant_can_neither_enroll_nor_tunnel() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let gw = GatewayProc::start(&env, &[]);
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme");
    assert_eq!(
        enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD)
            .await
            .status,
        200
    );
    env.ok(&["sp", "tenant", "disable", "acme"]);
    gw.reload().await;
    let r = enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD).await;
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (403, Some("tenant_disabled"))
    );
    let r = refused(tunnel(gw.addr, pin, Some(&id), "echo").await);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (403, Some("tenant_disabled"))
    );
    env.ok(&["sp", "tenant", "enable", "acme"]);
    gw.reload().await;
    assert!(tunnel(gw.addr, pin, Some(&id), "echo").await.is_ok());
}

#[tokio::test]
async fn a_tunnel_carries_100_mib_both_ways_intact() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let gw = GatewayProc::start(&env, &[]);
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme");
    assert_eq!(
        enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD)
            .await
            .status,
        200
    );
    let stream = tunnel(gw.addr, pin, Some(&id), "echo")
        .await
        .map_err(|r| r.json)
        .expect("tunnel");
    let mut data = vec![0u8; 100 * 1024 * 1024];
    let mut x: u64 = 0x1234_5678_9abc_def0;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let sent = sha2::Sha256::digest(&data);
    let back = echo_roundtrip(stream, data).await;
    assert_eq!(back.len(), 100 * 1024 * 1024);
    assert_eq!(
        sha2::Sha256::digest(&back),
        sent,
        "bytes changed on the way"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(env.path("gateway.log")).unwrap();
    assert!(
        log.contains("tunnel closed") && log.contains("bytes_up=104857600"),
        "{log}"
    );
}

#[tokio::test]
async fn unknown_certificates_and_other_tenants_services_are_refused() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    add_tenant(&env, "globex");
    let other_echo = echo_backend().await;
    env.ok(&[
        "sp",
        "tenant",
        "service",
        "add",
        "globex",
        "secret",
        &other_echo.to_string(),
    ]);
    let gw = GatewayProc::start(&env, &[]);
    let pin = applied_pin(&env);
    let acme = ClientIdentity::new("acme");
    assert_eq!(
        enroll(gw.addr, pin, &acme, "acme", TENANT_PASSWORD)
            .await
            .status,
        200
    );

    let stranger = ClientIdentity::new("stranger");
    let r = refused(tunnel(gw.addr, pin, Some(&stranger), "echo").await);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (401, Some("unknown_client_certificate"))
    );
    let r = refused(tunnel(gw.addr, pin, None, "echo").await);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (401, Some("client_certificate_required"))
    );
    let r = refused(tunnel(gw.addr, pin, Some(&acme), "secret").await);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (404, Some("unknown_service"))
    );
    let r = refused(tunnel(gw.addr, pin, Some(&acme), "nonexistent").await);
    assert_eq!(r.status, 404);
    // A revoked certificate is unknown again.
    let sha = cloudgate_pki::fingerprint::upper_hex(&sha2::Sha256::digest(&acme.cert_der));
    env.ok(&["sp", "tenant", "revoke", "acme", &sha]);
    gw.reload().await;
    let r = refused(tunnel(gw.addr, pin, Some(&acme), "echo").await);
    assert_eq!(r.json["code"], "unknown_client_certificate");
}

#[tokio::test]
async fn a_pinned_client_refuses_another_certificate_before_sending_anything() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let gw = GatewayProc::start(&env, &[]);
    let mut wrong = applied_pin(&env);
    wrong[0] ^= 0xFF;
    let Err(err) = connect(gw.addr, Some(wrong), None).await else {
        panic!("expected a pin mismatch")
    };
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .expect("a rustls error");
    let mismatch = cloudgate_pki::verify::pin_mismatch(inner).expect("a pin mismatch");
    assert!(!mismatch.presented.is_empty() && mismatch.expected.contains(':'));
}

#[tokio::test]
async fn hot_reload_switches_the_certificate_and_keeps_open_tunnels() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let gw = GatewayProc::start(&env, &[]);
    let old_pin = applied_pin(&env);
    let id = ClientIdentity::new("acme");
    assert_eq!(
        enroll(gw.addr, old_pin, &id, "acme", TENANT_PASSWORD)
            .await
            .status,
        200
    );
    let mut open = tunnel(gw.addr, old_pin, Some(&id), "echo")
        .await
        .map_err(|r| r.json)
        .unwrap();
    open.write_all(b"before").await.unwrap();
    let mut buf = [0u8; 6];
    open.read_exact(&mut buf).await.unwrap();

    env.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--apply",
        "--force",
    ]);
    let new_pin = applied_pin(&env);
    let started = Instant::now();
    loop {
        let (_, verifier) = connect(gw.addr, None, None).await.unwrap();
        let presented = verifier.presented_chain().unwrap();
        if sha2::Sha256::digest(&presented[0]).as_slice() == new_pin {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the new certificate was not served within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    open.write_all(b"after!").await.unwrap();
    open.read_exact(&mut buf).await.unwrap();
    assert_eq!(
        &buf, b"after!",
        "the tunnel opened before the switch still works"
    );
    assert_eq!(
        request(gw.addr, new_pin, None, "GET", "/v1/provider", None, None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_silent_client_is_cut_off_at_the_handshake_timeout() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let gw = GatewayProc::start(&env, &["--handshake-timeout", "1"]);
    let mut raw = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(10), raw.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(started.elapsed() < Duration::from_secs(5));
    // A well-behaved client is still served.
    assert_eq!(
        request(
            gw.addr,
            applied_pin(&env),
            None,
            "GET",
            "/v1/provider",
            None,
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn the_connection_limit_holds_and_recovers() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let gw = GatewayProc::start(
        &env,
        &["--max-connections", "2", "--handshake-timeout", "30"],
    );
    let a = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let b = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
        .await
        .expect("the third is closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0);
    drop((a, b));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        request(
            gw.addr,
            applied_pin(&env),
            None,
            "GET",
            "/v1/provider",
            None,
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn failed_enrollments_are_throttled_per_source_address() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    std::fs::write(env.path("gw.toml"), "enroll_failures_per_window = 3\n").unwrap();
    let gw = GatewayProc::start(&env, &["--config", env.path("gw.toml").to_str().unwrap()]);
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme");
    for _ in 0..3 {
        assert_eq!(enroll(gw.addr, pin, &id, "acme", "guess").await.status, 401);
    }
    let r = enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD).await;
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (429, Some("too_many_failures"))
    );
    // A tenant on another source address (127.0.0.2) is unaffected.
    let body = serde_json::json!({ "client_cert_pem": id.pem() });
    let r = request_from(
        Some("127.0.0.2"),
        gw.addr,
        pin,
        Some(&id),
        "POST",
        "/v1/enroll",
        Some(("acme", TENANT_PASSWORD)),
        Some(body),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
}

#[tokio::test]
async fn sigterm_stops_the_gateway_with_exit_0() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let mut gw = GatewayProc::start(&env, &[]);
    let status = tokio::task::spawn_blocking(move || gw.stop())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// A gateway that may use one CPU only (started through `taskset`) serves its tunnels from one
/// thread, and everything still works there: an enrollment (its password hash runs on the
/// blocking pool), tunnels, a reload, a stop. Started freely on a machine with more CPUs, it
/// uses the multi-threaded scheduler.
#[tokio::test]
async fn a_gateway_on_one_cpu_runs_on_one_thread_and_serves_everything() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    // The first CPU this test may use (a container's set may not start at 0).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in /proc/self/status");
    let cpu: String = allowed
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let mut gw =
        GatewayProc::start_through(&env, "gateway.log", &[], &[], &["taskset", "-c", &cpu]);
    let log = || std::fs::read_to_string(env.path("gateway.log")).unwrap();
    assert!(
        log().contains(r#"scheduler="one thread" workers=1"#),
        "{}",
        log()
    );
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme");
    let r = enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.json);
    short_tunnels(&gw, pin, &id, 3).await;
    gw.reload().await;
    short_tunnels(&gw, pin, &id, 1).await;
    let status = tokio::task::spawn_blocking(move || gw.stop())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");

    if std::thread::available_parallelism().is_ok_and(|n| n.get() > 1) {
        let mut free = GatewayProc::start_logged(&env, "free.log", &[]);
        let text = std::fs::read_to_string(env.path("free.log")).unwrap();
        assert!(text.contains(r#"scheduler="multi-thread""#), "{text}");
        free.stop();
    }
}

/// A gateway started with `vars`, tenant acme enrolled from one machine: the gateway, its pin
/// and the machine.
async fn gateway_with_a_machine(
    env: &Env,
    vars: &[(&str, &str)],
) -> (GatewayProc, [u8; 32], ClientIdentity) {
    provider_with_tenant(env, "acme").await;
    let gw = GatewayProc::start_with_env(env, "gateway.log", &[], vars);
    let pin = applied_pin(env);
    let id = ClientIdentity::new("acme");
    let r = enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.json);
    (gw, pin, id)
}

/// `count` tunnels one after the other, each carrying one echo and closed.
async fn short_tunnels(gw: &GatewayProc, pin: [u8; 32], id: &ClientIdentity, count: u8) {
    for i in 0..count {
        let stream = tunnel(gw.addr, pin, Some(id), "echo")
            .await
            .map_err(|r| r.json)
            .expect("tunnel");
        assert_eq!(echo_roundtrip(stream, vec![i; 16]).await, vec![i; 16]);
    }
}

/// Access lines ("tunnel closed") are written in batches: they reach the log within a moment,
/// after the lines logged before them, and a stop writes what still waits.
#[tokio::test]
async fn access_lines_reach_the_log_soon_and_a_stop_writes_what_waits() {
    let env = Env::new();
    let (mut gw, pin, id) = gateway_with_a_machine(&env, &[]).await;
    let log = || std::fs::read_to_string(env.path("gateway.log")).unwrap();
    let closed = |text: &str| text.matches("tunnel closed").count();

    // One tunnel: its line arrives on its own within a second (the batch waits 0.1 s).
    short_tunnels(&gw, pin, &id, 1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while closed(&log()) == 0 {
        assert!(Instant::now() < deadline, "no access line: {}", log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = log();
    assert!(
        text.find("tenant enrolled") < text.find("tunnel closed"),
        "out of order: {text}"
    );

    // Twenty more, and the gateway stopped at once: every line is in the log after the stop.
    short_tunnels(&gw, pin, &id, 20).await;
    let status = tokio::task::spawn_blocking(move || gw.stop())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(closed(&log()), 21, "{}", log());
}

/// With a batch delay longer than the test, access lines wait for the stop: it writes them all.
#[tokio::test]
async fn a_stop_writes_the_access_lines_that_wait() {
    let env = Env::new();
    let (mut gw, pin, id) =
        gateway_with_a_machine(&env, &[("CLOUDGATE_LOG_BATCH_MS", "60000")]).await;
    short_tunnels(&gw, pin, &id, 5).await;
    // Each line is logged a moment after its tunnel's last byte; written one by one (the
    // default-delay test above sees its line within 0.1 s), all five would be in the log by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = || std::fs::read_to_string(env.path("gateway.log")).unwrap();
    let before = log();
    assert!(
        before.contains("tenant enrolled"),
        "not an access line: {before}"
    );
    assert!(!before.contains("tunnel closed"), "did not wait: {before}");
    let status = tokio::task::spawn_blocking(move || gw.stop())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(log().matches("tunnel closed").count(), 5, "{}", log());
}

#[test]
fn an_unusable_batch_delay_is_refused_before_the_gateway_starts() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["sp", "gateway", "run", "--listen", "127.0.0.1:0"])
        .env("CLOUDGATE_LOG_BATCH_MS", "1s")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CLOUDGATE_LOG_BATCH_MS") && err.contains("milliseconds"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "it listened: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_error() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let e = env.fails(&["sp", "gateway", "run", "--listen", &addr], 1);
    assert!(
        e.contains("another process uses this port") && e.contains(&addr),
        "{e}"
    );
    let e = env.fails(&["sp", "gateway", "run", "--listen", "not-an-address"], 2);
    assert!(e.contains("is not PORT, ADDR:PORT or [IPv6]:PORT"), "{e}");
}

#[tokio::test]
async fn first_start_without_a_certificate_generates_and_applies_one() {
    let env = Env::new();
    let gw = GatewayProc::start(&env, &[]);
    let current: crate::util::CertJson =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    assert_eq!(current.key_type, "rsa-2048");
    let log = std::fs::read_to_string(env.path("gateway.log")).unwrap();
    assert!(
        log.contains(&current.thumbprint),
        "the log names the new thumbprint: {log}"
    );
    assert_eq!(
        request(
            gw.addr,
            applied_pin(&env),
            None,
            "GET",
            "/v1/provider",
            None,
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn the_sample_configuration_is_valid_and_slow_headers_are_cut_off() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    // The shipped sample parses (with its listen address replaced by a free port).
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dist/gateway.toml")).unwrap();
    let sample = sample
        .replace("listen = \"[::]:6180\"", "listen = \"127.0.0.1:0\"")
        .replace("header_timeout_secs = 10", "header_timeout_secs = 1");
    std::fs::write(env.path("gw.toml"), sample).unwrap();
    let gw = GatewayProc::start(&env, &["--config", env.path("gw.toml").to_str().unwrap()]);
    let pin = applied_pin(&env);
    let (mut tls, _) = connect(gw.addr, Some(pin), None).await.unwrap();
    tls.write_all(b"GET /v1/provider HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut buf))
        .await
        .expect("closed in time");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        request(gw.addr, pin, None, "GET", "/v1/provider", None, None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn an_oversized_enrollment_body_is_refused() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let gw = GatewayProc::start(&env, &[]);
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme");
    let huge = "A".repeat(200 * 1024);
    let r = request(
        gw.addr,
        pin,
        Some(&id),
        "POST",
        "/v1/enroll",
        Some(("acme", TENANT_PASSWORD)),
        Some(serde_json::json!({ "client_cert_pem": huge })),
    )
    .await;
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (413, Some("body_too_large"))
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let gw = GatewayProc::start(&env, &["--log-format", "json"]);
    let _ = request(
        gw.addr,
        applied_pin(&env),
        None,
        "GET",
        "/v1/provider",
        None,
        None,
    )
    .await;
    drop(gw);
    let log = std::fs::read_to_string(env.path("gateway.log")).unwrap();
    assert!(log.lines().count() >= 1);
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
}

#[tokio::test]
async fn a_connection_serves_one_request_so_idle_clients_cannot_hold_slots() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let gw = GatewayProc::start(&env, &[]);
    let (mut tls, _) = connect(gw.addr, Some(applied_pin(&env)), None)
        .await
        .unwrap();
    tls.write_all(b"GET /v1/provider HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    // The gateway answers and closes; the read ends without the client closing first.
    tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut buf))
        .await
        .expect("closed after one answer")
        .ok();
    assert!(
        String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
}

#[tokio::test]
async fn the_metrics_endpoint_reports_the_series() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = GatewayProc::start(&env, &["--metrics", &free.to_string()]);
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme");
    assert_eq!(enroll(gw.addr, pin, &id, "acme", "wrong").await.status, 401);
    assert_eq!(
        enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD)
            .await
            .status,
        200
    );
    let stream = tunnel(gw.addr, pin, Some(&id), "echo")
        .await
        .map_err(|r| r.json)
        .unwrap();
    assert_eq!(echo_roundtrip(stream, vec![7u8; 1000]).await.len(), 1000);
    let _ = refused(tunnel(gw.addr, pin, Some(&id), "nope").await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut tcp = tokio::net::TcpStream::connect(free).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    tcp.read_to_string(&mut body).await.unwrap();
    for series in [
        "cloudgate_certificate_expiry_seconds ",
        "cloudgate_tunnels_open 0",
        "cloudgate_tunnels_total{outcome=\"opened\"} 1",
        "cloudgate_tunnels_total{outcome=\"refused\"} 1",
        "cloudgate_handshakes_total{outcome=\"ok\"}",
        "cloudgate_enrollments_total{outcome=\"ok\"} 1",
        "cloudgate_enrollments_total{outcome=\"bad_credentials\"} 1",
        "cloudgate_relayed_bytes_total{direction=\"up\"} 1000",
        "cloudgate_relayed_bytes_total{direction=\"down\"} 1000",
        "cloudgate_connections_refused_total 0",
    ] {
        assert!(body.contains(series), "missing {series:?} in:\n{body}");
    }
    // Not on the tenant-facing port.
    assert_eq!(
        request(gw.addr, pin, None, "GET", "/metrics", None, None)
            .await
            .status,
        404
    );
}
