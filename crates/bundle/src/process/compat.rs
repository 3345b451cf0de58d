//! Whether the app can run on the platform (BundleGen's `_compatibility_check`):
//! graphics, features, network type, storage sizes. A storage below the platform's
//! minimum is raised to it (a warning), as BundleGen does for persistent storage; for
//! temporary storage BundleGen writes the minimum into the last *persistent* entry
//! instead (or fails when there is none), berth raises the temporary one.

use super::{truthy, Processor, APP, PLATFORM};
use crate::error::BundleError;
use crate::size::parse_size;
use serde_json::Value;

fn size_of(v: &Value, what: &str, file: &str) -> Result<u64, BundleError> {
    let text = v.as_str().ok_or_else(|| {
        BundleError::invalid(file, format!("{what}: a size string (100M) is needed"))
    })?;
    parse_size(text).map_err(|why| BundleError::invalid(file, format!("{what}: {why}")))
}

/// Checks the app against the platform; `Err(Incompatible)` is BundleGen's exit 2.
pub fn check_compatibility(p: &mut Processor) -> Result<(), BundleError> {
    let incompatible = |why: String| BundleError::Incompatible {
        platform: String::new(),
        why,
    };
    let result = check(p, &incompatible);
    match result {
        Err(BundleError::Incompatible { why, .. }) => Err(BundleError::Incompatible {
            platform: p.platform_name.clone(),
            why,
        }),
        other => other,
    }
}

fn check(
    p: &mut Processor,
    incompatible: &dyn Fn(String) -> BundleError,
) -> Result<(), BundleError> {
    if truthy(&p.app["graphics"]) && !p.platform_flag(&["hardware", "graphics"]) {
        return Err(incompatible(
            "the app needs graphics; the platform has no graphics output".into(),
        ));
    }
    let supported = super::strings(&p.pf("rdk")["supportedFeatures"]);
    if !supported.is_empty() {
        // BundleGen raises KeyError when the metadata has no `features`.
        let missing: Vec<String> = super::strings(&p.app["features"])
            .into_iter()
            .filter(|f| !supported.contains(f))
            .collect();
        if !missing.is_empty() {
            return Err(incompatible(format!(
                "the app needs features the platform does not support: {}",
                missing.join(", ")
            )));
        }
    }
    if truthy(&p.app["network"]) {
        let wanted = p.app["network"]["type"].clone();
        let options = p.pf("network")["options"].clone();
        if !options.as_array().is_some_and(|o| o.contains(&wanted)) {
            return Err(incompatible(format!(
                "the app needs {} networking, which the platform does not offer",
                wanted.as_str().unwrap_or("?")
            )));
        }
    }
    for kind in ["persistent", "temp"] {
        let wanted = p.app["storage"][kind]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if wanted.is_empty() {
            continue;
        }
        let limits = p.pf("storage")[kind].clone();
        if !truthy(&limits) {
            if kind == "persistent" {
                return Err(incompatible(
                    "the app needs persistent storage; the platform defines none (storage.persistent)".into(),
                ));
            }
            p.warnings.push(
                "allowing all temporary storages: the platform does not define limits".into(),
            );
            continue;
        }
        let limit = |k: &str| -> Result<Option<u64>, BundleError> {
            match &limits[k] {
                Value::Null => Ok(None),
                v => size_of(v, &format!("storage.{kind}.{k}"), PLATFORM).map(Some),
            }
        };
        let (max, min, max_total) = (limit("maxSize")?, limit("minSize")?, limit("maxTotalSize")?);
        let mut total = 0u64;
        for (i, entry) in wanted.iter().enumerate() {
            let what = format!("storage.{kind}[{i}].size");
            let mut size = size_of(&entry["size"], &what, APP)?;
            if let Some(max) = max.filter(|&m| size > m) {
                return Err(incompatible(format!(
                    "{what} {} exceeds the platform's limit of {max} bytes",
                    entry["size"].as_str().unwrap_or("")
                )));
            }
            if let Some(min) = min.filter(|&m| size < m) {
                let min_text = limits["minSize"].clone();
                p.warnings.push(format!(
                    "{what} {} is less than the platform's minimum {}: raised to it",
                    entry["size"].as_str().unwrap_or(""),
                    min_text.as_str().unwrap_or("")
                ));
                p.app["storage"][kind][i]["size"] = min_text;
                size = min;
            }
            total = total.saturating_add(size);
        }
        if let Some(max_total) = max_total.filter(|&m| total > m) {
            return Err(incompatible(format!(
                "storage.{kind}: {total} bytes in all exceed the platform's total limit of {max_total}"
            )));
        }
    }
    Ok(())
}
