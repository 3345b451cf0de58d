//! berth bundle generate's inputs: incompatible apps and broken metadata (exit codes
//! as BundleGen's), hostile images, registries that need credentials.

use berth_e2e::bundlegen::{
    app_image, berth_bundle, bundlegen, dobby_platform, full_app, read_config, succeeded,
};
use berth_e2e::cli::berth;
use berth_e2e::*;
use serde_json::json;

#[test]
fn incompatible_apps_exit_2_and_broken_metadata_exit_1_as_with_bundlegen() {
    let dir = tempfile::tempdir().unwrap();
    let platform = dobby_platform("berth_refuse");
    let search = dir.path().join("templates");
    std::fs::create_dir_all(&search).unwrap();
    std::fs::write(search.join("berth_refuse.json"), platform.to_string()).unwrap();
    let mut app = full_app("com.example.refused");
    app["network"] = json!({"type": "open-to-the-world"});
    let image = app_image(dir.path(), "refused", &app, "amd64", &[]);
    for (tool, out) in [
        ("bundlegen", dir.path().join("a")),
        ("berth", dir.path().join("b")),
    ] {
        let o = if tool == "berth" {
            berth_bundle(&image, &out, "berth_refuse", &search, &[])
        } else {
            bundlegen(&image, &out, "berth_refuse", &search, &[])
        };
        assert_eq!(
            o.status.code(),
            Some(2),
            "{tool}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!out.exists(), "{tool} left {}", out.display());
    }
    // Metadata that breaks BundleGen's schema: exit 1 from both, the field named by berth.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, json!({"id": "x", "graphics": "yes"}).to_string()).unwrap();
    let theirs = bundlegen(
        &image,
        &dir.path().join("c"),
        "berth_refuse",
        &search,
        &["-a", bad.to_str().unwrap()],
    );
    let ours = berth_bundle(
        &image,
        &dir.path().join("d"),
        "berth_refuse",
        &search,
        &["-a", bad.to_str().unwrap()],
    );
    assert_eq!(
        (theirs.status.code(), ours.status.code()),
        (Some(1), Some(1))
    );
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(
        err.contains("bad.json: breaks BundleGen's schema") && err.contains("/graphics"),
        "{err}"
    );
    // An id that would climb out of host directories: refused (BundleGen takes it).
    let o = berth_bundle(
        &image,
        &dir.path().join("e"),
        "berth_refuse",
        &search,
        &["-x", "../../etc"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a container id"));
}

#[test]
fn an_image_whose_symlinks_lead_to_the_host_changes_nothing_there() {
    let dir = tempfile::tempdir().unwrap();
    // Host files an image names through absolute symlinks: BundleGen would write
    // the first (its /etc/hosts) and delete the second (a library it replaces).
    let host_hosts = dir.path().join("host-hosts");
    let host_lib = dir.path().join("host-libfoo.so.1");
    std::fs::write(&host_hosts, "the host's own\n").unwrap();
    std::fs::write(&host_lib, "the host's library\n").unwrap();
    let links = dir.path().join("links");
    std::fs::create_dir_all(links.join("etc")).unwrap();
    std::fs::create_dir_all(links.join("lib")).unwrap();
    std::os::unix::fs::symlink(&host_hosts, links.join("etc/hosts")).unwrap();
    std::os::unix::fs::symlink(&host_lib, links.join("lib/libfoo.so.1")).unwrap();
    let mut app = full_app("com.example.hostile");
    app["graphics"] = json!(false);
    let image = app_image(
        dir.path(),
        "hostile",
        &app,
        "amd64",
        &[
            ("etc/hosts", &links.join("etc/hosts")),
            ("lib/libfoo.so.1", &links.join("lib/libfoo.so.1")),
        ],
    );
    let mut platform = dobby_platform("berth_hostile");
    platform["dobby"]["pluginDependencies"] = json!(["/lib/libfoo.so.1"]);
    let search = dir.path().join("templates");
    std::fs::create_dir_all(&search).unwrap();
    std::fs::write(search.join("berth_hostile.json"), platform.to_string()).unwrap();
    let out = dir.path().join("out");
    succeeded(
        &berth_bundle(&image, &out, "berth_hostile", &search, &["-m", "host"]),
        "berth bundle generate",
    );
    assert_eq!(
        std::fs::read_to_string(&host_hosts).unwrap(),
        "the host's own\n"
    );
    assert_eq!(
        std::fs::read_to_string(&host_lib).unwrap(),
        "the host's library\n"
    );
    // Inside the rootfs: the link's target was written; the library's link leads
    // nowhere inside the rootfs, so there is no image copy to remove (os.path.exists
    // says the same of a dangling link), and the host's is mounted over it.
    let inside = out
        .join("rootfs")
        .join(host_hosts.strip_prefix("/").unwrap());
    assert_eq!(
        std::fs::read_to_string(inside).unwrap(),
        "127.0.0.1\tlocalhost\n"
    );
    let mounts = read_config(&out)["mounts"].to_string();
    assert!(
        mounts.contains("\"destination\":\"/lib/libfoo.so.1\""),
        "{mounts}"
    );
}

#[test]
fn an_image_from_a_registry_that_needs_credentials_takes_them_from_c_or_the_environment() {
    require(&["docker-registry", "htpasswd"]);
    use berth_e2e::images::Registry;
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start_with_auth("rdk", "s3cret");
    let mut app = full_app("com.example.remote");
    app["graphics"] = json!(false);
    let local = app_image(dir.path(), "remote", &app, "amd64", &[]);
    let remote = format!("{}:1", registry.image("apps/remote"));
    let copied = berth(&[
        "image",
        "copy",
        "--quiet",
        "--creds",
        "rdk:s3cret",
        &local,
        &remote,
    ]);
    succeeded(&copied, "berth image copy");
    let search = dir.path().join("templates");
    std::fs::create_dir_all(&search).unwrap();
    std::fs::write(
        search.join("berth_remote.json"),
        dobby_platform("berth_remote").to_string(),
    )
    .unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let generate = |out: &str, creds: Option<(&str, &str)>, env: Option<&str>| {
        let mut c = std::process::Command::new(berth_bin());
        c.env("HOME", &home)
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("DOCKER_CONFIG")
            .env_remove("XDG_RUNTIME_DIR");
        c.args([
            "bundle",
            "generate",
            "-y",
            "-p",
            "berth_remote",
            "-s",
            search.to_str().unwrap(),
        ]);
        if let Some((flag, value)) = creds {
            c.args([flag, value]);
        }
        if let Some(value) = env {
            c.env("RDK_OCI_REGISTRY_CREDS", value);
        }
        c.arg(&remote).arg(dir.path().join(out));
        run(c)
    };
    let refused = generate("none", None, None);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    succeeded(
        &generate("flag", Some(("-c", "rdk:s3cret")), None),
        "with -c",
    );
    succeeded(
        &generate("env", None, Some("rdk:s3cret")),
        "with RDK_OCI_REGISTRY_CREDS",
    );
    assert_eq!(
        read_config(&dir.path().join("flag")),
        read_config(&dir.path().join("env"))
    );
}

/// Issue 21: the hostile layer corpus (`image_unpack::hostile_layers`) through `berth
/// bundle generate`: whatever the outcome, nothing outside the bundle changes.
#[test]
fn hostile_layers_through_bundle_generate_change_nothing_outside() {
    use berth_e2e::hostile::{hostile_layers, make_sentinel, sentinel};
    use berth_e2e::images::{put_image, tag_manifest, LayerTar};
    let dir = tempfile::tempdir().unwrap();
    let outside = make_sentinel(dir.path());
    let before = sentinel(&outside);
    let search = dir.path().join("templates");
    std::fs::create_dir_all(&search).unwrap();
    std::fs::write(
        search.join("berth_corpus.json"),
        dobby_platform("berth_corpus").to_string(),
    )
    .unwrap();
    let mut app = full_app("com.example.corpus");
    app["graphics"] = json!(false);
    let app_file = dir.path().join("app.json");
    std::fs::write(&app_file, app.to_string()).unwrap();
    let base = LayerTar::new()
        .dir("etc", 0o755)
        .file("etc/hostname", b"box\n", 0o644)
        .finish();
    for (name, layer) in hostile_layers(&outside.display().to_string()) {
        let layout_dir = dir.path().join(format!("layout-{name}"));
        let layout = berth_image::Layout::create(&layout_dir).unwrap();
        let (digest, size) = put_image(
            &layout,
            &[base.clone(), layer],
            false,
            "amd64",
            None,
            json!({}),
        );
        tag_manifest(&layout, "v1", &digest, size);
        let image = format!("oci:{}:v1", layout_dir.display());
        let out_dir = dir.path().join(format!("out-{name}"));
        let out = berth_bundle(
            &image,
            &out_dir,
            "berth_corpus",
            &search,
            &["-a", app_file.to_str().unwrap()],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Refused with BundleGen's exit code for every error but incompatibility (1),
        // naming the rule, or generated with the layer applied inside.
        match berth_e2e::hostile::refusal(name) {
            None => assert_eq!(out.status.code(), Some(0), "{name}: {stderr}"),
            Some(rule) => {
                assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
                assert!(stderr.contains(rule), "{name}: names {rule:?}: {stderr}");
            }
        }
        assert_eq!(sentinel(&outside), before, "{name}: outside changed");
    }
}
