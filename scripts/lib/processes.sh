# shellcheck shell=bash
# Sourced by the scripts that start servers: free loopback ports, bounded readiness polls, and stopping by PID.
# Callers set LOG_PREFIX (e.g. "bench") for the messages printed here.

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' && return 0
  fi
  local p
  for ((p = 20000 + RANDOM % 5000; p < 30000; p++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

# wait_ready PID URI: polls until the NBD server at nbd[s]://HOST:PORT/... answers (bounded, 30 s);
# fails at once when PID has exited.
wait_ready() {
  local pid=$1 uri=$2 port i
  port=${uri#*://}; port=${port#*:}; port=${port%%/*}
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if command -v nbdinfo >/dev/null 2>&1; then
      timeout 5 nbdinfo --size "$uri" >/dev/null 2>&1 && return 0
    else
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    fi
    sleep 0.2
  done
  return 1
}

# stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL.
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.1
  done
  echo "${LOG_PREFIX:-rbd}: pid $pid ignored SIGTERM for 10s, killing" >&2
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
