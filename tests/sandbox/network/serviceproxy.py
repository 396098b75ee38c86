"""Service proxies: each Service's cluster IP really listens on its ports and forwards every
new TCP connection to a ready endpoint (kube-proxy's job). A connection that fails to reach
one endpoint is tried on the next before the client notices."""
import asyncio
import logging

from ..apiserver.resources import BY_PLURAL
from .backends import Backends

log = logging.getLogger("sandbox.serviceproxy")
SERVICES = BY_PLURAL["services"]
CONNECT_TIMEOUT = 2.0


async def _pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            pass


class ServiceProxies:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.backends = Backends(self.store)
        self.servers = {}   # (namespace, name, port) -> asyncio server
        self.connections = 0
        self.failures = 0
        self._lock = asyncio.Lock()   # one sync at a time: no double bind of an address

    async def start(self):
        self.store.subscribe(self._on_event)
        for svc in self.store.list(SERVICES)[0]:
            await self._sync(svc)

    async def stop(self):
        for server in self.servers.values():
            server.close()
        for server in self.servers.values():
            await server.wait_closed()
        self.servers.clear()

    def _on_event(self, plural, event_type, obj, old):
        if plural != "services":
            return
        if event_type == "DELETED":
            asyncio.ensure_future(self._remove(obj))
        else:
            asyncio.ensure_future(self._sync(obj))

    async def _remove(self, svc):
        meta = svc["metadata"]
        async with self._lock:
            for key in [k for k in self.servers if k[:2] == (meta["namespace"], meta["name"])]:
                server = self.servers.pop(key)
                server.close()
                await server.wait_closed()

    async def _sync(self, svc):
        async with self._lock:
            current = self.store.find(SERVICES, svc["metadata"]["namespace"], svc["metadata"]["name"])
            if current is not None and current["metadata"]["uid"] == svc["metadata"]["uid"]:
                await self._listen(current)

    async def _listen(self, svc):
        meta = svc["metadata"]
        ip = svc["spec"].get("clusterIP")
        if not ip or ip == "None":
            return
        wanted = {(meta["namespace"], meta["name"], p["port"]) for p in svc["spec"].get("ports") or []
                  if p.get("protocol", "TCP") == "TCP"}
        for key in [k for k in self.servers if k[:2] == (meta["namespace"], meta["name"]) and k not in wanted]:
            self.servers.pop(key).close()
        for key in wanted - set(self.servers):
            namespace, name, port = key
            try:
                server = await asyncio.start_server(
                    lambda r, w, k=key: self._handle(k, r, w), ip, port, reuse_address=True, backlog=1024)
            except OSError as err:
                log.error("service %s/%s: cannot listen on %s:%s: %s", namespace, name, ip, port, err)
                continue
            self.servers[key] = server

    async def _handle(self, key, client_reader, client_writer):
        namespace, name, port = key
        self.connections += 1
        upstream = None
        for ip, target in self.backends.pick(key, self.backends.addresses(namespace, name, port)):
            try:
                upstream = await asyncio.wait_for(asyncio.open_connection(ip, target), CONNECT_TIMEOUT)
                break
            except (OSError, asyncio.TimeoutError):
                continue
        if upstream is None:
            # No ready endpoint: refuse, as kube-proxy's REJECT rule does.
            self.failures += 1
            client_writer.close()
            return
        up_reader, up_writer = upstream
        await asyncio.gather(_pipe(client_reader, up_writer), _pipe(up_reader, client_writer))
        for writer in (up_writer, client_writer):
            try:
                writer.close()
            except (OSError, RuntimeError):
                pass
