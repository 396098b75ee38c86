"""Defaulting and validation: what kube-apiserver stores and the errors kubectl would print."""
import base64
import copy
from decimal import Decimal

import pytest

from tests.sandbox.apiserver.validation import (
    apply_defaults,
    invalid_message,
    parse_quantity,
    validate,
)
from tests.unit.sandbox import deployment_blue, ingress_canary, service_stable

DNS1123_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1123_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_LABEL = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def defaulted(resource, obj):
    apply_defaults(resource, obj)
    return obj


def errors(resource, obj, old=None):
    """Causes as "field: message" lines, the way kubectl prints them."""
    return ["%s: %s" % (c["field"], c["message"]) if c["field"] else c["message"]
            for c in validate(resource, obj, old)]


def blue():
    return defaulted("deployments", deployment_blue())


def pod_spec(deployment):
    return deployment["spec"]["template"]["spec"]


def api(deployment):
    return pod_spec(deployment)["containers"][0]


def simple_pod(**spec):
    pod = {"metadata": {"name": "api-0", "namespace": "llm-research-lab"},
           "spec": {"containers": [{"name": "api", "image": "sample:v1"}]}}
    pod["spec"].update(spec)
    return defaulted("pods", pod)


# ================================================================ defaults
def test_blue_deployment_defaults_are_what_kubernetes_stores():
    deployment = blue()
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    template_spec = pod_spec(deployment)
    for key, value in {"restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                       "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                       "securityContext": {}}.items():
        assert template_spec[key] == value
    container = api(deployment)
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    assert [p["protocol"] for p in container["ports"]] == ["TCP", "TCP"]
    assert container["livenessProbe"] == {
        "httpGet": {"path": "/health/live", "port": 8080, "scheme": "HTTP"},
        "initialDelaySeconds": 30, "periodSeconds": 10, "timeoutSeconds": 5,
        "failureThreshold": 3, "successThreshold": 1}
    assert container["readinessProbe"]["successThreshold"] == 1
    assert container["readinessProbe"]["periodSeconds"] == 5
    # Templates are not pods: no admission-added fields, no status.
    assert "serviceAccountName" not in template_spec
    assert "status" not in deployment
    assert validate("deployments", deployment) == []


def test_deployment_defaults_when_everything_is_left_out():
    deployment = defaulted("deployments", {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx",
                                                       "readinessProbe": {"tcpSocket": {"port": 80}},
                                                       "env": [{"name": "POD", "valueFrom": {
                                                           "fieldRef": {"fieldPath": "metadata.name"}}}]}]}}}})
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    container = spec["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "Always"       # no tag means latest
    assert container["resources"] == {}
    assert container["readinessProbe"] == {"tcpSocket": {"port": 80}, "timeoutSeconds": 1,
                                           "periodSeconds": 10, "successThreshold": 1,
                                           "failureThreshold": 3}
    assert container["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "metadata.name",
                                                            "apiVersion": "v1"}
    assert validate("deployments", deployment) == []


def test_recreate_strategy_gets_no_rolling_update():
    deployment = deployment_blue()
    deployment["spec"]["strategy"] = {"type": "Recreate"}
    assert defaulted("deployments", deployment)["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("image, policy", [
    ("nginx", "Always"),
    ("nginx:latest", "Always"),
    ("nginx:1.27", "IfNotPresent"),
    ("harbor.example.com:5000/llm-research-lab/api", "Always"),
    ("harbor.example.com:5000/llm-research-lab/api:v1.2.3", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ("nginx:latest@sha256:" + "a" * 64, "Always"),
])
def test_image_pull_policy_default(image, policy):
    pod = simple_pod()
    pod["spec"]["containers"][0] = {"name": "api", "image": image}
    assert defaulted("pods", pod)["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_explicit_values_are_kept():
    deployment = deployment_blue()
    deployment["spec"]["revisionHistoryLimit"] = 0
    deployment["spec"]["replicas"] = 0
    api(deployment)["imagePullPolicy"] = "Never"
    pod_spec(deployment)["terminationGracePeriodSeconds"] = 5
    deployment = defaulted("deployments", deployment)
    assert deployment["spec"]["revisionHistoryLimit"] == 0
    assert deployment["spec"]["replicas"] == 0
    assert api(deployment)["imagePullPolicy"] == "Never"
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] == 5


def test_defaulting_is_idempotent():
    for resource, obj in (("deployments", deployment_blue()), ("services", service_stable()),
                          ("ingresses", ingress_canary())):
        once = defaulted(resource, obj)
        assert defaulted(resource, copy.deepcopy(once)) == once


def test_pod_defaults_include_what_admission_adds():
    pod = {"metadata": {"name": "api-0", "namespace": "llm-research-lab"},
           "spec": copy.deepcopy(pod_spec(deployment_blue()))}
    pod = defaulted("pods", pod)
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "default"
    assert spec["serviceAccount"] == "default"
    assert spec["enableServiceLinks"] is True
    assert spec["priority"] == 0
    assert spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert spec["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}]
    assert pod["status"] == {"phase": "Pending", "qosClass": "Burstable"}
    assert validate("pods", pod) == []


def test_pod_requests_default_to_limits_and_qos_class():
    pod = simple_pod()
    assert pod["status"]["qosClass"] == "BestEffort"
    pod = {"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [
        {"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}
    pod = defaulted("pods", pod)
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert pod["status"]["qosClass"] == "Guaranteed"


def test_pod_keeps_its_own_tolerations_and_service_account():
    pod = simple_pod(serviceAccountName="deployer", tolerations=[{"operator": "Exists"}])
    assert pod["spec"]["serviceAccount"] == "deployer"
    assert pod["spec"]["tolerations"] == [{"operator": "Exists"}]   # already tolerates everything


def test_service_defaults():
    service = defaulted("services", service_stable())
    spec = service["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["ipFamilies"] == ["IPv4"]
    assert "externalTrafficPolicy" not in spec
    canary = defaulted("services", {"metadata": {"name": "research-lab-api-canary", "namespace": "ns"},
                                    "spec": {"selector": {"track": "canary"},
                                             "ports": [{"name": "http", "port": 8080}]}})
    assert canary["spec"]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP",
                                        "targetPort": 8080}]
    assert canary["spec"]["type"] == "ClusterIP"
    node_port = defaulted("services", {"metadata": {"name": "n", "namespace": "ns"}, "spec": {
        "type": "NodePort", "sessionAffinity": "ClientIP", "ports": [{"port": 80, "targetPort": "http"}]}})
    assert node_port["spec"]["externalTrafficPolicy"] == "Cluster"
    assert node_port["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert node_port["spec"]["ports"][0]["targetPort"] == "http"


def test_secret_defaults_fold_string_data_into_data():
    secret = defaulted("secrets", {"metadata": {"name": "postgres-credentials", "namespace": "ns"},
                                   "data": {"user": base64.b64encode(b"lab").decode()},
                                   "stringData": {"url": "postgres://lab@db:5432/lab", "user": "admin"}})
    assert secret["type"] == "Opaque"
    assert "stringData" not in secret
    assert base64.b64decode(secret["data"]["url"]) == b"postgres://lab@db:5432/lab"
    assert base64.b64decode(secret["data"]["user"]) == b"admin"     # stringData wins
    assert validate("secrets", secret) == []


def test_namespace_defaults():
    namespace = defaulted("namespaces", {"metadata": {"name": "llm-research-lab"}})
    assert namespace["spec"] == {"finalizers": ["kubernetes"]}
    assert namespace["status"] == {"phase": "Active"}
    assert namespace["metadata"]["labels"] == {"kubernetes.io/metadata.name": "llm-research-lab"}
    assert validate("namespaces", namespace) == []


def test_replicaset_and_endpoints_defaults():
    rs = defaulted("replicasets", {"metadata": {"name": "r", "namespace": "ns"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}})
    assert rs["spec"]["replicas"] == 1
    assert rs["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert validate("replicasets", rs) == []
    endpoints = defaulted("endpoints", {"metadata": {"name": "e", "namespace": "ns"}, "subsets": [
        {"addresses": [{"ip": "127.0.1.2"}], "ports": [{"port": 8080}]}]})
    assert endpoints["subsets"][0]["ports"][0]["protocol"] == "TCP"
    assert validate("endpoints", endpoints) == []


def test_volume_defaults():
    pod = simple_pod(volumes=[{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}}])
    assert pod["spec"]["volumes"] == [{"name": "scratch", "emptyDir": {}},
                                      {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}}]


def test_ingress_and_lease_get_nothing():
    ingress = ingress_canary()
    assert defaulted("ingresses", copy.deepcopy(ingress)) == ingress
    lease = {"metadata": {"name": "research-lab-rollout", "namespace": "ns"}, "spec": {}}
    assert defaulted("leases", copy.deepcopy(lease)) == lease


# ================================================================ valid objects
def test_the_specification_manifests_are_valid():
    assert validate("deployments", blue()) == []
    assert validate("services", defaulted("services", service_stable())) == []
    assert validate("ingresses", ingress_canary()) == []


def test_other_valid_objects():
    objects = {
        "configmaps": {"metadata": {"name": "prometheus-alerts", "namespace": "monitoring"},
                       "data": {"canary-alerts.yaml": "groups: []\n"}},
        "leases": {"metadata": {"name": "research-lab", "namespace": "llm-research-lab"},
                   "spec": {"holderIdentity": "ansible", "leaseDurationSeconds": 900,
                            "acquireTime": "2025-11-28T10:00:00.000000Z",
                            "renewTime": "2025-11-28T10:05:00.000000Z", "leaseTransitions": 0}},
        "events": {"metadata": {"name": "research-lab-api-blue.17c", "namespace": "llm-research-lab"},
                   "involvedObject": {"kind": "Deployment", "name": "research-lab-api-blue",
                                      "namespace": "llm-research-lab"},
                   "reason": "ScalingReplicaSet", "type": "Normal"},
        "nodes": {"metadata": {"name": "sandbox-node"}},
        "namespaces": {"metadata": {"name": "llm-research-lab"}},
    }
    for resource, obj in objects.items():
        assert validate(resource, defaulted(resource, obj)) == [], resource


# ================================================================ messages
def test_invalid_message_formats_like_kube_apiserver():
    causes = [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"}]
    assert invalid_message("Deployment", "apps", "x", causes) == \
        'Deployment.apps "x" is invalid: spec.selector: Required value'
    causes.append({"reason": "FieldValueInvalid", "message": 'Invalid value: "Foo": bad',
                   "field": "metadata.name"})
    assert invalid_message("Service", "", "x", causes) == \
        'Service "x" is invalid: [spec.selector: Required value, metadata.name: Invalid value: "Foo": bad]'
    assert invalid_message("Lease", "coordination.k8s.io", "l", []) == 'Lease.coordination.k8s.io "l" is invalid'


def test_causes_carry_reason_message_and_field():
    deployment = blue()
    api(deployment)["image"] = ""
    assert validate("deployments", deployment) == [{
        "reason": "FieldValueRequired", "message": "Required value",
        "field": "spec.template.spec.containers[0].image"}]


# ================================================================ metadata
def test_name_is_required():
    deployment = blue()
    del deployment["metadata"]["name"]
    assert errors("deployments", deployment) == [
        "metadata.name: Required value: name or generateName is required"]


@pytest.mark.parametrize("resource, name, message", [
    ("deployments", "Research_Lab", DNS1123_SUBDOMAIN),
    ("configmaps", "a" * 254, "must be no more than 253 characters"),
    ("namespaces", "llm.research", DNS1123_LABEL),
    ("namespaces", "n" * 64, "must be no more than 63 characters"),
    ("services", "8080-api", DNS1035_LABEL),
    ("services", "research.lab", DNS1035_LABEL),
])
def test_names_follow_each_kinds_rule(resource, name, message):
    obj = {"metadata": {"name": name}}
    if resource != "namespaces":
        obj["metadata"]["namespace"] = "ns"
    found = [e for e in errors(resource, defaulted(resource, obj)) if e.startswith("metadata.name")]
    assert found == ['metadata.name: Invalid value: "%s": %s' % (name, message)]


def test_namespace_rules():
    config = {"metadata": {"name": "c"}}
    assert errors("configmaps", config) == ["metadata.namespace: Required value"]
    node = {"metadata": {"name": "n", "namespace": "default"}}
    assert errors("nodes", node) == ["metadata.namespace: Forbidden: not allowed on this type"]


def test_labels_and_annotations_are_checked():
    deployment = blue()
    deployment["metadata"]["labels"]["bad key!"] = "x"
    deployment["metadata"]["labels"]["version"] = "v" * 64
    # Annotation keys are checked lower-cased, so "Example.com/Key" is fine.
    deployment["metadata"]["annotations"] = {"Example.com/Key": "y" * 100, "example.com/-bad": "z"}
    found = errors("deployments", deployment)
    assert found[0].startswith('metadata.labels: Invalid value: "bad key!": name part must consist of')
    assert found[1] == 'metadata.labels: Invalid value: "%s": must be no more than 63 characters' % ("v" * 64)
    assert found[2].startswith('metadata.annotations: Invalid value: "example.com/-bad": name part must '
                               "consist of alphanumeric characters")
    assert len(found) == 3


def test_annotations_total_size_is_limited_to_256_kib():
    config = {"metadata": {"name": "c", "namespace": "ns",
                           "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "x" * 262145}}}
    assert validate("configmaps", config) == [{
        "reason": "FieldValueTooLong", "field": "metadata.annotations",
        "message": "Too long: may not be more than 262144 bytes"}]


def test_owner_references():
    rs = defaulted("replicasets", {"metadata": {"name": "r", "namespace": "ns", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": "1", "controller": True},
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "e", "uid": "", "controller": True}]},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
            "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}})
    found = errors("replicasets", rs)
    assert found[0] == 'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty'
    assert found[1].endswith("Only one reference can have Controller set to true. Found \"true\" in "
                             "references for Deployment/d and Deployment/e")


# ================================================================ deployments
def test_selector_must_match_template_labels():
    deployment = blue()
    deployment["spec"]["template"]["metadata"]["labels"]["environment"] = "green"
    assert errors("deployments", deployment) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"research-lab", '
        '"environment":"green", "tier":"api", "version":"stable"}: `selector` does not match template `labels`']
    assert invalid_message("Deployment", "apps", "research-lab-api-blue",
                           validate("deployments", deployment)).startswith(
        'Deployment.apps "research-lab-api-blue" is invalid: spec.template.metadata.labels: Invalid value:')


def test_missing_selector():
    deployment = blue()
    del deployment["spec"]["selector"]
    assert errors("deployments", deployment) == [
        "spec.selector: Required value",
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"research-lab", '
        '"environment":"blue", "tier":"api", "version":"stable"}: `selector` does not match template `labels`']


def test_empty_selector():
    deployment = blue()
    deployment["spec"]["selector"] = {"matchLabels": {}}
    assert errors("deployments", deployment) == [
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"]


def test_selector_expressions_are_validated():
    deployment = blue()
    deployment["spec"]["selector"] = {"matchLabels": {"app": "research-lab"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": []},
        {"key": "track", "operator": "Exists", "values": ["x"]},
        {"key": "env", "operator": "Equals", "values": ["blue"]}]}
    found = errors("deployments", deployment)
    assert found[:3] == [
        "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
        "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        'spec.selector.matchExpressions[2].operator: Invalid value: "Equals": not a valid selector operator']
    assert found[3].startswith("spec.selector: Invalid value: v1.LabelSelector{") and \
        found[3].endswith(": invalid label selector")


def test_replicas_and_history_limits():
    deployment = blue()
    deployment["spec"].update(replicas=-1, revisionHistoryLimit=-2, minReadySeconds=-3)
    assert errors("deployments", deployment) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        "spec.minReadySeconds: Invalid value: -3: must be greater than or equal to 0",
        "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0"]
    deployment = blue()
    deployment["spec"].update(minReadySeconds=600)
    assert errors("deployments", deployment) == [
        "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"]


@pytest.mark.parametrize("strategy, expected", [
    ({"type": "Recreate", "rollingUpdate": {"maxSurge": 1}},
     ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]),
    ({"type": "BlueGreen"},
     ['spec.strategy.type: Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"']),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
     ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, '
      'StrVal:""}: may not be 0 when `maxSurge` is 0']),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}},
     ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, '
      'StrVal:"0%"}: may not be 0 when `maxSurge` is 0']),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "lots", "maxUnavailable": -1}},
     ["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: -1: must be greater than or equal to 0",
      'spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, '
      "StrVal:\"lots\"}: a valid percent string must be a numeric string followed by an ending '%' "
      "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"]),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "150%"}},
     ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, '
      'StrVal:"150%"}: must not be greater than 100%']),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}, []),
])
def test_strategy_rules(strategy, expected):
    deployment = blue()
    deployment["spec"]["strategy"] = strategy
    assert errors("deployments", deployment) == expected


def test_template_containers():
    deployment = blue()
    pod_spec(deployment)["containers"] = []
    assert errors("deployments", deployment) == ["spec.template.spec.containers: Required value"]
    deployment = blue()
    pod_spec(deployment)["containers"].append(copy.deepcopy(api(deployment)))
    pod_spec(deployment)["containers"].append({"name": "Side_Car", "image": "envoy",
                                               "imagePullPolicy": "Sometimes",
                                               "terminationMessagePolicy": "File"})
    assert errors("deployments", deployment) == [
        'spec.template.spec.containers[1].name: Duplicate value: "api"',
        'spec.template.spec.containers[2].name: Invalid value: "Side_Car": ' + DNS1123_LABEL,
        'spec.template.spec.containers[2].imagePullPolicy: Unsupported value: "Sometimes": supported '
        'values: "Always", "IfNotPresent", "Never"']


def test_template_restart_policy_must_be_always():
    deployment = blue()
    pod_spec(deployment)["restartPolicy"] = "Never"
    pod_spec(deployment)["activeDeadlineSeconds"] = 60
    assert errors("deployments", deployment) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported"]


def test_container_ports():
    deployment = blue()
    api(deployment)["ports"] = [
        {"containerPort": 0, "protocol": "TCP"},
        {"containerPort": 70000, "protocol": "TCP", "name": "http"},
        {"containerPort": 8080, "protocol": "HTTP", "name": "http"},
        {"containerPort": 9090, "protocol": "TCP", "name": "Prometheus_Metrics"}]
    assert errors("deployments", deployment) == [
        "spec.template.spec.containers[0].ports[0].containerPort: Required value",
        "spec.template.spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 "
        "and 65535, inclusive",
        'spec.template.spec.containers[0].ports[2].name: Duplicate value: "http"',
        'spec.template.spec.containers[0].ports[2].protocol: Unsupported value: "HTTP": supported values: '
        '"SCTP", "TCP", "UDP"',
        'spec.template.spec.containers[0].ports[3].name: Invalid value: "Prometheus_Metrics": must be no '
        "more than 15 characters",
        'spec.template.spec.containers[0].ports[3].name: Invalid value: "Prometheus_Metrics": must contain '
        "only alpha-numeric characters (a-z, 0-9), and hyphens (-)"]


def test_probes():
    deployment = blue()
    container = api(deployment)
    container["livenessProbe"]["successThreshold"] = 2
    container["readinessProbe"]["periodSeconds"] = -5
    container["readinessProbe"]["successThreshold"] = 3          # allowed for readiness
    container["startupProbe"] = {"initialDelaySeconds": 1, "timeoutSeconds": 1, "periodSeconds": 1,
                                 "successThreshold": 1, "failureThreshold": 1}
    container["readinessProbe"]["httpGet"]["port"] = "not--valid"
    assert errors("deployments", deployment) == [
        "spec.template.spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
        'spec.template.spec.containers[0].readinessProbe.httpGet.port: Invalid value: "not--valid": '
        "must not contain consecutive hyphens",
        "spec.template.spec.containers[0].readinessProbe.periodSeconds: Invalid value: -5: must be greater "
        "than or equal to 0",
        "spec.template.spec.containers[0].startupProbe: Required value: must specify a handler type"]


def test_env_rules():
    deployment = blue()
    api(deployment)["env"] = [
        {"name": "", "value": "x"},
        {"name": "A=B", "value": "x"},
        {"name": "BOTH", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "NONE", "valueFrom": {}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.nodeIP"}}},
        {"name": "BADKEY", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "bad key"}}},
        {"name": "1.relaxed-ok", "value": "x"}]
    found = errors("deployments", deployment)
    prefix = "spec.template.spec.containers[0].env"
    assert found[:5] == [
        prefix + "[0].name: Required value",
        prefix + '[1].name: Invalid value: "A=B": a valid environment variable name must consist only of '
                 "printable ASCII characters other than '='",
        prefix + '[2].valueFrom: Invalid value: "": may not be specified when `value` is not empty',
        prefix + '[3].valueFrom: Invalid value: "": must specify one of: `fieldRef`, `resourceFieldRef`, '
                 "`configMapKeyRef` or `secretKeyRef`",
        prefix + '[4].valueFrom.fieldRef.fieldPath: Unsupported value: "status.nodeIP": supported values: '
                 '"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", '
                 '"spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"']
    assert found[5].startswith(prefix + '[5].valueFrom.configMapKeyRef.key: Invalid value: "bad key": '
                                        "a valid config key must consist of alphanumeric characters")
    assert len(found) == 6


def test_volume_mounts_need_a_volume_and_unique_paths():
    deployment = blue()
    pod_spec(deployment)["volumes"] = [{"name": "config", "configMap": {"name": "c", "defaultMode": 420}},
                                       {"name": "config", "emptyDir": {}, "secret": {"secretName": "s"}}]
    api(deployment)["volumeMounts"] = [{"name": "config", "mountPath": "/etc/api"},
                                       {"name": "cache", "mountPath": "/etc/api"}]
    assert errors("deployments", deployment) == [
        'spec.template.spec.volumes[1].name: Duplicate value: "config"',
        "spec.template.spec.volumes[1].secret: Forbidden: may not specify more than 1 volume type",
        'spec.template.spec.containers[0].volumeMounts[1].name: Not found: "cache"',
        'spec.template.spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/etc/api": must be unique']


def test_resources():
    deployment = blue()
    api(deployment)["resources"] = {"requests": {"cpu": "2", "memory": "lots"},
                                    "limits": {"cpu": "1000m", "gpu": "1"}}
    assert errors("deployments", deployment) == [
        'spec.template.spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard '
        "resource for containers",
        'spec.template.spec.containers[0].resources.requests[memory]: Invalid value: "lots": quantities must '
        "match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        'spec.template.spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal '
        "to cpu limit of 1000m"]


@pytest.mark.parametrize("text, value", [
    ("500m", "0.5"), ("1", "1"), ("1Gi", str(2 ** 30)), ("512Mi", str(512 * 2 ** 20)), ("1e3", "1000"),
    ("1.5k", "1500"), (2, "2"), (0.25, "0.25"), ("1x", None), ("", None), ("Gi", None),
])
def test_parse_quantity(text, value):
    parsed = parse_quantity(text)
    if value is None:
        assert parsed is None
    else:
        assert parsed == Decimal(value)


def test_affinity_terms():
    deployment = blue()
    term = pod_spec(deployment)["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    term["weight"] = 0
    term["podAffinityTerm"]["topologyKey"] = ""
    prefix = "spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"
    assert errors("deployments", deployment) == [
        prefix + ".weight: Invalid value: 0: must be in the range 1-100",
        prefix + ".podAffinityTerm.topologyKey: Required value: can not be empty",
        prefix + '.podAffinityTerm.topologyKey: Invalid value: "": name part must be non-empty']


def test_tolerations():
    pod = simple_pod()
    pod["spec"]["tolerations"] = [
        {"operator": "Equal", "value": "x"},
        {"key": "k", "operator": "Exists", "value": "v", "effect": "NoExecute"},
        {"key": "k", "operator": "Maybe"},
        {"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule", "tolerationSeconds": 5},
        {"key": "k", "effect": "Sometimes"}]
    found = errors("pods", pod)
    assert found[0] == ('spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when '
                        '`key` is empty, which means "match all values and all keys"')
    assert found[1].startswith("spec.tolerations[1].operator: Invalid value: ") and \
        found[1].endswith("value must be empty when `operator` is 'Exists'")
    assert found[2] == 'spec.tolerations[2].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists"'
    assert found[3] == ("spec.tolerations[3].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' "
                        "when `tolerationSeconds` is set")
    assert found[4] == ('spec.tolerations[4].effect: Unsupported value: "Sometimes": supported values: '
                        '"NoSchedule", "PreferNoSchedule", "NoExecute"')


# ================================================================ pods
def test_pod_restart_policy_and_dns_policy():
    pod = simple_pod(restartPolicy="Sometimes", dnsPolicy="Google")
    assert errors("pods", pod) == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
        'spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", '
        '"ClusterFirst", "Default", "None"']
    assert errors("pods", simple_pod(restartPolicy="OnFailure")) == []


def test_init_containers_share_names_and_may_not_probe():
    pod = simple_pod(initContainers=[{"name": "api", "image": "migrate:1",
                                      "readinessProbe": {"exec": {"command": ["true"]}}}])
    pod = defaulted("pods", pod)
    assert errors("pods", pod) == [
        'spec.initContainers[0].name: Duplicate value: "api"',
        "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without "
        "restartPolicy=Always"]


def test_pod_without_a_spec():
    pod = {"metadata": {"name": "p", "namespace": "ns"}}
    assert errors("pods", pod) == ["spec.containers: Required value", "spec.restartPolicy: Required value"]


# ================================================================ services
def test_service_port_rules():
    service = defaulted("services", service_stable())
    service["spec"]["ports"] = [
        {"name": "http", "port": 0, "targetPort": 8080, "protocol": "TCP"},
        {"port": 70000, "targetPort": "web--ui", "protocol": "HTTP"},
        {"name": "http", "port": 9090, "targetPort": 70000, "protocol": "TCP"},
        {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}]
    assert errors("services", service) == [
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[1].name: Required value",
        "spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
        'spec.ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        'spec.ports[1].targetPort: Invalid value: "web--ui": must not contain consecutive hyphens',
        'spec.ports[2].name: Duplicate value: "http"',
        "spec.ports[2].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        'spec.ports[3]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), '
        'Port:9090, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}']


def test_single_unnamed_port_is_fine_and_named_target_ports_are_allowed():
    service = defaulted("services", {"metadata": {"name": "api", "namespace": "ns"},
                                     "spec": {"selector": {"app": "x"},
                                              "ports": [{"port": 80, "targetPort": "http"}]}})
    assert validate("services", service) == []


def test_service_type_selector_and_affinity():
    service = defaulted("services", service_stable())
    service["spec"]["type"] = "Ingress"
    service["spec"]["selector"]["version"] = "not valid!"
    service["spec"]["sessionAffinity"] = "Sticky"
    found = errors("services", service)
    assert found[0] == ('spec.type: Unsupported value: "Ingress": supported values: "ClusterIP", '
                        '"ExternalName", "LoadBalancer", "NodePort"')
    assert found[1].startswith('spec.selector: Invalid value: "not valid!": a valid label must be an empty string')
    assert found[2] == 'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"'


def test_service_needs_ports_unless_headless_or_external_name():
    service = defaulted("services", {"metadata": {"name": "api", "namespace": "ns"}, "spec": {}})
    assert errors("services", service) == ["spec.ports: Required value"]
    headless = defaulted("services", {"metadata": {"name": "db", "namespace": "ns"},
                                      "spec": {"clusterIP": "None", "selector": {"app": "db"}}})
    assert validate("services", headless) == []
    external = defaulted("services", {"metadata": {"name": "db", "namespace": "ns"},
                                      "spec": {"type": "ExternalName", "externalName": "db.example.com."}})
    assert validate("services", external) == []
    external["spec"]["externalName"] = ""
    assert errors("services", external) == ["spec.externalName: Required value"]


def test_cluster_ip_node_port():
    service = defaulted("services", service_stable())
    service["spec"]["clusterIP"] = "10.96.0.999"
    service["spec"]["ports"][0]["nodePort"] = 30080
    assert errors("services", service) == [
        'spec.clusterIPs[0]: Invalid value: "10.96.0.999": must be a valid IP address, (e.g. 10.9.8.7 or '
        "2001:db8::ffff)",
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]


# ================================================================ ingresses
def test_ingress_needs_rules_or_a_default_backend():
    ingress = ingress_canary()
    del ingress["spec"]["rules"]
    assert validate("ingresses", ingress) == [{
        "reason": "FieldValueInvalid", "field": "spec",
        "message": "Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"}]
    ingress["spec"]["defaultBackend"] = {"service": {"name": "research-lab-api", "port": {"name": "http"}}}
    assert validate("ingresses", ingress) == []


def test_ingress_paths_and_backends():
    ingress = ingress_canary()
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    backend = {"service": {"name": "research-lab-api-canary", "port": {"number": 8080}}}
    paths[:] = [
        {"path": "/", "backend": backend},
        {"path": "/api", "pathType": "Regex", "backend": backend},
        {"path": "api", "pathType": "Exact", "backend": backend},
        {"path": "/a//b/..", "pathType": "Prefix", "backend": backend},
        {"path": "/x", "pathType": "ImplementationSpecific", "backend": {"service": {"name": "svc", "port": {}}}},
        {"path": "/y", "pathType": "Prefix", "backend": {"service": {"name": "svc", "port": {"number": 0, "name": ""}},
                                                         "resource": {"kind": "Bucket", "name": "b"}}},
        {"path": "/z", "pathType": "Prefix", "backend": {}},
        {"path": "/p", "pathType": "Prefix", "backend": {"service": {"name": "svc", "port": {"number": 70000}}}},
    ]
    prefix = "spec.rules[0].http.paths"
    assert errors("ingresses", ingress) == [
        prefix + "[0].pathType: Required value: pathType must be specified",
        prefix + '[1].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"',
        prefix + '[2].path: Invalid value: "api": must be an absolute path',
        prefix + "[3].path: Invalid value: \"/a//b/..\": must not contain '//'",
        prefix + "[3].path: Invalid value: \"/a//b/..\": cannot end with '/..'",
        prefix + "[4].backend: Required value: port name or number is required",
        prefix + '[5].backend: Invalid value: "": cannot set both resource and service backends',
        prefix + '[6].backend: Invalid value: "": resource or service backend is required',
        prefix + "[7].backend.service.port.number: Invalid value: 70000: must be between 1 and 65535, inclusive"]


def test_ingress_hosts():
    ingress = ingress_canary()
    rule = ingress["spec"]["rules"][0]
    rule["host"] = "*.research-lab.example.com"
    assert validate("ingresses", ingress) == []
    rule["host"] = "10.0.0.1"
    assert errors("ingresses", ingress) == [
        'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address']
    rule["host"] = "api.*.example.com"
    assert errors("ingresses", ingress)[0].startswith(
        'spec.rules[0].host: Invalid value: "api.*.example.com": a wildcard DNS-1123 subdomain must start with')
    rule["host"] = "API.example.com"
    assert errors("ingresses", ingress) == [
        'spec.rules[0].host: Invalid value: "API.example.com": ' + DNS1123_SUBDOMAIN]


# ================================================================ configmaps and secrets
def test_config_map_keys():
    config = {"metadata": {"name": "c", "namespace": "ns"},
              "data": {"ok.yaml": "", "bad key": "x", "..hidden": "x", "dup": "x"},
              "binaryData": {"dup": base64.b64encode(b"x").decode()}}
    found = errors("configmaps", config)
    assert found[0].startswith('data[bad key]: Invalid value: "bad key": a valid config key must consist of '
                               "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
                               "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
    assert found[1:] == ["data[..hidden]: Invalid value: \"..hidden\": must not start with '..'",
                         'data[dup]: Invalid value: "dup": duplicate of key present in binaryData']


def test_secret_data_must_be_base64_and_is_never_echoed():
    secret = defaulted("secrets", {"metadata": {"name": "s", "namespace": "ns"},
                                   "data": {"password": "hunter2!"}})
    found = validate("secrets", secret)
    assert found == [{"reason": "FieldValueInvalid", "field": "data[password]",
                      "message": 'Invalid value: "<secret contents redacted>": illegal base64 data: '
                                 "secret data values must be base64-encoded"}]
    assert "hunter2" not in invalid_message("Secret", "", "s", found)


def test_typed_secrets_need_their_keys():
    tls = defaulted("secrets", {"metadata": {"name": "api-tls-cert", "namespace": "ns"},
                                "type": "kubernetes.io/tls", "data": {"tls.crt": ""}})
    assert errors("secrets", tls) == ["data[tls.key]: Required value"]
    basic = defaulted("secrets", {"metadata": {"name": "b", "namespace": "ns"},
                                  "type": "kubernetes.io/basic-auth"})
    assert errors("secrets", basic) == ["data[username]: Required value", "data[password]: Required value"]


# ================================================================ other kinds
def test_lease_rules():
    lease = {"metadata": {"name": "research-lab", "namespace": "ns"},
             "spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1, "renewTime": "yesterday"}}
    assert errors("leases", lease) == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
        'spec.renewTime: Invalid value: "yesterday": must be an RFC 3339 date-time with microseconds '
        "(e.g. 2024-01-02T15:04:05.000000Z)"]


def test_event_rules():
    event = {"metadata": {"name": "e", "namespace": "llm-research-lab"}, "reason": "Started"}
    assert errors("events", event) == ["involvedObject: Required value",
                                       'involvedObject.namespace: Invalid value: "": does not match event.namespace']
    event["involvedObject"] = {"kind": "Pod", "name": "p", "namespace": "other"}
    assert errors("events", event) == [
        'involvedObject.namespace: Invalid value: "other": does not match event.namespace']
    node_event = {"metadata": {"name": "n.1", "namespace": "default"},
                  "involvedObject": {"kind": "Node", "name": "sandbox-node"}}
    assert validate("events", node_event) == []


def test_endpoints_rules():
    endpoints = {"metadata": {"name": "research-lab-api", "namespace": "ns"}, "subsets": [
        {"addresses": [{"ip": ""}, {"ip": "not-an-ip"}],
         "ports": [{"port": 8080, "protocol": "TCP"}, {"name": "metrics", "port": 0, "protocol": "TCP"}]},
        {"ports": [{"port": 1, "protocol": "TCP"}]}]}
    assert errors("endpoints", endpoints) == [
        "subsets[0].addresses[0].ip: Required value",
        'subsets[0].addresses[1].ip: Invalid value: "not-an-ip": must be a valid IP address, (e.g. 10.9.8.7 '
        "or 2001:db8::ffff)",
        "subsets[0].ports[0].name: Required value",
        "subsets[0].ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`"]


def test_namespace_finalizers():
    namespace = defaulted("namespaces", {"metadata": {"name": "ns"}, "spec": {"finalizers": ["custom"]}})
    assert errors("namespaces", namespace) == [
        'spec.finalizers[0]: Invalid value: "custom": name is neither a standard finalizer name nor is it '
        "fully qualified"]


# ================================================================ updates
def test_deployment_selector_is_immutable():
    old = blue()
    new = blue()
    new["spec"]["selector"]["matchLabels"]["environment"] = "green"
    new["spec"]["template"]["metadata"]["labels"]["environment"] = "green"
    assert errors("deployments", new, old) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"research-lab", '
        '"environment":"green", "tier":"api"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable']
    # Changing the image (kubectl set image) is an ordinary update.
    new = blue()
    api(new)["image"] = "harbor.example.com/llm-research-lab/api:v1.2.4"
    assert validate("deployments", new, old) == []


def test_replicaset_selector_is_immutable():
    def rs(value):
        return defaulted("replicasets", {"metadata": {"name": "r", "namespace": "ns"}, "spec": {
            "selector": {"matchLabels": {"a": value}},
            "template": {"metadata": {"labels": {"a": value}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}})
    assert errors("replicasets", rs("y"), rs("x"))[0].endswith("field is immutable")


def test_service_cluster_ip_is_immutable_once_set():
    old = defaulted("services", service_stable())
    old["spec"]["clusterIP"] = "10.96.0.10"
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.11"
    assert errors("services", new, old) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set']
    new["spec"]["clusterIP"] = ""       # left out by the client: the server keeps the old one
    assert validate("services", new, old) == []
    new["spec"]["clusterIP"] = "10.96.0.10"
    new["spec"]["selector"] = {"app": "research-lab", "environment": "green"}
    assert validate("services", new, old) == []


def test_immutable_config_maps_and_secrets():
    old = {"metadata": {"name": "c", "namespace": "ns"}, "data": {"a": "1"}, "immutable": True}
    new = copy.deepcopy(old)
    new["data"]["a"] = "2"
    assert errors("configmaps", new, old) == ["data: Forbidden: field is immutable when `immutable` is set"]
    new = copy.deepcopy(old)
    new["immutable"] = False
    assert errors("configmaps", new, old) == ["immutable: Forbidden: field is immutable when `immutable` is set"]
    mutable = copy.deepcopy(old)
    mutable["immutable"] = False
    changed = copy.deepcopy(mutable)
    changed["data"]["a"] = "2"
    assert validate("configmaps", changed, mutable) == []

    secret = defaulted("secrets", {"metadata": {"name": "s", "namespace": "ns"}, "immutable": True,
                                   "stringData": {"url": "postgres://a"}})
    new = defaulted("secrets", {"metadata": {"name": "s", "namespace": "ns"}, "immutable": True,
                                "stringData": {"url": "postgres://b"}, "type": "kubernetes.io/tls"})
    assert errors("secrets", new, secret) == [
        "data[tls.crt]: Required value", "data[tls.key]: Required value",
        'type: Invalid value: "kubernetes.io/tls": field is immutable',
        "data: Forbidden: field is immutable when `immutable` is set"]


def test_metadata_identity_is_immutable():
    old = blue()
    old["metadata"]["uid"] = "11111111-2222-3333-4444-555555555555"
    new = copy.deepcopy(old)
    new["metadata"]["uid"] = "99999999-2222-3333-4444-555555555555"
    assert errors("deployments", new, old) == [
        'metadata.uid: Invalid value: "99999999-2222-3333-4444-555555555555": field is immutable']
    del new["metadata"]["uid"]          # omitted: the server keeps the stored uid
    assert validate("deployments", new, old) == []


def test_validate_never_raises_on_garbage():
    for resource in ("pods", "deployments", "replicasets", "services", "ingresses", "configmaps",
                     "secrets", "namespaces", "nodes", "endpoints", "events", "leases"):
        for obj in ({}, {"metadata": None, "spec": "x"}, {"spec": {"containers": "x", "template": 3,
                                                                    "ports": [None], "rules": [1]}}):
            apply_defaults(resource, obj)
            assert isinstance(validate(resource, obj), list)
    assert validate("pods", "not an object")[0]["reason"] == "FieldValueInvalid"
