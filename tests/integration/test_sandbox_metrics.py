"""The sandbox's metrics-server: `kubectl top` and the metrics.k8s.io API report real usage."""
import json
import re

from .conftest import deployment


def test_kubectl_top_node_reports_real_usage(sandbox):
    sandbox.wait_for(lambda: "sandbox-node" in sandbox.kubectl("top", "node", check=False).stdout,
                     timeout=20, what="node metrics")
    line = [l for l in sandbox.kubectl("top", "node").stdout.splitlines() if l.startswith("sandbox-node")][0]
    cpu, cpu_percent, memory = re.split(r"\s+", line)[1:4]
    assert cpu.endswith("m") and cpu_percent.endswith("%")
    assert int(memory.rstrip("Mi")) > 100     # the machine uses memory; zero would be a stub


def test_pod_metrics_follow_the_pods_processes(sandbox):
    ns = sandbox.namespace("top")
    try:
        sandbox.apply(deployment("leaky", version="v1.2.3-leak50"), namespace=ns)
        sandbox.kubectl("rollout", "status", "deployment/leaky", "-n", ns, "--timeout=60s")

        def memory_mib():
            found = json.loads(sandbox.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods" % ns).stdout)
            if not found["items"]:
                return None
            text = found["items"][0]["containers"][0]["usage"]["memory"]
            return int(text.rstrip("Ki")) / 1024.0

        first = sandbox.wait_for(memory_mib, timeout=20, what="pod metrics")
        # The leaking image grows by 50 MiB/s: later samples show it.
        sandbox.wait_for(lambda: (memory_mib() or 0) > first + 50, timeout=30, what="memory growth")
    finally:
        sandbox.delete_namespace(ns)


def test_metrics_api_is_read_only(sandbox):
    response = sandbox.http().post(sandbox.endpoints["api_url"] + "/apis/metrics.k8s.io/v1beta1/nodes", json={})
    assert response.status_code == 405
    assert response.json()["reason"] == "MethodNotAllowed"
