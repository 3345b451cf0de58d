//! meta-berth (issue 26) with the real BitBake and oe-core: the classes' tasks run by
//! BitBake on a prepared IMAGE_ROOTFS (`bitbake -b`; see `berth_e2e::yocto` for what
//! is left out and why), their outputs read by skopeo, umoci, podman, berth verify,
//! berthd and systemd-analyze; meta-virtualization's own assertions on layer counts,
//! sizes and cache hits.

use berth_e2e::yocto::{image_recipe, Bitbake};
use berth_e2e::*;
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A device-like rootfs: busybox (owned, as opkg records it, by the package
/// `busybox`), /opt/app and /etc/app.conf.
fn app_rootfs(dir: &Path) -> PathBuf {
    let rootfs = busybox_rootfs(dir);
    std::fs::create_dir_all(rootfs.join("opt/app")).unwrap();
    std::fs::write(rootfs.join("opt/app/data"), noise(26, 8192)).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/app.conf"), noise(26, 8192)).unwrap();
    let info = rootfs.join("var/lib/opkg/info");
    std::fs::create_dir_all(&info).unwrap();
    let mut list = String::from("/bin/busybox\n");
    for entry in std::fs::read_dir(rootfs.join("bin")).unwrap() {
        list += &format!("/bin/{}\n", entry.unwrap().file_name().to_string_lossy());
    }
    std::fs::write(info.join("busybox.list"), list).unwrap();
    rootfs
}

/// An OCI layout's image as skopeo reads it (`skopeo inspect --raw`, its manifest):
/// each layer's size.
fn layer_sizes(layout: &Path, tag: &str) -> Vec<u64> {
    require(&["skopeo"]);
    let out =
        ok(cmd("skopeo", &["inspect", "--raw"]).arg(format!("oci:{}:{tag}", layout.display())));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .collect()
}

/// The image types `oci` with meta-virtualization's variables: single = 1 layer,
/// base + app = 2, multi = 3, each ≥ 4096 bytes (skopeo inspect), cache hits on a
/// rebuild; the owner pseudo recorded (not the one on disk) in the layer, as umoci
/// unpacks it; the oci-archive beside the layout read by skopeo.
#[test]
fn bitbake_oci_images_have_meta_virtualizations_layers_and_pseudos_owners() {
    require(&["umoci", "skopeo"]);
    let scratch = tempfile::tempdir().unwrap();
    let rootfs = app_rootfs(scratch.path());
    let app_only = scratch.path().join("app-rootfs");
    std::fs::create_dir_all(app_only.join("opt/app")).unwrap();
    std::fs::write(app_only.join("opt/app/data"), noise(26, 8192)).unwrap();
    let bb = Bitbake::new("");
    bb.recipe(
        "berth-test-single",
        &image_recipe(
            &rootfs,
            "inherit image berth-image-oci\nIMAGE_FSTYPES = \"oci\"\n\
             OCI_IMAGE_ENTRYPOINT = \"/bin/sh -c\"\nOCI_IMAGE_ENTRYPOINT_ARGS = \"echo from bitbake\"\n\
             OCI_IMAGE_ENV_VARS = \"APP=1 MODE=test\"\nOCI_IMAGE_PORTS = \"8080/tcp\"",
        ),
    );
    bb.recipe(
        "berth-test-app",
        &image_recipe(
            &app_only,
            "inherit image berth-image-oci\nIMAGE_FSTYPES = \"oci\"\n\
             OCI_BASE_IMAGE = \"berth-test-single\"\nOCI_IMAGE_TAR_OUTPUT = \"false\"",
        ),
    );
    bb.recipe(
        "berth-test-multi",
        &image_recipe(
            &rootfs,
            "inherit image berth-image-oci\nIMAGE_FSTYPES = \"oci\"\nOCI_LAYER_MODE = \"multi\"\n\
             OCI_LAYERS = \"base:packages:busybox app:directories:/opt/app config:files:/etc/app.conf\"\n\
             OCI_IMAGE_TAG = \"1.0\"",
        ),
    );
    // do_rootfs ran under pseudo in a real build and recorded owners there.
    bb.pseudo_chown("berth-test-multi", "1234:55", &rootfs.join("opt/app/data"));
    assert_eq!(
        std::fs::metadata(rootfs.join("opt/app/data"))
            .unwrap()
            .uid(),
        0
    );

    bb.task("berth-test-single", "image_complete");
    let deploy = bb.deploy();
    let single = deploy.join("berth-test-single-latest-oci");
    assert_eq!(layer_sizes(&single, "latest").len(), 1);
    let tar = std::fs::read_dir(&deploy)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.to_string_lossy()
                .ends_with("-oci-latest-amd64-linux.oci-image.tar")
        })
        .expect("the oci-archive beside the layout");
    let archive =
        ok(cmd("skopeo", &["inspect", "--config"]).arg(format!("oci-archive:{}", tar.display())));
    let config: Value = serde_json::from_str(&archive).unwrap();
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c"])
    );
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["echo", "from", "bitbake"])
    );
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["APP=1", "MODE=test"])
    );
    assert!(
        config["config"]["ExposedPorts"]["8080/tcp"].is_object(),
        "{config}"
    );

    bb.task("berth-test-app", "image_complete");
    let app = bb.deploy().join("berth-test-app-latest-oci");
    let sizes = layer_sizes(&app, "latest");
    assert_eq!(sizes.len(), 2, "base + app");
    assert_eq!(
        sizes[0],
        layer_sizes(&single, "latest")[0],
        "the base's layer kept"
    );

    let first = bb.task("berth-test-multi", "image_oci");
    assert!(!first.contains("(cached)"), "{first}");
    let multi = bb
        .imgdeploy("berth-test-multi")
        .join("berth-test-multi-1.0-oci");
    let sizes = layer_sizes(&multi, "1.0");
    assert_eq!(sizes.len(), 3, "one layer per OCI_LAYERS entry");
    assert!(sizes.iter().all(|s| *s >= 4096), "{sizes:?}");
    // A rebuild of the same rootfs takes every layer from the cache.
    let again = bb.ok(&[
        "-b",
        bb.dir
            .path()
            .join("meta-test/recipes-test/images/berth-test-multi.bb")
            .to_str()
            .unwrap(),
        "-c",
        "image_oci",
        "-f",
    ]);
    let log = std::fs::read_dir(bb.work("berth-test-multi").join("temp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("log.do_image_oci.")
        })
        .max_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .unwrap();
    let log = std::fs::read_to_string(log).unwrap();
    assert_eq!(log.matches("(cached)").count(), 3, "{again}\n{log}");

    // umoci unpacks it (as root, owners kept): the app layer has pseudo's owner.
    let bundle = scratch.path().join("bundle");
    ok(cmd("umoci", &["unpack", "--image"])
        .arg(format!("{}:1.0", multi.display()))
        .arg(&bundle));
    let data = std::fs::metadata(bundle.join("rootfs/opt/app/data")).unwrap();
    assert_eq!((data.uid(), data.gid()), (1234, 55));
    assert!(bundle.join("rootfs/bin/busybox").is_file());
    assert!(bundle.join("rootfs/etc/app.conf").is_file());
}

/// The image type `dcp` with dey-image-dcp's variables: a podman and an LXC package
/// from one image recipe, signed; `berth verify` checks both against the key, and
/// berthd installs and runs the podman one.
#[test]
fn bitbake_dcp_packages_verify_and_berthd_runs_the_podman_one() {
    require(&["podman"]);
    let scratch = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(scratch.path());
    let (key, public) = berth_e2e::signing::keygen(scratch.path(), "yocto");
    let id = "berth-e2e-yocto-dcp";
    let bb = Bitbake::new("");
    bb.recipe(
        "berth-test-dcp",
        &image_recipe(
            &rootfs,
            &format!(
                "inherit image berth-image-dcp\nIMAGE_FSTYPES = \"dcp\"\n\
                 DCP_NAME = \"{id}\"\nDCP_RUNTIMES = \"podman lxc\"\n\
                 CONTAINER_ARTIFACT_VERSION = \"1.2.0\"\n\
                 CONTAINER_DEVICE_TYPES_JSON = '[\"e2e\"]'\n\
                 CONTAINER_CREATE_ARGS_PODMAN = \"--network none\"\n\
                 CONTAINER_ARTIFACT_DESCRIPTION = \"built by BitBake\"\n\
                 DCP_SIGNING_KEY = \"{}\"\n\
                 OCI_IMAGE_ENTRYPOINT = '[\"/bin/sh\", \"-c\"]'\n\
                 OCI_IMAGE_ENTRYPOINT_ARGS = '[\"echo hello from bitbake; {}\"]'\n",
                key.display(),
                SERVE.replace('\'', "\\\"")
            ),
        ),
    );
    bb.task("berth-test-dcp", "image_complete");
    let deploy = bb.deploy();
    let podman = deploy.join(format!("{id}-podman-e2e.tar.gz"));
    let lxc = deploy.join(format!("{id}-lxc-e2e.tar.gz"));
    for package in [&podman, &lxc] {
        let out = berth_e2e::cli::berth_ok(&[
            "verify",
            "--json",
            "--trust",
            public.to_str().unwrap(),
            package.to_str().unwrap(),
        ]);
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["version"], "1.2.0", "{report}");
        assert_eq!(report["signature"]["status"], "valid", "{report}");
        assert_eq!(report["signature"]["trusted"], true, "{report}");
    }

    let d = berth_e2e::daemon::start(scratch.path());
    berth_e2e::install::ctl_ok(&d, &["install", podman.to_str().unwrap()]);
    berth_e2e::install::wait_for("the container's greeting", || {
        berth_e2e::install::ctl_ok(&d, &["logs", id]).contains("hello from bitbake")
    });
    berth_e2e::install::ctl_ok(&d, &["uninstall", id]);
    assert!(!berth_e2e::install::exists("container", id));
}

/// BUNDLED_CONTAINERS and CONTAINER_BUNDLES in a device image, no QEMU: a local
/// image recipe's output and a registry image pinned by CONTAINER_DIGESTS (fetched
/// by a berth-container-bundle recipe, its package's files in the rootfs) written
/// into podman's storage, which podman runs by name; units systemd-analyze verifies;
/// and for berthd devices a package placed by BERTH_PACKAGES. A registry image
/// without a digest, or with another one, fails its fetch naming the variable.
#[test]
fn bitbake_bundled_containers_fill_podman_storage_and_write_units() {
    require(&["podman", "systemd-analyze"]);
    let scratch = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(scratch.path());
    let registry = berth_e2e::images::Registry::start();
    let layout = scratch.path().join("remote");
    berth_e2e::cli::berth_ok(&[
        "image",
        "build",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--cmd",
        "echo from the registry",
        &format!("oci:{}:1", layout.display()),
    ]);
    let remote = format!("{}/berth-e2e/remote:1", registry.host);
    let copied: Value = serde_json::from_str(&berth_e2e::cli::berth_ok(&[
        "image",
        "copy",
        "--json",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{remote}"),
    ]))
    .unwrap();
    let digest = copied["digest"].as_str().unwrap();
    let key = remote.replace(['/', ':'], "_");

    let bb = Bitbake::new("");
    bb.recipe(
        "berth-test-app",
        &image_recipe(
            &rootfs,
            "inherit image berth-image-oci\nIMAGE_FSTYPES = \"oci\"\n\
             OCI_IMAGE_ENTRYPOINT = \"\"\nOCI_IMAGE_CMD = \"echo from the app recipe\"",
        ),
    );
    let bundle = |digest: &str| {
        format!(
            "SUMMARY = \"bundle\"\nLICENSE = \"MIT\"\ninherit berth-container-bundle\n\
             CONTAINER_PROFILE = \"podman\"\nCONTAINER_BUNDLES = \"{remote}:autostart\"\n{digest}\n"
        )
    };
    bb.recipe("berth-test-bundle", &bundle(""));
    let missing = bb.task_fails("berth-test-bundle", "install");
    assert!(
        missing.contains(&format!("CONTAINER_DIGESTS[{key}]")),
        "{missing}"
    );
    let other = format!("sha256:{}", "0".repeat(64));
    bb.recipe(
        "berth-test-bundle",
        &bundle(&format!("CONTAINER_DIGESTS[{key}] = \"{other}\"")),
    );
    let wrong = bb.task_fails("berth-test-bundle", "install");
    assert!(wrong.contains("berth image copy failed"), "{wrong}");
    bb.recipe(
        "berth-test-bundle",
        &bundle(&format!("CONTAINER_DIGESTS[{key}] = \"{digest}\"")),
    );
    bb.task("berth-test-bundle", "install");
    bb.task("berth-test-app", "image_complete");

    // The device image: the bundle package's files installed, as do_rootfs would.
    let device = scratch.path().join("device");
    std::fs::create_dir_all(&device).unwrap();
    ok(cmd("cp", &["-a"])
        .arg(bb.work("berth-test-bundle").join("image/."))
        .arg(&device));
    let pkg = berth_e2e::install::pack(
        scratch.path(),
        &berth_e2e::install::manifest("berth-e2e-yocto-pre", "1.0.0", "--network none", true),
        &ok_archive(scratch.path(), &layout),
    );
    bb.recipe(
        "berth-test-device",
        &image_recipe(
            &device,
            &format!(
                "inherit image berth-bundled-containers\nIMAGE_FSTYPES = \"tar\"\n\
                 BUNDLED_CONTAINERS = \"berth-test-app:podman:autostart\"\n\
                 BERTH_PACKAGES = \"{}\"\n",
                pkg.display()
            ),
        ),
    );
    bb.task("berth-test-device", "berth_containers");

    let quadlets = device.join("etc/containers/systemd");
    assert!(quadlets.join("berth-test-app.container").is_file());
    assert!(quadlets.join("remote.container").is_file());
    assert!(
        !device
            .join(format!("usr/share/container-bundles/podman/oci/{key}"))
            .exists(),
        "the layout is dropped once its image is in the storage"
    );
    assert!(device
        .join("var/lib/berth/preinstalled/berth-e2e-yocto-pre.tar.gz")
        .is_file());
    let graphroot = device.join("var/lib/containers/storage");
    let runroot = scratch.path().join("runroot");
    let podman = |args: &[&str]| {
        ok(cmd("podman", &["--storage-driver", "overlay", "--root"])
            .arg(&graphroot)
            .arg("--runroot")
            .arg(&runroot)
            .args(args))
    };
    assert!(
        podman(&["run", "--rm", "--network", "none", "berth-test-app:latest"])
            .contains("from the app recipe")
    );
    assert!(podman(&["run", "--rm", "--network", "none", &remote]).contains("from the registry"));
    podman(&["rmi", "-a", "-f"]);
    // The units as systemd reads them: the Quadlets turned into services by podman's
    // generator first, as at boot.
    let services = berth_e2e::units::verify_quadlets(&device, scratch.path());
    assert_eq!(services, ["berth-test-app.service", "remote.service"]);
}

/// `oci:` layout `layout:1` as a docker-archive, for a package.
fn ok_archive(dir: &Path, layout: &Path) -> PathBuf {
    let archive = dir.join("pre.tar");
    berth_e2e::cli::berth_ok(&[
        "image",
        "copy",
        "--quiet",
        &format!("oci:{}:1", layout.display()),
        &format!(
            "docker-archive:{}:localhost/berth-e2e-yocto-pre:1",
            archive.display()
        ),
    ]);
    archive
}

/// The RDK step: berth-platform-libs writes a device image's `<platform>_libs.json`
/// from its rootfs; the app image recipe's `dobby` type makes the bundle with the
/// platform template and that file, and the real BundleGen, run on the same OCI
/// output and search path, writes the same config.json.
#[test]
fn bitbake_dobby_bundle_matches_bundlegen_with_the_device_images_libs() {
    use berth_e2e::bundlegen::{
        bundlegen, config_differences, dobby_platform, read_config, succeeded,
    };
    let scratch = tempfile::tempdir().unwrap();
    // The device: the libraries its apps may share (this host's libc, as a target's).
    let device = scratch.path().join("device");
    let lib = device.join("usr/lib");
    std::fs::create_dir_all(&lib).unwrap();
    for name in ["libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"] {
        let host = Path::new("/lib/x86_64-linux-gnu").join(name);
        std::fs::copy(&host, lib.join(name)).unwrap();
    }
    let app_rootfs = busybox_rootfs(&scratch.path().join("app"));
    let app = serde_json::json!({"id": "com.example.yocto", "type": "application/vnd.rdk-app.dac.native",
        "version": "1.0.0", "description": "from BitBake", "priority": "optional", "graphics": false,
        "network": {"type": "open"}, "storage": {}, "resources": {"ram": "64M"}, "features": []});
    std::fs::write(app_rootfs.join("appmetadata.json"), app.to_string()).unwrap();
    let templates = scratch.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("berth_yocto.json"),
        dobby_platform("berth_yocto").to_string(),
    )
    .unwrap();

    let bb = Bitbake::new("RDK_PLATFORM = \"berth_yocto\"\n");
    bb.recipe(
        "berth-test-device",
        &image_recipe(
            &device,
            "inherit image berth-platform-libs\nIMAGE_FSTYPES = \"tar\"",
        ),
    );
    bb.task("berth-test-device", "berth_platform_libs");
    let libs = bb
        .imgdeploy("berth-test-device")
        .join("berth_yocto_libs.json");
    let listed: Value = serde_json::from_slice(&std::fs::read(&libs).unwrap()).unwrap();
    let libc = listed["libs"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .find(|l| l["name"] == "/usr/lib/libc.so.6")
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        libc["apiversions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "GLIBC_2.34"),
        "{libc}"
    );
    std::fs::copy(&libs, templates.join("berth_yocto_libs.json")).unwrap();

    bb.recipe(
        "berth-test-app",
        &image_recipe(
            &app_rootfs,
            &format!(
                "inherit image berth-image-bundle\nIMAGE_FSTYPES = \"dobby\"\n\
                 RDK_PLATFORM_SEARCHPATH = \"{}\"\nOCI_IMAGE_ENTRYPOINT = \"\"\n\
                 OCI_IMAGE_CMD = \"/bin/sh -c 'echo hello'\"",
                templates.display()
            ),
        ),
    );
    bb.task("berth-test-app", "image_dobby");
    let out = bb.imgdeploy("berth-test-app");
    let ours = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir() && p.to_string_lossy().ends_with("-bundle"))
        .expect("the bundle directory");
    assert!(Path::new(&format!("{}.tar.gz", ours.display())).is_file());
    let image = format!(
        "oci:{}:latest",
        out.join("berth-test-app-latest-oci").display()
    );
    let theirs = scratch.path().join("bundlegen-out");
    let o = bundlegen(&image, &theirs, "berth_yocto", &templates, &[]);
    succeeded(&o, "bundlegen");
    assert_eq!(
        config_differences(&read_config(&theirs), &read_config(&ours)),
        Vec::<String>::new()
    );
}
