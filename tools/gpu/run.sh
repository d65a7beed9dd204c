#!/usr/bin/env bash
# The GPU check of issue 21, one command on a lent GPU machine (no network, probably no Java):
#   bash tools/gpu/run.sh            (with tools/gpu/engine-package carried: tools/gpu/prepare.sh makes it here)
# Steps, each with its own timeout, all within GPU_CHECK_BUDGET_S (default 465 s, under the 8 minutes a run
# may take), the 8B steps last; every step's output goes to $OUT/<step>.log and $OUT/summary.md is written
# even when a step fails or times out:
#   device      CudaDeviceCheck: the Device seam (copies, streams, GEMMs, launches, graphs) against Java values
#   headers     CudaHeaderCheck: the FFM cuBLAS descriptors and constants, JCuda's driver constants, against the
#               machine's cublas_api.h / library_types.h / cuda.h (pip's nvidia wheels or a toolkit), when present
#   kernels     gpu-check kernels: every kernel of the CUDA backend against the host reference (kernels.txt)
#   model-1b    gpu-check model --shape llama-3.2-1b: CUDA backend vs CPU backend, mixed adapters
#   peft-1b     tools/gpu/peft_bench.py on the 1B shape, when python3 has torch and peft
#   bench-1b    gpu-check bench --shape llama-3.2-1b (bench-llama-3.2-1b.md/.json, with the PEFT ratio)
#   model-8b, peft-8b, bench-8b   the same on llama-3.1-8b
# The two models are generated on the CPU in the background from the start (the 8B takes over a minute).
# Exit status: 0 every step passed or was skipped for a stated reason, 1 a step failed, 2 this machine
# cannot run the check at all (no nvidia-smi, no GPU, no engine package), with the reason on stderr.
set -u
here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
summary="$OUT/summary.md"
start=$(date +%s)
budget=${GPU_CHECK_BUDGET_S:-465}
deadline=$((start + budget))
smi=${NVIDIA_SMI:-nvidia-smi}
engine=${LORAPLEX_ENGINE:-$here/engine-package/bin/loraplex-engine}
work=${GPU_CHECK_WORK:-${TMPDIR:-/tmp}/loraplex-gpu-check}
python=${PYTHON:-python3}

refuse() {
  echo "run.sh: $1" >&2
  printf '# GPU check — not run\n\n%s\n' "$1" > "$summary"
  exit 2
}

if ! command -v "$smi" > /dev/null 2>&1; then
  refuse "no $smi on this machine: there is no NVIDIA driver, so no GPU to check (run this on a lent GPU machine)"
fi
"$smi" > "$OUT/nvidia-smi.txt" 2>&1
smi_rc=$?
if [ "$smi_rc" -ne 0 ]; then
  refuse "$smi failed (exit $smi_rc): the driver sees no GPU; its output is in nvidia-smi.txt"
fi
if [ ! -x "$engine" ]; then
  refuse "no engine package at $engine: run tools/gpu/prepare.sh on the build machine and carry tools/gpu/engine-package"
fi
device=$("$smi" --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null | head -n1)
mkdir -p "$work"

{
  echo "# GPU check — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "device: ${device:-unknown}; $(nproc) CPUs; budget ${budget} s"
  echo
  echo "| step | result | seconds | limit |"
  echo "|---|---|---:|---:|"
} > "$summary"
failed=0

# step NAME LIMIT_S COMMAND...: runs it under min(LIMIT_S, time left), output to $OUT/NAME.log, one summary row
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((deadline - $(date +%s)))
  if [ "$left" -lt "$limit" ]; then limit=$left; fi
  if [ "$limit" -lt 15 ]; then
    echo "| $name | skipped: out of time (${left} s left) | 0 | 0 |" >> "$summary"
    return
  fi
  echo "run.sh: $name (up to ${limit} s)" >&2
  local t0=$(date +%s) rc result
  timeout -k 10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  case $rc in
    0) result=passed ;;
    1) if grep -q 'Could not find or load main class' "$OUT/$name.log"; then
         result="skipped: not in this engine"
       else
         result="FAILED (exit 1)"; failed=1
       fi ;;
    3) result="skipped: $(grep -m1 'skipped:' "$OUT/$name.log" | sed 's/.*skipped: //')" ;;
    124|137) result="TIMED OUT"; failed=1 ;;
    *) result="FAILED (exit $rc)"; failed=1 ;;
  esac
  echo "| $name | $result | $(($(date +%s) - t0)) | $limit |" >> "$summary"
}

# wait_for PID NAME: until the background generator of NAME is done (or the budget is), so no step writes the same model
wait_for() {
  while kill -0 "$1" 2> /dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
  if kill -0 "$1" 2> /dev/null; then
    echo "| generate $2 | still running at the deadline | - | - |" >> "$summary"
  elif ! wait "$1"; then
    echo "| generate $2 | FAILED (see generate-$2.log) | - | - |" >> "$summary"
    failed=1
  fi
}

"$engine" gpu-check generate --shape llama-3.2-1b --work-dir "$work" > "$OUT/generate-1b.log" 2>&1 &
gen1=$!
"$engine" gpu-check generate --shape llama-3.1-8b --work-dir "$work" > "$OUT/generate-8b.log" 2>&1 &
gen8=$!

peft() {
  local shape=$1 limit=$2 name=$3
  if "$python" -c 'import torch, peft, transformers' > /dev/null 2>&1; then
    step "$name" "$limit" "$python" "$here/peft_bench.py" --shape "$shape" --out "$OUT/peft-$shape.json" --time-limit $((limit - 10))
  else
    echo "| $name | peft not installed ($python cannot import torch, peft, transformers) | 0 | 0 |" >> "$summary"
  fi
}

# the device seam's own check (CudaDevice against Java-computed values), from the CudaDevice work
runtime_java="$(dirname "$(dirname "$engine")")/runtime/bin/java"
if [ -x "$runtime_java" ]; then
  step device 30 "$runtime_java" --enable-native-access=ALL-UNNAMED -cp "$(dirname "$(dirname "$engine")")/lib/*" \
    io.loraplex.engine.backend.cuda.CudaDeviceCheck
  # the FFM bindings' descriptors and constants against this machine's cuBLAS and CUDA headers (pip wheels or a toolkit)
  site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2> /dev/null || true)
  headers=$(find ${CUDA_HOME:+"$CUDA_HOME/include"} /usr/local/cuda*/include ${site:+"$site/nvidia"} -maxdepth 3 \
    \( -name cublas_api.h -o -name cuda.h -o -name library_types.h \) 2> /dev/null | xargs -r -n1 dirname | sort -u)
  # shellcheck disable=SC2086
  if [ -n "$headers" ] && find $headers -maxdepth 1 -name cublas_api.h 2> /dev/null | grep -q .; then
    step headers 20 "$runtime_java" -cp "$(dirname "$(dirname "$engine")")/lib/*" \
      io.loraplex.engine.backend.cuda.CudaHeaderCheck $headers
  else
    echo "| headers | skipped: no cublas_api.h under CUDA_HOME, /usr/local/cuda*/include or $site/nvidia | 0 | 0 |" >> "$summary"
  fi
else
  echo "| device | skipped: no packaged runtime beside $engine | 0 | 0 |" >> "$summary"
fi
step kernels 90 "$engine" gpu-check kernels --out "$OUT" --work-dir "$work"
wait_for "$gen1" 1b
step model-1b 50 "$engine" gpu-check model --shape llama-3.2-1b --out "$OUT" --work-dir "$work"
peft llama-3.2-1b 40 peft-1b
step bench-1b 55 "$engine" gpu-check bench --shape llama-3.2-1b --out "$OUT" --work-dir "$work" \
  --peer "$OUT/peft-llama-3.2-1b.json"
wait_for "$gen8" 8b
step model-8b 75 "$engine" gpu-check model --shape llama-3.1-8b --out "$OUT" --work-dir "$work" --sequences 5 --decode-steps 2
peft llama-3.1-8b 40 peft-8b
step bench-8b 75 "$engine" gpu-check bench --shape llama-3.1-8b --out "$OUT" --work-dir "$work" --distinct-limit 64 \
  --steps 5 --peer "$OUT/peft-llama-3.1-8b.json"

kill "$gen1" "$gen8" 2> /dev/null
# one bench.md and one bench.json (an array, a shape each) of both shapes
cat "$OUT"/bench-llama-3.2-1b.md "$OUT"/bench-llama-3.1-8b.md > "$OUT/bench.md" 2> /dev/null
first=1
for j in "$OUT"/bench-llama-3.2-1b.json "$OUT"/bench-llama-3.1-8b.json; do
  [ -f "$j" ] || continue
  if [ $first = 1 ]; then echo '[' > "$OUT/bench.json"; else echo ',' >> "$OUT/bench.json"; fi
  cat "$j" >> "$OUT/bench.json"
  first=0
done
[ $first = 1 ] || echo ']' >> "$OUT/bench.json"
{
  echo
  echo "total $(($(date +%s) - start)) s; $([ $failed = 0 ] && echo 'RESULT: passed' || echo 'RESULT: FAILED')"
} >> "$summary"
cat "$summary"
exit $failed
