#!/usr/bin/env bash
# Runs one Gatling simulation of simulations/load against a loraplex server, and exits non-zero when a request failed
# or another of the simulation's assertions did not hold. Gatling's HTML report lands in
# simulations/load/target/gatling/<simulation>-<time>/index.html.
#
#   simulations/load/run.sh [--url URL] [--admin-key KEY] [chat|lifecycle|fine-tuning|operator] [-- MAVEN_ARGS...]
#
# Without --url it starts the embedded server (`loraplex serve --no-demo --port 0`, from the packaged distribution
# deploy/target/loraplex, on a fresh data directory and an admin key of its own) and stops it afterwards. With --url
# it loads that server with the admin key --admin-key, else $LORAPLEX_ADMIN_KEY. MAVEN_ARGS go to Maven, e.g.
# `-- -o -Dloraplex.load.tenants=20 -Dloraplex.load.arrival.rate=4` (keys: src/test/resources/loraplex-load.conf).
# The operator's day needs at least two GPU nodes: deploy/local-cluster.sh start --journal embedded, then --url.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

usage() {
  echo "usage: $0 [--url URL] [--admin-key KEY] [chat|lifecycle|fine-tuning|operator] [-- MAVEN_ARGS...]" >&2
  exit 2
}

url=""
simulation=chat
maven_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --url) [ $# -ge 2 ] || { echo "run.sh: --url needs a value" >&2; usage; }; url="$2"; shift 2 ;;
    --admin-key) [ $# -ge 2 ] || { echo "run.sh: --admin-key needs a value" >&2; usage; }; export LORAPLEX_ADMIN_KEY="$2"; shift 2 ;;
    --) shift; maven_args=("$@"); break ;;
    chat|lifecycle|fine-tuning|operator) simulation="$1"; shift ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument '$1' (simulations: chat, lifecycle, fine-tuning, operator)" >&2; usage ;;
  esac
done
case "$simulation" in
  chat) class=ChatSimulation ;;
  lifecycle) class=LifecycleSimulation ;;
  fine-tuning) class=FineTuningSimulation ;;
  operator) class=OperatorSimulation ;;
esac

serve_pid=""
work=""
stop_server() {
  if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
      kill -0 "$serve_pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$serve_pid" 2>/dev/null; then
      echo "run.sh: the server (pid $serve_pid) did not stop within 30 s; killing it" >&2
      kill -KILL "$serve_pid" 2>/dev/null || true
    fi
  fi
  if [ -n "$work" ]; then
    rm -rf "$work"
  fi
}

if [ -z "$url" ]; then
  bin="$root/deploy/target/loraplex/bin/loraplex"
  if [ ! -x "$bin" ]; then
    echo "run.sh: no packaged distribution at $bin; build it first: ./mvnw -B -DskipTests -pl deploy -am package" >&2
    exit 1
  fi
  work="$(mktemp -d "${TMPDIR:-/tmp}/loraplex-load.XXXXXX")"
  trap stop_server EXIT
  LORAPLEX_ADMIN_KEY="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
  export LORAPLEX_ADMIN_KEY
  "$bin" serve --data "$work/data" --port 0 --no-demo > "$work/serve.log" 2>&1 < /dev/null &
  serve_pid=$!
  # --port 0 takes any free port; the server prints the one it took once it serves
  for _ in $(seq 1 180); do
    url="$(grep -so 'loraplex is serving on http://[0-9.:]*' "$work/serve.log" | head -n 1 | sed 's/.* on //')" || true
    [ -n "$url" ] && break
    if ! kill -0 "$serve_pid" 2>/dev/null; then
      echo "run.sh: the server exited before it served; the end of its log:" >&2
      tail -n 30 "$work/serve.log" >&2
      exit 1
    fi
    sleep 1
  done
  if [ -z "$url" ]; then
    echo "run.sh: the server did not serve within 180 s; the end of its log:" >&2
    tail -n 30 "$work/serve.log" >&2
    exit 1
  fi
  for _ in $(seq 1 60); do
    curl -fsS -o /dev/null "$url/ready" 2>/dev/null && break
    sleep 1
  done
  echo "run.sh: loraplex serve on $url (pid $serve_pid, data $work/data)"
fi
if [ -z "${LORAPLEX_ADMIN_KEY:-}" ]; then
  echo "run.sh: no admin key for $url: pass --admin-key KEY or set LORAPLEX_ADMIN_KEY" >&2
  exit 2
fi

cd "$root"
# -am builds the engine the simulations write adapters with (package only, into this checkout's target/ folders);
# -Dtest=NONE and -DskipITs: only the simulation runs, not the modules' tests
started=$(date +%s)
status=0
./mvnw -B -Pload -pl simulations/load -am verify -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false -DskipITs \
  "-Dgatling.simulationClass=io.loraplex.simulations.load.$class" "-Dloraplex.url=$url" "${maven_args[@]}" || status=$?
echo "run.sh: $simulation against $url took $(( $(date +%s) - started )) s; $( [ "$status" -eq 0 ] && echo 'assertions held' || echo "FAILED (exit $status)")"
exit "$status"
