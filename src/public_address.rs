//! The address tenants reach the SP's gateway at (`public_address` in the gateway
//! configuration), and the `tenant provider add` command the SP sends them with it.

use std::path::Path;

use anyhow::Context as _;
use cloudgate_addr::{GATEWAY_PORT, HostPort};
use cloudgate_gateway::GatewayConfig;

use crate::context::Context;
use crate::exit::usage;
use crate::input::read_input_file;

/// The configuration file's text, if there is one.
fn config_text(path: &Path) -> anyhow::Result<Option<String>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_input_file(path, "gateway configuration")?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| usage(format!("{} is not UTF-8 text", path.display())))?;
    Ok(Some(text))
}

/// The gateway configuration file's settings, if there is a file.
pub fn file_config(ctx: &Context) -> anyhow::Result<Option<GatewayConfig>> {
    let path = ctx.layout.gateway_config();
    let Some(text) = config_text(&path)? else {
        return Ok(None);
    };
    let config = GatewayConfig::default()
        .merge_toml(&text)
        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    Ok(Some(config))
}

/// The configured public address, if any.
pub fn configured(ctx: &Context) -> anyhow::Result<Option<HostPort>> {
    Ok(file_config(ctx)?.and_then(|c| c.public_address))
}

/// This host's fully qualified name, as `hostname --fqdn` tells it, else its host name: what a
/// tenant most likely reaches it by.
pub fn default_address() -> String {
    let short = cloudgate_store::license::host_name();
    if short.contains('.') {
        return short;
    }
    std::process::Command::new("hostname")
        .arg("--fqdn")
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| s.contains('.') && HostPort::parse(s, Some(GATEWAY_PORT)).is_ok())
        .unwrap_or(short)
}

/// Saves `address` as `public_address`, keeping every other setting of the file.
pub fn save(ctx: &Context, address: &HostPort) -> anyhow::Result<()> {
    let path = ctx.layout.gateway_config();
    let old = config_text(&path)?.unwrap_or_default();
    let mut text = format!("public_address = \"{}\"\n", shown(address));
    for line in old.lines() {
        if !line.trim_start().starts_with("public_address") {
            text.push_str(line);
            text.push('\n');
        }
    }
    // Whatever is written must load.
    GatewayConfig::default()
        .merge_toml(&text)
        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let own = ctx.ownership()?;
    cloudgate_store::fsio::ensure_private_dir(ctx.layout.data_dir(), &own)
        .with_context(|| format!("creating {}", ctx.layout.data_dir().display()))?;
    cloudgate_store::fsio::replace_file(
        &path,
        text.as_bytes(),
        cloudgate_store::fsio::FileSpec::store(&own),
    )
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `host` when the port is the gateway's, else `host:port` (IPv6 in brackets).
pub fn shown(address: &HostPort) -> String {
    if address.port == GATEWAY_PORT {
        if address.host.contains(':') {
            format!("[{}]", address.host)
        } else {
            address.host.clone()
        }
    } else {
        address.to_string()
    }
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
        let a = HostPort::parse("backup.example.com", Some(6180)).unwrap();
        assert_eq!(shown(&a), "backup.example.com");
        let b = HostPort::parse("backup.example.com:7000", Some(6180)).unwrap();
        assert_eq!(shown(&b), "backup.example.com:7000");
        let c = HostPort::parse("[2001:db8::1]", Some(6180)).unwrap();
        assert_eq!(shown(&c), "[2001:db8::1]");
        let cmd = tenant_command("backup.example.com", "AB");
        assert!(cmd.contains("--username <TENANT>") && cmd.contains("--thumbprint AB"));
    }
}
