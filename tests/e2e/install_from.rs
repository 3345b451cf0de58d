//! berthd installs from a registry (`berthctl install docker://…`, berthd built with
//! `device-registry`): a package `berth push` put in a real registry with
//! credentials, verified and signature-checked as it streams, its signature taken
//! from the registry's referrers when the package holds none.

use berth_e2e::cli::berth_ok;
use berth_e2e::daemon::{ctl, start_with};
use berth_e2e::images::Registry;
use berth_e2e::install::{ctl_ok, manifest, refused, remove_container, status};
use berth_e2e::signing::{keygen, signed_package};
use berth_e2e::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[test]
fn berthd_installs_a_pushed_package_from_a_registry_with_credentials() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = keygen(dir.path(), "release");
    let id = "berth-e2e-from-registry";
    remove_container(id);
    let pkg = signed_package(dir.path(), &secret, id, "1.0.0", SERVE);
    let registry = Registry::start_with_auth("device", "pa55:word");
    let reference = format!(
        "{}/apps/{id}:1.0.0",
        registry.image("").trim_end_matches('/')
    );
    let pushed: Value = serde_json::from_str(&berth_ok(&[
        "push",
        pkg.to_str().unwrap(),
        &reference,
        "--creds",
        "device:pa55:word",
        "--json",
    ]))
    .unwrap();
    let trust = json!({"keys": [public], "require_signature": true});
    // Without credentials the registry refuses: one line, exit 1, nothing installed.
    let d = start_with(dir.path(), json!({"trust": trust}));
    let out = ctl(&d.socket, &["install", &reference]);
    refused(&out, 1, "wants credentials: set registry.credentials");
    drop(d);
    let d = start_with(
        dir.path(),
        json!({"trust": trust, "registry": {"credentials": {registry.host.clone(): "device:pa55:word"}}}),
    );
    assert_eq!(
        ctl_ok(&d, &["install", &reference]),
        format!("installed {id} 1.0.0, running\n")
    );
    assert_eq!(status(&d, id)["status"], "running");
    // The digest form, and the install is the package's: same payload digest.
    let by_digest = format!(
        "{}/apps/{id}@{}",
        registry.image("").trim_end_matches('/'),
        pushed["digest"].as_str().unwrap()
    );
    let again: Value =
        serde_json::from_str(&ctl_ok(&d, &["install", "--force", "--json", &by_digest])).unwrap();
    assert_eq!(again["version"], "1.0.0");
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("work/state.json")).unwrap())
            .unwrap();
    let report: Value =
        serde_json::from_str(&berth_ok(&["inspect", "--json", pkg.to_str().unwrap()])).unwrap();
    assert_eq!(
        state["containers"][id]["package_digest"],
        report["payload"]["digest"]
    );
    // Not a package, and a tag that is not there: refused, nothing changes.
    let out = ctl(
        &d.socket,
        &[
            "install",
            &format!("{}/apps/{id}:9.9", registry.image("").trim_end_matches('/')),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ctl(&d.socket, &["install", "docker://"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ctl_ok(&d, &["uninstall", id]);
}

#[test]
fn a_signature_from_the_referrers_counts_when_the_package_holds_none() {
    require(&["podman", "tar"]);
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = keygen(dir.path(), "release");
    let (other, _) = keygen(dir.path(), "other");
    let id = "berth-e2e-detached";
    remove_container(id);
    let tag = format!("localhost/{id}:1");
    let image = TestImage::build(dir.path(), &tag, SERVE);
    let tar = dir.path().join("image.tar");
    image.save("docker-archive", &tar);
    image.remove();
    let m = dir.path().join("manifest.json");
    write_manifest(&m, &manifest(id, "1.0.0", &tag, true));
    // The same package packed twice (reproducibly): unsigned, and signed.
    let pack = |out: &str, sign: Option<&Path>| {
        let mut c = cmd(berth_bin().to_str().unwrap(), &["pack", "--manifest"]);
        c.arg(&m)
            .arg("--payload")
            .arg(&tar)
            .arg("--output-dir")
            .arg(dir.path().join(out));
        c.env("SOURCE_DATE_EPOCH", "1700000000");
        if let Some(key) = sign {
            c.arg("--sign").arg(key);
        }
        PathBuf::from(ok(c).trim())
    };
    let unsigned = pack("unsigned", None);
    let signed = pack("signed", Some(&secret));
    let sig = dir.path().join("sha256sums.txt.sig");
    let extracted = ok(cmd("tar", &["-xzf"])
        .arg(&signed)
        .arg("-C")
        .arg(dir.path())
        .arg("checksums/sha256sums.txt.sig"));
    assert!(extracted.is_empty());
    std::fs::rename(dir.path().join("checksums/sha256sums.txt.sig"), &sig).unwrap();
    let signed_other = pack("other", Some(&other));
    let other_sig = dir.path().join("other.sig");
    ok(cmd("tar", &["-xzf"])
        .arg(&signed_other)
        .arg("-C")
        .arg(dir.path())
        .arg("checksums/sha256sums.txt.sig"));
    std::fs::rename(dir.path().join("checksums/sha256sums.txt.sig"), &other_sig).unwrap();

    let registry = Registry::start();
    let base = registry.image("").trim_end_matches('/').to_string();
    let (good, bad, none) = (
        format!("{base}/apps/good:1"),
        format!("{base}/apps/bad:1"),
        format!("{base}/apps/none:1"),
    );
    berth_ok(&[
        "push",
        unsigned.to_str().unwrap(),
        &good,
        "--signature",
        sig.to_str().unwrap(),
    ]);
    berth_ok(&[
        "push",
        unsigned.to_str().unwrap(),
        &bad,
        "--signature",
        other_sig.to_str().unwrap(),
    ]);
    berth_ok(&["push", unsigned.to_str().unwrap(), &none]);
    // Two referrers, the untrusted one listed first (issue 21, finding 11: the first
    // signature referrer won, and blocked the trusted one after it).
    let mixed = format!("{base}/apps/mixed:1");
    for signature in [&other_sig, &sig] {
        berth_ok(&[
            "push",
            unsigned.to_str().unwrap(),
            &mixed,
            "--signature",
            signature.to_str().unwrap(),
        ]);
    }
    let d = start_with(
        dir.path(),
        json!({"trust": {"keys": [public], "require_signature": true}}),
    );
    refused(&ctl(&d.socket, &["install", &none]), 2, "unsigned package");
    refused(
        &ctl(&d.socket, &["install", &bad]),
        2,
        "not among the trusted keys",
    );
    assert!(!berth_e2e::install::exists("container", id));
    assert_eq!(
        ctl_ok(&d, &["install", &mixed]),
        format!("installed {id} 1.0.0, running\n")
    );
    ctl_ok(&d, &["uninstall", id]);
    assert_eq!(
        ctl_ok(&d, &["install", &good]),
        format!("installed {id} 1.0.0, running\n")
    );
    ctl_ok(&d, &["uninstall", id]);
}

/// Issue 21, finding 11: any host an API caller named was fetched from, and a
/// registry that drips its answer held the install (and the container's lock) for
/// ever. `registry.allow` limits the hosts; `registry.deadline` bounds an install.
#[test]
fn berthd_fetches_only_from_allowed_registries_and_gives_up_at_its_deadline() {
    use berth_e2e::hostile_registry::{HostileRegistry, Reply};
    let dir = tempfile::tempdir().unwrap();
    let drip = HostileRegistry::start(|_| Reply::Drip {
        headers: vec![(
            "Content-Type".into(),
            "application/vnd.oci.image.manifest.v1+json".into(),
        )],
        declared: 1 << 20,
        every: std::time::Duration::from_millis(200),
    });
    let reference = format!("{}:1", drip.image("apps/slow"));
    let d = start_with(
        dir.path(),
        json!({"registry": {"allow": ["registry.example", "*.example.net"]}}),
    );
    refused(
        &ctl(&d.socket, &["install", &reference]),
        2,
        "registry_not_allowed",
    );
    assert!(
        drip.seen().is_empty(),
        "nothing asked of a registry not allowed"
    );
    let check: Value = serde_json::from_str(&ok(cmd(
        berth_bin()
            .parent()
            .unwrap()
            .join("berthd")
            .to_str()
            .unwrap(),
        &["--check-config", "--config"],
    )
    .arg(dir.path().join("berthd.conf"))))
    .unwrap();
    assert_eq!(
        check["registry"]["allow"],
        json!(["registry.example", "*.example.net"])
    );
    drop(d);
    let d = start_with(
        dir.path(),
        json!({"registry": {"allow": [drip.host.clone()], "stall_timeout": 2, "deadline": 3}}),
    );
    let started = std::time::Instant::now();
    let out = ctl(&d.socket, &["install", &reference]);
    let took = started.elapsed();
    refused(&out, 1, "registry_failed");
    assert!(!drip.seen().is_empty());
    // Ended by the 3 s deadline, not by the registry (which drips for ever).
    assert!(took < std::time::Duration::from_secs(60), "{took:?}");
}
