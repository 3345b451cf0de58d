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
    ) -> Result<Box<dyn Write>, SinkError> {
        self.opened = Some((manifest.id().to_string(), name.to_string(), size));
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
