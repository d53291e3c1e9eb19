//! The SP on PostgreSQL: the command line and a gateway share a database on a server named by
//! `database` in the gateway configuration, and nothing of the SP's state is in SQLite.

use crate::gateway_util::*;
use crate::util::Env;

const NEEDS: &str = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)";

/// A new database on the test server, by `psql`; its URL.
fn fresh_database() -> String {
    let url = std::env::var("CLOUDGATE_TEST_DATABASE_URL").expect(NEEDS);
    let name = format!(
        "cg_it_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    );
    let status = std::process::Command::new("psql")
        .args([url.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql");
    assert!(status.success(), "creating {name}");
    let (base, _) = url.split_once('?').unwrap_or((&url, ""));
    let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
    format!("{server}/{name}")
}

/// A provider on PostgreSQL with tenant `acme` and its echo service, the fleet key made and the
/// certificate published, and a gateway with `acme` enrolled: the gateway, the pin, the identity.
async fn fleet_gateway_with_enrolled_tenant(env: &Env) -> (GatewayProc, [u8; 32], ClientIdentity) {
    provider_with_tenant(env, "acme").await;
    env.ok(&["sp", "fleet", "init"]);
    let gw = GatewayProc::start(env, &[]);
    let pin = applied_pin(env);
    let id = ClientIdentity::new("acme");
    let r = enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.json);
    (gw, pin, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)"]
async fn the_sp_runs_on_postgres_from_the_configuration_file() {
    let env = Env::new();
    let url = fresh_database();
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&env.data)
            .unwrap();
    }
    write_config(
        &env.data.join("gateway.toml"),
        &format!("database = \"{url}\"\n"),
    );
    let status: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "db", "status", "--json"])).unwrap();
    assert_eq!(status["backend"], "postgres");
    assert_eq!(status["version"], 0, "{status}");
    let (gw, pin, id) = fleet_gateway_with_enrolled_tenant(&env).await;
    assert!(
        !env.data.join("sp.db").exists(),
        "nothing of the SP's state went to SQLite"
    );
    let status: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "db", "status", "--json"])).unwrap();
    let migrations = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/db/migrations/postgres/sp"
    ))
    .unwrap()
    .count();
    assert_eq!(status["version"], migrations, "{status}");
    assert!(
        !status["location"]
            .as_str()
            .unwrap()
            .contains("cloudgate-test"),
        "the password is not shown: {status}"
    );
    let data = vec![7u8; 64 * 1024];
    let stream = tunnel(gw.addr, pin, Some(&id), "echo")
        .await
        .unwrap_or_else(|r| panic!("{}", r.json));
    assert_eq!(echo_roundtrip(stream, data.clone()).await, data);
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    assert_eq!(
        shown["machines"].as_array().unwrap().len(),
        1,
        "the gateway's enrollment is in the database the command line reads: {shown}"
    );
    env.ok(&["sp", "tenant", "disable", "acme"]);
    gw.reload().await;
    assert!(
        tunnel(gw.addr, pin, Some(&id), "echo").await.is_err(),
        "a tenant disabled from the command line is refused by the gateway"
    );
}

#[test]
fn a_password_on_the_command_line_is_refused_and_an_unreachable_server_is_said() {
    let env = Env::new();
    let e = env.fails(
        &[
            "--database",
            "postgres://cg:hunter2@127.0.0.1:1/x",
            "sp",
            "tenant",
            "list",
        ],
        2,
    );
    assert!(
        e.contains("CLOUDGATE_DATABASE_URL") && !e.contains("hunter2"),
        "{e}"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = env
        .cmd()
        .env(
            "CLOUDGATE_DATABASE_URL",
            format!("postgres://cg:hunter2@127.0.0.1:{port}/x"),
        )
        .args(["sp", "tenant", "list"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("cannot reach the database") && !e.contains("hunter2"),
        "{e}"
    );
}

/// Makes `env`'s SP use the database at `url` (`database` in gateway.toml).
fn use_database(env: &Env, url: &str) {
    use std::os::unix::fs::DirBuilderExt as _;
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&env.data);
    write_config(
        &env.data.join("gateway.toml"),
        &format!("database = \"{url}\"\n"),
    );
}

/// Writes a configuration that holds the database password as an operator must: owner and
/// group only (cloudgate refuses one that everyone may read).
fn write_config(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)"]
async fn a_single_host_install_moves_into_postgres_and_its_machines_notice_nothing() {
    let env = Env::new();
    let (mut gw, pin, id) = gateway_with_enrolled_tenant(&env, &[]).await;
    env.ok(&[
        "sp",
        "tenant",
        "service",
        "add",
        "acme",
        "mount",
        "10.0.0.9:10006",
    ]);
    let token = env.ok(&["sp", "tenant", "token", "create", "acme", "--json"]);
    assert!(token.contains("acme"), "{token}");
    assert!(gw.stop().success());
    let before = env.ok(&["sp", "tenant", "show", "acme", "--json"]);
    let url = fresh_database();
    let sqlite = env.data.join("sp.db");
    let out = env
        .cmd()
        .env("CLOUDGATE_DATABASE_URL", &url)
        .args([
            "sp",
            "db",
            "import-sqlite",
            sqlite.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let moved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            &moved["tenants"],
            &moved["services"],
            &moved["client_certificates"],
            &moved["join_tokens"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(1)
        ),
        "{moved}"
    );
    assert!(!moved.to_string().contains("ci-only-password"), "{moved}");
    use_database(&env, &url);
    let after = env.ok(&["sp", "tenant", "show", "acme", "--json"]);
    assert_eq!(before, after, "the tenant reads the same from PostgreSQL");
    let e = env
        .cmd()
        .args(["sp", "db", "import-sqlite", sqlite.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(e.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&e.stderr).contains("already holds"));
    // The machine enrolled on SQLite opens a tunnel through a gateway on PostgreSQL: its pin
    // and client certificate are as valid as before, nothing is enrolled again.
    env.ok(&["sp", "fleet", "init"]);
    let gw = GatewayProc::start(&env, &[]);
    let data = vec![3u8; 10_000];
    let stream = tunnel(gw.addr, pin, Some(&id), "echo")
        .await
        .unwrap_or_else(|r| panic!("{}", r.json));
    assert_eq!(echo_roundtrip(stream, data.clone()).await, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)"]
async fn a_change_reaches_three_gateways_at_once_and_cuts_their_tunnels() {
    let env = Env::new();
    use_database(&env, &fresh_database());
    provider_with_tenant(&env, "acme").await;
    env.ok(&["sp", "fleet", "init"]);
    let audit: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["sp", "audit", "list", "--event", "fleet.", "--json"]))
            .unwrap();
    assert_eq!(audit.len(), 1, "one entry for the fleet key: {audit:?}");
    assert_eq!(audit[0]["event"], "fleet.key_created");
    assert!(audit[0]["actor"].as_str().unwrap().starts_with("user:"));
    // A poll every 60 s: only the database's notification can explain a change seen sooner.
    let gateways: Vec<GatewayProc> = (0..3)
        .map(|i| {
            GatewayProc::start_logged(
                &env,
                &format!("gw{i}.log"),
                &["--reload-interval", "60", "--id", &format!("gw{i}")],
            )
        })
        .collect();
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme");
    let r = enroll(gateways[0].addr, pin, &id, "acme", TENANT_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let mut open = Vec::new();
    for gw in &gateways {
        let stream = tunnel(gw.addr, pin, Some(&id), "echo")
            .await
            .unwrap_or_else(|r| panic!("enrolled on gw0, tunnel through {}: {}", gw.addr, r.json));
        open.push(stream);
    }
    let disabled = std::time::Instant::now();
    env.ok(&["sp", "tenant", "disable", "acme"]);
    for (i, mut stream) in open.into_iter().enumerate() {
        use tokio::io::AsyncReadExt as _;
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("gw{i} did not cut the disabled tenant's tunnel"));
        assert!(matches!(read, Ok(0) | Err(_)), "gw{i}: {read:?}");
    }
    let cut = disabled.elapsed();
    eprintln!("tunnels cut on three gateways {cut:?} after `sp tenant disable` returned");
    for gw in &gateways {
        assert!(tunnel(gw.addr, pin, Some(&id), "echo").await.is_err());
    }
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["sp", "gateway", "list", "--json"])).unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
}

/// A TCP relay in front of the database server, which the test cuts and restores: the database
/// "goes down" for the gateway while the server goes on serving the other tests.
struct Relay {
    port: u16,
    upstream: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn start(upstream: &str, port: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = upstream.to_string();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut down, _)) = listener.accept().await {
                let target = target.clone();
                conns.spawn(async move {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
            }
        });
        Relay {
            port,
            upstream: upstream.to_string(),
            task: Some(task),
        }
    }

    /// Drops the listener and every relayed connection.
    fn cut(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    async fn restore(&mut self) {
        *self = Relay::start(&self.upstream, self.port).await;
    }
}

/// `postgres://USER:PASS@HOST[:PORT]/DB?Q` → (`HOST:PORT`, the URL with `127.0.0.1:port` instead).
fn through(url: &str, port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, rest) = rest.split_once('@').unwrap();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    let upstream = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    };
    (
        upstream,
        format!("{scheme}://{userinfo}@127.0.0.1:{port}{tail}"),
    )
}

async fn provider_health(gw: &GatewayProc, pin: [u8; 32]) -> String {
    let r = request(gw.addr, pin, None, "GET", "/v1/provider", None, None).await;
    r.json["health"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)"]
async fn when_the_database_is_down_tunnels_go_on_enrollments_wait_and_service_recovers() {
    let env = Env::new();
    let url = fresh_database();
    let (upstream, _) = through(&url, 0);
    let mut relay = Relay::start(&upstream, 0).await;
    let (_, relayed) = through(&url, relay.port);
    use_database(&env, &relayed);
    let (gw, pin, id) = fleet_gateway_with_enrolled_tenant(&env).await;
    assert_eq!(provider_health(&gw, pin).await, "ok");

    relay.cut();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while provider_health(&gw, pin).await != "degraded" {
        assert!(std::time::Instant::now() < deadline, "never degraded");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let data = vec![5u8; 4096];
    let stream = tunnel(gw.addr, pin, Some(&id), "echo")
        .await
        .unwrap_or_else(|r| panic!("tunnels go on from the last state: {}", r.json));
    assert_eq!(echo_roundtrip(stream, data.clone()).await, data);
    let other = ClientIdentity::new("acme");
    let r = enroll(gw.addr, pin, &other, "acme", TENANT_PASSWORD).await;
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (503, Some("unavailable")),
        "{}",
        r.json
    );
    let log = std::fs::read_to_string(&gw.log).unwrap();
    assert!(log.contains("degraded"), "{log}");

    relay.restore().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while provider_health(&gw, pin).await != "ok" {
        assert!(std::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let r = enroll(gw.addr, pin, &other, "acme", TENANT_PASSWORD).await;
    assert_eq!(
        r.status, 200,
        "enrollments work again without a restart: {}",
        r.json
    );
    assert!(
        std::fs::read_to_string(&gw.log)
            .unwrap()
            .contains("recovered")
    );
}

/// The SHA-256 of the certificate a gateway presents, whichever it is.
async fn served_sha256(gw: &GatewayProc, _pin: [u8; 32]) -> String {
    let (_, verifier) = connect(gw.addr, None, None).await.expect("TLS connect");
    let chain = verifier.presented_chain().expect("a certificate");
    cloudgate_pki::CertificateInfo::from_der(&chain[0])
        .unwrap()
        .fingerprints
        .sha256_hex()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)"]
async fn every_gateway_serves_the_published_certificate_and_needs_the_fleet_key() {
    let sp = Env::new();
    let url = fresh_database();
    use_database(&sp, &url);
    provider_with_tenant(&sp, "acme").await;
    // A gateway host: its own data directory with the database named and no store at all.
    let host = Env::new();
    use_database(&host, &url);
    let e = host.fails(&["sp", "gateway", "run", "--listen", "127.0.0.1:0"], 2);
    assert!(
        e.contains("fleet.key") && e.contains("sp fleet init"),
        "{e}"
    );
    assert!(!e.contains("ci-only-password"), "{e}");

    let init: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "fleet", "init", "--json"])).unwrap();
    assert_eq!(init["published_now"], true, "{init}");
    sp.fails(&["sp", "fleet", "init"], 2);
    let key = std::fs::read(sp.data.join("fleet.key")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(sp.data.join("fleet.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o007, 0, "{mode:o}");
        std::fs::write(host.data.join("fleet.key"), &key).unwrap();
        std::fs::set_permissions(
            host.data.join("fleet.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let gw = GatewayProc::start(&host, &[]);
    let pin = applied_pin(&sp);
    let applied = |env: &Env| -> String {
        let v: serde_json::Value =
            serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
        v["sha256"].as_str().unwrap().to_string()
    };
    let first = applied(&sp);
    assert_eq!(
        served_sha256(&gw, pin).await,
        first,
        "served from the database, not a store"
    );
    let id = ClientIdentity::new("acme");
    assert_eq!(
        enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD)
            .await
            .status,
        200
    );

    // A renewal on the SP host reaches the gateway host by the database.
    let out = sp.run(&["sp", "cert", "renew", "--apply"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Published to the fleet"));
    let renewed = applied(&sp);
    assert_ne!(renewed, first);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while served_sha256(&gw, pin).await != renewed {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewal never reached the gateway"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let pin = applied_pin(&sp);
    let stream = tunnel(gw.addr, pin, Some(&id), "echo").await;
    assert!(
        stream.is_ok(),
        "enrolled before the renewal, tunnels after it"
    );

    // Status tells what is published and whether it is the store's certificate in use; a
    // publish with nothing new publishes nothing; a host without the key cannot publish.
    let status: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "fleet", "status", "--json"])).unwrap();
    assert_eq!(status["published"]["sha256"], renewed.as_str(), "{status}");
    assert_eq!(status["published"]["same_as_store"], true, "{status}");
    assert_eq!(status["rotating"], false, "{status}");
    let again: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "fleet", "publish", "--json"])).unwrap();
    assert_eq!(again["published_now"], false, "nothing new: {again}");
    let shown = host.ok(&["sp", "fleet", "status"]);
    assert!(
        shown.contains(&renewed) && shown.contains("Fleet key:"),
        "{shown}"
    );
    let keyless = Env::new();
    use_database(&keyless, &url);
    let e = keyless.fails(&["sp", "fleet", "publish"], 2);
    assert!(e.contains("no fleet key") && e.contains("fleet.key"), "{e}");

    // A rotation: while under way both keys open; finished, only the new one.
    let status: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "fleet", "rotate-key", "--json"])).unwrap();
    assert_eq!(status["rotating"], true, "{status}");
    assert_eq!(
        status["published"]["sealed_under"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{status}"
    );
    let old_key_gateway = GatewayProc::start_logged(&host, "old.log", &[]);
    assert_eq!(served_sha256(&old_key_gateway, pin).await, renewed);
    drop(old_key_gateway);
    sp.ok(&["sp", "fleet", "rotate-key", "--finish"]);
    let e = host.fails(&["sp", "gateway", "run", "--listen", "127.0.0.1:0"], 2);
    assert!(e.contains("sealed under"), "{e}");
    std::fs::write(
        host.data.join("fleet.key"),
        std::fs::read(sp.data.join("fleet.key")).unwrap(),
    )
    .unwrap();
    let new_key_gateway = GatewayProc::start_logged(&host, "new.log", &[]);
    assert_eq!(served_sha256(&new_key_gateway, pin).await, renewed);
}

/// Waits until `gw` serves the certificate with this SHA-256.
async fn until_served(gw: &GatewayProc, sha256: &str, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while served_sha256(gw, [0; 32]).await != sha256 {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)"]
async fn the_gateway_where_the_store_is_renews_and_switches_for_the_whole_fleet() {
    let sp = Env::new();
    let url = fresh_database();
    use_database(&sp, &url);
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
    sp.ok(&["sp", "fleet", "init"]);
    let first: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "cert", "current", "--json"])).unwrap();
    // A gateway host without a store: it cannot renew, and says so.
    let host = Env::new();
    use_database(&host, &url);
    std::fs::write(
        host.data.join("fleet.key"),
        std::fs::read(sp.data.join("fleet.key")).unwrap(),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            host.data.join("fleet.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let far = GatewayProc::start_logged(&host, "far.log", &["--auto-renew", "10"]);
    until_served(
        &far,
        first["sha256"].as_str().unwrap(),
        "the far gateway serves",
    )
    .await;

    // The gateway where the store is renews (5 days left, --auto-renew 10) and publishes: the
    // far gateway serves the renewal, with the same key.
    let near = GatewayProc::start_logged(&sp, "near.log", &["--auto-renew", "10"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let renewed = loop {
        let now: serde_json::Value =
            serde_json::from_str(&sp.ok(&["sp", "cert", "current", "--json"])).unwrap();
        if now["source"] == "renewed" {
            break now;
        }
        assert!(std::time::Instant::now() < deadline, "no auto-renewal");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(renewed["spki_sha256"], first["spki_sha256"]);
    let logs = || {
        format!(
            "the renewal reached the far gateway\nnear: {}\nfar: {}",
            std::fs::read_to_string(sp.path("near.log")).unwrap_or_default(),
            std::fs::read_to_string(host.path("far.log")).unwrap_or_default()
        )
    };
    until_served(&far, renewed["sha256"].as_str().unwrap(), &logs()).await;
    drop(near);
    let log = std::fs::read_to_string(host.path("far.log")).unwrap_or_default();
    assert!(log.contains("auto-renew is off for this gateway"), "{log}");

    // A successor staged to switch at a set time: the store's gateway switches and publishes.
    let next = sp.generate(&["--key-type", "ecdsa-p256"]);
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    sp.ok(&["sp", "cert", "stage", &next.thumbprint, "--at", &at]);
    let _near = GatewayProc::start_logged(&sp, "near2.log", &[]);
    until_served(
        &far,
        &next.sha256,
        "the staged successor reached the far gateway at its time",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)"]
async fn the_console_shows_the_fleet_and_its_changes_reach_a_gateway_on_another_host() {
    let sp = Env::new();
    let url = fresh_database();
    use_database(&sp, &url);
    provider_with_tenant(&sp, "acme").await;
    sp.ok(&["sp", "fleet", "init"]);
    // A gateway host with only the database and the fleet key: it serves what is published.
    let host = Env::new();
    use_database(&host, &url);
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::copy(sp.data.join("fleet.key"), host.data.join("fleet.key")).unwrap();
        std::fs::set_permissions(
            host.data.join("fleet.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let gw = GatewayProc::start(&host, &[]);
    let token = crate::console::admin_and_token(&sp);
    let mut console = crate::console::ConsoleProc::start(&sp);

    let fleet = console.api("GET", "/fleet", &token, None).await.json();
    assert!(fleet["key_id"].is_string(), "{fleet}");
    assert_eq!(fleet["published"]["same_as_store"], true, "{fleet}");
    // A same-key renewal of the certificate in use, made in the console, is published, and the
    // gateway on the other host serves it.
    let current = console
        .api("GET", "/certificates/current", &token, None)
        .await
        .json();
    let renewed = console
        .api(
            "POST",
            &format!(
                "/certificates/{}/renew",
                current["sha256"].as_str().unwrap()
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(renewed.status, 201, "{}", renewed.text);
    let new_sha = renewed.json()["sha256"].as_str().unwrap().to_string();
    until_served(
        &gw,
        &new_sha,
        "the gateway serves the renewal made in the console",
    )
    .await;
    // The console serves it too (these test calls pin the whole certificate).
    console.pin = applied_pin(&sp);
    let again = console.api("POST", "/fleet/publish", &token, None).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["published_now"], false, "published already");
    assert_eq!(again.json()["published"]["sha256"], new_sha.as_str());
}
