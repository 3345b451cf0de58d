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

# The machine's limits (issue 25): what the same work costs done by libdeflate, the
# compressor berth uses, on every core, measured in the same run as berth.
#
# limit_slices INPUT: INPUT cut into one equal slice per core under $work/limit/, and
# each slice compressed (untimed) at $level for limit_inflate. Sets slices (the list).
limit_slices() {
  local input=$1 n
  n=$(nproc)
  rm -rf "$work/limit" && mkdir -p "$work/limit"
  split -n "$n" -d "$input" "$work/limit/slice."
  slices=$(ls "$work/limit"/slice.[0-9]*)
  for s in $slices; do libdeflate-gzip "-$level" -c "$s" > "$s.gz"; done
}

# limit_deflate NAME 'READ': writing's limit: the input read once (READ, a command:
# `cat FILE`, or `tar -cf - -C DIR .` for a tree; its output is discarded), then the
# slices compressed by libdeflate-gzip at berth's level, one process per core.
# Sets t_NAME.
limit_deflate() {
  local name=$1 read=$2
  measure "$name" "" bash -c "$read | cat > /dev/null
    for s in $(echo $slices); do libdeflate-gzip -$level -c \"\$s\" > /dev/null & done; wait"
}

# limit_inflate NAME INPUT: verifying's limit: the slices inflated by libdeflate on
# every core, then INPUT hashed once with SHA-256 (OpenSSL: SHA-NI when the CPU has
# it). Sets t_NAME.
limit_inflate() {
  local name=$1 input=$2
  measure "$name" "" bash -c "for s in $(echo $slices); do libdeflate-gzip -d -c \"\$s.gz\" > /dev/null & done; wait
    openssl dgst -sha256 '$input' > /dev/null"
}

# of_limit BERTH LIMIT: berth's speed as a fraction of the limit's (1 = at the limit).
of_limit() { echo "$2 / $1" | bc -l; }
