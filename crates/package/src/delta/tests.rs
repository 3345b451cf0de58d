use super::*;
use std::io::{Read, Seek, SeekFrom, Write};

fn tar_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn noise(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[1] ^ seed)
        .collect()
}

fn base_ref() -> DeltaBase {
    DeltaBase {
        id: "app".into(),
        version: "1".into(),
    }
}

/// Splits a delta payload into its index and data.
fn parts(delta: &[u8]) -> (DeltaIndex, Vec<u8>) {
    let mut ar = tar::Archive::new(delta);
    let mut entries = ar.entries().unwrap();
    let mut json = Vec::new();
    entries
        .next()
        .unwrap()
        .unwrap()
        .read_to_end(&mut json)
        .unwrap();
    let mut data = Vec::new();
    entries
        .next()
        .unwrap()
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    (serde_json::from_slice(&json).unwrap(), data)
}

fn archive_base(bytes: &[u8]) -> ArchiveBase {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    ArchiveBase::index(f).unwrap()
}

#[test]
fn a_delta_carries_only_what_the_base_lacks_and_rebuilds_the_payload_exactly() {
    let shared = noise(1, 300_000);
    let old = tar_of(&[
        ("manifest.json", b"old".to_vec()),
        ("l1.tar", shared.clone()),
    ]);
    let new = tar_of(&[
        ("manifest.json", b"new!".to_vec()),
        ("l1.tar", shared.clone()),
        ("l2.tar", noise(2, 50_000)),
    ]);
    let base = archive_base(&old);
    let mut delta = Vec::new();
    let written = write_delta(
        &new[..],
        "image.tar",
        base_ref(),
        &|_, d| base.holds(d).then_some(None),
        &mut delta,
    )
    .unwrap();
    assert_eq!(written.target_size, new.len() as u64);
    assert_eq!(written.reused_bytes, shared.len() as u64);
    assert!(written.data_bytes < 60_000, "{written:?}");
    let (index, data) = parts(&delta);
    index.check(data.len() as u64).unwrap();
    let mut base = archive_base(&old);
    let mut rebuilt = Vec::new();
    Expand::new(index, &data[..], &mut base)
        .read_to_end(&mut rebuilt)
        .unwrap();
    assert_eq!(rebuilt, new);
}

#[test]
fn a_base_without_the_content_is_refused_naming_the_version_it_needs() {
    let shared = noise(1, 10_000);
    let old = tar_of(&[("l1.tar", shared.clone())]);
    let new = tar_of(&[("l1.tar", shared)]);
    let base = archive_base(&old);
    let mut delta = Vec::new();
    write_delta(
        &new[..],
        "image.tar",
        base_ref(),
        &|_, d| base.holds(d).then_some(None),
        &mut delta,
    )
    .unwrap();
    let (index, data) = parts(&delta);
    let mut other = archive_base(&tar_of(&[("x", noise(9, 10_000))]));
    let err = Expand::new(index, &data[..], &mut other)
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("app 1 as installed holds no sha256:"),
        "{err}"
    );
}

#[test]
fn a_base_whose_content_changed_is_caught_by_its_digest() {
    struct Liar;
    impl Base for Liar {
        fn open(&mut self, _: &str, size: u64, _: Option<&str>) -> io::Result<Box<dyn Read>> {
            Ok(Box::new(io::repeat(7).take(size)))
        }
    }
    let content = noise(3, 5000);
    let new = tar_of(&[("l1.tar", content)]);
    let mut delta = Vec::new();
    write_delta(
        &new[..],
        "image.tar",
        base_ref(),
        &|_, _| Some(None),
        &mut delta,
    )
    .unwrap();
    let (index, data) = parts(&delta);
    let err = Expand::new(index, &data[..], &mut Liar)
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    assert!(err.to_string().contains("changed"), "{err}");
}

#[test]
fn an_index_whose_pieces_do_not_add_up_is_refused() {
    let mut index = DeltaIndex {
        format: FORMAT.into(),
        base: base_ref(),
        target: Target {
            name: "image.tar".into(),
            size: 10,
        },
        pieces: vec![Piece::Data { data: 4 }],
    };
    assert!(index.check(4).unwrap_err().contains("make 4 bytes"));
    index.pieces.push(Piece::Reuse {
        reuse: "sha256:zz".into(),
        size: 6,
        path: None,
    });
    assert!(index.check(4).unwrap_err().contains("not sha256"));
    index.format = "other".into();
    assert!(index.check(4).unwrap_err().contains("format"));
}
