"""HTTP handlers of the research-lab API stand-in, in the specification's JSON shapes."""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
from datetime import datetime, timezone
from typing import Any, Optional

import asyncpg
from aiohttp import web

from tests.sandbox.app.auth import TOKEN_TTL_S, bearer_token, issue_token, verify_token
from tests.sandbox.app.config import Settings
from tests.sandbox.app.storage import Cache, Database, KafkaProbe

log = logging.getLogger("app")

INTEGRATIONS = {
    "registry": "LLM-Registry",
    "test-bench": "LLM-Test-Bench",
    "analytics-hub": "LLM-Analytics-Hub",
}
MAX_METRICS_LIMIT = 1000
DEFAULT_METRICS_LIMIT = 100
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.exceptions.InterfaceError, OSError, asyncio.TimeoutError)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


class BadRequest(Exception):
    """The request body or query is invalid; the message says which field and why."""


class ResearchLabApi:
    """Route handlers plus the state they share: settings, dependencies, startup and readiness."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.db = Database(settings.database_url, settings.pod_name)
        self.cache = Cache(settings.redis_url)
        self.kafka = KafkaProbe(settings.kafka_brokers)
        self.started = False
        self.startup_message = "initialisation has not begun"
        self._last_ready: Optional[bool] = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.status),
            web.get("/api/v1/status", self.status),
            web.get("/health/live", self.live),
            web.get("/health/ready", self.ready),
            web.get("/health/startup", self.startup),
            web.post("/api/v1/auth/login", self.login),
            web.post("/api/v1/experiments", self.create_experiment),
            web.get("/api/v1/experiments/{id}", self.get_experiment),
            web.post("/api/v1/metrics", self.ingest_metric),
            web.get("/api/v1/metrics", self.list_metrics),
            web.post("/api/v1/datasets", self.create_dataset),
            web.get("/api/v1/integrations/{name}/health", self.integration_health),
            web.get("/api/v1/health/dependencies", self.dependencies),
        ]

    # ----------------------------------------------------------------- public

    async def status(self, request: web.Request) -> web.Response:
        s = self.settings
        return web.json_response({"version": s.version, "pod": s.pod_name, "namespace": s.pod_namespace,
                                  "image": s.image})

    # ----------------------------------------------------------------- probes

    def _probe_body(self, status: str, **extra: Any) -> dict:
        return {"status": status, "version": self.settings.version, "timestamp": now_iso(),
                "pod": self.settings.pod_name, **extra}

    async def live(self, request: web.Request) -> web.Response:
        return web.json_response(self._probe_body("alive"))

    async def startup(self, request: web.Request) -> web.Response:
        if self.started:
            return web.json_response(self._probe_body("started"))
        return web.json_response(self._probe_body("starting", message=self.startup_message), status=503)

    async def ready(self, request: web.Request) -> web.Response:
        if self.settings.behaviour.unready:
            self._note_readiness(False, "the image tag asks for a pod that never becomes ready")
            return web.json_response(
                self._probe_body("not_ready", reason="image behaviour 'unready': this version never becomes ready"),
                status=503,
            )
        deps = await self.check_core_dependencies()
        critical_ok = deps["database"]["status"] == "healthy" and deps["redis"]["status"] == "healthy"
        is_ready = self.started and critical_ok
        extra: dict[str, Any] = {"dependencies": deps}
        if not self.started:
            extra["reason"] = f"startup not finished: {self.startup_message}"
        self._note_readiness(is_ready, _why_not_ready(deps) if self.started else extra.get("reason", ""))
        return web.json_response(self._probe_body("ready" if is_ready else "not_ready", **extra),
                                 status=200 if is_ready else 503)

    async def check_core_dependencies(self) -> dict:
        database, redis_, kafka = await asyncio.gather(self.db.check(), self.cache.check(), self.kafka.check())
        return {"database": database, "redis": redis_, "kafka": kafka}

    def _note_readiness(self, is_ready: bool, reason: str) -> None:
        """Log readiness changes only, not every probe."""
        if is_ready != self._last_ready:
            if is_ready:
                log.info("readiness: ready")
            else:
                log.warning("readiness: not ready (%s)", reason)
            self._last_ready = is_ready

    # ----------------------------------------------------------------- auth

    async def login(self, request: web.Request) -> web.Response:
        s = self.settings
        if not (s.username and s.password and s.token_key):
            return error(503, "login is not configured: APP_USERNAME and APP_PASSWORD are not set in this pod's "
                              "environment")
        try:
            body = await _json_object(request)
            username = _string(body, "username", required=True)
            password = _string(body, "password", required=True)
        except BadRequest as exc:
            return error(400, str(exc))
        valid_user = hmac.compare_digest(username.encode(), s.username.encode())
        valid_password = hmac.compare_digest(password.encode(), s.password.encode())
        if not (valid_user and valid_password):
            return error(401, "invalid username or password")
        return web.json_response({"token": issue_token(s.token_key, username), "token_type": "Bearer",
                                  "expires_in": TOKEN_TTL_S})

    def _authorised_user(self, request: web.Request) -> Optional[str]:
        token = bearer_token(request.headers.get("Authorization", ""))
        if token is None or self.settings.token_key is None:
            return None
        claims = verify_token(self.settings.token_key, token)
        return claims.get("sub") if claims else None

    @staticmethod
    def _unauthorised() -> web.Response:
        response = error(401, "unauthorized: send 'Authorization: Bearer <token>' from POST /api/v1/auth/login")
        response.headers["WWW-Authenticate"] = 'Bearer realm="research-lab"'
        return response

    def _database_ready(self) -> Optional[web.Response]:
        if self.db.pool is None:
            return error(503, "service is starting: the database is not connected yet", detail=self.startup_message)
        return None

    # ----------------------------------------------------------------- API

    async def create_experiment(self, request: web.Request) -> web.Response:
        user = self._authorised_user(request)
        if user is None:
            return self._unauthorised()
        try:
            body = await _json_object(request)
            fields = {
                "name": _string(body, "name", required=True),
                "description": _string(body, "description"),
                "model_id": _string(body, "model_id"),
                "dataset_id": _string(body, "dataset_id"),
                "hyperparameters": _object(body, "hyperparameters"),
            }
        except BadRequest as exc:
            return error(400, str(exc))
        if response := self._database_ready():
            return response
        try:
            experiment = await self.db.insert_experiment(fields, created_by=user)
        except _DB_ERRORS as exc:
            return _database_error(exc)
        return web.json_response(experiment, status=201)

    async def get_experiment(self, request: web.Request) -> web.Response:
        if self._authorised_user(request) is None:
            return self._unauthorised()
        experiment_id = request.match_info["id"]
        cached = await self.cache.get_json(f"experiment:{experiment_id}")
        if cached:
            return web.json_response(cached)
        if response := self._database_ready():
            return response
        try:
            experiment = await self.db.get_experiment(experiment_id)
        except _DB_ERRORS as exc:
            return _database_error(exc)
        if experiment is None:
            return error(404, "experiment not found", id=experiment_id)
        await self.cache.set_json(f"experiment:{experiment_id}", experiment)
        return web.json_response(experiment)

    async def ingest_metric(self, request: web.Request) -> web.Response:
        if self._authorised_user(request) is None:
            return self._unauthorised()
        try:
            body = await _json_object(request)
            experiment_id = _string(body, "experiment_id", required=True)
            step = _integer(body, "step", default=0)
            values = _metric_values(body)
            recorded_at = _timestamp(body, "timestamp")
        except BadRequest as exc:
            return error(400, str(exc))
        if response := self._database_ready():
            return response
        try:
            metric_id = await self.db.insert_metric(experiment_id, step, values, recorded_at)
        except _DB_ERRORS as exc:
            return _database_error(exc)
        return web.json_response({"status": "accepted", "id": metric_id, "experiment_id": experiment_id,
                                  "step": step}, status=202)

    async def list_metrics(self, request: web.Request) -> web.Response:
        if self._authorised_user(request) is None:
            return self._unauthorised()
        experiment_id = request.query.get("experiment_id") or None
        raw_limit = request.query.get("limit", str(DEFAULT_METRICS_LIMIT))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_METRICS_LIMIT:
            return error(400, f"limit must be a whole number from 1 to {MAX_METRICS_LIMIT}, got {raw_limit!r}")
        if response := self._database_ready():
            return response
        try:
            items = await self.db.list_metrics(experiment_id, int(raw_limit))
        except _DB_ERRORS as exc:
            return _database_error(exc)
        return web.json_response({"items": items, "count": len(items), "experiment_id": experiment_id,
                                  "limit": int(raw_limit)})

    async def create_dataset(self, request: web.Request) -> web.Response:
        if self._authorised_user(request) is None:
            return self._unauthorised()
        try:
            body = await _json_object(request)
            fields = {
                "name": _string(body, "name", required=True),
                "version": _string(body, "version", required=True),
                "format": _string(body, "format"),
                "size_bytes": _integer(body, "size_bytes", default=None, minimum=0),
                "checksum": _string(body, "checksum"),
            }
        except BadRequest as exc:
            return error(400, str(exc))
        if response := self._database_ready():
            return response
        try:
            dataset = await self.db.insert_dataset(fields)
        except _DB_ERRORS as exc:
            return _database_error(exc)
        return web.json_response(dataset, status=201)

    async def integration_health(self, request: web.Request) -> web.Response:
        if self._authorised_user(request) is None:
            return self._unauthorised()
        name = request.match_info["name"]
        if name not in INTEGRATIONS:
            return error(404, f"unknown integration {name!r}", known=sorted(INTEGRATIONS))
        return web.json_response({
            "integration": name, "service": INTEGRATIONS[name], "status": "healthy", "simulated": True,
            "detail": f"the sandbox has no {INTEGRATIONS[name]} server; this status is simulated",
            "timestamp": now_iso(),
        })

    async def dependencies(self, request: web.Request) -> web.Response:
        if self._authorised_user(request) is None:
            return self._unauthorised()
        deps = await self.check_core_dependencies()
        for name in ("object_storage", "clickhouse"):
            deps[name] = {"status": "healthy", "latency_ms": None, "simulated": True,
                          "detail": f"the sandbox has no {name} server; this status is simulated"}
        critical_ok = deps["database"]["status"] == "healthy" and deps["redis"]["status"] == "healthy"
        return web.json_response(
            {"status": "healthy" if critical_ok else "unhealthy", "version": self.settings.version,
             "timestamp": now_iso(), "dependencies": deps},
            status=200 if critical_ok else 503,
        )


def _why_not_ready(deps: dict) -> str:
    return ", ".join(f"{name}: {d.get('error', d['status'])}" for name, d in deps.items()
                     if name in ("database", "redis") and d["status"] != "healthy")


def _database_error(exc: BaseException) -> web.Response:
    log.warning("database request failed: %s: %s", type(exc).__name__, exc)
    return error(503, "database unavailable", detail=f"{type(exc).__name__}: {exc}"[:300])


# --------------------------------------------------------------------------- request validation


async def _json_object(request: web.Request) -> dict:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def _string(body: dict, key: str, required: bool = False) -> Optional[str]:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequest(f"{key} must be a non-empty string, got {json.dumps(value)}")
    return value


def _object(body: dict, key: str) -> Optional[dict]:
    value = body.get(key)
    if value is not None and not isinstance(value, dict):
        raise BadRequest(f"{key} must be a JSON object, got {json.dumps(value)}")
    return value


def _integer(body: dict, key: str, default: Optional[int], minimum: Optional[int] = None) -> Optional[int]:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise BadRequest(f"{key} must be a whole number{bound}, got {json.dumps(value)}")
    return value


def _metric_values(body: dict) -> dict:
    values = body.get("metrics")
    if not isinstance(values, dict) or not values:
        raise BadRequest(f"metrics must be a non-empty JSON object of name -> number, got {json.dumps(values)}")
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BadRequest(f"metrics.{name} must be a finite number, got {json.dumps(value)}")
    return values


def _timestamp(body: dict, key: str) -> datetime:
    value = body.get(key)
    if value is None:
        return datetime.now(timezone.utc)
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadRequest(f"{key} must be an ISO 8601 date-time, got {json.dumps(value)}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
