#!/usr/bin/env bash
# Benchmarks (not tests): every section under scripts/bench/ reports llgo-ld next to a baseline
# measured in the same run on the same machine. Usage:
#   bash scripts/bench.sh            all sections
#   bash scripts/bench.sh rewrite    only scripts/bench/rewrite.sh
# Needs scripts/setup.sh (hyperfine, clang-19, lld-19). Results go to stdout and
# target/bench/<section>.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v hyperfine >/dev/null || { echo "bench.sh: hyperfine missing: run scripts/setup.sh" >&2; exit 1; }
cargo build --release --quiet
export LLGO_LD="$root/target/release/llgo-ld"
export BENCH_OUT="$root/target/bench"
mkdir -p "$BENCH_OUT"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(lscpu | sed -n 's/^Model name: *//p')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
sections=("$@")
[ "${#sections[@]}" -gt 0 ] || sections=($(ls scripts/bench/ | sed 's/\.sh$//'))
status=0
for s in "${sections[@]}"; do
  echo
  echo "## $s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  # A section exits 1 when a target is not met; the others still run.
  bash "scripts/bench/$s.sh" || status=1
done
exit "$status"
