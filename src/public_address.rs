//! The address tenants reach the SP's gateway at (`public_address` in the gateway
//! configuration), and the `tenant provider add` command the SP sends them with it.

use cloudgate_addr::HostPort;
use cloudgate_sp::settings::public_address as file;

use crate::context::Context;

pub use file::{default_address, shown};

/// The configured public address, if any.
pub fn configured(ctx: &Context) -> anyhow::Result<Option<HostPort>> {
    Ok(file::configured(&ctx.layout)?)
}

/// The command a tenant runs to add this SP, exactly as it works when pasted (the SP replaces
/// `<TENANT>` with the tenant's name).
pub fn tenant_command(address: &str, sha256_hex: &str) -> String {
    format!("cloudgate tenant provider add {address} --username <TENANT> --thumbprint {sha256_hex}")
}

/// The lines that tell the SP what to send its tenants, with the configured address or the
/// host's name and how to set it.
pub fn tenant_instructions(ctx: &Context, sha256_hex: &str) -> String {
    match configured(ctx).ok().flatten() {
        Some(a) => format!(
            "A tenant adds this service provider with:\n  {}\n",
            tenant_command(&shown(&a), sha256_hex)
        ),
        None => format!(
            "A tenant adds this service provider with:\n  {}\n(the address is this host's name; if tenants reach it by another, set it once with `cloudgate sp gateway address HOST[:PORT]`)\n",
            tenant_command(&default_address(), sha256_hex)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_is_complete_and_the_default_port_left_out() {
        let cmd = tenant_command("backup.example.com", "AB");
        assert!(cmd.contains("--username <TENANT>") && cmd.contains("--thumbprint AB"));
    }
}
