"""Deployment controller: ReplicaSets per pod template, rolling updates, status, conditions.

Follows kube-controller-manager's deployment controller (pkg/controller/deployment): the
pod-template-hash, revision annotations (an old template coming back re-uses its ReplicaSet
with a new revision), maxSurge/maxUnavailable arithmetic and rounding, Recreate, paused,
revisionHistoryLimit, and the Available/Progressing conditions with their reasons.
"""
import copy
import json
import math
import time

from ..apiserver.resources import BY_PLURAL
from ..apiserver.store import now_rfc3339, parse_rfc3339
from .base import Controller, controller_ref, owner_reference, owned_by, record_event

DEPLOYMENTS = BY_PLURAL["deployments"]
REPLICASETS = BY_PLURAL["replicasets"]
PODS = BY_PLURAL["pods"]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
# Deployment annotations the controller does not copy to its ReplicaSets (as Kubernetes).
NOT_COPIED = {
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY, DESIRED, MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
}
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
COMPONENT = "deployment-controller"


def _fnv32a(data):
    value = 0x811C9DC5
    for byte in data:
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def _canonical(value):
    """Drop nulls, zeros, false and empty maps/lists: Kubernetes decodes JSON into Go
    structs, where `creationTimestamp: null` (which kubectl sends back in `rollout undo`),
    `initialDelaySeconds: 0` and an absent field are the same template."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = _canonical(item)
            if item is None or item is False or item == {} or item == [] or (
                    isinstance(item, int) and not isinstance(item, bool) and item == 0):
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def _strip_hash(template):
    template = _canonical(copy.deepcopy(template or {}))
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return template


def template_hash(template):
    """A short, stable name suffix for a pod template, in Kubernetes' safe alphabet."""
    digits = str(_fnv32a(json.dumps(_strip_hash(template), sort_keys=True).encode()))
    return "".join(SAFE_ALPHABET[int(c) % len(SAFE_ALPHABET)] for c in digits)


def same_template(a, b):
    return _strip_hash(a) == _strip_hash(b)


def copied_annotations(deployment):
    return {k: v for k, v in (deployment["metadata"].get("annotations") or {}).items() if k not in NOT_COPIED}


def revision(rs):
    try:
        return int(rs["metadata"].get("annotations", {}).get(REVISION, "0"))
    except ValueError:
        return 0


def resolve(value, total, round_up):
    """An intstr (3 or "25%") against ``total`` replicas, rounded as Kubernetes rounds."""
    if isinstance(value, str) and value.endswith("%"):
        percent = int(value[:-1])
        exact = percent * total / 100.0
        return int(math.ceil(exact)) if round_up else int(math.floor(exact))
    return int(value or 0)


def surge_and_unavailable(deployment):
    spec = deployment["spec"]
    replicas = spec.get("replicas", 1)
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = resolve(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = resolve(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # Kubernetes' guard against a rollout that could never progress
    return surge, min(unavailable, replicas)


def _spec_replicas(rs):
    return rs["spec"].get("replicas", 0)


def _status(rs, field):
    return (rs.get("status") or {}).get(field, 0)


class DeploymentController(Controller):
    name = "deployment"

    def __init__(self, store):
        super().__init__(store)
        store.subscribe(self._on_event)

    def _on_event(self, plural, event_type, obj, old):
        meta = obj["metadata"]
        if plural == "deployments":
            self.enqueue((meta["namespace"], meta["name"]))
        elif plural == "replicasets":
            ref = controller_ref(obj)
            if ref and ref.get("kind") == "Deployment":
                self.enqueue((meta["namespace"], ref["name"]))
        elif plural == "pods" and event_type == "DELETED":
            # Recreate waits for old pods to be gone.
            for rs_ref in meta.get("ownerReferences") or []:
                if rs_ref.get("kind") == "ReplicaSet":
                    rs = self.store.find(REPLICASETS, meta["namespace"], rs_ref["name"])
                    ref = controller_ref(rs) if rs else None
                    if ref and ref.get("kind") == "Deployment":
                        self.enqueue((meta["namespace"], ref["name"]))

    # ------------------------------------------------------------------ sync
    def sync(self, key):
        namespace, name = key
        deployment = self.store.find(DEPLOYMENTS, namespace, name)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return
        all_rs = [rs for rs in self.store.list(REPLICASETS, namespace)[0]
                  if owned_by(rs, deployment) and not rs["metadata"].get("deletionTimestamp")]
        template = deployment["spec"]["template"]
        new_rs = next((rs for rs in all_rs if same_template(rs["spec"]["template"], template)), None)
        old_rs = [rs for rs in all_rs if rs is not new_rs]

        if deployment["spec"].get("paused"):
            self._sync_status(deployment, new_rs, old_rs, paused=True)
            return

        new_rs, event = self._ensure_new_rs(deployment, new_rs, old_rs)
        all_rs = old_rs + [new_rs]
        strategy = (deployment["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "Recreate":
            self._recreate(deployment, new_rs, old_rs)
        else:
            self._rolling(deployment, new_rs, old_rs)
        self._cleanup(deployment, old_rs)
        # Re-read: scaling changed the ReplicaSets.
        new_rs = self.store.find(REPLICASETS, namespace, new_rs["metadata"]["name"]) or new_rs
        old_rs = [self.store.find(REPLICASETS, namespace, rs["metadata"]["name"]) for rs in old_rs]
        old_rs = [rs for rs in old_rs if rs is not None]
        self._sync_status(deployment, new_rs, old_rs, event=event)

    def _ensure_new_rs(self, deployment, new_rs, old_rs):
        """Create the ReplicaSet of the current template, or give the existing one the
        newest revision. Returns (replicaset, progressing condition event or None)."""
        meta = deployment["metadata"]
        namespace = meta["namespace"]
        max_old = max([revision(rs) for rs in old_rs] or [0])
        if new_rs is None:
            template = copy.deepcopy(deployment["spec"]["template"])
            pod_hash = template_hash(template)
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            labels[HASH_LABEL] = pod_hash
            template.setdefault("metadata", {})["labels"] = labels
            selector = copy.deepcopy(deployment["spec"]["selector"])
            selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
            replicas = self._initial_replicas(deployment, old_rs)
            surge, _ = surge_and_unavailable(deployment)
            rs = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": "%s-%s" % (meta["name"], pod_hash),
                    "namespace": namespace,
                    "labels": labels,
                    "annotations": {
                        **copied_annotations(deployment),
                        REVISION: str(max_old + 1),
                        DESIRED: str(deployment["spec"].get("replicas", 1)),
                        MAX_REPLICAS: str(deployment["spec"].get("replicas", 1) + surge),
                    },
                    "ownerReferences": [owner_reference(deployment)],
                },
                "spec": {
                    "replicas": replicas,
                    "minReadySeconds": deployment["spec"].get("minReadySeconds", 0),
                    "selector": selector,
                    "template": template,
                },
            }
            created = self.store.create(REPLICASETS, namespace, rs)
            if replicas > 0:
                record_event(self.store, deployment, "Normal", "ScalingReplicaSet",
                             "Scaled up replica set %s to %d" % (created["metadata"]["name"], replicas), COMPONENT)
            self._set_revision(deployment, max_old + 1)
            return created, ("NewReplicaSetCreated", 'Created new replica set "%s"' % created["metadata"]["name"])
        event = None
        if revision(new_rs) <= max_old:
            # An old template came back (rollback): its ReplicaSet gets the next revision.
            updated = copy.deepcopy(new_rs)
            annotations = updated["metadata"].setdefault("annotations", {})
            history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
            history.append(str(revision(new_rs)))
            annotations[REVISION_HISTORY] = ",".join(history)
            annotations[REVISION] = str(max_old + 1)
            new_rs = self.store.update(REPLICASETS, namespace, new_rs["metadata"]["name"], updated)
            event = ("FoundNewReplicaSet", 'Found new replica set "%s"' % new_rs["metadata"]["name"])
        updated = copy.deepcopy(new_rs)
        updated["spec"]["minReadySeconds"] = deployment["spec"].get("minReadySeconds", 0)
        annotations = updated["metadata"].setdefault("annotations", {})
        for key in [k for k in annotations if k not in NOT_COPIED]:
            del annotations[key]
        annotations.update(copied_annotations(deployment))
        if updated != new_rs:
            new_rs = self.store.update(REPLICASETS, namespace, new_rs["metadata"]["name"], updated)
        self._set_revision(deployment, revision(new_rs))
        return new_rs, event

    def _set_revision(self, deployment, rev):
        current = self.store.find(DEPLOYMENTS, deployment["metadata"]["namespace"], deployment["metadata"]["name"])
        if current is None:
            return
        annotations = current["metadata"].get("annotations") or {}
        if annotations.get(REVISION) == str(rev):
            return
        updated = copy.deepcopy(current)
        updated["metadata"].setdefault("annotations", {})[REVISION] = str(rev)
        self.store.update(DEPLOYMENTS, current["metadata"]["namespace"], current["metadata"]["name"], updated)

    def _initial_replicas(self, deployment, old_rs):
        replicas = deployment["spec"].get("replicas", 1)
        strategy = (deployment["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "Recreate":
            return 0 if any(_spec_replicas(rs) or _status(rs, "replicas") for rs in old_rs) else replicas
        surge, _ = surge_and_unavailable(deployment)
        current = sum(_spec_replicas(rs) for rs in old_rs)
        return max(min(replicas + surge - current, replicas), 0)

    def _scale(self, deployment, rs, replicas):
        if _spec_replicas(rs) == replicas:
            return rs
        updated = copy.deepcopy(rs)
        previous = _spec_replicas(rs)
        updated["spec"]["replicas"] = replicas
        surge, _ = surge_and_unavailable(deployment)
        annotations = updated["metadata"].setdefault("annotations", {})
        annotations[DESIRED] = str(deployment["spec"].get("replicas", 1))
        annotations[MAX_REPLICAS] = str(deployment["spec"].get("replicas", 1) + surge)
        stored = self.store.update(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"], updated)
        direction = "up" if replicas > previous else "down"
        record_event(self.store, deployment, "Normal", "ScalingReplicaSet",
                     "Scaled %s replica set %s to %d from %d" % (direction, rs["metadata"]["name"], replicas, previous),
                     COMPONENT)
        return stored

    # ------------------------------------------------------------------ strategies
    def _recreate(self, deployment, new_rs, old_rs):
        for rs in old_rs:
            if _spec_replicas(rs) > 0:
                self._scale(deployment, rs, 0)
        namespace = deployment["metadata"]["namespace"]
        for rs in old_rs:
            pods = [p for p in self.store.list(PODS, namespace)[0] if owned_by(p, rs)]
            if pods:
                return  # wait until every old pod is gone
        self._scale(deployment, new_rs, deployment["spec"].get("replicas", 1))

    def _rolling(self, deployment, new_rs, old_rs):
        replicas = deployment["spec"].get("replicas", 1)
        surge, unavailable = surge_and_unavailable(deployment)
        # Scale the new ReplicaSet up within maxSurge.
        if _spec_replicas(new_rs) > replicas:
            new_rs = self._scale(deployment, new_rs, replicas)
        elif _spec_replicas(new_rs) < replicas:
            current = sum(_spec_replicas(rs) for rs in old_rs) + _spec_replicas(new_rs)
            room = replicas + surge - current
            if room > 0:
                new_rs = self._scale(deployment, new_rs, _spec_replicas(new_rs) + min(room, replicas - _spec_replicas(new_rs)))
        # Scale old ReplicaSets down within maxUnavailable.
        all_rs = old_rs + [new_rs]
        all_pods = sum(_spec_replicas(rs) for rs in all_rs)
        min_available = replicas - unavailable
        new_unavailable = _spec_replicas(new_rs) - _status(new_rs, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return
        old_rs = sorted(old_rs, key=lambda rs: rs["metadata"]["creationTimestamp"])
        # First old pods that are not available anyway.
        cleaned = 0
        for index, rs in enumerate(old_rs):
            if cleaned >= max_scaled_down:
                break
            unhealthy = _spec_replicas(rs) - _status(rs, "availableReplicas")
            if unhealthy <= 0 or _spec_replicas(rs) == 0:
                continue
            down = min(unhealthy, max_scaled_down - cleaned)
            old_rs[index] = self._scale(deployment, rs, _spec_replicas(rs) - down)
            cleaned += down
        all_rs = old_rs + [new_rs]
        available = sum(_status(rs, "availableReplicas") for rs in all_rs)
        if available <= min_available:
            return
        budget = available - min_available
        for rs in old_rs:
            if budget <= 0:
                break
            if _spec_replicas(rs) == 0:
                continue
            down = min(_spec_replicas(rs), budget)
            self._scale(deployment, rs, _spec_replicas(rs) - down)
            budget -= down

    def _cleanup(self, deployment, old_rs):
        limit = deployment["spec"].get("revisionHistoryLimit", 10)
        idle = [rs for rs in old_rs if _spec_replicas(rs) == 0 and _status(rs, "replicas") == 0]
        idle.sort(key=revision)
        for rs in idle[:max(len(idle) - limit, 0)]:
            self.store.delete(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])

    # ------------------------------------------------------------------ status
    def _sync_status(self, deployment, new_rs, old_rs, paused=False, event=None):
        current = self.store.find(DEPLOYMENTS, deployment["metadata"]["namespace"], deployment["metadata"]["name"])
        if current is None:
            return
        spec_replicas = current["spec"].get("replicas", 1)
        all_rs = old_rs + ([new_rs] if new_rs else [])
        available = sum(_status(rs, "availableReplicas") for rs in all_rs)
        total = sum(_spec_replicas(rs) for rs in all_rs)
        old_status = current.get("status") or {}
        status = {
            "observedGeneration": current["metadata"].get("generation", 1),
            "replicas": sum(_status(rs, "replicas") for rs in all_rs),
            "updatedReplicas": _status(new_rs, "replicas") if new_rs else 0,
            "readyReplicas": sum(_status(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": available,
            "unavailableReplicas": max(total - available, 0),
        }
        if "collisionCount" in old_status:
            status["collisionCount"] = old_status["collisionCount"]
        # Kubernetes omits zero counts from the JSON.
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        conditions = [dict(c) for c in old_status.get("conditions") or []]
        now = now_rfc3339()
        _, unavailable = surge_and_unavailable(current)
        if available >= spec_replicas - unavailable:
            _set(conditions, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now)
        else:
            _set(conditions, "Available", "False", "MinimumReplicasUnavailable",
                 "Deployment does not have minimum availability.", now)
        rs_name = new_rs["metadata"]["name"] if new_rs else None
        progress = _get(conditions, "Progressing")
        deadline = current["spec"].get("progressDeadlineSeconds")
        if paused:
            _set(conditions, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now)
        elif progress is not None and progress.get("reason") == "DeploymentPaused":
            _set(conditions, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now)
        elif event is not None:
            _set(conditions, "Progressing", "True", event[0], event[1], now, force=True)
        else:
            complete = (status.get("updatedReplicas", 0) == spec_replicas
                        and status.get("replicas", 0) == spec_replicas
                        and status.get("availableReplicas", 0) == spec_replicas)
            if complete:
                _set(conditions, "Progressing", "True", "NewReplicaSetAvailable",
                     'ReplicaSet "%s" has successfully progressed.' % rs_name, now)
            elif _progressed(old_status, status):
                _set(conditions, "Progressing", "True", "ReplicaSetUpdated",
                     'ReplicaSet "%s" is progressing.' % rs_name, now, force=True)
            elif progress is not None and deadline is not None and progress.get("reason") not in (
                    "ProgressDeadlineExceeded", "NewReplicaSetAvailable"):
                since = parse_rfc3339(progress.get("lastUpdateTime")) or time.time()
                remaining = since + deadline - time.time()
                if remaining < 0:
                    _set(conditions, "Progressing", "False", "ProgressDeadlineExceeded",
                         'ReplicaSet "%s" has timed out progressing.' % rs_name, now)
                    record_event(self.store, current, "Warning", "ProgressDeadlineExceeded",
                                 'ReplicaSet "%s" has timed out progressing.' % rs_name, COMPONENT)
                else:
                    self.enqueue_after((current["metadata"]["namespace"], current["metadata"]["name"]), remaining + 0.5)
        if progress is None and not paused and event is None and _get(conditions, "Progressing") is None:
            _set(conditions, "Progressing", "True", "ReplicaSetUpdated", 'ReplicaSet "%s" is progressing.' % rs_name, now)
        # Keep watching the deadline while not complete.
        progress = _get(conditions, "Progressing")
        if (deadline is not None and progress is not None and progress.get("status") == "True"
                and progress.get("reason") != "NewReplicaSetAvailable"):
            since = parse_rfc3339(progress.get("lastUpdateTime")) or time.time()
            self.enqueue_after((current["metadata"]["namespace"], current["metadata"]["name"]),
                               max(since + deadline - time.time(), 0) + 1.0)
        conditions.sort(key=lambda c: 0 if c["type"] == "Available" else 1)
        status["conditions"] = conditions
        if status != old_status:
            updated = copy.deepcopy(current)
            updated["status"] = status
            self.store.update(DEPLOYMENTS, current["metadata"]["namespace"], current["metadata"]["name"],
                              updated, subresource="status")


def _get(conditions, cond_type):
    return next((c for c in conditions if c["type"] == cond_type), None)


def _set(conditions, cond_type, status, reason, message, now, force=False):
    """Set a condition; lastTransitionTime moves only when the status changes, lastUpdateTime
    when anything changes (or ``force``: progress was made)."""
    existing = _get(conditions, cond_type)
    if existing is not None and existing["status"] == status and existing["reason"] == reason and not force \
            and existing.get("message") == message:
        return
    cond = {"type": cond_type, "status": status, "lastUpdateTime": now,
            "lastTransitionTime": now, "reason": reason, "message": message}
    if existing is not None:
        if existing["status"] == status:
            cond["lastTransitionTime"] = existing["lastTransitionTime"]
        conditions.remove(existing)
    conditions.append(cond)


def _progressed(old, new):
    """Kubernetes' DeploymentProgressing: more updated, ready or available pods, or fewer
    old ones, since the last status."""
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = new.get("replicas", 0) - new.get("updatedReplicas", 0)
    return (new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
            or new_old < old_old
            or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or new.get("availableReplicas", 0) > old.get("availableReplicas", 0))
