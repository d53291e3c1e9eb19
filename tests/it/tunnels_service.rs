//! `tenant tunnels run`: several tunnels from a file, picked up again when the gateway comes
//! back, reloaded on SIGHUP, with its own health and metrics endpoint.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::gateway_util::*;
use crate::util::Env;
use crate::util::free_port;

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Waits (polling, up to a minute) until `cond` holds; says what it waited for if it never does.
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never happened: {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn echoes(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if s.write_all(b"ping through the tunnel").is_err() {
        return false;
    }
    let mut buf = [0u8; 23];
    s.read_exact(&mut buf).is_ok() && &buf == b"ping through the tunnel"
}

fn write_config(tenant: &Env, ports: &[u16]) {
    let mut text = String::from("check_interval_secs = 300\n");
    for p in ports {
        text.push_str(&format!(
            "[[tunnel]]\nprovider = \"sp\"\nservice = \"echo\"\nlisten = \"127.0.0.1:{p}\"\n"
        ));
    }
    std::fs::write(tenant.data.join("tunnels.toml"), text).unwrap();
}

fn signal(child: &Child, sig: &str) {
    std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnels_run_reconnects_reloads_and_reports() {
    let sp = Env::new();
    provider_with_tenant(&sp, "acme").await;
    let gw_port = free_port().to_string();
    let listen = format!("127.0.0.1:{gw_port}");
    let mut gw = GatewayProc::start(&sp, &["--listen", &listen]);
    let tenant = Env::new();
    let pw = tenant.path("pw");
    std::fs::write(&pw, format!("{TENANT_PASSWORD}\n")).unwrap();
    let cur: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "cert", "current", "--json"])).unwrap();
    tenant.ok(&[
        "tenant",
        "provider",
        "add",
        &listen,
        "--name",
        "sp",
        "--username",
        "acme",
        "--password-file",
        pw.to_str().unwrap(),
        "--thumbprint",
        cur["thumbprint"].as_str().unwrap(),
    ]);
    // The gateway goes away before the tunnels start.
    tokio::task::block_in_place(|| gw.stop());

    let (a, b) = (free_port(), free_port());
    write_config(&tenant, &[a]);
    let mut svc = std::process::Command::new(assert_cmd::cargo::cargo_bin("cloudgate"))
        .args([
            "tenant",
            "tunnels",
            "run",
            "--metrics",
            "127.0.0.1:0",
            "--json",
        ])
        .env("CLOUDGATE_HOME", &tenant.data)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(tenant.path("tunnels.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let line = crate::util::first_stdout_line(&mut svc);
    let started: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert_eq!(started["tunnels"], 1);
    let metrics: SocketAddr = started["metrics"].as_str().unwrap().parse().unwrap();

    tokio::task::block_in_place(|| {
        until("the tunnel reports the gateway away", || {
            let (code, body) = get(metrics, "/health");
            code == 503 && body.contains("\"retrying\"")
        });
        assert!(!echoes(a));
    });

    // The gateway comes back: the tunnel is picked up by itself.
    let mut gw = GatewayProc::start(&sp, &["--listen", &listen]);
    tokio::task::block_in_place(|| {
        until("the tunnel comes up after the gateway returns", || {
            get(metrics, "/health").0 == 200
        });
        assert!(echoes(a), "data goes through once up");
        let (code, text) = get(metrics, "/metrics");
        assert_eq!(code, 200);
        assert!(
            text.contains(&format!(
                "cloudgate_tunnel_up{{provider=\"sp\",service=\"echo\",listen=\"127.0.0.1:{a}\"}} 1"
            )),
            "{text}"
        );
        assert!(text.contains("cloudgate_tunnel_restarts_total"), "{text}");

        // SIGHUP with a second tunnel: it starts, the first keeps going.
        write_config(&tenant, &[a, b]);
        signal(&svc, "-HUP");
        until("the added tunnel carries data", || echoes(b));
        assert!(echoes(a));
        let (_, body) = get(metrics, "/health");
        let health: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(health["tunnels"].as_array().unwrap().len(), 2, "{health}");

        // SIGHUP without the first: it stops listening.
        write_config(&tenant, &[b]);
        signal(&svc, "-HUP");
        until("the removed tunnel stops listening", || {
            TcpStream::connect(("127.0.0.1", a)).is_err()
        });
        assert!(echoes(b));

        // A broken file on SIGHUP keeps what runs.
        std::fs::write(tenant.data.join("tunnels.toml"), "[[tunnel]]\nlisten = 1\n").unwrap();
        signal(&svc, "-HUP");
        until("the broken file is reported and the tunnels kept", || {
            std::fs::read_to_string(tenant.path("tunnels.log"))
                .unwrap_or_default()
                .contains("the running tunnels are kept")
        });
        assert!(echoes(b));

        // Listening is not health: with the gateway stopped the tunnel cannot carry a
        // connection, and /health says so within seconds (a probe every 2 s, 3 s to answer),
        // with the reason; it recovers by itself when the gateway returns.
        let _ = gw.stop();
        let stopped = Instant::now();
        until("the health reports the stopped gateway", || {
            get(metrics, "/health").0 == 503
        });
        assert!(
            stopped.elapsed() < Duration::from_secs(8),
            "seen after {:?}, the probe runs every 2 s",
            stopped.elapsed()
        );
        let (_, body) = get(metrics, "/health");
        let health: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(health["tunnels"][0]["state"], "unreachable", "{health}");
        assert!(
            health["tunnels"][0]["problem"]
                .as_str()
                .is_some_and(|p| p.contains("cannot reach the service provider")),
            "{health}"
        );
        let _gw = GatewayProc::start(&sp, &["--listen", &listen]);
        until("the health recovers when the gateway returns", || {
            get(metrics, "/health").0 == 200
        });
        assert!(echoes(b));

        signal(&svc, "-TERM");
        let status = svc.wait().unwrap();
        let log = std::fs::read_to_string(tenant.path("tunnels.log")).unwrap();
        assert!(status.success(), "{status:?}: {log}");
    });
}

#[test]
fn a_missing_or_broken_configuration_is_refused_with_the_file_named() {
    let tenant = Env::new();
    let e = tenant.fails(&["tenant", "tunnels", "run"], 2);
    assert!(e.contains("tunnels.toml does not exist"), "{e}");
    let bad = tenant.path("t.toml");
    std::fs::write(
        &bad,
        "[[tunnel]]\nprovider = \"sp\"\nservice = \"x\"\nlisten = \"nowhere\"\n",
    )
    .unwrap();
    let e = tenant.fails(
        &[
            "tenant",
            "tunnels",
            "run",
            "--config",
            bad.to_str().unwrap(),
        ],
        2,
    );
    assert!(e.contains("t.toml") && e.contains("listen"), "{e}");
}
