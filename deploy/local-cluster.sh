#!/usr/bin/env bash
# A loraplex cluster on this machine, on 127.0.0.1: Cassandra, one router, two GPU nodes, each its own
# process, stopped by the PIDs this script writes.
#
#   deploy/local-cluster.sh start  [--dir DIR] [--journal cassandra|embedded] [--port P] [--base-port B]
#   deploy/local-cluster.sh stop   [--dir DIR]
#   deploy/local-cluster.sh status [--dir DIR]
#
# DIR (default ./local-cluster) holds each process's data, logs/*.log and pids/*.pid. The router's HTTP
# API listens on 127.0.0.1:P (default 8080), its cluster port is 25520; the GPU nodes gpu-1 and gpu-2
# use cluster ports 25521/25522 and serve Pekko Management (/ready, /alive) on 8559/8560. --base-port B
# moves those five ports to B..B+4 (router, gpu-1, gpu-2 cluster ports, then gpu-1, gpu-2 management),
# so that two clusters (or a test) can run side by side. The journal is Cassandra (started with
# deploy/cassandra/cassandra.sh unless one answers on 9042, and stopped again by `stop` when this script
# started it), or --journal embedded (a log under the router's data directory). The admin key is
# $LORAPLEX_ADMIN_KEY, or one drawn at the first start and kept in DIR/admin-key. A start that fails
# prints the end of the failing process's log and stops what it had started.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
members=(router gpu-1 gpu-2)
stop_timeout=30

usage() {
  echo "usage: $0 start|stop|status [--dir DIR] [--journal cassandra|embedded] [--port P] [--base-port B]" >&2
  exit 2
}

bad() {
  echo "local-cluster.sh: $*" >&2
  usage
}

port_arg() { # option value highest: a TCP port number up to highest
  if ! [[ "$2" =~ ^[0-9]{1,5}$ ]] || [ "$2" -lt 1 ] || [ "$2" -gt "$3" ]; then
    bad "$1 takes a port number (1-$3), not '$2'"
  fi
  echo "$2"
}

command="${1:-}"
case "$command" in start|stop|status) shift ;; *) usage ;; esac
dir="./local-cluster"
journal="cassandra"
port=8080
cluster_ports=(25520 25521 25522)
management_ports=(8559 8560)
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || bad "$1 needs a value"
  case "$1" in
    --dir) dir="$2" ;;
    --journal) journal="$2" ;;
    --port) port="$(port_arg "$1" "$2" 65535)" ;;
    --base-port)
      base="$(port_arg "$1" "$2" 65531)"
      cluster_ports=("$base" $((base + 1)) $((base + 2)))
      management_ports=($((base + 3)) $((base + 4)))
      ;;
    *) bad "unknown option $1" ;;
  esac
  shift 2
done
case "$journal" in cassandra|embedded) ;; *) bad "--journal takes cassandra or embedded, not '$journal'" ;; esac
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
pids="$dir/pids"
logs="$dir/logs"

pid_of() { cat "$pids/$1.pid" 2>/dev/null; }

alive() { local pid; pid="$(pid_of "$1")" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

answers() { # url: any HTTP answer at all (401 included)
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" != "000" ]
}

ready() { # url: a 2xx answer
  curl -fsS -o /dev/null "$1" 2>/dev/null
}

placed() { # url of /v1/admin/nodes/{id}: the router's placement lists the node, ready
  curl -fsS -H "Authorization: Bearer $LORAPLEX_ADMIN_KEY" "$1" 2>/dev/null | grep -q '"ready":true'
}

wait_http() { # check url what seconds member: fails (printing the member's log tail) on timeout or its death
  local check="$1" url="$2" what="$3" seconds="$4" member="$5" waited=0
  until "$check" "$url"; do
    if [ "$waited" -ge "$seconds" ] || ! alive "$member"; then
      if alive "$member"; then
        echo "local-cluster.sh: $what did not become ready within ${seconds}s ($url); the end of $logs/$member.log:" >&2
      else
        echo "local-cluster.sh: $member exited before $what became ready; the end of $logs/$member.log:" >&2
      fi
      tail -n 30 "$logs/$member.log" >&2 || true
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

launcher() {
  local bin="$root/deploy/target/loraplex/bin/loraplex"
  if [ ! -x "$bin" ]; then
    echo "local-cluster.sh: building the distribution (once)" >&2
    # package, not install: the reactor needs nothing from ~/.m2 of loraplex's own modules
    (cd "$root" && ./mvnw -B -q -DskipTests -pl deploy -am package) >&2
  fi
  echo "$bin"
}

spawn() { # member args...: starts `loraplex serve args...` in the background, its PID in pids/member.pid
  local member="$1"
  shift
  LORAPLEX_JAVA_OPTS="${LORAPLEX_JAVA_OPTS:--Xmx1g}" nohup "$bin" serve "$@" > "$logs/$member.log" 2>&1 < /dev/null &
  echo $! > "$pids/$member.pid"
}

failed_start() {
  echo "local-cluster.sh: start failed; stopping what it started" >&2
  stop >&2
  exit 1
}

start() {
  local m
  for m in "${members[@]}"; do
    if alive "$m"; then
      echo "local-cluster.sh: $m already runs from $dir (pid $(pid_of "$m")); stop it first" >&2
      exit 1
    fi
  done
  mkdir -p "$pids" "$logs"
  bin="$(launcher)"
  if [ -z "${LORAPLEX_ADMIN_KEY:-}" ]; then
    if [ ! -s "$dir/admin-key" ]; then
      (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$dir/admin-key")
    fi
    LORAPLEX_ADMIN_KEY="$(cat "$dir/admin-key")"
  fi
  export LORAPLEX_ADMIN_KEY
  local journal_flags=(--journal embedded)
  if [ "$journal" = cassandra ]; then
    if ! (exec 3<>/dev/tcp/127.0.0.1/9042) 2>/dev/null; then
      "$here/cassandra/cassandra.sh" start
      touch "$dir/started-cassandra"
    fi
    journal_flags=(--journal cassandra --cassandra 127.0.0.1:9042)
  fi
  spawn router --roles router --data "$dir/router" --port "$port" --cluster-port "${cluster_ports[0]}" \
    --fast-failure --no-demo "${journal_flags[@]}"
  wait_http answers "http://127.0.0.1:$port/v1/models" "the router's API" 180 router || failed_start
  local i
  for i in 1 2; do
    spawn "gpu-$i" --roles gpu-node --node-id "gpu-$i" --data "$dir/gpu-$i" --cluster-port "${cluster_ports[$i]}" \
      --seed-nodes "127.0.0.1:${cluster_ports[0]}" --management-port "${management_ports[$((i - 1))]}" --fast-failure
  done
  for i in 1 2; do
    wait_http ready "http://127.0.0.1:${management_ports[$((i - 1))]}/ready" "gpu-$i" 300 "gpu-$i" || failed_start
  done
  wait_http ready "http://127.0.0.1:$port/ready" "the router's /ready" 60 router || failed_start
  # a node is ready on its own before the router's placement has seen it (receptionist, then a stats poll)
  for i in 1 2; do
    wait_http placed "http://127.0.0.1:$port/v1/admin/nodes/gpu-$i" "gpu-$i in the router's placement" 60 router || failed_start
  done
  echo "loraplex cluster on http://127.0.0.1:$port (router, gpu-1, gpu-2; journal $journal)"
  echo "  admin key: $LORAPLEX_ADMIN_KEY"
  echo "  logs: $logs   pids: $pids"
  echo "  LORAPLEX_ADMIN_KEY=$LORAPLEX_ADMIN_KEY $bin ctl --url http://127.0.0.1:$port nodes"
  echo "  stop: $here/local-cluster.sh stop --dir $dir"
}

stop() {
  local m pid waited
  for m in gpu-2 gpu-1 router; do
    pid="$(pid_of "$m")" || continue
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      waited=0
      while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$stop_timeout" ]; do
        sleep 1
        waited=$((waited + 1))
      done
      if kill -0 "$pid" 2>/dev/null; then
        echo "local-cluster.sh: $m (pid $pid) did not stop within ${stop_timeout}s; killing it" >&2
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

status() { # exit 0 when every member is alive
  local m alive_count=0
  for m in "${members[@]}"; do
    if alive "$m"; then
      echo "$m: alive (pid $(pid_of "$m"))"
      alive_count=$((alive_count + 1))
    elif [ -f "$pids/$m.pid" ]; then
      echo "$m: dead (pid $(pid_of "$m") is gone; see $logs/$m.log)"
    else
      echo "$m: stopped"
    fi
  done
  if [ -f "$dir/started-cassandra" ]; then
    "$here/cassandra/cassandra.sh" status || true
  fi
  [ "$alive_count" -eq "${#members[@]}" ]
}

case "$command" in
  start) start ;;
  stop) stop ;;
  status) status ;;
esac
