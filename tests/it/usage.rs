//! Usage accounting end to end: a real gateway counts what real tunnels carry, writes it to the
//! SP database in batches, and `sp tenant usage`, the API and the console read it back; a
//! gateway killed with -9 loses at most what it counted since its last flush.

use std::time::{Duration, Instant};

use crate::console::{ConsoleProc, admin_and_token};
use crate::gateway_util::{echo_roundtrip, gateway_with_enrolled_tenant, tunnel};
use crate::util::Env;

/// The tenant's totals this month, as `sp tenant usage --per total --json` reports them.
fn totals(env: &Env) -> (i64, i64, i64) {
    let rows: serde_json::Value = serde_json::from_str(
        &env.ok(&["sp", "tenant", "usage", "acme", "--per", "total", "--json"]),
    )
    .unwrap();
    let rows = rows.as_array().unwrap();
    assert!(rows.len() <= 1, "{rows:?}");
    rows.first().map_or((0, 0, 0), |r| {
        (
            r["bytes_up"].as_i64().unwrap(),
            r["bytes_down"].as_i64().unwrap(),
            r["tunnels"].as_i64().unwrap(),
        )
    })
}

/// Waits (a flush is every 5 s) until the totals are `want`.
async fn wait_for_totals(env: &Env, want: (i64, i64, i64)) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = totals(env);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "usage {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_tunnels_carry_is_recorded_per_tenant_and_read_back_everywhere() {
    let env = Env::new();
    let (mut gw, pin, id) = gateway_with_enrolled_tenant(&env, &[]).await;
    let token = admin_and_token(&env);
    let console = ConsoleProc::start(&env);

    // Two tunnels at once, of different sizes.
    let sizes = [1024 * 1024, 300 * 1024];
    let mut carried = 0i64;
    let mut tasks = Vec::new();
    for n in sizes {
        let t = tunnel(gw.addr, pin, Some(&id), "echo")
            .await
            .ok()
            .expect("a tunnel");
        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        tasks.push(tokio::spawn(
            async move { echo_roundtrip(t, data).await.len() },
        ));
        carried += n as i64;
    }
    for t in tasks {
        t.await.unwrap();
    }
    wait_for_totals(&env, (carried, carried, 2)).await;

    // An open tunnel is counted as open by the API and the tenants' list, and its time runs.
    let held = tunnel(gw.addr, pin, Some(&id), "echo")
        .await
        .ok()
        .expect("a tunnel");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = console.api("GET", "/activity", &token, None).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let all = a.json();
        if all[0]["open_tunnels"] == 1 {
            assert_eq!(all[0]["tenant"], "acme");
            assert!(
                all[0]["bytes_24h"].as_i64().unwrap() >= 2 * carried,
                "{all}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no open tunnel seen: {all}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The command line's list shows the same as the console's (columns read by position).
    let list = env.ok(&["sp", "tenant", "list"]);
    let mut lines = list.lines();
    let (header, row) = (lines.next().unwrap(), lines.next().unwrap());
    let column = |name: &str| {
        let at = header
            .find(name)
            .unwrap_or_else(|| panic!("no {name}: {list}"));
        row[at..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(column("OPEN TUNNELS"), "1", "{list}");
    assert_eq!(column("MACHINES"), "1", "{list}");
    assert!(row.contains(" MB"), "{list}");
    let usage = console
        .api(
            "GET",
            "/usage?tenant=acme&per=hour&by_machine=true",
            &token,
            None,
        )
        .await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    let rows = usage.json();
    assert_eq!(rows[0]["machine"].as_str().unwrap().len(), 64, "{rows}");
    let bad = console
        .api("GET", "/usage?since=yesterday-ish", &token, None)
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("since"), "{}", bad.text);
    let nobody = console
        .api("GET", "/usage?tenant=nobody", &token, None)
        .await;
    assert_eq!(nobody.status, 404, "{}", nobody.text);
    drop(held);

    // CSV for billing: a header and exact figures.
    let csv = env.ok(&["sp", "tenant", "usage", "--per", "total", "--csv"]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "tenant,from,until,bytes_up,bytes_down,tunnels,tunnel_seconds"
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(row[0], "acme");
    assert!(row[3].parse::<i64>().unwrap() >= carried, "{csv}");
    // Bad input: a clear error, exit 2; an unknown tenant is not an empty bill.
    let e = env.fails(&["sp", "tenant", "usage", "--since", "last tuesday"], 2);
    assert!(e.contains("--since") && e.contains("RFC 3339"), "{e}");
    let e = env.fails(
        &[
            "sp",
            "tenant",
            "usage",
            "--since",
            "2026-12-02",
            "--until",
            "2026-12-01",
        ],
        2,
    );
    assert!(e.contains("before"), "{e}");
    let out = env.run(&["sp", "tenant", "usage", "nobody"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));

    // Killed with -9 right after a transfer: what was flushed stays, at most the last
    // unflushed seconds are lost, nothing is counted twice.
    let (before_up, _, before_tunnels) = totals(&env);
    let t = tunnel(gw.addr, pin, Some(&id), "echo")
        .await
        .ok()
        .expect("a tunnel");
    let last = 64 * 1024;
    echo_roundtrip(t, vec![7u8; last]).await;
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &gw.child.id().to_string()])
        .status();
    let _ = gw.child.wait();
    let (after_up, _, after_tunnels) = totals(&env);
    assert!(
        after_up == before_up || after_up == before_up + last as i64,
        "before {before_up}, after {after_up}"
    );
    assert!(after_tunnels == before_tunnels || after_tunnels == before_tunnels + 1);
    let _ = gw.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_stops_gracefully_writes_its_last_counts() {
    let env = Env::new();
    let (mut gw, pin, id) = gateway_with_enrolled_tenant(&env, &[]).await;
    let t = tunnel(gw.addr, pin, Some(&id), "echo")
        .await
        .ok()
        .expect("a tunnel");
    echo_roundtrip(t, vec![1u8; 10_000]).await;
    // Stopped before its first flush (5 s): the counts go with the shutdown.
    assert!(gw.stop().success());
    assert_eq!(totals(&env), (10_000, 10_000, 1));
}

/// The gateway's /metrics page.
async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    tcp.read_to_string(&mut body).await.unwrap();
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_tenant_metrics_only_when_asked() {
    for per_tenant in [false, true] {
        let env = Env::new();
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let free_text = free.to_string();
        let mut args = vec!["--metrics", free_text.as_str()];
        if per_tenant {
            args.push("--metrics-per-tenant");
        }
        let (_gw, pin, id) = gateway_with_enrolled_tenant(&env, &args).await;
        let t = tunnel(_gw.addr, pin, Some(&id), "echo")
            .await
            .ok()
            .expect("a tunnel");
        echo_roundtrip(t, vec![3u8; 4321]).await;
        let wanted = "cloudgate_tenant_relayed_bytes_total{tenant=\"acme\",direction=\"up\"} 4321";
        if per_tenant {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let body = scrape(free).await;
                if body.contains(wanted) {
                    assert!(
                        body.contains("cloudgate_tenant_tunnels_total{tenant=\"acme\"} 1"),
                        "{body}"
                    );
                    break;
                }
                assert!(Instant::now() < deadline, "no {wanted}: {body}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        } else {
            // Past a flush: the usage is recorded, yet no per-tenant series.
            wait_for_totals(&env, (4321, 4321, 1)).await;
            let body = scrape(free).await;
            assert!(!body.contains("tenant=\""), "{body}");
        }
    }
    let e = Env::new().fails(&["sp", "gateway", "run", "--metrics-per-tenant"], 2);
    assert!(e.contains("--metrics"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_of_one_database_add_up_and_machines_are_told_apart() {
    let env = Env::new();
    let (gw_a, pin, id) = gateway_with_enrolled_tenant(&env, &["--id", "a"]).await;
    let gw_b = crate::gateway_util::GatewayProc::start_logged(&env, "b.log", &["--id", "b"]);
    // A second machine of the same tenant, enrolled through the other gateway.
    let second = crate::gateway_util::ClientIdentity::new("acme");
    let r = crate::gateway_util::enroll(
        gw_b.addr,
        pin,
        &second,
        "acme",
        crate::gateway_util::TENANT_PASSWORD,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let through_a = tunnel(gw_a.addr, pin, Some(&id), "echo")
        .await
        .ok()
        .expect("a tunnel");
    let through_b = tunnel(gw_b.addr, pin, Some(&second), "echo")
        .await
        .ok()
        .expect("a tunnel");
    let (a, b) = tokio::join!(
        echo_roundtrip(through_a, vec![1u8; 70_000]),
        echo_roundtrip(through_b, vec![2u8; 30_000])
    );
    assert_eq!((a.len(), b.len()), (70_000, 30_000));
    wait_for_totals(&env, (100_000, 100_000, 2)).await;
    let rows: serde_json::Value = serde_json::from_str(&env.ok(&[
        "sp",
        "tenant",
        "usage",
        "acme",
        "--per",
        "total",
        "--by-machine",
        "--json",
    ]))
    .unwrap();
    let mut ups: Vec<i64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["bytes_up"].as_i64().unwrap())
        .collect();
    ups.sort();
    assert_eq!(ups, [30_000, 70_000], "{rows}");
}
