"""The application's dependencies: PostgreSQL (records), Redis (cache), Kafka (reachability only).

Every check is a real round trip with a 2 s budget. Pools are small (asyncpg min 1, max 3)
because up to ~150 pods share one PostgreSQL server.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Optional

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("app.storage")

CHECK_TIMEOUT_S = 2.0
POOL_MIN, POOL_MAX = 1, 3
CACHE_TTL_S = 60
SCHEMA_LOCK_ID = 727_001  # pg_advisory_xact_lock key: one pod creates the schema at a time

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id text PRIMARY KEY,
    name text NOT NULL,
    description text,
    model_id text,
    dataset_id text,
    hyperparameters jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL,
    created_by text NOT NULL,
    created_by_pod text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS metrics (
    id bigserial PRIMARY KEY,
    experiment_id text NOT NULL,
    step bigint NOT NULL,
    metrics jsonb NOT NULL,
    recorded_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    received_by_pod text NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_by_experiment ON metrics (experiment_id, step, id);
CREATE TABLE IF NOT EXISTS datasets (
    id text PRIMARY KEY,
    name text NOT NULL,
    version text NOT NULL,
    format text,
    size_bytes bigint,
    checksum text,
    created_by_pod text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""

# Errors meaning "the server or connection went away": worth one retry on a fresh connection.
_CONNECTION_ERRORS = (OSError, asyncpg.exceptions.ConnectionDoesNotExistError,
                      asyncpg.exceptions.InterfaceError, asyncpg.exceptions.CannotConnectNowError,
                      asyncpg.exceptions.AdminShutdownError)
# Concurrent CREATE ... IF NOT EXISTS can still collide in the catalogs.
_SCHEMA_RACE_ERRORS = (asyncpg.exceptions.UniqueViolationError, asyncpg.exceptions.DuplicateTableError,
                       asyncpg.exceptions.DuplicateObjectError)


def _healthy(started: float, **extra: Any) -> dict:
    return {"status": "healthy", "latency_ms": round((time.perf_counter() - started) * 1000, 2), **extra}


def _unhealthy(error: BaseException | str, **extra: Any) -> dict:
    text = error if isinstance(error, str) else (f"{type(error).__name__}: {error}".rstrip(": ") or "error")
    if isinstance(error, asyncio.TimeoutError):
        text = f"no answer within {CHECK_TIMEOUT_S:g} s"
    return {"status": "unhealthy", "latency_ms": None, "error": text[:300], **extra}


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.astimezone(timezone.utc).isoformat() if value else None


class Database:
    """asyncpg pool plus the application's queries."""

    def __init__(self, url: Optional[str], pod_name: str):
        self.url = url
        self.pod_name = pod_name
        self.pool: Optional[asyncpg.Pool] = None

    async def connect(self) -> None:
        """Create the pool and the schema; raises on failure (the caller retries)."""
        if self.pool is None:
            self.pool = await asyncpg.create_pool(self.url, min_size=POOL_MIN, max_size=POOL_MAX,
                                                  timeout=CHECK_TIMEOUT_S, command_timeout=10)
        await self._create_schema()

    async def _create_schema(self, attempts: int = 10) -> None:
        for attempt in range(1, attempts + 1):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK_ID)
                    await conn.execute(SCHEMA)
                return
            except _SCHEMA_RACE_ERRORS as exc:
                if attempt == attempts:
                    raise
                log.info("schema creation collided with another pod (%s); retrying", type(exc).__name__)
                await asyncio.sleep(0.1 * attempt)

    async def close(self) -> None:
        if self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.close(), 5)
            except (asyncio.TimeoutError, OSError):
                self.pool.terminate()
            self.pool = None

    async def check(self) -> dict:
        """SELECT 1 within 2 s; one retry on a fresh connection if the old one died (server restart)."""
        if not self.url:
            return _unhealthy("DATABASE_URL is not set")
        started = time.perf_counter()
        deadline = started + CHECK_TIMEOUT_S
        try:
            for attempt in (1, 2):
                try:
                    await asyncio.wait_for(self._select_one(), max(deadline - time.perf_counter(), 0.01))
                    return _healthy(started)
                except _CONNECTION_ERRORS:
                    if attempt == 2 or time.perf_counter() >= deadline:
                        raise
        except (asyncio.TimeoutError, asyncpg.PostgresError, *_CONNECTION_ERRORS) as exc:
            return _unhealthy(exc)
        return _unhealthy("unreachable")

    async def _select_one(self) -> None:
        if self.pool is None:
            conn = await asyncpg.connect(self.url, timeout=CHECK_TIMEOUT_S)
            try:
                await conn.fetchval("SELECT 1")
            finally:
                await conn.close()
            return
        async with self.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def insert_experiment(self, fields: dict, created_by: str) -> dict:
        experiment_id = str(uuid.uuid4())
        row = await self.pool.fetchrow(
            """INSERT INTO experiments (id, name, description, model_id, dataset_id, hyperparameters,
                                        status, created_by, created_by_pod)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'created', $7, $8) RETURNING *""",
            experiment_id, fields["name"], fields.get("description"), fields.get("model_id"),
            fields.get("dataset_id"), json.dumps(fields.get("hyperparameters") or {}), created_by, self.pod_name,
        )
        return experiment_json(row)

    async def get_experiment(self, experiment_id: str) -> Optional[dict]:
        row = await self.pool.fetchrow("SELECT * FROM experiments WHERE id = $1", experiment_id)
        return experiment_json(row) if row else None

    async def insert_metric(self, experiment_id: str, step: int, values: dict, recorded_at: datetime) -> int:
        return await self.pool.fetchval(
            """INSERT INTO metrics (experiment_id, step, metrics, recorded_at, received_by_pod)
               VALUES ($1, $2, $3::jsonb, $4, $5) RETURNING id""",
            experiment_id, step, json.dumps(values), recorded_at, self.pod_name,
        )

    async def list_metrics(self, experiment_id: Optional[str], limit: int) -> list[dict]:
        rows = await self.pool.fetch(
            """SELECT * FROM metrics WHERE $1::text IS NULL OR experiment_id = $1
               ORDER BY step, id LIMIT $2""",
            experiment_id, limit,
        )
        return [metric_json(row) for row in rows]

    async def insert_dataset(self, fields: dict) -> dict:
        row = await self.pool.fetchrow(
            """INSERT INTO datasets (id, name, version, format, size_bytes, checksum, created_by_pod)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
            str(uuid.uuid4()), fields["name"], fields["version"], fields.get("format"),
            fields.get("size_bytes"), fields.get("checksum"), self.pod_name,
        )
        return {"id": row["id"], "name": row["name"], "version": row["version"], "format": row["format"],
                "size_bytes": row["size_bytes"], "checksum": row["checksum"],
                "created_by_pod": row["created_by_pod"], "created_at": _iso(row["created_at"])}


def experiment_json(row: asyncpg.Record) -> dict:
    return {
        "id": row["id"], "name": row["name"], "description": row["description"], "model_id": row["model_id"],
        "dataset_id": row["dataset_id"], "hyperparameters": json.loads(row["hyperparameters"]),
        "status": row["status"], "created_by": row["created_by"], "created_by_pod": row["created_by_pod"],
        "created_at": _iso(row["created_at"]),
    }


def metric_json(row: asyncpg.Record) -> dict:
    return {
        "id": row["id"], "experiment_id": row["experiment_id"], "step": row["step"],
        "metrics": json.loads(row["metrics"]), "timestamp": _iso(row["recorded_at"]),
        "received_at": _iso(row["received_at"]), "received_by_pod": row["received_by_pod"],
    }


class Cache:
    """Redis: PING for health, and a read-through cache of experiments."""

    def __init__(self, url: Optional[str]):
        self.url = url
        self.client: Optional[aioredis.Redis] = None
        if url:
            pool = aioredis.BlockingConnectionPool.from_url(
                url, max_connections=4, timeout=CHECK_TIMEOUT_S,
                socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S,
            )
            self.client = aioredis.Redis(connection_pool=pool)

    async def check(self) -> dict:
        if self.client is None:
            return _unhealthy("REDIS_URL is not set")
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self.client.ping(), CHECK_TIMEOUT_S)
        except (asyncio.TimeoutError, RedisError, OSError) as exc:
            return _unhealthy(exc)
        return _healthy(started)

    async def get_json(self, key: str) -> Optional[dict]:
        """Cached value, or None on a miss or when Redis is unavailable (the caller asks the database)."""
        if self.client is None:
            return None
        try:
            raw = await asyncio.wait_for(self.client.get(key), CHECK_TIMEOUT_S)
        except (asyncio.TimeoutError, RedisError, OSError):
            return None
        return json.loads(raw) if raw else None

    async def set_json(self, key: str, value: dict) -> None:
        if self.client is None:
            return
        try:
            await asyncio.wait_for(self.client.set(key, json.dumps(value), ex=CACHE_TTL_S), CHECK_TIMEOUT_S)
        except (asyncio.TimeoutError, RedisError, OSError):
            pass

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()


class KafkaProbe:
    """TCP connect to the first broker: reported, but it does not decide readiness.

    Broker names were already looked up in SANDBOX_HOSTS; a name still left is not resolved
    through DNS (the sandbox has none, and a query would leave loopback): it is reported.
    """

    def __init__(self, brokers: tuple[tuple[str, int], ...]):
        self.brokers = brokers

    async def check(self) -> dict:
        if not self.brokers:
            return {"status": "not_configured", "latency_ms": None, "error": "KAFKA_BROKERS is not set"}
        host, port = self.brokers[0]
        broker = f"{host}:{port}"
        address = _literal_address(host)
        if address is None:
            return _unhealthy(f"cannot resolve {host!r}: not in SANDBOX_HOSTS (the sandbox has no DNS)",
                              broker=broker)
        started = time.perf_counter()
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), CHECK_TIMEOUT_S)
        except (asyncio.TimeoutError, OSError) as exc:
            return _unhealthy(exc, broker=broker)
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return _healthy(started, broker=broker)


def _literal_address(host: str) -> Optional[str]:
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None
