# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-deployment connectivity checks that need no client libraries: TCP, PostgreSQL, Redis, HTTP.

PostgreSQL and Redis are spoken at the protocol level over a socket: enough to know the server
accepts connections (what ``pg_isready`` and ``redis-cli ping`` tell), nothing more. The message
encoders and reply parsers are pure functions on bytes so they are unit-tested without servers.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import socket
import struct
import time
import traceback

try:
    from urllib.parse import unquote, urlsplit
except ImportError:  # pragma: no cover
    from urllib import unquote
    from urlparse import urlsplit

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.prometheus import (
    describe_request_error,
    safe_url,
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

CHECK_TYPES = ("tcp", "postgres", "redis", "http")
SEVERITIES = ("fail", "warn")
DEFAULT_PORTS = {"postgres": 5432, "redis": 6379}
URL_SCHEMES = {"postgres": ("postgres", "postgresql"), "redis": ("redis",)}

DEPENDENCY_CHECK_OPTIONS = {
    "name": {"type": "str", "required": True},
    "type": {"type": "str", "required": True, "choices": list(CHECK_TYPES)},
    "host": {"type": "str"},
    "port": {"type": "int"},
    "url": {"type": "str"},
    "user": {"type": "str"},
    "database": {"type": "str"},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "expect_status": {"type": "int", "default": 200},
    "validate_certs": {"type": "bool", "default": True},
    "timeout": {"type": "float"},
    "severity": {"type": "str", "default": "fail", "choices": list(SEVERITIES)},
}

DEPENDENCY_ARG_SPEC = {
    "checks": {"type": "list", "elements": "dict", "required": True, "options": DEPENDENCY_CHECK_OPTIONS,
               "mutually_exclusive": [["url", "host"]]},
    "timeout": {"type": "float", "default": 5.0},
}

PROTOCOL_3_0 = 196608  # major 3, minor 0
SQLSTATE_CANNOT_CONNECT_NOW = "57P03"
AUTH_METHODS = {0: "trust (AuthenticationOk)", 2: "Kerberos V5", 3: "cleartext password", 5: "MD5 password",
                7: "GSSAPI", 9: "SSPI", 10: "SASL/SCRAM"}
MAX_MESSAGE = 1024 * 1024


def dependency_argument_spec():
    return copy.deepcopy(DEPENDENCY_ARG_SPEC)


class ProtocolError(Exception):
    """The peer answered something the protocol does not allow (wrong service, garbage)."""


# -- PostgreSQL wire protocol -----------------------------------------------------------------

def postgres_startup_message(user, database, application_name="ansible-dependency-check"):
    """StartupMessage, protocol 3.0: Int32 length, Int32 version, then name\\0value\\0 pairs, \\0."""
    pairs = [("user", user), ("database", database), ("application_name", application_name)]
    body = struct.pack("!i", PROTOCOL_3_0)
    for key, value in pairs:
        body += key.encode("utf-8") + b"\x00" + value.encode("utf-8") + b"\x00"
    body += b"\x00"
    return struct.pack("!i", len(body) + 4) + body


def postgres_terminate_message():
    return b"X" + struct.pack("!i", 4)


def split_postgres_message(buffer):
    """(type, payload, rest) for the first complete backend message, or None if incomplete."""
    if len(buffer) < 5:
        return None
    kind = buffer[0:1]
    length = struct.unpack("!i", buffer[1:5])[0]
    if length < 4 or length > MAX_MESSAGE:
        raise ProtocolError("not a PostgreSQL message (type %r, length %d): %r" % (kind, length, bytes(buffer[:32])))
    if len(buffer) < 1 + length:
        return None
    return kind, bytes(buffer[5:1 + length]), bytes(buffer[1 + length:])


def parse_error_fields(payload):
    """ErrorResponse/NoticeResponse body -> {'S': 'FATAL', 'C': '57P03', 'M': '...', ...}."""
    fields = {}
    for part in payload.split(b"\x00"):
        if part:
            fields[part[0:1].decode("ascii", "replace")] = part[1:].decode("utf-8", "replace")
    return fields


def interpret_postgres_reply(kind, payload):
    """Decide from the first backend message whether the server accepts connections.

    Returns (ok, text, sqlstate). Like pg_isready: an authentication request or any error other
    than 57P03 (cannot_connect_now, "the database system is starting up") means it is up.
    """
    if kind == b"R":
        if len(payload) < 4:
            raise ProtocolError("truncated authentication request from the server")
        code = struct.unpack("!i", payload[:4])[0]
        method = AUTH_METHODS.get(code, "authentication method %d" % code)
        return True, "accepting connections (authentication request: %s)" % method, None
    if kind == b"E":
        fields = parse_error_fields(payload)
        sqlstate = fields.get("C")
        text = "%s %s: %s" % (fields.get("S", "ERROR"), sqlstate or "(no SQLSTATE)", fields.get("M", ""))
        if sqlstate == SQLSTATE_CANNOT_CONNECT_NOW:
            return False, "not accepting connections yet: %s" % text, sqlstate
        return True, "accepting connections (server answered %s)" % text, sqlstate
    raise ProtocolError("unexpected first message type %r from the server; is this a PostgreSQL server?" % kind)


# -- Redis protocol (RESP) ----------------------------------------------------------------------

def redis_command(*args):
    """Encode a command as a RESP array of bulk strings."""
    out = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def split_redis_reply(buffer):
    """(kind, text, rest) for the first complete simple/error/integer/bulk reply, or None if incomplete.

    kind is '+', '-', ':' or '$' (a null bulk string gives text None).
    """
    end = buffer.find(b"\r\n")
    if end < 0:
        if len(buffer) > 64 * 1024 or (buffer and buffer[0:1] not in b"+-:$*"):
            raise ProtocolError("not a Redis reply: %r" % bytes(buffer[:40]))
        return None
    kind = buffer[0:1].decode("latin-1")
    line = bytes(buffer[1:end])
    rest = bytes(buffer[end + 2:])
    if kind in "+-:":
        return kind, line.decode("utf-8", "replace"), rest
    if kind == "$":
        try:
            size = int(line)
        except ValueError:
            raise ProtocolError("not a Redis reply: %r" % bytes(buffer[:40]))
        if size < 0:
            return "$", None, rest
        if len(rest) < size + 2:
            return None
        return "$", rest[:size].decode("utf-8", "replace"), rest[size + 2:]
    raise ProtocolError("not a Redis reply: %r" % bytes(buffer[:40]))


# -- targets ------------------------------------------------------------------------------------

class Target(object):
    """Where a check connects, parsed from host/port or a URL; ``shown`` never holds a password."""

    def __init__(self, host=None, port=None, user=None, database=None, username=None, password=None, url=None):
        self.host = host
        self.port = port
        self.user = user
        self.database = database
        self.username = username
        self.password = password
        self.url = url

    @property
    def shown(self):
        if self.url and not self.host:
            return safe_url(self.url)
        host = "[%s]" % self.host if self.host and ":" in self.host else self.host
        return "%s:%s" % (host, self.port)


def resolve_target(raw, kind):
    """Build the Target of one check from its options, taking what a URL provides."""
    name = raw.get("name")
    host, port, url = raw.get("host"), raw.get("port"), raw.get("url")
    if url and host:
        raise DeployError("check %r sets both url and host; use one; no check was run" % name)
    target = Target(host=host, port=port, user=raw.get("user"), database=raw.get("database"),
                    username=raw.get("username"), password=raw.get("password"))
    if kind == "http":
        if not url or urlsplit(url).scheme not in ("http", "https"):
            raise DeployError("check %r (http) needs url: an http(s) URL, got %r; no check was run"
                              % (name, safe_url(url) if url else url))
        target.url = url
        return target
    if url:
        _fill_from_url(target, url, kind, name)
    if not target.host:
        raise DeployError("check %r (%s) needs host (or url); no check was run" % (name, kind))
    if target.port is None:
        target.port = DEFAULT_PORTS.get(kind)
    if target.port is None:
        raise DeployError("check %r (tcp) needs port; no check was run" % name)
    if not 0 < int(target.port) < 65536:
        raise DeployError("check %r: port %r is not between 1 and 65535; no check was run" % (name, target.port))
    if kind == "postgres":
        target.user = target.user or "postgres"
        target.database = target.database or target.user
    return target


def _fill_from_url(target, url, kind, name):
    parts = urlsplit(url)
    allowed = URL_SCHEMES.get(kind)
    if allowed and parts.scheme not in allowed:
        raise DeployError("check %r (%s): url %r must start with %s://; no check was run"
                          % (name, kind, safe_url(url), allowed[0]))
    try:
        port = parts.port
    except ValueError:
        raise DeployError("check %r: url %r has an invalid port; no check was run" % (name, safe_url(url)))
    target.host = parts.hostname
    target.port = target.port or port
    target.url = url
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    path = unquote(parts.path.lstrip("/")) or None
    if kind == "postgres":
        target.user = target.user or user
        target.database = target.database or path
    elif kind == "redis":
        target.username = target.username or user
        target.password = target.password or password


# -- probes -------------------------------------------------------------------------------------

class Deadline(object):
    """One timeout budget for connect + every read of a check."""

    def __init__(self, seconds, clock=time.monotonic):
        self.clock = clock
        self.end = clock() + seconds
        self.seconds = seconds

    def remaining(self):
        left = self.end - self.clock()
        if left <= 0:
            raise socket.timeout("timed out after %gs" % self.seconds)
        return left


def _connect(target, deadline):
    return socket.create_connection((target.host, int(target.port)), timeout=deadline.remaining())


def _read_until(sock, deadline, split, what):
    buffer = b""
    while True:
        parsed = split(buffer)
        if parsed is not None:
            return parsed
        sock.settimeout(deadline.remaining())
        chunk = sock.recv(4096)
        if not chunk:
            raise ProtocolError("the server closed the connection before answering %s" % what)
        buffer += chunk


def probe_tcp(target, deadline):
    sock = _connect(target, deadline)
    sock.close()
    return "connected"


def probe_postgres(target, deadline):
    sock = _connect(target, deadline)
    try:
        sock.sendall(postgres_startup_message(target.user, target.database))
        kind, payload, _rest = _read_until(sock, deadline, split_postgres_message, "the startup message")
        ok, text, _sqlstate = interpret_postgres_reply(kind, payload)
        if kind == b"R" and struct.unpack("!i", payload[:4])[0] == 0:
            # Logged in without a password: end the session properly.
            sock.sendall(postgres_terminate_message())
        # Otherwise just close: the server treats EOF during authentication as a quiet
        # disconnect, while a Terminate message there would be logged as a protocol error.
    finally:
        sock.close()
    if not ok:
        raise ProtocolError(text)
    return text


def probe_redis(target, deadline):
    sock = _connect(target, deadline)
    try:
        if target.password:
            args = ["AUTH"] + ([target.username] if target.username else []) + [target.password]
            sock.sendall(redis_command(*args))
            kind, text, _rest = _read_until(sock, deadline, split_redis_reply, "AUTH")
            if kind != "+":
                raise ProtocolError("AUTH%s rejected: %s%s" % (
                    " as %s" % target.username if target.username else "", kind, text))
        sock.sendall(redis_command("PING"))
        kind, text, _rest = _read_until(sock, deadline, split_redis_reply, "PING")
        if kind == "-" and text.startswith("NOAUTH"):
            raise ProtocolError("the server requires a password: -%s" % text)
        if (kind, text) not in (("+", "PONG"), ("$", "PONG")):
            raise ProtocolError("PING answered %s%s, expected +PONG" % (kind, text))
        sock.sendall(redis_command("QUIT"))
    finally:
        sock.close()
    return "PONG"


def probe_http(target, deadline, expect_status, validate_certs, session=None):
    http = session if session is not None else requests
    try:
        response = http.get(target.url, timeout=deadline.remaining(), verify=validate_certs, allow_redirects=False)
    except requests.exceptions.Timeout as exc:
        raise socket.timeout(describe_request_error(exc))
    except requests.exceptions.RequestException as exc:
        raise ProtocolError(describe_request_error(exc))
    if response.status_code != expect_status:
        raise ProtocolError("HTTP %d, expected %d" % (response.status_code, expect_status))
    return "HTTP %d" % response.status_code


PROBES = {"tcp": probe_tcp, "postgres": probe_postgres, "redis": probe_redis}


def run_check(raw, target, default_timeout, clock=time.monotonic):
    """Run one check and return its result record (never raises for a failed connection)."""
    kind = raw["type"]
    timeout = raw.get("timeout") if raw.get("timeout") is not None else default_timeout
    record = {"name": raw["name"], "type": kind, "target": target.shown, "ok": False, "latency_ms": None,
              "error": None, "detail": None, "severity": raw.get("severity") or "fail"}
    started = clock()
    deadline = Deadline(timeout, clock)
    try:
        if kind == "http":
            detail = probe_http(target, deadline, raw.get("expect_status") or 200, raw.get("validate_certs", True))
        else:
            detail = PROBES[kind](target, deadline)
        record.update(ok=True, detail=detail)
    except socket.timeout:
        record["error"] = "%s: no answer within %gs" % (target.shown, timeout)
    except ProtocolError as exc:
        record["error"] = "%s: %s" % (target.shown, exc)
    except (OSError, socket.error) as exc:
        record["error"] = "%s: %s" % (target.shown, exc.strerror or exc)
    record["latency_ms"] = round((clock() - started) * 1000.0, 3)
    if record["error"] and target.password:
        # Belt and braces: no server reply we quote may carry the password.
        record["error"] = record["error"].replace(target.password, "********")
    return record


def validate_checks(raw_checks):
    """Check every option before anything connects; returns each check's Target."""
    if not raw_checks:
        raise DeployError("checks is empty; nothing to check")
    targets = []
    for index, raw in enumerate(raw_checks):
        if not raw.get("name"):
            raise DeployError("checks[%d] has no name; no check was run" % index)
        if raw.get("type") not in CHECK_TYPES:
            raise DeployError("check %r: type %r is not one of %s; no check was run"
                              % (raw.get("name"), raw.get("type"), ", ".join(CHECK_TYPES)))
        if (raw.get("severity") or "fail") not in SEVERITIES:
            raise DeployError("check %r: severity %r is not one of fail, warn; no check was run"
                              % (raw["name"], raw.get("severity")))
        timeout = raw.get("timeout")
        if timeout is not None and not timeout > 0:
            raise DeployError("check %r: timeout %r must be a positive number of seconds; no check was run"
                              % (raw["name"], timeout))
        targets.append(resolve_target(raw, raw["type"]))
    return targets


def run_dependency_checks(params, warn=None, register_secret=None, clock=time.monotonic):
    """The module's one call: run every check, warn for severity=warn failures, fail for the others.

    ``register_secret`` receives passwords found in URLs (the module masks them in all output).
    """
    raw_checks = params.get("checks") or []
    if register_secret is not None:
        # Before validation, so even an error about a bad URL cannot show its password.
        for password in filter(None, (url_password(raw.get("url")) for raw in raw_checks)):
            register_secret(password)
    default_timeout = params.get("timeout", 5.0)
    if default_timeout is None or not default_timeout > 0:
        raise DeployError("timeout %r must be a positive number of seconds; no check was run" % (default_timeout,))
    targets = validate_checks(raw_checks)
    records = [run_check(raw, target, default_timeout, clock) for raw, target in zip(raw_checks, targets)]
    failures = [r["name"] for r in records if not r["ok"] and r["severity"] == "fail"]
    warned = [r["name"] for r in records if not r["ok"] and r["severity"] == "warn"]
    for record in records:
        if not record["ok"] and record["severity"] == "warn" and warn is not None:
            warn("dependency check %s (%s) failed: %s" % (record["name"], record["type"], record["error"]))
    result = {"checks": records, "passed": not failures, "failures": failures, "warned": warned}
    if failures:
        lines = ["%d dependency check(s) failed:" % len(failures)]
        lines += ["- %s (%s): %s" % (r["name"], r["type"], r["error"]) for r in records
                  if not r["ok"] and r["severity"] == "fail"]
        raise DeployError("\n".join(lines), **result)
    return result
