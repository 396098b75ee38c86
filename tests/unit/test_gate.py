# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The analysis gate: check validation, judging samples, breach and error counting, the loop.

The loop runs on a fake clock: sleeping advances it, so a 60 s window takes no time, and the
query function answers from a script keyed by the second of the window, in the exact JSON shapes
Prometheus sends (parsed by the real parser).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import math

import pytest

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.gate import (
    BREACH,
    GATE_ARG_SPEC,
    NO_DATA_PASS,
    OK,
    SKIPPED,
    Check,
    gate_argument_spec,
    judge,
    parse_checks,
    run_analysis,
    run_gate,
)
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.prometheus import (
    PrometheusUnavailable,
    parse_query_response,
    prometheus_argument_spec,
)
from tests.unit.test_prometheus import docs_vs_spec_problems, module_documentation

EPOCH = 1767225600.0  # 2026-01-01T00:00:00Z


class FakeClock(object):
    """Monotonic and wall clock that only move when someone sleeps (or a query 'takes' time)."""

    def __init__(self):
        self.offset = 0.0
        self.slept = []

    def monotonic(self):
        return 1000.0 + self.offset

    def time(self):
        return EPOCH + self.offset

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.offset += seconds


def scalar(value):
    return {"status": "success", "data": {"resultType": "scalar", "result": [EPOCH, value]}}


def vector(*values):
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"pod": "p%d" % i}, "value": [EPOCH, v]} for i, v in enumerate(values)]}}


class FakePrometheus(object):
    """Answers each PromQL expression from a function of the window second, like a server would.

    An answer is a payload (parsed by the real parser), an (HTTP status, payload) pair, or an
    exception instance to raise (a transient query error).
    """

    def __init__(self, clock, answers, query_seconds=0.0):
        self.clock = clock
        self.answers = answers
        self.query_seconds = query_seconds
        self.calls = []

    def query(self, promql, at):
        second = at - EPOCH
        self.calls.append((promql, second))
        self.clock.offset += self.query_seconds
        answer = self.answers[promql](second)
        if isinstance(answer, Exception):
            raise answer
        status, payload = answer if isinstance(answer, tuple) else (200, answer)
        return parse_query_response(status, json.dumps(payload), "http://prometheus.test:9090")


def analyse(checks, answers, clock=None, query_seconds=0.0, final=None, **kwargs):
    clock = clock or FakeClock()
    prometheus = FakePrometheus(clock, answers, query_seconds)
    result = run_analysis(parse_checks(checks), prometheus.query, clock=clock.monotonic,
                          sleep=clock.sleep, now=clock.time, final_checks=parse_checks(final, "final_checks") if final else (),
                          **kwargs)
    return result, prometheus, clock


ERROR_RATIO = {"name": "error_ratio", "query": "errors", "max": 0.05}


# -- check definitions ------------------------------------------------------------------------------

@pytest.mark.parametrize("checks, message", [
    ([], "checks is empty"),
    ([{"name": "a", "query": "x"}], "check 'a' has no threshold"),
    ([{"name": "a", "query": "x", "max": 1}, {"name": "a", "query": "y", "max": 1}], "'a' is used twice"),
    ([{"name": "a", "query": "x", "max_ratio": 2}], "no baseline_query to divide by"),
    ([{"name": "a", "query": "x", "baseline_query": "y"}], "neither max_ratio nor min_ratio"),
    ([{"name": "a", "query": "x", "baseline_query": "y", "max_ratio": 2, "max": 1}], "split it into two checks"),
    ([{"name": "a", "query": "x", "min": 2, "max": 1}], "min 2 is greater than max 1"),
    ([{"name": "a", "query": "x", "max": "lots"}], "max 'lots' is not a number"),
    ([{"name": "a", "query": "x", "max": 1, "on_no_data": "ignore"}], "on_no_data 'ignore' is not one of"),
    ([{"name": "a", "max": 1}], "has no query"),
    ([{"query": "x", "max": 1}], "has no name"),
    ([{"name": "a", "query": "x", "maximum": 1}], "unknown option(s) maximum"),
])
def test_bad_checks_are_refused_before_any_query(checks, message):
    with pytest.raises(DeployError) as err:
        parse_checks(checks)
    assert message in err.value.msg
    assert "nothing was queried" in err.value.msg


def test_thresholds_given_as_strings_become_numbers():
    check = parse_checks([{"name": "a", "query": "x", "max": "0.05", "min": 0}])[0]
    assert check.bounds() == {"max": 0.05, "min": 0.0}
    assert check.on_no_data == "fail"


# -- judging one sample -----------------------------------------------------------------------------

def absolute(**kwargs):
    return Check(name="c", query="q", **kwargs)


def ratio(**kwargs):
    return Check(name="c", query="q", baseline_query="b", **kwargs)


def test_absolute_thresholds():
    assert judge(absolute(max=0.05), 0.01)["status"] == OK
    assert judge(absolute(max=0.05), 0.05)["status"] == OK  # at the limit is within it
    over = judge(absolute(max=0.05), 0.31)
    assert (over["status"], over["bound"], over["comparison"], over["detail"]) == (BREACH, "max", ">", "0.31 > 0.05")
    under = judge(absolute(min=2), 1)
    assert (under["status"], under["bound"], under["detail"]) == (BREACH, "min", "1 < 2")


def test_infinities_compare_numerically():
    assert judge(absolute(max=1e12), math.inf)["detail"] == "+Inf > 1e+12"
    assert judge(absolute(min=0), -math.inf)["detail"] == "-Inf < 0"
    assert judge(absolute(min=0), math.inf)["status"] == OK


def test_ratio_against_a_baseline():
    assert judge(ratio(max_ratio=2), 0.3, 0.2)["status"] == OK
    over = judge(ratio(max_ratio=2), 0.5, 0.2)
    assert over["status"] == BREACH
    assert over["ratio"] == pytest.approx(2.5)
    assert over["detail"] == "ratio 2.5 (0.5 / 0.2) > max_ratio 2"
    assert judge(ratio(min_ratio=0.5), 0.05, 0.2)["bound"] == "min_ratio"


@pytest.mark.parametrize("value, baseline, why", [
    (None, None, "no data (empty result or NaN)"),
    (None, 0.2, "no data (empty result or NaN)"),
    (0.3, None, "no data (baseline empty or NaN)"),
    (0.3, 0.0, "no data (baseline is 0)"),
    (math.inf, math.inf, "no data (+Inf / +Inf is not a number)"),
])
def test_no_data_in_a_ratio_check_follows_on_no_data(value, baseline, why):
    failing = judge(ratio(max_ratio=2), value, baseline)
    assert (failing["status"], failing["comparison"]) == (BREACH, "no data")
    assert failing["detail"].startswith(why)
    assert judge(ratio(max_ratio=2, on_no_data="pass"), value, baseline)["status"] == NO_DATA_PASS
    assert judge(ratio(max_ratio=2, on_no_data="skip"), value, baseline)["status"] == SKIPPED


def test_no_data_in_an_absolute_check_follows_on_no_data():
    assert judge(absolute(max=1), None)["status"] == BREACH
    assert judge(absolute(max=1, on_no_data="pass"), None)["status"] == NO_DATA_PASS
    assert judge(absolute(max=1, on_no_data="skip"), None)["status"] == SKIPPED


# -- the analysis loop ------------------------------------------------------------------------------

def test_evaluate_once_when_duration_is_zero():
    result, prometheus, clock = analyse([ERROR_RATIO], {"errors": lambda s: vector("0.01")})
    assert result["passed"] is True and result["breached"] is False
    assert result["evaluations"] == 1
    assert clock.slept == []
    assert result["samples"]["error_ratio"] == [{
        "time": "2026-01-01T00:00:00.000Z", "value": 0.01, "baseline": None, "ratio": None,
        "threshold": {"max": 0.05}, "status": "ok", "error": None, "labels": {}}]
    assert result["reason"] == "all 1 check(s) passed: 1 evaluation(s) over 0.0 s"


def test_a_full_window_evaluates_at_each_interval_up_to_the_end():
    result, prometheus, clock = analyse([ERROR_RATIO], {"errors": lambda s: vector("0.01")},
                                        interval=2, duration=60)
    assert result["passed"] is True
    assert result["evaluations"] == 31  # t = 0, 2, ..., 60
    assert [second for _q, second in prometheus.calls] == [float(t) for t in range(0, 61, 2)]
    assert result["elapsed"] == 60.0


def test_a_breach_stops_the_analysis_early_instead_of_waiting_for_the_window():
    answers = {"errors": lambda s: vector("0.31" if s >= 6 else "0.01")}
    result, prometheus, clock = analyse([ERROR_RATIO], answers, interval=2, duration=60, labels={"stage": 25})
    assert result["passed"] is False and result["breached"] is True
    assert result["evaluations"] == 4  # t = 0, 2, 4 fine; t = 6 breaches: no round after it
    assert result["elapsed"] == 6.0
    assert result["reason"] == ("check error_ratio breached: 0.31 > 0.05 at 2026-01-01T00:00:06.000Z "
                                "(breach 1, failure_limit 0)")
    assert result["breaches"] == [{
        "check": "error_ratio", "value": 0.31, "baseline": None, "ratio": None, "threshold": 0.05,
        "bound": "max", "comparison": ">", "time": "2026-01-01T00:00:06.000Z", "labels": {"stage": 25},
        "breach": 1, "description": None}]
    assert [s["status"] for s in result["samples"]["error_ratio"]] == ["ok", "ok", "ok", "breach"]
    assert all(s["labels"] == {"stage": 25} for s in result["samples"]["error_ratio"])


def test_failure_limit_tolerates_that_many_breaches_per_check():
    answers = {"errors": lambda s: vector("0.5" if s in (2, 8, 10, 20) else "0.01")}
    result, _p, _c = analyse([ERROR_RATIO], answers, interval=2, duration=60, failure_limit=2)
    assert result["passed"] is False
    assert result["evaluations"] == 6  # breaches at 2, 8 tolerated; the third (t = 10) fails
    assert "(breach 3, failure_limit 2)" in result["reason"]
    assert [b["breach"] for b in result["breaches"]] == [1, 2, 3]


REQUESTS = {"name": "requests", "query": "requests", "min": 20}


def test_final_checks_judge_the_window_once_at_its_end():
    answers = {"errors": lambda s: vector("0.01"), "requests": lambda s: vector("120")}
    result, prometheus, _c = analyse([dict(ERROR_RATIO, on_no_data="skip")], answers, interval=2, duration=10,
                                     final=[REQUESTS, ERROR_RATIO])
    assert result["passed"] is True
    assert result["evaluations"] == 7  # t = 0, 2, ..., 10, then the verdict at t = 10
    assert [q for q, second in prometheus.calls if second == 10.0] == ["errors", "requests", "errors"]
    assert [s["status"] for s in result["samples"]["requests"]] == ["ok"]
    assert len(result["samples"]["error_ratio"]) == 7  # the final sample joins the check's list
    assert "and 2 final check(s) passed" in result["reason"]


def test_a_final_breach_fails_whatever_the_failure_limit():
    answers = {"errors": lambda s: vector("0.01"), "requests": lambda s: vector("3")}
    result, _p, _c = analyse([ERROR_RATIO], answers, interval=2, duration=4, failure_limit=5, final=[REQUESTS])
    assert result["passed"] is False and result["breached"] is True
    assert result["reason"].startswith("final check requests breached: 3 < 20")


def test_final_no_data_fails_while_the_window_skipped_it():
    answers = {"errors": lambda s: vector()}
    result, _p, _c = analyse([dict(ERROR_RATIO, on_no_data="skip")], answers, interval=2, duration=4,
                             final=[ERROR_RATIO])
    assert result["passed"] is False
    assert [s["status"] for s in result["samples"]["error_ratio"]] == ["skipped"] * 3 + ["breach"]


def test_final_checks_do_not_run_after_a_failed_window():
    answers = {"errors": lambda s: vector("0.5"), "requests": lambda s: vector("100")}
    result, prometheus, _c = analyse([ERROR_RATIO], answers, interval=2, duration=10, final=[REQUESTS])
    assert result["passed"] is False and result["evaluations"] == 1
    assert "requests" not in [q for q, _s in prometheus.calls]


def test_a_final_query_error_is_retried_never_passed():
    calls = []

    def flaky(second):
        calls.append(second)
        return PrometheusUnavailable("HTTP 503") if len(calls) == 1 else vector("50")
    answers = {"errors": lambda s: vector("0.01"), "requests": flaky}
    result, _p, _c = analyse([ERROR_RATIO], answers, interval=2, duration=2, final=[REQUESTS])
    assert result["passed"] is True
    assert calls == [2.0, 4.0]


def test_tolerated_breaches_are_reported_when_the_analysis_passes():
    answers = {"errors": lambda s: vector("0.5" if s == 4 else "0.01")}
    result, _p, _c = analyse([ERROR_RATIO], answers, interval=2, duration=10, failure_limit=1)
    assert result["passed"] is True
    assert len(result["breaches"]) == 1
    assert "1 breach(es) within failure_limit 1" in result["reason"]


def test_every_check_of_a_round_is_queried_at_the_same_instant():
    checks = [ERROR_RATIO, {"name": "p99", "query": "canary_p99", "baseline_query": "stable_p99", "max_ratio": 2}]
    answers = {"errors": lambda s: vector("0.01"), "canary_p99": lambda s: scalar("0.3"),
               "stable_p99": lambda s: scalar("0.2")}
    result, prometheus, clock = analyse(checks, answers, interval=5, duration=10, query_seconds=0.4)
    assert result["passed"] is True
    assert [c for c in prometheus.calls if c[1] == 0.0] == [("errors", 0.0), ("canary_p99", 0.0), ("stable_p99", 0.0)]
    assert result["samples"]["p99"][0]["ratio"] == pytest.approx(1.5)
    assert result["samples"]["p99"][0]["baseline"] == 0.2


def test_slow_rounds_skip_slots_instead_of_bursting():
    result, prometheus, clock = analyse([ERROR_RATIO], {"errors": lambda s: vector("0.01")},
                                        interval=2, duration=20, query_seconds=5)
    assert [second for _q, second in prometheus.calls] == [0.0, 6.0, 12.0, 18.0]
    assert result["passed"] is True


def test_no_data_fails_by_default():
    result, _p, _c = analyse([ERROR_RATIO], {"errors": lambda s: vector()}, interval=2, duration=10)
    assert result["passed"] is False
    assert result["evaluations"] == 1
    assert result["reason"].startswith("check error_ratio breached: no data (empty result or NaN) at")
    assert result["breaches"][0]["value"] is None
    assert result["breaches"][0]["comparison"] == "no data"


def test_no_data_can_pass_or_be_skipped_but_is_recorded():
    passing = dict(ERROR_RATIO, on_no_data="pass")
    result, _p, _c = analyse([passing], {"errors": lambda s: vector("NaN")}, interval=2, duration=4)
    assert result["passed"] is True
    assert [s["status"] for s in result["samples"]["error_ratio"]] == ["no_data_pass"] * 3
    assert "3 sample(s) without data passed (on_no_data=pass)" in result["reason"]
    skipping = dict(ERROR_RATIO, on_no_data="skip")
    result, _p, _c = analyse([skipping], {"errors": lambda s: vector()}, interval=2, duration=4)
    assert result["passed"] is True
    assert [s["status"] for s in result["samples"]["error_ratio"]] == ["skipped"] * 3


def test_query_errors_fail_after_error_limit_errors_in_a_row():
    down = PrometheusUnavailable("Prometheus at http://prometheus.test:9090 is unreachable: Connection refused")
    result, _p, _c = analyse([ERROR_RATIO], {"errors": lambda s: down}, interval=2, duration=60, error_limit=2)
    assert result["passed"] is False and result["breached"] is False
    assert result["evaluations"] == 3
    assert result["reason"] == ("check error_ratio: 3 query errors in a row (error_limit 2): Prometheus at "
                                "http://prometheus.test:9090 is unreachable: Connection refused")
    assert len(result["errors"]) == 3
    assert [s["status"] for s in result["samples"]["error_ratio"]] == ["error"] * 3


def test_an_answer_between_errors_resets_the_count():
    down = PrometheusUnavailable("unreachable")
    answers = {"errors": lambda s: down if s % 6 != 4 else vector("0.01")}  # ok at 4, 10, 16, ...
    result, _p, _c = analyse([ERROR_RATIO], answers, interval=2, duration=20, error_limit=2)
    assert result["passed"] is True
    assert len(result["errors"]) == 8  # t = 0, 2, 6, 8, 12, 14, 18, 20
    # t = 20 errored at the end of the window: one more round at t = 22 got the answer.
    assert result["evaluations"] == 12


def test_an_error_at_the_end_of_the_window_is_retried_never_passed():
    calls = []

    def flaky(second):
        calls.append(second)
        return PrometheusUnavailable("HTTP 503") if len(calls) == 1 else vector("0.01")
    result, prometheus, clock = analyse([ERROR_RATIO], {"errors": flaky}, interval=3, error_limit=2)
    assert result["passed"] is True
    assert result["evaluations"] == 2
    assert calls == [0.0, 3.0]
    down = PrometheusUnavailable("HTTP 503")
    result, _p, _c = analyse([ERROR_RATIO], {"errors": lambda s: down}, interval=3, error_limit=0)
    assert result["passed"] is False
    assert result["evaluations"] == 1


def test_malformed_promql_fails_at_once_with_prometheus_text_and_the_check_name():
    bad = (400, {"status": "error", "errorType": "bad_data",
                 "error": 'invalid parameter "query": 1:4: parse error: unclosed left parenthesis'})
    with pytest.raises(DeployError) as err:
        analyse([ERROR_RATIO], {"errors": lambda s: bad}, interval=2, duration=60, error_limit=5)
    assert err.value.msg.startswith("check 'error_ratio': Prometheus at http://prometheus.test:9090 rejected "
                                    "the query: invalid parameter \"query\": 1:4: parse error: unclosed left "
                                    "parenthesis (bad_data, HTTP 400)")
    assert err.value.details["evaluations"] == 1
    assert err.value.details["passed"] is False
    assert err.value.details["reason"] == err.value.msg


def test_several_series_fail_at_once_naming_the_check():
    checks = [{"name": "p99", "query": "canary_p99", "baseline_query": "stable_p99", "max_ratio": 2}]
    answers = {"canary_p99": lambda s: scalar("0.3"), "stable_p99": lambda s: vector("0.2", "0.4")}
    with pytest.raises(DeployError) as err:
        analyse(checks, answers)
    assert "check 'p99' baseline_query returned 2 series" in err.value.msg
    assert "aggregate with sum() or max()" in err.value.msg


def test_infinite_values_are_returned_as_prometheus_spells_them():
    result, _p, _c = analyse([{"name": "lat", "query": "lat", "max": 5}], {"lat": lambda s: vector("+Inf")})
    assert result["breaches"][0]["value"] == "+Inf"
    assert result["samples"]["lat"][0]["value"] == "+Inf"
    json.dumps(result, allow_nan=False)  # strict JSON: AWX and jq accept it


@pytest.mark.parametrize("kwargs, message", [
    ({"interval": 0}, "interval 0 must be a positive number"),
    ({"duration": -1}, "duration -1 must be 0"),
    ({"failure_limit": -1}, "failure_limit -1 must be 0 or more"),
    ({"error_limit": -2}, "error_limit -2 must be 0 or more"),
])
def test_bad_window_settings_are_refused(kwargs, message):
    with pytest.raises(DeployError, match=message):
        analyse([ERROR_RATIO], {"errors": lambda s: vector("0")}, **kwargs)


# -- run_gate: what the module returns or raises ----------------------------------------------------

class GateClient(object):
    url = "http://prometheus.test:9090"

    def __init__(self, prometheus):
        self.query = prometheus.query


def gate(params, answers):
    clock = FakeClock()
    client = GateClient(FakePrometheus(clock, answers))
    base = {"interval": 2.0, "duration": 20.0, "failure_limit": 0, "error_limit": 2, "fail_on_breach": True}
    base.update(params)
    return run_gate(base, client=client, clock=clock.monotonic, sleep=clock.sleep, now=clock.time)


def test_a_failed_gate_raises_with_the_reason_and_every_return_value():
    with pytest.raises(DeployError) as err:
        gate({"checks": [ERROR_RATIO]}, {"errors": lambda s: vector("0.2")})
    assert err.value.msg.startswith("check error_ratio breached: 0.2 > 0.05")
    assert set(err.value.details) >= {"passed", "breached", "reason", "breaches", "samples", "evaluations",
                                      "elapsed", "errors", "prometheus_url"}


def test_fail_on_breach_false_returns_the_breach():
    result = gate({"checks": [ERROR_RATIO], "fail_on_breach": False}, {"errors": lambda s: vector("0.2")})
    assert (result["passed"], result["breached"], result["evaluations"]) == (False, True, 1)


def test_fail_on_breach_false_still_fails_when_prometheus_is_unreachable():
    down = PrometheusUnavailable("unreachable")
    with pytest.raises(DeployError, match="3 query errors in a row"):
        gate({"checks": [ERROR_RATIO], "fail_on_breach": False}, {"errors": lambda s: down})


def test_run_gate_registers_credentials_from_the_url_and_headers():
    registered = []
    with pytest.raises(DeployError, match="is not an http"):
        run_gate({"prometheus_url": "prom://u:url-pw@h", "prometheus_headers": {"X-Api-Key": "hdr-key"},
                  "checks": [ERROR_RATIO]}, register_secret=registered.append)
    assert registered == ["url-pw", "hdr-key"]


def test_run_gate_refuses_a_bad_url_before_querying():
    with pytest.raises(DeployError, match="prometheus_url 'prometheus:9090' is not an http"):
        run_gate({"prometheus_url": "prometheus:9090", "checks": [ERROR_RATIO]})


# -- argument spec and documentation ----------------------------------------------------------------

def module_spec():
    spec = prometheus_argument_spec(env_fallback)
    spec.update(gate_argument_spec())
    return spec


def test_argument_spec_applies_defaults_and_choices():
    validator = ArgumentSpecValidator(module_spec())
    result = validator.validate({"prometheus_url": "http://p:9090",
                                 "checks": [{"name": "a", "query": "x", "max": "0.5"}]})
    assert result.error_messages == []
    params = result.validated_parameters
    assert (params["interval"], params["duration"], params["failure_limit"], params["error_limit"]) == (10.0, 0.0, 0, 2)
    assert params["checks"][0]["max"] == 0.5 and params["checks"][0]["on_no_data"] == "fail"
    bad = validator.validate({"prometheus_url": "http://p:9090",
                              "checks": [{"name": "a", "query": "x", "max": 1, "on_no_data": "maybe"}]})
    assert "on_no_data must be one of: fail, pass, skip" in " ".join(bad.error_messages)


def test_module_documentation_matches_the_argument_spec():
    parsed, options = module_documentation("prometheus_gate")
    assert parsed["version_added"] == "0.1.0"
    assert docs_vs_spec_problems(options, module_spec()) == []
    assert GATE_ARG_SPEC["checks"]["options"]["on_no_data"]["default"] == "fail"
