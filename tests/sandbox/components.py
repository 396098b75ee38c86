"""Part 2 of the sandbox: real dependencies, Service proxies, the ingress controller,
Prometheus, the webhook sink and the kubelet's container metrics, started by ``up``."""
import asyncio
import base64
import logging
from pathlib import Path

from aiohttp import web

from . import deps
from .apiserver import errors
from .apiserver.resources import BY_PLURAL
from .network.ingress import IngressController
from .network.serviceproxy import ServiceProxies
from .prometheus import Prometheus
from .webhook_sink import make_app as make_webhook_sink

log = logging.getLogger("sandbox.components")
NAMESPACES = BY_PLURAL["namespaces"]
SECRETS = BY_PLURAL["secrets"]
SERVICES = BY_PLURAL["services"]
ENDPOINTS = BY_PLURAL["endpoints"]


async def _listen(app, host="127.0.0.1", port=0):
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = site._server.sockets[0].getsockname()
    return runner, "http://%s:%d" % (bound[0], bound[1])


class Dependencies:
    """Real PostgreSQL and Redis, visible in the cluster as the Services ``postgres`` and
    ``redis-master`` (selector-less, hand-made Endpoints) and the Secret
    ``postgres-credentials`` (key ``url``), as the specification's manifests expect."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.namespace = sandbox.config.app_namespace
        self.postgres = None
        self.redis = None

    async def start(self):
        loop = asyncio.get_event_loop()
        data = Path(self.sandbox.config.path("deps"))
        pg_future = loop.run_in_executor(None, deps.start_postgres, data / "postgres")
        rd_future = loop.run_in_executor(None, deps.start_redis, data / "redis")
        self.postgres, self.redis = await asyncio.gather(pg_future, rd_future)
        if self.store.find(NAMESPACES, "", self.namespace) is None:
            self.store.create(NAMESPACES, "", {"metadata": {"name": self.namespace}})
        self._service("postgres", 5432, self.postgres.host, self.postgres.port)
        self._service("redis-master", 6379, self.redis.host, self.redis.port)
        url = "postgresql://%s:%s@postgres:5432/%s" % (self.postgres.user, self.postgres.password,
                                                      self.postgres.database)
        self.store.create(SECRETS, self.namespace, {
            "metadata": {"name": "postgres-credentials", "namespace": self.namespace,
                         "labels": {"app.kubernetes.io/managed-by": "sandbox"}},
            "type": "Opaque",
            "data": {"url": base64.b64encode(url.encode()).decode(),
                     "username": base64.b64encode(self.postgres.user.encode()).decode(),
                     "password": base64.b64encode(self.postgres.password.encode()).decode()},
        })
        self.sandbox.endpoints.update({
            "postgres": {"host": self.postgres.host, "port": self.postgres.port, "url": self.postgres.url,
                         "user": self.postgres.user, "password": self.postgres.password,
                         "database": self.postgres.database, "pid": self.postgres.pid},
            "redis": {"host": self.redis.host, "port": self.redis.port, "url": self.redis.url,
                      "pid": self.redis.pid},
        })

    def _service(self, name, port, host, target):
        self.store.create(SERVICES, self.namespace, {
            "metadata": {"name": name, "namespace": self.namespace, "labels": {"app.kubernetes.io/managed-by": "sandbox"}},
            "spec": {"ports": [{"name": "tcp", "port": port, "targetPort": target}]},
        })
        self.store.create(ENDPOINTS, self.namespace, {
            "metadata": {"name": name, "namespace": self.namespace},
            "subsets": [{"addresses": [{"ip": host}], "ports": [{"name": "tcp", "port": target}]}],
        })

    async def control(self, name, action):
        server = {"postgres": self.postgres, "redis": self.redis}[name]
        loop = asyncio.get_event_loop()
        await loop.run_in_executor(None, server.stop if action == "stop" else server.start)
        self.sandbox.endpoints[name]["pid"] = server.pid if action == "start" else None

    async def stop(self):
        loop = asyncio.get_event_loop()
        for server in (self.redis, self.postgres):
            if server is not None:
                await loop.run_in_executor(None, server.stop)


class WebhookSink:
    async def start_on(self, sandbox):
        self.runner, url = await _listen(make_webhook_sink())
        sandbox.endpoints["webhook_sink_url"] = url
        sandbox.endpoints["pagerduty_url"] = url + "/v2/enqueue"

    async def stop(self):
        await self.runner.cleanup()


class KubeletMetrics:
    """The kubelet's cAdvisor metrics: each container's memory against its limit."""

    def __init__(self, sandbox):
        self.sandbox = sandbox

    async def start(self):
        app = web.Application()
        app.router.add_get("/metrics/cadvisor", self.metrics)
        self.runner, self.url = await _listen(app)

    async def metrics(self, request):
        lines = ["# HELP container_memory_usage_bytes Current memory usage in bytes (RSS of the pod's process).",
                 "# TYPE container_memory_usage_bytes gauge",
                 "# HELP container_spec_memory_limit_bytes Memory limit for the container.",
                 "# TYPE container_spec_memory_limit_bytes gauge"]
        kubelet = self.sandbox.kubelet
        rows = kubelet.memory() if kubelet is not None and hasattr(kubelet, "memory") else []
        for namespace, pod, container, rss, limit in rows:
            labels = 'namespace="%s",pod="%s",container="%s"' % (namespace, pod, container)
            lines.append("container_memory_usage_bytes{%s} %d" % (labels, rss))
            lines.append("container_spec_memory_limit_bytes{%s} %d" % (labels, limit or 0))
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def stop(self):
        await self.runner.cleanup()


class Networking:
    """Service proxies and the ingress controller."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.proxies = ServiceProxies(sandbox)
        self.ingress = IngressController(sandbox)

    async def start(self):
        await self.proxies.start()
        await self.ingress.start()
        self.sandbox.endpoints["ingress_url"] = self.ingress.url
        self.sandbox.endpoints["ingress_metrics_url"] = self.ingress.metrics_url + "/metrics"

    async def stop(self):
        await self.ingress.stop()
        await self.proxies.stop()


class Everything:
    """Starts the parts in dependency order and answers the control API
    (``POST /sandbox/control/<part>/<stop|start>``, admin token) that tests use to stop Redis,
    PostgreSQL or Prometheus and start them again."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.dependencies = Dependencies(sandbox) if sandbox.config.dependencies else None
        self.networking = Networking(sandbox)
        self.webhook = WebhookSink()
        self.kubelet_metrics = KubeletMetrics(sandbox)
        self.prometheus = None

    async def start(self):
        if self.dependencies is not None:
            await self.dependencies.start()
        await self.networking.start()
        await self.webhook.start_on(self.sandbox)
        await self.kubelet_metrics.start()
        if self.sandbox.config.prometheus:
            host = lambda url: url.split("://", 1)[1].split("/", 1)[0]  # noqa: E731
            self.prometheus = Prometheus(self.sandbox, {
                "ingress-nginx": {"target": host(self.networking.ingress.metrics_url)},
                "kubelet-cadvisor": {"target": host(self.kubelet_metrics.url), "path": "/metrics/cadvisor"},
            })
            await self.prometheus.start()
            self.sandbox.endpoints["prometheus_url"] = self.prometheus.url
        self.sandbox.api.control = self.control

    async def control(self, part, action):
        if action not in ("stop", "start"):
            raise errors.bad_request("action must be stop or start, not %r" % action)
        if part in ("postgres", "redis") and self.dependencies is not None:
            await self.dependencies.control(part, action)
        elif part == "prometheus" and self.prometheus is not None:
            await (self.prometheus.stop() if action == "stop" else self.prometheus.restart())
            self.sandbox.endpoints["prometheus_pid"] = self.prometheus.pid
        else:
            raise errors.ApiError(404, "NotFound", "no sandbox part %r to %s" % (part, action))
        self.sandbox.write_endpoints()
        return {"part": part, "action": action, "done": True}

    async def stop(self):
        for part in (self.prometheus, self.kubelet_metrics, self.webhook, self.networking, self.dependencies):
            if part is not None:
                try:
                    await part.stop()
                except Exception:
                    log.exception("stopping %s failed", type(part).__name__)


def build_components(sandbox):
    return [Everything(sandbox)]
