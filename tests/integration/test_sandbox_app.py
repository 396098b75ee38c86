"""The sample application as a real process against real PostgreSQL and Redis (tests/sandbox/deps.py)."""
import asyncio
import json
import signal
import socket
import threading
import time

import asyncpg
import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.sandbox.app import harness
from tests.sandbox.app.auth import issue_token
from tests.sandbox.deps import start_postgres, start_redis

API = "harbor.example.com/llm-research-lab/api"
USER, PASSWORD, SECRET = "researcher", "correct horse", "shared-token-secret"
PROTECTED = [
    ("POST", "/api/v1/experiments"),
    ("GET", "/api/v1/experiments/some-id"),
    ("POST", "/api/v1/metrics"),
    ("GET", "/api/v1/metrics?experiment_id=x&limit=5"),
    ("POST", "/api/v1/datasets"),
    ("GET", "/api/v1/integrations/registry/health"),
    ("GET", "/api/v1/health/dependencies"),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("sandbox-app")


@pytest.fixture(scope="module")
def postgres(workdir):
    pg = start_postgres(workdir / "postgres")
    yield pg
    pg.stop()


@pytest.fixture(scope="module")
def redis_server(workdir):
    rd = start_redis(workdir / "redis", password="redis-pass")
    yield rd
    rd.stop()


@pytest.fixture(scope="module")
def kafka(workdir):
    """A tcp image standing in for a Kafka broker, started through the catalog like the kubelet does."""
    broker = harness.launch("bitnami/kafka:3.6", workdir, env={"SANDBOX_TCP_PORTS": "9092"})
    broker.wait_listening(9092)
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def pod_env(postgres, redis_server, kafka):
    """A pod's env as in the specification's manifests: service hostnames, resolved via SANDBOX_HOSTS."""
    return {
        "DATABASE_URL": postgres.url.replace(f"@{postgres.host}:", "@postgres.llm-research-lab.svc:"),
        "REDIS_URL": redis_server.url.replace(f"@{redis_server.host}:", "@redis-master:"),
        "KAFKA_BROKERS": "kafka-0.kafka-headless:9092,kafka-1.kafka-headless:9092",
        "SANDBOX_HOSTS": json.dumps({"postgres.llm-research-lab.svc": postgres.host,
                                     "redis-master": redis_server.host,
                                     "kafka-0.kafka-headless": kafka.ip}),
        "APP_USERNAME": USER, "APP_PASSWORD": PASSWORD, "APP_TOKEN_SECRET": SECRET,
    }


@pytest.fixture(scope="module", autouse=True)
def no_process_left_behind():
    yield
    harness.stop_all()


@pytest.fixture
def start_app(workdir, pod_env):
    """Start app processes for one test; all are stopped at its end."""
    started = []

    def start(tag="v1.2.3", env=None, wait=True, image=None):
        app = harness.launch(image or f"{API}:{tag}", workdir, env={**pod_env, **(env or {})})
        started.append(app)
        if wait:
            app.wait_started()
        return app

    yield start
    for app in started:
        app.stop()


@pytest.fixture(scope="module")
def pods(workdir, pod_env):
    """Two pods of the same version, sharing the database, Redis and the token secret."""
    apps = [harness.launch(f"{API}:v1.2.3", workdir, env=pod_env) for _ in range(2)]
    for app in apps:
        app.wait_started()
    yield apps
    for app in apps:
        assert app.stop() == 0


def login(app, username=USER, password=PASSWORD):
    return requests.post(app.url("/api/v1/auth/login"), json={"username": username, "password": password}, timeout=5)


def auth(app):
    response = login(app)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def scrape(app):
    text = requests.get(app.metrics_url(), timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def requests_total(samples, method, path, status):
    return samples.get(("http_requests_total", (("method", method), ("path", path), ("status", status))), 0)


# --------------------------------------------------------------------------- startup


def test_twenty_pods_starting_at_once_on_an_empty_database_all_finish_startup(start_app, postgres):
    async def drop_schema():
        conn = await asyncpg.connect(postgres.url)
        await conn.execute("DROP TABLE IF EXISTS experiments, metrics, datasets")
        await conn.close()

    asyncio.run(drop_schema())
    apps = [start_app(wait=False) for _ in range(20)]
    for app in apps:
        app.wait_started(timeout=90)
    for app in apps:
        assert requests.get(app.url("/health/ready"), timeout=5).status_code == 200
        assert "Traceback" not in app.log_text()


def test_startup_waits_for_its_dependencies_and_then_recovers_from_their_restarts(start_app, workdir):
    pg_dir, redis_dir = workdir / "pg-restart", workdir / "redis-restart"
    pg = start_postgres(pg_dir)
    rd = start_redis(redis_dir)
    rd.stop()  # the pod starts while Redis is down
    try:
        app = start_app(env={"DATABASE_URL": pg.url, "REDIS_URL": rd.url, "SANDBOX_HOSTS": "{}"}, wait=False)
        app.wait_listening()
        time.sleep(1)
        startup = requests.get(app.url("/health/startup"), timeout=5)
        assert startup.status_code == 503
        assert startup.json()["status"] == "starting" and "Redis" in startup.json()["message"]
        assert requests.get(app.url("/health/live"), timeout=5).status_code == 200

        rd.start()
        app.wait_started()
        assert wait_for_status(app, "/health/ready", 200)

        rd.stop()
        ready = requests.get(app.url("/health/ready"), timeout=5)
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not_ready"
        assert body["dependencies"]["redis"]["status"] == "unhealthy"
        assert body["dependencies"]["database"]["status"] == "healthy"
        rd.start()
        assert wait_for_status(app, "/health/ready", 200)

        pg.stop()
        ready = requests.get(app.url("/health/ready"), timeout=5)
        assert ready.status_code == 503 and ready.json()["dependencies"]["database"]["status"] == "unhealthy"
        pg.start()
        assert wait_for_status(app, "/health/ready", 200)
        headers = auth(app)
        created = requests.post(app.url("/api/v1/experiments"), json={"name": "after-restart"}, headers=headers,
                                timeout=5)
        assert created.status_code == 201
        assert "readiness: not ready" in app.log_text() and "readiness: ready" in app.log_text()
    finally:
        pg.stop()
        rd.stop()


def wait_for_status(app, path, status, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(app.url(path), timeout=5).status_code == status:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False


# --------------------------------------------------------------------------- probes and public routes


def test_probes_answer_in_the_specifications_shapes(pods):
    app = pods[0]
    live = requests.get(app.url("/health/live"), timeout=5)
    assert live.status_code == 200
    assert live.json()["status"] == "alive" and live.json()["version"] == "v1.2.3" and live.json()["timestamp"]
    startup = requests.get(app.url("/health/startup"), timeout=5)
    assert startup.status_code == 200 and startup.json()["status"] == "started"
    ready = requests.get(app.url("/health/ready"), timeout=5)
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    for name in ("database", "redis", "kafka"):
        assert body["dependencies"][name]["status"] == "healthy", body
        assert body["dependencies"][name]["latency_ms"] >= 0


def test_status_routes_are_public_and_name_version_pod_and_image(pods):
    for path in ("/", "/api/v1/status"):
        response = requests.get(pods[1].url(path), timeout=5)
        assert response.status_code == 200
        assert response.json()["version"] == "v1.2.3"
        assert response.json()["pod"] == pods[1].env["POD_NAME"]
        assert response.json()["image"] == f"{API}:v1.2.3"


@pytest.mark.parametrize("path", ["/", "/health/live", "/health/ready", "/api/v1/experiments/x", "/no/such/route"])
def test_every_response_carries_the_version_header(pods, path):
    assert requests.get(pods[0].url(path), timeout=5).headers["X-App-Version"] == "v1.2.3"


def test_the_metrics_listener_carries_the_version_header_too(pods):
    response = requests.get(pods[0].metrics_url(), timeout=5)
    assert response.status_code == 200 and response.headers["X-App-Version"] == "v1.2.3"


# --------------------------------------------------------------------------- authentication


def test_login_with_the_configured_credentials_returns_a_bearer_token(pods):
    response = login(pods[0])
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["token"].count(".") == 2


@pytest.mark.parametrize("username, password", [(USER, "wrong"), ("someone", PASSWORD), ("", "")])
def test_login_with_wrong_credentials_is_refused(pods, username, password):
    response = login(pods[0], username, password)
    assert response.status_code in (400, 401)
    assert "token" not in response.json()


def test_login_without_a_json_body_is_a_bad_request(pods):
    response = requests.post(pods[0].url("/api/v1/auth/login"), data="user=x", timeout=5)
    assert response.status_code == 400 and "JSON" in response.json()["error"]


@pytest.mark.parametrize("method, path", PROTECTED)
def test_protected_routes_refuse_requests_without_a_token(pods, method, path):
    response = requests.request(method, pods[0].url(path), json={}, timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method, path", PROTECTED)
def test_protected_routes_refuse_a_token_signed_with_another_key(pods, method, path):
    forged = issue_token(b"not-the-secret", USER)
    response = requests.request(method, pods[0].url(path), json={}, headers={"Authorization": f"Bearer {forged}"},
                                timeout=5)
    assert response.status_code == 401


def test_a_token_from_one_pod_is_accepted_by_another(pods):
    headers = auth(pods[0])
    response = requests.get(pods[1].url("/api/v1/integrations/registry/health"), headers=headers, timeout=5)
    assert response.status_code == 200


def test_login_without_configured_credentials_says_so(start_app):
    app = start_app(env={"APP_USERNAME": "", "APP_PASSWORD": "", "APP_TOKEN_SECRET": ""})
    response = login(app)
    assert response.status_code == 503
    assert "APP_USERNAME" in response.json()["error"]


def test_without_a_token_secret_the_key_is_derived_from_the_password(start_app):
    first = start_app(env={"APP_TOKEN_SECRET": ""})
    second = start_app(env={"APP_TOKEN_SECRET": ""})
    response = requests.get(second.url("/api/v1/integrations/registry/health"), headers=auth(first), timeout=5)
    assert response.status_code == 200


# --------------------------------------------------------------------------- API


def test_an_experiment_created_on_one_pod_is_read_from_another(pods):
    headers = auth(pods[0])
    experiment = {"name": "smoke-test-experiment", "description": "Automated smoke test",
                  "model_id": "test-model-v1", "dataset_id": "test-dataset-v1",
                  "hyperparameters": {"learning_rate": 0.001, "batch_size": 32}}
    created = requests.post(pods[0].url("/api/v1/experiments"), json=experiment, headers=headers, timeout=5)
    assert created.status_code == 201
    experiment_id = created.json()["id"]
    assert created.json()["created_by_pod"] == pods[0].env["POD_NAME"]
    for _ in range(2):  # the second read comes from the Redis cache
        read = requests.get(pods[1].url(f"/api/v1/experiments/{experiment_id}"), headers=headers, timeout=5)
        assert read.status_code == 200
        assert {k: read.json()[k] for k in experiment} == experiment
        assert read.json()["created_by"] == USER


def test_an_unknown_experiment_is_not_found(pods):
    response = requests.get(pods[0].url("/api/v1/experiments/no-such-id"), headers=auth(pods[0]), timeout=5)
    assert response.status_code == 404 and response.json()["id"] == "no-such-id"


@pytest.mark.parametrize("body, field", [({}, "name"), ({"name": ""}, "name"), ({"name": "x", "hyperparameters": 3},
                                                                                   "hyperparameters")])
def test_an_invalid_experiment_is_refused_with_the_field_named(pods, body, field):
    response = requests.post(pods[0].url("/api/v1/experiments"), json=body, headers=auth(pods[0]), timeout=5)
    assert response.status_code == 400 and field in response.json()["error"]


def test_metrics_are_accepted_and_listed_by_experiment(pods):
    headers = auth(pods[0])
    experiment_id = f"metrics-{time.time_ns()}"
    for step in (3, 1, 2):
        accepted = requests.post(pods[step % 2].url("/api/v1/metrics"), headers=headers, timeout=5, json={
            "experiment_id": experiment_id, "step": step, "metrics": {"loss": 1 / step, "accuracy": 0.8},
            "timestamp": "2025-11-28T12:00:00Z"})
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["status"] == "accepted"
    listed = requests.get(pods[0].url(f"/api/v1/metrics?experiment_id={experiment_id}&limit=2"), headers=headers,
                          timeout=5)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [item["step"] for item in items] == [1, 2]
    assert items[0]["metrics"] == {"loss": 1.0, "accuracy": 0.8}
    assert items[0]["timestamp"].startswith("2025-11-28T12:00:00")


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=ten"])
def test_a_bad_metrics_limit_is_refused(pods, query):
    response = requests.get(pods[0].url(f"/api/v1/metrics?{query}"), headers=auth(pods[0]), timeout=5)
    assert response.status_code == 400 and "limit" in response.json()["error"]


@pytest.mark.parametrize("body, field", [
    ({"step": 1, "metrics": {"loss": 1}}, "experiment_id"),
    ({"experiment_id": "e", "metrics": {}}, "metrics"),
    ({"experiment_id": "e", "metrics": {"loss": "low"}}, "metrics.loss"),
    ({"experiment_id": "e", "step": "one", "metrics": {"loss": 1}}, "step"),
    ({"experiment_id": "e", "metrics": {"loss": 1}, "timestamp": "yesterday"}, "timestamp"),
])
def test_invalid_metrics_are_refused_with_the_field_named(pods, body, field):
    response = requests.post(pods[0].url("/api/v1/metrics"), json=body, headers=auth(pods[0]), timeout=5)
    assert response.status_code == 400 and field in response.json()["error"]


def test_a_dataset_version_is_registered(pods):
    dataset = {"name": "smoke-test-dataset", "version": "1.0.0", "format": "parquet", "size_bytes": 1024000,
               "checksum": "sha256:abc123"}
    response = requests.post(pods[0].url("/api/v1/datasets"), json=dataset, headers=auth(pods[0]), timeout=5)
    assert response.status_code == 201
    assert {k: response.json()[k] for k in dataset} == dataset and response.json()["id"]
    again = requests.post(pods[1].url("/api/v1/datasets"), json=dataset, headers=auth(pods[0]), timeout=5)
    assert again.status_code == 201 and again.json()["id"] != response.json()["id"]


@pytest.mark.parametrize("name", ["registry", "test-bench", "analytics-hub"])
def test_integration_health_is_reported_as_simulated(pods, name):
    response = requests.get(pods[0].url(f"/api/v1/integrations/{name}/health"), headers=auth(pods[0]), timeout=5)
    assert response.status_code == 200
    assert response.json()["status"] == "healthy" and response.json()["simulated"] is True


def test_an_unknown_integration_is_not_found(pods):
    response = requests.get(pods[0].url("/api/v1/integrations/billing/health"), headers=auth(pods[0]), timeout=5)
    assert response.status_code == 404


def test_dependencies_are_checked_for_real_and_missing_servers_are_marked_simulated(pods, kafka):
    response = requests.get(pods[0].url("/api/v1/health/dependencies"), headers=auth(pods[0]), timeout=5)
    assert response.status_code == 200
    deps = response.json()["dependencies"]
    assert deps["database"]["status"] == deps["redis"]["status"] == "healthy"
    assert "simulated" not in deps["database"] and "simulated" not in deps["redis"]
    assert deps["kafka"]["status"] == "healthy" and deps["kafka"]["broker"] == f"{kafka.ip}:9092"
    for name in ("object_storage", "clickhouse"):
        assert deps[name]["status"] == "healthy" and deps[name]["simulated"] is True


def test_kafka_is_reported_but_does_not_decide_readiness(start_app):
    app = start_app(env={"KAFKA_BROKERS": "127.0.0.1:1"})  # nothing listens on port 1
    ready = requests.get(app.url("/health/ready"), timeout=5)
    assert ready.status_code == 200
    assert ready.json()["dependencies"]["kafka"]["status"] == "unhealthy"


def test_a_redis_outage_makes_the_dependency_report_unhealthy(start_app, workdir):
    rd = start_redis(workdir / "redis-outage")
    try:
        app = start_app(env={"REDIS_URL": rd.url})
        rd.stop()
        response = requests.get(app.url("/api/v1/health/dependencies"), headers=auth(app), timeout=5)
        assert response.status_code == 503
        assert response.json()["status"] == "unhealthy"
        assert response.json()["dependencies"]["redis"]["status"] == "unhealthy"
    finally:
        rd.stop()


# --------------------------------------------------------------------------- Prometheus metrics


def test_metrics_count_requests_by_route_template_and_status(pods):
    app = pods[1]
    headers = auth(app)
    before = scrape(app)
    for _ in range(3):
        requests.get(app.url("/api/v1/experiments/does-not-exist"), headers=headers, timeout=5)
    for _ in range(2):
        requests.get(app.url("/no/such/route"), timeout=5)
    requests.get(app.url("/health/live"), timeout=5)
    after = scrape(app)

    def delta(method, path, status):
        return requests_total(after, method, path, status) - requests_total(before, method, path, status)

    assert delta("GET", "/api/v1/experiments/{id}", "404") == 3
    assert delta("GET", "unmatched", "404") == 2
    assert delta("GET", "/health/live", "200") == 1
    assert delta("GET", "/metrics", "200") == 1  # the scrape before this one


def test_metrics_have_a_latency_histogram_with_millisecond_buckets_and_process_metrics(pods):
    app = pods[1]
    requests.get(app.url("/api/v1/status"), timeout=5)
    samples = scrape(app)
    buckets = sorted(float(dict(labels)["le"]) for (name, labels) in samples
                     if name == "http_request_duration_seconds_bucket"
                     and dict(labels)["path"] == "/api/v1/status" and dict(labels)["method"] == "GET")
    assert buckets == [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf")]
    count = samples[("http_request_duration_seconds_count", (("method", "GET"), ("path", "/api/v1/status")))]
    assert count >= 1
    assert samples[("process_resident_memory_bytes", ())] > 0


# --------------------------------------------------------------------------- faults from the image tag


def test_err50_answers_about_half_of_api_requests_with_5xx_but_never_the_probes(start_app):
    app = start_app("v1.3.0-err50")
    session = requests.Session()
    statuses = [session.get(app.url("/api/v1/status"), timeout=5).status_code for _ in range(400)]
    failures = sum(status >= 500 for status in statuses)
    assert 140 <= failures <= 260  # binomial(400, 0.5): mean 200, sd 10
    assert set(statuses) <= {200, 500}
    assert all(session.get(app.url("/health/live"), timeout=5).status_code == 200 for _ in range(50))
    assert all(session.get(app.url("/health/ready"), timeout=5).status_code == 200 for _ in range(10))
    failed = requests.get(app.url("/api/v1/status"), timeout=5)
    while failed.status_code != 500:
        failed = requests.get(app.url("/api/v1/status"), timeout=5)
    assert "error" in failed.json() and failed.headers["X-App-Version"] == "v1.3.0-err50"
    samples = scrape(app)
    assert requests_total(samples, "GET", "/api/v1/status", "500") >= failures + 1
    assert requests_total(samples, "GET", "/health/live", "500") == 0


def test_slow200ms_adds_the_latency_to_api_responses(start_app):
    app = start_app("v1.3.0-slow200ms")
    for _ in range(3):
        started = time.perf_counter()
        assert requests.get(app.url("/api/v1/status"), timeout=5).status_code == 200
        assert time.perf_counter() - started >= 0.2
    samples = scrape(app)
    # Every observation of the slow route lies above the 0.1 s bucket: the delay is in the histogram.
    key = ("http_request_duration_seconds_bucket", (("le", "0.1"), ("method", "GET"), ("path", "/api/v1/status")))
    assert samples[key] == 0
    live_fast = ("http_request_duration_seconds_bucket", (("le", "0.1"), ("method", "GET"), ("path", "/health/live")))
    requests.get(app.url("/health/live"), timeout=5)
    assert scrape(app)[live_fast] >= 1


def test_crash_exits_non_zero_at_start_with_a_clear_message(start_app):
    app = start_app("v1.3.0-crash", wait=False)
    assert app.proc.wait(30) == 1
    assert "crashing at start" in app.log_text()


def test_unready_never_becomes_ready_but_is_alive_and_started(start_app):
    app = start_app("v1.3.0-unready")
    assert requests.get(app.url("/health/live"), timeout=5).status_code == 200
    assert requests.get(app.url("/health/startup"), timeout=5).status_code == 200
    for _ in range(3):
        ready = requests.get(app.url("/health/ready"), timeout=5)
        assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
    assert requests.get(app.url("/api/v1/status"), timeout=5).status_code == 200


def test_leak_grows_resident_memory(start_app):
    app = start_app("v1.3.0-leak64", wait=False)
    app.wait_listening()
    process = psutil.Process(app.proc.pid)
    baseline = process.memory_info().rss
    deadline = time.monotonic() + 20
    while process.memory_info().rss < baseline + 150 * 2**20 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.memory_info().rss >= baseline + 150 * 2**20


# --------------------------------------------------------------------------- shutdown and configuration


def test_sigterm_finishes_an_in_flight_request_refuses_new_ones_and_exits_zero(start_app):
    app = start_app("v1.3.0-slow1500ms")
    result = {}

    def slow_request():
        response = requests.get(app.url("/api/v1/status"), timeout=10)
        result["status"] = response.status_code
        result["version"] = response.headers["X-App-Version"]

    client = threading.Thread(target=slow_request)
    client.start()
    time.sleep(0.5)  # the request is now sleeping inside the app
    app.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    refused = False
    while time.monotonic() < deadline and not refused:
        try:
            socket.create_connection((app.ip, app.http_port), timeout=1).close()
            time.sleep(0.05)
        except ConnectionRefusedError:
            refused = True
    assert refused, "the listener still accepted connections after SIGTERM"
    assert client.is_alive(), "the in-flight request should still be running while new ones are refused"
    client.join(10)
    assert result == {"status": 200, "version": "v1.3.0-slow1500ms"}
    assert app.proc.wait(15) == 0
    assert "SIGTERM received" in app.log_text()


def test_sigint_also_stops_gracefully(start_app):
    app = start_app()
    assert app.stop(signal.SIGINT) == 0


@pytest.mark.parametrize("env, message", [
    ({"SANDBOX_HOSTS": "[1]"}, "SANDBOX_HOSTS must be a JSON object"),
    ({"APP_HTTP_PORT": "http"}, "APP_HTTP_PORT must be a port number"),
    ({"DATABASE_URL": "mysql://x@db/y"}, "DATABASE_URL must look like"),
    ({"KAFKA_BROKERS": "kafka-0"}, "KAFKA_BROKERS must be a comma list of host:port"),
    ({"SANDBOX_BEHAVIOUR": '{"error_percent": 500}'}, "error_percent must be between 0 and 100"),
])
def test_bad_configuration_exits_2_naming_the_variable(start_app, env, message):
    app = start_app(env=env, wait=False)
    assert app.proc.wait(30) == 2
    assert message in app.log_text()


def test_the_tcp_listener_accepts_and_holds_connections_then_exits_zero_on_sigterm(workdir):
    broker = harness.launch("apache/kafka:3.7.0", workdir, env={"SANDBOX_TCP_PORTS": "9092,9093"})
    try:
        for port in (9092, 9093):
            broker.wait_listening(port)
        held = socket.create_connection((broker.ip, 9093), timeout=2)
        held.sendall(b"\x00\x00\x00\x10 some bytes")
        held.settimeout(0.3)
        with pytest.raises(socket.timeout):
            held.recv(1)  # open and silent: neither closed nor answered
        assert broker.stop() == 0
        held.settimeout(2)
        assert held.recv(1) == b""  # closed by the listener on shutdown
        held.close()
    finally:
        broker.stop()
