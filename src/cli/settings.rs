//! `ticketbooth login` stores the server and token in the user's config dir, readable by the
//! user alone.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::CliError;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Saved {
    pub server: Option<String>,
    pub token: Option<String>,
}

/// `$XDG_CONFIG_HOME/ticketbooth/config.json`, else `~/.config/ticketbooth/config.json`.
pub fn path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("ticketbooth").join("config.json"))
}

/// The saved token, only for the server it was saved with: `--server https://elsewhere` must
/// not carry a login's token to a registry the user never gave it to.
pub fn token_for(saved: &Saved, server: &str) -> Option<String> {
    let saved_server = saved.server.as_deref()?.trim_end_matches('/');
    (saved_server == server.trim_end_matches('/'))
        .then(|| saved.token.clone())
        .flatten()
}

pub fn load() -> Saved {
    path()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

pub fn save(server: &str, token: &str) -> Result<PathBuf, CliError> {
    let path = path().ok_or_else(|| {
        CliError::Local("cannot find a config directory (set XDG_CONFIG_HOME or HOME)".into())
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Local(format!("cannot create {}: {e}", dir.display())))?;
    }
    let body = serde_json::to_vec_pretty(&Saved {
        server: Some(server.trim_end_matches('/').to_owned()),
        token: Some(token.to_owned()),
    })
    .unwrap_or_default();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // An existing file keeps its mode on open; make sure it is private too.
        if path.exists() {
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
    }
    let mut file = options
        .open(&path)
        .map_err(|e| CliError::Local(format!("cannot write {}: {e}", path.display())))?;
    file.write_all(&body)
        .map_err(|e| CliError::Local(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_token_goes_only_to_its_own_server() {
        let saved = Saved {
            server: Some("https://tickets.example.org".into()),
            token: Some("tb_x".into()),
        };
        assert_eq!(
            token_for(&saved, "https://tickets.example.org/").as_deref(),
            Some("tb_x")
        );
        assert_eq!(token_for(&saved, "https://evil.example.net"), None);
        assert_eq!(
            token_for(&Saved::default(), "https://tickets.example.org"),
            None
        );
    }
}
