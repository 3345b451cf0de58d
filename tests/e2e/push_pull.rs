//! `berth push` / `berth pull`: packages as OCI artifacts in a real registry, read
//! back byte for byte by berth and by ORAS (PyPI's `oras`, installed by setup.sh), the
//! signature found as a referrer.

use berth_e2e::cli::{berth, berth_ok, source_layout};
use berth_e2e::images::Registry;
use berth_e2e::signing::signed_app_package;
use berth_e2e::*;
use berth_image::Digest;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// The Python with PyPI's `oras` that scripts/setup.sh installs.
const ORAS_PYTHON: &str = "/opt/berth-test/oras/bin/python";

fn oras(script: &str, args: &[&str]) -> String {
    assert!(
        Path::new(ORAS_PYTHON).exists(),
        "{ORAS_PYTHON} is missing: run `sudo scripts/setup.sh` (it installs PyPI's oras)"
    );
    ok(Command::new(ORAS_PYTHON).arg("-c").arg(script).args(args))
}

#[test]
fn a_pushed_package_is_pulled_byte_for_byte_by_berth_and_by_oras() {
    require(&["docker-registry"]);
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let (package, public) = signed_app_package(dir.path());
    let remote = format!("{}:1.2", registry.image("fleet/app"));
    let pushed: Value = serde_json::from_str(&berth_ok(&[
        "push",
        "--json",
        &package.display().to_string(),
        &remote,
    ]))
    .unwrap();
    let original = std::fs::read(&package).unwrap();
    assert_eq!(pushed["package_digest"], Digest::of(&original).to_string());

    // ORAS: the manifest is an OCI artifact it understands, the file comes back whole.
    let oras_dir = dir.path().join("oras");
    let script = r#"
import json, sys, oras.client
host, target, out = sys.argv[1], sys.argv[2], sys.argv[3]
c = oras.client.OrasClient(hostname=host, insecure=True)
files = c.pull(target=target, outdir=out)
m = c.get_manifest(target)
print(json.dumps({"files": files, "manifest": m}))
"#;
    let target = format!("{}/fleet/app:1.2", registry.host);
    let seen: Value = serde_json::from_str(&oras(
        script,
        &[&registry.host, &target, &oras_dir.display().to_string()],
    ))
    .unwrap();
    let name = package.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        std::fs::read(oras_dir.join(name)).unwrap(),
        original,
        "ORAS pulls the package unchanged"
    );
    let m = &seen["manifest"];
    assert_eq!(m["artifactType"], "application/vnd.berth.package.v1");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(
        m["layers"][0]["annotations"]["org.opencontainers.image.title"],
        name
    );
    assert_eq!(
        m["annotations"],
        json!({"org.berth.package.id": "app", "org.berth.package.version": "1.2", "org.berth.package.runtime": "podman"})
    );

    // berth pull: the same bytes, and berth verify trusts the signature inside.
    let out_dir = dir.path().join("pulled");
    berth_ok(&[
        "pull",
        &remote,
        "--output-dir",
        &out_dir.display().to_string(),
    ]);
    let pulled = out_dir.join(name);
    assert_eq!(std::fs::read(&pulled).unwrap(), original);
    berth_ok(&[
        "verify",
        &pulled.display().to_string(),
        "--trust",
        &public.display().to_string(),
    ]);

    // The signature is a referrer of the package's manifest (the fallback tag index
    // distribution 2.8 needs), and its content is the package's own signature file.
    let subject: Digest = pushed["digest"].as_str().unwrap().parse().unwrap();
    let index_script = r#"
import json, sys, oras.client
c = oras.client.OrasClient(hostname=sys.argv[1], insecure=True)
idx = c.get_manifest(sys.argv[2])
ref = idx["manifests"][0]
sig = c.get_manifest(sys.argv[3] + "@" + ref["digest"])
blob = c.get_blob(sys.argv[3], sig["layers"][0]["digest"]).content
print(json.dumps({"index": idx, "signature": sig, "content": blob.decode("latin-1")}))
"#;
    let referrers: Value = serde_json::from_str(&oras(
        index_script,
        &[
            &registry.host,
            &format!("{}/fleet/app:sha256-{}", registry.host, subject.hex()),
            &format!("{}/fleet/app", registry.host),
        ],
    ))
    .unwrap();
    assert_eq!(
        referrers["index"]["manifests"][0]["artifactType"],
        "application/vnd.berth.signature.v1"
    );
    // The package in parts is the other referrer (docs/registry.md); ORAS pulled the
    // package whole above all the same.
    assert_eq!(
        referrers["index"]["manifests"][1]["artifactType"], "application/vnd.berth.parts.v1",
        "{referrers}"
    );
    assert_eq!(referrers["index"]["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(
        referrers["signature"]["subject"]["digest"],
        subject.to_string()
    );
    assert_eq!(
        referrers["signature"]["artifactType"],
        "application/vnd.berth.signature.v1"
    );
    let inside = ok(cmd("tar", &["-xzOf"])
        .arg(&package)
        .arg("checksums/sha256sums.txt.sig"));
    assert!(inside.starts_with("berth-signature-v1"), "{inside}");
    assert_eq!(referrers["content"].as_str().unwrap(), inside);
}

#[test]
fn pull_refuses_what_is_not_a_package_and_leaves_nothing() {
    require(&["docker-registry"]);
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let (src, _) = source_layout(dir.path());
    let remote = format!("{}:1", registry.image("fleet/image"));
    berth_ok(&["image", "copy", "--quiet", &src, &remote]);
    let out_dir = dir.path().join("pulled");
    let out = berth(&[
        "pull",
        &remote,
        "--output-dir",
        &out_dir.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a berth package"));
    assert!(!out_dir.exists() || std::fs::read_dir(&out_dir).unwrap().count() == 0);
    // A package pushed to a local archive destination is refused at the argument.
    let out = berth(&["push", "whatever.tar.gz", "oci:/tmp/x"]);
    assert_eq!(out.status.code(), Some(2));
}
