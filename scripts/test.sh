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
# One dockerd for the whole run (none is started when one answers), so the guard sees
# Docker's containers and images before and after; stopped when the run ends.
dockerd_pid=$(bash scripts/dockerd.sh start)
trap '[ -z "$dockerd_pid" ] || bash scripts/dockerd.sh stop "$dockerd_pid"' EXIT
# The tests leave the machine as they found it: links, namespaces, mounts, engine
# containers and images, daemons (scripts/host-guard.sh).
guard=$(mktemp -d)
bash scripts/host-guard.sh sweep
bash scripts/host-guard.sh snapshot "$guard/before"
cargo test "${flags[@]}" -- --skip "$trials"
# Only the e2e binary (the same one the step above built).
cargo test --workspace --all-features --test e2e -- "$trials"
# berthd's footprint, once, small (issue 29): a regression shows in the output; the
# targets stay in the bench. The test build (PROFILE=debug): nothing compiles again.
PROFILE=debug CONTAINERS=5 TICKS=2 bash bench/footprint.sh
# Every fuzz target for a bounded time (issue 21).
bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
bash scripts/host-guard.sh snapshot "$guard/after"
bash scripts/host-guard.sh compare "$guard/before" "$guard/after"
