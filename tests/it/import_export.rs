//! `sp cert import` and `sp cert export` against the real `openssl` tool, both directions: every
//! key type, both PKCS#12 generations, chains, friendly names, and each refusal with the file that
//! triggers it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::util::{CertJson, Env, openssl};

/// Key generation arguments for `openssl genpkey`, per cloudgate key type.
fn genpkey_args(key_type: &str) -> Vec<&'static str> {
    match key_type {
        "rsa-2048" => vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "rsa-3072" => vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
        "rsa-4096" => vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
        "ecdsa-p256" => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "ecdsa-p384" => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "ed25519" => vec!["-algorithm", "ED25519"],
        other => panic!("unknown key type {other}"),
    }
}

/// A small CA made with openssl, issuing end-entity certificates like a real SP would buy.
struct OpensslCa {
    dir: PathBuf,
}

impl OpensslCa {
    fn new(dir: &Path) -> Self {
        let key = dir.join("ca.key");
        let cert = dir.join("ca.pem");
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            key.to_str().unwrap(),
        ]);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            "/CN=Test Issuing CA",
            "-days",
            "30",
            "-out",
            cert.to_str().unwrap(),
        ]);
        std::fs::write(
            dir.join("leaf.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:gw.example.com\n",
        )
        .unwrap();
        OpensslCa {
            dir: dir.to_path_buf(),
        }
    }

    fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Issues a leaf; returns (key.pem, cert.pem).
    fn issue(&self, name: &str, key_type: &str, days: &str) -> (PathBuf, PathBuf) {
        let key = self.dir.join(format!("{name}.key"));
        let csr = self.dir.join(format!("{name}.csr"));
        let cert = self.dir.join(format!("{name}.pem"));
        let mut gen_args = vec!["genpkey"];
        gen_args.extend(genpkey_args(key_type));
        gen_args.extend(["-out", key.to_str().unwrap()]);
        openssl(&gen_args);
        openssl(&[
            "req",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            "/CN=gw.example.com/O=Example",
            "-out",
            csr.to_str().unwrap(),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            csr.to_str().unwrap(),
            "-CA",
            self.ca_pem().to_str().unwrap(),
            "-CAkey",
            self.dir.join("ca.key").to_str().unwrap(),
            "-CAcreateserial",
            "-days",
            days,
            "-extfile",
            self.dir.join("leaf.ext").to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ]);
        (key, cert)
    }

    /// Packs a leaf with the CA as chain into a PKCS#12 file.
    fn pfx(&self, name: &str, key: &Path, cert: &Path, password: &str, legacy: bool) -> PathBuf {
        let out = self
            .dir
            .join(format!("{name}{}.pfx", if legacy { "-legacy" } else { "" }));
        let pass = format!("pass:{password}");
        let ca_pem = self.ca_pem();
        let mut args = vec![
            "pkcs12",
            "-export",
            "-in",
            cert.to_str().unwrap(),
            "-inkey",
            key.to_str().unwrap(),
            "-certfile",
            ca_pem.to_str().unwrap(),
            "-name",
            "Friendly From OpenSSL",
            "-passout",
            &pass,
            "-out",
            out.to_str().unwrap(),
        ];
        if legacy {
            args.push("-legacy");
        }
        openssl(&args);
        out
    }
}

fn password_file(env: &Env, password: &str) -> String {
    let p = env.path("password.txt");
    std::fs::write(&p, format!("{password}\n")).unwrap();
    p.to_str().unwrap().to_string()
}

fn import(env: &Env, args: &[&str]) -> CertJson {
    let mut full = vec!["sp", "cert", "import", "--json"];
    full.extend_from_slice(args);
    serde_json::from_str(&env.ok(&full)).unwrap()
}

fn fingerprint_of(cert: &Path) -> String {
    let out = openssl(&[
        "x509",
        "-in",
        cert.to_str().unwrap(),
        "-noout",
        "-fingerprint",
        "-sha1",
    ]);
    out.trim().rsplit('=').next().unwrap().replace(':', "")
}

#[test]
fn openssl_pkcs12_of_every_key_type_and_generation_imports_with_chain_and_name() {
    let env = Env::new();
    let ca = OpensslCa::new(env.dir.path());
    let pw = password_file(&env, "correct horse");
    for key_type in [
        "rsa-2048",
        "rsa-3072",
        "rsa-4096",
        "ecdsa-p256",
        "ecdsa-p384",
        "ed25519",
    ] {
        let (key, cert) = ca.issue(key_type, key_type, "20");
        for legacy in [false, true] {
            let pfx = ca.pfx(key_type, &key, &cert, "correct horse", legacy);
            let c = import(&env, &[pfx.to_str().unwrap(), "--password-file", &pw]);
            assert_eq!(
                c.thumbprint,
                fingerprint_of(&cert),
                "{key_type} legacy={legacy}"
            );
            assert_eq!(c.key_type, key_type);
            assert_eq!(c.friendly_name, "Friendly From OpenSSL");
            assert_eq!(c.chain_length, 1, "{key_type}: the CA travels as the chain");
            assert_eq!(c.source, "imported");
            assert_eq!(c.subject, "O=Example,CN=gw.example.com");
            env.ok(&["sp", "cert", "check", &c.thumbprint]);
            // The stored key is the one openssl made.
            let ours = openssl(&["pkey", "-in", c.key_path.to_str().unwrap(), "-pubout"]);
            let theirs = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
            assert_eq!(ours, theirs, "{key_type}");
            env.ok(&["sp", "cert", "remove", &c.thumbprint]);
        }
    }
}

#[test]
fn every_key_type_exports_to_pkcs12_that_openssl_reads() {
    let env = Env::new();
    let pw = password_file(&env, "export secret");
    for key_type in [
        "rsa-2048",
        "rsa-3072",
        "rsa-4096",
        "ecdsa-p256",
        "ecdsa-p384",
        "ed25519",
    ] {
        let c = env.generate(&["--key-type", key_type, "--friendly-name", "Exported Name"]);
        for legacy in [false, true] {
            let out = env.path(&format!("{key_type}-{legacy}.pfx"));
            let mut args = vec![
                "sp",
                "cert",
                "export",
                &c.thumbprint,
                "--format",
                "pfx",
                "--out",
                out.to_str().unwrap(),
                "--password-file",
                &pw,
            ];
            if legacy {
                args.push("--legacy");
            }
            env.ok(&args);
            assert_eq!(
                std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
                0o600,
                "key files are owner-only"
            );
            let info = openssl(&[
                "pkcs12",
                "-in",
                out.to_str().unwrap(),
                "-info",
                "-nodes",
                "-passin",
                "pass:export secret",
            ]);
            let stderr_info = std::process::Command::new("openssl")
                .args([
                    "pkcs12",
                    "-in",
                    out.to_str().unwrap(),
                    "-info",
                    "-noout",
                    "-passin",
                    "pass:export secret",
                ])
                .output()
                .unwrap();
            let meta = String::from_utf8_lossy(&stderr_info.stderr);
            if legacy {
                assert!(
                    meta.contains("MAC: sha1") && meta.contains("TripleDES"),
                    "{key_type}: {meta}"
                );
            } else {
                assert!(
                    meta.contains("MAC: sha256") && meta.contains("AES-256-CBC"),
                    "{key_type}: {meta}"
                );
            }
            assert_eq!(
                info.matches("friendlyName: Exported Name").count(),
                2,
                "{key_type}: name on both bags:\n{info}"
            );
            let cert_pem = env.path("x.pem");
            let key_pem = env.path("x.key");
            std::fs::write(
                &cert_pem,
                &info[info.find("-----BEGIN CERTIFICATE-----").unwrap()..],
            )
            .unwrap();
            std::fs::write(
                &key_pem,
                &info[info.find("-----BEGIN PRIVATE KEY-----").unwrap()..],
            )
            .unwrap();
            assert_eq!(fingerprint_of(&cert_pem), c.thumbprint);
            let from_key = openssl(&["pkey", "-in", key_pem.to_str().unwrap(), "-pubout"]);
            let from_cert = openssl(&[
                "x509",
                "-in",
                cert_pem.to_str().unwrap(),
                "-noout",
                "-pubkey",
            ]);
            assert_eq!(from_key, from_cert, "{key_type} legacy={legacy}");
        }
    }
}

#[test]
fn our_pkcs12_round_trips_into_another_store() {
    let a = Env::new();
    let b = Env::new();
    let pw = password_file(&a, "pw");
    let c = a.generate(&["--key-type", "ecdsa-p256", "--friendly-name", "Moving"]);
    let out = a.path("move.pfx");
    a.ok(&[
        "sp",
        "cert",
        "export",
        &c.thumbprint,
        "--format",
        "pfx",
        "--out",
        out.to_str().unwrap(),
        "--password-file",
        &pw,
    ]);
    let d = import(
        &b,
        &[out.to_str().unwrap(), "--password-file", &pw, "--apply"],
    );
    assert_eq!(d.thumbprint, c.thumbprint);
    assert_eq!(d.friendly_name, "Moving");
    assert!(d.applied);
    let e = b.fails(
        &[
            "sp",
            "cert",
            "import",
            out.to_str().unwrap(),
            "--password-file",
            &pw,
        ],
        2,
    );
    assert!(e.contains("already in the store"), "{e}");
}

#[test]
fn pem_der_and_key_encodings_import() {
    let env = Env::new();
    let ca = OpensslCa::new(env.dir.path());
    let (key, cert) = ca.issue("rsa", "rsa-2048", "20");
    let (eckey, eccert) = ca.issue("ec", "ecdsa-p256", "20");
    let dir = env.dir.path();
    // Certificate and PKCS#8 key in one file, chain after them.
    let both = dir.join("both.pem");
    let text = format!(
        "{}{}{}",
        std::fs::read_to_string(&cert).unwrap(),
        std::fs::read_to_string(&key).unwrap(),
        std::fs::read_to_string(ca.ca_pem()).unwrap()
    );
    std::fs::write(&both, text).unwrap();
    let c = import(&env, &[both.to_str().unwrap()]);
    assert_eq!(c.chain_length, 1);
    assert_eq!(
        c.friendly_name, "gw.example.com",
        "the common name stands in for a missing friendly name"
    );
    env.ok(&["sp", "cert", "remove", &c.thumbprint]);
    // PKCS#1 RSA key in its own file.
    let pkcs1 = dir.join("pkcs1.key");
    openssl(&[
        "rsa",
        "-in",
        key.to_str().unwrap(),
        "-traditional",
        "-out",
        pkcs1.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read_to_string(&pkcs1)
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    let c = import(
        &env,
        &[
            cert.to_str().unwrap(),
            "--key",
            pkcs1.to_str().unwrap(),
            "--friendly-name",
            "pkcs1",
        ],
    );
    assert_eq!(c.friendly_name, "pkcs1");
    // The stored key is PKCS#8 whatever came in.
    assert!(
        std::fs::read_to_string(&c.key_path)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    env.ok(&["sp", "cert", "check", &c.thumbprint]);
    // SEC1 EC key, and DER certificate with DER key.
    let sec1 = dir.join("sec1.key");
    openssl(&[
        "ec",
        "-in",
        eckey.to_str().unwrap(),
        "-out",
        sec1.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read_to_string(&sec1)
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY")
    );
    let c = import(
        &env,
        &[eccert.to_str().unwrap(), "--key", sec1.to_str().unwrap()],
    );
    env.ok(&["sp", "cert", "remove", &c.thumbprint]);
    let der = dir.join("ec.der");
    let derkey = dir.join("ec.key.der");
    openssl(&[
        "x509",
        "-in",
        eccert.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        der.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-in",
        eckey.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        derkey.to_str().unwrap(),
    ]);
    let c = import(
        &env,
        &[der.to_str().unwrap(), "--key", derkey.to_str().unwrap()],
    );
    assert_eq!(c.key_type, "ecdsa-p256");
}

#[test]
fn pkcs12_without_password_imports_without_asking() {
    let env = Env::new();
    let ca = OpensslCa::new(env.dir.path());
    let (key, cert) = ca.issue("np", "ecdsa-p256", "20");
    let pfx = ca.pfx("np", &key, &cert, "", false);
    let c = import(&env, &[pfx.to_str().unwrap()]);
    assert_eq!(c.thumbprint, fingerprint_of(&cert));
}

#[test]
fn each_refusal_has_its_own_message_and_writes_nothing() {
    let env = Env::new();
    let ca = OpensslCa::new(env.dir.path());
    let dir = env.dir.path();
    let (key, cert) = ca.issue("good", "ecdsa-p256", "20");
    let (other_key, _) = ca.issue("other", "ecdsa-p256", "20");
    let pfx = ca.pfx("good", &key, &cert, "right", false);
    let wrong = password_file(&env, "wrong");
    let pfx_bytes = std::fs::read(&pfx).unwrap();
    let truncated = dir.join("truncated.pfx");
    std::fs::write(&truncated, &pfx_bytes[..pfx_bytes.len() / 2]).unwrap();
    let cert_text = std::fs::read_to_string(&cert).unwrap();
    let truncated_pem = dir.join("truncated.pem");
    std::fs::write(&truncated_pem, &cert_text[..cert_text.len() / 2]).unwrap();
    let garbage = dir.join("garbage.bin");
    std::fs::write(&garbage, b"\x00\x01 definitely not a certificate").unwrap();
    let empty = dir.join("empty.pfx");
    std::fs::write(&empty, b"").unwrap();
    // A CA certificate with its key: openssl req -x509 marks it CA:TRUE.
    let ca_key = dir.join("ca.key");
    let ca_pem = ca.ca_pem();
    // An expired certificate: -days 0 ends its validity the second it starts.
    let (exp_key, exp_cert) = ca.issue("expired", "ecdsa-p256", "0");
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let missing = dir.join("missing.pfx");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![pfx.to_str().unwrap(), "--password-file", &wrong],
            "wrong password",
        ),
        (vec![pfx.to_str().unwrap()], "password-protected"),
        (
            vec![cert.to_str().unwrap()],
            "the gateway needs the private key",
        ),
        (
            vec![cert.to_str().unwrap(), "--key", other_key.to_str().unwrap()],
            "does not match",
        ),
        (
            vec![truncated.to_str().unwrap(), "--password-file", &wrong],
            "damaged or truncated",
        ),
        (vec![truncated_pem.to_str().unwrap()], "PEM"),
        (vec![garbage.to_str().unwrap()], "not a PKCS#12, PEM or DER"),
        (vec![empty.to_str().unwrap()], "empty"),
        (
            vec![missing.to_str().unwrap()],
            "cannot read certificate file",
        ),
        (
            vec![ca_pem.to_str().unwrap(), "--key", ca_key.to_str().unwrap()],
            "CA certificate",
        ),
        (
            vec![
                exp_cert.to_str().unwrap(),
                "--key",
                exp_key.to_str().unwrap(),
            ],
            "expired",
        ),
        (
            vec![
                pfx.to_str().unwrap(),
                "--password-file",
                &wrong,
                "--password-stdin",
            ],
            "cannot be used with",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["sp", "cert", "import"];
        full.extend(args.iter().copied());
        let e = env.fails(&full, 2);
        assert!(e.contains(needle), "{args:?}: expected {needle:?} in: {e}");
        assert!(
            !e.to_lowercase().contains("parse error") || needle != "wrong password",
            "{e}"
        );
        assert!(env.list().is_empty(), "{args:?} left an entry behind");
    }
    // --allow-expired imports it with a warning, but never puts it into use.
    let out = env.run(&[
        "sp",
        "cert",
        "import",
        exp_cert.to_str().unwrap(),
        "--key",
        exp_key.to_str().unwrap(),
        "--allow-expired",
    ]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("warning: importing a certificate that is not valid now")
    );
    let e = env.fails(&["sp", "cert", "apply", &env.list()[0].thumbprint], 2);
    assert!(e.contains("not valid now"), "{e}");
}

#[test]
fn password_comes_from_stdin_too() {
    let env = Env::new();
    let ca = OpensslCa::new(env.dir.path());
    let (key, cert) = ca.issue("s", "ecdsa-p256", "20");
    let pfx = ca.pfx("s", &key, &cert, "via stdin", true);
    let out = env
        .cmd()
        .args([
            "sp",
            "cert",
            "import",
            pfx.to_str().unwrap(),
            "--password-stdin",
        ])
        .write_stdin("via stdin\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pem_export_with_key_is_owner_only_and_openssl_reads_it() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ed25519"]);
    let out = env.path("with-key.pem");
    env.ok(&[
        "sp",
        "cert",
        "export",
        &c.thumbprint,
        "--with-key",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let from_key = openssl(&["pkey", "-in", out.to_str().unwrap(), "-pubout"]);
    let from_cert = openssl(&["x509", "-in", out.to_str().unwrap(), "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert);
}

#[test]
fn export_usage_errors() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ecdsa-p256"]);
    let t = c.thumbprint.as_str();
    let pw = password_file(&env, "x");
    for (args, needle) in [
        (
            vec!["--format", "pfx", "--out", "a.pfx"],
            "needs a password",
        ),
        (
            vec!["--format", "der", "--with-key", "--out", "a.der"],
            "--with-key goes with --format pem",
        ),
        (
            vec!["--legacy", "--out", "a.pem"],
            "--legacy goes with --format pfx",
        ),
        (
            vec!["--password-file", &pw, "--out", "a.pem"],
            "password goes with --format pfx",
        ),
    ] {
        let mut full = vec!["sp", "cert", "export", t];
        full.extend(args.iter().copied());
        let e = env.fails(&full, 2);
        assert!(e.contains(needle), "{args:?}: {e}");
    }
    assert!(!env.path("a.pfx").exists());
}

#[test]
fn encrypted_weak_and_damaged_keys_are_refused_in_words() {
    let env = Env::new();
    let p = |n: &str| env.path(n).to_str().unwrap().to_string();
    crate::util::openssl_pfx(&env, "plain", "sp.example");
    // The same key, encrypted as PKCS#8 and with traditional PEM encryption.
    openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        &p("plain.key"),
        "-out",
        &p("pkcs8.key"),
        "-v2",
        "aes-256-cbc",
        "-passout",
        "pass:secret",
    ]);
    openssl(&[
        "ec",
        "-in",
        &p("plain.key"),
        "-out",
        &p("traditional.key"),
        "-aes256",
        "-passout",
        "pass:secret",
    ]);
    for (key, says) in [
        ("pkcs8.key", "PKCS#8 with a passphrase"),
        ("traditional.key", "traditional OpenSSL PEM encryption"),
    ] {
        let e = env.fails(
            &["sp", "cert", "import", &p("plain.pem"), "--key", &p(key)],
            2,
        );
        assert!(e.contains(says) && e.contains("openssl pkey"), "{key}: {e}");
        // The same, with certificate and key in one file.
        let both = format!(
            "{}{}",
            std::fs::read_to_string(env.path("plain.pem")).unwrap(),
            std::fs::read_to_string(env.path(key)).unwrap()
        );
        std::fs::write(env.path("both.pem"), both).unwrap();
        let e = env.fails(&["sp", "cert", "import", &p("both.pem")], 2);
        assert!(e.contains(says), "{key} in one file: {e}");
    }
    // RSA-1024: refused for its size, not as a key mismatch.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=weak",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-keyout",
        &p("weak.key"),
        "-out",
        &p("weak.pem"),
    ]);
    let e = env.fails(
        &[
            "sp",
            "cert",
            "import",
            &p("weak.pem"),
            "--key",
            &p("weak.key"),
        ],
        2,
    );
    assert!(e.contains("1024 bits") && e.contains("2048"), "{e}");
    assert!(!e.contains("does not match"), "{e}");
    // A truncated key is described in words, not byte values.
    let key = std::fs::read_to_string(env.path("plain.key")).unwrap();
    std::fs::write(env.path("cut.key"), &key[..key.len() - 30]).unwrap();
    let e = env.fails(
        &[
            "sp",
            "cert",
            "import",
            &p("plain.pem"),
            "--key",
            &p("cut.key"),
        ],
        2,
    );
    assert!(e.contains("no END line"), "{e}");
    assert!(!e.contains("[45, 45"), "{e}");
}

#[test]
fn a_pkcs12_file_with_two_keys_asks_which_and_leaves_unrelated_certificates_out() {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let env = Env::new();
    let make = |cn: &str| {
        cloudgate_pki::generate_self_signed(&cloudgate_pki::SelfSignedRequest {
            key_type: cloudgate_pki::KeyType::EcdsaP256,
            subject: cloudgate_pki::dn::SubjectName::parse(&format!("CN={cn}")).unwrap(),
            sans: vec![],
            valid_days: 30,
            now: time::OffsetDateTime::now_utc(),
        })
        .unwrap()
    };
    let (a, b, stray) = (make("a.example"), make("b.example"), make("stray"));
    let mut store = KeyStore::new();
    for (alias, g, id) in [("a", &a, 1u8), ("b", &b, 2u8)] {
        store.add_entry(
            alias,
            KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
                vec![id],
                PrivateKey::from_der(&g.key_pkcs8_der).unwrap(),
                [Certificate::from_der(&g.cert_der).unwrap()],
            )),
        );
    }
    store.add_entry(
        "stray",
        KeyStoreEntry::Certificate(Certificate::from_der(&stray.cert_der).unwrap()),
    );
    let pfx = env.path("two.pfx");
    std::fs::write(&pfx, store.writer("pfx secret").write().unwrap()).unwrap();
    let pw = password_file(&env, "pfx secret");
    let file = pfx.to_str().unwrap();
    let e = env.fails(&["sp", "cert", "import", file, "--password-file", &pw], 2);
    assert!(
        e.contains("2 private keys") && e.contains("a.example") && e.contains("b.example"),
        "{e}"
    );
    assert!(e.contains("--select"), "{e}");
    assert!(env.list().is_empty(), "nothing saved");
    let b_thumb = cloudgate_pki::CertificateInfo::from_der(&b.cert_der)
        .unwrap()
        .fingerprints
        .thumbprint();
    let out = env.run(&[
        "sp",
        "cert",
        "import",
        file,
        "--password-file",
        &pw,
        "--select",
        &b_thumb,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let imported: CertJson = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(imported.thumbprint, b_thumb);
    assert_eq!(
        imported.chain_length, 0,
        "unrelated certificates are not a chain"
    );
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(
        warned.matches("left out certificate").count() == 2,
        "{warned}"
    );
}
