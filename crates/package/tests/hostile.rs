//! The hostile corpus against the library reader: every case refused, with its
//! reason, no panic.

use berth_package::sign::read_verifying_key;
use berth_package::testkit::{gzip_bomb, hostile_corpus, Parts};
use berth_package::{read_package, ReadError, ReadOptions};

fn options(trust: Option<&str>, len: Option<usize>) -> ReadOptions {
    let mut opts = ReadOptions {
        compressed_len: len.map(|l| l as u64),
        ..Default::default()
    };
    if let Some(text) = trust {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pub");
        std::fs::write(&path, text).unwrap();
        opts.trusted_keys.push(read_verifying_key(&path).unwrap());
    }
    opts
}

#[test]
fn corpus_has_at_least_25_cases_with_unique_names() {
    let corpus = hostile_corpus();
    assert!(corpus.len() >= 25, "{}", corpus.len());
    let mut names: Vec<_> = corpus.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), corpus.len());
}

#[test]
fn every_hostile_package_is_refused_with_its_reason() {
    for case in hostile_corpus() {
        let len = case.bytes.len();
        let result = read_package(
            std::io::Cursor::new(case.bytes),
            &options(case.trust.as_deref(), Some(len)),
        );
        match result {
            Err(ReadError::Invalid(problems)) => {
                let text = problems.to_string();
                assert!(
                    text.contains(case.expect),
                    "{}: expected {:?} in {text:?}",
                    case.name,
                    case.expect
                );
            }
            Err(ReadError::Io(e)) => panic!("{}: reported as an I/O failure: {e}", case.name),
            Err(ReadError::Refused(e)) => {
                panic!("{}: refused by a sink it has not: {e}", case.name)
            }
            Ok(_) => panic!("{}: accepted", case.name),
        }
    }
}

#[test]
fn gzip_bomb_from_a_stream_is_stopped_by_the_expansion_guard() {
    // No known size (a pipe): the header check cannot apply; the running guard must
    // stop it long before 10 GiB.
    let err = read_package(std::io::Cursor::new(gzip_bomb()), &ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("decompression bomb"), "{err}");
}

#[test]
fn payload_before_manifest_still_verifies() {
    let p = Parts::podman();
    let mut e = p.entries();
    let payload = e.pop().unwrap();
    let dir = e.pop().unwrap();
    e.insert(0, dir);
    e.insert(1, payload);
    let bytes = berth_package::testkit::gzip(&berth_package::testkit::tar_bytes(&e, true));
    let report = read_package(std::io::Cursor::new(bytes), &ReadOptions::default()).unwrap();
    assert_eq!(report.entries[1], "payload/image.tar");
    assert_eq!(report.payload.digest, format!("sha256:{}", p.digest_hex()));
}

#[test]
fn payload_before_manifest_with_wrong_digest_is_refused() {
    let p = Parts::podman();
    let mut m = p.packaged_manifest();
    m["digest"] = serde_json::json!(format!("sha256:{}", "2".repeat(64)));
    let mut e = p.entries_with(&p.sums(), &berth_package::testkit::pretty(&m), None);
    let payload = e.pop().unwrap();
    e.insert(0, payload);
    let bytes = berth_package::testkit::gzip(&berth_package::testkit::tar_bytes(&e, true));
    let err = read_package(std::io::Cursor::new(bytes), &ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
}

#[test]
fn a_package_made_by_hand_in_dcp_layout_is_valid() {
    // The control for the corpus: the same builder, unbroken, is accepted.
    for parts in [Parts::podman(), Parts::lxc(), Parts::runc()] {
        let report = read_package(
            std::io::Cursor::new(parts.package()),
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(report.package_id, "demo");
    }
}
