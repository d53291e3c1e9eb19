//! Whatever file an SP hands to `sp cert import`, with an optional separate key file: the first
//! byte says whether the rest is split into a main file and a key file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
