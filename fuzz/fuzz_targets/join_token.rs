//! Join tokens as pasted by a tenant, and bearer values as a gateway receives them: no input
//! panics, and whatever parses encodes back to a token that parses to the same thing.
#![no_main]

use cloudgate_pki::join_token::{JoinToken, parse_bearer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = JoinToken::parse(text) {
        let again = JoinToken::parse(&token.encode()).expect("an encoded token parses");
        assert_eq!(again, token);
        let _ = parse_bearer(&token.bearer());
    }
    let _ = parse_bearer(text);
});
