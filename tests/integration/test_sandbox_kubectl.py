"""Real kubectl against the sandbox cluster (issue 2, "Show": kubectl).

Everything goes through /usr/bin/kubectl with the sandbox's kubeconfig, and the assertions
read what kubectl prints or what it reads back (-o jsonpath / -o json), as a user would.
"""
import json

import psutil
import pytest
import requests
import yaml

from .conftest import API_IMAGE, deployment, manifest

pytestmark = pytest.mark.sandbox

BLUE = "research-lab-api-blue"


@pytest.fixture(scope="module")
def blue(sandbox):
    """The specification's stable Service and blue Deployment, created with kubectl create -f."""
    ns = sandbox.app_namespace("kubectl")
    docs = manifest("service-stable", ns) + manifest("deployment-blue", ns)
    created = sandbox.kubectl("create", "-f", "-", input=yaml.safe_dump_all(docs))
    yield ns, created.stdout
    sandbox.delete_namespace(ns)


@pytest.fixture
def ns(sandbox):
    name = sandbox.namespace("kubectl")
    yield name
    sandbox.delete_namespace(name)


def jsonpath(sandbox, ns, what, path):
    return sandbox.kubectl("get", *what.split(), "-n", ns, "-o", "jsonpath=" + path).stdout


def serving_ips(sandbox, ns, selector):
    """Pod IPs of the pods not being deleted (old pods of a rollout may still be terminating)."""
    pods = sandbox.kubectl_json("get", "pods", "-n", ns, "-l", selector)["items"]
    return [p["status"]["podIP"] for p in pods if not p["metadata"].get("deletionTimestamp")]


def create_small(sandbox, ns, name, replicas=1):
    sandbox.apply(deployment(name, replicas=replicas), namespace=ns)
    sandbox.kubectl("rollout", "status", "deployment/" + name, "-n", ns, "--timeout=60s")


def test_create_f_makes_the_specs_service_and_blue_deployment_which_becomes_available(sandbox, blue):
    ns, created = blue
    assert created.splitlines() == ["service/research-lab-api created", "deployment.apps/%s created" % BLUE]
    waited = sandbox.kubectl("wait", "--for=condition=Available", "deployment/" + BLUE, "-n", ns, "--timeout=90s")
    assert waited.stdout.strip() == "deployment.apps/%s condition met" % BLUE
    table = sandbox.kubectl("get", "deployment", BLUE, "-n", ns).stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE"]
    assert table[1].split()[:4] == [BLUE, "3/3", "3", "3"]


def test_get_with_jsonpath_reads_fields_of_the_created_objects(sandbox, blue):
    ns, _ = blue
    sandbox.kubectl("wait", "--for=condition=Available", "deployment/" + BLUE, "-n", ns, "--timeout=90s")
    assert jsonpath(sandbox, ns, "deployment " + BLUE, "{.spec.template.spec.containers[0].image}") == \
        API_IMAGE % "v1.2.3"
    assert jsonpath(sandbox, ns, "deployment " + BLUE, "{.spec.strategy.rollingUpdate.maxSurge}") == "1"
    assert jsonpath(sandbox, ns, "service research-lab-api", "{.spec.selector.version}") == "stable"
    assert jsonpath(sandbox, ns, "service research-lab-api", "{.spec.ports[*].port}") == "8080 9090"
    ips = jsonpath(sandbox, ns, "pods -l environment=blue", "{.items[*].status.podIP}").split()
    assert len(ips) == 3 and len(set(ips)) == 3 and all(ip.startswith("127.") for ip in ips)
    # The Service's Endpoints list exactly those pods, as ready addresses.
    ready = jsonpath(sandbox, ns, "endpoints research-lab-api", "{.subsets[*].addresses[*].ip}").split()
    assert sorted(ready) == sorted(ips)


def test_get_all_and_get_nodes_print_the_usual_tables(sandbox, blue):
    ns, _ = blue
    sandbox.kubectl("wait", "--for=condition=Available", "deployment/" + BLUE, "-n", ns, "--timeout=90s")
    listed = sandbox.kubectl("get", "all", "-n", ns, "-o", "name").stdout.split()
    kinds = sorted({name.split("/")[0] for name in listed})
    assert kinds == ["deployment.apps", "pod", "replicaset.apps", "service"]
    assert "deployment.apps/" + BLUE in listed and "service/research-lab-api" in listed
    nodes = sandbox.kubectl("get", "nodes").stdout.splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes[1].split()[:3] == ["sandbox-node", "Ready", "control-plane"]


def test_label_adds_refuses_to_change_without_overwrite_and_removes(sandbox, blue):
    ns, _ = blue
    target = ("deployment", BLUE, "-n", ns)
    assert sandbox.kubectl("label", *target, "team=ml-platform").stdout.strip() == \
        "deployment.apps/%s labeled" % BLUE
    assert jsonpath(sandbox, ns, "deployment " + BLUE, "{.metadata.labels.team}") == "ml-platform"
    refused = sandbox.kubectl("label", *target, "team=other", check=False)
    assert refused.returncode != 0 and "'team' already has a value (ml-platform)" in refused.stderr
    sandbox.kubectl("label", *target, "team=research", "--overwrite")
    assert jsonpath(sandbox, ns, "deployment " + BLUE, "{.metadata.labels.team}") == "research"
    sandbox.kubectl("label", *target, "team-")
    labels = json.loads(jsonpath(sandbox, ns, "deployment " + BLUE, "{.metadata.labels}"))
    assert labels == {"app": "research-lab", "tier": "api", "environment": "blue"}


def test_annotate_needs_overwrite_to_change_a_value(sandbox, blue):
    ns, _ = blue
    target = ("deployment", BLUE, "-n", ns)
    assert sandbox.kubectl("annotate", *target, "owner=team-a").stdout.strip() == \
        "deployment.apps/%s annotated" % BLUE
    refused = sandbox.kubectl("annotate", *target, "owner=team-b", check=False)
    assert refused.returncode != 0 and "--overwrite is false" in refused.stderr
    assert jsonpath(sandbox, ns, "deployment " + BLUE, "{.metadata.annotations.owner}") == "team-a"
    sandbox.kubectl("annotate", *target, "owner=team-b", "--overwrite")
    assert jsonpath(sandbox, ns, "deployment " + BLUE, "{.metadata.annotations.owner}") == "team-b"


def test_patch_merge_and_json_change_the_spec_and_bump_generation(sandbox, blue):
    ns, _ = blue
    target = ("deployment", BLUE, "-n", ns)
    generation = int(jsonpath(sandbox, ns, "deployment " + BLUE, "{.metadata.generation}"))
    merged = sandbox.kubectl("patch", *target, "--type", "merge", "-p", '{"spec":{"revisionHistoryLimit":7}}')
    assert merged.stdout.strip() == "deployment.apps/%s patched" % BLUE
    assert jsonpath(sandbox, ns, "deployment " + BLUE, "{.spec.revisionHistoryLimit}") == "7"
    sandbox.kubectl("patch", *target, "--type", "json",
                    "-p", '[{"op":"replace","path":"/spec/progressDeadlineSeconds","value":120},'
                          '{"op":"add","path":"/metadata/labels/patched","value":"json"}]')
    assert jsonpath(sandbox, ns, "deployment " + BLUE, "{.spec.progressDeadlineSeconds}") == "120"
    assert jsonpath(sandbox, ns, "deployment " + BLUE, "{.metadata.labels.patched}") == "json"
    assert int(jsonpath(sandbox, ns, "deployment " + BLUE, "{.metadata.generation}")) == generation + 2
    # A failing JSON patch "test" operation changes nothing.
    failed = sandbox.kubectl("patch", *target, "--type", "json",
                             "-p", '[{"op":"test","path":"/spec/revisionHistoryLimit","value":3},'
                                   '{"op":"replace","path":"/spec/revisionHistoryLimit","value":1}]', check=False)
    assert failed.returncode != 0
    assert jsonpath(sandbox, ns, "deployment " + BLUE, "{.spec.revisionHistoryLimit}") == "7"


def test_strategic_patch_merges_containers_and_env_by_name(sandbox, ns):
    create_small(sandbox, ns, "strategic")
    target = ("deployment", "strategic", "-n", ns)
    sandbox.kubectl("set", "env", *target, "KEEP=1", "DROP=2")
    patch = {"spec": {"template": {"spec": {"containers": [{
        "name": "api", "env": [{"name": "ADDED", "value": "3"}, {"name": "DROP", "$patch": "delete"}]}]}}}}
    out = sandbox.kubectl("patch", *target, "--type", "strategic", "-p", json.dumps(patch))
    assert out.stdout.strip() == "deployment.apps/strategic patched"
    container = json.loads(jsonpath(sandbox, ns, "deployment strategic", "{.spec.template.spec.containers[0]}"))
    # Merged into the existing container (image and ports kept), env merged by name.
    assert container["image"] == API_IMAGE % "v1.2.3"
    assert container["ports"][0]["containerPort"] == 8080
    assert {e["name"]: e["value"] for e in container["env"]} == {"ADDED": "3", "KEEP": "1"}
    sandbox.kubectl("rollout", "status", "deployment/strategic", "-n", ns, "--timeout=60s")
    # The new pod really got the merged environment.
    pods = sandbox.kubectl_json("get", "pods", "-n", ns, "-l", "app=strategic")["items"]
    pod = next(p for p in pods if not p["metadata"].get("deletionTimestamp"))  # the old one may be terminating
    pid = int(pod["status"]["containerStatuses"][0]["containerID"].split("://")[1])
    environ = psutil.Process(pid).environ()
    assert environ["ADDED"] == "3" and environ["KEEP"] == "1" and "DROP" not in environ


def test_scale_changes_the_number_of_running_pods(sandbox, ns):
    create_small(sandbox, ns, "scaled")
    out = sandbox.kubectl("scale", "deployment", "scaled", "-n", ns, "--replicas=3")
    assert out.stdout.strip() == "deployment.apps/scaled scaled"
    sandbox.kubectl("rollout", "status", "deployment/scaled", "-n", ns, "--timeout=60s")
    assert jsonpath(sandbox, ns, "deployment scaled", "{.status.readyReplicas}") == "3"
    phases = jsonpath(sandbox, ns, "pods -l app=scaled", "{.items[*].status.phase}").split()
    assert phases == ["Running"] * 3
    sandbox.kubectl("scale", "deployment", "scaled", "-n", ns, "--replicas=1")
    sandbox.wait_for(lambda: len(jsonpath(sandbox, ns, "pods -l app=scaled", "{.items[*].metadata.name}").split()) == 1,
                     what="scaled down to one pod")
    assert jsonpath(sandbox, ns, "replicasets -l app=scaled", "{.items[*].spec.replicas}") == "1"


def test_set_image_rollout_status_history_and_undo(sandbox, blue):
    ns, _ = blue
    dep = "deployment/" + BLUE
    sandbox.kubectl("rollout", "status", dep, "-n", ns, "--timeout=90s")
    before_image = jsonpath(sandbox, ns, "deployment " + BLUE, "{.spec.template.spec.containers[0].image}")
    before_rev = int(jsonpath(sandbox, ns, "deployment " + BLUE,
                              "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"))
    out = sandbox.kubectl("set", "image", dep, "api=" + API_IMAGE % "v1.2.4", "-n", ns)
    assert out.stdout.strip() == "deployment.apps/%s image updated" % BLUE
    # rollout status is a watch: it returns once the new pods are available.
    status = sandbox.kubectl("rollout", "status", dep, "-n", ns, "--timeout=90s")
    assert status.stdout.strip().splitlines()[-1] == 'deployment "%s" successfully rolled out' % BLUE
    ips = serving_ips(sandbox, ns, "environment=blue")
    assert [requests.get("http://%s:8080/api/v1/status" % ip, timeout=5).json()["version"] for ip in ips] == \
        ["v1.2.4"] * len(ips)

    history = sandbox.kubectl("rollout", "history", dep, "-n", ns).stdout
    revisions = [line.split()[0] for line in history.splitlines()[2:] if line.strip()]
    assert revisions == [str(before_rev), str(before_rev + 1)]
    detail = sandbox.kubectl("rollout", "history", dep, "-n", ns, "--revision=%d" % (before_rev + 1)).stdout
    assert API_IMAGE % "v1.2.4" in detail

    undone = sandbox.kubectl("rollout", "undo", dep, "-n", ns)
    assert undone.stdout.strip() == "deployment.apps/%s rolled back" % BLUE
    sandbox.kubectl("rollout", "status", dep, "-n", ns, "--timeout=90s")
    assert jsonpath(sandbox, ns, "deployment " + BLUE, "{.spec.template.spec.containers[0].image}") == before_image
    # Going back re-uses the old ReplicaSet under the next revision number, as Kubernetes does.
    assert jsonpath(sandbox, ns, "deployment " + BLUE,
                    "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}") == str(before_rev + 2)
    history = sandbox.kubectl("rollout", "history", dep, "-n", ns).stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == \
        [str(before_rev + 1), str(before_rev + 2)]
    ips = serving_ips(sandbox, ns, "environment=blue")
    assert {requests.get("http://%s:8080/api/v1/status" % ip, timeout=5).json()["version"] for ip in ips} == \
        {before_image.rsplit(":", 1)[1]}


def test_delete_cascades_to_replicasets_and_pods_and_stops_their_processes(sandbox, ns):
    create_small(sandbox, ns, "doomed", replicas=2)
    sandbox.kubectl("set", "image", "deployment/doomed", "api=" + API_IMAGE % "v1.2.4", "-n", ns)
    sandbox.kubectl("rollout", "status", "deployment/doomed", "-n", ns, "--timeout=60s")
    assert len(jsonpath(sandbox, ns, "replicasets -l app=doomed", "{.items[*].metadata.name}").split()) == 2
    pods = sandbox.kubectl_json("get", "pods", "-n", ns, "-l", "app=doomed")["items"]
    pids = [int(p["status"]["containerStatuses"][0]["containerID"].split("://")[1]) for p in pods
            if not p["metadata"].get("deletionTimestamp")]
    assert len(pids) == 2 and all(psutil.pid_exists(pid) for pid in pids)

    out = sandbox.kubectl("delete", "deployment", "doomed", "-n", ns)
    assert out.stdout.strip() == 'deployment.apps "doomed" deleted'
    sandbox.wait_for(lambda: sandbox.kubectl("get", "replicasets,pods", "-n", ns, "-o", "name").stdout == "",
                     what="ReplicaSets and pods of the deleted Deployment to go")
    sandbox.wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=15, what="pod processes to exit")


def test_deleting_a_namespace_stops_the_processes_of_its_pods(sandbox):
    ns = sandbox.namespace("kubectl-gone")
    create_small(sandbox, ns, "inside", replicas=2)
    sandbox.kubectl("run", "bare", "--image=" + API_IMAGE % "v1.2.3", "-n", ns)
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/bare", "-n", ns, "--timeout=60s")
    pods = sandbox.kubectl_json("get", "pods", "-n", ns)["items"]
    pids = [int(p["status"]["containerStatuses"][0]["containerID"].split("://")[1]) for p in pods]
    assert len(pids) == 3 and all(_alive(pid) for pid in pids)
    out = sandbox.kubectl("delete", "namespace", ns, "--timeout=60s")
    assert out.stdout.strip() == 'namespace "%s" deleted' % ns
    assert sandbox.kubectl("get", "namespace", ns, check=False).returncode == 1
    sandbox.wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=15, what="pod processes to exit")


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
