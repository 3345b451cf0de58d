//! The process, root, hostname, AppArmor and seccomp sections.

use super::{truthy, Processor};
use crate::error::BundleError;
use serde_json::{json, Value};

const DOBBY_INIT: &str = "/usr/libexec/DobbyInit";

/// `1.0.2-dobby` for Dobby's own config, `1.0.2` for a compliant or plain one.
pub fn oci_version(p: &mut Processor) {
    let version = if !p.compliant() && !p.options.crun {
        "1.0.2-dobby"
    } else {
        "1.0.2"
    };
    p.config["ociVersion"] = json!(version);
}

/// DobbyInit first (mounted from the host), the image's arguments (one with a space
/// split as sh would, `\@` read as a space first, as BundleGen does), the platform's
/// environment and resource limits.
pub fn process(p: &mut Processor) -> Result<(), BundleError> {
    if !p.options.crun {
        let init = p.pf("dobby")["dobbyInitPath"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or(DOBBY_INIT)
            .to_string();
        let mut args = vec![json!(init)];
        for arg in super::strings(&p.config["process"]["args"]) {
            if arg.contains(' ') {
                let words = shell_words::split(&arg.replace("\\@", " ")).map_err(|e| {
                    BundleError::invalid("image config", format!("argument {arg:?}: {e}"))
                })?;
                args.extend(words.into_iter().map(Value::String));
            } else {
                args.push(json!(arg));
            }
        }
        p.config_object(&["process"])
            .insert("args".into(), json!(args));
        let create = p.options.create_mount_points;
        p.add_bind_mount(&init, &init, create, None)?;
    }
    // BundleGen fails on a platform without `envvar`.
    let env: Vec<Value> = p.pf("envvar").as_array().cloned().unwrap_or_default();
    p.config_array(&["process", "env"]).extend(env);
    let limits: Vec<Value> = p
        .pf("resourceLimits")
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !limits.is_empty() {
        p.config_array(&["process", "rlimits"]).extend(limits);
    }
    Ok(())
}

/// `root.readonly` and `root.path` (`{id}` filled in) from the platform.
pub fn root(p: &mut Processor) -> Result<(), BundleError> {
    let root = p.pf("root").clone();
    if !truthy(&root) {
        return Ok(());
    }
    if truthy(&root["readonly"]) {
        p.config_object(&["root"])
            .insert("readonly".into(), root["readonly"].clone());
    }
    if let Some(path) = root["path"].as_str().filter(|s| !s.is_empty()) {
        let path = p.format_id(path, "root.path")?;
        p.config_object(&["root"])
            .insert("path".into(), json!(path));
    }
    Ok(())
}

pub fn hostname(p: &mut Processor) -> Result<(), BundleError> {
    if let Some(name) = p.pf("hostname").as_str().filter(|s| !s.is_empty()) {
        let name = p.format_id(name, "hostname")?;
        p.config["hostname"] = json!(name);
    }
    Ok(())
}

pub fn apparmor_and_seccomp(p: &mut Processor) {
    let profile = p.pf("apparmorProfile").clone();
    if truthy(&profile) {
        p.config_object(&["process"])
            .insert("apparmorProfile".into(), profile);
    }
    let seccomp = p.pf("seccomp").clone();
    if truthy(&seccomp) {
        p.config_object(&["linux"])
            .insert("seccomp".into(), seccomp);
    }
}
