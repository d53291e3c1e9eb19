//! PEM certificates and keys as `sp cert import` and enrollment read them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = cloudgate_pki::pem::decode_certificates(data) {
        for der in certs {
            // What we decode, we must be able to write back and read again unchanged.
            let again = cloudgate_pki::pem::encode_certificate(&der);
            let back = cloudgate_pki::pem::decode_certificates(again.as_bytes())
                .expect("re-encoded PEM decodes");
            assert_eq!(back, vec![der]);
        }
    }
    let _ = cloudgate_pki::pem::decode_private_key(data);
});
