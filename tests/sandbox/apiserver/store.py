"""The sandbox's object store: Kubernetes' storage semantics in memory.

Everything runs on one asyncio loop, so operations are plain synchronous calls. Stored objects
are never mutated in place: every write stores a new dict, so a reader (an API response, a
watch event, a controller) can hold on to what it got. Callers that want to change an object
copy it first (``copy.deepcopy``).
"""
import base64
import collections
import copy
import datetime
import json
import random
import string
import time
import uuid

from . import errors, quantity
from .resources import BY_PLURAL
from .selectors import FieldSelector, LabelSelector, SelectorError  # noqa: F401  (re-exported)
from .patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from .validation import apply_defaults, invalid_message, validate

HISTORY = 100000  # watch events kept for resuming from a resourceVersion


def now_rfc3339(ts=None):
    ts = time.time() if ts is None else ts
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text):
    if not text:
        return None
    text = text.replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(text).timestamp()


def _random_suffix(n=5):
    # Kubernetes' generateName alphabet: no vowels, no ambiguous characters.
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


def _without_status_and_meta(obj):
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class Watcher:
    """One watch stream: receives (type, object) pairs on ``queue``."""

    def __init__(self, store, res, namespace, label_selector, field_selector, queue):
        self.store = store
        self.res = res
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.queue = queue

    def matches(self, obj):
        if obj is None:
            return False
        meta = obj.get("metadata", {})
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        if self.label_selector is not None and not self.label_selector.matches(meta.get("labels")):
            return False
        if self.field_selector is not None and not self.field_selector.matches(obj):
            return False
        return True

    def offer(self, event_type, obj, old):
        """Translate a store event into what this watcher sees (selectors can turn a
        MODIFIED into an ADDED or DELETED, as Kubernetes' watch cache does)."""
        now_match = self.matches(obj)
        was_match = self.matches(old) if old is not None else False
        if event_type == "ADDED":
            if now_match:
                self.queue.put_nowait(("ADDED", obj))
        elif event_type == "DELETED":
            if now_match or was_match:
                self.queue.put_nowait(("DELETED", obj))
        else:
            if now_match and was_match:
                self.queue.put_nowait(("MODIFIED", obj))
            elif now_match:
                self.queue.put_nowait(("ADDED", obj))
            elif was_match:
                self.queue.put_nowait(("DELETED", obj))

    def close(self):
        self.store._watchers.get(self.res.plural, set()).discard(self)


class Store:
    def __init__(self):
        self._rv = 1000
        self._data = {plural: {} for plural in BY_PLURAL}
        self._history = collections.deque(maxlen=HISTORY)
        self._watchers = {plural: set() for plural in BY_PLURAL}
        self._listeners = []
        # Hooks run on create/update after defaulting, before validation: fn(res, obj, old).
        # The sandbox uses them to allocate Service cluster IPs, for example. A hook that
        # reserves something returns a function that gives it back: create calls it when the
        # request is rejected or is a dry run, so a refused request keeps nothing.
        self.admission = []

    # ------------------------------------------------------------------ plumbing
    @property
    def resource_version(self):
        return self._rv

    def _next_rv(self):
        self._rv += 1
        return str(self._rv)

    def subscribe(self, callback):
        """``callback(plural, event_type, obj, old)`` after every stored change."""
        self._listeners.append(callback)

    def _emit(self, res, event_type, obj, old):
        self._history.append((int(obj["metadata"]["resourceVersion"]), res.plural, event_type, obj, old))
        for watcher in list(self._watchers[res.plural]):
            watcher.offer(event_type, obj, old)
        for callback in list(self._listeners):
            callback(res.plural, event_type, obj, old)

    @staticmethod
    def _key(res, namespace, name):
        return (namespace if res.namespaced else "", name)

    def _require_namespace(self, res, namespace, creating=False):
        if not res.namespaced:
            return
        if not namespace:
            raise errors.bad_request("the server could not find the requested resource: a namespace is required")
        ns = self._data["namespaces"].get(("", namespace))
        if ns is None:
            raise errors.namespace_not_found(namespace)
        if creating and ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                '%s "%s" is forbidden: unable to create new content in namespace %s because it is being terminated'
                % (res.qualified, "", namespace), res)

    # ------------------------------------------------------------------ reads
    def get(self, res, namespace, name):
        obj = self._data[res.plural].get(self._key(res, namespace, name))
        if obj is None:
            raise errors.not_found(res, name)
        return obj

    def find(self, res, namespace, name):
        """Like get, but None instead of 404."""
        return self._data[res.plural].get(self._key(res, namespace, name))

    def list(self, res, namespace=None, label_selector=None, field_selector=None):
        items = []
        for (ns, _name), obj in self._data[res.plural].items():
            if namespace and res.namespaced and ns != namespace:
                continue
            meta = obj["metadata"]
            if label_selector is not None and not label_selector.matches(meta.get("labels")):
                continue
            if field_selector is not None and not field_selector.matches(obj):
                continue
            items.append(obj)
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return items, str(self._rv)

    # ------------------------------------------------------------------ writes
    def _check_kind(self, res, obj):
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if api_version and api_version != res.api_version:
            raise errors.bad_request(
                "the API version in the data (%s) does not match the expected API version (%s)"
                % (api_version, res.api_version))
        if kind and kind != res.kind:
            raise errors.bad_request(
                "the kind in the data (%s) does not match the expected kind (%s)" % (kind, res.kind))

    def _validate(self, res, obj, old):
        name = obj.get("metadata", {}).get("name", "")
        causes = validate(res.plural, obj, old)
        if causes:
            raise errors.invalid(res, name, invalid_message(res.kind, res.group, name, causes), causes)

    def _admit(self, res, obj, old, undo=None):
        apply_defaults(res.plural, obj)
        quantity.canonicalize(res.plural, obj)
        for hook in self.admission:
            release = hook(res, obj, old)
            if release is not None and undo is not None:
                undo.append(release)
        self._validate(res, obj, old)

    def create(self, res, namespace, obj, dry_run=False):
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        obj = copy.deepcopy(obj)
        self._check_kind(res, obj)
        obj["apiVersion"] = res.api_version
        obj["kind"] = res.kind
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if res.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request")
            namespace = namespace or body_ns
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + _random_suffix()
        for field in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "managedFields", "selfLink"):
            meta.pop(field, None)
        self._require_namespace(res, namespace, creating=True)
        undo = []
        try:
            self._admit(res, obj, None, undo)
            name = meta["name"]
            key = self._key(res, namespace, name)
            if key in self._data[res.plural]:
                raise errors.already_exists(res, name)
        except errors.ApiError:
            for release in undo:
                release()
            raise
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if res.generation:
            meta["generation"] = 1
        if dry_run:
            for release in undo:
                release()
            return obj
        meta["resourceVersion"] = self._next_rv()
        self._data[res.plural][key] = obj
        self._emit(res, "ADDED", obj, None)
        return obj

    def update(self, res, namespace, name, obj, subresource=None, dry_run=False, require_rv=False):
        """PUT semantics. ``obj`` is the full desired object (or, for the status
        subresource, an object whose status is taken)."""
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        self._require_namespace(res, namespace)
        key = self._key(res, namespace, name)
        old = self._data[res.plural].get(key)
        if old is None:
            raise errors.not_found(res, name)
        self._check_kind(res, obj)
        meta = obj.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                "the name of the object (%s) does not match the name on the URL (%s)" % (meta["name"], name))
        body_ns = meta.get("namespace")
        if res.namespaced and body_ns and body_ns != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request")
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(res, name)
        if require_rv and not rv:
            raise errors.invalid(res, name, 'metadata.resourceVersion: Invalid value: 0x0: must be specified for an update', [])

        if subresource == "status":
            new = copy.deepcopy(old)
            new["status"] = copy.deepcopy(obj.get("status"))
            if new["status"] is None:
                new.pop("status")
        else:
            new = copy.deepcopy(obj)
            new["apiVersion"] = res.api_version
            new["kind"] = res.kind
            new_meta = new.setdefault("metadata", {})
            for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if field in old["metadata"]:
                    new_meta[field] = old["metadata"][field]
                else:
                    new_meta.pop(field, None)
            new_meta["name"] = name
            if res.namespaced:
                new_meta["namespace"] = namespace
            new_meta.pop("managedFields", None)
            if "status" in {s for s in res.subresources}:
                # The main resource ignores status changes; the status subresource owns them.
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            if old["metadata"].get("deletionTimestamp"):
                # Only finalizers may shrink on an object being deleted.
                pass
        new_meta = new["metadata"]
        new_meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if res.generation:
            new_meta["generation"] = old["metadata"].get("generation", 1)
        self._admit(res, new, old)
        if res.generation and _without_status_and_meta(new) != _without_status_and_meta(old):
            new_meta["generation"] = old["metadata"].get("generation", 1) + 1
        if new == old:
            return old  # a no-op write does not bump the resourceVersion
        if dry_run:
            return new
        new_meta["resourceVersion"] = self._next_rv()
        if new_meta.get("deletionTimestamp") and not new_meta.get("finalizers") and res.plural != "pods":
            return self._remove(res, key, new)
        self._data[res.plural][key] = new
        self._emit(res, "MODIFIED", new, old)
        return new

    def patch(self, res, namespace, name, patch_type, body, subresource=None, dry_run=False):
        self._require_namespace(res, namespace)
        old = self.get(res, namespace, name)
        if subresource == "scale":
            return self.patch_scale(res, namespace, name, patch_type, body, dry_run)
        current = copy.deepcopy(old)
        new = apply_patch(res, current, patch_type, body)
        meta = new.get("metadata") if isinstance(new, dict) else None
        if not isinstance(meta, dict):
            raise errors.bad_request("the patch removed the object's metadata")
        patched_rv = meta.get("resourceVersion")
        if patched_rv != old["metadata"]["resourceVersion"]:
            # The patch carried its own resourceVersion: optimistic concurrency.
            if patched_rv is not None:
                raise errors.conflict(res, name)
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if meta.get("name") != name:
            raise errors.bad_request("the patch changed the object's name")
        return self.update(res, namespace, name, new, subresource=subresource, dry_run=dry_run)

    # -- scale subresource
    def scale_of(self, res, obj):
        sel = obj.get("spec", {}).get("selector") or {}
        labels = sel.get("matchLabels") or {}
        selector = ",".join("%s=%s" % kv for kv in sorted(labels.items()))
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0), "selector": selector},
        }

    def update_scale(self, res, namespace, name, scale, dry_run=False):
        old = self.get(res, namespace, name)
        if not isinstance(scale, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(res, name)
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            causes = [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                       "message": "Invalid value: %s: must be greater than or equal to 0" % json.dumps(replicas)}]
            raise errors.invalid(res, name, 'Scale.autoscaling "%s" is invalid: spec.replicas: Invalid value: %s: must be greater than or equal to 0' % (name, json.dumps(replicas)), causes)
        new = copy.deepcopy(old)
        new["spec"]["replicas"] = replicas
        stored = self.update(res, namespace, name, new, dry_run=dry_run)
        return self.scale_of(res, stored)

    def patch_scale(self, res, namespace, name, patch_type, body, dry_run=False):
        old = self.get(res, namespace, name)
        scale = apply_patch(res, self.scale_of(res, old), patch_type, body, scale=True)
        return self.update_scale(res, namespace, name, scale, dry_run=dry_run)

    # -- delete
    def delete(self, res, namespace, name, propagation=None, grace_period=None, preconditions=None,
               dry_run=False):
        """Returns (object, removed): removed is False when the object stays for a while
        (graceful pod deletion, finalizers, foreground deletion)."""
        self._require_namespace(res, namespace)
        key = self._key(res, namespace, name)
        old = self._data[res.plural].get(key)
        if old is None:
            raise errors.not_found(res, name)
        meta = old["metadata"]
        preconditions = preconditions or {}
        if preconditions.get("uid") and preconditions["uid"] != meta["uid"]:
            raise errors.conflict(res, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                                  % (preconditions["uid"], meta["uid"]))
        if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != meta["resourceVersion"]:
            raise errors.conflict(res, name, "Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s"
                                  % (preconditions["resourceVersion"], meta["resourceVersion"]))
        if dry_run:
            return old, False
        if propagation not in (None, "Background", "Foreground", "Orphan"):
            raise errors.bad_request("propagationPolicy %r is not one of Background, Foreground, Orphan" % propagation)
        finalizers = list(meta.get("finalizers") or [])
        if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")

        if res.plural == "pods":
            graceful = self._pod_grace(old, grace_period)
            if graceful or finalizers:
                return self._mark_deleting(res, key, old, finalizers, graceful or 0), False
        if res.plural == "namespaces":
            return self._mark_deleting(res, key, old, finalizers, 0, phase="Terminating"), False
        if finalizers:
            return self._mark_deleting(res, key, old, finalizers, 0), False
        return self._remove(res, key, old), True

    def _pod_grace(self, pod, grace_period):
        if grace_period is not None:
            return max(int(grace_period), 0)
        if pod["metadata"].get("deletionTimestamp"):
            return pod["metadata"].get("deletionGracePeriodSeconds", 0)
        if not pod.get("spec", {}).get("nodeName"):
            return 0  # never scheduled: nothing to stop
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        return pod["spec"].get("terminationGracePeriodSeconds", 30)

    def _mark_deleting(self, res, key, old, finalizers, grace, phase=None):
        new = copy.deepcopy(old)
        meta = new["metadata"]
        if not meta.get("deletionTimestamp") or grace < meta.get("deletionGracePeriodSeconds", grace + 1):
            meta["deletionTimestamp"] = now_rfc3339(time.time() + grace)
            meta["deletionGracePeriodSeconds"] = grace
        if finalizers:
            meta["finalizers"] = finalizers
        if phase:
            new.setdefault("status", {})["phase"] = phase
        if new == old:
            return old
        if res.plural == "pods" and grace == 0 and not finalizers:
            return self._remove(res, key, new)
        meta["resourceVersion"] = self._next_rv()
        self._data[res.plural][key] = new
        self._emit(res, "MODIFIED", new, old)
        return new

    def _remove(self, res, key, obj):
        obj = copy.deepcopy(obj)
        stored = self._data[res.plural].pop(key, None)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit(res, "DELETED", obj, stored)
        return obj

    def finalize(self, res, namespace, name):
        """Remove an object whose deletion is complete (kubelet after a pod stopped,
        namespace controller after a namespace emptied)."""
        key = self._key(res, namespace, name)
        obj = self._data[res.plural].get(key)
        if obj is not None:
            self._remove(res, key, obj)

    # ------------------------------------------------------------------ watch
    def watch(self, res, namespace, label_selector, field_selector, resource_version, queue):
        """Register a watcher and queue its initial events. Raises 410 Gone for a
        resourceVersion older than the kept history."""
        watcher = Watcher(self, res, namespace, label_selector, field_selector, queue)
        if resource_version in (None, "", "0"):
            for obj in self.list(res, namespace, label_selector, field_selector)[0]:
                queue.put_nowait(("ADDED", obj))
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise errors.bad_request("invalid resource version: %s" % resource_version)
            oldest = self._history[0][0] if self._history else self._rv + 1
            if len(self._history) == self._history.maxlen and since < oldest - 1:
                raise errors.gone("too old resource version: %s (%s)" % (since, oldest))
            for rv, plural, event_type, obj, old in self._history:
                if rv > since and plural == res.plural:
                    watcher.offer(event_type, obj, old)
        self._watchers[res.plural].add(watcher)
        return watcher


def apply_patch(res, current, patch_type, body, scale=False):
    """Apply a PATCH body of ``patch_type`` (a media type) to ``current``."""
    try:
        if patch_type == "application/json-patch+json":
            if not isinstance(body, list):
                raise errors.bad_request("json patch must be a JSON array of operations")
            return json_patch(current, body)
        if not isinstance(body, dict):
            raise errors.bad_request("patch body must be a JSON object")
        if patch_type == "application/merge-patch+json":
            return merge_patch(current, body)
        if patch_type == "application/strategic-merge-patch+json":
            if scale:
                return merge_patch(current, body)
            return strategic_merge_patch(current, body, res.plural)
    except PatchError as err:
        raise errors.ApiError(422, "Invalid", str(err))
    raise errors.unsupported_media_type(patch_type)


def encode_continue(offset, rv):
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "rv": rv}).encode()).decode()


def decode_continue(token):
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["o"]), data["rv"]
    except Exception:
        raise errors.bad_request("continue key is not valid: %s" % token)
