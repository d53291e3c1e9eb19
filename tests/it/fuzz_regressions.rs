//! Every seed and every input a fuzz target ever crashed or hung on (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`), run through the same parsers as the fuzz targets in `fuzz/`.
//! Each must return (accepted or refused) without a panic.

use std::path::Path;

/// Runs one input through what the fuzz target `target` runs.
fn run(target: &str, data: &[u8]) {
    match target {
        "pem" => {
            if let Ok(certs) = cloudgate_pki::pem::decode_certificates(data) {
                for der in certs {
                    let again = cloudgate_pki::pem::encode_certificate(&der);
                    let back = cloudgate_pki::pem::decode_certificates(again.as_bytes()).unwrap();
                    assert_eq!(back, vec![der]);
                }
            }
            let _ = cloudgate_pki::pem::decode_private_key(data);
        }
        "der_certificate" => {
            if let Ok(info) = cloudgate_pki::CertificateInfo::from_der(data) {
                let _ = info.verify_self_signature();
                let _ = cloudgate_pki::format_summary_date(info.not_after);
            }
        }
        "pkcs12" => {
            let _ = cloudgate_pki::pkcs12::decode_pkcs12(data, "");
            let _ = cloudgate_pki::pkcs12::decode_pkcs12(data, "password");
        }
        "key_material" => {
            let Some((&mode, rest)) = data.split_first() else {
                return;
            };
            if mode & 1 == 1 {
                let cut = usize::from(mode >> 1).min(rest.len());
                let (key, main) = rest.split_at(rest.len() - cut);
                let _ = cloudgate_pki::import::read_key_material(main, Some(key), "", None);
            } else {
                let _ = cloudgate_pki::import::read_key_material(rest, None, "", None);
            }
        }
        "license" => {
            let path = Path::new("fuzz.toml");
            if let Ok(l) = cloudgate_store::license::License::parse(data, path) {
                cloudgate_store::license::License::parse(l.to_toml().as_bytes(), path).unwrap();
            }
        }
        "thumbprint" => {
            if let Ok(s) = std::str::from_utf8(data) {
                let _ = cloudgate_pki::FingerprintQuery::parse(s);
            }
        }
        "enroll_body" => {
            let _ = cloudgate_gateway::request::enroll_certificate(data);
            let _ = cloudgate_gateway::request::basic_credentials(data);
        }
        "gateway_request" => {
            // The request path through hyper runs in the gateway tests; here the parts of ours.
            let text = String::from_utf8_lossy(data);
            let first = text.lines().next().unwrap_or("");
            let mut words = first.split(' ');
            let (m, p) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let _ = cloudgate_gateway::request::route(m, p);
            use cloudgate_gateway::request::{Route, TunnelHead, route, tunnel_head};
            if let TunnelHead::Tunnel { service, head_len } = tunnel_head(data) {
                assert!(
                    head_len <= data.len()
                        && route("GET", &format!("/v1/tunnel/{service}")) == Route::Tunnel(service)
                );
            }
        }
        "rollover_proof" => {
            if let Ok(proof) =
                serde_json::from_slice::<cloudgate_pki::rollover::RolloverProof>(data)
            {
                let text = serde_json::to_string(&proof).unwrap();
                let again: cloudgate_pki::rollover::RolloverProof =
                    serde_json::from_str(&text).unwrap();
                assert_eq!(again, proof);
            }
            if let Ok(published) = serde_json::from_slice::<cloudgate_store::PublishedTrust>(data) {
                for link in published.chain.iter().chain(published.successor.iter()) {
                    let _ = link.certificate();
                    let _ = link.from_spki();
                }
            }
        }
        "join_token" => {
            if let Ok(text) = std::str::from_utf8(data) {
                use cloudgate_pki::join_token::{JoinToken, parse_bearer};
                if let Ok(token) = JoinToken::parse(text) {
                    assert_eq!(JoinToken::parse(&token.encode()).unwrap(), token);
                }
                let _ = parse_bearer(text);
            }
        }
        other => {
            panic!("fuzz/{other}: no such fuzz target; add it to tests/it/fuzz_regressions.rs")
        }
    }
}

#[test]
fn seeds_and_past_findings_stay_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for kind in ["seeds", "regressions"] {
        let Ok(targets) = std::fs::read_dir(root.join(kind)) else {
            continue;
        };
        for target in targets {
            let target = target.unwrap();
            let name = target.file_name().to_string_lossy().to_string();
            for input in std::fs::read_dir(target.path()).unwrap() {
                let input = input.unwrap().path();
                let data = std::fs::read(&input).unwrap();
                let outcome = std::panic::catch_unwind(|| run(&name, &data));
                assert!(outcome.is_ok(), "{} panics", input.display());
                count += 1;
            }
        }
    }
    assert!(
        count >= 20,
        "only {count} inputs found under fuzz/; run sh fuzz/seed.sh"
    );
}
