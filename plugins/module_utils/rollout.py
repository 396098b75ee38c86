# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Set a Deployment's images and wait for the rollout strictly; undo to an exact revision.

A rollout counts as done only when the controller has observed the latest generation and
updated, total, ready and available replicas all equal the desired count with none unavailable.
ProgressDeadlineExceeded, a paused Deployment, and new pods stuck in one of the configured waiting
reasons (ImagePullBackOff, CrashLoopBackOff, ...) fail at once, with the pods' states and the
recent events as the explanation.

Undo restores the pod template of a revision from the Deployment's own ReplicaSets and changes
nothing else on the Deployment except one annotation of ours (see UNDONE_FROM).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import time

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s import Ref

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
# Set by an undo without to_revision: the revision it undid from. A repeated such undo is a no-op
# while that revision is still the one it would go back to, so re-runs do not flip back and forth.
UNDONE_FROM = "deploy.llm-research-lab.io/undone-from"

DEFAULT_FAIL_REASONS = ["ImagePullBackOff", "CrashLoopBackOff", "CreateContainerConfigError", "InvalidImageName"]
POD_CHECK_INTERVAL = 3  # seconds between looks at the new pods while the Deployment watch is quiet
MAX_REPORTED_PODS = 10
MAX_EVENTS_PER_OBJECT = 10

ROLLOUT_ARG_SPEC = {
    "name": {"type": "str", "required": True},
    "namespace": {"type": "str", "required": True},
    "images": {"type": "dict", "default": {}},
    "state": {"type": "str", "default": "rolled_out", "choices": ["rolled_out", "undone"]},
    "to_revision": {"type": "int"},
    "wait": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 300},
    "fail_on_pod_reasons": {"type": "list", "elements": "str", "default": list(DEFAULT_FAIL_REASONS)},
}


class RolloutState(object):
    """The verdict of the strict predicate on one Deployment object."""

    def __init__(self, done=False, failed=False, message=""):
        self.done = done
        self.failed = failed
        self.message = message

    def __repr__(self):
        return "RolloutState(done=%r, failed=%r, message=%r)" % (self.done, self.failed, self.message)


# ---------------------------------------------------------------- pure logic


def all_containers(template):
    spec = (template or {}).get("spec") or {}
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def container_images(template):
    return dict((c.get("name"), c.get("image")) for c in all_containers(template))


def images_patch(deployment, images, untouched):
    """(strategic merge patch or None, images after) for ``images``; unknown containers fail."""
    template = (deployment.get("spec") or {}).get("template") or {}
    current = container_images(template)
    unknown = sorted(set(images) - set(current))
    if unknown:
        raise DeployError("container%s %s not in Deployment %s/%s, whose containers are: %s; %s" % (
            "s" if len(unknown) > 1 else "", ", ".join("'%s'" % n for n in unknown),
            deployment["metadata"].get("namespace"), deployment["metadata"].get("name"),
            ", ".join(sorted(current)), untouched))
    for name, image in images.items():
        if not isinstance(image, str) or not image.strip():
            raise DeployError("image %r for container '%s' is not an image reference; %s" % (image, name, untouched))
    changes = dict((n, i) for n, i in images.items() if current[n] != i)
    after = dict(current, **changes)
    if not changes:
        return None, after
    spec = {}
    init_names = set(c.get("name") for c in (template.get("spec") or {}).get("initContainers") or [])
    for name in sorted(changes):
        key = "initContainers" if name in init_names else "containers"
        spec.setdefault(key, []).append({"name": name, "image": changes[name]})
    return {"spec": {"template": {"spec": spec}}}, after


def condition(deployment, kind):
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def progress_text(deployment):
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    desired = spec.get("replicas", 1)
    text = "%d of %d updated, %d ready, %d available, %d total" % (
        status.get("updatedReplicas") or 0, desired, status.get("readyReplicas") or 0,
        status.get("availableReplicas") or 0, status.get("replicas") or 0)
    if status.get("unavailableReplicas"):
        text += ", %d unavailable" % status["unavailableReplicas"]
    return text


def rollout_state(deployment):
    """The strict rollout predicate (see the module docstring)."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    generation = metadata.get("generation") or 0
    observed = status.get("observedGeneration")
    if observed is None or observed < generation:
        return RolloutState(message="the controller has not observed generation %d yet (observed: %s)"
                            % (generation, observed))
    progressing = condition(deployment, "Progressing")
    if progressing and progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
        return RolloutState(failed=True, message="progress deadline exceeded: %s" % (
            progressing.get("message") or "no progress within spec.progressDeadlineSeconds"))
    desired = spec.get("replicas", 1)
    counts = [status.get(k) or 0 for k in ("updatedReplicas", "replicas", "readyReplicas", "availableReplicas")]
    if all(c == desired for c in counts) and not status.get("unavailableReplicas"):
        return RolloutState(done=True, message=progress_text(deployment))
    if spec.get("paused"):
        return RolloutState(failed=True, message="the Deployment is paused, so the rollout cannot progress (%s)"
                            % progress_text(deployment))
    return RolloutState(message=progress_text(deployment))


def selector_string(label_selector):
    """A LabelSelector (matchLabels + matchExpressions) as a labelSelector query string."""
    parts = ["%s=%s" % (k, v) for k, v in sorted(((label_selector or {}).get("matchLabels") or {}).items())]
    for expr in (label_selector or {}).get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append("%s in (%s)" % (key, ",".join(values)))
        elif op == "NotIn":
            parts.append("%s notin (%s)" % (key, ",".join(values)))
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append("!" + key)
    return ",".join(parts)


def revision_of(obj):
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION))
    except (TypeError, ValueError):
        return None


def template_without_hash(template):
    """A ReplicaSet's pod template as the Deployment would carry it (no pod-template-hash label)."""
    template = copy.deepcopy(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if labels and HASH_LABEL in labels:
        del labels[HASH_LABEL]
    return template


def owned_replicasets(deployment, replicasets):
    uid = (deployment.get("metadata") or {}).get("uid")
    return [rs for rs in replicasets
            if any(ref.get("uid") == uid and ref.get("controller", True)
                   for ref in (rs.get("metadata") or {}).get("ownerReferences") or [])]


def new_replicaset(deployment, replicasets):
    """The owned ReplicaSet whose template is the Deployment's (the controller's 'new' RS)."""
    template = (deployment.get("spec") or {}).get("template") or {}
    matches = [rs for rs in replicasets
               if template_without_hash((rs.get("spec") or {}).get("template")) == template]
    if matches:
        return max(matches, key=lambda rs: revision_of(rs) or 0)
    revision = revision_of(deployment)
    same = [rs for rs in replicasets if revision is not None and revision_of(rs) == revision]
    return same[0] if same else None


def plan_undo(deployment, replicasets, to_revision=None):
    """Which revision an undo goes to, or why it has nothing to do.

    Returns a dict: target (ReplicaSet or None), target_revision, current_revision, noop (None or
    the reason nothing needs changing). ``replicasets`` must be the Deployment's own.
    """
    name = "%s/%s" % (deployment["metadata"].get("namespace"), deployment["metadata"].get("name"))
    by_revision = {}
    for rs in replicasets:
        revision = revision_of(rs)
        if revision is not None:
            by_revision[revision] = rs
    available = ", ".join(str(r) for r in sorted(by_revision)) or "none"
    current_rs = new_replicaset(deployment, replicasets)
    current = revision_of(current_rs) if current_rs is not None else revision_of(deployment)
    if to_revision:
        target = by_revision.get(to_revision)
        if target is None:
            raise DeployError("revision %d of Deployment %s does not exist; its revisions are: %s; nothing was changed"
                              % (to_revision, name, available))
        target_revision = to_revision
    else:
        earlier = [r for r in by_revision if current is None or r < current]
        if not earlier:
            raise DeployError("Deployment %s has no revision before the current one (%s); its revisions are: %s; "
                              "nothing was changed" % (name, current, available))
        target_revision = max(earlier)
        target = by_revision[target_revision]
    plan = {"target": target, "target_revision": target_revision, "current_revision": current, "noop": None}
    template = (deployment.get("spec") or {}).get("template") or {}
    if template_without_hash((target.get("spec") or {}).get("template")) == template:
        plan["noop"] = "the Deployment already runs the template of revision %d" % target_revision
    elif not to_revision and (deployment["metadata"].get("annotations") or {}).get(UNDONE_FROM) == str(target_revision):
        plan["noop"] = "revision %d was already undone (annotation %s)" % (target_revision, UNDONE_FROM)
    return plan


def undo_patch(deployment, plan, explicit):
    """JSON patch: the target's template, our annotation, and the resourceVersion read (a 409 on race)."""
    metadata = deployment["metadata"]
    ops = [{"op": "replace", "path": "/spec/template",
            "value": template_without_hash((plan["target"].get("spec") or {}).get("template"))},
           {"op": "replace", "path": "/metadata/resourceVersion", "value": metadata["resourceVersion"]}]
    annotations = metadata.get("annotations")
    key = "/metadata/annotations/" + UNDONE_FROM.replace("~", "~0").replace("/", "~1")
    if explicit:
        if annotations and UNDONE_FROM in annotations:
            ops.append({"op": "remove", "path": key})
    elif annotations is None:
        ops.append({"op": "add", "path": "/metadata/annotations",
                    "value": {UNDONE_FROM: str(plan["current_revision"])}})
    else:
        ops.append({"op": "add", "path": key, "value": str(plan["current_revision"])})
    return ops


def stuck_pods(pods, reasons):
    """[(pod name, container, reason, message)] for containers waiting in one of ``reasons``."""
    found = []
    for pod in pods:
        status = pod.get("status") or {}
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in reasons:
                found.append((pod["metadata"]["name"], cs.get("name"), waiting["reason"], waiting.get("message") or ""))
    return found


def pod_report(pod):
    """What a user needs to see about one pod of a failed rollout."""
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    containers = []
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        entry = {"name": cs.get("name"), "ready": bool(cs.get("ready")), "restart_count": cs.get("restartCount", 0),
                 "image": cs.get("image")}
        for state_name in ("waiting", "terminated"):
            state = (cs.get("state") or {}).get(state_name)
            if state:
                entry[state_name] = {"reason": state.get("reason"), "message": state.get("message")}
                if state_name == "terminated":
                    entry[state_name]["exit_code"] = state.get("exitCode")
        last = (cs.get("lastState") or {}).get("terminated")
        if last:
            entry["last_terminated"] = {"reason": last.get("reason"), "exit_code": last.get("exitCode"),
                                        "message": last.get("message")}
        containers.append(entry)
    return {"name": pod["metadata"]["name"], "phase": status.get("phase"), "ready": ready,
            "terminating": bool(pod["metadata"].get("deletionTimestamp")), "containers": containers}


def event_time(event):
    return (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
            or (event.get("metadata") or {}).get("creationTimestamp") or "")


def event_report(event):
    involved = event.get("involvedObject") or {}
    return {"object": "%s/%s" % (involved.get("kind"), involved.get("name")), "type": event.get("type"),
            "reason": event.get("reason"), "message": event.get("message"), "count": event.get("count"),
            "last_seen": event_time(event)}


def recent_events(events, limit=MAX_EVENTS_PER_OBJECT):
    return [event_report(e) for e in sorted(events, key=event_time)[-limit:]]


def pod_summary(report):
    """'pod x: container api waiting ImagePullBackOff (Back-off pulling ...)' for messages."""
    parts = []
    for c in report["containers"]:
        for state_name in ("waiting", "terminated"):
            state = c.get(state_name)
            if state and state.get("reason"):
                detail = " (%s)" % state["message"] if state.get("message") else ""
                parts.append("container %s %s %s%s" % (c["name"], state_name, state["reason"], detail))
        if c.get("restart_count"):
            parts.append("container %s restarted %d times" % (c["name"], c["restart_count"]))
    return "pod %s %s%s: %s" % (report["name"], report["phase"], ", ready" if report["ready"] else ", not ready",
                                "; ".join(parts) or "no container problems reported")


# ---------------------------------------------------------------- operations


def replicasets_of(client, deployment):
    namespace = deployment["metadata"]["namespace"]
    selector = selector_string((deployment.get("spec") or {}).get("selector"))
    return owned_replicasets(deployment, client.list("ReplicaSet", namespace, label_selector=selector))


def pods_of(client, deployment, replicaset):
    if replicaset is None:
        return []
    labels = dict(((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
    rs_hash = ((replicaset.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL)
    selector = dict((deployment.get("spec") or {}).get("selector") or {})
    if rs_hash:
        labels[HASH_LABEL] = rs_hash
    selector["matchLabels"] = labels
    pods = client.list("Pod", deployment["metadata"]["namespace"], label_selector=selector_string(selector))
    uid = replicaset["metadata"].get("uid")
    return [p for p in pods if not uid or any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or [])]


def failure_details(client, deployment):
    """Pods of the new ReplicaSet and the recent events of the Deployment, that RS and its pods."""
    namespace = deployment["metadata"]["namespace"]
    try:
        rs = new_replicaset(deployment, replicasets_of(client, deployment))
        pods = pods_of(client, deployment, rs)[:MAX_REPORTED_PODS]
        objects = [deployment["metadata"]["name"]]
        if rs is not None:
            objects.append(rs["metadata"]["name"])
        objects.extend(p["metadata"]["name"] for p in pods)
        events = []
        for name in objects:
            events.extend(recent_events(client.list("Event", namespace, field_selector="involvedObject.name=%s" % name)))
    except DeployError as err:  # the explanation must not hide the failure it explains
        return {"pods": [], "events": [], "details_error": err.msg,
                "new_replicaset": None}
    return {"pods": [pod_report(p) for p in pods], "events": events,
            "new_replicaset": rs["metadata"]["name"] if rs is not None else None}


def rollout_failure(client, ref, deployment, why, left):
    details = failure_details(client, deployment)
    lines = [pod_summary(p) for p in details["pods"] if not p["ready"]][:3]
    message = "%s did not roll out: %s" % (ref, why)
    if lines:
        message += ". " + ". ".join(lines)
    message += ". %s" % left
    status = deployment.get("status") or {}
    return DeployError(message, revision=revision_of(deployment), ready_replicas=status.get("readyReplicas") or 0,
                       **details)


def wait_for_rollout(client, ref, deployment, timeout, reasons, left, clock=time.monotonic):
    """Watch the Deployment until the strict predicate holds; fail at once on a dead end."""
    deadline = clock() + timeout
    next_pod_check = clock()
    resource_version = deployment["metadata"].get("resourceVersion")
    while True:
        state = rollout_state(deployment)
        if state.done:
            return deployment
        if state.failed:
            raise rollout_failure(client, ref, deployment, state.message, left)
        now = clock()
        if now >= next_pod_check:
            rs = new_replicaset(deployment, replicasets_of(client, deployment))
            stuck = stuck_pods(pods_of(client, deployment, rs), reasons)
            if stuck:
                pod, container, reason, _msg = stuck[0]
                raise rollout_failure(client, ref, deployment,
                                      "container %s of new pod %s is in %s" % (container, pod, reason),
                                      left)
            next_pod_check = now + POD_CHECK_INTERVAL
        remaining = deadline - now
        if remaining <= 0:
            raise rollout_failure(client, ref, deployment,
                                  "not finished within %d s (%s)" % (timeout, state.message), left)
        window = max(1, min(remaining, next_pod_check - now))
        for kind, obj in client.watch(ref, resource_version, timeout_seconds=window):
            if kind == "ERROR":
                # 410 Gone: our resourceVersion is too old; read the object again and go on.
                deployment = client.get(ref)
                resource_version = deployment["metadata"].get("resourceVersion")
                break
            if kind == "DELETED":
                raise DeployError("%s was deleted while waiting for its rollout" % ref)
            resource_version = (obj.get("metadata") or {}).get("resourceVersion") or resource_version
            if kind in ("ADDED", "MODIFIED"):
                deployment = obj
                verdict = rollout_state(deployment)
                if verdict.done or verdict.failed or clock() >= next_pod_check:
                    break


def rollout_result(deployment, previous_revision, previous_images):
    status = deployment.get("status") or {}
    return {"revision": revision_of(deployment), "previous_revision": previous_revision,
            "previous_images": previous_images,
            "images": container_images((deployment.get("spec") or {}).get("template")),
            "ready_replicas": status.get("readyReplicas") or 0, "deployment": deployment}


def images_diff(ref, before, after):
    return {"before_header": "%s images" % ref, "after_header": "%s images" % ref,
            "before": {"images": before}, "after": {"images": after}}


def roll_out(client, params, clock=time.monotonic):
    """state=rolled_out: set images (if any differ) and wait for the rollout."""
    ref = Ref("Deployment", params["namespace"], params["name"])
    untouched = "%s was not changed" % ref
    timeout = params.get("timeout")
    if timeout is None or timeout < 1:
        raise DeployError("timeout %r must be at least 1 second; %s" % (timeout, untouched))
    deployment = client.get(ref)
    previous_revision = revision_of(deployment)
    previous_images = container_images(deployment["spec"].get("template"))
    patch, _after = images_patch(deployment, params.get("images") or {}, untouched)
    changed = patch is not None
    if changed:
        deployment = client.patch(ref, patch, "strategic", untouched=untouched)
    result = dict(rollout_result(deployment, previous_revision, previous_images), changed=changed)
    if changed:
        result["diff"] = images_diff(ref, previous_images, result["images"])
    if params.get("wait", True) and not client.dry_run:
        left = ("The Deployment keeps the new images; nothing was rolled back" if changed
                else "Nothing was changed")
        deployment = wait_for_rollout(client, ref, deployment, timeout, params.get("fail_on_pod_reasons") or [],
                                      left, clock)
        result.update(rollout_result(deployment, previous_revision, previous_images))
    return result


def undo(client, params, clock=time.monotonic):
    """state=undone: restore the pod template of a revision, keeping the Deployment's annotations."""
    ref = Ref("Deployment", params["namespace"], params["name"])
    to_revision = params.get("to_revision") or None
    if to_revision is not None and to_revision < 0:
        raise DeployError("to_revision %d must be a revision number (1 or more), or 0 for the previous one; "
                          "%s was not changed" % (to_revision, ref))
    deployment = client.get(ref)
    previous_revision = revision_of(deployment)
    previous_images = container_images(deployment["spec"].get("template"))
    plan = plan_undo(deployment, replicasets_of(client, deployment), to_revision)
    result = dict(rollout_result(deployment, previous_revision, previous_images), changed=False,
                  undone_to=plan["target_revision"])
    if plan["noop"]:
        result["msg"] = plan["noop"]
    else:
        deployment = client.patch(ref, undo_patch(deployment, plan, explicit=bool(to_revision)), "json",
                                  untouched="%s was not changed" % ref)
        result.update(rollout_result(deployment, previous_revision, previous_images), changed=True)
        result["diff"] = images_diff(ref, previous_images, result["images"])
    if params.get("wait", True) and not client.dry_run:
        left = ("The Deployment keeps the template of revision %d" % plan["target_revision"]
                if result["changed"] else "Nothing was changed")
        deployment = wait_for_rollout(client, ref, deployment, params.get("timeout") or 300,
                                      params.get("fail_on_pod_reasons") or [], left, clock)
        result.update(rollout_result(deployment, previous_revision, previous_images))
    return result


def run(client, params):
    if params.get("state") == "undone":
        return undo(client, params)
    return roll_out(client, params)
