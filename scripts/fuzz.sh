#!/usr/bin/env bash
# Fuzzing: runs each @FuzzTest harness with JAZZER_FUZZ=1 (coverage-guided, Jazzer
# 0.22.1's libFuzzer) for SECONDS, then prints per harness the executions, the
# coverage and features libFuzzer reports, the inputs it added to its corpus and
# its findings. docs/testing.md ("Fuzzing") says what each harness checks.
#
# Usage: scripts/fuzz.sh [SECONDS per harness, default 600] [HARNESS...]
#   scripts/fuzz.sh                     every harness, 10 minutes each
#   scripts/fuzz.sh 60 RequestDecoder   the harnesses whose class name matches
#   FUZZ_JOBS=2 scripts/fuzz.sh         two harnesses at a time
#
# Without JAZZER_FUZZ (the normal mvn verify) the same harnesses run only their
# kept inputs: src/test/resources/<package>/<Class>Inputs/<method>/. A finding
# is written there as crash-<sha1> by Jazzer, so it becomes a regression input;
# rename it to say what it is. The corpus libFuzzer grows is kept per module in
# .cifuzz-corpus/ (not in git), so a later run starts where the last one ended.
#
# The duration: Jazzer 0.22.1 reads no duration setting of its own but passes
# jazzer.internal.arg.N on to libFuzzer after the @FuzzTest(maxDuration) one, and
# libFuzzer takes a flag's last value, so -max_total_time here wins.
#
# Environment:
#   FUZZ_JOBS  harnesses run at once (default 1; the build machine has 2 cores)
#   FUZZ_LOGS  where the full logs go (default target/fuzz)
#   MVN        Maven command (default: mvn)
#
# Exit status: 0 no findings, 1 a harness found something or failed to run,
# 2 usage or build error.
set -u

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
esac
seconds=${1:-600}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz.sh: SECONDS must be a positive whole number, not '$seconds'" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))
filters=("$@")

cd "$(dirname "$0")/.." || exit 2
mvn=${MVN:-mvn}
jobs=${FUZZ_JOBS:-1}
logs=${FUZZ_LOGS:-target/fuzz}
mkdir -p "$logs" || exit 2

# module, class, method
harnesses=(
    "rbd-protocol dev.rbd.protocol.codec.ServerHandshakeDecoderFuzzTest decodesAnyOptionStream"
    "rbd-protocol dev.rbd.protocol.codec.RequestDecoderFuzzTest decodesAnyRequestStream"
    "rbd-protocol dev.rbd.protocol.codec.ReplyDecoderFuzzTest decodesAnyReplyStream"
    "rbd-server dev.rbd.server.handshake.HandshakeHandlerFuzzTest negotiatesAnyOptionStream"
)

selected=()
for h in "${harnesses[@]}"; do
    read -r module class method <<<"$h"
    if ((${#filters[@]} == 0)); then
        selected+=("$h")
        continue
    fi
    for f in "${filters[@]}"; do
        if [[ ${class##*.} == *"$f"* ]]; then
            selected+=("$h")
            break
        fi
    done
done
if ((${#selected[@]} == 0)); then
    echo "fuzz.sh: no harness matches: ${filters[*]}" >&2
    exit 2
fi

# one build first, so that harnesses running at once find the classes compiled
echo "fuzz.sh: building the test classes"
if ! "$mvn" -B -o -q -Dstyle.color=never -DskipInterop -pl rbd-server -am test-compile; then
    echo "fuzz.sh: the build failed" >&2
    exit 2
fi

run() {
    local module=$1 class=$2 method=$3 log=$4
    # the test phase again is a no-op build; the forked JVM inherits JAZZER_FUZZ, and
    # RBD_LOG_LEVEL=ERROR keeps the handshake's per-connection warnings out of the log
    JAZZER_FUZZ=1 RBD_LOG_LEVEL=ERROR "$mvn" -B -o -DskipInterop -pl "$module" -am test \
        -Dtest="$class#$method" -Dsurefire.failIfNoSpecifiedTests=false \
        -Djazzer.internal.arg.0=fuzz \
        -Djazzer.internal.arg.1=-max_total_time="$seconds" \
        -Djazzer.internal.arg.2=-print_final_stats=1 >"$log" 2>&1
}

# the last libFuzzer status line (#N DONE/pulse/NEW/REDUCE ... cov: ft: corp: exec/s:), its final stats, findings
summary() {
    local name=$1 log=$2 status=$3 last execs added findings
    last=$(grep -aE '^#[0-9]+[[:space:]]' "$log" | tail -n 1)
    execs=$(grep -a 'stat::number_of_executed_units:' "$log" | tail -n 1 | awk '{print $2}')
    added=$(grep -a 'stat::new_units_added:' "$log" | tail -n 1 | awk '{print $2}')
    findings=$(grep -acE 'Test unit written to|^\[ERROR\] Tests run:.*FAILURE' "$log")
    printf '%s\n' "$name"
    printf '  executions: %s   new corpus units: %s   exit: %s\n' "${execs:-?}" "${added:-?}" "$status"
    printf '  last status: %s\n' "${last:-none (see the log)}"
    if ((findings > 0)) || ((status != 0)); then
        printf '  FINDINGS:\n'
        # the failed check as surefire reports it, and the input Jazzer kept for it
        grep -aE -A 3 '^\[ERROR\] (Failures|Errors):' "$log" | head -n 12 | sed 's/^/    /'
        grep -aoE 'Test unit written to .*' "$log" | sed 's/^/    /'
    else
        printf '  findings: none\n'
    fi
    printf '  log: %s\n' "$log"
}

failed=0
pids=()
names=()
for h in "${selected[@]}"; do
    read -r module class method <<<"$h"
    name=${class##*.}
    log="$logs/$name.log"
    echo "fuzz.sh: $name#$method for $seconds s (log: $log)"
    run "$module" "$class" "$method" "$log" &
    pids+=("$!")
    names+=("$name")
    while (($(jobs -rp | wc -l) >= jobs)); do
        wait -n || true
    done
done

echo
for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    status=$?
    ((status == 0)) || failed=1
    summary "${names[$i]}" "$logs/${names[$i]}.log" "$status"
done
exit "$failed"
