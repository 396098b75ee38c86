"""Endpoints controller: a Service's ready pods in ``addresses``, the others in
``notReadyAddresses``; terminating pods leave at once."""
import copy

from ..apiserver.resources import BY_PLURAL
from ..apiserver.selectors import selector_from_map
from .base import Controller, pod_ready

SERVICES = BY_PLURAL["services"]
ENDPOINTS = BY_PLURAL["endpoints"]
PODS = BY_PLURAL["pods"]


def resolve_target_port(service_port, pod):
    """The pod port a Service port sends to (a number, or a named container port)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in pod.get("spec", {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return port.get("containerPort")
    return None


def endpoint_subsets(service, pods):
    """Group addresses by the resolved port set, as the Kubernetes controller does."""
    groups = {}
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or pod["metadata"].get("deletionTimestamp"):
            continue
        ports = []
        for sp in service["spec"].get("ports") or []:
            number = resolve_target_port(sp, pod)
            if number is None:
                continue
            port = {"port": number, "protocol": sp.get("protocol", "TCP")}
            if sp.get("name"):
                port["name"] = sp["name"]
            ports.append(port)
        if not ports:
            continue
        key = tuple(sorted((p.get("name", ""), p["port"]) for p in ports))
        group = groups.setdefault(key, {"ports": ports, "addresses": [], "notReadyAddresses": []})
        address = {
            "ip": ip,
            "nodeName": pod["spec"].get("nodeName"),
            "targetRef": {"kind": "Pod", "namespace": pod["metadata"]["namespace"],
                          "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]},
        }
        if pod_ready(pod) or service["spec"].get("publishNotReadyAddresses"):
            group["addresses"].append(address)
        else:
            group["notReadyAddresses"].append(address)
    subsets = []
    for key in sorted(groups):
        group = groups[key]
        subset = {"ports": group["ports"]}
        for field in ("addresses", "notReadyAddresses"):
            if group[field]:
                subset[field] = sorted(group[field], key=lambda a: a["ip"])
        subsets.append(subset)
    return subsets


class EndpointsController(Controller):
    name = "endpoints"

    def __init__(self, store):
        super().__init__(store)
        store.subscribe(self._on_event)

    def _on_event(self, plural, event_type, obj, old):
        meta = obj["metadata"]
        if plural == "services":
            self.enqueue((meta["namespace"], meta["name"]))
        elif plural == "pods":
            # A pod change matters to every Service in its namespace that selects it (before or after).
            labels = [meta.get("labels") or {}]
            if old is not None:
                labels.append(old["metadata"].get("labels") or {})
            for svc in self.store.list(SERVICES, meta["namespace"])[0]:
                selector = svc["spec"].get("selector")
                if selector and any(selector_from_map(selector).matches(lbl) for lbl in labels):
                    self.enqueue((meta["namespace"], svc["metadata"]["name"]))

    def sync(self, key):
        namespace, name = key
        service = self.store.find(SERVICES, namespace, name)
        current = self.store.find(ENDPOINTS, namespace, name)
        if service is None or service["metadata"].get("deletionTimestamp"):
            if current is not None and service is None:
                self.store.delete(ENDPOINTS, namespace, name)
            return
        selector = service["spec"].get("selector")
        if not selector:
            return  # selector-less Services have hand-managed Endpoints
        pods = self.store.list(PODS, namespace, selector_from_map(selector))[0]
        subsets = endpoint_subsets(service, pods)
        labels = dict(service["metadata"].get("labels") or {})
        if current is None:
            body = {"metadata": {"name": name, "namespace": namespace, "labels": labels}}
            if not labels:
                del body["metadata"]["labels"]
            if subsets:
                body["subsets"] = subsets
            self.store.create(ENDPOINTS, namespace, body)
            return
        if current.get("subsets", []) == subsets and (current["metadata"].get("labels") or {}) == labels:
            return
        updated = copy.deepcopy(current)
        if labels:
            updated["metadata"]["labels"] = labels
        if subsets:
            updated["subsets"] = subsets
        else:
            updated.pop("subsets", None)
        self.store.update(ENDPOINTS, namespace, name, updated)
