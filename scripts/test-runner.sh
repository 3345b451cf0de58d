#!/bin/sh
# cargo's runner for the test binaries (scripts/test.sh): libtest's --report-time
# (each test's time) is behind -Z unstable-options, which the stable harness accepts
# when RUSTC_BOOTSTRAP is set where it runs. Set here, for the test binary only: in
# cargo's own environment it would change every crate's build.
RUSTC_BOOTSTRAP=1 exec "$@"
