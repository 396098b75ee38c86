"""Server-side ``Table`` rendering, so ``kubectl get`` prints the usual columns."""
import time

from .store import parse_rfc3339


def age(obj, now=None):
    created = parse_rfc3339(obj["metadata"].get("creationTimestamp"))
    if created is None:
        return "<unknown>"
    return duration(max((now or time.time()) - created, 0))


def duration(seconds):
    seconds = int(seconds)
    if seconds < 120:
        return "%ds" % seconds
    minutes = seconds // 60
    if minutes < 10:
        return "%dm%ds" % (minutes, seconds % 60)
    if minutes < 180:
        return "%dm" % minutes
    hours = minutes // 60
    if hours < 48:
        return "%dh" % hours
    return "%dd" % (hours // 24)


def _pod_ready(pod):
    statuses = pod.get("status", {}).get("containerStatuses") or []
    total = len(pod.get("spec", {}).get("containers") or [])
    ready = sum(1 for s in statuses if s.get("ready"))
    return "%d/%d" % (ready, total)


def _pod_status(pod):
    meta = pod["metadata"]
    if meta.get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status", {})
    reason = status.get("reason") or status.get("phase") or "Pending"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            return state["waiting"]["reason"]
        if state.get("terminated", {}).get("reason"):
            return state["terminated"]["reason"]
    return reason


def _pod_restarts(pod):
    return sum(cs.get("restartCount", 0) for cs in pod.get("status", {}).get("containerStatuses") or [])


def _ports(svc):
    out = []
    for port in svc.get("spec", {}).get("ports") or []:
        out.append("%s/%s" % (port.get("port"), port.get("protocol", "TCP")))
    return ",".join(out) or "<none>"


def _endpoints(ep):
    out = []
    for subset in ep.get("subsets") or []:
        for addr in subset.get("addresses") or []:
            for port in subset.get("ports") or [{}]:
                out.append("%s:%s" % (addr.get("ip"), port.get("port")))
    if not out:
        return "<none>"
    text = ",".join(out[:3])
    if len(out) > 3:
        text += " + %d more..." % (len(out) - 3)
    return text


def _event_object(ev):
    io = ev.get("involvedObject", {})
    return "%s/%s" % ((io.get("kind") or "").lower(), io.get("name"))


def _hosts(ing):
    hosts = [r.get("host") or "*" for r in ing.get("spec", {}).get("rules") or []]
    return ",".join(hosts) or "*"


def _node_roles(node):
    """Roles from node-role.kubernetes.io/<role> labels, as kubectl's printer shows them."""
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix):] for k in node["metadata"].get("labels") or {} if k.startswith(prefix))
    return ",".join(r for r in roles if r) or "<none>"


def _node_status(node):
    for cond in node.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return "Ready" if cond.get("status") == "True" else "NotReady"
    return "Unknown"


S, I = "string", "integer"
COLUMNS = {
    "pods": [
        ("Ready", S, _pod_ready), ("Status", S, _pod_status), ("Restarts", I, _pod_restarts),
        ("Age", S, age),
        ("IP", S, lambda p: p.get("status", {}).get("podIP") or "<none>", 1),
        ("Node", S, lambda p: p.get("spec", {}).get("nodeName") or "<none>", 1),
    ],
    "deployments": [
        ("Ready", S, lambda d: "%d/%d" % (d.get("status", {}).get("readyReplicas", 0), d["spec"].get("replicas", 0))),
        ("Up-to-date", I, lambda d: d.get("status", {}).get("updatedReplicas", 0)),
        ("Available", I, lambda d: d.get("status", {}).get("availableReplicas", 0)),
        ("Age", S, age),
        ("Containers", S, lambda d: ",".join(c["name"] for c in d["spec"]["template"]["spec"]["containers"]), 1),
        ("Images", S, lambda d: ",".join(c.get("image", "") for c in d["spec"]["template"]["spec"]["containers"]), 1),
    ],
    "replicasets": [
        ("Desired", I, lambda r: r["spec"].get("replicas", 0)),
        ("Current", I, lambda r: r.get("status", {}).get("replicas", 0)),
        ("Ready", I, lambda r: r.get("status", {}).get("readyReplicas", 0)),
        ("Age", S, age),
        ("Images", S, lambda r: ",".join(c.get("image", "") for c in r["spec"]["template"]["spec"]["containers"]), 1),
    ],
    "services": [
        ("Type", S, lambda s: s["spec"].get("type", "ClusterIP")),
        ("Cluster-IP", S, lambda s: s["spec"].get("clusterIP") or "<none>"),
        ("External-IP", S, lambda s: "<none>"),
        ("Port(s)", S, _ports),
        ("Age", S, age),
        ("Selector", S, lambda s: ",".join("%s=%s" % kv for kv in sorted((s["spec"].get("selector") or {}).items())) or "<none>", 1),
    ],
    "endpoints": [("Endpoints", S, _endpoints), ("Age", S, age)],
    "ingresses": [
        ("Class", S, lambda i: i["spec"].get("ingressClassName") or "<none>"),
        ("Hosts", S, _hosts),
        ("Address", S, lambda i: ",".join(x.get("ip", "") for x in ((i.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])),
        ("Ports", S, lambda i: "80, 443" if i["spec"].get("tls") else "80"),
        ("Age", S, age),
    ],
    "namespaces": [("Status", S, lambda n: n.get("status", {}).get("phase", "Active")), ("Age", S, age)],
    "nodes": [
        ("Status", S, _node_status), ("Roles", S, _node_roles), ("Age", S, age),
        ("Version", S, lambda n: n.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")),
    ],
    "configmaps": [("Data", I, lambda c: len(c.get("data") or {}) + len(c.get("binaryData") or {})), ("Age", S, age)],
    "secrets": [("Type", S, lambda s: s.get("type", "Opaque")), ("Data", I, lambda s: len(s.get("data") or {})), ("Age", S, age)],
    "leases": [("Holder", S, lambda l: (l.get("spec") or {}).get("holderIdentity") or ""), ("Age", S, age)],
    "events": [
        ("Last Seen", S, lambda e: duration(max(time.time() - (parse_rfc3339(e.get("lastTimestamp") or e["metadata"].get("creationTimestamp")) or time.time()), 0))),
        ("Type", S, lambda e: e.get("type", "")),
        ("Reason", S, lambda e: e.get("reason", "")),
        ("Object", S, _event_object),
        ("Message", S, lambda e: e.get("message", "")),
    ],
}


def _partial(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(res, items, resource_version, include_object="Metadata"):
    columns = COLUMNS.get(res.plural, [("Age", S, age)])
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    for col in columns:
        definitions.append({"name": col[0], "type": col[1], "format": "", "description": col[0],
                            "priority": col[3] if len(col) > 3 else 0})
    rows = []
    for obj in items:
        cells = [obj["metadata"]["name"]]
        for col in columns:
            try:
                cells.append(col[2](obj))
            except Exception:  # a half-filled object must not break `kubectl get`
                cells.append("<unknown>")
        row = {"cells": cells}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = _partial(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
