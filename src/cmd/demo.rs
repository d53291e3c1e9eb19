//! `cloudgate demo`: the whole story on loopback, with the same library code the commands use,
//! in temporary data directories that are removed at the end.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use cloudgate_db::SharedRepository;
use cloudgate_gateway::{Gateway, GatewayConfig, SharedState};
use cloudgate_store::license::{self, License};
use cloudgate_store::{CertStore, FileOwnership, Layout};
use cloudgate_tenant::{AddRequest, TenantError, TenantPaths};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::cmd::verify::trust_failure_text;
use crate::render::summary_lines;

const TENANT: &str = "demo-tenant";
const PASSWORD: &str = "demo password (not a real one)";

/// A temporary directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> anyhow::Result<Self> {
        let name = cloudgate_store::fsio::temp_name(&format!("cloudgate-demo-{label}"));
        let path = std::env::temp_dir().join(name.trim_start_matches('.'));
        cloudgate_store::fsio::ensure_private_dir(&path, &FileOwnership::owner_only())?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn step(n: u32, title: &str) {
    println!("\n== {n}. {title}");
}

fn note(text: &str) {
    println!("   -> {text}");
}

/// An SP data directory with a license and an applied certificate.
fn service_provider(dir: &Scratch, licensee: &str) -> anyhow::Result<CertStore> {
    let layout = Layout::new(dir.0.join("data"));
    let own = FileOwnership::owner_only();
    let lic = License {
        licensed_to: licensee.into(),
        expires: None,
        edition: Some("Demo".into()),
        license_id: None,
    };
    license::install(&layout, &own, &lic)?;
    let store = CertStore::new(layout, own);
    cloudgate_sp::certs::issue_default(&store, &cloudgate_sp::certs::SelfSigned)?;
    Ok(store)
}

async fn sp_db(store: &CertStore) -> anyhow::Result<SharedRepository> {
    Ok(cloudgate_sp::repository::open(store.layout(), store.ownership(), None).await?)
}

/// Starts a gateway on `listen`; returns its address and a handle that stops it.
async fn start_gateway(
    store: CertStore,
    db: SharedRepository,
    listen: std::net::SocketAddr,
) -> anyhow::Result<(
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
)> {
    let state = SharedState::load(store, db).await?;
    let config = GatewayConfig {
        listen,
        reload_interval: Duration::from_millis(500),
        drain_timeout: Duration::from_secs(2),
        ..GatewayConfig::default()
    };
    let gateway = Gateway::bind(config, state).await?;
    let addr = gateway.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = gateway
            .run(Box::pin(async move {
                let _ = stopped.await;
            }))
            .await;
    });
    Ok((addr, stop, task))
}

async fn echo_backend() -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    Ok(addr)
}

pub async fn run() -> anyhow::Result<()> {
    println!(
        "cloudgate demo: a service provider and a tenant on this machine, over loopback only."
    );
    let sp_dir = Scratch::new("sp")?;
    let tenant_dir = Scratch::new("tenant")?;

    step(1, "The service provider generates its certificate");
    let store =
        service_provider(&sp_dir, "Demo Cloud").context("setting up the service provider")?;
    let applied = store
        .applied()?
        .context("the certificate was not applied")?;
    print!(
        "{}",
        summary_lines(&applied.meta.friendly_name, &applied.info)
            .lines()
            .map(|l| format!("   {l}\n"))
            .collect::<String>()
    );
    note(
        "these six lines are what the SP sends its tenants; the thumbprint is the part they verify",
    );

    step(2, "The gateway starts on loopback");
    let db = sp_db(&store).await?;
    let (addr, stop, gateway_task) =
        start_gateway(store.clone(), db.clone(), "127.0.0.1:0".parse()?).await?;
    note(&format!(
        "listening on {addr} (port 6180 in real use), serving the certificate above"
    ));

    step(3, "The SP creates a tenant account and gives it a service");
    // Through the SP core, with the rules and the audit every front end has.
    let sp = cloudgate_sp::Sp::new(store.clone(), db.clone(), Vec::new());
    sp.add_tenant(TENANT, "the demo tenant", PASSWORD, &Default::default())
        .await?;
    let echo = echo_backend().await?;
    sp.add_service(TENANT, "echo", &echo.to_string()).await?;
    note(&format!(
        "tenant {TENANT:?} may reach service \"echo\" (an echo server at {echo}); only an argon2id hash of its password is stored"
    ));

    step(
        4,
        "The tenant adds the provider, verifying the thumbprint it was sent",
    );
    let paths = TenantPaths::new(Layout::new(tenant_dir.0.join("data")));
    let probe = cloudgate_tenant::probe("127.0.0.1", addr.port(), false).await?;
    let given = applied.info.fingerprints.thumbprint();
    anyhow::ensure!(
        probe.cert.fingerprints.thumbprint() == given,
        "the presented certificate does not match"
    );
    note(&format!(
        "presented thumbprint {} matches the one the SP sent",
        probe.cert.fingerprints.thumbprint()
    ));
    let saved = cloudgate_tenant::add_provider(
        &paths,
        AddRequest {
            name: "demo-sp",
            address: "127.0.0.1",
            port: addr.port(),
            description: "",
            credentials: cloudgate_tenant::Credentials::Password {
                username: TENANT,
                password: PASSWORD,
            },
            trust: cloudgate_db::TrustMode::Pinned,
        },
        &probe,
    )
    .await?;
    note(&format!(
        "pinned it, and enrolled this machine's own client certificate as {} (the password went only over the pinned channel)",
        saved.username
    ));

    step(5, "Data goes through a tunnel and comes back intact");
    tunnel_round_trip(&tenant_dir).await?;

    let _ = stop.send(());
    let _ = gateway_task.await;
    impostor(addr, &paths).await?;

    println!("\nDone: everything ran on loopback, and the temporary data is removed.");
    println!(
        "\nNext, a real set-up. On the SP host: `cloudgate sp cert manage` (the wizard: a certificate naming\n\
         the address tenants use), then run the gateway (`cloudgate sp gateway run`, or the package's\n\
         cloudgate-gateway service), add a tenant and give it a join token:\n\
         \x20 cloudgate sp tenant add NAME && cloudgate sp tenant token create NAME\n\
         On the tenant's machine: `cloudgate tenant join --token-file FILE`, then a tunnel."
    );
    Ok(())
}

/// Step 5: 4 MiB through a tunnel to the echo service and back, compared by hash.
async fn tunnel_round_trip(tenant_dir: &Scratch) -> anyhow::Result<()> {
    let (stop_tunnel, tunnel_stopped) = tokio::sync::oneshot::channel::<()>();
    let tunnel_paths = TenantPaths::new(Layout::new(tenant_dir.0.join("data")));
    let (listener, _) = cloudgate_tenant::open_tunnel(
        &tunnel_paths,
        "demo-sp",
        "echo",
        "127.0.0.1:0".parse()?,
        std::time::Duration::from_secs(300),
    )
    .await?;
    let local = listener.local_addr();
    let tunnel = tokio::spawn(listener.serve(Box::pin(async move {
        let _ = tunnel_stopped.await;
    })));
    let data: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut stream = tokio::net::TcpStream::connect(local).await?;
    let (mut r, mut w) = stream.split();
    let send = async {
        w.write_all(&data).await?;
        w.shutdown().await
    };
    let mut back = Vec::new();
    let recv = r.read_to_end(&mut back);
    let (sent, received) = tokio::join!(send, recv);
    sent?;
    received?;
    anyhow::ensure!(
        sha2::Sha256::digest(&back) == sha2::Sha256::digest(&data),
        "the data changed on the way"
    );
    note(&format!(
        "4 MiB sent to {local}, through the mutually authenticated tunnel to the echo service and back: SHA-256 equal"
    ));
    let _ = stop_tunnel.send(());
    let _ = tunnel.await;

    Ok(())
}

/// Step 6: another gateway at the same address with another certificate is refused before the
/// tenant sends anything.
async fn impostor(addr: std::net::SocketAddr, paths: &TenantPaths) -> anyhow::Result<()> {
    step(
        6,
        "An impostor takes the gateway's address with another certificate",
    );
    let impostor_dir = Scratch::new("impostor")?;
    let impostor_store = service_provider(&impostor_dir, "Demo Cloud")?;
    let impostor_db = sp_db(&impostor_store).await?;
    let (_, stop_impostor, impostor_task) =
        start_gateway(impostor_store, impostor_db, addr).await?;
    match cloudgate_tenant::check(paths, "demo-sp").await {
        Err(TenantError::PinMismatch(f)) => {
            print!(
                "{}",
                trust_failure_text(&f)
                    .lines()
                    .map(|l| format!("   {l}\n"))
                    .collect::<String>()
            );
            note(
                "the tenant refused the impostor before sending anything (a real `tenant check` exits 3 here)",
            );
        }
        Ok(_) => anyhow::bail!("the tenant accepted the impostor"),
        Err(e) => return Err(e).context("checking against the impostor"),
    }
    let _ = stop_impostor.send(());
    let _ = impostor_task.await;

    Ok(())
}
