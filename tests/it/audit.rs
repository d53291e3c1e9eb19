//! The SP's audit, from outside: every change made on the command line and through the API is
//! exactly one new entry naming who made it; the gateway audits enrollments and its refusals
//! (with the source address) without a database write on a tunnel's success path; `sp audit
//! verify` finds an entry removed or edited in the database.

use std::time::Duration;

use crate::console::{ConsoleProc, admin_and_token};
use crate::gateway_util::{
    ClientIdentity, GatewayProc, TENANT_PASSWORD, applied_pin, enroll, provider_with_tenant,
    refused, tunnel,
};
use crate::util::Env;

fn audit(env: &Env) -> Vec<serde_json::Value> {
    let out = env.ok(&["sp", "audit", "list", "--limit", "100000", "--json"]);
    serde_json::from_str::<Vec<serde_json::Value>>(&out).unwrap()
}

fn me() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    format!("user:{}", String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs `args` and asserts that it added exactly one entry, `event`, by `actor`.
fn one_entry(env: &Env, args: &[&str], stdin: Option<&str>, event: &str, actor: &str) {
    let before = audit(env).len();
    let out = match stdin {
        Some(input) => env
            .cmd()
            .args(args)
            .write_stdin(input.to_string())
            .output()
            .unwrap(),
        None => env.run(args),
    };
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = audit(env);
    assert_eq!(
        after.len(),
        before + 1,
        "{args:?} wrote {} entries: {:#?}",
        after.len() - before,
        &after[..after.len() - before]
    );
    assert_eq!(after[0]["event"], event, "{args:?}: {}", after[0]);
    assert_eq!(after[0]["actor"], actor, "{args:?}: {}", after[0]);
}

#[test]
fn every_change_on_the_command_line_is_one_entry_naming_the_user() {
    let env = Env::new();
    let user = me();
    let pw = format!("{TENANT_PASSWORD}\n");
    let c = env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    one_entry(
        &env,
        &["sp", "cert", "generate", "--key-type", "ecdsa-p256"],
        None,
        "cert.added",
        &user,
    );
    let other = env
        .list()
        .into_iter()
        .find(|e| !e.applied)
        .unwrap()
        .thumbprint;
    one_entry(
        &env,
        &["sp", "cert", "stage", &other],
        None,
        "cert.staged",
        &user,
    );
    one_entry(
        &env,
        &["sp", "cert", "apply", &other],
        None,
        "cert.applied",
        &user,
    );
    one_entry(
        &env,
        &["sp", "cert", "remove", &c.thumbprint],
        None,
        "cert.removed",
        &user,
    );
    let add = ["sp", "tenant", "add", "acme", "--password-stdin"];
    one_entry(&env, &add, Some(&pw), "tenant.added", &user);
    let set_pw = ["sp", "tenant", "set-password", "acme", "--password-stdin"];
    one_entry(&env, &set_pw, Some(&pw), "tenant.password", &user);
    one_entry(
        &env,
        &["sp", "tenant", "disable", "acme"],
        None,
        "tenant.disabled",
        &user,
    );
    one_entry(
        &env,
        &["sp", "tenant", "enable", "acme"],
        None,
        "tenant.enabled",
        &user,
    );
    let pool = ["sp", "tenant", "set", "acme", "--pool", "eu"];
    one_entry(&env, &pool, None, "tenant.pool", &user);
    let service = [
        "sp",
        "tenant",
        "service",
        "add",
        "acme",
        "repo",
        "127.0.0.1:9",
    ];
    one_entry(&env, &service, None, "service.added", &user);
    let unservice = ["sp", "tenant", "service", "remove", "acme", "repo"];
    one_entry(&env, &unservice, None, "service.removed", &user);
    let prune = ["sp", "tenant", "prune", "acme", "--unseen-days", "30"];
    one_entry(&env, &prune, None, "machine.pruned", &user);
    let address = ["sp", "gateway", "address", "gw.example"];
    one_entry(&env, &address, None, "gateway.address", &user);
    let token = ["sp", "tenant", "token", "create", "acme", "--json"];
    one_entry(&env, &token, None, "token.created", &user);
    let id = audit(&env)[0]["details"]["token_id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoke = ["sp", "tenant", "token", "revoke", &id];
    one_entry(&env, &revoke, None, "token.revoked", &user);
    let admin = ["sp", "admin", "add", "alice", "--password-stdin"];
    one_entry(&env, &admin, Some(&pw), "admin.added", &user);
    let admin_pw = ["sp", "admin", "set-password", "alice", "--password-stdin"];
    one_entry(&env, &admin_pw, Some(&pw), "admin.password", &user);
    let api = ["sp", "admin", "token", "create", "--name", "ci", "--json"];
    one_entry(&env, &api, None, "api_token.created", &user);
    let api_id = audit(&env)[0]["details"]["token_id"]
        .as_str()
        .unwrap()
        .to_string();
    let api_revoke = ["sp", "admin", "token", "revoke", &api_id];
    one_entry(&env, &api_revoke, None, "api_token.revoked", &user);
    one_entry(
        &env,
        &["sp", "admin", "remove", "alice"],
        None,
        "admin.removed",
        &user,
    );
    let license = env.path("license.toml");
    std::fs::write(&license, "licensed_to = \"Acme\"\nexpires = 2099-12-31\n").unwrap();
    let install = ["sp", "license", "install", license.to_str().unwrap()];
    one_entry(&env, &install, None, "license.installed", &user);
    one_entry(
        &env,
        &["sp", "tenant", "remove", "acme"],
        None,
        "tenant.removed",
        &user,
    );

    // A refused change writes nothing; a time that is not one is bad input.
    env.fails(&["sp", "audit", "list", "--since", "yesterday"], 2);
    let before = audit(&env).len();
    env.fails(&["sp", "tenant", "disable", "nobody"], 2);
    env.fails(&["sp", "tenant", "add", "a b", "--password-stdin"], 2);
    assert_eq!(audit(&env).len(), before);

    // The local log holds the same entries with their places in the chain.
    let log = std::fs::read_to_string(env.data.join("audit.log")).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "tenant.removed");
    assert_eq!(last["seq"], audit(&env)[0]["seq"]);
    assert_eq!(last["hash"], audit(&env)[0]["hash"]);
    env.ok(&["sp", "audit", "verify"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_through_the_api_is_one_entry_naming_the_token() {
    let env = Env::new();
    env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    let token = admin_and_token(&env);
    let console = ConsoleProc::start(&env);
    let total = || async {
        let a = console.api("GET", "/audit?limit=1", &token, None).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.json()
    };
    let calls: Vec<(&str, String, Option<serde_json::Value>, &str)> = vec![
        (
            "POST",
            "/tenants".into(),
            Some(serde_json::json!({ "name": "acme", "password": TENANT_PASSWORD })),
            "tenant.added",
        ),
        (
            "POST",
            "/tenants/acme/disable".into(),
            None,
            "tenant.disabled",
        ),
        (
            "POST",
            "/tenants/acme/enable".into(),
            None,
            "tenant.enabled",
        ),
        (
            "PUT",
            "/tenants/acme/password".into(),
            Some(serde_json::json!({ "password": TENANT_PASSWORD })),
            "tenant.password",
        ),
        (
            "POST",
            "/tenants/acme/services".into(),
            Some(serde_json::json!({ "name": "repo", "target": "127.0.0.1:9" })),
            "service.added",
        ),
        (
            "DELETE",
            "/tenants/acme/services/repo".into(),
            None,
            "service.removed",
        ),
        (
            "PUT",
            "/tenants/acme/pool".into(),
            Some(serde_json::json!({ "pool": "eu" })),
            "tenant.pool",
        ),
        (
            "POST",
            "/tenants/acme/prune".into(),
            Some(serde_json::json!({ "unseen_days": 30 })),
            "machine.pruned",
        ),
        ("POST", "/tenants/acme/tokens".into(), None, "token.created"),
        (
            "PUT",
            "/address".into(),
            Some(serde_json::json!({ "public_address": "gw.example" })),
            "gateway.address",
        ),
        (
            "PUT",
            "/license".into(),
            Some(serde_json::json!({ "toml": "licensed_to = \"Acme\"\nexpires = 2099-12-31\n" })),
            "license.installed",
        ),
        (
            "POST",
            "/certificates".into(),
            Some(serde_json::json!({ "key_type": "ecdsa-p256" })),
            "cert.added",
        ),
    ];
    for (method, path, body, event) in calls {
        let before = total().await;
        let a = console.api(method, &path, &token, body).await;
        assert!(a.status < 300, "{method} {path}: {} {}", a.status, a.text);
        let after = total().await;
        assert_eq!(
            after["total"].as_u64().unwrap(),
            before["total"].as_u64().unwrap() + 1,
            "{method} {path}: {after}"
        );
        let entry = &after["entries"][0];
        assert_eq!(entry["event"], event, "{method} {path}: {entry}");
        assert!(
            entry["actor"].as_str().unwrap().starts_with("token:ci:"),
            "{method} {path}: {entry}"
        );
    }
    // The command line reads the same entries from the database.
    let listed: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["sp", "audit", "list", "--event", "tenant.", "--json"]))
            .unwrap();
    assert!(listed.len() >= 5, "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|e| e["actor"].as_str().unwrap().starts_with("token:ci:"))
    );
    let before = total().await;
    let a = console.api("DELETE", "/tenants/acme", &token, None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        total().await["total"].as_u64().unwrap(),
        before["total"].as_u64().unwrap() + 1
    );
    // A refused call writes nothing.
    let before = total().await;
    let a = console
        .api("POST", "/tenants/nobody/disable", &token, None)
        .await;
    assert_eq!(a.status, 404, "{}", a.text);
    assert_eq!(total().await["total"], before["total"]);
}

/// Waits until the gateway's journal has flushed an entry matching `event` and `reason`.
async fn audited(env: &Env, event: &str, reason: Option<&str>) -> serde_json::Value {
    for _ in 0..50 {
        let found = audit(env)
            .into_iter()
            .find(|e| e["event"] == event && reason.is_none_or(|r| e["details"]["reason"] == r));
        if let Some(e) = found {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {event} {reason:?} in the audit: {:#?}", audit(env));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_audits_enrollments_and_each_kind_of_refusal_with_the_source() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    std::fs::write(
        env.data.join("gateway.toml"),
        "enroll_failures_per_window = 3\n",
    )
    .unwrap();
    let gw = GatewayProc::start(&env, &[]);
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme-backup");

    let r = enroll(gw.addr, pin, &id, "acme", "wrong password").await;
    assert_eq!(r.status, 401);
    let e = audited(&env, "enroll.refused", Some("bad_credentials")).await;
    assert_eq!(e["actor"], "anonymous");
    assert_eq!(e["details"]["source"], "127.0.0.1", "{e}");
    assert!(!e.to_string().contains("wrong password"), "{e}");

    let r = enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let e = audited(&env, "enroll.granted", None).await;
    assert_eq!(e["actor"], "tenant:acme", "{e}");
    assert!(!e.to_string().contains(TENANT_PASSWORD), "{e}");

    // An unknown client certificate, then a disabled tenant, asking for a tunnel.
    let stranger = ClientIdentity::new("stranger");
    let r = refused(tunnel(gw.addr, pin, Some(&stranger), "echo").await);
    let unknown = r.json["code"].as_str().unwrap().to_string();
    let e = audited(&env, "tunnel.refused", Some(&unknown)).await;
    assert_eq!(e["details"]["service"], "echo", "{e}");
    env.ok(&["sp", "tenant", "disable", "acme"]);
    // The gateway reloads within its interval: wait for the refusal, not for a time.
    let r = until(|| async {
        tunnel(gw.addr, pin, Some(&id), "echo")
            .await
            .err()
            .filter(|r| r.json["code"] == "tenant_disabled")
    })
    .await;
    assert_eq!(r.json["code"], "tenant_disabled");
    audited(&env, "tunnel.refused", Some("tenant_disabled")).await;

    // Throttled: the address spent its failures.
    for _ in 0..4 {
        enroll(gw.addr, pin, &stranger, "acme", "guess").await;
    }
    audited(&env, "enroll.refused", Some("too_many_failures")).await;

    // An opened tunnel writes no entry. Refusals of an unknown service mark the journal's
    // flushes: once the second marker is in the audit, whatever the tunnel wrote is too.
    env.ok(&["sp", "tenant", "enable", "acme"]);
    let stream = until(|| async { tunnel(gw.addr, pin, Some(&id), "echo").await.ok() }).await;
    drop(stream);
    let (env, id) = (&env, &id);
    let marker = |service: &'static str| async move {
        let r = refused(tunnel(gw.addr, pin, Some(id), service).await);
        assert_eq!(r.json["code"], "unknown_service");
        for _ in 0..50 {
            if audit(env)
                .iter()
                .any(|e| e["details"]["service"] == service)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the refusal of {service} never reached the audit");
    };
    marker("marker-one").await;
    let before = audit(env).len();
    let stream = tunnel(gw.addr, pin, Some(id), "echo").await;
    assert!(stream.is_ok());
    drop(stream);
    marker("marker-two").await;
    assert_eq!(
        audit(env).len(),
        before + 1,
        "a tunnel is not an audit event"
    );
    env.ok(&["sp", "audit", "verify"]);
}

/// Waits (at most 10 s) until `attempt` gives something.
async fn until<T, F, Fut>(attempt: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..100 {
        if let Some(v) = attempt().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waited 10 s in vain");
}

#[test]
fn verify_finds_an_entry_removed_or_edited_and_names_it() {
    let env = Env::new();
    env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    for name in ["acme", "globex", "initech"] {
        env.cmd()
            .args(["sp", "tenant", "add", name, "--password-stdin"])
            .write_stdin(format!("{TENANT_PASSWORD}\n"))
            .assert()
            .success();
    }
    let ok: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "audit", "verify", "--json"])).unwrap();
    assert_eq!(ok["entries"], 5, "{ok}");
    let db = env.data.join("sp.db");
    let sql = |statement: &str| {
        let status = std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()",
                db.to_str().unwrap(),
                statement,
            ])
            .status()
            .unwrap();
        assert!(status.success());
    };
    // The last entry removed: the chain alone cannot tell, this host's log can.
    sql("DELETE FROM audit WHERE seq = 5");
    let e = env.fails(&["sp", "audit", "verify"], 1);
    assert!(
        e.contains("no longer in the SP database") && e.contains('5'),
        "{e}"
    );
    // An entry edited in the middle.
    sql("UPDATE audit SET actor = 'user:nobody' WHERE seq = 3");
    let out = env.run(&["sp", "audit", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["broken"].as_str().unwrap().contains("entry 3"), "{v}");
}
