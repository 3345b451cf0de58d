#!/usr/bin/env bash
# The whole test suite: unit, property, CLI and end-to-end tests against real
# podman, GNU tar, Python's tarfile. Installs what it needs first. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings
# The end-to-end tests run the berth binary: build it before any test starts.
cargo build --workspace --quiet
cargo test --workspace --all-features --all-targets
