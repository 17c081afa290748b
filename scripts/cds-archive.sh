#!/usr/bin/env bash
# Builds the class-data archive (AppCDS) of rbd-server or rbd-cli, which scripts/rbd-server and scripts/rbd-cli
# then start with: the classes a typical run loads, already parsed and verified, mapped from one file instead of
# read out of the jar (issue 14, docs/benchmarks.md "Start-up of short commands").
#
# One training run through the launcher itself (so with its flags), with -XX:ArchiveClassesAtExit:
#   rbd-server  `export` of a small temp image on a loopback port, until SIGTERM
#   rbd-cli     `info` against such a server (the built rbd-server), or `--help` when rbd-server is not built
# The archive is MODULE/target/MODULE.jsa, next to the jar it belongs to. A JVM checks the archive against the
# jar (path, size, time) and its own build and ignores a stale one, so a rebuilt jar or another JDK only
# loses the speed-up until the next package, never a run.
#
# Usage: scripts/cds-archive.sh rbd-server|rbd-cli     (run by mvn package; build the jar first)
# Exit status: 0 archive written, or training not possible (a WARNING line says why: the archive is an
# optimisation, and a build does not fail for it), 2 usage.
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(cd "$here/.." && pwd)
LOG_PREFIX=cds-archive
. "$here/lib/processes.sh"

module=${1:-}
case $module in
  rbd-server|rbd-cli) ;;
  *) echo "usage: scripts/cds-archive.sh rbd-server|rbd-cli" >&2; exit 2 ;;
esac
archive=$root/$module/target/$module.jsa

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rbd-cds-archive.XXXXXX") || exit 2
srv_pid=
cleanup() {
  [ -n "$srv_pid" ] && stop_pid "$srv_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT

# give_up WHY: no archive this time, said loudly, and the build goes on.
give_up() {
  echo "WARNING cds-archive: no class-data archive for $module: $*" >&2
  [ -f "$tmp/train.log" ] && tail -n 5 "$tmp/train.log" >&2
  rm -f "$archive" "$archive.tmp"
  exit 0
}

ls "$root/$module/target/$module"-*-all.jar >/dev/null 2>&1 || give_up "$module is not built"
# The old archive goes first: the launcher would start the training run with it.
rm -f "$archive" "$archive.tmp"
truncate -s 16M "$tmp/disk.img" || give_up "cannot create a temp image"

# serve OPTS: rbd-server export of the temp image in the background (RBD_JAVA_OPTS=OPTS), srv_pid and uri set.
serve() {
  local port
  port=$(free_port) || give_up "no free port"
  RBD_JAVA_OPTS="$1" "$here/rbd-server" export "disk=$tmp/disk.img" --listen "127.0.0.1:$port" \
      >>"$tmp/train.log" 2>&1 &
  srv_pid=$! uri=nbd://127.0.0.1:$port/disk
  wait_ready "$srv_pid" "$uri" || give_up "the training server did not come up"
}

# Class loading and unified logging write to stdout unless told otherwise: the dump's notes go to the log.
dump="-XX:ArchiveClassesAtExit=$archive.tmp -Xlog:cds*=warning:file=$tmp/cds.log"
case $module in
  rbd-server)
    serve "$dump"
    stop_pid "$srv_pid"
    srv_pid=
    ;;
  rbd-cli)
    if ls "$root/rbd-server/target/rbd-server"-*-all.jar >/dev/null 2>&1; then
      serve ""
      RBD_JAVA_OPTS=$dump timeout 120 "$here/rbd-cli" info "$uri" >>"$tmp/train.log" 2>&1 ||
        give_up "the training run (rbd-cli info) failed"
      stop_pid "$srv_pid"
      srv_pid=
    else
      RBD_JAVA_OPTS=$dump timeout 120 "$here/rbd-cli" --help >>"$tmp/train.log" 2>&1 ||
        give_up "the training run (rbd-cli --help) failed"
    fi
    ;;
esac
[ -s "$archive.tmp" ] || give_up "the training run wrote no archive ($(tail -n 3 "$tmp/cds.log" 2>/dev/null | tr '\n' ' '))"
mv "$archive.tmp" "$archive"
echo "cds-archive: $archive, $(($(stat -c %s "$archive") / 1048576)) MiB"
