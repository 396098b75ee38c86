# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus HTTP API: connection options, a small client and instant-query result parsing.

Two kinds of failure are kept apart because callers treat them differently:

* ``PrometheusConfigError``: the request can never succeed as written (malformed PromQL, wrong
  URL, rejected credentials, a query returning several series). Retrying is pointless.
* ``PrometheusUnavailable``: the server could not answer this time (connection refused, timeout,
  HTTP 5xx). A caller may tolerate a few in a row, but must never read one as a pass.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import datetime
import json
import math
import re
import traceback

try:
    from urllib.parse import unquote, urlsplit, urlunsplit
except ImportError:  # pragma: no cover - Python 2 is not supported, keeps sanity's import test quiet
    from urllib import unquote
    from urlparse import urlsplit, urlunsplit

try:
    import requests
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised only where requests is missing
    requests = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()


# The one definition of the connection options. Modules deep-copy it through
# prometheus_argument_spec(), which adds the environment fallbacks (env_fallback lives in
# ansible.module_utils, which this file must not import).
PROMETHEUS_ARG_SPEC = {
    "prometheus_url": {"type": "str", "required": True},
    "prometheus_bearer_token": {"type": "str", "no_log": True},
    "prometheus_username": {"type": "str"},
    "prometheus_password": {"type": "str", "no_log": True},
    "prometheus_validate_certs": {"type": "bool", "default": True},
    "prometheus_ca_path": {"type": "path"},
    "prometheus_timeout": {"type": "float", "default": 10.0},
    "prometheus_headers": {"type": "dict"},
}

PROMETHEUS_ENV_FALLBACKS = {
    "prometheus_url": "PROMETHEUS_URL",
    "prometheus_bearer_token": "PROMETHEUS_BEARER_TOKEN",
}

PROMETHEUS_MUTUALLY_EXCLUSIVE = [["prometheus_bearer_token", "prometheus_username"]]
PROMETHEUS_REQUIRED_TOGETHER = [["prometheus_username", "prometheus_password"]]


def prometheus_argument_spec(env_fallback):
    """Return a fresh copy of the connection options with their environment fallbacks."""
    spec = copy.deepcopy(PROMETHEUS_ARG_SPEC)
    for option, variable in PROMETHEUS_ENV_FALLBACKS.items():
        spec[option]["fallback"] = (env_fallback, [variable])
    return spec


class PrometheusError(Exception):
    """Base class; ``msg`` is the sentence shown to the user."""

    def __init__(self, msg):
        super(PrometheusError, self).__init__(msg)
        self.msg = msg

    def __str__(self):
        return self.msg


class PrometheusConfigError(PrometheusError):
    """The query or the connection settings are wrong: retrying cannot help."""


class PrometheusUnavailable(PrometheusError):
    """Prometheus did not answer usefully this time (network error, timeout, HTTP 5xx)."""


class QueryResult(object):
    """A successful instant query: ``result_type`` and ``series`` as (labels, value) pairs.

    For a scalar the single series has empty labels. ``value`` is a float, or None for NaN.
    """

    def __init__(self, result_type, series, warnings=None):
        self.result_type = result_type
        self.series = series
        self.warnings = warnings or []

    def __repr__(self):
        return "QueryResult(%r, %r)" % (self.result_type, self.series)


def safe_url(url):
    """The URL without any user:password part, fit for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


# Header values that are credentials: masked in output wherever they are set.
SENSITIVE_HEADERS = frozenset(["authorization", "proxy-authorization", "cookie", "x-api-key"])


def sensitive_header_values(headers):
    """Values of the credential headers in a headers dict (any case)."""
    return [str(value) for name, value in (headers or {}).items()
            if str(name).lower() in SENSITIVE_HEADERS and value not in (None, "")]


def url_password(url):
    """The password in a URL's user:password part (unquoted), or None; for output masking."""
    try:
        password = urlsplit(url or "").password
    except ValueError:
        return None
    return unquote(password) if password else None


def rfc3339(timestamp):
    """Unix seconds -> '2026-01-02T03:04:05.678Z' (UTC, millisecond precision)."""
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


def parse_sample_value(text):
    """Prometheus sends sample values as strings: '0.5', 'NaN', '+Inf', '-Inf'.

    Returns a float, or None for NaN (NaN means "no data": it must never compare as a pass).
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise PrometheusConfigError("Prometheus returned a sample value %r that is not a number" % (text,))
    if math.isnan(value):
        return None
    return value


def describe_labels(labels):
    """{'__name__': 'up', 'job': 'x'} -> 'up{job="x"}' for messages."""
    name = labels.get("__name__", "")
    rest = ",".join('%s="%s"' % (k, v) for k, v in sorted(labels.items()) if k != "__name__")
    return "%s{%s}" % (name, rest)


def parse_query_data(data):
    """Turn the ``data`` member of a successful /api/v1/query answer into a QueryResult."""
    if not isinstance(data, dict) or "resultType" not in data:
        raise PrometheusConfigError("Prometheus answered without data.resultType: %s" % _snippet(json.dumps(data)))
    try:
        return _parse_result(data["resultType"], data.get("result"))
    except (KeyError, IndexError, TypeError, AttributeError):
        raise PrometheusConfigError("Prometheus answered a malformed %s result: %s"
                                    % (data["resultType"], _snippet(json.dumps(data))))


def _parse_result(result_type, result):
    if result_type == "scalar":
        # [<unix time>, "<value>"]
        return QueryResult("scalar", [({}, parse_sample_value(result[1]))])
    if result_type == "string":
        return QueryResult("string", [({}, result[1])])
    if result_type == "vector":
        series = []
        for item in result or []:
            series.append((item.get("metric", {}), parse_sample_value(item["value"][1])))
        return QueryResult("vector", series)
    if result_type == "matrix":
        return QueryResult("matrix", [(item.get("metric", {}), None) for item in result or []])
    raise PrometheusConfigError("Prometheus returned an unknown result type %r" % (result_type,))


def parse_query_response(status_code, body, url):
    """Interpret one HTTP answer from /api/v1/query.

    Returns a QueryResult, or raises PrometheusConfigError / PrometheusUnavailable with a message
    that carries Prometheus' own error text when there is one.
    """
    where = "Prometheus at %s" % safe_url(url)
    payload = None
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None

    if isinstance(payload, dict) and payload.get("status") == "error":
        error = payload.get("error", "")
        error_type = payload.get("errorType", "unknown")
        text = "%s rejected the query: %s (%s, HTTP %d)" % (where, error, error_type, status_code)
        if status_code == 400 or error_type == "bad_data":
            raise PrometheusConfigError(text)
        # 422 (execution), 503 (timeout, canceled) and 5xx: the same query may succeed later.
        raise PrometheusUnavailable(text)

    if status_code >= 500:
        raise PrometheusUnavailable("%s answered HTTP %d: %s" % (where, status_code, _snippet(body)))
    if status_code in (401, 403):
        raise PrometheusConfigError(
            "%s refused the credentials (HTTP %d); check prometheus_bearer_token or "
            "prometheus_username/prometheus_password" % (where, status_code))
    if status_code == 404:
        raise PrometheusConfigError(
            "%s has no query API (HTTP 404 for /api/v1/query); check prometheus_url" % where)
    if status_code != 200:
        raise PrometheusConfigError("%s answered HTTP %d: %s" % (where, status_code, _snippet(body)))
    if not isinstance(payload, dict) or payload.get("status") != "success":
        raise PrometheusConfigError(
            "%s did not answer like the Prometheus API (expected JSON with status success): %s"
            % (where, _snippet(body)))
    result = parse_query_data(payload.get("data"))
    result.warnings = payload.get("warnings") or []
    return result


def single_value(result, what):
    """The one number a gate query must produce, or None when there is no data.

    ``what`` names the query in messages, e.g. "check 'error_ratio' query". A vector with several
    series or a range (matrix) result is a configuration error: the gate cannot pick a number.
    """
    if result.result_type == "scalar":
        return result.series[0][1]
    if result.result_type == "vector":
        if not result.series:
            return None
        if len(result.series) > 1:
            shown = ", ".join(describe_labels(labels) for labels, _value in result.series[:3])
            more = ", ..." if len(result.series) > 3 else ""
            raise PrometheusConfigError(
                "%s returned %d series (%s%s); a gate needs one number: aggregate with sum() or max()"
                % (what, len(result.series), shown, more))
        return result.series[0][1]
    if result.result_type == "matrix":
        raise PrometheusConfigError(
            "%s returned a range vector (matrix); a gate needs one number: wrap the range selector "
            "in a function such as rate() or max_over_time() and aggregate" % what)
    raise PrometheusConfigError("%s returned a %s result; a gate needs a number" % (what, result.result_type))


def _snippet(text, limit=200):
    text = (text or "").strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


def _validate_url(url):
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PrometheusConfigError(
            "prometheus_url %r is not an http(s) URL such as http://prometheus:9090; nothing was queried"
            % (safe_url(url or ""),))


class PrometheusClient(object):
    """Instant queries against one Prometheus server, with one requests.Session per run."""

    def __init__(self, url, bearer_token=None, username=None, password=None, validate_certs=True,
                 ca_path=None, timeout=10.0, headers=None, session=None):
        _validate_url(url)
        if timeout is None or timeout <= 0:
            raise PrometheusConfigError("prometheus_timeout %r must be a positive number of seconds; "
                                        "nothing was queried" % (timeout,))
        if bearer_token and username:
            raise PrometheusConfigError(
                "set either prometheus_bearer_token or prometheus_username/prometheus_password, not both")
        self.url = url.rstrip("/")
        self.query_url = self.url + "/api/v1/query"
        self.timeout = timeout
        self.session = session if session is not None else requests.Session()
        self.session.headers.update({"Accept": "application/json"})
        self.session.headers.update(dict((str(k), str(v)) for k, v in (headers or {}).items()))
        if bearer_token:
            self.session.headers["Authorization"] = "Bearer %s" % bearer_token
        if username:
            self.session.auth = (username, password or "")
        self.session.verify = ca_path if (validate_certs and ca_path) else bool(validate_certs)

    @classmethod
    def from_params(cls, params, session=None):
        return cls(
            url=params.get("prometheus_url"),
            bearer_token=params.get("prometheus_bearer_token"),
            username=params.get("prometheus_username"),
            password=params.get("prometheus_password"),
            validate_certs=params.get("prometheus_validate_certs", True),
            ca_path=params.get("prometheus_ca_path"),
            timeout=params.get("prometheus_timeout", 10.0),
            headers=params.get("prometheus_headers"),
            session=session,
        )

    def query(self, promql, at=None):
        """Run an instant query (at unix time ``at``, or now) and return a QueryResult."""
        form = {"query": promql}
        if at is not None:
            form["time"] = "%.3f" % at
        where = "Prometheus at %s" % safe_url(self.url)
        try:
            # POST keeps long PromQL out of URL length limits; the API accepts both.
            response = self.session.post(self.query_url, data=form, timeout=self.timeout)
        except requests.exceptions.SSLError as exc:
            raise PrometheusConfigError(
                "%s: TLS verification failed (%s); set prometheus_ca_path or prometheus_validate_certs"
                % (where, describe_request_error(exc)))
        except requests.exceptions.Timeout as exc:
            raise PrometheusUnavailable("%s did not answer within %gs: %s"
                                        % (where, self.timeout, describe_request_error(exc)))
        except requests.exceptions.RequestException as exc:
            raise PrometheusUnavailable("%s is unreachable: %s" % (where, describe_request_error(exc)))
        return parse_query_response(response.status_code, response.text, self.url)


_POOL_PREFIX = re.compile(r"^\w+\(host=[^)]*\):\s*")


def describe_request_error(exc):
    """The useful part of a requests exception, e.g. 'Failed to establish a new connection:
    [Errno 111] Connection refused' instead of urllib3's nested retry wrapper text."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    text = str(reason if reason is not None else exc) or exc.__class__.__name__
    return _POOL_PREFIX.sub("", text.splitlines()[0])
