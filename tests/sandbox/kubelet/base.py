"""What every sandbox kubelet does: bind pods to the one node, give them an address, keep
their status, and finish their deletion. Subclasses decide what a container is."""
import asyncio
import copy
import logging
import time

from ..apiserver import errors
from ..apiserver.resources import BY_PLURAL
from ..apiserver.store import now_rfc3339
from ..controllers.base import record_event

log = logging.getLogger("sandbox.kubelet")

PODS = BY_PLURAL["pods"]
NODE_NAME = "sandbox-node"
COMPONENT = "kubelet"


def set_condition(status, cond_type, value, reason=None, message=None):
    conditions = status.setdefault("conditions", [])
    existing = next((c for c in conditions if c["type"] == cond_type), None)
    if existing is not None and existing["status"] == value and existing.get("reason") == reason:
        return
    cond = {"type": cond_type, "status": value, "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}
    if existing is not None and existing["status"] == value:
        cond["lastTransitionTime"] = existing["lastTransitionTime"]
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    if existing is not None:
        conditions[conditions.index(existing)] = cond
    else:
        conditions.append(cond)


class Kubelet:
    """Binds every new pod and drives its lifecycle through ``run_pod`` / ``kill_pod``."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.ipam = sandbox.ipam
        self.factor = sandbox.config.time_factor
        self.pods = {}  # uid -> per-pod state owned by the subclass
        self._stopping = set()

    def start(self):
        self.store.subscribe(self._on_event)
        for pod in self.store.list(PODS)[0]:
            self._on_event("pods", "ADDED", pod, None)

    async def stop(self):
        await asyncio.gather(*(self.kill_pod(uid, 0) for uid in list(self.pods)), return_exceptions=True)

    # ------------------------------------------------------------------ events
    def _on_event(self, plural, event_type, pod, old):
        if plural != "pods":
            return
        uid = pod["metadata"]["uid"]
        if event_type == "DELETED":
            # Force-deleted (grace 0) or finished: make sure nothing keeps running.
            if uid in self.pods and uid not in self._stopping:
                self._stopping.add(uid)
                asyncio.get_event_loop().create_task(self._terminate(pod, 0, finalize=False))
            ip = (pod.get("status") or {}).get("podIP")
            if ip:
                self.ipam.pods.release(ip)
            return
        if pod["metadata"].get("deletionTimestamp"):
            if uid not in self._stopping:
                self._stopping.add(uid)
                grace = pod["metadata"].get("deletionGracePeriodSeconds", 0)
                asyncio.get_event_loop().create_task(self._terminate(pod, grace, finalize=True))
            return
        if not pod["spec"].get("nodeName"):
            asyncio.get_event_loop().call_soon(self._bind, pod["metadata"]["namespace"], pod["metadata"]["name"], uid)

    def _bind(self, namespace, name, uid):
        pod = self.store.find(PODS, namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid or pod["spec"].get("nodeName"):
            return
        bound = copy.deepcopy(pod)
        bound["spec"]["nodeName"] = NODE_NAME
        ip = self.ipam.pods.allocate()
        status = bound.setdefault("status", {})
        status.update({
            "phase": "Pending",
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now_rfc3339(),
        })
        set_condition(status, "PodScheduled", "True")
        set_condition(status, "Initialized", "True")
        set_condition(status, "Ready", "False", "ContainersNotReady", "containers with unready status: [%s]"
                      % " ".join(c["name"] for c in bound["spec"]["containers"]))
        set_condition(status, "ContainersReady", "False", "ContainersNotReady")
        status["containerStatuses"] = [self.waiting_status(c, "ContainerCreating") for c in bound["spec"]["containers"]]
        try:
            # Binding is a write of the scheduler and the kubelet together here.
            stored = self.store.update(PODS, namespace, name, bound)
            stored = self._write_status(stored, bound["status"])
        except errors.ApiError as err:
            log.warning("binding %s/%s failed: %s", namespace, name, err.message)
            self.ipam.pods.release(ip)
            return
        record_event(self.store, stored, "Normal", "Scheduled",
                     "Successfully assigned %s/%s to %s" % (namespace, name, NODE_NAME), "default-scheduler")
        self.pods[uid] = self.new_state(stored)
        self.run_pod(stored)

    async def _terminate(self, pod, grace, finalize):
        uid = pod["metadata"]["uid"]
        try:
            if uid in self.pods:
                await self.kill_pod(uid, grace)
        except Exception:
            log.exception("stopping pod %s failed", pod["metadata"]["name"])
        finally:
            self.pods.pop(uid, None)
            self._stopping.discard(uid)
        if finalize:
            current = self.store.find(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
            if current is not None and current["metadata"]["uid"] == uid and not current["metadata"].get("finalizers"):
                self.store.finalize(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])

    # ------------------------------------------------------------------ status helpers
    def current(self, pod):
        found = self.store.find(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
        if found is None or found["metadata"]["uid"] != pod["metadata"]["uid"]:
            return None
        return found

    def _write_status(self, pod, status):
        updated = copy.deepcopy(pod)
        updated["status"] = status
        return self.store.update(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], updated,
                                 subresource="status")

    def update_status(self, pod, mutate):
        """Apply ``mutate(status)`` to the pod's current status and store it. Returns the
        stored pod, or None when the pod is gone or being deleted."""
        current = self.current(pod)
        if current is None:
            return None
        status = copy.deepcopy(current.get("status") or {})
        mutate(status)
        containers = status.get("containerStatuses") or []
        all_ready = bool(containers) and all(c.get("ready") for c in containers)
        if status.get("phase") in ("Running", "Pending"):
            if all_ready:
                set_condition(status, "ContainersReady", "True")
                set_condition(status, "Ready", "True")
            else:
                unready = [c["name"] for c in containers if not c.get("ready")]
                set_condition(status, "ContainersReady", "False", "ContainersNotReady",
                              "containers with unready status: [%s]" % " ".join(unready))
                set_condition(status, "Ready", "False", "ContainersNotReady",
                              "containers with unready status: [%s]" % " ".join(unready))
        if status == current.get("status"):
            return current
        return self._write_status(current, status)

    @staticmethod
    def waiting_status(container, reason, message=None, restarts=0, last_state=None):
        state = {"waiting": {"reason": reason}}
        if message:
            state["waiting"]["message"] = message
        return {
            "name": container["name"],
            "state": state,
            "lastState": last_state or {},
            "ready": False,
            "restartCount": restarts,
            "image": container.get("image", ""),
            "imageID": "",
            "started": False,
        }

    @staticmethod
    def running_status(container, started_at, ready, restarts=0, container_id="", last_state=None):
        return {
            "name": container["name"],
            "state": {"running": {"startedAt": started_at}},
            "lastState": last_state or {},
            "ready": ready,
            "restartCount": restarts,
            "image": container.get("image", ""),
            "imageID": "sandbox://%s" % container.get("image", ""),
            "containerID": container_id,
            "started": True,
        }

    def event(self, pod, event_type, reason, message):
        record_event(self.store, pod, event_type, reason, message, COMPONENT)

    def scaled(self, seconds):
        return max(seconds * self.factor, 0)

    # ------------------------------------------------------------------ subclass API
    def new_state(self, pod):
        return {"started": time.time()}

    def run_pod(self, pod):  # pragma: no cover - abstract
        raise NotImplementedError

    async def kill_pod(self, uid, grace):  # pragma: no cover - abstract
        raise NotImplementedError
