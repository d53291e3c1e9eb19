//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde::Deserialize;

/// The JSON contract of `list`, `show`, `current`, `generate --json`, decoded into a typed
/// struct so that a change of the format breaks the tests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CertJson {
    pub thumbprint: String,
    pub sha256: String,
    pub spki_sha256: String,
    pub friendly_name: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub key_type: String,
    pub sans: Vec<String>,
    pub applied: bool,
    pub source: String,
    pub created_by: String,
    pub created_at: String,
    pub chain_length: usize,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// A fresh data directory and a way to run the binary against it.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    /// Everything the commands run through [`Env::run`] printed, for the secrets check on drop.
    pub transcript: std::sync::Mutex<Vec<(String, Vec<u8>)>>,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        Env {
            dir,
            data,
            transcript: Default::default(),
        }
    }

    /// `cloudgate` with this data directory and nothing inherited that changes behaviour.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("cloudgate").expect("binary");
        c.env("CLOUDGATE_HOME", &self.data)
            .env_remove("CLOUDGATE_ADMIN_GROUP")
            .env_remove("CLOUDGATE_LOG")
            .env_remove("CLOUDGATE_LOG_BATCH_MS")
            .env_remove("CLOUDGATE_TEST_CRASH_AT")
            .env_remove("CLOUDGATE_THUMBPRINT")
            .current_dir(self.dir.path());
        c
    }

    /// Runs with these arguments and returns the output, whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().expect("run cloudgate");
        self.record(args, &out);
        out
    }

    /// Keeps a command's output for the secrets check.
    pub fn record(&self, args: &[&str], out: &Output) {
        let mut t = self.transcript.lock().unwrap_or_else(|p| p.into_inner());
        let what = args.join(" ");
        // `export --out -` prints key material on purpose; its stderr is still checked.
        if !args.contains(&"export") {
            t.push((format!("stdout of {what}"), out.stdout.clone()));
        }
        t.push((format!("stderr of {what}"), out.stderr.clone()));
    }

    /// Runs a command that must succeed and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cloudgate {args:?} failed ({:?}):\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a command that must fail with `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "cloudgate {args:?}: stderr:\n{stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "cloudgate {args:?} panicked:\n{stderr}"
        );
        assert!(
            stderr.starts_with("cloudgate: ") || stderr.starts_with("error: "),
            "unclear error: {stderr}"
        );
        stderr
    }

    /// Generates a certificate with extra arguments; returns its JSON entry.
    pub fn generate(&self, extra: &[&str]) -> CertJson {
        let mut args = vec!["sp", "cert", "generate", "--json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&self.ok(&args)).expect("generate --json output")
    }

    pub fn list(&self) -> Vec<CertJson> {
        serde_json::from_str(&self.ok(&["sp", "cert", "list", "--json"]))
            .expect("list --json output")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Env {
    /// Every end-to-end test checks on its way out that no password it used and no private key
    /// in its data directory appears in any output, log or audit record it produced.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            crate::secrets::assert_nothing_leaked(self);
        }
    }
}

/// Runs `openssl` with these arguments; panics with its stderr on failure; returns stdout.
pub fn openssl(args: &[&str]) -> String {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl tool is installed");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes, with the openssl tool, a P-256 end-entity certificate and key (`NAME.pem`,
/// `NAME.key`) and a PFX of both (`NAME.pfx`, password `pfx secret`) in `env`'s directory;
/// returns the PFX's path.
pub fn openssl_pfx(env: &Env, name: &str, common_name: &str) -> PathBuf {
    openssl_pfx_named(env, name, common_name, None)
}

/// [`openssl_pfx`] with the PKCS#12 friendly name (`-name`) set to `friendly_name`.
pub fn openssl_pfx_named(
    env: &Env,
    name: &str,
    common_name: &str,
    friendly_name: Option<&str>,
) -> PathBuf {
    let (key, cert, pfx) = (
        env.path(&format!("{name}.key")),
        env.path(&format!("{name}.pem")),
        env.path(&format!("{name}.pfx")),
    );
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "30",
        "-subj",
        &format!("/CN={common_name}"),
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    let mut args = vec![
        "pkcs12",
        "-export",
        "-in",
        cert.to_str().unwrap(),
        "-inkey",
        key.to_str().unwrap(),
        "-passout",
        "pass:pfx secret",
        "-out",
        pfx.to_str().unwrap(),
    ];
    if let Some(n) = friendly_name {
        args.extend(["-name", n]);
    }
    openssl(&args);
    pfx
}

/// A field of `/proc/PID/status` in KiB (`VmRSS:`, `VmHWM:`).
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The first line a child started with a piped stdout prints (where it announces its address
/// or state); empty if it exits first.
pub fn first_stdout_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead as _;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("reading the child's stdout");
    line
}

/// Every file and directory under `root`, recursively.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        out.push(p.clone());
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("read_dir") {
                stack.push(e.expect("dirent").path());
            }
        }
    }
    out
}

/// The host name as the binary sees it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_string()
}

/// A loopback port free at the time of asking (another process may take it before it is used;
/// callers that cannot retry pick from outside the ephemeral range).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
