# shellcheck shell=bash
# Sourced by scripts/rbd-server and scripts/rbd-cli: JVM options for a fast start, which the user's own settings
# win (docs/benchmarks.md, "Start-up of short commands").

# java_class_data ARCHIVE: when the class-data archive ARCHIVE exists (scripts/cds-archive.sh writes it at
# package time), puts in front of java_opts the options that start the JVM with it. A stale archive (a rebuilt
# jar, another JDK) or a broken one is ignored by the JVM, which then says so on stdout unless its cds logging
# is off, as here. Left out with RBD_CDS=0, or when RBD_JAVA_OPTS, JDK_JAVA_OPTIONS or JAVA_TOOL_OPTIONS
# already choose an archive (-Xshare:off, -XX:SharedArchiveFile=, -XX:ArchiveClassesAtExit=).
java_class_data() {
  local archive=$1 given=" ${RBD_JAVA_OPTS:-} ${JDK_JAVA_OPTIONS:-} ${JAVA_TOOL_OPTIONS:-} "
  [ -f "$archive" ] && [ "${RBD_CDS:-1}" != 0 ] || return 0
  case $given in
    *" -Xshare:off"* | *" -XX:SharedArchiveFile="* | *" -XX:ArchiveClassesAtExit="*) return 0 ;;
  esac
  java_opts=("-XX:SharedArchiveFile=$archive" -Xshare:auto "-Xlog:cds*=off" "${java_opts[@]}")
}

# java_short_command: in front of java_opts, the options for a command that is over in about a second
# (--version, info): the quick compiler alone, and the serial collector (no GC threads to start). Long runs
# (copy, bench, a server) keep the JVM's defaults: C2 and G1 are what make them fast.
java_short_command() {
  java_opts=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC "${java_opts[@]}")
}
