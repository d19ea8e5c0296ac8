#!/usr/bin/env bash
# The main job on a bundled example: build llgo-ld, generate a small LLGo-shaped program
# (shim-tests/fixtures/gen.py), link it THROUGH llgo-ld as the C compiler driver, and show
# what the rewrite did, what `verify` says and what the program's own run-time check says.
# Needs scripts/setup.sh (clang-19, lld-19, python3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --quiet
llgo_ld=$root/target/release/llgo-ld
work=$root/target/example
rm -rf "$work" && mkdir -p "$work"

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
