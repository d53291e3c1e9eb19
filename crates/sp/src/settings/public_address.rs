//! The address tenants reach the gateway at: `public_address` in `DATA_DIR/gateway.toml`, read
//! and replaced here for the command line, the console and join tokens alike.

use cloudgate_addr::{GATEWAY_PORT, HostPort};
use cloudgate_store::Layout;
use cloudgate_store::owner::FileOwnership;

use super::SettingsError;
use super::config::GatewayConfig;

/// The largest configuration file read.
const MAX_CONFIG: u64 = 1024 * 1024;

/// The configuration file's text, if there is one.
fn config_text(layout: &Layout) -> Result<Option<String>, SettingsError> {
    let path = layout.gateway_config();
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    read_config(&path).map(Some)
}

/// Reads a gateway configuration file with the store's rules: a regular file, not a link, not
/// writable by group or others (whoever could write it could send the gateway's tenants
/// elsewhere or point it at another database), and not readable by others when it holds a
/// database password.
pub fn read_config(path: &std::path::Path) -> Result<String, SettingsError> {
    use std::os::unix::fs::PermissionsExt as _;
    let (file, _) =
        cloudgate_store::bounded::open_regular(path, cloudgate_store::bounded::Links::Refuse)?;
    let mode = file
        .metadata()
        .map_err(|e| SettingsError::Config(format!("{}: {e}", path.display())))?
        .permissions()
        .mode()
        & 0o777;
    if let Some(writers) = cloudgate_store::owner::other_writers(mode) {
        return Err(SettingsError::Config(format!(
            "{} is writable by {writers} (mode {mode:04o}); make it writable by its owner only: chmod go-w {}",
            path.display(),
            path.display()
        )));
    }
    drop(file);
    let bytes = cloudgate_store::bounded::read_regular(path, MAX_CONFIG)?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| SettingsError::Config(format!("{} is not UTF-8 text", path.display())))?;
    if mode & 0o004 != 0 && holds_a_password(&text) {
        return Err(SettingsError::Config(format!(
            "{} holds a database password and is readable by everyone (mode {mode:04o}): chmod o-r {}",
            path.display(),
            path.display()
        )));
    }
    Ok(text)
}

/// Whether a configuration's `database` URL carries a password (`scheme://user:password@…`).
fn holds_a_password(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("database"))
        .any(|l| {
            l.split_once("://")
                .and_then(|(_, rest)| rest.split_once('@'))
                .is_some_and(|(userinfo, _)| userinfo.contains(':'))
        })
}

/// The configuration file's settings, if there is a file.
pub fn file_config(layout: &Layout) -> Result<Option<GatewayConfig>, SettingsError> {
    let Some(text) = config_text(layout)? else {
        return Ok(None);
    };
    GatewayConfig::default()
        .merge_toml(&text)
        .map(Some)
        .map_err(|e| SettingsError::Config(format!("{}: {e}", layout.gateway_config().display())))
}

/// The configured public address, if any.
pub fn configured(layout: &Layout) -> Result<Option<HostPort>, SettingsError> {
    Ok(file_config(layout)?.and_then(|c| c.public_address))
}

/// Reads an address as an operator writes it (`host`, `host:port`, `[v6]:port`).
pub fn parse(text: &str) -> Result<HostPort, SettingsError> {
    HostPort::parse(text.trim(), Some(GATEWAY_PORT))
        .map_err(|e| SettingsError::Config(e.to_string()))
}

/// Saves `address` as `public_address`, keeping every other setting of the file; what is
/// written must load, and is written atomically with the store's owner and mode.
pub fn save(layout: &Layout, own: &FileOwnership, address: &HostPort) -> Result<(), SettingsError> {
    let path = layout.gateway_config();
    let old = config_text(layout)?.unwrap_or_default();
    let mut text = format!("public_address = \"{}\"\n", shown(address));
    for line in old.lines() {
        if !line.trim_start().starts_with("public_address") {
            text.push_str(line);
            text.push('\n');
        }
    }
    GatewayConfig::default()
        .merge_toml(&text)
        .map_err(|e| SettingsError::Config(format!("{}: {e}", path.display())))?;
    cloudgate_store::fsio::ensure_private_dir(layout.data_dir(), own)?;
    cloudgate_store::fsio::replace_file(
        &path,
        text.as_bytes(),
        cloudgate_store::fsio::FileSpec::store(own),
    )?;
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

/// The address tenants are sent to: the configured one, or this host's name.
pub fn effective(layout: &Layout) -> Result<(String, bool), SettingsError> {
    Ok(match configured(layout)? {
        Some(a) => (shown(&a), true),
        None => (default_address(), false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_others_may_write_or_a_link_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, "public_address = \"gw.example\"\n").unwrap();
        for (mode, ok) in [(0o600, true), (0o644, true), (0o664, false), (0o666, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_config(&path).is_ok(), ok, "mode {mode:o}");
        }
        std::fs::write(&path, "database = \"postgres://cg:secret@db/cg\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_config(&path).unwrap_err().to_string();
        assert!(e.contains("password") && e.contains("chmod o-r"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(read_config(&path).is_ok());
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(read_config(&link).is_err());
    }

    #[test]
    fn the_default_port_is_left_out() {
        let a = HostPort::parse("backup.example.com", Some(6180)).unwrap();
        assert_eq!(shown(&a), "backup.example.com");
        let b = HostPort::parse("backup.example.com:7000", Some(6180)).unwrap();
        assert_eq!(shown(&b), "backup.example.com:7000");
        let c = HostPort::parse("[2001:db8::1]", Some(6180)).unwrap();
        assert_eq!(shown(&c), "[2001:db8::1]");
    }

    #[test]
    fn saving_keeps_the_other_settings_and_refuses_nothing_that_loads() {
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        let own = FileOwnership::owner_only();
        std::fs::write(
            layout.gateway_config(),
            "listen = \"127.0.0.1:7000\"\npublic_address = \"old.example\"\n",
        )
        .unwrap();
        save(&layout, &own, &parse("new.example:7001").unwrap()).unwrap();
        let config = file_config(&layout).unwrap().unwrap();
        assert_eq!(
            config.public_address.unwrap().to_string(),
            "new.example:7001"
        );
        assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
        assert!(parse("a b").is_err());
    }
}
