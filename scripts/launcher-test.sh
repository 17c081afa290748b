#!/usr/bin/env bash
# Checks of the launchers scripts/rbd-cli and scripts/rbd-server and their class-data archives (issue 14), one
# line per check (PASS name | FAIL name: reason), then "N passed, N failed, N skipped". Behaviour only, never
# speed (scripts/startup-bench.sh measures that):
#
#   archive-built    mvn package wrote target/rbd-cli.jsa and target/rbd-server.jsa
#   archive-used     --version loads the main class from the archive ("shared objects file" in -Xlog:class+load)
#   no-archive       a copy of the launcher and jar without the archive runs as before, stderr empty
#   stale-archive    the same with the archive of a jar since rebuilt (another mtime): ignored, nothing said
#   broken-archive   the same with an archive that is not one: ignored, nothing said
#   short-flags      C1 and the serial GC for --version and info, the JVM's defaults for copy and export
#
# Usage: scripts/launcher-test.sh   (after mvn package; mvn verify runs it in rbd-cli's integration-test phase)
# With RBD_SKIP_CDS=true (mvn -DskipCds) the archive-built and archive-used checks are skipped.
# Exit status: non-zero when a check failed.
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib/report.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rbd-launcher-test.XXXXXX") || { echo "FAIL setup: mktemp failed"; exit 1; }
trap 'rm -rf "$tmp"' EXIT

mains=(rbd-cli:dev.rbd.cli.RbdCli rbd-server:dev.rbd.server.RbdServerMain)
for m in rbd-cli rbd-server; do
  if ! ls "$root/$m/target/$m"-*-all.jar >/dev/null 2>&1; then
    fail setup "$m is not built (mvn -q -DskipTests package)"; summary; exit 1
  fi
done

# version_ok OUT ERR MODULE: stdout is exactly "MODULE VERSION" and stderr is empty.
version_ok() {
  grep -Eqx "$3 [0-9]+\.[0-9]+\.[0-9]+(-SNAPSHOT)?" "$1" && [ "$(wc -l <"$1")" = 1 ] && [ ! -s "$2" ]
}

# from_archive LAUNCHER MODULE MAIN: runs `LAUNCHER --version` with class loading logged to a file; true when
# MAIN came from the archive. Fails (status 2) when the run itself is wrong.
from_archive() {
  local launcher=$1 module=$2 main=$3 log=$tmp/classes.log
  rm -f "$log"
  RBD_JAVA_OPTS="-Xlog:class+load=info:file=$log" "$launcher" --version >"$tmp/out" 2>"$tmp/err" || return 2
  version_ok "$tmp/out" "$tmp/err" "$module" || return 2
  grep -q " $main source: shared objects file" "$log"
}

for entry in "${mains[@]}"; do
  m=${entry%%:*} main=${entry#*:}
  archive=$root/$m/target/$m.jsa
  if [ "${RBD_SKIP_CDS:-false}" = true ]; then
    skip "archive-built $m" "built with -DskipCds"
    skip "archive-used $m" "built with -DskipCds"
  elif [ -s "$archive" ]; then pass "archive-built $m ($(($(stat -c %s "$archive") / 1048576)) MiB)"
  else fail "archive-built $m" "no $archive (see the WARNING of scripts/cds-archive.sh in the build)"; fi

  if [ "${RBD_SKIP_CDS:-false}" != true ]; then
    from_archive "$here/$m" "$m" "$main"
    case $? in
      0) pass "archive-used $m" ;;
      1) fail "archive-used $m" "$main was not loaded from $archive" ;;
      *) fail "archive-used $m" "--version: $(why "$tmp/out") $(why "$tmp/err")" ;;
    esac
  fi

  # A copy of the tree's layout: scripts/ and MODULE/target/ with the jar, and then with archives that do not fit.
  copy=$tmp/$m-copy
  mkdir -p "$copy/$m/target"
  cp -r "$here" "$copy/scripts"
  cp "$root/$m/target/$m"-*-all.jar "$copy/$m/target/"
  for case in no-archive stale-archive broken-archive; do
    case $case in
      stale-archive) cp "$archive" "$copy/$m/target/$m.jsa" 2>/dev/null
                     touch -d '2001-01-01' "$copy/$m/target/$m"-*-all.jar ;;
      broken-archive) head -c 65536 /dev/urandom >"$copy/$m/target/$m.jsa" ;;
    esac
    from_archive "$copy/scripts/$m" "$m" "$main"
    case $? in
      1) pass "$case $m" ;;
      0) fail "$case $m" "$main came from an archive that does not fit" ;;
      *) fail "$case $m" "--version: $(why "$tmp/out") $(why "$tmp/err")" ;;
    esac
  done
done

# flags LAUNCHER ARG...: the JVM's TieredStopAtLevel and UseSerialGC for that command line, as "N true|false".
flags() {
  RBD_JAVA_OPTS=-XX:+PrintFlagsFinal "$@" 2>/dev/null |
      awk '$2 == "TieredStopAtLevel" {t = $4} $2 == "UseSerialGC" {g = $4} END {print t, g}'
}
check_flags() {
  local want=$1 got
  shift
  got=$(flags "$@")
  if [ "$got" = "$want" ]; then pass "short-flags ${*##*/} ($got)"; else fail "short-flags ${*##*/}" "got '$got', want '$want'"; fi
}
check_flags "1 true" "$here/rbd-cli" --version
check_flags "1 true" "$here/rbd-cli" info --help
check_flags "4 false" "$here/rbd-cli" copy --help
check_flags "1 true" "$here/rbd-server" --version
check_flags "4 false" "$here/rbd-server" export --help

summary
[ "$n_fail" -eq 0 ]
