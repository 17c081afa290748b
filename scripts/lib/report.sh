# shellcheck shell=bash
# Sourced by the check scripts (interop-test.sh, cli-e2e.sh): PASS/FAIL/SKIP lines and their counts. A skip for a
# missing tool is a failure under RBD_INTEROP_REQUIRE_ALL=1 (CI installs every tool).

REQUIRE_ALL=${RBD_INTEROP_REQUIRE_ALL:-0}
n_pass=0 n_fail=0 n_skip=0

pass() { echo "PASS $1"; n_pass=$((n_pass + 1)); }
fail() { echo "FAIL $1: $2"; n_fail=$((n_fail + 1)); }
skip() { echo "SKIP $1: $2"; n_skip=$((n_skip + 1)); }

# skip_missing NAME WHAT: a skip caused by a missing tool (a failure under
# RBD_INTEROP_REQUIRE_ALL=1).
skip_missing() {
  if [ "$REQUIRE_ALL" = 1 ]; then
    fail "$1" "$2 (RBD_INTEROP_REQUIRE_ALL=1 forbids skipping)"
  else
    skip "$1" "$2"
  fi
}

# need NAME TOOL...: true when all tools exist, otherwise records a loud skip.
need() {
  local name=$1 t missing=()
  shift
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  skip_missing "$name" "missing tool: ${missing[*]} (not on PATH)"
  return 1
}

# why FILE: a one-line excerpt of a tool's output for FAIL reasons.
why() {
  grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 3 | tr '\n' '|' | cut -c1-400
}

summary() {
  echo "$n_pass passed, $n_fail failed, $n_skip skipped"
}
