"""Real Prometheus for the sandbox.

The Debian ``prometheus`` binary scrapes every second: each running pod that declares a
metrics port (a container port named ``metrics``, or the prometheus.io/scrape and /port
annotations), with the target labels a kubernetes_sd relabelling would give (namespace, pod
and every pod label), plus the ingress controller and the kubelet's container metrics.
Alert rules come from ConfigMaps labelled ``prometheus: rules``; each rule file is checked
with ``promtool check rules`` and hot-reloaded; a bad one is reported (a Warning Event on the
ConfigMap and the sandbox log), never silently dropped.
"""
import asyncio
import json
import logging
import os
import re
import shutil
import signal
import subprocess

import aiohttp
import yaml

from .apiserver.resources import BY_PLURAL
from .controllers.base import record_event
from .deps import free_port

log = logging.getLogger("sandbox.prometheus")
PODS = BY_PLURAL["pods"]
CONFIGMAPS = BY_PLURAL["configmaps"]
LABEL_INVALID = re.compile(r"[^a-zA-Z0-9_]")


class MissingBinary(RuntimeError):
    pass


def find(name):
    path = shutil.which(name) or ("/usr/bin/%s" % name if os.path.exists("/usr/bin/%s" % name) else None)
    if path is None:
        raise MissingBinary("%s not found on PATH: install the Debian package prometheus "
                            "(apt-get install --no-install-recommends prometheus), or run `make`" % name)
    return path


def pod_target(pod):
    """(address, labels) of a pod's metrics endpoint, or None."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or not status.get("podIP"):
        return None
    annotations = pod["metadata"].get("annotations") or {}
    port = None
    for container in pod["spec"].get("containers") or []:
        for p in container.get("ports") or []:
            if p.get("name") == "metrics":
                port = p["containerPort"]
    if annotations.get("prometheus.io/scrape") == "true" and annotations.get("prometheus.io/port"):
        port = int(annotations["prometheus.io/port"])
    if port is None:
        return None
    labels = {"namespace": pod["metadata"]["namespace"], "pod": pod["metadata"]["name"]}
    for key, value in (pod["metadata"].get("labels") or {}).items():
        labels[LABEL_INVALID.sub("_", key)] = value
    if annotations.get("prometheus.io/path"):
        labels["__metrics_path__"] = annotations["prometheus.io/path"]
    return "%s:%d" % (status["podIP"], port), labels


class Prometheus:
    def __init__(self, sandbox, extra_targets):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.dir = sandbox.config.path("prometheus")
        self.extra_targets = extra_targets   # job name -> "host:port" (path /metrics)
        self.port = None
        self.url = None
        self.process = None
        self.rule_errors = {}
        self._targets_pending = False
        self._rules_pending = False
        self._rule_lock = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle
    async def start(self):
        self.binary = find("prometheus")
        self.promtool = find("promtool")
        for sub in ("targets", "rules", "data"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self._write_targets()
        self._write_config()
        await self._spawn()
        self.store.subscribe(self._on_event)
        await self._sync_rules()

    async def _spawn(self):
        log_file = open(os.path.join(self.dir, "prometheus.log"), "ab")
        self.process = await asyncio.create_subprocess_exec(
            self.binary, "--config.file=%s" % os.path.join(self.dir, "prometheus.yml"),
            "--storage.tsdb.path=%s" % os.path.join(self.dir, "data"),
            "--web.listen-address=127.0.0.1:%d" % self.port,
            "--web.enable-lifecycle", "--storage.tsdb.retention.time=1d",
            "--log.level=warn", stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
            start_new_session=True)
        log_file.close()
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                if self.process.returncode is not None:
                    raise RuntimeError("prometheus exited with %s; see %s" % (
                        self.process.returncode, os.path.join(self.dir, "prometheus.log")))
                try:
                    async with session.get(self.url + "/-/ready", timeout=aiohttp.ClientTimeout(total=1)) as r:
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("prometheus did not become ready in 15 s")

    async def stop(self):
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()

    async def restart(self):
        """Start again after a test stopped it (same port, same data)."""
        if self.process is None or self.process.returncode is not None:
            await self._spawn()

    @property
    def pid(self):
        return self.process.pid if self.process is not None and self.process.returncode is None else None

    # ------------------------------------------------------------------ config and targets
    def _write_config(self):
        scrape = [
            {"job_name": "kubernetes-pods",
             "file_sd_configs": [{"files": [os.path.join(self.dir, "targets", "pods.json")], "refresh_interval": "1s"}]},
            {"job_name": "prometheus", "static_configs": [{"targets": ["127.0.0.1:%d" % (self.port or 9090)]}]},
        ]
        for job, address in sorted(self.extra_targets.items()):
            entry = {"job_name": job, "honor_labels": True, "static_configs": [{"targets": [address["target"]]}]}
            if address.get("path"):
                entry["metrics_path"] = address["path"]
            scrape.append(entry)
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [os.path.join(self.dir, "rules", "*.yml")],
            "scrape_configs": scrape,
        }
        with open(os.path.join(self.dir, "prometheus.yml"), "w") as handle:
            yaml.safe_dump(config, handle, default_flow_style=False)

    def _write_targets(self):
        self._targets_pending = False
        groups = []
        for pod in self.store.list(PODS)[0]:
            target = pod_target(pod)
            if target:
                groups.append({"targets": [target[0]], "labels": target[1]})
        path = os.path.join(self.dir, "targets", "pods.json")
        with open(path + ".tmp", "w") as handle:
            json.dump(groups, handle)
        os.replace(path + ".tmp", path)

    def _on_event(self, plural, event_type, obj, old):
        if plural == "pods" and not self._targets_pending:
            self._targets_pending = True
            asyncio.get_event_loop().call_later(0.1, self._write_targets)
        elif plural == "configmaps" and (
                _is_rules(obj) or (old is not None and _is_rules(old))) and not self._rules_pending:
            self._rules_pending = True
            asyncio.ensure_future(self._sync_rules())

    # ------------------------------------------------------------------ rules
    async def _sync_rules(self):
        async with self._rule_lock:
            self._rules_pending = False
            rules_dir = os.path.join(self.dir, "rules")
            wanted = {}
            for cm in self.store.list(CONFIGMAPS)[0]:
                if not _is_rules(cm) or cm["metadata"].get("deletionTimestamp"):
                    continue
                for key, text in (cm.get("data") or {}).items():
                    if key.endswith((".yaml", ".yml", ".rules")):
                        name = "%s_%s_%s.yml" % (cm["metadata"]["namespace"], cm["metadata"]["name"],
                                                 re.sub(r"[^A-Za-z0-9_.-]", "_", key))
                        wanted[name] = (cm, key, text)
            changed = False
            errors = {}
            for name in os.listdir(rules_dir):
                if name.endswith(".yml") and name not in wanted:
                    os.unlink(os.path.join(rules_dir, name))
                    changed = True
            for name, (cm, key, text) in wanted.items():
                path = os.path.join(rules_dir, name)
                if os.path.exists(path) and open(path).read() == text:
                    continue
                candidate = os.path.join(self.dir, "candidate-" + name)
                with open(candidate, "w") as handle:
                    handle.write(text)
                check = await asyncio.create_subprocess_exec(
                    self.promtool, "check", "rules", candidate,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                output = (await check.communicate())[0].decode(errors="replace")
                if check.returncode != 0:
                    os.unlink(candidate)
                    message = "rule file %s of ConfigMap %s/%s rejected by promtool: %s" % (
                        key, cm["metadata"]["namespace"], cm["metadata"]["name"], output.strip())
                    errors[name] = message
                    log.error(message)
                    record_event(self.store, cm, "Warning", "RuleLoadFailed", message[:1000], "sandbox-prometheus")
                    if os.path.exists(path):
                        os.unlink(path)    # never keep serving a rule file that no longer exists as such
                        changed = True
                    continue
                os.replace(candidate, path)
                record_event(self.store, cm, "Normal", "RulesLoaded",
                             "rule file %s loaded into Prometheus" % key, "sandbox-prometheus")
                changed = True
            self.rule_errors = errors
            with open(os.path.join(self.dir, "rule-errors.json"), "w") as handle:
                json.dump(errors, handle, indent=2)
            if changed and self.pid:
                await self._reload()

    async def _reload(self):
        try:
            async with aiohttp.ClientSession() as session:
                async with session.post(self.url + "/-/reload", timeout=aiohttp.ClientTimeout(total=10)) as r:
                    if r.status != 200:
                        log.error("prometheus reload failed: %s %s", r.status, await r.text())
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            log.error("prometheus reload failed: %s", err)


def _is_rules(cm):
    return (cm["metadata"].get("labels") or {}).get("prometheus") == "rules"
