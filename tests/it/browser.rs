//! The console in a real headless Chromium (Debian's `chromium` and `chromium-driver`, which
//! `.ci/run` installs), driven over WebDriver with `fantoccini`: log in, read and copy the
//! Summary, generate a certificate with a hostile friendly name through the form, add a tenant
//! and a service, see the machine of a real `tenant provider add` appear, stage a successor,
//! see the tenant adopt it and apply it. Each page is written as a PNG screenshot to
//! `target/tmp/console-screenshots/` (the README's pictures are copies of them).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::console::{ADMIN_PASSWORD, ConsoleProc, sp_with_admin};
use crate::gateway_util::{GatewayProc, TENANT_PASSWORD};
use crate::util::Env;
use crate::util::free_port;

/// Longest wait for a page after a click.
const WAIT: Duration = Duration::from_secs(15);

struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver on a free port, and a session of headless Chromium through it.
async fn browser() -> (Driver, Client) {
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (Debian package chromium-driver; .ci/run installs it)");
    let driver = Driver(driver, port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let caps = serde_json::json!({
        "browserName": "chrome",
        // The console's certificate is the SP's self-signed one; the test checks its thumbprint
        // on the page instead.
        "acceptInsecureCerts": true,
        // The page's console messages, read back by `console_errors`.
        "goog:loggingPrefs": { "browser": "ALL" },
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=1280,1000"],
        },
    });
    let caps = match caps {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    (driver, client)
}

/// The errors the browser's console showed since the last call (chromedriver's log endpoint;
/// a failed load, a CSP refusal, a script error are all `SEVERE`).
async fn console_errors(driver: &Driver, c: &Client) -> Vec<String> {
    let session = c.session_id().await.unwrap().unwrap();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"type":"browser"}"#,
            &format!("http://127.0.0.1:{}/session/{session}/se/log", driver.1),
        ])
        .output()
        .expect("curl is installed (.ci/run installs it)");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "chromedriver's log answer: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    v["value"]
        .as_array()
        .unwrap_or_else(|| panic!("chromedriver's log answer: {v}"))
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

/// Where the browser is and what its page says, short enough to read at the end of a log.
async fn whereabouts(c: &Client) -> String {
    let url = c.current_url().await.map(|u| u.to_string());
    let text = match c.find(Locator::Css("main")).await {
        Ok(main) => main.text().await.unwrap_or_default(),
        Err(_) => c.source().await.unwrap_or_default(),
    };
    let text: String = text.chars().take(1500).collect();
    format!("at {url:?}: {text}")
}

/// The element once it is there, or a failure that shows the page.
async fn wait_for(c: &Client, locator: Locator<'_>) -> fantoccini::elements::Element {
    match c.wait().at_most(WAIT).for_element(locator).await {
        Ok(e) => e,
        Err(e) => panic!("{e}: {}", whereabouts(c).await),
    }
}

/// The page at `url` once its source contains `words`, loaded again until it does: what it
/// shows may be written by another process (the gateway's bookkeeping) a moment after the
/// command that caused it returned.
async fn page_with(c: &Client, url: &str, words: &str) -> String {
    page_where(c, url, words, |page| page.contains(words)).await
}

/// The page at `url` once `ready` holds for its source (loaded again until it does); `what`
/// names the wait in the failure.
async fn page_where(c: &Client, url: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        c.goto(url).await.unwrap();
        let page = c.source().await.unwrap();
        if ready(&page) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "no {what:?} {}",
            whereabouts(c).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the page's flash message says `words` (the previous page may have had one).
async fn wait_for_flash(c: &Client, words: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(e) = c.find(Locator::Css("p.flash")).await
            && let Ok(text) = e.text().await
            && text.contains(words)
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no {words:?} {}",
            whereabouts(c).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fill(c: &Client, id: &str, text: &str) {
    let e = c.find(Locator::Id(id)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn press(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The page at the window's width: nothing wider than the window (a wide table scrolls inside
/// itself), and no token broken over two lines (identifiers, times, event names, figures; a
/// command quoted in a sentence may wrap like the sentence).
async fn fits(c: &Client, what: &str) {
    let found = c
        .execute(
            "const wide = document.documentElement.scrollWidth > window.innerWidth + 1; \
             const lines = e => { const r = document.createRange(); r.selectNodeContents(e); \
               const tops = [...r.getClientRects()].filter(x => x.width > 0).map(x => x.top); \
               return tops.length ? Math.max(...tops) - Math.min(...tops) : 0; }; \
             const broken = [...document.querySelectorAll('td code, time, td.num, .nowrap, .token')] \
               .filter(e => !e.closest('pre') && lines(e) > 0.8 * parseFloat(getComputedStyle(e).fontSize)) \
               .map(e => e.textContent.slice(0, 40)); \
             return { wide, width: document.documentElement.scrollWidth, window: window.innerWidth, broken };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        found["wide"], false,
        "{what} is wider than the window: {found}"
    );
    assert_eq!(
        found["broken"],
        serde_json::json!([]),
        "{what}: tokens broken over lines: {found}"
    );
}

/// No script on the page that is not a file of the console's (the CSP would block it anyway).
async fn no_inline_script(c: &Client) {
    let n = c
        .execute(
            "return document.querySelectorAll('script:not([src]), [onerror], [onclick], [onload]').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(n, serde_json::json!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and ChromeDriver (Debian's chromium, chromium-driver; .ci/run installs them)"]
async fn an_administrator_runs_the_sp_from_the_browser() {
    let (env, _token) = sp_with_admin();
    let console = ConsoleProc::start(&env);
    let gw = GatewayProc::start(&env, &[]);
    let (driver, c) = browser().await;
    let base = format!("https://{}", console.addr);

    // Log in.
    c.goto(&format!("{base}/")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    shot(&c, "login").await;
    fill(&c, "name", "alice").await;
    fill(&c, "password", ADMIN_PASSWORD).await;
    press(&c, "form[action='/login'] button").await;
    wait_for(&c, Locator::Id("summary")).await;
    let summary = text_of(&c, "#summary").await;
    let current: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    assert!(
        summary.contains(&format!(
            "Thumbprint: {}",
            current["thumbprint"].as_str().unwrap()
        )),
        "{summary}"
    );
    no_inline_script(&c).await;
    // Copy: to the clipboard, or (no clipboard permission in a headless browser) selected.
    press(&c, "button[data-copy='summary']").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while text_of(&c, ".copied").await.is_empty() {
        assert!(Instant::now() < deadline, "the Copy button said nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shot(&c, "dashboard").await;
    // The dashboard weighs little and loads nothing from elsewhere (what a Lighthouse audit would
    // look at, offline): HTML, one stylesheet, one script.
    let weight = c
        .execute(
            "const n = performance.getEntriesByType('navigation')[0]; \
             const r = performance.getEntriesByType('resource'); \
             return { bytes: n.decodedBodySize + r.reduce((a, e) => a + e.decodedBodySize, 0), \
                      foreign: r.filter(e => !e.name.startsWith(location.origin)).length, \
                      resources: r.length };",
            vec![],
        )
        .await
        .unwrap();
    assert!(weight["bytes"].as_u64().unwrap() < 32 * 1024, "{weight}");
    assert_eq!(weight["foreign"], 0, "{weight}");

    // Generate a certificate whose friendly name is a script: shown as text, never run.
    c.goto(&format!("{base}/certificates")).await.unwrap();
    let hostile = "<script>alert(1)</script>";
    fill(&c, "friendly_name", hostile).await;
    c.find(Locator::Id("key_type"))
        .await
        .unwrap()
        .select_by_value("ecdsa-p256")
        .await
        .unwrap();
    fill(&c, "valid_days", "90").await;
    press(&c, "form[action='/certificates/generate'] button").await;
    wait_for(&c, Locator::Id("summary")).await;
    let made = text_of(&c, "#summary").await;
    assert!(made.contains(&format!("Name: {hostile}")), "{made}");
    no_inline_script(&c).await;
    shot(&c, "generated").await;
    // Import a PKCS#12 file that openssl wrote, by upload, with its password.
    let pfx = crate::util::openssl_pfx(&env, "upload", "uploaded.example");
    c.goto(&format!("{base}/certificates")).await.unwrap();
    c.find(Locator::Id("file"))
        .await
        .unwrap()
        .send_keys(pfx.to_str().unwrap())
        .await
        .unwrap();
    fill(&c, "import-password", "pfx secret").await;
    press(&c, "form#import button").await;
    wait_for(&c, Locator::Id("summary")).await;
    let imported = text_of(&c, "#summary").await;
    assert!(imported.contains("uploaded.example"), "{imported}");
    c.goto(&format!("{base}/certificates")).await.unwrap();
    shot(&c, "certificates").await;

    // A tenant with a hostile description, and a service.
    c.goto(&format!("{base}/tenants")).await.unwrap();
    fill(&c, "name", "acme").await;
    fill(&c, "description", "\"><img src=x onerror=alert(1)>").await;
    fill(&c, "password", TENANT_PASSWORD).await;
    press(&c, "form[method='post'][action='/tenants'] button").await;
    wait_for(&c, Locator::Id("svc-name")).await;
    fill(&c, "svc-name", "vbr").await;
    fill(&c, "svc-target", "127.0.0.1:10005").await;
    press(&c, "form[action='/tenants/acme/services'] button").await;
    wait_for_flash(&c, "Service added").await;
    assert!(c.source().await.unwrap().contains("vbr"));
    no_inline_script(&c).await;

    // A real tenant adds the provider: its machine shows on the tenant's page.
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
        current["thumbprint"].as_str().unwrap(),
    ]);
    page_where(
        &c,
        &format!("{base}/tenants/acme"),
        "an enrolled machine",
        |page| {
            page.contains("Enrolled machines</h2>")
                && !page.contains("Enrolled machines</h2><p>None yet")
        },
    )
    .await;
    shot(&c, "tenant").await;
    // The address tenants reach, set on the gateways page; then a join token made on the
    // tenant's page, shown once with its Copy button, with which a second machine joins.
    c.goto(&format!("{base}/gateways")).await.unwrap();
    fill(&c, "public-address", &gw.addr.to_string()).await;
    press(&c, "form[action='/gateways/address'] button").await;
    wait_for_flash(&c, "Tenants are now sent to").await;
    shot(&c, "gateways-address").await;
    c.goto(&format!("{base}/tenants/acme")).await.unwrap();
    fill(&c, "token-label", "second office").await;
    press(&c, "form[action='/tenants/acme/tokens'] button").await;
    let joined = wait_for(&c, Locator::Id("join-token")).await;
    let token = joined.text().await.unwrap();
    assert!(token.starts_with("cgt1."), "{token}");
    press(&c, "button[data-copy='join-token']").await;
    shot(&c, "join-token").await;
    let second = Env::new();
    let out = crate::join::join(&second, &token, "sp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = page_with(
        &c,
        &format!("{base}/tenants/acme"),
        "1 used, expired or revoked token(s) not shown",
    )
    .await;
    assert!(!page.contains(&token[5..]), "shown once");
    c.goto(&format!("{base}/tenants")).await.unwrap();
    shot(&c, "tenants").await;

    // Stage the generated certificate; the tenant learns it; the dashboard counts it; apply.
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "cert", "list", "--json"])).unwrap();
    let next = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["friendly_name"] == hostile)
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    c.goto(&format!("{base}/certificates")).await.unwrap();
    press(
        &c,
        &format!("form[action='/certificates/{next}/stage'] button"),
    )
    .await;
    wait_for_flash(&c, "is staged as the successor").await;
    gw.reload().await;
    tenant.ok(&["tenant", "check", "sp"]);
    second.ok(&["tenant", "check", "sp"]);
    page_with(&c, &format!("{base}/"), "1 of 1 tenants have seen it").await;
    shot(&c, "dashboard-staged").await;
    c.goto(&format!("{base}/certificates")).await.unwrap();
    press(
        &c,
        &format!("form[action='/certificates/{next}/apply'] button"),
    )
    .await;
    wait_for_flash(&c, "is now in use").await;
    let now: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    assert_eq!(now["sha256"].as_str().unwrap(), next);

    page_with(&c, &format!("{base}/gateways"), "state up").await;
    shot(&c, "gateways").await;
    let audit = page_with(&c, &format!("{base}/audit?q=admin:alice"), "tenant.added").await;
    assert!(audit.contains("alice"), "{}", whereabouts(&c).await);
    no_inline_script(&c).await;
    shot(&c, "audit").await;

    // Not one error in the browser's console so far: no failed load, no CSP refusal, no
    // script error.
    let errors = console_errors(&driver, &c).await;
    assert!(errors.is_empty(), "{errors:#?}");

    // A refused form comes back with the reason in it and what was typed kept (its status says
    // so: 400, 409, which the browser logs as failed loads, the only two expected).
    c.goto(&format!("{base}/tenants/acme")).await.unwrap();
    fill(&c, "svc-name", "second").await;
    fill(&c, "svc-target", "no port here").await;
    press(&c, "form[action='/tenants/acme/services'] button").await;
    let error = wait_for(&c, Locator::Id("service-add-error")).await;
    let said = error.text().await.unwrap();
    assert!(said.contains("Not done"), "{said}");
    let kept = c.find(Locator::Id("svc-name")).await.unwrap();
    assert_eq!(kept.prop("value").await.unwrap().as_deref(), Some("second"));
    let kept = c.find(Locator::Id("svc-target")).await.unwrap();
    assert_eq!(
        kept.prop("value").await.unwrap().as_deref(),
        Some("no port here")
    );
    shot(&c, "form-error").await;
    c.goto(&format!("{base}/tenants")).await.unwrap();
    fill(&c, "name", "acme").await;
    fill(&c, "description", "typed once").await;
    fill(&c, "password", TENANT_PASSWORD).await;
    press(&c, "form[method='post'][action='/tenants'] button").await;
    let error = wait_for(&c, Locator::Id("tenant-add-error")).await;
    assert!(error.text().await.unwrap().contains("type it again"));
    let kept = c.find(Locator::Id("description")).await.unwrap();
    assert_eq!(
        kept.prop("value").await.unwrap().as_deref(),
        Some("typed once")
    );
    let password = c.find(Locator::Id("password")).await.unwrap();
    assert_eq!(
        password.prop("value").await.unwrap().as_deref(),
        Some(""),
        "never sent back"
    );
    let errors = console_errors(&driver, &c).await;
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains("/tenants/acme/services - ") && errors[0].contains("status of 400"));
    assert!(errors[1].contains("/tenants - ") && errors[1].contains("status of 409"));
    // A destructive action asks first, naming what is lost, and Cancel changes nothing.
    c.goto(&format!("{base}/tenants/acme")).await.unwrap();
    press(
        &c,
        "section.danger-zone form[action='/tenants/acme/remove'] button",
    )
    .await;
    let question = wait_for(&c, Locator::Css("section.confirm")).await;
    let losses = question.text().await.unwrap();
    assert!(
        losses.contains("enrolled machine(s) lose access"),
        "{losses}"
    );
    shot(&c, "confirm-remove").await;
    press(&c, "section.confirm a.button").await;
    wait_for(&c, Locator::Css("section.danger-zone")).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(
            &env.ok(&["sp", "tenant", "show", "acme", "--json"])
        )
        .unwrap()["name"],
        "acme"
    );

    // Every page at a desktop and a phone width: nothing overflows the window, no token breaks.
    let pages = [
        ("", "dashboard"),
        ("certificates", "certificates"),
        ("tenants", "tenants"),
        ("tenants/acme", "tenant"),
        ("gateways", "gateways"),
        ("audit", "audit"),
    ];
    for (width, height, suffix) in [(1280, 1000, "wide"), (390, 844, "phone")] {
        c.set_window_size(width, height).await.unwrap();
        for (path, name) in pages {
            c.goto(&format!("{base}/{path}")).await.unwrap();
            wait_for(&c, Locator::Css("main h1")).await;
            fits(&c, &format!("/{path} at {width} px")).await;
            shot(&c, &format!("{name}-{suffix}")).await;
        }
    }
    let errors = console_errors(&driver, &c).await;
    assert!(errors.is_empty(), "{errors:#?}");
    c.close().await.unwrap();
}
