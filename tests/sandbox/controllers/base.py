"""What every sandbox controller shares: a de-duplicating work queue and Events."""
import asyncio
import copy
import hashlib
import logging

from ..apiserver import errors
from ..apiserver.resources import BY_PLURAL
from ..apiserver.store import now_rfc3339

log = logging.getLogger("sandbox.controllers")

EVENTS = BY_PLURAL["events"]


class Controller:
    """Reconciles keys from a queue; ``sync(key)`` is synchronous and idempotent.

    Store listeners call ``enqueue``; the loop drains the queue as soon as the writer yields,
    so controllers react within milliseconds, as Kubernetes' informers do.
    """

    name = "controller"

    def __init__(self, store):
        self.store = store
        self._queue = asyncio.Queue()
        self._pending = set()
        self._timers = {}
        self._task = None
        self.syncs = 0

    def enqueue(self, key):
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def enqueue_after(self, key, delay):
        """Re-sync ``key`` after ``delay`` seconds (one timer per key: the earliest wins)."""
        loop = asyncio.get_event_loop()
        due = loop.time() + max(delay, 0)
        timer = self._timers.get(key)
        if timer is not None and timer.when() <= due:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(due, self._fire, key)

    def _fire(self, key):
        self._timers.pop(key, None)
        self.enqueue(key)

    def start(self):
        self._task = asyncio.get_event_loop().create_task(self._run())

    async def stop(self):
        for timer in self._timers.values():
            timer.cancel()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self):
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            self.syncs += 1
            try:
                self.sync(key)
            except errors.ApiError as err:
                if err.code in (404, 409):
                    # The world moved on under us: try again with fresh objects.
                    self.enqueue_after(key, 0.05)
                else:
                    log.warning("%s: sync %s failed: %s", self.name, key, err.message)
                    self.enqueue_after(key, 1.0)
            except Exception:
                log.exception("%s: sync %s crashed", self.name, key)
                self.enqueue_after(key, 1.0)
            # Let writers and other controllers run between syncs.
            await asyncio.sleep(0)

    def sync(self, key):  # pragma: no cover - abstract
        raise NotImplementedError


def owned_by(obj, owner):
    uid = owner["metadata"]["uid"]
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def controller_ref(obj):
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owner_reference(owner):
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def record_event(store, obj, event_type, reason, message, component):
    """Create or bump a core/v1 Event about ``obj`` (same reason and message: count + 1).

    Best effort, as Kubernetes' event recorder: an Event the API refuses (its namespace is
    being terminated, say) is dropped, and never stops the caller from doing its job (a
    kubelet stopping a pod in a deleted namespace must still stop the process)."""
    try:
        _record_event(store, obj, event_type, reason, message, component)
    except errors.ApiError as err:
        log.debug("event %s about %s dropped: %s", reason, obj["metadata"].get("name"), err.message)


def _record_event(store, obj, event_type, reason, message, component):
    meta = obj["metadata"]
    namespace = meta.get("namespace") or "default"
    involved = {
        "kind": obj.get("kind"),
        "namespace": meta.get("namespace", ""),
        "name": meta["name"],
        "uid": meta.get("uid"),
        "apiVersion": obj.get("apiVersion"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    if store.find(BY_PLURAL["namespaces"], "", namespace) is None:
        return
    now = now_rfc3339()
    # A stable name per (object, reason, message) makes a repeat a count bump, as Kubernetes'
    # event correlator does, without scanning every Event.
    digest = hashlib.sha1(("%s|%s|%s" % (involved["uid"], reason, message)).encode()).hexdigest()[:16]
    name = "%s.%s" % (meta["name"], digest)
    event = store.find(EVENTS, namespace, name)
    if event is not None:
        bumped = copy.deepcopy(event)
        bumped["count"] = event.get("count", 1) + 1
        bumped["lastTimestamp"] = now
        bumped["involvedObject"] = involved
        store.update(EVENTS, namespace, name, bumped)
        return
    store.create(EVENTS, namespace, {
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": event_type,
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": "sandbox",
    })


def condition(obj, cond_type):
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == cond_type:
            return cond
    return None


def pod_ready(pod):
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def pod_active(pod):
    return not pod["metadata"].get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
