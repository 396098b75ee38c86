"""Prometheus metrics of the application, in the shapes the collection's gates query.

``http_requests_total{method,path,status}`` and ``http_request_duration_seconds{method,path}``
where ``path`` is the route template (``/api/v1/experiments/{id}``) so that label values stay
few, and ``unmatched`` for requests no route matched.
"""
from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

UNMATCHED = "unmatched"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("http_requests", "HTTP requests answered, by route template and status code",
                   ["method", "path", "status"])
DURATION = Histogram("http_request_duration_seconds", "Time to answer an HTTP request, by route template",
                     ["method", "path"], buckets=BUCKETS)
BUILD_INFO = Gauge("app_build_info", "Always 1; labels name the running image", ["version", "image"])


def route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def observe(request: web.Request, status: int, started: float) -> None:
    path = route_template(request)
    REQUESTS.labels(request.method, path, str(status)).inc()
    DURATION.labels(request.method, path).observe(time.perf_counter() - started)


async def metrics_handler(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
