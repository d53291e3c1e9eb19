//! The SP's operations as a library, so the command line, the wizard, the demo, the gateway and
//! the console apply the same rules in one place: tenant names and passwords
//! ([`credentials`]), and tenant accounts with the rule that none exists before a certificate is
//! in use ([`tenants`]), certificate sources and renewal ([`certs`]), and which database an install
//! uses ([`repository`]). Blocking work (argon2)
//! runs on the blocking pool.

#![forbid(unsafe_code)]

pub mod acme;
pub mod admins;
pub mod audit;
pub mod certs;
pub mod core;
pub mod credentials;
pub mod fleet;
pub mod join_tokens;
pub mod repository;
pub mod services;
pub mod settings;
pub mod switch;
pub mod tenants;
pub mod throttle;
pub mod views;

pub use audit::Actor;
pub use core::Sp;
pub use tenants::{SpError, add_tenant, check_new_tenant, set_tenant_password};
