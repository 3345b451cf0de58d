//! Each stage on its own, config in and config out: the cases of BundleGen's
//! processor tests (unit_tests/L1_testing/test_files/test_Bundleprocessor_ut.py),
//! restated, plus the cases where berth fixes a BundleGen bug.

use super::*;

mod plugins;
mod stages;

pub(super) struct Case {
    platform: Map<String, Value>,
    pub(super) dir: tempfile::TempDir,
}

pub(super) fn case(platform: Value) -> Case {
    Case {
        platform: platform.as_object().expect("an object").clone(),
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Case {
    pub(super) fn processor(&self, app: Value, config: Value) -> Processor<'_> {
        self.with_options(app, config, false)
    }

    pub(super) fn with_options(&self, app: Value, config: Value, crun: bool) -> Processor<'_> {
        Processor {
            platform: &self.platform,
            platform_name: "test".into(),
            app,
            config,
            rootfs: Root::open(self.dir.path()).unwrap(),
            options: Options {
                crun,
                create_mount_points: false,
                dep_walking: true,
                lib_mode: LibMode::Normal,
            },
            libs: LibMatcher::new(
                self.platform.get("libs").unwrap_or(&Value::Null),
                true,
                LibMode::Normal,
            ),
            warnings: Vec::new(),
        }
    }
}
