//! Graphics (when the app asks for it): the platform's extra mounts, environment and
//! libraries (always the host's), the Westeros socket, WAYLAND_DISPLAY, and the GPU
//! devices with their cgroup permissions. And the libraries Dobby's plugins need.

use super::{mounts::add_mount, Processor, PLATFORM};
use crate::error::BundleError;
use serde_json::{json, Value};

pub fn gpu(p: &mut Processor) -> Result<(), BundleError> {
    if p.app["graphics"] != json!(true) || !p.platform_flag(&["hardware", "graphics"]) {
        return Ok(()); // an app needing graphics on a platform without was refused before
    }
    let gpu = p.pf("gpu").clone();
    for m in gpu["extraMounts"].as_array().cloned().unwrap_or_default() {
        add_mount(p, &m, PLATFORM)?;
    }
    let env: Vec<Value> = gpu["envvar"].as_array().cloned().unwrap_or_default();
    p.config_array(&["process", "env"]).extend(env);
    for lib in gpu["gfxLibs"].as_array().cloned().unwrap_or_default() {
        let (Some(src), Some(dst)) = (lib["src"].as_str(), lib["dst"].as_str()) else {
            return Err(BundleError::invalid(
                PLATFORM,
                format!("gpu.gfxLibs: {lib} needs src and dst"),
            ));
        };
        let mut binds = Vec::new();
        p.libs.mount(&p.rootfs, src, dst, &mut binds)?;
        bind_all(p, binds)?;
    }
    if let Some(socket) = gpu["westeros"]["hostSocket"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        p.add_bind_mount(
            socket,
            "/tmp/westeros",
            false,
            Some(vec!["rbind", "nosuid", "nodev"]),
        )?;
    }
    let display = gpu["waylandDisplay"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("westeros")
        .to_string();
    p.config_array(&["process", "env"])
        .push(json!(format!("WAYLAND_DISPLAY={display}")));
    p.config_array(&["linux", "devices"]);
    p.config_array(&["linux", "resources", "devices"]);
    for dev in gpu["devs"].as_array().cloned().unwrap_or_default() {
        let node = json!({"path": dev["path"], "type": dev["type"], "major": dev["major"], "minor": dev["minor"]});
        p.config_array(&["linux", "devices"]).push(node);
        let allow = json!({"allow": true, "type": dev["type"], "major": dev["major"],
            "minor": dev["minor"], "access": dev["access"]});
        p.config_array(&["linux", "resources", "devices"])
            .push(allow);
    }
    Ok(())
}

/// Bind mounts for the libraries the matcher took from the host.
pub fn bind_all(p: &mut Processor, binds: Vec<(String, String)>) -> Result<(), BundleError> {
    let create = p.options.create_mount_points;
    for (src, dst) in binds {
        p.add_bind_mount(&src, &dst, create, None)?;
    }
    Ok(())
}

/// `dobby.pluginDependencies`: each from the host or the image, as the matcher decides.
pub fn plugin_dependencies(p: &mut Processor) -> Result<(), BundleError> {
    for lib in super::strings(&p.pf("dobby")["pluginDependencies"]) {
        let mut binds = Vec::new();
        p.libs
            .mount_or_use_rootfs(&p.rootfs, &lib, &lib, &mut binds)?;
        bind_all(p, binds)?;
    }
    Ok(())
}
