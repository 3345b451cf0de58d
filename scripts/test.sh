#!/usr/bin/env bash
# The whole test suite: unit, property, CLI and end-to-end tests against real
# podman, Docker Engine, LXC, runc, crun, skopeo, umoci, GNU tar, Python's tarfile.
# Also the device binaries cross-built for arm64 and armhf, run under qemu-user, and
# their Debian packages (lintian, dpkg-deb, systemd-analyze).
# Installs what it needs first; the tests start dockerd themselves when none answers
# (scripts/dockerd.sh) and stop it when they end. Run as root.
# Both cargo test steps use the same features, so the test binaries are built once.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step's time, printed at the end (issue 25: what the suite's time goes to).
step_times=()
step() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  step_times+=("$(printf '%6d s  %s' $((SECONDS - start)) "$name")")
}
step setup bash scripts/setup.sh
# C compiled once per run (issue 25): zstd's and libdeflate's C compiles with the
# same flags for an arch's release build and for its emulated unit tests (measured:
# all 36 compiles of the arm64 unit tests answered from the cache, 26 CPU-s each
# arch). ccache, its cache in target/ (nothing outside the clone); the wrapper in
# CC_<triple>, as the cc crate reads it.
export CCACHE_DIR=$PWD/target/ccache
export CC_x86_64_unknown_linux_gnu="ccache cc"
export CC_aarch64_unknown_linux_gnu="ccache aarch64-linux-gnu-gcc"
export CC_armv7_unknown_linux_gnueabihf="ccache arm-linux-gnueabihf-gcc"
step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings
# The end-to-end tests run the berth binary: build it before any test starts.
step build cargo build --workspace --all-features --quiet
# The podman SIGKILL trials run alone: killing podman commands mid-write leaves
# c/storage half-written layers that podman cleans up on its next use, and that
# clean-up races with the other tests' podman commands (podman's own storage races,
# not berth's). The Docker, LXC and runc trials (`…_during_<runtime>_work…`) kill no
# podman command and run with the rest.
podman_trials=crash::berthd_killed_at_random_moments_recovers
flags=(--workspace --all-features --all-targets)
# The comparisons with the real RDK BundleGen (every test named *bundlegen*) need
# its checkout: BUNDLEGEN_DIR, by default ../shared/peers/bundlegen. CI has it and
# runs them; a clone without it runs everything else and says so at the end.
export BUNDLEGEN_DIR=${BUNDLEGEN_DIR:-$(cd .. && pwd)/shared/peers/bundlegen}
peer_skips=()
if [ ! -f "$BUNDLEGEN_DIR/run.sh" ]; then
  if [ "${CI:-}" = true ]; then
    echo "test.sh: no BundleGen at $BUNDLEGEN_DIR (run.sh): CI runs the comparisons with it" >&2
    exit 1
  fi
  peer_skips=(--skip bundlegen)
fi
# One dockerd for the whole run (none is started when one answers), so the guard sees
# Docker's containers and images before and after; stopped when the run ends.
# What the run started is stopped when it ends, however it ends: the device lane
# (below) and dockerd.
device_pid='' device_log=''
cleanup() {
  [ -z "$device_pid" ] || kill -- -"$device_pid" 2>/dev/null || true
  [ -z "$device_log" ] || rm -f "$device_log"
  [ -z "$dockerd_pid" ] || bash scripts/dockerd.sh stop "$dockerd_pid"
}
dockerd_pid=$(bash scripts/dockerd.sh start)
trap cleanup EXIT
# The tests leave the machine as they found it: links, namespaces, mounts, engine
# containers and images, daemons (scripts/host-guard.sh).
guard=$(mktemp -d)
bash scripts/host-guard.sh sweep
bash scripts/host-guard.sh snapshot "$guard/before"
# Each test's time (libtest's --report-time, through scripts/test-runner.sh), the
# slowest named at the end.
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=$PWD/scripts/test-runner.sh
times=$(mktemp)
timed=(-Z unstable-options --report-time)
# Most end-to-end tests wait (for containers, daemons, restart windows, registries):
# measured, 2 test threads on 2 CPUs left the CPUs 70 % idle. So three per CPU.
threads=${BERTH_TEST_THREADS:-$(($(nproc) * 3))}
tests() { cargo test "${flags[@]}" -- --test-threads "$threads" "$@" "${timed[@]}" | tee -a "$times"; }
# berthd and berthctl for arm64 and armhf, release and stripped (issue 27), then the
# device crates' unit tests for both, run by qemu-user (.cargo/config.toml's runners):
# compiling, mostly, so it runs beside the tests below at the lowest CPU priority and
# takes the CPU they leave while they wait on containers and daemons (issue 25). The
# unit tests build in a target directory of their own, so neither lane waits for the
# other's cargo lock. The e2e tests of these binaries (cross::, deb::) run after it.
device_lane() {
  local arch triple start=$SECONDS
  for arch in arm64 armhf; do make --no-print-directory -s device ARCH="$arch"; done
  echo "$((SECONDS - start)) s  device builds (arm64, armhf)"
  start=$SECONDS
  for triple in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    CARGO_TARGET_DIR=target/cross-tests cargo test --quiet --target "$triple" \
      -p berth-package -p berth-compress -p berth-runtime -p berth-api -p berth-daemon
  done
  echo "$((SECONDS - start)) s  device crates' unit tests under qemu (arm64, armhf)"
}
device_log=$(mktemp)
# Its own process group (setsid), so that a failed run stops it whole.
setsid nice -n 19 bash -c "$(declare -f device_lane); set -euo pipefail; device_lane" \
  >"$device_log" 2>&1 &
device_pid=$!
device_start=$SECONDS
# Waits for the device lane; its output printed either way, its failure the run's.
device_wait() {
  local rc=0
  wait "$device_pid" || rc=$?
  echo "the device lane, beside the tests: $((SECONDS - device_start)) s"
  sed 's/^/  /' "$device_log"
  local line
  while read -r line; do step_times+=("  beside them: $line"); done < <(grep ' s  device' "$device_log")
  [ "$rc" = 0 ] || { echo "test.sh: the device lane failed (exit $rc)" >&2; return "$rc"; }
}
step "tests (unit, property, CLI, end-to-end)" tests --skip "$podman_trials" --skip cross:: --skip deb:: \
  "${peer_skips[@]}"
# berthd's footprint, once, small (issue 29): a regression shows in the output; the
# targets stay in the bench. The test build (PROFILE=debug): nothing compiles again.
step footprint env PROFILE=debug CONTAINERS=5 TICKS=2 bash bench/footprint.sh
# The podman trials (the same flags, so the same binaries: a narrower selection would
# resolve other features and build again), beside every fuzz target for a bounded
# time (issue 21): the trials mostly wait on podman, the fuzz targets use no engine.
trials_and_fuzz() {
  tests "$podman_trials" &
  local trials=$! failed=0
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}" || failed=1
  wait "$trials" || failed=1
  return "$failed"
}
step "podman SIGKILL trials, beside the fuzz targets" trials_and_fuzz
step "waiting for the device lane" device_wait
step "tests of the device builds (cross::, deb::)" tests cross:: deb::
# A removed podman container's conmon and its `podman container cleanup` outlive the
# removal by a moment, and the podman trials now end right before this: a difference
# is looked at again for up to 30 s before it counts (a leftover stays longer).
for _ in $(seq 30); do
  bash scripts/host-guard.sh snapshot "$guard/after"
  diff -q "$guard/before" "$guard/after" >/dev/null && break
  sleep 1
done
bash scripts/host-guard.sh compare "$guard/before" "$guard/after"
echo
echo "the slowest tests (seconds):"
sed -n 's/^test \(.*\) \.\.\. ok <\([0-9.]*\)s>$/\2 \1/p' "$times" | sort -rn | sed -n '1,5s/^/  /p'
rm -f "$times"
echo
echo "C compiles answered by ccache: $(ccache --print-stats | awk '$1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" {h += $2} $1 == "cache_miss" {m = $2} END {print h " of " h + m}')"
echo "the steps' times:"
printf '  %s\n' "${step_times[@]}"
printf '%6d s  in all\n' "$SECONDS" | sed 's/^/  /'
if [ ${#peer_skips[@]} -gt 0 ]; then
  echo
  echo "NOT RUN: the comparisons with the real RDK BundleGen (no run.sh in $BUNDLEGEN_DIR):"
  cargo test --workspace --all-features --test e2e -- --list bundlegen 2>/dev/null |
    sed -n 's/: test$//p' | sed 's/^/  /'
  echo "To run them: BUNDLEGEN_DIR=DIR ./scripts/test.sh, DIR holding RDK BundleGen and its run.sh as ../shared/peers/bundlegen does"
fi
