//! The features built around the pin, tried as a key thief, an impostor and a flood would: a
//! refresh with a thumbprint, the gateways a provider tells of, join tokens, text shown on the
//! terminal, the enrollment throttle under concurrency, and the files commands write. Real
//! gateways (the thief's run from a copy of the SP's data directory) and the real binary.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::gateway_util::*;
use crate::trust::{Mitm, audit, current, exits, generate, pinned, reloaded, stolen_copy, world};
use crate::util::{Env, free_port};

/// A gateway from `env` listening at a fixed address that it also announces as its public one.
fn gateway_announcing(env: &Env, log: &str) -> GatewayProc {
    let address = format!("127.0.0.1:{}", free_port());
    GatewayProc::start_logged(
        env,
        log,
        &["--listen", &address, "--public-address", &address],
    )
}

/// Waits until the gateway at `at` tells of `n` gateways (it tells only addresses it saw
/// present its own certificate, so this takes a probe round).
async fn wait_until_it_tells(at: SocketAddr, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(probe) = cloudgate_tenant::probe("127.0.0.1", at.port(), false).await {
            let told: Vec<String> = probe
                .provider
                .map(|p| p.gateways.into_iter().map(|g| g.address).collect())
                .unwrap_or_default();
            if told.len() >= n {
                return told;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{at} never told of {n} gateway(s)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn told_to(tenant: &Env) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&tenant.ok(&["tenant", "provider", "show", "sp", "--json"])).unwrap();
    v["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_with_a_thumbprint_ends_pinned_to_it_or_fails() {
    let w = world().await;
    let mitm = Mitm::start(w.gw.addr).await;
    let tenant = w.tenant_at(mitm.addr);
    let x = current(&w.sp);
    // A thief holds X; the SP switches to Z and declares X compromised.
    let thief = GatewayProc::start(&stolen_copy(&w.sp), &[]);
    let z = generate(&w.sp);
    w.sp.ok(&["sp", "cert", "apply", &z.thumbprint, "--compromised"]);
    reloaded(&w.gw, w.gw.addr, &z.sha256, None).await;
    // The thief on the address presents the pinned X: "refresh to Z" must not say unchanged.
    mitm.send_to(&thief);
    let e = exits(
        &tenant,
        &[
            "tenant",
            "provider",
            "refresh",
            "sp",
            "--thumbprint",
            &z.thumbprint,
        ],
        3,
    );
    assert!(e.contains("not the one you gave"), "{e}");
    assert_eq!(pinned(&tenant), x.thumbprint);
    // At the real gateway the same command moves the pin to Z.
    mitm.send_to(&w.gw);
    tenant.ok(&[
        "tenant",
        "provider",
        "refresh",
        "sp",
        "--thumbprint",
        &z.thumbprint,
    ]);
    assert_eq!(pinned(&tenant), z.thumbprint);
    // And given the pinned thumbprint, an unchanged certificate is fine.
    tenant.ok(&[
        "tenant",
        "provider",
        "refresh",
        "sp",
        "--thumbprint",
        &z.thumbprint,
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_a_thief_told_of_never_hides_the_compromise() {
    let w = world().await;
    let mitm = Mitm::start(w.gw.addr).await;
    let tenant = w.tenant_at(mitm.addr);
    // The thief runs a gateway from the stolen data directory that announces his own address,
    // and is in the middle for one check: the tenant learns his address as a fleet gateway.
    let thief_env = stolen_copy(&w.sp);
    let thief = gateway_announcing(&thief_env, "thief.log");
    wait_until_it_tells(thief.addr, 1).await;
    mitm.send_to(&thief);
    tenant.ok(&["tenant", "check", "sp"]);
    assert_eq!(told_to(&tenant), [thief.addr.to_string()]);

    // The SP declares the key compromised. The check hears it at the address the user gave,
    // whatever the told list says, and the thief's gateway is never used again.
    mitm.send_to(&w.gw);
    let z = generate(&w.sp);
    w.sp.ok(&["sp", "cert", "apply", &z.thumbprint, "--compromised"]);
    reloaded(&w.gw, w.gw.addr, &z.sha256, None).await;
    let e = exits(&tenant, &["tenant", "check", "sp"], 3);
    assert!(e.contains("compromise"), "{e}");
    let e = exits(
        &tenant,
        &["tenant", "tunnel", "sp", "echo", "--listen", "127.0.0.1:0"],
        3,
    );
    assert!(e.contains("compromised"), "{e}");
    assert!(audit(&tenant).contains("\"provider.compromised\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_told_gateway_with_another_certificate_is_dropped_not_an_alarm() {
    let w = world().await;
    let mitm = Mitm::start(w.gw.addr).await;
    let tenant = w.tenant_at(mitm.addr);
    let thief_env = stolen_copy(&w.sp);
    let thief = gateway_announcing(&thief_env, "thief.log");
    wait_until_it_tells(thief.addr, 1).await;
    mitm.send_to(&thief);
    tenant.ok(&["tenant", "check", "sp"]);
    mitm.send_to(&w.gw);
    // The told address now presents a certificate nothing leads to, and the address the user
    // gave does not answer: the check falls back to the told gateway, which is dropped (no
    // alarm: told gateways are where tunnels go, not where trust is decided).
    let y = generate(&thief_env);
    thief_env.ok(&["sp", "cert", "apply", &y.thumbprint, "--force"]);
    reloaded(&thief, thief.addr, &y.sha256, None).await;
    mitm.forward_only(0);
    let e = exits(&tenant, &["tenant", "check", "sp"], 1);
    assert!(!e.contains("HAS CHANGED"), "{e}");
    let log = audit(&tenant);
    assert!(log.contains("\"provider.gateway_dropped\""), "{log}");
    assert!(!log.contains("\"provider.compromised\""), "{log}");
    assert!(told_to(&tenant).is_empty());
    // Back on the real gateway, all is well, and the check says which gateway it used.
    mitm.send_to(&w.gw);
    let out = tenant.ok(&["tenant", "check", "sp"]);
    assert!(out.contains(&mitm.addr.to_string()), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_tokens_do_not_outlive_a_compromise() {
    let w = world().await;
    let out = w.sp.ok(&[
        "sp", "tenant", "token", "create", "acme", "--uses", "3", "--json",
    ]);
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let z = generate(&w.sp);
    let out =
        w.sp.run(&["sp", "cert", "apply", &z.thumbprint, "--compromised"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked"));
    let list: serde_json::Value =
        serde_json::from_str(&w.sp.ok(&["sp", "tenant", "token", "list", "--json"])).unwrap();
    let token = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(token["state"], "revoked", "{list}");
    let log = audit(&w.sp);
    assert!(log.contains("key_compromised"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_from_files_and_servers_never_reach_the_terminal() {
    let sp = Env::new();
    // A friendly name with terminal escape sequences and a bidirectional override, as an
    // attacker would craft one.
    let pfx = crate::util::openssl_pfx_named(
        &sp,
        "hostile",
        "backup.example",
        Some("Real\u{1b}[2J\u{1b}[HName\u{202e}txt.exe"),
    );
    let pw = sp.path("pfx-pw");
    std::fs::write(&pw, "pfx secret\n").unwrap();
    let out = sp.run(&[
        "sp",
        "cert",
        "import",
        pfx.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
        "--apply",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for shown in [
        out.stdout,
        out.stderr,
        sp.run(&["sp", "cert", "list"]).stdout,
    ] {
        let text = String::from_utf8_lossy(&shown);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text:?}"
        );
    }
    let listed = String::from_utf8_lossy(&sp.run(&["sp", "cert", "list"]).stdout).into_owned();
    assert!(listed.contains("\\x1b"), "{listed}");
    // The JSON keeps the value, escaped so a terminal shows it inert.
    let json =
        String::from_utf8_lossy(&sp.run(&["sp", "cert", "list", "--json"]).stdout).into_owned();
    assert!(
        !json.contains('\u{202e}') && json.contains("\\u202e"),
        "{json}"
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v[0]["friendly_name"].as_str().unwrap().contains('\u{202e}'));

    // The gateway serves that name to whoever asks; the tenant's prompt shows it inert.
    add_tenant(&sp, "acme");
    let gw = GatewayProc::start(&sp, &[]);
    let tenant = Env::new();
    let tpw = tenant.path("pw");
    std::fs::write(&tpw, format!("{TENANT_PASSWORD}\n")).unwrap();
    let out = tenant.run(&[
        "tenant",
        "provider",
        "add",
        &gw.addr.to_string(),
        "--name",
        "sp",
        "--username",
        "acme",
        "--password-file",
        tpw.to_str().unwrap(),
        "--thumbprint",
        &current(&sp).thumbprint,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(text.contains("Name: Real\\x1b[2J"), "{text}");
}

/// Resident and peak memory of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    (
        crate::util::proc_status_kib(pid, "VmRSS:"),
        crate::util::proc_status_kib(pid, "VmHWM:"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_passwords_are_counted_before_they_are_checked_and_memory_stays_bounded() {
    let env = Env::new();
    let (gw, pin, _) = gateway_with_enrolled_tenant(&env, &[]).await;
    let addr = gw.addr;
    let pid = gw.child.id();
    let (before, _) = memory_kib(pid);
    // 60 concurrent wrong enrollments from one address; the limit is 10 failures per address.
    let attempts: Vec<_> = (0..60)
        .map(|i| {
            tokio::spawn(async move {
                let id = ClientIdentity::new(&format!("guess{i}"));
                enroll(addr, pin, &id, "acme", "wrong password").await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap().status);
    }
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        evaluated <= 10,
        "{evaluated} guesses were checked: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 429 | 503)),
        "{statuses:?}"
    );
    // Each check takes a 19 MiB work area; at most two run at once, and it is handed back.
    let (_, peak) = memory_kib(pid);
    assert!(
        peak < before + 100 * 1024,
        "peak {peak} KiB against {before} KiB before the flood"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (after, _) = memory_kib(pid);
    assert!(
        after < before + 30 * 1024,
        "{after} KiB kept against {before} KiB before the flood"
    );
    // Guesses refused as busy were not counted; the rest are, until the limit.
    let id = ClientIdentity::new("late");
    let mut refused = false;
    for _ in 0..12 {
        if enroll(addr, pin, &id, "acme", "wrong password")
            .await
            .status
            == 429
        {
            refused = true;
            break;
        }
    }
    assert!(refused, "the address was never throttled");
    // The right password from the same address stays throttled: nothing resets the count.
    assert_eq!(
        enroll(addr, pin, &id, "acme", TENANT_PASSWORD).await.status,
        429
    );
}

#[test]
fn tenant_names_are_unique_without_regard_to_case() {
    let sp = Env::new();
    sp.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--apply",
    ]);
    add_tenant(&sp, "Globex");
    for other in ["GLOBEX", "globex"] {
        let out = sp
            .cmd()
            .args(["sp", "tenant", "add", other, "--password-stdin"])
            .write_stdin(format!("{TENANT_PASSWORD}\n"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{other}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
    }
}

#[test]
fn export_never_replaces_what_is_not_a_regular_file_of_ones_own() {
    let sp = Env::new();
    sp.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--apply",
    ]);
    let thumb = current(&sp).thumbprint;
    let fifo = sp.path("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let link = sp.path("link.pem");
    std::os::unix::fs::symlink(sp.path("elsewhere.pem"), &link).unwrap();
    let mut targets = vec![fifo.clone(), link.clone()];
    // As root, the device node a careless --force would replace.
    if cloudgate_store::owner::effective_uid() == 0 {
        targets.push("/dev/null".into());
    }
    for target in &targets {
        let out = sp.run(&[
            "sp",
            "cert",
            "export",
            &thumb,
            "--format",
            "pem",
            "--out",
            target.to_str().unwrap(),
            "--force",
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", target.display());
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
    }
    use std::os::unix::fs::FileTypeExt as _;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    if targets.len() == 3 {
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
}
