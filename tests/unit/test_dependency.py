# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dependency checks: PostgreSQL and Redis wire messages (pure functions on bytes), targets, validation.

The byte strings below are what the servers really send (PostgreSQL 15, Redis 7), written out
from the protocol documentation; the integration test talks to the real servers.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import struct

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.dependency import (
    ProtocolError,
    dependency_argument_spec,
    interpret_postgres_reply,
    parse_error_fields,
    postgres_startup_message,
    postgres_terminate_message,
    redis_command,
    resolve_target,
    run_dependency_checks,
    split_postgres_message,
    split_redis_reply,
    validate_checks,
)
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from tests.unit.test_prometheus import docs_vs_spec_problems, module_documentation


def backend(kind, payload):
    return kind + struct.pack("!i", len(payload) + 4) + payload


def error_response(severity, sqlstate, message):
    fields = b"S" + severity + b"\x00V" + severity + b"\x00C" + sqlstate + b"\x00M" + message + b"\x00"
    return backend(b"E", fields + b"\x00")


# -- PostgreSQL ---------------------------------------------------------------------------------------

def test_startup_message_is_protocol_3_with_user_database_and_terminator():
    message = postgres_startup_message("lab", "research", application_name="probe")
    body = b"\x00\x03\x00\x00user\x00lab\x00database\x00research\x00application_name\x00probe\x00\x00"
    assert message == struct.pack("!i", len(body) + 4) + body
    assert struct.unpack("!i", message[:4])[0] == len(message)


def test_terminate_message():
    assert postgres_terminate_message() == b"X\x00\x00\x00\x04"


def test_split_waits_for_a_whole_message_and_keeps_the_rest():
    sasl = backend(b"R", struct.pack("!i", 10) + b"SCRAM-SHA-256\x00\x00")
    assert split_postgres_message(sasl[:3]) is None
    assert split_postgres_message(sasl[:-1]) is None
    kind, payload, rest = split_postgres_message(sasl + b"Zmore")
    assert (kind, payload[:4], rest) == (b"R", struct.pack("!i", 10), b"Zmore")


@pytest.mark.parametrize("code, method", [(0, "trust"), (3, "cleartext password"), (5, "MD5 password"),
                                          (10, "SASL/SCRAM")])
def test_an_authentication_request_means_accepting_connections(code, method):
    kind, payload, _rest = split_postgres_message(backend(b"R", struct.pack("!i", code) + b"\x00" * 4))
    ok, text, sqlstate = interpret_postgres_reply(kind, payload)
    assert ok is True and sqlstate is None
    assert text.startswith("accepting connections (authentication request: %s" % method)


def test_starting_up_57p03_is_not_accepting_connections():
    reply = error_response(b"FATAL", b"57P03", b"the database system is starting up")
    kind, payload, _rest = split_postgres_message(reply)
    ok, text, sqlstate = interpret_postgres_reply(kind, payload)
    assert (ok, sqlstate) == (False, "57P03")
    assert text == "not accepting connections yet: FATAL 57P03: the database system is starting up"


@pytest.mark.parametrize("sqlstate, message", [
    (b"28000", b'no pg_hba.conf entry for host "10.0.0.9", user "lab", database "lab", no encryption'),
    (b"3D000", b'database "nope" does not exist'),
    (b"53300", b"sorry, too many clients already"),
])
def test_other_errors_mean_the_server_is_up_like_pg_isready(sqlstate, message):
    kind, payload, _rest = split_postgres_message(error_response(b"FATAL", sqlstate, message))
    ok, text, got = interpret_postgres_reply(kind, payload)
    assert ok is True and got == sqlstate.decode()
    assert text == "accepting connections (server answered FATAL %s: %s)" % (sqlstate.decode(), message.decode())


def test_error_fields_are_parsed():
    payload = error_response(b"FATAL", b"28P01", b"password authentication failed")[5:]
    assert parse_error_fields(payload) == {"S": "FATAL", "V": "FATAL", "C": "28P01",
                                           "M": "password authentication failed"}


@pytest.mark.parametrize("reply", [b"HTTP/1.1 400 Bad Request\r\n\r\n", b"-ERR unknown command\r\n",
                                   b"SSH-2.0-OpenSSH_9.2\r\n"])
def test_something_else_than_postgres_is_garbage(reply):
    with pytest.raises(ProtocolError, match="not a PostgreSQL message"):
        split_postgres_message(reply)


def test_an_unexpected_message_type_is_reported():
    kind, payload, _rest = split_postgres_message(backend(b"N", b"notice\x00"))
    with pytest.raises(ProtocolError, match="unexpected first message type b'N'"):
        interpret_postgres_reply(kind, payload)


# -- Redis --------------------------------------------------------------------------------------------

def test_commands_are_resp_arrays_of_bulk_strings():
    assert redis_command("PING") == b"*1\r\n$4\r\nPING\r\n"
    assert redis_command("AUTH", "deployer", "s3cr\xe9t") == (
        b"*3\r\n$4\r\nAUTH\r\n$8\r\ndeployer\r\n$7\r\ns3cr\xc3\xa9t\r\n")


@pytest.mark.parametrize("data, parsed", [
    (b"+PONG\r\n", ("+", "PONG", b"")),
    (b"+OK\r\n+PONG\r\n", ("+", "OK", b"+PONG\r\n")),
    (b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
     ("-", "WRONGPASS invalid username-password pair or user is disabled.", b"")),
    (b"-NOAUTH Authentication required.\r\n", ("-", "NOAUTH Authentication required.", b"")),
    (b"-LOADING Redis is loading the dataset in memory\r\n",
     ("-", "LOADING Redis is loading the dataset in memory", b"")),
    (b"$4\r\nPONG\r\n", ("$", "PONG", b"")),
    (b"$-1\r\n", ("$", None, b"")),
    (b":1\r\n", (":", "1", b"")),
])
def test_redis_replies_are_parsed(data, parsed):
    assert split_redis_reply(data) == parsed


def test_an_incomplete_redis_reply_waits_for_more():
    assert split_redis_reply(b"+PO") is None
    assert split_redis_reply(b"$4\r\nPO") is None
    assert split_redis_reply(b"") is None


@pytest.mark.parametrize("data", [b"HTTP/1.1 400 Bad Request\r\n", b"E\x00\x00\x00\x50SFATAL", b"*1\r\n$4\r\nPONG\r\n"])
def test_something_else_than_a_simple_redis_reply_is_garbage(data):
    with pytest.raises(ProtocolError, match="not a Redis reply"):
        split_redis_reply(data)


# -- targets ------------------------------------------------------------------------------------------

def test_postgres_url_gives_host_port_user_and_database_and_hides_the_password():
    target = resolve_target({"name": "db", "url": "postgresql://lab:pa%40ss@db.test:5433/research"}, "postgres")
    assert (target.host, target.port, target.user, target.database) == ("db.test", 5433, "lab", "research")
    assert target.shown == "db.test:5433"


def test_postgres_defaults_to_user_postgres_and_database_named_like_the_user():
    target = resolve_target({"name": "db", "host": "db.test"}, "postgres")
    assert (target.port, target.user, target.database) == (5432, "postgres", "postgres")
    target = resolve_target({"name": "db", "host": "db.test", "user": "lab"}, "postgres")
    assert target.database == "lab"


def test_redis_url_gives_username_and_password_unless_set_as_options():
    target = resolve_target({"name": "cache", "url": "redis://deployer:s3cret@cache.test:6380/0"}, "redis")
    assert (target.host, target.port, target.username, target.password) == ("cache.test", 6380, "deployer", "s3cret")
    assert "s3cret" not in target.shown
    target = resolve_target({"name": "cache", "url": "redis://:fromurl@cache.test", "password": "opt"}, "redis")
    assert (target.port, target.username, target.password) == (6379, None, "opt")


def test_ipv6_targets_are_bracketed():
    assert resolve_target({"name": "t", "host": "::1", "port": 22}, "tcp").shown == "[::1]:22"


@pytest.mark.parametrize("raw, kind, message", [
    ({"name": "t", "host": "h"}, "tcp", "check 't' (tcp) needs port"),
    ({"name": "t", "port": 1}, "tcp", "needs host (or url)"),
    ({"name": "t", "host": "h", "port": 70000}, "tcp", "port 70000 is not between 1 and 65535"),
    ({"name": "w", "host": "h"}, "http", "(http) needs url"),
    ({"name": "w", "url": "ftp://h/x"}, "http", "(http) needs url"),
    ({"name": "db", "url": "mysql://h/x"}, "postgres", "must start with postgres://"),
    ({"name": "db", "url": "postgres://h/x", "host": "h"}, "postgres", "sets both url and host"),
    ({"name": "r", "url": "redis://:pw@h:notaport"}, "redis", "has an invalid port"),
])
def test_bad_targets_are_refused_before_connecting(raw, kind, message):
    with pytest.raises(DeployError) as err:
        resolve_target(raw, kind)
    assert message in err.value.msg
    assert "pw" not in err.value.msg


def test_passwords_in_urls_are_registered_before_validation_can_fail():
    registered = []
    checks = [{"name": "db", "type": "postgres", "url": "postgres://lab:pg%2Fpw@db.test/lab"},
              {"name": "r", "type": "redis", "url": "redis://:redis-pw@h:notaport"}]
    with pytest.raises(DeployError) as err:
        run_dependency_checks({"checks": checks}, register_secret=registered.append)
    assert registered == ["pg/pw", "redis-pw"]
    assert "redis-pw" not in err.value.msg


def test_validate_checks_names_the_bad_check():
    with pytest.raises(DeployError, match="check 'x': type 'mysql' is not one of tcp, postgres, redis, http"):
        validate_checks([{"name": "x", "type": "mysql"}])
    with pytest.raises(DeployError, match="check 'x': severity 'info' is not one of fail, warn"):
        validate_checks([{"name": "x", "type": "tcp", "host": "h", "port": 1, "severity": "info"}])
    with pytest.raises(DeployError, match="checks is empty"):
        validate_checks([])
    with pytest.raises(DeployError, match="check 'x': timeout -1 must be a positive number"):
        validate_checks([{"name": "x", "type": "tcp", "host": "h", "port": 1, "timeout": -1}])
    with pytest.raises(DeployError, match="^timeout 0 must be a positive number"):
        run_dependency_checks({"timeout": 0, "checks": [{"name": "x", "type": "tcp", "host": "h", "port": 1}]})


# -- argument spec and documentation ----------------------------------------------------------------

def test_the_redis_password_inside_the_check_list_is_no_log():
    result = ArgumentSpecValidator(dependency_argument_spec()).validate({
        "checks": [{"name": "cache", "type": "redis", "host": "h", "password": "s3cret-pw"}]})
    assert result.error_messages == []
    assert "s3cret-pw" in result._no_log_values
    chk = result.validated_parameters["checks"][0]
    assert (chk["severity"], chk["expect_status"]) == ("fail", 200)
    assert result.validated_parameters["timeout"] == 5.0


def test_argument_spec_refuses_url_and_host_together_and_unknown_types():
    result = ArgumentSpecValidator(dependency_argument_spec()).validate({
        "checks": [{"name": "db", "type": "postgres", "host": "h", "url": "postgres://h/x"},
                   {"name": "q", "type": "kafka", "host": "h"}]})
    text = " ".join(result.error_messages)
    assert "mutually exclusive: url|host" in text
    assert "type must be one of: tcp, postgres, redis, http" in text


def test_module_documentation_matches_the_argument_spec():
    parsed, options = module_documentation("dependency_check")
    assert docs_vs_spec_problems(options, dependency_argument_spec()) == []
