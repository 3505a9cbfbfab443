#!/usr/bin/env bash
# A/B of two reaplog builds: relay CPU (user+sys) per line on the GitLab
# corpus of benches/gen-corpus.py, in one run, the two interleaved.
#
# Each round runs `reaplog relay --once` over the corpus with the gitlab
# preset and `type = "stdout"` into /dev/null, from an empty state dir: the
# whole per-line path (discover, tail, classify, encode, batch, output,
# checkpoint) with no network, so the difference is the code's. TLS cost
# is left out on purpose: it is the same rustls in both.
#
# Usage: benches/ab-cpu-per-line.sh OLD_BINARY NEW_BINARY
# Environment: ROUNDS (default 7), GITLAB_MIB (default 96), CORPUS (default
#   /tmp/reaplog-ab-corpus, generated once and reused).
# Prints each round and the medians; the ratio NEW/OLD of CPU per line.
# Needs: GNU time (Debian package `time`), /usr/bin/python3. Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1") new=$(realpath "$2")
ROUNDS=${ROUNDS:-7}
GITLAB_MIB=${GITLAB_MIB:-96}
CORPUS=${CORPUS:-/tmp/reaplog-ab-corpus}
if [ ! -d "$CORPUS/gitlab" ]; then
    /usr/bin/python3 benches/gen-corpus.py "$CORPUS" --lines 0 --gitlab-mib "$GITLAB_MIB" >&2
fi
lines=$(find "$CORPUS/gitlab" -type f -exec cat {} + | wc -l)
work=$(mktemp -d /tmp/reaplog-ab.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat >"$work/relay.toml" <<TOML
state_dir = "$work/state"
hostname = "ab"
[[source]]
root = "$CORPUS/gitlab"
preset = "gitlab"
[output]
type = "stdout"
TOML
# CPU seconds (user+sys, from /proc of the child via GNU time's format).
cpu_of() {
    rm -rf "$work/state"
    /usr/bin/time -f '%U %S' -o "$work/t" "$1" relay --config "$work/relay.toml" --once \
        >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    awk '{printf "%.3f", $1 + $2}' "$work/t"
}
printf 'lines %s, %s rounds, interleaved\n' "$lines" "$ROUNDS"
printf 'round  old_cpu_s  new_cpu_s\n'
: >"$work/old"; : >"$work/new"
for r in $(seq "$ROUNDS"); do
    a=$(cpu_of "$old"); b=$(cpu_of "$new")
    echo "$a" >>"$work/old"; echo "$b" >>"$work/new"
    printf '%5d  %9s  %9s\n' "$r" "$a" "$b"
done
median() { sort -n "$1" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
mo=$(median "$work/old") mn=$(median "$work/new")
awk -v o="$mo" -v n="$mn" -v l="$lines" 'BEGIN {
    printf "median CPU: old %.3f s (%.2f µs/line), new %.3f s (%.2f µs/line), new/old %.3f\n",
        o, o / l * 1e6, n, n / l * 1e6, n / o }'
