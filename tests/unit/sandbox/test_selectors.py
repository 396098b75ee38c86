"""Label and field selectors: Kubernetes syntax, matching semantics and error texts."""
import pytest

from tests.sandbox.apiserver.selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
    qualified_name_errors,
    selector_from_label_selector,
    selector_from_map,
)
from tests.unit.sandbox import deployment_blue, service_stable

BLUE_POD = {"app": "research-lab", "tier": "api", "environment": "blue", "version": "stable"}
GREEN_POD = {"app": "research-lab", "tier": "api", "environment": "green", "version": "inactive"}
CANARY_POD = {"app": "research-lab", "tier": "api", "track": "canary", "version": "canary"}
KAFKA_POD = {"app": "kafka"}
UNLABELLED = {}
PODS = {"blue": BLUE_POD, "green": GREEN_POD, "canary": CANARY_POD, "kafka": KAFKA_POD,
        "bare": UNLABELLED}


def selected(text):
    selector = parse_label_selector(text)
    return sorted(name for name, labels in PODS.items() if selector.matches(labels))


# ---------------------------------------------------------------- label selector syntax
@pytest.mark.parametrize("text, expected", [
    ("environment=blue", ["blue"]),
    ("environment==blue", ["blue"]),
    ("environment!=blue", ["bare", "canary", "green", "kafka"]),   # != matches a missing label
    ("app=research-lab,tier=api", ["blue", "canary", "green"]),
    ("environment in (blue,green)", ["blue", "green"]),
    ("environment notin (blue)", ["bare", "canary", "green", "kafka"]),
    ("track", ["canary"]),
    ("!track", ["bare", "blue", "green", "kafka"]),
    ("app=research-lab,!track", ["blue", "green"]),
    ("  app = research-lab ,  environment in ( blue , green ) ", ["blue", "green"]),
    ("version in (stable, canary),tier", ["blue", "canary"]),
    ("", ["bare", "blue", "canary", "green", "kafka"]),
])
def test_label_selector_selects_like_kubernetes(text, expected):
    assert selected(text) == expected


def test_none_and_empty_text_select_everything():
    for text in (None, "", "   "):
        selector = parse_label_selector(text)
        assert selector.empty
        assert selector.matches(None)
        assert selector.matches({"a": "b"})


def test_empty_value_selects_empty_or_missing_per_operator():
    assert parse_label_selector("a=").matches({"a": ""})
    assert not parse_label_selector("a=").matches({})
    assert not parse_label_selector("a=").matches({"a": "x"})
    assert parse_label_selector("a!=").matches({})
    assert parse_label_selector("a in (x,,y)").matches({"a": ""})
    assert parse_label_selector("a in ()").matches({"a": ""})


def test_in_and_notin_are_values_where_a_value_is_expected():
    # Kubernetes' parser reads 'in'/'notin' as identifiers in value position.
    selector = parse_label_selector("mode in (in,notin)")
    assert selector.matches({"mode": "in"})
    assert selector.matches({"mode": "notin"})
    assert not selector.matches({"mode": "out"})


def test_greater_and_less_than():
    selector = parse_label_selector("replicas>2,replicas<10")
    assert selector.matches({"replicas": "3"})
    assert not selector.matches({"replicas": "2"})
    assert not selector.matches({"replicas": "ten"})
    assert not selector.matches({})


def test_prefixed_keys():
    selector = parse_label_selector("app.kubernetes.io/name=research-lab")
    assert selector.matches({"app.kubernetes.io/name": "research-lab"})


def test_canonical_text_is_sorted_by_key_with_sorted_values():
    selector = parse_label_selector("tier in (web,api),  app==x ,!track,version")
    # Sorted by key: '!track' sorts under 'track', as labels.Parse does.
    assert str(selector) == "app==x,tier in (api,web),!track,version"
    assert parse_label_selector(str(selector)) == selector


def test_requires_exact_match():
    selector = parse_label_selector("app=research-lab,environment in (blue),tier in (a,b)")
    assert selector.requires_exact_match("app") == "research-lab"
    assert selector.requires_exact_match("environment") == "blue"
    assert selector.requires_exact_match("tier") is None
    assert selector.requires_exact_match("missing") is None


# ---------------------------------------------------------------- label selector errors
QUALIFIED_NAME_REGEX = ("(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                        "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


@pytest.mark.parametrize("text, message", [
    ("app research-lab",
     "unable to parse requirement: found 'research-lab', expected: in, notin, =, ==, !=, gt, lt"),
    ("app=a,", "found '', expected: identifier after ','"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
    ("app in research-lab", "unable to parse requirement: found 'research-lab' expected: '('"),
    ("app in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("!app=x", "found '=', expected: ',' or 'end of string'"),
    ("app=a=b", "found '=', expected: ',' or 'end of string'"),
])
def test_syntax_errors_read_like_kubernetes(text, message):
    with pytest.raises(SelectorError) as err:
        parse_label_selector(text)
    assert str(err.value) == message


def test_invalid_key_is_reported_with_the_kubernetes_text():
    with pytest.raises(SelectorError) as err:
        parse_label_selector("-bad=x")
    assert str(err.value) == (
        'unable to parse requirement: <nil>: Invalid value: "-bad": name part must consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
        "character " + QUALIFIED_NAME_REGEX)


def test_invalid_value_names_the_value():
    with pytest.raises(SelectorError) as err:
        parse_label_selector("app=" + "v" * 64)
    assert str(err.value) == (
        'unable to parse requirement: values[0][app]: Invalid value: "%s": must be no more than '
        "63 characters" % ("v" * 64))
    with pytest.raises(SelectorError) as err:
        parse_label_selector("app=-x")
    assert "values[0][app]: Invalid value: \"-x\": a valid label must be an empty string" in str(err.value)


def test_too_long_key_and_bad_prefix():
    with pytest.raises(SelectorError, match="name part must be no more than 63 characters"):
        parse_label_selector("k" * 64)
    with pytest.raises(SelectorError, match="prefix part a lowercase RFC 1123 subdomain"):
        parse_label_selector("Example.COM/name")
    with pytest.raises(SelectorError, match="prefix part must be non-empty"):
        parse_label_selector("/name=x")


def test_qualified_name_errors_match_kubernetes():
    assert qualified_name_errors("app") == []
    assert qualified_name_errors("kubernetes.io/metadata.name") == []
    assert qualified_name_errors("a/b/c") == [
        "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start "
        "and end with an alphanumeric character " + QUALIFIED_NAME_REGEX
        + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    assert qualified_name_errors("") == ["name part must be non-empty"]


# ---------------------------------------------------------------- metav1.LabelSelector
def test_deployment_selector_selects_only_its_colour():
    selector = selector_from_label_selector(deployment_blue()["spec"]["selector"])
    assert str(selector) == "app=research-lab,environment=blue,tier=api"
    assert selector.matches(BLUE_POD)
    assert not selector.matches(GREEN_POD)
    assert not selector.matches(CANARY_POD)


def test_match_expressions_all_operators():
    selector = selector_from_label_selector({
        "matchLabels": {"app": "research-lab"},
        "matchExpressions": [
            {"key": "environment", "operator": "In", "values": ["blue", "green"]},
            {"key": "version", "operator": "NotIn", "values": ["inactive"]},
            {"key": "tier", "operator": "Exists"},
            {"key": "track", "operator": "DoesNotExist"},
        ],
    })
    assert selector.matches(BLUE_POD)
    assert not selector.matches(GREEN_POD)      # version inactive
    assert not selector.matches(CANARY_POD)     # has track, no environment
    assert str(selector) == ("app=research-lab,environment in (blue,green),tier,!track,"
                             "version notin (inactive)")


def test_nil_label_selector_matches_nothing_and_empty_matches_everything():
    nothing = selector_from_label_selector(None)
    assert not nothing.empty
    assert not nothing.matches({})
    assert not nothing.matches(BLUE_POD)
    everything = selector_from_label_selector({})
    assert everything.empty
    assert everything.matches(BLUE_POD)
    assert selector_from_label_selector({"matchLabels": {}, "matchExpressions": []}).empty


@pytest.mark.parametrize("selector, message", [
    ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
     '"Equals" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
     "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     "values set must be empty for exists and does not exist"),
    ({"matchLabels": {"app": "bad value"}},
     'values[0][app]: Invalid value: "bad value": a valid label must be an empty string'),
])
def test_invalid_label_selectors_raise(selector, message):
    with pytest.raises(SelectorError) as err:
        selector_from_label_selector(selector)
    assert message in str(err.value)


# ---------------------------------------------------------------- Service selector
def test_service_selector_from_map():
    selector = selector_from_map(service_stable()["spec"]["selector"])
    assert str(selector) == "app=research-lab,tier=api,version=stable"
    assert selector.matches(BLUE_POD)
    assert not selector.matches(GREEN_POD)
    assert not selector.matches(CANARY_POD)


def test_service_selector_after_the_colour_switch_isolates_one_colour():
    selector = selector_from_map({"app": "research-lab", "tier": "api", "environment": "green"})
    assert [n for n, labels in PODS.items() if selector.matches(labels)] == ["green"]


def test_map_selector_none_or_empty_is_everything():
    assert selector_from_map(None).empty
    assert selector_from_map({}).matches(BLUE_POD)


# ---------------------------------------------------------------- field selectors
def pod(name, phase, node="sandbox-node", ip="127.0.1.2", namespace="llm-research-lab"):
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": node, "restartPolicy": "Always", "schedulerName": "default-scheduler",
                 "serviceAccountName": "default"},
        "status": {"phase": phase, "podIP": ip},
    }


def test_pod_field_selectors():
    pods = [pod("a", "Running"), pod("b", "Pending", node=None, ip=None), pod("c", "Failed")]

    def names(text):
        selector = parse_field_selector(text, "pods")
        return [p["metadata"]["name"] for p in pods if selector.matches(p)]

    assert names("status.phase=Running") == ["a"]
    assert names("status.phase!=Running") == ["b", "c"]
    assert names("status.phase==Running,metadata.name=a") == ["a"]
    assert names("spec.nodeName=") == ["b"]              # missing compares as ""
    assert names("spec.nodeName!=") == ["a", "c"]
    assert names("status.podIP=127.0.1.2") == ["a", "c"]
    assert names("metadata.namespace=llm-research-lab") == ["a", "b", "c"]
    assert names("spec.restartPolicy=Always,spec.schedulerName=default-scheduler") == ["a", "b", "c"]
    assert names("spec.serviceAccountName=default,status.nominatedNodeName=") == ["a", "b", "c"]
    assert names("") == ["a", "b", "c"]
    assert names(None) == ["a", "b", "c"]


def test_pod_ip_prefers_pod_ips():
    p = pod("a", "Running", ip=None)
    p["status"]["podIPs"] = [{"ip": "127.0.1.9"}]
    assert parse_field_selector("status.podIP=127.0.1.9", "pods").matches(p)


def test_event_field_selectors_as_kubectl_describe_sends_them():
    event = {
        "metadata": {"name": "research-lab-api-blue.17c", "namespace": "llm-research-lab"},
        "involvedObject": {"kind": "Deployment", "namespace": "llm-research-lab",
                           "name": "research-lab-api-blue", "uid": "u-1", "apiVersion": "apps/v1",
                           "resourceVersion": "42"},
        "reason": "ScalingReplicaSet",
        "source": {"component": "deployment-controller"},
        "type": "Normal",
    }
    text = ("involvedObject.name=research-lab-api-blue,involvedObject.namespace=llm-research-lab,"
            "involvedObject.kind=Deployment,involvedObject.uid=u-1")
    assert parse_field_selector(text, "events").matches(event)
    assert parse_field_selector("involvedObject.apiVersion=apps/v1,involvedObject.resourceVersion=42,"
                                "involvedObject.fieldPath=", "events").matches(event)
    assert parse_field_selector("reason=ScalingReplicaSet,type=Normal", "events").matches(event)
    assert parse_field_selector("source=deployment-controller", "events").matches(event)
    assert not parse_field_selector("type=Warning", "events").matches(event)
    # source falls back to reportingComponent, as the events registry does.
    new_style = {"metadata": {"name": "e"}, "reportingComponent": "kubelet"}
    assert parse_field_selector("source=kubelet,reportingComponent=kubelet", "events").matches(new_style)


def test_other_resources_fields():
    secret = {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"}
    assert parse_field_selector("type=kubernetes.io/tls", "secrets").matches(secret)
    node = {"metadata": {"name": "n"}, "spec": {}}
    assert parse_field_selector("spec.unschedulable=false", "nodes").matches(node)
    node["spec"]["unschedulable"] = True
    assert parse_field_selector("spec.unschedulable=true", "nodes").matches(node)
    rs = {"metadata": {"name": "r"}, "status": {"replicas": 3}}
    assert parse_field_selector("status.replicas=3", "replicasets").matches(rs)
    assert parse_field_selector("status.replicas=0", "replicasets").matches({"metadata": {"name": "r"}})
    ns = {"metadata": {"name": "llm-research-lab"}, "status": {"phase": "Active"}}
    assert parse_field_selector("status.phase=Active", "namespaces").matches(ns)
    svc = {"metadata": {"name": "research-lab-api", "namespace": "llm-research-lab"}}
    assert parse_field_selector("metadata.name=research-lab-api", "services").matches(svc)


@pytest.mark.parametrize("text, resource, message", [
    ("spec.foo=bar", "pods", "field label not supported: spec.foo"),
    ("status.phase=Running", "services", "field label not supported: status.phase"),
    ("type=Opaque", "configmaps", "field label not supported: type"),
    ("status.phase", "pods", "invalid selector: 'status.phase'; can't understand 'status.phase'"),
    ("metadata.name=a=b", "pods", "invalid field selector: unescaped character in value: '='"),
    ("metadata.name=a\\x", "pods", "invalid field selector: invalid escape sequence: \\x"),
])
def test_field_selector_errors(text, resource, message):
    with pytest.raises(SelectorError) as err:
        parse_field_selector(text, resource)
    assert str(err.value) == message


def test_escaped_field_values():
    selector = parse_field_selector(r"metadata.name=a\,b\=c", "configmaps")
    assert selector.matches({"metadata": {"name": "a,b=c"}})
    assert str(selector) == r"metadata.name=a\,b\=c"
    assert selector.requires_exact_match("metadata.name") == "a,b=c"


def test_selector_errors_are_value_errors():
    assert issubclass(SelectorError, ValueError)
