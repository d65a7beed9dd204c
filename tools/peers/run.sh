#!/bin/sh
# loraplex beside llama.cpp on the same model, from one command (see README.md):
#   tools/peers/run.sh [--threads N] [--runs N]
# 1. a venv in tools/peers/.venv with the pinned packages (llama-cpp-python built from source, CPU, -DGGML_NATIVE=ON)
# 2. the engine's `bench` generates its default ~107M Llama and a rank-16 adapter on all seven projections, and
#    measures loraplex (prompt and decode tok/s, one request, without and with the adapter)
# 3. to_gguf.py writes both as GGUF, bench_llamacpp.py measures llama.cpp the same way
# 4. the engine's `logits` checks llama.cpp's first greedy tokens (same model, same adapter), and a markdown table
#    is printed; everything lands in tools/peers/out/
#
# LLAMA_DRIVER=server uses a llama-server binary instead of llama-cpp-python (LLAMA_SERVER names it; unset, the
# Debian build that llama_debian.sh unpacks): for machines that cannot reach PyPI.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
threads=2
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "run.sh: unknown argument '$1' (use --threads N, --runs N)" >&2; exit 2 ;;
  esac
done
out="$here/out"
mkdir -p "$out"
driver=${LLAMA_DRIVER:-python}

# --- the Python side ---
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r "$here/requirements.txt"
case "$driver" in
  python)
    if ! "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
      echo "run.sh: building llama-cpp-python from source (CPU, native); this takes a while on few cores" >&2
      CMAKE_ARGS="-DGGML_NATIVE=ON" "$venv/bin/pip" install --no-binary llama-cpp-python -r "$here/requirements-llama.txt" || {
        echo "run.sh: llama-cpp-python did not install (no PyPI here?); LLAMA_DRIVER=server runs llama.cpp's llama-server instead" >&2
        exit 1
      }
    fi
    server_flags= ;;
  server)
    server=${LLAMA_SERVER:-$(sh "$here/llama_debian.sh")}
    server_flags="--server $server --server-log $out/llama-server.log" ;;
  *) echo "run.sh: LLAMA_DRIVER must be python or server, got '$driver'" >&2; exit 2 ;;
esac

# --- the engine's command line: the packaged launcher when there is one ---
. "$repo/.mvn/jdk.sh"
loraplex_find_jdk
launcher="$repo/deploy/target/loraplex/bin/loraplex"
engine_jar=$(ls "$repo"/gpu-node/engine/target/loraplex-engine-*-SNAPSHOT.jar 2>/dev/null | grep -v -- -tests.jar | head -n1 || true)
if [ -x "$launcher" ]; then
  engine() { "$launcher" "$@"; }
elif [ -n "$engine_jar" ]; then
  # the engine alone, as built by `./mvnw -B -q -o -pl gpu-node/engine -am package -DskipTests`
  if [ ! -s "$out/engine-classpath.txt" ]; then
    (cd "$repo" && ./mvnw -B -q -o -pl gpu-node/engine dependency:build-classpath -Dmdep.outputFile="$out/engine-classpath.txt" >&2)
  fi
  engine() {
    "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
      -cp "$engine_jar:$(cat "$out/engine-classpath.txt")" io.loraplex.engine.cli.EngineMain "$@"
  }
else
  echo "run.sh: no loraplex build here; build the distribution first: ./mvnw -B -q package -DskipTests" >&2
  exit 1
fi

work="$out/work"  # the engine's generated model and adapter, kept between runs (same seed, same bytes)
echo "run.sh: machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores; $(uptime | sed 's/.*load/load/')" >&2
echo "run.sh: loraplex bench ($threads threads)" >&2
engine bench --work-dir "$work" --targets all-linear --threads "$threads" --runs "$runs" | tee "$out/loraplex-bench.txt" >&2

echo "run.sh: converting to GGUF" >&2
"$venv/bin/python" "$here/to_gguf.py" model --in "$work/model" --out "$out/model.gguf"
"$venv/bin/python" "$here/to_gguf.py" adapter --in "$work/adapter-r16" --model "$work/model" --out "$out/adapter.gguf"

echo "run.sh: llama.cpp ($driver driver, $threads threads); load: $(uptime | sed 's/.*load average: //')" >&2
# shellcheck disable=SC2086
"$venv/bin/python" "$here/bench_llamacpp.py" --driver "$driver" $server_flags --model "$out/model.gguf" \
  --lora "$out/adapter.gguf" --threads "$threads" --runs "$runs" > "$out/llamacpp.json"

echo "run.sh: checking llama.cpp's greedy tokens with the engine's logits" >&2
"$venv/bin/python" "$here/report.py" check --llama "$out/llamacpp.json" --adapter "$work/adapter-r16" --batch-out "$out/batch.json"
engine logits --model "$work/model" --batch "$out/batch.json" --threads "$threads" > "$out/logits.json"
echo "run.sh: load after: $(uptime | sed 's/.*load average: //')" >&2
"$venv/bin/python" "$here/report.py" table --llama "$out/llamacpp.json" --loraplex "$out/loraplex-bench.txt" \
  --logits "$out/logits.json" | tee "$out/table.md"
