//! cgroup resources: every device denied first (Dobby allows what it needs at run
//! time), and the memory limit: the app's `resources.ram`, at most the platform's
//! `hardware.maxRam`.

use super::{Processor, APP, PLATFORM};
use crate::error::BundleError;
use crate::size::parse_size;
use serde_json::json;

pub fn resources(p: &mut Processor) -> Result<(), BundleError> {
    let deny_all = json!({"allow": false, "access": "rwm"});
    let devices = p.config_array(&["linux", "resources", "devices"]);
    if !devices.contains(&deny_all) {
        devices.push(deny_all);
    }
    let Some(max_text) = p.pf("hardware")["maxRam"]
        .as_str()
        .filter(|s| !s.is_empty())
    else {
        return Ok(());
    };
    let max = parse_size(max_text)
        .map_err(|why| BundleError::invalid(PLATFORM, format!("hardware.maxRam: {why}")))?;
    let ram_text = p.app["resources"]["ram"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ram = parse_size(&ram_text)
        .map_err(|why| BundleError::invalid(APP, format!("resources.ram: {why}")))?;
    let limit = if ram > max {
        p.warnings.push(format!(
            "the app's memory need is larger than the platform's ({ram_text} > {max_text}): limited to the platform's"
        ));
        max
    } else {
        ram
    };
    p.config_object(&["linux", "resources"])
        .insert("memory".into(), json!({"limit": limit}));
    Ok(())
}
