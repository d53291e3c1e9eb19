//! Interoperability: the real `openssl` tool reads every key type's certificate and key, agrees
//! on the fingerprints and subject, finds the extensions, and verifies the self-signed
//! certificate against itself.

use crate::util::{Env, openssl};

fn colon_free(s: &str) -> String {
    s.trim()
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .replace(':', "")
}

#[test]
fn openssl_reads_what_we_write_for_every_key_type() {
    let env = Env::new();
    for key_type in [
        "rsa-2048",
        "rsa-3072",
        "rsa-4096",
        "ecdsa-p256",
        "ecdsa-p384",
        "ed25519",
    ] {
        let c = env.generate(&[
            "--key-type",
            key_type,
            "--san",
            "gw.example.com",
            "--san",
            "192.0.2.1",
        ]);
        let cert = c.cert_path.to_str().unwrap();
        let key = c.key_path.to_str().unwrap();

        let sha1 = openssl(&["x509", "-in", cert, "-noout", "-fingerprint", "-sha1"]);
        assert_eq!(colon_free(&sha1), c.thumbprint, "{key_type}");
        let sha256 = openssl(&["x509", "-in", cert, "-noout", "-fingerprint", "-sha256"]);
        assert_eq!(colon_free(&sha256), c.sha256, "{key_type}");
        let subject = openssl(&[
            "x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253",
        ]);
        assert_eq!(
            subject.trim().trim_start_matches("subject="),
            c.subject,
            "{key_type}"
        );
        let serial = openssl(&["x509", "-in", cert, "-noout", "-serial"]);
        assert_eq!(
            serial.trim().trim_start_matches("serial="),
            c.serial,
            "{key_type}"
        );

        // The key parses and is the certificate's key.
        let from_key = openssl(&["pkey", "-in", key, "-pubout"]);
        let from_cert = openssl(&["x509", "-in", cert, "-noout", "-pubkey"]);
        assert_eq!(
            from_key, from_cert,
            "{key_type}: key does not match certificate"
        );

        let verify = openssl(&["verify", "-CAfile", cert, cert]);
        assert!(verify.trim().ends_with(": OK"), "{key_type}: {verify}");

        let text = openssl(&["x509", "-in", cert, "-noout", "-text"]);
        assert!(text.contains("Version: 3 (0x2)"), "{key_type}");
        assert!(text.contains("CA:FALSE"), "{key_type}");
        assert!(
            text.contains("X509v3 Basic Constraints: critical"),
            "{key_type}"
        );
        assert!(
            text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
            "{key_type}"
        );
        assert!(text.contains("X509v3 Subject Key Identifier"), "{key_type}");
        assert!(
            text.contains("DNS:gw.example.com, IP Address:192.0.2.1"),
            "{key_type}"
        );
        let (sig, usage) = match key_type {
            "ecdsa-p256" => ("ecdsa-with-SHA256", "Digital Signature\n"),
            "ecdsa-p384" => ("ecdsa-with-SHA384", "Digital Signature\n"),
            "ed25519" => ("ED25519", "Digital Signature\n"),
            _ => (
                "sha256WithRSAEncryption",
                "Digital Signature, Key Encipherment\n",
            ),
        };
        assert!(
            text.contains(&format!("Signature Algorithm: {sig}")),
            "{key_type}: {text}"
        );
        assert!(text.contains(usage), "{key_type}: {text}");
        if let Some(bits) = key_type.strip_prefix("rsa-") {
            assert!(
                text.contains(&format!("Public-Key: ({bits} bit)")),
                "{key_type}"
            );
        }
        // At least 64 bits of serial, positive.
        assert!(
            c.serial.len() >= 16 && c.serial.as_bytes()[0] <= b'7',
            "{key_type}: {}",
            c.serial
        );
    }
}

#[test]
fn openssl_reads_validity_and_host_names() {
    // `openssl x509 -checkend` and `-checkhost` read our validity and SANs the way a TLS peer would.
    let env = Env::new();
    let c = env.generate(&[
        "--key-type",
        "ecdsa-p256",
        "--san",
        "gw.example.com",
        "--valid-days",
        "2",
    ]);
    let cert = c.cert_path.to_str().unwrap();
    let out = openssl(&[
        "x509",
        "-in",
        cert,
        "-noout",
        "-checkhost",
        "gw.example.com",
    ]);
    assert!(out.contains("does match"), "{out}");
    let out = openssl(&["x509", "-in", cert, "-noout", "-checkend", "86400"]);
    assert!(out.contains("will not expire"), "{out}");
    let status = std::process::Command::new("openssl")
        .args([
            "x509",
            "-in",
            cert,
            "-noout",
            "-checkend",
            &(3 * 86400).to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        !status.status.success(),
        "a 2-day certificate must expire within 3 days"
    );
}
