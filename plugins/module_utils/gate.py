# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus analysis gate: check definitions, evaluation, breach counting and the analysis loop.

The loop evaluates every check at t = 0, interval, 2*interval, ... up to the end of the window
and stops at the first breach past the failure limit: a bad canary is caught while it soaks,
not after (the original script slept five minutes and then looked once).

No data is never a silent pass: each check says what an empty result or NaN means, and query
errors are retried at most ``error_limit`` times in a row, then fail the analysis.

The clock, the sleep and the query function are parameters so the loop runs in unit tests
without a Prometheus server and without waiting.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import math
import time

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.prometheus import (
    PrometheusClient,
    PrometheusConfigError,
    PrometheusUnavailable,
    rfc3339,
    safe_url,
    sensitive_header_values,
    single_value,
    url_password,
)

ON_NO_DATA = ("fail", "pass", "skip")

CHECK_OPTIONS = {
    "name": {"type": "str", "required": True},
    "query": {"type": "str", "required": True},
    "max": {"type": "float"},
    "min": {"type": "float"},
    "baseline_query": {"type": "str"},
    "max_ratio": {"type": "float"},
    "min_ratio": {"type": "float"},
    "on_no_data": {"type": "str", "default": "fail", "choices": list(ON_NO_DATA)},
    "description": {"type": "str"},
}

# The gate's own options; modules add the Prometheus connection options to a deep copy.
GATE_ARG_SPEC = {
    "checks": {"type": "list", "elements": "dict", "required": True, "options": CHECK_OPTIONS},
    "final_checks": {"type": "list", "elements": "dict", "options": CHECK_OPTIONS},
    "interval": {"type": "float", "default": 10.0},
    "duration": {"type": "float", "default": 0.0},
    "failure_limit": {"type": "int", "default": 0},
    "error_limit": {"type": "int", "default": 2},
    "fail_on_breach": {"type": "bool", "default": True},
    "labels": {"type": "dict"},
}

UNTOUCHED = "nothing was changed"

# Sample statuses.
OK = "ok"
BREACH = "breach"
NO_DATA_PASS = "no_data_pass"
SKIPPED = "skipped"
ERROR = "error"


def gate_argument_spec():
    return copy.deepcopy(GATE_ARG_SPEC)


def fmt(number):
    """Numbers in messages: short, and Prometheus' own spelling for infinities."""
    if number is None:
        return "null"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return "%.6g" % number


def json_number(number):
    """Infinities are not valid JSON (AWX and jq reject them): return them as Prometheus spells them."""
    if number is not None and math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return number


class Check(object):
    """One PromQL check: an absolute threshold (min/max) or a ratio against a baseline query."""

    LIMITS = ("max", "min", "max_ratio", "min_ratio")

    def __init__(self, name, query, baseline_query=None, on_no_data="fail", description=None, **limits):
        unknown = sorted(set(limits) - set(self.LIMITS))
        if unknown:
            raise TypeError("unknown limit(s) %s" % ", ".join(unknown))
        self.name = name
        self.query = query
        self.baseline_query = baseline_query
        self.on_no_data = on_no_data
        self.description = description
        for limit in self.LIMITS:  # max/min would shadow builtins as parameter names
            setattr(self, limit, limits.get(limit))

    @property
    def is_ratio(self):
        return self.baseline_query is not None

    def bounds(self):
        """The thresholds that are set, in the order they are tested: {'max': 0.05}."""
        names = ("max_ratio", "min_ratio") if self.is_ratio else ("max", "min")
        return dict((n, getattr(self, n)) for n in names if getattr(self, n) is not None)

    def violated_bound(self, compared):
        """(bound name, limit, comparison) of the first bound ``compared`` violates, or None."""
        upper, lower = ("max_ratio", "min_ratio") if self.is_ratio else ("max", "min")
        if getattr(self, upper) is not None and compared > getattr(self, upper):
            return upper, getattr(self, upper), ">"
        if getattr(self, lower) is not None and compared < getattr(self, lower):
            return lower, getattr(self, lower), "<"
        return None


def parse_checks(raw_checks, option="checks"):
    """Validate the ``checks`` (or ``final_checks``) option and build Check objects; a bad
    check names itself."""
    if not raw_checks:
        raise DeployError("%s is empty; a gate needs at least one check; nothing was queried" % option)
    checks = []
    seen = set()
    for index, raw in enumerate(raw_checks):
        if not isinstance(raw, dict):
            raise DeployError("%s[%d] is %r, not a dict; nothing was queried" % (option, index, raw))
        label = "%s[%d] (%s)" % (option, index, raw.get("name") or "no name")
        for required in ("name", "query"):
            if not raw.get(required):
                raise DeployError("%s has no %s; nothing was queried" % (label, required))
        unknown = sorted(set(raw) - set(CHECK_OPTIONS))
        if unknown:
            raise DeployError("%s has unknown option(s) %s; nothing was queried" % (label, ", ".join(unknown)))
        name = raw["name"]
        if name in seen:
            raise DeployError("check name %r is used twice in %s; names must be unique; nothing was queried"
                              % (name, option))
        seen.add(name)
        values = dict((key, raw.get(key)) for key in CHECK_OPTIONS)
        for key in ("max", "min", "max_ratio", "min_ratio"):
            values[key] = _as_float(values[key], name, key)
        if values["on_no_data"] is None:
            values["on_no_data"] = "fail"
        _validate_thresholds(name, values)
        checks.append(Check(**values))
    return checks


def _as_float(value, check_name, key):
    if value is None:
        return None
    if isinstance(value, bool):
        raise DeployError("check %r: %s %r is not a number; nothing was queried" % (check_name, key, value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DeployError("check %r: %s %r is not a number; nothing was queried" % (check_name, key, value))
    if math.isnan(number):
        raise DeployError("check %r: %s is NaN, which no value can be compared with; nothing was queried"
                          % (check_name, key))
    return number


def _validate_thresholds(name, v):
    absolute = v["max"] is not None or v["min"] is not None
    ratio = v["max_ratio"] is not None or v["min_ratio"] is not None
    if v["on_no_data"] not in ON_NO_DATA:
        raise DeployError("check %r: on_no_data %r is not one of %s; nothing was queried"
                          % (name, v["on_no_data"], ", ".join(ON_NO_DATA)))
    if v["baseline_query"] is not None and absolute:
        raise DeployError("check %r mixes max/min with baseline_query; a check is either absolute (max/min) "
                          "or a ratio against a baseline (max_ratio/min_ratio): split it into two checks; "
                          "nothing was queried" % name)
    if ratio and v["baseline_query"] is None:
        raise DeployError("check %r sets max_ratio/min_ratio but no baseline_query to divide by; "
                          "nothing was queried" % name)
    if v["baseline_query"] is not None and not ratio:
        raise DeployError("check %r has a baseline_query but neither max_ratio nor min_ratio; "
                          "nothing was queried" % name)
    if not absolute and not ratio:
        raise DeployError("check %r has no threshold: set max and/or min, or baseline_query with "
                          "max_ratio and/or min_ratio; nothing was queried" % name)
    for upper, lower in (("max", "min"), ("max_ratio", "min_ratio")):
        if v[upper] is not None and v[lower] is not None and v[lower] > v[upper]:
            raise DeployError("check %r: %s %s is greater than %s %s, so every value would breach; "
                              "nothing was queried" % (name, lower, fmt(v[lower]), upper, fmt(v[upper])))


def _missing_data(check, value, baseline):
    """Why this sample has no usable number (None when it has one)."""
    if value is None:
        return "no data (empty result or NaN)"
    if not check.is_ratio:
        return None
    if baseline is None:
        return "no data (baseline empty or NaN)"
    if baseline == 0:
        return "no data (baseline is 0)"
    if math.isnan(value / baseline):
        return "no data (%s / %s is not a number)" % (fmt(value), fmt(baseline))
    return None


def judge(check, value, baseline=None):
    """Decide one sample from the check's value (and baseline, for ratio checks).

    Returns a dict: status, ratio, bound, limit, comparison, detail (the human reading).
    """
    verdict = {"status": OK, "ratio": None, "bound": None, "limit": None, "comparison": None, "detail": None}
    missing = _missing_data(check, value, baseline)
    if missing:
        verdict["detail"] = missing
        if check.on_no_data == "pass":
            verdict["status"] = NO_DATA_PASS
        elif check.on_no_data == "skip":
            verdict["status"] = SKIPPED
        else:
            verdict.update(status=BREACH, comparison="no data")
        return verdict
    if check.is_ratio:
        verdict["ratio"] = value / baseline
    compared = verdict["ratio"] if check.is_ratio else value
    violated = check.violated_bound(compared)
    if violated is None:
        return verdict
    bound, limit, comparison = violated
    if check.is_ratio:
        detail = "ratio %s (%s / %s) %s %s %s" % (fmt(compared), fmt(value), fmt(baseline), comparison, bound, fmt(limit))
    else:
        detail = "%s %s %s" % (fmt(value), comparison, fmt(limit))
    verdict.update(status=BREACH, bound=bound, limit=limit, comparison=comparison, detail=detail)
    return verdict


class Analysis(object):
    """Evaluates checks round by round and keeps the counts that decide the outcome."""

    def __init__(self, checks, query, failure_limit=0, error_limit=2, labels=None, final_checks=()):
        self.checks = checks
        self.final_checks = list(final_checks)
        self.query = query
        self.failure_limit = failure_limit
        self.error_limit = error_limit
        self.labels = dict(labels or {})
        names = [c.name for c in checks + self.final_checks]
        self.samples = dict((name, []) for name in names)
        self.breaches = []
        self.errors = []
        self.breach_counts = dict((name, 0) for name in names)
        self.errors_in_a_row = dict((name, 0) for name in names)
        self.in_verdict = False  # the final round: any breach decides
        self.evaluations = 0
        self.failed_reason = None
        self.breached = False
        self.elapsed = lambda: 0.0  # run_analysis points this at its clock

    @property
    def decided(self):
        return self.failed_reason is not None

    def pending_checks(self, checks=None):
        """Checks whose latest query failed: they owe a real answer before the gate can pass."""
        return [c for c in (self.checks if checks is None else checks) if self.errors_in_a_row[c.name] > 0]

    def run_round(self, checks, at):
        """Evaluate ``checks`` at unix time ``at`` (one instant for the whole round)."""
        self.evaluations += 1
        for check in checks:
            self._evaluate(check, at)

    def _value(self, check, promql, what, at):
        try:
            result = self.query(promql, at)
        except PrometheusConfigError as exc:
            raise self._config_error("check %r: %s" % (check.name, exc.msg))
        try:
            return single_value(result, "check %r %s" % (check.name, what))
        except PrometheusConfigError as exc:
            raise self._config_error(exc.msg)

    def _evaluate(self, check, at):
        when = rfc3339(at)
        sample = {"time": when, "value": None, "baseline": None, "ratio": None, "threshold": check.bounds(),
                  "status": None, "error": None, "labels": dict(self.labels)}
        try:
            value = self._value(check, check.query, "query", at)
            baseline = self._value(check, check.baseline_query, "baseline_query", at) if check.is_ratio else None
        except PrometheusUnavailable as exc:
            self._record_error(check, sample, exc.msg)
            return
        self.errors_in_a_row[check.name] = 0
        verdict = judge(check, value, baseline)
        sample.update(value=json_number(value), baseline=json_number(baseline),
                      ratio=json_number(verdict["ratio"]), status=verdict["status"])
        if verdict["comparison"] == "no data" or verdict["status"] in (NO_DATA_PASS, SKIPPED):
            sample["error"] = verdict["detail"]  # why there was no number
        self.samples[check.name].append(sample)
        if verdict["status"] == BREACH:
            self._record_breach(check, sample, verdict, when)

    def _record_error(self, check, sample, message):
        self.errors_in_a_row[check.name] += 1
        in_a_row = self.errors_in_a_row[check.name]
        sample.update(status=ERROR, error=message)
        self.samples[check.name].append(sample)
        self.errors.append({"check": check.name, "time": sample["time"], "error": message})
        if in_a_row > self.error_limit and not self.decided:
            self.failed_reason = ("check %s: %d query errors in a row (error_limit %d): %s"
                                  % (check.name, in_a_row, self.error_limit, message))

    def _record_breach(self, check, sample, verdict, when):
        self.breach_counts[check.name] += 1
        count = self.breach_counts[check.name]
        self.breaches.append({
            "check": check.name, "value": sample["value"], "baseline": sample["baseline"],
            "ratio": sample["ratio"], "threshold": json_number(verdict["limit"]), "bound": verdict["bound"],
            "comparison": verdict["comparison"], "time": when, "labels": dict(self.labels),
            "breach": count, "description": check.description,
        })
        if self.in_verdict and not self.decided:
            self.breached = True
            self.failed_reason = "final check %s breached: %s at %s" % (check.name, verdict["detail"], when)
        elif count > self.failure_limit and not self.decided:
            self.breached = True
            self.failed_reason = ("check %s breached: %s at %s (breach %d, failure_limit %d)"
                                  % (check.name, verdict["detail"], when, count, self.failure_limit))

    def _config_error(self, msg):
        self.failed_reason = "%s; the analysis stopped, %s" % (msg, UNTOUCHED)
        return DeployError(self.failed_reason, **self.result(self.elapsed(), passed=False))

    def result(self, elapsed, passed):
        return {
            "passed": passed,
            "breached": self.breached,
            "reason": self.failed_reason or self._pass_reason(elapsed),
            "breaches": self.breaches,
            "samples": self.samples,
            "evaluations": self.evaluations,
            "elapsed": round(elapsed, 3),
            "errors": self.errors,
        }

    def _pass_reason(self, elapsed):
        counts = {}
        for samples in self.samples.values():
            for sample in samples:
                counts[sample["status"]] = counts.get(sample["status"], 0) + 1
        notes = ""
        if counts.get(BREACH):
            notes += ", %d breach(es) within failure_limit %d" % (counts[BREACH], self.failure_limit)
        if counts.get(NO_DATA_PASS):
            notes += ", %d sample(s) without data passed (on_no_data=pass)" % counts[NO_DATA_PASS]
        if counts.get(SKIPPED):
            notes += ", %d sample(s) without data skipped (on_no_data=skip)" % counts[SKIPPED]
        final = " and %d final check(s)" % len(self.final_checks) if self.final_checks else ""
        return "all %d check(s)%s passed: %d evaluation(s) over %.1f s%s" % (
            len(self.checks), final, self.evaluations, elapsed, notes)


def run_analysis(checks, query, interval=10.0, duration=0.0, failure_limit=0, error_limit=2, labels=None,
                 clock=time.monotonic, sleep=time.sleep, now=time.time, final_checks=()):
    """Run the analysis window and return the result dict (see the module's RETURN).

    ``query(promql, at)`` returns a prometheus.QueryResult or raises PrometheusUnavailable /
    PrometheusConfigError. Configuration errors raise DeployError at once. Rounds run at
    t = 0, interval, 2*interval, ... while t <= duration; a check whose last query failed is
    re-queried every interval after the window until it answers or exceeds error_limit.
    When the window passed, ``final_checks`` are evaluated once (errors retried the same way).
    """
    _validate_window(interval, duration, failure_limit, error_limit)
    analysis = Analysis(checks, query, failure_limit, error_limit, labels, final_checks)
    start = clock()
    analysis.elapsed = lambda: clock() - start
    slot = 0
    while not analysis.decided:
        offset = slot * interval
        in_window = offset <= duration
        due = checks if in_window else analysis.pending_checks()
        if not due:
            break
        wait = start + offset - clock()
        if wait > 0:
            sleep(wait)
        analysis.run_round(due, now())
        # Next slot on the interval grid that is still ahead: slow rounds skip slots, never burst.
        slot = max(slot + 1, int(math.ceil((clock() - start) / interval)))
    due = list(analysis.final_checks) if not analysis.decided else []
    analysis.in_verdict = True
    while due and not analysis.decided:
        analysis.run_round(due, now())
        due = analysis.pending_checks(analysis.final_checks)
        if due and not analysis.decided:
            sleep(interval)
    elapsed = clock() - start
    return analysis.result(elapsed, passed=not analysis.decided)


def _validate_window(interval, duration, failure_limit, error_limit):
    if interval is None or not interval > 0 or math.isinf(interval):
        raise DeployError("interval %r must be a positive number of seconds; nothing was queried" % (interval,))
    if duration is None or not duration >= 0 or math.isinf(duration):
        raise DeployError("duration %r must be 0 (evaluate once) or a positive number of seconds; "
                          "nothing was queried" % (duration,))
    if failure_limit is None or failure_limit < 0:
        raise DeployError("failure_limit %r must be 0 or more; nothing was queried" % (failure_limit,))
    if error_limit is None or error_limit < 0:
        raise DeployError("error_limit %r must be 0 or more; nothing was queried" % (error_limit,))


def run_gate(params, client=None, clock=time.monotonic, sleep=time.sleep, now=time.time, register_secret=None):
    """The module's one call: validate, analyse, and raise DeployError when the gate fails.

    With fail_on_breach false a breach is returned (passed false, breached true) instead of
    raised; query errors past error_limit and configuration errors always raise.
    ``register_secret`` receives a password embedded in prometheus_url, for output masking.
    """
    if register_secret is not None:
        secrets = [url_password(params.get("prometheus_url"))]
        secrets += sensitive_header_values(params.get("prometheus_headers"))
        for secret in filter(None, secrets):
            register_secret(secret)
    checks = parse_checks(params.get("checks"))
    # final_checks is optional: none given means no verdict round.
    final_checks = parse_checks(params["final_checks"], "final_checks") if params.get("final_checks") else []
    if client is None:
        try:
            client = PrometheusClient.from_params(params)
        except PrometheusConfigError as exc:
            raise DeployError(exc.msg)
    result = run_analysis(
        checks, client.query,
        interval=params.get("interval", 10.0), duration=params.get("duration", 0.0),
        failure_limit=params.get("failure_limit", 0), error_limit=params.get("error_limit", 2),
        labels=params.get("labels"), clock=clock, sleep=sleep, now=now, final_checks=final_checks)
    result["prometheus_url"] = safe_url(client.url)
    if not result["passed"] and (params.get("fail_on_breach", True) or not result["breached"]):
        raise DeployError(result["reason"], **result)
    return result
