#!/bin/sh
# Run HERE, before a GPU session: builds the distribution in this checkout's target folders (the reactor's
# `package`, never `install`) and writes the engine package (a jlinked Java runtime + the engine's jars,
# < 60 MiB) to tools/gpu/engine-package, which the device run carries:
#   run(command="bash tools/gpu/run.sh", carry=["tools/gpu/engine-package"])
# LORAPLEX_MVN_FLAGS adds Maven flags (default -o: every dependency is in ~/.m2 here).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
pkg="$here/engine-package"
cd "$repo"
./mvnw -B -q ${LORAPLEX_MVN_FLAGS:--o} -pl deploy -am package -DskipTests
rm -rf "$pkg"
"$repo/deploy/target/loraplex/bin/loraplex" package-engine --out "$pkg"
# the engine's own check that the package runs: its command list names gpu-check
"$pkg/bin/loraplex-engine" help | grep -q gpu-check || {
  echo "prepare.sh: the package at $pkg does not list gpu-check" >&2
  exit 1
}
echo "prepare.sh: $(du -sh "$pkg" | cut -f1) in tools/gpu/engine-package; carry it to the device with the working tree"
