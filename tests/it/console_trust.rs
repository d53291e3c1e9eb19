//! The console as a stranger and a departing administrator would try it: a session outlives
//! neither a new password nor a removal, whoever made the change, and one address holding idle
//! connections cannot take every slot from the administrators.

use std::time::{Duration, Instant};

use crate::console::{ADMIN_PASSWORD, ConsoleProc, form, sp_with_admin};

async fn login(console: &ConsoleProc) -> String {
    let ok = console
        .call(
            "POST",
            "/login",
            &[],
            Some(form(&[("name", "alice"), ("password", ADMIN_PASSWORD)])),
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    ok.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_on_the_command_line_ends_the_console_sessions() {
    let (env, _token) = sp_with_admin();
    let console = ConsoleProc::start(&env);
    let cookie = login(&console).await;
    let dash = console.call("GET", "/", &[("cookie", &cookie)], None).await;
    assert_eq!(dash.status, 200);
    let pw = env.path("new-admin-pw");
    std::fs::write(&pw, "a different long password\n").unwrap();
    env.ok(&[
        "sp",
        "admin",
        "set-password",
        "alice",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    let after = console.call("GET", "/", &[("cookie", &cookie)], None).await;
    assert_eq!(after.status, 303, "the old session still works");
    assert_eq!(after.headers["location"], "/login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holding_idle_connections_leaves_room_for_the_administrator() {
    let (env, token) = sp_with_admin();
    let console = ConsoleProc::start(&env);
    // 130 idle connections from another loopback address (more than the console's slots).
    let mut idle = Vec::new();
    for _ in 0..130 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        if let Ok(s) = socket.connect(console.addr).await {
            idle.push(s);
        }
    }
    // The administrator, from 127.0.0.1, still gets every request through, at once (without
    // the per-address limit the idle ones hold every slot until the 10 s handshake timeout).
    let started = Instant::now();
    for _ in 0..8 {
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            console.api("GET", "/tenants", &token, None),
        )
        .await
        .expect("the console answered the administrator");
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(idle);
}
