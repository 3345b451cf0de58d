//! Capabilities, rdkPlugins, storage and hooks.

use super::super::*;
use super::case;
use serde_json::json;

fn caps_of(platform: Value, app: Value) -> Result<Value, BundleError> {
    let c = case(platform);
    let mut p = c.processor(app, json!({"process": {"capabilities": {}}}));
    capabilities::capabilities(&mut p)?;
    let sets = &p.config["process"]["capabilities"];
    for set in ["permitted", "effective", "inheritable", "ambient"] {
        assert_eq!(sets[set], sets["bounding"], "{set}");
    }
    Ok(sets["bounding"].clone())
}

#[test]
fn capabilities_are_the_platforms_or_the_defaults_changed_by_the_app_sorted() {
    assert_eq!(
        caps_of(
            json!({"capabilities": ["CAP_CHOWN", "CAP_AUDIT_WRITE", "CAP_NET_RAW", "CAP_FSETID"]}),
            json!({"capabilities": {"drop": ["CAP_AUDIT_WRITE", "CAP_NET_RAW"]}})
        )
        .unwrap(),
        json!(["CAP_CHOWN", "CAP_FSETID"])
    );
    assert_eq!(
        caps_of(
            json!({"capabilities": ["CAP_CHOWN"]}),
            json!({"capabilities": {"add": ["CAP_SYS_TIME"]}})
        )
        .unwrap(),
        json!(["CAP_CHOWN", "CAP_SYS_TIME"])
    );
    let mut defaults: Vec<&str> = DEFAULT_CAPABILITIES.to_vec();
    defaults.push("CAP_SYS_NICE");
    defaults.sort();
    assert_eq!(
        caps_of(
            json!({}),
            json!({"capabilities": {"add": ["CAP_SYS_NICE"]}})
        )
        .unwrap(),
        json!(defaults)
    );
    assert_eq!(
        caps_of(json!({"capabilities": {}}), json!({"capabilities": {}})).unwrap(),
        json!([])
    );
    // BundleGen's own test adds CAP_SETGIDS, which Linux does not have.
    let e = caps_of(json!({}), json!({"capabilities": {"add": ["CAP_SETGIDS"]}})).unwrap_err();
    assert!(
        e.to_string()
            .contains("\"CAP_SETGIDS\" is not a Linux capability"),
        "{e}"
    );
}

#[test]
fn rdk_plugins_from_the_app_and_the_platform() {
    let c = case(json!({"dobby": {"pluginDir": "/usr/lib/plugins/dobby"}}));
    let mut p = c.processor(json!({}), json!({"mounts": []}));
    plugins::add_rdk_plugins(&mut p).unwrap();
    assert_eq!(p.config["rdkPlugins"], json!({}));
    assert_eq!(p.config["mounts"][0]["source"], "/usr/lib/plugins/dobby");

    let settings = json!({"ipc": {"session": "/s", "system": "/var/run/dbus/system_bus_socket"},
        "minidump": {"destinationPath": "/opt/minidumps"}, "oomcrash": {"path": "/opt/crashes"}});
    for name in ["ipc", "minidump", "oomcrash"] {
        for (enable, platform_has, added) in [
            (true, true, true),
            (true, false, false),
            (false, true, false),
            (false, false, false),
        ] {
            let platform = if platform_has {
                json!({name: settings[name]})
            } else {
                json!({})
            };
            let c = case(platform);
            let mut p = c.processor(
                json!({name: {"enable": enable}, "resources": {}}),
                json!({"rdkPlugins": {}}),
            );
            plugins::simple_plugins(&mut p).unwrap();
            let expected = if added {
                json!({name: {"required": true, "data": settings[name]}})
            } else {
                json!({})
            };
            assert_eq!(
                p.config["rdkPlugins"], expected,
                "{name} {enable} {platform_has}"
            );
        }
    }
    let c = case(json!({}));
    let thunder = json!({"bearerUrl": "http://localhost", "trusted": true, "connLimit": 32});
    let mut p = c.processor(
        json!({"thunder": thunder, "resources": {"gpu": "128M"}}),
        json!({"rdkPlugins": {}}),
    );
    plugins::simple_plugins(&mut p).unwrap();
    assert_eq!(
        p.config["rdkPlugins"],
        json!({"thunder": {"required": true, "dependsOn": ["networking"], "data": thunder},
            "gpu": {"required": true, "data": {"memory": 134217728}}})
    );
    // Dobby holds gpu memory in int32.
    let mut p = c.processor(
        json!({"resources": {"gpu": "2G"}}),
        json!({"rdkPlugins": {}}),
    );
    assert!(plugins::simple_plugins(&mut p)
        .unwrap_err()
        .to_string()
        .contains("int32"));
    // A plain bundle has no plugins (BundleGen fails with KeyError).
    let c = case(json!({"ipc": settings["ipc"]}));
    let mut p = c.with_options(
        json!({"ipc": {"enable": true}, "resources": {}}),
        json!({}),
        true,
    );
    plugins::simple_plugins(&mut p).unwrap();
    assert_eq!((p.config.clone(), p.warnings.len()), (json!({}), 1));
}

#[test]
fn networking_writes_the_files_the_plugin_expects() {
    let c = case(json!({}));
    let mut p = c.processor(
        json!({"network": {"type": "nat", "dnsmasq": "true"}}),
        json!({"rdkPlugins": {}}),
    );
    plugins::network(&mut p).unwrap();
    assert_eq!(
        p.config["rdkPlugins"]["networking"],
        json!({"required": true, "data": {"type": "nat", "dnsmasq": "true"}})
    );
    // BundleGen writes `127.0.0.1\tlocalhost'` with no newline.
    assert_eq!(
        std::fs::read_to_string(c.dir.path().join("etc/hosts")).unwrap(),
        "127.0.0.1\tlocalhost\n"
    );
    assert!(
        std::fs::read_to_string(c.dir.path().join("etc/nsswitch.conf"))
            .unwrap()
            .starts_with("hosts:     files")
    );
}

#[test]
fn dynamic_gpu_devices_go_to_the_devicemapper() {
    let c = case(json!({"hardware": {"graphics": true}, "gpu": {"devs": [
        {"type": "c", "path": "/dev/vchiq", "major": 243, "minor": 0, "access": "rw", "dynamic": true},
        {"type": "c", "path": "/dev/fixed", "major": 1, "minor": 0, "access": "rw"},
        {"type": "c", "path": "/dev/snd/controlC0", "major": 116, "minor": 0, "access": "rw", "dynamic": true}]}}));
    let mut p = c.processor(json!({}), json!({"rdkPlugins": {}}));
    plugins::dynamic_devices(&mut p);
    assert_eq!(
        p.config["rdkPlugins"]["devicemapper"],
        json!({"required": true, "data": {"devices": ["/dev/vchiq", "/dev/snd/controlC0"]}})
    );
    let c = case(json!({"hardware": {"graphics": false}}));
    let mut p = c.processor(json!({}), json!({}));
    plugins::dynamic_devices(&mut p);
    assert_eq!(p.config, json!({}));
}

#[test]
fn storage_makes_loopback_images_tmpfs_mounts_and_dynamic_mounts() {
    let c = case(json!({"storage": {"persistent": {"storageDir": "/opt/dac_apps/data/0/dac"}}}));
    let mut p = c.processor(
        json!({"id": "com.rdk.flutter", "storage": {
            "persistent": [{"size": "10M", "path": "/home/private"}],
            "temp": [{"size": "5M", "path": "/tmp/scratch"}]}}),
        json!({"mounts": [{"destination": "/opt/x", "source": "/x", "type": "bind", "options": ["rbind", "X-dobby.optional"]}],
            "process": {"user": {"uid": 0, "gid": 2}}, "rdkPlugins": {}}),
    );
    storage::storage(&mut p).unwrap();
    assert_eq!(
        p.config["rdkPlugins"]["storage"],
        json!({"required": true, "data": {
            "loopback": [{"destination": "/home/private", "flags": 14, "fstype": "ext4",
                "source": "/opt/dac_apps/data/0/dac/com.rdk.flutter/23e959658f5082a89c6db72c842271a117887b8658ab703f60eaba650b3d5f20.img",
                "imgsize": 10485760}],
            "dynamic": [{"destination": "/opt/x", "source": "/x", "type": "bind", "options": ["rbind"]}]}})
    );
    // uid=0 is written (BundleGen leaves it out as if unset).
    assert_eq!(
        p.config["mounts"],
        json!([{"destination": "/tmp/scratch", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=5242880", "uid=0", "gid=2"]}])
    );
    assert!(
        c.dir.path().join("home/private").is_dir() && c.dir.path().join("tmp/scratch").is_dir()
    );
    // No storage: nothing changes; an image too large for Dobby's int32 is refused.
    let mut p = c.processor(json!({}), json!({"mounts": []}));
    storage::storage(&mut p).unwrap();
    assert_eq!(p.config, json!({"mounts": []}));
    let mut p = c.processor(
        json!({"id": "a", "storage": {"persistent": [{"size": "3G", "path": "/data"}]}}),
        json!({"mounts": []}),
    );
    assert!(storage::storage(&mut p)
        .unwrap_err()
        .to_string()
        .contains("int32"));
}

#[test]
fn a_compliant_config_runs_dobbys_plugins_from_hooks() {
    let hooks_of = |dobby: Value| {
        let c = case(json!({"dobby": dobby}));
        let mut p = c.processor(
            json!({"id": "com.rdk.flutter"}),
            json!({"rdkPlugins": {"networking": {"required": true}}}),
        );
        plugins::hooks(&mut p).map(|()| p.config["hooks"].clone())
    };
    let hooks = hooks_of(json!({"generateCompliantConfig": true, "hookLauncherParametersPath": "/opt/dac_apps/data/{id}/dac/"})).unwrap();
    for stage in ["createRuntime", "createContainer", "poststart", "poststop"] {
        assert_eq!(
            hooks[stage],
            json!([{"path": "/usr/bin/DobbyPluginLauncher",
                "args": ["DobbyPluginLauncher", "-h", stage, "-c", "/opt/dac_apps/data/com.rdk.flutter/dac/config.json"]}])
        );
    }
    // BundleGen writes no hooks and goes on; the bundle could not run, so berth stops.
    assert!(hooks_of(json!({"generateCompliantConfig": true})).is_err());
    assert_eq!(
        hooks_of(json!({"generateCompliantConfig": false})).unwrap(),
        Value::Null
    );
}
