#!/usr/bin/env bash
# Cross-compiles the native tests for arm64 with Debian's g++-aarch64-linux-gnu and runs
# them under qemu-user, so the NEON micro-kernel (native/kernels/neon/) is tested on an
# x86-64 machine: test/native/gemm_test.cc (every micro-kernel of list.inc against a
# double reference, determinism, conv2d lowered to GEMM) and test/native/kernels_test.cc.
# The source lists come from native/sources.json, as in both real builds.
#
#   scripts/test-neon.sh            build into build-cmake/neon-arm64/ and run
#   CI=true scripts/test-neon.sh    also installs the cross compiler and qemu when missing
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "test-neon: missing ${need[*]}: apt-get install -y ${need[*]} (or run with CI=true)" >&2
    exit 1
  fi
fi

# Inside build-cmake/, which git already ignores.
out=${CONVKIT_NEON_BUILD:-build-cmake/neon-arm64}
mkdir -p "$out/obj"
read -r -a sources <<<"$(node -p "const s = require('./native/sources.json'); [...s.kernels, ...s.runtime, ...s.neon].join(' ')")"
cxx=aarch64-linux-gnu-g++
# -static: qemu-aarch64 then needs no arm64 sysroot to find the C++ runtime.
flags=(-O2 -std=c++17 -Wall -Wextra -pthread -Inative/kernels -Inative/runtime)

echo "test-neon: compiling ${#sources[@]} sources for arm64"
objects=()
commands=()
for source in "${sources[@]}"; do
  object="$out/obj/$(echo "$source" | tr '/' '_').o"
  objects+=("$object")
  # Rebuilt when the source or any kernel/runtime header is newer than the object.
  if [ ! -f "$object" ] || [ "$source" -nt "$object" ] ||
     [ -n "$(find native/kernels native/runtime \( -name '*.h' -o -name '*.inc' \) -newer "$object" | head -1)" ]; then
    commands+=("$cxx ${flags[*]} -c $source -o $object")
  fi
done
if [ ${#commands[@]} -gt 0 ]; then
  printf '%s\n' "${commands[@]}" | xargs -P "$(nproc)" -I{} sh -c '{}'
fi
for test in gemm_test kernels_test; do
  "$cxx" "${flags[@]}" -static "test/native/$test.cc" "${objects[@]}" -o "$out/$test"
done

status=0
echo "test-neon: gemm_test under qemu-aarch64"
qemu-aarch64 "$out/gemm_test" || status=1
for isa in neon scalar; do
  echo "test-neon: kernels_test under qemu-aarch64, CONVKIT_ISA=$isa"
  CONVKIT_ISA=$isa qemu-aarch64 "$out/kernels_test" | tail -1 || status=1
done
exit $status
