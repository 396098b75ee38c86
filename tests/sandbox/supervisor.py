"""The sandbox daemon: one asyncio loop running the API server, the controllers, the kubelet
and the networking, plus the real processes it supervises (pods, Prometheus, PostgreSQL,
Redis). Started by ``python -m tests.sandbox up``; stopped by ``down`` (SIGTERM)."""
import asyncio
import json
import logging
import os
import secrets
import signal
import ssl
import sys
import time

from aiohttp import web

from . import pki
from .apiserver.resources import BY_PLURAL
from .apiserver.server import ApiServer, User
from .apiserver.store import Store, now_rfc3339
from .config import SandboxConfig
from .controllers.deployment import DeploymentController
from .controllers.endpoints import EndpointsController
from .controllers.gc import GarbageCollector, NamespaceController
from .controllers.replicaset import ReplicaSetController
from .metrics_server import MetricsServer
from .network.ipam import IPAM, BlockLock

log = logging.getLogger("sandbox")

NAMESPACES = BY_PLURAL["namespaces"]
NODES = BY_PLURAL["nodes"]
SERVICES = BY_PLURAL["services"]
INGRESSCLASSES = BY_PLURAL["ingressclasses"]


class Sandbox:
    def __init__(self, config):
        self.config = config
        self.sandbox_id = secrets.token_hex(8)
        self.store = Store()
        self.block = BlockLock()
        self.ipam = IPAM(self.block.block)
        self.admin_token = secrets.token_urlsafe(32)
        self.readonly_token = secrets.token_urlsafe(32)
        self.endpoints = {}
        self.components = []  # objects with async start() / stop(), stopped in reverse order
        self.controllers = []
        self.kubelet = None
        self.api = None
        self._runner = None
        self.started_at = time.time()

    # ------------------------------------------------------------------ lifecycle
    async def start(self):
        self.store.admission.append(self._allocate_cluster_ip)
        self.store.subscribe(self._release_cluster_ip)
        self._seed()
        self.controllers = [
            DeploymentController(self.store),
            ReplicaSetController(self.store),
            EndpointsController(self.store),
            GarbageCollector(self.store),
            NamespaceController(self.store),
        ]
        for controller in self.controllers:
            controller.start()
        await self._start_api()
        for component in self._optional_components():
            await component.start()
            self.components.append(component)
        self.kubelet = self._make_kubelet()
        self.kubelet.start()
        metrics = MetricsServer(self)
        await metrics.start()
        self.components.append(metrics)
        self.api.metrics = metrics
        self.write_endpoints()

    def _optional_components(self):
        """Part 2's components (dependencies, networking, Prometheus), when present."""
        try:
            from .components import build_components
        except ImportError:
            return []
        return build_components(self)

    def _make_kubelet(self):
        if self.config.kubelet == "simulated":
            from .kubelet.simulated import SimulatedKubelet
            return SimulatedKubelet(self)
        from .kubelet.process import ProcessKubelet
        return ProcessKubelet(self)

    async def stop(self):
        if self.kubelet is not None:
            await self.kubelet.stop()
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:
                log.exception("stopping %s failed", component)
        for controller in self.controllers:
            await controller.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        self.block.release()

    # ------------------------------------------------------------------ API server
    async def _start_api(self):
        paths = pki.generate(self.config.state_dir)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(paths["cert"], paths["key"])
        users = {
            self.admin_token: User("sandbox-admin"),
            self.readonly_token: User("sandbox-readonly", read_only=True),
        }
        self.api = ApiServer(self.store, users)
        self._runner = web.AppRunner(self.api.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.api.address = "127.0.0.1:%d" % port
        api_url = "https://127.0.0.1:%d" % port
        pki.write_kubeconfig(self.config.path("kubeconfig"), api_url, paths["ca"],
                             {"sandbox-admin": self.admin_token, "sandbox-readonly": self.readonly_token})
        self.endpoints.update({
            "api_url": api_url,
            "token": self.admin_token,
            "readonly_token": self.readonly_token,
            "kubeconfig": self.config.path("kubeconfig"),
            "ca_cert": paths["ca"],
            "context": "sandbox",
            "readonly_context": "sandbox-readonly",
        })

    def write_endpoints(self):
        self.endpoints.update({
            "state_dir": self.config.state_dir,
            "pid": os.getpid(),
            "sandbox_id": self.sandbox_id,
            "kubelet": self.config.kubelet,
            "time_factor": self.config.time_factor,
            "address_block": "127.%d.0.0/16" % self.block.block,
        })
        path = self.config.path("endpoints.json")
        with open(path + ".tmp", "w") as handle:
            json.dump(self.endpoints, handle, indent=2, sort_keys=True)
        os.chmod(path + ".tmp", 0o600)
        os.replace(path + ".tmp", path)

    # ------------------------------------------------------------------ cluster contents
    def _seed(self):
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.create(NAMESPACES, "", {"metadata": {"name": name}})
        cpus = os.cpu_count() or 1
        memory_kib = _memory_kib()
        self.store.create(NODES, "", {
            "metadata": {"name": "sandbox-node", "labels": {
                "kubernetes.io/hostname": "sandbox-node", "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/control-plane": ""}},
            "spec": {},
        })
        node = self.store.find(NODES, "", "sandbox-node")
        status = {
            "capacity": {"cpu": str(cpus), "memory": "%dKi" % memory_kib, "pods": "250"},
            "allocatable": {"cpu": str(cpus), "memory": "%dKi" % memory_kib, "pods": "250"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status", "lastHeartbeatTime": now_rfc3339(),
                            "lastTransitionTime": now_rfc3339()}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "sandbox-node"}],
            "nodeInfo": {"kubeletVersion": "v1.30.0-sandbox", "kubeProxyVersion": "v1.30.0-sandbox",
                         "operatingSystem": "linux", "architecture": "amd64", "containerRuntimeVersion": "sandbox://1",
                         "osImage": "sandbox", "kernelVersion": os.uname().release, "machineID": "", "systemUUID": "",
                         "bootID": ""},
        }
        updated = dict(node, status=status)
        self.store.update(NODES, "", "sandbox-node", updated, subresource="status")
        self.store.create(INGRESSCLASSES, "", {
            "metadata": {"name": "nginx", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": "k8s.io/ingress-nginx"},
        })

    def _allocate_cluster_ip(self, res, obj, old):
        if res.plural != "services":
            return
        spec = obj.setdefault("spec", {})
        if old is not None:
            for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if not spec.get(field) and old["spec"].get(field):
                    spec[field] = old["spec"][field]
            return
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None":
            return
        wanted = spec.get("clusterIP") or None
        try:
            ip = self.ipam.services.allocate(wanted)
        except (ValueError, RuntimeError) as err:
            from .apiserver import errors
            raise errors.invalid(res, obj["metadata"].get("name", ""),
                                 'Service "%s" is invalid: spec.clusterIP: Invalid value: "%s": %s'
                                 % (obj["metadata"].get("name", ""), wanted, err),
                                 [{"reason": "FieldValueInvalid", "field": "spec.clusterIP", "message": str(err)}])
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        # Given back by the store if the create is refused (invalid, already exists) or a dry run.
        return lambda: self.ipam.services.release(ip)

    def _release_cluster_ip(self, plural, event_type, obj, old):
        if plural == "services" and event_type == "DELETED":
            ip = obj["spec"].get("clusterIP")
            if ip and ip != "None":
                self.ipam.services.release(ip)


def _memory_kib():
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 8 * 1024 * 1024


def serve(state_dir):
    """Run the sandbox in the foreground until SIGTERM/SIGINT."""
    config = SandboxConfig.load(state_dir)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    sandbox = Sandbox(config)
    os.environ["SANDBOX_ID"] = sandbox.sandbox_id
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pid_path = config.path("sandbox.pid")
    with open(pid_path, "w") as handle:
        handle.write(str(os.getpid()))
    try:
        try:
            loop.run_until_complete(sandbox.start())
        except Exception as err:
            log.exception("sandbox failed to start")
            with open(config.path("failed"), "w") as handle:
                handle.write("%s\n" % err)
            loop.run_until_complete(sandbox.stop())
            return 1
        with open(config.path("ready"), "w") as handle:
            handle.write(now_rfc3339())
        log.info("sandbox ready: %s", sandbox.endpoints.get("api_url"))
        loop.run_until_complete(stop.wait())
        log.info("sandbox stopping")
        loop.run_until_complete(sandbox.stop())
        return 0
    finally:
        for name in ("ready", "sandbox.pid"):
            try:
                os.unlink(config.path(name))
            except FileNotFoundError:
                pass
        loop.close()
