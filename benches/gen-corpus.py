#!/usr/bin/python3
"""Writes the relay benchmarks' synthetic GitLab corpus (deterministic, seeded).

Usage: benches/gen-corpus.py OUTDIR [--lines N] [--gitlab-mib M] [--seed S]

OUTDIR/flat/app_json.log
    N lines (default 1,000,000) of ~200-byte JSON in the shape of Rails'
    *_json.log, `time` and `severity` first (INFO 85 %, DEBUG 5 %, WARN 6 %,
    ERROR 3 %, FATAL 1 %), about 1 line in 20 with multi-byte UTF-8, and one
    line in 100,000 over 8 KiB (longer than rsyslog's maxMessageSize).
    The side-by-side benchmark ships this file.
OUTDIR/flat/app_json.log.severities
    How many lines carry each syslog severity code, "code count" per line:
    what a receiver must count when severities are read right.
OUTDIR/gitlab/...
    About M MiB (default 96) of the preset's layout, in the mix of a busy
    webservice pod: api_json.log (~3 KB lines), production_json.log
    (~2 KB), sidekiq/current (svlogd prefix + JSON, 1.5-4 KB),
    gitlab-workhorse/current (~0.6 KB), nginx/gitlab_access.log (~250 B),
    with multi-byte UTF-8 and a few lines over 8 KiB.

The same arguments always give the same bytes (random.Random(seed); no
clock, no environment).
"""

import argparse
import os
import random

WORDS = (
    "project merge_request issue pipeline job runner deploy commit branch "
    "namespace group user token webhook artifact cache repository blob tree "
    "diff note label milestone epic release package registry"
).split()
UTF8 = ["Zürich", "naïve café", "日本語のコミット", "résumé", "Ελληνικά", "emoji 🚀✅",
        "Кириллица", "中文提交信息", "smörgåsbord", "€ 12,50"]
SEVERITIES = [("INFO", 6, 85), ("DEBUG", 7, 5), ("WARN", 4, 6), ("ERROR", 3, 3), ("FATAL", 2, 1)]
ROUTES = ["/api/v4/projects/:id/merge_requests", "/api/v4/jobs/request", "/api/v4/projects/:id/repository/commits",
          "/api/v4/internal/allowed", "/api/v4/projects/:id/pipelines", "/api/v4/users/:id"]
CONTROLLERS = [("Projects::IssuesController", "show"), ("Projects::MergeRequestsController", "diffs"),
               ("DashboardController", "index"), ("Projects::BlobController", "show"),
               ("Groups::BoardsController", "index")]
WORKERS = ["PostReceive", "PipelineProcessWorker", "Ci::BuildFinishedWorker", "MergeWorker",
           "ProjectCacheWorker", "ExpireBuildArtifactsWorker", "WebHookWorker"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
          "gitlab-runner 16.5.0 (16-5-stable; go1.20.10; linux/amd64)", "git/2.42.0", "curl/8.4.0",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15"]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.t = 14 * 3_600_000  # ms since 2025-11-25T00:00:00Z; advances per line

    def time(self, step_ms=3):
        self.t += self.r.randint(0, step_ms)
        s, ms = divmod(self.t, 1000)
        d, rest = divmod(s, 86400)
        h, rest = divmod(rest, 3600)
        m, sec = divmod(rest, 60)
        day, month = (25 + d, 11) if d < 6 else (d - 5, 12)
        return f"2025-{month:02d}-{day:02d}T{h:02d}:{m:02d}:{sec:02d}.{ms:03d}Z"

    def cid(self):
        return "01" + "".join(self.r.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(24))

    def hexid(self, n):
        return "%0*x" % (n, self.r.getrandbits(4 * n))

    def words(self, n):
        return " ".join(self.r.choice(WORDS) for _ in range(n))

    def text(self, n_bytes, utf8_every=20):
        """Prose of about n_bytes, sometimes with multi-byte UTF-8, JSON-safe."""
        parts, size = [], 0
        while size < n_bytes:
            w = self.r.choice(UTF8) if self.r.randrange(utf8_every) == 0 else self.r.choice(WORDS)
            parts.append(w)
            size += len(w.encode()) + 1
        return " ".join(parts)

    def severity(self):
        x = self.r.randrange(100)
        for name, code, weight in SEVERITIES:
            if x < weight:
                return name, code
            x -= weight
        return SEVERITIES[0][:2]

    def small_json(self, i):
        """~200 B Rails-style line; one in 100,000 is over 8 KiB."""
        name, code = self.severity()
        msg = self.text(self.r.randint(30, 70))
        if i % 100_000 == 99_999:
            msg = self.text(9000, utf8_every=5)
        line = (f'{{"time":"{self.time()}","severity":"{name}","correlation_id":"{self.cid()}",'
                f'"meta.caller_id":"{self.r.choice(WORDS)}#{self.r.randint(1, 999)}",'
                f'"duration_s":{self.r.random():.4f},"message":"{msg}"}}')
        return line, code

    def params(self, size):
        out = []
        while size > 0:
            v = self.text(self.r.randint(10, 60), utf8_every=8).replace('"', "")
            item = f'{{"key":"{self.r.choice(WORDS)}","value":"{v}"}}'
            out.append(item)
            size -= len(item.encode()) + 1
        return "[" + ",".join(out) + "]"

    def api_json(self, size=3000):
        name, _ = self.severity()
        route = self.r.choice(ROUTES)
        head = (f'{{"time":"{self.time()}","severity":"{name}","duration_s":{self.r.random():.5f},'
                f'"db_duration_s":{self.r.random() / 10:.5f},"view_duration_s":{self.r.random() / 10:.5f},'
                f'"status":{self.r.choice([200, 200, 200, 201, 204, 304, 401, 404, 500])},'
                f'"method":"{self.r.choice(["GET", "GET", "POST", "PUT"])}","path":"{route.replace(":id", str(self.r.randint(1, 99999)))}",'
                f'"route":"{route}","correlation_id":"{self.cid()}","meta.user":"user{self.r.randint(1, 5000)}",'
                f'"meta.project":"group{self.r.randint(1, 99)}/project{self.r.randint(1, 999)}","meta.caller_id":"GET {route}",'
                f'"remote_ip":"10.{self.r.randint(0, 255)}.{self.r.randint(0, 255)}.{self.r.randint(1, 254)}",'
                f'"ua":"{self.r.choice(AGENTS)}","queue_duration_s":{self.r.random() / 100:.6f},'
                f'"redis_calls":{self.r.randint(0, 40)},"db_count":{self.r.randint(0, 90)}')
        return head + f',"params":{self.params(size - len(head) - 20)}}}'

    def production_json(self, size=2000):
        ctrl, action = self.r.choice(CONTROLLERS)
        status = self.r.choice([200, 200, 200, 302, 404, 422, 500])
        head = (f'{{"method":"GET","path":"/group{self.r.randint(1, 99)}/project/-/issues/{self.r.randint(1, 9999)}",'
                f'"format":"html","controller":"{ctrl}","action":"{action}","status":{status},'
                f'"time":"{self.time()}","remote_ip":"10.0.{self.r.randint(0, 255)}.{self.r.randint(1, 254)}",'
                f'"user_id":{self.r.randint(1, 5000)},"username":"user{self.r.randint(1, 5000)}",'
                f'"ua":"{self.r.choice(AGENTS)}","correlation_id":"{self.cid()}",'
                f'"duration_s":{self.r.random():.5f},"view_duration_s":{self.r.random() / 3:.5f},'
                f'"db_duration_s":{self.r.random() / 5:.5f},"db_count":{self.r.randint(0, 200)}')
        return head + f',"params":{self.params(size - len(head) - 20)}}}'

    def svlogd(self):
        """runit's `svlogd -tt` prefix: YYYY-MM-DD_HH:MM:SS.xxxxx and a space."""
        ts = self.time()
        return f"{ts[:10]}_{ts[11:23]}{self.r.randint(0, 99):02d} "

    def sidekiq(self):
        name, _ = self.severity()
        size = self.r.randint(1500, 4000)
        head = (f'{{"severity":"{name}","time":"{self.time()}","retry":{self.r.randint(0, 25)},'
                f'"queue":"default","class":"{self.r.choice(WORKERS)}","jid":"{self.hexid(24)}",'
                f'"created_at":"{self.time(0)}","correlation_id":"{self.cid()}",'
                f'"meta.caller_id":"{self.r.choice(WORKERS)}","job_status":"{self.r.choice(["start", "done", "done", "fail"])}",'
                f'"duration_s":{self.r.random() * 5:.4f},"completed_at":"{self.time(0)}"')
        return self.svlogd() + head + f',"args":{self.params(size - len(head) - 20)}}}'

    def workhorse(self):
        route = self.r.choice(ROUTES)
        return self.svlogd() + (
            f'{{"content_type":"application/json","correlation_id":"{self.cid()}","duration_ms":{self.r.randint(1, 2000)},'
            f'"host":"gitlab.example.com","level":"{self.r.choice(["info"] * 9 + ["error"])}","method":"GET","msg":"access",'
            f'"proto":"HTTP/1.1","referrer":"https://gitlab.example.com/group/project","remote_addr":"10.0.0.{self.r.randint(1, 254)}:0",'
            f'"remote_ip":"10.0.0.{self.r.randint(1, 254)}","route":"^{route}","status":{self.r.choice([200, 200, 200, 404, 502])},'
            f'"system":"http","time":"{self.time()}","ttfb_ms":{self.r.randint(1, 900)},'
            f'"uri":"{route.replace(":id", str(self.r.randint(1, 99999)))}?private_token=[FILTERED]","user_agent":"{self.r.choice(AGENTS)}",'
            f'"written_bytes":{self.r.randint(0, 100000)}}}')

    def nginx(self):
        route = self.r.choice(ROUTES).replace(":id", str(self.r.randint(1, 99999)))
        return (f'10.0.{self.r.randint(0, 255)}.{self.r.randint(1, 254)} - - [25/Nov/2025:14:{self.r.randint(0, 59):02d}:'
                f'{self.r.randint(0, 59):02d} +0000] "GET {route} HTTP/1.1" {self.r.choice([200, 200, 200, 304, 404, 502])} '
                f'{self.r.randint(0, 99999)} "https://gitlab.example.com/{self.r.choice(WORDS)}/{self.r.choice(WORDS)}" '
                f'"{self.r.choice(AGENTS)}" {self.r.random() * 3:.3f} "{self.cid()}"')


def write_flat(out, lines, gen):
    path = os.path.join(out, "flat", "app_json.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    counts = {}
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        buf = []
        for i in range(lines):
            line, code = gen.small_json(i)
            counts[code] = counts.get(code, 0) + 1
            buf.append(line)
            if len(buf) == 10_000:
                f.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            f.write("\n".join(buf) + "\n")
    with open(path + ".severities", "w") as f:
        for code in sorted(counts):
            f.write(f"{code} {counts[code]}\n")


def write_gitlab(out, mib, gen):
    # Share of the bytes per file, roughly a busy webservice + sidekiq pod.
    mix = [("api_json.log", 0.30, gen.api_json), ("production_json.log", 0.20, gen.production_json),
           ("sidekiq/current", 0.25, gen.sidekiq), ("gitlab-workhorse/current", 0.15, gen.workhorse),
           ("nginx/gitlab_access.log", 0.10, gen.nginx)]
    for rel, share, make in mix:
        path = os.path.join(out, "gitlab", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        budget, n = int(mib * share * (1 << 20)), 0
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            while budget > 0:
                line = make()
                if rel.endswith("_json.log") and n % 5000 == 4999:
                    line = line[:-2] + f',"huge":"{gen.text(9000, utf8_every=4)}"}}}}'[:-1]
                f.write(line + "\n")
                budget -= len(line.encode()) + 1
                n += 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outdir")
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--gitlab-mib", type=int, default=96)
    p.add_argument("--seed", type=int, default=5424)
    a = p.parse_args()
    write_flat(a.outdir, a.lines, Gen(a.seed))
    if a.gitlab_mib > 0:
        write_gitlab(a.outdir, a.gitlab_mib, Gen(a.seed + 1))


if __name__ == "__main__":
    main()
