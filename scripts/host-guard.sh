#!/usr/bin/env bash
# The suite leaves the machine as it found it (issue 28). scripts/test.sh records the
# host's state before the tests and compares after them:
#   host-guard.sh snapshot FILE      writes what the tests could leave behind to FILE
#   host-guard.sh compare BEFORE AFTER
#                                    exits 1 naming every difference
#   host-guard.sh sweep              removes what an earlier run of the suite left
#                                    when it was killed (engine containers named
#                                    berth-*, images localhost/berth-*, LXC
#                                    containers berth-*), naming each; run before
#                                    the snapshot, so debris of our own is not taken
#                                    for the host's state
# What it records: network links and namespaces, mounts, the containers and images of
# podman and (when it answers) Docker, LXC containers under the default lxcpath, the
# processes the tests start (daemons, registries, berthd, runtimes' monitors), and
# berth's cgroups. Values that change by themselves (link state, counters, pids,
# times) are left out, so two snapshots of an untouched machine are equal.
set -euo pipefail

# Processes the tests start and must stop again: compared by count per name.
watched='^(dockerd|containerd|containerd-shim.*|docker-registry|registry|berthd|conmon|lxc-start|runc|crun|podman)$'

snapshot() {
  local out=$1
  {
    echo "## links"
    ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort
    echo "## netns"
    ip netns list 2>/dev/null | awk '{print $1}' | sort
    echo "## mounts"
    # Less dockerd's handle on its default network namespace, which it makes at its
    # first container and keeps while it runs (the suite's dockerd stops after this).
    findmnt -rn -o TARGET | grep -vx '/run/docker/netns/default' | sort
    echo "## podman containers"
    podman ps -a --format '{{.Names}} {{.Image}}' 2>/dev/null | sort
    echo "## podman images"
    podman images -a --noheading --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}' 2>/dev/null | sort
    if docker info >/dev/null 2>&1; then
      echo "## docker containers"
      docker ps -a --format '{{.Names}} {{.Image}}' | sort
      echo "## docker images"
      docker images -a --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}' | sort
    fi
    echo "## lxc containers"
    lxc-ls -1 2>/dev/null | sort
    echo "## processes"
    ps -e -o comm= | grep -E "$watched" | sort | uniq -c | awk '{print $2, $1}'
    echo "## cgroups"
    find /sys/fs/cgroup -maxdepth 3 -type d -name 'berth*' 2>/dev/null | sort
  } >"$out"
}

compare() {
  local before=$1 after=$2
  if diff -q "$before" "$after" >/dev/null; then
    echo "host-guard: the machine is as the tests found it"
    return 0
  fi
  echo "host-guard: the tests changed the machine (< before, > after):" >&2
  # Name the section of each difference.
  awk '
    FNR == 1 { file++ }
    /^## / { section = substr($0, 4); next }
    { seen[section "\t" $0] += (file == 1 ? 1 : -1) }
    END {
      for (k in seen) {
        if (seen[k] == 0) continue
        split(k, p, "\t")
        printf "  %s %s: %s\n", (seen[k] > 0 ? "<" : ">"), p[1], p[2]
      }
    }' "$before" "$after" | sort -k3 >&2
  return 1
}

# Every container and image the suite makes is named berth-* (images
# localhost/berth-*); a run killed midway (a machine restarted under it) leaves them,
# with their mounts, network namespaces and links.
sweep() {
  local name engine
  for engine in podman docker; do
    if [ "$engine" = docker ] && ! docker info >/dev/null 2>&1; then continue; fi
    "$engine" ps -a --format '{{.Names}}' 2>/dev/null | { grep '^berth-' || true; } | while read -r name; do
      echo "host-guard: removing $engine container $name, left by an earlier run" >&2
      "$engine" rm -f "$name" >/dev/null
    done
    "$engine" images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | { grep '^localhost/berth-' || true; } |
      while read -r name; do
        echo "host-guard: removing $engine image $name, left by an earlier run" >&2
        "$engine" rmi -f "$name" >/dev/null
      done
  done
  lxc-ls -1 2>/dev/null | { grep '^berth-' || true; } | while read -r name; do
    echo "host-guard: removing LXC container $name, left by an earlier run" >&2
    lxc-stop -k -n "$name" >/dev/null 2>&1 || true
    lxc-destroy -n "$name" >/dev/null
  done
}

case "${1:-}" in
  sweep) sweep ;;
  snapshot) snapshot "${2:?usage: host-guard.sh snapshot FILE}" ;;
  compare) compare "${2:?usage: host-guard.sh compare BEFORE AFTER}" "${3:?}" ;;
  *)
    echo "usage: host-guard.sh snapshot FILE | compare BEFORE AFTER | sweep" >&2
    exit 2
    ;;
esac
