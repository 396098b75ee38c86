"""The roles and playbooks, end to end on the sandbox, with real traffic (issue: roles and
playbooks). Each test runs the real playbooks with ansible-playbook against the bootstrapped
application in namespace llm-research-lab, while the sandbox's load generator sends requests
through the ingress, and asserts what users of the application would have seen.

Stages are a few seconds long (deploy_soak_seconds=6, interval 1 s, rate window 10 s).
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from .conftest import BIN, ROOT

NS = "llm-research-lab"
HOST = "api.research-lab.example.com"
REPO = "harbor.example.com/llm-research-lab/api"
# Versions unique to this test session, so no test finds its version already deployed.
SERIES = "v%d.%d" % (2 + int(time.time()) // 100000 % 7, int(time.time()) % 100000)


def v(patch, suffix=""):
    return "%s.%d%s" % (SERIES, patch, suffix)


# At 5 % of the load's 120 rps over a 6 s soak the canary serves ~36 requests; Prometheus
# misses the first ones of each new series, so ~20 reach the gate: twice canary_min_requests.
# (60 rps and 4 s gave 7 to 15, a flaky gate.)
FAST = {
    "deploy_soak_seconds": 6,
    "deploy_analysis_interval": 1,
    "deploy_analysis_window": "10s",
    "canary_min_requests": 10,
    "blue_green_analysis_seconds": 4,
    "deploy_validation_seconds": 4,
}


class Load:
    """The sandbox load generator in the background, through the ingress."""

    def __init__(self, sandbox, path, rps=120, duration=600, headers=()):
        self.path = path
        argv = [sys.executable, "-m", "tests.sandbox", "load", "--url", sandbox.endpoints["ingress_url"] + "/api/v1/status",
                "--host", HOST, "--rps", str(rps), "--duration", str(duration), "--out", path]
        for header in headers:
            argv += ["--header", header]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        self.summary = json.loads(out[out.index("{"):])
        self.rows = [json.loads(line) for line in open(self.path) if line.strip()]
        return self.summary

    def failed(self):
        return [r for r in self.rows if r["status"] == 0 or r["status"] >= 500]

    def versions_after(self, t):
        return {r["version"] for r in self.rows if r["t"] >= t}


def deployment(sandbox, name):
    return sandbox.kubectl_json("get", "deployment", name, "-n", NS)


def image_of(sandbox, name):
    return deployment(sandbox, name)["spec"]["template"]["spec"]["containers"][0]["image"]


def active_colour(sandbox):
    return sandbox.kubectl_json("get", "service", "research-lab-api", "-n", NS)["spec"]["selector"]["environment"]


def canary_weight(sandbox):
    ing = sandbox.kubectl_json("get", "ingress", "research-lab-api-canary", "-n", NS)
    return ing["metadata"]["annotations"].get("nginx.ingress.kubernetes.io/canary-weight")


def lease(sandbox):
    return sandbox.kubectl_json("get", "lease", "research-lab-rollout", "-n", NS)


def ask_versions(sandbox, n=20, headers=None):
    import requests

    found = []
    for _ in range(n):
        response = requests.get(sandbox.endpoints["ingress_url"] + "/api/v1/status",
                                headers=dict({"Host": HOST}, **(headers or {})), timeout=10)
        found.append(response.headers.get("X-App-Version"))
    return found


def run(sandbox, playbook, **extra):
    extra_vars = dict(FAST)
    extra_vars.update(extra)
    return sandbox.playbook(os.path.join(ROOT, "playbooks", playbook), extra_vars=extra_vars,
                            inventory=os.path.join(ROOT, "inventories", "sandbox"))


def messages(result):
    return "\n".join(str(r.get("msg", "")) for _, r in result.tasks()) + result.stderr


@pytest.fixture(scope="module")
def app(sandbox):
    result = sandbox.playbook(os.path.join(ROOT, "playbooks", "bootstrap.yml"),
                              inventory=os.path.join(ROOT, "inventories", "sandbox"))
    assert not result.failed, result.stdout[-3000:] + result.stderr[-3000:]
    sandbox.wait_for(lambda: all(deployment(sandbox, "research-lab-api-%s" % c)["status"].get("readyReplicas") == 3
                                 for c in ("blue", "green")), what="blue and green ready")
    yield sandbox
    # Leave the shared sandbox as we found it: other tests use the same host name and rule names.
    for selector in ("app=research-lab", "app=kafka"):
        sandbox.kubectl("delete", "deployments,services,ingresses,pods,secrets", "-l", selector, "-n", NS,
                        "--wait=false", check=False)
    sandbox.kubectl("delete", "lease", "research-lab-rollout", "-n", NS, "--wait=false", check=False)
    sandbox.kubectl("delete", "configmap", "-l", "app=research-lab", "-n", "monitoring", "--wait=false", check=False)


def stable_deployment(sandbox):
    return "research-lab-api-" + active_colour(sandbox)


def test_healthy_canary_is_promoted_with_zero_failed_requests(app, tmp_path):
    stable = stable_deployment(app)
    load = Load(app, str(tmp_path / "load.jsonl"))
    result = run(app, "canary.yml", version=v(0))
    finished = time.time()
    time.sleep(1.5)
    load.stop()
    assert not result.failed, messages(result)[-4000:]
    assert load.summary["requests"] > 1000
    assert load.failed() == [], load.failed()[:5]
    assert image_of(app, stable) == REPO + ":" + v(0)
    assert canary_weight(app) == "0"
    assert deployment(app, "research-lab-api-canary")["spec"]["replicas"] == 0
    assert load.versions_after(finished) == {v(0)}
    assert set(ask_versions(app)) == {v(0)}
    # One progress line per stage and a run report at the end.
    progress = [r["msg"] for _, r in result.tasks() if str(r.get("msg", "")).startswith("stage ")]
    assert [p.split(":")[0] for p in progress] == ["stage 5%", "stage 25%", "stage 50%", "stage 100%"], progress
    assert all("passed" in p and "error ratio 0.00%" in p for p in progress), progress
    outcome = result.task("Show the outcome")["msg"]
    report = outcome.split("Report: ")[1].strip()
    assert os.path.exists(report) and os.path.exists(report[:-3] + ".json")
    data = json.load(open(report[:-3] + ".json"))
    assert data["result"] == "promoted" and [s["name"] for s in data["stages"]] == ["5%", "25%", "50%", "100%"]
    assert all(s["samples"]["error_ratio"] for s in data["stages"])
    assert lease(app)["spec"].get("holderIdentity") is None


def test_error_injecting_canary_is_rolled_back_in_the_first_stage(app, tmp_path):
    stable_image = image_of(app, stable_deployment(app))
    stable_version = stable_image.rsplit(":", 1)[1]
    import requests

    requests.delete(app.endpoints["webhook_sink_url"] + "/_requests", timeout=5)
    load = Load(app, str(tmp_path / "load.jsonl"))
    result = run(app, "canary.yml", version=v(1, "-err50"), canary_smoke_tests=False)
    rolled_back = time.time()
    time.sleep(1.5)
    load.stop()
    assert result.failed
    text = messages(result)
    assert "ROLLED BACK" in text and "stage 5%" in text and "error_ratio" in text, text[-3000:]
    assert canary_weight(app) == "0"
    assert deployment(app, "research-lab-api-canary")["spec"]["replicas"] == 0
    assert image_of(app, stable_deployment(app)) == stable_image
    assert load.versions_after(rolled_back) == {stable_version}
    # The stages after 5% never ran.
    assert not any("25%" in name for name, _ in result.tasks())
    events = requests.get(app.endpoints["webhook_sink_url"] + "/_requests", timeout=5).json()
    triggers = [e for e in events if e["path"] == "/v2/enqueue" and (e["json"] or {}).get("event_action") == "trigger"]
    assert triggers and triggers[-1]["json"]["payload"]["severity"] == "critical"
    assert v(1, "-err50") in triggers[-1]["json"]["payload"]["summary"]
    # The routing key never appears in the output.
    assert "sandbox0routing0key" not in result.stdout
    assert lease(app)["metadata"]["annotations"]["deploy.llm-research-lab.io/stage"] == "rolled-back"


def test_latency_regression_is_rolled_back_by_the_p99_check(app, tmp_path):
    load = Load(app, str(tmp_path / "load.jsonl"))
    result = run(app, "canary.yml", version=v(2, "-slow400ms"), canary_smoke_tests=False)
    load.stop()
    assert result.failed
    text = messages(result)
    assert "ROLLED BACK" in text and "p99_vs_stable" in text, text[-3000:]
    assert "error_ratio =" not in text.split("ROLLED BACK")[1]
    assert canary_weight(app) == "0"


def test_canary_without_traffic_is_not_promoted(app):
    stable_image = image_of(app, stable_deployment(app))
    result = run(app, "canary.yml", version=v(3), canary_smoke_tests=False)
    assert result.failed
    text = messages(result)
    assert "ROLLED BACK" in text and "requests" in text, text[-3000:]
    assert image_of(app, stable_deployment(app)) == stable_image


def test_healthy_blue_green_switches_with_zero_failed_requests(app, tmp_path):
    before = active_colour(app)
    load = Load(app, str(tmp_path / "load.jsonl"))
    result = app.playbook(os.path.join(ROOT, "playbooks", "blue_green.yml"),
                          extra_vars=dict(FAST, version=v(4)),
                          inventory=os.path.join(ROOT, "inventories", "sandbox"),
                          env={"ANSIBLE_SHOW_CUSTOM_STATS": "true"})
    switched = time.time()
    time.sleep(1.5)
    load.stop()
    assert not result.failed, messages(result)[-4000:]
    after = active_colour(app)
    assert after != before
    assert load.failed() == []
    assert load.versions_after(switched) == {v(4)}
    stats = (result.data or {}).get("global_custom_stats") or {}
    assert stats.get("deploy_active_colour") == after and stats.get("deploy_active_version") == v(4), result.data.keys()
    # The previous colour stays up for an instant rollback.
    assert deployment(app, "research-lab-api-" + before)["status"].get("readyReplicas") == 3


def test_broken_blue_green_is_never_switched(app, tmp_path):
    before = active_colour(app)
    before_version = image_of(app, "research-lab-api-" + before).rsplit(":", 1)[1]
    load = Load(app, str(tmp_path / "load.jsonl"))
    # err100: pods are ready (health endpoints answer) but every API call fails the smoke tests.
    result = run(app, "blue_green.yml", version=v(5, "-err100"))
    load.stop()
    assert result.failed
    text = messages(result)
    assert "NOT SWITCHED" in text and "untouched" in text, text[-3000:]
    assert active_colour(app) == before
    assert load.failed() == []
    assert {r["version"] for r in load.rows} == {before_version}


def test_interrupted_canary_is_rolled_back_by_rollback_playbook(app, tmp_path):
    stable_version = image_of(app, stable_deployment(app)).rsplit(":", 1)[1]
    load = Load(app, str(tmp_path / "load.jsonl"))
    extra = dict(FAST, version=v(6), deploy_soak_seconds=8, canary_smoke_tests=False)
    proc = subprocess.Popen(
        [os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "canary.yml"),
         "-i", os.path.join(ROOT, "inventories", "sandbox"), "-e", json.dumps(extra)],
        cwd=ROOT, env=app.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        app.wait_for(lambda: lease(app)["metadata"].get("annotations", {}).get(
            "deploy.llm-research-lab.io/stage") == "weight-50", timeout=240, interval=0.5, what="stage 50")
        time.sleep(2)
        assert canary_weight(app) == "50"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert lease(app)["spec"].get("holderIdentity")       # the dead run still holds it
    result = run(app, "rollback.yml")
    rolled_back = time.time()
    time.sleep(1.5)
    load.stop()
    assert not result.failed, messages(result)[-4000:]
    assert canary_weight(app) == "0"
    assert deployment(app, "research-lab-api-canary")["spec"]["replicas"] == 0
    assert load.failed() == []
    assert load.versions_after(rolled_back) == {stable_version}
    held = lease(app)
    assert held["spec"].get("holderIdentity") is None
    assert held["metadata"]["annotations"]["deploy.llm-research-lab.io/stage"] == "rolled-back"


def test_second_concurrent_canary_fails_naming_the_holder(app, tmp_path):
    load = Load(app, str(tmp_path / "load.jsonl"))
    extra = dict(FAST, version=v(7), canary_smoke_tests=False)
    first = subprocess.Popen(
        [os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "canary.yml"),
         "-i", os.path.join(ROOT, "inventories", "sandbox"), "-e", json.dumps(extra)],
        cwd=ROOT, env=app.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    holder = app.wait_for(lambda: lease(app)["spec"].get("holderIdentity"), timeout=120, what="first run holds the lease")
    second = run(app, "canary.yml", version=v(8), canary_smoke_tests=False)
    output, _ = first.communicate(timeout=600)
    load.stop()
    assert second.failed
    assert holder in messages(second)
    assert first.returncode == 0, output[-3000:]
    assert image_of(app, stable_deployment(app)).endswith(":" + v(7))
    assert load.failed() == []


def test_prometheus_down_mid_analysis_rolls_back(app, tmp_path):
    stable_version = image_of(app, stable_deployment(app)).rsplit(":", 1)[1]
    load = Load(app, str(tmp_path / "load.jsonl"))
    extra = dict(FAST, version=v(9), deploy_soak_seconds=30, canary_smoke_tests=False)
    proc = subprocess.Popen(
        [os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "canary.yml"),
         "-i", os.path.join(ROOT, "inventories", "sandbox"), "-e", json.dumps(extra)],
        cwd=ROOT, env=app.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        app.wait_for(lambda: lease(app)["metadata"].get("annotations", {}).get(
            "deploy.llm-research-lab.io/stage") == "weight-5", timeout=180, interval=0.5, what="stage 5")
        time.sleep(3)
        app.ctl("prometheus", "stop")
        output, _ = proc.communicate(timeout=300)
    finally:
        app.ctl("prometheus", "start")
    load.stop()
    assert proc.returncode != 0
    assert "ROLLED BACK" in output and "prometheus" in output.lower(), output[-3000:]
    assert canary_weight(app) == "0"
    assert load.failed() == []
    assert image_of(app, stable_deployment(app)).endswith(":" + stable_version)


def test_redis_down_fails_prechecks_and_deploys_nothing(app):
    images = {c: image_of(app, "research-lab-api-" + c) for c in ("blue", "green", "canary")}
    app.ctl("redis", "stop")
    try:
        result = run(app, "deploy.yml", version=v(10), strategy="canary")
    finally:
        app.ctl("redis", "start")
    assert result.failed
    text = messages(result)
    assert "[3/6] redis" in text and "Nothing was deployed" in text, text[-3000:]
    assert {c: image_of(app, "research-lab-api-" + c) for c in images} == images
    # The application recovers once Redis is back.
    app.wait_for(lambda: deployment(app, stable_deployment(app))["status"].get("readyReplicas") == 3,
                 timeout=60, what="pods ready again")


def _versions(sandbox):
    found = {}
    for kind in ("deployments", "replicasets", "services", "ingresses", "leases", "pods", "endpoints", "secrets"):
        for item in sandbox.kubectl_json("get", kind, "-n", NS)["items"]:
            found[(kind, item["metadata"]["name"])] = item["metadata"]["resourceVersion"]
    return found


def test_check_mode_changes_nothing(app):
    before = _versions(app)
    canary = app.playbook(os.path.join(ROOT, "playbooks", "canary.yml"), extra_vars=dict(FAST, version=v(11)),
                          check=True, diff=True, inventory=os.path.join(ROOT, "inventories", "sandbox"))
    blue_green = app.playbook(os.path.join(ROOT, "playbooks", "blue_green.yml"),
                              extra_vars=dict(FAST, version=v(11)), check=True, diff=True,
                              inventory=os.path.join(ROOT, "inventories", "sandbox"))
    after = _versions(app)
    assert not canary.failed, messages(canary)[-3000:]
    assert not blue_green.failed, messages(blue_green)[-3000:]
    assert before == after
    # Each stage says what it would change.
    weights = [r for name, r in canary.tasks() if "Send traffic to the canary, weight" in name]
    assert len(weights) == 4 and all(r.get("changed") for r in weights)
    assert any("would be promoted" in str(r.get("msg", "")) for _, r in canary.tasks())
