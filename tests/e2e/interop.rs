//! Packages move both ways between berth and the DCP tools: berth's packages read
//! with GNU tar, sha256sum and Python's tarfile; packages written the way Digi's
//! generator writes them (Python tarfile, sorted, `tar.add` of a staging directory)
//! verify with berth.

use berth_e2e::*;
use berth_package::testkit::{docker_archive, lxc_bundle, source_manifest};
use std::path::Path;

fn berth_pack(dir: &Path, runtime: &str, payload_name: &str, payload: &[u8]) -> String {
    let m = dir.join("manifest.json");
    write_manifest(&m, &source_manifest(runtime));
    let p = dir.join(payload_name);
    std::fs::write(&p, payload).unwrap();
    berth_e2e::cli::berth_pack(&m, &p, &dir.join("out"), &[])
        .display()
        .to_string()
}

#[test]
fn gnu_tar_lists_dcp_order_and_sha256sum_checks_the_payload() {
    require(&["tar", "sha256sum"]);
    let dir = tempfile::tempdir().unwrap();
    let pkg = berth_pack(
        dir.path(),
        "podman",
        "image.tar",
        &docker_archive("localhost/x:1", &[("a", b"a")]),
    );
    let listing = ok(&mut cmd("tar", &["-tzf", &pkg]));
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        [
            "checksums/",
            "checksums/sha256sums.txt",
            "manifest.json",
            "metadata/",
            "metadata/README.txt",
            "metadata/changelog.txt",
            "payload/",
            "payload/image.tar"
        ]
    );
    let x = dir.path().join("x");
    std::fs::create_dir_all(&x).unwrap();
    ok(&mut cmd("tar", &["-xzf", &pkg, "-C", x.to_str().unwrap()]));
    ok(cmd("sha256sum", &["-c", "checksums/sha256sums.txt"]).current_dir(&x));
    // gzip -t agrees the two-member stream is sound.
    ok(&mut cmd("gzip", &["-t", &pkg]));
}

const PY_READ: &str = r#"
import hashlib, json, sys, tarfile
with tarfile.open(sys.argv[1], "r:gz") as tar:
    names = tar.getnames()
    manifest = json.load(tar.extractfile("manifest.json"))
    sums = tar.extractfile("checksums/sha256sums.txt").read().decode()
    digest, path = sums.split()
    data = tar.extractfile(path).read()
    assert hashlib.sha256(data).hexdigest() == digest
    assert manifest["digest"] == "sha256:" + digest
    assert manifest["size_bytes"] == len(data)
    print(json.dumps({"names": names, "package_id": manifest["package_id"]}))
"#;

#[test]
fn python_tarfile_reads_berth_packages_like_digis_tools_do() {
    require(&["python3"]);
    let dir = tempfile::tempdir().unwrap();
    for (runtime, name, payload) in [
        (
            "podman",
            "image.tar",
            docker_archive("localhost/x:1", &[("a", b"a")]),
        ),
        ("lxc", "demo.tar.gz", lxc_bundle(Some("demo"))),
    ] {
        let sub = dir.path().join(runtime);
        std::fs::create_dir_all(&sub).unwrap();
        let pkg = berth_pack(&sub, runtime, name, &payload);
        let out: serde_json::Value =
            serde_json::from_str(&ok(&mut cmd("python3", &["-c", PY_READ, &pkg]))).unwrap();
        assert_eq!(out["package_id"], "demo");
        assert_eq!(out["names"][7], format!("payload/{name}").as_str());
    }
}

/// Writes a package the way Digi's generate-dcp.py lays it out: a staging
/// directory, `tar.add` of its sorted top-level entries, "w:gz".
const PY_WRITE: &str = r#"
import hashlib, json, os, sys, tarfile, time
stage, payload_path, runtime, out = sys.argv[1:5]
os.makedirs(f"{stage}/payload"); os.makedirs(f"{stage}/checksums"); os.makedirs(f"{stage}/metadata")
name = "image.tar" if runtime == "podman" else os.path.basename(payload_path)
data = open(payload_path, "rb").read()
open(f"{stage}/payload/{name}", "wb").write(data)
digest = hashlib.sha256(data).hexdigest()
manifest = {
    "package_id": "digi-made-lqx7y2", "version": "2.0", "runtime": runtime,
    "artifact_type": "podman-image-tar" if runtime == "podman" else "lxc-bundle",
    "registration_defaults": {"autostart": False, "monitor": True,
        "drm": {"enabled": True, "stats_sample_interval_s": 30, "stats_list_of_metrics": ["cpu", "mem"]},
        "restart": {"enabled": True, "max_retries": 3, "window": 60, "retry_delay": 2}},
    "created_at": "2026-01-02T03:04:05.678Z", "digest": "sha256:" + digest,
    "device_types": ["ccmp25-dvk"], "firmware_versions": ">=25.01", "size_bytes": len(data),
    "build_id": "abc", "description": "made like generate-dcp.py", "labels": {"vendor": "digi"},
}
if runtime == "podman":
    manifest["create_args"] = "--name digi localhost/digi:1"
open(f"{stage}/manifest.json", "w").write(json.dumps(manifest, indent=2) + "\n")
open(f"{stage}/metadata/README.txt", "w").write("readme\n")
open(f"{stage}/metadata/changelog.txt", "w").write("changes\n")
open(f"{stage}/checksums/sha256sums.txt", "w").write(f"{digest}  payload/{name}\n")
with tarfile.open(out, "w:gz") as tar:
    for item in sorted(os.listdir(stage)):
        tar.add(f"{stage}/{item}", arcname=item)
"#;

#[test]
fn packages_written_like_digis_generator_verify_with_berth() {
    require(&["python3"]);
    let dir = tempfile::tempdir().unwrap();
    for (runtime, name, payload) in [
        (
            "podman",
            "image.tar",
            docker_archive("localhost/digi:1", &[("a", b"a")]),
        ),
        ("lxc", "webkit-example.tar.gz", lxc_bundle(None)),
    ] {
        let sub = dir.path().join(runtime);
        std::fs::create_dir_all(&sub).unwrap();
        let payload_path = sub.join(name);
        std::fs::write(&payload_path, &payload).unwrap();
        let pkg = sub.join("digi.tar.gz");
        ok(&mut cmd(
            "python3",
            &[
                "-c",
                PY_WRITE,
                sub.join("stage").to_str().unwrap(),
                payload_path.to_str().unwrap(),
                runtime,
                pkg.to_str().unwrap(),
            ],
        ));
        let report: serde_json::Value = serde_json::from_str(&ok(cmd(
            berth_bin().to_str().unwrap(),
            &["inspect", "--json"],
        )
        .arg(&pkg)))
        .unwrap();
        assert_eq!(report["package_id"], "digi-made-lqx7y2");
        assert_eq!(report["payload"]["name"], name);
        assert_eq!(
            report["manifest"]["registration_defaults"]["drm"]["stats_sample_interval_s"],
            30
        );
    }
}
