//! App metadata: from `-a FILE`, else the image's `/appmetadata.json` (then removed
//! from the rootfs, as BundleGen removes it), with `-x` overriding its id; checked
//! against BundleGen's schema and Dobby's rules for a container id, which BundleGen
//! does not check although the id becomes part of host paths (`{id}` in mounts,
//! storage images, log files).

use crate::error::BundleError;
use crate::schema::{validate, Schema};
use berth_fs::Root;
use serde_json::{json, Value};
use std::path::Path;

/// Where the metadata came from, for messages.
pub struct Metadata {
    pub value: Value,
    pub file: String,
}

pub fn load(
    given: Option<&Path>,
    rootfs: &Root,
    app_id: Option<&str>,
) -> Result<Metadata, BundleError> {
    let (mut value, file) = match given {
        Some(path) => {
            let shown = path.display().to_string();
            if !path.exists() {
                return Err(BundleError::invalid(
                    shown,
                    "app metadata file does not exist",
                ));
            }
            (crate::template::read_json(path)?, shown)
        }
        None => {
            let inside = "/appmetadata.json";
            let path = rootfs.path(inside, true)?;
            if !path.is_file() {
                return Err(BundleError::invalid(
                    "app metadata",
                    "none given (-a) and the image has no /appmetadata.json",
                ));
            }
            let value = crate::template::read_json(&path)?;
            // The name itself goes (a symlink, not what it leads to), as BundleGen does.
            let entry = rootfs.dir().join("appmetadata.json");
            std::fs::remove_file(&entry).map_err(BundleError::io(&entry))?;
            (value, "the image's /appmetadata.json".to_string())
        }
    };
    if let Some(id) = app_id {
        if let Some(object) = value.as_object_mut() {
            object.insert("id".into(), json!(id));
        }
    }
    validate(Schema::AppMetadata, &value, &file)?;
    let id = value["id"].as_str().unwrap_or_default();
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        || id.starts_with('.')
    {
        return Err(BundleError::invalid(
            &file,
            format!("/id: {id:?} is not a container id (1-128 of A-Z a-z 0-9 . _ -, Dobby's rule; not starting with .)"),
        ));
    }
    Ok(Metadata { value, file })
}
