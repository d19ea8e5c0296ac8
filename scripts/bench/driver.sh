#!/usr/bin/env bash
# The driver shim's cost on a plain C link without LLGo sections (issue 3): wall time direct vs
# through llgo-ld. Target: overhead <= 1 ms (issue 12; was max(2 ms, 2%), issue 3).
#
# Shapes: explicit driver mode (`llgo-ld clang-19 ...`, the CC= recipe), linker mode
# (`clang-19 --ld-path=llgo-ld`, which runs ld.lld), and for information the bare cost of one
# more process (`llgo-ld /bin/true`) next to the floor of any wrapper (a C program that only
# posix_spawns its arguments and waits, built here). hyperfine prints the usual table; on a shared 2-core
# machine its back-to-back blocks drift by more than the effect (-10 ms to +6 ms seen between two
# runs), so the verdict comes from interleaved pairs (A B, B A, ...): the median of the per-pair
# differences, with quartiles. Each command links to its own output, so llgo-ld's identity check
# sees a fresh file every run and decides it from headers (no LLGo sections).
set -euo pipefail
for t in clang-19 ld.lld-19 hyperfine python3; do
  command -v "$t" >/dev/null || { echo "bench/driver.sh: $t missing: run scripts/setup.sh" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/llgo-ld-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat >"$work/plain.c" <<'C'
#include <stdio.h>
int main(void) { puts("hello"); return 0; }
C
clang-19 -O1 -c "$work/plain.c" -o "$work/plain.o"
# The floor of any wrapper: a C program that only posix_spawns its arguments and waits.
cat >"$work/wrap.c" <<'C'
#include <spawn.h>
#include <sys/wait.h>
extern char **environ;
int main(int argc, char **argv) {
  pid_t pid; int status;
  if (argc < 2 || posix_spawnp(&pid, argv[1], 0, 0, argv + 1, environ)) return 127;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}
C
clang-19 -O2 "$work/wrap.c" -o "$work/wrap"
lld=$(command -v ld.lld-19)
o=$work/plain.o
hyperfine -N -w 10 -r "${BENCH_RUNS:-50}" --export-markdown "$BENCH_OUT/driver.md" \
  -n direct-cc "clang-19 $o -o $work/a" \
  -n llgo-ld-cc "$LLGO_LD clang-19 $o -o $work/b" \
  -n direct-lld "clang-19 --ld-path=$lld $o -o $work/c" \
  -n llgo-ld-lld "clang-19 --ld-path=$LLGO_LD $o -o $work/d" 2>&1 | grep -E "^(Benchmark|  Time)"
python3 - "$work" "$LLGO_LD" "$lld" "${BENCH_PAIRS:-300}" <<'PY'
import statistics, subprocess, sys, time
d, shim, lld, pairs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
o = f"{d}/plain.o"
shapes = {
    "explicit driver (llgo-ld clang-19)":
        (["clang-19", o, "-o", f"{d}/a"], [shim, "clang-19", o, "-o", f"{d}/b"]),
    "linker (clang-19 --ld-path=llgo-ld)":
        (["clang-19", f"--ld-path={lld}", o, "-o", f"{d}/c"],
         ["clang-19", f"--ld-path={shim}", o, "-o", f"{d}/e"]),
    "one more process (llgo-ld /bin/true)": (["/bin/true"], [shim, "/bin/true"]),
    "the floor of any wrapper (a C posix_spawn wrapper /bin/true)":
        (["/bin/true"], [f"{d}/wrap", "/bin/true"]),
}
def wall(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t
ok = True
for name, (a, b) in shapes.items():
    for _ in range(10):
        wall(a); wall(b)
    diffs, base = [], []
    for i in range(pairs):
        if i % 2:
            tb = wall(b); ta = wall(a)
        else:
            ta = wall(a); tb = wall(b)
        diffs.append(tb - ta)
        base.append(ta)
    over, a_med = statistics.median(diffs), statistics.median(base)
    limit = 0.001
    q = statistics.quantiles(diffs, n=4)
    gated = "/bin/true" not in name
    verdict = ("ok" if over <= limit else "OVER TARGET") if gated else "(information)"
    ok &= over <= limit or not gated
    print(f"{name}: direct median {a_med*1e3:.2f} ms; llgo-ld adds {over*1e3:+.2f} ms median "
          f"({over/a_med*100:+.1f}%), quartiles {q[0]*1e3:+.2f} / {q[2]*1e3:+.2f} ms over {pairs} "
          f"interleaved pairs; target <= {limit*1e3:.2f} ms: {verdict}")
sys.exit(0 if ok else 1)
PY
