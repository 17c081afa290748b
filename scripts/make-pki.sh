#!/usr/bin/env bash
# Makes a small X.509 PKI for rbd's TLS with certtool (Debian package gnutls-bin), in the directory layout
# nbdkit, qemu and libnbd share:
#
#   ca-cert.pem ca-key.pem          a fresh certificate authority
#   server-cert.pem server-key.pem  the server's certificate, for the names given (default: localhost,
#                                   127.0.0.1 and ::1)
#   client-cert.pem client-key.pem  with --client CN: a client certificate whose subject CN is the identity
#                                   rbd-server sees under --tls-verify-peer
#
# Usage: make-pki.sh [--server-name NAME]... [--client CN] [--expired] [--ca-from DIR] DIR
#   --server-name NAME  a DNS name or IP address for the server certificate (repeatable; replaces the default)
#   --client CN         also make a client certificate for CN
#   --expired           the server and client certificates expired yesterday (for tests)
#   --ca-from DIR       sign with the CA already in DIR (its ca-cert.pem and ca-key.pem) instead of a new one
#
# Keys are written as certtool writes them (RSA, PKCS#1 PEM) and are readable by their owner only.
set -euo pipefail

names=()
client=
expired=0
ca_from=
while [ $# -gt 0 ]; do
  case "$1" in
    --server-name) names+=("$2"); shift 2 ;;
    --client) client=$2; shift 2 ;;
    --expired) expired=1; shift ;;
    --ca-from) ca_from=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "make-pki.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: make-pki.sh [--server-name NAME]... [--client CN] [--expired] [--ca-from DIR] DIR" >&2; exit 2; }
dir=$1
command -v certtool >/dev/null 2>&1 || { echo "make-pki.sh: certtool not found (apt-get install gnutls-bin)" >&2; exit 1; }
[ ${#names[@]} -gt 0 ] || names=(localhost 127.0.0.1 ::1)

mkdir -p "$dir"
umask 077
tmpl=$(mktemp "${TMPDIR:-/tmp}/rbd-pki.XXXXXX")
trap 'rm -f "$tmpl"' EXIT

# certtool asks on the terminal for anything the template leaves out; every call below has a full template.
validity() {
  if [ "$expired" = 1 ]; then
    echo "activation_date = \"$(date -u -d '-3 days' '+%Y-%m-%d %H:%M:%S') UTC\""
    echo "expiration_date = \"$(date -u -d '-1 day' '+%Y-%m-%d %H:%M:%S') UTC\""
  else
    echo "expiration_days = 3650"
  fi
}

if [ -n "$ca_from" ]; then
  cp "$ca_from/ca-cert.pem" "$ca_from/ca-key.pem" "$dir/"
else
  certtool --generate-privkey --outfile "$dir/ca-key.pem" >/dev/null 2>&1
  {
    echo 'cn = "rbd test CA"'
    echo 'ca'
    echo 'cert_signing_key'
    echo 'expiration_days = 3650'
  } > "$tmpl"
  certtool --generate-self-signed --load-privkey "$dir/ca-key.pem" --template "$tmpl" \
    --outfile "$dir/ca-cert.pem" >/dev/null 2>&1
fi

{
  echo "cn = \"${names[0]}\""
  for n in "${names[@]}"; do
    if [[ "$n" =~ ^[0-9.]+$ || "$n" == *:* ]]; then echo "ip_address = \"$n\""; else echo "dns_name = \"$n\""; fi
  done
  echo 'tls_www_server'
  echo 'encryption_key'
  echo 'signing_key'
  validity
} > "$tmpl"
certtool --generate-privkey --outfile "$dir/server-key.pem" >/dev/null 2>&1
certtool --generate-certificate --load-privkey "$dir/server-key.pem" --load-ca-certificate "$dir/ca-cert.pem" \
  --load-ca-privkey "$dir/ca-key.pem" --template "$tmpl" --outfile "$dir/server-cert.pem" >/dev/null 2>&1

if [ -n "$client" ]; then
  {
    echo "cn = \"$client\""
    echo 'tls_www_client'
    echo 'encryption_key'
    echo 'signing_key'
    validity
  } > "$tmpl"
  certtool --generate-privkey --outfile "$dir/client-key.pem" >/dev/null 2>&1
  certtool --generate-certificate --load-privkey "$dir/client-key.pem" --load-ca-certificate "$dir/ca-cert.pem" \
    --load-ca-privkey "$dir/ca-key.pem" --template "$tmpl" --outfile "$dir/client-cert.pem" >/dev/null 2>&1
fi
chmod 644 "$dir"/*-cert.pem
