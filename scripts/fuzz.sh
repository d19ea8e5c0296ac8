#!/usr/bin/env bash
# A coverage-guided fuzzing campaign (docs/design.md, "Fuzzing"): cargo-fuzz (libFuzzer) on the
# nightly toolchain, ONE job per target, run one target after the other.
#
#   scripts/fuzz.sh SECONDS_PER_TARGET [TARGET...]     (default: every target)
#
# Targets (fuzz/fuzz_targets): produce elf macho fat verify inspect args. Each starts from the
# committed seeds in shim-tests/fuzz-corpus/TARGET plus any directories named in FUZZ_SEEDS
# (colon-separated; e.g. decompressed real LLGo executables), keeps its working corpus in
# fuzz/corpus/TARGET (not committed) and its findings in fuzz/artifacts/TARGET. The property is
# in shim-tests/indep (`property`): the pipeline refuses, or its output passes `verify` and the
# independent checker; a panic, a hang (-timeout) or a single allocation above -malloc_limit_mb
# is a finding (the campaign goes on: -fork=1 with one child). The last lines print executions and coverage (edges) per target.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: scripts/fuzz.sh SECONDS_PER_TARGET [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(produce elf macho fat verify inspect args)
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz (see scripts/setup.sh)" >&2; exit 1; }
cargo +nightly --version >/dev/null || { echo "the nightly toolchain is missing: rustup toolchain install nightly" >&2; exit 1; }
cargo +nightly fuzz build -s none >/dev/null
mkdir -p fuzz/logs
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    seeds=("fuzz/corpus/$t")
    [ -d "shim-tests/fuzz-corpus/$t" ] && seeds+=("shim-tests/fuzz-corpus/$t")
    IFS=: read -r -a extra <<<"${FUZZ_SEEDS:-}"
    for d in "${extra[@]}"; do [ -n "$d" ] && [ -d "$d/$t" ] && seeds+=("$d/$t"); done
    log="fuzz/logs/$t.log"; [ -e "$log" ] && mv "$log" "$log.$(date +%s)"
    # Executables need room (real LLGo programs are 2-3 MB); command lines do not, and large
    # ones only slow the campaign down.
    max_len=4194304
    [ "$t" = args ] && max_len=65536
    # -s none: no sanitizer (safe Rust; debug assertions and overflow checks stay on).
    [ "$t" = args ] && find "fuzz/corpus/$t" -type f -size +64k -delete
    cargo +nightly fuzz run -s none "$t" "${seeds[@]}" -- \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=64 \
        -max_len="$max_len" -len_control=0 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1 || echo "$t: finding (see $log)"
    # -fork=1: one child at a time (one core), a finding does not end the campaign; the parent's
    # last "#EXECS: cov: EDGES ..." line has the totals.
    last=$(grep -E '^#[0-9]+: cov: [0-9]+' "$log" | tail -1)
    execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
    cov=$(sed -E 's/^#[0-9]+: cov: ([0-9]+).*/\1/' <<<"$last")
    echo "$t: ${execs:-?} executions, ${cov:-?} edges, $(ls "fuzz/artifacts/$t" | wc -l) findings"
done
