"""JSON merge patch, JSON patch and strategic merge patch, with what kubectl really sends."""
import copy

import pytest

from tests.sandbox.apiserver.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from tests.unit.sandbox import deployment_blue, ingress_canary, service_stable


def containers(deployment):
    return deployment["spec"]["template"]["spec"]["containers"]


def api_container(deployment):
    return next(c for c in containers(deployment) if c["name"] == "api")


def unchanged(fn, target, patch, *args):
    """Apply ``fn`` and check neither input was touched."""
    before_target, before_patch = copy.deepcopy(target), copy.deepcopy(patch)
    result = fn(target, patch, *args)
    assert target == before_target
    assert patch == before_patch
    return result


# ================================================================ RFC 7386
# The test vectors of RFC 7386, appendix A.
@pytest.mark.parametrize("target, patch, expected", [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_merge_patch_rfc7386_vectors(target, patch, expected):
    assert unchanged(merge_patch, target, patch) == expected


def test_merge_patch_canary_weight_annotations_as_kubectl_annotate_sends():
    ingress = ingress_canary()
    result = unchanged(merge_patch, ingress, {"metadata": {"annotations": {
        "nginx.ingress.kubernetes.io/canary-weight": "25"}}})
    annotations = result["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == "25"
    assert annotations["nginx.ingress.kubernetes.io/canary-by-header"] == "X-Canary"
    # `kubectl annotate ... canary-weight-` removes the key with null.
    result = merge_patch(result, {"metadata": {"annotations": {
        "nginx.ingress.kubernetes.io/canary-weight": None}}})
    assert "nginx.ingress.kubernetes.io/canary-weight" not in result["metadata"]["annotations"]


def test_merge_patch_replaces_lists_whole():
    deployment = deployment_blue()
    result = merge_patch(deployment, {"spec": {"template": {"spec": {"containers": [
        {"name": "api", "image": "x:v2"}]}}}})
    assert containers(result) == [{"name": "api", "image": "x:v2"}]


@pytest.mark.parametrize("patch", [[{"op": "add"}], "x", 3, None])
def test_merge_patch_must_be_an_object(patch):
    with pytest.raises(PatchError, match="merge patch must be a JSON object"):
        merge_patch({"a": 1}, patch)


# ================================================================ RFC 6902
def test_json_patch_operations():
    deployment = deployment_blue()
    result = unchanged(json_patch, deployment, [
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "add", "path": "/metadata/labels/track", "value": "stable"},
        {"op": "remove", "path": "/metadata/labels/environment"},
        {"op": "add", "path": "/spec/template/spec/containers/0/env/-",
         "value": {"name": "NEW", "value": "1"}},
        {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copied"},
        {"op": "move", "from": "/metadata/labels/copied", "path": "/metadata/labels/moved"},
    ])
    assert result["spec"]["replicas"] == 5
    assert result["metadata"]["labels"] == {"app": "research-lab", "tier": "api",
                                            "track": "stable", "moved": "research-lab"}
    assert api_container(result)["env"][-1] == {"name": "NEW", "value": "1"}


def test_json_patch_as_kubectl_rollout_undo_sends_it():
    # kubectl rollout undo replaces the template and the annotations with a JSON patch.
    deployment = deployment_blue()
    # A live Deployment always carries the controller's revision annotation.
    deployment["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "4"}
    template = copy.deepcopy(deployment["spec"]["template"])
    api_container({"spec": {"template": template}})["image"] = "harbor.example.com/llm-research-lab/api:v1.2.2"
    annotations = {"deployment.kubernetes.io/revision": "3", "team": "research"}
    result = json_patch(deployment, [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ])
    assert api_container(result)["image"].endswith(":v1.2.2")
    assert result["metadata"]["annotations"] == annotations


def test_json_patch_result_does_not_share_values_with_the_ops():
    ops = [{"op": "add", "path": "/data", "value": {"k": "v"}}]
    result = json_patch({"metadata": {"name": "c"}}, ops)
    result["data"]["k"] = "changed"
    assert ops[0]["value"] == {"k": "v"}


def test_json_patch_failed_test_names_the_operation_and_path():
    with pytest.raises(PatchError) as err:
        json_patch(deployment_blue(), [{"op": "test", "path": "/spec/replicas", "value": 4}])
    assert "JSON patch operation 0 (test /spec/replicas) failed" in str(err.value)


@pytest.mark.parametrize("ops, message", [
    ([{"op": "replace", "path": "/spec/missing", "value": 1}], "operation 0 (replace /spec/missing) cannot be applied"),
    ([{"op": "remove", "path": "/nope"}], "operation 0 (remove /nope) cannot be applied"),
    ([{"op": "add", "path": "spec", "value": 1}], "operation 0 (add spec) cannot be applied"),
    ([{"path": "/spec"}], "operation 0 is malformed: Operation does not contain 'op' member"),
    ([{"op": "frobnicate", "path": "/spec"}], "operation 0 is malformed: Unknown operation 'frobnicate'"),
    ([{"op": "test", "path": "/spec/replicas", "value": 3}, "nope"], "operation 1 must be an object"),
    ({"op": "add"}, "must be a JSON array of operations"),
    ([{"op": "replace", "path": "", "value": [1]}], "it must stay a JSON object"),
])
def test_json_patch_errors(ops, message):
    with pytest.raises(PatchError) as err:
        json_patch(deployment_blue(), ops)
    assert message in str(err.value)


# ================================================================ strategic merge patch
SET_IMAGE = {"spec": {"template": {"spec": {
    "$setElementOrder/containers": [{"name": "api"}],
    "containers": [{"image": "x:v2", "name": "api"}],
}}}}


def test_kubectl_set_image_changes_only_the_image():
    deployment = deployment_blue()
    result = unchanged(strategic_merge_patch, deployment, SET_IMAGE, "deployments")
    expected = deployment_blue()
    api_container(expected)["image"] = "x:v2"
    assert result == expected


def test_kubectl_set_image_keeps_other_containers_in_order():
    deployment = deployment_blue()
    containers(deployment).append({"name": "sidecar", "image": "envoy:1.30"})
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "api"}, {"name": "sidecar"}],
        "containers": [{"image": "envoy:1.31", "name": "sidecar"}],
    }}}}
    result = strategic_merge_patch(deployment, patch, "deployments")
    assert [(c["name"], c["image"]) for c in containers(result)] == [
        ("api", "harbor.example.com/llm-research-lab/api:v1.2.3"), ("sidecar", "envoy:1.31")]


def test_set_element_order_reorders_the_merged_list():
    deployment = deployment_blue()
    containers(deployment).append({"name": "sidecar", "image": "envoy:1.30"})
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "api"}]}}}}
    result = strategic_merge_patch(deployment, patch, "deployments")
    assert [c["name"] for c in containers(result)] == ["sidecar", "api"]
    assert api_container(result) == api_container(deployment)


def test_set_element_order_must_agree_with_the_patch_list():
    deployment = deployment_blue()
    containers(deployment).append({"name": "sidecar", "image": "envoy"})
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "api"}, {"name": "sidecar"}],
        "containers": [{"name": "sidecar", "image": "a"}, {"name": "api", "image": "b"}]}}}}
    with pytest.raises(PatchError, match="doesn't match \\$setElementOrder list"):
        strategic_merge_patch(deployment, patch, "deployments")


def test_env_merges_by_name():
    deployment = deployment_blue()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "api", "env": [
        {"name": "RUST_LOG", "value": "warn"},
        {"name": "FEATURE_X", "value": "on"},
    ]}]}}}}
    env = api_container(unchanged(strategic_merge_patch, deployment, patch, "deployments"))["env"]
    by_name = {e["name"]: e for e in env}
    assert by_name["RUST_LOG"] == {"name": "RUST_LOG", "value": "warn"}
    assert by_name["FEATURE_X"] == {"name": "FEATURE_X", "value": "on"}
    # Untouched entries survive intact, including valueFrom.
    assert by_name["DATABASE_URL"] == api_container(deployment)["env"][1]
    assert len(env) == 5
    # Kubernetes' exact order: patched items in patch order, interleaved with the server-only
    # ones by live position; an item the live list lacks lands before the server-only items
    # after it (k8s.io/apimachinery strategicpatch mergeSortedSlice).
    assert [e["name"] for e in env] == ["RUST_LOG", "FEATURE_X", "DATABASE_URL", "KAFKA_BROKERS",
                                        "REDIS_URL"]


def test_env_new_item_after_the_last_live_item_is_appended():
    deployment = deployment_blue()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "api", "env": [
        {"name": "REDIS_URL", "value": "redis://other:6379"},
        {"name": "ZED", "value": "1"},
    ]}]}}}}
    env = api_container(strategic_merge_patch(deployment, patch, "deployments"))["env"]
    assert [e["name"] for e in env] == ["RUST_LOG", "DATABASE_URL", "KAFKA_BROKERS", "REDIS_URL", "ZED"]
    assert env[3]["value"] == "redis://other:6379"


def test_upstream_case_preserve_the_order_from_the_patch():
    # "preserve the order from the patch in a merging list 2" of strategicpatch's tests.
    deployment = deployment_blue()
    containers(deployment)[:] = [{"name": "one"}, {"name": "two", "image": "b"}, {"name": "three"}]
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "three", "image": "c"}, {"name": "one", "image": "a"}]}}}}
    result = strategic_merge_patch(deployment, patch, "deployments")
    assert containers(result) == [{"name": "two", "image": "b"}, {"name": "three", "image": "c"},
                                  {"name": "one", "image": "a"}]


def test_env_delete_directive_removes_one_variable():
    deployment = deployment_blue()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "api", "env": [
        {"$patch": "delete", "name": "KAFKA_BROKERS"}]}]}}}}
    env = api_container(strategic_merge_patch(deployment, patch, "deployments"))["env"]
    assert [e["name"] for e in env] == ["RUST_LOG", "DATABASE_URL", "REDIS_URL"]


def test_delete_directive_for_a_missing_item_is_a_no_op():
    deployment = deployment_blue()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "api", "env": [
        {"$patch": "delete", "name": "NOT_THERE"}]}]}}}}
    assert strategic_merge_patch(deployment, patch, "deployments") == deployment


def test_replace_directive_in_a_list_replaces_the_list():
    deployment = deployment_blue()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "api", "env": [
        {"$patch": "replace"}, {"name": "ONLY", "value": "1"}]}]}}}}
    env = api_container(strategic_merge_patch(deployment, patch, "deployments"))["env"]
    assert env == [{"name": "ONLY", "value": "1"}]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "api", "env": [
        {"$patch": "replace"}]}]}}}}
    assert api_container(strategic_merge_patch(deployment, patch, "deployments"))["env"] == []


def test_a_new_merge_list_is_taken_as_given():
    # With nothing to merge into, Kubernetes keeps the patch's list, duplicates included, and
    # only consumes the directive elements (checked against kubectl patch --local).
    deployment = deployment_blue()
    del api_container(deployment)["env"]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "api", "env": [
        {"name": "A", "value": "1"}, {"name": "A", "value": "2"},
        {"$patch": "delete", "name": "B"}, {"name": "C", "value": "3", "valueFrom": None}]}]}}}}
    env = api_container(strategic_merge_patch(deployment, patch, "deployments"))["env"]
    assert env == [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}, {"name": "C", "value": "3"}]


def test_ports_merge_by_container_port():
    deployment = deployment_blue()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "api", "ports": [
        {"containerPort": 9090, "name": "prom"}, {"containerPort": 8443, "name": "https"}]}]}}}}
    ports = api_container(strategic_merge_patch(deployment, patch, "deployments"))["ports"]
    assert sorted((p["containerPort"], p["name"]) for p in ports) == [
        (8080, "http"), (8443, "https"), (9090, "prom")]


def test_volumes_and_volume_mounts_merge():
    deployment = deployment_blue()
    pod_spec = deployment["spec"]["template"]["spec"]
    pod_spec["volumes"] = [{"name": "config", "configMap": {"name": "api-config"}}]
    api_container(deployment)["volumeMounts"] = [{"name": "config", "mountPath": "/etc/api"}]
    patch = {"spec": {"template": {"spec": {
        "volumes": [{"name": "cache", "emptyDir": {}}],
        "containers": [{"name": "api", "volumeMounts": [
            {"name": "cache", "mountPath": "/cache"},
            {"mountPath": "/etc/api", "readOnly": True}]}]}}}}
    result = strategic_merge_patch(deployment, patch, "deployments")
    assert sorted(v["name"] for v in result["spec"]["template"]["spec"]["volumes"]) == ["cache", "config"]
    mounts = {m["mountPath"]: m for m in api_container(result)["volumeMounts"]}
    assert mounts["/etc/api"] == {"name": "config", "mountPath": "/etc/api", "readOnly": True}
    assert mounts["/cache"] == {"name": "cache", "mountPath": "/cache"}


def test_volume_retain_keys_switches_the_volume_source():
    deployment = deployment_blue()
    deployment["spec"]["template"]["spec"]["volumes"] = [
        {"name": "data", "emptyDir": {}}]
    patch = {"spec": {"template": {"spec": {"volumes": [
        {"$retainKeys": ["name", "persistentVolumeClaim"], "name": "data",
         "persistentVolumeClaim": {"claimName": "data"}}]}}}}
    result = strategic_merge_patch(deployment, patch, "deployments")
    assert result["spec"]["template"]["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]


def test_tolerations_and_args_are_replaced():
    deployment = deployment_blue()
    pod_spec = deployment["spec"]["template"]["spec"]
    pod_spec["tolerations"] = [{"key": "a", "operator": "Exists"}]
    api_container(deployment)["args"] = ["--a", "--b"]
    patch = {"spec": {"template": {"spec": {
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "containers": [{"name": "api", "args": ["--c"]}]}}}}
    result = strategic_merge_patch(deployment, patch, "deployments")
    assert result["spec"]["template"]["spec"]["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert api_container(result)["args"] == ["--c"]


def test_pod_spec_merge_keys_apply_to_pods_and_replicasets_too():
    pod_spec = copy.deepcopy(deployment_blue()["spec"]["template"]["spec"])
    pod = {"metadata": {"name": "p"}, "spec": copy.deepcopy(pod_spec)}
    replicaset = {"metadata": {"name": "r"}, "spec": {"template": {"spec": copy.deepcopy(pod_spec)}}}
    env_patch = {"containers": [{"name": "api", "env": [{"name": "RUST_LOG", "value": "warn"}]}]}
    pod = strategic_merge_patch(pod, {"spec": env_patch}, "pods")
    replicaset = strategic_merge_patch(replicaset, {"spec": {"template": {"spec": env_patch}}}, "replicasets")
    for spec in (pod["spec"], replicaset["spec"]["template"]["spec"]):
        env = spec["containers"][0]["env"]
        assert len(env) == 4
        assert env[0] == {"name": "RUST_LOG", "value": "warn"}


def test_image_pull_secrets_and_host_aliases_merge():
    pod = {"metadata": {"name": "p"}, "spec": {
        "imagePullSecrets": [{"name": "harbor"}],
        "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["db"]}],
        "containers": [{"name": "api", "image": "x"}]}}
    patch = {"spec": {"imagePullSecrets": [{"name": "quay"}],
                      "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["db", "cache"]}]}}
    result = strategic_merge_patch(pod, patch, "pods")
    assert sorted(s["name"] for s in result["spec"]["imagePullSecrets"]) == ["harbor", "quay"]
    assert result["spec"]["hostAliases"] == [{"ip": "127.0.0.1", "hostnames": ["db", "cache"]}]


def test_service_ports_merge_by_port():
    service = service_stable()
    patch = {"spec": {"ports": [{"port": 9090, "targetPort": 9191}, {"port": 443, "name": "https",
                                                                   "targetPort": 8443}]}}
    result = unchanged(strategic_merge_patch, service, patch, "services")
    by_port = {p["port"]: p for p in result["spec"]["ports"]}
    assert by_port[8080] == service["spec"]["ports"][0]
    assert by_port[9090] == {"name": "metrics", "port": 9090, "targetPort": 9191, "protocol": "TCP"}
    assert by_port[443]["name"] == "https"


def test_service_selector_patch_is_a_map_merge():
    # The specification's switch patch adds a key; the colour key must be written and read the same.
    service = service_stable()
    result = strategic_merge_patch(service, {"spec": {"selector": {"environment": "green"}}}, "services")
    assert result["spec"]["selector"] == {"app": "research-lab", "tier": "api", "version": "stable",
                                          "environment": "green"}
    result = strategic_merge_patch(result, {"spec": {"selector": {"version": None}}}, "services")
    assert result["spec"]["selector"] == {"app": "research-lab", "tier": "api", "environment": "green"}


def test_replace_directive_in_a_map_replaces_the_selector():
    service = service_stable()
    patch = {"spec": {"selector": {"$patch": "replace", "app": "research-lab", "environment": "blue"}}}
    result = strategic_merge_patch(service, patch, "services")
    assert result["spec"]["selector"] == {"app": "research-lab", "environment": "blue"}
    assert result["spec"]["ports"] == service["spec"]["ports"]


def test_delete_directive_in_a_map_empties_it():
    # Kubernetes leaves {} behind (strategicpatch's "delete map from nested map" case; kubectl
    # patch --local agrees), it does not remove the key.
    deployment = deployment_blue()
    patch = {"spec": {"template": {"spec": {"affinity": {"$patch": "delete"}}}}}
    result = strategic_merge_patch(deployment, patch, "deployments")
    assert result["spec"]["template"]["spec"]["affinity"] == {}
    assert result["spec"]["template"]["spec"]["containers"] == containers(deployment)
    # A directive in a new value is consumed, never stored.
    result = strategic_merge_patch(deployment, {"metadata": {"annotations": {
        "$patch": "replace", "a": "b"}}}, "deployments")
    assert result["metadata"]["annotations"] == {"a": "b"}


def test_null_deletes_a_key():
    deployment = deployment_blue()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "api", "startupProbe": None}]}}}}
    result = strategic_merge_patch(deployment, patch, "deployments")
    assert "startupProbe" not in api_container(result)
    assert "livenessProbe" in api_container(result)


def test_kubectl_apply_switch_to_recreate_uses_retain_keys():
    deployment = deployment_blue()
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}
    result = strategic_merge_patch(deployment, patch, "deployments")
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_must_list_every_patched_field():
    deployment = deployment_blue()
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "RollingUpdate",
                                   "rollingUpdate": {"maxSurge": 2}}}}
    with pytest.raises(PatchError, match="retainKeys"):
        strategic_merge_patch(deployment, patch, "deployments")


def test_kubectl_rollout_restart_adds_a_template_annotation():
    deployment = deployment_blue()
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2025-11-28T10:00:00Z"}}}}}
    result = strategic_merge_patch(deployment, patch, "deployments")
    assert result["spec"]["template"]["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/restartedAt": "2025-11-28T10:00:00Z"}
    assert result["spec"]["template"]["metadata"]["labels"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_owner_references_merge_by_uid_and_finalizers_as_a_set():
    obj = {"metadata": {"name": "r", "finalizers": ["a.example.com/x"],
                        "ownerReferences": [{"uid": "1", "kind": "Deployment", "name": "d",
                                             "apiVersion": "apps/v1"}]}}
    patch = {"metadata": {"finalizers": ["b.example.com/y", "a.example.com/x"],
                          "ownerReferences": [{"uid": "1", "controller": True},
                                              {"uid": "2", "kind": "Deployment", "name": "e",
                                               "apiVersion": "apps/v1"}]}}
    result = strategic_merge_patch(obj, patch, "replicasets")
    assert sorted(result["metadata"]["finalizers"]) == ["a.example.com/x", "b.example.com/y"]
    refs = {r["uid"]: r for r in result["metadata"]["ownerReferences"]}
    assert refs["1"] == {"uid": "1", "kind": "Deployment", "name": "d", "apiVersion": "apps/v1",
                         "controller": True}
    assert refs["2"]["name"] == "e"


def test_delete_from_primitive_list():
    obj = {"metadata": {"name": "r", "finalizers": ["a", "b", "c"]}}
    result = strategic_merge_patch(obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
                                   "configmaps")
    assert result["metadata"]["finalizers"] == ["a", "c"]
    # Deleting from a missing list adds nothing.
    result = strategic_merge_patch({"metadata": {"name": "r"}},
                                   {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}, "configmaps")
    assert result == {"metadata": {"name": "r"}}


def test_primitive_set_with_element_order_as_kubectl_apply_sends_it():
    obj = {"metadata": {"name": "r", "finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["c", "a", "d"],
                          "$deleteFromPrimitiveList/finalizers": ["b"],
                          "finalizers": ["d"]}}
    result = strategic_merge_patch(obj, patch, "configmaps")
    assert result["metadata"]["finalizers"] == ["c", "a", "d"]


def test_status_conditions_merge_by_type():
    deployment = deployment_blue()
    deployment["status"] = {"conditions": [
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}
    patch = {"status": {"conditions": [{"type": "Available", "status": "True",
                                        "reason": "MinimumReplicasAvailable"}]}}
    result = strategic_merge_patch(deployment, patch, "deployments")
    assert result["status"]["conditions"] == [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]
    pod = {"metadata": {"name": "p"}, "status": {"conditions": [{"type": "Ready", "status": "False"}],
                                                 "podIPs": [{"ip": "127.0.1.2"}]}}
    result = strategic_merge_patch(pod, {"status": {"conditions": [
        {"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}]}}, "pods")
    assert {c["type"]: c["status"] for c in result["status"]["conditions"]} == {
        "Ready": "True", "ContainersReady": "True"}
    assert result["status"]["podIPs"] == [{"ip": "127.0.1.2"}]


def test_node_status_addresses_and_conditions_merge_by_type():
    node = {"metadata": {"name": "sandbox"}, "status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                      {"type": "Hostname", "address": "sandbox"}],
        "conditions": [{"type": "Ready", "status": "True"}]}}
    patch = {"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.2"}],
                        "conditions": [{"type": "MemoryPressure", "status": "False"}]}}
    result = strategic_merge_patch(node, patch, "nodes")
    assert {a["type"]: a["address"] for a in result["status"]["addresses"]} == {
        "InternalIP": "127.0.0.2", "Hostname": "sandbox"}
    assert len(result["status"]["conditions"]) == 2


def test_endpoints_subsets_are_replaced():
    endpoints = {"metadata": {"name": "research-lab-api"}, "subsets": [
        {"addresses": [{"ip": "127.0.1.2"}], "ports": [{"port": 8080, "name": "http"}]}]}
    patch = {"subsets": [{"addresses": [{"ip": "127.0.1.3"}], "ports": [{"port": 8080, "name": "http"}]}]}
    assert strategic_merge_patch(endpoints, patch, "endpoints")["subsets"] == patch["subsets"]


def test_ingress_rules_are_replaced_and_annotations_merged():
    ingress = ingress_canary()
    patch = {"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-weight": "50"}},
             "spec": {"rules": [{"host": "other.example.com", "http": {"paths": []}}]}}
    result = strategic_merge_patch(ingress, patch, "ingresses")
    assert result["spec"]["rules"] == patch["spec"]["rules"]
    assert result["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"] == "true"
    assert result["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "50"


def test_a_changed_type_takes_the_patch_value():
    obj = {"metadata": {"name": "c"}, "data": {"a": "1"}}
    assert strategic_merge_patch(obj, {"data": "x"}, "configmaps")["data"] == "x"


def test_whole_object_replace_directive():
    obj = {"metadata": {"name": "c"}, "data": {"a": "1"}}
    patch = {"$patch": "replace", "metadata": {"name": "c"}, "data": {"b": "2"}}
    assert strategic_merge_patch(obj, patch, "configmaps") == {"metadata": {"name": "c"}, "data": {"b": "2"}}


@pytest.mark.parametrize("patch, message", [
    ({"spec": {"selector": {"$patch": "merge-please"}}}, "unknown patch type: merge-please"),
    ({"spec": {"ports": [{"$patch": "explode", "port": 8080}]}}, "unknown patch type: explode"),
    ({"spec": {"ports": [{"$patch": "merge"}]}}, "merging lists cannot yet be specified"),
    ({"spec": {"ports": [{"name": "no-port-key"}]}}, "does not contain declared merge key: port"),
    ({"spec": {"ports": [{"$patch": "delete", "name": "http"}]}}, "does not contain declared merge key: port"),
    ({"spec": {"$frobnicate": 1}}, "unknown strategic merge patch directive '$frobnicate'"),
    ({"spec": {"$setElementOrder/ports": "nope"}}, "setElementOrder"),
    ({"$patch": "delete"}, "cannot delete the whole object"),
    ({"spec": {"ports": [[1]]}}, "lists of lists"),
    ({"spec": {"ports": [{"port": 1}, 2]}}, "list element types are not identical"),
])
def test_strategic_merge_patch_errors(patch, message):
    with pytest.raises(PatchError) as err:
        strategic_merge_patch(service_stable(), patch, "services")
    assert message in str(err.value)


@pytest.mark.parametrize("patch", [[{"op": "add"}], "spec", 1, None])
def test_strategic_merge_patch_must_be_an_object(patch):
    with pytest.raises(PatchError, match="strategic merge patch must be a JSON object"):
        strategic_merge_patch(service_stable(), patch, "services")


def test_unknown_resource_is_refused():
    with pytest.raises(PatchError, match="not supported for resource 'widgets'"):
        strategic_merge_patch({}, {}, "widgets")


def test_patch_errors_are_value_errors():
    assert issubclass(PatchError, ValueError)
