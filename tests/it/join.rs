//! Join tokens end to end: the SP creates one, a tenant joins with it and tunnels; used,
//! expired, revoked and damaged tokens are refused with the right exit code; an impostor on
//! the token's address learns nothing; a token made while a successor is staged still joins
//! after the switch.

use std::time::Duration;

use crate::gateway_util::*;
use crate::util::Env;

struct World {
    sp: Env,
    gw: GatewayProc,
}

async fn world() -> World {
    let sp = Env::new();
    provider_with_tenant(&sp, "acme").await;
    let gw = GatewayProc::start(&sp, &[]);
    sp.ok(&["sp", "gateway", "address", &gw.addr.to_string()]);
    World { sp, gw }
}

impl World {
    fn token(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["sp", "tenant", "token", "create", "acme", "--json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&self.sp.ok(&args)).unwrap()
    }
}

/// `tenant join` with `token` from a file, as the provider `name`.
pub fn join(tenant: &Env, token: &str, name: &str) -> std::process::Output {
    let file = tenant.path("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    tenant.run(&[
        "tenant",
        "join",
        "--token-file",
        file.to_str().unwrap(),
        "--name",
        name,
    ])
}

fn code(out: &std::process::Output) -> (i32, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_join_tunnel_then_a_used_token_is_refused() {
    let w = world().await;
    let created = w.token(&["--label", "first machine"]);
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("cgt1."));
    assert_eq!(created["addresses"][0], w.gw.addr.to_string());
    // The SP keeps no secret: the database and the audit log never contain the token.
    let db = std::fs::read(w.sp.data.join("sp.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(&token[5..]));
    let audit = std::fs::read_to_string(w.sp.data.join("audit.log")).unwrap();
    assert!(audit.contains("token.created") && audit.contains(created["id"].as_str().unwrap()));
    assert!(!audit.contains(&token[5..]));

    let tenant = Env::new();
    let out = join(&tenant, &token, "sp");
    let (c, e) = code(&out);
    assert_eq!(c, 0, "{e}");
    // It ends with the one command to run next.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Next: cloudgate tenant tunnel sp echo --listen 127.0.0.1:")
            && said.contains("tunnels.toml"),
        "{said}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&tenant.ok(&["tenant", "provider", "show", "sp", "--json"])).unwrap();
    assert_eq!(shown["username"], "acme");
    tokio::task::block_in_place(|| {
        let (mut child, addr) = start_tenant_tunnel(&tenant, true);
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        use std::io::{Read as _, Write as _};
        s.write_all(b"through the joined tunnel").unwrap();
        let mut buf = [0u8; 25];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"through the joined tunnel");
        let _ = child.kill();
        let _ = child.wait();
    });

    // One use: a second machine is refused (exit 4) and saves nothing.
    let other = Env::new();
    let (c, e) = code(&join(&other, &token, "sp"));
    assert_eq!(c, 4, "{e}");
    assert!(e.contains("used already"), "{e}");
    let list: serde_json::Value =
        serde_json::from_str(&other.ok(&["tenant", "provider", "list", "--json"])).unwrap();
    assert_eq!(list, serde_json::json!([]));
    let listed: serde_json::Value =
        serde_json::from_str(&w.sp.ok(&["sp", "tenant", "token", "list", "--json"])).unwrap();
    assert_eq!(listed[0]["state"], "used");
    let show: serde_json::Value =
        serde_json::from_str(&w.sp.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    assert_eq!(show["join_tokens"][0]["label"], "first machine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_revoked_and_unknown_tokens_exit_4_with_the_reason() {
    let w = world().await;
    let short = w.token(&["--expires", "1s"]);
    let created = std::time::Instant::now();
    let revoked = w.token(&["--uses", "5"]);
    w.sp.ok(&[
        "sp",
        "tenant",
        "token",
        "revoke",
        &revoked["id"].as_str().unwrap()[..10],
    ]);
    // The token was made before `created` and expires 1 s after, to the second (truncated).
    let expired_by = created + Duration::from_millis(1100);
    tokio::time::sleep_until(expired_by.into()).await;
    let tenant = Env::new();
    let (c, e) = code(&join(&tenant, short["token"].as_str().unwrap(), "a"));
    assert_eq!(c, 4, "{e}");
    assert!(e.contains("expired"), "{e}");
    let (c, e) = code(&join(&tenant, revoked["token"].as_str().unwrap(), "b"));
    assert_eq!(c, 4, "{e}");
    assert!(e.contains("revoked"), "{e}");
    // A token of another SP database (same pins and address, unknown id): unknown.
    let valid = w.token(&[]);
    w.sp.ok(&["sp", "tenant", "remove", "acme"]);
    let (c, e) = code(&join(&tenant, valid["token"].as_str().unwrap(), "c"));
    assert_eq!(c, 4, "{e}");
    assert!(e.contains("does not know this join token"), "{e}");
    let list: serde_json::Value =
        serde_json::from_str(&tenant.ok(&["tenant", "provider", "list", "--json"])).unwrap();
    assert_eq!(list, serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_token_exits_2_before_connecting() {
    let w = world().await;
    let token = w.token(&[])["token"].as_str().unwrap().to_string();
    let tenant = Env::new();
    let mut changed = token.clone();
    let i = token.len() / 2;
    let c = if &token[i..=i] == "A" { "B" } else { "A" };
    changed.replace_range(i..=i, c);
    let (code_, e) = code(&join(&tenant, &changed, "x"));
    assert_eq!(code_, 2, "{e}");
    assert!(e.contains("checksum"), "{e}");
    let (code_, e) = code(&join(&tenant, &token[..token.len() - 6], "x"));
    assert_eq!(code_, 2, "{e}");
    let (code_, e) = code(&join(&tenant, "cgt9.AAAA", "x"));
    assert_eq!(code_, 2, "{e}");
    assert!(e.contains("version 9"), "{e}");
    // The damaged token was refused before any connection: the token is still unused.
    let listed: serde_json::Value =
        serde_json::from_str(&w.sp.ok(&["sp", "tenant", "token", "list", "--json"])).unwrap();
    assert_eq!(listed[0]["state"], "valid");
    // From the environment, as a script would pass it.
    let out = tenant
        .cmd()
        .args(["tenant", "join", "--name", "env"])
        .env("CLOUDGATE_JOIN_TOKEN", &token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostor_on_the_tokens_address_receives_nothing() {
    let w = world().await;
    let (mitm, seen) = crate::tenant_side::impostor().await;
    let created = w.token(&["--address", &mitm.to_string()]);
    let token = created["token"].as_str().unwrap().to_string();
    let tenant = Env::new();
    let out = tokio::task::block_in_place(|| join(&tenant, &token, "sp"));
    let (c, e) = code(&out);
    assert_eq!(c, 3, "{e}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = seen.lock().unwrap().clone();
    assert!(
        received.is_empty(),
        "the impostor received {} bytes",
        received.len()
    );
    // The token was not spent: the real gateway still takes it.
    let listed: serde_json::Value =
        serde_json::from_str(&w.sp.ok(&["sp", "tenant", "token", "list", "--json"])).unwrap();
    assert_eq!(listed[0]["state"], "valid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_while_a_successor_is_staged_joins_after_the_switch() {
    let w = world().await;
    let next: serde_json::Value = serde_json::from_str(&w.sp.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--json",
    ]))
    .unwrap();
    let next_sha = next["sha256"].as_str().unwrap();
    w.sp.ok(&["sp", "cert", "stage", next_sha]);
    let created = w.token(&[]);
    assert_eq!(created["pins"].as_array().unwrap().len(), 2, "{created}");
    w.sp.ok(&["sp", "cert", "apply", next_sha]);
    // The gateway picks up the new certificate within its reload interval: wait until it
    // presents it (a first contact shows what is presented, then the wrong password stops it).
    let tenant = Env::new();
    let pw = tenant.path("pw");
    std::fs::write(&pw, "not the password\n").unwrap();
    let start = std::time::Instant::now();
    let next_thumb = next["thumbprint"].as_str().unwrap();
    loop {
        let probe = tenant.run(&[
            "tenant",
            "provider",
            "add",
            &w.gw.addr.to_string(),
            "--username",
            "nobody",
            "--password-file",
            pw.to_str().unwrap(),
            "--accept-new",
        ]);
        if String::from_utf8_lossy(&probe.stderr).contains(next_thumb) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the gateway never switched"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (c, e) = code(&join(&tenant, created["token"].as_str().unwrap(), "sp"));
    assert_eq!(c, 0, "{e}");
    let shown: serde_json::Value =
        serde_json::from_str(&tenant.ok(&["tenant", "provider", "show", "sp", "--json"])).unwrap();
    assert_eq!(shown["sha256"], next_sha);
}
