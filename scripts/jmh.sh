#!/usr/bin/env bash
# Codec microbenchmarks: runs rbd-protocol's JMH benchmarks (dev.rbd.protocol.jmh)
# with JMH's gc profiler, so that gc.alloc.rate.norm (bytes allocated per
# operation) is printed beside the time per operation. docs/benchmarks-codec.md
# has the figures and what they mean.
#
# Usage: scripts/jmh.sh [JMH ARGUMENTS...]
#   scripts/jmh.sh                            every benchmark (about 3 minutes)
#   scripts/jmh.sh RequestDecode              those matching a regex
#   scripts/jmh.sh 'Decode.*write4k$' -f 3 -i 10
#   scripts/jmh.sh -rf json -rff codec.json   the results as JSON too
#   scripts/jmh.sh -l                         list the benchmarks
#   scripts/jmh.sh -h                         JMH's own options
#   scripts/jmh.sh --help                     this text
# Arguments go to JMH as they are. The defaults, set in the benchmark classes
# for a 2-core machine: 1 fork, 3 warm-up and 5 measurement iterations of 1 s,
# one thread, average time in ns/op.
#
# Compiles rbd-protocol's test classes first when a source or pom is newer than
# them (mvn -o test-compile; never install), and finds the test classpath with
# mvn dependency:build-classpath (kept in rbd-protocol/target/jmh.classpath).
#
# Environment:
#   JMH_PROF   profilers, space-separated (default: gc; empty: none)
#   JMH_NICE   niceness of the build and the run (default 10), so that the
#              benchmarks yield to other work on the machine
#   MVN        Maven command (default: mvn)
#
# Exit status: JMH's (0 ok), 2 when the build or the classpath fails.
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(cd "$here/.." && pwd)
module=$root/rbd-protocol
classes=$module/target/test-classes
cpfile=$module/target/jmh.classpath
PROF=${JMH_PROF-gc}
NICE=${JMH_NICE:-10}
# MVN may carry options of its own (mvn -s settings.xml): words, not one command name
read -ra mvn <<<"${MVN:-mvn}"

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
for a in "$@"; do
  [ "$a" = --help ] && { usage; exit 0; }
done

# Anything in the module (or a pom) newer than the benchmark list needs a build.
stale() {  # FILE: true when FILE is missing or older than a source or pom
  [ -f "$1" ] || return 0
  [ -n "$(find "$module/src" "$module/pom.xml" "$root/pom.xml" -newer "$1" -print -quit)" ]
}

if stale "$classes/META-INF/BenchmarkList"; then
  echo "jmh: compiling rbd-protocol's test classes" >&2
  (cd "$root" && nice -n "$NICE" "${mvn[@]}" -q -o -DskipTests -DskipInterop test-compile -pl rbd-protocol >&2) \
    || { echo "jmh: build failed" >&2; exit 2; }
  touch "$classes/META-INF/BenchmarkList"  # javac may leave it as it was
fi
if [ ! -f "$cpfile" ] || [ "$cpfile" -ot "$module/pom.xml" ] || [ "$cpfile" -ot "$root/pom.xml" ]; then
  (cd "$root" && nice -n "$NICE" "${mvn[@]}" -q -o dependency:build-classpath -Dmdep.includeScope=test \
    -Dmdep.outputFile="$cpfile" -pl rbd-protocol >&2) || { echo "jmh: no classpath" >&2; rm -f "$cpfile"; exit 2; }
fi

prof=()
for p in $PROF; do
  prof+=(-prof "$p")
done
exec nice -n "$NICE" java -cp "$classes:$module/target/classes:$(cat "$cpfile")" org.openjdk.jmh.Main \
  ${prof[@]+"${prof[@]}"} "$@"
