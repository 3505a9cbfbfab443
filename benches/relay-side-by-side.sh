#!/usr/bin/env bash
# Side-by-side comparison of `reaplog relay` with rsyslog, in one run on one
# machine, against one receiver:
#
#   * one rsyslog TLS receiver on loopback (imtcp, gtls, x509/name, mutual
#     TLS; certificates made here with the openssl CLI);
#   * on the SAME 1M-line file of ~200-byte JSON lines, interleaved and
#     repeated ROUNDS times: rsyslog imfile→omfwd (gtls, octet-counted, one
#     worker), the same with JSON severity (mmjsonparse), and reaplog relay;
#     forwarder CPU (user+sys), peak RSS (VmHWM) and wall time until the
#     receiver holds every line; medians and the ratios against issue 5's
#     targets;
#   * reaplog → a TLS sink that decrypts and discards (openssl s_server), on
#     the GitLab corpus and the flat file: MiB/s of log lines, CPU time.
#
# Usage: benches/relay-side-by-side.sh [REAPLOG_BINARY]
#   With no argument it builds `cargo build --release` and uses
#   $CARGO_TARGET_DIR/release/reaplog (default target/).
# Environment: ROUNDS (default 3), SINK_ROUNDS (default 9: the discard-sink
#   runs are short, so noisier), LINES (default 1000000), GITLAB_MIB
#   (default 96), CORPUS (default /tmp/reaplog-bench-corpus; generated once
#   by benches/gen-corpus.py and reused), WORK (default: a new temp dir,
#   removed at exit), SKIP_SINK=1 to leave out the discard-sink runs,
#   ONLY=reaplog,rsyslog (default: rsyslog,rsyslog-json,reaplog; `none`
#   for the discard-sink runs alone).
# Needs: rsyslog, rsyslog-gnutls, openssl, /usr/bin/python3. Runs in about
#   eight minutes on two cores. Not run by CI (it is not a cargo target).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
LINES=${LINES:-1000000}
GITLAB_MIB=${GITLAB_MIB:-96}
CORPUS=${CORPUS:-/tmp/reaplog-bench-corpus}
PY=/usr/bin/python3
cd "$(dirname "$0")/.."

reaplog=${1:-}
if [ -z "$reaplog" ]; then
    cargo build --release --quiet
    reaplog="${CARGO_TARGET_DIR:-target}/release/reaplog"
fi
reaplog=$(realpath "$reaplog")

# The corpus is deterministic: regenerate only when its parameters change.
stamp="lines=$LINES gitlab_mib=$GITLAB_MIB $(sha1sum benches/gen-corpus.py | cut -c1-12)"
if [ "$(cat "$CORPUS/.params" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$CORPUS"
    mkdir -p "$CORPUS"
    echo "generating the corpus in $CORPUS ($stamp)" >&2
    $PY benches/gen-corpus.py "$CORPUS" --lines "$LINES" --gitlab-mib "$GITLAB_MIB"
    echo "$stamp" >"$CORPUS/.params"
fi

if [ -n "${WORK:-}" ]; then
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d /tmp/reaplog-side-by-side.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
fi

# PKI: a CA, the receiver's certificate (localhost, 127.0.0.1) and the
# forwarders' client certificate (reaplog-client, rsyslog's PermittedPeer).
pki=$WORK/pki
mkdir -p "$pki"
(
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bench CA" \
        -keyout ca.key -out ca.crt 2>/dev/null
    for who in server:localhost:"DNS:localhost,IP:127.0.0.1" client:reaplog-client:"DNS:reaplog-client"; do
        IFS=: read -r name cn san <<<"$who"
        openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$name.key" -out "$name.csr" 2>/dev/null
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >"$name.ext"
        openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
            -extfile "$name.ext" -out "$name.crt" 2>/dev/null
    done
)

echo "reaplog: $reaplog ($(stat -c %s "$reaplog") bytes); $(/usr/sbin/rsyslogd -v | head -n1)" >&2
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

args=(--reaplog "$reaplog" --corpus "$CORPUS" --pki "$pki" --work "$WORK" --rounds "$ROUNDS"
      --sink-rounds "${SINK_ROUNDS:-9}")
if [ -n "${SKIP_SINK:-}" ]; then args+=(--skip-sink); fi
if [ -n "${ONLY:-}" ]; then args+=(--only "$ONLY"); fi
$PY benches/relay_side_by_side.py "${args[@]}"
