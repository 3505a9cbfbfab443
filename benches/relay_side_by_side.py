#!/usr/bin/python3
"""The measuring half of benches/relay-side-by-side.sh (run that, not this).

One rsyslog TLS receiver (imtcp, gtls, x509/name) on loopback; then, on the
same file, interleaved for ROUNDS rounds, each forwarder ships every line to
it and is timed:

  rsyslog        imfile -> omfwd (gtls, x509/name, octet-counted, 1 worker)
  rsyslog-json   the same plus mmjsonparse and a severity taken from $!severity
  reaplog        `reaplog relay` (format = "json": per-line severity)

Per run: forwarder CPU (user+sys of the whole process, /proc/PID/stat) and
peak RSS (VmHWM) read when the receiver holds every line; wall time from
spawn until then; the receiver's CPU over the same span. The receiver writes
2 bytes per message (severity digit + LF), so its output size is the count
and the digits check every forwarder's severities.

Then a receiver-independent run: reaplog -> a TLS sink that decrypts and
discards (openssl s_server), on the GitLab corpus and on the flat file.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
RSYSLOGD = "/usr/sbin/rsyslogd"
CLIENT = "reaplog-client"   # the forwarders' certificate name (PermittedPeer)
SERVER = "localhost"        # the receiver's certificate name


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def wait_until(pred, timeout, step=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def listening(port):
    with open("/proc/net/tcp") as f:
        return any(l.split()[1] == f"0100007F:{port:04X}" and l.split()[3] == "0A" for l in f.readlines()[1:])


def stop(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- rsyslog

def receiver_conf(d, port, pki):
    return f"""
global(workDirectory="{d}" maxMessageSize="65536" processInternalMessages="on")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/name"
       permittedPeer=["{CLIENT}"])
global(defaultNetstreamDriverCAFile="{pki}/ca.crt" defaultNetstreamDriverCertFile="{pki}/server.crt"
       defaultNetstreamDriverKeyFile="{pki}/server.key")
template(name="sev" type="string" string="%syslogseverity%\\n")
ruleset(name="in") {{ action(type="omfile" file="{d}/received" template="sev" asyncWriting="off" flushOnTXEnd="on") }}
input(type="imtcp" port="{port}" address="127.0.0.1" ruleset="in")
*.* action(type="omfile" file="{d}/internal.log")
"""


def forwarder_conf(d, path, port, pki, json_severity):
    # One action worker (the default), default queues: rsyslog as deployed.
    sev = ""
    template = '"<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% - %$.msgid% - %msg%"'
    if json_severity:
        sev = """
  action(type="mmjsonparse" cookie="")
  set $.s = tolower($!severity);
  if $.s == "debug" then { set $.sev = 7; }
  else if $.s == "info" then { set $.sev = 6; }
  else if $.s == "warn" or $.s == "warning" then { set $.sev = 4; }
  else if $.s == "error" then { set $.sev = 3; }
  else if $.s == "fatal" then { set $.sev = 2; }
  else { set $.sev = 6; }
  set $.pri = 128 + $.sev;"""
        template = '"<%$.pri%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% - %$.msgid% - %msg%"'
    load_mm = 'module(load="mmjsonparse")' if json_severity else ""
    return f"""
global(workDirectory="{d}" processInternalMessages="on"
       defaultNetstreamDriverCAFile="{pki}/ca.crt" defaultNetstreamDriverCertFile="{pki}/client.crt"
       defaultNetstreamDriverKeyFile="{pki}/client.key")
module(load="imfile")
{load_mm}
template(name="fwd" type="string" string={template})
ruleset(name="fwd") {{
  set $.msgid = "app_json";{sev}
  action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" TCP_Framing="octet-counted"
         StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"
         StreamDriverPermittedPeers="{SERVER}" template="fwd")
}}
input(type="imfile" file="{path}" tag="gitlab-rails" facility="local0" severity="info" ruleset="fwd")
*.* action(type="omfile" file="{d}/internal.log")
"""


def tls_output(port, pki):
    """reaplog's [output]: mutual TLS to the receiver on 127.0.0.1:port."""
    return f"""
[output]
type = "tls"
address = "127.0.0.1:{port}"
ca_file = "{pki}/ca.crt"
cert_file = "{pki}/client.crt"
key_file = "{pki}/client.key"
server_name = "{SERVER}"
"""


def reaplog_conf(d, path, port, pki, fmt="json"):
    return f"""
state_dir = "{d}/state"
hostname = "bench-host"

[[source]]
paths = ["{path}"]
app_name = "gitlab-rails"
facility = "local0"
severity = "info"
format = "{fmt}"

""" + tls_output(port, pki)


def preset_conf(d, root, port, pki):
    return f"""
state_dir = "{d}/state"
hostname = "bench-host"

[[source]]
preset = "gitlab"
root = "{root}"

""" + tls_output(port, pki)


def spawn_rsyslog(d, conf):
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/rsyslog.conf", "w") as f:
        f.write(conf)
    err = open(f"{d}/stderr.log", "a")
    return subprocess.Popen([RSYSLOGD, "-n", "-f", f"{d}/rsyslog.conf", "-i", f"{d}/pid"],
                            cwd=d, stdin=subprocess.DEVNULL, stdout=err, stderr=err)


def start_receiver(work, pki):
    d = f"{work}/receiver"
    port = free_port()
    rx = spawn_rsyslog(d, receiver_conf(d, port, pki))
    if not wait_until(lambda: listening(port) or rx.poll() is not None, 15) or rx.poll() is not None:
        sys.exit(f"receiver did not start; see {d}")
    return rx, port, f"{d}/received"


# ---------------------------------------------------------------- one run

def run_one(name, work, n_round, cmd_or_conf, out_path, rx, lines, timeout):
    d = f"{work}/{name}-{n_round}"
    shutil.rmtree(d, ignore_errors=True)  # no imfile state, no checkpoint: read from the start
    base = size(out_path)
    target = base + 2 * lines
    rx_cpu0 = cpu_seconds(rx.pid)
    t0 = time.monotonic()
    if name.startswith("rsyslog"):
        proc = spawn_rsyslog(d, cmd_or_conf)
    else:
        os.makedirs(d, exist_ok=True)
        log = open(f"{d}/stderr.log", "w")
        proc = subprocess.Popen(cmd_or_conf(d), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    ok = wait_until(lambda: size(out_path) >= target or proc.poll() is not None, timeout, 0.002)
    t1 = time.monotonic()
    alive = proc.poll() is None
    cpu = cpu_seconds(proc.pid) if alive else float("nan")
    hwm = vm_hwm_kib(proc.pid) if alive else 0
    rx_cpu = cpu_seconds(rx.pid) - rx_cpu0
    stop(proc)
    # Let the receiver settle so the next run starts from a quiet count.
    wait_until(lambda: False, 0.3)
    got = (size(out_path) - base) // 2
    with open(out_path, "rb") as f:
        f.seek(base)
        digits = f.read(2 * lines)[::2]
    hist = {int(chr(c)): digits.count(c) for c in set(digits)}
    return {"name": name, "round": n_round, "ok": ok and got >= lines and alive, "wall": t1 - t0, "cpu": cpu,
            "hwm_kib": hwm, "rx_cpu": rx_cpu, "received": got, "severities": hist}


# ---------------------------------------------------------------- idle

def idle_run(name, work, conf_or_cmd, out_path, idle_file, seconds=10):
    """After shipping a one-line file, CPU ticks used while idle for `seconds`."""
    d = f"{work}/idle-{name}"
    shutil.rmtree(d, ignore_errors=True)
    base = size(out_path)
    if name.startswith("rsyslog"):
        proc = spawn_rsyslog(d, conf_or_cmd)
    else:
        os.makedirs(d, exist_ok=True)
        log = open(f"{d}/stderr.log", "w")
        proc = subprocess.Popen(conf_or_cmd(d), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    ok = wait_until(lambda: size(out_path) >= base + 2, 30)
    time.sleep(0.5)
    with open(f"/proc/{proc.pid}/stat") as f:
        t0 = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
    time.sleep(seconds)
    with open(f"/proc/{proc.pid}/stat") as f:
        t1 = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
    stop(proc)
    return {"name": name, "ok": ok, "seconds": seconds, "ticks": t1 - t0, "tick_hz": TICK}


# ---------------------------------------------------------------- discard sink

def sink_run(work, pki, reaplog, conf_fn, label, total_bytes, lines):
    """reaplog -> openssl s_server discarding; MiB/s of log lines (file bytes)."""
    d = f"{work}/sink-{label}"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d, exist_ok=True)
    port = free_port()
    sink = subprocess.Popen(["openssl", "s_server", "-quiet", "-naccept", "1", "-accept", f"127.0.0.1:{port}",
                             "-cert", f"{pki}/server.crt", "-key", f"{pki}/server.key", "-verify", "1",
                             "-CAfile", f"{pki}/ca.crt"],
                            # s_server closes the connection at EOF on stdin: keep it open.
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(f"{d}/sink.log", "w"))
    wait_until(lambda: listening(port), 10)
    with open(f"{d}/relay.toml", "w") as f:
        f.write(conf_fn(d, port))
    t0 = time.monotonic()
    log = open(f"{d}/stderr.log", "w")
    proc = subprocess.Popen([reaplog, "relay", "--config", f"{d}/relay.toml", "--once"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    # --once exits after the last batch is written and flushed; wait4 gives
    # its CPU time. Peak RSS is VmHWM polled while it runs (wait4's
    # ru_maxrss would count the Python parent's pages from before exec).
    hwm = 0
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            hwm = max(hwm, vm_hwm_kib(proc.pid))
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.002)
    proc.returncode = os.waitstatus_to_exitcode(status)
    t1 = time.monotonic()
    cpu = ru.ru_utime + ru.ru_stime
    sink_cpu = 0.0
    try:
        sink_cpu = cpu_seconds(sink.pid)
    except (FileNotFoundError, ProcessLookupError):
        pass
    stop(sink, 5)
    mib = total_bytes / (1 << 20)
    return {"label": label, "wall": t1 - t0, "cpu": cpu, "mib": mib, "lines": lines, "hwm_kib": hwm,
            "sink_cpu": sink_cpu, "exit": proc.returncode, "mib_per_s": mib / (t1 - t0), "mib_per_cpu_s": mib / cpu if cpu else 0}


# ---------------------------------------------------------------- main

def median(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reaplog", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--pki", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--rounds", type=int, default=3)
    # A discard-sink run takes 0.2-0.6 s of CPU, so a busy neighbour moves
    # one run by 20-40 %: more rounds for a steadier median (they are cheap).
    p.add_argument("--sink-rounds", type=int, default=9)
    p.add_argument("--timeout", type=float, default=180)
    p.add_argument("--skip-sink", action="store_true")
    p.add_argument("--only", default="rsyslog,rsyslog-json,reaplog")
    a = p.parse_args()

    flat = f"{a.corpus}/flat/app_json.log"
    with open(flat, "rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    expected = {}
    with open(flat + ".severities") as f:
        for l in f:
            code, count = l.split()
            expected[int(code)] = int(count)

    forwarders = {
        "rsyslog": lambda d, port: forwarder_conf(d, flat, port, a.pki, False),
        "rsyslog-json": lambda d, port: forwarder_conf(d, flat, port, a.pki, True),
        "reaplog": None,
    }
    chosen = [n for n in a.only.split(",") if n in forwarders]
    rx, port, out = start_receiver(a.work, a.pki)
    results, idle = [], []
    try:
        for r in range(a.rounds):
            for name in chosen:
                if name == "reaplog":
                    def cmd(d, port=port):
                        with open(f"{d}/relay.toml", "w") as f:
                            f.write(reaplog_conf(d, flat, port, a.pki))
                        return [a.reaplog, "relay", "--config", f"{d}/relay.toml", "--log-level", "warn"]
                    arg = cmd
                else:
                    arg = forwarders[name](f"{a.work}/{name}-{r}", port)
                res = run_one(name, a.work, r, arg, out, rx, lines, a.timeout)
                print(json.dumps(res), flush=True)
                results.append(res)
        idle_file = f"{a.work}/idle.log"
        with open(idle_file, "w") as f:
            f.write('{"time":"2025-11-25T14:00:00.000Z","severity":"INFO","message":"one line, then quiet"}\n')
        def idle_cmd(d, port=port):
            with open(f"{d}/relay.toml", "w") as f:
                f.write(reaplog_conf(d, idle_file, port, a.pki))
            return [a.reaplog, "relay", "--config", f"{d}/relay.toml", "--log-level", "warn"]
        idle = [idle_run("reaplog", a.work, idle_cmd, out, idle_file),
                idle_run("rsyslog", a.work, forwarder_conf(f"{a.work}/idle-rsyslog", idle_file, port, a.pki, False),
                         out, idle_file)]
        for i in idle:
            print(json.dumps(i), flush=True)
    finally:
        stop(rx)

    sink = []
    if not a.skip_sink:
        gl = f"{a.corpus}/gitlab"
        gl_bytes = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(gl) for f in fs)
        gl_lines = 0
        for dp, _, fs in os.walk(gl):
            for fn in fs:
                with open(os.path.join(dp, fn), "rb") as f:
                    gl_lines += sum(c.count(b"\n") for c in iter(lambda: f.read(1 << 20), b""))
        for r in range(a.sink_rounds):
            for label, conf, nbytes, nlines in [
                ("gitlab-corpus", lambda d, port: preset_conf(d, gl, port, a.pki), gl_bytes, gl_lines),
                ("flat-200B", lambda d, port: reaplog_conf(d, flat, port, a.pki), os.path.getsize(flat), lines),
            ]:
                s = sink_run(a.work, a.pki, a.reaplog, conf, f"{label}-{r}", nbytes, nlines)
                print(json.dumps(s), flush=True)
                sink.append(s)

    report(results, sink, lines, expected, a.rounds, idle)


def report(results, sink, lines, expected, rounds, idle):
    by = {}
    for r in results:
        by.setdefault(r["name"], []).append(r)
    med = {}
    print()
    print(f"### Relay side by side: {lines:,} lines ({rounds} rounds interleaved, medians), one rsyslog gtls receiver")
    print()
    print("| forwarder | runs ok | wall s | CPU s | CPU µs/line | peak RSS MiB | receiver CPU s | severities right |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rs in by.items():
        m = {k: median([x[k] for x in rs]) for k in ("wall", "cpu", "hwm_kib", "rx_cpu")}
        med[name] = m
        sev_ok = all(x["severities"] == (expected if name != "rsyslog" else {6: lines}) for x in rs)
        print(f"| {name} | {sum(x['ok'] for x in rs)}/{len(rs)} | {m['wall']:.2f} | {m['cpu']:.2f} | "
              f"{m['cpu'] / lines * 1e6:.2f} | {m['hwm_kib'] / 1024:.1f} | {m['rx_cpu']:.2f} | {'yes' if sev_ok else 'NO'} |")
    if "reaplog" in med:
        me = med["reaplog"]
        print()
        print("| target | measured | met |")
        print("|---|---|---|")
        rows = []
        if "rsyslog" in med:
            rs = med["rsyslog"]
            rows += [("CPU/line ≤ 1/4 of rsyslog imfile→omfwd", me["cpu"] / rs["cpu"], 0.25, "ratio"),
                     ("peak RSS ≤ 1/4 of rsyslog's", me["hwm_kib"] / rs["hwm_kib"], 0.25, "ratio"),
                     ("wall time ≤ rsyslog's", me["wall"] / rs["wall"], 1.0, "ratio")]
        if "rsyslog-json" in med:
            rj = med["rsyslog-json"]
            rows += [("CPU/line ≤ 1/10 of rsyslog + JSON severity", me["cpu"] / rj["cpu"], 0.10, "ratio"),
                     ("peak RSS ≤ 1/4 of rsyslog-json's", me["hwm_kib"] / rj["hwm_kib"], 0.25, "ratio"),
                     ("wall time ≤ rsyslog-json's", me["wall"] / rj["wall"], 1.0, "ratio")]
        rows.append(("peak RSS ≤ 12 MiB", me["hwm_kib"] / 1024, 12, "MiB"))
        for label, value, limit, unit in rows:
            shown = f"{value:.3f}" if unit == "ratio" else f"{value:.1f} MiB"
            print(f"| {label} | {shown} | {'yes' if value <= limit else 'NO'} |")
    if idle:
        print()
        print("| idle 10 s after shipping (CPU ticks, 1 tick = 1/%d s) | ticks |" % TICK)
        print("|---|---|")
        for i in idle:
            print(f"| {i['name']} | {i['ticks']} |")
    if sink:
        print()
        rounds = len(sink) // len({s["label"].rsplit("-", 1)[0] for s in sink})
        print(f"### reaplog → TLS sink that discards (openssl s_server), receiver-independent ({rounds} rounds, medians)")
        print()
        print("| corpus | MiB of lines | lines | wall s | MiB/s | relay CPU s | MiB per relay CPU-s (≥ 400) | relay cores busy | peak RSS MiB | sink CPU s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        labels = []
        for s in sink:
            base = s["label"].rsplit("-", 1)[0]
            if base not in labels:
                labels.append(base)
        for base in labels:
            ss = [s for s in sink if s["label"].rsplit("-", 1)[0] == base]
            m = {k: median([x[k] for x in ss]) for k in ("wall", "cpu", "mib_per_s", "mib_per_cpu_s", "hwm_kib", "sink_cpu")}
            print(f"| {base} | {ss[0]['mib']:.0f} | {ss[0]['lines']:,} | {m['wall']:.2f} | {m['mib_per_s']:.0f} | "
                  f"{m['cpu']:.2f} | {m['mib_per_cpu_s']:.0f} | {m['cpu'] / m['wall']:.2f} | {m['hwm_kib'] / 1024:.1f} | {m['sink_cpu']:.2f} |")
        print()
        for base in labels:
            each = ", ".join(f"{s['mib_per_cpu_s']:.0f}" for s in sink if s["label"].rsplit("-", 1)[0] == base)
            print(f"- {base}, MiB per relay CPU-s by round: {each}")


if __name__ == "__main__":
    main()
