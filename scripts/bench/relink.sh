#!/usr/bin/env bash
# The relink path (issue 5): a link whose table does not fit, through llgo-ld (explicit CC mode:
# first link, failed rewrite, padding object, second link, rewrite, install), next to the plain
# link of the same objects and to llgo-ld with LLGO_LD_RESERVE=0 (first link and the failed
# rewrite only), all in the same run. Reports the extra wall time of the relink path.
# Fixtures: gen.py programs with a closure stub for every function (the table always misses
# a few percent), 10k and 100k rows (RELINK_SIZES="10k" for one), clang-19 -O1, ld.lld-19
# --gc-sections --icf=safe.
set -euo pipefail
work=$(mktemp -d "${TMPDIR:-/tmp}/llgo-ld-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
lld=$(command -v ld.lld-19)
source scripts/bench-lib.sh

mean() { # hyperfine json, command index
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["mean"])' "$1" "$2"
}

for size in ${RELINK_SIZES:-10k 100k}; do
  case $size in
    10k) args=(--packages 4 --funcs 1250 --stubs 1250 --noinline) ;;
    100k) args=(--packages 20 --funcs 2500 --stubs 2500 --noinline) ;;
  esac
  dir=$work/$size
  build_objects "$dir" "${args[@]}"
  link=(-no-pie "--ld-path=$lld" -Wl,--gc-sections -Wl,--icf=safe "$dir"/src/*.o "$dir/rtcheck.o")
  clang-19 "${link[@]}" -o "$dir/plain"
  short=$("$LLGO_LD" inspect --json "$dir/plain" | sed -n 's/.*"shortfall":\([0-9]*\).*/\1/p')
  [ -n "$short" ] || { echo "relink.sh: the $size fixture fits; nothing to measure" >&2; exit 1; }
  LLGO_LD_LOG_FILE="$dir/log" "$LLGO_LD" clang-19 "${link[@]}" -o "$dir/relinked"
  reserved=$(sed -n 's/.* reserved=\([0-9]*\).*/\1/p' "$dir/log" | tail -1)
  "$LLGO_LD" verify "$dir/relinked" | tail -1
  echo "fixture $size: $(stat -c %s "$dir/plain") bytes, table short by $short bytes, relink reserved $reserved"
  q() { printf '%q ' "$@"; }
  hyperfine -N -w 2 -r 10 --export-json "$work/$size.json" \
    --export-markdown "$BENCH_OUT/relink-$size.md" \
    -n "plain link" "$(q clang-19 "${link[@]}" -o "$dir/a")" \
    -n "llgo-ld, LLGO_LD_RESERVE=0" "$(q env LLGO_LD_RESERVE=0 "$LLGO_LD" clang-19 "${link[@]}" -o "$dir/b")" \
    -n "llgo-ld with relink" "$(q "$LLGO_LD" clang-19 "${link[@]}" -o "$dir/c")" \
    2>&1 | grep -E "Benchmark|Time|±|faster|slower|^  "
  plain=$(mean "$work/$size.json" 0)
  relinked=$(mean "$work/$size.json" 2)
  python3 -c 'import sys; p, r = map(float, sys.argv[1:]); print("relink path: +%.1f ms over the plain link (%.1f ms), %.2fx" % ((r - p) * 1e3, p * 1e3, r / p))' "$plain" "$relinked"
done
