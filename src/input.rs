//! What the user hands us: input files (read whole, size-limited, bad ones exit 2) and passwords
//! (from a file, stdin or a hidden prompt; never from the command line; wiped after use).

use std::io::{BufRead as _, IsTerminal as _, Read as _};
use std::path::Path;

use zeroize::Zeroizing;

use crate::cli::PasswordArgs;
use crate::exit::usage;

/// The largest input file read (certificates, keys, PKCS#12, licenses are all far smaller).
const MAX_INPUT: u64 = 1024 * 1024;

/// Reads a file the user named; any failure is bad input naming the file.
pub fn read_input_file(path: &Path, what: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| usage(format!("cannot read {what} {}: {e}", path.display())))?;
    if meta.is_dir() {
        return Err(usage(format!(
            "{what} {} is a directory; give a file",
            path.display()
        )));
    }
    if meta.len() > MAX_INPUT {
        return Err(usage(format!(
            "{what} {} is {} bytes, more than any {what} should be",
            path.display(),
            meta.len()
        )));
    }
    let mut data = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| usage(format!("cannot read {what} {}: {e}", path.display())))?;
    Ok(data)
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
        return Ok(Some(Zeroizing::new(first_line(text).to_string())));
    }
    if args.password_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| usage(format!("cannot read the password from standard input: {e}")))?;
        return Ok(Some(Zeroizing::new(first_line(&line).to_string())));
    }
    Ok(None)
}

/// Whether we can ask the user questions.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
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
