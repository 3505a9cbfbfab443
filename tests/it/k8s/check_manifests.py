#!/usr/bin/env python3
"""Offline checks of reaplog's Kubernetes manifests (run by tests/it/k8s.rs).

usage: check_manifests.py K8S_DIR --reaplog BIN --ca F --cert F --key F [--k8s-version V] [--only OVERLAY]

1. Every kustomization's resources and patches exist, and every YAML file
   under K8S_DIR is used by some kustomization.
2. Every overlay (K8S_DIR/overlays/*) renders with `kubectl kustomize`;
   without kubectl on PATH the script stops at once with an error.
3. Every rendered object validates against the Kubernetes JSON schemas of
   the kubernetes-validate package (strict: unknown fields fail), when it is
   importable; the Prometheus Operator's CRDs (ServiceMonitor,
   PrometheusRule) are checked here instead.
4. Cross references: volumeMounts name volumes; PVCs, ConfigMaps, Secrets and
   their keys exist; probes and Services name ports that exist; Service and
   ServiceMonitor selectors select something; containers of the reaplog
   image pass OpenShift's restricted-v2 and have requests and limits. A
   PrometheusRule's groups and rules have the fields Prometheus reads and
   no others, and every alert a `for`, a severity, a summary and a
   description (the PromQL itself: promtool, in tests/it/monitoring.rs).
5. Every relay container's relay.toml (found through --config, the mount and
   the ConfigMap) is run through `reaplog relay --check` with the container's
   environment, its mount paths mapped to temporary files and the given
   PKI; ${VAR} without a default must be set by the container; REPLICAS must
   match the StatefulSet's replicas; state_dir must be on a writable mount.

Prints `error: ...` for each problem and exits 1 if there was any (2 when
kubectl is missing); `SKIPPED` lines say which optional tool was missing.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

import yaml

ERRORS = []
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
REAPLOG_IMAGE = re.compile(r"(^|/)reaplog(:|@|$)")


def error(msg):
    ERRORS.append(msg)
    print(f"error: {msg}")


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ---------------------------------------------------------------- 1. layout

def kustomization_dirs(root):
    out = []
    for d, _, files in os.walk(root):
        if "kustomization.yaml" in files:
            out.append(d)
    return sorted(out)


def check_layout(root):
    used = set()
    for d in kustomization_dirs(root):
        k = load_all(os.path.join(d, "kustomization.yaml"))[0]
        refs = list(k.get("resources", [])) + [p["path"] for p in k.get("patches", []) if "path" in p]
        for r in refs:
            p = os.path.normpath(os.path.join(d, r))
            if os.path.isdir(p):
                if not os.path.isfile(os.path.join(p, "kustomization.yaml")):
                    error(f"{d}/kustomization.yaml: {r} is a directory without kustomization.yaml")
            elif not os.path.isfile(p):
                error(f"{d}/kustomization.yaml: {r} does not exist")
            else:
                used.add(p)
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.normpath(os.path.join(d, f))
            if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml" and p not in used:
                error(f"{p} is used by no kustomization")


# ---------------------------------------------------------------- 2. render

def require_kubectl():
    """The kubectl that renders the overlays; exits at once, saying so, when
    there is none (no overlay can be checked without it)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        print("error: kubectl not found on PATH: the overlays are rendered with "
              "`kubectl kustomize DIR` (kubectl with its built-in kustomize v5); install kubectl")
        sys.exit(2)
    return kubectl


def render(kubectl, overlay):
    """The objects `kubectl kustomize OVERLAY` renders; none (and an error)
    when it fails."""
    r = subprocess.run([kubectl, "kustomize", overlay], capture_output=True, text=True)
    if r.returncode != 0:
        error(f"kubectl kustomize {overlay} failed: {r.stderr.strip()}")
        return []
    return [d for d in yaml.safe_load_all(r.stdout) if d is not None]


def pod_spec(doc):
    if doc.get("kind") in POD_KINDS:
        return doc.get("spec", {}).get("template", {}).get("spec")
    if doc.get("kind") == "Pod":
        return doc.get("spec")
    return None


def containers(spec):
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


# ---------------------------------------------------------------- 3. schemas

def validate_schemas(overlay, docs, version):
    try:
        import kubernetes_validate
        from kubernetes_validate import utils as kv_utils
    except ImportError:
        print(f"SKIPPED schema validation of {overlay}: the kubernetes-validate package is not importable by {sys.executable}")
        return
    for doc in docs:
        if doc.get("apiVersion", "").startswith("monitoring.coreos.com/"):
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kv_utils.ValidationError as e:
            path = "/".join(str(p) for p in e.path)
            error(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: schema: {path}: {e.message}")
        except kv_utils.SchemaNotFoundError as e:
            error(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: no schema: {e}")
    print(f"ok: {overlay}: {len(docs)} objects checked against the Kubernetes {version} schemas")


# ---------------------------------------------------------------- 4. references

def check_references(overlay, docs):
    by = {}
    for d in docs:
        by.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    configmaps, secrets, pvcs = by.get("ConfigMap", {}), by.get("Secret", {}), by.get("PersistentVolumeClaim", {})

    def secret_keys(s):
        return set(s.get("data", {})) | set(s.get("stringData", {}))

    for doc in docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        where = f"{overlay}: {doc['kind']}/{doc['metadata']['name']}"
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        templates = {t["metadata"]["name"] for t in doc["spec"].get("volumeClaimTemplates", [])}
        for v in volumes.values():
            if "configMap" in v:
                cm = configmaps.get(v["configMap"]["name"])
                if cm is None:
                    error(f"{where}: volume {v['name']}: ConfigMap {v['configMap']['name']} does not exist")
                else:
                    for item in v["configMap"].get("items", []):
                        if item["key"] not in cm.get("data", {}):
                            error(f"{where}: volume {v['name']}: ConfigMap {cm['metadata']['name']} has no key {item['key']}")
            if "secret" in v:
                s = secrets.get(v["secret"]["secretName"])
                if s is None:
                    error(f"{where}: volume {v['name']}: Secret {v['secret']['secretName']} does not exist")
                else:
                    for item in v["secret"].get("items", []):
                        if item["key"] not in secret_keys(s):
                            error(f"{where}: volume {v['name']}: Secret {s['metadata']['name']} has no key {item['key']}")
            if "persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] not in pvcs:
                error(f"{where}: volume {v['name']}: PersistentVolumeClaim {v['persistentVolumeClaim']['claimName']} does not exist")
        used = set()
        for c in containers(spec):
            cwhere = f"{where}: container {c['name']}"
            for m in c.get("volumeMounts", []):
                used.add(m["name"])
                if m["name"] not in volumes and m["name"] not in templates:
                    error(f"{cwhere}: volumeMount {m['name']} names no volume")
            for e in c.get("env", []):
                ref = e.get("valueFrom", {})
                if "configMapKeyRef" in ref:
                    r = ref["configMapKeyRef"]
                    if r["key"] not in configmaps.get(r["name"], {}).get("data", {}):
                        error(f"{cwhere}: env {e['name']}: ConfigMap {r['name']} key {r['key']} does not exist")
                if "secretKeyRef" in ref:
                    r = ref["secretKeyRef"]
                    if r["name"] not in secrets or r["key"] not in secret_keys(secrets[r["name"]]):
                        error(f"{cwhere}: env {e['name']}: Secret {r['name']} key {r['key']} does not exist")
            port_names = {p.get("name") for p in c.get("ports", [])}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in port_names:
                    error(f"{cwhere}: {probe} names port {port}, which the container does not declare")
            if REAPLOG_IMAGE.search(c.get("image", "")):
                check_restricted(cwhere, spec, c)
        for name in set(volumes) - used:
            error(f"{where}: volume {name} is mounted by no container")
        if doc["kind"] == "StatefulSet" and doc["spec"].get("serviceName") not in by.get("Service", {}):
            error(f"{where}: serviceName {doc['spec'].get('serviceName')} is not a Service")

    for svc in by.get("Service", {}).values():
        sel = svc["spec"].get("selector", {})
        pods = [d for d in docs if pod_spec(d) is not None
                and all(d["spec"]["template"]["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())]
        if not pods:
            error(f"{overlay}: Service/{svc['metadata']['name']}: selector {sel} selects no pod template")
        for p in svc["spec"].get("ports", []):
            tp = p.get("targetPort")
            if isinstance(tp, str) and not any(tp in {q.get("name") for c in containers(pod_spec(d)) for q in c.get("ports", [])} for d in pods):
                error(f"{overlay}: Service/{svc['metadata']['name']}: targetPort {tp} is no container port")
    for pr in by.get("PrometheusRule", {}).values():
        check_prometheus_rule(f"{overlay}: PrometheusRule/{pr['metadata']['name']}", pr)
    for sm in by.get("ServiceMonitor", {}).values():
        sel = sm.get("spec", {}).get("selector", {}).get("matchLabels", {})
        svcs = [s for s in by.get("Service", {}).values()
                if sel and all(s["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())]
        if not svcs:
            error(f"{overlay}: ServiceMonitor/{sm['metadata']['name']}: selector {sel} selects no Service")
        for ep in sm.get("spec", {}).get("endpoints", []):
            if not any(ep.get("port") in {p.get("name") for p in s["spec"]["ports"]} for s in svcs):
                error(f"{overlay}: ServiceMonitor/{sm['metadata']['name']}: endpoint port {ep.get('port')} is no Service port")
    return by


RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
GROUP_KEYS = {"name", "interval", "rules", "limit", "partial_response_strategy"}
SEVERITIES = {"critical", "warning", "info"}
DURATION = re.compile(r"^(\d+(ms|[smhdwy]))+$")


def check_prometheus_rule(where, pr):
    """The shape the Prometheus Operator and the operator reading an alert
    rely on; the CRD's own schema is not available offline."""
    groups = pr.get("spec", {}).get("groups") or []
    if not groups:
        error(f"{where}: spec.groups is empty")
    names = [g.get("name") for g in groups]
    for dup in {n for n in names if names.count(n) > 1}:
        error(f"{where}: group name {dup} is used twice")
    alerts = set()
    for g in groups:
        gwhere = f"{where}: group {g.get('name')}"
        for k in set(g) - GROUP_KEYS:
            error(f"{gwhere}: unknown field {k}")
        if not g.get("rules"):
            error(f"{gwhere}: has no rules")
        for r in g.get("rules") or []:
            check_rule(gwhere, r, alerts)


def check_rule(where, r, alerts):
    name = r.get("alert") or r.get("record")
    rwhere = f"{where}: rule {name}"
    for k in set(r) - RULE_KEYS:
        error(f"{rwhere}: unknown field {k}")
    if ("alert" in r) == ("record" in r):
        error(f"{rwhere}: needs exactly one of alert and record")
    if not isinstance(r.get("expr"), str) or not r["expr"].strip():
        error(f"{rwhere}: expr is missing or not a string")
    if "record" in r:
        return
    if name in alerts:
        error(f"{rwhere}: alert name is used twice")
    alerts.add(name)
    if not DURATION.match(str(r.get("for", ""))):
        error(f"{rwhere}: for is missing or not a duration: {r.get('for')!r}")
    severity = r.get("labels", {}).get("severity")
    if severity not in SEVERITIES:
        error(f"{rwhere}: has no severity label in {sorted(SEVERITIES)}: {severity!r}")
    for a in ("summary", "description"):
        if not str(r.get("annotations", {}).get(a, "")).strip():
            error(f"{rwhere}: has no {a} annotation")


def check_restricted(where, spec, c):
    """OpenShift restricted-v2 (and Pod Security 'restricted')."""
    psc, sc = spec.get("securityContext", {}), c.get("securityContext", {})
    if not sc.get("runAsNonRoot", psc.get("runAsNonRoot")):
        error(f"{where}: runAsNonRoot is not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        error(f"{where}: allowPrivilegeEscalation is not false")
    if "ALL" not in sc.get("capabilities", {}).get("drop", []) or sc.get("capabilities", {}).get("add"):
        error(f"{where}: capabilities must drop ALL and add none")
    if sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type") != "RuntimeDefault":
        error(f"{where}: seccompProfile is not RuntimeDefault")
    if sc.get("readOnlyRootFilesystem") is not True:
        error(f"{where}: readOnlyRootFilesystem is not true")
    own_pod = all(REAPLOG_IMAGE.search(x.get("image", "")) for x in containers(spec))
    if "runAsUser" in sc or (own_pod and "runAsUser" in psc):
        error(f"{where}: runAsUser set: restricted-v2 assigns the UID from the namespace's range")
    for kind in ("requests", "limits"):
        for res in ("cpu", "memory"):
            if res not in c.get("resources", {}).get(kind, {}):
                error(f"{where}: resources.{kind}.{res} is not set")


# ---------------------------------------------------------------- 5. relay.toml

PENDING_KEYS = ("shard", "metrics")


def mount_for(c, path):
    """The volumeMount whose mountPath is path or its longest prefix."""
    best = None
    for m in c.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"]):
                best = m
    return best


def check_relays(overlay, docs, by, args):
    for doc in docs:
        spec = pod_spec(doc)
        for c in containers(spec) if spec else []:
            argv = list(c.get("command", [])) + list(c.get("args", []))
            if "relay" not in argv or "--config" not in argv:
                continue
            where = f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: container {c['name']}"
            config_path = argv[argv.index("--config") + 1]
            m = mount_for(c, config_path)
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            v = volumes.get(m["name"]) if m else None
            if not v or "configMap" not in v:
                error(f"{where}: --config {config_path} is not on a ConfigMap mount")
                continue
            cm_key = m.get("subPath") or os.path.relpath(config_path, m["mountPath"])
            for item in v["configMap"].get("items", []):
                if item["path"] == cm_key:
                    cm_key = item["key"]
            cm = by.get("ConfigMap", {}).get(v["configMap"]["name"], {})
            text = cm.get("data", {}).get(cm_key)
            if text is None:
                error(f"{where}: ConfigMap {v['configMap']['name']} has no key {cm_key}")
                continue
            check_relay_config(where, doc, spec, c, text, args)


def sample_env(doc, c):
    env = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        field = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath", "")
        if field == "metadata.name":
            env[e["name"]] = f"{doc['metadata']['name']}-0"
        elif field == "metadata.namespace":
            env[e["name"]] = "default"
        elif field.startswith("metadata.labels["):
            env[e["name"]] = "0"
    return env


def check_relay_config(where, doc, spec, c, text, args):
    try:
        conf = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        error(f"{where}: relay.toml is not TOML: {e}")
        return
    env = sample_env(doc, c)
    for var, default in re.findall(r"\$\{(\w+)(:-[^}]*)?\}", text):
        if not default and var not in env:
            error(f"{where}: relay.toml uses ${{{var}}}, which the container does not set")
    if "shard" in conf and doc["kind"] == "StatefulSet":
        replicas = str(doc["spec"].get("replicas", 1))
        m = re.fullmatch(r"\$\{(\w+)\}/\$\{(\w+)\}|\$\{(\w+)\}/(\d+)", conf["shard"])
        total = (env.get(m.group(2)) if m and m.group(2) else (m.group(4) if m else None))
        if total != replicas:
            error(f"{where}: shard {conf['shard']!r} counts {total} replicas, the StatefulSet has {replicas}")
    listen = conf.get("metrics", {}).get("listen")
    if listen:
        port = int(listen.rsplit(":", 1)[1])
        if port not in {p["containerPort"] for p in c.get("ports", [])}:
            error(f"{where}: [metrics] listen {listen}: port {port} is no containerPort")
    # Paths: each must be on a mount of the right kind.
    state = conf.get("state_dir", "")
    sm = mount_for(c, state)
    if not sm or sm.get("readOnly"):
        error(f"{where}: state_dir {state} is not on a writable volume (the root filesystem is read-only)")
    roots = [s.get("root") for s in conf.get("source", []) if s.get("root")]
    for r in roots:
        if not mount_for(c, r):
            error(f"{where}: source root {r} is on no volume")
        if sm and mount_for(c, r) and mount_for(c, r)["name"] == sm["name"]:
            error(f"{where}: state_dir {state} shares a volume with the log tree {r}")
    out = conf.get("output", {})
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for k in ("ca_file", "cert_file", "key_file"):
        if k not in out:
            continue
        fm = mount_for(c, out[k])
        vol = volumes.get(fm["name"]) if fm else None
        if not vol or "secret" not in vol:
            error(f"{where}: output.{k} {out[k]} is not on a Secret mount")
            continue
        rel = os.path.relpath(out[k], fm["mountPath"])
        items = vol["secret"].get("items")
        if items is not None and rel not in {i["path"] for i in items}:
            error(f"{where}: output.{k} {out[k]}: the Secret volume has no item {rel}")
    run_relay_check(where, conf, text, env, roots, args)


def run_relay_check(where, conf, text, env, roots, args):
    with tempfile.TemporaryDirectory() as tmp:
        out = conf.get("output", {})
        mapping = {conf.get("state_dir"): os.path.join(tmp, "state")}
        for i, r in enumerate(roots):
            mapping[r] = os.path.join(tmp, f"root{i}")
            os.makedirs(mapping[r])
        for k, v in (("ca_file", args.ca), ("cert_file", args.cert), ("key_file", args.key)):
            if k in out:
                mapping[out[k]] = v
        for old, new in mapping.items():
            text = text.replace(f'"{old}"', json.dumps(new))
        for attempt in range(len(PENDING_KEYS) + 1):
            path = os.path.join(tmp, "relay.toml")
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run([args.reaplog, "relay", "--check", "--config", path],
                               env={**os.environ, **env}, capture_output=True, text=True)
            if r.returncode == 0:
                print(f"ok: {where}: reaplog relay --check accepts relay.toml")
                return
            pending = [k for k in PENDING_KEYS if f"unknown field `{k}`" in r.stderr]
            if not pending:
                error(f"{where}: reaplog relay --check rejects relay.toml: {r.stderr.strip()}")
                return
            # A key another branch is adding: check the rest now, loudly.
            print(f"note: {where}: this reaplog does not know `{pending[0]}` yet; checked without it")
            text = strip_key(text, pending[0])


def strip_key(text, key):
    out, skipping = [], False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("["):
            skipping = s == f"[{key}]"
        if skipping or re.match(rf"{key}\s*=", s):
            continue
        out.append(line)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- 6. commands

PENDING_SUBCOMMANDS = ()


def check_commands(overlay, docs, args):
    """Every command line that runs reaplog is one this binary accepts:
    `init` options are run for real (with Python as CMD), other subcommands
    must at least exist."""
    for doc in docs:
        spec = pod_spec(doc)
        for c in containers(spec) if spec else []:
            where = f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: container {c['name']}"
            argv = list(c.get("command", [])) + list(c.get("args", []))
            if not c.get("command") and REAPLOG_IMAGE.search(c.get("image", "")):
                argv = ["/reaplog"] + argv
            if not argv or os.path.basename(argv[0]) != "reaplog":
                continue
            sub = argv[1] if len(argv) > 1 else ""
            if sub == "init":
                head = argv[1:argv.index("--")] if "--" in argv else argv[1:]
                r = subprocess.run([args.reaplog] + head + ["--", sys.executable, "-c", ""],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    error(f"{where}: `reaplog {' '.join(head)}` fails: {r.stderr.strip()}")
                else:
                    print(f"ok: {where}: reaplog {' '.join(head)} -- (python -c ''): exit 0")
                check_binary_source(where, spec, c, argv[0])
            elif sub != "relay":
                r = subprocess.run([args.reaplog, sub, "--help"], capture_output=True, text=True)
                if "unknown command" in r.stderr:
                    if sub in PENDING_SUBCOMMANDS:
                        print(f"note: {where}: this reaplog has no `{sub}` subcommand yet (docs/deploy.md)")
                    else:
                        error(f"{where}: reaplog has no subcommand {sub!r}")


def check_binary_source(where, spec, c, path):
    """A reaplog run from a volume: some initContainer of the reaplog image
    writes that volume."""
    if path == "/reaplog":
        return
    m = mount_for(c, path)
    if not m:
        error(f"{where}: {path} is on no volume (the GitLab image has no reaplog)")
        return
    writers = [i for i in spec.get("initContainers", []) if REAPLOG_IMAGE.search(i.get("image", ""))
               and any(x["name"] == m["name"] and not x.get("readOnly") for x in i.get("volumeMounts", []))]
    if not writers:
        error(f"{where}: no initContainer of the reaplog image fills volume {m['name']} with {path}")


# ---------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser()
    p.add_argument("k8s_dir")
    p.add_argument("--reaplog", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--k8s-version", default="1.30.0")
    p.add_argument("--only", help="check only this overlay (its name under overlays/)")
    args = p.parse_args()
    kubectl = require_kubectl()
    root = os.path.normpath(args.k8s_dir)
    check_layout(root)
    overlays = sorted(os.path.join(root, "overlays", d) for d in os.listdir(os.path.join(root, "overlays"))
                      if args.only in (None, d))
    for overlay in overlays:
        docs = render(kubectl, overlay)
        if not docs:
            continue
        print(f"ok: {overlay}: rendered with kubectl kustomize ({len(docs)} objects)")
        for d in docs:
            for c in containers(pod_spec(d) or {}):
                if c.get("image") == "reaplog":
                    error(f"{overlay}: {d['kind']}/{d['metadata']['name']}: container {c['name']}: image 'reaplog' was not set by an images: entry")
        validate_schemas(overlay, docs, args.k8s_version)
        by = check_references(overlay, docs)
        check_relays(overlay, docs, by, args)
        check_commands(overlay, docs, args)
    if ERRORS:
        print(f"{len(ERRORS)} problem(s)")
        sys.exit(1)
    print("all manifests ok")


if __name__ == "__main__":
    main()
