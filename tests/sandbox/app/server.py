"""Listeners and lifecycle of one pod's application process.

Two listeners on POD_IP: the API on APP_HTTP_PORT and Prometheus' /metrics on APP_METRICS_PORT.
Initialisation (connection pool, schema, Redis) runs in the background and retries until the
dependencies answer; /health/startup says when it is done. SIGTERM or SIGINT: stop accepting
connections, let in-flight requests finish (up to 10 s), close the pools, exit 0.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sys
import time
from typing import Optional

from aiohttp import web

from tests.sandbox.app import telemetry
from tests.sandbox.app.config import ConfigError, Settings, redact_url
from tests.sandbox.app.faults import MemoryLeak, make_fault_middleware
from tests.sandbox.app.routes import ResearchLabApi, error

log = logging.getLogger("app")

DRAIN_TIMEOUT_S = 10.0
INIT_RETRY_MAX_S = 2.0
CONNECT_BUDGET_S = 15.0


def _setup_logging(pod_name: str) -> None:
    sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format=f"%(asctime)s %(levelname)s pod={pod_name} %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").disabled = True


# --------------------------------------------------------------------------- middlewares


@web.middleware
async def observe_requests(request: web.Request, handler) -> web.StreamResponse:
    """Count every request and time it, under its route template."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        telemetry.observe(request, status, started)


@web.middleware
async def json_errors(request: web.Request, handler) -> web.StreamResponse:
    """Routing errors (404, 405) and unexpected exceptions answer JSON like everything else."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        return web.json_response({"error": exc.reason, "path": request.path}, status=exc.status, headers=headers)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error(500, "internal server error")


def _version_header(version: str):
    async def add_version(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-App-Version"] = version

    return add_version


def build_http_app(api: ResearchLabApi, rng: random.Random) -> web.Application:
    app = web.Application(middlewares=[observe_requests, json_errors,
                                       make_fault_middleware(api.settings.behaviour, rng)])
    app.add_routes(api.routes())
    app.on_response_prepare.append(_version_header(api.settings.version))
    return app


def build_metrics_app(version: str) -> web.Application:
    app = web.Application(middlewares=[observe_requests, json_errors])
    app.router.add_get("/metrics", telemetry.metrics_handler)
    app.on_response_prepare.append(_version_header(version))
    return app


# --------------------------------------------------------------------------- lifecycle


async def initialise(api: ResearchLabApi) -> None:
    """Connect to PostgreSQL (pool and schema) and Redis; retry until both answer."""
    delay = 0.2
    last_logged = ""
    while True:
        waiting_for = "PostgreSQL"
        try:
            if not api.settings.database_url:
                raise ConfigError("DATABASE_URL is not set")
            await asyncio.wait_for(api.db.connect(), CONNECT_BUDGET_S)
            waiting_for = "Redis"
            redis_check = await api.cache.check()
            if redis_check["status"] != "healthy":
                raise ConnectionError(redis_check["error"])
        except (Exception, asyncio.TimeoutError) as exc:
            api.startup_message = f"waiting for {waiting_for}: {type(exc).__name__}: {exc}"[:300]
            if api.startup_message != last_logged:
                log.warning("startup: %s (retrying)", api.startup_message)
                last_logged = api.startup_message
            await asyncio.sleep(delay)
            delay = min(delay * 2, INIT_RETRY_MAX_S)
            continue
        api.started = True
        api.startup_message = "initialisation finished"
        log.info("startup complete: schema ready, PostgreSQL and Redis reachable")
        return


async def _start_site(runner: web.AppRunner, host: str, port: int, what: str) -> None:
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=1024, shutdown_timeout=DRAIN_TIMEOUT_S).start()
    except OSError as exc:
        raise OSError(f"cannot listen for {what} on {host}:{port}: {exc.strerror or exc}") from None


async def serve(settings: Settings) -> int:
    api = ResearchLabApi(settings)
    http_runner = web.AppRunner(build_http_app(api, random.Random()), access_log=None,
                                shutdown_timeout=DRAIN_TIMEOUT_S)
    metrics_runner = web.AppRunner(build_metrics_app(settings.version), access_log=None, shutdown_timeout=2)
    try:
        await _start_site(http_runner, settings.pod_ip, settings.http_port, "HTTP")
        await _start_site(metrics_runner, settings.pod_ip, settings.metrics_port, "metrics")
    except OSError as exc:
        print(f"research-lab app: {exc}", file=sys.stderr)
        await http_runner.cleanup()
        await metrics_runner.cleanup()
        return 1
    telemetry.BUILD_INFO.labels(settings.version, settings.image).set(1)
    log.info("research-lab app %s (image %s) listening on %s:%d, metrics on :%d; database %s, redis %s",
             settings.version, settings.image or "(none)", settings.pod_ip, settings.http_port,
             settings.metrics_port, redact_url(settings.database_url), redact_url(settings.redis_url))

    stop = asyncio.Event()
    received: list[str] = []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, stop, received, sig)

    background = [asyncio.create_task(initialise(api))]
    if settings.behaviour.leak_mb_per_s > 0:
        background.append(asyncio.create_task(MemoryLeak(settings.behaviour.leak_mb_per_s).run()))

    await stop.wait()
    log.info("%s received: refusing new connections, finishing in-flight requests (up to %g s)",
             received[0], DRAIN_TIMEOUT_S)
    await http_runner.cleanup()
    await metrics_runner.cleanup()
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    await api.db.close()
    await api.cache.close()
    log.info("stopped")
    return 0


def _on_signal(stop: asyncio.Event, received: list, sig: signal.Signals) -> None:
    if not received:
        received.append(sig.name)
    stop.set()


def main(environ: Optional[dict] = None) -> int:
    environ = os.environ if environ is None else environ
    _setup_logging(environ.get("POD_NAME", "") or "local")
    try:
        settings = Settings.from_environ(environ)
    except ConfigError as exc:
        print(f"research-lab app: configuration error: {exc}", file=sys.stderr)
        return 2
    if settings.behaviour.kind != "app":
        print(f"research-lab app: SANDBOX_BEHAVIOUR kind is {settings.behaviour.kind!r}; this program serves "
              "kind 'app' only (kind 'tcp' runs tests.sandbox.app.tcp_listener)", file=sys.stderr)
        return 2
    if settings.behaviour.crash:
        print(f"research-lab app {settings.version}: crashing at start because the image tag asks for it "
              "(behaviour 'crash')", file=sys.stderr)
        return 1
    return asyncio.run(serve(settings))
