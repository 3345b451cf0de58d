//! The payload sink: an install gets the payload's bytes while the package is read,
//! only after the manifest and signature checked out.

use berth_package::testkit::{gzip, tar_bytes, test_key, Parts, RawEntry};
use berth_package::{read_package_into, Manifest, PayloadSink, ReadError, ReadOptions, SinkError};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

#[derive(Default)]
struct Collect {
    opened: Option<(String, String, u64)>,
    listed_digest: Option<String>,
    bytes: Rc<RefCell<Vec<u8>>>,
}

struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl PayloadSink for Collect {
    fn open(
        &mut self,
        manifest: &Manifest,
        name: &str,
        size: u64,
        listed_digest: Option<&str>,
    ) -> Result<Box<dyn Write>, SinkError> {
        self.opened = Some((manifest.id().to_string(), name.to_string(), size));
        self.listed_digest = listed_digest.map(str::to_string);
        Ok(Box::new(Shared(self.bytes.clone())))
    }
}

fn read_with_sink(package: Vec<u8>, opts: &ReadOptions) -> (Result<(), ReadError>, Collect) {
    let mut sink = Collect::default();
    let result = read_package_into(std::io::Cursor::new(package), opts, Some(&mut sink));
    (result.map(drop), sink)
}

#[test]
fn the_sink_gets_exactly_the_payload_after_the_manifest() {
    let parts = Parts::podman();
    let (result, sink) = read_with_sink(parts.package(), &ReadOptions::default());
    result.unwrap();
    let (id, name, size) = sink.opened.unwrap();
    assert_eq!((id.as_str(), name.as_str()), ("demo", "image.tar"));
    assert_eq!(size, parts.payload.len() as u64);
    assert_eq!(*sink.bytes.borrow(), parts.payload);
    // The digest the checksums file lists, handed over before the payload is read.
    use sha2::Digest;
    let expected = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(&parts.payload))
    );
    assert_eq!(sink.listed_digest.as_deref(), Some(expected.as_str()));
}

#[test]
fn a_payload_before_its_manifest_is_refused_before_any_byte_is_handed_over() {
    let parts = Parts::podman();
    let mut entries = parts.entries();
    let payload = entries.pop().unwrap();
    entries.insert(0, payload);
    let (result, sink) = read_with_sink(gzip(&tar_bytes(&entries, true)), &ReadOptions::default());
    let err = result.unwrap_err().to_string();
    assert!(err.contains("must come before the payload"), "{err}");
    assert!(sink.opened.is_none());
}

#[test]
fn an_unsigned_package_never_reaches_the_sink_when_signatures_are_required() {
    let parts = Parts::podman();
    let key = test_key(1);
    let opts = ReadOptions {
        trusted_keys: vec![key.verifying_key()],
        ..Default::default()
    };
    let (result, sink) = read_with_sink(parts.package(), &opts);
    assert!(result.unwrap_err().to_string().contains("unsigned package"));
    assert!(sink.opened.is_none());
    // Trusting keys without requiring signatures lets it through...
    let lenient = ReadOptions {
        allow_unsigned: true,
        ..opts.clone()
    };
    read_with_sink(parts.package(), &lenient).0.unwrap();
    // ...but a package signed by another key is still refused.
    let other = gzip(&tar_bytes(&parts.signed_entries(&test_key(2)), true));
    let (result, sink) = read_with_sink(other, &lenient);
    assert!(result
        .unwrap_err()
        .to_string()
        .contains("not among the trusted keys"));
    assert!(sink.opened.is_none());
    // And one signed by the trusted key is accepted by the strict policy.
    let signed = gzip(&tar_bytes(&parts.signed_entries(&key), true));
    read_with_sink(signed, &opts).0.unwrap();
}

#[test]
fn a_payload_that_does_not_match_its_checksum_is_handed_over_but_the_read_fails() {
    let mut parts = Parts::podman();
    let sums = parts.sums();
    let manifest = berth_package::testkit::pretty(&parts.packaged_manifest());
    let last = parts.payload.len() - 1;
    parts.payload[last] ^= 1; // still a tar (the end marker's padding), other bytes
    let entries: Vec<RawEntry> = parts.entries_with(&sums, &manifest, None);
    let (result, sink) = read_with_sink(gzip(&tar_bytes(&entries, true)), &ReadOptions::default());
    assert!(sink.opened.is_some());
    let err = result.unwrap_err().to_string();
    assert!(err.contains("mismatch"), "{err}");
}

#[test]
fn the_head_is_read_without_the_payload_and_names_the_listed_digest() {
    let parts = Parts::podman();
    // A payload cut off after its first byte: the head reader never gets that far.
    let mut entries = parts.entries();
    let head = berth_package::read_head(
        std::io::Cursor::new(gzip(&tar_bytes(&entries, true))),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(head.manifest.id(), "demo");
    assert_eq!(head.payload_name, "image.tar");
    assert_eq!(
        head.payload_digest,
        format!("sha256:{}", parts.digest_hex())
    );
    // Without its gzip trailer the whole package is unreadable, its head is not:
    // nothing past the payload's start is looked at.
    let package = gzip(&tar_bytes(&entries, true));
    let cut = package[..package.len() - 8].to_vec();
    assert!(berth_package::read_package(
        std::io::Cursor::new(cut.clone()),
        &ReadOptions::default()
    )
    .is_err());
    let head_of_cut =
        berth_package::read_head(std::io::Cursor::new(cut), &ReadOptions::default()).unwrap();
    assert_eq!(head_of_cut.payload_digest, head.payload_digest);
    // A head whose signature is not trusted is refused like an install would be.
    let opts = ReadOptions {
        trusted_keys: vec![test_key(1).verifying_key()],
        ..Default::default()
    };
    let err = berth_package::read_head(std::io::Cursor::new(parts.package()), &opts).unwrap_err();
    assert!(err.to_string().contains("unsigned package"), "{err}");
    // A payload first: no head to read before it.
    let payload = entries.pop().unwrap();
    entries.insert(0, payload);
    let err = berth_package::read_head(
        std::io::Cursor::new(gzip(&tar_bytes(&entries, true))),
        &ReadOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("must come before the payload"),
        "{err}"
    );
}

#[test]
fn a_detached_signature_counts_when_the_package_has_none() {
    let parts = Parts::podman();
    let key = test_key(1);
    let sums = parts.sums();
    let manifest = berth_package::testkit::pretty(&parts.packaged_manifest());
    let strict = |detached: Vec<Vec<u8>>| ReadOptions {
        trusted_keys: vec![key.verifying_key()],
        detached_signatures: detached,
        ..Default::default()
    };
    let good = berth_package::sign::sign(&key, &sums, &manifest);
    read_with_sink(parts.package(), &strict(vec![good.clone()]))
        .0
        .unwrap();
    let other = berth_package::sign::sign(&test_key(2), &sums, &manifest);
    // Issue 21, finding 11: an untrusted or broken signature listed first does not
    // hide the trusted one after it.
    read_with_sink(
        parts.package(),
        &strict(vec![b"garbage".to_vec(), other.clone(), good]),
    )
    .0
    .unwrap();
    let err = read_with_sink(parts.package(), &strict(vec![other]))
        .0
        .unwrap_err();
    assert!(
        err.to_string().contains("not among the trusted keys"),
        "{err}"
    );
    let err = read_with_sink(parts.package(), &strict(Vec::new()))
        .0
        .unwrap_err();
    assert!(err.to_string().contains("unsigned package"), "{err}");
}
