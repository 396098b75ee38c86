# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One rollout at a time per application, and the rollout's state, in a coordination.k8s.io Lease.

The Lease is named ``<app>-rollout``. Its spec says who holds it (holderIdentity), since when
(acquireTime), until when (renewTime + leaseDurationSeconds) and how often it changed hands
(leaseTransitions). The rollout's data lives in annotations: strategy, stage, from_version and
to_version each in its own annotation under ``deploy.llm-research-lab.io/``, every other key in
one JSON annotation ``deploy.llm-research-lab.io/data``. Writes carry the resourceVersion read, so
of two concurrent acquirers exactly one wins.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s import Ref

PREFIX = "deploy.llm-research-lab.io/"
NAMED_KEYS = {"strategy": "strategy", "stage": "stage", "from_version": "from-version", "to_version": "to-version"}
DATA_ANNOTATION = PREFIX + "data"
MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"

LEASE_ARG_SPEC = {
    "app": {"type": "str", "required": True},
    "namespace": {"type": "str", "required": True},
    "holder": {"type": "str", "required": True},
    "ttl": {"type": "int", "default": 900},
    "state": {"type": "str", "default": "acquired", "choices": ["acquired", "updated", "released"]},
    "data": {"type": "dict"},
    "force": {"type": "bool", "default": False},
}


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def format_time(moment):
    """MicroTime as Kubernetes writes it: 2006-01-02T15:04:05.000000Z."""
    return moment.astimezone(datetime.timezone.utc).strftime(MICROTIME)


def parse_time(text):
    if not text:
        return None
    for fmt in (MICROTIME, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            continue
    raise DeployError("cannot read the time %r in the Lease" % text)


def lease_name(app):
    return "%s-rollout" % app


# ---------------------------------------------------------------- data <-> annotations


def read_data(lease):
    """The rollout data kept in the Lease's annotations."""
    annotations = ((lease or {}).get("metadata") or {}).get("annotations") or {}
    data = {}
    raw = annotations.get(DATA_ANNOTATION)
    if raw:
        try:
            data.update(json.loads(raw))
        except ValueError:
            data["_unreadable"] = raw
    for key, suffix in NAMED_KEYS.items():
        if PREFIX + suffix in annotations:
            data[key] = annotations[PREFIX + suffix]
    return data


def merge_data(current, update):
    """``current`` with ``update`` applied: None values remove keys."""
    result = dict(current or {})
    for key, value in (update or {}).items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def data_annotations(data):
    """The annotations of ours that represent ``data`` (named keys as strings, the rest as JSON)."""
    annotations = {}
    free = {}
    for key, value in data.items():
        if key in NAMED_KEYS:
            annotations[PREFIX + NAMED_KEYS[key]] = value if isinstance(value, str) else json.dumps(value)
        else:
            free[key] = value
    if free:
        annotations[DATA_ANNOTATION] = json.dumps(free, sort_keys=True)
    return annotations


def with_data(annotations, data):
    """All annotations with ours replaced by ``data``'s (foreign annotations kept)."""
    result = dict((k, v) for k, v in (annotations or {}).items() if not k.startswith(PREFIX))
    result.update(data_annotations(data))
    return result


# ---------------------------------------------------------------- decisions


def expires_at(lease):
    spec = (lease or {}).get("spec") or {}
    renewed = parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    if renewed is None or spec.get("leaseDurationSeconds") is None:
        return None
    return renewed + datetime.timedelta(seconds=spec["leaseDurationSeconds"])


def holder_of(lease):
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or None


def is_live(lease, now):
    """Held and not expired (renewTime + leaseDurationSeconds is still ahead)."""
    if not holder_of(lease):
        return False
    expiry = expires_at(lease)
    return expiry is None or now <= expiry


def describe_holder(lease, now):
    spec = lease.get("spec") or {}
    expiry = expires_at(lease)
    text = "held by '%s' since %s" % (spec.get("holderIdentity"), spec.get("acquireTime") or "an unknown time")
    if expiry is not None:
        text += ", expires %s (in %d s)" % (format_time(expiry), max(0, int((expiry - now).total_seconds())))
    return text


def decide_acquire(lease, holder, now, force=False):
    """What acquiring means for this Lease: create, renew, acquire, take_over, or fail (raises)."""
    if lease is None:
        return "create"
    current = holder_of(lease)
    if current is None:
        return "acquire"
    if current == holder:
        return "renew"
    if not is_live(lease, now) or force:
        return "take_over"
    return "held"


def new_spec(lease, holder, ttl, now, action):
    """The Lease spec after ``action`` by ``holder``."""
    spec = dict((lease or {}).get("spec") or {})
    stamp = format_time(now)
    if action in ("create", "acquire", "take_over"):
        # A transition is a change of holder: taking over, or acquiring a lease someone held before.
        transitions = spec.get("leaseTransitions") or 0
        if action == "take_over" or (action == "acquire" and spec.get("acquireTime")):
            transitions += 1
        spec.update(holderIdentity=holder, acquireTime=stamp, renewTime=stamp, leaseDurationSeconds=ttl,
                    leaseTransitions=transitions)
    elif action == "renew":
        spec.update(renewTime=stamp, leaseDurationSeconds=ttl)
    elif action == "release":
        spec.pop("holderIdentity", None)
        spec["renewTime"] = stamp
    return spec


def lease_view(lease, now):
    """The Lease as the module returns it."""
    spec = (lease or {}).get("spec") or {}
    expiry = expires_at(lease) if holder_of(lease) else None
    return {"name": ((lease or {}).get("metadata") or {}).get("name"),
            "namespace": ((lease or {}).get("metadata") or {}).get("namespace"),
            "holder": holder_of(lease), "acquire_time": spec.get("acquireTime"), "renew_time": spec.get("renewTime"),
            "duration": spec.get("leaseDurationSeconds"),
            "expires": format_time(expiry) if expiry is not None else None,
            "expired": bool(holder_of(lease)) and not is_live(lease, now),
            "transitions": spec.get("leaseTransitions") or 0}


def meaning(lease):
    """What a change is judged by: holder, duration and data (a bare renewTime bump is not a change)."""
    if lease is None:
        return None
    spec = lease.get("spec") or {}
    return {"holder": holder_of(lease), "duration": spec.get("leaseDurationSeconds"), "data": read_data(lease)}


# ---------------------------------------------------------------- operations


def write(client, ref, lease, body, untouched):
    """Create or update with the resourceVersion read; a lost race names the winner."""
    try:
        if lease is None:
            return client.create("Lease", ref.namespace, body, untouched=untouched)
        return client.replace(ref, body, untouched=untouched)
    except DeployError as err:
        if getattr(err, "status", None) != 409:
            raise
    winner = client.get(ref, missing_ok=True)
    raise DeployError("%s was changed by someone else at the same time (now %s); %s"
                      % (ref, describe_holder(winner, utcnow()) if holder_of(winner) else "not held", untouched),
                      lease=lease_view(winner, utcnow()), data=read_data(winner), held=False)


def lease_body(ref, lease, spec, data):
    metadata = dict((lease or {}).get("metadata") or {"name": ref.name, "namespace": ref.namespace})
    metadata = dict((k, v) for k, v in metadata.items() if k != "managedFields")
    metadata["annotations"] = with_data(metadata.get("annotations"), data)
    return {"metadata": metadata, "spec": spec}


def lease_diff(ref, before, after):
    return {"before_header": str(ref), "after_header": str(ref),
            "before": meaning(before) or {}, "after": meaning(after) or {}}


def run(client, params, now=None):
    """Acquire, update or release the rollout Lease; returns the module result."""
    now = now or utcnow()
    ref = Ref("Lease", params["namespace"], lease_name(params["app"]))
    untouched = "%s was not changed" % ref
    state = params.get("state") or "acquired"
    holder = params.get("holder")
    ttl = params.get("ttl")
    if not holder:
        raise DeployError("holder is required to make the Lease %s; %s" % (state, untouched))
    if ttl is None or ttl < 1:
        raise DeployError("ttl %r must be at least 1 second; %s" % (ttl, untouched))

    lease = client.get(ref, missing_ok=True)
    previous_data = read_data(lease)
    previous_holder = holder_of(lease)
    taken_over_from = None

    if state == "acquired":
        action = decide_acquire(lease, holder, now, params.get("force"))
        if action == "held":
            raise DeployError("%s is %s; it was not changed (force takes over a live lease)"
                              % (ref, describe_holder(lease, now)),
                              lease=lease_view(lease, now), data=previous_data, held=False)
        if action == "take_over":
            taken_over_from = previous_holder
        # Data replaces the stored data when the lease changes hands and is merged into it on renewal.
        if action == "renew" or params.get("data") is None:
            data = merge_data(previous_data, params.get("data"))
        else:
            data = merge_data({}, params.get("data"))
    elif state == "updated":
        if lease is None or previous_holder != holder:
            raise DeployError("%s is %s, not by '%s'; it was not changed"
                              % (ref, "missing" if lease is None else
                                 (describe_holder(lease, now) if previous_holder else "not held"), holder),
                              lease=lease_view(lease, now), data=previous_data, held=False)
        action = "renew"
        data = merge_data(previous_data, params.get("data"))
    else:
        if lease is None or previous_holder is None:
            return {"changed": False, "lease": lease_view(lease, now), "data": previous_data, "held": False,
                    "taken_over_from": None, "previous_data": previous_data, "previous_holder": previous_holder}
        if previous_holder != holder and not params.get("force"):
            raise DeployError("%s is %s, not by '%s'; it was not released (force releases it anyway)"
                              % (ref, describe_holder(lease, now), holder),
                              lease=lease_view(lease, now), data=previous_data, held=False)
        action = "release"
        data = merge_data(previous_data, params.get("data"))

    body = lease_body(ref, lease, new_spec(lease, holder, ttl, now, action), data)
    stored = write(client, ref, lease, body, untouched)
    changed = meaning(stored) != meaning(lease)
    result = {"changed": changed, "lease": lease_view(stored, now), "data": read_data(stored),
              "held": holder_of(stored) == holder, "taken_over_from": taken_over_from,
              "previous_data": previous_data, "previous_holder": previous_holder, "action": action}
    if changed:
        result["diff"] = lease_diff(ref, lease, stored)
    return result
