//! Compatibility and the sections before the plugins.

use super::super::*;
use super::case;
use serde_json::json;

#[test]
fn the_oci_version_says_whether_dobby_reads_the_config() {
    for (dobby, crun, version) in [
        (json!({"generateCompliantConfig": true}), false, "1.0.2"),
        (
            json!({"generateCompliantConfig": false}),
            false,
            "1.0.2-dobby",
        ),
        (json!({}), true, "1.0.2"),
    ] {
        let c = case(json!({"dobby": dobby}));
        let mut p = c.with_options(json!({}), json!({}), crun);
        sections::oci_version(&mut p);
        assert_eq!(p.config, json!({"ociVersion": version}));
    }
}

fn compatible(platform: Value, app: Value) -> Result<Value, String> {
    let c = case(platform);
    let mut p = c.processor(app, json!({}));
    match check_compatibility(&mut p) {
        Ok(()) => Ok(p.app),
        Err(BundleError::Incompatible { why, .. }) => Err(why),
        Err(e) => panic!("not an incompatibility: {e}"),
    }
}

#[test]
fn compatibility_graphics_features_and_network() {
    let graphics = json!({"hardware": {"graphics": true}, "rdk": {"supportedFeatures": []}});
    assert!(compatible(graphics.clone(), json!({"graphics": true, "features": []})).is_ok());
    let e = compatible(json!({"hardware": {}}), json!({"graphics": true})).unwrap_err();
    assert!(e.contains("graphics"), "{e}");
    let e = compatible(
        json!({"hardware": {"graphics": true}, "network": {"options": ["nat", "private"]}, "rdk": {"supportedFeatures": []}}),
        json!({"graphics": true, "network": {"type": "open", "dnsmasq": "true"}}),
    )
    .unwrap_err();
    assert!(e.contains("open networking"), "{e}");
    let e = compatible(
        json!({"hardware": {"graphics": true}, "rdk": {"supportedFeatures": ["org.rdk.DisplaySettings", "com.comcast.HdmiInput"]}}),
        json!({"graphics": true, "features": ["com.comcast.HdmiInput", "org.rdk.FrontPanel", "org.rdk.Network"]}),
    )
    .unwrap_err();
    assert!(e.ends_with("org.rdk.FrontPanel, org.rdk.Network"), "{e}");
    // BundleGen raises KeyError here: no features asked for is none missing.
    assert!(compatible(
        json!({"hardware": {}, "rdk": {"supportedFeatures": ["x"]}}),
        json!({"graphics": false})
    )
    .is_ok());
}

#[test]
fn compatibility_storage_limits() {
    let persistent = |size: &str| json!({"graphics": false, "storage": {"persistent": [{"size": size, "path": "/home/private"}]}});
    // The platform offers no persistent storage.
    assert!(compatible(json!({"rdk": {}, "storage": {}}), persistent("62M")).is_err());
    assert!(compatible(json!({"rdk": {}}), persistent("62M")).is_err());
    // Above maxSize; above maxTotalSize; raised to minSize and then above the total.
    let limits = |l: Value| json!({"rdk": {}, "storage": {"persistent": l}});
    assert!(compatible(
        limits(json!({"storageDir": "/d", "maxSize": "60M"})),
        persistent("62M")
    )
    .is_err());
    assert!(compatible(
        limits(json!({"storageDir": "/d", "maxSize": "20M", "maxTotalSize": "10"})),
        persistent("12M")
    )
    .is_err());
    assert!(compatible(
        limits(
            json!({"storageDir": "/d", "maxSize": "20M", "minSize": "15M", "maxTotalSize": "10"})
        ),
        persistent("10M")
    )
    .is_err());
    let raised = compatible(
        limits(json!({"storageDir": "/d", "minSize": "15M"})),
        persistent("10M"),
    )
    .unwrap();
    assert_eq!(raised["storage"]["persistent"][0]["size"], "15M");

    // Temporary storage above the platform's maximum.
    let both = json!({"graphics": false, "storage": {
        "persistent": [{"size": "12M", "path": "/home/private"}],
        "temp": [{"size": "9M", "path": "/home/private"}]}});
    assert!(compatible(
        json!({"rdk": {}, "storage": {"persistent": {"storageDir": "/d", "maxSize": "20M"}, "temp": {"maxSize": "5M"}}}),
        both
    )
    .is_err());
    // Below minSize: raised (BundleGen writes the minimum into the persistent entry).
    let small = json!({"graphics": false, "storage": {
        "temp": [{"size": "5M", "path": "/home/private"}],
        "persistent": [{"size": "5M", "path": "/p"}]}});
    let raised = compatible(
        json!({"rdk": {}, "storage": {"temp": {"maxSize": "15M", "minSize": "7M", "maxTotalSize": "10M"},
            "persistent": {"storageDir": "/d"}}}),
        small,
    )
    .unwrap();
    assert_eq!(raised["storage"]["temp"][0]["size"], "7M");
    assert_eq!(raised["storage"]["persistent"][0]["size"], "5M");
    // Above the total.
    assert!(compatible(
        json!({"rdk": {}, "storage": {"temp": {"maxSize": "15M", "minSize": "7", "maxTotalSize": "10"}}}),
        json!({"graphics": false, "storage": {"temp": [{"size": "9M", "path": "/t"}]}})
    )
    .is_err());
}

#[test]
fn resources_deny_every_device_and_limit_memory_to_the_smaller() {
    let c = case(json!({"hardware": {"graphics": true}}));
    let mut p = c.processor(json!({}), json!({"linux": {"resources": {}}}));
    resources::resources(&mut p).unwrap();
    resources::resources(&mut p).unwrap();
    assert_eq!(
        p.config,
        json!({"linux": {"resources": {"devices": [{"allow": false, "access": "rwm"}]}}})
    );
    for (max, ram, limit) in [
        ("0M", "0M", 0u64),
        ("10M", "12M", 10 << 20),
        ("122M", "120M", 120 << 20),
    ] {
        let c = case(json!({"hardware": {"maxRam": max}}));
        let mut p = c.processor(
            json!({"resources": {"ram": ram}}),
            json!({"linux": {"resources": {"devices": [], "memory": {}}}}),
        );
        resources::resources(&mut p).unwrap();
        assert_eq!(
            p.config["linux"]["resources"]["memory"],
            json!({"limit": limit})
        );
        assert_eq!(p.warnings.len(), usize::from(ram == "12M"));
    }
}

fn logging_of(logging: Value, crun: bool) -> (Value, Vec<String>) {
    let c = case(json!({"logging": logging}));
    let mut p = c.with_options(
        json!({"id": "com.rdk.wayland-egl-test"}),
        json!({"process": {"terminal": false}, "annotations": {}, "rdkPlugins": {}}),
        crun,
    );
    logging::logging(&mut p).unwrap();
    (p.config, p.warnings)
}

#[test]
fn logging_modes() {
    let (file, _) = logging_of(
        json!({"mode": "file", "logDir": "/var/log", "limit": 65536}),
        false,
    );
    assert_eq!(
        file,
        json!({"process": {"terminal": true},
            "annotations": {"run.oci.hooks.stderr": "/dev/stderr", "run.oci.hooks.stdout": "/dev/stdout"},
            "rdkPlugins": {"logging": {"required": true, "data": {"sink": "file",
                "fileOptions": {"path": "/var/log/com.rdk.wayland-egl-test.log", "limit": 65536}}}}})
    );
    let (journald, _) = logging_of(
        json!({"mode": "journald", "journaldOptions": {"priority": "LOG_INFO"}}),
        false,
    );
    assert_eq!(
        journald["rdkPlugins"]["logging"],
        json!({"required": true, "data": {"sink": "journald", "journaldOptions": {"priority": "LOG_INFO"}}})
    );
    let (devnull, _) = logging_of(json!({"mode": "devnull"}), false);
    assert_eq!(
        devnull["rdkPlugins"]["logging"],
        json!({"required": true, "data": {"sink": "devnull"}})
    );
    // BundleGen fails (KeyError) on these, or drops the plugin.
    let (limited, _) = logging_of(json!({"mode": "journald", "limit": 10}), false);
    assert_eq!(
        limited["rdkPlugins"]["logging"],
        json!({"required": true, "data": {"sink": "journald"}})
    );
    let (devnull, _) = logging_of(
        json!({"mode": "devnull", "journaldOptions": {"priority": "LOG_INFO"}}),
        false,
    );
    assert_eq!(
        devnull["rdkPlugins"]["logging"],
        json!({"required": true, "data": {"sink": "devnull"}})
    );
    // Nothing configured, or a plain bundle: untouched.
    let c = case(json!({}));
    let mut p = c.processor(json!({"id": "x"}), json!({"process": {}}));
    logging::logging(&mut p).unwrap();
    assert_eq!(p.config, json!({"process": {}}));
    let (plain, warnings) = logging_of(json!({"mode": "devnull"}), true);
    assert_eq!(plain["rdkPlugins"], json!({}));
    assert_eq!(warnings.len(), 1);
}

#[test]
fn the_process_runs_under_dobby_init_with_the_platforms_environment_and_limits() {
    let c = case(json!({"envvar": ["XDG_RUNTIME_DIR=/tmp"],
        "resourceLimits": [{"type": "RLIMIT_NPROC", "hard": 300, "soft": 300}]}));
    let mut p = c.processor(
        json!({}),
        json!({"process": {"args": ["/bin/app", "-c 'echo hi'\\@there"], "env": [], "rlimits": []}, "mounts": []}),
    );
    sections::process(&mut p).unwrap();
    assert_eq!(
        p.config,
        json!({"process": {"args": ["/usr/libexec/DobbyInit", "/bin/app", "-c", "echo hi", "there"],
                "env": ["XDG_RUNTIME_DIR=/tmp"],
                "rlimits": [{"type": "RLIMIT_NPROC", "hard": 300, "soft": 300}]},
            "mounts": [{"source": "/usr/libexec/DobbyInit", "destination": "/usr/libexec/DobbyInit",
                "type": "bind", "options": ["rbind", "nosuid", "nodev", "ro"]}]})
    );
    // A plain bundle keeps the image's arguments; a platform without envvar is fine.
    let c = case(json!({}));
    let mut p = c.with_options(
        json!({}),
        json!({"process": {"args": ["/bin/app"], "env": ["A=1"]}}),
        true,
    );
    sections::process(&mut p).unwrap();
    assert_eq!(
        p.config,
        json!({"process": {"args": ["/bin/app"], "env": ["A=1"]}})
    );
}

#[test]
fn root_hostname_apparmor_and_seccomp_come_from_the_platform() {
    let seccomp = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["getcwd", "chmod"], "action": "SCMP_ACT_ERRNO"}]});
    let c = case(
        json!({"root": {"path": "rootfs_{id}", "readonly": true}, "hostname": "{id}-host",
        "apparmorProfile": "profilename", "seccomp": seccomp}),
    );
    let mut p = c.processor(
        json!({"id": "com.rdk.netflix"}),
        json!({"root": {}, "hostname": "umoci-default",
        "process": {"apparmorProfile": {}}, "linux": {"seccomp": {}}}),
    );
    sections::root(&mut p).unwrap();
    sections::hostname(&mut p).unwrap();
    sections::apparmor_and_seccomp(&mut p);
    assert_eq!(
        p.config["root"],
        json!({"path": "rootfs_com.rdk.netflix", "readonly": true})
    );
    assert_eq!(p.config["hostname"], "com.rdk.netflix-host");
    assert_eq!(p.config["process"]["apparmorProfile"], "profilename");
    assert_eq!(p.config["linux"]["seccomp"], seccomp);
    // Empty values leave the config alone.
    let c = case(json!({"apparmorProfile": "", "seccomp": {}}));
    let mut p = c.processor(
        json!({}),
        json!({"process": {"apparmorProfile": {}}, "linux": {"seccomp": {}}}),
    );
    sections::apparmor_and_seccomp(&mut p);
    assert_eq!(
        p.config,
        json!({"process": {"apparmorProfile": {}}, "linux": {"seccomp": {}}})
    );
    // Templates may name {id} only.
    let c = case(json!({"hostname": "{name}"}));
    let mut p = c.processor(json!({"id": "a"}), json!({}));
    assert!(sections::hostname(&mut p)
        .unwrap_err()
        .to_string()
        .contains("only {id} is known"));
    assert_eq!(format_id("{{literal}}/{id}", "a").unwrap(), "{literal}/a");
    assert!(format_id("{id", "a").is_err());
}

#[test]
fn mounts_come_from_the_platform_then_the_app() {
    let m = |dest: &str| json!({"destination": dest, "type": "none", "source": "/volumes/{id}", "options": ["rbind", "rw"]});
    let c = case(json!({"mounts": [m("/data")]}));
    let mut p = c.processor(
        json!({"id": "app", "mounts": [m("/more"), {"destination": "/only-a-point", "options": ["X-mount.no"]}]}),
        json!({"mounts": []}),
    );
    mounts::mounts(&mut p).unwrap();
    let dests: Vec<&str> = p.config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    assert_eq!(dests, ["/data", "/more"]);
    assert_eq!(p.config["mounts"][0]["source"], "/volumes/app");
    // -r: mount points made in the rootfs, a directory where X-mount.mkdir says so.
    let c = case(json!({"mounts": [
        {"destination": "/etc/x.conf", "source": "/s", "type": "bind", "options": ["bind"]},
        {"destination": "/var/dir", "source": "/s", "type": "bind", "options": ["bind", "X-mount.mkdir"]}]}));
    let mut p = c.processor(json!({"id": "a"}), json!({"mounts": []}));
    p.options.create_mount_points = true;
    mounts::mounts(&mut p).unwrap();
    assert!(c.dir.path().join("etc/x.conf").is_file() && c.dir.path().join("var/dir").is_dir());
}

#[test]
fn graphics_add_mounts_libraries_devices_and_the_display() {
    let c = case(json!({}));
    let mut p = c.processor(json!({"graphics": false}), json!({}));
    gpu::gpu(&mut p).unwrap();
    assert_eq!(p.config, json!({}));

    let c = case(
        json!({"hardware": {"graphics": true}, "gpu": {"extraMounts": [], "envvar": [], "gfxLibs": [], "devs": []}}),
    );
    let mut p = c.processor(
        json!({"graphics": true}),
        json!({"process": {"env": []}, "linux": {"devices": []}}),
    );
    gpu::gpu(&mut p).unwrap();
    assert_eq!(
        p.config,
        json!({"process": {"env": ["WAYLAND_DISPLAY=westeros"]}, "linux": {"devices": [], "resources": {"devices": []}}})
    );

    let c = case(json!({"hardware": {"graphics": true}, "gpu": {
        "westeros": {"hostSocket": "/tmp/westeros-dac"},
        "extraMounts": [{"source": "/tmp/nxserver_ipc", "destination": "/tmp/nxserver_ipc", "type": "bind", "options": ["bind", "ro"]}],
        "envvar": ["LD_PRELOAD=/usr/lib/libwayland-client.so.0"],
        "devs": [{"type": "c", "path": "/dev/nexus", "major": 33, "minor": 0, "access": "rw"}],
        "gfxLibs": [{"src": "/usr/lib/libEGL.so", "dst": "/usr/lib/libEGL.so"},
                    {"src": "/usr/lib/libEGL.so", "dst": "/usr/lib/libEGL.so.1"}]},
        "libs": [{"apiversions": ["GLIBC_2.4"], "deps": [], "name": "/lib/ld-linux-armhf.so.3"}]}));
    // The image's own copy of a GPU library goes: the host's is mounted instead.
    std::fs::create_dir_all(c.dir.path().join("usr/lib")).unwrap();
    std::fs::write(c.dir.path().join("usr/lib/libEGL.so.1"), "image's").unwrap();
    let mut p = c.processor(json!({"graphics": true}), json!({"linux": {"devices": {}, "resources": {"devices": []}}, "mounts": [], "process": {"env": []}}));
    gpu::gpu(&mut p).unwrap();
    let bind = |s: &str, d: &str| json!({"source": s, "destination": d, "type": "bind", "options": ["rbind", "nosuid", "nodev", "ro"]});
    assert_eq!(
        p.config,
        json!({"linux": {"devices": [{"path": "/dev/nexus", "type": "c", "major": 33, "minor": 0}],
                "resources": {"devices": [{"allow": true, "type": "c", "major": 33, "minor": 0, "access": "rw"}]}},
            "mounts": [
                {"source": "/tmp/nxserver_ipc", "destination": "/tmp/nxserver_ipc", "type": "bind", "options": ["bind", "ro"]},
                bind("/usr/lib/libEGL.so", "/usr/lib/libEGL.so"),
                bind("/usr/lib/libEGL.so", "/usr/lib/libEGL.so.1"),
                {"source": "/tmp/westeros-dac", "destination": "/tmp/westeros", "type": "bind", "options": ["rbind", "nosuid", "nodev"]}],
            "process": {"env": ["LD_PRELOAD=/usr/lib/libwayland-client.so.0", "WAYLAND_DISPLAY=westeros"]}})
    );
    assert!(!c.dir.path().join("usr/lib/libEGL.so.1").exists());
}

#[test]
fn plugin_dependencies_without_library_information_come_from_the_host() {
    let c = case(json!({"dobby": {"pluginDependencies": ["Controller", "com.comcast.CoPilot"]}}));
    let mut p = c.processor(json!({}), json!({"mounts": []}));
    gpu::plugin_dependencies(&mut p).unwrap();
    let sources: Vec<&str> = p.config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["Controller", "com.comcast.CoPilot"]);
}

#[test]
fn users_groups_and_id_mappings() {
    let maps = json!({"uidMap": [{"containerID": 1, "hostID": 234, "size": 45}],
        "gidMap": [{"containerID": 3, "hostID": 254, "size": 15}]});
    // BundleGen skips uid and gid 0 as if unset; berth sets them.
    let mut users = maps.clone();
    users["user"] = json!({"uid": 0, "gid": 0});
    let c = case(json!({"usersAndGroups": users}));
    let mut p = c.processor(
        json!({}),
        json!({"process": {"user": {"uid": 1000, "gid": 1000}}, "linux": {}}),
    );
    users::users_and_groups(&mut p).unwrap();
    assert_eq!(
        p.config,
        json!({"process": {"user": {"uid": 0, "gid": 0}},
            "linux": {"uidMappings": maps["uidMap"], "gidMappings": maps["gidMap"]}})
    );
    assert_eq!(
        p.warnings.len(),
        2,
        "uid 0 and gid 0 are not mapped: {:?}",
        p.warnings
    );

    let mut users = maps.clone();
    users["user"] = json!({"uid": 2, "gid": 3});
    let c = case(json!({"disableUserNamespacing": true, "usersAndGroups": users}));
    let mut p = c.processor(json!({}), json!({"process": {"user": {}},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "user"}], "uidMappings": [], "gidMappings": []}}));
    users::users_and_groups(&mut p).unwrap();
    assert_eq!(
        p.config,
        json!({"process": {"user": {"uid": 2, "gid": 3}}, "linux": {"namespaces": [{"type": "pid"}]}})
    );

    let c = case(json!({}));
    let mut p = c.processor(
        json!({}),
        json!({"linux": {"uidmappings": [], "gidmappings": []}}),
    );
    users::users_and_groups(&mut p).unwrap();
    assert_eq!(
        p.config,
        json!({"linux": {"uidmappings": [], "gidmappings": [], "uidMappings": [], "gidMappings": []}})
    );
}

#[test]
fn the_tarballs_owner_is_the_hosts_id_of_the_process_user() {
    let users = json!({"uidMap": [{"containerID": 0, "hostID": 1000, "size": 1}], "gidMap": [{"containerID": 0, "hostID": 1001, "size": 1}]});
    let user = json!({"process": {"user": {"uid": 0, "gid": 0}}});
    let c = case(json!({"usersAndGroups": users}));
    assert_eq!(
        real_uid_gid(&c.processor(json!({}), user.clone())),
        (Some(1000), Some(1001))
    );
    let c = case(json!({"disableUserNamespacing": true}));
    assert_eq!(
        real_uid_gid(&c.processor(json!({}), user.clone())),
        (Some(0), Some(0))
    );
    // BundleGen fails on a platform without usersAndGroups.
    let c = case(json!({}));
    assert_eq!(
        real_uid_gid(&c.processor(json!({}), user)),
        (Some(0), Some(0))
    );
}
