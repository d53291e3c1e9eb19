//! The rollover data a gateway publishes in `/v1/provider` (successor and chain of proofs), read
//! by tenants: it must decode or be refused, never panic, and what decodes must read back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(proof) = serde_json::from_slice::<cloudgate_pki::rollover::RolloverProof>(data) {
        let text = serde_json::to_string(&proof).expect("a proof encodes");
        let again: cloudgate_pki::rollover::RolloverProof =
            serde_json::from_str(&text).expect("a written proof reads back");
        assert_eq!(again, proof);
    }
    if let Ok(published) = serde_json::from_slice::<cloudgate_store::PublishedTrust>(data) {
        for link in published.chain.iter().chain(published.successor.iter()) {
            let _ = link.certificate();
            let _ = link.from_spki();
        }
    }
});
