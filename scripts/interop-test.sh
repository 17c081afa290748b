#!/usr/bin/env bash
# Interoperability test: drives a freshly started rbd-server with the real NBD
# tools (libnbd's nbdinfo/nbdcopy/nbdsh/nbdfuse, qemu-img/qemu-io, fio's nbd
# engine) and prints one line per check:
#
#   PASS name | FAIL name: reason | SKIP name: reason
#
# followed by exactly one summary line "N passed, N failed, N skipped".
# Exit status is non-zero when anything failed.
#
# Usage: interop-test.sh [--only NAME]...
#   --only NAME   run only the check that prints NAME (repeatable), e.g.
#                 --only ext4-overlays-dir-8-clients; the names are in the
#                 table below
#
# A check whose tool is missing is skipped (never passed). With
# RBD_INTEROP_REQUIRE_ALL=1 (CI) such a skip counts as a failure instead --
# except the nbdfuse + loop + ext4 check, which needs /dev/fuse, loop devices
# and mount rights that a sandbox may legitimately lack; it only ever skips.
#
# Environment:
#   RBD_INTEROP_REQUIRE_ALL=1   missing tools are failures
#   RBD_INTEROP_KEEP=1          keep the temp dir (images, logs, tool output)
#   RBD_INTEROP_TIMEOUT=SECS    per tool call bound (default 60)
#   RBD_SERVER=PATH             server launcher (default: scripts/rbd-server)
#
# The server is built with: mvn -q -B -DskipTests package (repository root).
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
RBD=${RBD_SERVER:-$here/rbd-server}
LOG_PREFIX=interop
. "$here/lib/processes.sh"
. "$here/lib/report.sh"
TMO=${RBD_INTEROP_TIMEOUT:-60}
IMG_SIZE=268435456            # 256 MiB, what --create 256M makes
MiB=1048576

# Each check function, then the names of the results it prints (what --only selects by).
checks=(
  "check_nbdinfo_json nbdinfo-json"
  "check_nbdinfo_list nbdinfo-list"
  "check_qemu_img_info qemu-img-info"
  "check_qemu_io qemu-io-patterns"
  "check_nbdcopy nbdcopy-roundtrip"
  "check_fio fio-verify"
  "check_readonly readonly-server readonly-nbdinfo readonly-qemu-io readonly-nbdsh readonly-nbdsh-server"
  "check_out_of_range out-of-range"
  "check_filesystem ext4-on-nbdfuse"
  "check_overlay_fleet ext4-overlays-temp-8-clients"
  "check_overlay_fleet_dir ext4-overlays-dir-8-clients"
)
only=()
while [ $# -gt 0 ]; do
  case $1 in
    --only) [ $# -ge 2 ] || { echo "interop: --only needs a check name" >&2; exit 2; }; only+=("$2"); shift 2 ;;
    *) echo "interop: unknown argument '$1' (usage: interop-test.sh [--only NAME]...)" >&2; exit 2 ;;
  esac
done
# selected "FUNCTION NAME...": whether that check runs (every one without --only).
selected() {
  local want
  [ ${#only[@]} -eq 0 ] && return 0
  for want in "${only[@]}"; do
    [[ " ${1#* } " == *" $want "* ]] && return 0
  done
  return 1
}
for want in "${only[@]}"; do
  known=0
  for c in "${checks[@]}"; do [[ " ${c#* } " == *" $want "* ]] && known=1; done
  [ $known = 1 ] || { echo "interop: --only $want: no such check (the names: ${checks[*]#* })" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rbd-interop.XXXXXX") || { echo "FAIL setup: mktemp failed"; exit 1; }

server_pids=()   # every server process started (stopped on exit)
live_servers=()  # the ones that became ready
fuse_pid=
fleet_pids=()    # nbdfuse processes of the overlay check
fleet_dirs=()
loop_dev=
mnt_dir=
fuse_dir=

# ---------------------------------------------------------------- cleanup --
cleanup() {
  local i d pid
  if [ -n "$mnt_dir" ] && timeout 10 mountpoint -q "$mnt_dir" 2>/dev/null; then
    timeout 20 umount "$mnt_dir" 2>/dev/null || timeout 10 umount -l "$mnt_dir" 2>/dev/null
  fi
  if [ -n "$loop_dev" ]; then
    timeout 10 losetup -d "$loop_dev" 2>/dev/null
    loop_dev=
  fi
  if [ -n "$fuse_dir" ] && timeout 10 mountpoint -q "$fuse_dir" 2>/dev/null; then
    for ((i = 0; i < 20; i++)); do
      timeout 10 fusermount3 -u "$fuse_dir" 2>/dev/null && break
      sleep 0.2
    done
    timeout 10 mountpoint -q "$fuse_dir" 2>/dev/null && { timeout 10 fusermount3 -uz "$fuse_dir" 2>/dev/null || timeout 10 umount -l "$fuse_dir" 2>/dev/null; }
  fi
  [ -n "$fuse_pid" ] && stop_pid "$fuse_pid"
  for d in "${fleet_dirs[@]}"; do
    timeout 10 mountpoint -q "$d" 2>/dev/null && { timeout 10 fusermount3 -u "$d" 2>/dev/null || timeout 10 fusermount3 -uz "$d" 2>/dev/null; }
  done
  for pid in "${fleet_pids[@]}"; do stop_pid "$pid"; done
  for pid in "${server_pids[@]}"; do stop_pid "$pid"; done
  if [ "${RBD_INTEROP_KEEP:-0}" = 1 ]; then
    echo "interop: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# ----------------------------------------------------------------- helpers --
PY=$(command -v python3 || true)

# A python3 that has libnbd's "nbd" module (nbdsh is "python3 -m nbd"; the
# python3 first on PATH, e.g. a pyenv one, may lack it).
PY_NBD=
for p in python3 /usr/bin/python3 /usr/local/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import nbd' 2>/dev/null; then
    PY_NBD=$(command -v "$p"); break
  fi
done
# How to run nbdsh. Empty when unavailable; NBDSH_NOTE explains substitutions.
NBDSH=()
NBDSH_NOTE=
if command -v nbdsh >/dev/null 2>&1 && timeout 20 nbdsh -c 'pass' >/dev/null 2>&1; then
  NBDSH=(nbdsh)
elif command -v nbdsh >/dev/null 2>&1 && [ -n "$PY_NBD" ]; then
  NBDSH=("$PY_NBD" -m nbd)
  NBDSH_NOTE="(nbdsh's python3 on PATH lacks the nbd module; ran nbdsh as $PY_NBD -m nbd)"
fi
nbdsh_missing_reason() {
  if ! command -v nbdsh >/dev/null 2>&1; then
    echo "missing tool: nbdsh (apt-get install python3-libnbd)"
  else
    echo "missing tool: nbdsh is installed but no python3 can import the nbd module (apt-get install python3-libnbd)"
  fi
}

# start_server LOGNAME FIRST_EXPORT ARGS...: starts rbd-server on a free
# loopback port (retrying if the port was taken meanwhile). Sets PORT.
start_server() {
  local log=$tmp/$1.log first=$2 pid _
  shift 2
  for _ in 1 2 3; do
    PORT=$(free_port) || return 1
    "$RBD" export "$@" --listen "127.0.0.1:$PORT" >>"$log" 2>&1 &
    pid=$!
    server_pids+=("$pid")
    if wait_ready "$pid" "nbd://127.0.0.1:$PORT/$first"; then live_servers+=("$pid"); return 0; fi
    stop_pid "$pid"
  done
  return 1
}

# stop_server PID: a clean stop of a server start_server started (no longer expected alive at the end).
stop_server() {
  local p kept=()
  stop_pid "$1"
  for p in "${live_servers[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  live_servers=("${kept[@]}")
}

[ -n "$NBDSH_NOTE" ] && echo "interop: note: $NBDSH_NOTE" >&2

# ------------------------------------------------------------------ server --
if [ ! -x "$RBD" ]; then
  fail server-start "launcher $RBD not found/executable"
  summary; exit 1
fi
if ! start_server server disk "disk=$tmp/disk.img" "other=$tmp/other.img" --create 256M; then
  fail server-start "rbd-server did not become ready within 30s: $(why "$tmp/server.log")"
  summary; exit 1
fi
RW_PORT=$PORT
URI=nbd://127.0.0.1:$RW_PORT/disk
URI_OTHER=nbd://127.0.0.1:$RW_PORT/other

# ------------------------------------------------------------ nbdinfo-json --
check_nbdinfo_json() {
  local name=nbdinfo-json out=$tmp/nbdinfo.json r
  need $name nbdinfo python3 || return
  if ! timeout "$TMO" nbdinfo --json "$URI" >"$out" 2>&1; then
    fail $name "nbdinfo --json exited non-zero: $(why "$out")"; return
  fi
  r=$("$PY" - "$out" "$IMG_SIZE" <<'EOF' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
e = [x for x in d["exports"] if x.get("export-name") == "disk"] or d["exports"]
e = e[0]
want = {
    "export-size": int(sys.argv[2]), "is_read_only": False,
    "can_flush": True, "can_fua": True, "can_trim": True, "can_zero": True,
    "can_multi_conn": True, "block_size_minimum": 1,
    "block_size_preferred": 4096, "block_size_maximum": 67108864,
}
bad = ["%s=%r (want %r)" % (k, e.get(k), v) for k, v in want.items() if e.get(k) != v]
print("; ".join(bad))
EOF
  ) || { fail $name "could not parse nbdinfo JSON: $r"; return; }
  if [ -n "$r" ]; then fail $name "$r"; else pass $name; fi
}

# ------------------------------------------------------------ nbdinfo-list --
check_nbdinfo_list() {
  local name=nbdinfo-list out=$tmp/nbdinfo-list.json r
  need $name nbdinfo python3 || return
  if ! timeout "$TMO" nbdinfo --list --json "nbd://127.0.0.1:$RW_PORT" >"$out" 2>&1; then
    fail $name "nbdinfo --list --json exited non-zero: $(why "$out")"; return
  fi
  r=$("$PY" - "$out" <<'EOF' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
names = sorted(x.get("export-name") for x in d["exports"])
missing = [n for n in ("disk", "other") if n not in names]
print(("missing exports %s; listed %s" % (missing, names)) if missing else "")
EOF
  ) || { fail $name "could not parse nbdinfo JSON: $r"; return; }
  if [ -n "$r" ]; then fail $name "$r"; else pass $name; fi
}

# ----------------------------------------------------------- qemu-img-info --
check_qemu_img_info() {
  local name=qemu-img-info out=$tmp/qemu-img-info.txt
  need $name qemu-img || return
  if ! timeout "$TMO" qemu-img info "$URI" >"$out" 2>&1; then
    fail $name "qemu-img info exited non-zero: $(why "$out")"; return
  fi
  if grep -q "^virtual size: .*($IMG_SIZE bytes)" "$out"; then
    pass $name
  else
    fail $name "virtual size is not $IMG_SIZE bytes: $(grep '^virtual size' "$out" || why "$out")"
  fi
}

# -------------------------------------------------------- qemu-io-patterns --
check_qemu_io() {
  local name=qemu-io-patterns out=$tmp/qemu-io.txt rc
  need $name qemu-io || return
  timeout "$TMO" qemu-io -f raw "$URI" \
    -c 'write -P 0xab 0 1M' \
    -c 'write -f -P 0xcd 1M 64k' \
    -c 'write -P 0xee 2M 64k' \
    -c 'read -P 0xee 2M 64k' \
    -c 'write -z 2M 64k' \
    -c 'read -P 0 2M 64k' \
    -c 'write -P 0x5a 3M 64k' \
    -c 'discard 3M 64k' \
    -c 'flush' \
    -c 'read -P 0xab 0 1M' \
    -c 'read -P 0xcd 1M 64k' >"$out" 2>&1
  rc=$?
  # qemu-io's exit status does not reliably reflect failed -P checks: grep.
  if [ $rc -ne 0 ]; then
    fail $name "qemu-io exited $rc: $(why "$out")"
  elif grep -Eiq 'verification failed|failed|error' "$out"; then
    fail $name "$(grep -Ei 'verification failed|failed|error' "$out" | head -n 3 | tr '\n' '|')"
  elif [ "$(grep -c '^wrote ' "$out")" -ne 5 ] || [ "$(grep -c '^read ' "$out")" -ne 4 ] \
       || [ "$(grep -c '^discard ' "$out")" -ne 1 ]; then
    fail $name "unexpected qemu-io output (expected 5 writes, 4 reads, 1 discard): $(why "$out")"
  else
    pass $name
  fi
}

# -------------------------------------------------------- nbdcopy-roundtrip --
check_nbdcopy() {
  local name=nbdcopy-roundtrip src=$tmp/copy-src dst=$tmp/copy-dst out=$tmp/nbdcopy.txt
  need $name nbdcopy cmp || return
  if ! head -c $((64 * MiB)) /dev/urandom >"$src"; then
    fail $name "could not create 64 MiB random file"; return
  fi
  if ! timeout "$TMO" nbdcopy --flush "$src" "$URI" >"$out" 2>&1; then
    fail $name "nbdcopy file -> export failed: $(why "$out")"; rm -f "$src"; return
  fi
  if ! timeout "$TMO" nbdcopy "$URI" "$dst" >>"$out" 2>&1; then
    fail $name "nbdcopy export -> file failed: $(why "$out")"; rm -f "$src" "$dst"; return
  fi
  if cmp -n $((64 * MiB)) "$src" "$dst" >>"$out" 2>&1; then
    pass $name
  else
    fail $name "copy differs: $(why "$out")"
  fi
  rm -f "$src" "$dst"
}

# --------------------------------------------------------------- fio-verify --
check_fio() {
  local name=fio-verify out=$tmp/fio.txt rc
  need $name fio || return
  if ! fio --enghelp=nbd >/dev/null 2>&1; then
    skip_missing $name "missing tool: this fio has no nbd ioengine"; return
  fi
  # (run in $tmp, and without a verify state file, so nothing lands in $PWD)
  (cd "$tmp" && timeout "$TMO" fio --name=t --ioengine=nbd --uri="$URI" --rw=randrw --bs=4k \
    --iodepth=32 --size=64M --verify=crc32c --verify_state_save=0 --time_based=0) >"$out" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    fail $name "fio exited $rc: $(grep -Ei 'verify|err|fio:' "$out" | head -n 3 | tr '\n' '|')"
  elif grep -qi 'verify' "$out"; then
    fail $name "$(grep -i 'verify' "$out" | head -n 3 | tr '\n' '|')"
  elif ! grep -q 'err= 0' "$out"; then
    fail $name "fio reported an error: $(grep -E 'err=' "$out" | head -n 1)"
  else
    pass $name
  fi
}

# ---------------------------------------------------------------- read-only --
RO_URI=
start_readonly() {
  truncate -s 16M "$tmp/ro.img" || return 1
  start_server server-ro ro "ro=$tmp/ro.img" --readonly || return 1
  RO_URI=nbd://127.0.0.1:$PORT/ro
}

check_readonly() {
  local out r rc
  if ! start_readonly; then
    fail readonly-server "read-only rbd-server did not become ready: $(why "$tmp/server-ro.log")"
    return
  fi

  # nbdinfo reports the export read-only.
  out=$tmp/ro-nbdinfo.json
  if need readonly-nbdinfo nbdinfo python3; then
    if ! timeout "$TMO" nbdinfo --json "$RO_URI" >"$out" 2>&1; then
      fail readonly-nbdinfo "nbdinfo exited non-zero: $(why "$out")"
    else
      r=$("$PY" -c 'import json,sys; e=json.load(open(sys.argv[1]))["exports"][0]; print(e.get("is_read_only"))' "$out" 2>&1)
      if [ "$r" = True ]; then pass readonly-nbdinfo; else fail readonly-nbdinfo "is_read_only=$r"; fi
    fi
  fi

  # qemu-io: a write must fail (qemu refuses to open it read-write, or the
  # write errors), and a read must still work.
  out=$tmp/ro-qemu-io.txt
  if need readonly-qemu-io qemu-io; then
    timeout "$TMO" qemu-io -f raw "$RO_URI" -c 'write -P 0xab 0 4k' >"$out" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && grep -q '^wrote ' "$out" && ! grep -Eiq 'fail|error|denied|not permitted' "$out"; then
      fail readonly-qemu-io "write to read-only export succeeded: $(why "$out")"
    elif ! grep -Eiq 'fail|error|denied|not permitted|read-only|read only' "$out"; then
      fail readonly-qemu-io "write was not refused with an error message (rc=$rc): $(why "$out")"
    elif ! timeout "$TMO" qemu-io -r -f raw "$RO_URI" -c 'read -P 0 0 64k' >"$out.read" 2>&1 \
         || grep -Eiq 'fail|error' "$out.read"; then
      fail readonly-qemu-io "write refused, but read-only read failed too: $(why "$out.read")"
    else
      pass readonly-qemu-io
    fi
  fi

  # nbdsh: h.pwrite must raise EPERM. With libnbd's default strict mode the
  # client itself refuses (the server advertised read-only), so also check
  # with strict mode off that the server answers EPERM to WRITE and TRIM.
  if [ ${#NBDSH[@]} -eq 0 ]; then
    skip_missing readonly-nbdsh "$(nbdsh_missing_reason) (read-only refusal is then only covered by readonly-qemu-io)"
    skip_missing readonly-nbdsh-server "$(nbdsh_missing_reason)"
    return
  fi
  out=$tmp/ro-nbdsh.txt
  timeout "$TMO" "${NBDSH[@]}" -u "$RO_URI" -c '
import sys
try:
    h.pwrite(b"x" * 512, 0)
    print("pwrite succeeded on a read-only export"); sys.exit(1)
except nbd.Error as e:
    if e.errno != "EPERM":
        print("pwrite raised %s, want EPERM: %s" % (e.errno, e.string)); sys.exit(1)
    print("ok client-side", e.errno)
' >"$out" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then fail readonly-nbdsh "$(why "$out") $NBDSH_NOTE"; else pass readonly-nbdsh; fi

  out=$tmp/ro-nbdsh-server.txt
  timeout "$TMO" "${NBDSH[@]}" -c "
import sys
h.set_strict_mode(0)
h.connect_uri('$RO_URI')
bad = []
for what, fn in (('write', lambda: h.pwrite(b'x' * 512, 0)),
                 ('trim', lambda: h.trim(512, 0))):
    try:
        fn(); bad.append(what + ' succeeded')
    except nbd.Error as e:
        if e.errno != 'EPERM':
            bad.append('%s got %s (%s), want EPERM' % (what, e.errno, e.string))
if len(h.pread(4096, 0)) != 4096:
    bad.append('read after refused write returned a short buffer')
h.shutdown()
print('; '.join(bad) if bad else 'ok')
sys.exit(1 if bad else 0)
" >"$out" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then fail readonly-nbdsh-server "$(why "$out") $NBDSH_NOTE"; else pass readonly-nbdsh-server; fi
}

# ------------------------------------------------------------- out-of-range --
check_out_of_range() {
  local name=out-of-range out=$tmp/oob.txt rc
  if [ ${#NBDSH[@]} -eq 0 ]; then
    skip_missing $name "$(nbdsh_missing_reason)"; return
  fi
  timeout "$TMO" "${NBDSH[@]}" -c "
import sys
h.set_strict_mode(0)          # let the requests reach the server
h.connect_uri('$URI')
size = h.get_size()
bad = []
def expect(what, want, fn):
    try:
        fn(); bad.append('%s succeeded, want %s' % (what, want))
    except nbd.Error as e:
        if e.errno != want:
            bad.append('%s got %s (%s), want %s' % (what, e.errno, e.string, want))
expect('read past end', 'EINVAL', lambda: h.pread(512, size))
expect('read straddling end', 'EINVAL', lambda: h.pread(1024, size - 512))
expect('write past end', 'ENOSPC', lambda: h.pwrite(b'x' * 512, size))
expect('write straddling end', 'ENOSPC', lambda: h.pwrite(b'x' * 1024, size - 512))
expect('trim past end', 'EINVAL', lambda: h.trim(512, size))
expect('write-zeroes past end', 'ENOSPC', lambda: h.zero(512, size))
# the connection must still be usable
h.pwrite(b'\x42' * 4096, 8 * 1048576)
if h.pread(4096, 8 * 1048576) != b'\x42' * 4096:
    bad.append('read after errors returned wrong data')
h.shutdown()
print('; '.join(bad) if bad else 'ok')
sys.exit(1 if bad else 0)
" >"$out" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then fail $name "$(why "$out") $NBDSH_NOTE"; else pass $name; fi
}

# ------------------------------------------------------ nbdfuse + ext4 fs --
# Environment problems (no /dev/fuse, no loop devices, no mount rights) are
# skips, always; data-path problems once the device is attached are failures.
check_filesystem() {
  local name=ext4-on-nbdfuse out=$tmp/fs.txt i t missing=()
  for t in nbdfuse fusermount3 losetup mkfs.ext4 fsck.ext4 mount umount mountpoint sha256sum; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  if [ ${#missing[@]} -gt 0 ]; then skip $name "missing tool: ${missing[*]}"; return; fi
  if [ ! -c /dev/fuse ]; then skip $name "/dev/fuse is not available"; return; fi
  if ! { exec 9<>/dev/fuse; } 2>/dev/null; then skip $name "/dev/fuse cannot be opened (no permission)"; return; fi
  exec 9>&-
  if [ "$(id -u)" -ne 0 ]; then skip $name "mounting ext4 on a loop device needs root"; return; fi

  fuse_dir=$tmp/fuse
  mnt_dir=$tmp/mnt
  mkdir -p "$fuse_dir" "$mnt_dir" "$tmp/files"
  nbdfuse "$fuse_dir" "$URI_OTHER" >"$tmp/nbdfuse.log" 2>&1 &
  fuse_pid=$!
  for ((i = 0; i < 100; i++)); do
    [ -e "$fuse_dir/nbd" ] && break
    kill -0 "$fuse_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -e "$fuse_dir/nbd" ]; then
    skip $name "nbdfuse could not mount (FUSE unavailable?): $(why "$tmp/nbdfuse.log")"; return
  fi
  if ! loop_dev=$(timeout "$TMO" losetup -f --show "$fuse_dir/nbd" 2>"$out"); then
    loop_dev=
    skip $name "no loop device available: $(why "$out")"; return
  fi
  if ! timeout "$TMO" mkfs.ext4 -q -F "$loop_dev" >"$out" 2>&1; then
    fail $name "mkfs.ext4 on $loop_dev failed: $(why "$out")"; return
  fi
  if ! timeout "$TMO" mount -t ext4 "$loop_dev" "$mnt_dir" >"$out" 2>&1; then
    skip $name "cannot mount ext4 here: $(why "$out")"; return
  fi
  # 20 MiB of random data in a few files plus a small tree of source files.
  head -c $((12 * MiB)) /dev/urandom >"$tmp/files/a.bin"
  head -c $((8 * MiB)) /dev/urandom >"$tmp/files/b.bin"
  cp -r "$here" "$tmp/files/scripts-copy" 2>/dev/null
  (cd "$tmp/files" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$tmp/files.sha256"
  if ! timeout "$TMO" cp -r "$tmp/files/." "$mnt_dir/" >"$out" 2>&1 || ! timeout "$TMO" sync >>"$out" 2>&1; then
    fail $name "copying files into the mounted fs failed: $(why "$out")"; return
  fi
  if ! timeout "$TMO" umount "$mnt_dir" >"$out" 2>&1; then
    fail $name "umount failed: $(why "$out")"; return
  fi
  # Drop cached pages of the loop device so fsck reads through NBD.
  timeout 10 blockdev --flushbufs "$loop_dev" 2>/dev/null
  if ! timeout "$TMO" fsck.ext4 -fn "$loop_dev" >"$out" 2>&1; then
    fail $name "fsck.ext4 -fn not clean: $(why "$out")"; return
  fi
  if ! timeout "$TMO" mount -o ro -t ext4 "$loop_dev" "$mnt_dir" >"$out" 2>&1; then
    fail $name "read-only remount failed: $(why "$out")"; return
  fi
  if ! (cd "$mnt_dir" && timeout "$TMO" sha256sum --quiet -c "$tmp/files.sha256") >"$out" 2>&1; then
    fail $name "files read back differ: $(why "$out")"; return
  fi
  timeout "$TMO" umount "$mnt_dir" >"$out" 2>&1 || { fail $name "final umount failed: $(why "$out")"; return; }
  timeout 10 losetup -d "$loop_dev" 2>/dev/null; loop_dev=
  for ((i = 0; i < 20; i++)); do
    timeout 10 fusermount3 -u "$fuse_dir" >"$out" 2>&1 && break
    sleep 0.2
  done
  if timeout 10 mountpoint -q "$fuse_dir"; then fail $name "fusermount3 -u failed: $(why "$out")"; return; fi
  for ((i = 0; i < 50; i++)); do kill -0 "$fuse_pid" 2>/dev/null || break; sleep 0.1; done
  stop_pid "$fuse_pid"; fuse_pid=
  pass $name
}

# ------------------------------------------- ext4 golden, 8 clients' overlays --
# The diskless-room case: one ext4 golden image served with overlays, 8 clients at once, each through its own
# nbdfuse (one connection) opening NAME/hostN and writing its own file with debugfs. Each client's view must pass
# fsck.ext4 -fn, hold its own file and none of the others', and the golden file must not change (bytes and mtime).
# Needs FUSE but no loop device or mount: like check_filesystem, an environment without /dev/fuse skips. The
# fleet_* helpers below are the steps both overlay checks share; each returns non-zero once it has printed the
# check's result.

# fleet_ready NAME: the tools and /dev/fuse are there (else a skip).
fleet_ready() {
  local name=$1 t missing=()
  for t in nbdfuse fusermount3 mkfs.ext4 fsck.ext4 debugfs sha256sum mountpoint nbdcopy; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  if [ ${#missing[@]} -gt 0 ]; then skip_missing "$name" "missing tool: ${missing[*]}"; return 1; fi
  if [ ! -c /dev/fuse ]; then skip "$name" "/dev/fuse is not available"; return 1; fi
  if ! { exec 9<>/dev/fuse; } 2>/dev/null; then skip "$name" "/dev/fuse cannot be opened (no permission)"; return 1; fi
  exec 9>&-
}

# fleet_golden NAME GOLDEN: a 64 MiB ext4 image holding golden.txt; sets GOLDEN_SUM and GOLDEN_MTIME.
fleet_golden() {
  local name=$1 golden=$2 out=$tmp/$1.txt
  if ! { truncate -s $((64 * MiB)) "$golden" && timeout "$TMO" mkfs.ext4 -q -F "$golden" >"$out" 2>&1; }; then
    fail "$name" "mkfs.ext4 on the golden image failed: $(why "$out")"; return 1
  fi
  echo "from the golden image" >"$tmp/golden.txt"
  timeout "$TMO" debugfs -w -R "write $tmp/golden.txt golden.txt" "$golden" >"$out" 2>&1 ||
    { fail "$name" "debugfs could not write into the golden image: $(why "$out")"; return 1; }
  GOLDEN_SUM=$(sha256sum <"$golden") GOLDEN_MTIME=$(stat -c %Y "$golden")
}

# fleet_golden_unchanged NAME GOLDEN: its bytes and mtime are what fleet_golden saw.
fleet_golden_unchanged() {
  [ "$(sha256sum <"$2")" = "$GOLDEN_SUM" ] || { fail "$1" "the golden image changed"; return 1; }
  [ "$(stat -c %Y "$2")" = "$GOLDEN_MTIME" ] || { fail "$1" "the golden image's mtime changed"; return 1; }
}

# fleet_mount NAME URI: nbdfuse of URI/host1..URI/host8 on $tmp/fleet-1..8, all 8 at once (after unmounting
# what a failed check left there).
fleet_mount() {
  local name=$1 uri=$2 i j d
  [ ${#fleet_pids[@]} -eq 0 ] || fleet_unmount
  for ((i = 1; i <= 8; i++)); do
    d=$tmp/fleet-$i
    mkdir -p "$d"
    nbdfuse "$d" "$uri/host$i" >"$tmp/fleet-nbdfuse-$i.log" 2>&1 &
    fleet_pids+=($!)
    fleet_dirs+=("$d")
  done
  for ((i = 1; i <= 8; i++)); do
    d=$tmp/fleet-$i
    for ((j = 0; j < 100; j++)); do
      [ -e "$d/nbd" ] && break
      kill -0 "${fleet_pids[i - 1]}" 2>/dev/null || break
      sleep 0.1
    done
    [ -e "$d/nbd" ] || { skip "$name" "nbdfuse could not mount (FUSE unavailable?): $(why "$tmp/fleet-nbdfuse-$i.log")"; return 1; }
  done
}

# fleet_write NAME: every client writes its file while all 8 are connected.
fleet_write() {
  local name=$1 out=$tmp/$1.txt i
  for ((i = 1; i <= 8; i++)); do
    echo "written by host$i" >"$tmp/host$i.txt"
    timeout "$TMO" debugfs -w -R "write $tmp/host$i.txt host$i.txt" "$tmp/fleet-$i/nbd" >"$out" 2>&1 ||
      { fail "$name" "debugfs write through host$i's overlay failed: $(why "$out")"; return 1; }
  done
}

# fleet_verify NAME [WHEN]: each client's view is clean, with its own file and the golden's, and no other
# client's; WHEN goes into the messages.
fleet_verify() {
  local name=$1 when=${2:+ $2} out=$tmp/$1.txt i j d
  for ((i = 1; i <= 8; i++)); do
    d=$tmp/fleet-$i/nbd
    timeout "$TMO" fsck.ext4 -fn "$d" >"$out" 2>&1 || { fail "$name" "fsck.ext4 -fn of host$i's view$when: $(why "$out")"; return 1; }
    timeout "$TMO" debugfs -R "cat host$i.txt" "$d" >"$out" 2>/dev/null
    grep -qx "written by host$i" "$out" || { fail "$name" "host$i does not read its own file back$when: $(why "$out")"; return 1; }
    timeout "$TMO" debugfs -R "cat golden.txt" "$d" >"$out" 2>/dev/null
    grep -qx "from the golden image" "$out" || { fail "$name" "host$i does not see the golden's file$when: $(why "$out")"; return 1; }
    timeout "$TMO" debugfs -R "ls -l" "$d" >"$out" 2>&1
    for ((j = 1; j <= 8; j++)); do
      [ $j -eq $i ] && continue
      if grep -q "host$j.txt" "$out"; then fail "$name" "host$i sees host$j's file$when"; return 1; fi
    done
  done
}

# fleet_unmount: unmounts the 8 clients and ends their nbdfuse processes.
fleet_unmount() {
  local out=$tmp/fleet-umount.txt d pid j
  for d in "${fleet_dirs[@]}"; do
    for ((j = 0; j < 20; j++)); do timeout 10 fusermount3 -u "$d" >"$out" 2>&1 && break; sleep 0.2; done
  done
  for pid in "${fleet_pids[@]}"; do
    for ((j = 0; j < 50; j++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$pid"
  done
  fleet_pids=() fleet_dirs=()
}

# fleet_fresh_view NAME GOLDEN URI WHAT: URI (a client never seen, or plain NAME) reads as the golden image.
fleet_fresh_view() {
  local out=$tmp/$1.txt
  rm -f "$tmp/fresh.img"
  timeout "$TMO" nbdcopy "$3" "$tmp/fresh.img" >"$out" 2>&1 || { fail "$1" "nbdcopy of $4: $(why "$out")"; return 1; }
  cmp -s "$tmp/fresh.img" "$2" || { fail "$1" "$4 does not read the golden image"; return 1; }
}

# Kiosk mode: overlays=temp, so every connection starts from the golden image.
check_overlay_fleet() {
  local name=ext4-overlays-temp-8-clients golden=$tmp/golden.img uri
  fleet_ready $name && fleet_golden $name "$golden" || return
  if ! start_server fleet kiosk "kiosk=$golden,overlays=temp" --sync flush; then
    fail $name "rbd-server with overlays=temp did not become ready: $(why "$tmp/fleet.log")"; return
  fi
  uri=nbd://127.0.0.1:$PORT/kiosk
  fleet_mount $name "$uri" && fleet_write $name && fleet_verify $name || return
  fleet_unmount
  fleet_fresh_view $name "$golden" "$uri/host1" "a fresh connection" && fleet_golden_unchanged $name "$golden" || return
  pass $name
}

# Persistent overlays (overlays=DIR, syncing always): each client's files are still there after the server is
# stopped and started again, and a client never seen reads the golden image.
check_overlay_fleet_dir() {
  local name=ext4-overlays-dir-8-clients golden=$tmp/golden-dir.img dir=$tmp/overlays uri n
  fleet_ready $name && fleet_golden $name "$golden" || return
  mkdir -p "$dir"
  if ! start_server fleet-dir root "root=$golden,overlays=$dir"; then
    fail $name "rbd-server with overlays=DIR did not become ready: $(why "$tmp/fleet-dir.log")"; return
  fi
  uri=nbd://127.0.0.1:$PORT/root
  fleet_mount $name "$uri" && fleet_write $name && fleet_verify $name || return
  fleet_unmount
  stop_server "${live_servers[-1]}"
  n=$(find "$dir" -name 'host*.map' | wc -l)
  [ "$n" -eq 8 ] || { fail $name "$n overlay maps in the overlay directory, not 8"; return; }
  if ! start_server fleet-dir root "root=$golden,overlays=$dir"; then
    fail $name "rbd-server did not come back with the same overlays: $(why "$tmp/fleet-dir.log")"; return
  fi
  uri=nbd://127.0.0.1:$PORT/root
  fleet_mount $name "$uri" && fleet_verify $name "after a server restart" || return
  fleet_unmount
  fleet_fresh_view $name "$golden" "$uri/host9" "a new client's overlay" &&
    fleet_fresh_view $name "$golden" "$uri" "plain root" &&
    fleet_golden_unchanged $name "$golden" || return
  pass $name
}

for c in "${checks[@]}"; do
  selected "$c" && "${c%% *}"
done

# The server must still be alive after all of the above.
for pid in "${live_servers[@]}"; do
  kill -0 "$pid" 2>/dev/null || { fail server-alive "rbd-server pid $pid died during the run: $(why "$tmp/server.log")"; break; }
done

if [ $n_fail -gt 0 ]; then
  for log in "$tmp"/server*.log; do
    [ -f "$log" ] || continue
    echo "--- last lines of $(basename "$log") ---" >&2
    tail -n 15 "$log" >&2
  done
fi
summary
[ $n_fail -eq 0 ]
