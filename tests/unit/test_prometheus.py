# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus connection options, the client's settings and instant-query result parsing."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ast
import json
import math
import os

import pytest
import requests
import yaml
from urllib3.connection import HTTPConnection
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.llm_research_lab.deploy.plugins.doc_fragments.prometheus import ModuleDocFragment
from ansible_collections.llm_research_lab.deploy.plugins.module_utils import prometheus as prom
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.prometheus import (
    PROMETHEUS_ARG_SPEC,
    PrometheusClient,
    PrometheusConfigError,
    PrometheusUnavailable,
    describe_request_error,
    parse_query_data,
    parse_query_response,
    prometheus_argument_spec,
    rfc3339,
    safe_url,
    single_value,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
URL = "http://prometheus.test:9090"


def answer(status_code, payload):
    return parse_query_response(status_code, json.dumps(payload), URL)


def vector(*series):
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": labels, "value": [1767225600.0, value]} for labels, value in series]}}


def one_number(payload, what="check 'c' query"):
    return single_value(answer(200, payload), what)


# -- result parsing -------------------------------------------------------------------------------

def test_a_vector_with_one_series_gives_its_value():
    assert one_number(vector(({"job": "api"}, "0.25"))) == 0.25


def test_a_scalar_gives_its_value():
    payload = {"status": "success", "data": {"resultType": "scalar", "result": [1767225600.0, "3"]}}
    assert one_number(payload) == 3.0


def test_an_empty_vector_is_no_data():
    assert one_number(vector()) is None


def test_nan_is_no_data_in_a_vector_and_in_a_scalar():
    assert one_number(vector(({}, "NaN"))) is None
    payload = {"status": "success", "data": {"resultType": "scalar", "result": [1767225600.0, "NaN"]}}
    assert one_number(payload) is None


def test_infinities_are_real_values():
    assert one_number(vector(({}, "+Inf"))) == math.inf
    assert one_number(vector(({}, "-Inf"))) == -math.inf


def test_several_series_are_a_configuration_error_naming_the_check_and_the_count():
    payload = vector(({"__name__": "up", "job": "a"}, "1"), ({"__name__": "up", "job": "b"}, "1"),
                     ({"__name__": "up", "job": "c"}, "0"), ({"__name__": "up", "job": "d"}, "1"))
    with pytest.raises(PrometheusConfigError) as err:
        one_number(payload, "check 'targets_up' query")
    assert "check 'targets_up' query returned 4 series" in err.value.msg
    assert 'up{job="a"}' in err.value.msg
    assert "aggregate with sum() or max()" in err.value.msg


def test_a_matrix_is_a_configuration_error():
    payload = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": "api"}, "values": [[1767225600.0, "1"], [1767225601.0, "2"]]}]}}
    with pytest.raises(PrometheusConfigError) as err:
        one_number(payload, "check 'raw' query")
    assert "check 'raw' query returned a range vector (matrix)" in err.value.msg


def test_a_string_result_is_a_configuration_error():
    payload = {"status": "success", "data": {"resultType": "string", "result": [1767225600.0, "hello"]}}
    with pytest.raises(PrometheusConfigError, match="returned a string result"):
        one_number(payload)


def test_a_sample_value_that_is_not_a_number_is_reported():
    with pytest.raises(PrometheusConfigError, match="'abc' that is not a number"):
        one_number(vector(({}, "abc")))


def test_unknown_result_type_is_reported():
    with pytest.raises(PrometheusConfigError, match="unknown result type 'histogram'"):
        parse_query_data({"resultType": "histogram", "result": []})


def test_a_malformed_result_is_reported_not_crashed_on():
    with pytest.raises(PrometheusConfigError, match="malformed vector result"):
        parse_query_data({"resultType": "vector", "result": [{"metric": {}}]})
    with pytest.raises(PrometheusConfigError, match="malformed scalar result"):
        parse_query_data({"resultType": "scalar", "result": None})


def test_prometheus_warnings_are_kept():
    payload = vector(({}, "1"))
    payload["warnings"] = ["results may be incomplete"]
    assert answer(200, payload).warnings == ["results may be incomplete"]


# -- error answers ----------------------------------------------------------------------------------

def test_malformed_promql_is_a_configuration_error_with_prometheus_own_text():
    payload = {"status": "error", "errorType": "bad_data",
               "error": 'invalid parameter "query": 1:5: parse error: unexpected end of input'}
    with pytest.raises(PrometheusConfigError) as err:
        answer(400, payload)
    assert 'parse error: unexpected end of input' in err.value.msg
    assert "bad_data" in err.value.msg
    assert URL in err.value.msg


def test_execution_errors_and_timeouts_are_transient():
    with pytest.raises(PrometheusUnavailable, match="query processing would load too many samples"):
        answer(422, {"status": "error", "errorType": "execution",
                     "error": "query processing would load too many samples into memory"})
    with pytest.raises(PrometheusUnavailable, match="query timed out"):
        answer(503, {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"})


def test_http_5xx_without_json_is_transient():
    with pytest.raises(PrometheusUnavailable, match="answered HTTP 502: Bad Gateway"):
        parse_query_response(502, "Bad Gateway", URL)


def test_rejected_credentials_and_wrong_url_are_configuration_errors():
    with pytest.raises(PrometheusConfigError, match="refused the credentials .HTTP 401."):
        parse_query_response(401, "Unauthorized", URL)
    with pytest.raises(PrometheusConfigError, match="no query API .HTTP 404"):
        parse_query_response(404, "404 page not found", URL)


def test_a_page_that_is_not_the_prometheus_api_is_a_configuration_error():
    with pytest.raises(PrometheusConfigError, match="did not answer like the Prometheus API"):
        parse_query_response(200, "<html>Grafana</html>", URL)


def test_messages_never_show_credentials_from_the_url():
    with pytest.raises(PrometheusUnavailable) as err:
        parse_query_response(500, "boom", "https://admin:hunter2@prom.test/prometheus")
    assert "hunter2" not in err.value.msg
    assert "https://prom.test/prometheus" in err.value.msg


# -- helpers ----------------------------------------------------------------------------------------

def test_safe_url_removes_user_and_password_only():
    assert safe_url("https://u:p@h.test:8443/x?q=1") == "https://h.test:8443/x?q=1"
    assert safe_url("http://h.test:9090") == "http://h.test:9090"


def test_url_password_is_found_and_unquoted():
    assert prom.url_password("https://u:p%40ss@h.test/x") == "p@ss"
    assert prom.url_password("https://u@h.test/x") is None
    assert prom.url_password(None) is None


def test_sensitive_header_values_are_picked_in_any_case():
    headers = {"authorization": "Bearer a", "X-API-KEY": "b", "Cookie": "c=1", "Accept": "json", "X-Api-Key": ""}
    assert prom.sensitive_header_values(headers) == ["Bearer a", "b", "c=1"]


def test_rfc3339_is_utc_with_milliseconds():
    assert rfc3339(1767225600.25) == "2026-01-01T00:00:00.250Z"


def test_describe_request_error_keeps_the_cause_not_the_retry_wrapper():
    conn = HTTPConnection("127.0.0.1", 1)  # not connected: only its repr is used
    cause = NewConnectionError(conn, "Failed to establish a new connection: [Errno 111] Connection refused")
    exc = requests.exceptions.ConnectionError(MaxRetryError(None, "/api/v1/query", reason=cause))
    assert describe_request_error(exc) == "Failed to establish a new connection: [Errno 111] Connection refused"


# -- client settings (no request is sent) -----------------------------------------------------------

def test_client_sends_a_bearer_token_and_extra_headers():
    client = PrometheusClient.from_params({
        "prometheus_url": "https://prom.test/prometheus/", "prometheus_bearer_token": "t0k",
        "prometheus_headers": {"X-Scope-OrgID": "lab"}, "prometheus_validate_certs": True,
        "prometheus_ca_path": "/etc/ca.pem", "prometheus_timeout": 3.0})
    assert client.query_url == "https://prom.test/prometheus/api/v1/query"
    assert client.session.headers["Authorization"] == "Bearer t0k"
    assert client.session.headers["X-Scope-OrgID"] == "lab"
    assert client.session.verify == "/etc/ca.pem"
    assert client.timeout == 3.0


def test_client_basic_auth_and_disabled_verification():
    client = PrometheusClient.from_params({
        "prometheus_url": URL, "prometheus_username": "u", "prometheus_password": "p",
        "prometheus_validate_certs": False, "prometheus_ca_path": "/etc/ca.pem"})
    assert client.session.auth == ("u", "p")
    assert client.session.verify is False


@pytest.mark.parametrize("url", ["prometheus:9090", "ftp://prom.test", "", None])
def test_client_rejects_a_url_that_is_not_http(url):
    with pytest.raises(PrometheusConfigError, match="is not an http.s. URL"):
        PrometheusClient(url)


@pytest.mark.parametrize("timeout", [0, -1.0, None])
def test_client_rejects_a_timeout_that_is_not_positive(timeout):
    with pytest.raises(PrometheusConfigError, match="prometheus_timeout .* must be a positive number"):
        PrometheusClient(URL, timeout=timeout)


def test_client_rejects_token_and_basic_auth_together():
    with pytest.raises(PrometheusConfigError, match="not both"):
        PrometheusClient(URL, bearer_token="t", username="u", password="p")


# -- argument spec ---------------------------------------------------------------------------------

def validate(params, environ=None, monkeypatch=None):
    for name, value in (environ or {}).items():
        monkeypatch.setenv(name, value)
    validator = ArgumentSpecValidator(prometheus_argument_spec(env_fallback),
                                      mutually_exclusive=prom.PROMETHEUS_MUTUALLY_EXCLUSIVE,
                                      required_together=prom.PROMETHEUS_REQUIRED_TOGETHER)
    return validator.validate(params)


def test_url_and_token_fall_back_to_the_environment(monkeypatch):
    result = validate({}, {"PROMETHEUS_URL": "http://env.test:9090", "PROMETHEUS_BEARER_TOKEN": "envtok"},
                      monkeypatch)
    assert result.error_messages == []
    assert result.validated_parameters["prometheus_url"] == "http://env.test:9090"
    assert result.validated_parameters["prometheus_bearer_token"] == "envtok"
    assert "envtok" in result._no_log_values
    assert result.validated_parameters["prometheus_timeout"] == 10.0
    assert result.validated_parameters["prometheus_validate_certs"] is True


def test_url_is_required_without_the_environment(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    result = validate({}, monkeypatch=monkeypatch)
    assert result.error_messages == ["missing required arguments: prometheus_url"]


def test_token_and_username_are_mutually_exclusive_and_password_needs_username(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_BEARER_TOKEN", raising=False)
    result = validate({"prometheus_url": URL, "prometheus_bearer_token": "t", "prometheus_username": "u",
                       "prometheus_password": "p"}, monkeypatch=monkeypatch)
    assert "mutually exclusive" in " ".join(result.error_messages)
    result = validate({"prometheus_url": URL, "prometheus_password": "p"}, monkeypatch=monkeypatch)
    assert "parameters are required together" in " ".join(result.error_messages)


def test_the_shared_spec_is_copied_not_shared():
    spec = prometheus_argument_spec(env_fallback)
    spec["prometheus_timeout"]["default"] = 99
    assert PROMETHEUS_ARG_SPEC["prometheus_timeout"]["default"] == 10.0
    assert "fallback" not in PROMETHEUS_ARG_SPEC["prometheus_url"]


# -- documentation matches the spec (what ansible-test validate-modules checks) --------------------

def _doc_options(documentation):
    return yaml.safe_load(documentation)["options"]


def docs_vs_spec_problems(doc_options, spec, where=""):
    """Differences between documented options and an argument spec (types, defaults, choices...)."""
    problems = []
    for name in sorted(set(doc_options) | set(spec)):
        path = where + name
        if name not in spec:
            problems.append("%s documented but not in the spec" % path)
            continue
        if name not in doc_options:
            problems.append("%s in the spec but not documented" % path)
            continue
        doc, arg = doc_options[name], spec[name]
        for key, default in (("type", "str"), ("elements", None), ("required", False),
                             ("default", None), ("choices", None)):
            if doc.get(key, default) != arg.get(key, default):
                problems.append("%s: %s is %r in the docs, %r in the spec"
                                % (path, key, doc.get(key, default), arg.get(key, default)))
        if "options" in arg or "suboptions" in doc:
            problems += docs_vs_spec_problems(doc.get("suboptions", {}), arg.get("options", {}), path + ".")
    return problems


def module_documentation(module_name):
    """DOCUMENTATION of a module, with its doc fragments' options merged in."""
    path = os.path.join(ROOT, "plugins", "modules", module_name + ".py")
    tree = ast.parse(open(path).read())
    docs = dict((node.targets[0].id, node.value.value) for node in tree.body
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) in
                ("DOCUMENTATION", "EXAMPLES", "RETURN"))
    parsed = yaml.safe_load(docs["DOCUMENTATION"])
    options = dict(parsed.get("options", {}))
    if "llm_research_lab.deploy.prometheus" in (parsed.get("extends_documentation_fragment") or []):
        options.update(_doc_options(ModuleDocFragment.DOCUMENTATION))
    yaml.safe_load(docs["EXAMPLES"])
    yaml.safe_load(docs["RETURN"])
    return parsed, options


def test_doc_fragment_matches_the_connection_spec():
    assert docs_vs_spec_problems(_doc_options(ModuleDocFragment.DOCUMENTATION), PROMETHEUS_ARG_SPEC) == []
