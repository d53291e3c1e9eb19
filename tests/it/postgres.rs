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
    std::fs::write(
        env.data.join("gateway.toml"),
        format!("database = \"{url}\"\n"),
    )
    .unwrap();
    let status: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "db", "status", "--json"])).unwrap();
    assert_eq!(status["backend"], "postgres");
    assert_eq!(status["version"], 0, "{status}");
    let (gw, pin, id) = gateway_with_enrolled_tenant(&env, &[]).await;
    assert!(
        !env.data.join("sp.db").exists(),
        "nothing of the SP's state went to SQLite"
    );
    let status: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "db", "status", "--json"])).unwrap();
    assert_eq!(status["version"], 4, "{status}");
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
        shown["client_certificates"].as_array().unwrap().len(),
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
