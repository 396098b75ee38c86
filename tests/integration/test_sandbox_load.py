"""The open-loop load generator (tests/sandbox/load.py) against real application processes."""
import json
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.sandbox import load
from tests.sandbox.app import harness
from tests.sandbox.app.harness import ROOT
from tests.sandbox.deps import start_postgres, start_redis

API = "harbor.example.com/llm-research-lab/api"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("sandbox-load")


@pytest.fixture(scope="module")
def pod_env(workdir):
    pg = start_postgres(workdir / "postgres")
    rd = start_redis(workdir / "redis")
    yield {"DATABASE_URL": pg.url, "REDIS_URL": rd.url, "APP_USERNAME": "u", "APP_PASSWORD": "p"}
    harness.stop_all()
    pg.stop()
    rd.stop()


@pytest.fixture(scope="module")
def app_for(workdir, pod_env):
    """One started app process per tag, shared by the tests of this module."""
    apps = {}

    def get(tag):
        if tag not in apps:
            apps[tag] = harness.launch(f"{API}:{tag}", workdir, env=pod_env)
            apps[tag].wait_started()
        return apps[tag]

    yield get
    for app in apps.values():
        app.stop()


def run_load(*args, timeout=60):
    """Run the generator as a process; returns (exit code, summary or None, stderr)."""
    done = subprocess.run([sys.executable, "-m", "tests.sandbox.load", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    summary = json.loads(done.stdout) if done.returncode == 0 else None
    return done.returncode, summary, done.stderr


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_offered_rate_is_honoured_and_every_request_is_written(app_for, tmp_path):
    app = app_for("v1.2.3")
    out = tmp_path / "load.jsonl"
    code, summary, _ = run_load("--url", app.url("/api/v1/status"), "--rps", 100, "--duration", 3, "--out", out)
    assert code == 0
    assert summary["requests"] == 300 and summary["ok"] == 300 and summary["failed"] == 0
    assert summary["by_version"] == {"v1.2.3": 300} and summary["by_status"] == {"200": 300}
    assert 90 <= summary["achieved_rps"] <= 110
    assert summary["first_failure_t"] is None and summary["stopped_early"] is False
    assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"] <= summary["latency_ms"]["p99"]
    records = read_jsonl(out)
    assert len(records) == 300
    assert set(records[0]) == {"t", "status", "latency_ms", "version", "error"}
    assert records[0]["version"] == "v1.2.3" and records[0]["error"] is None
    starts = sorted(r["t"] for r in records)
    assert 2.8 <= starts[-1] - starts[0] <= 3.2  # spread over the planned 3 s, not bunched
    assert load.summarise(out) == {k: v for k, v in summary.items() if k in load.summarise(out)}


def test_slow_responses_do_not_lower_the_offered_rate(app_for, tmp_path):
    app = app_for("v1.3.0-slow500ms")
    code, summary, _ = run_load("--url", app.url("/api/v1/status"), "--rps", 40, "--duration", 2,
                                "--out", tmp_path / "slow.jsonl")
    assert code == 0
    assert summary["requests"] == 80 and summary["failed"] == 0
    assert 36 <= summary["achieved_rps"] <= 44  # open loop: 20 requests in flight at any time
    assert summary["latency_ms"]["p50"] >= 500


def test_server_errors_are_counted_as_failures_with_their_times(app_for, tmp_path):
    app = app_for("v1.3.0-err50")
    before = time.time()
    code, summary, _ = run_load("--url", app.url("/api/v1/status"), "--rps", 200, "--duration", 1,
                                "--out", tmp_path / "errors.jsonl")
    assert code == 0
    assert summary["requests"] == 200
    assert summary["failed"] == summary["by_status"]["500"]
    assert 60 <= summary["failed"] <= 140
    assert summary["ok"] == summary["by_status"]["200"] == 200 - summary["failed"]
    assert before <= summary["first_failure_t"] <= summary["last_failure_t"] <= time.time()
    assert summary["by_version"] == {"v1.3.0-err50": 200}


def test_connection_errors_are_status_zero_failures(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    code, summary, _ = run_load("--url", f"http://127.0.0.1:{port}/", "--rps", 20, "--duration", 0.5,
                                "--out", tmp_path / "refused.jsonl")
    assert code == 0
    assert summary["requests"] == summary["failed"] == 10
    assert summary["by_status"] == {"0": 10} and summary["by_version"] == {"none": 10}
    assert summary["latency_ms"]["p50"] is None
    assert list(summary["errors"]) == ["connection refused"]


def test_each_request_uses_a_new_connection(tmp_path):
    connections = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)

    def serve():
        for _ in range(25):
            try:
                conn, _ = server.accept()
            except OSError:
                return
            connections.append(conn)
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-App-Version: raw\r\n\r\nok")

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        code, summary, _ = run_load("--url", f"http://127.0.0.1:{server.getsockname()[1]}/", "--rps", 50,
                                    "--duration", 0.5, "--out", tmp_path / "conn.jsonl")
    finally:
        thread.join(10)
        server.close()
        for conn in connections:
            conn.close()
    assert code == 0
    assert summary["requests"] == 25 and summary["by_version"] == {"raw": 25}
    assert len(connections) == 25


def test_method_body_headers_and_host_are_sent_as_asked(workdir, tmp_path):
    port = harness.free_port("127.0.0.1")
    sink = subprocess.Popen([sys.executable, "-m", "tests.sandbox.webhook_sink", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening("127.0.0.1", port)
        code, summary, _ = run_load("--url", f"http://127.0.0.1:{port}/hook?x=1", "--rps", 10, "--duration", 0.3,
                                    "--method", "POST", "--data", '{"a": 1}', "--header", "X-Canary: always",
                                    "--header", "Content-Type: application/json",
                                    "--host", "api.research-lab.example.com", "--out", tmp_path / "sink.jsonl")
        assert code == 0 and summary["requests"] == 3 and summary["ok"] == 3
        recorded = requests.get(f"http://127.0.0.1:{port}/_requests", timeout=5).json()
    finally:
        sink.terminate()
        sink.wait(10)
    assert len(recorded) == 3
    first = recorded[0]
    assert (first["method"], first["path"], first["query"], first["json"]) == ("POST", "/hook", {"x": "1"}, {"a": 1})
    assert first["headers"]["Host"] == "api.research-lab.example.com"
    assert first["headers"]["X-Canary"] == "always" and first["headers"]["Connection"] == "close"


def wait_listening(host, port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {host}:{port}")


def test_the_file_is_written_while_the_run_goes_on_and_sigterm_stops_it_with_a_summary(app_for, tmp_path):
    app = app_for("v1.2.3")
    out = tmp_path / "long.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "tests.sandbox.load", "--url", app.url("/"), "--rps", "50",
                             "--duration", "60", "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 25):
            time.sleep(0.1)
        partial = load.summarise(out)
        assert partial["requests"] >= 25 and partial["by_version"] == {"v1.2.3": partial["requests"]}
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    summary = json.loads(stdout)
    assert summary["stopped_early"] is True
    assert partial["requests"] <= summary["requests"] < 50 * 60
    assert summary["requests"] == len(read_jsonl(out)) and summary["failed"] == 0


@pytest.mark.parametrize("url", ["http://10.1.2.3:8080/", "http://192.0.2.10/", "http://[2001:db8::1]/"])
def test_non_loopback_targets_are_refused(tmp_path, url, capsys):
    out = tmp_path / "never.jsonl"
    assert load.main(["--url", url, "--rps", "10", "--duration", "1", "--out", str(out)]) == 2
    assert "only loopback targets" in capsys.readouterr().err
    assert not out.exists()


def test_names_are_resolved_from_etc_hosts_only_never_by_dns(app_for, tmp_path, capsys):
    out = tmp_path / "never.jsonl"
    assert load.main(["--url", "http://research-lab.example.com/", "--rps", "10", "--duration", "1",
                      "--out", str(out)]) == 2
    assert "without DNS" in capsys.readouterr().err and not out.exists()
    app = app_for("v1.2.3")
    assert load.resolve_target(f"http://localhost:{app.http_port}/").address == "127.0.0.1"


@pytest.mark.parametrize("args, message", [
    (["--rps", "0", "--duration", "1"], "--rps must be between 1 and 5000"),
    (["--rps", "5001", "--duration", "1"], "--rps must be between 1 and 5000"),
    (["--rps", "10", "--duration", "0.05"], "--duration must be between 0.1 and 3600"),
    (["--rps", "10", "--duration", "3601"], "--duration must be between 0.1 and 3600"),
    (["--rps", "10", "--duration", "1", "--timeout", "0"], "--timeout must be between"),
])
def test_out_of_bounds_arguments_are_refused_naming_the_value(tmp_path, args, message, capsys):
    assert load.main(["--url", "http://127.0.0.1:1/", *args, "--out", str(tmp_path / "x.jsonl")]) == 2
    assert message in capsys.readouterr().err


def test_summarise_reads_a_jsonl_file_with_mixed_versions(tmp_path):
    records = [
        {"t": 100.0, "status": 200, "latency_ms": 10.0, "version": "v1.2.3", "error": None},
        {"t": 100.5, "status": 200, "latency_ms": 20.0, "version": "v1.3.0", "error": None},
        {"t": 101.0, "status": 503, "latency_ms": 30.0, "version": "v1.3.0", "error": None},
        {"t": 101.5, "status": 0, "latency_ms": 5000.0, "version": None, "error": "timeout after 5 s"},
        {"t": 102.0, "status": 404, "latency_ms": 40.0, "version": "v1.2.3", "error": None},
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"t": 103, "sta')  # last line unfinished
    summary = load.summarise(path)
    assert summary["requests"] == 5 and summary["failed"] == 2 and summary["ok"] == 3
    assert summary["by_version"] == {"v1.2.3": 2, "v1.3.0": 2, "none": 1}
    assert summary["by_status"] == {"200": 2, "503": 1, "0": 1, "404": 1}
    assert summary["latency_ms"] == {"p50": 20.0, "p95": 40.0, "p99": 40.0, "max": 40.0}
    assert summary["achieved_rps"] == 2.0
    assert (summary["first_failure_t"], summary["last_failure_t"]) == (101.0, 101.5)
    assert summary["errors"] == {"HTTP 503": 1, "timeout after 5 s": 1}
