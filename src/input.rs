//! What the user hands us: input files (read whole, size-limited, bad ones exit 2) and passwords
//! (from a file, stdin or a hidden prompt; never from the command line; wiped after use).

use std::io::{BufRead as _, IsTerminal as _, Read as _};
use std::path::Path;

use zeroize::Zeroizing;

use cloudgate_pki::join_token::JoinToken;

use crate::cli::PasswordArgs;
use crate::exit::usage;

/// The largest input file read (certificates, keys, PKCS#12, licenses are all far smaller).
const MAX_INPUT: u64 = 1024 * 1024;

/// Reads a file the user named: a regular file (a link to one is fine) of at most 1 MiB; a
/// FIFO, a device (`/dev/zero`), a directory or anything larger is refused. Any failure is bad
/// input naming the file.
pub fn read_input_file(path: &Path, what: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    cloudgate_store::bounded::read_input(path, MAX_INPUT).map_err(|e| match e {
        cloudgate_store::StoreError::TooLarge { .. } => usage(format!(
            "{what} {} is larger than {MAX_INPUT} bytes, more than any {what} should be",
            path.display()
        )),
        cloudgate_store::StoreError::NotRegularFile { what: kind, .. } => usage(format!(
            "{what} {} is {kind}, not a regular file; give a file",
            path.display()
        )),
        other => usage(format!(
            "cannot read {what} {}: {other}{}",
            path.display(),
            crate::context::acting_as_hint()
        )),
    })
}

/// The first line of `text`, without its line ending.
fn first_line(text: &str) -> &str {
    text.split('\n').next().unwrap_or("").trim_end_matches('\r')
}

/// The password given with `--password-file` or `--password-stdin`, if either was given.
pub fn given_password(args: &PasswordArgs) -> anyhow::Result<Option<Zeroizing<String>>> {
    if let Some(path) = &args.password_file {
        let bytes = read_input_file(path, "password file")?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            usage(format!(
                "password file {} is not UTF-8 text",
                path.display()
            ))
        })?;
        return capped_password(first_line(text), "the password file").map(Some);
    }
    if args.password_stdin {
        // Read at most one byte past the cap (and its line ending): a longer "password" is
        // refused without holding it all in memory.
        let mut raw = Zeroizing::new(Vec::new());
        std::io::stdin()
            .lock()
            .take(MAX_PASSWORD as u64 + 3)
            .read_until(b'\n', &mut raw)
            .map_err(|e| usage(format!("cannot read the password from standard input: {e}")))?;
        let text = std::str::from_utf8(&raw)
            .map_err(|_| usage("the password on standard input is not UTF-8 text"))?;
        return capped_password(first_line(text), "standard input").map(Some);
    }
    Ok(None)
}

/// The longest password accepted, in bytes.
pub const MAX_PASSWORD: usize = 1024;

fn capped_password(line: &str, from: &str) -> anyhow::Result<Zeroizing<String>> {
    if line.len() > MAX_PASSWORD {
        return Err(usage(format!(
            "the password from {from} is longer than {MAX_PASSWORD} bytes; no password is that long"
        )));
    }
    Ok(Zeroizing::new(line.to_string()))
}

/// Whether we can ask the user questions.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

#[cfg(feature = "sp")]
/// Asks twice for a new password with hidden input; one that breaks the password rule, or a
/// repetition that differs, is refused with the reason and asked again from an empty line (not
/// the end of the command).
pub fn prompt_new_password(message: &str, help: &str) -> anyhow::Result<Zeroizing<String>> {
    loop {
        let password = prompt_password(message, help, false)?;
        if let Err(why) = cloudgate_sp::credentials::password_acceptable(&password) {
            eprintln!("{why}; type another.");
            continue;
        }
        let again = prompt_password("Repeat it:", help, false)?;
        if *again != *password {
            eprintln!("The passwords differ; type it again.");
            continue;
        }
        return Ok(password);
    }
}

/// Asks for a password with hidden input; `confirm` asks twice.
pub fn prompt_password(
    message: &str,
    help: &str,
    confirm: bool,
) -> anyhow::Result<Zeroizing<String>> {
    let mut prompt = inquire::Password::new(message)
        .with_help_message(help)
        .with_display_mode(inquire::PasswordDisplayMode::Hidden);
    if !confirm {
        prompt = prompt.without_confirmation();
    } else {
        prompt = prompt
            .with_custom_confirmation_message("Repeat it:")
            .with_custom_confirmation_error_message("The passwords differ.");
    }
    match prompt.prompt() {
        Ok(p) => Ok(Zeroizing::new(p)),
        Err(
            inquire::InquireError::OperationCanceled | inquire::InquireError::OperationInterrupted,
        ) => Err(usage("cancelled; nothing was written")),
        Err(e) => Err(anyhow::anyhow!("cannot ask for the password: {e}")),
    }
}

/// Where `tenant join` reads the token: the argument, `--token-file`, or
/// `CLOUDGATE_JOIN_TOKEN`.
pub fn read_token(arg: Option<&str>, file: Option<&Path>) -> anyhow::Result<JoinToken> {
    let text: Zeroizing<String> = match (arg, file) {
        (Some(t), None) => {
            crate::render::warn(
                "a join token on the command line can be seen by other users of this machine (ps) and stays in your shell history; prefer --token-file FILE or CLOUDGATE_JOIN_TOKEN",
            );
            Zeroizing::new(t.to_string())
        }
        (None, Some(f)) => {
            let bytes = read_input_file(f, "join token file")?;
            Zeroizing::new(
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| usage(format!("{} is not text", f.display())))?,
            )
        }
        (None, None) => match std::env::var("CLOUDGATE_JOIN_TOKEN") {
            Ok(t) if !t.trim().is_empty() => Zeroizing::new(t),
            _ => {
                return Err(usage(
                    "give the join token with --token-file FILE or CLOUDGATE_JOIN_TOKEN (or as the argument)",
                ));
            }
        },
        (Some(_), Some(_)) => {
            return Err(usage(
                "give the join token once: as the argument or with --token-file",
            ));
        }
    };
    JoinToken::parse(&text).map_err(|e| usage(e.to_string()))
}
