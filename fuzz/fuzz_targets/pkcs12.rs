//! PKCS#12 (.pfx) files, with no password and with one.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cloudgate_pki::pkcs12::looks_like_pkcs12(data);
    let _ = cloudgate_pki::pkcs12::decode_pkcs12(data, "");
    let _ = cloudgate_pki::pkcs12::decode_pkcs12(data, "password");
});
