//! The logging plugin, from the platform's `logging`: a file (`<logDir>/<id>.log`,
//! with `limit`), journald (with `journaldOptions`), or /dev/null. BundleGen's
//! if/elif chain fails (KeyError) when `limit` is set for a mode other than file, and
//! drops the devnull plugin when `journaldOptions` is set; berth applies `limit` to
//! file logs and `journaldOptions` to journald (and, as BundleGen, to file) logs only.

use super::{Processor, PLATFORM};
use crate::error::BundleError;
use serde_json::{json, Value};

pub fn logging(p: &mut Processor) -> Result<(), BundleError> {
    let logging = p.pf("logging").clone();
    if p.options.crun {
        if super::truthy(&logging) {
            p.warnings
                .push("platform's logging section ignored for a plain bundle".into());
        }
        return Ok(());
    }
    if !super::truthy(&logging) {
        return Ok(()); // the container's output goes nowhere
    }
    p.config_object(&["process"])
        .insert("terminal".into(), json!(true));
    let mut plugin = match logging["mode"].as_str() {
        Some("file") => {
            let dir = logging["logDir"].as_str().ok_or_else(|| {
                BundleError::invalid(PLATFORM, "logging.logDir is needed for logging.mode file")
            })?;
            let path = format!("{}/{}.log", dir.trim_end_matches('/'), p.id());
            let annotations = p.config_object(&["annotations"]);
            annotations.insert("run.oci.hooks.stderr".into(), json!("/dev/stderr"));
            annotations.insert("run.oci.hooks.stdout".into(), json!("/dev/stdout"));
            let mut file_options = json!({"path": path});
            if super::truthy(&logging["limit"]) {
                file_options["limit"] = logging["limit"].clone();
            }
            json!({"required": true, "data": {"sink": "file", "fileOptions": file_options}})
        }
        Some("journald") => json!({"required": true, "data": {"sink": "journald"}}),
        Some("devnull") => json!({"required": true, "data": {"sink": "devnull"}}),
        _ => Value::Object(Default::default()),
    };
    let journald = &logging["journaldOptions"];
    if super::truthy(journald) && matches!(logging["mode"].as_str(), Some("file" | "journald")) {
        plugin["data"]["journaldOptions"] = journald.clone();
    }
    p.config_object(&["rdkPlugins"])
        .insert("logging".into(), plugin);
    Ok(())
}
