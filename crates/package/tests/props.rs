//! Property tests: the manifest parser and the reader never panic, whatever the input.

use berth_package::testkit::Parts;
use berth_package::{read_package, Manifest, ReadOptions, Stage};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("package_id".to_string()),
                    Just("name".to_string()),
                    Just("runtime".to_string()),
                    Just("registration_defaults".to_string()),
                    Just("restart".to_string()),
                    Just("window".to_string()),
                    Just("device_types".to_string()),
                    Just("create_args".to_string()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn manifest_parser_never_panics(v in json_value()) {
        for stage in [Stage::Source, Stage::Packaged] {
            if let Err(issues) = Manifest::from_value(v.clone(), stage) {
                prop_assert!(!issues.0.is_empty());
                for line in issues.to_string().lines() {
                    prop_assert!(line.starts_with("manifest: "));
                }
            }
        }
    }

    #[test]
    fn manifest_parser_accepts_valid_policies(max in 0u32..1000, window in 1u32..100_000, delay in 0u32..3600, auto: bool) {
        let mut m = berth_package::testkit::source_manifest("podman");
        m["registration_defaults"]["restart"]["max_retries"] = max.into();
        m["registration_defaults"]["restart"]["window"] = window.into();
        m["registration_defaults"]["restart"]["retry_delay"] = delay.into();
        m["registration_defaults"]["autostart"] = auto.into();
        let parsed = Manifest::from_value(m, Stage::Source).unwrap();
        prop_assert_eq!(parsed.registration_defaults.restart.window, window);
    }

    #[test]
    fn reader_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = read_package(std::io::Cursor::new(bytes), &ReadOptions::default());
    }

    /// Random bytes inside a valid gzip or zstd stream: past the magic number and the
    /// decompressor, into the tar parser, every time.
    #[test]
    fn reader_never_panics_on_bytes_behind_a_valid_compression(bytes in prop::collection::vec(any::<u8>(), 0..8192), zstd: bool) {
        let packed = if zstd {
            zstd::encode_all(&bytes[..], 3).unwrap()
        } else {
            berth_package::testkit::gzip(&bytes)
        };
        let err = read_package(std::io::Cursor::new(packed), &ReadOptions::default()).unwrap_err();
        prop_assert!(!err.to_string().contains("neither a gzip nor a zstd"), "{}", err);
    }

    /// Flips in the tar headers and the manifest only (not the bulk of the payload),
    /// recompressed: the mutations reach the tar parser, the entry checks, the
    /// checksums and the manifest rules.
    #[test]
    fn reader_never_panics_on_mutated_structure(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()), 1..6)
    ) {
        let parts = Parts::podman();
        let entries = parts.entries();
        let tar = berth_package::testkit::tar_bytes(&entries, true);
        // Offsets of each entry's header, and of manifest.json's bytes.
        let mut headers = Vec::new();
        let mut manifest = 0..0;
        let mut at = 0usize;
        for e in &entries {
            headers.push(at);
            let len = e.data.len();
            if e.name == b"manifest.json" {
                manifest = at + 512..at + 512 + len;
            }
            at += 512 + len.div_ceil(512) * 512;
        }
        let mut tar = tar;
        for (which, offset, byte) in flips {
            let i = if which.index(2) == 0 {
                headers[which.index(headers.len())] + offset.index(512)
            } else {
                manifest.start + offset.index(manifest.len().max(1))
            };
            tar[i] ^= byte | 1;
        }
        let result = read_package(std::io::Cursor::new(berth_package::testkit::gzip(&tar)), &ReadOptions::default());
        if let Err(e) = result {
            prop_assert!(!e.to_string().contains("neither a gzip nor a zstd"), "{}", e);
        }
    }

    /// Manifests with valid checksums whose JSON is any value: the reader gets to the
    /// manifest rules (and past them to the payload) without panicking.
    #[test]
    fn reader_never_panics_on_any_manifest_with_valid_checksums(v in json_value()) {
        let parts = Parts::podman();
        let manifest = serde_json::to_vec(&v).unwrap();
        let entries = parts.entries_with(&parts.sums(), &manifest, None);
        let package = berth_package::testkit::gzip(&berth_package::testkit::tar_bytes(&entries, true));
        let _ = read_package(std::io::Cursor::new(package), &ReadOptions::default());
    }

    #[test]
    fn reader_never_panics_on_mutated_packages(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>(), truncate: bool) {
        let mut bytes = Parts::podman().package();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= byte | 1;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        // A changed byte must never be accepted silently... unless it only hit gzip
        // header fields that carry no data (mtime, OS). Either way: no panic.
        let _ = read_package(std::io::Cursor::new(bytes), &ReadOptions::default());
    }

    #[test]
    fn reader_never_panics_on_mutated_tar(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut tar = berth_package::testkit::tar_bytes(&Parts::podman().entries(), true);
        for (at, byte) in flips {
            let i = at.index(tar.len());
            tar[i] ^= byte | 1;
        }
        let _ = read_package(std::io::Cursor::new(berth_package::testkit::gzip(&tar)), &ReadOptions::default());
    }
}
