//! Hostile clients against the real gateway: each attack runs while a good tenant keeps using
//! its tunnel, and the gateway's memory is read before and after.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::gateway_util::*;
use crate::util::{Env, openssl};

/// Resident memory of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    crate::util::proc_status_kib(pid, "VmRSS:")
}

/// The good tenant: one tunnel, 64 KiB echoed intact.
async fn good_tenant_is_served(addr: SocketAddr, pin: [u8; 32], id: &ClientIdentity) {
    let data: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let stream = tunnel(addr, pin, Some(id), "echo")
        .await
        .unwrap_or_else(|r| panic!("the good tenant was refused: {} {}", r.status, r.json));
    assert_eq!(echo_roundtrip(stream, data.clone()).await, data);
}

/// Waits until the peer closes `stream` (EOF or reset), writing `trickle` one byte at a time
/// every `every` until then. Returns how many bytes were written before the close.
async fn trickle_until_closed<S>(stream: &mut S, trickle: &[u8], every: Duration) -> usize
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = [0u8; 1024];
    for (i, b) in trickle.iter().cycle().enumerate() {
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) | Err(_) => return i,
                Ok(_) => {}
            },
            () = tokio::time::sleep(every) => {
                if stream.write_all(&[*b]).await.is_err() || stream.flush().await.is_err() {
                    return i;
                }
            }
        }
    }
    unreachable!("cycle never ends")
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_before_and_after_the_handshake_is_cut_off() {
    let env = Env::new();
    std::fs::write(
        env.path("gw.toml"),
        "handshake_timeout_secs = 2\nheader_timeout_secs = 2\n",
    )
    .unwrap();
    let (gw, pin, id) =
        gateway_with_enrolled_tenant(&env, &["--config", env.path("gw.toml").to_str().unwrap()])
            .await;
    let before = rss_kib(gw.child.id());
    let addr = gw.addr;
    let mut attackers = Vec::new();
    for _ in 0..25 {
        // Before the handshake: a TLS record header and a ClientHello, one byte every 200 ms.
        attackers.push(tokio::spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            let hello = [
                0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
            ];
            trickle_until_closed(&mut tcp, &hello, Duration::from_millis(200)).await
        }));
        // After the head: an enrollment body, one byte every 200 ms.
        attackers.push(tokio::spawn(async move {
            let (mut tls, _) = connect(addr, Some(pin), None).await.unwrap();
            tls.write_all(b"POST /v1/enroll HTTP/1.1\r\nHost: sp\r\nAuthorization: Basic YWNtZTp4\r\nContent-Length: 4000\r\n\r\n")
                .await
                .unwrap();
            trickle_until_closed(&mut tls, b"{\"client_cert_pem\": \"", Duration::from_millis(200)).await
        }));
        // After the handshake: a request head, one byte every 200 ms.
        attackers.push(tokio::spawn(async move {
            let (mut tls, _) = connect(addr, Some(pin), None).await.unwrap();
            let head = b"GET /v1/provider HTTP/1.1\r\nHost: sp\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            trickle_until_closed(&mut tls, head, Duration::from_millis(200)).await
        }));
    }
    // The good tenant keeps working while they trickle.
    for _ in 0..5 {
        good_tenant_is_served(addr, pin, &id).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for a in attackers {
        let written = tokio::time::timeout(Duration::from_secs(30), a)
            .await
            .expect("every slow client is cut off by a deadline")
            .unwrap();
        // 2 s at 5 bytes a second, with slack for a loaded machine; never the whole stream.
        assert!(
            written < 60,
            "a slow client wrote {written} bytes before the cut"
        );
    }
    good_tenant_is_served(addr, pin, &id).await;
    let after = rss_kib(gw.child.id());
    assert!(
        after < before + 32 * 1024,
        "resident memory grew from {before} KiB to {after} KiB"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_silent_connections_from_one_address_leaves_other_tenants_served() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let gw = GatewayProc::start(
        &env,
        &[
            "--max-connections-per-address",
            "50",
            "--handshake-timeout",
            "60",
        ],
    );
    let pin = applied_pin(&env);
    let before = rss_kib(gw.child.id());
    // 300 connections from 127.0.0.1 that never send a byte (the attacker's share is 50).
    let mut flood = Vec::new();
    for _ in 0..300 {
        flood.push(TcpStream::connect(gw.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The 51st and later were closed at once: count the ones the gateway closed.
    let mut closed = 0;
    for c in &mut flood {
        let mut b = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(20), c.read(&mut b)).await
        {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 250,
        "the gateway should hold 50 of 300 silent connections"
    );
    // A tenant on another address enrolls and tunnels as if nothing happened.
    let id = ClientIdentity::new("acme");
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
    let (tls, _) = connect_from(Some("127.0.0.2"), gw.addr, Some(pin), Some(&id))
        .await
        .unwrap();
    let stream = tunnel_over(tls, "echo")
        .await
        .unwrap_or_else(|r| panic!("{}", r.json));
    assert_eq!(
        echo_roundtrip(stream, b"still here".to_vec()).await,
        b"still here"
    );
    // When the flood goes away, 127.0.0.1 is served again.
    drop(flood);
    tokio::time::sleep(Duration::from_millis(500)).await;
    good_tenant_is_served(gw.addr, pin, &id).await;
    let after = rss_kib(gw.child.id());
    assert!(after < before + 32 * 1024, "{before} KiB -> {after} KiB");
}

/// Sends raw bytes on a fresh pinned TLS connection and returns the status code of the answer,
/// or `None` when the gateway closed without one.
async fn raw_status(addr: SocketAddr, pin: [u8; 32], request: &[u8]) -> Option<u16> {
    let (mut tls, _) = connect(addr, Some(pin), None).await.unwrap();
    // The gateway may answer and close before reading everything: a failed write is fine.
    let _ = tls.write_all(request).await;
    let _ = tls.flush().await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), tls.read_to_end(&mut answer))
        .await
        .expect("the gateway answers or closes");
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_malformed_requests_are_refused_and_the_gateway_keeps_serving() {
    let env = Env::new();
    let (gw, pin, id) = gateway_with_enrolled_tenant(&env, &[]).await;
    let before = rss_kib(gw.child.id());
    let big_header = format!(
        "GET /v1/provider HTTP/1.1\r\nHost: sp\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let many_headers = format!(
        "GET /v1/provider HTTP/1.1\r\nHost: sp\r\n{}\r\n",
        (0..2000)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect::<String>()
    );
    let long_uri = format!(
        "GET /v1/{} HTTP/1.1\r\nHost: sp\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let chunked_flood = format!(
        "POST /v1/enroll HTTP/1.1\r\nHost: sp\r\nAuthorization: Basic YWNtZTp4\r\nTransfer-Encoding: chunked\r\n\r\n{}",
        ("4000\r\n".to_string() + &"a".repeat(0x4000) + "\r\n").repeat(8) + "0\r\n\r\n"
    );
    let bad_chunks = "POST /v1/enroll HTTP/1.1\r\nHost: sp\r\nAuthorization: Basic YWNtZTp4\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n";
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("a 20 KiB header", big_header.into_bytes(), &[431]),
        ("2000 headers", many_headers.into_bytes(), &[431]),
        ("a 20 KiB URI", long_uri.into_bytes(), &[414, 431]),
        ("binary garbage", b"\x00\x01\x02binary\xff\r\n\r\n".to_vec(), &[400]),
        ("a bad header name", b"GET /v1/provider HTTP/1.1\r\nBad Header: x\r\n\r\n".to_vec(), &[400]),
        ("an HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), &[0, 400, 505]),
        ("HTTP/0.9", b"GET /v1/provider\r\n\r\n".to_vec(), &[400, 505]),
        (
            "Content-Length and Transfer-Encoding together",
            b"POST /v1/enroll HTTP/1.1\r\nHost: sp\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            &[400, 401],
        ),
        (
            "two different Content-Lengths",
            b"POST /v1/enroll HTTP/1.1\r\nHost: sp\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd".to_vec(),
            &[400],
        ),
        (
            "a 10 MB Content-Length",
            b"POST /v1/enroll HTTP/1.1\r\nHost: sp\r\nAuthorization: Basic YWNtZTp4\r\nContent-Length: 10000000\r\n\r\n{".to_vec(),
            &[413],
        ),
        ("a 128 KiB chunked body", chunked_flood.into_bytes(), &[413]),
        ("a chunk size that is not hex", bad_chunks.as_bytes().to_vec(), &[400]),
        (
            "a Basic header that is not base64",
            b"POST /v1/enroll HTTP/1.1\r\nHost: sp\r\nAuthorization: Basic !!!\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
            &[401],
        ),
        (
            "a path that walks up",
            b"GET /v1/tunnel/../../etc/passwd HTTP/1.1\r\nHost: sp\r\n\r\n".to_vec(),
            &[401, 404],
        ),
        (
            "CONNECT to an address",
            b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n".to_vec(),
            &[400, 404],
        ),
    ];
    let mut wrong = Vec::new();
    for (what, bytes, expected) in &cases {
        // 0 stands for "closed without an answer", a fine refusal of what is not HTTP/1.1.
        let status = raw_status(gw.addr, pin, bytes).await.unwrap_or(0);
        if !expected.contains(&status) {
            wrong.push(format!(
                "{what}: expected one of {expected:?}, got {status}"
            ));
        }
        good_tenant_is_served(gw.addr, pin, &id).await;
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let after = rss_kib(gw.child.id());
    assert!(after < before + 32 * 1024, "{before} KiB -> {after} KiB");
    let log = std::fs::read_to_string(env.path("gateway.log")).unwrap();
    assert!(!log.contains("panicked"), "{log}");
}

/// Makes a certificate and PKCS#8 key with openssl; `extra` are `openssl req` arguments.
fn openssl_identity(env: &Env, name: &str, extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let key = env.path(&format!("{name}.key"));
    let cert = env.path(&format!("{name}.der"));
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        cert.to_str().unwrap(),
        "-subj",
        "/CN=hostile",
        "-days",
        "30",
    ];
    args.extend_from_slice(extra);
    openssl(&args);
    let pkcs8 = env.path(&format!("{name}.p8"));
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        key.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        pkcs8.to_str().unwrap(),
    ]);
    (std::fs::read(cert).unwrap(), std::fs::read(pkcs8).unwrap())
}

/// Opens a TLS connection presenting `client` and asks for `GET /v1/tenant`; the status, or
/// `None` when the handshake or the connection failed.
async fn whoami_presenting(
    addr: SocketAddr,
    pin: [u8; 32],
    client: Arc<FixedClientCert>,
) -> Option<u16> {
    let (mut tls, _) = connect_presenting(None, addr, Some(pin), Some(client))
        .await
        .ok()?;
    tls.write_all(b"GET /v1/tenant HTTP/1.1\r\nHost: sp\r\n\r\n")
        .await
        .ok()?;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), tls.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_that_are_expired_ca_or_without_their_key_are_refused() {
    let env = Env::new();
    let (gw, pin, id) = gateway_with_enrolled_tenant(&env, &[]).await;

    // The enrolled certificate presented with another key: the handshake signature fails.
    let other = ClientIdentity::new("thief");
    let stolen = FixedClientCert::new(&id.cert_der, &other.key_der);
    assert_eq!(whoami_presenting(gw.addr, pin, stolen).await, None);

    // Expired (valid 30 days, made 60 days ago).
    let old = cloudgate_pki::generate_self_signed(&cloudgate_pki::SelfSignedRequest {
        key_type: cloudgate_pki::KeyType::EcdsaP256,
        subject: cloudgate_pki::dn::SubjectName::parse("CN=expired").unwrap(),
        sans: vec![],
        valid_days: 30,
        now: time::OffsetDateTime::now_utc() - time::Duration::days(60),
    })
    .unwrap();
    let expired = FixedClientCert::new(&old.cert_der, &old.key_pkcs8_der);
    assert_eq!(whoami_presenting(gw.addr, pin, expired).await, None);

    // A CA certificate, made by openssl.
    let (ca_cert, ca_key) = openssl_identity(
        &env,
        "ca",
        &["-addext", "basicConstraints=critical,CA:TRUE"],
    );
    let ca = FixedClientCert::new(&ca_cert, &ca_key);
    assert_eq!(whoami_presenting(gw.addr, pin, ca).await, None);

    // The same kind of openssl certificate without CA:TRUE completes the handshake (so the
    // refusals above are about what they claim) and is simply not enrolled.
    let (leaf_cert, leaf_key) = openssl_identity(
        &env,
        "leaf",
        &["-addext", "basicConstraints=critical,CA:FALSE"],
    );
    let leaf = FixedClientCert::new(&leaf_cert, &leaf_key);
    assert_eq!(whoami_presenting(gw.addr, pin, leaf).await, Some(401));

    // The real tenant is served throughout, and its own certificate still says who it is.
    let real = FixedClientCert::new(&id.cert_der, &id.key_der);
    assert_eq!(whoami_presenting(gw.addr, pin, real).await, Some(200));
    good_tenant_is_served(gw.addr, pin, &id).await;
    let log = std::fs::read_to_string(env.path("gateway.log")).unwrap();
    assert!(log.contains("TLS handshake failed"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tunnels_go_only_to_the_tenants_own_configured_services() {
    let env = Env::new();
    let (gw, pin, id) = gateway_with_enrolled_tenant(&env, &[]).await;
    // Another tenant with a service of its own.
    add_tenant(&env, "other");
    let other_backend = echo_backend().await;
    env.ok(&[
        "sp",
        "tenant",
        "service",
        "add",
        "other",
        "vault",
        &other_backend.to_string(),
    ]);
    gw.reload().await;
    let ssh = "127.0.0.1:22".to_string();
    let backend = other_backend.to_string();
    for service in [
        "vault",
        ssh.as_str(),
        backend.as_str(),
        "echo%2F..%2Fvault",
        "ECHO",
        "echo/",
    ] {
        let r = refused(tunnel(gw.addr, pin, Some(&id), service).await);
        assert_eq!(r.status, 404, "{service}: {}", r.json);
    }
    good_tenant_is_served(gw.addr, pin, &id).await;
}
