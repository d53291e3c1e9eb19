//! The enrollment body and the Basic credentials header a stranger sends to `POST /v1/enroll`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cloudgate_gateway::request::enroll_certificate(data);
    let _ = cloudgate_gateway::request::basic_credentials(data);
    let _ = cloudgate_gateway::request::is_tunnel_upgrade(data);
});
