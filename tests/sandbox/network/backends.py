"""Where a Service port sends traffic: its Endpoints' ready addresses, read fresh from the
store at every new connection, so an endpoint that turns unready or leaves the selector
receives no new connection from then on."""
import itertools

from ..apiserver.resources import BY_PLURAL

ENDPOINTS = BY_PLURAL["endpoints"]
SERVICES = BY_PLURAL["services"]


class Backends:
    def __init__(self, store):
        self.store = store
        self._cursors = {}

    def service_port(self, namespace, name, port):
        """The Service's port entry for a number or a name, or None."""
        svc = self.store.find(SERVICES, namespace, name)
        if svc is None:
            return None
        for entry in svc["spec"].get("ports") or []:
            if entry.get("port") == port or (isinstance(port, str) and entry.get("name") == port):
                return entry
        return None

    def addresses(self, namespace, name, port):
        """Ready (ip, port) pairs for Service ``name`` port ``port`` (number or name)."""
        entry = self.service_port(namespace, name, port)
        if entry is None:
            return []
        ep = self.store.find(ENDPOINTS, namespace, name)
        if ep is None:
            return []
        found = []
        for subset in ep.get("subsets") or []:
            ports = subset.get("ports") or []
            match = None
            for p in ports:
                if entry.get("name") and p.get("name") == entry["name"]:
                    match = p
                    break
            if match is None and len(ports) == 1 and not entry.get("name"):
                match = ports[0]
            if match is None:
                continue
            for address in subset.get("addresses") or []:
                found.append((address["ip"], match["port"]))
        return found

    def pick(self, key, addresses):
        """Round-robin order starting at the next address for ``key``."""
        if not addresses:
            return []
        cursor = self._cursors.setdefault(key, itertools.count())
        start = next(cursor) % len(addresses)
        return addresses[start:] + addresses[:start]
