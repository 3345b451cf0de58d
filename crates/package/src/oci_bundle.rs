//! The runc payload: an OCI runtime bundle (`config.json` + the root filesystem it
//! names) as a .tar.gz. `config.json` must parse as an OCI runtime spec (oci-spec's
//! types, so a field of the wrong type is named), and `root.path` must be a relative
//! path to a directory the archive holds: the bundle is unpacked on the device and
//! run from its own directory, so an absolute root would point outside it.

use crate::payload::{BundleTree, PayloadError, PayloadKind, PayloadSummary};
use std::path::Component;

pub(crate) fn check(name: &str, tree: &BundleTree) -> Result<PayloadSummary, PayloadError> {
    let dir = tree
        .bundle_dir(|prefix| tree.configs.contains_key(&format!("{prefix}config.json")))
        .ok_or_else(|| PayloadError::OciLayout { name: name.into() })?;
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let file = format!("{prefix}config.json");
    let bad = |why: String| PayloadError::OciConfig {
        name: name.into(),
        file: file.clone(),
        why,
    };
    let root = root_path(&tree.configs[&file]).map_err(bad)?;
    let root_dir = format!("{prefix}{root}");
    if !tree.dirs.contains(root_dir.trim_end_matches('/')) {
        return Err(bad(format!(
            "root.path is {root:?}, a directory the archive does not hold"
        )));
    }
    Ok(PayloadSummary {
        kind: PayloadKind::OciBundle,
        images: vec![],
        layers: vec![],
        bundle_dir: Some(dir),
    })
}

/// The spec's `root.path`, checked to stay inside the bundle; normalised (no `./`,
/// no trailing `/`).
pub fn root_path(config: &[u8]) -> Result<String, String> {
    let spec: oci_spec::runtime::Spec =
        serde_json::from_slice(config).map_err(|e| format!("not an OCI runtime spec: {e}"))?;
    let root = spec
        .root()
        .as_ref()
        .ok_or("has no root (root.path names the root filesystem)")?;
    let path = root.path();
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "root.path {:?} must be a path inside the bundle (relative, without ..)",
                    path.display().to_string()
                ))
            }
        }
    }
    if parts.is_empty() {
        return Err("root.path is empty".into());
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_path_must_stay_inside_the_bundle() {
        let spec = |root: &str| {
            format!(
                r#"{{"ociVersion":"1.0.2","root":{{"path":{root:?}}},"process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}}}}}}"#
            )
        };
        assert_eq!(root_path(spec("rootfs").as_bytes()).unwrap(), "rootfs");
        assert_eq!(root_path(spec("./rootfs/").as_bytes()).unwrap(), "rootfs");
        for bad in ["/rootfs", "../rootfs", "rootfs/../../x", ""] {
            assert!(root_path(spec(bad).as_bytes()).is_err(), "{bad}");
        }
        let err = root_path(br#"{"ociVersion":"1.0.2","root":{"path":7}}"#).unwrap_err();
        assert!(err.contains("not an OCI runtime spec"), "{err}");
        assert!(root_path(br#"{"ociVersion":"1.0.2"}"#)
            .unwrap_err()
            .contains("no root"));
    }
}
