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
