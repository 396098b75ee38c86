# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ingress-nginx canary Ingress of a Service: weight, header and cookie routing.

The module owns exactly the ``nginx.ingress.kubernetes.io/canary*`` annotations and the backends
of the canary Ingress. After a run those annotations are exactly what the options say: an option
left out (or empty) removes its annotation. Every other annotation and every label is kept.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import re

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s import Ref

CANARY_PREFIX = "nginx.ingress.kubernetes.io/canary"
CANARY = CANARY_PREFIX
WEIGHT = CANARY_PREFIX + "-weight"
WEIGHT_TOTAL = CANARY_PREFIX + "-weight-total"
BY_HEADER = CANARY_PREFIX + "-by-header"
BY_HEADER_VALUE = CANARY_PREFIX + "-by-header-value"
BY_HEADER_PATTERN = CANARY_PREFIX + "-by-header-pattern"
BY_COOKIE = CANARY_PREFIX + "-by-cookie"
# The legacy way to pick the ingress class; a clone must keep it or the controller ignores the canary.
LEGACY_CLASS = "kubernetes.io/ingress.class"
DEFAULT_WEIGHT_TOTAL = 100

CANARY_ARG_SPEC = {
    "stable_ingress": {"type": "str", "required": True},
    "name": {"type": "str"},
    "namespace": {"type": "str", "required": True},
    "service": {"type": "str"},
    "port": {"type": "raw"},
    "weight": {"type": "raw"},
    "weight_total": {"type": "int", "default": DEFAULT_WEIGHT_TOTAL},
    "header": {"type": "str"},
    "header_value": {"type": "str"},
    "header_pattern": {"type": "str"},
    "cookie": {"type": "str"},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
}

HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")


def owns(key):
    return key.startswith(CANARY_PREFIX)


def parse_weight(value, total, what):
    """The weight as an int from 0 to ``total``; strings of digits (templated values) are accepted."""
    weight = None
    if isinstance(value, bool):
        weight = None
    elif isinstance(value, int):
        weight = value
    elif isinstance(value, float) and value.is_integer():
        weight = int(value)
    elif isinstance(value, str) and re.match(r"^\s*[0-9]+\s*$", value):
        weight = int(value)
    if weight is None or not 0 <= weight <= total:
        raise DeployError("weight '%s' is not an integer from 0 to %d; %s" % (value, total, what))
    return weight


def parse_port(value, what):
    """A Service port: a number 1-65535 (int or digits) or a port name."""
    if isinstance(value, bool) or value is None:
        raise DeployError("port %r is neither a port number (1-65535) nor a port name; %s" % (value, what))
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if 1 <= number <= 65535:
            return number
        raise DeployError("port '%s' is not a port number from 1 to 65535; %s" % (value, what))
    if isinstance(value, str) and PORT_NAME.match(value):
        return value
    raise DeployError("port '%s' is neither a port number (1-65535) nor a port name (lowercase letters, "
                      "digits and '-', at most 15 characters); %s" % (value, what))


def desired_annotations(params, what):
    """The owned annotations the options ask for, validated. Empty strings count as left out."""
    total = params.get("weight_total")
    if total is None:
        total = DEFAULT_WEIGHT_TOTAL
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise DeployError("weight_total '%s' is not a positive integer; %s" % (total, what))
    if params.get("weight") is None:
        raise DeployError("weight is required with state=present (an integer from 0 to %d); %s" % (total, what))
    weight = parse_weight(params.get("weight"), total, what)
    header = params.get("header") or None
    value = params.get("header_value") or None
    pattern = params.get("header_pattern") or None
    cookie = params.get("cookie") or None

    if header is not None and not HEADER_NAME.match(header):
        raise DeployError("header '%s' is not a valid HTTP header name; %s" % (header, what))
    if (value or pattern) and not header:
        raise DeployError("header_value/header_pattern need header (the header to match); %s" % what)
    if value and pattern:
        raise DeployError("header_value '%s' and header_pattern '%s' exclude each other (ingress-nginx would "
                          "ignore the pattern); %s" % (value, pattern, what))
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DeployError("header_pattern '%s' is not a regular expression (%s); %s" % (pattern, exc, what))
    if cookie is not None and not HEADER_NAME.match(cookie):
        raise DeployError("cookie '%s' is not a valid cookie name; %s" % (cookie, what))

    wanted = {CANARY: "true", WEIGHT: str(weight)}
    if total != DEFAULT_WEIGHT_TOTAL:
        wanted[WEIGHT_TOTAL] = str(total)
    if header:
        wanted[BY_HEADER] = header
    if value:
        wanted[BY_HEADER_VALUE] = value
    if pattern:
        wanted[BY_HEADER_PATTERN] = pattern
    if cookie:
        wanted[BY_COOKIE] = cookie
    return wanted


def merged_annotations(current, wanted):
    """All annotations after the change: foreign ones kept, owned ones exactly ``wanted``."""
    result = dict((k, v) for k, v in (current or {}).items() if not owns(k))
    result.update(wanted)
    return result


def owned(annotations):
    return dict((k, v) for k, v in (annotations or {}).items() if owns(k))


def annotation_patch(current, new):
    """JSON merge patch for metadata.annotations: changed keys, removed ones as null."""
    patch = dict((k, v) for k, v in new.items() if (current or {}).get(k) != v)
    for key in current or {}:
        if key not in new:
            patch[key] = None
    return patch


def weight_of(annotations):
    """The canary weight an Ingress has now (ingress-nginx reads a missing weight as 0)."""
    raw = (annotations or {}).get(WEIGHT)
    if raw is None:
        return 0
    try:
        return int(raw)
    except ValueError:
        return None


def canary_backend(service, port):
    port_ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"service": {"name": service, "port": port_ref}}


def retarget(spec, service, port):
    """``spec`` with every backend (default and per path) pointed at the canary service/port."""
    spec = copy.deepcopy(spec or {})
    if spec.get("defaultBackend"):
        spec["defaultBackend"] = canary_backend(service, port)
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            path["backend"] = canary_backend(service, port)
    return spec


def clone_spec(stable_spec, service, port):
    """The canary's spec: the stable Ingress's class, hosts, paths and TLS; backends -> canary."""
    spec = {}
    for key in ("ingressClassName", "defaultBackend", "tls"):
        if stable_spec.get(key):
            spec[key] = copy.deepcopy(stable_spec[key])
    rules = []
    for rule in stable_spec.get("rules") or []:
        new_rule = dict((k, copy.deepcopy(v)) for k, v in rule.items() if k in ("host", "http"))
        if new_rule.get("http"):
            new_rule["http"] = {"paths": [dict((k, v) for k, v in p.items() if k in ("path", "pathType", "backend"))
                                          for p in new_rule["http"].get("paths") or []]}
        rules.append(new_rule)
    if rules:
        spec["rules"] = rules
    return retarget(spec, service, port)


def clone_ingress(stable, name, wanted, service, port):
    """A new canary Ingress for ``stable``: its labels, legacy class annotation and spec."""
    metadata = stable.get("metadata") or {}
    annotations = dict(wanted)
    if LEGACY_CLASS in (metadata.get("annotations") or {}):
        annotations[LEGACY_CLASS] = metadata["annotations"][LEGACY_CLASS]
    body = {"metadata": {"name": name, "namespace": metadata.get("namespace"), "annotations": annotations},
            "spec": clone_spec(stable.get("spec") or {}, service, port)}
    if metadata.get("labels"):
        body["metadata"]["labels"] = dict(metadata["labels"])
    return body


def backends(spec):
    """'host/path -> service:port' lines, for diffs."""
    def target(backend):
        svc = (backend or {}).get("service") or {}
        port = svc.get("port") or {}
        return "%s:%s" % (svc.get("name"), port.get("number", port.get("name")))
    lines = []
    if (spec or {}).get("defaultBackend"):
        lines.append("(default) -> %s" % target(spec["defaultBackend"]))
    for rule in (spec or {}).get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            lines.append("%s%s -> %s" % (rule.get("host") or "*", path.get("path") or "/", target(path.get("backend"))))
    return lines


def view(ingress):
    """The part of an Ingress the module owns, for diffs."""
    if not ingress:
        return {}
    return {"annotations": owned((ingress.get("metadata") or {}).get("annotations")),
            "backends": backends(ingress.get("spec"))}


def canary_diff(ref, before, after):
    return {"before_header": str(ref), "after_header": str(ref), "before": view(before), "after": view(after)}


def canary_name(params):
    return params.get("name") or "%s-canary" % params["stable_ingress"]


def ensure_canary(client, params):
    """state=present: create or update the canary Ingress; returns the module result."""
    namespace = params["namespace"]
    ref = Ref("Ingress", namespace, canary_name(params))
    untouched = "%s was not changed" % ref
    if ref.name == params["stable_ingress"]:
        raise DeployError("name '%s' is the stable Ingress itself; the canary needs its own Ingress; %s"
                          % (ref.name, untouched))
    if not params.get("service"):
        raise DeployError("service (the canary Service) is required with state=present; %s" % untouched)
    port = parse_port(params.get("port"), untouched)
    wanted = desired_annotations(params, untouched)
    weight = int(wanted[WEIGHT])

    current = client.get(ref, missing_ok=True, untouched=untouched)
    if current is None:
        stable_ref = Ref("Ingress", namespace, params["stable_ingress"])
        stable = client.get(stable_ref, untouched="%s was not created" % ref)
        body = clone_ingress(stable, ref.name, wanted, params["service"], port)
        created = client.create("Ingress", namespace, body)
        return {"changed": True, "created": True, "previous_weight": None, "weight": weight,
                "ingress": created, "diff": canary_diff(ref, None, created)}

    metadata = current.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    new_annotations = merged_annotations(annotations, wanted)
    new_spec = retarget(current.get("spec"), params["service"], port)
    result = {"changed": False, "created": False, "previous_weight": weight_of(annotations), "weight": weight,
              "ingress": current}
    if new_annotations == annotations and new_spec == (current.get("spec") or {}):
        return result

    patch = {"metadata": {"resourceVersion": metadata.get("resourceVersion"),
                          "annotations": annotation_patch(annotations, new_annotations)}}
    if new_spec != (current.get("spec") or {}):
        patch["spec"] = dict((k, new_spec[k]) for k in ("rules", "defaultBackend") if k in new_spec)
    try:
        stored = client.patch(ref, patch, "merge", untouched=untouched)
    except DeployError as err:
        if getattr(err, "status", None) == 409:
            raise DeployError("%s was changed by someone else after it was read (resourceVersion %s); this run "
                              "did not overwrite it: %s" % (ref, metadata.get("resourceVersion"),
                                                            err.details.get("api_message")),
                              previous_weight=result["previous_weight"])
        raise
    stored_weight = weight_of((stored.get("metadata") or {}).get("annotations"))
    result.update(changed=True, weight=stored_weight, ingress=stored, diff=canary_diff(ref, current, stored))
    return result


def remove_canary(client, params):
    """state=absent: delete the canary Ingress, refusing to delete one that is not a canary."""
    ref = Ref("Ingress", params["namespace"], canary_name(params))
    current = client.get(ref, missing_ok=True)
    if current is None:
        return {"changed": False, "previous_weight": None, "weight": None, "ingress": {}}
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    if ref.name == params["stable_ingress"] or annotations.get(CANARY) != "true":
        raise DeployError("%s is not a canary Ingress (no %s: \"true\" annotation); it was not deleted"
                          % (ref, CANARY))
    client.delete(ref)
    return {"changed": True, "previous_weight": weight_of(annotations), "weight": None, "ingress": {},
            "diff": canary_diff(ref, current, None)}


def run(client, params):
    if params.get("state") == "absent":
        return remove_canary(client, params)
    return ensure_canary(client, params)
