"""Garbage collection through ownerReferences (background, foreground, orphan) and the
namespace controller (a deleted namespace takes its contents with it)."""
import copy

from ..apiserver import errors
from ..apiserver.resources import BY_PLURAL, RESOURCES
from .base import Controller

NAMESPACES = BY_PLURAL["namespaces"]
NAMESPACED = [r for r in RESOURCES if r.namespaced]


class GarbageCollector(Controller):
    """Keys are ("owner", namespace, uid) for owners that went away or are being deleted."""

    name = "garbage-collector"

    def __init__(self, store):
        super().__init__(store)
        self._owners = {}  # uid -> (resource, namespace, name) of objects that own something
        store.subscribe(self._on_event)

    def _on_event(self, plural, event_type, obj, old):
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        if event_type == "DELETED":
            self.enqueue(("owner", namespace, meta["uid"]))
        elif meta.get("deletionTimestamp") and set(meta.get("finalizers") or []) & {"foregroundDeletion", "orphan"}:
            self.enqueue(("owner", namespace, meta["uid"]))
        # A dependent disappearing may unblock an owner's foreground deletion.
        for ref in meta.get("ownerReferences") or []:
            if event_type == "DELETED":
                self.enqueue(("owner", namespace, ref.get("uid")))

    def _dependents(self, namespace, uid):
        found = []
        for res in NAMESPACED:
            for obj in self.store.list(res, namespace or None)[0]:
                if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or []):
                    found.append((res, obj))
        return found

    def _find_owner(self, namespace, uid):
        for res in RESOURCES:
            scope = namespace if res.namespaced else None
            if res.namespaced and not namespace:
                continue
            for obj in self.store.list(res, scope)[0]:
                if obj["metadata"].get("uid") == uid:
                    return res, obj
        return None, None

    def sync(self, key):
        _, namespace, uid = key
        res, owner = self._find_owner(namespace, uid)
        dependents = self._dependents(namespace, uid)
        if owner is None:
            # Background: the owner is gone, so are its dependents (unless another owner remains).
            for dep_res, dep in dependents:
                self._release_or_delete(dep_res, dep, uid, "Background")
            return
        finalizers = owner["metadata"].get("finalizers") or []
        if not owner["metadata"].get("deletionTimestamp"):
            return
        if "orphan" in finalizers:
            for dep_res, dep in dependents:
                self._drop_ref(dep_res, dep, uid)
            self._remove_finalizer(res, owner, "orphan")
        elif "foregroundDeletion" in finalizers:
            blocking = [(r, d) for r, d in dependents
                        if any(ref.get("uid") == uid and ref.get("blockOwnerDeletion")
                               for ref in d["metadata"].get("ownerReferences") or [])]
            for dep_res, dep in dependents:
                if not dep["metadata"].get("deletionTimestamp"):
                    self._release_or_delete(dep_res, dep, uid, "Foreground")
            if not blocking:
                self._remove_finalizer(res, owner, "foregroundDeletion")
            else:
                self.enqueue_after(key, 0.5)

    def _release_or_delete(self, res, obj, uid, propagation):
        meta = obj["metadata"]
        others = [ref for ref in meta.get("ownerReferences") or [] if ref.get("uid") != uid]
        if any(self._find_owner(meta.get("namespace", ""), ref.get("uid"))[1] is not None for ref in others):
            self._drop_ref(res, obj, uid)
            return
        try:
            self.store.delete(res, meta.get("namespace"), meta["name"], propagation=propagation)
        except errors.ApiError as err:
            if err.code != 404:
                raise

    def _drop_ref(self, res, obj, uid):
        updated = copy.deepcopy(obj)
        refs = [ref for ref in updated["metadata"].get("ownerReferences") or [] if ref.get("uid") != uid]
        if refs:
            updated["metadata"]["ownerReferences"] = refs
        else:
            updated["metadata"].pop("ownerReferences", None)
        self.store.update(res, obj["metadata"].get("namespace"), obj["metadata"]["name"], updated)

    def _remove_finalizer(self, res, obj, finalizer):
        updated = copy.deepcopy(obj)
        updated["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
        if not updated["metadata"]["finalizers"]:
            del updated["metadata"]["finalizers"]
        self.store.update(res, obj["metadata"].get("namespace"), obj["metadata"]["name"], updated)


class NamespaceController(Controller):
    name = "namespace"

    def __init__(self, store):
        super().__init__(store)
        store.subscribe(self._on_event)

    def _on_event(self, plural, event_type, obj, old):
        if plural == "namespaces" and obj["metadata"].get("deletionTimestamp") and event_type != "DELETED":
            self.enqueue(obj["metadata"]["name"])
        elif plural != "namespaces" and event_type == "DELETED" and obj["metadata"].get("namespace"):
            ns = self.store.find(NAMESPACES, "", obj["metadata"]["namespace"])
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self.enqueue(ns["metadata"]["name"])

    def sync(self, name):
        ns = self.store.find(NAMESPACES, "", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for res in NAMESPACED:
            for obj in self.store.list(res, name)[0]:
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    try:
                        self.store.delete(res, name, obj["metadata"]["name"])
                    except errors.ApiError as err:
                        if err.code != 404:
                            raise
        if remaining:
            self.enqueue_after(name, 0.5)
            return
        self.store.finalize(NAMESPACES, "", name)
