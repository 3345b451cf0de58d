//! Platform templates: `<name>.json` and `<name>_libs.json` found under the search
//! path as BundleGen finds them (every directory below each path), each checked
//! against BundleGen's schema, merged into one object (the template's keys, then the
//! libs file's). Unlike BundleGen, a file must be named exactly (BundleGen takes any
//! file whose name contains `<name>.json`, `x<name>.json.bak` too) and the files are
//! merged in a fixed order (search path order, then by path), not the directory's.

use crate::error::BundleError;
use crate::schema::{validate, Schema};
use serde_json::{Map, Value};
use std::fs;
use std::path::{Path, PathBuf};

/// Template files larger than this are refused (a device's `_libs.json` is a few MiB).
const MAX_TEMPLATE: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    /// The merged template.
    pub config: Map<String, Value>,
    /// The files it came from, in merge order.
    pub files: Vec<PathBuf>,
}

/// Finds, checks and merges the templates of platform `name`.
pub fn find(name: &str, search_paths: &[PathBuf]) -> Result<Template, BundleError> {
    if name.is_empty() || name.contains('/') {
        return Err(BundleError::invalid(
            "--platform",
            format!("{name:?} is not a platform name"),
        ));
    }
    let (main, libs) = (format!("{name}.json"), format!("{name}_libs.json"));
    let mut templates = Vec::new();
    let mut lib_files = Vec::new();
    for root in search_paths {
        let mut found = Vec::new();
        walk(root, &mut |p: &Path| {
            let file = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if file == main || file == libs {
                found.push(p.to_path_buf());
            }
        })
        .map_err(BundleError::io(root))?;
        found.sort();
        for p in found {
            if p.file_name().and_then(|n| n.to_str()) == Some(libs.as_str()) {
                lib_files.push(p);
            } else {
                templates.push(p);
            }
        }
    }
    if templates.is_empty() {
        let where_ = search_paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(BundleError::invalid(
            "--platform",
            format!("no template {main} under the search path ({where_})"),
        ));
    }
    let mut config = Map::new();
    let mut files = Vec::new();
    for (path, schema) in templates
        .into_iter()
        .map(|p| (p, Schema::Platform))
        .chain(lib_files.into_iter().map(|p| (p, Schema::PlatformLibs)))
    {
        let shown = path.display().to_string();
        let value = read_json(&path)?;
        validate(schema, &value, &shown)?;
        let Value::Object(object) = value else {
            unreachable!("both schemas require an object")
        };
        config.extend(object);
        files.push(path);
    }
    Ok(Template {
        name: name.to_string(),
        config,
        files,
    })
}

/// A JSON file of at most `MAX_TEMPLATE` bytes.
pub fn read_json(path: &Path) -> Result<Value, BundleError> {
    let shown = path.display().to_string();
    let meta = fs::metadata(path).map_err(BundleError::io(path))?;
    if meta.len() > MAX_TEMPLATE {
        return Err(BundleError::invalid(
            shown,
            format!("{} bytes, more than {MAX_TEMPLATE}", meta.len()),
        ));
    }
    let bytes = fs::read(path).map_err(BundleError::io(path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| BundleError::invalid(shown, format!("not JSON: {e}")))
}

/// Every file below `dir` (symlinked directories are not followed: no loops).
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), visit)?;
        } else {
            visit(&entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal(name: &str) -> Value {
        json!({"platformName": name, "os": "linux", "arch": {"arch": "arm"},
            "rdk": {"version": "1", "supportedFeatures": []}, "hardware": {"graphics": false}, "network": {"options": ["open"]}})
    }

    #[test]
    fn the_template_and_its_libs_are_found_below_the_search_path_and_merged() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/dev.json"), minimal("dev").to_string()).unwrap();
        std::fs::write(
            dir.path().join("a/dev_libs.json"),
            json!({"libs": []}).to_string(),
        )
        .unwrap();
        // Near misses BundleGen would take too.
        std::fs::write(dir.path().join("a/dev.json.bak"), "not json").unwrap();
        std::fs::write(dir.path().join("a/xdev.json"), "not json").unwrap();
        let p = find("dev", &[dir.path().to_path_buf()]).unwrap();
        assert_eq!(p.files.len(), 2);
        assert_eq!(p.config["platformName"], "dev");
        assert_eq!(p.config["libs"], json!([]));
    }

    #[test]
    fn a_missing_or_invalid_template_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = find("dev", &[dir.path().to_path_buf()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no template dev.json"), "{e}");
        let mut bad = minimal("dev");
        bad["hardware"]["graphics"] = json!("yes");
        std::fs::write(dir.path().join("dev.json"), bad.to_string()).unwrap();
        let e = find("dev", &[dir.path().to_path_buf()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("dev.json: breaks BundleGen's schema: /hardware/graphics"),
            "{e}"
        );
    }
}
