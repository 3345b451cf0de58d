#!/usr/bin/env bash
# Docker Engine for berth's tests, demo and benchmarks where nothing starts it (CI has
# no systemd). Idempotent:
#   dockerd.sh start      starts dockerd unless one already answers; prints the pid of
#                         the one it started (nothing when one was already there)
#   dockerd.sh stop PID   stops that dockerd, if PID is a dockerd, and waits for it
set -euo pipefail

log=${DOCKERD_LOG:-/tmp/berth-dockerd.log}

case "${1:-}" in
  start)
    if docker info >/dev/null 2>&1; then
      exit 0
    fi
    command -v dockerd >/dev/null || { echo "dockerd.sh: dockerd is not installed: run scripts/setup.sh" >&2; exit 1; }
    # dockerd creates the bridge docker0 and leaves it when it stops: the stop below
    # deletes it again when it was not there before this start.
    made_bridge=false
    ip link show docker0 >/dev/null 2>&1 || made_bridge=true
    setsid dockerd >>"$log" 2>&1 </dev/null &
    pid=$!
    [ "$made_bridge" = false ] || : >"/run/berth-dockerd-$pid.made-docker0"
    for _ in $(seq 1 120); do
      if docker info >/dev/null 2>&1; then
        echo "$pid"
        exit 0
      fi
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "dockerd.sh: dockerd exited at start; its log: $log" >&2
        tail -n 5 "$log" >&2
        exit 1
      fi
      sleep 0.5
    done
    echo "dockerd.sh: dockerd did not answer within 60 s; its log: $log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
    ;;
  stop)
    pid=${2:?usage: dockerd.sh stop PID}
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || exit 0
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
    marker="/run/berth-dockerd-$pid.made-docker0"
    if [ -e "$marker" ]; then
      ip link delete docker0 2>/dev/null || true
      rm -f "$marker"
    fi
    ;;
  *)
    echo "usage: dockerd.sh start | stop PID" >&2
    exit 2
    ;;
esac
