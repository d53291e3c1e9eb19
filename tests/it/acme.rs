//! ACME against Pebble, the test CA of the best-known public CA (Debian's `pebble` package,
//! which `.ci/run` installs): a real directory over HTTPS (its certificate made here and trusted
//! through `--directory-ca` only), real HTTP-01 validation of our responder, DNS-01 through a
//! hook that feeds Pebble's challenge test server, and Pebble's random nonce rejections left on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::gateway_util::{
    ClientIdentity, GatewayProc, TENANT_PASSWORD, add_tenant, applied_pin, echo_backend, enroll,
    tunnel,
};
use crate::util::free_port;
use crate::util::{Env, openssl};

/// A free port below the ephemeral range, for the servers Pebble's processes start: a port the
/// system hands out for `:0` could be taken by another test's listener between this check and
/// Pebble's bind, which then answers in Pebble's place.
fn pebble_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 400) as u16 * 25;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 2_700;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Pebble and its challenge test server (the DNS Pebble asks), on free loopback ports.
struct Pebble {
    children: Vec<Child>,
    dir: tempfile::TempDir,
    /// The directory URL.
    directory: String,
    /// The CA certificate that Pebble's HTTPS certificate chains to.
    ca: PathBuf,
    /// Where Pebble's validator fetches HTTP-01 tokens.
    http_port: u16,
    /// The challenge test server's management API (TXT records).
    dns_management: u16,
    /// Pebble's management API (its issuing roots).
    management: u16,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The external account binding the EAB Pebble requires: key id and HMAC key (base64url).
const EAB_KID: &str = "kid-cloudgate";
const EAB_KEY: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

impl Pebble {
    fn start() -> Pebble {
        Pebble::start_with(false)
    }

    /// Pebble, requiring an external account binding when `eab`. Started again on other
    /// ports when it did not stay up: a port found free can be taken by another process before
    /// Pebble binds it, and Pebble then exits (CI saw its directory answer once and then refuse).
    fn start_with(eab: bool) -> Pebble {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Pebble::try_start(eab) {
                Ok(pebble) => return pebble,
                Err(why) => failures.push(why),
            }
        }
        panic!("Pebble did not start, three times: {failures:#?}");
    }

    fn try_start(eab: bool) -> Result<Pebble, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
        // A CA and, signed by it, the certificate Pebble serves its directory with.
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=cloudgate test ACME directory CA",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &p("server.key"),
            "-out",
            &p("server.csr"),
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(
            dir.path().join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            &p("server.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-out",
            &p("server.pem"),
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
        ]);
        let (listen, management, http_port, tls_port, dns, dns_management) = (
            pebble_port(),
            pebble_port(),
            pebble_port(),
            pebble_port(),
            pebble_port(),
            pebble_port(),
        );
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": p("server.pem"),
            "privateKey": p("server.key"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": eab,
            "externalAccountMACKeys": { EAB_KID: EAB_KEY },
        }});
        std::fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let challtestsrv = Command::new("pebble-challtestsrv")
            .args([
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                &format!("127.0.0.1:{dns}"),
                "-management",
                &format!("127.0.0.1:{dns_management}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
            ])
            .stdout(log("challtestsrv.log"))
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "pebble-challtestsrv is installed (Debian package pebble; .ci/run installs it)",
            );
        let pebble = Command::new("pebble")
            .args([
                "-config",
                &p("pebble.json"),
                "-dnsserver",
                &format!("127.0.0.1:{dns}"),
            ])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .expect("pebble is installed (Debian package pebble; .ci/run installs it)");
        let pebble = Pebble {
            children: vec![challtestsrv, pebble],
            directory: format!("https://127.0.0.1:{listen}/dir"),
            ca: dir.path().join("ca.pem"),
            http_port,
            dns_management,
            management,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let ports = [listen, management, dns_management];
        for port in ports {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if Instant::now() >= deadline {
                    return Err(format!("port {port} never answered: {}", pebble.log()));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Still up a moment later, every process and port: one that failed to bind a port of
        // its own exits after the others answered.
        std::thread::sleep(Duration::from_millis(300));
        let mut pebble = pebble;
        for child in &mut pebble.children {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited ({status}): {}", pebble.log()));
            }
        }
        for port in ports {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                return Err(format!("port {port} stopped answering: {}", pebble.log()));
            }
        }
        Ok(pebble)
    }

    /// The root Pebble issues under (made afresh at every start), as a PEM file: what a tenant
    /// trusting "the system's roots" trusts in these tests.
    fn issuing_root(&self) -> PathBuf {
        let path = self.dir.path().join("issuing-root.pem");
        let out = Command::new("curl")
            .args(["-sSf", "--cacert"])
            .arg(&self.ca)
            .arg(format!("https://127.0.0.1:{}/roots/0", self.management))
            .arg("-o")
            .arg(&path)
            .output()
            .expect("curl is installed (.ci/run installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }

    fn log(&self) -> String {
        ["pebble.log", "pebble.err"]
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .join("")
    }

    /// A DNS hook that puts TXT records into the challenge test server, as a DNS server's API
    /// would be called.
    fn dns_hook(&self, at: &Path) -> PathBuf {
        let hook = at.join("dns-hook.sh");
        std::fs::write(
            &hook,
            format!(
                "#!/bin/sh\nset -e\ncase \"$1\" in\n  add) path=set-txt; body=\"{{\\\"host\\\":\\\"$2.\\\",\\\"value\\\":\\\"$3\\\"}}\" ;;\n  remove) path=clear-txt; body=\"{{\\\"host\\\":\\\"$2.\\\"}}\" ;;\n  *) echo \"unknown action $1\" >&2; exit 2 ;;\nesac\necho \"$1 $2\" >> \"{log}\"\ncurl -sSf -X POST -d \"$body\" http://127.0.0.1:{port}/$path\n",
                log = at.join("dns-hook.log").display(),
                port = self.dns_management
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        hook
    }

    fn issue_args<'a>(&'a self, domain: &'a str) -> Vec<String> {
        [
            "sp",
            "cert",
            "acme",
            "issue",
            "--domain",
            domain,
            "--email",
            "ops@example.test",
            "--directory",
            &self.directory,
            "--directory-ca",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([self.ca.to_string_lossy().into_owned()])
        .collect()
    }
}

fn run(env: &Env, args: &[String]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run(&args)
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn http_01_issues_and_a_same_key_renewal_keeps_the_pin() {
    let pebble = Pebble::start();
    let env = Env::new();
    let mut args = pebble.issue_args("sp.example.test");
    args.extend([
        "--http-01".into(),
        "--http-01-listen".into(),
        format!("127.0.0.1:{}", pebble.http_port),
        "--apply".into(),
        "--json".into(),
    ]);
    let issued = json_of(&run(&env, &args));
    assert_eq!(issued["source"], "acme", "{issued}");
    assert!(issued["chain_length"].as_u64().unwrap() >= 1, "{issued}");
    assert!(
        issued["sans"].to_string().contains("sp.example.test"),
        "{issued}"
    );
    // What we wrote, openssl reads: the certificate file, with Pebble as its issuer and the
    // name asked for.
    let cert_path = issued["cert_path"].as_str().unwrap();
    let text = openssl(&[
        "x509",
        "-in",
        cert_path,
        "-noout",
        "-issuer",
        "-ext",
        "subjectAltName",
    ]);
    assert!(
        text.contains("Pebble") && text.contains("sp.example.test"),
        "{text}"
    );

    // The account is kept in the store, owner and group only.
    let acme_dir = env.data.join("store/acme");
    let account = std::fs::read_dir(&acme_dir)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("account-"))
        .expect("an account file");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = account.metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o007, 0, "{mode:o}");
    }

    // A tenant that verified and pinned the CA-issued certificate.
    add_tenant(&env, "acme");
    let gw = GatewayProc::start(&env, &[]);
    let tenant = Env::new();
    let pw = tenant.path("pw");
    std::fs::write(&pw, format!("{TENANT_PASSWORD}\n")).unwrap();
    tenant.ok(&[
        "tenant",
        "provider",
        "add",
        &gw.addr.to_string(),
        "--name",
        "sp",
        "--username",
        "acme",
        "--password-file",
        pw.to_str().unwrap(),
        "--thumbprint",
        issued["thumbprint"].as_str().unwrap(),
    ]);

    // Renewal with the same key: same public key pin, new certificate, no question asked.
    let renewed = json_of(&env.run(&["sp", "cert", "acme", "renew", "--apply", "--json"]));
    assert_ne!(renewed["sha256"], issued["sha256"]);
    assert_eq!(renewed["spki_sha256"], issued["spki_sha256"], "same key");
    let audit = std::fs::read_to_string(env.data.join("audit.log")).unwrap_or_default();
    assert!(audit.contains("renewed (same key)"), "{audit}");
    let current: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    assert_eq!(current["sha256"], renewed["sha256"]);
    gw.reload().await;
    let out = tenant.run(&["tenant", "check", "sp"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("renewed (same key)"), "{said}");

    // A new key: staged with a rollover proof, not applied.
    let rotated = json_of(&env.run(&["sp", "cert", "acme", "renew", "--new-key", "--json"]));
    assert_ne!(rotated["spki_sha256"], issued["spki_sha256"], "a new key");
    let status = env.ok(&["sp", "cert", "status", "--json"]);
    assert!(
        status.contains(rotated["thumbprint"].as_str().unwrap()),
        "staged: {status}"
    );

    // Revocation: the first certificate, no longer in use; twice is refused by the CA; the
    // one in use only with --force.
    let first = issued["thumbprint"].as_str().unwrap();
    let r = json_of(&env.run(&["sp", "cert", "acme", "revoke", first, "--json"]));
    assert_eq!(r["revoked"], true, "{r}");
    let e = env.fails(&["sp", "cert", "acme", "revoke", first], 2);
    assert!(e.contains("refused"), "{e}");
    let in_use = renewed["thumbprint"].as_str().unwrap();
    let e = env.fails(&["sp", "cert", "acme", "revoke", in_use], 2);
    assert!(e.contains("--force"), "{e}");

    // A new account key: the CA takes it, and the next order is signed with it.
    let before = std::fs::read(account.path()).unwrap();
    let r = json_of(&env.run(&["sp", "cert", "acme", "rotate-account-key", "--json"]));
    assert_eq!(r["rotated"], true, "{r}");
    assert_ne!(std::fs::read(account.path()).unwrap(), before);
    json_of(&env.run(&["sp", "cert", "acme", "renew", "--json"]));
}

#[test]
fn dns_01_issues_through_the_hook_and_removes_its_records() {
    let pebble = Pebble::start();
    let env = Env::new();
    let hook = pebble.dns_hook(env.dir.path());
    let mut args = pebble.issue_args("dns.example.test");
    args.extend([
        "--domain".into(),
        "*.dns.example.test".into(),
        "--dns-hook".into(),
        hook.to_string_lossy().into_owned(),
        "--json".into(),
    ]);
    let issued = json_of(&run(&env, &args));
    assert!(
        issued["sans"].to_string().contains("*.dns.example.test"),
        "{issued}"
    );
    let calls = std::fs::read_to_string(env.dir.path().join("dns-hook.log")).unwrap();
    let adds = calls.lines().filter(|l| l.starts_with("add ")).count();
    let removes = calls.lines().filter(|l| l.starts_with("remove ")).count();
    assert!(adds >= 1 && adds == removes, "{calls}");
}

#[test]
fn acme_failures_say_what_went_wrong_and_write_nothing() {
    let pebble = Pebble::start();
    let env = Env::new();
    env.generate(&["--apply"]);
    let before = env.list().len();

    // Nothing answers the CA's HTTP-01 fetch: what the CA saw is said.
    let mut args = pebble.issue_args("nobody.example.test");
    args.extend([
        "--http-01".into(),
        "--http-01-listen".into(),
        format!("127.0.0.1:{}", free_port()),
    ]);
    let out = run(&env, &args);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("could not validate nobody.example.test"), "{e}");

    // A directory that does not answer.
    let e = env.fails(
        &[
            "sp",
            "cert",
            "acme",
            "issue",
            "--domain",
            "a.example.test",
            "--http-01",
            "--directory",
            &format!("https://127.0.0.1:{}/dir", free_port()),
            "--directory-ca",
            &pebble.ca.to_string_lossy(),
        ],
        1,
    );
    assert!(
        e.contains("cannot be reached") && e.contains("--directory"),
        "{e}"
    );

    // Pebble's HTTPS certificate, without --directory-ca: not trusted.
    let e = env.fails(
        &[
            "sp",
            "cert",
            "acme",
            "issue",
            "--domain",
            "a.example.test",
            "--http-01",
            "--directory",
            &pebble.directory,
        ],
        1,
    );
    assert!(
        e.contains("cannot be reached") && e.contains("--directory-ca"),
        "{e}"
    );

    // Bad input, before any CA is asked.
    for (bad, said) in [
        (
            vec!["--domain", "not a name", "--http-01"],
            "not a DNS name",
        ),
        (vec!["--domain", "*.example.test", "--http-01"], "wildcard"),
        (
            vec!["--domain", "a.example.test", "--http-01", "--email", "nope"],
            "--email",
        ),
        (
            vec![
                "--domain",
                "a.example.test",
                "--http-01",
                "--directory",
                "http://x/dir",
            ],
            "https://",
        ),
        (
            vec![
                "--domain",
                "a.example.test",
                "--http-01",
                "--directory-ca",
                "/nonexistent.pem",
            ],
            "--directory-ca",
        ),
    ] {
        let mut a = vec!["sp", "cert", "acme", "issue"];
        a.extend(bad);
        let e = env.fails(&a, 2);
        assert!(e.contains(said), "{said}: {e}");
    }
    // The port of the responder is taken.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut args = pebble.issue_args("busy.example.test");
    args.extend([
        "--http-01".into(),
        "--http-01-listen".into(),
        held.local_addr().unwrap().to_string(),
    ]);
    let out = run(&env, &args);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("--http-01-listen"), "{e}");

    // Renewal with nothing issued over ACME.
    let e = env.fails(&["sp", "cert", "acme", "renew"], 2);
    assert!(e.contains("acme issue"), "{e}");
    assert_eq!(env.list().len(), before, "nothing was added to the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_renews_by_itself_while_a_tunnel_carries_data() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let pebble = Pebble::start();
    let env = Env::new();
    let mut args = pebble.issue_args("renew.example.test");
    args.extend([
        "--http-01".into(),
        "--http-01-listen".into(),
        format!("127.0.0.1:{}", pebble.http_port),
        "--apply".into(),
        "--json".into(),
    ]);
    let issued = json_of(&run(&env, &args));
    add_tenant(&env, "acme");
    let echo = echo_backend().await;
    env.ok(&[
        "sp",
        "tenant",
        "service",
        "add",
        "acme",
        "echo",
        &echo.to_string(),
    ]);
    // Pebble's certificates live for years: --acme-renew-before makes this one due at once;
    // the first renewal turn comes after the first reload interval (3 s), time to open a
    // tunnel.
    let gw = GatewayProc::start(
        &env,
        &[
            "--acme-renew",
            "--acme-renew-before",
            "3650",
            "--reload-interval",
            "3",
        ],
    );
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme");
    assert_eq!(
        enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD)
            .await
            .status,
        200
    );
    let Ok(mut stream) = tunnel(gw.addr, pin, Some(&id), "echo").await else {
        panic!("no tunnel");
    };
    let mut buf = [0u8; 6];
    stream.write_all(b"before").await.unwrap();
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"before");

    let deadline = Instant::now() + Duration::from_secs(60);
    let renewed = loop {
        let now: serde_json::Value =
            serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
        if now["sha256"] != issued["sha256"] {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "no renewal: {}",
            std::fs::read_to_string(&gw.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(renewed["source"], "acme");
    assert_eq!(renewed["spki_sha256"], issued["spki_sha256"], "same key");
    // The tunnel opened before goes on; a new one is pinned to the same key.
    stream.write_all(b"after!").await.unwrap();
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"after!");
    gw.reload().await;
    let new_pin = applied_pin(&env);
    assert!(
        tunnel(gw.addr, new_pin, Some(&id), "echo").await.is_ok(),
        "the gateway serves the renewal, and the machine enrolled before is still enrolled"
    );
    // Renewed once, not at every turn, although the renewal is itself "due".
    tokio::time::sleep(Duration::from_secs(4)).await;
    let log = std::fs::read_to_string(&gw.log).unwrap();
    assert_eq!(
        log.matches("acme-renew: renewed (same key)").count(),
        1,
        "{log}"
    );
    assert!(log.contains("not renewed again"), "{log}");
}

#[test]
fn a_ca_that_binds_accounts_gets_the_binding() {
    let pebble = Pebble::start_with(true);
    let env = Env::new();
    let base = {
        let mut a = pebble.issue_args("eab.example.test");
        a.extend([
            "--http-01".into(),
            "--http-01-listen".into(),
            format!("127.0.0.1:{}", pebble.http_port),
        ]);
        a
    };
    // Without the binding the CA refuses to make the account: said, and nothing written.
    let out = run(&env, &base);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("refused"), "{e}");
    assert!(!env.data.join("store/acme/settings.json").exists());
    // A key file that is not base64url.
    let bad = env.path("bad.key");
    std::fs::write(&bad, "not base64 !!\n").unwrap();
    let mut args = base.clone();
    args.extend([
        "--eab-kid".into(),
        EAB_KID.into(),
        "--eab-hmac-key-file".into(),
        bad.to_string_lossy().into_owned(),
    ]);
    let out = run(&env, &args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--eab-hmac-key-file"));
    // With it.
    let key = env.path("eab.key");
    std::fs::write(&key, format!("{EAB_KEY}\n")).unwrap();
    let mut args = base.clone();
    args.extend([
        "--eab-kid".into(),
        EAB_KID.into(),
        "--eab-hmac-key-file".into(),
        key.to_string_lossy().into_owned(),
        "--json".into(),
    ]);
    let issued = json_of(&run(&env, &args));
    assert_eq!(issued["source"], "acme", "{issued}");
    let settings = std::fs::read_to_string(env.data.join("store/acme/settings.json")).unwrap();
    assert!(
        !settings.contains(EAB_KEY),
        "the HMAC key is not kept: {settings}"
    );
}

/// A tenant that trusts both the CA and the key (`--trust ca+pin`) follows a same-key renewal and
/// a new key reached by a proof while it was offline, and refuses a certificate the CA issued
/// for another key, which a tenant trusting the CA alone accepts.
#[tokio::test]
async fn ca_and_pin_follows_the_key_and_refuses_a_valid_chain_with_another() {
    let pebble = Pebble::start();
    let env = Env::new();
    let http_01 = |domain: &str| {
        let mut args = pebble.issue_args(domain);
        args.extend([
            "--http-01".into(),
            "--http-01-listen".into(),
            format!("127.0.0.1:{}", pebble.http_port),
            "--json".into(),
        ]);
        args
    };
    let mut args = http_01("localhost");
    args.push("--apply".into());
    let issued = json_of(&run(&env, &args));
    add_tenant(&env, "acme");
    let gw = GatewayProc::start(&env, &[]);
    let root = pebble.issuing_root();
    let target = format!("localhost:{}", gw.addr.port());
    let tenant = |trust: &str| {
        let t = Env::new();
        std::fs::write(t.path("pw"), format!("{TENANT_PASSWORD}\n")).unwrap();
        (t, trust.to_string())
    };
    let with_roots = |t: &Env, roots: &Path, args: &[&str]| {
        t.cmd()
            .env("SSL_CERT_FILE", roots)
            .args(args)
            .output()
            .unwrap()
    };
    let add = |(t, trust): &(Env, String), roots: &Path| {
        let pw = t.path("pw");
        with_roots(
            t,
            roots,
            &[
                "tenant",
                "provider",
                "add",
                &target,
                "--name",
                "sp",
                "--trust",
                trust,
                "--username",
                "acme",
                "--password-file",
                pw.to_str().unwrap(),
            ],
        )
    };
    let both = tenant("ca+pin");
    let ca_only = tenant("ca");
    // Roots that do not include Pebble's: refused as untrusted, nothing saved.
    let out = add(&both, &pebble.ca);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{e}");
    assert!(e.contains("not trusted"), "{e}");
    assert!(
        both.0
            .run(&["tenant", "provider", "show", "sp"])
            .status
            .code()
            != Some(0)
    );
    for t in [&both, &ca_only] {
        let out = add(t, &root);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shown: serde_json::Value =
        serde_json::from_str(&both.0.ok(&["tenant", "provider", "show", "sp", "--json"])).unwrap();
    assert_eq!(shown["trust"], "ca+pin");
    assert_eq!(
        shown["sha256"], issued["sha256"],
        "the key is pinned as well"
    );
    let check = |t: &Env| with_roots(t, &root, &["tenant", "check", "sp"]);

    // Same key: followed without a question.
    json_of(&env.run(&["sp", "cert", "acme", "renew", "--apply", "--json"]));
    gw.reload().await;
    let out = check(&both.0);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("renewed (same key)"), "{said}");

    // A new key, staged with a proof and applied while the tenant was offline: followed
    // through the chain of key changes.
    let rotated = json_of(&env.run(&["sp", "cert", "acme", "renew", "--new-key", "--json"]));
    env.ok(&[
        "sp",
        "cert",
        "apply",
        rotated["thumbprint"].as_str().unwrap(),
    ]);
    gw.reload().await;
    let out = check(&both.0);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("rollover (proof verified)"), "{said}");

    // The CA issues for another key, and that certificate is put in use with no proof: the
    // chain is valid, the key is not the pinned one.
    let other = json_of(&run(&env, &http_01("localhost")));
    assert_ne!(other["spki_sha256"], rotated["spki_sha256"]);
    env.ok(&[
        "sp",
        "cert",
        "apply",
        other["thumbprint"].as_str().unwrap(),
        "--force",
    ]);
    gw.reload().await;
    let out = check(&both.0);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{said}");
    let shown: serde_json::Value =
        serde_json::from_str(&both.0.ok(&["tenant", "provider", "show", "sp", "--json"])).unwrap();
    assert_eq!(shown["sha256"], rotated["sha256"], "the pin did not move");
    let out = check(&ca_only.0);
    assert!(
        out.status.success(),
        "the CA alone accepts it: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
