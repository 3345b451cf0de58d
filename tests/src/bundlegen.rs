//! The real RDK BundleGen and berth bundle generate, run side by side.

use crate::cli::berth;
use crate::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

/// The real BundleGen's run.sh: in `BUNDLEGEN_DIR`, by default
/// `../shared/peers/bundlegen` beside the repository. Fails loudly when absent;
/// scripts/test.sh leaves these comparisons out, and says so, where it is absent.
pub fn bundlegen_script() -> PathBuf {
    let dir = std::env::var_os("BUNDLEGEN_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers/bundlegen"),
        PathBuf::from,
    );
    let script = dir.join("run.sh");
    assert!(
        script.is_file(),
        "{}: the real BundleGen is needed (BUNDLEGEN_DIR, or ../shared/peers/bundlegen beside the repository)",
        script.display()
    );
    script
}

/// BundleGen's Python dependencies, made by scripts/setup.sh. run.sh would make its
/// own on first use, but takes a half-made one for done: tests that start together
/// on a fresh machine ran BundleGen without its modules.
pub const BUNDLEGEN_VENV: &str = "/opt/berth-test/bundlegen-venv";

/// Runs the real BundleGen: `run.sh IMAGE OUT PLATFORM -s SEARCH extra...`.
pub fn bundlegen(image: &str, out: &Path, platform: &str, search: &Path, extra: &[&str]) -> Output {
    require(&["skopeo", "umoci", "readelf"]);
    let venv = bundlegen_venv();
    run(cmd(
        "bash",
        &[
            bundlegen_script().to_str().unwrap(),
            image,
            out.to_str().unwrap(),
            platform,
            "-s",
        ],
    )
    .env("BUNDLEGEN_VENV", venv)
    .arg(search)
    .args(extra))
}

/// BUNDLEGEN_VENV, or scripts/setup.sh's: fails loudly when it is missing.
fn bundlegen_venv() -> PathBuf {
    let venv =
        std::env::var_os("BUNDLEGEN_VENV").map_or_else(|| BUNDLEGEN_VENV.into(), PathBuf::from);
    assert!(
        venv.join("bin/python").is_file(),
        "{}: BundleGen's Python dependencies are needed: run scripts/setup.sh",
        venv.display()
    );
    venv
}

pub fn berth_bundle(
    image: &str,
    out: &Path,
    platform: &str,
    search: &Path,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "bundle",
        "generate",
        "-y",
        "-p",
        platform,
        "-s",
        search.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[image, out.to_str().unwrap()]);
    berth(&args)
}

pub fn succeeded(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({}): {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// An image of busybox, `extra` files (path, content) and app metadata at
/// /appmetadata.json, for `arch`; its reference.
pub fn app_image(
    dir: &Path,
    name: &str,
    app: &Value,
    arch: &str,
    extra: &[(&str, &Path)],
) -> String {
    let rootfs = busybox_rootfs(&dir.join(format!("{name}-src")));
    std::fs::write(
        rootfs.join("appmetadata.json"),
        serde_json::to_vec_pretty(app).unwrap(),
    )
    .unwrap();
    for (dest, from) in extra {
        let to = rootfs.join(dest);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        ok(cmd("cp", &["-a"]).arg(from).arg(&to));
    }
    let (goarch, variant) = match arch.split_once('/') {
        Some((a, v)) => (a, Some(v)),
        None => (arch, None),
    };
    let reference = format!("oci:{}:1", dir.join(format!("{name}-img")).display());
    let app_cmd = format!(r#"["/bin/sh", "-c", "echo hello from the app; {SERVE}"]"#);
    let mut args = vec![
        "image",
        "build",
        "--no-cache",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--arch",
        goarch,
        "--cmd",
        &app_cmd,
    ];
    if let Some(v) = variant {
        args.extend_from_slice(&["--variant", v]);
    }
    args.push(&reference);
    let o = berth(&args);
    succeeded(&o, "berth image build");
    reference
}

/// Differences between two configs, as `path: a | b` lines. Capability lists are
/// compared as sets (BundleGen's order changes from run to run; berth's is sorted).
pub fn config_differences(a: &Value, b: &Value) -> Vec<String> {
    fn walk(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let xk: Vec<&String> = x.keys().collect();
                let yk: Vec<&String> = y.keys().collect();
                if xk != yk {
                    out.push(format!("{path}: keys {xk:?} | {yk:?}"));
                }
                for (k, v) in x {
                    if let Some(w) = y.get(k) {
                        walk(v, w, &format!("{path}/{k}"), out);
                    }
                }
            }
            (Value::Array(x), Value::Array(y)) if path.starts_with("/process/capabilities/") => {
                let mut x = x.clone();
                let mut y = y.clone();
                x.sort_by_key(|v| v.to_string());
                y.sort_by_key(|v| v.to_string());
                if x != y {
                    out.push(format!("{path}: {x:?} | {y:?}"));
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    walk(v, w, &format!("{path}[{i}]"), out);
                }
            }
            (x, y) if x != y => out.push(format!("{path}: {x} | {y}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(a, b, "", &mut out);
    out
}

pub fn read_config(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
}

/// A bundle's files as the comparisons with BundleGen see them: every entry's type,
/// mode, size, content hash and link target, but for config.json (compared by
/// `config_differences`: BundleGen's key and capability order varies) and
/// rootfs/etc/hosts (BundleGen ends its line with a quote; the tests check both).
pub fn bundle_tree(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut entries = tree_contents(dir);
    entries.remove("config.json");
    entries.remove("rootfs/etc/hosts");
    entries
}

/// A tarball's entries as `tar -tv` lists them (names, modes, owners), the root
/// entry BundleGen adds (an empty name) left out.
pub fn tar_listing(archive: &Path) -> Vec<String> {
    let out = ok(cmd(
        "tar",
        &["--numeric-owner", "-tvzf", archive.to_str().unwrap()],
    ));
    let mut lines: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = f.get(5..)?.join(" ");
            let name = name.trim_end_matches('/').to_string();
            (!name.is_empty()).then(|| format!("{} {} {}", f[0], f[1], name))
        })
        .collect();
    lines.sort();
    lines
}

pub fn dobby_platform(name: &str) -> Value {
    json!({
        "platformName": name, "os": "linux", "arch": {"arch": "amd64"},
        "rdk": {"version": "2024Q1", "supportedFeatures": ["org.rdk.Network", "Controller"]},
        "hardware": {"graphics": true, "maxRam": "128M"},
        "storage": {"persistent": {"storageDir": "/opt/persistent", "maxSize": "50M", "minSize": "1M", "fstype": "ext4"},
            "temp": {"maxSize": "20M"}},
        "ipc": {"session": "/run/dbus/session", "system": "/var/run/dbus/system_bus_socket"},
        "minidump": {"destinationPath": "/opt/minidumps"},
        "oomcrash": {"path": "/opt/oomcrash"},
        "gpu": {
            "extraMounts": [
                {"source": "/usr/share/fonts", "destination": "/usr/share/fonts", "type": "bind",
                    "options": ["rbind", "nosuid", "nodev", "ro", "X-mount.mkdir"]},
                {"source": "/tmp/rialto-0", "destination": "/tmp/rialto-0", "type": "bind",
                    "options": ["rbind", "rw", "X-dobby.optional"]}],
            "envvar": ["XDG_RUNTIME_DIR=/tmp"],
            "westeros": {"hostSocket": "/tmp/westeros"},
            "gfxLibs": [{"src": "/usr/lib/libEGL.so.1", "dst": "/usr/lib/libEGL.so.1"}],
            "devs": [
                {"type": "c", "path": "/dev/dri/card0", "major": 226, "minor": 0, "access": "rw"},
                {"type": "c", "path": "/dev/vchiq", "major": 243, "minor": 0, "access": "rw", "dynamic": true}]},
        "mounts": [{"source": "/var/run/app/{id}", "destination": "/run/app", "type": "bind", "options": ["rbind", "rw"]}],
        "network": {"options": ["nat", "open"]},
        "envvar": ["PLATFORM=berth"],
        "resourceLimits": [{"type": "RLIMIT_NPROC", "hard": 300, "soft": 300}],
        "usersAndGroups": {"user": {"uid": 1000, "gid": 1000},
            "uidMap": [{"containerID": 1000, "hostID": 31000, "size": 1}],
            "gidMap": [{"containerID": 1000, "hostID": 31000, "size": 1}]},
        "capabilities": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID", "CAP_SETGID"],
        "apparmorProfile": "berth-test",
        "hostname": "{id}",
        "dobby": {"pluginDir": "/usr/lib/plugins/dobby", "dobbyInitPath": "/usr/libexec/DobbyInit",
            "pluginDependencies": ["/usr/lib/libdbus-1.so.3"]},
        "logging": {"mode": "file", "logDir": "/var/log/apps", "limit": 65536},
        "tarball": {"fileOwnershipSameAsUser": true, "fileMask": "770"}
    })
}

pub fn full_app(id: &str) -> Value {
    json!({
        "id": id, "type": "application/vnd.rdk-app.dac.native", "version": "1.0.0",
        "description": "every section", "priority": "optional", "graphics": true,
        "network": {"type": "nat", "dnsmasq": "true"},
        "storage": {"persistent": [{"size": "10M", "path": "/home/private"}],
            "temp": [{"size": "5M", "path": "/tmp/scratch"}]},
        "resources": {"ram": "256M", "gpu": "64M"}, "features": ["org.rdk.Network"],
        "mounts": [{"source": "/data/{id}", "destination": "/data", "type": "bind", "options": ["rbind", "rw"]}],
        "thunder": {"bearerUrl": "http://localhost", "trusted": true, "connLimit": 32},
        "ipc": {"enable": true}, "minidump": {"enable": true}, "oomcrash": {"enable": false},
        "capabilities": {"add": ["CAP_SYS_TIME"], "drop": ["CAP_NET_RAW"]}
    })
}
