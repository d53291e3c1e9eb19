//! End-to-end tests: the real `cloudgate` binary in a temporary data directory, checked with
//! the real `openssl` tool where interoperability is the point.

mod acme;
mod audit;
mod browser;
mod cert;
mod concurrency;
mod console;
mod console_ops;
mod console_trust;
mod crash;
mod demo;
mod faults;
mod first_hour;
mod fleet;
mod fuzz_regressions;
mod gateway;
mod gateway_util;
mod hostile;
mod hostile_files;
mod import_export;
mod join;
mod json_output;
mod license;
mod openssl;
mod permissions;
mod postgres;
mod secrets;
mod tables;
mod tenant_cli;
pub(crate) mod tenant_side;
mod testssl;
mod trust;
mod trust_features;
mod tunnels_service;
mod usage;
mod util;
mod wizard;
