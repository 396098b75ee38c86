"""metrics-server for the sandbox: the ``metrics.k8s.io/v1beta1`` API (NodeMetrics,
PodMetrics) that ``kubectl top`` and the pre-deployment node CPU check read.

Usage is measured for real: the node's CPU and memory from /proc (psutil), each pod's from
its processes. A sampler refreshes the figures every few seconds, as metrics-server does.
"""
import asyncio
import time

import psutil

from .apiserver.store import now_rfc3339

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
WINDOW = 5.0


def cpu_quantity(cores):
    return "%dn" % int(max(cores, 0) * 1e9)


def memory_quantity(nbytes):
    return "%dKi" % int(max(nbytes, 0) / 1024)


class MetricsServer:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.node = {"cpu": 0.0, "memory": 0, "timestamp": now_rfc3339()}
        self.pods = {}        # (namespace, pod) -> {"containers": [(name, cores, bytes)], "timestamp"}
        self._cpu_seen = {}   # pid -> (cpu seconds, monotonic time)
        self._task = None

    async def start(self):
        psutil.cpu_percent(interval=None)   # prime the node counter
        self._task = asyncio.get_event_loop().create_task(self._sample_forever())

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _sample_forever(self):
        while True:
            await asyncio.sleep(WINDOW)
            self.sample()

    def sample(self):
        now = time.monotonic()
        stamp = now_rfc3339()
        memory = psutil.virtual_memory()
        self.node = {"cpu": psutil.cpu_percent(interval=None) / 100.0 * (psutil.cpu_count() or 1),
                     "memory": memory.total - memory.available, "timestamp": stamp}
        pods = {}
        kubelet = self.sandbox.kubelet
        for state in list(getattr(kubelet, "pods", {}).values()):
            for container in state.get("containers") or []:
                proc = getattr(container, "process", None)
                if proc is None or proc.returncode is not None:
                    continue
                cores, rss = self._usage(proc.pid, now)
                meta = container.pod["metadata"]
                entry = pods.setdefault((meta["namespace"], meta["name"]), {"containers": [], "timestamp": stamp})
                entry["containers"].append((container.name, cores, rss))
        self.pods = pods

    def _usage(self, pid, now):
        try:
            proc = psutil.Process(pid)
            times = proc.cpu_times()
            seconds = times.user + times.system
            rss = proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return 0.0, 0
        before = self._cpu_seen.get(pid)
        self._cpu_seen[pid] = (seconds, now)
        if before is None or now <= before[1]:
            return 0.0, rss
        return (seconds - before[0]) / (now - before[1]), rss

    # ------------------------------------------------------------------ API objects
    def node_metrics(self):
        return [{
            "metadata": {"name": "sandbox-node", "creationTimestamp": now_rfc3339()},
            "timestamp": self.node["timestamp"],
            "window": "%ds" % WINDOW,
            "usage": {"cpu": cpu_quantity(self.node["cpu"]), "memory": memory_quantity(self.node["memory"])},
        }]

    def pod_metrics(self, namespace=None):
        items = []
        for (ns, name), entry in sorted(self.pods.items()):
            if namespace and ns != namespace:
                continue
            items.append({
                "metadata": {"name": name, "namespace": ns, "creationTimestamp": now_rfc3339()},
                "timestamp": entry["timestamp"],
                "window": "%ds" % WINDOW,
                "containers": [{"name": c, "usage": {"cpu": cpu_quantity(cores), "memory": memory_quantity(rss)}}
                               for c, cores, rss in entry["containers"]],
            })
        return items

    def discovery(self):
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (GROUP, VERSION),
                "resources": [
                    {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics",
                     "verbs": ["get", "list"]},
                    {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
                     "verbs": ["get", "list"]},
                ]}

    def handle(self, rest):
        """The object or list for path segments after /apis/metrics.k8s.io/v1beta1, or None."""
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] == "pods":
            namespace, rest = rest[1], rest[2:]
        if not rest or rest[0] not in ("nodes", "pods") or len(rest) > 2:
            return None
        kind = "NodeMetrics" if rest[0] == "nodes" else "PodMetrics"
        items = self.node_metrics() if rest[0] == "nodes" else self.pod_metrics(namespace)
        api_version = "%s/%s" % (GROUP, VERSION)
        if len(rest) == 2:
            found = [dict(i, kind=kind, apiVersion=api_version) for i in items if i["metadata"]["name"] == rest[1]]
            return found[0] if found else False
        return {"kind": kind + "List", "apiVersion": api_version, "metadata": {}, "items": items}
