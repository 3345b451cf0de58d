//! meta-virtualization's BUNDLED_CONTAINERS entries: `NAME:RUNTIME[:POLICY][:external]`.
//!
//! NAME is an image reference (`[HOST[:PORT]/]PATH[:TAG]`, docker's rules, tag
//! `latest` when none), so it may hold colons itself; the entry is read from the
//! right: RUNTIME is the last field that is `docker` or `podman` with only a policy
//! and `external` after it. meta-virtualization reads fields by position instead, so
//! a tag or a port in NAME shifts them, and `NAME:docker:external` takes `external`
//! for a policy; here each field is what it says.

use crate::error::RootfsError;
use berth_image::RegistryRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Docker,
    Podman,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }

    pub fn parse(text: &str) -> Option<Engine> {
        match text {
            "docker" => Some(Engine::Docker),
            "podman" => Some(Engine::Podman),
            _ => None,
        }
    }
}

/// A restart policy as BUNDLED_CONTAINERS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    Autostart,
    Always,
    UnlessStopped,
    OnFailure,
    No,
}

impl Policy {
    pub const NAMES: [&'static str; 5] =
        ["autostart", "always", "unless-stopped", "on-failure", "no"];

    pub fn parse(text: &str) -> Option<Policy> {
        Some(match text {
            "autostart" => Policy::Autostart,
            "always" => Policy::Always,
            "unless-stopped" => Policy::UnlessStopped,
            "on-failure" => Policy::OnFailure,
            "no" => Policy::No,
            _ => return None,
        })
    }

    /// systemd's `Restart=` for it. Docker's unless-stopped (restart whatever the
    /// exit, unless stopped on purpose) is what systemd's `always` does: a unit
    /// stopped by `systemctl stop` is not restarted.
    pub fn restart(self) -> &'static str {
        match self {
            Policy::Autostart | Policy::Always | Policy::UnlessStopped => "always",
            Policy::OnFailure => "on-failure",
            Policy::No => "no",
        }
    }

    /// Whether the container starts at boot (a `multi-user.target` want).
    pub fn autostart(self) -> bool {
        self != Policy::No
    }
}

/// One `--bundled` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Bundled {
    /// The image as the engine names it: NAME with its tag (`latest` added).
    pub image: String,
    /// The container's (and unit's) name: the image path's last component.
    pub name: String,
    pub engine: Engine,
    pub policy: Option<Policy>,
    /// Its image comes from elsewhere (not from this build).
    pub external: bool,
}

impl Bundled {
    pub fn autostart(&self) -> bool {
        self.policy.is_some_and(Policy::autostart)
    }

    pub fn parse(entry: &str) -> Result<Bundled, RootfsError> {
        let bad = |why: String| RootfsError::invalid(format!("--bundled {entry:?}"), why);
        let fields: Vec<&str> = entry.split(':').collect();
        // RUNTIME: the last docker/podman field with at most POLICY and external after it.
        let runtime_at = (1..fields.len())
            .rev()
            .find(|&i| Engine::parse(fields[i]).is_some() && fields.len() - i <= 3)
            .ok_or_else(
                || bad("no RUNTIME: write NAME:docker|podman[:POLICY][:external]".into()),
            )?;
        let engine = Engine::parse(fields[runtime_at]).expect("found above");
        let mut policy = None;
        let mut external = false;
        for (k, field) in fields[runtime_at + 1..].iter().enumerate() {
            match (k, *field) {
                (_, "external") if !external => external = true,
                (0, f) if Policy::parse(f).is_some() => policy = Policy::parse(f),
                (_, f) => {
                    return Err(bad(format!(
                    "{f:?} after the runtime: POLICY ({}) comes first, then external, each once",
                    Policy::NAMES.join(", ")
                )))
                }
            }
        }
        let name_text = fields[..runtime_at].join(":");
        if name_text.is_empty() {
            return Err(bad("no NAME before the runtime".into()));
        }
        let reference =
            RegistryRef::parse(&name_text).map_err(|why| bad(format!("NAME: {why}")))?;
        if reference.digest.is_some() {
            return Err(bad(
                "NAME: an image named by digest has no tag to run by; name it NAME[:TAG]".into(),
            ));
        }
        let tag = reference.tag.clone().unwrap_or_else(|| "latest".into());
        let without_tag = match name_text.rfind(':') {
            Some(i) if !name_text[i..].contains('/') => &name_text[..i],
            _ => name_text.as_str(),
        };
        let name = without_tag
            .rsplit('/')
            .next()
            .unwrap_or(without_tag)
            .to_string();
        Ok(Bundled {
            image: format!("{without_tag}:{tag}"),
            name,
            engine,
            policy,
            external,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Bundled {
        Bundled::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn fields_are_read_from_the_right() {
        let b = parse("app:docker");
        assert_eq!((b.image.as_str(), b.name.as_str()), ("app:latest", "app"));
        assert_eq!(
            (b.engine, b.policy, b.external),
            (Engine::Docker, None, false)
        );
        // A tag that is a number is a tag, not a field (meta-virtualization's bug).
        let b = parse("app:2:podman:always");
        assert_eq!((b.image.as_str(), b.engine), ("app:2", Engine::Podman));
        assert_eq!(b.policy, Some(Policy::Always));
        // A registry port too.
        let b = parse("127.0.0.1:5000/org/web:1.4:docker:on-failure:external");
        assert_eq!(b.image, "127.0.0.1:5000/org/web:1.4");
        assert_eq!(b.name, "web");
        assert_eq!((b.policy, b.external), (Some(Policy::OnFailure), true));
        // `external` alone is not a policy: no autostart.
        let b = parse("app:docker:external");
        assert_eq!((b.policy, b.external, b.autostart()), (None, true, false));
        assert!(parse("app:docker:autostart").autostart());
        assert!(!parse("app:docker:no").autostart());
    }

    #[test]
    fn policies_map_to_restart_values_systemd_accepts() {
        for name in Policy::NAMES {
            let restart = Policy::parse(name).unwrap().restart();
            assert!(["always", "on-failure", "no"].contains(&restart), "{name}");
        }
        assert_eq!(Policy::UnlessStopped.restart(), "always");
    }

    #[test]
    fn bad_entries_name_the_rule() {
        for (entry, rule) in [
            ("app", "no RUNTIME"),
            ("app:lxc", "no RUNTIME"),
            (":docker", "no NAME"),
            ("App:docker", "NAME"),
            ("app:docker:sometimes", "POLICY"),
            ("app:docker:external:always", "POLICY"),
            ("app@sha256:0000000000000000000000000000000000000000000000000000000000000000:docker", "digest"),
        ] {
            let err = Bundled::parse(entry).unwrap_err().to_string();
            assert!(err.contains(rule), "{entry}: {err}");
        }
    }
}
