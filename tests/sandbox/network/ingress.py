"""The ingress controller: one HTTP listener routing by host and path to Service endpoints,
with ingress-nginx's canary rules.

A canary Ingress (``nginx.ingress.kubernetes.io/canary: "true"``) for the same host and path
as a main Ingress takes a request, in ingress-nginx's order of precedence, by
``canary-by-header`` (``always``/``never``, or ``canary-by-header-value``, or
``canary-by-header-pattern``), then ``canary-by-cookie`` (``always``/``never``), then
``canary-weight`` out of ``canary-weight-total`` (default 100). Changes apply at once: the
routing table is rebuilt on every Ingress change and endpoints are read per request.
Metrics (``nginx_ingress_controller_requests``, a duration histogram) on a separate port.
"""
import asyncio
import logging
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..apiserver.resources import BY_PLURAL
from .backends import Backends

log = logging.getLogger("sandbox.ingress")
INGRESSES = BY_PLURAL["ingresses"]
INGRESSCLASSES = BY_PLURAL["ingressclasses"]
PREFIX = "nginx.ingress.kubernetes.io/"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length", "host"}
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass
class Canary:
    ingress: tuple
    service: str
    port: object
    weight: int = 0
    weight_total: int = 100
    header: str = None
    header_value: str = None
    header_pattern: object = None
    cookie: str = None

    def decide(self, request):
        """True: canary, False: main. ingress-nginx precedence: header, cookie, weight."""
        if self.header:
            value = request.headers.get(self.header)
            if value is not None:
                if self.header_value:
                    if value == self.header_value:
                        return True
                elif self.header_pattern is not None:
                    if self.header_pattern.search(value):
                        return True
                elif value == "always":
                    return True
                elif value == "never":
                    return False
        if self.cookie:
            value = request.cookies.get(self.cookie)
            if value == "always":
                return True
            if value == "never":
                return False
        if self.weight <= 0:
            return False
        return random.random() * self.weight_total < self.weight


@dataclass
class Route:
    host: str          # "" matches any host
    path: str
    path_type: str
    ingress: tuple     # (namespace, name)
    service: str
    port: object
    canary: Canary = None
    order: int = field(default=0)

    def matches_path(self, path):
        if self.path_type == "Exact":
            return path == self.path
        prefix = self.path.rstrip("/")
        if not prefix:
            return True
        return path == prefix or path.startswith(prefix + "/")


def _host_matches(pattern, host):
    if not pattern:
        return True
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return host.endswith(suffix) and host.count(".") == pattern.count(".")
    return pattern == host


def _port_of(backend):
    port = (backend.get("service") or {}).get("port") or {}
    return port.get("number") if port.get("number") is not None else port.get("name")


def _int(text, default):
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return default


class IngressController:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.backends = Backends(self.store)
        self.routes = []
        self.default_backends = {}
        self.registry = CollectorRegistry()
        labels = ["ingress", "namespace", "service", "status", "canary", "method", "host", "path"]
        self.requests = Counter("nginx_ingress_controller_requests", "The total number of client requests",
                                labels, registry=self.registry)
        self.duration = Histogram("nginx_ingress_controller_request_duration_seconds",
                                  "The request processing time in seconds",
                                  ["ingress", "namespace", "service", "canary", "method", "host", "path"],
                                  buckets=BUCKETS, registry=self.registry)
        self._session = None
        self._runners = []
        self.url = None
        self.metrics_url = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host="127.0.0.1", port=0, metrics_port=0):
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True, limit=0),
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=60, connect=2))
        self.store.subscribe(self._on_event)
        self.rebuild()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.url = await self._listen(app, host, port)
        metrics = web.Application()
        metrics.router.add_get("/metrics", self.metrics)
        self.metrics_url = await self._listen(metrics, host, metrics_port)

    async def _listen(self, app, host, port):
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=2048, reuse_address=True)
        await site.start()
        self._runners.append(runner)
        bound = site._server.sockets[0].getsockname()
        return "http://%s:%d" % (bound[0], bound[1])

    async def stop(self):
        for runner in self._runners:
            await runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def metrics(self, request):
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    # ------------------------------------------------------------------ routing table
    def _on_event(self, plural, event_type, obj, old):
        if plural in ("ingresses", "ingressclasses"):
            self.rebuild()

    def _ours(self, ingress):
        cls = ingress["spec"].get("ingressClassName") or \
            (ingress["metadata"].get("annotations") or {}).get("kubernetes.io/ingress.class")
        if cls:
            return cls == "nginx"
        for ic in self.store.list(INGRESSCLASSES)[0]:
            if (ic["metadata"].get("annotations") or {}).get("ingressclass.kubernetes.io/is-default-class") == "true":
                return ic["spec"].get("controller") == "k8s.io/ingress-nginx"
        return False

    def rebuild(self):
        main, canaries, defaults = [], [], {}
        for ing in self.store.list(INGRESSES)[0]:
            if ing["metadata"].get("deletionTimestamp") or not self._ours(ing):
                continue
            annotations = ing["metadata"].get("annotations") or {}
            key = (ing["metadata"]["namespace"], ing["metadata"]["name"])
            is_canary = annotations.get(PREFIX + "canary", "").lower() == "true"
            entries = []
            for rule in ing["spec"].get("rules") or []:
                for path in ((rule.get("http") or {}).get("paths")) or []:
                    backend = path.get("backend") or {}
                    if "service" not in backend:
                        continue
                    entries.append(Route(
                        host=(rule.get("host") or "").lower(), path=path.get("path") or "/",
                        path_type=path.get("pathType", "Prefix"), ingress=key,
                        service=backend["service"]["name"], port=_port_of(backend)))
            default = ing["spec"].get("defaultBackend")
            if default and "service" in default and not is_canary:
                defaults[key[0]] = (key, default["service"]["name"], _port_of(default))
            (canaries if is_canary else main).append((ing, annotations, entries))
        routes = [r for _, _, entries in main for r in entries]
        for ing, annotations, entries in canaries:
            pattern = annotations.get(PREFIX + "canary-by-header-pattern")
            try:
                compiled = re.compile(pattern) if pattern else None
            except re.error:
                log.warning("ingress %s: bad canary-by-header-pattern %r", ing["metadata"]["name"], pattern)
                compiled = None
            for entry in entries:
                canary = Canary(
                    ingress=entry.ingress, service=entry.service, port=entry.port,
                    weight=_int(annotations.get(PREFIX + "canary-weight"), 0),
                    weight_total=_int(annotations.get(PREFIX + "canary-weight-total"), 100) or 100,
                    header=annotations.get(PREFIX + "canary-by-header"),
                    header_value=annotations.get(PREFIX + "canary-by-header-value"),
                    header_pattern=compiled,
                    cookie=annotations.get(PREFIX + "canary-by-cookie"))
                for route in routes:
                    # ingress-nginx: a canary attaches to the main location of the same host and path.
                    if route.host == entry.host and route.path == entry.path and route.ingress[0] == entry.ingress[0]:
                        route.canary = canary
        # Most specific first: exact hosts, then wildcards, then any host; longer paths first.
        routes.sort(key=lambda r: (0 if r.host and not r.host.startswith("*") else 1 if r.host else 2,
                                   0 if r.path_type == "Exact" else 1, -len(r.path)))
        self.routes = routes
        self.default_backends = defaults

    def route(self, host, path):
        for route in self.routes:
            if _host_matches(route.host, host) and route.matches_path(path):
                return route
        return None

    # ------------------------------------------------------------------ proxying
    async def handle(self, request):
        started = time.perf_counter()
        host = (request.headers.get("Host") or "").split(":")[0].lower()
        route = self.route(host, request.path)
        if route is None:
            return web.Response(status=404, text="default backend - 404\n")
        use_canary = route.canary is not None and route.canary.decide(request)
        namespace = route.ingress[0]
        if use_canary:
            ingress, service, port = route.canary.ingress, route.canary.service, route.canary.port
        else:
            ingress, service, port = route.ingress, route.service, route.port
        upstream = "%s-%s-%s" % (namespace, service, port)
        canary_label = upstream if use_canary else ""
        response = await self._forward(request, namespace, service, port, host)
        elapsed = time.perf_counter() - started
        self.requests.labels(ingress[1], namespace, service, str(response.status), canary_label,
                             request.method, host, route.path).inc()
        self.duration.labels(ingress[1], namespace, service, canary_label, request.method, host,
                             route.path).observe(elapsed)
        return response

    async def _forward(self, request, namespace, service, port, host):
        addresses = self.backends.pick((namespace, service, port), self.backends.addresses(namespace, service, port))
        if not addresses:
            return web.Response(status=503, text="503 Service Temporarily Unavailable\n")
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = request.headers.get("Host", host)
        peer = request.remote or ""
        headers["X-Forwarded-For"] = ", ".join(filter(None, [request.headers.get("X-Forwarded-For"), peer]))
        headers["X-Real-IP"] = peer
        headers["X-Forwarded-Host"] = host
        headers["X-Forwarded-Proto"] = "http"
        headers.setdefault("X-Request-ID", uuid.uuid4().hex)
        idempotent = request.method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
        last_error = None
        for ip, target in addresses[:3]:
            url = "http://%s:%s%s" % (ip, target, request.path_qs)
            try:
                async with self._session.request(request.method, url, headers=headers, data=body,
                                                 allow_redirects=False) as upstream:
                    payload = await upstream.read()
                    out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
                    return web.Response(status=upstream.status, body=payload, headers=out)
            except aiohttp.ClientConnectorError as err:
                last_error = err          # never reached the pod: safe to try the next one
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as err:
                last_error = err
                if not idempotent:
                    break
            except asyncio.TimeoutError as err:
                last_error = err
                return web.Response(status=504, text="504 Gateway Time-out\n")
        log.debug("upstream %s/%s failed: %s", namespace, service, last_error)
        return web.Response(status=502, text="502 Bad Gateway\n")
