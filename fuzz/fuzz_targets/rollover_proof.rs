//! The rollover proof a gateway publishes in `/v1/provider`, read by tenants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Some(proof) = cloudgate_pki::rollover::RolloverProof::from_json(&value) {
        let again = cloudgate_pki::rollover::RolloverProof::from_json(&proof.to_json())
            .expect("a written proof reads back");
        assert_eq!(again.to_json(), proof.to_json());
    }
});
