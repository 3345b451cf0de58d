//! The runc payload: an OCI runtime bundle (`config.json` + the root filesystem it
//! names) as a .tar.gz. Every reader checks that `root.path` is a relative path to a
//! directory the archive holds: the bundle is unpacked on the device and run from its
//! own directory, so an absolute root would point outside it. The build host's
//! commands also check that `config.json` parses as an OCI runtime spec (oci-spec's
//! types, so a field of the wrong type is named): `Limits::spec_check`.

use crate::payload::{BundleTree, PayloadError, PayloadKind, PayloadSummary};
use std::path::Component;

pub(crate) fn check(
    name: &str,
    tree: &BundleTree,
    limits: &crate::limits::Limits,
) -> Result<PayloadSummary, PayloadError> {
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
    let config = &tree.configs[&file];
    if let Some(spec_check) = limits.spec_check {
        spec_check(config).map_err(bad)?;
    }
    let root = root_path(config).map_err(bad)?;
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
        tar_digest: None,
    })
}

/// Whether `config` parses as an OCI runtime spec (with the oci-spec crate's types).
pub fn check_spec(config: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<oci_spec::runtime::Spec>(config)
        .map(drop)
        .map_err(|e| format!("not an OCI runtime spec: {e}"))
}

/// The spec's `root.path`, checked to stay inside the bundle; normalised (no `./`,
/// no trailing `/`).
pub fn root_path(config: &[u8]) -> Result<String, String> {
    let spec: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| format!("not JSON: {e}"))?;
    let path = match spec.get("root").map(|r| r.get("path")) {
        None => return Err("has no root (root.path names the root filesystem)".into()),
        Some(Some(serde_json::Value::String(p))) => std::path::Path::new(p.as_str()),
        Some(_) => return Err("root.path must be a string".into()),
    };
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
        assert!(err.contains("must be a string"), "{err}");
        assert!(root_path(br#"{"ociVersion":"1.0.2"}"#)
            .unwrap_err()
            .contains("no root"));
        assert!(check_spec(spec("rootfs").as_bytes()).is_ok());
    }

    #[test]
    fn the_full_check_names_what_breaks_the_spec() {
        let err = check_spec(br#"{"ociVersion":"1.0.2","root":{"path":["x"]}}"#).unwrap_err();
        assert!(err.contains("not an OCI runtime spec"), "{err}");
        // args must be a list of strings
        let err = check_spec(
            br#"{"ociVersion":"1.0.2","process":{"cwd":"/","args":"sh","user":{"uid":0,"gid":0}}}"#,
        )
        .unwrap_err();
        assert!(err.contains("not an OCI runtime spec"), "{err}");
    }
}
