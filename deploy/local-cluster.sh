#!/usr/bin/env bash
# A loraplex cluster on this machine, on 127.0.0.1: Cassandra, one router, two GPU nodes, each its own
# process, stopped by the PIDs this script writes.
#
#   deploy/local-cluster.sh start  [--dir DIR] [--journal cassandra|h2] [--port P]
#   deploy/local-cluster.sh stop   [--dir DIR]
#   deploy/local-cluster.sh status [--dir DIR]
#
# DIR (default ./local-cluster) holds each process's data, logs/*.log and pids/*.pid. The router's HTTP
# API listens on 127.0.0.1:P (default 8080), its cluster port is 25520; the GPU nodes gpu-1 and gpu-2
# use cluster ports 25521/25522 and serve Pekko Management (/ready, /alive) on 8559/8560. The journal is
# Cassandra (started with deploy/cassandra/cassandra.sh unless one answers on 9042, and stopped again by
# `stop` when this script started it), or --journal h2 (a file under the router's data directory).
# The admin key is $LORAPLEX_ADMIN_KEY, or one drawn at the first start and kept in DIR/admin-key.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
command="${1:-}"
[ $# -gt 0 ] && shift
dir="./local-cluster"
journal="cassandra"
port=8080
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --journal) journal="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) echo "local-cluster.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$journal" in cassandra|h2) ;; *) echo "local-cluster.sh: --journal cassandra or h2, not $journal" >&2; exit 2 ;; esac
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
pids="$dir/pids"
logs="$dir/logs"
members=(router gpu-1 gpu-2)

alive() { [ -f "$pids/$1.pid" ] && kill -0 "$(cat "$pids/$1.pid")" 2>/dev/null; }

answers() { # url: any HTTP answer at all (401 included)
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" != "000" ]
}

ready() { # url: a 2xx answer
  curl -fsS -o /dev/null "$1" 2>/dev/null
}

wait_http() { # check url what seconds log
  local check="$1"
  shift
  local waited=0
  until "$check" "$1"; do
    sleep 1
    waited=$((waited + 1))
    if [ "$waited" -ge "$3" ] || ! alive "$4"; then
      echo "local-cluster.sh: $2 did not become ready; the end of $logs/$4.log:" >&2
      tail -n 30 "$logs/$4.log" >&2 || true
      return 1
    fi
  done
}

launcher() {
  local bin="$root/deploy/target/loraplex/bin/loraplex"
  if [ ! -x "$bin" ]; then
    echo "local-cluster.sh: building the distribution (once)" >&2
    (cd "$root" && ./mvnw -B -q install -DskipTests) >&2
  fi
  echo "$bin"
}

start() {
  for m in "${members[@]}"; do
    if alive "$m"; then
      echo "local-cluster.sh: $m already runs (pid $(cat "$pids/$m.pid")); stop it first" >&2
      exit 1
    fi
  done
  mkdir -p "$pids" "$logs"
  local bin
  bin="$(launcher)"
  if [ -z "${LORAPLEX_ADMIN_KEY:-}" ]; then
    if [ ! -f "$dir/admin-key" ]; then
      (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$dir/admin-key")
    fi
    LORAPLEX_ADMIN_KEY="$(cat "$dir/admin-key")"
  fi
  export LORAPLEX_ADMIN_KEY
  local journal_flags=(--journal h2)
  if [ "$journal" = cassandra ]; then
    if ! (exec 3<>/dev/tcp/127.0.0.1/9042) 2>/dev/null; then
      "$here/cassandra/cassandra.sh" start
      touch "$dir/started-cassandra"
    fi
    journal_flags=(--journal cassandra --cassandra 127.0.0.1:9042)
  fi
  LORAPLEX_JAVA_OPTS="${LORAPLEX_JAVA_OPTS:--Xmx1g}" nohup "$bin" serve --roles router --data "$dir/router" --port "$port" \
    --cluster-port 25520 --fast-failure --no-demo "${journal_flags[@]}" > "$logs/router.log" 2>&1 &
  echo $! > "$pids/router.pid"
  wait_http answers "http://127.0.0.1:$port/v1/models" "the router" 180 router
  local n=1
  for m in gpu-1 gpu-2; do
    LORAPLEX_JAVA_OPTS="${LORAPLEX_JAVA_OPTS:--Xmx1g}" nohup "$bin" serve --roles gpu-node --node-id "$m" --data "$dir/$m" \
      --cluster-port $((25520 + n)) --seed-nodes 127.0.0.1:25520 --management-port $((8558 + n)) --fast-failure \
      > "$logs/$m.log" 2>&1 &
    echo $! > "$pids/$m.pid"
    n=$((n + 1))
  done
  wait_http ready "http://127.0.0.1:8559/ready" "gpu-1" 300 gpu-1
  wait_http ready "http://127.0.0.1:8560/ready" "gpu-2" 300 gpu-2
  wait_http ready "http://127.0.0.1:$port/ready" "the router's /ready" 60 router
  echo "loraplex cluster on http://127.0.0.1:$port (router, gpu-1, gpu-2; journal $journal)"
  echo "  admin key: $LORAPLEX_ADMIN_KEY"
  echo "  logs: $logs   pids: $pids"
  echo "  LORAPLEX_ADMIN_KEY=$LORAPLEX_ADMIN_KEY $bin ctl --url http://127.0.0.1:$port nodes"
  echo "  stop: $0 stop --dir $dir"
}

stop() {
  local m pid waited
  for m in gpu-2 gpu-1 router; do
    [ -f "$pids/$m.pid" ] || continue
    pid="$(cat "$pids/$m.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      waited=0
      while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 30 ]; do sleep 1; waited=$((waited + 1)); done
      if kill -0 "$pid" 2>/dev/null; then
        echo "local-cluster.sh: $m (pid $pid) did not stop in 30 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
      echo "stopped $m (pid $pid)"
    fi
    rm -f "$pids/$m.pid"
  done
  if [ -f "$dir/started-cassandra" ]; then
    "$here/cassandra/cassandra.sh" stop || true
    rm -f "$dir/started-cassandra"
  fi
}

status() {
  local m running=0
  for m in "${members[@]}"; do
    if alive "$m"; then
      echo "$m: running (pid $(cat "$pids/$m.pid"))"
      running=$((running + 1))
    else
      echo "$m: stopped"
    fi
  done
  [ "$running" -eq "${#members[@]}" ]
}

case "$command" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status [--dir DIR] [--journal cassandra|h2] [--port P]" >&2; exit 2 ;;
esac
