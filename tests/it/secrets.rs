//! Secrets stay secret: no password and no private key appears in any output, log or audit
//! record (checked for every end-to-end test when its [`Env`] is dropped), and key files are
//! never readable by another user, not even while they are being written.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;

use crate::gateway_util::*;
use crate::util::{Env, walk};

/// The passwords the end-to-end tests use that are long enough to search for.
const PASSWORDS: &[&str] = &[
    TENANT_PASSWORD,
    "bob password 123",
    "pfx secret",
    "export secret",
    "correct horse",
    "another password",
    "long enough",
    "not the password",
];

/// What must never be printed or logged: the passwords, and for every private key in the data
/// directory its PEM lines, its DER in base64 and in hex.
fn secrets(env: &Env) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = PASSWORDS
        .iter()
        .map(|p| (format!("password {p:?}"), p.as_bytes().to_vec()))
        .collect();
    for path in key_files(&env.data) {
        let Ok(pem) = std::fs::read(&path) else {
            continue;
        };
        let Ok(der) = cloudgate_pki::pem::decode_private_key(&pem) else {
            continue;
        };
        let name = path.display().to_string();
        // 24 bytes from the middle of the key (Ed25519 keys are 48 bytes in all), in every form
        // a careless log line would carry them.
        let mid = der.len() / 2;
        let window = &der[mid - 12..mid + 12];
        let b64 = base64::engine::general_purpose::STANDARD.encode(&*der);
        let b64_mid = b64.len() / 2;
        out.push((
            format!("base64 of {name}"),
            b64.as_bytes()[b64_mid - 16..b64_mid + 16].to_vec(),
        ));
        let hex = cloudgate_pki::fingerprint::upper_hex(window);
        out.push((format!("hex of {name}"), hex.clone().into_bytes()));
        out.push((
            format!("lowercase hex of {name}"),
            hex.to_ascii_lowercase().into_bytes(),
        ));
        out.push((format!("DER of {name}"), window.to_vec()));
    }
    out
}

/// Store keys (`key.pem`, also while assembled in `store/tmp/`) and tenant client keys.
fn key_files(data: &Path) -> Vec<PathBuf> {
    if !data.exists() {
        return Vec::new();
    }
    walk(data).into_iter().filter(|p| is_key_file(p)).collect()
}

fn is_key_file(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n == "key.pem")
        || p.parent()
            .and_then(|d| d.file_name())
            .is_some_and(|n| n == "tenant-keys")
}

/// Names of the places among `haystacks` that contain one of `secrets`.
pub fn leaks(haystacks: &[(String, Vec<u8>)], secrets: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for (where_, hay) in haystacks {
        for (what, needle) in secrets {
            if !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_slice()) {
                found.push(format!("{what} appears in {where_}"));
            }
        }
    }
    found
}

/// Logs and audit records an environment holds: every `*.log` file under its directory.
fn logs(env: &Env) -> Vec<(String, Vec<u8>)> {
    walk(env.dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .filter_map(|p| Some((p.display().to_string(), std::fs::read(&p).ok()?)))
        .collect()
}

/// Panics when any output, log or audit record of `env` holds a secret.
pub fn assert_nothing_leaked(env: &Env) {
    let mut places = env
        .transcript
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    places.extend(logs(env));
    let found = leaks(&places, &secrets(env));
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
}

#[test]
fn the_check_finds_a_planted_password_and_key() {
    let env = Env::new();
    env.generate(&["--key-type", "ecdsa-p256"]);
    let key = key_files(&env.data).pop().expect("a key file");
    let pem = std::fs::read_to_string(&key).unwrap();
    let s = secrets(&env);
    let planted = vec![
        (
            "a log".to_string(),
            format!("user acme password {TENANT_PASSWORD}").into_bytes(),
        ),
        ("a dump".to_string(), pem.into_bytes()),
    ];
    let found = leaks(&planted, &s);
    assert!(found.iter().any(|f| f.contains("password")), "{found:?}");
    assert!(found.iter().any(|f| f.contains("base64 of")), "{found:?}");
    assert!(leaks(&[("clean".into(), b"nothing here".to_vec())], &s).is_empty());
    // Clean up what was planted nowhere but here, so the drop check passes.
    drop(planted);
}

/// Runs every command that handles a secret, with the most verbose logs, on purpose including
/// the refusals; the drop check of both environments then searches everything they printed.
#[tokio::test(flavor = "multi_thread")]
async fn verbose_runs_of_every_secret_handling_command_leak_nothing() {
    let sp = Env::new();
    let trace = |env: &Env, args: &[&str], stdin: &str| {
        let out = env
            .cmd()
            .env("CLOUDGATE_LOG", "trace")
            .args(args)
            .write_stdin(stdin.to_string())
            .output()
            .unwrap();
        env.record(args, &out);
        out
    };
    // Certificates: generate, import a PFX (right and wrong password), export one.
    let generated = trace(
        &sp,
        &[
            "sp",
            "cert",
            "generate",
            "--key-type",
            "ecdsa-p256",
            "--apply",
            "--json",
        ],
        "",
    );
    let generated: crate::util::CertJson = serde_json::from_slice(&generated.stdout).unwrap();
    let pfx = crate::util::openssl_pfx(&sp, "in", "imported");
    let bad = trace(
        &sp,
        &[
            "sp",
            "cert",
            "import",
            pfx.to_str().unwrap(),
            "--password-stdin",
            "--json",
        ],
        "not the password\n",
    );
    assert_eq!(bad.status.code(), Some(2));
    let good = trace(
        &sp,
        &[
            "sp",
            "cert",
            "import",
            pfx.to_str().unwrap(),
            "--password-stdin",
            "--json",
        ],
        "pfx secret\n",
    );
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let out = sp.path("out.pfx");
    let exported = trace(
        &sp,
        &[
            "sp",
            "cert",
            "export",
            "--format",
            "pfx",
            "--out",
            out.to_str().unwrap(),
            "--password-stdin",
            &generated.thumbprint,
        ],
        "export secret\n",
    );
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    // Tenants: add with a password, show, list.
    let added = trace(
        &sp,
        &["sp", "tenant", "add", "acme", "--password-stdin", "--json"],
        &format!("{TENANT_PASSWORD}\n"),
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let echo = echo_backend().await;
    sp.ok(&[
        "sp",
        "tenant",
        "service",
        "add",
        "acme",
        "echo",
        &echo.to_string(),
    ]);
    trace(&sp, &["sp", "tenant", "show", "acme", "--json"], "");
    // The gateway at trace level, and a tenant enrolling (wrong, then right password) and
    // tunnelling through it.
    let mut gw = GatewayProc::start(&sp, &[]);
    let tenant = Env::new();
    let thumb: crate::util::CertJson =
        serde_json::from_str(&sp.ok(&["sp", "cert", "current", "--json"])).unwrap();
    let addr = gw.addr.to_string();
    let add = |stdin: &str| {
        trace(
            &tenant,
            &[
                "tenant",
                "provider",
                "add",
                &addr,
                "--username",
                "acme",
                "--password-stdin",
                "--name",
                "sp",
                "--thumbprint",
                &thumb.thumbprint,
                "--json",
            ],
            stdin,
        )
    };
    assert_eq!(add("another password\n").status.code(), Some(4));
    let ok = add(&format!("{TENANT_PASSWORD}\n"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    trace(&tenant, &["tenant", "provider", "show", "sp", "--json"], "");
    trace(&tenant, &["tenant", "check", "sp", "--json"], "");
    gw.stop();
    // Both drop checks run here and search all of it, the gateway's trace log included.
    let gw_log = std::fs::read_to_string(sp.path("gateway.log")).unwrap();
    assert!(
        gw_log.contains("enrollment refused: bad credentials"),
        "{gw_log}"
    );
}

/// Every file under `dir`, skipping what vanishes (renamed or removed) while it is walked.
fn walk_racing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(e.path()),
                Ok(_) => out.push(e.path()),
                Err(_) => {}
            }
        }
    }
    out
}

/// Mode bits that let someone other than the owner (and the admin group, when it is the
/// file's group) read a key file.
fn readable_by_others(path: &Path, admin_gid: Option<u32>) -> Option<String> {
    let m = std::fs::symlink_metadata(path).ok()?;
    let mode = m.mode() & 0o777;
    let group_ok = admin_gid == Some(m.gid());
    if mode & 0o004 != 0 || (mode & 0o040 != 0 && !group_ok) {
        Some(format!(
            "{} mode {mode:04o} gid {}",
            path.display(),
            m.gid()
        ))
    } else {
        None
    }
}

#[test]
fn key_files_are_never_readable_by_others_even_while_being_written() {
    let sp = Env::new();
    let tenants: Vec<Env> = (0..5).map(|_| Env::new()).collect();
    let mut dirs = vec![sp.data.clone()];
    dirs.extend(tenants.iter().map(|t| t.data.clone()));
    for d in &dirs {
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(d)
            .unwrap();
    }
    // Watch every data directory from another thread, as fast as it can walk them, for the
    // whole run: a key file that is ever world-readable, or group-readable by a group other
    // than the store's admin group, is recorded.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (stop, dirs, store) = (stop.clone(), dirs.clone(), sp.data.join("store"));
        std::thread::spawn(move || {
            let (mut observations, mut bad) = (0u64, Vec::<String>::new());
            while !stop.load(Ordering::Relaxed) {
                for (i, dir) in dirs.iter().enumerate() {
                    for p in walk_racing(dir).into_iter().filter(|p| is_key_file(p)) {
                        observations += 1;
                        // Tenant keys are owner-only; store keys may be the admin group's, read
                        // now: the store (and its group) may have appeared since the last walk.
                        let gid = if i == 0 {
                            std::fs::metadata(&store).ok().map(|m| m.gid())
                        } else {
                            None
                        };
                        bad.extend(readable_by_others(&p, gid));
                    }
                }
            }
            (observations, bad)
        })
    };
    for i in 0..15 {
        let kind = if i % 3 == 0 { "rsa-2048" } else { "ecdsa-p256" };
        sp.generate(&["--key-type", kind]);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        sp.ok(&[
            "sp",
            "cert",
            "generate",
            "--key-type",
            "ecdsa-p256",
            "--apply",
        ]);
        add_tenant(&sp, "acme");
        let gw = GatewayProc::start(&sp, &[]);
        let thumb: crate::util::CertJson =
            serde_json::from_str(&sp.ok(&["sp", "cert", "current", "--json"])).unwrap();
        for t in &tenants {
            std::fs::write(t.path("pw"), format!("{TENANT_PASSWORD}\n")).unwrap();
            t.ok(&[
                "tenant",
                "provider",
                "add",
                &gw.addr.to_string(),
                "--username",
                "acme",
                "--password-file",
                t.path("pw").to_str().unwrap(),
                "--name",
                "sp",
                "--thumbprint",
                &thumb.thumbprint,
            ]);
        }
        drop(gw);
    });
    stop.store(true, Ordering::Relaxed);
    let (observations, bad) = watcher.join().unwrap();
    assert!(
        observations > 50,
        "the watcher saw key files only {observations} times"
    );
    assert!(
        bad.is_empty(),
        "key files readable by others:\n{}",
        bad.join("\n")
    );
}

/// Every readable and writable mapping of process `pid` (heap, anonymous, stacks), read through
/// `/proc/PID/mem`; what cannot be read (a mapping that went away) is skipped.
fn process_memory(pid: u32) -> Vec<Vec<u8>> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("read the maps");
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))
        .expect("read another process's memory (needs root, or the same user and ptrace access)");
    let mut regions = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with("rw") {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        let mut buf = vec![0u8; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_ok() && mem.read_exact(&mut buf).is_ok() {
            regions.push(buf);
        }
    }
    regions
}

fn found_in(regions: &[Vec<u8>], needle: &[u8]) -> bool {
    let finder = memchr::memmem::Finder::new(needle);
    regions.iter().any(|r| finder.find(r).is_some())
}

// Multi-threaded: the gateway must keep serving while the test reads its memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_forgets_tenant_credentials_once_checked() {
    let env = Env::new();
    let (gw, pin, id) = gateway_with_enrolled_tenant(&env, &[]).await;
    let guesses = ["wrong guess one", "wrong guess two"];
    for g in guesses {
        let r = enroll(gw.addr, pin, &id, "acme", g).await;
        assert_eq!(r.status, 401);
    }
    let b64 = |p: &str| base64::engine::general_purpose::STANDARD.encode(format!("acme:{p}"));
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        (
            "the Basic value of the right password".to_string(),
            b64(TENANT_PASSWORD).into_bytes(),
        ),
        (
            "the right password".into(),
            TENANT_PASSWORD.as_bytes().to_vec(),
        ),
    ];
    for g in guesses {
        needles.push((format!("the Basic value of {g:?}"), b64(g).into_bytes()));
        needles.push((format!("the wrong guess {g:?}"), g.as_bytes().to_vec()));
    }
    // The connections close as the requests end; wait for the gateway to let go of them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let memory = process_memory(gw.child.id());
        assert!(!memory.is_empty(), "no memory could be read");
        let left: Vec<&String> = needles
            .iter()
            .filter(|(_, n)| found_in(&memory, n))
            .map(|(what, _)| what)
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still in the gateway's memory: {left:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
