//! License files (`sp license install`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(license) =
        cloudgate_store::license::License::parse(data, std::path::Path::new("fuzz.toml"))
    {
        // What we accept, we must write back in a form we accept again.
        let again = license.to_toml();
        cloudgate_store::license::License::parse(
            again.as_bytes(),
            std::path::Path::new("again.toml"),
        )
        .expect("a written license reads back");
    }
});
