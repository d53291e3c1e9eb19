//! Thumbprints typed or pasted by a user.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(q) = cloudgate_pki::FingerprintQuery::parse(input) {
        let fp = cloudgate_pki::Fingerprints::compute(input.as_bytes(), b"spki");
        let _ = q.matches(&fp);
    }
});
