//! `cloudgate sp cert manage`: the reference product's *Manage Certificates* wizard on a
//! terminal. Step 1 Certificate Type → step 2 the type's details → step 3 Summary → Finish.
//! Nothing is written before Finish; Cancel, Esc on the first step, or Ctrl-C anywhere (key
//! generation included) leave everything as it was. Back and Esc go one step back and keep
//! what was answered.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use cloudgate_addr::HostPort;
use cloudgate_pki::import::check_serviceable;
use cloudgate_pki::{
    CertificateInfo, KeyType, SelfSignedRequest, check_valid_days, format_summary_date,
};
use cloudgate_store::{CertStore, NewEntry, Source, StoredCertificate};
use inquire::{InquireError, Select};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::clipboard;
use crate::cmd::generate::{defaults, generate_with_progress};
use crate::cmd::import::{imported_name, open_key_material};
use crate::context::Context;
use crate::exit::usage;
use crate::line_edit::{self, Leave};
use crate::render::summary_lines;

const GENERATE: &str = "Generate a new certificate";
const PICK: &str = "Select an existing certificate from the certificate store";
const IMPORT: &str = "Import certificate from a file";
const KEEP: &str = "Keep the existing certificate";

const FINISH: &str = "Finish";
const COPY: &str = "Copy to clipboard";
const BACK: &str = "Back";
const CANCEL: &str = "Cancel";

/// The certificate the wizard is about to put into use.
enum Candidate {
    /// Made or read in this run, not in the store yet.
    New {
        info: CertificateInfo,
        key: Zeroizing<Vec<u8>>,
        chain: Vec<Vec<u8>>,
        friendly_name: String,
        source: Source,
    },
    /// Already in the store.
    Existing(StoredCertificate),
    /// The one in use, kept.
    Keep(StoredCertificate),
}

impl Candidate {
    fn info(&self) -> &CertificateInfo {
        match self {
            Candidate::New { info, .. } => info,
            Candidate::Existing(e) | Candidate::Keep(e) => &e.info,
        }
    }

    fn friendly_name(&self) -> &str {
        match self {
            Candidate::New { friendly_name, .. } => friendly_name,
            Candidate::Existing(e) | Candidate::Keep(e) => &e.meta.friendly_name,
        }
    }
}

/// How a step ended when it did not produce a value.
enum Flow {
    Back,
    Cancel,
}

/// Maps inquire's Esc to "back" and Ctrl-C to "cancel".
fn answer<T>(result: Result<T, InquireError>) -> anyhow::Result<Result<T, Flow>> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(InquireError::OperationCanceled) => Ok(Err(Flow::Back)),
        Err(InquireError::OperationInterrupted) => Ok(Err(Flow::Cancel)),
        Err(e) => Err(anyhow::anyhow!("the wizard cannot ask: {e}")),
    }
}

fn cancelled() -> anyhow::Result<()> {
    Err(anyhow::anyhow!("cancelled; nothing was written"))
}

/// What the user answered so far: going back a step shows these again instead of starting over.
#[derive(Default)]
struct Answers {
    kind: Option<&'static str>,
    friendly_name: Option<String>,
    key_type: Option<KeyType>,
    valid_days: Option<String>,
    import_path: Option<String>,
    picked: Option<String>,
    /// The public address typed in this run (saved at Finish).
    public_address: Option<HostPort>,
}

/// The wizard's steps.
enum Step {
    Type,
    Details,
    Summary(Box<Candidate>),
}

fn title(n: u8, what: &str) {
    println!("\nStep {n} of 3: {what}");
}

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(usage(
            "the Manage Certificates wizard needs a terminal; without one use `cloudgate sp cert generate --apply`, \
             `cloudgate sp cert import FILE --apply` or `cloudgate sp cert apply CERT`",
        ));
    }
    let store = ctx.store_for_write()?;
    let current = store.applied().ok().flatten();
    let mut answers = Answers::default();
    let mut step = Step::Type;
    loop {
        step = match step {
            Step::Type => match step_type(current.as_ref(), &mut answers)? {
                Ok(()) => Step::Details,
                Err(_) => return cancelled(),
            },
            Step::Details => {
                let kind = answers.kind.unwrap_or(GENERATE);
                let outcome = match kind {
                    GENERATE => step_generate(ctx, &mut answers)?,
                    PICK => step_pick(&store, &mut answers)?,
                    IMPORT => step_import(&mut answers)?,
                    _ => match &current {
                        Some(c) => Ok(Candidate::Keep(c.clone())),
                        None => Err(Flow::Back),
                    },
                };
                match outcome {
                    Ok(c) => Step::Summary(Box::new(c)),
                    Err(Flow::Back) => Step::Type,
                    Err(Flow::Cancel) => return cancelled(),
                }
            }
            Step::Summary(candidate) => match step_summary(ctx, &candidate, &mut answers)? {
                Ok(()) => return finish(ctx, &store, *candidate, answers.public_address),
                // Keeping the current certificate has no step of its own to go back to.
                Err(Flow::Back) if matches!(*candidate, Candidate::Keep(_)) => Step::Type,
                Err(Flow::Back) => Step::Details,
                Err(Flow::Cancel) => return cancelled(),
            },
        };
    }
}

fn step_type(
    current: Option<&StoredCertificate>,
    answers: &mut Answers,
) -> anyhow::Result<Result<(), Flow>> {
    title(1, "Certificate Type");
    let mut types = vec![GENERATE, PICK, IMPORT];
    if let Some(c) = current {
        println!(
            "In use: {} (expires {}, thumbprint {}, serial number {})",
            c.meta.friendly_name,
            format_summary_date(c.info.not_after),
            c.info.fingerprints.thumbprint(),
            c.info.serial
        );
        types.push(KEEP);
    }
    let start = answers
        .kind
        .and_then(|k| types.iter().position(|t| *t == k))
        .unwrap_or(0);
    match answer(
        Select::new("Certificate Type:", types)
            .with_starting_cursor(start)
            .with_help_message("↑↓ to move, enter to choose, esc to cancel")
            .prompt(),
    )? {
        Ok(k) => {
            answers.kind = Some(k);
            Ok(Ok(()))
        }
        Err(f) => Ok(Err(f)),
    }
}

/// A line-edited answer; Esc and Ctrl-C become the wizard's Back and Cancel.
fn line(
    message: &str,
    default: Option<&str>,
    initial: &str,
    help: Option<&str>,
) -> anyhow::Result<Result<String, Flow>> {
    Ok(
        match line_edit::prompt(message, default, initial, help)
            .context("the wizard cannot read the terminal")?
        {
            Ok(s) => Ok(s),
            Err(Leave::Back) => Err(Flow::Back),
            Err(Leave::Cancel) => Err(Flow::Cancel),
        },
    )
}

fn step_generate(ctx: &Context, answers: &mut Answers) -> anyhow::Result<Result<Candidate, Flow>> {
    title(2, "Generate certificate");
    let mut defaults = defaults(ctx, true)?;
    // Asked before the key is made, so the certificate names the address tenants will use
    // (their `curl --cacert` and browsers check it).
    let address = match public_address(ctx, answers)? {
        Ok(a) => a,
        Err(f) => return Ok(Err(f)),
    };
    if let Ok(a) = HostPort::parse(&address, Some(cloudgate_addr::GATEWAY_PORT)) {
        defaults.also_name(&a.host);
    }
    println!(
        "The new certificate is self-signed: it is not issued by a trusted CA. When tenants add this service provider \
         they will be offered its thumbprint to verify."
    );
    // Three fields; Esc goes back one field, and from the first to the previous step.
    let mut field = 0;
    while field < 3 {
        match field {
            0 => match line(
                "Friendly name:",
                Some(&defaults.friendly_name),
                answers.friendly_name.as_deref().unwrap_or(""),
                Some(
                    "enter keeps the name shown; Ctrl-U clears the line, Tab fills in the name to edit it",
                ),
            )? {
                Ok(n) => match crate::cli::parse_friendly_name(&n) {
                    Ok(n) => {
                        answers.friendly_name = Some(n);
                        field = 1;
                    }
                    Err(e) => println!("{e}; type another."),
                },
                Err(Flow::Back) => return Ok(Err(Flow::Back)),
                Err(f) => return Ok(Err(f)),
            },
            1 => {
                let start = answers
                    .key_type
                    .and_then(|k| KeyType::ALL.iter().position(|t| *t == k))
                    .unwrap_or(0);
                match answer(
                    Select::new("Key type:", KeyType::ALL.to_vec())
                        .with_starting_cursor(start)
                        .prompt(),
                )? {
                    Ok(k) => {
                        answers.key_type = Some(k);
                        field = 2;
                    }
                    Err(Flow::Back) => field = 0,
                    Err(f) => return Ok(Err(f)),
                }
            }
            _ => match line(
                "Validity (days):",
                Some("365"),
                answers.valid_days.as_deref().unwrap_or(""),
                None,
            )? {
                Ok(d) => match d
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| "type a whole number of days".to_string())
                    .and_then(|n| check_valid_days(n).map(|()| n).map_err(|e| e.to_string()))
                {
                    Ok(_) => {
                        answers.valid_days = Some(d.trim().to_string());
                        field = 3;
                    }
                    Err(e) => println!("{e}."),
                },
                Err(Flow::Back) => field = 1,
                Err(f) => return Ok(Err(f)),
            },
        }
    }
    let request = SelfSignedRequest {
        key_type: answers.key_type.unwrap_or(KeyType::ALL[0]),
        subject: defaults.subject,
        sans: defaults.sans,
        valid_days: answers
            .valid_days
            .as_deref()
            .and_then(|d| d.parse().ok())
            .unwrap_or(365),
        now: OffsetDateTime::now_utc(),
    };
    let generated = generate_with_progress(&request)?;
    let info = CertificateInfo::from_der(&generated.cert_der)?;
    Ok(Ok(Candidate::New {
        info,
        key: generated.key_pkcs8_der,
        chain: Vec::new(),
        friendly_name: answers
            .friendly_name
            .clone()
            .unwrap_or(defaults.friendly_name),
        source: Source::Generated,
    }))
}

fn step_pick(store: &CertStore, answers: &mut Answers) -> anyhow::Result<Result<Candidate, Flow>> {
    title(2, "Pick Certificate");
    let entries = store.list()?;
    if entries.is_empty() {
        println!("The certificate store is empty: generate or import a certificate instead.");
        return Ok(Err(Flow::Back));
    }
    let labels: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} | expires {} | {} | issued by {} | {}",
                e.info.subject_display,
                format_summary_date(e.info.not_after),
                e.meta.friendly_name,
                e.info.issuer_display,
                e.info.fingerprints.thumbprint()
            )
        })
        .collect();
    let start = answers
        .picked
        .as_ref()
        .and_then(|p| labels.iter().position(|l| l == p))
        .unwrap_or(0);
    let chosen = match answer(
        Select::new("Pick Certificate:", labels.clone())
            .with_starting_cursor(start)
            .with_help_message("type to filter, ↑↓ to move, enter to choose, esc to go back")
            .with_page_size(10)
            .prompt(),
    )? {
        Ok(label) => label,
        Err(f) => return Ok(Err(f)),
    };
    let index = labels
        .iter()
        .position(|l| *l == chosen)
        .context("the chosen certificate vanished")?;
    answers.picked = Some(chosen);
    Ok(Ok(Candidate::Existing(
        entries
            .into_iter()
            .nth(index)
            .context("the chosen certificate vanished")?,
    )))
}

/// How often a wrong password is asked again before the wizard goes back to the file.
const PASSWORD_TRIES: u32 = 3;

fn step_import(answers: &mut Answers) -> anyhow::Result<Result<Candidate, Flow>> {
    title(2, "Import certificate");
    loop {
        let path = match line(
            "Certificate file:",
            None,
            answers.import_path.as_deref().unwrap_or(""),
            Some("a .pfx/.p12 file, or PEM with the certificate and its key"),
        )? {
            Ok(p) => p,
            Err(f) => return Ok(Err(f)),
        };
        answers.import_path = Some(path.clone());
        let path = std::path::PathBuf::from(path);
        if !path.is_file() {
            println!("{} is not a file; type the path again.", path.display());
            continue;
        }
        // The password is asked again, hidden, on its own: a wrong one never sends the user
        // back to a visible prompt where a retyped password would show.
        for attempt in 1..=PASSWORD_TRIES {
            let password = match answer(
                inquire::Password::new("Password:")
                    .with_help_message("required only if the file is password-protected; esc to choose another file")
                    .with_display_mode(inquire::PasswordDisplayMode::Hidden)
                    .without_confirmation()
                    .prompt(),
            )? {
                Ok(p) => Zeroizing::new(p),
                Err(Flow::Back) => break,
                Err(Flow::Cancel) => return Ok(Err(Flow::Cancel)),
            };
            let opened =
                open_key_material(&path, None, Some(&password), false, None).and_then(|m| {
                    check_serviceable(&m.cert, OffsetDateTime::now_utc(), false)?;
                    Ok(m)
                });
            match opened {
                Ok(m) => {
                    let friendly_name = imported_name(&m);
                    return Ok(Ok(Candidate::New {
                        info: m.cert,
                        key: m.key_pkcs8_der,
                        chain: m.chain,
                        friendly_name,
                        source: Source::Imported,
                    }));
                }
                Err(e) if is_wrong_password(&e) && attempt < PASSWORD_TRIES => println!(
                    "Cannot import: {e:#}. Type the password again ({} tries left), or press esc to choose another file.",
                    PASSWORD_TRIES - attempt
                ),
                Err(e) => {
                    println!("Cannot import: {e:#}. Choose a file again, or press esc to go back.");
                    break;
                }
            }
        }
    }
}

fn is_wrong_password(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<cloudgate_pki::PkiError>(),
            Some(cloudgate_pki::PkiError::WrongPassword { .. })
        )
    })
}

/// The address tenants reach the gateway at: configured, typed earlier in this run, or asked
/// now (once) with this host's name as the default.
fn public_address(ctx: &Context, answers: &mut Answers) -> anyhow::Result<Result<String, Flow>> {
    if let Some(a) = &answers.public_address {
        return Ok(Ok(crate::public_address::shown(a)));
    }
    if let Some(a) = crate::public_address::configured(ctx)? {
        return Ok(Ok(crate::public_address::shown(&a)));
    }
    let default = crate::public_address::default_address();
    loop {
        let typed = match line(
            "Public address of this gateway:",
            Some(&default),
            "",
            Some(
                "the DNS name (or IP address) tenants reach this gateway at, with :PORT if not 6180; asked once, saved at Finish",
            ),
        )? {
            Ok(t) => t,
            Err(f) => return Ok(Err(f)),
        };
        match HostPort::parse(&typed, Some(cloudgate_addr::GATEWAY_PORT)) {
            Ok(a) => {
                let shown = crate::public_address::shown(&a);
                answers.public_address = Some(a);
                return Ok(Ok(shown));
            }
            Err(e) => println!("{e}; type it again."),
        }
    }
}

fn step_summary(
    ctx: &Context,
    candidate: &Candidate,
    answers: &mut Answers,
) -> anyhow::Result<Result<(), Flow>> {
    title(3, "Summary");
    let address = match public_address(ctx, answers)? {
        Ok(a) => a,
        Err(f) => return Ok(Err(f)),
    };
    let info = candidate.info();
    let summary = summary_lines(candidate.friendly_name(), info);
    let command = crate::public_address::tenant_command(&address, &info.fingerprints.sha256_hex());
    println!(
        "\nSummary\n\n{summary}SHA-256: {}\n",
        info.fingerprints.sha256_colons()
    );
    println!(
        "A tenant adds this service provider with (replace <TENANT> with the tenant's name):\n  {command}\n"
    );
    loop {
        let action =
            match answer(Select::new("Summary:", vec![FINISH, COPY, BACK, CANCEL]).prompt())? {
                Ok(a) => a,
                Err(f) => return Ok(Err(f)),
            };
        match action {
            FINISH => return Ok(Ok(())),
            BACK => return Ok(Err(Flow::Back)),
            CANCEL => return Ok(Err(Flow::Cancel)),
            _ => println!(
                "{}",
                clipboard::copy(&format!(
                    "{summary}\nA tenant adds this service provider with:\n{command}\n"
                ))
            ),
        }
    }
}

fn finish(
    ctx: &Context,
    store: &CertStore,
    candidate: Candidate,
    address: Option<HostPort>,
) -> anyhow::Result<()> {
    if let Some(a) = &address {
        // Through the core: one audit entry, nothing when it is the address already set.
        let shown = crate::public_address::shown(a);
        super::runtime()?
            .block_on(async {
                ctx.sp()
                    .await?
                    .set_public_address(&shown)
                    .await
                    .map_err(anyhow::Error::from)
            })
            .context("saving the public address in the gateway configuration")?;
    }
    let entry = match candidate {
        Candidate::Keep(e) => {
            println!(
                "The existing certificate {} stays in use; nothing changed.",
                e.info.fingerprints.thumbprint()
            );
            return Ok(());
        }
        Candidate::Existing(e) => e,
        Candidate::New {
            info,
            key,
            chain,
            friendly_name,
            source,
        } => store
            .add(NewEntry {
                cert_der: &info.der,
                key_pkcs8_der: &key,
                chain,
                friendly_name,
                source,
            })
            .context("saving the certificate in the store")?,
    };
    super::switch::confirm_switch(ctx, store, &entry, false).with_context(|| {
        format!(
            "{} is in the store but not in use",
            entry.info.fingerprints.thumbprint()
        )
    })?;
    let mut entry = entry;
    super::switch::apply_through_core_blocking(ctx, &mut entry)
        .context("putting the certificate into use")?;
    println!(
        "Cloud Connect certificate is being updated: {} ({}) is now in use.",
        entry.info.fingerprints.thumbprint(),
        entry.meta.friendly_name
    );
    println!(
        "\nNext, for each tenant: `cloudgate sp tenant add NAME`, then either send it the Summary with its\n\
         password, or — simpler and safer — a join token that carries the address, the pin and a one-time\n\
         credential: `cloudgate sp tenant token create NAME` (the tenant runs `cloudgate tenant join`)."
    );
    Ok(())
}
