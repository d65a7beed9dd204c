#!/bin/sh
# Compiles each kernels/src/main/cuda/*.cu into a fatbin (sm_80 and sm_90 code, compute_90 PTX)
# when nvcc is present, and writes what the build had into kernels-build.properties, which
# KernelImages reads. Without nvcc the build goes on with no fatbins: the engine then uses the CPU
# backend. Run by Maven (kernels/pom.xml, process-resources).
#
#   nvcc-fatbins.sh SOURCE_DIR OUTPUT_DIR LOG_DIR REPORT
#
# nvcc is $CUDA_HOME/bin/nvcc when that exists, else the one on PATH. Warnings fail the build
# (-Werror all-warnings). ptxas -v (registers, shared memory, spills per kernel and architecture)
# goes to LOG_DIR/<name>.log and, all files together, to REPORT. Files compile in parallel, one
# nvcc per core; a fatbin newer than its source, the headers and this script is kept.
set -eu
src=$1
out=$2
logs=$3
report=$4
mkdir -p "$out" "$logs"
marker=$out/kernels-build.properties

nvcc=""
if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then
  nvcc=$CUDA_HOME/bin/nvcc
elif command -v nvcc >/dev/null 2>&1; then
  nvcc=$(command -v nvcc)
fi
if [ -z "$nvcc" ] || ! "$nvcc" --version >/dev/null 2>&1; then
  echo "kernels: no working nvcc (looked at \$CUDA_HOME/bin and PATH): building without CUDA kernels"
  # fatbins of an earlier build with nvcc would otherwise stay in the jar
  rm -f "$out"/*.fatbin "$report"
  printf '# written by kernels/src/build/nvcc-fatbins.sh\nnvcc=\n' > "$marker"
  exit 0
fi
version=$("$nvcc" --version | sed -n 's/.*release [0-9.]*, V\([0-9.]*\).*/\1/p')
echo "kernels: compiling $src/*.cu with nvcc $version ($nvcc)"

# sources compile again when a header or this script is newer than their fatbin
newest_dep=$(ls -t "$src"/*.cuh "$0" 2>/dev/null | head -n 1)
export NVCC="$nvcc" SRC="$src" OUT="$out" LOGS="$logs" NEWEST_DEP="$newest_dep"
find "$src" -maxdepth 1 -name '*.cu' -print0 | xargs -0 -n 1 -P "$(nproc)" sh -c '
  cu=$1
  name=$(basename "$cu" .cu)
  fatbin=$OUT/$name.fatbin
  if [ -f "$fatbin" ] && [ "$fatbin" -nt "$cu" ] && [ "$fatbin" -nt "$NEWEST_DEP" ] && [ -f "$LOGS/$name.log" ]; then
    exit 0
  fi
  if ! "$NVCC" -fatbin --no-compress -O3 -std=c++17 -Werror all-warnings -Xptxas -v \
      -gencode arch=compute_80,code=sm_80 \
      -gencode "arch=compute_90,code=[sm_90,compute_90]" \
      -I "$SRC" -o "$fatbin.tmp" "$cu" > "$LOGS/$name.log" 2>&1; then
    echo "kernels: nvcc failed on $cu:" >&2
    cat "$LOGS/$name.log" >&2
    rm -f "$fatbin.tmp"
    exit 255
  fi
  mv "$fatbin.tmp" "$fatbin"
  echo "kernels: $name.fatbin"
' sh

{
  echo "# ptxas -v of kernels/src/main/cuda/*.cu, nvcc $version; written by kernels/src/build/nvcc-fatbins.sh"
  for cu in "$src"/*.cu; do
    name=$(basename "$cu" .cu)
    echo "== $name.cu"
    cat "$logs/$name.log"
  done
} > "$report"
printf '# written by kernels/src/build/nvcc-fatbins.sh\nnvcc=%s\n' "$version" > "$marker"
