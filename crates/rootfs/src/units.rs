//! `berth rootfs units`: systemd units for containers on a device without berthd,
//! where meta-virtualization puts them. Docker: `/lib/systemd/system/container-NAME.service`
//! and, when the policy starts it at boot, its `multi-user.target.wants` link. Podman:
//! a Quadlet `/etc/containers/systemd/NAME.container` (its `[Install]` section is
//! what enables it; Quadlet's generator makes the service at boot).
//!
//! Differences with meta-virtualization, each a bug there: `Restart=` is one of the
//! values systemd accepts (it writes `unless-stopped`), and `external` is not read as
//! a policy.

use crate::bundled::{Bundled, Engine};
use crate::error::RootfsError;
use berth_fs::Root;
use std::path::{Path, PathBuf};

pub const DOCKER_UNIT_DIR: &str = "/lib/systemd/system";
pub const WANTS_DIR: &str = "/etc/systemd/system/multi-user.target.wants";
pub const QUADLET_DIR: &str = "/etc/containers/systemd";

/// One unit written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenUnit {
    pub name: String,
    pub engine: Engine,
    /// Where it is on the device.
    pub unit: String,
    /// The wants link, when it starts at boot (docker; podman's is Quadlet's job).
    pub wants: Option<String>,
    pub autostart: bool,
    /// Installed from `--service-file` rather than generated.
    pub custom: bool,
}

/// Where `b`'s unit goes on the device.
pub fn unit_path(b: &Bundled) -> String {
    match b.engine {
        Engine::Docker => format!("{DOCKER_UNIT_DIR}/container-{}.service", b.name),
        Engine::Podman => format!("{QUADLET_DIR}/{}.container", b.name),
    }
}

/// The unit meta-virtualization would write for `b`, with its bugs fixed.
pub fn unit_text(b: &Bundled) -> String {
    let restart = b.policy.map_or("no", |p| p.restart());
    let install = if b.autostart() {
        "\n[Install]\nWantedBy=multi-user.target\n"
    } else {
        ""
    };
    let (name, image) = (&b.name, &b.image);
    match b.engine {
        Engine::Docker => format!(
            "[Unit]\n\
             Description=Docker Container {image}\n\
             After=docker.service\n\
             Requires=docker.service\n\
             \n\
             [Service]\n\
             Type=simple\n\
             Restart={restart}\n\
             RestartSec=5s\n\
             TimeoutStartSec=0\n\
             ExecStartPre=-/usr/bin/docker rm -f {name}\n\
             ExecStart=/usr/bin/docker run --rm --name {name} {image}\n\
             ExecStop=/usr/bin/docker stop {name}\n\
             {install}"
        ),
        Engine::Podman => format!(
            "[Unit]\n\
             Description=Podman Container {image}\n\
             \n\
             [Container]\n\
             Image={image}\n\
             ContainerName={name}\n\
             \n\
             [Service]\n\
             Restart={restart}\n\
             RestartSec=5s\n\
             {install}"
        ),
    }
}

/// Writes the unit of each entry into `root`; `custom` maps a container name to a
/// unit file of one's own, installed in place of the generated one. A unit written
/// before a later failure is removed again.
pub fn write_units(
    root: &Root,
    bundled: &[Bundled],
    custom: &[(String, PathBuf)],
) -> Result<Vec<WrittenUnit>, RootfsError> {
    let mut seen = std::collections::BTreeSet::new();
    for b in bundled {
        if !seen.insert(unit_path(b)) {
            return Err(RootfsError::invalid(
                format!("--bundled {}", b.image),
                format!("a second container named {} (the unit's name)", b.name),
            ));
        }
    }
    for (name, _) in custom {
        if !bundled.iter().any(|b| &b.name == name) {
            return Err(RootfsError::invalid(
                format!("--service-file {name}"),
                "names no --bundled container",
            ));
        }
    }
    let mut written: Vec<PathBuf> = Vec::new();
    let mut out = Vec::new();
    for b in bundled {
        match write_one(root, b, custom, &mut written) {
            Ok(unit) => out.push(unit),
            Err(e) => {
                for path in written.iter().rev() {
                    let _ = std::fs::remove_file(path);
                }
                return Err(e);
            }
        }
    }
    Ok(out)
}

fn write_one(
    root: &Root,
    b: &Bundled,
    custom: &[(String, PathBuf)],
    written: &mut Vec<PathBuf>,
) -> Result<WrittenUnit, RootfsError> {
    let unit = unit_path(b);
    let file = custom.iter().find(|(n, _)| n == &b.name).map(|(_, f)| f);
    let text = match file {
        Some(f) => read_custom(f, b.engine)?,
        None => unit_text(b),
    };
    written.push(root.write(&unit, text.as_bytes(), 0o644)?);
    let wants = match (b.engine, b.autostart()) {
        (Engine::Docker, true) => {
            let file_name = unit.rsplit('/').next().expect("a unit path has a name");
            let link = format!("{WANTS_DIR}/{file_name}");
            written.push(root.symlink(&link, &unit)?);
            Some(link)
        }
        _ => None,
    };
    Ok(WrittenUnit {
        name: b.name.clone(),
        engine: b.engine,
        unit,
        wants,
        autostart: b.autostart(),
        custom: file.is_some(),
    })
}

/// A unit file of one's own: text, and the section its kind needs.
fn read_custom(path: &Path, engine: Engine) -> Result<String, RootfsError> {
    let bytes = std::fs::read(path).map_err(RootfsError::io(path, "cannot read"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| RootfsError::invalid(path.display().to_string(), "not UTF-8 text"))?;
    let section = match engine {
        Engine::Docker => "[Service]",
        Engine::Podman => "[Container]",
    };
    if !text.lines().any(|l| l.trim() == section) {
        return Err(RootfsError::invalid(
            path.display().to_string(),
            format!("a {} unit needs a {section} section", engine.as_str()),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_units_run_the_image_by_name_and_podman_units_are_quadlets() {
        let b = Bundled::parse("127.0.0.1:5000/org/web:1.4:docker:unless-stopped").unwrap();
        let text = unit_text(&b);
        assert!(text.contains("Restart=always\n"), "{text}");
        assert!(text.contains(
            "ExecStart=/usr/bin/docker run --rm --name web 127.0.0.1:5000/org/web:1.4\n"
        ));
        assert!(text.ends_with("[Install]\nWantedBy=multi-user.target\n"));
        assert_eq!(unit_path(&b), "/lib/systemd/system/container-web.service");
        let p = Bundled::parse("app:podman:external").unwrap();
        let text = unit_text(&p);
        assert!(
            text.contains("[Container]\nImage=app:latest\nContainerName=app\n"),
            "{text}"
        );
        assert!(
            text.contains("Restart=no\n") && !text.contains("[Install]"),
            "{text}"
        );
        assert_eq!(unit_path(&p), "/etc/containers/systemd/app.container");
    }
}
