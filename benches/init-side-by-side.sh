#!/usr/bin/env bash
# Side-by-side comparison of `reaplog init` with tini-static, tini,
# dumb-init and catatonit, in one run on one machine:
#
#   * resident memory (VmRSS, RssAnon, RssFile) of the init while its child
#     runs `sleep`;
#   * start-to-exit overhead of running `true` (median of N runs, timed with
#     bash's $EPOCHREALTIME so no extra process is timed);
#   * time to clear a storm of 10,000 orphaned zombies as PID 1 of a new PID
#     namespace (unshare; needs root).
#
# Usage: benches/init-side-by-side.sh [REAPLOG_BINARY]...
#   With no argument it builds `cargo build --release` and uses
#   $CARGO_TARGET_DIR/release/reaplog (default target/). Several binaries
#   (e.g. the glibc and the static musl build) may be given; each is a row.
# The static builds measured for the report:
#   CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release \
#       --target x86_64-unknown-linux-musl                        # static-pie
#   RUSTFLAGS="-C relocation-model=static -C target-feature=+crt-static" \
#   CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release \
#       --target x86_64-unknown-linux-musl                        # static, no PIE
# Environment: RUNS (default 200) runs of `true`; STORM (default 10000)
# zombies per storm, STORM_RUNS (default 3) storms per init (median).
# Missing peers are skipped. Runs in about two minutes.
set -euo pipefail

RUNS=${RUNS:-200}
STORM=${STORM:-10000}
STORM_RUNS=${STORM_RUNS:-3}
PY=/usr/bin/python3
cd "$(dirname "$0")/.."

reaplogs=("$@")
if [ ${#reaplogs[@]} -eq 0 ]; then
    cargo build --release --quiet
    reaplogs=("${CARGO_TARGET_DIR:-target}/release/reaplog")
fi

# name|command prefix (CMD follows). -s where a peer needs it to reap when
# not PID 1, so that every row does the same work.
rows=()
for bin in "${reaplogs[@]}"; do
    case "$(file -L "$bin" 2>/dev/null)" in
        *static-pie*) label=reaplog-static-pie ;;
        *"statically linked"*) label=reaplog-static ;;
        *) label=reaplog-dynamic ;;
    esac
    rows+=("$label|$bin init --")
done
command -v tini-static >/dev/null && rows+=("tini-static|tini-static -s --")
command -v tini >/dev/null && rows+=("tini|tini -s --")
command -v dumb-init >/dev/null && rows+=("dumb-init|dumb-init")
command -v catatonit >/dev/null && rows+=("catatonit|catatonit --")

# The pid of the first child of $1, waiting until it exists.
child_of() {
    local i
    for i in $(seq 1 500); do
        local c
        c=$(ps -o pid= --ppid "$1" | head -n1 | tr -d ' ')
        if [ -n "$c" ]; then echo "$c"; return; fi
        sleep 0.01
    done
}

# VmRSS RssAnon RssFile (kB) of the init while it runs `sleep`.
measure_rss() {
    local prefix=$1
    # shellcheck disable=SC2086
    $prefix sleep 60 &
    local init=$!
    local child
    child=$(child_of "$init")
    # The child has exec'd `sleep` once its comm says so: init is settled.
    for _ in $(seq 1 500); do
        [ "$(cat /proc/"$child"/comm 2>/dev/null)" = sleep ] && break
        sleep 0.01
    done
    awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s ", $2}' /proc/"$init"/status
    kill "$child" 2>/dev/null || true
    wait "$init" 2>/dev/null || true
}

# Wall time (microseconds) of one `PREFIX true`.
time_true() {
    local prefix=$1 t0 t1
    t0=$EPOCHREALTIME
    # shellcheck disable=SC2086
    $prefix true 2>/dev/null
    t1=$EPOCHREALTIME
    echo $(( (${t1/./} - ${t0/./}) ))
}

median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The main child forks one process that forks STORM children which exit at
# once, and exits without waiting: STORM zombies land on PID 1 together.
# It then times how long until /proc shows only PID 1 and itself.
STORM_PY='
import os, sys, time
n = int(sys.argv[1])
storm = os.fork()
if storm == 0:
    for _ in range(n):
        if os.fork() == 0:
            os._exit(0)
    os._exit(0)
os.waitpid(storm, 0)
t0 = time.monotonic()
while sum(1 for e in os.listdir("/proc") if e.isdigit()) > 2:
    time.sleep(0.001)
print(int((time.monotonic() - t0) * 1000))
'

# Milliseconds to clear one storm as PID 1.
time_storm() {
    local prefix=$1
    # shellcheck disable=SC2086
    timeout 120 unshare --pid --fork --mount-proc --kill-child $prefix "$PY" -c "$STORM_PY" "$STORM" 2>/dev/null || echo 999999
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a ~ /^[0-9.]+$/) printf "%.2f", a / b; else printf "-" }'; }

echo "# init side by side: $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r)"
echo "# RSS while running sleep; 'true': median of $RUNS runs; storm: median of $STORM_RUNS x $STORM zombies as PID 1"
# Timings go round-robin over the inits, so that load from other jobs on a
# shared machine spreads over all rows instead of hitting one.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((i = 0; i < RUNS; i++)); do
    for idx in "${!rows[@]}"; do time_true "${rows[$idx]#*|}" >>"$tmp/true.$idx"; done
done
for ((i = 0; i < STORM_RUNS; i++)); do
    for idx in "${!rows[@]}"; do time_storm "${rows[$idx]#*|}" >>"$tmp/storm.$idx"; done
done
results=()
for idx in "${!rows[@]}"; do
    name=${rows[$idx]%%|*} prefix=${rows[$idx]#*|}
    read -r rss anon file <<<"$(measure_rss "$prefix")"
    results+=("$name $rss $anon $file $(median "$tmp/true.$idx") $(median "$tmp/storm.$idx")")
done
base=$(printf '%s\n' "${results[@]}" | awk '$1 == "tini-static"')
read -r _ brss _ _ bt bs <<<"${base:-x 0 0 0 0 0}"
printf '%-19s %8s %8s %8s %10s %10s %9s %9s %9s\n' init VmRSS_kB Anon_kB File_kB true_us storm_ms rss/tini true/tini storm/tini
for r in "${results[@]}"; do
    read -r name rss anon file t s <<<"$r"
    printf '%-19s %8s %8s %8s %10s %10s %9s %9s %9s\n' "$name" "$rss" "$anon" "$file" "$t" "$s" \
        "$(ratio "$rss" "$brss")" "$(ratio "$t" "$bt")" "$(ratio "$s" "$bs")"
done
