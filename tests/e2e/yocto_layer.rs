//! meta-berth as a layer (issue 26): what parses with the real BitBake and oe-core
//! (every class, the task graph, the recipes' variables) and what keeps its recipes
//! buildable offline (the crate list). The classes' tasks run in `yocto`.

use berth_e2e::yocto::{image_recipe, Bitbake};
use berth_e2e::*;

/// What only parses here (a full build compiles a toolchain for hours): oe-core,
/// meta-berth and an image using every class parse; `bitbake -g` puts the berth
/// tasks where they belong (after do_rootfs / do_image, before do_image_complete,
/// after the images they read, after berth-native, which cargo builds), and
/// `bitbake -e -b` shows the berthd recipe's features and units and the berth command
/// line of the oci type.
#[test]
fn bitbake_parses_meta_berth_and_graphs_its_tasks() {
    let scratch = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(scratch.path());
    let bb = Bitbake::new("");
    bb.recipe(
        "berth-test-app",
        &image_recipe(
            &rootfs,
            "inherit image berth-image-oci\nIMAGE_FSTYPES = \"oci\"",
        ),
    );
    let graph_recipe = bb.recipe(
        "berth-test-graph",
        &image_recipe(
            &rootfs,
            "inherit core-image berth-image-dcp berth-image-bundle berth-bundled-containers berth-platform-libs\n\
             BERTH_PREBUILT = \"\"\nIMAGE_FSTYPES = \"oci dcp dobby\"\nIMAGE_INSTALL += \"berthd\"\n\
             RDK_PLATFORM = \"berth_graph\"\nRDK_PLATFORM_SEARCHPATH = \"/templates\"\n\
             OCI_LAYER_MODE = \"multi\"\nOCI_LAYERS = \"base:packages:busybox app:directories:/opt/app\"\n\
             BUNDLED_CONTAINERS = \"berth-test-app:podman:autostart\"",
        ),
    );
    bb.recipe(
        "berth-test-bundle",
        "SUMMARY = \"bundle\"\nLICENSE = \"MIT\"\ninherit berth-container-bundle\n\
         BERTH_PREBUILT = \"\"\nCONTAINER_BUNDLES = \"berth-test-app:autostart\"\n",
    );
    bb.ok(&["-g", "berth-test-graph", "berth-test-bundle"]);
    let dot = std::fs::read_to_string(bb.build_dir().join("task-depends.dot")).unwrap();
    let edge = |from: &str, to: &str| {
        let line = format!("\"{from}\" -> \"{to}\"");
        assert!(dot.contains(&line), "task-depends.dot has no {line}");
    };
    let g = "berth-test-graph";
    edge(&format!("{g}.do_image_oci"), &format!("{g}.do_image"));
    edge(
        &format!("{g}.do_image_oci"),
        "berth-native.do_populate_sysroot",
    );
    edge(&format!("{g}.do_image_dcp"), &format!("{g}.do_image_oci"));
    edge(&format!("{g}.do_image_dobby"), &format!("{g}.do_image_oci"));
    edge(
        &format!("{g}.do_image_complete"),
        &format!("{g}.do_image_dcp"),
    );
    edge(
        &format!("{g}.do_image_complete"),
        &format!("{g}.do_image_dobby"),
    );
    edge(
        &format!("{g}.do_berth_containers"),
        &format!("{g}.do_rootfs"),
    );
    edge(
        &format!("{g}.do_berth_containers"),
        "berth-test-app.do_image_complete",
    );
    edge(
        &format!("{g}.do_image"),
        &format!("{g}.do_berth_containers"),
    );
    edge(
        &format!("{g}.do_berth_platform_libs"),
        &format!("{g}.do_image"),
    );
    edge(
        &format!("{g}.do_image_complete"),
        &format!("{g}.do_berth_platform_libs"),
    );
    edge(
        "berth-test-bundle.do_install",
        "berth-test-app.do_image_complete",
    );
    edge(
        "berth-native.do_prepare_recipe_sysroot",
        "cargo-native.do_populate_sysroot",
    );
    assert!(
        dot.contains("\"berthd.do_compile\""),
        "berthd is in the image"
    );

    // berthd_<version>.bb, whatever the version.
    let berthd_recipe =
        std::fs::read_dir(berth_e2e::yocto::meta_berth().join("recipes-berth/berthd"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "bb"))
            .expect("meta-berth has berthd's recipe");
    let env = bb.env_of(&berthd_recipe);
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("bitbake -e of berthd's recipe sets no {name}"))
            .trim_matches('"')
            .to_string()
    };
    assert_eq!(
        var("PACKAGECONFIG_CONFARGS").trim(),
        "--features berthd/device-registry"
    );
    assert_eq!(
        var("SYSTEMD_SERVICE:berthd"),
        "berthd.service berthd-shutdown.service"
    );
    assert!(var("CARGO_BUILD_FLAGS").contains("--package berthd --package berthctl"));
    assert_eq!(var("CONFFILES:berthd"), "/etc/berth/berthd.conf");

    let env = bb.env_of(&graph_recipe);
    let start = env
        .find("do_image_oci() {")
        .expect("the do_image_oci function");
    let body = &env[start..start + env[start..].find("\n}").unwrap()];
    assert!(
        body.contains("image build --rootfs")
            && body.contains("--layer base:packages:busybox --layer app:directories:/opt/app")
            && body.contains("--arch amd64")
            && body.contains("oci-layer-cache/qemux86-64"),
        "{body}"
    );
}

/// The recipes build offline (`cargo --frozen`) only while berth-crates.inc lists
/// every crate of Cargo.lock.
#[test]
fn the_layers_crate_list_is_what_cargo_lock_gives() {
    let script = berth_e2e::yocto::meta_berth().join("scripts/update-crates-inc");
    ok(cmd("python3", &[script.to_str().unwrap(), "--check"]));
}
