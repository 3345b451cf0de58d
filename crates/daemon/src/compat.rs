//! Whether a package is meant for this device: its `device_types` lists the device's
//! type and its `firmware_versions` includes the device's firmware. A device whose
//! configuration names no type (or no firmware) accepts any, as before berth checked.

use crate::config::Device;
use berth_package::Manifest;

/// Every rule the package breaks for `device`, one per line, naming both sides.
pub fn check(device: &Device, manifest: &Manifest) -> Result<(), String> {
    let mut broken = Vec::new();
    if let Some(t) = &device.device_type {
        if !manifest.device_types.iter().any(|d| d == t) {
            broken.push(format!(
                "manifest.json: device_types [{}] does not list this device's type {t} (berthd's device.type)",
                manifest.device_types.join(", ")
            ));
        }
    }
    if let Some(fw) = &device.firmware_version {
        if !manifest.firmware_versions.includes(fw) {
            broken.push(format!(
                "manifest.json: firmware_versions \"{}\" does not include this device's firmware {fw} (berthd's device.firmware_version)",
                manifest.firmware_versions
            ));
        }
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(broken.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_package::manifest::Stage;

    fn manifest(device_types: &[&str], firmware: &str) -> Manifest {
        let v = serde_json::json!({
            "package_id": "web", "version": "1", "runtime": "podman", "create_args": "--tty",
            "registration_defaults": {"autostart": true, "monitor": true,
                "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}},
            "device_types": device_types, "firmware_versions": firmware
        });
        Manifest::from_value(v, Stage::Source).unwrap()
    }

    fn device(t: Option<&str>, fw: Option<&str>) -> Device {
        Device {
            id: None,
            device_type: t.map(String::from),
            firmware_version: fw.map(String::from),
        }
    }

    #[test]
    fn a_device_that_names_nothing_accepts_any_package() {
        assert_eq!(
            check(&device(None, None), &manifest(&["other"], ">=9")),
            Ok(())
        );
    }

    #[test]
    fn type_and_firmware_are_checked_and_both_refusals_name_both_sides() {
        let m = manifest(&["ccmp25-dvk", "ccimx93-dvk"], ">=2.1, <3");
        assert_eq!(
            check(&device(Some("ccimx93-dvk"), Some("2.4.1")), &m),
            Ok(())
        );
        let err = check(&device(Some("rpi4"), Some("3.0")), &m).unwrap_err();
        assert_eq!(
            err.lines().collect::<Vec<_>>(),
            [
                "manifest.json: device_types [ccmp25-dvk, ccimx93-dvk] does not list this device's type rpi4 (berthd's device.type)",
                "manifest.json: firmware_versions \">=2.1, <3\" does not include this device's firmware 3.0 (berthd's device.firmware_version)",
            ]
        );
    }
}
