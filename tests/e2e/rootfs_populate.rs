//! `berth rootfs install --populate-storage`: images written into a rootfs's podman
//! storage and Docker data root at build time, read by podman and by a dockerd
//! pointed at them on this host; an image whose config names another architecture
//! too (nothing of it runs at build time);
//! berthd's first start on that storage installs without copying a layer.

use berth_e2e::cli::berth_ok;
use berth_e2e::daemon::start_with_env;
use berth_e2e::images::{busybox_layers, put_image, tag_manifest, LayerTar};
use berth_e2e::install::{ctl_ok, wait_for};
use berth_e2e::*;
use berth_image::Layout;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A package (runtime `runtime`) of a three-layer busybox image for `arch` whose
/// top layer deletes /app/config (a whiteout) and adds /app/top.
fn package(dir: &Path, layers: &[Vec<u8>], name: &str, runtime: &str, arch: &str) -> PathBuf {
    let layout_dir = dir.join(format!("layout-{arch}"));
    let layout = Layout::create(&layout_dir).unwrap();
    let run = json!({"Cmd": ["/bin/sh", "-c", format!("cat /app/top; {SERVE}")]});
    let (digest, size) = put_image(&layout, layers, true, arch, None, run);
    tag_manifest(&layout, "1", &digest, size);
    let archive = dir.join(format!("{arch}-{runtime}.tar"));
    berth_ok(&[
        "image",
        "copy",
        "--quiet",
        &format!("oci:{}:1", layout_dir.display()),
        &format!("docker-archive:{}:{name}", archive.display()),
    ]);
    let id = format!("berth-e2e-populate-{runtime}-{arch}");
    let m = dir.join(format!("{id}.json"));
    write_manifest(
        &m,
        &json!({"package_id": id, "version": "1.0.0", "runtime": runtime, "create_args": "--network none",
            "device_types": ["e2e"],
            "registration_defaults": {"autostart": true, "monitor": true,
                "restart": {"enabled": false, "max_retries": 0, "window": 1, "retry_delay": 0}}}),
    );
    berth_e2e::cli::berth_pack(&m, &archive, &dir.join(format!("pkg-{id}")), &[])
}

fn layers(dir: &Path) -> Vec<Vec<u8>> {
    let mut layers = busybox_layers(dir);
    layers.push(
        LayerTar::new()
            .file("app/.wh.config", b"", 0o644)
            .file("app/top", b"from the top layer\n", 0o644)
            .finish(),
    );
    layers
}

fn populate(root: &Path, pkg: &Path) -> Value {
    let out = berth_ok(&[
        "rootfs",
        "install",
        "--rootfs",
        root.to_str().unwrap(),
        "--populate-storage",
        "--json",
        pkg.to_str().unwrap(),
    ]);
    serde_json::from_str::<Value>(&out).unwrap()[0]["populated"].clone()
}

/// The command a container of the test image runs to show /app.
const SHOW_APP: [&str; 3] = ["sh", "-c", "cat /app/top; ls /app"];

/// The container ran `SHOW_APP` on all three layers: the top layer's file is there,
/// the base's too, and the whiteout hid /app/config.
fn assert_top_layer_applied(ran: std::process::Output) {
    let out = String::from_utf8_lossy(&ran.stdout).into_owned();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(
        out.contains("from the top layer") && out.contains("run.sh"),
        "{out}"
    );
    assert!(
        !out.contains("config"),
        "the whiteout did not hide /app/config: {out}"
    );
}

/// berth copies the engine's saved archive, checking every layer against the
/// config's diff_ids: the engine re-assembled the original layer bytes.
fn assert_layers_are_whole(saved: &Path, dir: &Path) {
    berth_ok(&[
        "image",
        "copy",
        "--quiet",
        &format!("docker-archive:{}", saved.display()),
        &format!("oci:{}:saved", dir.join("saved-layout").display()),
    ]);
}

fn podman_on(graphroot: &Path, runroot: &Path, args: &[&str]) -> std::process::Output {
    run(cmd("podman", &["--storage-driver", "overlay", "--root"])
        .arg(graphroot)
        .arg("--runroot")
        .arg(runroot)
        .args(args))
}

fn layer_ids(graphroot: &Path) -> Vec<String> {
    let layers: Value = serde_json::from_slice(
        &std::fs::read(graphroot.join("overlay-layers/layers.json")).unwrap(),
    )
    .unwrap();
    let mut ids: Vec<String> = layers
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn populated_podman_storage_is_read_by_podman_and_used_by_berthd_without_a_load() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("etc/containers")).unwrap();
    // The device keeps its images elsewhere than the default: storage.conf says so.
    std::fs::write(
        root.join("etc/containers/storage.conf"),
        "[storage]\ndriver = \"overlay\"\ngraphroot = \"/data/containers\"\nrunroot = \"/run/containers/storage\"\n",
    )
    .unwrap();
    let name = "localhost/berth-populate:1";
    let layers = layers(dir.path());
    let amd64 = package(dir.path(), &layers, name, "podman", "amd64");
    let arm64 = package(
        dir.path(),
        &layers,
        "localhost/berth-populate-arm:1",
        "podman",
        "arm64",
    );
    let populated = populate(&root, &amd64);
    assert_eq!(populated["root"], "/data/containers");
    assert_eq!(populated["layers"], 3);
    let foreign = populate(&root, &arm64);
    // The busybox layers are the same bytes: only the arm64 image's config differs.
    assert_eq!(foreign["layers_written"], 0, "{foreign}");
    let graphroot = root.join("data/containers");
    let runroot = dir.path().join("runroot");

    // podman reads what berth wrote: both images listed, the amd64 one runs with
    // its whiteout applied.
    let images = podman_on(
        &graphroot,
        &runroot,
        &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
    );
    let listed = String::from_utf8_lossy(&images.stdout).into_owned();
    assert!(
        images.status.success(),
        "{}",
        String::from_utf8_lossy(&images.stderr)
    );
    assert!(
        listed.contains(name) && listed.contains("localhost/berth-populate-arm:1"),
        "{listed}"
    );
    let arch = podman_on(
        &graphroot,
        &runroot,
        &[
            "image",
            "inspect",
            "--format",
            "{{.Architecture}}",
            "localhost/berth-populate-arm:1",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&arch.stdout).trim(), "arm64");
    let id = podman_on(
        &graphroot,
        &runroot,
        &["image", "inspect", "--format", "{{.Id}}", name],
    );
    assert_eq!(
        format!("sha256:{}", String::from_utf8_lossy(&id.stdout).trim()),
        populated["image_id"].as_str().unwrap()
    );
    let mut run_args = vec!["run", "--rm", "--network", "none", name];
    run_args.extend(SHOW_APP);
    assert_top_layer_applied(podman_on(&graphroot, &runroot, &run_args));
    // podman save re-assembles each layer from its files and tar-split: the exact
    // layer bytes (diff_ids) come back.
    let saved = dir.path().join("saved.tar");
    let out = podman_on(
        &graphroot,
        &runroot,
        &[
            "save",
            "--format",
            "docker-archive",
            "-o",
            saved.to_str().unwrap(),
            name,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_layers_are_whole(&saved, dir.path());
    let before = layer_ids(&graphroot);

    // berthd on the device's storage (podman told where by its storage.conf) at
    // first start: the package installs and runs; no layer was added.
    let host_conf = dir.path().join("host-storage.conf");
    std::fs::write(
        &host_conf,
        format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            graphroot.display(),
            runroot.display()
        ),
    )
    .unwrap();
    let work = root.join("var/lib/berth");
    let d = start_with_env(
        dir.path(),
        json!({"service": {"working_path": work, "monitor_interval": 5}}),
        &[("CONTAINERS_STORAGE_CONF", host_conf.to_str().unwrap())],
    );
    let id = "berth-e2e-populate-podman-amd64";
    wait_for("the pre-installed container running", || {
        let list: Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
        list.as_array().unwrap().iter().any(|c| c["id"] == id)
            && ctl_ok(&d, &["status", id]).contains("running")
    });
    // Every layer added since is a container's own (read-write) layer.
    let containers: Value = serde_json::from_slice(
        &std::fs::read(graphroot.join("overlay-containers/containers.json")).unwrap(),
    )
    .unwrap();
    let container_layers: Vec<&str> = containers
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["layer"].as_str())
        .collect();
    for layer in layer_ids(&graphroot) {
        assert!(
            before.contains(&layer) || container_layers.contains(&layer.as_str()),
            "berthd's install wrote image layer {layer} again"
        );
    }
    // The "arm64" image carries this host's busybox (its config says arm64; nothing
    // at build time looked inside): it installs from the populated storage too.
    wait_for("the arm64-labelled package installed", || {
        std::fs::read_to_string(dir.path().join("berthd.log"))
            .unwrap()
            .contains("pre-installed berth-e2e-populate-podman-arm64 1.0.0")
    });
    ctl_ok(&d, &["uninstall", "berth-e2e-populate-podman-arm64"]);
    ctl_ok(&d, &["uninstall", id]);
    drop(d);
    let _ = podman_on(&graphroot, &runroot, &["rm", "-af"]);
}

struct Dockerd {
    child: Child,
    socket: PathBuf,
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// A second dockerd on `data_root`, apart from the tests' own, in a network namespace
/// of its own: a dockerd started with `--bridge none` deletes the interface `docker0`
/// from its namespace, which on the host is the machine's own dockerd's bridge (issue
/// 28). `unshare` execs dockerd, so the child's pid is dockerd's; its unix socket is a
/// path, reachable from any network namespace.
fn dockerd_on(data_root: &Path, dir: &Path) -> Dockerd {
    require(&["dockerd", "docker", "unshare"]);
    let socket = dir.join("docker.sock");
    let child = Command::new("unshare")
        .args(["--net", "--", "dockerd"])
        .arg("--data-root")
        .arg(data_root)
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("dockerd.pid"))
        .arg("--host")
        .arg(format!("unix://{}", socket.display()))
        .args([
            "--bridge",
            "none",
            "--iptables=false",
            "--ip-masq=false",
            "--storage-driver",
            "overlay2",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("dockerd.log")).unwrap())
        .spawn()
        .unwrap();
    let d = Dockerd { child, socket };
    wait_for("the second dockerd answering", || {
        docker_on(&d, &["info"]).status.success()
    });
    d
}

fn docker_on(d: &Dockerd, args: &[&str]) -> std::process::Output {
    run(cmd("docker", &["-H"])
        .arg(format!("unix://{}", d.socket.display()))
        .args(args))
}

#[test]
fn a_populated_docker_data_root_is_read_by_dockerd() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    let name = "localhost/berth-populate-docker:1";
    let pkg = package(dir.path(), &layers(dir.path()), name, "docker", "amd64");
    let populated = populate(&root, &pkg);
    assert_eq!(populated["store"], "docker");
    assert_eq!(populated["layers_written"], 3);
    let scratch = tempfile::tempdir().unwrap();
    let d = dockerd_on(&root.join("var/lib/docker"), scratch.path());
    let id = docker_on(&d, &["image", "inspect", "--format", "{{.Id}}", name]);
    assert!(
        id.status.success(),
        "{}",
        String::from_utf8_lossy(&id.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&id.stdout).trim(),
        populated["image_id"].as_str().unwrap()
    );
    let mut run_args = vec!["run", "--rm", "--network", "none", name];
    run_args.extend(SHOW_APP);
    assert_top_layer_applied(docker_on(&d, &run_args));
    // docker save reads the layers back: the image is whole.
    let saved = scratch.path().join("saved.tar");
    let out = docker_on(&d, &["save", "-o", saved.to_str().unwrap(), name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_layers_are_whole(&saved, scratch.path());
}

/// Issue 28: the populate test's second dockerd (`--bridge none`) deleted the host's
/// `docker0`, and every container of the machine's own dockerd on its default bridge
/// network then failed to start until that dockerd was restarted.
#[test]
fn a_second_dockerd_leaves_the_host_dockerds_default_bridge_working() {
    require_docker();
    let dir = tempfile::tempdir().unwrap();
    let tarball = rootfs_tar(dir.path(), &busybox_rootfs(dir.path()));
    let tag = "localhost/berth-e2e-bridge:1";
    ok(cmd("docker", &["import", tarball.to_str().unwrap(), tag]));
    let run_on_default_bridge = || run(cmd("docker", &["run", "--rm", tag, "/bin/true"]));
    let before = run_on_default_bridge();
    assert!(
        before.status.success(),
        "the host's dockerd cannot run a container on its default bridge before the test: {}",
        String::from_utf8_lossy(&before.stderr)
    );
    let scratch = tempfile::tempdir().unwrap();
    drop(dockerd_on(&scratch.path().join("data"), scratch.path()));
    let after = run_on_default_bridge();
    let _ = run(cmd("docker", &["rmi", "-f", tag]));
    assert!(
        after.status.success(),
        "a container on the default bridge fails after the second dockerd ran: {}",
        String::from_utf8_lossy(&after.stderr)
    );
}

/// Issue 21, finding 2: only the storage root was resolved inside the rootfs; names
/// below it followed the rootfs's symlinks on the build host, and a `layers.json`
/// that linked to a host file had that file's JSON copied into the device image.
/// Here every store path of both engines is a symlink out of the rootfs.
#[test]
fn populate_follows_the_rootfs_symlinks_inside_it_never_on_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    for d in ["l", "images", "layerdb", "imagedb"] {
        std::fs::create_dir_all(outside.join(d)).unwrap();
    }
    std::fs::write(outside.join("host.json"), r#"[{"id": "host-secret"}]"#).unwrap();
    std::fs::write(
        outside.join("repos.json"),
        r#"{"Repositories": {"host-secret": {}}}"#,
    )
    .unwrap();
    let before = berth_e2e::hostile::sentinel(&outside);
    let o = outside.display().to_string();
    let up = "../../../../../../../../../..";
    let root = dir.path().join("rootfs");
    let link = |inside: &str, target: String| {
        let path = root.join(inside);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
    };
    let small = vec![
        LayerTar::new().file("a", b"a\n", 0o644).finish(),
        LayerTar::new().file("b", b"b\n", 0o644).finish(),
    ];
    let storage = "var/lib/containers/storage";
    link(
        &format!("{storage}/overlay-layers/layers.json"),
        format!("{o}/host.json"),
    );
    link(&format!("{storage}/overlay/l"), format!("{o}/l"));
    link(
        &format!("{storage}/overlay-images"),
        format!("{up}{o}/images"),
    );
    let docker = "var/lib/docker/image/overlay2";
    let first_chain = berth_image::Digest::of(&small[0]).hex().to_string();
    link(
        &format!("{docker}/layerdb/sha256/{first_chain}"),
        format!("{o}/layerdb"),
    );
    link(&format!("{docker}/imagedb"), format!("{up}{o}/imagedb"));
    link(
        &format!("{docker}/repositories.json"),
        format!("{o}/repos.json"),
    );
    for runtime in ["podman", "docker"] {
        let work = dir.path().join(runtime);
        std::fs::create_dir_all(&work).unwrap();
        let pkg = package(
            &work,
            &small,
            "localhost/berth-populate-links:1",
            runtime,
            "amd64",
        );
        let populated = populate(&root, &pkg);
        assert_eq!(populated["layers_written"], 2, "{runtime}");
    }
    assert_eq!(
        berth_e2e::hostile::sentinel(&outside),
        before,
        "nothing outside the rootfs changed"
    );
    // What the links named was made inside the rootfs, and no host JSON came in.
    let layers =
        std::fs::read_to_string(root.join(storage).join("overlay-layers/layers.json")).unwrap();
    assert!(!layers.contains("host-secret"), "{layers}");
    let inside = root.join(outside.strip_prefix("/").unwrap());
    assert!(inside.join("images/images.json").is_file());
    assert_eq!(inside.join("l").read_dir().unwrap().count(), 2);
    assert!(inside.join("layerdb/cache-id").is_file());
    let repos = std::fs::read_to_string(root.join(docker).join("repositories.json")).unwrap();
    assert!(!repos.contains("host-secret"), "{repos}");
}

/// Issue 21: the hostile layer corpus (`image_unpack::hostile_layers`) written into
/// podman's and Docker's storage: refused or written inside the rootfs, never
/// anything outside it.
#[test]
fn hostile_layers_populated_change_nothing_outside_the_rootfs() {
    use berth_e2e::hostile::{hostile_layers, make_sentinel, sentinel};
    let dir = tempfile::tempdir().unwrap();
    let outside = make_sentinel(dir.path());
    let before = sentinel(&outside);
    let base = LayerTar::new()
        .dir("etc", 0o755)
        .file("etc/hostname", b"box\n", 0o644)
        .finish();
    for runtime in ["podman", "docker"] {
        for (name, layer) in hostile_layers(&outside.display().to_string()) {
            let work = dir.path().join(format!("{runtime}-{name}"));
            let root = work.join("rootfs");
            std::fs::create_dir_all(&root).unwrap();
            let pkg = package(
                &work,
                &[base.clone(), layer],
                "localhost/corpus:1",
                runtime,
                "amd64",
            );
            let out = berth_e2e::cli::berth(&[
                "rootfs",
                "install",
                "--rootfs",
                root.to_str().unwrap(),
                "--populate-storage",
                pkg.to_str().unwrap(),
            ]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            match berth_e2e::hostile::refusal(name) {
                None => assert_eq!(out.status.code(), Some(0), "{runtime} {name}: {stderr}"),
                Some(rule) => {
                    assert_eq!(out.status.code(), Some(2), "{runtime} {name}: {stderr}");
                    assert!(
                        stderr.contains("layer sha256:") && stderr.contains(rule),
                        "{runtime} {name}: names the layer and {rule:?}: {stderr}"
                    );
                }
            }
            assert_eq!(
                sentinel(&outside),
                before,
                "{runtime} {name}: outside changed"
            );
        }
    }
}

/// `berth rootfs populate` (devices without berthd, meta-virtualization's
/// BUNDLED_CONTAINERS): an OCI layout straight into podman's storage and Docker's
/// data root of one rootfs, each engine running it by the short name a unit names.
#[test]
fn rootfs_populate_writes_an_image_podman_and_dockerd_run_by_its_short_name() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    let layout_dir = dir.path().join("layout");
    let layout = Layout::create(&layout_dir).unwrap();
    let (digest, size) = put_image(
        &layout,
        &layers(dir.path()),
        true,
        "amd64",
        None,
        json!({"Cmd": ["/bin/sh"]}),
    );
    tag_manifest(&layout, "1", &digest, size);
    let image = format!("oci:{}:1", layout_dir.display());
    let rootfs = root.to_str().unwrap();
    let mut written = Vec::new();
    for engine in ["podman", "docker"] {
        let out = berth_ok(&[
            "rootfs",
            "populate",
            "--json",
            "--rootfs",
            rootfs,
            "--engine",
            engine,
            "--name",
            "berth-populate-image:1",
            &image,
        ]);
        written.push(serde_json::from_str::<Value>(&out).unwrap());
    }
    assert_eq!(
        written[0]["names"],
        json!(["localhost/berth-populate-image:1"])
    );
    assert_eq!(written[1]["names"], json!(["berth-populate-image:1"]));
    assert_eq!(written[0]["image_id"], written[1]["image_id"]);
    let runroot = dir.path().join("runroot");
    let graphroot = root.join("var/lib/containers/storage");
    let mut run_args = vec!["run", "--rm", "--network", "none", "berth-populate-image:1"];
    run_args.extend(SHOW_APP);
    assert_top_layer_applied(podman_on(&graphroot, &runroot, &run_args));
    let out = podman_on(&graphroot, &runroot, &["rmi", "-a", "-f"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scratch = tempfile::tempdir().unwrap();
    let d = dockerd_on(&root.join("var/lib/docker"), scratch.path());
    assert_top_layer_applied(docker_on(&d, &run_args));
    // A registry image is refused: it is copied, pinned by digest, first.
    let refused = berth_e2e::cli::berth(&[
        "rootfs",
        "populate",
        "--rootfs",
        rootfs,
        "--engine",
        "podman",
        "--name",
        "x",
        "docker://127.0.0.1:1/x:1",
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("berth image copy"), "{stderr}");
}
