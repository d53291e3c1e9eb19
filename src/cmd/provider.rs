//! `cloudgate tenant …`: add, list, show, refresh and remove providers; check; tunnel.

use cloudgate_db::PinnedProvider;
use cloudgate_pki::CertificateInfo;
use cloudgate_tenant::{AddRequest, TenantError, TenantPaths};
use serde::Serialize;

use super::verify::{given_thumbprint, loud, presented_text, verify};
use crate::cli::{AddProviderArgs, ProviderCommand, TenantSideCommand, TrustMode};
use crate::context::Context;
use crate::exit::usage;
use crate::input::{given_password, interactive, prompt_password};
use crate::render::{list_or, print_json, print_text, report, report_line, table, warn};

/// How often a password typed at the prompt may be tried.
const PASSWORD_TRIES: u32 = 3;

/// Splits `HOST`, `HOST:PORT` or `[IPv6]:PORT` (port 6180 by default).
pub fn parse_address(input: &str) -> anyhow::Result<(String, u16)> {
    let hp = cloudgate_addr::HostPort::parse(input, Some(cloudgate_addr::GATEWAY_PORT))
        .map_err(|e| usage(e.to_string()))?;
    Ok((hp.host, hp.port))
}

/// What `provider refresh` did.
#[derive(Serialize)]
struct Refreshed {
    changed: bool,
    provider: ProviderView,
}

/// The tunnel's startup line, for `--json`.
#[derive(Serialize)]
struct TunnelStarted {
    event: &'static str,
    listen: String,
    provider: String,
    service: String,
    thumbprint: String,
}

#[derive(Serialize)]
struct ProviderView {
    name: String,
    address: String,
    port: u16,
    description: String,
    trust: String,
    thumbprint: String,
    sha256: String,
    spki_sha256: String,
    not_after: String,
    first_seen: String,
    last_seen: String,
    username: String,
    client_sha256: String,
    services: Vec<String>,
    /// The provider's gateways as they last told this machine, least loaded first; `check`
    /// and `tunnel` try them before `address`.
    gateways: Vec<String>,
}

fn view(p: &PinnedProvider) -> ProviderView {
    let not_after = CertificateInfo::from_der(&p.cert_der)
        .map(|c| cloudgate_pki::format_rfc3339(c.not_after))
        .unwrap_or_default();
    let client = CertificateInfo::from_der(&p.client_cert_der)
        .map(|c| c.fingerprints.sha256_hex())
        .unwrap_or_default();
    ProviderView {
        name: p.name.clone(),
        address: p.address.clone(),
        port: p.port,
        description: p.description.clone(),
        trust: p.trust.as_str().to_string(),
        thumbprint: p.thumbprint.clone(),
        sha256: p.sha256.clone(),
        spki_sha256: p.spki_sha256.clone(),
        not_after,
        first_seen: cloudgate_pki::format_rfc3339(p.first_seen),
        last_seen: cloudgate_pki::format_rfc3339(p.last_seen),
        username: p.username.clone(),
        client_sha256: client,
        services: p.services.clone(),
        gateways: p.gateways.clone(),
    }
}

pub async fn run(ctx: &Context, cmd: TenantSideCommand) -> anyhow::Result<()> {
    let paths = TenantPaths::new(ctx.layout.clone());
    match cmd {
        TenantSideCommand::Provider(ProviderCommand::Add(args)) => add(&paths, args).await,
        TenantSideCommand::Provider(ProviderCommand::List { json }) => list(&paths, json).await,
        TenantSideCommand::Provider(ProviderCommand::Show { name, json }) => {
            show(&paths, name, json).await
        }
        TenantSideCommand::Provider(ProviderCommand::Refresh {
            name,
            thumbprint,
            json,
        }) => refresh(&paths, name, thumbprint, json).await,
        TenantSideCommand::Provider(ProviderCommand::Remove { name, json }) => {
            remove(&paths, name, json).await
        }
        TenantSideCommand::Tunnels(crate::cli::TunnelsCommand::Run {
            config,
            metrics,
            json,
        }) => super::tunnels::run(ctx, config, metrics, json).await,
        TenantSideCommand::Join {
            token,
            token_file,
            name,
            description,
            json,
        } => join(&paths, token, token_file, name, description, json).await,
        TenantSideCommand::Check { name, json } => check(&paths, name, json).await,
        TenantSideCommand::Tunnel {
            name,
            service,
            listen,
            check_interval,
            json,
        } => tunnel(&paths, name, service, listen, check_interval, json).await,
    }
}

async fn add(paths: &TenantPaths, args: AddProviderArgs) -> anyhow::Result<()> {
    let AddProviderArgs {
        address,
        username,
        password,
        name,
        description,
        thumbprint,
        accept_new,
        trust,
        json,
    } = args;
    if trust == TrustMode::Ca && (thumbprint.is_some() || accept_new) {
        return Err(usage(
            "--trust ca checks the system's roots and the host name; --thumbprint and --accept-new go with --trust pinned (or --thumbprint with --trust ca+pin)",
        ));
    }
    if trust == TrustMode::CaPin && accept_new {
        return Err(usage(
            "--trust ca+pin pins the key of a certificate the system's roots vouch for; --accept-new goes with --trust pinned",
        ));
    }
    let trust = cloudgate_db::TrustMode::from(trust);
    let (host, port) = parse_address(&address)?;
    let name = name.unwrap_or_else(|| cloudgate_addr::endpoint(&host, port));
    if name.trim().is_empty() || name.chars().any(char::is_control) || name.chars().count() > 128 {
        return Err(usage(
            "the provider name must be 1-128 characters without control characters",
        ));
    }
    if username.trim().is_empty() || username.chars().any(char::is_control) {
        return Err(usage("--username is empty or has control characters"));
    }
    let thumbprint = given_thumbprint(thumbprint.as_deref())?;
    let endpoint = cloudgate_addr::endpoint(&host, port);
    let probe = loud(cloudgate_tenant::probe(&host, port, trust.checks_chain()).await)?;
    crate::render::eprint_text(&presented_text(&probe, &endpoint));
    match trust {
        cloudgate_db::TrustMode::Ca => eprintln!(
            "The certificate chains to a trusted root and matches {host}: no thumbprint needed (--trust ca)."
        ),
        cloudgate_db::TrustMode::CaPin => {
            if thumbprint.is_some() {
                verify(&probe, &endpoint, thumbprint.as_ref(), false)?;
            }
            eprintln!(
                "The certificate chains to a trusted root and matches {host}; its key is pinned as well (--trust ca+pin): from now on the provider's certificate must chain to a trusted root and carry this key, or one it hands over to with a rollover proof."
            );
        }
        cloudgate_db::TrustMode::Pinned => {
            verify(&probe, &endpoint, thumbprint.as_ref(), accept_new)?;
        }
    }
    let saved = enroll_with_password(
        paths,
        AddRequest {
            name: &name,
            address: &host,
            port,
            description: &description,
            credentials: cloudgate_tenant::Credentials::Password {
                username: &username,
                password: "",
            },
            trust,
        },
        &password,
        &probe,
    )
    .await?;
    if json {
        return print_json(&view(&saved));
    }
    print_text(&format!(
        "Provider {} added: certificate {} pinned, enrolled as {}. Services: {}.\n{}",
        saved.name,
        saved.thumbprint,
        saved.username,
        list_or(&saved.services, "none yet"),
        next_step(paths, &saved.name, &saved.services)
    ))
}

/// The one command to run after a provider was added: a tunnel to its first service (or, with
/// none yet, how to see them once the SP assigns one), and the service form for many.
fn next_step(paths: &TenantPaths, provider: &str, services: &[String]) -> String {
    match services.first() {
        Some(service) => format!(
            "Next: cloudgate tenant tunnel {provider} {service} --listen 127.0.0.1:8000\n      \
             (or, as a service, list it in {} for `cloudgate tenant tunnels run`)\n",
            paths.layout().tunnels_config().display()
        ),
        None => format!(
            "Next: ask the SP to assign a service, then: cloudgate tenant provider refresh {provider}\n"
        ),
    }
}

/// Enrolls with the tenant password over the verified probe. A password typed at the prompt gets
/// three tries; the certificate stays verified between them (the same probe), so only the
/// password is asked again. `request`'s password is replaced by the one given or typed.
async fn enroll_with_password(
    paths: &TenantPaths,
    request: AddRequest<'_>,
    password: &crate::cli::PasswordArgs,
    probe: &cloudgate_tenant::Probe,
) -> anyhow::Result<PinnedProvider> {
    let cloudgate_tenant::Credentials::Password { username, .. } = request.credentials else {
        return Err(anyhow::anyhow!("enrollment by password needs a user name"));
    };
    let given = given_password(password)?;
    if given.is_none() && !interactive() {
        return Err(usage(
            "give the tenant password with --password-file FILE or --password-stdin",
        ));
    }
    let tries = if given.is_some() { 1 } else { PASSWORD_TRIES };
    let mut given = given;
    let mut attempt = 1;
    loop {
        let password = match given.take() {
            Some(p) => p,
            None => prompt_password(
                &format!("Password for tenant {username}:"),
                "sent only over the verified, pinned connection",
                false,
            )?,
        };
        let request = AddRequest {
            credentials: cloudgate_tenant::Credentials::Password {
                username,
                password: &password,
            },
            ..request
        };
        match cloudgate_tenant::add_provider(paths, request, probe).await {
            Err(TenantError::Authentication(why)) if attempt < tries => {
                crate::render::eprint_text(&format!(
                    "The service provider refused the password ({why}). Try again ({} left).\n",
                    tries - attempt
                ));
                attempt += 1;
            }
            other => return loud(other),
        }
    }
}

async fn list(paths: &TenantPaths, json: bool) -> anyhow::Result<()> {
    let providers = paths.db().await?.list().await?;
    let views: Vec<ProviderView> = providers.iter().map(view).collect();
    if json {
        return print_json(&views);
    }
    if views.is_empty() {
        return print_text(
            "No providers yet. Add one with `cloudgate tenant provider add ADDRESS --username USER`.\n",
        );
    }
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            vec![
                v.name.clone(),
                cloudgate_addr::endpoint(&v.address, v.port),
                v.username.clone(),
                v.thumbprint.clone(),
                v.last_seen.clone(),
                v.services.join(","),
            ]
        })
        .collect();
    print_text(&table(
        &[
            "NAME",
            "GATEWAY",
            "USER",
            "PINNED THUMBPRINT",
            "LAST SEEN",
            "SERVICES",
        ],
        &rows,
    ))
}

async fn show(paths: &TenantPaths, name: String, json: bool) -> anyhow::Result<()> {
    let p = paths.db().await?.get(&name).await?;
    let v = view(&p);
    if json {
        return print_json(&v);
    }
    print_text(&format!(
        "Provider: {}\nGateway: {}:{}\nDescription: {}\nTrust: {}\nThumbprint: {}\nSHA-256: {}\nPublic key pin: {}\nExpires: {}\nFirst seen: {}\nLast seen: {}\nUser name: {}\nClient certificate SHA-256: {}\nServices: {}\nGateways: {}\n",
        v.name,
        v.address,
        v.port,
        if v.description.is_empty() {
            "-"
        } else {
            &v.description
        },
        v.trust,
        v.thumbprint,
        v.sha256,
        v.spki_sha256,
        v.not_after,
        v.first_seen,
        v.last_seen,
        v.username,
        v.client_sha256,
        list_or(&v.services, "-"),
        if v.gateways.is_empty() {
            "the address above (the provider has told of no other)".to_string()
        } else {
            format!(
                "{} (tried in this order, then the address above)",
                v.gateways.join(", ")
            )
        }
    ))
}

async fn refresh(
    paths: &TenantPaths,
    name: String,
    thumbprint: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let db = paths.db().await?;
    let thumbprint = given_thumbprint(thumbprint.as_deref())?;
    let p = db.get(&name).await?;
    let endpoint = cloudgate_addr::endpoint(&p.address, p.port);
    if !p.trust.pins_key() {
        return Err(usage(format!(
            "provider {name} is trusted through the system's roots (--trust ca); there is no pin to refresh"
        )));
    }
    let probe = loud(cloudgate_tenant::probe(&p.address, p.port, p.trust.checks_chain()).await)?;
    let state = cloudgate_tenant::TrustState::of(&p)?;
    match state.refresh(&probe.cert, thumbprint.as_ref()) {
        cloudgate_tenant::Refresh::Unchanged => {
            db.seen(&name, &p.services, None).await?;
            return report(
                json,
                &Refreshed {
                    changed: false,
                    provider: view(&db.get(&name).await?),
                },
                &format!(
                    "Provider {name}: the certificate is unchanged ({}).\n",
                    p.thumbprint
                ),
            );
        }
        // `--thumbprint T` means "end pinned to T": a gateway that presents another (the
        // pinned one included: a thief holding the old key) is a trust failure.
        cloudgate_tenant::Refresh::NotWhatWasNamed => {
            crate::render::eprint_text(&presented_text(&probe, &endpoint));
            let still = probe.cert.fingerprints.sha256_hex() == p.sha256;
            return Err(anyhow::Error::new(TenantError::ThumbprintMismatch {
                endpoint: endpoint.clone(),
                thumbprint: probe.cert.fingerprints.thumbprint(),
                sha256: probe.cert.fingerprints.sha256_colons(),
            })
            .context(if still {
                format!(
                    "the gateway still presents the pinned certificate {}, not the one you gave; the pin was not moved (whoever answers at {endpoint} holds the old key)",
                    p.thumbprint
                )
            } else {
                "the gateway presents a certificate other than the one you gave; the pin was not moved".to_string()
            }));
        }
        cloudgate_tenant::Refresh::Repin | cloudgate_tenant::Refresh::AskTheUser => {}
    }
    eprint!(
        "Pinned now: thumbprint {}, SHA-256 {}\n\n",
        p.thumbprint, p.sha256
    );
    crate::render::eprint_text(&presented_text(&probe, &endpoint));
    verify(&probe, &endpoint, thumbprint.as_ref(), false)?;
    loud(cloudgate_tenant::refresh_pin(paths, &name, &probe).await)?;
    report(
        json,
        &Refreshed {
            changed: true,
            provider: view(&db.get(&name).await?),
        },
        &format!(
            "Provider {name}: now pinned to {}.\n",
            probe.cert.fingerprints.thumbprint()
        ),
    )
}

async fn remove(paths: &TenantPaths, name: String, json: bool) -> anyhow::Result<()> {
    let before = view(&paths.db().await?.get(&name).await?);
    cloudgate_tenant::remove_provider(paths, &name).await?;
    report(
        json,
        &serde_json::json!({ "removed": before }),
        &format!("Provider {name} removed, with this machine's client key for it.\n"),
    )
}

async fn join(
    paths: &TenantPaths,
    token: Option<String>,
    token_file: Option<std::path::PathBuf>,
    name: Option<String>,
    description: String,
    json: bool,
) -> anyhow::Result<()> {
    let token = crate::input::read_token(token.as_deref(), token_file.as_deref())?;
    let saved = loud(cloudgate_tenant::join(paths, &token, name.as_deref(), &description).await)?;
    drop(token);
    report(
        json,
        &view(&saved),
        &format!(
            "Provider {} added with the join token: the gateway presented the key the token pins ({}), and this machine is enrolled as tenant {}. Services: {}.\n{}",
            saved.name,
            saved.thumbprint,
            saved.username,
            list_or(&saved.services, "none yet"),
            next_step(paths, &saved.name, &saved.services)
        ),
    )
}

async fn check(paths: &TenantPaths, name: String, json: bool) -> anyhow::Result<()> {
    let report = loud(cloudgate_tenant::check(paths, &name).await)?;
    expiry_notice(&name, report.days_left)?;
    if !report.first_contact_answered {
        warn(&format!(
            "{} did not answer; the provider's trust state was read from {}, a gateway it told of. The address you gave is where a compromise would be announced: check it is reachable",
            cloudgate_addr::endpoint(&report.address, report.port),
            report.gateway
        ));
    }
    if json {
        return print_json(&report);
    }
    print_text(&format!(
        "OK: {} at {} is reachable and presents the pinned certificate {}; enrolled as tenant {}; services: {}.\n",
        report.name,
        report.gateway,
        report.thumbprint,
        report.username,
        list_or(&report.services, "none")
    ))
}

async fn tunnel(
    paths: &TenantPaths,
    name: String,
    service: String,
    listen: String,
    check_interval: u64,
    json: bool,
) -> anyhow::Result<()> {
    let addr = cloudgate_addr::parse_listen(&listen, cloudgate_addr::LOOPBACK)
        .map_err(|e| usage(format!("--listen: {e}")))?;
    if !addr.ip().is_loopback() {
        warn(&format!(
            "the tunnel listens on {addr}, not on a loopback address: anyone who reaches this machine on that network reaches {name}/{service} as your tenant"
        ));
    }
    let (listener, checked) = loud(
        cloudgate_tenant::open_tunnel(
            paths,
            &name,
            &service,
            addr,
            std::time::Duration::from_secs(check_interval),
        )
        .await,
    )?;
    expiry_notice(&name, checked.days_left)?;
    let shutdown = Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    let local = listener.local_addr();
    report_line(
        json,
        &TunnelStarted {
            event: "listening",
            listen: local.to_string(),
            provider: name.clone(),
            service: service.clone(),
            thumbprint: checked.thumbprint.clone(),
        },
        &format!("cloudgate tunnel listening on {local} for {name}/{service}\n"),
    )?;
    loud(listener.serve(shutdown).await)
}

/// The pinned certificate's expiry: an error once expired, a warning within 14 days.
fn expiry_notice(name: &str, days_left: i64) -> anyhow::Result<()> {
    if days_left < 0 {
        return Err(anyhow::anyhow!(
            "the pinned certificate of {name} has expired"
        ));
    }
    if days_left <= 14 {
        warn(&format!(
            "the pinned certificate of {name} expires in {days_left} days"
        ));
    }
    Ok(())
}
