//! `berth bundle generate` against the real RDK BundleGen (`BUNDLEGEN_DIR`, by default
//! ../shared/peers/bundlegen, run by its run.sh) on images and templates made by code: config.json equal but
//! for the differences docs/bundle.md lists, the same rootfs, the same archives; a
//! plain bundle runs under runc through berthd.

use berth_e2e::bundlegen::*;
use berth_e2e::daemon::start;
use berth_e2e::install::{ctl_ok, wait_for};
use berth_e2e::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

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
    assert_eq!(bundle_tree(&theirs), bundle_tree(&ours));
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
        bundle_tree(&theirs),
        bundle_tree(&ours),
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
    let pkg = berth_e2e::cli::berth_pack(&manifest, &payload, &out, &[])
        .display()
        .to_string();
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
