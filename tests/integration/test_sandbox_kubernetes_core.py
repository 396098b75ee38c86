"""kubernetes.core (the collection bundled with the ``ansible`` package) through real
ansible-playbook runs against the sandbox (issue 2, "Show": kubernetes.core), each module doing
what its documentation says; the cluster is then checked with kubectl."""
import pytest

from .conftest import API_IMAGE, deployment

pytestmark = pytest.mark.sandbox


@pytest.fixture
def ns(sandbox):
    name = sandbox.namespace("kcore")
    yield name
    sandbox.delete_namespace(name)


def play(sandbox, tasks):
    return [{"hosts": "localhost", "gather_facts": False, "connection": "local",
             "module_defaults": {group: {"kubeconfig": sandbox.kubeconfig, "context": "sandbox"}
                                 for group in ("kubernetes.core.k8s", "kubernetes.core.k8s_info",
                                               "kubernetes.core.k8s_scale", "kubernetes.core.k8s_rollback")},
             "tasks": tasks}]


def run(sandbox, tasks):
    result = sandbox.playbook(play(sandbox, tasks))
    assert result.data is not None, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_k8s_present_patched_and_absent(sandbox, ns):
    config = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "app-settings", "namespace": ns, "labels": {"app": "research-lab"}},
              "data": {"LOG_LEVEL": "info"}}
    result = run(sandbox, [
        {"name": "create", "kubernetes.core.k8s": {"state": "present", "definition": config}},
        {"name": "create again", "kubernetes.core.k8s": {"state": "present", "definition": config}},
        {"name": "patch", "kubernetes.core.k8s": {
            "state": "patched", "kind": "ConfigMap", "name": "app-settings", "namespace": ns,
            "definition": {"data": {"LOG_LEVEL": "debug"}}}},
        {"name": "patch a missing object", "kubernetes.core.k8s": {
            "state": "patched", "kind": "ConfigMap", "name": "nope", "namespace": ns,
            "definition": {"data": {"x": "y"}}}},
        {"name": "read after patch", "kubernetes.core.k8s_info": {
            "kind": "ConfigMap", "namespace": ns, "label_selectors": ["app=research-lab"]}},
        {"name": "delete", "kubernetes.core.k8s": {
            "state": "absent", "kind": "ConfigMap", "name": "app-settings", "namespace": ns, "wait": True,
            "wait_sleep": 1}},
        {"name": "delete again", "kubernetes.core.k8s": {
            "state": "absent", "kind": "ConfigMap", "name": "app-settings", "namespace": ns}},
    ])
    assert not result.failed, result.stdout[-3000:]
    created = result.task("create")
    assert created["changed"] is True and created["result"]["metadata"]["uid"]
    again = result.task("create again")
    assert again["changed"] is False
    assert again["result"]["metadata"]["resourceVersion"] == created["result"]["metadata"]["resourceVersion"]
    patched = result.task("patch")
    assert patched["changed"] is True and patched["result"]["data"] == {"LOG_LEVEL": "debug"}
    # "If the resource doesn't exist, silently skip it."
    assert result.task("patch a missing object")["changed"] is False
    read = result.task("read after patch")["resources"]
    assert [(r["metadata"]["name"], r["data"]) for r in read] == [("app-settings", {"LOG_LEVEL": "debug"})]
    assert result.task("delete")["changed"] is True
    assert result.task("delete again")["changed"] is False
    assert sandbox.kubectl("get", "configmaps", "-n", ns, "-l", "app=research-lab", "-o", "name").stdout == ""


def test_k8s_info_wait_k8s_scale_and_k8s_rollback_on_a_deployment(sandbox, ns):
    web = deployment("web", replicas=1)
    web["metadata"]["namespace"] = ns
    where = {"kind": "Deployment", "name": "web", "namespace": ns}
    result = run(sandbox, [
        {"name": "create", "kubernetes.core.k8s": {"state": "present", "definition": web}},
        {"name": "wait until ready", "kubernetes.core.k8s_info": dict(where, wait=True, wait_sleep=1,
                                                                       wait_timeout=60)},
        {"name": "scale", "kubernetes.core.k8s_scale": dict(where, replicas=2, wait=True, wait_sleep=1,
                                                              wait_timeout=60)},
        {"name": "scale only from 5", "kubernetes.core.k8s_scale": dict(where, replicas=1, current_replicas=5,
                                                                          wait=False)},
        {"name": "new image", "kubernetes.core.k8s": dict(where, state="patched", definition={
            "spec": {"template": {"spec": {"containers": [{"name": "api", "image": API_IMAGE % "v1.2.4"}]}}}})},
        {"name": "wait for the new image", "kubernetes.core.k8s_info": dict(where, wait=True, wait_sleep=1,
                                                                             wait_timeout=60)},
        {"name": "rollback", "kubernetes.core.k8s_rollback": dict(where, api_version="apps/v1")},
        {"name": "wait for the rollback", "kubernetes.core.k8s_info": dict(where, wait=True, wait_sleep=1,
                                                                            wait_timeout=60)},
    ])
    assert not result.failed, result.stdout[-3000:]
    assert result.task("create")["changed"] is True

    ready = result.task("wait until ready")["resources"][0]["status"]
    assert ready["readyReplicas"] == 1 and ready["availableReplicas"] == 1
    assert {c["type"]: c["status"] for c in ready["conditions"]}["Available"] == "True"

    scaled = result.task("scale")
    assert scaled["changed"] is True
    assert scaled["result"]["spec"]["replicas"] == 2 and scaled["result"]["status"]["readyReplicas"] == 2
    # current_replicas is a precondition: 2 replicas are not 5, so nothing changes.
    assert result.task("scale only from 5")["changed"] is False

    rolled = result.task("wait for the new image")["resources"][0]
    assert rolled["spec"]["template"]["spec"]["containers"][0]["image"] == API_IMAGE % "v1.2.4"
    assert rolled["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert rolled["status"]["updatedReplicas"] == 2 and rolled["status"]["availableReplicas"] == 2

    rollback = result.task("rollback")
    assert rollback["changed"] is True
    back = result.task("wait for the rollback")["resources"][0]
    assert back["spec"]["template"]["spec"]["containers"][0]["image"] == API_IMAGE % "v1.2.3"
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert back["status"]["updatedReplicas"] == 2 and back["status"]["availableReplicas"] == 2

    pods = sandbox.kubectl_json("get", "pods", "-n", ns, "-l", "app=web")["items"]
    images = {p["spec"]["containers"][0]["image"] for p in pods if not p["metadata"].get("deletionTimestamp")}
    assert images == {API_IMAGE % "v1.2.3"}


def test_k8s_info_wait_fails_for_a_deployment_that_never_becomes_ready(sandbox, ns):
    stuck = deployment("stuck", image="registry.invalid/missing:1.0")
    stuck["metadata"]["namespace"] = ns
    sandbox.apply(stuck)
    result = run(sandbox, [{"name": "wait", "ignore_errors": True, "kubernetes.core.k8s_info": {
        "kind": "Deployment", "name": "stuck", "namespace": ns, "wait": True, "wait_sleep": 1, "wait_timeout": 3}}])
    waited = result.task("wait")
    assert waited.get("failed") is True
    assert "Failed to gather information about Deployment(s) even after waiting for 3 seconds" in waited["msg"]
