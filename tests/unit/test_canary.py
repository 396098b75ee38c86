# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary Ingress logic: validation, owned annotations, cloning the stable Ingress."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.llm_research_lab.deploy.plugins.module_utils import canary
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError

WHAT = "Ingress lab/api-canary was not changed"
P = "nginx.ingress.kubernetes.io/"


def params(**overrides):
    base = {"weight": 5, "weight_total": 100, "header": None, "header_value": None, "header_pattern": None,
            "cookie": None}
    base.update(overrides)
    return base


STABLE = {
    "metadata": {"name": "api", "namespace": "lab", "labels": {"app": "research-lab"},
                 "annotations": {"kubernetes.io/ingress.class": "nginx", P + "proxy-body-size": "8m"},
                 "resourceVersion": "7", "uid": "u-1"},
    "spec": {
        "ingressClassName": "nginx",
        "rules": [
            {"host": "api.research-lab.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "research-lab-api", "port": {"number": 8080}}}},
                {"path": "/metrics", "pathType": "Exact",
                 "backend": {"service": {"name": "research-lab-api", "port": {"name": "metrics"}}}}]}},
            {"host": "internal.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "research-lab-api", "port": {"number": 8080}}}}]}},
        ],
        "tls": [{"hosts": ["api.research-lab.example.com"], "secretName": "api-tls-cert"}],
    },
    "status": {"loadBalancer": {}},
}


# ------------------------------------------------------------ weight


@pytest.mark.parametrize("value,expected", [(0, 0), (5, 5), (100, 100), ("25", 25), (" 50 ", 50), (25.0, 25)])
def test_valid_weights(value, expected):
    assert canary.parse_weight(value, 100, WHAT) == expected


@pytest.mark.parametrize("value", [101, -1, "abc", "-1", "101", "5.5", 5.5, True, None, "", [5]])
def test_invalid_weights_name_the_value_the_range_and_what_was_not_changed(value):
    with pytest.raises(DeployError) as err:
        canary.parse_weight(value, 100, WHAT)
    assert err.value.msg == "weight '%s' is not an integer from 0 to 100; %s" % (value, WHAT)


def test_weight_bounds_follow_weight_total():
    assert canary.parse_weight(1000, 1000, WHAT) == 1000
    with pytest.raises(DeployError, match="weight '11' is not an integer from 0 to 10; "):
        canary.parse_weight(11, 10, WHAT)


def test_weight_is_required_when_present():
    with pytest.raises(DeployError, match="weight is required with state=present"):
        canary.desired_annotations(params(weight=None), WHAT)


@pytest.mark.parametrize("total", [0, -5])
def test_weight_total_must_be_positive(total):
    with pytest.raises(DeployError, match="weight_total '%s' is not a positive integer; %s" % (total, WHAT)):
        canary.desired_annotations(params(weight_total=total), WHAT)


# ------------------------------------------------------------ annotations


def test_weight_only():
    assert canary.desired_annotations(params(weight=5), WHAT) == {P + "canary": "true", P + "canary-weight": "5"}


def test_weight_total_written_only_when_not_the_default():
    wanted = canary.desired_annotations(params(weight=3, weight_total=1000), WHAT)
    assert wanted[P + "canary-weight-total"] == "1000"
    assert P + "canary-weight-total" not in canary.desired_annotations(params(), WHAT)


def test_header_value_and_cookie():
    wanted = canary.desired_annotations(params(header="X-Canary", header_value="always", cookie="canary"), WHAT)
    assert wanted == {P + "canary": "true", P + "canary-weight": "5", P + "canary-by-header": "X-Canary",
                      P + "canary-by-header-value": "always", P + "canary-by-cookie": "canary"}


def test_header_pattern():
    wanted = canary.desired_annotations(params(header="X-Team", header_pattern="^(ml|infra)$"), WHAT)
    assert wanted[P + "canary-by-header-pattern"] == "^(ml|infra)$"


def test_empty_strings_count_as_left_out():
    assert canary.desired_annotations(params(header="", cookie=""), WHAT) == {
        P + "canary": "true", P + "canary-weight": "5"}


def test_value_without_header_is_refused():
    with pytest.raises(DeployError, match="header_value/header_pattern need header"):
        canary.desired_annotations(params(header_value="always"), WHAT)


def test_value_and_pattern_exclude_each_other():
    with pytest.raises(DeployError, match="header_value 'always' and header_pattern 'a.*' exclude each other"):
        canary.desired_annotations(params(header="X-Canary", header_value="always", header_pattern="a.*"), WHAT)


def test_invalid_header_name_pattern_and_cookie_are_named():
    with pytest.raises(DeployError, match="header 'X Canary' is not a valid HTTP header name"):
        canary.desired_annotations(params(header="X Canary"), WHAT)
    with pytest.raises(DeployError, match=r"header_pattern '\(unclosed' is not a regular expression"):
        canary.desired_annotations(params(header="X-Canary", header_pattern="(unclosed"), WHAT)
    with pytest.raises(DeployError, match="cookie 'a;b' is not a valid cookie name"):
        canary.desired_annotations(params(cookie="a;b"), WHAT)


def test_owned_annotations_are_exactly_the_wanted_ones_and_others_are_kept():
    current = {P + "canary": "true", P + "canary-weight": "5", P + "canary-by-header": "X-Canary",
               P + "canary-by-header-value": "always", P + "proxy-body-size": "8m", "team": "ml"}
    wanted = canary.desired_annotations(params(weight=25), WHAT)
    merged = canary.merged_annotations(current, wanted)
    assert merged == {P + "canary": "true", P + "canary-weight": "25", P + "proxy-body-size": "8m", "team": "ml"}
    assert canary.annotation_patch(current, merged) == {
        P + "canary-weight": "25", P + "canary-by-header": None, P + "canary-by-header-value": None}


def test_weight_of_reads_missing_as_zero():
    assert canary.weight_of({P + "canary-weight": "25"}) == 25
    assert canary.weight_of({}) == 0
    assert canary.weight_of({P + "canary-weight": "lots"}) is None


# ------------------------------------------------------------ ports


@pytest.mark.parametrize("value,expected", [(8080, 8080), ("8080", 8080), ("http", "http"), ("metrics-2", "metrics-2")])
def test_ports(value, expected):
    assert canary.parse_port(value, WHAT) == expected


@pytest.mark.parametrize("value", [0, 70000, "HTTP", "a_b", "-http", None, True, "1234567890123456x"])
def test_invalid_ports_are_named(value):
    with pytest.raises(DeployError, match="port .* (is not|is neither)"):
        canary.parse_port(value, WHAT)


# ------------------------------------------------------------ cloning


def all_backends(spec):
    found = [spec["defaultBackend"]] if spec.get("defaultBackend") else []
    for rule in spec.get("rules", []):
        found.extend(p["backend"] for p in rule["http"]["paths"])
    return found


def test_clone_keeps_class_hosts_paths_tls_and_points_every_backend_at_the_canary():
    wanted = canary.desired_annotations(params(weight=5), WHAT)
    body = canary.clone_ingress(STABLE, "api-canary", wanted, "research-lab-api-canary", 8080)
    spec = body["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert [r["host"] for r in spec["rules"]] == ["api.research-lab.example.com", "internal.example.com"]
    assert [(p["path"], p["pathType"]) for p in spec["rules"][0]["http"]["paths"]] == [("/", "Prefix"), ("/metrics", "Exact")]
    assert spec["tls"] == STABLE["spec"]["tls"]
    assert all(b == {"service": {"name": "research-lab-api-canary", "port": {"number": 8080}}} for b in all_backends(spec))
    assert body["metadata"]["name"] == "api-canary"
    assert body["metadata"]["namespace"] == "lab"
    assert body["metadata"]["labels"] == {"app": "research-lab"}
    # canary annotations plus the legacy class; not the stable's other annotations
    assert body["metadata"]["annotations"] == dict(wanted, **{"kubernetes.io/ingress.class": "nginx"})
    assert "resourceVersion" not in body["metadata"] and "status" not in body


def test_clone_does_not_modify_the_stable_ingress():
    before = repr(STABLE)
    canary.clone_ingress(STABLE, "api-canary", {}, "c", "http")
    assert repr(STABLE) == before


def test_clone_with_named_port_and_default_backend():
    stable = {"metadata": {"name": "api", "namespace": "lab"},
              "spec": {"defaultBackend": {"service": {"name": "api", "port": {"number": 80}}}}}
    spec = canary.clone_ingress(stable, "api-canary", {}, "api-canary", "http")["spec"]
    assert spec == {"defaultBackend": {"service": {"name": "api-canary", "port": {"name": "http"}}}}


def test_retarget_changes_only_backends():
    spec = canary.retarget(STABLE["spec"], "c", 9090)
    assert spec["tls"] == STABLE["spec"]["tls"]
    assert all(b == {"service": {"name": "c", "port": {"number": 9090}}} for b in all_backends(spec))
    assert canary.retarget(spec, "c", 9090) == spec


def test_view_for_diff_shows_owned_annotations_and_backends():
    ingress = {"metadata": {"annotations": {P + "canary": "true", P + "canary-weight": "5", "x": "y"}},
               "spec": canary.clone_spec(STABLE["spec"], "c", 8080)}
    assert canary.view(ingress) == {
        "annotations": {P + "canary": "true", P + "canary-weight": "5"},
        "backends": ["api.research-lab.example.com/ -> c:8080", "api.research-lab.example.com/metrics -> c:8080",
                     "internal.example.com/ -> c:8080"]}
    assert canary.view(None) == {}


def test_default_canary_name():
    assert canary.canary_name({"stable_ingress": "api", "name": None}) == "api-canary"
    assert canary.canary_name({"stable_ingress": "api", "name": "x"}) == "x"
