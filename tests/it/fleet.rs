//! Several gateways on one SP database (here two on one SQLite data directory; the PostgreSQL
//! tests run the same on a server): they record themselves and heartbeat, tell enrolled machines
//! the live gateways of their pool, and count failed enrollments together.

use std::time::{Duration, Instant};

use crate::gateway_util::*;
use crate::util::Env;
use crate::util::free_port;

/// A loopback port free a moment ago, for a gateway whose public address must be known before
/// it starts.
/// Starts gateway `id` on a free loopback port, with that address as its public one.
fn start_member(env: &Env, id: &str, pool: &str) -> GatewayProc {
    let address = format!("127.0.0.1:{}", free_port());
    GatewayProc::start_logged(
        env,
        &format!("{id}.log"),
        &[
            "--listen",
            &address,
            "--public-address",
            &address,
            "--id",
            id,
            "--pool",
            pool,
        ],
    )
}

/// `sp gateway list --json`, polled until `done` holds (heartbeats come every 2 s).
fn wait_for_list(
    env: &Env,
    what: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list: Vec<serde_json::Value> =
            serde_json::from_str(&env.ok(&["sp", "gateway", "list", "--json"])).unwrap();
        if done(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "{what}: {list:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The gateways `gw` tells anyone who asks, polled until there are `n` (a gateway reads the
/// fleet at its heartbeat, every 2 s).
async fn wait_for_told(gw: &GatewayProc, pin: [u8; 32], n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = request(gw.addr, pin, None, "GET", "/v1/provider", None, None).await;
        let mut told: Vec<String> = r.json["gateways"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|g| g["address"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if told.len() == n {
            told.sort();
            return told;
        }
        assert!(Instant::now() < deadline, "{n} gateways told: {}", r.json);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn state_of<'a>(list: &'a [serde_json::Value], id: &str) -> Option<&'a str> {
    list.iter()
        .find(|g| g["id"] == id)
        .and_then(|g| g["state"].as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_know_each_other_and_tell_enrolled_machines_their_pool() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let a = start_member(&env, "gw-a", "default");
    let mut b = start_member(&env, "gw-b", "default");
    let pin = applied_pin(&env);
    let list = wait_for_list(&env, "both gateways up", |l| {
        state_of(l, "gw-a") == Some("up") && state_of(l, "gw-b") == Some("up")
    });
    let sha256 = list[0]["cert_sha256"].as_str().unwrap().to_string();
    assert!(list.iter().all(|g| g["cert_sha256"] == sha256.as_str()));
    assert_eq!(list[0]["public_address"], a.addr.to_string());

    // Anyone is told this gateway's pool; an enrolled machine its own pool's.
    let told = wait_for_told(&a, pin, 2).await;
    let r = request(a.addr, pin, None, "GET", "/v1/provider", None, None).await;
    assert_eq!(r.json["health"], "ok");
    let mut both = vec![a.addr.to_string(), b.addr.to_string()];
    both.sort();
    assert_eq!(told, both);
    let id = ClientIdentity::new("acme");
    assert_eq!(
        enroll(b.addr, pin, &id, "acme", TENANT_PASSWORD)
            .await
            .status,
        200
    );
    env.ok(&["sp", "tenant", "set", "acme", "--pool", "eu"]);
    a.reload().await;
    let r = request(a.addr, pin, Some(&id), "GET", "/v1/provider", None, None).await;
    assert_eq!(
        r.json["gateways"],
        serde_json::json!([]),
        "no gateway serves pool eu"
    );
    let shown = env.ok(&[
        "sp",
        "tenant",
        "set",
        "acme",
        "--failover-outside-pool",
        "true",
        "--json",
    ]);
    assert!(
        shown.contains("\"pool\": \"eu\"") || shown.contains("\"pool\":\"eu\""),
        "{shown}"
    );
    a.reload().await;
    let r = request(a.addr, pin, Some(&id), "GET", "/v1/provider", None, None).await;
    assert_eq!(
        r.json["gateways"].as_array().unwrap().len(),
        2,
        "{}",
        r.json
    );
    // An enrollment on one gateway is valid on the other at once.
    let stream = tunnel(a.addr, pin, Some(&id), "echo").await;
    assert!(stream.is_ok(), "enrolled on gw-b, tunnel through gw-a");

    // A gateway that stops says so; one that is gone for good is forgotten.
    assert!(b.stop().success());
    let list = wait_for_list(&env, "gw-b stopped", |l| {
        state_of(l, "gw-b") == Some("stopped")
    });
    assert_eq!(state_of(&list, "gw-a"), Some("up"));
    let text = env.ok(&["sp", "gateway", "list"]);
    assert!(text.contains("gw-b") && text.contains("stopped"), "{text}");
    env.ok(&["sp", "gateway", "forget", "gw-b"]);
    let e = env.fails(&["sp", "gateway", "forget", "gw-b"], 2);
    assert!(e.contains("gw-b") && e.contains("sp gateway list"), "{e}");
    env.fails(&["sp", "tenant", "set", "acme", "--pool", "e u"], 2);
    env.fails(&["sp", "tenant", "set", "acme"], 2);
    env.fails(&["sp", "tenant", "set", "nobody", "--pool", "eu"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_enrollments_are_counted_across_the_fleet() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let a = start_member(&env, "gw-a", "default");
    let b = start_member(&env, "gw-b", "default");
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme");
    // The limit is 10 failures per source address: five on each gateway use it up for both.
    for i in 0..10 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let r = enroll(gw.addr, pin, &id, "acme", "wrong password").await;
        assert_eq!(r.status, 401, "guess {i}: {}", r.json);
    }
    for gw in [&a, &b] {
        let r = enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD).await;
        assert_eq!(r.status, 429, "{}", r.json);
        assert_eq!(r.json["code"], "too_many_failures");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_spread_over_gateways_lock_the_account_as_fast_as_on_one() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    add_tenant(&env, "beta");
    // The address's own limit out of the way: the account's (20 per 15 minutes) is tested.
    std::fs::write(
        env.data.join("gateway.toml"),
        "enroll_failures_per_window = 1000\n",
    )
    .unwrap();
    let gateways = [
        start_member(&env, "gw-a", "default"),
        start_member(&env, "gw-b", "default"),
        start_member(&env, "gw-c", "default"),
    ];
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme");
    for i in 0..20 {
        let r = enroll(gateways[i % 3].addr, pin, &id, "acme", "wrong password").await;
        assert_eq!(r.status, 401, "guess {i}: {}", r.json);
    }
    for gw in &gateways {
        let r = enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD).await;
        assert_eq!(r.status, 429, "locked, even the right password: {}", r.json);
        assert_eq!(r.json["code"], "too_many_failures");
    }
    // Another account is not locked, and names nobody has cannot fill the count.
    let other = ClientIdentity::new("beta");
    let r = enroll(gateways[0].addr, pin, &other, "beta", TENANT_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let log = std::fs::read_to_string(env.path("gw-a.log")).unwrap();
    assert!(log.contains("the account is locked"), "{log}");

    // A new password ends the lockout.
    let pw = env.path("new-password");
    std::fs::write(&pw, "a brand new password 2\n").unwrap();
    env.ok(&[
        "sp",
        "tenant",
        "set-password",
        "acme",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    let r = enroll(gateways[1].addr, pin, &id, "acme", "a brand new password 2").await;
    assert_eq!(r.status, 200, "{}", r.json);
}

#[test]
fn gateway_flags_are_checked() {
    let env = Env::new();
    for (flag, value) in [
        ("--pool", "e u"),
        ("--id", ""),
        ("--public-address", "a b:1"),
    ] {
        let e = env.fails(&["sp", "gateway", "run", flag, value], 2);
        assert!(e.contains(flag), "{flag}: {e}");
    }
    let text = env.ok(&["sp", "gateway", "list"]);
    assert!(text.contains("No gateway has run"), "{text}");
}

#[test]
fn import_sqlite_refuses_what_it_cannot_move_and_writes_nothing() {
    let env = Env::new();
    let e = env.fails(&["sp", "db", "import-sqlite", "/nonexistent/sp.db"], 2);
    assert!(e.contains("--database"), "{e}");
    // A server that is never reached: the file is refused first.
    let server = "postgres://cloudgate@127.0.0.1:1/cloudgate";
    let e = env.fails(
        &[
            "--database",
            server,
            "sp",
            "db",
            "import-sqlite",
            "/nonexistent/sp.db",
        ],
        2,
    );
    assert!(e.contains("/nonexistent/sp.db"), "{e}");
    let junk = env.path("junk.db");
    std::fs::write(&junk, b"this is not SQLite at all, not even close, no").unwrap();
    let e = env.fails(
        &[
            "--database",
            server,
            "sp",
            "db",
            "import-sqlite",
            junk.to_str().unwrap(),
        ],
        2,
    );
    assert!(e.contains("not a cloudgate SP database"), "{e}");
}

/// The applied certificate's thumbprint, as the SP reads it to its tenants.
fn thumbprint(sp: &Env) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "cert", "current", "--json"])).unwrap();
    v["thumbprint"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_learns_the_fleet_and_fails_over_when_its_gateway_dies() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let sp = Env::new();
    provider_with_tenant(&sp, "acme").await;
    let mut a = start_member(&sp, "gw-a", "default");
    let b = start_member(&sp, "gw-b", "default");
    wait_for_told(&a, applied_pin(&sp), 2).await;
    let tenant = Env::new();
    let pw = tenant.path("pw");
    std::fs::write(&pw, format!("{TENANT_PASSWORD}\n")).unwrap();
    tenant.ok(&[
        "tenant",
        "provider",
        "add",
        &a.addr.to_string(),
        "--name",
        "sp",
        "--username",
        "acme",
        "--password-file",
        pw.to_str().unwrap(),
        "--thumbprint",
        &thumbprint(&sp),
    ]);
    tenant.ok(&["tenant", "check", "sp"]);
    let shown: serde_json::Value =
        serde_json::from_str(&tenant.ok(&["tenant", "provider", "show", "sp", "--json"])).unwrap();
    let mut told: Vec<String> = shown["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_string())
        .collect();
    told.sort();
    let mut both = vec![a.addr.to_string(), b.addr.to_string()];
    both.sort();
    assert_eq!(told, both, "{shown}");
    let text = tenant.ok(&["tenant", "provider", "show", "sp"]);
    assert!(
        text.contains("Gateways:") && text.contains(&b.addr.to_string()),
        "{text}"
    );

    let (mut tunnel, local) = start_tenant_tunnel(&tenant, true);
    let mut s = tokio::net::TcpStream::connect(local).await.unwrap();
    s.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    drop(s);

    // kill -9 the gateway the tenant was told first and added by: the next connections go
    // through the other, with nothing verified again.
    let _ = a.child.kill();
    let _ = a.child.wait();
    let killed = Instant::now();
    let mut s = tokio::net::TcpStream::connect(local).await.unwrap();
    s.write_all(b"pong").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut buf))
        .await
        .expect("a tunnel through the other gateway")
        .unwrap();
    assert_eq!(&buf, b"pong");
    eprintln!(
        "first tunnel through another gateway {:?} after kill -9",
        killed.elapsed()
    );
    let out = tenant.ok(&["tenant", "check", "sp", "--json"]);
    assert!(out.contains("acme"), "{out}");
    let _ = tunnel.kill();
    let _ = tunnel.wait();
}

#[test]
fn a_fleet_needs_a_shared_database() {
    let env = Env::new();
    for args in [
        &["sp", "fleet", "init"][..],
        &["sp", "fleet", "status"][..],
        &["sp", "fleet", "publish"][..],
        &["sp", "fleet", "rotate-key"][..],
    ] {
        let e = env.fails(args, 2);
        assert!(
            e.contains("PostgreSQL") && e.contains("--database"),
            "{args:?}: {e}"
        );
    }
    assert!(!env.data.join("fleet.key").exists(), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_tokens_carry_the_addresses_of_the_fleet_serving_the_certificate() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let a = start_member(&env, "gw-a", "default");
    let b = start_member(&env, "gw-b", "default");
    wait_for_list(&env, "both gateways up", |l| {
        state_of(l, "gw-a") == Some("up") && state_of(l, "gw-b") == Some("up")
    });
    let created: serde_json::Value = serde_json::from_str(&env.ok(&[
        "sp",
        "tenant",
        "token",
        "create",
        "acme",
        "--address",
        "typed.example:6180",
        "--json",
    ]))
    .unwrap();
    let addresses: Vec<&str> = created["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    // The given address first, then the fleet's.
    assert_eq!(addresses[0], "typed.example:6180");
    for gw in [&a, &b] {
        assert!(
            addresses.contains(&gw.addr.to_string().as_str()),
            "{addresses:?}"
        );
    }
}
