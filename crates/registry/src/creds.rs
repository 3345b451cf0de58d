//! Credentials for a registry: `--creds USER:PASS`, or the files podman, skopeo and
//! docker keep them in (`auth.json`: `$REGISTRY_AUTH_FILE`,
//! `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`;
//! docker's `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`), looked up in
//! that order, as containers/image does.

use base64::Engine;
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <hidden>)", self.username)
    }
}

impl std::str::FromStr for Credentials {
    type Err = String;
    /// `USER:PASS` (the password may hold `:`).
    fn from_str(s: &str) -> Result<Credentials, String> {
        match s.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(Credentials {
                username: u.into(),
                password: p.into(),
            }),
            _ => Err("credentials must be USER:PASSWORD".into()),
        }
    }
}

/// The auth files looked at, in order.
pub fn auth_files() -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = env("HOME");
    let mut files = Vec::new();
    if let Some(f) = env("REGISTRY_AUTH_FILE") {
        files.push(f);
    }
    if let Some(run) = env("XDG_RUNTIME_DIR") {
        files.push(run.join("containers/auth.json"));
    }
    if let Some(h) = &home {
        files.push(h.join(".config/containers/auth.json"));
    }
    match env("DOCKER_CONFIG") {
        Some(d) => files.push(d.join("config.json")),
        None => {
            if let Some(h) = &home {
                files.push(h.join(".docker/config.json"));
            }
        }
    }
    files
}

/// The credentials the first of `files` that has any holds for `registry`.
pub fn lookup(registry: &str, files: &[PathBuf]) -> Option<Credentials> {
    files.iter().find_map(|f| from_file(f, registry))
}

fn from_file(path: &Path, registry: &str) -> Option<Credentials> {
    #[derive(serde::Deserialize)]
    struct File {
        auths: Option<std::collections::BTreeMap<String, Entry>>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        auth: Option<String>,
    }
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > (1 << 20) {
        return None;
    }
    let file: File = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let wanted = host_key(registry);
    let (_, entry) = file
        .auths?
        .into_iter()
        .find(|(k, _)| host_key(k) == wanted)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(entry.auth?.trim())
        .ok()?;
    String::from_utf8(decoded).ok()?.parse().ok()
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://h:5000/` → `h:5000`.
fn host_key(key: &str) -> String {
    let key = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = key.split('/').next().unwrap_or(key);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_json_and_docker_config_entries_are_found_by_host() {
        let dir = tempfile::tempdir().unwrap();
        let podman = dir.path().join("auth.json");
        let docker = dir.path().join("config.json");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &podman,
            format!(
                r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{}"}}}}}}"#,
                b64("alice:pa:ss")
            ),
        )
        .unwrap();
        std::fs::write(
            &docker,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},"http://127.0.0.1:5000/v2/":{{"auth":"{}"}}}}}}"#,
                b64("bob:hub"),
                b64("bob:local")
            ),
        )
        .unwrap();
        let files = vec![podman, docker];
        let c = lookup("127.0.0.1:5000", &files).unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("alice", "pa:ss")
        );
        let c = lookup("docker.io", &files).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("bob", "hub"));
        assert!(lookup("quay.io", &files).is_none());
    }

    #[test]
    fn creds_need_a_user() {
        assert!(":x".parse::<Credentials>().is_err());
        assert!("nocolon".parse::<Credentials>().is_err());
        assert_eq!("u:".parse::<Credentials>().unwrap().password, "");
    }
}
