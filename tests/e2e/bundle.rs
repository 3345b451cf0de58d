//! `berth bundle generate` against the real RDK BundleGen (../shared/peers/bundlegen,
//! run by its run.sh) on images and templates made by code: config.json equal but
//! for the differences docs/bundle.md lists, the same rootfs, the same archives; a
//! plain bundle runs under runc through berthd.

use crate::daemon::start;
use crate::image_copy::berth;
use crate::install::{ctl_ok, wait_for};
use berth_e2e::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

pub fn bundlegen_script() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers/bundlegen/run.sh");
    assert!(
        script.is_file(),
        "{}: the real BundleGen is needed (../shared beside the repository)",
        script.display()
    );
    script
}

/// Runs the real BundleGen: `run.sh IMAGE OUT PLATFORM -s SEARCH extra...`.
pub fn bundlegen(image: &str, out: &Path, platform: &str, search: &Path, extra: &[&str]) -> Output {
    require(&["skopeo", "umoci", "readelf"]);
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
    .arg(search)
    .args(extra))
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
    let mut args = vec![
        "image",
        "build",
        "--no-cache",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--arch",
        goarch,
        "--cmd",
        r#"["/bin/sh", "-c", "echo hello from the app; sleep 1000"]"#,
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

/// Every entry below `dir`: path, type, mode, size, link target, content hash.
pub fn tree(dir: &Path) -> Vec<String> {
    let out = ok(cmd(
        "find",
        &[
            dir.to_str().unwrap(),
            "-mindepth",
            "1",
            "-printf",
            "%P %y %m %s %l\\n",
        ],
    ));
    let mut lines: Vec<String> = out.lines().map(String::from).collect();
    lines.sort();
    lines
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

/// Runs both on one image and template; returns (bundlegen's dir, berth's dir).
fn both(dir: &Path, image: &str, platform: &Value, extra: &[&str]) -> (PathBuf, PathBuf) {
    let name = platform["platformName"].as_str().unwrap();
    let search = dir.join(format!("templates-{name}"));
    std::fs::create_dir_all(&search).unwrap();
    std::fs::write(
        search.join(format!("{name}.json")),
        serde_json::to_vec_pretty(platform).unwrap(),
    )
    .unwrap();
    let (theirs, ours) = (
        dir.join(format!("{name}-bundlegen")),
        dir.join(format!("{name}-berth")),
    );
    succeeded(
        &bundlegen(image, &theirs, name, &search, extra),
        "BundleGen",
    );
    succeeded(
        &berth_bundle(image, &ours, name, &search, extra),
        "berth bundle generate",
    );
    (theirs, ours)
}

#[test]
fn a_dobby_bundle_matches_bundlegens_but_for_the_fixed_bugs() {
    let dir = tempfile::tempdir().unwrap();
    let image = app_image(
        dir.path(),
        "full",
        &full_app("com.example.full"),
        "amd64",
        &[],
    );
    let (theirs, ours) = both(dir.path(), &image, &dobby_platform("berth_dobby"), &[]);
    assert_eq!(
        config_differences(&read_config(&theirs), &read_config(&ours)),
        Vec::<String>::new()
    );
    // The rootfs: the same but for /etc/hosts, whose line BundleGen ends with a quote.
    let hosts = |d: &Path| std::fs::read_to_string(d.join("rootfs/etc/hosts")).unwrap();
    assert_eq!(
        (hosts(&theirs).as_str(), hosts(&ours).as_str()),
        ("127.0.0.1\tlocalhost'", "127.0.0.1\tlocalhost\n")
    );
    let without_hosts = |d: &Path| -> Vec<String> {
        tree(d)
            .into_iter()
            .filter(|l| !l.starts_with("rootfs/etc/hosts "))
            .collect()
    };
    assert_eq!(without_hosts(&theirs), without_hosts(&ours));
    // The tarball: owners mapped to the host's (uid 1000 -> 31000), modes masked by 770.
    let listing = |d: &Path| -> Vec<String> {
        tar_listing(&PathBuf::from(format!("{}.tar.gz", d.display())))
            .into_iter()
            .filter(|l| !l.ends_with(" rootfs/etc/hosts"))
            .collect()
    };
    let ours_listing = listing(&ours);
    assert_eq!(listing(&theirs), ours_listing);
    assert!(
        ours_listing.iter().all(|l| l.contains(" 31000/31000 ")),
        "{ours_listing:?}"
    );
    // berth's output is the same bytes every time (BundleGen's capability order is not).
    let again = dir.path().join("again");
    let search = dir.path().join("templates-berth_dobby");
    succeeded(
        &berth_bundle(&image, &again, "berth_dobby", &search, &[]),
        "berth bundle generate",
    );
    assert_eq!(
        std::fs::read(again.join("config.json")).unwrap(),
        std::fs::read(ours.join("config.json")).unwrap()
    );
}

#[test]
fn a_compliant_config_with_hooks_and_no_user_namespace_matches_bundlegens() {
    let dir = tempfile::tempdir().unwrap();
    let mut platform = dobby_platform("berth_compliant");
    platform["dobby"]["generateCompliantConfig"] = json!(true);
    platform["dobby"]["hookLauncherParametersPath"] = json!("/opt/dac/{id}/");
    platform["disableUserNamespacing"] = json!(true);
    platform["logging"] = json!({"mode": "journald", "journaldOptions": {"priority": "LOG_INFO"}});
    platform["root"] = json!({"path": "rootfs_{id}", "readonly": true});
    let image = app_image(
        dir.path(),
        "compliant",
        &full_app("com.example.compliant"),
        "amd64",
        &[],
    );
    let (theirs, ours) = both(dir.path(), &image, &platform, &["-r"]);
    let config = read_config(&ours);
    assert_eq!(
        config["hooks"]["poststart"][0]["args"][4],
        "/opt/dac/com.example.compliant/config.json"
    );
    assert_eq!(
        config_differences(&read_config(&theirs), &config),
        Vec::<String>::new()
    );
    assert_eq!(
        tree(&theirs)
            .into_iter()
            .filter(|l| !l.starts_with("rootfs/etc/hosts "))
            .collect::<Vec<_>>(),
        tree(&ours)
            .into_iter()
            .filter(|l| !l.starts_with("rootfs/etc/hosts "))
            .collect::<Vec<_>>(),
        "-r makes the same mount points"
    );
}

#[test]
fn a_plain_bundle_matches_bundlegens_and_runs_under_runc_through_berthd() {
    require(&["runc"]);
    let dir = tempfile::tempdir().unwrap();
    let platform = json!({"platformName": "berth_plain", "os": "linux", "arch": {"arch": "amd64"},
        "rdk": {"version": "1", "supportedFeatures": []}, "hardware": {"graphics": false, "maxRam": "128M"},
        "network": {"options": ["open"]}, "envvar": ["PLATFORM=plain"], "disableUserNamespacing": true,
        "capabilities": ["CAP_CHOWN", "CAP_KILL"]});
    let app = json!({"id": "berth-e2e-bundle-plain", "type": "application/vnd.rdk-app.dac.native", "graphics": false,
        "network": {"type": "open"}, "storage": {}, "resources": {"ram": "64M"}});
    let image = app_image(dir.path(), "plain", &app, "amd64", &[]);
    let (theirs, ours) = both(dir.path(), &image, &platform, &["-u"]);
    let config = read_config(&ours);
    assert_eq!(config["ociVersion"], "1.0.2");
    assert!(config.get("rdkPlugins").is_none());
    assert_eq!(
        config_differences(&read_config(&theirs), &config),
        Vec::<String>::new()
    );

    // As a runc package on berthd: the bundle's own .tar.gz is the payload.
    let payload = dir.path().join("berth-e2e-bundle-plain.tar.gz");
    std::fs::copy(format!("{}.tar.gz", ours.display()), &payload).unwrap();
    let manifest = dir.path().join("plain.json");
    write_manifest(
        &manifest,
        &json!({"package_id": "berth-e2e-bundle-plain", "version": "1", "runtime": "runc",
            "registration_defaults": {"autostart": true, "monitor": true,
                "restart": {"enabled": false, "max_retries": 0, "window": 60, "retry_delay": 0}},
            "device_types": ["e2e"]}),
    );
    let out = dir.path().join("pkg");
    let o = berth(&[
        "pack",
        "--manifest",
        manifest.to_str().unwrap(),
        "--payload",
        payload.to_str().unwrap(),
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    succeeded(&o, "berth pack");
    let pkg = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let d = start(dir.path());
    assert_eq!(
        ctl_ok(&d, &["install", &pkg]),
        "installed berth-e2e-bundle-plain 1, running\n"
    );
    wait_for("the app's output", || {
        ctl_ok(&d, &["logs", "berth-e2e-bundle-plain"]).contains("hello from the app")
    });
    ctl_ok(&d, &["uninstall", "berth-e2e-bundle-plain"]);
}

#[test]
fn an_ipk_holds_bundlegens_members() {
    let dir = tempfile::tempdir().unwrap();
    let mut platform = dobby_platform("berth_ipk");
    platform["arch"] = json!({"arch": "amd64"});
    let image = app_image(
        dir.path(),
        "ipk",
        &full_app("com.example.ipk"),
        "amd64",
        &[],
    );
    let (theirs, ours) = both(dir.path(), &image, &platform, &["-i"]);
    let members = |d: &Path| ok(cmd("tar", &["-tzf", &format!("{}.ipk", d.display())]));
    assert_eq!(members(&theirs), members(&ours));
    assert_eq!(
        members(&ours),
        "data.tar.gz\ncontrol.tar.gz\ndebian-binary\n"
    );
    let control = |d: &Path| {
        let x = dir
            .path()
            .join(format!("x-{}", d.file_name().unwrap().to_string_lossy()));
        std::fs::create_dir_all(&x).unwrap();
        ok(cmd(
            "tar",
            &[
                "-xzf",
                &format!("{}.ipk", d.display()),
                "-C",
                x.to_str().unwrap(),
            ],
        ));
        ok(cmd(
            "tar",
            &[
                "-xzOf",
                x.join("control.tar.gz").to_str().unwrap(),
                "control",
            ],
        ))
    };
    // BundleGen writes "amdNone" for an architecture without a variant; berth "amd64".
    assert_eq!(
        control(&theirs).replace("amd64None", "amd64"),
        control(&ours)
    );
}
