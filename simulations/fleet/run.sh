#!/usr/bin/env bash
# Runs the fleet simulator (io.loraplex.simulations.fleet.FleetMain) with the reactor's classes: compiles the
# modules it needs into their target/ folders (never `mvn install`), then runs java on that classpath.
#   simulations/fleet/run.sh --nodes 100 --duration 10m --sweep --out docs/simulations/100
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# a JDK 25, as mvnw finds it
. .mvn/jdk.sh
loraplex_find_jdk
cp_file=simulations/fleet/target/classpath.txt
mkdir -p simulations/fleet/target
if ! ./mvnw -B -q -o -pl simulations/fleet -am compile dependency:build-classpath \
    -Dmdep.outputFile=target/classpath.txt -DskipTests >simulations/fleet/target/build.log 2>&1; then
  grep -E 'ERROR' simulations/fleet/target/build.log | head -20 >&2
  echo "build failed: see simulations/fleet/target/build.log" >&2
  exit 1
fi
exec "$JAVA_HOME/bin/java" -Xmx${FLEET_HEAP:-3g} -cp "simulations/fleet/target/classes:$(cat "$cp_file")" \
  io.loraplex.simulations.fleet.FleetMain "$@"
