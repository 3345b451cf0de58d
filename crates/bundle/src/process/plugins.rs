//! Dobby's rdkPlugins (`{required, dependsOn, data}` each) and the hooks of a
//! compliant config. A plain bundle (`--crun`) has no rdkPlugins: BundleGen still
//! tries to add ipc, minidump, oomcrash, thunder and gpu there and fails; berth
//! leaves them out with a warning.

use super::{truthy, Processor, APP, PLATFORM};
use crate::error::BundleError;
use crate::size::parse_size;
use serde_json::{json, Value};

/// Dobby holds gpu memory and loopback image sizes in int32.
pub const INT32_MAX: u64 = i32::MAX as u64;

fn plugins<'p>(p: &'p mut Processor<'_>) -> &'p mut serde_json::Map<String, Value> {
    p.config_object(&["rdkPlugins"])
}

pub fn add_rdk_plugins(p: &mut Processor) -> Result<(), BundleError> {
    p.config["rdkPlugins"] = json!({});
    if let Some(dir) = p.pf("dobby")["pluginDir"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        let dir = dir.to_string();
        p.add_bind_mount(&dir, &dir, false, None)?;
    }
    Ok(())
}

/// The networking plugin with the app's `network` as its data, and the files it
/// expects in the rootfs. BundleGen's /etc/hosts is `127.0.0.1\tlocalhost'` (a
/// stray quote, no newline); berth's ends the line.
pub fn network(p: &mut Processor) -> Result<(), BundleError> {
    let network = p.app["network"].clone();
    if p.options.crun {
        if truthy(&network) {
            p.warnings
                .push("app metadata's network section ignored for a plain bundle".into());
        }
        return Ok(());
    }
    if !truthy(&network) {
        return Ok(());
    }
    plugins(p).insert(
        "networking".into(),
        json!({"required": true, "data": network}),
    );
    p.rootfs.write(
        "etc/nsswitch.conf",
        b"hosts:     files mdns4_minimal [NOTFOUND=return] dns mdns4\nprotocols: files\n",
        0o644,
    )?;
    p.rootfs
        .write("etc/hosts", b"127.0.0.1\tlocalhost\n", 0o644)?;
    if p.options.create_mount_points {
        p.rootfs.write("etc/resolv.conf", b"", 0o644)?;
    }
    Ok(())
}

/// The devicemapper plugin for GPU devices whose numbers change at boot.
pub fn dynamic_devices(p: &mut Processor) {
    if !p.platform_flag(&["hardware", "graphics"]) {
        return;
    }
    let dynamic: Vec<Value> = p.pf("gpu")["devs"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter(|d| truthy(&d["dynamic"]))
                .map(|d| d["path"].clone())
                .collect()
        })
        .unwrap_or_default();
    if dynamic.is_empty() {
        return;
    }
    if p.options.crun {
        p.warnings
            .push("platform's dynamic gpu devices ignored for a plain bundle".into());
        return;
    }
    plugins(p).insert(
        "devicemapper".into(),
        json!({"required": true, "data": {"devices": dynamic}}),
    );
}

/// ipc, minidump and oomcrash (the platform's settings, when the app enables them),
/// thunder (the app's), gpu (the app's `resources.gpu` memory).
pub fn simple_plugins(p: &mut Processor) -> Result<(), BundleError> {
    let mut wanted: Vec<(&str, Value)> = Vec::new();
    for name in ["ipc", "minidump", "oomcrash"] {
        let platform = p.pf(name).clone();
        if truthy(&p.app[name]["enable"]) && truthy(&platform) {
            wanted.push((name, json!({"required": true, "data": platform})));
        }
    }
    let thunder = p.app["thunder"].clone();
    if truthy(&thunder) {
        wanted.push((
            "thunder",
            json!({"required": true, "dependsOn": ["networking"], "data": thunder}),
        ));
    }
    if let Some(gpu) = p.app["resources"]["gpu"].as_str().filter(|s| !s.is_empty()) {
        let bytes = parse_size(gpu)
            .map_err(|why| BundleError::invalid(APP, format!("resources.gpu: {why}")))?;
        if bytes > INT32_MAX {
            return Err(BundleError::invalid(
                APP,
                format!("resources.gpu: {gpu} is {bytes} bytes, more than Dobby's int32 holds ({INT32_MAX})"),
            ));
        }
        wanted.push(("gpu", json!({"required": true, "data": {"memory": bytes}})));
    }
    if p.options.crun {
        for (name, _) in wanted {
            p.warnings
                .push(format!("the {name} plugin is left out of a plain bundle"));
        }
        return Ok(());
    }
    for (name, plugin) in wanted {
        plugins(p).insert(name.into(), plugin);
    }
    Ok(())
}

/// A compliant config runs Dobby's plugins from OCI hooks, through
/// DobbyPluginLauncher. BundleGen logs an error and writes no hooks when
/// `dobby.hookLauncherParametersPath` is missing; the bundle then cannot run, so
/// berth refuses it.
pub fn hooks(p: &mut Processor) -> Result<(), BundleError> {
    if p.options.crun || !p.compliant() || !truthy(&p.config["rdkPlugins"]) {
        return Ok(());
    }
    let dobby = p.pf("dobby").clone();
    let launcher = dobby["hookLauncherExecutablePath"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("/usr/bin/DobbyPluginLauncher")
        .to_string();
    let Some(params) = dobby["hookLauncherParametersPath"]
        .as_str()
        .filter(|s| !s.is_empty())
    else {
        return Err(BundleError::invalid(
            PLATFORM,
            "dobby.hookLauncherParametersPath is required when dobby.generateCompliantConfig is true",
        ));
    };
    let mut params = p.format_id(params, "dobby.hookLauncherParametersPath")?;
    if params.rsplit('/').next() != Some("config.json") {
        // os.path.join: a separator unless the path ends with one.
        if !params.ends_with('/') {
            params.push('/');
        }
        params.push_str("config.json");
    }
    let hook = |stage: &str| json!([{"path": launcher, "args": ["DobbyPluginLauncher", "-h", stage, "-c", params]}]);
    p.config["hooks"] = json!({
        "createRuntime": hook("createRuntime"),
        "createContainer": hook("createContainer"),
        "poststart": hook("poststart"),
        "poststop": hook("poststop"),
    });
    Ok(())
}
