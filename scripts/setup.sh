#!/usr/bin/env bash
# Installs every system package the llgo-ld test suite and benchmarks need, including the
# run-time libraries of the real LLGo executables in shim-tests/corpus (found with `ldd` on the
# decompressed samples: libgc, libuv, libffi, libatomic, libstdc++ for every sample, and LLVM's
# libunwind.so.1 for the LLGo 066a72125 ones) and xz to decompress them.
# Idempotent: packages already present are not fetched again. apt is retried
# because a transient "cannot access archive" failure has been seen here.
set -euo pipefail

packages=(
  clang-19 lld-19 llvm-19 mold qemu-user
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
  binutils cmake meson ninja-build hyperfine util-linux python3
  xz-utils libgc1 libuv1 libffi8 libatomic1 libstdc++6 libunwind-19
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  for attempt in 1 2 3 4 5; do
    if $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"; then
      break
    fi
    if [ "$attempt" -eq 5 ]; then
      echo "setup.sh: apt-get failed 5 times for: ${missing[*]}" >&2
      exit 1
    fi
    echo "setup.sh: apt-get failed (attempt $attempt), retrying" >&2
    sleep $((attempt * 3))
  done
fi

# Tools the tests call by these exact names.
for tool in clang-19 ld.lld-19 ld64.lld-19 llvm-objdump-19 llvm-objcopy-19 llvm-lipo-19 llvm-otool-19 \
            llvm-readelf-19 mold ld.bfd ld.gold gcc aarch64-linux-gnu-gcc qemu-aarch64 \
            cmake hyperfine unshare python3 xz; do
  command -v "$tool" >/dev/null || { echo "setup.sh: $tool still missing after install" >&2; exit 1; }
done
# Shared libraries the corpus programs load (ldconfig's cache is what the loader searches).
for lib in libgc.so.1 libuv.so.1 libffi.so.8 libatomic.so.1 libstdc++.so.6 libunwind.so.1; do
  /sbin/ldconfig -p | grep -q "^[[:space:]]*$lib " || { echo "setup.sh: $lib still missing after install" >&2; exit 1; }
done
echo "setup.sh: all tools and libraries present"
