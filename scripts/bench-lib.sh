# Shared by the sections in scripts/bench/ (sourced, not run; scripts/bench.sh runs every file in
# scripts/bench/ as a section, so this lives beside it).

# build_objects DIR GEN_ARGS...: generates a fixture with shim-tests/fixtures/gen.py into DIR/src
# and compiles it (packages in parallel, -O1, -no-pie code as LLGo does) plus rtcheck into
# objects: DIR/src/*.o and DIR/rtcheck.o. BENCH_OPT overrides -O1 for the packages (-O0 compiles
# a 1M-function fixture in half the time).
build_objects() {
  local dir=$1; shift
  python3 shim-tests/fixtures/gen.py "$dir/src" "$@" >/dev/null
  ls "$dir"/src/*.c | xargs -P "$(nproc)" -I{} sh -c \
    'clang-19 "$2" -fno-pie -ffunction-sections -Ishim-tests/fixtures -c "$1" -o "$1.o"' _ {} \
    "${BENCH_OPT:--O1}"
  clang-19 -O1 -fno-pie -Ishim-tests/fixtures -c shim-tests/fixtures/rtcheck.c -o "$dir/rtcheck.o"
}
