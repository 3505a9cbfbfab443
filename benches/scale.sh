#!/usr/bin/env bash
# Scale of `reaplog relay` against rsyslog imfile, in one run on one machine:
# trees of 1k, 10k and 100k files (pod directories × 5 GitLab files the
# gitlab preset ships with per_pod_dirs, 5 lines each, every line with a
# unique `id=<n>`), and on each, one after the other, on the tree built
# fresh for every run:
#
#   reaplog-poll      watch = "poll", poll_interval = "250ms"
#   reaplog-auto      watch = "auto", the default poll_interval (1 s)
#   rsyslog-inotify   imfile mode="inotify", a wildcard File per file kind → omfile
#   rsyslog-polling   imfile mode="polling" PollingInterval="1", the same inputs
#
# Per run: wall time until the output holds every line (timeout 120 s up to
# 10k files, 600 s above; then what arrived), lines lost and duplicated,
# idle CPU over 10 s after shipping (utime+stime, as cores), VmRSS, VmHWM,
# open fds, append latency (one line appended to each of 20 random files,
# one at a time: median and max) and the arrival of a new pod directory,
# and what the relay logged (rsyslog's "Too many open files" and the like).
# Output is RFC 5424 into a file for both: reaplog's `type = "stdout"`,
# rsyslog's omfile. Prints a markdown table and the ratios against
# rsyslog-inotify of the same size, and writes them to $TABLE for
# benches/RESULTS.md. Each rsyslogd is a private instance (-n -f CONF -i
# PIDFILE, its own workDirectory, imfile alone): the system's is untouched.
# The relays run with the fd limit the shell gives them (printed).
#
# Usage: benches/scale.sh [REAPLOG_BINARY]
#   With no argument it builds `cargo build --release` and uses
#   $CARGO_TARGET_DIR/release/reaplog (default target/).
# Environment: SIZES (files, multiples of 5; default "1000 10000 100000";
#   SIZES=10000 for a quick run), LINES_PER_FILE (default 5), ONLY (a
#   comma list of the runs above; default all four), IDLE (seconds, default
#   10), PROBES (appends, default 20), TIMEOUT (seconds to ship; default by
#   size), WORK (default: a new temp dir, removed at exit; trees of 100k
#   files need ~0.5 GB there), TABLE (default $WORK/scale-table.md when WORK
#   is given, else /tmp/reaplog-scale-table.md).
# Needs: rsyslog (imfile; tested with 8.2302.0), /usr/bin/python3 (standard
#   library only). On two cores 1k files took 1.6 min and 10k 8.7 min,
#   mostly rsyslog's timeouts (at ulimit -n 20000 imfile runs out of fds
#   at 10k files); 100k takes about as long as four timeouts. Not run by CI.
set -euo pipefail

SIZES=${SIZES:-1000 10000 100000}
LINES_PER_FILE=${LINES_PER_FILE:-5}
PY=/usr/bin/python3
cd "$(dirname "$0")/.."

reaplog=${1:-}
if [ -z "$reaplog" ]; then
    cargo build --release --quiet
    reaplog="${CARGO_TARGET_DIR:-target}/release/reaplog"
fi
reaplog=$(realpath "$reaplog")

if [ -n "${WORK:-}" ]; then
    mkdir -p "$WORK"
    keep_work=1
else
    WORK=$(mktemp -d /tmp/reaplog-scale.XXXXXX)
    keep_work=
fi
WORK=$(realpath "$WORK")
TABLE=${TABLE:-${keep_work:+$WORK/scale-table.md}}
TABLE=${TABLE:-/tmp/reaplog-scale-table.md}
: >"$WORK/pids"

# Stop what was started, by PID: the measuring script (which stops its relay
# on SIGTERM), then any relay it left behind if it was killed itself. A pid
# is signalled only while its command line still names $WORK, so a recycled
# pid is never hit.
measurer=
cleanup() {
    if [ -n "$measurer" ] && kill -0 "$measurer" 2>/dev/null; then
        kill -TERM "$measurer" 2>/dev/null || true
        wait "$measurer" 2>/dev/null || true
    fi
    while read -r pid; do
        if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$WORK"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done <"$WORK/pids"
    if [ -z "$keep_work" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo '+dirty')
header="reaplog: $reaplog ($(stat -c %s "$reaplog") bytes, built $(date -r "$reaplog" '+%F %T')), checkout at $commit;"
header+=" $(/usr/sbin/rsyslogd -v | head -n1 | sed 's/ *compiled with://' | tr -s ' ');"
header+=" machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
header+=" kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg) at the start; ulimit -n $(ulimit -n);"
header+=" fs.inotify.max_user_watches $(cat /proc/sys/fs/inotify/max_user_watches); $(date '+%F %H:%M')."
echo "$header" >&2

args=(--reaplog "$reaplog" --work "$WORK" --table "$TABLE" --sizes "$SIZES"
      --lines-per-file "$LINES_PER_FILE" --header "$header")
if [ -n "${ONLY:-}" ]; then args+=(--only "$ONLY"); fi
if [ -n "${IDLE:-}" ]; then args+=(--idle "$IDLE"); fi
if [ -n "${PROBES:-}" ]; then args+=(--probes "$PROBES"); fi
if [ -n "${TIMEOUT:-}" ]; then args+=(--timeout "$TIMEOUT"); fi
# In the background, so that the EXIT trap can stop it by its pid.
$PY benches/scale.py "${args[@]}" &
measurer=$!
status=0
wait "$measurer" || status=$?
measurer=
if [ "$status" = 0 ]; then echo "table written to $TABLE" >&2; fi
exit "$status"
