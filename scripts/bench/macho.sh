#!/usr/bin/env bash
# Mach-O: `llgo-ld rewrite` (chained-fixup surgery + in-process ad-hoc re-signing) of a
# spill-sized arm64 fixture linked by ld64.lld-19, next to `cp` of the same file.
set -euo pipefail
work=$(mktemp -d "${TMPDIR:-/tmp}/llgo-ld-bench-macho.XXXXXX")
trap 'rm -rf "$work"' EXIT
fx=shim-tests/fixtures/macho

# 4000 functions, 4000 weak closure stubs with 3 records each (binds): the table spills into the
# stub section; filler stretches __text over ~1000 find-index buckets.
python3 "$fx/gen.py" "$work/spill.c" "$work/spill.tsv" \
  --funcs 4000 --helpers 0 --stubs 4000 --stub-records 3 --filler 1000
clang-19 -target arm64-apple-macos13 -ffreestanding -fuse-ld=lld \
  --ld-path="$(command -v ld64.lld-19)" -isysroot "$fx/sdk" -O1 "$work/spill.c" -o "$work/prog"
prog=$work/prog
"$LLGO_LD" inspect "$prog" | sed -n 's/^ *\(rows\|buckets\|outcome\) */  \1: /p'
echo "fixture: $(stat -c %s "$prog") bytes, ad-hoc signed (lld default on arm64)"
hyperfine -N -w 3 -r 20 --export-markdown "$BENCH_OUT/macho-spill.md" \
  --prepare "cp $prog $work/x" "$LLGO_LD rewrite $work/x" \
  --prepare "rm -f $work/y" "cp $prog $work/y" 2>&1 | grep -E "Time|±|faster|slower|^  "
"$LLGO_LD" verify "$work/x" | tail -1
