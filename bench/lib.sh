# Shared by the benchmarks that compare berth with a peer (sourced, not run).
# Needs, for measure: $work (a scratch directory) and $runs (how many runs per measurement).

# The median of the numbers on standard input.
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# measure NAME 'PREPARE' CMD...: median wall seconds and peak RSS (KiB) of $runs runs;
# PREPARE (clearing a destination) runs untimed before each. Sets t_NAME and m_NAME.
measure() {
  local name=$1 prepare=$2; shift 2
  : > "$work/times.$name"
  for _ in $(seq "$runs"); do
    bash -c "$prepare"
    sync
    /usr/bin/time -f '%e %M' -o "$work/time.$name" "$@" >/dev/null 2>"$work/err.$name" || { cat "$work/err.$name"; exit 1; }
    cat "$work/time.$name" >> "$work/times.$name"
  done
  local secs rss
  secs=$(cut -d' ' -f1 "$work/times.$name" | median)
  rss=$(cut -d' ' -f2 "$work/times.$name" | median)
  printf '%-28s %8.2f s  %8d KiB peak RSS  (runs: %s s)\n' "$name" "$secs" "$rss" \
    "$(cut -d' ' -f1 "$work/times.$name" | tr '\n' ' ' | sed 's/ $//')"
  eval "t_$name=$secs; m_$name=$rss"
}

# The fleet benchmarks' binaries: $BIN_DIR, or a release build of berth, berthd and
# berthctl with the registry client. Sets bin (absolute).
fleet_bins() {
  if [ -z "${BIN_DIR:-}" ]; then
    cargo build --release --quiet -p berth-cli -p berthd -p berthctl --features berthd/device-registry
    bin=$PWD/target/release
  else
    bin=$(cd "$BIN_DIR" && pwd)
  fi
}
