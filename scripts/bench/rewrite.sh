#!/usr/bin/env bash
# `llgo-ld rewrite` on generated 10k-row and 100k-row fixtures, next to `cp` of the same file.
# Target (issue 2): rewrite within 1.5x of cp.
set -euo pipefail
work=$(mktemp -d "${TMPDIR:-/tmp}/llgo-ld-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
source scripts/bench-lib.sh

build() { # name, gen.py args...: links the fixture with lld, -no-pie as LLGo does
  local dir=$work/$1; shift
  build_objects "$dir" "$@"
  clang-19 -no-pie --ld-path="$(command -v ld.lld-19)" "$dir"/src/*.o "$dir/rtcheck.o" -o "$dir/prog"
  echo "$dir/prog"
}

for size in 10k 100k; do
  case $size in
    10k) args=(--packages 4 --funcs 2500 --stubs 250 --helpers 2 --inline-calls 1) ;;
    100k) args=(--packages 20 --funcs 5000 --stubs 500 --helpers 2 --inline-calls 1) ;;
  esac
  prog=$(build "$size" "${args[@]}")
  rows=$("$LLGO_LD" inspect --json "$prog" | sed -n 's/.*"rows":\([0-9]*\).*/\1/p')
  echo "fixture $size: $(stat -c %s "$prog") bytes, $rows rows"
  # Baselines: `cp` to a fresh name (the issue's yardstick), and `cp` + `mv` over an existing
  # file, which is what any atomic replacement pays on ext4 (the rename frees the old blocks and
  # flushes the new file's delayed allocation).
  hyperfine -N -w 3 -r 20 --export-markdown "$BENCH_OUT/rewrite-$size.md" \
    -n "llgo-ld rewrite" --prepare "cp $prog $work/x" "$LLGO_LD rewrite $work/x" \
    -n "cp" --prepare "rm -f $work/y" "cp $prog $work/y" \
    -n "cp + mv over the file" --prepare "cp $prog $work/z" \
    "sh -c 'cp $prog $work/z.tmp && mv -f $work/z.tmp $work/z'" 2>&1 | grep -E "Time|±|faster|slower|^  "
  "$LLGO_LD" verify "$work/x" | tail -1
done
