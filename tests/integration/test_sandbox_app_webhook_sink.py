"""The webhook sink (tests/sandbox/webhook_sink.py) run standalone, as the notify role would meet it."""
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.sandbox.app.harness import ROOT, free_port


@pytest.fixture(scope="module")
def sink():
    port = free_port("127.0.0.1")
    proc = subprocess.Popen([sys.executable, "-m", "tests.sandbox.webhook_sink", "--port", str(port),
                             "--host", "127.0.0.1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(autouse=True)
def empty(sink):
    requests.delete(f"{sink}/_requests", timeout=5)


def trigger(**overrides):
    event = {"routing_key": "R0123456789abcdef0123456789abcd", "event_action": "trigger",
             "payload": {"summary": "Canary deployment auto-rollback triggered", "source": "ansible",
                         "severity": "critical", "custom_details": {"version": "v1.3.0"}}}
    event.update(overrides)
    return event


def test_a_valid_trigger_is_accepted_like_pagerduty_and_recorded(sink):
    response = requests.post(f"{sink}/v2/enqueue", json=trigger(), timeout=5)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "success" and body["message"] == "Event processed" and body["dedup_key"]
    recorded = requests.get(f"{sink}/_requests", timeout=5).json()
    assert len(recorded) == 1
    assert recorded[0]["method"] == "POST" and recorded[0]["path"] == "/v2/enqueue"
    assert recorded[0]["json"] == trigger()
    assert recorded[0]["headers"]["Content-Type"] == "application/json"
    assert recorded[0]["time"] <= time.time()


def test_a_given_dedup_key_is_echoed_and_resolve_needs_one(sink):
    accepted = requests.post(f"{sink}/v2/enqueue", json=trigger(dedup_key="rollout-42"), timeout=5)
    assert accepted.json()["dedup_key"] == "rollout-42"
    resolved = requests.post(f"{sink}/v2/enqueue", json={"routing_key": "R01", "event_action": "resolve",
                                                         "dedup_key": "rollout-42"}, timeout=5)
    assert resolved.status_code == 202 and resolved.json()["dedup_key"] == "rollout-42"
    missing = requests.post(f"{sink}/v2/enqueue", json={"routing_key": "R01", "event_action": "acknowledge"},
                            timeout=5)
    assert missing.status_code == 400 and "dedup_key" in missing.json()["errors"][0]


@pytest.mark.parametrize("event, field", [
    (trigger(routing_key=""), "routing_key"),
    (trigger(routing_key=None), "routing_key"),
    (trigger(event_action="page"), "event_action"),
    (trigger(payload=None), "payload"),
    (trigger(payload={"summary": "s", "source": "x", "severity": "fatal"}), "payload.severity"),
    (trigger(payload={"summary": "", "source": "x", "severity": "info"}), "payload.summary"),
    (trigger(payload={"summary": "s", "severity": "info"}), "payload.source"),
])
def test_an_invalid_event_is_refused_like_pagerduty_and_still_recorded(sink, event, field):
    response = requests.post(f"{sink}/v2/enqueue", json=event, timeout=5)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert any(field in error for error in body["errors"])
    assert len(requests.get(f"{sink}/_requests", timeout=5).json()) == 1


def test_a_body_that_is_not_json_is_an_invalid_event(sink):
    response = requests.post(f"{sink}/v2/enqueue", data="incident!", timeout=5)
    assert response.status_code == 400
    assert requests.get(f"{sink}/_requests", timeout=5).json()[0]["body"] == "incident!"


def test_any_other_request_is_answered_ok_and_recorded_with_query_and_body(sink):
    response = requests.put(f"{sink}/hooks/deploy?env=prod&tag=a&tag=b", json={"text": "done"},
                            headers={"X-Token": "t"}, timeout=5)
    assert response.status_code == 200 and response.json() == {"ok": True}
    requests.get(f"{sink}/anything", timeout=5)
    assert requests.get(f"{sink}/v2/enqueue", timeout=5).json() == {"ok": True}  # only POST is an event
    recorded = requests.get(f"{sink}/_requests", timeout=5).json()
    assert [r["path"] for r in recorded] == ["/hooks/deploy", "/anything", "/v2/enqueue"]
    assert recorded[0]["method"] == "PUT" and recorded[0]["query"] == {"env": "prod", "tag": ["a", "b"]}
    assert recorded[0]["json"] == {"text": "done"} and recorded[0]["headers"]["X-Token"] == "t"
    assert recorded[1]["body"] == "" and recorded[1]["json"] is None


def test_delete_clears_the_record(sink):
    requests.post(f"{sink}/x", timeout=5)
    assert requests.delete(f"{sink}/_requests", timeout=5).json() == {"cleared": 1}
    assert requests.get(f"{sink}/_requests", timeout=5).json() == []


def test_the_standalone_sink_refuses_a_non_loopback_address():
    done = subprocess.run([sys.executable, "-m", "tests.sandbox.webhook_sink", "--port", "1", "--host", "0.0.0.0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "loopback" in done.stderr
