//! The console: its administrators and API tokens from the command line, its REST API with
//! tokens and sessions, its pages' sessions, CSRF tokens and escaping, against a running
//! `cloudgate sp console` over real HTTPS.

use std::net::SocketAddr;
use std::process::{Child, Stdio};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

use crate::gateway_util::{
    ClientIdentity, GatewayProc, TENANT_PASSWORD, applied_pin, connect, enroll,
};
use crate::util::Env;

pub const ADMIN_PASSWORD: &str = "correct horse battery";

/// A running console and the pin of the certificate it serves.
pub struct ConsoleProc {
    child: Child,
    pub addr: SocketAddr,
    pub pin: [u8; 32],
}

impl Drop for ConsoleProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ConsoleProc {
    pub fn start(env: &Env) -> ConsoleProc {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cloudgate"))
            .args(["sp", "console", "--listen", "127.0.0.1:0", "--json"])
            .env("CLOUDGATE_HOME", &env.data)
            .env("CLOUDGATE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(env.path("console.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let line = crate::util::first_stdout_line(&mut child);
        let started: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!(
                "{line:?}: {}",
                std::fs::read_to_string(env.path("console.log")).unwrap_or_default()
            )
        });
        ConsoleProc {
            child,
            addr: started["listen"].as_str().unwrap().parse().unwrap(),
            pin: applied_pin(env),
        }
    }

    /// One request on a fresh connection that accepts only the SP's certificate.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Answer {
        let (tls, _) = connect(self.addr, Some(self.pin), None).await.unwrap();
        let (mut sender, conn) = http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        let host = self.addr.to_string();
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let payload = match body {
            Some((content_type, text)) => {
                req = req.header("content-type", content_type);
                text
            }
            None => String::new(),
        };
        let resp = sender
            .send_request(req.body(Full::new(Bytes::from(payload))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Answer {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub async fn api(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> Answer {
        let auth = format!("Bearer {token}");
        self.call(
            method,
            &format!("/api/v1{path}"),
            &[("authorization", &auth)],
            body.map(|b| ("application/json", b.to_string())),
        )
        .await
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }
}

/// An SP with a certificate in use, an administrator and an API token.
pub fn sp_with_admin() -> (Env, String) {
    let env = Env::new();
    env.generate(&["--apply", "--key-type", "ecdsa-p256"]);
    let token = admin_and_token(&env);
    (env, token)
}

/// Adds the administrator `alice` and an API token named `ci` to an SP; returns the token.
pub fn admin_and_token(env: &Env) -> String {
    let pw = env.path("admin-pw");
    std::fs::write(&pw, format!("{ADMIN_PASSWORD}\n")).unwrap();
    env.ok(&[
        "sp",
        "admin",
        "add",
        "alice",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    let created: serde_json::Value = serde_json::from_str(
        &env.ok(&["sp", "admin", "token", "create", "--name", "ci", "--json"]),
    )
    .unwrap();
    created["token"].as_str().unwrap().to_string()
}

pub fn form(fields: &[(&str, &str)]) -> (&'static str, String) {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    (
        "application/x-www-form-urlencoded",
        fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&"),
    )
}

#[tokio::test]
async fn the_api_does_every_operation_with_a_token_and_nothing_without() {
    let (env, token) = sp_with_admin();
    let mut console = ConsoleProc::start(&env);

    // No token, a made-up one: 401, and the body says how to get one.
    let a = console.call("GET", "/api/v1/certificates", &[], None).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["code"], "unauthorized");
    let fake = format!("cgapi_{}_{}", "0".repeat(16), "0".repeat(64));
    assert_eq!(
        console
            .api("GET", "/certificates", &fake, None)
            .await
            .status,
        401
    );
    // The OpenAPI document is public and lists the calls.
    let doc = console
        .call("GET", "/api/v1/openapi.json", &[], None)
        .await
        .json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/tenants"]["post"].is_object());

    // Certificates: list, generate, reject bad input.
    let list = console
        .api("GET", "/certificates", &token, None)
        .await
        .json();
    assert_eq!(list[0]["applied"], true, "{list}");
    let made = console
        .api(
            "POST",
            "/certificates",
            &token,
            Some(serde_json::json!({
            "friendly_name": "next one", "key_type": "ecdsa-p256", "valid_days": 30 })),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let next = made.json();
    assert_eq!(next["applied"], false);
    for (bad, said) in [
        (serde_json::json!({ "key_type": "rsa1024" }), "key type"),
        (serde_json::json!({ "valid_days": 0 }), "day"),
        (serde_json::json!({ "subject": "not a subject" }), "subject"),
        (serde_json::json!({ "colour": "red" }), "colour"),
    ] {
        let a = console
            .api("POST", "/certificates", &token, Some(bad.clone()))
            .await;
        assert_eq!(a.status, 400, "{bad}: {}", a.text);
        assert!(a.text.contains(said), "{bad}: {}", a.text);
    }
    // A PKCS#12 file that openssl wrote, uploaded as the command line would import it.
    let pfx = crate::util::openssl_pfx(&env, "import", "imported.example");
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&pfx).unwrap())
    };
    let a = console
        .api(
            "POST",
            "/certificates/import",
            &token,
            Some(serde_json::json!({
            "file_base64": b64, "password": "wrong" })),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(a.text.contains("password"), "{}", a.text);
    let a = console
        .api(
            "POST",
            "/certificates/import",
            &token,
            Some(serde_json::json!({
            "file_base64": "bm90IGEgY2VydGlmaWNhdGU=", "password": "" })),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    let a = console
        .api(
            "POST",
            "/certificates/import",
            &token,
            Some(serde_json::json!({
            "file_base64": b64, "password": "pfx secret", "friendly_name": "From openssl" })),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json()["friendly_name"], "From openssl");
    assert_eq!(a.json()["source"], "imported");
    assert_eq!(
        env.list().len(),
        3,
        "generated, made in the console, imported"
    );
    // Its PEM (never a key), then it goes; the certificate in use does not.
    let imported = a.json()["sha256"].as_str().unwrap().to_string();
    let p = console
        .api(
            "GET",
            &format!("/certificates/{imported}/pem"),
            &token,
            None,
        )
        .await;
    assert_eq!(p.status, 200);
    assert!(
        p.text.starts_with("-----BEGIN CERTIFICATE-----") && !p.text.contains("PRIVATE"),
        "{}",
        p.text
    );
    let r = console
        .api("DELETE", &format!("/certificates/{imported}"), &token, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(env.list().len(), 2);
    let in_use = list[0]["sha256"].as_str().unwrap();
    let r = console
        .api("DELETE", &format!("/certificates/{in_use}"), &token, None)
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let a = console
        .api("POST", "/certificates/FFFFFFFF/apply", &token, None)
        .await;
    assert_eq!(a.status, 404, "{}", a.text);

    // Tenants.
    let t = console
        .api(
            "POST",
            "/tenants",
            &token,
            Some(serde_json::json!({
            "name": "acme", "description": "Acme backups", "password": TENANT_PASSWORD })),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.text);
    assert!(!t.text.contains(TENANT_PASSWORD), "no secret in an answer");
    let a = console
        .api(
            "POST",
            "/tenants",
            &token,
            Some(serde_json::json!({ "name": "short", "password": "x" })),
        )
        .await;
    assert_eq!(
        (a.status, a.json()["code"].as_str()),
        (400, Some("bad_input")),
        "{}",
        a.text
    );
    let a = console
        .api(
            "POST",
            "/tenants/acme/services",
            &token,
            Some(serde_json::json!({
            "name": "vbr", "target": "127.0.0.1:10005" })),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json()["services"][0]["name"], "vbr");
    assert_eq!(
        console
            .api("POST", "/tenants/acme/disable", &token, None)
            .await
            .json()["enabled"],
        false
    );
    assert_eq!(
        console
            .api("POST", "/tenants/acme/enable", &token, None)
            .await
            .json()["enabled"],
        true
    );
    let a = console
        .api(
            "PUT",
            "/tenants/acme/password",
            &token,
            Some(serde_json::json!({ "password": TENANT_PASSWORD })),
        )
        .await;
    assert_eq!(a.status, 204, "{}", a.text);
    assert_eq!(
        console
            .api("GET", "/tenants/nobody", &token, None)
            .await
            .status,
        404
    );
    let found = console
        .api("GET", "/tenants?q=acme", &token, None)
        .await
        .json();
    assert_eq!(found.as_array().unwrap().len(), 1);

    // A machine enrolls through the gateway: the console sees it, and a switch to a new key
    // without a proof is refused until forced.
    let gw = GatewayProc::start(&env, &[]);
    let id = ClientIdentity::new("laptop");
    let r = enroll(gw.addr, applied_pin(&env), &id, "acme", TENANT_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let acme = console
        .api("GET", "/tenants/acme", &token, None)
        .await
        .json();
    assert_eq!(acme["machines"].as_array().unwrap().len(), 1, "{acme}");
    let sha = next["sha256"].as_str().unwrap();
    let a = console
        .api("POST", &format!("/certificates/{sha}/apply"), &token, None)
        .await;
    assert_eq!(
        (a.status, a.json()["code"].as_str()),
        (409, Some("would_reverify")),
        "{}",
        a.text
    );
    let a = console
        .api("POST", &format!("/certificates/{sha}/stage"), &token, None)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = console
        .api("POST", &format!("/certificates/{sha}/apply"), &token, None)
        .await;
    assert_eq!(
        a.status, 200,
        "staged with a proof: applied without force: {}",
        a.text
    );
    // The console serves the certificate in use from now on.
    console.pin = applied_pin(&env);
    // A renewal of the certificate in use keeps the key and is put into use.
    let r = console
        .api(
            "POST",
            &format!("/certificates/{sha}/renew"),
            &token,
            Some(serde_json::json!({ "valid_days": 30 })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["spki_sha256"], next["spki_sha256"]);
    assert_eq!(r.json()["applied"], true);
    console.pin = applied_pin(&env);
    let current = console
        .api("GET", "/certificates/current", &token, None)
        .await
        .json();
    assert_eq!(current["spki_sha256"], next["spki_sha256"]);
    assert_eq!(
        console.api("GET", "/gateways", &token, None).await.status,
        200
    );

    // A machine revoked, a service taken away, the tenant removed.
    let machine = acme["machines"][0]["sha256"].as_str().unwrap().to_string();
    let t = console
        .api(
            "DELETE",
            &format!("/tenants/acme/machines/{machine}"),
            &token,
            None,
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert!(t.json()["machines"].as_array().unwrap().is_empty());
    let t = console
        .api("DELETE", "/tenants/acme/services/vbr", &token, None)
        .await;
    assert!(
        t.json()["services"].as_array().unwrap().is_empty(),
        "{}",
        t.text
    );
    assert_eq!(
        console
            .api("DELETE", "/tenants/acme/machines/abc", &token, None)
            .await
            .status,
        400
    );
    assert_eq!(
        console
            .api("DELETE", "/tenants/acme", &token, None)
            .await
            .status,
        200
    );
    assert_eq!(
        console
            .api("GET", "/tenants/acme", &token, None)
            .await
            .status,
        404
    );

    // Every change is in the audit log with who made it.
    let audit = console
        .api("GET", "/audit?q=tenant.added", &token, None)
        .await
        .json();
    assert_eq!(audit["total"], 1, "{audit}");
    assert!(
        audit["entries"][0]["details"]["admin"]
            .as_str()
            .unwrap()
            .starts_with("token:ci:"),
        "{audit}"
    );

    // A revoked token, an expired one: 401.
    let created: serde_json::Value = serde_json::from_str(&env.ok(&[
        "sp",
        "admin",
        "token",
        "create",
        "--name",
        "brief",
        "--expires",
        "1s",
        "--json",
    ]))
    .unwrap();
    let brief = created["token"].as_str().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        console
            .api("GET", "/certificates", brief, None)
            .await
            .status,
        401,
        "expired"
    );
    let id = token.split('_').nth(1).unwrap();
    env.ok(&["sp", "admin", "token", "revoke", id]);
    assert_eq!(
        console
            .api("GET", "/certificates", &token, None)
            .await
            .status,
        401,
        "revoked"
    );
}

#[tokio::test]
async fn pages_need_a_session_forms_its_csrf_token_and_every_name_is_escaped() {
    let (env, _token) = sp_with_admin();
    let console = ConsoleProc::start(&env);
    let a = console.call("GET", "/", &[], None).await;
    assert_eq!(
        (a.status, a.headers["location"].to_str().unwrap()),
        (303, "/login")
    );
    let csp = a.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );

    let wrong = console
        .call(
            "POST",
            "/login",
            &[],
            Some(form(&[("name", "alice"), ("password", "wrong password")])),
        )
        .await;
    assert_eq!(wrong.status, 401);
    let ok = console
        .call(
            "POST",
            "/login",
            &[],
            Some(form(&[("name", "alice"), ("password", ADMIN_PASSWORD)])),
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    let set = ok.headers["set-cookie"].to_str().unwrap().to_string();
    for part in ["HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(set.contains(part), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let page = |path: &'static str| {
        let cookie = cookie.clone();
        let console = &console;
        async move {
            console
                .call("GET", path, &[("cookie", &cookie)], None)
                .await
        }
    };
    let dash = page("/").await;
    assert_eq!(dash.status, 200);
    assert!(
        dash.text.contains("Thumbprint: "),
        "the Summary is on the dashboard"
    );
    let csrf = dash
        .text
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();

    // A form without the session's token, or from another origin: 403, nothing done.
    let evil = "\"><img src=x onerror=alert(1)>";
    let add = |token: &str| {
        form(&[
            ("csrf", token),
            ("name", "xss"),
            ("description", evil),
            ("password", TENANT_PASSWORD),
        ])
    };
    let a = console
        .call(
            "POST",
            "/tenants",
            &[("cookie", &cookie)],
            Some(add("0".repeat(64).as_str())),
        )
        .await;
    assert_eq!(a.status, 403);
    let a = console
        .call(
            "POST",
            "/tenants",
            &[("cookie", &cookie), ("origin", "https://evil.example")],
            Some(add(&csrf)),
        )
        .await;
    assert_eq!(a.status, 403);
    assert!(
        !page("/tenants").await.text.contains("xss"),
        "nothing was added"
    );
    // The API with the session: only with X-CSRF-Token.
    let body = serde_json::json!({ "friendly_name": "<script>alert(1)</script>", "key_type": "ecdsa-p256" });
    let a = console
        .call(
            "POST",
            "/api/v1/certificates",
            &[("cookie", &cookie)],
            Some(("application/json", body.to_string())),
        )
        .await;
    assert_eq!((a.status, a.json()["code"].as_str()), (403, Some("csrf")));
    let a = console
        .call(
            "POST",
            "/api/v1/certificates",
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            Some(("application/json", body.to_string())),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);

    // With the token: added; hostile names show as text on every page.
    let a = console
        .call("POST", "/tenants", &[("cookie", &cookie)], Some(add(&csrf)))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    for path in ["/tenants", "/tenants/xss", "/certificates", "/audit"] {
        let p = page(path).await;
        assert_eq!(p.status, 200, "{path}");
        assert!(
            !p.text.contains("<script>alert") && !p.text.contains("<img src=x"),
            "{path} is escaped"
        );
    }
    assert!(
        page("/certificates")
            .await
            .text
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    assert!(
        page("/tenants")
            .await
            .text
            .contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;")
    );
    assert!(
        !page("/audit").await.text.contains(TENANT_PASSWORD),
        "no secret on a page"
    );

    // Logout ends the session.
    let a = console
        .call(
            "POST",
            "/logout",
            &[("cookie", &cookie)],
            Some(form(&[("csrf", &csrf)])),
        )
        .await;
    assert_eq!(a.status, 303);
    assert_eq!(page("/").await.status, 303);

    // Ten wrong passwords from one address: even the right one waits.
    for _ in 0..10 {
        console
            .call(
                "POST",
                "/login",
                &[],
                Some(form(&[("name", "alice"), ("password", "wrong password")])),
            )
            .await;
    }
    let a = console
        .call(
            "POST",
            "/login",
            &[],
            Some(form(&[("name", "alice"), ("password", ADMIN_PASSWORD)])),
        )
        .await;
    assert_eq!(a.status, 429, "{}", a.text);
}

#[test]
fn the_console_stays_on_loopback_unless_told_and_says_what_is_missing() {
    let env = Env::new();
    let e = env.fails(&["sp", "console"], 2);
    assert!(e.contains("no certificate is in use"), "{e}");
    env.generate(&["--apply", "--key-type", "ecdsa-p256"]);
    let e = env.fails(&["sp", "console", "--listen", "0.0.0.0:0"], 2);
    assert!(e.contains("--public") && e.contains("loopback"), "{e}");
    let e = env.fails(&["sp", "console", "--listen", "nowhere"], 2);
    assert!(e.contains("--listen"), "{e}");
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = env.fails(
        &[
            "sp",
            "console",
            "--listen",
            &held.local_addr().unwrap().to_string(),
        ],
        1,
    );
    assert!(e.contains("in use") && e.contains("--listen"), "{e}");
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn administrators_and_api_tokens_are_kept_hashed_and_audited() {
    let env = Env::new();
    let pw = env.path("pw");
    std::fs::write(&pw, "correct horse battery\n").unwrap();
    let pw = pw.to_str().unwrap();
    let added = json(&env.ok(&[
        "sp",
        "admin",
        "add",
        "alice",
        "--password-file",
        pw,
        "--json",
    ]));
    assert_eq!(added["name"], "alice");
    // Bad input: exit 2 with the reason, nothing written.
    let e = env.fails(&["sp", "admin", "add", "alice", "--password-file", pw], 2);
    assert!(e.contains("exists already"), "{e}");
    let e = env.fails(
        &["sp", "admin", "add", "<script>", "--password-file", pw],
        2,
    );
    assert!(e.contains("administrator name"), "{e}");
    let short = env.path("short");
    std::fs::write(&short, "abc\n").unwrap();
    let e = env.fails(
        &[
            "sp",
            "admin",
            "add",
            "bob",
            "--password-file",
            short.to_str().unwrap(),
        ],
        2,
    );
    assert!(e.contains("shorter than 8"), "{e}");
    let e = env.fails(&["sp", "admin", "remove", "nobody"], 2);
    assert!(e.contains("no administrator"), "{e}");
    let list = json(&env.ok(&["sp", "admin", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // A token is shown once; the database and the audit log hold its id, never the secret.
    let created = json(&env.ok(&[
        "sp",
        "admin",
        "token",
        "create",
        "--name",
        "ci",
        "--expires",
        "30d",
        "--json",
    ]));
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("cgapi_"), "{created}");
    let secret = token.rsplit('_').next().unwrap();
    let db = std::fs::read(env.data.join("sp.db")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is not stored"
    );
    let audit = std::fs::read_to_string(env.data.join("audit.log")).unwrap();
    assert!(
        audit.contains("api_token.created") && !audit.contains(secret),
        "{audit}"
    );
    let listed = env.ok(&["sp", "admin", "token", "list"]);
    assert!(
        listed.contains("active") && !listed.contains(secret),
        "{listed}"
    );
    let e = env.fails(
        &[
            "sp",
            "admin",
            "token",
            "create",
            "--name",
            "x",
            "--expires",
            "400d",
        ],
        2,
    );
    assert!(e.contains("--expires"), "{e}");
    let id = created["id"].as_str().unwrap();
    let revoked = json(&env.ok(&["sp", "admin", "token", "revoke", &id[..6], "--json"]));
    assert_eq!(revoked["state"], "revoked");
    let e = env.fails(&["sp", "admin", "token", "revoke", "ffffff"], 2);
    assert!(e.contains("no API token"), "{e}");
    env.ok(&["sp", "admin", "remove", "alice"]);
    assert!(
        json(&env.ok(&["sp", "admin", "list", "--json"]))
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// The console inside the gateway process, and a console that serves the certificate in use
/// after `sp cert apply` changed it behind its back.
#[tokio::test]
async fn the_gateway_serves_the_console_and_it_follows_the_certificate_in_use() {
    let (env, token) = sp_with_admin();
    let mut gw = std::process::Command::new(assert_cmd::cargo::cargo_bin("cloudgate"))
        .args([
            "sp",
            "gateway",
            "run",
            "--listen",
            "127.0.0.1:0",
            "--console",
            "127.0.0.1:0",
            "--json",
        ])
        .env("CLOUDGATE_HOME", &env.data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = crate::util::first_stdout_line(&mut gw);
    let started: serde_json::Value = serde_json::from_str(&line).unwrap();
    let mut console = ConsoleProc {
        child: gw,
        addr: started["console"].as_str().unwrap().parse().unwrap(),
        pin: applied_pin(&env),
    };
    let a = console
        .api("GET", "/certificates/current", &token, None)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    // A non-loopback console needs --console-public.
    let e = env.fails(
        &[
            "sp",
            "gateway",
            "run",
            "--listen",
            "127.0.0.1:0",
            "--console",
            "0.0.0.0:0",
        ],
        2,
    );
    assert!(
        e.contains("--public") || e.contains("--console-public") || e.contains("loopback"),
        "{e}"
    );

    // Another certificate put into use by the command line: the console serves it within
    // seconds (its TLS pin is the new certificate's).
    let next = env.generate(&["--key-type", "ecdsa-p256"]);
    env.ok(&["sp", "cert", "apply", &next.thumbprint, "--force"]);
    console.pin = applied_pin(&env);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (tls, _) = connect(console.addr, None, None).await.unwrap();
        let presented = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
        let sha: [u8; 32] = {
            use sha2::Digest as _;
            sha2::Sha256::digest(&presented).into()
        };
        if sha == console.pin {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the console still serves the old certificate"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        console
            .api("GET", "/certificates/current", &token, None)
            .await
            .status,
        200
    );
}
