# shellcheck shell=bash
# Sourced by the benchmark scripts (after processes.sh): start an NBD server in the background on a free
# loopback port, and stop it again by its PID.
#
# Each start_* function sets SRV_PID, SRV_URI and SRV_KIND, retries on another port when the server does not
# come up (a port can be taken between free_port and the server's bind), and otherwise fails with the tail of
# the server's log. Callers set RBD (the rbd-server launcher) and LOG_PREFIX, and SRV_TLS=1 for a server that
# requires TLS: its URI is then nbds://localhost:PORT/... (the name its certificate carries), and clients find
# the CA in $HOME/.pki/libnbd, libnbd's default, since fio's nbd engine takes no tls-certificates= in a URI.

SRV_PID=
SRV_URI=
SRV_KIND=
SRV_TLS=${SRV_TLS:-}

# _srv_start KIND LOG URI_PATH COMMAND...: runs COMMAND (where @PORT@ stands for the port) as our child.
_srv_start() {
  local kind=$1 log=$2 path=$3 port
  shift 3
  for _ in 1 2 3; do
    port=$(free_port) || return 1
    "${@//@PORT@/$port}" >>"$log" 2>&1 &
    SRV_PID=$! SRV_URI=nbd://127.0.0.1:$port$path SRV_KIND=$kind
    [ -n "$SRV_TLS" ] && SRV_URI=nbds://localhost:$port$path
    wait_ready "$SRV_PID" "$SRV_URI" && return 0
    stop_pid "$SRV_PID"
    SRV_PID=
  done
  _srv_failed "$kind" "$log"
}

_srv_failed() {
  echo "${LOG_PREFIX:-rbd}: $1 did not become ready; log:" >&2
  tail -n 20 "$2" >&2
  return 1
}

# start_rbd_server LOG IMAGE NAME SYNC [OPTION...]: rbd-server export NAME=IMAGE --sync SYNC. The launcher
# execs java, so SRV_PID is the JVM's.
start_rbd_server() {
  local log=$1 img=$2 name=$3 sync=$4
  shift 4
  _srv_start rbd "$log" "/$name" "${RBD:?}" export "$name=$img" --sync "$sync" --listen "127.0.0.1:@PORT@" "$@"
}

# start_nbdkit LOG ARG...: nbdkit in the foreground with ARG... after its listening options, e.g.
# `file IMG` or `--filter=fua file IMG fuamode=force`. It serves its only export under any name.
start_nbdkit() {
  local log=$1
  shift
  _srv_start nbdkit "$log" / nbdkit -f --exit-with-parent -i 127.0.0.1 -p @PORT@ "$@"
}

# start_qemu_nbd LOG IMAGE NAME [OPTION...]: qemu-nbd in the foreground, persistent, raw format, up to 128
# connections at once (fio's nbd engine opens one per job, plus a short one per job to learn the size).
start_qemu_nbd() {
  local log=$1 img=$2 name=$3
  shift 3
  _srv_start qemu-nbd "$log" "/$name" qemu-nbd -f raw -b 127.0.0.1 -p @PORT@ -x "$name" -t -e 128 "$@" "$img"
}

# start_nbd_server LOG IMAGE NAME DIR [SETTING...]: nbd-server with a config file in DIR exporting IMAGE as
# NAME, each SETTING (e.g. "sync = true") added to the export section. Without -d nbd-server serves one
# connection and exits, so it runs as a daemon: SRV_PID is the daemon's PID from its pid file (not our
# child), and it forks a child per connection, which stop_server ends as well.
start_nbd_server() {
  local log=$1 img=$2 name=$3 port i kv conf=$4/nbd-server.conf pidf=$4/nbd-server.pid
  shift 4
  for _ in 1 2 3; do
    port=$(free_port) || return 1
    {
      echo "[generic]"
      echo "port = $port"
      echo "listenaddr = 127.0.0.1"
      if [ "$(id -u)" = 0 ]; then echo "user = root"; echo "group = root"; fi
      echo "[$name]"
      echo "exportname = $img"
      for kv in "$@"; do echo "$kv"; done
    } >"$conf"
    rm -f "$pidf"
    # The launcher forks the daemon and returns; the daemon writes the pid file.
    nbd-server -C "$conf" -p "$pidf" >>"$log" 2>&1 || { echo "nbd-server exited with status $?" >>"$log"; continue; }
    for ((i = 0; i < 50; i++)); do [ -s "$pidf" ] && break; sleep 0.1; done
    SRV_PID=$(cat "$pidf" 2>/dev/null) SRV_URI=nbd://127.0.0.1:$port/$name SRV_KIND=nbd-server
    case $SRV_PID in ''|*[!0-9]*) SRV_PID=; echo "nbd-server wrote no pid file $pidf" >>"$log"; continue ;; esac
    wait_ready "$SRV_PID" "$SRV_URI" && return 0
    stop_server
  done
  _srv_failed nbd-server "$log"
}

# stop_server: stops the server started last, by its PID (and nbd-server's per-connection children by
# theirs), and waits for them to exit.
stop_server() {
  local kids='' k
  [ -n "$SRV_PID" ] || return 0
  [ "$SRV_KIND" = nbd-server ] && kids=$(pgrep -P "$SRV_PID")
  stop_pid "$SRV_PID"
  for k in $kids; do stop_pid "$k"; done
  SRV_PID=
}
