//! OCI runtime bundles run by runc or crun: `config.json` is checked (an OCI runtime
//! spec whose `root.path` names a directory inside the bundle — the device does not
//! trust the build host's check) and rewritten to run detached, keeping every field
//! berthd does not set.

use super::bundle::BundleFormat;
use crate::error::{io, OpError};
use crate::home::Home;
use berth_package::RuntimeKind;
use berth_runtime::RuntimeError;
use std::io::Read;
use std::path::{Path, PathBuf};

pub struct RuncFormat;

/// Where runc's bundles are under the working path.
pub fn bundle_path(working_path: &Path) -> PathBuf {
    working_path.join(RuncFormat.dir_name())
}

/// A container's cgroup: `/berth/<id>` under the default working path; under any
/// other, `/berth-<tag>/<id>`, so that two berthds on one host (a fleet on one
/// machine, tests) never share a cgroup for the same id.
pub fn cgroup_path(home: &Home, id: &str) -> String {
    if home.working_path() == std::path::Path::new(crate::config::DEFAULT_WORKING_PATH) {
        format!("/berth/{id}")
    } else {
        format!("/berth-{}/{id}", home.tag())
    }
}

/// runc's state directory (`--root`) under the working path.
pub fn state_path(working_path: &Path) -> PathBuf {
    working_path.join("oci-state")
}

impl BundleFormat for RuncFormat {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Runc
    }

    fn runtime_name(&self) -> &'static str {
        "runc"
    }

    fn what(&self) -> &'static str {
        "OCI runtime bundle"
    }

    fn dir_name(&self) -> &'static str {
        "oci"
    }

    fn unpack(&self, input: &mut dyn Read, dest: &Path) -> Result<PathBuf, RuntimeError> {
        berth_runtime::runc::unpack_bundle(input, dest)
    }

    fn configure(
        &self,
        bundle: &Path,
        _place: &Path,
        home: &Home,
        id: &str,
    ) -> Result<(), OpError> {
        let config_path = bundle.join("config.json");
        let text = std::fs::read(&config_path).map_err(io(format!(
            "reading the bundle's {}",
            config_path.display()
        )))?;
        let config = berth_runtime::runc::rewrite_config(&text, &cgroup_path(home, id))
            .map_err(|e| OpError::Package(format!("payload: OCI runtime bundle {e}")))?;
        let root = serde_json::from_slice::<serde_json::Value>(&config)
            .ok()
            .and_then(|v| v["root"]["path"].as_str().map(String::from))
            .unwrap_or_default();
        if !super::bundle::is_directory_inside(bundle, &root) {
            return Err(OpError::Package(format!(
                "payload: OCI runtime bundle config.json: root.path {root:?} is not a directory inside the bundle"
            )));
        }
        crate::atomic::write_atomic(&config_path, &config)
            .map_err(io(format!("writing {}", config_path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(root: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":{root:?}}},"process":{{"terminal":true,"args":["sh"],"cwd":"/"}}}}"#
        );
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        dir
    }

    fn configure(dir: &Path) -> Result<(), OpError> {
        let home = Home::new(crate::config::Config::default());
        RuncFormat.configure(dir, dir, &home, "web")
    }

    #[test]
    fn a_bundle_is_made_to_run_detached() {
        let dir = bundle("rootfs");
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        configure(dir.path()).unwrap();
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(spec["process"]["terminal"], false);
        assert_eq!(spec["linux"]["cgroupsPath"], "/berth/web");
    }

    #[test]
    fn berthds_on_other_working_paths_never_share_a_cgroup() {
        let home = |wp: &str| {
            let mut config = crate::config::Config::default();
            config.service.working_path = wp.into();
            Home::new(config)
        };
        let (a, b) = (home("/srv/a"), home("/srv/b"));
        assert_ne!(cgroup_path(&a, "web"), cgroup_path(&b, "web"));
        assert!(cgroup_path(&a, "web").ends_with("/web"));
        assert_eq!(cgroup_path(&home("/var/lib/berth"), "web"), "/berth/web");
    }

    #[test]
    fn a_root_outside_the_bundle_is_refused_even_through_a_symlink() {
        // rootfs -> / would run the container on the host's own root.
        let dir = bundle("rootfs");
        std::os::unix::fs::symlink("/", dir.path().join("rootfs")).unwrap();
        let err = configure(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a directory inside the bundle"), "{err}");
        for root in ["/", "../x", "missing"] {
            let dir = bundle(root);
            let err = configure(dir.path()).unwrap_err().to_string();
            assert!(err.contains("root.path"), "{root}: {err}");
        }
    }
}
