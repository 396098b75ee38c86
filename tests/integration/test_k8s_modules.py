# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The four Kubernetes modules run for real through ansible-playbook against the sandbox cluster.

Each test runs one task in a playbook (module_defaults for group/llm_research_lab.deploy.k8s
carry the kubeconfig, so the action group is exercised too), reads the registered result, and
checks the cluster with kubectl: normal runs, --check (nothing changes: same resourceVersion),
--diff, second-run idempotence, and bad input that must fail without changing anything.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys
import threading
import time

import pytest
import yaml

pytestmark = pytest.mark.sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, ".build")
BIN = os.path.dirname(sys.executable)
NS = "llm-research-lab"
IMAGE = "harbor.example.com/llm-research-lab/api:%s"
CANARY = "nginx.ingress.kubernetes.io/canary"


# ------------------------------------------------------------------ the sandbox


class Sandbox(object):
    def __init__(self, state_dir):
        self.state_dir = str(state_dir)
        with open(os.path.join(self.state_dir, "endpoints.json")) as handle:
            self.endpoints = json.load(handle)
        self.kubeconfig = os.path.join(self.state_dir, "kubeconfig")

    def kubectl(self, *args, **kwargs):
        cmd = ["kubectl", "--kubeconfig", self.kubeconfig, "--context", "sandbox"] + list(args)
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, input=kwargs.get("input"))
        if kwargs.get("check", True) and result.returncode != 0:
            raise AssertionError("%s failed: %s%s" % (" ".join(cmd), result.stdout, result.stderr))
        return result

    def get(self, kind, name, namespace=NS):
        result = self.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def rv(self, kind, name, namespace=NS):
        return self.get(kind, name, namespace)["metadata"]["resourceVersion"]

    def apply(self, manifests):
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("sandbox")
    up = subprocess.run([sys.executable, "-m", "tests.sandbox", "up", "--state-dir", str(state_dir)],
                        cwd=ROOT, capture_output=True, text=True, timeout=600)
    try:
        if up.returncode != 0:
            pytest.fail("the sandbox did not start:\n%s%s" % (up.stdout, up.stderr))
        box = Sandbox(state_dir)
        box.apply(manifests())
        for name in ("research-lab-api-blue", "research-lab-api-green", "research-lab-api-canary"):
            box.kubectl("rollout", "status", "deployment/" + name, "-n", NS, "--timeout=180s")
        yield box
    finally:
        subprocess.run([sys.executable, "-m", "tests.sandbox", "down", "--state-dir", str(state_dir)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)


def pod_template(labels, version):
    return {
        "metadata": {"labels": labels},
        "spec": {"containers": [{
            "name": "api", "image": IMAGE % version,
            "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 9090, "name": "metrics"}],
            # As in the specification: the pods need their database and cache to turn Ready.
            "env": [{"name": "DATABASE_URL",
                     "valueFrom": {"secretKeyRef": {"name": "postgres-credentials", "key": "url"}}},
                    {"name": "REDIS_URL", "value": "redis://redis-master:6379"}],
            "readinessProbe": {"httpGet": {"path": "/health/ready", "port": 8080}, "periodSeconds": 5,
                               "failureThreshold": 2},
            "livenessProbe": {"httpGet": {"path": "/health/live", "port": 8080}, "initialDelaySeconds": 30},
        }]},
    }


def deployment(name, labels, template_labels, version, replicas=2):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS, "labels": labels,
                         "annotations": {"team.example.com/owner": "ml-platform"}},
            "spec": {"replicas": replicas, "progressDeadlineSeconds": 600,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "selector": {"matchLabels": labels},
                     "template": pod_template(template_labels, version)}}


def manifests():
    """The specification's manifests, with one selector key (environment) deciding the colour."""
    api = {"app": "research-lab", "tier": "api"}
    blue, green = dict(api, environment="blue"), dict(api, environment="green")
    canary = dict(api, track="canary")
    backend = {"service": {"name": "research-lab-api", "port": {"number": 8080}}}
    rules = [{"host": "api.research-lab.example.com",
              "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]
    tls = [{"hosts": ["api.research-lab.example.com"], "secretName": "api-tls-cert"}]
    return [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "research-lab-api", "namespace": NS, "labels": api},
         "spec": {"selector": blue, "type": "ClusterIP",
                  "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"},
                            {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}]}},
        deployment("research-lab-api-blue", blue, dict(blue, version="v1.2.3"), "v1.2.3"),
        deployment("research-lab-api-green", green, dict(green, version="v1.2.3"), "v1.2.3"),
        deployment("research-lab-api-canary", canary, dict(canary, version="canary"), "v1.3.0-canary", replicas=1),
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "research-lab-api-canary", "namespace": NS},
         "spec": {"selector": canary, "ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
         "metadata": {"name": "research-lab-api", "namespace": NS, "labels": api},
         "spec": {"ingressClassName": "nginx", "rules": rules, "tls": tls}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
         "metadata": {"name": "research-lab-api-canary", "namespace": NS, "labels": {"team": "ml"},
                      "annotations": {CANARY: "true", CANARY + "-weight": "5", CANARY + "-by-header": "X-Canary",
                                      CANARY + "-by-header-value": "always",
                                      "nginx.ingress.kubernetes.io/proxy-body-size": "8m"}},
         "spec": {"ingressClassName": "nginx", "tls": tls, "rules": [
             {"host": "api.research-lab.example.com", "http": {"paths": [
                 {"path": "/", "pathType": "Prefix", "backend": {
                     "service": {"name": "research-lab-api-canary", "port": {"number": 8080}}}}]}}]}},
    ]


# ------------------------------------------------------------------ running a module


def run_module(sandbox, module, args, check=False, diff=False, auth=None, tmp_dir=None):
    """Run one module task through ansible-playbook; return its registered result."""
    tmp_dir = tmp_dir or sandbox.state_dir
    out = os.path.join(tmp_dir, "result-%s-%d.json" % (module, time.time() * 1e6))
    defaults = auth if auth is not None else {"kubeconfig": sandbox.kubeconfig, "context": "sandbox"}
    play = [{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "module_defaults": {"group/llm_research_lab.deploy.k8s": defaults},
        "tasks": [
            {"name": "the task under test", "llm_research_lab.deploy.%s" % module: args,
             "register": "result", "ignore_errors": True},
            {"name": "save the result", "ansible.builtin.copy": {"content": "{{ result | to_json }}", "dest": out},
             "check_mode": False, "diff": False},
        ],
    }]
    playbook = out.replace(".json", ".yml")
    with open(playbook, "w") as handle:
        yaml.safe_dump(play, handle)
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", playbook]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=BUILD, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_dir)
    if not os.path.exists(out):
        raise AssertionError("ansible-playbook did not run the task:\n%s%s" % (proc.stdout, proc.stderr))
    with open(out) as handle:
        result = json.load(handle)
    result["_stdout"] = proc.stdout
    return result


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def failed(result, *fragments):
    assert result.get("failed"), "expected a failure, got %r" % result
    for fragment in fragments:
        assert fragment in result["msg"], "%r not in %r" % (fragment, result["msg"])
    return result


# ------------------------------------------------------------------ service_selector


SVC = {"name": "research-lab-api", "namespace": NS}
BLUE = {"app": "research-lab", "tier": "api", "environment": "blue"}
GREEN = dict(BLUE, environment="green")


def test_selector_switch_check_diff_and_idempotence(sandbox):
    rv = sandbox.rv("service", "research-lab-api")
    checked = ok(run_module(sandbox, "service_selector", dict(SVC, selector={"environment": "green"}), check=True,
                            diff=True))
    assert checked["changed"] and checked["selector"] == GREEN and checked["previous_selector"] == BLUE
    assert checked["diff"]["before"] == {"selector": BLUE} and checked["diff"]["after"] == {"selector": GREEN}
    assert sandbox.rv("service", "research-lab-api") == rv, "check mode changed the Service"
    assert sandbox.get("service", "research-lab-api")["spec"]["selector"] == BLUE

    switched = ok(run_module(sandbox, "service_selector", dict(SVC, selector={"environment": "green"},
                                                               expected_selector=BLUE, require_ready_endpoints=2),
                             diff=True))
    assert switched["changed"] and switched["previous_selector"] == BLUE and switched["selector"] == GREEN
    assert switched["matched_ready_pods"] == 2
    assert switched["diff"]["after"] == {"selector": GREEN}
    assert sandbox.get("service", "research-lab-api")["spec"]["selector"] == GREEN

    again = ok(run_module(sandbox, "service_selector", dict(SVC, selector={"environment": "green"})))
    assert not again["changed"] and again["matched_ready_pods"] == 2

    back = ok(run_module(sandbox, "service_selector", dict(SVC, selector=BLUE, replace=True)))
    assert back["changed"] and sandbox.get("service", "research-lab-api")["spec"]["selector"] == BLUE


def test_selector_key_removal_with_null(sandbox):
    removed = ok(run_module(sandbox, "service_selector", dict(SVC, selector={"tier": None})))
    assert removed["selector"] == {"app": "research-lab", "environment": "blue"}
    assert sandbox.get("service", "research-lab-api")["spec"]["selector"] == removed["selector"]
    ok(run_module(sandbox, "service_selector", dict(SVC, selector={"tier": "api"})))
    assert sandbox.get("service", "research-lab-api")["spec"]["selector"] == BLUE


def test_selector_compare_and_swap_mismatch_changes_nothing(sandbox):
    rv = sandbox.rv("service", "research-lab-api")
    result = failed(run_module(sandbox, "service_selector", dict(SVC, selector={"environment": "green"},
                                                                 expected_selector=GREEN)),
                    "selects {app: research-lab, environment: blue, tier: api}",
                    "not the expected {app: research-lab, environment: green, tier: api}", "it was not changed")
    assert result["previous_selector"] == BLUE
    assert sandbox.rv("service", "research-lab-api") == rv


def test_selector_matching_no_ready_pod_is_refused(sandbox):
    rv = sandbox.rv("service", "research-lab-api")
    failed(run_module(sandbox, "service_selector", dict(SVC, selector={"environment": "purple"})),
           "matches 0 Ready pods in namespace llm-research-lab (1 required)",
           "Service llm-research-lab/research-lab-api was not changed")
    failed(run_module(sandbox, "service_selector", dict(SVC, selector={"environment": "green"},
                                                        require_ready_endpoints=5)),
           "matches 2 Ready pods", "(5 required)")
    assert sandbox.rv("service", "research-lab-api") == rv


def test_selector_missing_service_and_namespace(sandbox):
    failed(run_module(sandbox, "service_selector", {"name": "nope", "namespace": NS, "selector": {"a": "b"}}),
           "Service llm-research-lab/nope not found", '"nope" not found (404 NotFound)', "nothing was changed")
    failed(run_module(sandbox, "service_selector", {"name": "x", "namespace": "no-such-ns", "selector": {"a": "b"}}),
           "namespace 'no-such-ns' not found")


def test_selector_write_with_a_stale_resource_version_conflicts(sandbox):
    from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s import Client, Ref
    client = Client.from_params({"kubeconfig": sandbox.kubeconfig, "context": "sandbox"})
    ref = Ref("Service", NS, "research-lab-api")
    stale = client.get(ref)["metadata"]["resourceVersion"]
    sandbox.kubectl("label", "service", "research-lab-api", "-n", NS, "touched=yes", "--overwrite")
    with pytest.raises(Exception) as err:
        client.patch(ref, {"metadata": {"resourceVersion": stale}, "spec": {"selector": {"environment": "green"}}})
    assert err.value.status == 409
    assert "(409 Conflict)" in err.value.msg
    assert sandbox.get("service", "research-lab-api")["spec"]["selector"] == BLUE


def test_selector_switch_racing_a_concurrent_change_fails_and_overwrites_nothing(sandbox):
    from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
    from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s import Client
    from ansible_collections.llm_research_lab.deploy.plugins.module_utils.selector import set_selector

    class RacedClient(Client):
        """Someone else changes the Service while the module counts pods (between read and write)."""

        def list(self, *args, **kwargs):
            sandbox.kubectl("patch", "service", "research-lab-api", "-n", NS, "--type", "merge",
                            "-p", '{"spec": {"selector": {"environment": "blue", "owner": "other-run"}}}')
            return Client.list(self, *args, **kwargs)

    plain = Client.from_params({"kubeconfig": sandbox.kubeconfig, "context": "sandbox"})
    client = RacedClient(plain.api)
    params = dict(SVC, selector={"environment": "green"}, replace=False, expected_selector=None,
                  require_ready_endpoints=1)
    try:
        with pytest.raises(DeployError) as err:
            set_selector(client, params)
        assert "Service llm-research-lab/research-lab-api was changed by someone else after it was read" in err.value.msg
        assert "this run did not overwrite it" in err.value.msg
        assert sandbox.get("service", "research-lab-api")["spec"]["selector"] == dict(BLUE, owner="other-run")
    finally:
        sandbox.kubectl("patch", "service", "research-lab-api", "-n", NS, "--type", "merge",
                        "-p", '{"spec": {"selector": {"owner": null}}}')


# ------------------------------------------------------------------ ingress_canary


CAN = {"stable_ingress": "research-lab-api", "name": "research-lab-api-canary", "namespace": NS,
       "service": "research-lab-api-canary", "port": 8080}


def test_canary_weight_keeps_foreign_annotations_and_is_idempotent(sandbox):
    rv = sandbox.rv("ingress", "research-lab-api-canary")
    args = dict(CAN, weight=25, header="X-Canary", header_value="always")
    checked = ok(run_module(sandbox, "ingress_canary", args, check=True, diff=True))
    assert checked["changed"] and checked["previous_weight"] == 5 and checked["weight"] == 25
    assert checked["diff"]["before"]["annotations"][CANARY + "-weight"] == "5"
    assert checked["diff"]["after"]["annotations"][CANARY + "-weight"] == "25"
    assert sandbox.rv("ingress", "research-lab-api-canary") == rv

    changed = ok(run_module(sandbox, "ingress_canary", args))
    assert changed["changed"] and changed["previous_weight"] == 5 and changed["weight"] == 25
    stored = sandbox.get("ingress", "research-lab-api-canary")["metadata"]
    assert stored["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "8m"
    assert stored["annotations"][CANARY + "-by-header-value"] == "always"
    assert stored["labels"] == {"team": "ml"}

    again = ok(run_module(sandbox, "ingress_canary", args))
    assert not again["changed"] and again["previous_weight"] == 25


def test_canary_dropping_the_header_removes_its_annotations(sandbox):
    ok(run_module(sandbox, "ingress_canary", dict(CAN, weight=25, header="X-Canary", header_value="always")))
    result = ok(run_module(sandbox, "ingress_canary", dict(CAN, weight=25), diff=True))
    assert result["changed"]
    annotations = sandbox.get("ingress", "research-lab-api-canary")["metadata"]["annotations"]
    assert CANARY + "-by-header" not in annotations and CANARY + "-by-header-value" not in annotations
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "8m"


@pytest.mark.parametrize("weight,shown", [(101, "101"), (-1, "-1"), ("abc", "abc")])
def test_canary_bad_weight_changes_nothing(sandbox, weight, shown):
    rv = sandbox.rv("ingress", "research-lab-api-canary")
    failed(run_module(sandbox, "ingress_canary", dict(CAN, weight=weight)),
           "weight '%s' is not an integer from 0 to 100; Ingress llm-research-lab/research-lab-api-canary "
           "was not changed" % shown)
    assert sandbox.rv("ingress", "research-lab-api-canary") == rv


def test_canary_created_by_cloning_the_stable_ingress_then_removed(sandbox):
    args = dict(CAN, name="research-lab-api-canary-b", weight=10, cookie="canary")
    checked = ok(run_module(sandbox, "ingress_canary", args, check=True))
    assert checked["changed"] and checked["previous_weight"] is None
    assert sandbox.get("ingress", "research-lab-api-canary-b") is None

    created = ok(run_module(sandbox, "ingress_canary", args))
    assert created["changed"] and created["created"] and created["previous_weight"] is None
    ingress = sandbox.get("ingress", "research-lab-api-canary-b")
    stable = sandbox.get("ingress", "research-lab-api")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == stable["spec"]["tls"]
    assert ingress["spec"]["rules"][0]["host"] == "api.research-lab.example.com"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"] == {
        "service": {"name": "research-lab-api-canary", "port": {"number": 8080}}}
    assert ingress["metadata"]["annotations"][CANARY + "-by-cookie"] == "canary"
    assert not ok(run_module(sandbox, "ingress_canary", args))["changed"]

    rv = sandbox.rv("ingress", "research-lab-api-canary-b")
    ok(run_module(sandbox, "ingress_canary", dict(args, state="absent"), check=True))
    assert sandbox.rv("ingress", "research-lab-api-canary-b") == rv
    removed = ok(run_module(sandbox, "ingress_canary", dict(args, state="absent")))
    assert removed["changed"] and removed["previous_weight"] == 10
    assert sandbox.get("ingress", "research-lab-api-canary-b") is None
    assert not ok(run_module(sandbox, "ingress_canary", dict(args, state="absent")))["changed"]


def test_canary_refuses_to_delete_a_non_canary_ingress(sandbox):
    failed(run_module(sandbox, "ingress_canary", dict(CAN, name="research-lab-api", state="absent")),
           "is not a canary Ingress", "it was not deleted")
    assert sandbox.get("ingress", "research-lab-api") is not None


def test_canary_missing_stable_ingress(sandbox):
    failed(run_module(sandbox, "ingress_canary", dict(CAN, stable_ingress="nope", name="nope-canary", weight=5)),
           "Ingress llm-research-lab/nope not found", "Ingress llm-research-lab/nope-canary was not created")


# ------------------------------------------------------------------ deployment_rollout


GREEN_DEP = {"name": "research-lab-api-green", "namespace": NS}


def test_rollout_sets_images_waits_and_is_idempotent(sandbox):
    before = sandbox.get("deployment", "research-lab-api-green")
    checked = ok(run_module(sandbox, "deployment_rollout", dict(GREEN_DEP, images={"api": IMAGE % "v1.2.4"}),
                            check=True, diff=True))
    assert checked["changed"] and checked["images"] == {"api": IMAGE % "v1.2.4"}
    assert checked["diff"]["before"] == {"images": {"api": IMAGE % "v1.2.3"}}
    assert sandbox.rv("deployment", "research-lab-api-green") == before["metadata"]["resourceVersion"]

    rolled = ok(run_module(sandbox, "deployment_rollout", dict(GREEN_DEP, images={"api": IMAGE % "v1.2.4"},
                                                               timeout=180)))
    assert rolled["changed"] and rolled["ready_replicas"] == 2
    assert rolled["previous_images"] == {"api": IMAGE % "v1.2.3"} and rolled["images"] == {"api": IMAGE % "v1.2.4"}
    assert rolled["revision"] == rolled["previous_revision"] + 1
    status = sandbox.get("deployment", "research-lab-api-green")["status"]
    assert status["updatedReplicas"] == status["readyReplicas"] == status["availableReplicas"] == 2

    again = ok(run_module(sandbox, "deployment_rollout", dict(GREEN_DEP, images={"api": IMAGE % "v1.2.4"})))
    assert not again["changed"] and again["revision"] == rolled["revision"]


def test_rollout_unknown_container_lists_the_containers(sandbox):
    rv = sandbox.rv("deployment", "research-lab-api-green")
    failed(run_module(sandbox, "deployment_rollout", dict(GREEN_DEP, images={"apii": IMAGE % "v9.9.9"})),
           "container 'apii' not in Deployment llm-research-lab/research-lab-api-green, whose containers are: api",
           "was not changed")
    assert sandbox.rv("deployment", "research-lab-api-green") == rv


def test_rollout_missing_deployment(sandbox):
    failed(run_module(sandbox, "deployment_rollout", {"name": "nope", "namespace": NS, "images": {"api": "x"}}),
           "Deployment llm-research-lab/nope not found", "nothing was changed")


def test_rollout_bad_image_fails_fast_with_reasons_then_undo_keeps_annotations(sandbox):
    name = {"name": "research-lab-api-blue", "namespace": NS}
    good = ok(run_module(sandbox, "deployment_rollout", dict(name, timeout=180)))
    started = time.time()
    bad = failed(run_module(sandbox, "deployment_rollout", dict(name, images={"api": IMAGE % "no-such-tag"},
                                                                timeout=240)),
                 "Deployment llm-research-lab/research-lab-api-blue did not roll out", "ImagePullBackOff",
                 "The Deployment keeps the new images; nothing was rolled back")
    assert time.time() - started < 200, "did not fail fast"
    assert bad["pods"] and any(c.get("waiting", {}).get("reason") in ("ImagePullBackOff", "ErrImagePull")
                               for p in bad["pods"] for c in p["containers"])
    assert bad["events"], "no events reported"

    rv = sandbox.rv("deployment", "research-lab-api-blue")
    checked = ok(run_module(sandbox, "deployment_rollout", dict(name, state="undone"), check=True))
    assert checked["changed"] and checked["images"] == good["images"]
    assert sandbox.rv("deployment", "research-lab-api-blue") == rv, "check mode changed the Deployment"

    undone = ok(run_module(sandbox, "deployment_rollout", dict(name, state="undone", timeout=180), diff=True))
    assert undone["changed"] and undone["images"] == good["images"]
    assert undone["undone_to"] == good["revision"]
    annotations = sandbox.get("deployment", "research-lab-api-blue")["metadata"]["annotations"]
    assert annotations["team.example.com/owner"] == "ml-platform"
    assert annotations["deploy.llm-research-lab.io/undone-from"] == str(bad["revision"])

    again = ok(run_module(sandbox, "deployment_rollout", dict(name, state="undone")))
    assert not again["changed"], "a repeated undo flipped the revision"


def test_rollout_crash_loop_fails_fast(sandbox):
    sandbox.apply([deployment("crash-demo", {"app": "crash-demo"}, {"app": "crash-demo"}, "v1.2.3", replicas=1)])
    sandbox.kubectl("rollout", "status", "deployment/crash-demo", "-n", NS, "--timeout=180s")
    result = failed(run_module(sandbox, "deployment_rollout", {"name": "crash-demo", "namespace": NS, "timeout": 240,
                                                               "images": {"api": IMAGE % "v1.2.5-crash"}}),
                    "Deployment llm-research-lab/crash-demo did not roll out", "CrashLoopBackOff")
    pod = result["pods"][0]
    assert pod["containers"][0]["restart_count"] >= 1
    assert pod["containers"][0].get("last_terminated", {}).get("exit_code") == 1


def test_rollout_progress_deadline_exceeded_fails_with_the_condition(sandbox):
    manifest = deployment("deadline-demo", {"app": "deadline-demo"}, {"app": "deadline-demo"}, "v1.2.3", replicas=1)
    manifest["spec"]["progressDeadlineSeconds"] = 10
    sandbox.apply([manifest])
    sandbox.kubectl("rollout", "status", "deployment/deadline-demo", "-n", NS, "--timeout=180s")
    result = failed(run_module(sandbox, "deployment_rollout", {"name": "deadline-demo", "namespace": NS,
                                                               "timeout": 280,
                                                               "images": {"api": IMAGE % "v1.2.6-unready"}}),
                    "Deployment llm-research-lab/deadline-demo did not roll out: progress deadline exceeded")
    assert result["pods"] and not result["pods"][0]["ready"]


def test_undo_to_an_unknown_revision_lists_the_revisions(sandbox):
    rv = sandbox.rv("deployment", "research-lab-api-green")
    failed(run_module(sandbox, "deployment_rollout", dict(GREEN_DEP, state="undone", to_revision=99)),
           "revision 99 of Deployment llm-research-lab/research-lab-api-green does not exist; its revisions are: ")
    assert sandbox.rv("deployment", "research-lab-api-green") == rv


# ------------------------------------------------------------------ rollout_lease


def lease_args(app, holder, **extra):
    return dict({"app": app, "namespace": NS, "holder": holder}, **extra)


def test_lease_acquire_conflict_update_release(sandbox):
    app = "lease-a"
    checked = ok(run_module(sandbox, "rollout_lease", lease_args(app, "run-1"), check=True))
    assert checked["changed"] and sandbox.get("lease", "lease-a-rollout") is None

    data = {"strategy": "canary", "stage": "start", "from_version": "v1.2.3", "to_version": "v1.3.0", "job": 7}
    first = ok(run_module(sandbox, "rollout_lease", lease_args(app, "run-1", data=data), diff=True))
    assert first["changed"] and first["held"] and first["lease"]["holder"] == "run-1"
    assert first["data"] == data
    stored = sandbox.get("lease", "lease-a-rollout")
    assert stored["spec"]["holderIdentity"] == "run-1" and stored["spec"]["leaseDurationSeconds"] == 900
    assert stored["metadata"]["annotations"]["deploy.llm-research-lab.io/stage"] == "start"

    renewed = ok(run_module(sandbox, "rollout_lease", lease_args(app, "run-1", data=data)))
    assert not renewed["changed"] and renewed["held"]

    other = failed(run_module(sandbox, "rollout_lease", lease_args(app, "run-2")),
                   "Lease llm-research-lab/lease-a-rollout is held by 'run-1' since ", ", expires ", "it was not changed")
    assert other["held"] is False

    failed(run_module(sandbox, "rollout_lease", lease_args(app, "run-2", state="updated", data={"stage": "x"})),
           "held by 'run-1'", "not by 'run-2'")
    updated = ok(run_module(sandbox, "rollout_lease", lease_args(app, "run-1", state="updated",
                                                                 data={"stage": "weight-25", "job": None})))
    assert updated["changed"]
    assert updated["data"] == {"strategy": "canary", "stage": "weight-25", "from_version": "v1.2.3",
                               "to_version": "v1.3.0"}

    failed(run_module(sandbox, "rollout_lease", lease_args(app, "run-2", state="released")),
           "held by 'run-1'", "it was not released")
    released = ok(run_module(sandbox, "rollout_lease", lease_args(app, "run-1", state="released")))
    assert released["changed"] and not released["held"] and released["lease"]["holder"] is None
    assert released["data"]["stage"] == "weight-25"
    assert not ok(run_module(sandbox, "rollout_lease", lease_args(app, "run-1", state="released")))["changed"]

    next_run = ok(run_module(sandbox, "rollout_lease", lease_args(app, "run-2")))
    assert next_run["changed"] and next_run["previous_data"]["stage"] == "weight-25"
    assert next_run["lease"]["transitions"] == 1


def test_lease_expired_is_taken_over_with_the_previous_data(sandbox):
    app = "lease-b"
    ok(run_module(sandbox, "rollout_lease", lease_args(app, "crashed-run", ttl=1, data={"stage": "weight-50"})))
    time.sleep(2)
    taken = ok(run_module(sandbox, "rollout_lease", lease_args(app, "rescue-run", data={"stage": "rollback"})))
    assert taken["changed"] and taken["taken_over_from"] == "crashed-run"
    assert taken["previous_data"] == {"stage": "weight-50"} and taken["data"] == {"stage": "rollback"}
    assert taken["lease"]["transitions"] == 1


def test_lease_concurrent_acquirers_exactly_one_wins(sandbox, tmp_path):
    results = {}

    def acquire(holder):
        results[holder] = run_module(sandbox, "rollout_lease", lease_args("lease-c", holder), tmp_dir=str(tmp_path))

    threads = [threading.Thread(target=acquire, args=(h,)) for h in ("racer-1", "racer-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [h for h, r in results.items() if not r.get("failed")]
    assert len(winners) == 1, results
    loser = [r for h, r in results.items() if r.get("failed")][0]
    assert "'%s'" % winners[0] in loser["msg"]
    assert sandbox.get("lease", "lease-c-rollout")["spec"]["holderIdentity"] == winners[0]


# ------------------------------------------------------------------ connection and auth


def test_missing_kubeconfig(sandbox, tmp_path):
    missing = str(tmp_path / "no-kubeconfig")
    result = failed(run_module(sandbox, "service_selector", dict(SVC, selector={}),
                               auth={"kubeconfig": missing}), "kubeconfig file not found", "nothing was changed")
    assert "option kubeconfig" in result["msg"]


def test_unknown_context(sandbox):
    failed(run_module(sandbox, "service_selector", dict(SVC, selector={}),
                      auth={"kubeconfig": sandbox.kubeconfig, "context": "prod"}),
           "context 'prod' is not in kubeconfig", "its contexts are: ", "sandbox")


def test_bad_token_is_401(sandbox):
    failed(run_module(sandbox, "service_selector", dict(SVC, selector={}),
                      auth={"host": sandbox.endpoints["api_url"], "api_key": "not-a-token",
                            "ca_cert": sandbox.endpoints["ca_cert"]}),
           "rejected the credentials", "401", "nothing was changed")


def test_read_only_token_cannot_write(sandbox):
    rv = sandbox.rv("service", "research-lab-api")
    auth = {"host": sandbox.endpoints["api_url"], "api_key": sandbox.endpoints["readonly_token"],
            "ca_cert": sandbox.endpoints["ca_cert"]}
    failed(run_module(sandbox, "service_selector", dict(SVC, selector={"environment": "green"}), auth=auth),
           "not allowed to patch Service llm-research-lab/research-lab-api", "403",
           "Service llm-research-lab/research-lab-api was not changed")
    assert sandbox.rv("service", "research-lab-api") == rv
