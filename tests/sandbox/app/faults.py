"""Faults selected by the image tag (SANDBOX_BEHAVIOUR): injected errors, latency, memory growth.

Errors and latency hit every route except the probes (/health/*) and /metrics, so a faulty
version still starts and becomes ready, and the faults show up in traffic and in Prometheus.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Awaitable, Callable

from aiohttp import web

from tests.sandbox.catalog import ImageBehaviour

log = logging.getLogger("app.faults")

MIB = 1024 * 1024
LEAK_CAP_BYTES = 4 * 1024 * MIB  # safety cap: the kubelet's memory limit should strike long before
LEAK_TICK_S = 0.1

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_exempt(path: str) -> bool:
    return path.startswith("/health/") or path == "/metrics"


def make_fault_middleware(behaviour: ImageBehaviour, rng: random.Random):
    error_share = behaviour.error_percent / 100.0
    delay_s = behaviour.latency_ms / 1000.0

    @web.middleware
    async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_exempt(request.path):
            return await handler(request)
        if delay_s:
            await asyncio.sleep(delay_s)
        if error_share and rng.random() < error_share:
            # The handler does not run: a failed request has no side effects.
            return web.json_response(
                {"error": "internal server error",
                 "detail": f"fault injected by image tag (error_percent={behaviour.error_percent:g})"},
                status=500,
            )
        return await handler(request)

    return inject_faults


class MemoryLeak:
    """Grows the process's memory by ``mb_per_s`` MiB every second, really written to RAM."""

    def __init__(self, mb_per_s: float):
        self.mb_per_s = mb_per_s
        self.held: list[bytes] = []
        self.total = 0

    async def run(self) -> None:
        log.warning("image behaviour: leaking %g MiB/s of memory (safety cap %d MiB)",
                    self.mb_per_s, LEAK_CAP_BYTES // MIB)
        chunk = int(self.mb_per_s * MIB * LEAK_TICK_S)
        while self.total + chunk <= LEAK_CAP_BYTES:
            # bytes * n writes every byte, so the pages are resident (calloc'd zeros would not be).
            self.held.append(b"\x5a" * chunk)
            self.total += chunk
            await asyncio.sleep(LEAK_TICK_S)
        log.warning("memory leak reached its safety cap of %d MiB; no longer growing", LEAK_CAP_BYTES // MIB)
