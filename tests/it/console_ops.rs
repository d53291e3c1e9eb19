//! The REST API's calls beyond certificates and tenants, each the same operation as its
//! command: join tokens a real `tenant join` uses (and a revoked one it cannot), a tenant's
//! pool and pruning, the public address, gateways, the fleet, the license, certificate status,
//! checks and DER that openssl reads; and the pages' forms for them, with their CSRF tokens.

use crate::console::{ADMIN_PASSWORD, ConsoleProc, admin_and_token, form};
use crate::gateway_util::{GatewayProc, provider_with_tenant};
use crate::join::join;
use crate::util::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_tokens_pool_prune_and_address_through_the_api() {
    let sp = Env::new();
    provider_with_tenant(&sp, "acme").await;
    let token = admin_and_token(&sp);
    let gw = GatewayProc::start(&sp, &[]);
    let console = ConsoleProc::start(&sp);

    // The address tenants reach: the host name until set; a bad one is refused and not saved.
    let a = console.api("GET", "/address", &token, None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["source"], "host name");
    let bad = console
        .api(
            "PUT",
            "/address",
            &token,
            Some(serde_json::json!({ "public_address": "a b" })),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(!sp.data.join("gateway.toml").exists());
    let set = console
        .api(
            "PUT",
            "/address",
            &token,
            Some(serde_json::json!({ "public_address": gw.addr.to_string() })),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.json()["source"], "configured");
    let cli: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "gateway", "address", "--json"])).unwrap();
    assert_eq!(
        cli["public_address"],
        gw.addr.to_string(),
        "the CLI reads what the API wrote"
    );

    // Join tokens: bad requests say what was wrong; a good one is shown once.
    for (bad, status, said) in [
        (serde_json::json!({ "expires": "forever" }), 400, "expires"),
        (serde_json::json!({ "uses": 0 }), 400, "use"),
        (serde_json::json!({ "label": "a\u{7}b" }), 400, "label"),
        (
            serde_json::json!({ "addresses": ["not an address:port:x"] }),
            400,
            "address",
        ),
        (serde_json::json!({ "colour": "red" }), 400, "colour"),
    ] {
        let a = console
            .api("POST", "/tenants/acme/tokens", &token, Some(bad.clone()))
            .await;
        assert_eq!(a.status, status, "{bad}: {}", a.text);
        assert!(a.text.contains(said), "{bad}: {}", a.text);
    }
    let a = console
        .api("POST", "/tenants/nobody/tokens", &token, None)
        .await;
    assert_eq!(a.status, 404, "{}", a.text);
    let created = console
        .api(
            "POST",
            "/tenants/acme/tokens",
            &token,
            Some(serde_json::json!({ "expires": "1h", "label": "<script>alert(1)</script>" })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let created = created.json();
    let secret = created["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("cgt1."), "{created}");
    assert_eq!(created["addresses"][0], gw.addr.to_string());
    assert_eq!(created["state"], "valid");
    // Listed without its secret, by the API and by the command line.
    let listed = console
        .api("GET", "/tenants/acme/tokens", &token, None)
        .await;
    assert!(listed.text.contains(created["id"].as_str().unwrap()));
    assert!(!listed.text.contains(&secret[5..]), "{}", listed.text);
    let cli: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "tenant", "token", "list", "--json"])).unwrap();
    assert_eq!(cli[0]["id"], created["id"]);
    // A real tenant joins with it.
    let tenant = Env::new();
    let out = join(&tenant, &secret, "sp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = console.api("GET", "/tokens", &token, None).await.json();
    assert_eq!(all[0]["state"], "used", "{all}");
    // A revoked one is refused (exit 4) and saves nothing.
    let second = console
        .api("POST", "/tenants/acme/tokens", &token, None)
        .await
        .json();
    let id = second["id"].as_str().unwrap();
    let r = console
        .api("DELETE", &format!("/tokens/{id}"), &token, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["state"], "revoked");
    let other = Env::new();
    let out = join(&other, second["token"].as_str().unwrap(), "sp");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        console
            .api("DELETE", "/tokens/ffffffffffffffff", &token, None)
            .await
            .status,
        404
    );

    // The pool: set, refused when malformed or empty, read back by the command line.
    let p = console
        .api(
            "PUT",
            "/tenants/acme/pool",
            &token,
            Some(serde_json::json!({ "pool": "eu-west" })),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.json()["pool"], "eu-west");
    for bad in [
        serde_json::json!({ "pool": "eu west/1" }),
        serde_json::json!({}),
    ] {
        let a = console
            .api("PUT", "/tenants/acme/pool", &token, Some(bad.clone()))
            .await;
        assert_eq!(a.status, 400, "{bad}: {}", a.text);
    }
    let cli: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    assert_eq!(cli["pool"], "eu-west");

    // Pruning: the machine that just joined was seen, so 30 days removes nothing; 0 is refused.
    let a = console
        .api(
            "POST",
            "/tenants/acme/prune",
            &token,
            Some(serde_json::json!({ "unseen_days": 0 })),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    let a = console
        .api(
            "POST",
            "/tenants/acme/prune",
            &token,
            Some(serde_json::json!({ "unseen_days": 30 })),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["removed"], serde_json::json!([]));
    let t = console
        .api("GET", "/tenants/acme", &token, None)
        .await
        .json();
    assert_eq!(t["machines"].as_array().unwrap().len(), 1, "{t}");

    // Gateways: the running one is listed; an unknown one cannot be forgotten.
    let g = console.api("GET", "/gateways", &token, None).await.json();
    assert_eq!(g.as_array().unwrap().len(), 1, "{g}");
    assert_eq!(
        console
            .api("DELETE", "/gateways/nope", &token, None)
            .await
            .status,
        404
    );

    // Every change is in the audit log with the token that made it, and no secret.
    let audit = std::fs::read_to_string(sp.data.join("audit.log")).unwrap();
    for event in [
        "gateway.address",
        "token.created",
        "token.revoked",
        "tenant.pool",
    ] {
        assert!(
            audit
                .lines()
                .any(|l| l.contains(event) && l.contains("token:ci:")),
            "{event} in {audit}"
        );
    }
    assert!(!audit.contains(&secret[5..]));
}

#[tokio::test]
async fn status_check_der_license_and_fleet_through_the_api() {
    let sp = Env::new();
    sp.generate(&["--apply", "--key-type", "ecdsa-p256"]);
    let token = admin_and_token(&sp);
    let console = ConsoleProc::start(&sp);
    let in_use = console
        .api("GET", "/certificates/current", &token, None)
        .await
        .json();
    let id = in_use["sha256"].as_str().unwrap();

    // One certificate with its Summary, as `sp cert show` says it.
    let one = console
        .api("GET", &format!("/certificates/{id}"), &token, None)
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    let one = one.json();
    assert_eq!(one["thumbprint"], in_use["thumbprint"]);
    assert!(
        one["summary"]
            .as_str()
            .unwrap()
            .contains(in_use["thumbprint"].as_str().unwrap())
    );
    assert_eq!(
        console
            .api("GET", "/certificates/ABCDEF0123", &token, None)
            .await
            .status,
        404
    );

    // Status: what is in use, nothing staged, no machine yet; the same as the command line.
    let status = console
        .api("GET", "/certificates/status", &token, None)
        .await
        .json();
    assert_eq!(status["current"]["sha256"], in_use["sha256"]);
    assert!(status["staged"].is_null());
    assert_eq!(status["adoption"]["machines"], 0);
    let cli: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "cert", "status", "--json"])).unwrap();
    assert_eq!(cli, status);

    // Check: the entry is sound.
    let c = console
        .api("POST", &format!("/certificates/{id}/check"), &token, None)
        .await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.json()["ok"], true);

    // DER that openssl reads, with the same fingerprint.
    let d = console
        .api("GET", &format!("/certificates/{id}/der"), &token, None)
        .await;
    assert_eq!(d.status, 200);
    assert_eq!(d.headers["content-type"], "application/pkix-cert");
    let der = sp.path("served.der");
    std::fs::write(&der, &d.bytes).unwrap();
    let fp = crate::util::openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        der.to_str().unwrap(),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);
    assert!(
        fp.replace(':', "")
            .to_uppercase()
            .contains(&id.to_uppercase()),
        "{fp} vs {id}"
    );

    // ACME renew without an ACME issuance says how to get one, and changes nothing.
    let a = console
        .api("POST", "/certificates/acme/renew", &token, None)
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(a.text.contains("acme issue"), "{}", a.text);
    assert_eq!(sp.list().len(), 1);

    // The license: none, a damaged one refused, an expired one refused, a good one installed
    // and read by the command line.
    let l = console.api("GET", "/license", &token, None).await.json();
    assert_eq!(l["installed"], false);
    for (bad, said) in [
        ("licensed_to = ", "license"),
        ("licensed_to = \"Old\"\nexpires = 2001-01-01\n", "expired"),
    ] {
        let a = console
            .api(
                "PUT",
                "/license",
                &token,
                Some(serde_json::json!({ "toml": bad })),
            )
            .await;
        assert_eq!(a.status, 400, "{bad}: {}", a.text);
        assert!(a.text.contains(said), "{bad}: {}", a.text);
    }
    assert!(!sp.data.join("license.toml").exists());
    let a = console
        .api(
            "PUT",
            "/license",
            &token,
            Some(serde_json::json!({ "toml": "licensed_to = \"Acme <b>Cloud</b>\"\nexpires = 2099-12-31\n" })),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["licensed_to"], "Acme <b>Cloud</b>");
    let cli: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "license", "show", "--json"])).unwrap();
    assert_eq!(cli["licensed_to"], "Acme <b>Cloud</b>");
    // One audit entry for the installation, naming the token that made it.
    let audit = std::fs::read_to_string(sp.data.join("audit.log")).unwrap();
    let installs: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("license.installed"))
        .collect();
    assert_eq!(installs.len(), 1, "{audit}");
    assert!(installs[0].contains("\"admin\":\"token:ci:"), "{audit}");
    // The dashboard names the licensee, escaped.
    let (cookie, _) = login(&console).await;
    let dash = console.call("GET", "/", &[("cookie", &cookie)], None).await;
    assert!(
        dash.text
            .contains("Licensed to <strong>Acme &lt;b&gt;Cloud&lt;/b&gt;</strong>"),
        "{}",
        dash.text
    );

    // Every refusal of the API is JSON: a wrong method, a query that does not fit.
    let m = console.api("GET", "/fleet/publish", &token, None).await;
    assert_eq!(m.status, 405, "{}", m.text);
    assert_eq!(m.json()["code"], "method_not_allowed");
    let q = console.api("GET", "/audit?offset=many", &token, None).await;
    assert_eq!(q.status, 400, "{}", q.text);
    assert_eq!(q.json()["code"], "bad_input");
    let doc = console
        .call("GET", "/api/v1/openapi.json", &[], None)
        .await
        .json();
    assert!(doc["paths"]["/api/v1/tenants/{name}/tokens"]["post"]["responses"]["201"].is_object());
    assert!(doc["paths"]["/api/v1/gateways/{id}"]["delete"]["responses"]["204"].is_object());

    // One host, no fleet: the status says so, publishing is refused.
    let f = console.api("GET", "/fleet", &token, None).await;
    assert_eq!(f.status, 200, "{}", f.text);
    assert!(f.json()["key_id"].is_null());
    let p = console.api("POST", "/fleet/publish", &token, None).await;
    assert_eq!(p.status, 400, "{}", p.text);
    assert!(p.text.contains("no fleet"), "{}", p.text);
}

/// Logs `alice` in: the session cookie and the CSRF token of its pages.
pub(crate) async fn login(console: &ConsoleProc) -> (String, String) {
    let ok = console
        .call(
            "POST",
            "/login",
            &[],
            Some(form(&[("name", "alice"), ("password", ADMIN_PASSWORD)])),
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    let cookie = ok.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let dash = console.call("GET", "/", &[("cookie", &cookie)], None).await;
    let csrf = dash
        .text
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    (cookie, csrf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_make_join_tokens_set_pools_and_addresses_with_their_csrf_token() {
    let sp = Env::new();
    provider_with_tenant(&sp, "acme").await;
    admin_and_token(&sp);
    let console = ConsoleProc::start(&sp);
    let (cookie, csrf) = login(&console).await;
    let post = |path: String, fields: Vec<(&'static str, String)>| {
        let cookie = cookie.clone();
        let console = &console;
        async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            console
                .call("POST", &path, &[("cookie", &cookie)], Some(form(&f)))
                .await
        }
    };
    let tokens = || {
        serde_json::from_str::<serde_json::Value>(
            &sp.ok(&["sp", "tenant", "token", "list", "--json"]),
        )
        .unwrap()
    };

    // Without the page's CSRF token: 403, no token made.
    let refused = post(
        "/tenants/acme/tokens".into(),
        vec![("csrf", "stale".into()), ("expires", "1h".into())],
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(tokens(), serde_json::json!([]));
    // With it: the page shows the token once, with a Copy button, the label escaped.
    let made = post(
        "/tenants/acme/tokens".into(),
        vec![
            ("csrf", csrf.clone()),
            ("expires", "2h".into()),
            ("uses", "3".into()),
            ("label", "<script>alert(1)</script>".into()),
        ],
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let secret = made
        .text
        .split("id=\"join-token\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_string();
    assert!(secret.starts_with("cgt1."), "{secret}");
    assert!(made.text.contains("data-copy=\"join-token\""));
    assert!(!made.text.contains("<script>alert(1)"), "escaped");
    assert!(made.text.contains("&lt;script&gt;alert(1)"));
    let listed = tokens();
    assert_eq!(listed[0]["uses_left"], 3);
    // Shown once: the tenant's page afterwards lists it without the secret.
    let page = console
        .call("GET", "/tenants/acme", &[("cookie", &cookie)], None)
        .await;
    assert!(page.text.contains(listed[0]["id"].as_str().unwrap()));
    assert!(!page.text.contains(&secret[5..]));
    // Bad input says what was wrong.
    let bad = post(
        "/tenants/acme/tokens".into(),
        vec![("csrf", csrf.clone()), ("expires", "soon".into())],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    // A destructive action asks first, naming what is lost, and changes nothing until confirmed.
    let token_id: String = listed[0]["id"].as_str().unwrap().into();
    let asked = post(
        "/tenants/acme/tokens/revoke".into(),
        vec![("csrf", csrf.clone()), ("id", token_id.clone())],
    )
    .await;
    assert_eq!(asked.status, 200, "{}", asked.text);
    assert!(
        asked.text.contains("This cannot be undone")
            && asked
                .text
                .contains(&format!("Join token {token_id} can no longer be used"))
            && asked.text.contains("name=\"confirm\" value=\"yes\""),
        "{}",
        asked.text
    );
    assert_eq!(tokens()[0]["state"], "valid", "asking revoked nothing");
    let removal = post("/tenants/acme/remove".into(), vec![("csrf", csrf.clone())]).await;
    assert!(
        removal.text.contains("Remove tenant acme?")
            && removal.text.contains("enrolled machine(s) lose access")
            && removal.text.contains("usable join token(s) are deleted"),
        "{}",
        removal.text
    );
    assert_eq!(
        console
            .call("GET", "/tenants/acme", &[("cookie", &cookie)], None)
            .await
            .status,
        200,
        "the tenant is still there"
    );
    let revoked = post(
        "/tenants/acme/tokens/revoke".into(),
        vec![
            ("csrf", csrf.clone()),
            ("id", token_id.clone()),
            ("confirm", "yes".into()),
        ],
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(tokens()[0]["state"], "revoked");
    assert!(
        revoked
            .text
            .contains("1 used, expired or revoked token(s) not shown"),
        "spent tokens are counted, not listed"
    );

    // The pool, then a malformed one refused.
    let pool = post(
        "/tenants/acme/pool".into(),
        vec![
            ("csrf", csrf.clone()),
            ("pool", "eu-west".into()),
            ("failover_outside_pool", "true".into()),
        ],
    )
    .await;
    assert_eq!(pool.status, 200, "{}", pool.text);
    let shown: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    assert_eq!(shown["pool"], "eu-west");
    let bad = post(
        "/tenants/acme/pool".into(),
        vec![("csrf", csrf.clone()), ("pool", "<b>".into())],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);

    // The public address, on the gateways page; forgetting an unknown gateway is a 404.
    let set = post(
        "/gateways/address".into(),
        vec![
            ("csrf", csrf.clone()),
            ("public_address", "backup.example.com:7000".into()),
        ],
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert!(set.text.contains("backup.example.com:7000"));
    let cli: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "gateway", "address", "--json"])).unwrap();
    assert_eq!(cli["public_address"], "backup.example.com:7000");
    let refused = post(
        "/gateways/address".into(),
        vec![
            ("csrf", "stale".into()),
            ("public_address", "evil.example".into()),
        ],
    )
    .await;
    assert_eq!(refused.status, 403);
    let forget = post(
        "/gateways/forget".into(),
        vec![("csrf", csrf.clone()), ("id", "nope".into())],
    )
    .await;
    assert_eq!(forget.status, 404, "{}", forget.text);
}

/// The served OpenAPI document passes openapi-spec-validator (an independent reader of the
/// OpenAPI 3.1 specification), so that generated clients and tools accept it.
#[tokio::test]
#[ignore = "needs openapi-spec-validator (pip; .ci/run installs it)"]
async fn the_served_openapi_document_passes_an_independent_validator() {
    let (env, _token) = crate::console::sp_with_admin();
    let console = ConsoleProc::start(&env);
    let doc = console.call("GET", "/api/v1/openapi.json", &[], None).await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    let path = env.path("openapi.json");
    std::fs::write(&path, &doc.text).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .expect("openapi-spec-validator is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The calls carry their operation ids and parameters.
    let doc = doc.json();
    assert_eq!(
        doc["paths"]["/api/v1/tenants/{name}"]["delete"]["operationId"],
        "remove_tenant"
    );
}
