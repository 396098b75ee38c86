# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Smoke checks: substitution, JMESPath assertions, percentiles, redaction, validation.

Nothing here opens a socket: responses are real ``requests.Response`` objects filled in by hand,
and runner tests only cover paths that fail or skip before sending (the HTTP round trips are in
tests/integration/test_modules_local_services.py).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest
import requests

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.smoke import (
    REDACTED,
    MissingValue,
    Redactor,
    SmokeCheck,
    SmokeRunner,
    join_url,
    percentile,
    placeholders,
    smoke_argument_spec,
    substitute,
    substitute_data,
    values_equal,
)
from tests.unit.test_prometheus import docs_vs_spec_problems, module_documentation

DEFAULTS = {"retries": 0, "retry_delay": 1.0}


def response(status=200, body=None, content_type="application/json"):
    """A requests.Response as the library builds it from the wire."""
    resp = requests.Response()
    resp.status_code = status
    text = json.dumps(body) if content_type == "application/json" and not isinstance(body, str) else (body or "")
    resp._content = text.encode("utf-8")
    resp.encoding = "utf-8"
    resp.headers["Content-Type"] = content_type
    return resp


def check(**raw):
    raw.setdefault("name", "c")
    raw.setdefault("path", "/x")
    return SmokeCheck(raw, 0, DEFAULTS)


class NoNetworkSession(requests.Session):
    """A real session that refuses to send: these tests must fail or skip before any request."""

    def request(self, *args, **kwargs):
        raise AssertionError("a request was sent: %r %r" % (args, kwargs))


def runner(checks, check_mode=False, registered=None, **params):
    params.setdefault("base_url", "http://api.test:8080")
    params["checks"] = checks
    return SmokeRunner(params, session=NoNetworkSession(), check_mode=check_mode,
                       register_secret=registered.append if registered is not None else None)


# -- ${} substitution ---------------------------------------------------------------------------------

def test_substitute_replaces_each_placeholder():
    values = {"id": 42, "token": "abc", "flag": True}
    assert substitute("/exp/${id}/runs?t=${token}&f=${flag}", values) == "/exp/42/runs?t=abc&f=true"


def test_double_dollar_escapes_a_literal_placeholder():
    assert substitute("price $${id} is ${id}", {"id": 7}) == "price ${id} is 7"
    assert substitute("$${unknown}", {}) == "${unknown}"
    assert substitute("cost: $5 {x}", {}) == "cost: $5 {x}"


def test_an_unknown_name_raises_with_the_name():
    with pytest.raises(MissingValue) as err:
        substitute("Bearer ${token}", {"id": 1})
    assert err.value.name == "token"


def test_json_bodies_are_substituted_recursively_and_a_lone_placeholder_keeps_its_type():
    body = {"experiment_id": "${id}", "tags": ["run-${id}", {"owner": "${user}"}], "step": 1,
            "note": "$${id} stays"}
    assert substitute_data(body, {"id": 42, "user": "smoke"}) == {
        "experiment_id": 42, "tags": ["run-42", {"owner": "smoke"}], "step": 1, "note": "${id} stays"}
    with pytest.raises(MissingValue, match="user"):
        substitute_data({"a": [{"b": "${user}"}]}, {})


def test_placeholders_lists_the_names_used():
    assert placeholders({"a": ["${x}", "$${y}"], "b": "${z}-${x}"}) == ["x", "z", "x"]


def test_join_url_puts_one_slash_between_base_and_path():
    assert join_url("http://h:8080/api/", "/v1/x?q=1") == "http://h:8080/api/v1/x?q=1"
    assert join_url("http://h:8080", "health") == "http://h:8080/health"


# -- percentiles ------------------------------------------------------------------------------------

def test_percentile_interpolates_between_closest_ranks():
    assert percentile([10.0], 95) == 10.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(1, 21)), 95) == pytest.approx(19.05)
    assert percentile([5, 1, 3], 0) == 1 and percentile([5, 1, 3], 100) == 5


def test_percentile_refuses_bad_input():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)


# -- JMESPath assertions on responses ----------------------------------------------------------------

def judged(chk, resp):
    request = {"expect": chk.expect}
    return runner([{"name": "x", "path": "/"}]).judge_response(chk, request, resp)


def test_expect_matches_after_evaluation():
    chk = check(expect={"status": "ready", "dependencies.database.latency_ms": 3, "length(items)": 2})
    problem, document = judged(chk, response(body={"status": "ready", "items": [1, 2],
                                                   "dependencies": {"database": {"latency_ms": 3.0}}}))
    assert problem is None
    assert document["status"] == "ready"


def test_expect_mismatch_says_what_came_back():
    chk = check(expect={"status": "ready", "ok": True})
    problem, _doc = judged(chk, response(body={"status": "starting", "ok": 1}))
    assert problem == 'expect status: got starting, expected ready; expect ok: got 1, expected true'


def test_a_status_outside_expect_status_fails_with_a_body_snippet():
    problem, _doc = judged(check(expect_status=[200, 202]), response(503, {"error": "draining"}))
    assert problem == 'status 503, expected one of [200, 202]: {"error": "draining"}'


def test_a_body_that_is_not_json_fails_expect_clearly():
    problem, _doc = judged(check(expect={"status": "ok"}), response(body="<html>maintenance</html>",
                                                                    content_type="text/html"))
    assert problem == "response is not JSON (text/html): <html>maintenance</html>; cannot evaluate expect"


def test_a_save_expression_matching_nothing_fails():
    problem, _doc = judged(check(save={"token": "access_token"}), response(body={"token": "t"}))
    assert problem == "save token: 'access_token' matched nothing in the response"


def test_values_equal_is_json_equality():
    assert values_equal(1, 1.0)
    assert not values_equal(True, 1) and not values_equal(0, False)
    assert values_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not values_equal([1, 2], [1])


@pytest.mark.parametrize("raw, where", [
    ({"expect": {"items[?": 1}}, "in expect"),
    ({"save": {"token": "token | | x"}}, "in save.token"),
])
def test_an_invalid_jmespath_expression_fails_before_anything_is_sent(raw, where):
    checks = [{"name": "first", "path": "/ok"}, dict({"name": "second", "path": "/x"}, **raw)]
    with pytest.raises(DeployError) as err:
        runner(checks)
    assert err.value.msg.startswith("check 'second': invalid JMESPath expression")
    assert where in err.value.msg
    assert err.value.msg.endswith("no request was sent")


# -- validation -------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, message", [
    ({"samples": 0}, "samples 0 must be 1 or more"),
    ({"percentile": 101.0}, "percentile 101.0 must be between 0 and 100"),
    ({"max_latency_ms": 0}, "max_latency_ms 0 must be a positive number"),
    ({"expect_status": [200, 999]}, "expect_status 999 is not an HTTP status code"),
    ({"json": {"a": 1}, "body": "x"}, "sets both json and body"),
    ({"method": "GE T"}, "method 'GE T' is not an HTTP method"),
    ({"save": {"my-token": "t"}}, "save name 'my-token' is not a valid ${} name"),
    ({"retries": -1}, "retries -1 must be 0 or more"),
])
def test_bad_checks_are_refused(raw, message):
    with pytest.raises(DeployError) as err:
        check(**raw)
    assert message in err.value.msg


def test_base_url_must_be_http():
    with pytest.raises(DeployError, match="base_url 'api:8080' is not an http"):
        runner([{"name": "a", "path": "/"}], base_url="api:8080")


def test_timeout_must_be_positive():
    with pytest.raises(DeployError, match="timeout 0 must be a positive number of seconds"):
        runner([{"name": "a", "path": "/"}], timeout=0)


def test_per_check_retries_override_the_module_default():
    assert check(retries=3, retry_delay=0.5).retries == 3
    chk = SmokeCheck({"name": "c", "path": "/"}, 0, {"retries": 2, "retry_delay": 0.25})
    assert (chk.retries, chk.retry_delay) == (2, 0.25)


# -- saved values that are missing -------------------------------------------------------------------

def test_a_value_no_check_saves_fails_that_check_naming_the_variable():
    result = runner([{"name": "me", "path": "/me", "headers": {"Authorization": "Bearer ${token}"}}],
                    fail_on_error=False).run()
    assert result["results"][0]["passed"] is False
    assert result["results"][0]["message"] == ("needs ${token}, which was never saved: no check saves it "
                                               "(add save: {token: <JMESPath>} to an earlier check)")
    assert result["failed_count"] == 1


def test_a_value_saved_only_later_names_the_later_check():
    checks = [{"name": "me", "path": "/me/${user_id}"},
              {"name": "login", "method": "POST", "path": "/login", "save": {"user_id": "id"}}]
    with pytest.raises(DeployError) as err:
        runner(checks, check_mode=True).run()
    assert "- me: needs ${user_id}, which was never saved: only the later check 'login' saves it" in err.value.msg


def test_a_failed_saver_is_named_by_the_check_that_needed_it():
    run = runner([{"name": "me", "path": "/me", "headers": {"Authorization": "Bearer ${token}"}}])
    run.missing["token"] = ("login", "failed")
    record = run.run_check(run.checks[0])
    assert record["message"] == "needs ${token}, which was never saved: check 'login' should have saved it but failed"


# -- check mode --------------------------------------------------------------------------------------

def test_check_mode_skips_writes_and_the_checks_that_need_their_values():
    checks = [
        {"name": "login", "method": "POST", "path": "/login", "json": {"u": "x"}, "save": {"token": "token"}},
        {"name": "me", "path": "/me", "headers": {"Authorization": "Bearer ${token}"}},
        {"name": "delete", "method": "DELETE", "path": "/exp/1"},
    ]
    result = runner(checks, check_mode=True).run()
    assert [r["passed"] for r in result["results"]] == [None, None, None]
    assert result["results"][0]["message"] == "skipped in check mode"
    assert result["results"][1]["message"] == ("skipped in check mode: needs ${token} from check 'login', "
                                               "which was skipped in check mode")
    assert (result["passed"], result["failed_count"], result["skipped_count"]) == (0, 0, 3)


# -- redaction --------------------------------------------------------------------------------------

def test_redactor_scrubs_secrets_and_the_credential_part_of_auth_headers():
    registered = []
    redactor = Redactor(registered.append)
    redactor.add("Bearer eyJhbGciOi.secret")
    redactor.add("")
    assert registered == ["Bearer eyJhbGciOi.secret", "eyJhbGciOi.secret"]
    assert redactor.data({"url": "/x?t=eyJhbGciOi.secret", "list": ["Bearer eyJhbGciOi.secret"], "n": 3}) == {
        "url": "/x?t=" + REDACTED, "list": [REDACTED], "n": 3}


def test_secret_saves_default_to_names_that_look_secret():
    run = runner([{"name": "a", "path": "/"}])
    assert [n for n in ("token", "api_key", "DB_PASSWORD", "client_secret", "experiment_id") if run.is_secret_save(n)] == [
        "token", "api_key", "DB_PASSWORD", "client_secret"]
    explicit = runner([{"name": "a", "path": "/"}], secret_saves=["session"])
    assert explicit.is_secret_save("session") and not explicit.is_secret_save("token")


def test_saved_secrets_are_redacted_and_registered():
    registered = []
    run = runner([{"name": "login", "path": "/login", "save": {"token": "token", "experiment_id": "id"}}],
                 registered=registered)
    run._save(run.checks[0], {"token": "tok-123456", "id": 42})
    record = {"name": "me", "method": "GET", "url": "http://api.test:8080/me?t=tok-123456", "status": 200,
              "latency_ms": 1.0, "latencies_ms": [1.0], "attempts": 1, "passed": False,
              "message": "expect user: got tok-123456, expected x"}
    with pytest.raises(DeployError) as err:
        run.summary([record])
    assert "tok-123456" not in json.dumps(err.value.details) + err.value.msg
    assert err.value.details["saved"] == {"token": REDACTED, "experiment_id": 42}
    assert err.value.details["results"][0]["url"] == "http://api.test:8080/me?t=" + REDACTED
    assert registered == ["tok-123456"]


def test_secrets_written_in_the_task_are_registered_before_anything_can_fail():
    registered = []
    checks = [{"name": "login", "method": "POST", "path": "/login",
               "json": {"username": "smoke", "credentials": {"password": "pw-1"}, "api_key": "k-2"}},
              {"name": "me", "path": "/me", "headers": {"authorization": "Basic YWI6Y2Q=", "X-Trace": "t"}},
              {"name": "later", "path": "/x", "headers": {"Authorization": "Bearer ${token}"}},
              {"name": "broken", "path": "/x", "expect": {"a[": 1}}]
    with pytest.raises(DeployError, match="invalid JMESPath"):
        runner(checks, registered=registered, base_url="https://u:base-pw@api.test",
               headers={"X-Api-Key": "k-999", "Accept": "application/json"})
    assert registered == ["base-pw", "k-999", "pw-1", "k-2", "Basic YWI6Y2Q=", "YWI6Y2Q="]


# -- argument spec and documentation ----------------------------------------------------------------

def test_argument_spec_turns_a_single_status_into_a_list_and_fills_defaults():
    result = ArgumentSpecValidator(smoke_argument_spec()).validate({
        "base_url": "http://api:8080", "checks": [{"name": "a", "path": "/", "expect_status": 201}]})
    assert result.error_messages == []
    chk = result.validated_parameters["checks"][0]
    assert chk["expect_status"] == [201]
    assert (chk["method"], chk["samples"], chk["percentile"]) == ("GET", 1, 95.0)
    assert result.validated_parameters["timeout"] == 10.0


def test_argument_spec_refuses_json_and_body_together():
    result = ArgumentSpecValidator(smoke_argument_spec()).validate({
        "base_url": "http://api:8080", "checks": [{"name": "a", "path": "/", "json": {}, "body": "x"}]})
    assert "mutually exclusive: json|body" in " ".join(result.error_messages)


def test_module_documentation_matches_the_argument_spec():
    parsed, options = module_documentation("smoke_check")
    assert docs_vs_spec_problems(options, smoke_argument_spec()) == []
