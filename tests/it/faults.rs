//! Faults around the gateway and the store: backends that refuse or drop, the gateway killed and
//! restarted under load, a database locked by another process, a full disk.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::gateway_util::*;
use crate::util::Env;

/// A backend that reads `keep` bytes, then resets the connection.
async fn dropping_backend(keep: usize) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; keep];
                let _ = s.read_exact(&mut buf).await;
                // A reset, not a clean close, is the point; the blocking drop it can cause is
                // nothing in a test backend.
                #[allow(deprecated)]
                let _ = s.set_linger(Some(Duration::ZERO));
            });
        }
    });
    addr
}

/// A loopback port nothing listens on.
fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn backends_that_refuse_or_drop_mid_stream_end_only_their_tunnel() {
    let env = Env::new();
    provider_with_tenant(&env, "acme").await;
    let dropper = dropping_backend(100_000).await;
    env.ok(&[
        "sp",
        "tenant",
        "service",
        "add",
        "acme",
        "dropper",
        &dropper.to_string(),
    ]);
    env.ok(&[
        "sp",
        "tenant",
        "service",
        "add",
        "acme",
        "down",
        &closed_port().to_string(),
    ]);
    let gw = GatewayProc::start(&env, &[]);
    let pin = applied_pin(&env);
    let id = ClientIdentity::new("acme");
    assert_eq!(
        enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD)
            .await
            .status,
        200
    );

    let r = refused(tunnel(gw.addr, pin, Some(&id), "down").await);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (502, Some("backend_unreachable"))
    );

    // 10 MB into a backend that resets after 100 kB: the tunnel ends (error or EOF), in time.
    let stream = tunnel(gw.addr, pin, Some(&id), "dropper")
        .await
        .unwrap_or_else(|r| panic!("{}", r.json));
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writer = tokio::spawn(async move {
        let chunk = vec![7u8; 64 * 1024];
        for _ in 0..160 {
            if wr.write_all(&chunk).await.is_err() {
                return false;
            }
        }
        true
    });
    let mut sink = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), rd.read_to_end(&mut sink)).await;
    assert!(ended.is_ok(), "the tunnel outlived its backend");
    assert!(sink.is_empty(), "the dropping backend never sends");
    let _ = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .expect("the writer ends");

    // The gateway goes on: the echo service works and the close was logged with its counts.
    let data = vec![42u8; 1 << 20];
    let stream = tunnel(gw.addr, pin, Some(&id), "echo")
        .await
        .unwrap_or_else(|r| panic!("{}", r.json));
    assert_eq!(echo_roundtrip(stream, data.clone()).await, data);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(env.path("gateway.log")).unwrap();
    assert!(log.contains("backend unreachable"), "{log}");
    assert!(
        log.contains("service=dropper") && log.contains("tunnel closed"),
        "{log}"
    );
}

/// One short echo through the tenant's local tunnel: `Ok(true)` intact, `Ok(false)` corrupted,
/// `Err` when the connection failed (gateway down).
async fn echo_once(local: SocketAddr, round: u32) -> Result<bool, ()> {
    let data: Vec<u8> = (0..4096u32).map(|i| (i ^ round) as u8).collect();
    let mut s = tokio::net::TcpStream::connect(local)
        .await
        .map_err(|_| ())?;
    s.write_all(&data).await.map_err(|_| ())?;
    s.shutdown().await.map_err(|_| ())?;
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut back))
        .await
        .map_err(|_| ())?
        .map_err(|_| ())?;
    if back.is_empty() {
        return Err(());
    }
    Ok(back == data)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_killed_and_restarted_under_load_is_rejoined_by_tenant_tunnels() {
    let sp = Env::new();
    provider_with_tenant(&sp, "acme").await;
    let listen = closed_port().to_string();
    let mut gw = GatewayProc::start(&sp, &["--listen", &listen]);
    let tenant = tenant_of(&sp, &listen);
    let (mut tunnel_proc, local) = start_tenant_tunnel(&tenant, false);

    // Load: eight clients echoing through the tenant tunnel, all the time.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let results = std::sync::Arc::new(std::sync::Mutex::new(
        Vec::<(Instant, Result<bool, ()>)>::new(),
    ));
    let mut clients = Vec::new();
    for c in 0..8u32 {
        let (stop, results) = (stop.clone(), results.clone());
        clients.push(tokio::spawn(async move {
            let mut round = c << 16;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = echo_once(local, round).await;
                results.lock().unwrap().push((Instant::now(), r));
                round += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed_at = Instant::now();
    gw.child.kill().unwrap(); // SIGKILL
    gw.child.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _gw2 = GatewayProc::start(&sp, &["--listen", &listen]);
    let restarted_at = Instant::now();
    // Wait (bounded) until the load has succeeded 40 times after the restart.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ok_after = results
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, r)| *t > restarted_at && *r == Ok(true))
            .count();
        if ok_after >= 40 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let results = results.lock().unwrap();
    let corrupted = results.iter().filter(|(_, r)| *r == Ok(false)).count();
    let ok_before = results
        .iter()
        .filter(|(t, r)| *t < killed_at && *r == Ok(true))
        .count();
    let ok_after = results
        .iter()
        .filter(|(t, r)| *t > restarted_at && *r == Ok(true))
        .count();
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    assert_eq!(corrupted, 0, "corrupted echoes");
    assert!(ok_before > 0, "no echo succeeded before the kill");
    assert!(
        ok_after >= 40,
        "tunnels did not come back: {ok_after} after the restart, {failed} failed"
    );
    assert!(
        tunnel_proc.try_wait().unwrap().is_none(),
        "`tenant tunnel` must survive the gateway's restart"
    );
    let _ = tunnel_proc.kill();
    let _ = tunnel_proc.wait();
}

/// Holds an exclusive SQLite lock on `db` from another process (python3's sqlite3) for `secs`.
fn lock_database(db: &std::path::Path, secs: u32) -> Child {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys, time\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN EXCLUSIVE')\n\
             print('locked', flush=True)\n\
             time.sleep(float(sys.argv[2]))\n",
            db.to_str().unwrap(),
            &secs.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = crate::util::first_stdout_line(&mut child);
    assert_eq!(line.trim(), "locked");
    child
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_locked_by_another_process_is_a_clear_error_and_tunnels_go_on() {
    let env = Env::new();
    let (gw, pin, id) = gateway_with_enrolled_tenant(&env, &[]).await;
    let mut locker = lock_database(&env.data.join("sp.db"), 12);

    // A write from the command line waits, then says what is wrong, and changes nothing.
    let out = env
        .cmd()
        .args(["sp", "tenant", "add", "bob", "--password-stdin"])
        .write_stdin("bob password 123\n")
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("locked") && e.contains("sp.db"), "{e}");
    // Tunnels of enrolled tenants go on while the database is locked.
    let data = vec![9u8; 256 * 1024];
    let stream = tunnel(gw.addr, pin, Some(&id), "echo")
        .await
        .unwrap_or_else(|r| panic!("{}", r.json));
    assert_eq!(echo_roundtrip(stream, data.clone()).await, data);

    locker.kill().unwrap();
    locker.wait().unwrap();
    env.cmd()
        .args(["sp", "tenant", "add", "bob", "--password-stdin"])
        .write_stdin("bob password 123\n")
        .assert()
        .success();
    let tenants: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "tenant", "list", "--json"])).unwrap();
    assert_eq!(tenants.as_array().unwrap().len(), 2, "{tenants}");
}

/// A small tmpfs mounted over a directory for the length of a test (needs root).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }

    /// Fills the disk to the last byte; returns the filler's path.
    fn fill(&self) -> std::path::PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let mut byte = [0u8; 1];
        while f.write_all(&byte[..]).is_ok() {
            byte[0] = 1;
        }
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
#[ignore = "needs root to mount a small tmpfs; .ci/run runs it"]
fn a_full_disk_is_a_clear_error_and_leaves_no_half_state() {
    let env = Env::new();
    std::fs::write(env.path("license.toml"), "licensed_to = \"Disk Test\"\n").unwrap();
    let disk = SmallDisk::mount(&env.data, "3m").expect(
        "cannot mount a tmpfs (needs root with CAP_SYS_ADMIN): the full-disk test cannot run",
    );
    env.ok(&[
        "sp",
        "license",
        "install",
        env.path("license.toml").to_str().unwrap(),
    ]);
    let first = env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    env.cmd()
        .args(["sp", "tenant", "add", "acme", "--password-stdin"])
        .write_stdin(format!("{TENANT_PASSWORD}\n"))
        .assert()
        .success();
    let filler = disk.fill();

    // A new store entry: refused with the reason, nothing half-written.
    let e = env.fails(&["sp", "cert", "generate", "--key-type", "rsa-2048"], 1);
    assert!(e.contains("No space left on device"), "{e}");
    assert!(e.contains("hint: the file system is full"), "{e}");
    assert_eq!(
        e.matches("os error 28").count(),
        1,
        "the cause is said once: {e}"
    );
    // The database: refused with the reason.
    let out = env
        .cmd()
        .args(["sp", "tenant", "add", "bob", "--password-stdin"])
        .write_stdin("bob password 123\n")
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.to_lowercase().contains("full") || e.contains("space"),
        "{e}"
    );

    std::fs::remove_file(filler).unwrap();
    // Everything from before is whole, and writes work again.
    let list = env.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].thumbprint, first.thumbprint);
    env.ok(&["sp", "cert", "check", &first.thumbprint]);
    env.generate(&["--key-type", "ecdsa-p256"]);
    assert_eq!(
        std::fs::read_dir(env.data.join("store/tmp"))
            .unwrap()
            .count(),
        0,
        "the failed write left files in store/tmp"
    );
    env.cmd()
        .args(["sp", "tenant", "add", "bob", "--password-stdin"])
        .write_stdin("bob password 123\n")
        .assert()
        .success();
    let tenants: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "tenant", "list", "--json"])).unwrap();
    assert_eq!(tenants.as_array().unwrap().len(), 2, "{tenants}");
    drop(disk);
}
