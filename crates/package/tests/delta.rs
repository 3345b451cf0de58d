//! Delta packages through the reader: rebuilt from a base to exactly the full
//! payload, under the full package's signature; a tampered delta or a base that
//! does not hold what it should is refused.

use berth_package::delta::{write_delta_package, ArchiveBase, Base, DeltaBase};
use berth_package::testkit::{docker_archive, gzip, tar_bytes, test_key, Parts};
use berth_package::{read_package_into, Limits, Manifest, PayloadSink, ReadOptions, SinkError};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

fn layer_bytes() -> Vec<u8> {
    (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect()
}

fn parts(version: &str, tag: &str) -> Parts {
    let mut p = Parts::podman();
    p.manifest["version"] = version.into();
    p.payload = docker_archive(tag, &[("bin/app", &layer_bytes())]);
    p
}

fn signed_package(p: &Parts) -> Vec<u8> {
    let key = test_key(3);
    gzip(&tar_bytes(&p.signed_entries(&key), true))
}

struct Device {
    base: Option<Vec<u8>>,
    got: Arc<Mutex<Vec<u8>>>,
}

struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl PayloadSink for Device {
    fn open(
        &mut self,
        _: &Manifest,
        _: &str,
        _: u64,
        _: Option<&str>,
    ) -> Result<Box<dyn Write>, SinkError> {
        Ok(Box::new(Shared(self.got.clone())))
    }

    fn delta_base(&mut self, _: &Manifest, base: &DeltaBase) -> Result<Box<dyn Base>, SinkError> {
        assert_eq!(base.version, "1");
        let bytes = self.base.clone().ok_or("no base")?;
        let mut f = tempfile::tempfile()?;
        f.write_all(&bytes)?;
        Ok(Box::new(ArchiveBase::index(f)?))
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The delta of version 2 against version 1: (delta package, v1 payload, v2 payload).
fn delta_of_two() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = (
        parts("1", "localhost/demo:1"),
        parts("2", "localhost/demo:2"),
    );
    let old = write(dir.path(), "v1.tar.gz", &signed_package(&v1));
    let new = write(dir.path(), "v2.tar.gz", &signed_package(&v2));
    let out = dir.path().join("delta.tar.gz");
    let report = write_delta_package(&old, &new, &out, &Limits::default()).unwrap();
    assert!(report.delta.reused_bytes > 20_000, "the layer: {report:?}");
    (std::fs::read(&out).unwrap(), v1.payload, v2.payload)
}

fn install(package: Vec<u8>, base: Option<Vec<u8>>) -> (Result<(), String>, Vec<u8>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut device = Device {
        base,
        got: got.clone(),
    };
    let opts = ReadOptions {
        trusted_keys: vec![test_key(3).verifying_key()],
        ..Default::default()
    };
    let r = read_package_into(std::io::Cursor::new(package), &opts, Some(&mut device));
    let bytes = got.lock().unwrap().clone();
    (r.map(drop).map_err(|e| e.to_string()), bytes)
}

#[test]
fn a_delta_is_rebuilt_to_the_full_payload_under_the_full_packages_signature() {
    let (delta, v1, v2) = delta_of_two();
    let (r, got) = install(delta, Some(v1));
    r.unwrap();
    assert_eq!(got, v2);
}

#[test]
fn without_a_base_a_delta_is_refused() {
    let (delta, _, _) = delta_of_two();
    let (r, _) = install(delta.clone(), None);
    assert!(r.unwrap_err().contains("no base"));
    let err = berth_package::read_package(std::io::Cursor::new(delta), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("a delta from demo 1"), "{err}");
}

#[test]
fn a_base_that_lacks_the_reused_layer_is_refused_naming_it() {
    let (delta, _, _) = delta_of_two();
    let other = docker_archive("localhost/other:1", &[("bin/other", &[1u8; 5000])]);
    let (r, _) = install(delta, Some(other));
    let err = r.unwrap_err();
    assert!(
        err.contains("demo 1 as installed holds no sha256:"),
        "{err}"
    );
}

#[test]
fn a_delta_whose_bytes_were_changed_fails_the_signed_checksums() {
    let (delta, v1, _) = delta_of_two();
    // Unpack the delta package, change one byte of the delta's data, pack it again.
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&delta[..])
        .read_to_end(&mut tar)
        .unwrap();
    let mut entries = Vec::new();
    let mut archive = tar::Archive::new(&tar[..]);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if name.ends_with(".delta") {
            // The image's tag in its manifest.json, sent in the data: 2 becomes 3.
            let at = data
                .windows(16)
                .position(|w| w == b"localhost/demo:2")
                .unwrap();
            data[at + 15] = b'3';
        }
        entries.push((name, e.header().entry_type(), data));
    }
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    let tampered = gzip(&b.into_inner().unwrap());
    let (r, _) = install(tampered, Some(v1));
    let err = r.unwrap_err();
    assert!(
        err.contains("checksum mismatch for payload/image.tar"),
        "{err}"
    );
}
