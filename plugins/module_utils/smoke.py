# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP smoke checks: ``${name}`` substitution, JMESPath assertions, latency percentiles, the runner.

A check sends one request (or ``samples`` requests for a latency budget), compares the status,
evaluates JMESPath assertions on the JSON body, and may save values for later checks (a login
token, a created id). Secrets (sensitive headers, saved tokens) are redacted from every result.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json
import math
import re
import time
import traceback

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.prometheus import (
    SENSITIVE_HEADERS,
    describe_request_error,
    safe_url,
    sensitive_header_values,
    url_password,
)

try:
    import requests
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover
    requests = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

try:
    import jmespath
    import jmespath.exceptions
    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None
except ImportError:  # pragma: no cover
    jmespath = None
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR = traceback.format_exc()

REDACTED = "********"
SECRET_NAME = re.compile(r"token|secret|password|key", re.IGNORECASE)
SAFE_METHODS = frozenset(["GET", "HEAD"])
SAVE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
METHOD = re.compile(r"^[A-Za-z]+$")
# "$${" is an escaped literal "${"; "${name}" is a placeholder.
PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)\}")
WHOLE_PLACEHOLDER = re.compile(r"^\$\{([^}]*)\}$")

SMOKE_CHECK_OPTIONS = {
    "name": {"type": "str", "required": True},
    "method": {"type": "str", "default": "GET"},
    "path": {"type": "str", "required": True},
    "headers": {"type": "dict"},
    "json": {"type": "raw"},
    "body": {"type": "str"},
    "expect_status": {"type": "list", "elements": "int", "default": [200]},
    "expect": {"type": "dict"},
    "save": {"type": "dict"},
    "max_latency_ms": {"type": "float"},
    "samples": {"type": "int", "default": 1},
    "percentile": {"type": "float", "default": 95.0},
    "retries": {"type": "int"},
    "retry_delay": {"type": "float"},
}

SMOKE_ARG_SPEC = {
    "base_url": {"type": "str", "required": True},
    "checks": {"type": "list", "elements": "dict", "required": True, "options": SMOKE_CHECK_OPTIONS,
               "mutually_exclusive": [["json", "body"]]},
    "headers": {"type": "dict"},
    "timeout": {"type": "float", "default": 10.0},
    "validate_certs": {"type": "bool", "default": True},
    "retries": {"type": "int", "default": 0},
    "retry_delay": {"type": "float", "default": 1.0},
    "secret_saves": {"type": "list", "elements": "str", "no_log": False},
    "fail_on_error": {"type": "bool", "default": True},
}


def smoke_argument_spec():
    return copy.deepcopy(SMOKE_ARG_SPEC)


class MissingValue(Exception):
    """A ``${name}`` placeholder names a value no earlier check saved."""

    def __init__(self, name):
        super(MissingValue, self).__init__(name)
        self.name = name


def _as_text(value):
    if isinstance(value, str):
        return value
    return json.dumps(value)


def substitute(text, values):
    """Replace ``${name}`` in a string with saved values; ``$${`` stays a literal ``${``."""
    def replace(match):
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name not in values:
            raise MissingValue(name)
        return _as_text(values[name])
    return PLACEHOLDER.sub(replace, text)


def substitute_data(data, values):
    """Substitute in every string of a JSON body, recursively.

    A string that is exactly one placeholder ("${id}") becomes the saved value itself, so a
    saved number stays a number in the JSON sent.
    """
    if isinstance(data, str):
        whole = WHOLE_PLACEHOLDER.match(data)
        if whole:
            if whole.group(1) not in values:
                raise MissingValue(whole.group(1))
            return values[whole.group(1)]
        return substitute(data, values)
    if isinstance(data, dict):
        return dict((key, substitute_data(item, values)) for key, item in data.items())
    if isinstance(data, list):
        return [substitute_data(item, values) for item in data]
    return data


def placeholders(data):
    """Every placeholder name used in a string or nested structure (escapes excluded)."""
    names = []
    if isinstance(data, str):
        names.extend(m.group(1) for m in PLACEHOLDER.finditer(data) if m.group(0) != "$${")
    elif isinstance(data, dict):
        for item in data.values():
            names.extend(placeholders(item))
    elif isinstance(data, list):
        for item in data:
            names.extend(placeholders(item))
    return names


def secret_json_values(data):
    """String values under keys that look secret (password, token, secret, key), recursively."""
    found = []
    if isinstance(data, dict):
        for key, item in data.items():
            if isinstance(item, str) and SECRET_NAME.search(str(key)) and item:
                found.append(item)
            else:
                found.extend(secret_json_values(item))
    elif isinstance(data, list):
        for item in data:
            found.extend(secret_json_values(item))
    return found


def percentile(values, pct):
    """Percentile with linear interpolation between closest ranks (numpy's default method)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError("percentile %r is not between 0 and 100" % (pct,))
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(math.floor(rank))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def values_equal(actual, expected):
    """JSON equality: 1 == 1.0, but true is not 1 (Python's bool is an int)."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, dict) and isinstance(expected, dict):
        return set(actual) == set(expected) and all(values_equal(actual[k], expected[k]) for k in actual)
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(values_equal(a, e) for a, e in zip(actual, expected))
    return actual == expected


def compile_expression(expression, check_name, where):
    """Compile a JMESPath expression; a bad one fails the module before anything is sent."""
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise DeployError("check %r: invalid JMESPath expression %r in %s: %s; no request was sent"
                          % (check_name, expression, where, _one_line(exc)))


def parse_json_body(response):
    """The response's JSON document, or a ValueError saying what came back instead."""
    try:
        return json.loads(response.text)
    except ValueError:
        kind = response.headers.get("Content-Type", "no Content-Type")
        raise ValueError("response is not JSON (%s): %s" % (kind, _snippet(response.text) or "empty body"))


def _one_line(exc):
    return " ".join(str(exc).split())


def _snippet(text, limit=120):
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit] + "..."


class Redactor(object):
    """Collects secret values and scrubs them from anything shown to the user."""

    def __init__(self, register=None):
        self.secrets = set()
        self.register = register

    def add(self, value):
        if value is None:
            return
        text = _as_text(value)
        if not text:
            return
        candidates = [text]
        scheme, _sep, credential = text.partition(" ")
        if credential and scheme.lower() in ("bearer", "basic", "token", "digest"):
            candidates.append(credential.strip())
        for candidate in candidates:
            if candidate and candidate not in self.secrets:
                self.secrets.add(candidate)
                if self.register is not None:
                    self.register(candidate)

    def text(self, text):
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text

    def data(self, data):
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return dict((key, self.data(item)) for key, item in data.items())
        if isinstance(data, list):
            return [self.data(item) for item in data]
        return data


class SmokeCheck(object):
    """One validated check with its compiled JMESPath expressions."""

    def __init__(self, raw, index, defaults):
        self.index = index
        self.name = raw.get("name")
        if not self.name:
            raise DeployError("checks[%d] has no name; no request was sent" % index)
        self.method = (raw.get("method") or "GET").upper()
        if not METHOD.match(self.method):
            raise DeployError("check %r: method %r is not an HTTP method; no request was sent"
                              % (self.name, raw.get("method")))
        self.path = raw.get("path")
        if self.path is None:
            raise DeployError("check %r has no path; no request was sent" % self.name)
        self.headers = dict((str(k), _as_text(v)) for k, v in (raw.get("headers") or {}).items())
        self.json = raw.get("json")
        self.body = raw.get("body")
        if self.json is not None and self.body is not None:
            raise DeployError("check %r sets both json and body; send one; no request was sent" % self.name)
        self.expect_status = self._statuses(raw.get("expect_status"))
        self.expect = raw.get("expect") or {}
        self.save = raw.get("save") or {}
        self.expect_compiled = dict(
            (expr, compile_expression(expr, self.name, "expect")) for expr in self.expect)
        self.save_compiled = {}
        for save_name, expr in self.save.items():
            if not SAVE_NAME.match(save_name):
                raise DeployError("check %r: save name %r is not a valid ${} name (letters, digits, _); "
                                  "no request was sent" % (self.name, save_name))
            if not isinstance(expr, str):
                raise DeployError("check %r: save.%s must be a JMESPath expression string, not %r; "
                                  "no request was sent" % (self.name, save_name, expr))
            self.save_compiled[save_name] = compile_expression(expr, self.name, "save.%s" % save_name)
        self.max_latency_ms = raw.get("max_latency_ms")
        self.samples = raw.get("samples") if raw.get("samples") is not None else 1
        self.percentile = raw.get("percentile")
        if self.percentile is None:
            self.percentile = 95.0
        self.retries = raw.get("retries") if raw.get("retries") is not None else defaults["retries"]
        self.retry_delay = raw.get("retry_delay") if raw.get("retry_delay") is not None else defaults["retry_delay"]
        self._validate_numbers()

    def _statuses(self, raw):
        if raw is None:
            return [200]
        statuses = raw if isinstance(raw, list) else [raw]
        result = []
        for status in statuses:
            try:
                code = int(status)
            except (TypeError, ValueError):
                code = None
            if code is None or isinstance(status, bool) or not 100 <= code <= 599:
                raise DeployError("check %r: expect_status %r is not an HTTP status code (100-599); "
                                  "no request was sent" % (self.name, status))
            result.append(code)
        return result or [200]

    def _validate_numbers(self):
        if self.samples < 1:
            raise DeployError("check %r: samples %r must be 1 or more; no request was sent" % (self.name, self.samples))
        if not 0 <= self.percentile <= 100:
            raise DeployError("check %r: percentile %r must be between 0 and 100; no request was sent"
                              % (self.name, self.percentile))
        if self.max_latency_ms is not None and not self.max_latency_ms > 0:
            raise DeployError("check %r: max_latency_ms %r must be a positive number; no request was sent"
                              % (self.name, self.max_latency_ms))
        if self.retries < 0:
            raise DeployError("check %r: retries %r must be 0 or more; no request was sent" % (self.name, self.retries))
        if self.retry_delay < 0:
            raise DeployError("check %r: retry_delay %r must be 0 or more; no request was sent"
                              % (self.name, self.retry_delay))

    @property
    def safe_in_check_mode(self):
        return self.method in SAFE_METHODS

    def uses(self):
        """Names of saved values this check needs, in order of appearance."""
        names = placeholders(self.path) + placeholders(self.headers) + placeholders(self.json)
        names += placeholders(self.body) + placeholders(self.expect)
        return names


def join_url(base_url, path):
    """base_url 'http://h/api/' + path '/v1/x' -> 'http://h/api/v1/x' (one slash between)."""
    if not path:
        return base_url
    return base_url.rstrip("/") + "/" + path.lstrip("/")


class SmokeRunner(object):
    """Runs the checks in order, keeping saved values and the secrets to redact."""

    def __init__(self, params, session=None, check_mode=False, register_secret=None,
                 clock=time.perf_counter, sleep=time.sleep):
        self.redactor = Redactor(register_secret)
        self.register_literal_secrets(params)
        self.base_url = params.get("base_url") or ""
        if not re.match(r"^https?://[^/]", self.base_url):
            raise DeployError("base_url %r is not an http(s) URL such as http://api:8080; no request was sent"
                              % (safe_url(self.base_url),))
        defaults = {"retries": params.get("retries") or 0, "retry_delay": params.get("retry_delay")}
        if defaults["retry_delay"] is None:
            defaults["retry_delay"] = 1.0
        raw_checks = params.get("checks") or []
        if not raw_checks:
            raise DeployError("checks is empty; nothing to test; no request was sent")
        self.checks = [SmokeCheck(raw, i, defaults) for i, raw in enumerate(raw_checks)]
        self.headers = dict((str(k), _as_text(v)) for k, v in (params.get("headers") or {}).items())
        self.timeout = params.get("timeout", 10.0)
        if self.timeout is None or not self.timeout > 0:
            raise DeployError("timeout %r must be a positive number of seconds; no request was sent" % (self.timeout,))
        self.secret_saves = params.get("secret_saves")
        self.fail_on_error = params.get("fail_on_error", True)
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.saved = {}
        self.missing = {}  # saved name -> (check name, why it was not saved)
        self.session = session if session is not None else requests.Session()
        self.session.verify = bool(params.get("validate_certs", True))

    # -- secrets -----------------------------------------------------------------------------
    def register_literal_secrets(self, params):
        """Mask secrets written in the task itself, first thing, so no error can echo them.

        Ansible prints the module's arguments with the result, so the base_url password, credential
        header values and JSON string values under secret-looking keys (a login password) are
        registered up front. Values with ${} placeholders are registered once substituted.
        """
        values = [url_password(params.get("base_url"))] + sensitive_header_values(params.get("headers"))
        for raw in params.get("checks") or []:
            if isinstance(raw, dict):
                values += sensitive_header_values(raw.get("headers")) + secret_json_values(raw.get("json"))
        for value in values:
            if value and not placeholders(value):
                self.redactor.add(value)

    def is_secret_save(self, name):
        if self.secret_saves is not None:
            return name in self.secret_saves
        return bool(SECRET_NAME.search(name))

    # -- one check ---------------------------------------------------------------------------
    def run(self):
        results = [self.run_check(check) for check in self.checks]
        return self.summary(results)

    def run_check(self, check):
        url_template = join_url(self.base_url, check.path)
        record = {"name": check.name, "method": check.method, "url": url_template, "status": None,
                  "latency_ms": None, "latencies_ms": [], "attempts": 0, "passed": None, "message": None}
        if self.check_mode and not check.safe_in_check_mode:
            record["message"] = "skipped in check mode"
            self._mark_unsaved(check, "was skipped in check mode")
            return record
        try:
            request = self.build_request(check, url_template)
        except MissingValue as missing:
            return self._missing_value(check, record, missing.name)
        record["url"] = request["url"]
        for attempt in range(check.retries + 1):
            if attempt:
                self.sleep(check.retry_delay)
            record["attempts"] = attempt + 1
            outcome = self.attempt(check, request)
            record.update(status=outcome["status"], latency_ms=outcome["latency_ms"],
                          latencies_ms=outcome["latencies_ms"], passed=outcome["passed"],
                          message=outcome["message"])
            if outcome["passed"]:
                self._save(check, outcome["document"])
                break
        if not record["passed"]:
            self._mark_unsaved(check, "failed")
        return record

    def build_request(self, check, url_template):
        headers = dict(self.headers)
        for name, value in check.headers.items():
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
            headers[name] = substitute(value, self.saved)
        for name, value in headers.items():
            if name.lower() in SENSITIVE_HEADERS:
                self.redactor.add(value)
        request = {"method": check.method, "url": substitute(url_template, self.saved), "headers": headers,
                   "expect": substitute_data(check.expect, self.saved)}
        if check.json is not None:
            request["json"] = substitute_data(check.json, self.saved)
        if check.body is not None:
            request["data"] = substitute(check.body, self.saved).encode("utf-8")
        return request

    def attempt(self, check, request):
        """Send the check ``samples`` times; stop at the first failing response."""
        outcome = {"status": None, "latency_ms": None, "latencies_ms": [], "passed": False,
                   "message": None, "document": None}
        for index in range(check.samples):
            sent = self.send(request)
            if sent["error"]:
                outcome["message"] = sent["error"]
                return outcome
            response = sent["response"]
            outcome["status"] = response.status_code
            outcome["latencies_ms"].append(round(sent["latency_ms"], 3))
            problem, document = self.judge_response(check, request, response)
            if problem:
                outcome["latency_ms"] = outcome["latencies_ms"][-1]
                outcome["message"] = problem
                return outcome
            if index == 0:
                outcome["document"] = document
        measured = percentile(outcome["latencies_ms"], check.percentile)
        outcome["latency_ms"] = round(measured, 3)
        over = check.max_latency_ms is not None and measured > check.max_latency_ms
        if over:
            outcome["message"] = self._latency_message(check, measured)
            return outcome
        outcome["passed"] = True
        outcome["message"] = "ok"
        return outcome

    def send(self, request):
        kwargs = {"headers": request["headers"], "timeout": self.timeout, "allow_redirects": False}
        if "json" in request:
            kwargs["json"] = request["json"]
        if "data" in request:
            kwargs["data"] = request["data"]
        started = self.clock()
        try:
            response = self.session.request(request["method"], request["url"], **kwargs)
        except requests.exceptions.Timeout as exc:
            return {"error": "%s %s: no answer within %gs (%s)" % (
                request["method"], safe_url(request["url"]), self.timeout, describe_request_error(exc))}
        except requests.exceptions.RequestException as exc:
            return {"error": "%s %s failed: %s" % (
                request["method"], safe_url(request["url"]), describe_request_error(exc))}
        # requests has read the whole body by now (stream=False): latency includes it.
        return {"error": None, "response": response, "latency_ms": (self.clock() - started) * 1000.0}

    def judge_response(self, check, request, response):
        """(problem or None, parsed JSON document or None) for one response."""
        if response.status_code not in check.expect_status:
            wanted = check.expect_status[0] if len(check.expect_status) == 1 else "one of %s" % check.expect_status
            body = _snippet(response.text)
            return ("status %d, expected %s%s" % (response.status_code, wanted, ": " + body if body else ""),
                    None)
        if not check.expect and not check.save:
            return None, None
        try:
            document = parse_json_body(response)
        except ValueError as exc:
            return "%s; cannot evaluate %s" % (exc, "expect" if check.expect else "save"), None
        problems = []
        for expression, expected in request["expect"].items():
            try:
                actual = check.expect_compiled[expression].search(document)
            except jmespath.exceptions.JMESPathError as exc:
                problems.append("expect %s: %s" % (expression, _one_line(exc)))
                continue
            if not values_equal(actual, expected):
                problems.append("expect %s: got %s, expected %s" % (expression, _as_text(actual), _as_text(expected)))
        for save_name, compiled in check.save_compiled.items():
            try:
                value = compiled.search(document)
            except jmespath.exceptions.JMESPathError as exc:
                problems.append("save %s: %s" % (save_name, _one_line(exc)))
                continue
            if value is None:
                problems.append("save %s: %r matched nothing in the response" % (save_name, check.save[save_name]))
        return ("; ".join(problems) or None), document

    # -- saved values ------------------------------------------------------------------------
    def _save(self, check, document):
        for save_name, compiled in check.save_compiled.items():
            value = compiled.search(document)
            if self.is_secret_save(save_name):
                self.redactor.add(value)
            self.saved[save_name] = value
            self.missing.pop(save_name, None)

    def _mark_unsaved(self, check, why):
        for save_name in check.save:
            if save_name not in self.saved:
                self.missing[save_name] = (check.name, why)

    def _missing_value(self, check, record, name):
        saver = self.missing.get(name)
        if saver and saver[1] == "was skipped in check mode":
            record["message"] = ("skipped in check mode: needs ${%s} from check %r, which was skipped in check mode"
                                 % (name, saver[0]))
            self._mark_unsaved(check, "was skipped in check mode")
            return record
        if saver:
            why = "check %r should have saved it but %s" % (saver[0], saver[1])
        else:
            later = [c.name for c in self.checks[check.index + 1:] if name in c.save]
            if later:
                why = "only the later check %r saves it; move that check first" % later[0]
            else:
                why = "no check saves it (add save: {%s: <JMESPath>} to an earlier check)" % name
        record.update(passed=False, message="needs ${%s}, which was never saved: %s" % (name, why))
        self._mark_unsaved(check, "failed")
        return record

    def _latency_message(self, check, measured):
        if check.samples > 1:
            return "p%s latency %.1f ms over %d samples exceeds max_latency_ms %s" % (
                "%g" % check.percentile, measured, check.samples, "%g" % check.max_latency_ms)
        return "latency %.1f ms exceeds max_latency_ms %s" % (measured, "%g" % check.max_latency_ms)

    # -- result ------------------------------------------------------------------------------
    def summary(self, results):
        passed = sum(1 for r in results if r["passed"] is True)
        failed = [r for r in results if r["passed"] is False]
        skipped = sum(1 for r in results if r["passed"] is None)
        saved = dict((name, REDACTED if self.is_secret_save(name) else value) for name, value in self.saved.items())
        result = self.redactor.data({
            "results": results, "passed": passed, "failed_count": len(failed), "skipped_count": skipped,
            "saved": saved,
        })
        if failed and self.fail_on_error:
            lines = ["%d of %d smoke check(s) failed against %s:" % (len(failed), len(results), safe_url(self.base_url))]
            lines += ["- %s: %s" % (r["name"], r["message"]) for r in result["results"] if r["passed"] is False]
            raise DeployError(self.redactor.text("\n".join(lines)), **result)
        return result


def run_smoke(params, check_mode=False, register_secret=None, session=None):
    """The module's one call."""
    return SmokeRunner(params, session=session, check_mode=check_mode, register_secret=register_secret).run()
