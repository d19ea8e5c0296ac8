#!/usr/bin/env bash
# The main job, twice:
#  1. on a real LLGo executable from shim-tests/corpus: decompress the linker's raw output, show
#     what `llgo-ld inspect` sees, rewrite it, verify it, and run it with LLGO_FUNCINFO_DEBUG=1 so
#     the LLGo runtime says it adopted the prebuilt table (`entries= prebuilt`) and the program's
#     own name check prints PASS;
#  2. on a generated LLGo-shaped C program (shim-tests/fixtures/gen.py) linked THROUGH llgo-ld as
#     the C compiler driver.
# Needs scripts/setup.sh (clang-19, lld-19, python3, xz, the LLGo run-time libraries).
#
# SAMPLE picks the corpus file (relative to shim-tests/corpus, without .raw.xz). The default is a
# full-LTO build of today's LLGo 3e0fdda00 (generation 2: the table is written in place and the
# unused tail of its section cut from the file); SAMPLE=llgo-066a72125/mp24x24_ltofull shows
# generation 1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
sample=${SAMPLE:-llgo-3e0fdda00/probe-fulllto}
cargo build --release --quiet
llgo_ld=$root/target/release/llgo-ld
work=$root/target/example
rm -rf "$work" && mkdir -p "$work"

echo "=== 1. A real LLGo program: shim-tests/corpus/$sample.raw.xz (as the linker wrote it)"
prog=$work/$(basename "$sample")
xz -dc "shim-tests/corpus/$sample.raw.xz" >"$prog"
chmod +x "$prog"
echo
echo "+ $prog   (before: the runtime builds its table on first use)"
LLGO_FUNCINFO_DEBUG=1 "$prog" 2>&1 | grep -E 'entries=|^(PASS|FAIL)' || true
echo
echo "+ llgo-ld inspect $prog"
"$llgo_ld" inspect "$prog"
echo
echo "+ llgo-ld rewrite $prog"
before=$(stat -c %s "$prog")
"$llgo_ld" rewrite "$prog"
echo "  size: $before -> $(stat -c %s "$prog") bytes"
echo
echo "+ llgo-ld verify $prog"
"$llgo_ld" verify "$prog"
echo
echo "+ LLGO_FUNCINFO_DEBUG=1 $prog   (after: the runtime adopts the prebuilt table)"
out=$(LLGO_FUNCINFO_DEBUG=1 "$prog" 2>&1)
printf '%s\n' "$out" | grep -E 'entries=' || true
printf '%s\n' "$out" | tail -n 1
printf '%s\n' "$out" | grep -q 'entries= prebuilt' || { echo "example.sh: the runtime did not adopt the table" >&2; exit 1; }
[ "$(printf '%s\n' "$out" | tail -n 1)" = PASS ] || { echo "example.sh: the program's check failed" >&2; exit 1; }

echo
echo "=== 2. A generated LLGo-shaped C program, linked through llgo-ld"
python3 shim-tests/fixtures/gen.py "$work/src" --packages 3 --funcs 10 --stubs 5 --helpers 4 \
  --inline-calls 3 --aliases 2 --cross-calls >/dev/null
echo "+ llgo-ld clang-19 -no-pie ... -o $work/prog"
LLGO_LD_LOG=info "$llgo_ld" clang-19 -O1 -fno-pie -no-pie -fuse-ld=lld -Ishim-tests/fixtures \
  "$work"/src/*.c shim-tests/fixtures/rtcheck.c -o "$work/prog"
echo
echo "+ llgo-ld inspect $work/prog"
"$llgo_ld" inspect "$work/prog"
echo
echo "+ llgo-ld verify $work/prog"
"$llgo_ld" verify "$work/prog"
echo
echo "+ $work/prog   (the program adopts the table like the LLGo runtime and checks every function)"
"$work/prog"
