# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The blue-green switch: set a Service's selector, safely.

Safe means: the new selector must match enough Ready pods, an optional compare-and-swap on the
current selector, and an optimistic-concurrency write (the resourceVersion that was read goes with
the patch), so a concurrent change ends in a reported 409 instead of being overwritten.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s import Ref

SELECTOR_ARG_SPEC = {
    "name": {"type": "str", "required": True},
    "namespace": {"type": "str", "required": True},
    "selector": {"type": "dict", "default": {}},
    "replace": {"type": "bool", "default": False},
    "expected_selector": {"type": "dict"},
    "require_ready_endpoints": {"type": "int", "default": 1},
}

# A label value: empty, or up to 63 characters of [A-Za-z0-9-_.] starting and ending alphanumeric.
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def label_value(key, value, what):
    """A label value as the API stores it (a string); ints from YAML are accepted, bools are not."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DeployError("%s value %r for key '%s' is not a label value (a string); %s"
                          % ("selector", value, key, what))
    value = str(value)
    if not LABEL_VALUE.match(value):
        raise DeployError("selector value '%s' for key '%s' is not a valid label value (at most 63 characters: "
                          "letters, digits, '-', '_', '.', starting and ending with a letter or digit); %s"
                          % (value, key, what))
    return value


def check_key(key, what):
    if not LABEL_KEY.match(key):
        raise DeployError("selector key '%s' is not a valid label key; %s" % (key, what))


def normalise(selector, what):
    """A requested selector with its values as strings (None kept: it means 'remove')."""
    result = {}
    for key, value in (selector or {}).items():
        check_key(key, what)
        result[key] = None if value is None else label_value(key, value, what)
    return result


def merge_selector(current, requested, replace=False):
    """The selector after the change.

    Merge (default): requested keys are set, keys requested as None are removed, others kept.
    Replace: the result is exactly the requested keys that are not None.
    """
    result = {} if replace else dict(current or {})
    for key, value in requested.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def selector_patch(current, new):
    """A JSON merge patch body turning ``current`` into ``new`` (removed keys become null)."""
    patch = dict((k, v) for k, v in new.items() if (current or {}).get(k) != v)
    for key in current or {}:
        if key not in new:
            patch[key] = None
    return patch


def selector_string(selector):
    """'app=research-lab,environment=green': the labelSelector query for a Service selector."""
    return ",".join("%s=%s" % (k, selector[k]) for k in sorted(selector))


def format_selector(selector):
    return "{%s}" % ", ".join("%s: %s" % (k, selector[k]) for k in sorted(selector or {}))


def pod_is_ready(pod):
    """Running, condition Ready=True, and not terminating (terminating pods leave the endpoints)."""
    metadata = pod.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def labels_match(pod, selector):
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def count_ready_pods(pods, selector):
    """How many of ``pods`` the selector matches and would serve traffic. An empty selector
    matches nothing: a Service without a selector gets no endpoints."""
    if not selector:
        return 0
    return sum(1 for pod in pods if labels_match(pod, selector) and pod_is_ready(pod))


def selector_diff(ref, before, after):
    return {
        "before_header": "%s selector" % ref, "after_header": "%s selector" % ref,
        "before": {"selector": before}, "after": {"selector": after},
    }


def set_selector(client, params):
    """Point a Service at a new selector; returns the module result."""
    ref = Ref("Service", params["namespace"], params["name"])
    untouched = "%s was not changed" % ref
    requested = normalise(params.get("selector"), untouched)
    expected = params.get("expected_selector")
    if expected is not None:
        expected = dict((k, v) for k, v in normalise(expected, untouched).items() if v is not None)
    required = params.get("require_ready_endpoints")
    if required is None or required < 0:
        raise DeployError("require_ready_endpoints %r must be 0 or more; %s" % (required, untouched))

    service = client.get(ref)
    current = (service.get("spec") or {}).get("selector") or {}
    if expected is not None and current != expected:
        raise DeployError("%s selects %s, not the expected %s; it was not changed"
                          % (ref, format_selector(current), format_selector(expected)),
                          previous_selector=current, selector=current, expected_selector=expected)
    new = merge_selector(current, requested, params.get("replace"))

    pods = client.list("Pod", ref.namespace, label_selector=selector_string(new)) if new else []
    ready = count_ready_pods(pods, new)
    result = {"changed": False, "previous_selector": current, "selector": new,
              "matched_ready_pods": ready, "service": service}
    if new == current:
        return result  # already there: nothing to refuse, nothing to write
    if ready < required:
        raise DeployError("selector %s matches %d Ready pod%s in namespace %s (%d required); %s"
                          % (format_selector(new), ready, "" if ready == 1 else "s", ref.namespace, required,
                             untouched),
                          previous_selector=current, selector=current, matched_ready_pods=ready)

    patch = {"metadata": {"resourceVersion": service["metadata"]["resourceVersion"]},
             "spec": {"selector": selector_patch(current, new)}}
    try:
        stored = client.patch(ref, patch, "merge", untouched=untouched)
    except DeployError as err:
        if getattr(err, "status", None) == 409:
            raise DeployError("%s was changed by someone else after it was read (resourceVersion %s); this run "
                              "did not overwrite it: %s" % (ref, service["metadata"]["resourceVersion"],
                                                            err.details.get("api_message")),
                              previous_selector=current, selector=current)
        raise
    stored_selector = (stored.get("spec") or {}).get("selector") or {}
    result.update(changed=True, selector=stored_selector, service=stored,
                  diff=selector_diff(ref, current, stored_selector))
    return result
