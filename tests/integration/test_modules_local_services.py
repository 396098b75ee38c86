# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""prometheus_gate, smoke_check and dependency_check run by ansible-playbook against real servers.

The test starts, on free loopback ports in a temporary directory: a Prometheus exporter
(prometheus_client) and the real ``prometheus`` binary scraping it every second, two
``redis-server`` instances (open, and with requirepass plus an ACL user), a PostgreSQL 15 cluster
(``initdb`` + ``postgres``) and a small HTTP API for the smoke checks. Each module's playbook
runs once normally and once with ``--check``; the tests read the JSON callback's output, i.e.
what a user sees. Everything started is stopped at the end of the module.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, ".build")
PROMETHEUS = "/usr/bin/prometheus"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
POSTGRES = shutil.which("postgres")
PG_BIN = os.path.dirname(os.path.realpath(POSTGRES)) if POSTGRES else None
REDIS_PASSWORD = "s3cret-redis-pw"
ACL_USER, ACL_PASSWORD = "deployer", "deploy-acl-pw"
WRONG_PASSWORD = "wr0ng-pw-never-shown"
PG_PASSWORD = "pg-superuser-pw"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(PROMETHEUS) and os.path.exists(REDIS_SERVER) and POSTGRES),
    reason="needs prometheus, redis-server and PostgreSQL server binaries")


# -- process helpers ---------------------------------------------------------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what, predicate, timeout=60.0, process=None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError("%s exited with %s: %s" % (what, process.returncode, _tail(log)))
        try:
            if predicate():
                return
        except (OSError, requests.RequestException):
            pass
        time.sleep(0.2)
    raise RuntimeError("%s not ready after %ss: %s" % (what, timeout, _tail(log)))


def _tail(path):
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as handle:
        return handle.read()[-2000:]


def stop(process, sig=signal.SIGTERM):
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def start(args, log, **kwargs):
    handle = open(log, "wb")
    try:
        return subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, **kwargs)
    finally:
        handle.close()


# -- servers -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir():
    # mkdtemp under /tmp rather than pytest's tmp_path: PostgreSQL runs as another user when we
    # are root, and pytest's base directory is private to us.
    path = tempfile.mkdtemp(prefix="deploy-modules-it-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def exporter():
    registry = CollectorRegistry()
    error_ratio = Gauge("demo_error_ratio", "share of 5xx responses", registry=registry)
    latency = Gauge("demo_latency_p99_seconds", "p99 latency", ["track"], registry=registry)
    requests_gauge = Gauge("demo_requests", "requests per pod", ["pod"], registry=registry)
    error_ratio.set(0.01)
    latency.labels(track="canary").set(0.3)
    latency.labels(track="stable").set(0.2)
    requests_gauge.labels(pod="a").set(5)
    requests_gauge.labels(pod="b").set(7)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield "127.0.0.1:%d" % port
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def prometheus(workdir, exporter):
    home = os.path.join(workdir, "prometheus")
    os.makedirs(home)
    config = os.path.join(home, "prometheus.yml")
    with open(config, "w") as handle:
        yaml.safe_dump({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                        "scrape_configs": [{"job_name": "demo", "static_configs": [{"targets": [exporter]}]}]},
                       handle)
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    log = os.path.join(home, "prometheus.log")
    process = start([PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(home, "data"),
                     "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"], log)

    def scraped():
        answer = requests.get(url + "/api/v1/query", params={"query": 'up{job="demo"} == 1 and on() '
                                                             'count(demo_latency_p99_seconds) == 2'}, timeout=2)
        return answer.ok and answer.json()["data"]["result"]
    try:
        wait_for("prometheus scraping the exporter", scraped, process=process, log=log)
        yield url
    finally:
        stop(process)


def redis_ping(port, auth=None):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        if auth:
            sock.sendall(b"AUTH " + auth.encode() + b"\r\n")
            sock.recv(100)
        sock.sendall(b"PING\r\n")
        return sock.recv(100) == b"+PONG\r\n"


@pytest.fixture(scope="module")
def redis(workdir):
    home = os.path.join(workdir, "redis")
    os.makedirs(home)
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", home, "--daemonize", "no"]
    open_port, protected_port = free_port(), free_port()
    logs = [os.path.join(home, "open.log"), os.path.join(home, "protected.log")]
    processes = [
        start([REDIS_SERVER, "--port", str(open_port)] + common, logs[0]),
        start([REDIS_SERVER, "--port", str(protected_port), "--requirepass", REDIS_PASSWORD,
               "--user", ACL_USER, "on", ">" + ACL_PASSWORD, "~*", "+@all"] + common, logs[1]),
    ]
    try:
        wait_for("redis (open)", lambda: redis_ping(open_port), process=processes[0], log=logs[0])
        wait_for("redis (protected)", lambda: redis_ping(protected_port, REDIS_PASSWORD),
                 process=processes[1], log=logs[1])
        yield {"open": open_port, "protected": protected_port}
    finally:
        for process in processes:
            stop(process)


@pytest.fixture(scope="module")
def postgres(workdir):
    home = os.path.join(workdir, "postgres")
    os.makedirs(home)
    as_user = {}
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        account = pwd.getpwnam("postgres")
        for path in (workdir, home):
            os.chown(path, account.pw_uid, account.pw_gid)
        as_user = {"user": account.pw_uid, "group": account.pw_gid}
    pwfile = os.path.join(home, "pwfile")
    with open(pwfile, "w") as handle:
        handle.write(PG_PASSWORD + "\n")
    if as_user:
        os.chown(pwfile, as_user["user"], as_user["group"])
    data = os.path.join(home, "data")
    subprocess.run([os.path.join(PG_BIN, "initdb"), "-D", data, "-U", "postgres", "--auth=scram-sha-256",
                    "--pwfile", pwfile, "--no-sync"], check=True, capture_output=True, **as_user)
    port = free_port()
    log = os.path.join(home, "postgres.log")
    process = start([os.path.join(PG_BIN, "postgres"), "-D", data, "-p", str(port), "-k", home,
                     "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"], log, **as_user)

    def ready():
        return subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                              capture_output=True, check=False).returncode == 0
    try:
        wait_for("postgres", ready, process=process, log=log)
        yield {"port": port, "log": log}
    finally:
        stop(process, signal.SIGINT)  # fast shutdown


class Api(object):
    """The sample application's endpoints the smoke checks use, with a record of requests."""

    def __init__(self):
        self.token = "tok-" + secrets.token_hex(16)
        self.requests = []
        self.flaky_calls = 0

    def handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body, content_type="application/json"):
                data = (json.dumps(body) if content_type == "application/json" else body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def authorised(self):
                return self.headers.get("Authorization") == "Bearer " + api.token

            def do_GET(self):
                api.requests.append(("GET", self.path))
                if self.path == "/health/live":
                    return self.reply(200, {"status": "alive"})
                if self.path == "/health/ready":
                    return self.reply(200, {"status": "ready", "dependencies": {"database": {"status": "healthy"}}})
                if self.path == "/text":
                    return self.reply(200, "plain words", "text/plain")
                if self.path == "/flaky":  # fails twice, then recovers
                    api.flaky_calls += 1
                    return self.reply(503 if api.flaky_calls <= 2 else 200, {"call": api.flaky_calls})
                if self.path == "/slow":
                    time.sleep(0.3)
                    return self.reply(200, {"status": "slow"})
                if not self.authorised():
                    return self.reply(401, {"error": "unauthorized"})
                if self.path == "/api/v1/me":
                    return self.reply(200, {"user": "smoke"})
                if self.path == "/api/v1/experiments/42":
                    return self.reply(200, {"id": 42, "name": "smoke-test-exp"})
                return self.reply(404, {"error": "not found"})

            def do_POST(self):
                api.requests.append(("POST", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                if self.path == "/api/v1/auth/login":
                    if body == {"username": "smoke", "password": "smoke-pw"}:
                        return self.reply(200, {"token": api.token, "token_type": "Bearer"})
                    return self.reply(401, {"error": "bad credentials"})
                if self.path == "/api/v1/experiments" and self.authorised():
                    return self.reply(201, {"id": 42, "name": body.get("name")})
                return self.reply(401, {"error": "unauthorized"})
        return Handler


@pytest.fixture(scope="module")
def api():
    app = Api()
    server = ThreadingHTTPServer(("127.0.0.1", 0), app.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url = "http://127.0.0.1:%d" % server.server_address[1]
    yield app
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def assert_not_shown(secret, run):
    """The secret appears nowhere in what ansible-playbook printed."""
    text = run.stdout + run.stderr
    where = text.find(secret)
    assert where < 0, "%r shown in the output: ...%s..." % (secret, text[max(0, where - 600):where + 100])


# -- running playbooks -------------------------------------------------------------------------------

class Run(object):
    def __init__(self, process, output):
        self.rc = process.returncode
        self.stdout = process.stdout
        self.stderr = process.stderr
        self.tasks = dict((task["task"]["name"], task["hosts"]["localhost"]) for task in output["plays"][0]["tasks"])


def run_playbook(workdir, name, tasks, check=False, environment=None):
    """Run tasks on localhost through ansible-playbook; every task ignores errors so all report."""
    if not os.path.lexists(os.path.join(BUILD, "ansible_collections", "llm_research_lab", "deploy")):
        import tests.conftest  # noqa: F401  creates the .build link
    for task in tasks:
        task.setdefault("ignore_errors", True)
    play = [{"name": name, "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    path = os.path.join(workdir, name + (".check" if check else "") + ".yml")
    with open(path, "w") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=BUILD, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "ansible-tmp"),
               ANSIBLE_REMOTE_TEMP=os.path.join(workdir, "ansible-tmp"))
    env.update(environment or {})
    args = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=" + sys.executable, path] + (["--check"] if check else [])
    process = subprocess.run(args, capture_output=True, text=True, check=False, env=env, cwd=workdir, timeout=600)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    return Run(process, json.loads(process.stdout))


# -- prometheus_gate -----------------------------------------------------------------------------------

ERROR_RATIO = {"name": "error_ratio", "query": "sum(demo_error_ratio)", "max": 0.05}
P99_VS_STABLE = {"name": "p99_vs_stable", "query": 'sum(demo_latency_p99_seconds{track="canary"})',
                 "baseline_query": 'sum(demo_latency_p99_seconds{track="stable"})', "max_ratio": 2}


def gate_tasks(prometheus_url, dead_url):
    def gate(name, **args):
        args.setdefault("prometheus_url", prometheus_url)
        return {"name": name, "llm_research_lab.deploy.prometheus_gate": args}
    return [
        {"name": "start", "ansible.builtin.set_fact": {"t0": "{{ now().timestamp() }}"}},
        gate("passing", checks=[ERROR_RATIO, P99_VS_STABLE], interval=1, duration=2, labels={"stage": 25}),
        # time() is the evaluation time Prometheus is asked about: fine for ~2 s, then breaches.
        gate("breaching", checks=[ERROR_RATIO, {"name": "soak_clock", "query": "time() - {{ t0 }}", "max": 4}],
             interval=1, duration=60),
        gate("malformed", checks=[{"name": "broken", "query": "sum(rate(demo_error_ratio[1m]", "max": 1}]),
        gate("unreachable", prometheus_url=dead_url, checks=[ERROR_RATIO], interval=0.2, error_limit=1),
        gate("no_data", checks=[{"name": "absent", "query": 'sum(demo_error_ratio{job="nope"})', "max": 0.05}]),
        gate("no_data_skipped", checks=[{"name": "absent", "query": 'sum(demo_error_ratio{job="nope"})',
                                         "max": 0.05, "on_no_data": "skip"}]),
        gate("several_series", checks=[{"name": "per_pod", "query": "demo_requests", "max": 100}]),
        gate("breach_returned", checks=[dict(ERROR_RATIO, max=0.001)], fail_on_breach=False),
        {"name": "url_from_environment", "environment": {"PROMETHEUS_URL": prometheus_url},
         "llm_research_lab.deploy.prometheus_gate": {"checks": [ERROR_RATIO]}},
    ]


@pytest.fixture(scope="module")
def gate_runs(workdir, prometheus):
    dead = "http://127.0.0.1:%d" % free_port()
    normal = run_playbook(workdir, "gate", gate_tasks(prometheus, dead))
    checked = run_playbook(workdir, "gate", gate_tasks(prometheus, dead), check=True)
    return normal, checked, dead


def test_gate_passes_with_healthy_metrics(gate_runs):
    result = gate_runs[0].tasks["passing"]
    assert result.get("failed") is not True, result.get("msg")
    assert (result["passed"], result["breached"], result["changed"]) == (True, False, False)
    assert result["evaluations"] == 3
    assert [s["status"] for s in result["samples"]["error_ratio"]] == ["ok"] * 3
    sample = result["samples"]["p99_vs_stable"][0]
    assert (sample["value"], sample["baseline"], sample["ratio"]) == (0.3, 0.2, pytest.approx(1.5))
    assert sample["labels"] == {"stage": 25}
    assert result["reason"].startswith("all 2 check(s) passed: 3 evaluation(s)")


def test_gate_stops_at_the_first_breach_instead_of_running_the_window(gate_runs):
    result = gate_runs[0].tasks["breaching"]
    assert result["failed"] is True and result["breached"] is True
    statuses = [s["status"] for s in result["samples"]["soak_clock"]]
    assert statuses[-1] == "breach" and set(statuses[:-1]) <= {"ok"}
    assert 1 <= result["evaluations"] <= 8  # the 60 s window would have taken 61
    assert result["msg"] == result["reason"]
    assert result["reason"].startswith("check soak_clock breached: ")
    assert result["reason"].endswith("(breach 1, failure_limit 0)")
    assert result["breaches"][0]["threshold"] == 4


def test_gate_reports_prometheus_own_error_for_malformed_promql(gate_runs):
    result = gate_runs[0].tasks["malformed"]
    assert result["failed"] is True
    assert result["msg"].startswith("check 'broken': Prometheus at ")
    assert "parse error" in result["msg"] and "bad_data, HTTP 400" in result["msg"]
    assert result["evaluations"] == 1 and result["errors"] == []


def test_gate_fails_after_error_limit_when_prometheus_is_unreachable(gate_runs):
    result = gate_runs[0].tasks["unreachable"]
    dead = gate_runs[2]
    assert result["failed"] is True and result["passed"] is False
    assert result["evaluations"] == 2
    assert result["msg"].startswith("check error_ratio: 2 query errors in a row (error_limit 1): Prometheus at %s "
                                    "is unreachable: " % dead)
    assert "Connection refused" in result["msg"]


def test_gate_fails_on_an_empty_result_by_default_and_can_skip_it(gate_runs):
    result = gate_runs[0].tasks["no_data"]
    assert result["failed"] is True
    assert result["msg"].startswith("check absent breached: no data (empty result or NaN) at ")
    assert result["breaches"][0]["value"] is None
    skipped = gate_runs[0].tasks["no_data_skipped"]
    assert skipped.get("failed") is not True
    assert skipped["samples"]["absent"][0]["status"] == "skipped"


def test_gate_refuses_a_query_with_several_series(gate_runs):
    result = gate_runs[0].tasks["several_series"]
    assert result["failed"] is True
    assert "check 'per_pod' query returned 2 series" in result["msg"]
    assert "aggregate with sum() or max()" in result["msg"]


def test_gate_can_return_a_breach_without_failing(gate_runs):
    result = gate_runs[0].tasks["breach_returned"]
    assert result.get("failed") is not True
    assert (result["passed"], result["breached"]) == (False, True)


def test_gate_takes_the_url_from_the_environment(gate_runs):
    result = gate_runs[0].tasks["url_from_environment"]
    assert result.get("failed") is not True, result.get("msg")
    assert result["passed"] is True


def test_gate_runs_the_same_in_check_mode(gate_runs):
    normal, checked = gate_runs[0].tasks, gate_runs[1].tasks
    assert checked["passing"]["passed"] is True and checked["passing"]["evaluations"] == 3
    assert checked["breaching"]["breached"] is True
    assert checked["unreachable"]["failed"] is True
    for name in ("passing", "malformed", "no_data", "several_series", "breach_returned"):
        assert checked[name].get("failed") is normal[name].get("failed"), name
        assert checked[name]["changed"] is False


# -- smoke_check --------------------------------------------------------------------------------------

def smoke_flow(url):
    auth = {"Authorization": "Bearer ${token}"}
    return {"name": "flow", "llm_research_lab.deploy.smoke_check": {"base_url": url, "checks": [
        {"name": "live", "path": "/health/live", "expect": {"status": "alive"}},
        {"name": "ready", "path": "/health/ready", "expect": {"dependencies.database.status": "healthy"}},
        {"name": "login", "method": "POST", "path": "/api/v1/auth/login",
         "json": {"username": "smoke", "password": "smoke-pw"}, "save": {"token": "token"}},
        {"name": "me", "path": "/api/v1/me", "headers": auth, "expect": {"user": "smoke"}},
        {"name": "create_experiment", "method": "POST", "path": "/api/v1/experiments", "headers": auth,
         "json": {"name": "smoke-test-exp"}, "expect_status": 201, "save": {"experiment_id": "id"}},
        {"name": "get_experiment", "path": "/api/v1/experiments/${experiment_id}", "headers": auth,
         "expect": {"id": "${experiment_id}"}},
        {"name": "live_latency", "path": "/health/live", "samples": 5, "percentile": 95, "max_latency_ms": 2000},
    ]}}


def smoke_tasks(api_url, dead_url):
    def smoke(name, **args):
        args.setdefault("base_url", api_url)
        return {"name": name, "llm_research_lab.deploy.smoke_check": args}
    return [
        smoke_flow(api_url),
        smoke("unreachable", base_url=dead_url, checks=[{"name": "live", "path": "/health/live"}]),
        smoke("invalid_jmespath", checks=[{"name": "live", "path": "/health/live"},
                                          {"name": "ready", "path": "/health/ready", "expect": {"status[": "x"}}]),
        smoke("reports_everything", fail_on_error=False, checks=[
            {"name": "text_is_not_json", "path": "/text", "expect": {"status": "ok"}},
            {"name": "wrong_status", "path": "/api/v1/me"},
            {"name": "never_saved", "path": "/api/v1/experiments/${experiment_id}"},
            {"name": "over_budget", "path": "/slow", "samples": 3, "percentile": 50, "max_latency_ms": 50},
            {"name": "live", "path": "/health/live"}]),
        smoke("retries", checks=[{"name": "flaky", "path": "/flaky", "retries": 2, "retry_delay": 0.1,
                                  "expect": {"call": 3}}]),
    ]


@pytest.fixture(scope="module")
def smoke_runs(workdir, api):
    dead = "http://127.0.0.1:%d" % free_port()
    normal = run_playbook(workdir, "smoke", smoke_tasks(api.url, dead))
    before_check = len(api.requests)
    checked = run_playbook(workdir, "smoke", smoke_tasks(api.url, dead), check=True)
    return normal, checked, dead, api.requests[before_check:]


def test_smoke_flow_logs_in_and_uses_the_token_without_showing_it(smoke_runs, api):
    run = smoke_runs[0]
    result = run.tasks["flow"]
    assert result.get("failed") is not True, result.get("msg")
    assert [r["passed"] for r in result["results"]] == [True] * 7
    assert (result["passed"], result["failed_count"], result["changed"]) == (7, 0, False)
    assert result["saved"] == {"token": "********", "experiment_id": 42}
    assert result["results"][5]["url"] == api.url + "/api/v1/experiments/42"
    latency = result["results"][6]
    assert len(latency["latencies_ms"]) == 5 and latency["latency_ms"] <= max(latency["latencies_ms"])
    assert_not_shown(api.token, run)
    assert_not_shown("smoke-pw", run)  # the login password in the JSON body


def test_smoke_reports_an_unreachable_base_url(smoke_runs):
    result = smoke_runs[0].tasks["unreachable"]
    dead = smoke_runs[2]
    assert result["failed"] is True
    assert result["results"][0]["message"].startswith("GET %s/health/live failed: " % dead)
    assert "Connection refused" in result["results"][0]["message"]
    assert result["msg"].startswith("1 of 1 smoke check(s) failed against %s:\n- live: GET" % dead)


def test_smoke_refuses_invalid_jmespath_before_sending(smoke_runs):
    result = smoke_runs[0].tasks["invalid_jmespath"]
    assert result["failed"] is True
    assert result["msg"].startswith("check 'ready': invalid JMESPath expression 'status[' in expect")
    assert "results" not in result  # nothing ran, not even the valid first check


def test_smoke_keeps_going_and_reports_every_failure(smoke_runs):
    result = smoke_runs[0].tasks["reports_everything"]
    assert result.get("failed") is not True
    messages = [r["message"] for r in result["results"]]
    assert messages[0] == "response is not JSON (text/plain): plain words; cannot evaluate expect"
    assert messages[1] == 'status 401, expected 200: {"error": "unauthorized"}'
    assert messages[2].startswith("needs ${experiment_id}, which was never saved: no check saves it")
    slow = result["results"][3]
    assert len(slow["latencies_ms"]) == 3 and min(slow["latencies_ms"]) >= 300
    assert messages[3] == "p50 latency %.1f ms over 3 samples exceeds max_latency_ms 50" % slow["latency_ms"]
    assert messages[4] == "ok"
    assert (result["passed"], result["failed_count"]) == (1, 4)


def test_smoke_retries_a_failing_check(smoke_runs):
    result = smoke_runs[0].tasks["retries"]
    assert result.get("failed") is not True, result.get("msg")
    assert (result["results"][0]["attempts"], result["results"][0]["status"]) == (3, 200)


def test_smoke_check_mode_skips_writes_and_sends_no_post(smoke_runs):
    checked, sent = smoke_runs[1], smoke_runs[3]
    flow = checked.tasks["flow"]
    assert flow.get("failed") is not True, flow.get("msg")
    assert [r["passed"] for r in flow["results"]] == [True, True, None, None, None, None, True]
    assert flow["results"][2]["message"] == "skipped in check mode"
    assert flow["results"][3]["message"].startswith("skipped in check mode: needs ${token} from check 'login'")
    assert not [request for request in sent if request[0] == "POST"]
    assert ("GET", "/health/live") in sent


# -- dependency_check ---------------------------------------------------------------------------------

def dependency_tasks(postgres, redis, api_url, stopped_port):
    return [
        {"name": "all_up", "llm_research_lab.deploy.dependency_check": {"checks": [
            {"name": "database", "type": "postgres", "host": "127.0.0.1", "port": postgres["port"]},
            {"name": "database_url", "type": "postgres",
             "url": "postgresql://research:%s@127.0.0.1:%d/research" % (PG_PASSWORD, postgres["port"])},
            {"name": "cache", "type": "redis", "host": "127.0.0.1", "port": redis["open"]},
            {"name": "cache_auth", "type": "redis", "host": "127.0.0.1", "port": redis["protected"],
             "password": REDIS_PASSWORD},
            {"name": "cache_acl", "type": "redis",
             "url": "redis://%s:%s@127.0.0.1:%d" % (ACL_USER, ACL_PASSWORD, redis["protected"])},
            {"name": "api_port", "type": "tcp", "url": api_url},
            {"name": "api_health", "type": "http", "url": api_url + "/health/ready"},
        ]}},
        {"name": "failures", "llm_research_lab.deploy.dependency_check": {"timeout": 3, "checks": [
            {"name": "database_down", "type": "postgres", "host": "127.0.0.1", "port": stopped_port},
            {"name": "wrong_password", "type": "redis", "host": "127.0.0.1", "port": redis["protected"],
             "password": WRONG_PASSWORD},
            {"name": "no_password", "type": "redis", "host": "127.0.0.1", "port": redis["protected"]},
            {"name": "postgres_is_not_redis", "type": "redis", "host": "127.0.0.1", "port": postgres["port"]},
            {"name": "api_wrong_status", "type": "http", "url": api_url + "/api/v1/me"},
            {"name": "optional_cache", "type": "redis", "host": "127.0.0.1", "port": stopped_port,
             "severity": "warn"},
        ]}},
        {"name": "only_warnings", "llm_research_lab.deploy.dependency_check": {"checks": [
            {"name": "database", "type": "postgres", "host": "127.0.0.1", "port": postgres["port"]},
            {"name": "optional_cache", "type": "tcp", "host": "127.0.0.1", "port": stopped_port,
             "severity": "warn"},
        ]}},
    ]


@pytest.fixture(scope="module")
def dependency_runs(workdir, postgres, redis, api):
    stopped = free_port()
    tasks = dependency_tasks(postgres, redis, api.url, stopped)
    return (run_playbook(workdir, "dependencies", tasks),
            run_playbook(workdir, "dependencies", dependency_tasks(postgres, redis, api.url, stopped), check=True),
            stopped)


def test_dependencies_up(dependency_runs):
    result = dependency_runs[0].tasks["all_up"]
    assert result.get("failed") is not True, result.get("msg")
    assert (result["passed"], result["failures"], result["warned"], result["changed"]) == (True, [], [], False)
    checks = dict((c["name"], c) for c in result["checks"])
    assert all(c["ok"] for c in checks.values())
    assert checks["database"]["detail"] == "accepting connections (authentication request: SASL/SCRAM)"
    assert checks["database_url"]["target"].startswith("127.0.0.1:")
    assert checks["cache_auth"]["detail"] == "PONG"
    assert checks["api_health"]["detail"] == "HTTP 200"


def test_dependency_failures_are_reported_without_secrets(dependency_runs):
    run, stopped = dependency_runs[0], dependency_runs[2]
    result = run.tasks["failures"]
    assert result["failed"] is True and result["passed"] is False
    checks = dict((c["name"], c) for c in result["checks"])
    assert checks["database_down"]["error"] == "127.0.0.1:%d: Connection refused" % stopped
    assert checks["wrong_password"]["error"].endswith(
        "AUTH rejected: -WRONGPASS invalid username-password pair or user is disabled.")
    assert checks["no_password"]["error"].endswith("the server requires a password: -NOAUTH Authentication required.")
    assert checks["postgres_is_not_redis"]["error"].endswith("the server closed the connection before answering PING")
    assert checks["api_wrong_status"]["error"].endswith("HTTP 401, expected 200")
    assert result["failures"] == ["database_down", "wrong_password", "no_password", "postgres_is_not_redis",
                                  "api_wrong_status"]
    assert result["warned"] == ["optional_cache"]
    assert result["msg"].splitlines()[0] == "5 dependency check(s) failed:"
    for secret in (WRONG_PASSWORD, REDIS_PASSWORD, ACL_PASSWORD, PG_PASSWORD):
        assert_not_shown(secret, run)


def test_dependency_warnings_do_not_fail(dependency_runs):
    result = dependency_runs[0].tasks["only_warnings"]
    assert result.get("failed") is not True
    assert (result["passed"], result["warned"]) == (True, ["optional_cache"])
    assert any("dependency check optional_cache (tcp) failed" in w for w in result["warnings"])


def test_dependency_checks_run_in_check_mode(dependency_runs):
    checked = dependency_runs[1].tasks
    assert checked["all_up"]["passed"] is True
    assert checked["failures"]["failed"] is True
    assert checked["failures"]["failures"] == dependency_runs[0].tasks["failures"]["failures"]


def test_postgres_probe_leaves_no_errors_in_the_server_log(dependency_runs, postgres):
    with open(postgres["log"], errors="replace") as handle:
        log = handle.read()
    # The probes end quietly (EOF during authentication); only the deliberate Redis PING sent to
    # PostgreSQL (check postgres_is_not_redis) may leave a line.
    noise = [line for line in log.splitlines() if "ERROR" in line or "FATAL" in line or "protocol" in line]
    assert noise == [], log[-2000:]
    assert "invalid length of startup packet" in log
