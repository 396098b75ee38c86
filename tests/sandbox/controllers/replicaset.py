"""ReplicaSet controller: creates and deletes pods to match spec.replicas; counts status."""
import copy
import random
import time

from ..apiserver.resources import BY_PLURAL
from ..apiserver.store import parse_rfc3339
from .base import Controller, condition, controller_ref, owner_reference, owned_by, pod_active, pod_ready, record_event

REPLICASETS = BY_PLURAL["replicasets"]
PODS = BY_PLURAL["pods"]
COMPONENT = "replicaset-controller"
PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _suffix():
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))


def ready_since(pod):
    cond = condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return parse_rfc3339(cond.get("lastTransitionTime"))


def deletion_rank(pod):
    """Kubernetes' order for choosing pods to delete: unscheduled, pending, not ready,
    ready for less time, more restarts, newer — first."""
    status = pod.get("status") or {}
    since = ready_since(pod)
    restarts = sum(cs.get("restartCount", 0) for cs in status.get("containerStatuses") or [])
    return (
        1 if pod["spec"].get("nodeName") else 0,
        PHASE_RANK.get(status.get("phase"), 0),
        1 if pod_ready(pod) else 0,
        -(since or 0),
        -restarts,
        -(parse_rfc3339(pod["metadata"].get("creationTimestamp")) or 0),
    )


class ReplicaSetController(Controller):
    name = "replicaset"

    def __init__(self, store):
        super().__init__(store)
        store.subscribe(self._on_event)

    def _on_event(self, plural, event_type, obj, old):
        meta = obj["metadata"]
        if plural == "replicasets":
            self.enqueue((meta["namespace"], meta["name"]))
        elif plural == "pods":
            ref = controller_ref(obj)
            if ref and ref.get("kind") == "ReplicaSet":
                self.enqueue((meta["namespace"], ref["name"]))

    def sync(self, key):
        namespace, name = key
        rs = self.store.find(REPLICASETS, namespace, name)
        if rs is None:
            return
        pods = [p for p in self.store.list(PODS, namespace)[0] if owned_by(p, rs)]
        active = [p for p in pods if pod_active(p)]
        if not rs["metadata"].get("deletionTimestamp"):
            wanted = rs["spec"].get("replicas", 1)
            if len(active) < wanted:
                for _ in range(wanted - len(active)):
                    active.append(self._create_pod(rs))
            elif len(active) > wanted:
                victims = sorted(active, key=deletion_rank)[:len(active) - wanted]
                for pod in victims:
                    self.store.delete(PODS, namespace, pod["metadata"]["name"])
                    record_event(self.store, rs, "Normal", "SuccessfulDelete",
                                 "Deleted pod: %s" % pod["metadata"]["name"], COMPONENT)
                    active.remove(pod)
        self._sync_status(rs, active)

    def _create_pod(self, rs):
        template = copy.deepcopy(rs["spec"]["template"])
        meta = template.get("metadata") or {}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "%s-%s" % (rs["metadata"]["name"], _suffix()),
                "namespace": rs["metadata"]["namespace"],
                "labels": meta.get("labels") or {},
                "annotations": meta.get("annotations") or {},
                "ownerReferences": [owner_reference(rs)],
            },
            "spec": template.get("spec") or {},
            "status": {"phase": "Pending", "qosClass": "Burstable"},
        }
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        created = self.store.create(PODS, rs["metadata"]["namespace"], pod)
        record_event(self.store, rs, "Normal", "SuccessfulCreate", "Created pod: %s" % created["metadata"]["name"],
                     COMPONENT)
        return created

    def _sync_status(self, rs, active):
        min_ready = rs["spec"].get("minReadySeconds", 0)
        now = time.time()
        ready = [p for p in active if pod_ready(p)]
        available = 0
        wait = None
        for pod in ready:
            since = ready_since(pod) or now
            if since + min_ready <= now:
                available += 1
            else:
                wait = min(wait or 1e9, since + min_ready - now)
        if wait is not None:
            self.enqueue_after((rs["metadata"]["namespace"], rs["metadata"]["name"]), wait + 0.01)
        status = {
            "replicas": len(active),
            "fullyLabeledReplicas": len(active),
            "readyReplicas": len(ready),
            "availableReplicas": available,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        current = self.store.find(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])
        if current is None or (current.get("status") or {}) == status:
            return
        updated = copy.deepcopy(current)
        updated["status"] = status
        self.store.update(REPLICASETS, current["metadata"]["namespace"], current["metadata"]["name"], updated,
                          subresource="status")
