//! The SP's controls over its tenants, from outside, with real gateways and real tunnels: rate
//! limits on a tenant's traffic as a whole (shared by a fleet), tunnel counts (fleet-wide,
//! waited out by the tenant's tunnel), leases (warned of, cutting tunnels on every gateway at
//! the end, restored by an extension), maintenance (refused with the message, drained, other
//! pools unaffected) and the networks a tenant may connect from (enrollment, join tokens and
//! every tunnel).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::gateway_util::*;
use crate::util::Env;

fn audit(env: &Env, event: &str) -> Vec<serde_json::Value> {
    let mut args = vec!["sp", "audit", "list", "--limit", "1000", "--json"];
    if !event.is_empty() {
        args.extend(["--event", event]);
    }
    serde_json::from_str(&env.ok(&args)).unwrap()
}

/// Waits until `f` holds, at most `secs`.
async fn eventually(secs: u64, what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "not within {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pushes data up a tunnel for `secs` seconds while reading the echo; the bytes echoed between
/// the first second and the end (the rate once started).
async fn push(stream: hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>, secs: f64) -> (u64, f64) {
    let (mut r, mut w) = tokio::io::split(stream);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let writer = tokio::spawn(async move {
        let chunk = vec![7u8; 64 * 1024];
        while Instant::now() < deadline {
            if w.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut buf = vec![0u8; 256 * 1024];
    let mut counted = 0u64;
    let mut from: Option<Instant> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, r.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                if started.elapsed() >= Duration::from_secs(1) {
                    from.get_or_insert_with(Instant::now);
                    counted += n as u64;
                }
            }
            _ => break,
        }
    }
    writer.abort();
    let span = from.map_or(0.0, |f| f.elapsed().as_secs_f64());
    (counted, span)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_limit_holds_for_the_tenant_as_a_whole_and_spares_other_tenants() {
    let env = Env::new();
    let (gw, pin, first) = gateway_with_enrolled_tenant(&env, &[]).await;
    let second = ClientIdentity::new("acme");
    assert_eq!(
        enroll(gw.addr, pin, &second, "acme", TENANT_PASSWORD)
            .await
            .status,
        200
    );
    add_tenant(&env, "globex");
    let echo = echo_backend().await;
    env.ok(&[
        "sp",
        "tenant",
        "service",
        "add",
        "globex",
        "echo",
        &echo.to_string(),
    ]);
    let other = ClientIdentity::new("globex");
    assert_eq!(
        enroll(gw.addr, pin, &other, "globex", TENANT_PASSWORD)
            .await
            .status,
        200
    );
    let limit = 4_000_000.0;
    let out = env.ok(&["sp", "tenant", "set", "acme", "--max-upload", "4MB/s"]);
    assert!(out.contains("upload 4MB/s"), "{out}");
    gw.reload().await;

    // Three tunnels of two machines against one limit, and an unlimited tenant beside them.
    let mut pushes = Vec::new();
    for id in [&first, &first, &second] {
        let t = tunnel(gw.addr, pin, Some(id), "echo")
            .await
            .ok()
            .expect("a tunnel");
        pushes.push(tokio::spawn(push(t, 6.0)));
    }
    let free = tunnel(gw.addr, pin, Some(&other), "echo")
        .await
        .ok()
        .expect("a tunnel");
    let free = tokio::spawn(push(free, 6.0));
    let mut total = 0.0;
    for p in pushes {
        let (bytes, span) = p.await.unwrap();
        total += bytes as f64 / span;
    }
    let ratio = total / limit;
    eprintln!("one gateway: {total:.0} B/s for a limit of {limit} ({ratio:.3}x)");
    assert!(
        (0.9..=1.1).contains(&ratio),
        "the tenant's three tunnels together ran at {total:.0} B/s for a limit of {limit} ({ratio:.2}x)"
    );
    let (bytes, span) = free.await.unwrap();
    let free_rate = bytes as f64 / span;
    assert!(
        free_rate > 2.0 * limit,
        "the unlimited tenant ran at only {free_rate:.0} B/s"
    );

    // Lifted: the same tenant is no longer held.
    env.ok(&["sp", "tenant", "set", "acme", "--max-upload", "unlimited"]);
    gw.reload().await;
    let t = tunnel(gw.addr, pin, Some(&first), "echo")
        .await
        .ok()
        .expect("a tunnel");
    let (bytes, span) = push(t, 3.0).await;
    assert!(
        bytes as f64 / span > 2.0 * limit,
        "still limited: {} B/s",
        bytes as f64 / span
    );
    // Bad input is refused with the field named, exit 2, and nothing changes.
    let e = env.fails(&["sp", "tenant", "set", "acme", "--max-upload", "fast"], 2);
    assert!(e.contains("max upload") && e.contains("20MB/s"), "{e}");
    let e = env.fails(
        &[
            "sp",
            "tenant",
            "set",
            "acme",
            "--limit-window",
            "mon-fri 8-18",
        ],
        2,
    );
    assert!(e.contains("time window"), "{e}");
    let e = env.fails(&["sp", "tenant", "set", "nobody", "--max-tunnels", "3"], 2);
    assert!(e.contains("no tenant named"), "{e}");
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    assert!(shown["limits"]["max_upload"].is_null(), "{shown}");
    // One audit entry per change, naming what changed.
    let changes = audit(&env, "tenant.limits");
    assert_eq!(changes.len(), 2, "{changes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_a_tenants_upload_limit() {
    let env = Env::new();
    let (gw_a, pin, m1) = gateway_with_enrolled_tenant(&env, &["--id", "a"]).await;
    let gw_b = GatewayProc::start_logged(&env, "b.log", &["--id", "b"]);
    let m2 = ClientIdentity::new("acme");
    assert_eq!(
        enroll(gw_b.addr, pin, &m2, "acme", TENANT_PASSWORD)
            .await
            .status,
        200
    );
    env.ok(&["sp", "tenant", "set", "acme", "--max-upload", "4MB/s"]);
    gw_a.reload().await;
    gw_b.reload().await;
    let limit = 4_000_000.0;
    let mut pushes = Vec::new();
    for (gw, id) in [(&gw_a, &m1), (&gw_a, &m1), (&gw_b, &m2), (&gw_b, &m2)] {
        let t = tunnel(gw.addr, pin, Some(id), "echo")
            .await
            .ok()
            .expect("a tunnel");
        pushes.push(tokio::spawn(push(t, 8.0)));
    }
    let mut total = 0.0;
    for p in pushes {
        let (bytes, span) = p.await.unwrap();
        total += bytes as f64 / span;
    }
    let ratio = total / limit;
    eprintln!("two gateways: {total:.0} B/s for a limit of {limit} ({ratio:.3}x)");
    assert!(
        (0.85..=1.15).contains(&ratio),
        "two gateways together ran the tenant at {total:.0} B/s for a limit of {limit} ({ratio:.2}x)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_counts_hold_across_two_gateways_and_a_close_frees_a_place() {
    let env = Env::new();
    let (gw_a, pin, m1) = gateway_with_enrolled_tenant(&env, &["--id", "a"]).await;
    let gw_b = GatewayProc::start_logged(&env, "b.log", &["--id", "b"]);
    let m2 = ClientIdentity::new("acme");
    assert_eq!(
        enroll(gw_b.addr, pin, &m2, "acme", TENANT_PASSWORD)
            .await
            .status,
        200
    );
    env.ok(&[
        "sp",
        "tenant",
        "set",
        "acme",
        "--max-tunnels",
        "3",
        "--max-tunnels-per-machine",
        "2",
    ]);
    gw_a.reload().await;
    gw_b.reload().await;

    let a1 = tunnel(gw_a.addr, pin, Some(&m1), "echo")
        .await
        .ok()
        .expect("1st");
    let a2 = tunnel(gw_a.addr, pin, Some(&m1), "echo")
        .await
        .ok()
        .expect("2nd");
    let r = refused(tunnel(gw_a.addr, pin, Some(&m1), "echo").await);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (429, Some("tenant_limit")),
        "{}",
        r.json
    );
    assert!(
        r.json["message"].as_str().unwrap().contains("per machine"),
        "{}",
        r.json
    );
    // The same machine through the other gateway: still its third.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = refused(tunnel(gw_b.addr, pin, Some(&m1), "echo").await);
    assert_eq!(r.json["code"], "tenant_limit", "{}", r.json);
    // The other machine on the other gateway: the tenant's third, then none more.
    let b1 = tunnel(gw_b.addr, pin, Some(&m2), "echo")
        .await
        .ok()
        .expect("3rd");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = refused(tunnel(gw_a.addr, pin, Some(&m2), "echo").await);
    assert_eq!(r.json["code"], "tenant_limit", "{}", r.json);
    assert!(
        r.json["message"].as_str().unwrap().contains("3 tunnels"),
        "{}",
        r.json
    );
    // The open ones are unaffected.
    assert_eq!(echo_roundtrip(b1, vec![5u8; 10_000]).await.len(), 10_000);
    // b1 closed: a place is free for machine 2 on gateway a.
    let mut ok = None;
    eventually(5, "a place after a close", async || {
        ok = tunnel(gw_a.addr, pin, Some(&m2), "echo").await.ok();
        ok.is_some()
    })
    .await;
    drop((a1, a2, ok));
    // Refusals are audited with their reason.
    eventually(10, "the refusal audited", async || {
        audit(&env, "tunnel.refused")
            .iter()
            .any(|e| e["details"]["reason"] == "tenant_limit")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenants_tunnel_waits_for_a_place_under_the_limit_rather_than_failing() {
    let sp = Env::new();
    provider_with_tenant(&sp, "acme").await;
    let gw = GatewayProc::start(&sp, &[]);
    let tenant = tenant_of(&sp, &gw.addr.to_string());
    sp.ok(&["sp", "tenant", "set", "acme", "--max-tunnels", "1"]);
    gw.reload().await;
    let (mut proc, local) = start_tenant_tunnel(&tenant, false);
    let mut first = tokio::net::TcpStream::connect(local).await.unwrap();
    first.write_all(b"one").await.unwrap();
    let mut got = [0u8; 3];
    first.read_exact(&mut got).await.unwrap();
    // The second waits (backing off) while the first holds the only place...
    let second = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(local).await.unwrap();
        s.write_all(b"two").await.unwrap();
        let mut got = [0u8; 3];
        s.read_exact(&mut got).await.map(|_| got)
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !second.is_finished(),
        "the second connection should wait for a place"
    );
    // ...and goes through once it is free.
    drop(first);
    let got = tokio::time::timeout(Duration::from_secs(15), second)
        .await
        .expect("the waiting connection went through")
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"two");
    // The gateway saw a few tries, not a hammering (counted once the audit has them).
    let limited = |sp: &Env| {
        audit(sp, "tunnel.refused")
            .iter()
            .filter(|e| e["details"]["reason"] == "tenant_limit")
            .count()
    };
    eventually(10, "the refusals audited", async || limited(&sp) >= 1).await;
    let tries = limited(&sp);
    assert!((1..=8).contains(&tries), "{tries} refusals in 2 s");
    let _ = proc.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_warned_of_ends_on_every_gateway_and_an_extension_restores_service() {
    let sp = Env::new();
    let (gw_a, pin, id) = gateway_with_enrolled_tenant(&sp, &["--id", "a"]).await;
    let gw_b = GatewayProc::start_logged(&sp, "b.log", &["--id", "b"]);
    let tenant = tenant_of(&sp, &gw_a.addr.to_string());

    // Five days left: the 7-day warning, once.
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::days(5))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    sp.ok(&["sp", "tenant", "set", "acme", "--expires", &soon]);
    eventually(10, "the 7-day warning", async || {
        audit(&sp, "tenant.lease_expiring")
            .iter()
            .any(|e| e["details"]["days_left"] == 7)
    })
    .await;

    // The end, four seconds ahead, with a tunnel open on each gateway.
    let end = time::OffsetDateTime::now_utc() + time::Duration::seconds(4);
    let end_text = end
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    sp.ok(&["sp", "tenant", "set", "acme", "--expires", &end_text]);
    gw_a.reload().await;
    gw_b.reload().await;
    let mut cut = Vec::new();
    for gw in [&gw_a, &gw_b] {
        let t = tunnel(gw.addr, pin, Some(&id), "echo")
            .await
            .ok()
            .expect("a tunnel");
        cut.push(tokio::spawn(async move {
            let (mut r, _w) = tokio::io::split(t);
            let mut buf = [0u8; 16];
            let _ = r.read(&mut buf).await;
            time::OffsetDateTime::now_utc()
        }));
    }
    for c in cut {
        let at = c.await.unwrap();
        let late = (at - end).as_seconds_f64();
        assert!(
            (-0.2..=2.0).contains(&late),
            "cut {late:.2} s after the lease's end"
        );
    }
    let r = refused(tunnel(gw_b.addr, pin, Some(&id), "echo").await);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (403, Some("lease_expired")),
        "{}",
        r.json
    );
    let e = tenant.fails(&["tenant", "check", "sp"], 4);
    assert!(e.contains("lease") && e.contains("extend"), "{e}");

    // Extended: service again, without enrolling.
    sp.ok(&["sp", "tenant", "set", "acme", "--expires", "never"]);
    gw_a.reload().await;
    gw_b.reload().await;
    let t = tunnel(gw_b.addr, pin, Some(&id), "echo")
        .await
        .ok()
        .expect("a tunnel after the extension");
    assert_eq!(echo_roundtrip(t, vec![1u8; 1000]).await.len(), 1000);
    tenant.ok(&["tenant", "check", "sp"]);
    eventually(10, "the end audited", async || {
        !audit(&sp, "tenant.lease_expired").is_empty()
    })
    .await;
    let shown: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    assert!(shown["limits"]["expires_at"].is_null(), "{shown}");
    let e = sp.fails(
        &["sp", "tenant", "set", "acme", "--expires", "31/12/2027"],
        2,
    );
    assert!(e.contains("not a date"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_refuses_new_tunnels_drains_open_ones_and_spares_other_pools() {
    let env = Env::new();
    let (gw_a, pin, id) = gateway_with_enrolled_tenant(&env, &["--id", "a"]).await;
    let gw_b = GatewayProc::start_logged(&env, "b.log", &["--id", "b", "--pool", "other"]);
    let open = tunnel(gw_a.addr, pin, Some(&id), "echo")
        .await
        .ok()
        .expect("a tunnel");
    let out = env.ok(&[
        "sp",
        "maintenance",
        "on",
        "--pool",
        "default",
        "--drain",
        "3s",
        "--until",
        "1h",
        "--message",
        "disk swap",
    ]);
    assert!(out.contains("disk swap"), "{out}");
    let started = Instant::now();
    gw_a.reload().await;
    gw_b.reload().await;
    let r = refused(tunnel(gw_a.addr, pin, Some(&id), "echo").await);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (503, Some("maintenance")),
        "{}",
        r.json
    );
    assert!(
        r.json["message"].as_str().unwrap().contains("disk swap"),
        "{}",
        r.json
    );
    let retry = r.json["retry_after"].as_u64().unwrap();
    assert!((3500..=3600).contains(&retry), "{retry}");
    // Another pool's gateway is not under maintenance.
    let t = tunnel(gw_b.addr, pin, Some(&id), "echo")
        .await
        .ok()
        .expect("the other pool");
    assert_eq!(echo_roundtrip(t, vec![3u8; 1000]).await.len(), 1000);
    // The open tunnel goes on until the drain deadline, then is cut.
    let (mut r, mut w) = tokio::io::split(open);
    w.write_all(b"still here").await.unwrap();
    let mut got = [0u8; 10];
    r.read_exact(&mut got).await.unwrap();
    let mut rest = [0u8; 1];
    let ended = tokio::time::timeout(Duration::from_secs(8), r.read(&mut rest)).await;
    assert!(
        matches!(ended, Ok(Ok(0)) | Ok(Err(_))),
        "cut at the deadline"
    );
    let after = started.elapsed().as_secs_f64();
    assert!(
        (2.0..=6.0).contains(&after),
        "cut {after:.1} s after the start"
    );
    let status: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "maintenance", "status", "--json"])).unwrap();
    assert_eq!(status[0]["scope"], "pool", "{status}");
    assert_eq!(status[0]["name"], "default", "{status}");
    // Off: tunnels again. Off again: nothing to end (an unknown name, exit 2).
    env.ok(&["sp", "maintenance", "off", "--pool", "default"]);
    gw_a.reload().await;
    assert!(tunnel(gw_a.addr, pin, Some(&id), "echo").await.is_ok());
    let e = env.fails(&["sp", "maintenance", "off", "--pool", "default"], 2);
    assert!(e.contains("no maintenance"), "{e}");
    env.fails(&["sp", "maintenance", "on", "--drain", "soon"], 2);
    assert_eq!(audit(&env, "maintenance.").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_allowed_networks_enroll_and_open_tunnels() {
    let env = Env::new();
    let (gw, pin, id) = gateway_with_enrolled_tenant(&env, &[]).await;
    env.ok(&["sp", "gateway", "address", &gw.addr.to_string()]);
    let open = tunnel(gw.addr, pin, Some(&id), "echo")
        .await
        .ok()
        .expect("a tunnel");
    env.ok(&[
        "sp",
        "tenant",
        "set",
        "acme",
        "--allow-from",
        "127.0.0.2/32",
    ]);
    gw.reload().await;
    // The open tunnel from 127.0.0.1 is cut; a new one is refused; from 127.0.0.2 it works.
    let (mut r, _w) = tokio::io::split(open);
    let mut buf = [0u8; 1];
    let ended = tokio::time::timeout(Duration::from_secs(5), r.read(&mut buf)).await;
    assert!(
        matches!(ended, Ok(Ok(0)) | Ok(Err(_))),
        "the open tunnel was cut"
    );
    let r = refused(tunnel(gw.addr, pin, Some(&id), "echo").await);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (403, Some("address_not_allowed")),
        "{}",
        r.json
    );
    let (tls, _) = connect_from(Some("127.0.0.2"), gw.addr, Some(pin), Some(&id))
        .await
        .unwrap();
    let t = tunnel_over(tls, "echo")
        .await
        .ok()
        .expect("from the allowed address");
    assert_eq!(echo_roundtrip(t, vec![9u8; 500]).await.len(), 500);
    // Enrollment with the password from elsewhere: refused after the password is checked.
    let newcomer = ClientIdentity::new("acme");
    let r = enroll(gw.addr, pin, &newcomer, "acme", TENANT_PASSWORD).await;
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (403, Some("address_not_allowed")),
        "{}",
        r.json
    );
    let r = enroll(gw.addr, pin, &newcomer, "acme", "wrong password!").await;
    assert_eq!(
        r.json["code"], "bad_credentials",
        "a wrong password learns nothing more"
    );
    // A join token from elsewhere: refused, and it keeps its use.
    let created: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "tenant", "token", "create", "acme", "--json"]))
            .unwrap();
    let token = created["token"].as_str().unwrap();
    let joiner = Env::new();
    let out = crate::join::join(&joiner, token, "sp");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("address"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.ok(&["sp", "tenant", "set", "acme", "--allow-from", "127.0.0.0/8"]);
    gw.reload().await;
    let out = crate::join::join(&Env::new(), token, "sp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Refusals are audited with the source.
    let refusals = || -> Vec<serde_json::Value> {
        audit(&env, "")
            .into_iter()
            .filter(|e| e["details"]["reason"] == "address_not_allowed")
            .collect()
    };
    eventually(10, "three refusals audited", async || refusals().len() >= 3).await;
    let refusals = refusals();
    assert!(
        refusals
            .iter()
            .all(|e| e["details"]["source"] == "127.0.0.1"),
        "{refusals:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_the_console_change_limits_and_maintenance_through_the_core_once_each() {
    use crate::console::{ConsoleProc, admin_and_token, form};
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let token = admin_and_token(&env);
    let console = ConsoleProc::start(&env);
    let before = audit(&env, "").len();

    let a = console
        .api("PATCH", "/tenants/acme/limits", &token, Some(serde_json::json!({
            "max_download": "100Mbit/s", "max_tunnels": "4", "expires": "2099-01-31", "allow_from": "10.0.0.0/8"
        })))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let limits = &a.json()["limits"];
    assert_eq!(limits["max_download_bytes_per_sec"], 12_500_000, "{limits}");
    assert_eq!(limits["max_tunnels"], 4);
    assert_eq!(limits["expires_at"], "2099-02-01T00:00:00Z");
    assert_eq!(limits["allow_from"][0], "10.0.0.0/8");
    // The command line shows what the API set.
    let shown = env.ok(&["sp", "tenant", "show", "acme"]);
    assert!(
        shown.contains("download 100Mbit/s") || shown.contains("download 12.5MB/s"),
        "{shown}"
    );
    assert!(shown.contains("Connects from: 10.0.0.0/8"), "{shown}");
    let bad = console
        .api(
            "PATCH",
            "/tenants/acme/limits",
            &token,
            Some(serde_json::json!({ "max_tunnels": "lots" })),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("max tunnels"), "{}", bad.text);
    let unknown = console
        .api(
            "PATCH",
            "/tenants/acme/limits",
            &token,
            Some(serde_json::json!({ "max_speed": "1" })),
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.text);
    let added = console
        .api("POST", "/tenants", &token, Some(serde_json::json!({
            "name": "trial", "password": TENANT_PASSWORD, "limits": { "expires": "2099-01-01", "max_tunnels": "2" }
        })))
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.json()["limits"]["max_tunnels"], 2);
    let refused_add = console
        .api(
            "POST",
            "/tenants",
            &token,
            Some(serde_json::json!({
                "name": "trial2", "password": TENANT_PASSWORD, "limits": { "expires": "someday" }
            })),
        )
        .await;
    assert_eq!(refused_add.status, 400, "{}", refused_add.text);
    let e = env.fails(&["sp", "tenant", "show", "trial2"], 2);
    assert!(e.contains("no tenant"), "nothing was added: {e}");

    let m = console
        .api(
            "POST",
            "/maintenance",
            &token,
            Some(serde_json::json!({ "pool": "eu", "message": "racks", "drain": "10m" })),
        )
        .await;
    assert_eq!(m.status, 201, "{}", m.text);
    assert_eq!(m.json()["scope"], "pool");
    let list = console.api("GET", "/maintenance", &token, None).await;
    assert_eq!(list.json()[0]["message"], "racks");
    let both = console
        .api(
            "POST",
            "/maintenance",
            &token,
            Some(serde_json::json!({ "pool": "eu", "gateway": "g1" })),
        )
        .await;
    assert_eq!(both.status, 400, "{}", both.text);
    let off = console
        .api("DELETE", "/maintenance?pool=eu", &token, None)
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    let again = console
        .api("DELETE", "/maintenance?pool=eu", &token, None)
        .await;
    assert_eq!(again.status, 404, "{}", again.text);

    // One entry per change: limits, the added tenant, maintenance on and off.
    let after = audit(&env, "");
    let new: Vec<&str> = after[..after.len() - before]
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let mut counted = new.clone();
    counted.sort();
    assert_eq!(
        counted,
        [
            "maintenance.ended",
            "maintenance.started",
            "tenant.added",
            "tenant.limits"
        ],
        "{new:?}"
    );

    // The console's forms: limits on the tenant page, maintenance on the gateways page.
    let (cookie, csrf) = crate::console_ops::login(&console).await;
    let page = console
        .call("GET", "/tenants/acme", &[("cookie", &cookie)], None)
        .await;
    assert!(
        page.text.contains("id=\"tenant-limits\"") && page.text.contains("10.0.0.0/8"),
        "limits shown"
    );
    let saved = console
        .call(
            "POST",
            "/tenants/acme/limits",
            &[("cookie", &cookie)],
            Some(form(&[
                ("csrf", &csrf),
                ("max_upload", "20MB/s"),
                ("max_download", ""),
                ("limit_window", ""),
                ("max_tunnels", "4"),
                ("max_tunnels_per_machine", ""),
                ("expires", ""),
                ("allow_from", ""),
            ])),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    assert_eq!(shown["limits"]["max_upload"], "20MB/s", "{shown}");
    assert!(
        shown["limits"]["expires_at"].is_null() && shown["limits"]["allow_from"].is_null(),
        "{shown}"
    );
    let wrong = console
        .call(
            "POST",
            "/tenants/acme/limits",
            &[("cookie", &cookie)],
            Some(form(&[
                ("csrf", &csrf),
                ("max_upload", "fast"),
                ("max_tunnels", "4"),
            ])),
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert!(
        wrong.text.contains("FORM-error") || wrong.text.contains("role=\"alert\""),
        "refusal in the form"
    );
    assert!(
        wrong.text.contains("value=\"fast\""),
        "what was typed is kept"
    );
    let started = console
        .call(
            "POST",
            "/gateways/maintenance",
            &[("cookie", &cookie)],
            Some(form(&[
                ("csrf", &csrf),
                ("pool", ""),
                ("gateway", ""),
                ("message", "upgrade"),
                ("drain", ""),
                ("until", "1h"),
            ])),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text);
    assert!(started.text.contains("upgrade"));
    let status: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "maintenance", "status", "--json"])).unwrap();
    assert_eq!(status[0]["scope"], "all", "{status}");
    let ended = console
        .call(
            "POST",
            "/gateways/maintenance/off",
            &[("cookie", &cookie)],
            Some(form(&[("csrf", &csrf), ("scope", "all"), ("name", "")])),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.text);
    assert!(
        env.ok(&["sp", "maintenance", "status"])
            .contains("No maintenance")
    );
}
