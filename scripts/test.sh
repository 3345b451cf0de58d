#!/usr/bin/env bash
# The whole test suite: unit, property, CLI and end-to-end tests against real
# podman, Docker Engine, LXC, runc, crun, skopeo, umoci, GNU tar, Python's tarfile.
# Installs what it needs first; the tests start dockerd themselves when none answers
# (scripts/dockerd.sh) and stop it when they end. Run as root.
# Both cargo test steps use the same features, so the test binaries are built once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings
# The end-to-end tests run the berth binary: build it before any test starts.
cargo build --workspace --all-features --quiet
# The SIGKILL trials run alone: killing podman commands mid-write leaves c/storage
# half-written layers that podman cleans up on its next use, and that clean-up races
# with the other tests' podman commands (podman's own storage races, not berth's).
trials=crash::berthd_killed_at_random_moments
flags=(--workspace --all-features --all-targets)
cargo test "${flags[@]}" -- --skip "$trials"
# Only the e2e binary (the same one the step above built): its result closes the run.
cargo test --workspace --all-features --test e2e -- "$trials"
