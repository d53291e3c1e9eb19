//! A tenant's first hour, as observed by a new user: pasted thumbprints, retyped passwords,
//! network mistakes, address forms, IPv6. Every message here is one a person acts on.

use std::time::Duration;

use crate::gateway_util::*;
use crate::util::{CertJson, Env};

struct World {
    sp: Env,
    tenant: Env,
    gw: GatewayProc,
    pw: std::path::PathBuf,
}

async fn world(gateway_args: &[&str]) -> World {
    let sp = Env::new();
    provider_with_tenant(&sp, "acme").await;
    let gw = GatewayProc::start(&sp, gateway_args);
    let tenant = Env::new();
    let pw = tenant.path("pw");
    std::fs::write(&pw, format!("{TENANT_PASSWORD}\n")).unwrap();
    World { sp, tenant, gw, pw }
}

impl World {
    fn current(&self) -> CertJson {
        serde_json::from_str(&self.sp.ok(&["sp", "cert", "current", "--json"])).unwrap()
    }

    fn add_args(&self, address: &str) -> Vec<String> {
        [
            "tenant",
            "provider",
            "add",
            address,
            "--username",
            "acme",
            "--password-file",
            self.pw.to_str().unwrap(),
            "--name",
            "sp",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn providers(&self) -> usize {
        let v: serde_json::Value =
            serde_json::from_str(&self.tenant.ok(&["tenant", "provider", "list", "--json"]))
                .unwrap();
        v.as_array().unwrap().len()
    }
}

fn run(env: &Env, args: &[String]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run(&args)
}

#[tokio::test]
async fn a_line_copied_from_the_summary_is_a_thumbprint() {
    let w = world(&[]).await;
    let c = w.current();
    let mut args = w.add_args(&w.gw.addr.to_string());
    args.extend([
        "--thumbprint".into(),
        format!("  \"Thumbprint: {}\".", c.thumbprint),
    ]);
    let out = run(&w.tenant, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(w.providers(), 1);
    w.tenant.ok(&["tenant", "provider", "remove", "sp"]);

    // The thumbprint may come from the environment, like PBS_FINGERPRINT.
    let out = w
        .tenant
        .cmd()
        .args(w.add_args(&w.gw.addr.to_string()))
        .env("CLOUDGATE_THUMBPRINT", format!("SHA-256: {}", c.sha256))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(w.providers(), 1);
}

#[tokio::test]
async fn a_malformed_thumbprint_is_refused_before_any_connection() {
    let tenant = Env::new();
    // Nothing listens there: an error about the connection would mean it was tried first.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    for bad in [
        "Thumbprint: 6573",
        "6573AB12",
        "Serial number: 0A1B",
        "sha256//AAAA",
    ] {
        let e = tenant.fails(
            &[
                "tenant",
                "provider",
                "add",
                &free,
                "--username",
                "acme",
                "--thumbprint",
                bad,
            ],
            2,
        );
        assert!(e.contains("--thumbprint"), "{bad}: {e}");
        assert!(
            !e.contains("prefix"),
            "a prefix is refused here, so not offered: {e}"
        );
        assert!(!e.contains("cannot reach"), "{bad}: {e}");
    }
}

/// Runs `cloudgate tenant provider add` on a terminal and answers its prompts in turn:
/// each pair is (what to wait for, what to type).
fn on_a_terminal(w: &World, password_file: bool, steps: &[(&str, String)]) -> (i32, String) {
    use expectrl::Expect as _;
    let bin = assert_cmd::cargo::cargo_bin("cloudgate");
    let pw = if password_file {
        format!("--password-file '{}'", w.pw.display())
    } else {
        String::new()
    };
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "'{}' tenant provider add {} --name sp --username acme {pw}; echo \"EXIT=$?\"",
            bin.display(),
            w.gw.addr
        ))
        .env("CLOUDGATE_HOME", &w.tenant.data)
        .env_remove("CLOUDGATE_THUMBPRINT")
        .env("TERM", "xterm");
    let mut s = expectrl::session::Session::spawn(cmd).unwrap();
    s.set_expect_timeout(Some(Duration::from_secs(30)));
    let mut seen = String::new();
    for (prompt, answer) in steps {
        let found = s
            .expect(*prompt)
            .unwrap_or_else(|e| panic!("waiting for {prompt:?}: {e}; seen so far: {seen}"));
        seen.push_str(&String::from_utf8_lossy(found.before()));
        std::thread::sleep(Duration::from_millis(150));
        s.send(format!("{answer}\r")).unwrap();
    }
    let found = s.expect(expectrl::Regex("EXIT=([0-9]+)")).unwrap();
    seen.push_str(&String::from_utf8_lossy(found.before()));
    let code = std::str::from_utf8(found.get(1).unwrap())
        .unwrap()
        .parse::<i32>()
        .unwrap();
    (code, seen)
}

const ASK_THUMBPRINT: &str = "Type yes, or paste the thumbprint you received";

#[tokio::test]
async fn at_the_prompt_y_and_garbage_ask_again() {
    let w = world(&[]).await;
    let c = w.current();
    let (code, seen) = on_a_terminal(
        &w,
        true,
        &[
            (ASK_THUMBPRINT, "y".into()),
            ("Type yes in full", "not a thumbprint".into()),
            ("Try again", format!("Thumbprint: {}.", c.thumbprint)),
        ],
    );
    assert_eq!(code, 0, "{seen}");
    assert_eq!(w.providers(), 1);
}

#[tokio::test]
async fn a_wrong_password_at_the_prompt_is_asked_again_three_times() {
    let w = world(&[]).await;
    let c = w.current();
    let (code, seen) = on_a_terminal(
        &w,
        false,
        &[
            (ASK_THUMBPRINT, c.thumbprint.clone()),
            ("Password for tenant acme", "wrong one".into()),
            ("Try again (2 left)", TENANT_PASSWORD.into()),
        ],
    );
    assert_eq!(code, 0, "{seen}");
    assert_eq!(w.providers(), 1);
    assert_eq!(
        seen.matches("presented this certificate").count(),
        1,
        "the certificate is not fetched and verified again: {seen}"
    );
    w.tenant.ok(&["tenant", "provider", "remove", "sp"]);

    let (code, seen) = on_a_terminal(
        &w,
        false,
        &[
            (ASK_THUMBPRINT, "yes".into()),
            ("Password for tenant acme", "wrong 1".into()),
            ("(2 left)", "wrong 2".into()),
            ("(1 left)", "wrong 3".into()),
        ],
    );
    assert_eq!(code, 4, "{seen}");
    assert_eq!(w.providers(), 0);
}

#[test]
fn a_port_that_does_not_speak_tls_is_named_as_such() {
    // A plain-text server, as an HTTP server on port 80 would answer. A thread of its own:
    // the test's runtime is blocked while the binary runs.
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let tenant = Env::new();
    let out = tenant.run(&[
        "tenant",
        "provider",
        "add",
        &addr.to_string(),
        "--username",
        "acme",
        "--accept-new",
    ]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&format!("{addr} does not speak TLS")) && e.contains("port 6180"),
        "{e}"
    );
    assert!(
        !e.contains("WARN") && !e.contains("InvalidContentType"),
        "no raw library lines: {e}"
    );
    assert_eq!(e.lines().count(), 1, "one line: {e}");

    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let e = tenant.fails(
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
    assert!(e.contains("is the gateway running"), "{e}");
    let e = tenant.fails(
        &[
            "tenant",
            "provider",
            "add",
            "https://sp.example:6180",
            "--username",
            "acme",
            "--accept-new",
        ],
        2,
    );
    assert!(e.contains("without a scheme"), "{e}");
    let e = tenant.fails(
        &[
            "tenant",
            "provider",
            "add",
            "2001:db8::1:6180x",
            "--username",
            "acme",
            "--accept-new",
        ],
        2,
    );
    assert!(e.contains("[IPv6]:PORT"), "{e}");
}

#[tokio::test]
async fn every_listen_argument_takes_the_same_forms() {
    let w = world(&[]).await;
    let c = w.current();
    let mut args = w.add_args(&w.gw.addr.to_string());
    args.extend(["--thumbprint".into(), c.thumbprint.clone()]);
    assert!(run(&w.tenant, &args).status.success());
    // A bare port: the tunnel listens on the loopback address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let (line, out) = tunnel_start(&w.tenant, &port);
    assert!(
        line.contains(&format!("127.0.0.1:{port}")),
        "{line} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).trim().is_empty());

    // Any other address: it works, with a warning about who can reach it.
    let (_, out) = tunnel_start(&w.tenant, "0.0.0.0:0");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("not on a loopback address") && e.contains("anyone"),
        "{e}"
    );

    for bad in ["nowhere", "example.com:80", "::1:80"] {
        let e = w
            .tenant
            .fails(&["tenant", "tunnel", "sp", "echo", "--listen", bad], 2);
        assert!(e.contains("PORT, ADDR:PORT or [IPv6]:PORT"), "{bad}: {e}");
        let e = w.sp.fails(&["sp", "gateway", "run", "--listen", bad], 2);
        assert!(e.contains("PORT, ADDR:PORT or [IPv6]:PORT"), "{bad}: {e}");
    }
}

/// Starts `tenant tunnel sp echo --listen LISTEN`, reads its startup line, stops it; returns the
/// line and what it printed.
fn tunnel_start(tenant: &Env, listen: &str) -> (String, std::process::Output) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cloudgate"))
        .args(["tenant", "tunnel", "sp", "echo", "--listen", listen])
        .env("CLOUDGATE_HOME", &tenant.data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let line = crate::util::first_stdout_line(&mut child);
    let _ = child.kill();
    (line, child.wait_with_output().unwrap())
}

fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[tokio::test]
async fn the_gateway_listens_on_ipv4_and_ipv6_and_tenants_reach_both() {
    let w = world(&["--listen", "[::]:0"]).await;
    let port = w.gw.addr.port();
    let c = w.current();
    let mut args = w.add_args(&format!("127.0.0.1:{port}"));
    args.extend(["--thumbprint".into(), c.thumbprint.clone()]);
    let out = run(&w.tenant, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if !ipv6_loopback() {
        eprintln!("no IPv6 loopback on this machine: the IPv6 half is not checked");
        return;
    }
    let v6 = Env::new();
    std::fs::write(v6.path("pw"), format!("{TENANT_PASSWORD}\n")).unwrap();
    let pw = v6.path("pw");
    let out = v6.run(&[
        "tenant",
        "provider",
        "add",
        &format!("[::1]:{port}"),
        "--username",
        "acme",
        "--password-file",
        pw.to_str().unwrap(),
        "--thumbprint",
        &c.thumbprint,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value =
        serde_json::from_str(&v6.ok(&["tenant", "provider", "list", "--json"])).unwrap();
    assert_eq!(list[0]["name"], format!("[::1]:{port}"));
    v6.ok(&["tenant", "check", &format!("[::1]:{port}")]);
}
