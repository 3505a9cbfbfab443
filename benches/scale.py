#!/usr/bin/python3
"""The measuring half of benches/scale.sh (run that, not this).

For each size (a number of files), for each relay, one after the other on a
tree built fresh for the run (N/5 pod directories x 5 GitLab files, every
line carrying a unique `id=<n>`):

  reaplog-poll      `reaplog relay`, gitlab preset, watch = "poll", poll_interval = "250ms"
  reaplog-auto      the same with watch = "auto" and the default poll_interval (1 s)
  rsyslog-inotify   imfile mode="inotify", one wildcard input per file kind -> omfile
  rsyslog-polling   imfile mode="polling" PollingInterval="1", the same inputs

Both write RFC 5424, one message per line, into a file (reaplog: `type =
"stdout"` redirected; rsyslog: omfile with RSYSLOG_SyslogProtocol23Format).
The ids in that file are the count: lost (never seen) and duplicated.

Per run, in this order:
  shipped   wall time from spawn until every id of the tree was seen
            (or the timeout, and then what arrived);
  idle      1 s to settle, then utime+stime of the whole process over
            IDLE seconds (/proc/PID/stat), as cores; then VmRSS, VmHWM and
            the entries of /proc/PID/fd;
  append    one new line appended to each of PROBES random existing files
            (the same files for every relay of a size), one at a time with
            0.1-0.6 s between, each timed until its id is in the output:
            median and max;
  new pod   a new pod directory with one file of one line, timed the same way;
  notes     what the process logged on stderr (reaplog at --log-level warn)
            or through rsyslog's internal messages, grouped, most frequent
            first; an early exit; a timeout.
"""

import argparse
import collections
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
RSYSLOGD = "/usr/sbin/rsyslogd"
RUNS = ["reaplog-poll", "reaplog-auto", "rsyslog-inotify", "rsyslog-polling"]
FILES_PER_POD = 5
IDLE_SETTLE = 1.0

# `(?<!\w)`: `correlation_id=` and the like are not ids.
ID = re.compile(rb"(?<![\w])id=(\d+)")


# ---------------------------------------------------------------- the tree

def lines_of(kind, pod, n):
    """One line of file kind `kind` in pod number `pod`, carrying id `n`.

    Shapes after GitLab's own files; runit `current` files carry svlogd's
    `-tt` prefix, as Omnibus writes them.
    """
    t = f"2025-11-25T14:{(n // 60) % 60:02d}:{n % 60:02d}.{n % 1000:03d}Z"
    svlogd = f"2025-11-25_14:{(n // 60) % 60:02d}:{n % 60:02d}.{n % 100000:05d} "
    cid = f"01JD{n:022d}"
    if kind == "gitlab-rails/production_json.log":
        return (f'{{"method":"GET","path":"/group-{pod}/project/-/merge_requests","format":"html",'
                f'"controller":"Projects::MergeRequestsController","action":"index","status":200,'
                f'"time":"{t}","severity":"INFO","correlation_id":"{cid}","duration_s":0.0841,'
                f'"db_count":23,"remote_ip":"10.8.{pod % 256}.7","bench":"id={n}"}}\n')
    if kind == "gitlab-rails/api_json.log":
        return (f'{{"time":"{t}","severity":"INFO","duration_s":0.0213,"db_duration_s":0.004,'
                f'"status":200,"method":"GET","path":"/api/v4/projects/{pod}/repository/branches",'
                f'"route":"/api/:version/projects/:id/repository/branches","correlation_id":"{cid}",'
                f'"meta.caller_id":"GET /api/:version/projects/:id/repository/branches","bench":"id={n}"}}\n')
    if kind == "gitlab-workhorse/current":
        return (f'{svlogd}{{"correlation_id":"{cid}","duration_ms":12,"host":"gitlab.example.com",'
                f'"level":"info","method":"GET","msg":"access","proto":"HTTP/1.1","status":200,'
                f'"uri":"/-/readiness","time":"{t}","bench":"id={n}"}}\n')
    if kind == "gitaly/current":
        return (f'{svlogd}{{"correlation_id":"{cid}","grpc.code":"OK","grpc.method":"FindCommit",'
                f'"grpc.service":"gitaly.CommitService","grpc.time_ms":1.734,"level":"info",'
                f'"msg":"finished unary call with code OK","pid":{1000 + pod % 30000},"time":"{t}","bench":"id={n}"}}\n')
    if kind == "nginx/gitlab_access.log":
        return (f'10.8.{pod % 256}.7 - - [25/Nov/2025:14:{(n // 60) % 60:02d}:{n % 60:02d} +0000] '
                f'"GET /api/v4/projects/{pod}/jobs HTTP/1.1" 200 1843 "-" "gitlab-runner 17.5.0 id={n}" 0.021\n')
    raise ValueError(kind)


# Each is shipped by the gitlab preset with per_pod_dirs (gitlab.rs:
# gitlab-rails/*_json.log, <component>/current, nginx/*_access.log).
KINDS = ["gitlab-rails/production_json.log", "gitlab-rails/api_json.log",
         "gitlab-workhorse/current", "gitaly/current", "nginx/gitlab_access.log"]
TAGS = {"gitlab-rails/production_json.log": "gitlab-rails", "gitlab-rails/api_json.log": "gitlab-rails",
        "gitlab-workhorse/current": "gitlab-workhorse", "gitaly/current": "gitaly",
        "nginx/gitlab_access.log": "nginx"}


def pod_name(i):
    return f"pod-{i:05d}"


def build_tree(root, pods, per_file):
    """Writes the tree; returns the number of ids (0 .. n-1) it holds."""
    shutil.rmtree(root, ignore_errors=True)
    n = 0
    for p in range(pods):
        base = f"{root}/{pod_name(p)}"
        for d in ("gitlab-rails", "gitlab-workhorse", "gitaly", "nginx"):
            os.makedirs(f"{base}/{d}")
        for kind in KINDS:
            with open(f"{base}/{kind}", "w") as f:
                f.write("".join(lines_of(kind, p, n + k) for k in range(per_file)))
            n += per_file
    return n


# ---------------------------------------------------------------- the output

class Seen:
    """Reads the relay's output file as it grows; counts every id."""

    def __init__(self, path, capacity):
        self.path = path
        self.count = bytearray(capacity)   # saturates at 255: plenty for "duplicated"
        self.distinct_below = 0            # distinct ids < self.limit
        self.limit = 0
        self.foreign = 0
        self.offset = 0
        self.rest = b""
        self.f = None

    def expect_below(self, limit):
        self.limit = limit
        self.distinct_below = sum(1 for c in self.count[:limit] if c)

    def poll(self):
        if self.f is None:
            try:
                self.f = open(self.path, "rb")
            except FileNotFoundError:
                return
        chunk = self.f.read()
        if not chunk:
            return
        data = self.rest + chunk
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        for m in ID.finditer(data, 0, cut):
            i = int(m.group(1))
            if i >= len(self.count):
                self.foreign += 1
                continue
            c = self.count[i]
            if c == 0 and i < self.limit:
                self.distinct_below += 1
            if c < 255:
                self.count[i] = c + 1

    def has(self, i):
        return self.count[i] > 0

    def lost_dup(self, lo, hi):
        part = self.count[lo:hi]
        lost = part.count(0)
        dup = sum(c - 1 for c in part if c > 1)
        return lost, dup


def wait_for(pred, seen, timeout, step, proc):
    deadline = time.monotonic() + timeout
    while True:
        seen.poll()
        if pred():
            return True
        if proc.poll() is not None or time.monotonic() >= deadline:
            return False
        time.sleep(step)


# ---------------------------------------------------------------- /proc

def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (all threads)


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_limit(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return line.split()[3]
    return "?"


# ---------------------------------------------------------------- relays

def reaplog_conf(d, root, watch):
    poll = 'poll_interval = "250ms"\n' if watch == "poll" else ""
    return f"""state_dir = "{d}/state"

[[source]]
preset = "gitlab"
root = "{root}"
per_pod_dirs = true
watch = "{watch}"
{poll}
[output]
type = "stdout"
"""


def rsyslog_conf(d, root, out, mode):
    polling = ' PollingInterval="1"' if mode == "polling" else ""
    inputs = "\n".join(f'input(type="imfile" file="{root}/*/{kind}" tag="{TAGS[kind]}" ruleset="ship")'
                       for kind in KINDS)
    # processInternalMessages: rsyslog's own messages go through this
    # instance's rules into internal.log, not to the system's log socket.
    return f"""global(workDirectory="{d}/work" processInternalMessages="on")
module(load="imfile" mode="{mode}"{polling})
template(name="internal" type="string" string="%syslogtag% %msg%\\n")
ruleset(name="ship") {{
  action(type="omfile" file="{out}" template="RSYSLOG_SyslogProtocol23Format")
}}
{inputs}
*.* action(type="omfile" file="{d}/internal.log" template="internal")
"""


def spawn(name, d, root, out, reaplog, pids_file):
    """Starts one relay; its stdout is `out` for reaplog, stderr goes to d/stderr.log."""
    err = open(f"{d}/stderr.log", "w")
    if name.startswith("reaplog"):
        with open(f"{d}/relay.toml", "w") as f:
            f.write(reaplog_conf(d, root, name.split("-")[1]))
        cmd = [reaplog, "relay", "--config", f"{d}/relay.toml", "--log-level", "warn"]
        stdout = open(out, "wb")
    else:
        os.makedirs(f"{d}/work")
        with open(f"{d}/rsyslog.conf", "w") as f:
            f.write(rsyslog_conf(d, root, out, name.split("-")[1]))
        # -n: stay in the foreground (no fork, so Popen's pid is rsyslogd);
        # -i: a pid file of its own, so the system's rsyslog is not touched.
        cmd = [RSYSLOGD, "-n", "-f", f"{d}/rsyslog.conf", "-i", f"{d}/rsyslogd.pid"]
        stdout = err
    proc = subprocess.Popen(cmd, cwd=d, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err)
    with open(pids_file, "a") as f:
        f.write(f"{proc.pid}\n")
    return proc


def stop(proc, timeout=30):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def notes_of(d, name):
    """What the relay logged, grouped (numbers and paths folded), most frequent first."""
    lines = []
    for fn in ("stderr.log", "internal.log"):
        try:
            with open(f"{d}/{fn}", errors="replace") as f:
                lines += f.read().splitlines()
        except FileNotFoundError:
            pass
    groups = collections.Counter()
    for line in lines:
        if not line.strip() or 'origin software="rsyslogd"' in line:
            continue  # rsyslog's start/exit banners
        if name.startswith("reaplog"):
            line = line.split(" ", 1)[-1]  # the timestamp
        line = re.sub(r"^rsyslogd(-\d+)?: ", "", line)  # the tag: one group per message
        line = re.sub(r"/[^\s']+", "PATH", line)
        line = re.sub(r"\d+", "N", line)
        groups[line.strip()[:110]] += 1
    return [f"{text.replace('|', '/')} ×{n}" for text, n in groups.most_common(2)]


# ---------------------------------------------------------------- one run

def append_probes(proc, seen, files, first_id, timeout, rng):
    """Appends one line to each file in turn; seconds until each arrived (None: never)."""
    took = []
    misses = 0
    for k, (path, kind, pod) in enumerate(files):
        i = first_id + k
        line = lines_of(kind, pod, i)
        t0 = time.monotonic()
        with open(path, "a") as f:
            f.write(line)
        ok = wait_for(lambda: seen.has(i), seen, timeout, 0.002, proc)
        took.append(time.monotonic() - t0 if ok else None)
        misses += not ok
        if misses == 3 or proc.poll() is not None:
            break  # this relay is not following appends: do not spend minutes proving it
        time.sleep(rng.uniform(0.1, 0.6))
    return took


def new_pod_probe(proc, seen, root, i, timeout):
    kind = KINDS[0]
    t0 = time.monotonic()
    os.makedirs(f"{root}/pod-new/gitlab-rails")
    with open(f"{root}/pod-new/{kind}", "w") as f:
        f.write(lines_of(kind, 99999, i))
    ok = wait_for(lambda: seen.has(i), seen, timeout, 0.002, proc)
    return time.monotonic() - t0 if ok else None


def run_one(name, files, a, work):
    """One relay on a fresh tree of `files` files: the row of the table."""
    pods = files // FILES_PER_POD
    root = f"{work}/tree"
    d = f"{work}/run-{name}-{files}"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    t_build = time.monotonic()
    total = build_tree(root, pods, a.lines_per_file)
    r = {"name": name, "files": files, "lines": total, "build_s": time.monotonic() - t_build, "notes": []}
    seen = Seen(f"{d}/out", total + a.probes + 1)
    seen.expect_below(total)
    proc = spawn(name, d, root, f"{d}/out", a.reaplog, f"{work}/pids")
    try:
        r["fd_limit"] = fd_limit(proc.pid)
        measure_shipping(proc, seen, r, a.timeout or (120 if files <= 10000 else 600))
        if proc.poll() is None:
            measure_idle(proc, seen, r, a.idle)
        if proc.poll() is None:
            measure_appends(proc, seen, r, root, pods, a)
        wait_for(lambda: False, seen, 0.3, 0.05, proc)
        if proc.poll() is not None:
            r["notes"].append(f"exited early, status {proc.returncode}")
    finally:
        stop(proc)
    seen.poll()
    r["lost"], r["dup"] = seen.lost_dup(0, total)
    if seen.foreign:
        r["notes"].append(f"{seen.foreign} ids outside the tree")
    r["notes"] += notes_of(d, name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    return r


def measure_shipping(proc, seen, r, timeout):
    """Spawn (just done) until every line of the tree is in the output."""
    t0 = time.monotonic()
    r["shipped"] = wait_for(lambda: seen.distinct_below >= r["lines"], seen, timeout, 0.01, proc)
    r["ship_s"] = time.monotonic() - t0
    r["arrived"] = seen.distinct_below
    if not r["shipped"] and proc.poll() is None:
        r["notes"].append(f"timeout {timeout:.0f} s: {seen.distinct_below:,}/{r['lines']:,} lines")


def measure_idle(proc, seen, r, seconds):
    """CPU over `seconds` after a settle; memory and fds at its end."""
    wait_for(lambda: False, seen, IDLE_SETTLE, 0.05, proc)
    c0, t0 = cpu_ticks(proc.pid), time.monotonic()
    wait_for(lambda: False, seen, seconds, 0.05, proc)
    if proc.poll() is not None:
        return
    r["idle_cores"] = (cpu_ticks(proc.pid) - c0) / TICK / (time.monotonic() - t0)
    r["rss_kib"] = status_kib(proc.pid, "VmRSS")
    r["hwm_kib"] = status_kib(proc.pid, "VmHWM")
    r["fds"] = open_fds(proc.pid)
    r["threads"] = status_kib(proc.pid, "Threads")


def measure_appends(proc, seen, r, root, pods, a):
    """Appends to existing files, then a new pod directory."""
    rng = random.Random(r["files"])  # the same files for every relay of one size
    picks = []
    for _ in range(a.probes):
        p, kind = rng.randrange(pods), rng.choice(KINDS)
        picks.append((f"{root}/{pod_name(p)}/{kind}", kind, p))
    took = append_probes(proc, seen, picks, r["lines"], a.probe_timeout, rng)
    got = [x for x in took if x is not None]
    r["append_n"] = (len(got), len(took))
    if got:
        r["append_p50"] = statistics.median(got)
        r["append_max"] = max(got)
    if len(got) < len(took):
        r["notes"].append(f"{len(took) - len(got)} appends not seen in {a.probe_timeout:.0f} s")
    if proc.poll() is None:
        r["new_pod_s"] = new_pod_probe(proc, seen, root, r["lines"] + a.probes, a.probe_timeout)
        if r["new_pod_s"] is None:
            r["notes"].append(f"new pod not seen in {a.probe_timeout:.0f} s")


# ---------------------------------------------------------------- report

def fmt(x, spec, scale=1.0):
    return "–" if x is None else format(x * scale, spec)


def table(results, a):
    rows = ["| files (pods) | relay | shipped s | lines lost | dup | idle CPU cores | RSS MiB | HWM MiB "
            "| open fds | append p50 ms | append max ms | new pod ms | notes |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        shipped = fmt(r["ship_s"], ".2f") + ("" if r["shipped"] else " (timeout)")
        n_ok, n = r.get("append_n", (0, 0))
        p50 = fmt(r.get("append_p50"), ".0f", 1000) + (f" ({n_ok}/{n})" if n_ok < n else "")
        rows.append(
            f"| {r['files']:,} ({r['files'] // FILES_PER_POD:,}) | {r['name']} | {shipped} | {r['lost']:,} | {r['dup']:,} "
            f"| {fmt(r.get('idle_cores'), '.3f')} | {fmt(r.get('rss_kib'), '.1f', 1 / 1024)} "
            f"| {fmt(r.get('hwm_kib'), '.1f', 1 / 1024)} | {fmt(r.get('fds'), ',.0f')} | {p50} "
            f"| {fmt(r.get('append_max'), '.0f', 1000)} | {fmt(r.get('new_pod_s'), '.0f', 1000)} "
            f"| {'; '.join(r['notes'])} |")
    return rows


def ratios(results):
    """Each relay against rsyslog-inotify of the same size: below 1 is less."""
    rows = ["| files | relay | shipped s × | idle CPU × | RSS × | open fds × | append p50 × |",
            "|---|---|---|---|---|---|---|"]
    keys = ["ship_s", "idle_cores", "rss_kib", "fds", "append_p50"]
    for files in dict.fromkeys(r["files"] for r in results):
        base = next((r for r in results if r["files"] == files and r["name"] == "rsyslog-inotify"), None)
        if base is None:
            continue
        for r in results:
            if r["files"] != files or r is base:
                continue
            cells = []
            for k in keys:
                x, y = r.get(k), base.get(k)
                cells.append("–" if x is None or not y else f"{x / y:.2f}")
            # Against a baseline that timed out, a ratio is only a bound: say so.
            mark = "" if base["shipped"] else " (rsyslog-inotify timed out)"
            rows.append(f"| {files:,} | {r['name']}{mark} | " + " | ".join(cells) + " |")
    return rows if len(rows) > 2 else []


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reaplog", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--sizes", default="1000 10000 100000")
    p.add_argument("--lines-per-file", type=int, default=5)
    p.add_argument("--only", default=",".join(RUNS))
    p.add_argument("--idle", type=float, default=10)
    p.add_argument("--probes", type=int, default=20)
    p.add_argument("--probe-timeout", type=float, default=20)
    p.add_argument("--timeout", type=float, default=0, help="0: 120 s up to 10k files, 600 s above")
    p.add_argument("--header", default="")
    a = p.parse_args()
    # SIGTERM from scale.sh's trap: unwind through the finally blocks, which stop the relay.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    runs = [n for n in a.only.split(",") if n in RUNS]
    unknown = [n for n in a.only.split(",") if n not in RUNS]
    if unknown or not runs:
        sys.exit(f"ONLY: unknown run(s) {unknown}; choose from {','.join(RUNS)}")
    sizes = [int(s) for s in a.sizes.split()]
    if any(s % FILES_PER_POD for s in sizes):
        sys.exit(f"SIZES: each must be a multiple of {FILES_PER_POD} (files per pod)")
    results, took = [], {}
    for files in sizes:
        t = time.monotonic()
        for name in runs:
            print(f"[{time.strftime('%H:%M:%S')}] {files:,} files: {name} ...", file=sys.stderr, flush=True)
            r = run_one(name, files, a, a.work)
            results.append(r)
            print(f"    {r}", file=sys.stderr, flush=True)
        took[files] = time.monotonic() - t

    limits = sorted({r["fd_limit"] for r in results})
    lines = [f"### Scale: {', '.join(f'{s:,}' for s in sizes)} files, {FILES_PER_POD} per pod directory, "
             f"{a.lines_per_file} lines each", ""]
    if a.header:
        lines += [a.header, ""]
    lines += [f"Open-file limit of the relays (Max open files, soft): {', '.join(limits)}. Idle CPU over "
              f"{a.idle:.0f} s after shipping; RSS, HWM and fds at its end; append latency over {a.probes} "
              f"single-line appends to random files. rsyslog imfile supports wildcards in directory "
              f"components in both modes here (the File patterns are ROOT/*/<dir>/<file>).", ""]
    lines += table(results, a) + [""]
    rat = ratios(results)
    if rat:
        lines += ["Against rsyslog-inotify of the same size (below 1: less time, CPU, memory, fds):", ""] + rat + [""]
    lines += ["Wall time of the script per size (tree builds included): "
              + ", ".join(f"{s:,} files {t / 60:.1f} min" for s, t in took.items()), ""]
    text = "\n".join(lines)
    print(text)
    with open(a.table, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
