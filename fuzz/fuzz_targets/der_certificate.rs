//! DER certificates: the one parser every certificate goes through.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = cloudgate_pki::CertificateInfo::from_der(data) {
        let _ = info.key_kind.key_type();
        let _ = info.verify_self_signature();
        let _ = info.fingerprints.thumbprint();
        let _ = info.fingerprints.spki_pin();
        let _ = info.days_left(info.not_before);
        let _ = cloudgate_pki::format_rfc3339(info.not_after);
        let _ = cloudgate_pki::format_summary_date(info.not_after);
    }
});
