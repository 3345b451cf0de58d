//! Library matching against the real BundleGen on ARM and AArch64 libraries (Debian's
//! libc6-armhf-cross and libc6-arm64-cross), and `berth bundle platform-libs`
//! against a readelf listing of the same rootfs.

use berth_e2e::bundlegen::{
    app_image, berth_bundle, bundle_tree, bundlegen, config_differences, read_config, succeeded,
};
use berth_e2e::cli::berth;
use berth_e2e::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// (Debian triplet, OCI platform, BundleGen arch and variant)
const ARCHES: [(&str, &str, &str, Option<&str>); 2] = [
    ("arm-linux-gnueabihf", "arm/v7", "arm", Some("v7")),
    ("aarch64-linux-gnu", "arm64", "arm64", None),
];

/// The libraries of Debian's libc6-<arch>-cross package alone, copied under `dir`:
/// /usr/<triplet>/lib also holds what other cross packages put there (the cross
/// compilers' libgcc, libstdc++, sanitizers), which would change the input with
/// what else the machine has.
fn cross_lib_dir(dir: &Path, triplet: &str) -> PathBuf {
    let from = PathBuf::from(format!("/usr/{triplet}/lib"));
    let arch = if triplet.starts_with("aarch64") {
        "arm64"
    } else {
        "armhf"
    };
    assert!(
        from.join("libc.so.6").is_file(),
        "{}: Debian's libc6-*-cross packages are needed (scripts/setup.sh installs them)",
        from.display()
    );
    let to = dir.join(format!("libc6-{arch}-cross"));
    if to.exists() {
        return to;
    }
    std::fs::create_dir_all(&to).unwrap();
    let files = ok(cmd("dpkg", &["-L", &format!("libc6-{arch}-cross")]));
    for file in files.lines().map(Path::new) {
        if file.parent() == Some(from.as_path()) {
            ok(cmd("cp", &["-a"]).arg(file).arg(&to));
        }
    }
    to
}

/// A device rootfs of the cross libraries under /lib.
fn device_rootfs(dir: &Path, triplet: &str) -> PathBuf {
    let root = dir.join(format!("device-{triplet}"));
    std::fs::create_dir_all(root.join("lib")).unwrap();
    ok(cmd("cp", &["-a"])
        .arg(format!("{}/.", cross_lib_dir(dir, triplet).display()))
        .arg(root.join("lib")));
    root
}

fn platform_libs(root: &Path, out: &Path) -> Value {
    let o = berth(&[
        "bundle",
        "platform-libs",
        root.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    succeeded(&o, "berth bundle platform-libs");
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

#[test]
fn library_matching_on_arm_and_aarch64_matches_bundlegen_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    for (triplet, oci_platform, arch, variant) in ARCHES {
        let name = format!("berth_libs_{arch}");
        let search = dir.path().join(format!("templates-{arch}"));
        std::fs::create_dir_all(&search).unwrap();
        // The device's libraries, libc with one version fewer than the image's (so the
        // image's libc, and with it its sub-libraries, wins in normal mode), and a GPU
        // library that needs libm (a sub-library of libc: all its versions are GLIBC_*).
        let mut libs = platform_libs(
            &device_rootfs(dir.path(), triplet),
            &search.join(format!("{name}_libs.json")),
        );
        let entries = libs["libs"].as_array_mut().unwrap();
        let libc = entries
            .iter_mut()
            .find(|l| l["name"] == "/lib/libc.so.6")
            .expect("libc listed");
        libc["apiversions"].as_array_mut().unwrap().pop();
        entries.push(json!({"name": "/usr/lib/libEGL.so.1", "apiversions": [], "deps": ["/lib/libm.so.6", "/lib/libpthread.so.0"]}));
        std::fs::write(
            search.join(format!("{name}_libs.json")),
            serde_json::to_vec_pretty(&libs).unwrap(),
        )
        .unwrap();
        let mut arch_field = json!({"arch": arch});
        if let Some(v) = variant {
            arch_field["variant"] = json!(v);
        }
        let platform = json!({"platformName": name, "os": "linux", "arch": arch_field,
            "rdk": {"version": "1", "supportedFeatures": []}, "hardware": {"graphics": true},
            "network": {"options": ["open"]}, "disableUserNamespacing": true, "envvar": [],
            "gpu": {"extraMounts": [], "envvar": [], "devs": [],
                "gfxLibs": [{"src": "/usr/lib/libEGL.so.1", "dst": "/usr/lib/libEGL.so.1"}]},
            "dobby": {"pluginDependencies": ["/lib/libdl.so.2", "/lib/libm.so.6", "/lib/libresolv.so.2"]}});
        std::fs::write(
            search.join(format!("{name}.json")),
            serde_json::to_vec_pretty(&platform).unwrap(),
        )
        .unwrap();
        let app = json!({"id": "com.example.libs", "type": "application/vnd.rdk-app.dac.native", "graphics": true,
            "network": {"type": "open"}, "storage": {}, "resources": {"ram": "64M"}});
        let image = app_image(
            dir.path(),
            &format!("libs-{arch}"),
            &app,
            oci_platform,
            &[("lib", &cross_lib_dir(dir.path(), triplet))],
        );
        for mode in [vec![], vec!["-m", "image"], vec!["-m", "host"], vec!["-n"]] {
            let label = format!("{arch} {}", mode.join(" "));
            let tag = mode.join("").replace('-', "");
            let theirs = dir.path().join(format!("{arch}{tag}-bundlegen"));
            let ours = dir.path().join(format!("{arch}{tag}-berth"));
            succeeded(
                &bundlegen(&image, &theirs, &name, &search, &mode),
                &format!("BundleGen {label}"),
            );
            succeeded(
                &berth_bundle(&image, &ours, &name, &search, &mode),
                &format!("berth {label}"),
            );
            assert_eq!(
                config_differences(&read_config(&theirs), &read_config(&ours)),
                Vec::<String>::new(),
                "{label}"
            );
            assert_eq!(
                bundle_tree(&theirs),
                bundle_tree(&ours),
                "{label}: the libraries removed from the rootfs"
            );
            if mode.is_empty() {
                // Normal mode: the image's libc has more, so it and its sub-libraries
                // stay; the GPU library comes from the host.
                let mounts = read_config(&ours)["mounts"].to_string();
                assert!(
                    mounts.contains("\"/usr/lib/libEGL.so.1\""),
                    "{label}: {mounts}"
                );
                assert!(
                    !mounts.contains("libc.so.6") && !mounts.contains("libm.so.6"),
                    "{label}: {mounts}"
                );
                assert!(
                    ours.join("rootfs/lib/libm.so.6").exists()
                        && ours.join("rootfs/lib/libc.so.6").exists()
                );
            } else if mode == ["-m", "host"] {
                assert!(
                    !ours.join("rootfs/lib/libc.so.6").exists(),
                    "{label}: the host's libc replaces the image's"
                );
            }
        }
    }
}

/// What readelf says of every shared library below `root`: version definitions
/// (readelf -V, without the base entry) and DT_NEEDED (readelf -d) found in /lib.
fn readelf_listing(root: &Path) -> Vec<(String, Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join("lib")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.contains(".so.") || name.ends_with(".so")) {
            continue;
        }
        let header = run(cmd("readelf", &["-h"]).arg(&path));
        if !header.status.success() || !String::from_utf8_lossy(&header.stdout).contains("DYN (") {
            continue;
        }
        let versions = ok(cmd("readelf", &["-V", "-W"]).arg(&path));
        let mut defs = Vec::new();
        let mut in_defs = false;
        for line in versions.lines() {
            if line.contains("Version definition section") {
                in_defs = true;
            } else if line.contains("Version needs section") {
                in_defs = false;
            } else if in_defs && line.starts_with("  0x") {
                if let Some(i) = line.find("Name: ") {
                    defs.push(line[i + 6..].to_string());
                }
            }
        }
        let dynamic = ok(cmd("readelf", &["-d", "-W"]).arg(&path));
        let needed: Vec<String> = dynamic
            .lines()
            .filter(|l| l.contains("(NEEDED)"))
            .filter_map(|l| {
                l.split('[')
                    .nth(1)
                    .map(|s| s.trim_end_matches(']').to_string())
            })
            .filter(|n| root.join("lib").join(n).exists())
            .map(|n| format!("/lib/{n}"))
            .collect();
        out.push((format!("/lib/{name}"), defs, needed));
    }
    out.sort();
    out
}

#[test]
fn platform_libs_lists_what_readelf_reads_for_arm_and_aarch64() {
    require(&["readelf"]);
    let dir = tempfile::tempdir().unwrap();
    for (triplet, ..) in ARCHES {
        let root = device_rootfs(dir.path(), triplet);
        let ours = platform_libs(&root, &dir.path().join(format!("{triplet}_libs.json")));
        let listed: Vec<(String, Vec<String>, Vec<String>)> = ours["libs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let strings = |v: &Value| {
                    v.as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_string())
                        .collect()
                };
                (
                    l["name"].as_str().unwrap().to_string(),
                    strings(&l["apiversions"]),
                    strings(&l["deps"]),
                )
            })
            .collect();
        let expected = readelf_listing(&root);
        assert!(
            expected.len() > 10,
            "{triplet}: {} libraries",
            expected.len()
        );
        assert_eq!(listed, expected, "{triplet}");
    }
}
