"""The sandbox as a cluster that runs things (issue 4, "Show", and issue 2's "the
specification's manifests apply and reach Available"): real pod processes, Service proxies,
a selector switch under load, ingress canary routing, real Prometheus with the
specification's alert rules, failing images, a Redis outage, and nothing left after ``down``.

Traffic comes from the sandbox's load generator (one new connection per request, one JSON
line per request), so every count below is of real HTTP responses.
"""
import base64
import copy
import json
import os
import shutil
import subprocess
import tempfile
import time

import psutil
import pytest
import requests
import yaml

from .conftest import API_IMAGE, PYTHON, ROOT, deployment, manifest

pytestmark = pytest.mark.sandbox

BLUE, GREEN, CANARY = "research-lab-api-blue", "research-lab-api-green", "research-lab-api-canary"
SPEC_HOST = "api.research-lab.example.com"


# ------------------------------------------------------------------ helpers


def run_load(url, rps, duration, out, host=None, headers=()):
    """Run the load generator to the end; returns (summary, records)."""
    argv = [PYTHON, "-m", "tests.sandbox", "load", "--url", url, "--rps", str(rps), "--duration", str(duration),
            "--out", str(out)]
    if host:
        argv += ["--host", host]
    for header in headers:
        argv += ["--header", header]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=duration + 60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), read_records(out)


def start_load(url, rps, duration, out):
    return subprocess.Popen([PYTHON, "-m", "tests.sandbox", "load", "--url", url, "--rps", str(rps),
                             "--duration", str(duration), "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_records(path):
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.endswith("\n")]


def live_pods(sandbox, ns, selector):
    pods = sandbox.kubectl_json("get", "pods", "-n", ns, "-l", selector)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def container_pid(pod):
    return int(pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1])


def promql(sandbox, query):
    response = requests.get(sandbox.endpoints["prometheus_url"] + "/api/v1/query", params={"query": query},
                            timeout=10)
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def prometheus_rules(sandbox):
    body = requests.get(sandbox.endpoints["prometheus_url"] + "/api/v1/rules", timeout=10).json()
    return {group["name"]: group for group in body["data"]["groups"]}


def events_of(sandbox, ns, name):
    items = sandbox.kubectl_json("get", "events", "-n", ns)["items"]
    return [e for e in items if e["involvedObject"]["name"] == name]


def condition(obj, kind):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def green_from_blue(ns, version):
    """The specification's green Deployment: "identical to Blue, with environment: green"."""
    green = manifest("deployment-blue", ns)[0]
    green["metadata"]["name"] = GREEN
    for labels in (green["metadata"]["labels"], green["spec"]["selector"]["matchLabels"],
                   green["spec"]["template"]["metadata"]["labels"]):
        labels["environment"] = "green"
    green["spec"]["template"]["spec"]["containers"][0]["image"] = API_IMAGE % version
    return green


# ------------------------------------------------------------------ the specification's manifests


@pytest.fixture(scope="module")
def spec(sandbox):
    """The specification's manifests (stable Service, blue Deployment, canary Deployment and
    Service, canary Ingress, plus the main Ingress the canary needs), created with kubectl."""
    ns = sandbox.app_namespace("spec")
    docs = (manifest("service-stable", ns) + manifest("deployment-blue", ns) + manifest("deployment-canary", ns)
            + manifest("ingress-stable", ns) + manifest("ingress-canary", ns))
    created = sandbox.kubectl("create", "-f", "-", input=yaml.safe_dump_all(docs))
    yield ns, created.stdout.splitlines()
    sandbox.delete_namespace(ns)


def test_the_specifications_manifests_apply_and_the_deployments_become_available(sandbox, spec):
    ns, created = spec
    assert created == [
        "service/research-lab-api created", "deployment.apps/%s created" % BLUE,
        "deployment.apps/%s created" % CANARY, "service/%s created" % CANARY,
        "ingress.networking.k8s.io/research-lab-api created", "ingress.networking.k8s.io/%s created" % CANARY]
    waited = sandbox.kubectl("wait", "--for=condition=Available", "deployment", "--all", "-n", ns, "--timeout=90s")
    assert sorted(waited.stdout.splitlines()) == sorted(
        "deployment.apps/%s condition met" % name for name in (BLUE, CANARY))
    blue = sandbox.kubectl_json("get", "deployment", BLUE, "-n", ns)
    assert blue["status"]["readyReplicas"] == 3 and blue["status"]["updatedReplicas"] == 3
    # The canary's DATABASE_URL came from the Secret, its REDIS_URL from the manifest.
    pod = live_pods(sandbox, ns, "track=canary")[0]
    environ = psutil.Process(container_pid(pod)).environ()
    secret = sandbox.kubectl_json("get", "secret", "postgres-credentials", "-n", ns)
    assert environ["DATABASE_URL"] == base64.b64decode(secret["data"]["url"]).decode()
    assert environ["REDIS_URL"] == "redis://redis-master:6379"


def test_blue_is_three_real_processes_each_answering_on_its_pod_ip(sandbox, spec):
    ns, _ = spec
    sandbox.kubectl("rollout", "status", "deployment/" + BLUE, "-n", ns, "--timeout=90s")
    pods = live_pods(sandbox, ns, "environment=blue")
    assert len(pods) == 3
    for pod in pods:
        process = psutil.Process(container_pid(pod))
        assert process.is_running() and process.environ()["SANDBOX_ID"] == sandbox.endpoints["sandbox_id"]
        ip = pod["status"]["podIP"]
        listening = {(c.laddr.ip, c.laddr.port) for c in process.net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN}
        assert {(ip, 8080), (ip, 9090)} <= listening
        answer = requests.get("http://%s:8080/api/v1/status" % ip, timeout=5)
        assert answer.json()["pod"] == pod["metadata"]["name"] and answer.headers["X-App-Version"] == "v1.2.3"
        assert requests.get("http://%s:8080/health/ready" % ip, timeout=5).json()["status"] == "ready"
    assert len({container_pid(p) for p in pods}) == 3


def test_the_service_address_spreads_requests_over_the_pods(sandbox, spec):
    ns, _ = spec
    service = sandbox.kubectl_json("get", "service", "research-lab-api", "-n", ns)
    address = service["spec"]["clusterIP"]
    expected = {p["metadata"]["name"] for p in live_pods(sandbox, ns, "environment=blue")}
    counts = {}
    for _ in range(60):   # a new connection per request, as different clients would make
        pod = requests.get("http://%s:8080/api/v1/status" % address, timeout=5).json()["pod"]
        counts[pod] = counts.get(pod, 0) + 1
    assert set(counts) == expected
    assert min(counts.values()) >= 10, counts
    # The metrics port of the Service reaches the pods' metrics listeners.
    assert "http_requests_total" in requests.get("http://%s:9090/metrics" % address, timeout=5).text


def test_the_specs_canary_ingress_sends_x_canary_always_to_the_canary(sandbox, spec, tmp_path):
    ns, _ = spec
    sandbox.kubectl("wait", "--for=condition=Available", "deployment", "--all", "-n", ns, "--timeout=90s")
    summary, _ = run_load(sandbox.endpoints["ingress_url"] + "/api/v1/status", 100, 1, tmp_path / "always.jsonl",
                          host=SPEC_HOST, headers=["X-Canary:always"])
    assert summary["failed"] == 0 and summary["by_version"] == {"v1.3.0-canary": 100}


def test_switching_the_service_selector_moves_new_requests_within_a_second_without_failures(sandbox, spec, tmp_path):
    ns, _ = spec
    http = sandbox.http()
    service_url = sandbox.endpoints["api_url"] + "/api/v1/namespaces/%s/services/research-lab-api" % ns
    merge = {"Content-Type": "application/merge-patch+json"}
    # One selector key decides the colour (the green copy of blue also carries version: stable).
    pinned = http.patch(service_url, data=json.dumps({"spec": {"selector": {"environment": "blue"}}}), headers=merge)
    assert pinned.status_code == 200, pinned.text
    sandbox.apply(green_from_blue(ns, "v1.3.0"))
    sandbox.kubectl("rollout", "status", "deployment/" + GREEN, "-n", ns, "--timeout=90s")
    address = pinned.json()["spec"]["clusterIP"]

    out = tmp_path / "switch.jsonl"
    load = start_load("http://%s:8080/api/v1/status" % address, 100, 6, out)
    try:
        sandbox.wait_for(lambda: os.path.exists(out) and len(read_records(out)) >= 150, timeout=20,
                         interval=0.05, what="1.5 s of load on blue")
        switched = http.patch(service_url, data=json.dumps({"spec": {"selector": {"environment": "green"}}}),
                              headers=merge)
        switch_time = time.time()   # the API server has accepted the new selector
        assert switched.status_code == 200, switched.text
        stdout, stderr = load.communicate(timeout=60)
    finally:
        if load.poll() is None:
            load.kill()
    assert load.returncode == 0, stderr
    summary = json.loads(stdout)
    records = read_records(out)
    assert summary["requests"] == len(records) == 600
    assert summary["failed"] == 0, summary
    assert {r["status"] for r in records} == {200}
    late_blue = [r for r in records if r["version"] == "v1.2.3" and r["t"] > switch_time + 1.0]
    assert late_blue == []
    assert any(r["version"] == "v1.2.3" for r in records if r["t"] < switch_time)
    after = [r["version"] for r in records if r["t"] > switch_time + 1.0]
    assert after and set(after) == {"v1.3.0"}


# ------------------------------------------------------------------ ingress canary routing


@pytest.fixture(scope="module")
def canary(sandbox):
    """A stable (v1.2.3) and a canary (v1.3.0-canary) Deployment, their Services and a main
    Ingress for a host of their own."""
    ns = sandbox.namespace("canary")
    host = "%s.research-lab.example.com" % ns
    stable = deployment("api-stable", replicas=2, labels={"app": "research-lab", "track": "stable"})
    canary_ = deployment("api-canary", version="v1.3.0-canary", labels={"app": "research-lab", "track": "canary"})

    def service(name, track):
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"selector": {"app": "research-lab", "track": track},
                         "ports": [{"name": "http", "port": 8080}]}}

    main = manifest("ingress-stable", ns)[0]
    main["metadata"] = {"name": "api"}
    main["spec"]["rules"][0]["host"] = host
    main["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "api-stable"
    sandbox.apply([stable, canary_, service("api-stable", "stable"), service("api-canary", "canary"), main],
                  namespace=ns)
    sandbox.kubectl("wait", "--for=condition=Available", "deployment", "--all", "-n", ns, "--timeout=90s")
    yield ns, host
    sandbox.delete_namespace(ns)


def canary_ingress(ns, host, annotations):
    ingress = manifest("ingress-canary", ns)[0]
    ingress["metadata"]["annotations"] = dict({"nginx.ingress.kubernetes.io/canary": "true"}, **annotations)
    ingress["spec"]["rules"][0]["host"] = host
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "api-canary"
    del ingress["spec"]["tls"]
    return ingress


def test_a_canary_ingress_at_weight_20_gets_20_percent_of_2000_requests(sandbox, canary, tmp_path):
    ns, host = canary
    sandbox.apply(canary_ingress(ns, host, {"nginx.ingress.kubernetes.io/canary-weight": "20"}))
    summary, records = run_load(sandbox.endpoints["ingress_url"] + "/api/v1/status", 250, 8,
                                tmp_path / "weight.jsonl", host=host)
    assert summary["requests"] == 2000 and summary["failed"] == 0, summary
    to_canary = sum(1 for r in records if r["version"] == "v1.3.0-canary")
    assert summary["by_version"] == {"v1.2.3": 2000 - to_canary, "v1.3.0-canary": to_canary}
    assert 0.17 * 2000 <= to_canary <= 0.23 * 2000, to_canary


def test_x_canary_always_and_never_override_the_weight(sandbox, canary, tmp_path):
    ns, host = canary
    sandbox.kubectl("delete", "ingress", "research-lab-api-canary", "-n", ns, "--ignore-not-found")
    # canary-by-header without canary-by-header-value: "always" and "never" are the special values.
    sandbox.apply(canary_ingress(ns, host, {"nginx.ingress.kubernetes.io/canary-weight": "20",
                                            "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary"}))
    url = sandbox.endpoints["ingress_url"] + "/api/v1/status"
    always, _ = run_load(url, 200, 1, tmp_path / "always.jsonl", host=host, headers=["X-Canary:always"])
    assert always["failed"] == 0 and always["by_version"] == {"v1.3.0-canary": 200}
    never, _ = run_load(url, 200, 1, tmp_path / "never.jsonl", host=host, headers=["X-Canary:never"])
    assert never["failed"] == 0 and never["by_version"] == {"v1.2.3": 200}
    # Any other value falls through to the weight (20%: 200 requests all on one side is ~1e-19 likely).
    other, _ = run_load(url, 200, 1, tmp_path / "other.jsonl", host=host, headers=["X-Canary:maybe"])
    assert other["failed"] == 0 and 0 < other["by_version"].get("v1.3.0-canary", 0) < 200


# ------------------------------------------------------------------ Prometheus


def test_prometheus_sees_canary_traffic_within_5_seconds(sandbox, tmp_path):
    ns = sandbox.namespace("prom")
    try:
        labels = {"app": "research-lab", "tier": "api", "track": "canary", "version": "v1.3.0",
                  "environment": "production"}
        canary_ = deployment("api-canary", version="v1.3.0-canary", labels=labels)
        container = canary_["spec"]["template"]["spec"]["containers"][0]
        container["ports"].append({"name": "metrics", "containerPort": 9090})
        container["resources"] = {"limits": {"memory": "256Mi"}}
        sandbox.apply(canary_, namespace=ns)
        sandbox.kubectl("rollout", "status", "deployment/api-canary", "-n", ns, "--timeout=60s")
        ip = live_pods(sandbox, ns, "app=research-lab")[0]["status"]["podIP"]
        # The issue's query is cluster-wide; other tests' canaries are answering probes, so the same
        # query restricted to this namespace shows that it is this traffic Prometheus sees.
        issue_query = 'sum(rate(http_requests_total{track="canary"}[30s]))'
        ours = 'sum(rate(http_requests_total{track="canary",namespace="%s"}[30s]))' % ns
        assert promql(sandbox, ours) == []   # no HTTP request has reached this pod yet
        load = start_load("http://%s:8080/api/v1/status" % ip, 50, 8, tmp_path / "prom.jsonl")
        try:
            started = time.time()
            # A requirement of the issue ("within 5 s of traffic"), so the wait is bounded by it.
            sandbox.wait_for(lambda: promql(sandbox, ours) and float(promql(sandbox, ours)[0]["value"][1]) > 0,
                             timeout=5 - (time.time() - started), interval=0.25, what="Prometheus to see the traffic")
            assert float(promql(sandbox, issue_query)[0]["value"][1]) > 0
        finally:
            load.kill()
            load.wait()
        series = promql(sandbox, 'http_requests_total{namespace="%s",path="/api/v1/status"}' % ns)
        assert series, "no series for the traffic"
        metric = series[0]["metric"]
        pod = live_pods(sandbox, ns, "app=research-lab")[0]["metadata"]["name"]
        assert {k: metric.get(k) for k in ("namespace", "pod", *labels)} == dict(labels, namespace=ns, pod=pod)
        # The kubelet's per-container memory, which the CanaryMemoryPressure rule divides.
        pid = container_pid(live_pods(sandbox, ns, "app=research-lab")[0])
        rss = psutil.Process(pid).memory_info().rss
        usage = sandbox.wait_for(lambda: promql(sandbox, 'container_memory_usage_bytes{namespace="%s"}' % ns),
                                 timeout=10, what="container_memory_usage_bytes")
        assert usage[0]["metric"]["pod"] == pod and 0.5 * rss < float(usage[0]["value"][1]) < 2 * rss
        limit = promql(sandbox, 'container_spec_memory_limit_bytes{namespace="%s"}' % ns)
        assert float(limit[0]["value"][1]) == 256 * 1024 * 1024
    finally:
        sandbox.delete_namespace(ns)


def test_the_specifications_alert_rules_load_and_a_bad_rule_file_is_reported(sandbox):
    if sandbox.kubectl("get", "namespace", "monitoring", check=False).returncode != 0:
        sandbox.kubectl("create", "namespace", "monitoring")
    sandbox.apply(manifest("prometheus-rules"))
    ns = sandbox.namespace("badrule")
    try:
        group = sandbox.wait_for(lambda: prometheus_rules(sandbox).get("canary_deployment"), timeout=30,
                                 what="the canary_deployment rule group in Prometheus")
        assert [(r["name"], r["type"]) for r in group["rules"]] == [
            ("CanaryHighErrorRate", "alerting"), ("CanaryHighLatency", "alerting"),
            ("CanaryMemoryPressure", "alerting")]
        assert group["interval"] == 30
        assert {r["name"]: r["duration"] for r in group["rules"]} == {
            "CanaryHighErrorRate": 120, "CanaryHighLatency": 120, "CanaryMemoryPressure": 300}
        assert all(r["health"] in ("ok", "unknown") for r in group["rules"])
        loaded = events_of(sandbox, "monitoring", "prometheus-alerts")
        assert any(e["reason"] == "RulesLoaded" and e["type"] == "Normal" for e in loaded)

        bad = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "broken-rules", "labels": {"prometheus": "rules"}},
               "data": {"broken.yaml": "groups:\n- name: broken_group\n  rules:\n  - alert: Broken\n"
                                       "    expr: sum(rate(http_requests_total[5m]) >\n"}}
        sandbox.apply(bad, namespace=ns)
        warnings = sandbox.wait_for(
            lambda: [e for e in events_of(sandbox, ns, "broken-rules") if e["type"] == "Warning"], timeout=30,
            what="a Warning Event about the bad rule file")
        assert warnings[0]["reason"] == "RuleLoadFailed"
        assert "broken.yaml" in warnings[0]["message"] and "promtool" in warnings[0]["message"]
        assert "parse error" in warnings[0]["message"]
        described = sandbox.kubectl("describe", "configmap", "broken-rules", "-n", ns).stdout
        assert "RuleLoadFailed" in described
        # Not loaded, and the good rules are still there.
        groups = prometheus_rules(sandbox)
        assert "broken_group" not in groups and "canary_deployment" in groups
    finally:
        sandbox.delete_namespace(ns)


def test_canary_high_error_rate_fires_for_an_error_injecting_canary(sandbox, tmp_path):
    ns = sandbox.namespace("alert")
    rules_cm = None
    try:
        labels = {"app": "research-lab", "tier": "api", "track": "canary", "version": "canary"}
        bad = deployment("api-canary", version="v1.3.0-err50", labels=labels)
        bad["spec"]["template"]["spec"]["containers"][0]["ports"].append({"name": "metrics", "containerPort": 9090})
        # A copy of the specification's CanaryHighErrorRate rule with the same expression but a 1 s
        # evaluation interval and `for: 3s` instead of 30 s and 2m, so the test need not wait minutes.
        spec_rules = yaml.safe_load(manifest("prometheus-rules")[0]["data"]["canary-alerts.yaml"])
        rule = copy.deepcopy(spec_rules["groups"][0]["rules"][0])
        assert rule["alert"] == "CanaryHighErrorRate" and rule["for"] == "2m"
        rule["for"] = "3s"
        rules_cm = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "short-rules", "labels": {"prometheus": "rules"}},
                    "data": {"short.yaml": yaml.safe_dump({"groups": [
                        {"name": "canary_deployment_short_for", "interval": "1s", "rules": [rule]}]})}}
        sandbox.apply([bad, rules_cm], namespace=ns)
        sandbox.kubectl("rollout", "status", "deployment/api-canary", "-n", ns, "--timeout=60s")
        ip = live_pods(sandbox, ns, "app=research-lab")[0]["status"]["podIP"]
        load = start_load("http://%s:8080/api/v1/status" % ip, 50, 40, tmp_path / "errors.jsonl")
        try:
            def firing():
                group = prometheus_rules(sandbox).get("canary_deployment_short_for")
                return group and group["rules"][0]["state"] == "firing" and group["rules"][0]
            fired = sandbox.wait_for(firing, timeout=40, interval=0.5, what="CanaryHighErrorRate to fire")
        finally:
            load.kill()
            load.wait()
        alert = fired["alerts"][0]
        assert alert["labels"] == {"alertname": "CanaryHighErrorRate", "severity": "critical",
                                   "component": "deployment"}
        assert float(alert["value"]) > 0.05
        assert alert["annotations"]["summary"] == "Canary deployment error rate exceeds 5%"
        alerts = requests.get(sandbox.endpoints["prometheus_url"] + "/api/v1/alerts", timeout=10).json()
        assert any(a["labels"]["alertname"] == "CanaryHighErrorRate" and a["state"] == "firing"
                   for a in alerts["data"]["alerts"])
        # The pod really answered errors: about half of the API responses were 500.
        records = read_records(tmp_path / "errors.jsonl")
        errors = sum(1 for r in records if r["status"] == 500)
        assert 0.3 * len(records) < errors < 0.7 * len(records)
    finally:
        sandbox.delete_namespace(ns)


# ------------------------------------------------------------------ failing images


@pytest.fixture(scope="module")
def broken(sandbox):
    """Both failing Deployments are created at once so their waits overlap."""
    ns = sandbox.namespace("broken")
    sandbox.apply([deployment("unknown-image", image="registry.invalid/research-lab/api:v1.2.3",
                              progressDeadlineSeconds=3),
                   deployment("crashing", version="v1.3.0-crash")], namespace=ns)
    yield ns
    sandbox.delete_namespace(ns)


def _status_column(sandbox, ns, selector):
    """READY and STATUS of `kubectl get pods` for the one pod of ``selector``."""
    table = sandbox.kubectl("get", "pods", "-n", ns, "-l", selector).stdout.splitlines()
    return table[1].split()[1:3] if len(table) == 2 else table


def test_an_unknown_image_gives_image_pull_back_off_then_progress_deadline_exceeded(sandbox, broken):
    ns = broken

    def waiting_reason():
        pods = live_pods(sandbox, ns, "app=unknown-image")
        statuses = pods[0]["status"].get("containerStatuses") if pods else None
        return statuses and statuses[0]["state"].get("waiting", {}).get("reason") == "ImagePullBackOff" and pods[0]
    pod = sandbox.wait_for(waiting_reason, timeout=60, what="ImagePullBackOff")
    assert pod["status"]["phase"] == "Pending" and not pod["status"]["containerStatuses"][0]["ready"]
    # The pod cycles through ErrImagePull and ImagePullBackOff; kubectl shows the state of the moment.
    sandbox.wait_for(lambda: _status_column(sandbox, ns, "app=unknown-image") == ["0/1", "ImagePullBackOff"],
                     timeout=60, what="kubectl to show ImagePullBackOff")
    assert any(e["reason"] == "Failed" and "registry.invalid/research-lab/api:v1.2.3" in e["message"]
               for e in events_of(sandbox, ns, pod["metadata"]["name"]))

    def deadline_exceeded():
        dep = sandbox.kubectl_json("get", "deployment", "unknown-image", "-n", ns)
        cond = condition(dep, "Progressing")
        return cond and cond["status"] == "False" and cond
    progressing = sandbox.wait_for(deadline_exceeded, timeout=60, what="Progressing=False")
    assert progressing["reason"] == "ProgressDeadlineExceeded"
    assert progressing["message"].endswith("has timed out progressing.")
    status = sandbox.kubectl("rollout", "status", "deployment/unknown-image", "-n", ns, "--timeout=20s", check=False)
    assert status.returncode == 1
    assert 'deployment "unknown-image" exceeded its progress deadline' in status.stderr


def test_a_crashing_image_gives_crash_loop_back_off(sandbox, broken):
    ns = broken

    def crash_looping():
        pods = live_pods(sandbox, ns, "app=crashing")
        statuses = pods[0]["status"].get("containerStatuses") if pods else None
        return statuses and statuses[0]["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff" and pods[0]
    pod = sandbox.wait_for(crash_looping, timeout=60, what="CrashLoopBackOff")
    container = pod["status"]["containerStatuses"][0]
    assert container["restartCount"] >= 1 and container["ready"] is False
    assert container["lastState"]["terminated"]["exitCode"] == 1
    assert container["lastState"]["terminated"]["reason"] == "Error"
    assert "back-off" in container["state"]["waiting"]["message"]
    # Between back-offs the container runs (and crashes) again; kubectl shows the state of the moment.
    sandbox.wait_for(lambda: _status_column(sandbox, ns, "app=crashing") == ["0/1", "CrashLoopBackOff"],
                     timeout=60, what="kubectl to show CrashLoopBackOff")
    # It keeps crashing and being restarted (a pod without a readiness probe is Ready for the
    # moment its process runs, so Ready and Available flap, as in Kubernetes: not asserted).
    sandbox.wait_for(lambda: live_pods(sandbox, ns, "app=crashing")[0]["status"]["containerStatuses"][0]
                     ["restartCount"] >= container["restartCount"] + 1, timeout=60, what="another restart")


# ------------------------------------------------------------------ dependencies


def test_stopping_redis_makes_the_pods_unready_and_starting_it_brings_them_back(sandbox, spec):
    ns, _ = spec
    sandbox.kubectl("wait", "--for=condition=Available", "deployment/" + BLUE, "-n", ns, "--timeout=90s")
    ips = sorted(p["status"]["podIP"] for p in live_pods(sandbox, ns, "environment=blue"))
    endpoints = sandbox.kubectl_json("get", "endpoints", "research-lab-api", "-n", ns)
    selected = sorted(a["ip"] for s in endpoints.get("subsets") or [] for a in s.get("addresses") or [])

    def addresses(field):
        ep = sandbox.kubectl_json("get", "endpoints", "research-lab-api", "-n", ns)
        return sorted(a["ip"] for s in ep.get("subsets") or [] for a in s.get(field) or [])

    def blue_ready():
        return [condition(p, "Ready")["status"] for p in live_pods(sandbox, ns, "environment=blue")]

    sandbox.ctl("redis", "stop")
    try:
        for ip in ips:
            answer = requests.get("http://%s:8080/health/ready" % ip, timeout=5)
            assert answer.status_code == 503
            assert answer.json()["dependencies"]["redis"]["status"] == "unhealthy"
            assert answer.json()["dependencies"]["database"]["status"] == "healthy"
        sandbox.wait_for(lambda: blue_ready() == ["False"] * 3, timeout=20, what="the blue pods to turn unready")
        sandbox.wait_for(lambda: addresses("notReadyAddresses") == selected and not addresses("addresses"),
                         timeout=20, what="the Service's endpoints to be not ready")
        table = sandbox.kubectl("get", "pods", "-n", ns, "-l", "environment=blue").stdout.splitlines()[1:]
        assert [line.split()[1:3] for line in table] == [["0/1", "Running"]] * 3
    finally:
        sandbox.ctl("redis", "start")
    sandbox.wait_for(lambda: blue_ready() == ["True"] * 3, timeout=30, what="the blue pods to be ready again")
    sandbox.wait_for(lambda: addresses("addresses") == selected and not addresses("notReadyAddresses"),
                     timeout=20, what="the Service's endpoints to be ready again")
    for ip in ips:
        assert requests.get("http://%s:8080/health/ready" % ip, timeout=5).status_code == 200


# ------------------------------------------------------------------ down


def _sandbox_processes(sandbox_id):
    found = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if proc.environ().get("SANDBOX_ID") == sandbox_id and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _alive(proc):
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("how", ["down", "down after the daemon was killed"])
def test_after_down_no_process_started_by_the_sandbox_is_left(how):
    state_dir = tempfile.mkdtemp(prefix="sandbox-down-")
    cli = [PYTHON, "-m", "tests.sandbox"]

    def run(*args):
        return subprocess.run(cli + list(args) + ["--state-dir", state_dir], cwd=ROOT, capture_output=True,
                              text=True, timeout=180)
    up = run("up")
    assert up.returncode == 0, up.stderr
    try:
        with open(os.path.join(state_dir, "endpoints.json")) as handle:
            endpoints = json.load(handle)
        env = dict(os.environ, KUBECONFIG=endpoints["kubeconfig"])
        subprocess.run(["kubectl", "create", "-f", "-"], input=yaml.safe_dump(deployment("pods", replicas=2)),
                       env=env, check=True, capture_output=True, text=True)
        subprocess.run(["kubectl", "rollout", "status", "deployment/pods", "--timeout=60s"], env=env, check=True,
                       capture_output=True)
        again = run("up")
        assert again.returncode == 0 and "already running" in again.stdout
        status = run("status", "--json")
        assert status.returncode == 0
        report = json.loads(status.stdout)
        assert report["running"] is True and report["pid"] == endpoints["pid"]
        assert report["objects"]["pods"] == 2 and report["rss_mib"] > 0
        with open(os.path.join(state_dir, "endpoints.json")) as handle:
            assert json.load(handle)["pid"] == endpoints["pid"]

        marked = _sandbox_processes(endpoints["sandbox_id"])
        commands = [" ".join(p.cmdline()) for p in marked]
        for part in ("/usr/bin/prometheus", "postgres -D", "tests.sandbox.app"):
            assert any(part in c for c in commands), "no %s process among %s" % (part, commands)
        assert sum("tests.sandbox.app" in c for c in commands) == 2
        # Everything the daemon started, including what hides SANDBOX_ID (redis-server writes its
        # process title over its environment; PostgreSQL's workers do the same).
        daemon = psutil.Process(endpoints["pid"])
        tree = daemon.children(recursive=True)
        assert {p.pid for p in marked} <= {p.pid for p in tree}
        assert endpoints["redis"]["pid"] in {p.pid for p in tree}
        if how != "down":
            daemon.kill()   # a crashed daemon: down must still clean up after it
            daemon.wait(10)
    finally:
        down = run("down")
    assert down.returncode == 0, down.stderr
    assert ("stopped" if how == "down" else "no sandbox running") in down.stdout
    assert not _alive(daemon)
    assert [(p.pid, p.cmdline()) for p in _sandbox_processes(endpoints["sandbox_id"])] == []
    assert [p.pid for p in tree if _alive(p)] == []
    assert run("status").returncode == 3
    shutil.rmtree(state_dir, ignore_errors=True)
