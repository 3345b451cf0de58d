//! pack → read: layout, both manifest generations, both compressions, LXC, signing,
//! reproducibility, and failures that leave nothing behind.

use berth_package::sign::SignatureStatus;
use berth_package::testkit::{
    docker_archive, gzip, lxc_bundle, oci_bundle, oci_config, source_manifest, tar_bytes, test_key,
    RawEntry,
};
use berth_package::{pack, read_package, Compression, Limits, PackError, PackRequest, ReadOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn request(&self, manifest: &Value, payload_name: &str, payload: &[u8]) -> PackRequest {
        PackRequest {
            manifest: self.write("manifest.json", &serde_json::to_vec(manifest).unwrap()),
            payload: self.write(payload_name, payload),
            output_dir: self.dir.path().join("out"),
            readme: None,
            changelog: None,
            signing_key: None,
            compression: Compression::Gzip,
            level: 6,
            threads: 2,
            created_at_ms: 1_700_000_000_000,
            limits: Limits::default(),
        }
    }

    fn out_files(&self) -> Vec<String> {
        match std::fs::read_dir(self.dir.path().join("out")) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => vec![],
        }
    }
}

fn image() -> Vec<u8> {
    // Big enough to span several parallel-compression blocks.
    let big: Vec<u8> = (0..3_000_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    docker_archive(
        "localhost/demo:1",
        &[("bin/hello", b"hello"), ("lib/big", &big)],
    )
}

fn read(path: &Path, opts: &ReadOptions) -> berth_package::PackageReport {
    read_package(std::fs::File::open(path).unwrap(), opts).unwrap()
}

#[test]
fn podman_package_has_the_dcp_layout_and_reads_back() {
    let f = Fixture::new();
    let payload = image();
    let report = pack(
        &f.request(&source_manifest("podman"), "image.tar", &payload),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(
        report.path.file_name().unwrap(),
        "demo-podman-ccmp25-dvk.tar.gz"
    );
    assert!(report.path.is_absolute());
    let read = read(&report.path, &ReadOptions::default());
    assert_eq!(
        read.entries,
        [
            "checksums",
            "checksums/sha256sums.txt",
            "manifest.json",
            "metadata",
            "metadata/README.txt",
            "metadata/changelog.txt",
            "payload",
            "payload/image.tar"
        ]
    );
    let m = &read.manifest;
    assert_eq!(m["artifact_type"], "podman-image-tar");
    assert_eq!(m["created_at"], "2023-11-14T22:13:20.000Z");
    assert_eq!(m["size_bytes"], payload.len() as u64);
    use sha2::Digest;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&payload)));
    assert_eq!(m["digest"], digest.as_str());
    assert_eq!(read.payload.digest, digest);
    assert_eq!(read.payload.summary.images, ["localhost/demo:1"]);
    assert_eq!(read.payload.summary.layers.len(), 1);
    assert_eq!(read.signature, SignatureStatus::Unsigned);
}

/// Regression (zstd): --threads 1 used zstd's single-threaded mode, whose output
/// differs from the multi-threaded mode's.
#[test]
fn same_inputs_give_a_byte_identical_package_whatever_the_thread_count() {
    let f = Fixture::new();
    let payload = image();
    for compression in [Compression::Gzip, Compression::Zstd] {
        let mut req = f.request(&source_manifest("podman"), "image.tar", &payload);
        req.compression = compression;
        let first = std::fs::read(pack(&req, &mut |_, _| {}).unwrap().path).unwrap();
        req.threads = 1;
        let second = std::fs::read(pack(&req, &mut |_, _| {}).unwrap().path).unwrap();
        req.threads = 3;
        let third = std::fs::read(pack(&req, &mut |_, _| {}).unwrap().path).unwrap();
        let diff = first.iter().zip(&second).position(|(a, b)| a != b);
        assert!(
            first == second && second == third,
            "{compression:?}: differ at {diff:?} of {} / {} / {}",
            first.len(),
            second.len(),
            third.len()
        );
        req.created_at_ms += 1000;
        let later = std::fs::read(pack(&req, &mut |_, _| {}).unwrap().path).unwrap();
        assert_ne!(first, later, "created_at must show in the package");
    }
}

#[test]
fn new_generation_manifest_derives_package_id_from_name() {
    let f = Fixture::new();
    let mut m = source_manifest("podman");
    m.as_object_mut().unwrap().remove("package_id");
    m["name"] = "flutter-demo".into();
    let report = pack(&f.request(&m, "image.tar", &image()), &mut |_, _| {}).unwrap();
    assert_eq!(report.package_id, "flutter-demo-loyw3v28");
    let read = read(&report.path, &ReadOptions::default());
    assert_eq!(read.manifest["package_id"], "flutter-demo-loyw3v28");
    assert_eq!(read.manifest["name"], "flutter-demo");
}

#[test]
fn zstd_package_is_declared_and_reads_back() {
    let f = Fixture::new();
    let mut req = f.request(&source_manifest("podman"), "image.tar", &image());
    req.compression = Compression::Zstd;
    req.level = 3;
    let report = pack(&req, &mut |_, _| {}).unwrap();
    assert!(report
        .path
        .to_str()
        .unwrap()
        .ends_with("-podman-ccmp25-dvk.tar.zst"));
    let read = read(&report.path, &ReadOptions::default());
    assert_eq!(read.compression, Compression::Zstd);
    assert_eq!(read.manifest["package_compression"], "zstd");
}

#[test]
fn lxc_bundle_keeps_its_name_and_is_checked() {
    for dir in [None, Some("webkit-example")] {
        let f = Fixture::new();
        let report = pack(
            &f.request(
                &source_manifest("lxc"),
                "webkit-example.tar.gz",
                &lxc_bundle(dir),
            ),
            &mut |_, _| {},
        )
        .unwrap();
        let read = read(&report.path, &ReadOptions::default());
        assert_eq!(read.payload.name, "webkit-example.tar.gz");
        assert_eq!(read.manifest["artifact_type"], "lxc-bundle");
        assert_eq!(
            read.payload.summary.bundle_dir.as_deref(),
            Some(dir.unwrap_or(""))
        );
    }
}

#[test]
fn an_oci_runtime_bundle_is_packed_for_runc_and_checked() {
    for dir in [None, Some("hello")] {
        let f = Fixture::new();
        let report = pack(
            &f.request(&source_manifest("runc"), "hello.tar.gz", &oci_bundle(dir)),
            &mut |_, _| {},
        )
        .unwrap();
        assert!(report
            .path
            .to_str()
            .unwrap()
            .ends_with("-runc-ccmp25-dvk.tar.gz"));
        let read = read(&report.path, &ReadOptions::default());
        assert_eq!(read.manifest["artifact_type"], "oci-bundle");
        assert_eq!(read.manifest["runtime"], "runc");
        assert_eq!(
            read.payload.summary.bundle_dir.as_deref(),
            Some(dir.unwrap_or(""))
        );
    }
}

#[test]
fn a_broken_oci_runtime_bundle_is_refused_naming_the_rule() {
    let bundle = |config: Vec<u8>, with_rootfs: bool| {
        let mut e = vec![RawEntry::file("config.json", config)];
        if with_rootfs {
            e.push(RawEntry::dir("rootfs/"));
        }
        gzip(&tar_bytes(&e, true))
    };
    let cases: [(Vec<u8>, &str); 6] = [
        (
            bundle(oci_config("rootfs", &["sh"]), false),
            "a directory the archive does not hold",
        ),
        (
            bundle(oci_config("/rootfs", &["sh"]), true),
            "must be a path inside the bundle",
        ),
        (
            bundle(oci_config("../x", &["sh"]), true),
            "must be a path inside the bundle",
        ),
        (
            bundle(
                br#"{"ociVersion":"1.0.2","root":{"path":["x"]}}"#.to_vec(),
                true,
            ),
            "not an OCI runtime spec",
        ),
        (
            bundle(
                br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":"sh"}}"#
                    .to_vec(),
                true,
            ),
            "not an OCI runtime spec",
        ),
        (lxc_bundle(None), "must hold config.json"),
    ];
    for (payload, expected) in cases {
        let f = Fixture::new();
        let mut req = f.request(&source_manifest("runc"), "b.tar.gz", &payload);
        // The build host's full check: config.json is an OCI runtime spec.
        req.limits = Limits::build_host();
        let err = pack(&req, &mut |_, _| {}).unwrap_err();
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
    // A device's reader makes the structural check only: a spec oci-spec refuses
    // but whose root is inside the bundle is left to runc.
    let f = Fixture::new();
    let loose = bundle(
        br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":"sh"}}"#.to_vec(),
        true,
    );
    assert!(pack(
        &f.request(&source_manifest("runc"), "b.tar.gz", &loose),
        &mut |_, _| {}
    )
    .is_ok());
    // create_args belong to image runtimes only.
    let mut m = source_manifest("runc");
    m["create_args"] = serde_json::json!("--init");
    let f = Fixture::new();
    let err = pack(
        &f.request(&m, "b.tar.gz", &oci_bundle(None)),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("create_args is not allowed for runtime runc"),
        "{err}"
    );
}

#[test]
fn docker_is_berths_explicit_image_runtime() {
    let f = Fixture::new();
    let report = pack(
        &f.request(&source_manifest("docker"), "image.tar", &image()),
        &mut |_, _| {},
    )
    .unwrap();
    let read = read(&report.path, &ReadOptions::default());
    assert_eq!(read.manifest["runtime"], "docker");
    assert_eq!(read.manifest["artifact_type"], "docker-image-tar");
    assert_eq!(read.payload.name, "image.tar");
    let mut m = source_manifest("docker");
    m.as_object_mut().unwrap().remove("create_args");
    let err = pack(&f.request(&m, "image.tar", &image()), &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("create_args"), "{err}");
}

#[test]
fn signed_package_verifies_against_its_key_only() {
    let f = Fixture::new();
    let mut req = f.request(&source_manifest("podman"), "image.tar", &image());
    req.signing_key = Some(test_key(7));
    let report = pack(&req, &mut |_, _| {}).unwrap();
    let trusted = ReadOptions {
        trusted_keys: vec![test_key(7).verifying_key()],
        ..Default::default()
    };
    assert!(matches!(
        read(&report.path, &trusted).signature,
        SignatureStatus::Valid { trusted: true, .. }
    ));
    let other = ReadOptions {
        trusted_keys: vec![test_key(8).verifying_key()],
        ..Default::default()
    };
    let err = read_package(std::fs::File::open(&report.path).unwrap(), &other).unwrap_err();
    assert!(
        err.to_string().contains("not among the trusted keys"),
        "{err}"
    );
}

#[test]
fn invalid_manifest_reports_every_problem_and_writes_nothing() {
    let f = Fixture::new();
    let mut m = source_manifest("podman");
    m["registration_defaults"]["restart"]["window"] = 0.into();
    m["device_types"] = serde_json::json!([]);
    m["runtime"] = "rkt".into();
    let err = pack(&f.request(&m, "image.tar", &image()), &mut |_, _| {}).unwrap_err();
    let PackError::Manifest(issues) = &err else {
        panic!("{err}")
    };
    let text = issues.to_string();
    assert!(
        text.contains(
            "manifest: registration_defaults.restart.window must be an integer >= 1, got 0"
        ),
        "{text}"
    );
    assert!(
        text.contains("manifest: device_types must be a non-empty list"),
        "{text}"
    );
    assert!(text.contains("manifest: runtime must be"), "{text}");
    assert!(err.is_bad_input());
    assert!(f.out_files().is_empty());
}

#[test]
fn payload_that_is_not_an_image_archive_is_refused_and_leaves_nothing() {
    let f = Fixture::new();
    let junk = vec![7u8; 5_000_000];
    let err = pack(
        &f.request(&source_manifest("podman"), "image.tar", &junk),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("payload"), "{err}");
    assert!(err.is_bad_input());
    assert_eq!(
        f.out_files(),
        Vec::<String>::new(),
        "no temporary file left behind"
    );
}

#[test]
fn lxc_payload_without_bundle_layout_is_refused() {
    let f = Fixture::new();
    let bad = berth_package::testkit::gzip(b"not a tar");
    let err = pack(
        &f.request(&source_manifest("lxc"), "x.tar.gz", &bad),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    let err = pack(
        &f.request(&source_manifest("lxc"), "bundle.tgz", &lxc_bundle(None)),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains(".tar.gz"), "{err}");
}

#[test]
fn progress_reaches_the_payload_size() {
    let f = Fixture::new();
    let payload = image();
    let mut last = (0, 0);
    pack(
        &f.request(&source_manifest("podman"), "image.tar", &payload),
        &mut |d, t| last = (d, t),
    )
    .unwrap();
    assert_eq!(last, (payload.len() as u64, payload.len() as u64));
}
