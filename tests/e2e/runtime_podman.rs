//! The podman driver against real podman: load, create, start, state, stop, remove;
//! create_args arrive as literal argv.

use berth_e2e::*;
use berth_runtime::{split_create_args, ImageStore, Podman, Runtime, RuntimeError, SystemRunner};
use std::sync::Arc;
use std::time::Duration;

fn driver() -> Podman {
    Podman::new(
        Arc::new(SystemRunner),
        Duration::from_secs(60),
        Duration::from_secs(300),
    )
}

#[test]
fn podman_driver_runs_a_container_through_its_life() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let image = TestImage::build(dir.path(), "localhost/berth-e2e-driver:1", SERVE);
    let archive = dir.path().join("image.tar");
    image.save("docker-archive", &archive);
    image.remove();

    let p = driver();
    let id = "berth-e2e-driver";
    let _ = p.remove(id);
    assert_eq!(p.load_image(&archive).unwrap(), vec![image.tag.clone()]);
    p.create(id, &split_create_args(&image.tag).unwrap())
        .unwrap();
    assert_eq!(p.state(id).unwrap().status, "created");
    p.start(id).unwrap();
    let running = p.state(id).unwrap();
    assert!(running.running && running.pid.is_some(), "{running:?}");
    // podman's own restart policy is off: berthd is the only one restarting.
    let policy = ok(&mut cmd(
        "podman",
        &[
            "inspect",
            "--format",
            "{{.HostConfig.RestartPolicy.Name}}",
            id,
        ],
    ));
    assert!(
        matches!(policy.trim(), "no" | ""),
        "restart policy {policy:?}"
    );

    p.stop(id, Duration::from_secs(1)).unwrap();
    let stopped = p.state(id).unwrap();
    assert!(
        !stopped.running && stopped.exit_code.is_some(),
        "{stopped:?}"
    );
    p.remove(id).unwrap();
    assert!(matches!(p.state(id), Err(RuntimeError::NoSuchContainer(_))));
    assert!(matches!(p.start(id), Err(RuntimeError::NoSuchContainer(_))));
    p.remove_image(&image.tag).unwrap();
}

#[test]
fn shell_tricks_in_create_args_arrive_as_literal_argv() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let image = TestImage::build(dir.path(), "localhost/berth-e2e-argv:1", "true");
    let p = driver();
    let id = "berth-e2e-argv";
    let _ = p.remove(id);
    let canary = dir.path().join("pwned");
    let text = format!(
        r#"--env 'X=$(touch {c})' {img} sh -c 'echo "$X"; echo ; touch {c}-not'"#,
        c = canary.display(),
        img = image.tag
    );
    p.create(id, &split_create_args(&text).unwrap()).unwrap();
    p.start(id).unwrap();
    let _ = ok(&mut cmd("podman", &["wait", id]));
    let logs = ok(&mut cmd("podman", &["logs", id]));
    assert_eq!(
        logs.lines().next(),
        Some(format!("$(touch {})", canary.display()).as_str())
    );
    // Nothing ran on the host: the canary does not exist outside the container.
    assert!(!canary.exists());
    p.remove(id).unwrap();
}

/// Images left behind by the streaming loader's runs labelled `label`.
fn leftover_load_images(label: &str) -> Vec<String> {
    berth_e2e::install::image_names("podman")
        .into_iter()
        .filter(|l| l.contains(&format!("berth-load/{label}/")))
        .collect()
}

#[test]
fn a_docker_archive_stream_is_loaded_layer_by_layer_with_its_id_and_names() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let image = TestImage::build(dir.path(), "localhost/berth-e2e-stream:1", "true");
    image.add_layer(dir.path(), "second", b"second layer\n");
    let id = image.id();
    let archive = dir.path().join("image.tar");
    image.save("docker-archive", &archive);
    image.remove();

    let staging = tempfile::tempdir().unwrap();
    // A pipe, not a file: the loader never seeks.
    let mut input = std::process::Command::new("cat")
        .arg(&archive)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let loaded = driver()
        .load_stream(input.stdout.as_mut().unwrap(), staging.path(), "e2e-stream")
        .unwrap();
    input.wait().unwrap();
    // Until the caller commits, the new image keeps its transient name.
    let transient = loaded[0].transient_name.clone().unwrap();
    assert!(berth_runtime::stream_load::is_transient_name(&transient));
    driver().untag(&loaded[0].id, &transient).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, id, "the image keeps its id (its config)");
    assert_eq!(loaded[0].references, vec![image.tag.clone()]);
    let out = ok(&mut cmd(
        "podman",
        &["run", "--rm", &image.tag, "cat", "/etc/second"],
    ));
    assert_eq!(out, "second layer\n");
    // Layers were streamed: nothing spooled, no vehicle image left behind.
    assert!(!staging.path().join("tree").exists());
    assert_eq!(leftover_load_images("e2e-stream"), Vec::<String>::new());
}

#[test]
fn an_oci_archive_stream_is_loaded_with_its_names() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let image = TestImage::build(dir.path(), "localhost/berth-e2e-stream-oci:1", "true");
    let archive = dir.path().join("image.tar");
    image.save("oci-archive", &archive);
    image.remove();
    let staging = tempfile::tempdir().unwrap();
    let loaded = driver()
        .load_stream(
            &mut std::fs::File::open(&archive).unwrap(),
            staging.path(),
            "e2e-oci",
        )
        .unwrap();
    assert_eq!(loaded[0].references, vec![image.tag.clone()]);
    ok(&mut cmd("podman", &["image", "exists", &image.tag]));
    driver()
        .untag(&loaded[0].id, loaded[0].transient_name.as_ref().unwrap())
        .unwrap();
    assert_eq!(leftover_load_images("e2e-oci"), Vec::<String>::new());
}

#[test]
fn a_layer_that_lies_about_its_digest_is_refused_and_nothing_stays() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let image = TestImage::build(dir.path(), "localhost/berth-e2e-stream-lie:1", "true");
    image.add_layer(dir.path(), "lie", b"the truth\n");
    let archive = dir.path().join("image.tar");
    image.save("docker-archive", &archive);
    image.remove();
    // Rewrite the archive with the second layer's bytes changed under its name.
    let mut out = tar::Builder::new(Vec::new());
    let mut src = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    let manifest: serde_json::Value = {
        let mut a = tar::Archive::new(std::fs::File::open(&archive).unwrap());
        let mut e = a
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.path().unwrap().to_str() == Some("manifest.json"))
            .unwrap();
        serde_json::from_reader(&mut e).unwrap()
    };
    let second = manifest[0]["Layers"][1].as_str().unwrap().to_string();
    for entry in src.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if entry.path().unwrap().to_str() == Some(second.as_str()) {
            let at = data.windows(9).position(|w| w == b"the truth").unwrap();
            data[at..at + 9].copy_from_slice(b"a lie!!!!");
        }
        out.append(&header, &data[..]).unwrap();
    }
    let bytes = out.into_inner().unwrap();
    let staging = tempfile::tempdir().unwrap();
    let err = driver()
        .load_stream(&mut &bytes[..], staging.path(), "e2e-lie")
        .unwrap_err();
    assert!(err.to_string().contains("pull"), "{err}");
    assert!(
        run(&mut cmd("podman", &["image", "exists", &image.tag]))
            .status
            .code()
            == Some(1)
    );
    assert_eq!(leftover_load_images("e2e-lie"), Vec::<String>::new());
}
