# Sourced by mvnw, .ci/run and the launchers: point JAVA_HOME at a JDK 25.
# Order: JAVA_HOME if it is a JDK 25 or newer, else the Temurin 25 installed beside the default JDK.
loraplex_java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p'
}
loraplex_find_jdk() {
  if [ -n "${JAVA_HOME-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    major=$(loraplex_java_major "$JAVA_HOME")
    if [ "${major:-0}" -ge 25 ]; then return 0; fi
  fi
  case $- in *f*) set +f; loraplex_noglob=1 ;; *) loraplex_noglob= ;; esac
  for candidate in /usr/lib/jvm/temurin-25-jdk* /usr/lib/jvm/temurin-2[5-9]* /usr/lib/jvm/*-25* /usr/lib/jvm/*; do
    [ -x "$candidate/bin/java" ] || continue
    major=$(loraplex_java_major "$candidate")
    if [ "${major:-0}" -ge 25 ]; then export JAVA_HOME="$candidate"; [ -z "$loraplex_noglob" ] || set -f; return 0; fi
  done
  [ -z "$loraplex_noglob" ] || set -f
  echo "loraplex needs a JDK 25 (Temurin 25). None found: JAVA_HOME is '${JAVA_HOME-}', and /usr/lib/jvm has no JDK 25." >&2
  echo "Install Temurin 25 or set JAVA_HOME to it." >&2
  return 1
}
