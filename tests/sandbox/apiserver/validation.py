"""Defaulting and validation of the kinds the sandbox serves, as kube-apiserver 1.30+ does them.

``apply_defaults`` mirrors the v1/apps-v1 ``SetDefaults_*`` functions (plus the few fields the
real server's create strategy and default admission plugins fill in), so the sandbox stores
what Kubernetes stores. ``validate`` mirrors pkg/apis/*/validation: it returns Status causes
whose ``message`` is Go's ``field.Error.ErrorBody()`` and whose ``field`` is the field path, so
``invalid_message`` can render the same text kubectl prints.
"""
import base64
import binascii
import datetime
import ipaddress
import json
import re
from decimal import Decimal, InvalidOperation

from .selectors import (
    SelectorError,
    dns1123_subdomain_errors,
    label_value_errors,
    max_len_error,
    qualified_name_errors,
    regex_error,
    selector_from_label_selector,
)

__all__ = ["apply_defaults", "validate", "invalid_message", "parse_quantity"]

NAMESPACED = {
    "namespaces": False, "nodes": False, "pods": True, "services": True, "endpoints": True,
    "configmaps": True, "secrets": True, "events": True, "deployments": True,
    "replicasets": True, "ingresses": True, "leases": True, "ingressclasses": False,
}

# ================================================================ Go-style values
def _go_quote(value):
    return json.dumps(value, ensure_ascii=False)


def _go_value(value):
    """How ``field.Error`` prints a bad value (simple types plain, strings quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _go_number(value)
    if isinstance(value, GoText):
        return str(value)
    if isinstance(value, str):
        return _go_quote(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(_go_quote(v) for v in value) + "}"
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return _go_string_map(value)
    return json.dumps(value, sort_keys=True)


def _go_number(value):
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _go_string_map(value):
    if value is None:
        return "map[string]string(nil)"
    return "map[string]string{" + ", ".join(
        "%s:%s" % (_go_quote(k), _go_quote(str(value[k]))) for k in sorted(value)) + "}"


class GoText(str):
    """A bad value already rendered the way Go's %#v prints it."""


def _go_int_or_string(value):
    if isinstance(value, str):
        return GoText('intstr.IntOrString{Type:1, IntVal:0, StrVal:%s}' % _go_quote(value))
    return GoText('intstr.IntOrString{Type:0, IntVal:%s, StrVal:""}' % _go_value(value))


def _go_label_selector(selector):
    if not isinstance(selector, dict):
        return GoText("null")
    labels = selector.get("matchLabels")
    exprs = selector.get("matchExpressions")
    labels_text = _go_string_map(labels) if isinstance(labels, dict) else "map[string]string(nil)"
    if isinstance(exprs, list) and exprs:
        items = []
        for expr in exprs:
            expr = expr if isinstance(expr, dict) else {}
            values = expr.get("values")
            values_text = (_go_value([str(v) for v in values]) if isinstance(values, list)
                           else "[]string(nil)")
            items.append('v1.LabelSelectorRequirement{Key:%s, Operator:%s, Values:%s}' % (
                _go_quote(str(expr.get("key", ""))), _go_quote(str(expr.get("operator", ""))),
                values_text))
        exprs_text = "[]v1.LabelSelectorRequirement{" + ", ".join(items) + "}"
    else:
        exprs_text = "[]v1.LabelSelectorRequirement(nil)"
    return GoText("v1.LabelSelector{MatchLabels:%s, MatchExpressions:%s}" % (labels_text, exprs_text))


# ================================================================ causes
class _Causes:
    """Collects Status causes the way field.ErrorList does."""

    def __init__(self):
        self.items = []

    def _add(self, reason, path, body):
        self.items.append({"reason": reason, "message": body, "field": path})

    def required(self, path, detail=""):
        self._add("FieldValueRequired", path, "Required value" + (": " + detail if detail else ""))

    def invalid(self, path, value, detail):
        self._add("FieldValueInvalid", path, "Invalid value: %s: %s" % (_go_value(value), detail))

    def not_supported(self, path, value, supported):
        self._add("FieldValueNotSupported", path, "Unsupported value: %s: supported values: %s" % (
            _go_value(value), ", ".join(_go_quote(s) for s in supported)))

    def duplicate(self, path, value):
        self._add("FieldValueDuplicate", path, "Duplicate value: %s" % _go_value(value))

    def forbidden(self, path, detail):
        self._add("FieldValueForbidden", path, "Forbidden: %s" % detail)

    def not_found(self, path, value):
        self._add("FieldValueNotFound", path, "Not found: %s" % _go_value(value))

    def too_long(self, path, max_bytes):
        self._add("FieldValueTooLong", path, "Too long: may not be more than %d bytes" % max_bytes)

    def nonnegative(self, path, value):
        if _is_int(value) and value < 0:
            self.invalid(path, value, "must be greater than or equal to 0")


def invalid_message(kind, group, name, causes):
    """The Status message of a 422 Invalid: ``Kind.group "name" is invalid: <errors>``."""
    qualified = "%s.%s" % (kind, group) if group else kind
    errors = []
    for cause in causes:
        text = "%s: %s" % (cause["field"], cause["message"]) if cause.get("field") else cause["message"]
        if text not in errors:
            errors.append(text)
    head = "%s %s is invalid" % (qualified, _go_quote(name or ""))
    if not errors:
        return head
    if len(errors) == 1:
        return "%s: %s" % (head, errors[0])
    return "%s: [%s]" % (head, ", ".join(errors))


# ================================================================ small rules
def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _dict(value):
    return value if isinstance(value, dict) else {}


def _list(value):
    return value if isinstance(value, list) else []


def _str(value):
    return value if isinstance(value, str) else ("" if value is None else str(value))


_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE = re.compile("^" + _DNS1123_LABEL_FMT + "$")
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_RE = re.compile("^" + _DNS1035_LABEL_FMT + "$")
_WILDCARD_FMT = "\\*\\." + _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_WILDCARD_RE = re.compile("^" + _WILDCARD_FMT + "$")
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE = re.compile("^" + _CONFIG_KEY_FMT + "$")
_PERCENT_FMT = "[0-9]+%"
_PERCENT_RE = re.compile("^" + _PERCENT_FMT + "$")


def dns1123_label_errors(value):
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _DNS1123_LABEL_RE.match(value):
        errs.append(regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character",
            _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1035_label_errors(value):
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _DNS1035_LABEL_RE.match(value):
        errs.append(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character",
            _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def wildcard_subdomain_errors(value):
    errs = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _WILDCARD_RE.match(value):
        errs.append(regex_error(
            "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, "
            "which must consist of lower case alphanumeric characters, '-' or '.' and end with an "
            "alphanumeric character", _WILDCARD_FMT, "*.example.com"))
    return errs


def config_key_errors(value):
    """``IsConfigMapKey``: keys of ConfigMap and Secret data."""
    errs = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _CONFIG_KEY_RE.match(value):
        errs.append(regex_error("a valid config key must consist of alphanumeric characters, '-', "
                                "'_' or '.'", _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def port_num_errors(value):
    if not _is_int(value) or not 1 <= value <= 65535:
        return ["must be between 1 and 65535, inclusive"]
    return []


def port_name_errors(value):
    """``IsValidPortName``: an IANA_SVC_NAME."""
    errs = []
    if len(value) > 15:
        errs.append("must be no more than 15 characters")
    if not re.match(r"^[-a-z0-9]+$", value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def percent_errors(value):
    if not _PERCENT_RE.match(value):
        return [regex_error("a valid percent string must be a numeric string followed by an ending '%'",
                            _PERCENT_FMT, "1%", "93%")]
    return []


def ip_errors(value):
    try:
        ipaddress.ip_address(value)
        return []
    except ValueError:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]


def _is_ip(value):
    return not ip_errors(value)


# ================================================================ quantities
_QUANTITY_RE = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
                          r"(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
_QUANTITY_SUFFIX = {
    None: Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_QUANTITY_ERROR = ("quantities must match the regular expression "
                   "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


def parse_quantity(value):
    """A resource quantity ("500m", "1Gi", 2) as a Decimal, or None when malformed."""
    if isinstance(value, bool) or value is None:
        return None
    text = _go_number(value) if isinstance(value, (int, float)) else str(value)
    match = _QUANTITY_RE.match(text)
    if not match:
        return None
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        return None
    suffix = match.group(2)
    if suffix and suffix[0] in "eE":
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _QUANTITY_SUFFIX[suffix]


# ================================================================ defaults
def apply_defaults(resource, obj):
    """Fill in the defaults kube-apiserver applies to ``obj`` (a ``resource`` object), in place."""
    if not isinstance(obj, dict):
        return
    fn = _DEFAULTERS.get(resource)
    if fn is not None:
        fn(obj)


def _image_pull_policy(image):
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_probe(probe):
    if not isinstance(probe, dict):
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10),
                       ("successThreshold", 1), ("failureThreshold", 3)):
        if not probe.get(key):
            probe[key] = value
    _default_http_get(probe.get("httpGet"))


def _default_http_get(action):
    if isinstance(action, dict):
        if not action.get("path"):
            action["path"] = "/"
        if not action.get("scheme"):
            action["scheme"] = "HTTP"


def _default_container(ctr):
    if not isinstance(ctr, dict):
        return
    if not ctr.get("imagePullPolicy") and isinstance(ctr.get("image"), str):
        ctr["imagePullPolicy"] = _image_pull_policy(ctr["image"])
    if not ctr.get("terminationMessagePath"):
        ctr["terminationMessagePath"] = "/dev/termination-log"
    if not ctr.get("terminationMessagePolicy"):
        ctr["terminationMessagePolicy"] = "File"
    if ctr.get("resources") is None:
        ctr["resources"] = {}
    for port in _list(ctr.get("ports")):
        if isinstance(port, dict) and not port.get("protocol"):
            port["protocol"] = "TCP"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(ctr.get(probe))
    for hook in _dict(ctr.get("lifecycle")).values():
        if isinstance(hook, dict):
            _default_http_get(hook.get("httpGet"))
    for env in _list(ctr.get("env")):
        field_ref = _dict(_dict(_dict(env).get("valueFrom")).get("fieldRef"))
        if field_ref and not field_ref.get("apiVersion"):
            field_ref["apiVersion"] = "v1"


def _default_volume(volume):
    if not isinstance(volume, dict):
        return
    if not any(key in volume for key in _VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        src = volume.get(source)
        if isinstance(src, dict) and src.get("defaultMode") is None:
            src["defaultMode"] = 420
    for item in _list(_dict(volume.get("downwardAPI")).get("items")):
        field_ref = _dict(_dict(item).get("fieldRef"))
        if field_ref and not field_ref.get("apiVersion"):
            field_ref["apiVersion"] = "v1"


def _default_pod_spec(spec):
    if not isinstance(spec, dict):
        return
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if not spec.get("schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for ctr in _list(spec.get(key)):
            _default_container(ctr)
    for volume in _list(spec.get("volumes")):
        _default_volume(volume)


def _default_template(owner):
    template = _dict(_dict(owner.get("spec")).get("template"))
    if template:
        _default_pod_spec(template.get("spec"))


_NOT_READY_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
)


def _default_pod(pod):
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    _default_pod_spec(spec)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    # Requests default to limits for a pod's containers (SetDefaults_Pod).
    for key in ("containers", "initContainers"):
        for ctr in _list(spec.get(key)):
            resources = _dict(_dict(ctr).get("resources"))
            limits = resources.get("limits")
            if isinstance(limits, dict) and limits:
                requests = resources.setdefault("requests", {})
                if isinstance(requests, dict):
                    for name, quantity in limits.items():
                        requests.setdefault(name, quantity)
    # What the default admission plugins add: ServiceAccount, Priority, DefaultTolerationSeconds.
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
    if not spec.get("serviceAccount"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    if spec.get("priority") is None:
        spec["priority"] = 0
    if not spec.get("preemptionPolicy"):
        spec["preemptionPolicy"] = "PreemptLowerPriority"
    tolerations = spec.get("tolerations")
    if tolerations is None or isinstance(tolerations, list):
        tolerations = list(tolerations or [])
        for key, effect in _NOT_READY_TOLERATIONS:
            if not any(isinstance(t, dict) and _tolerates(t, key, effect) for t in tolerations):
                tolerations.append({"key": key, "operator": "Exists", "effect": effect,
                                    "tolerationSeconds": 300})
        spec["tolerations"] = tolerations
    status = pod.get("status")
    if status is None:
        status = pod["status"] = {}
    if isinstance(status, dict):
        if not status.get("phase"):
            status["phase"] = "Pending"
        if not status.get("qosClass"):
            status["qosClass"] = pod_qos_class(spec)


def _tolerates(toleration, key, effect):
    if toleration.get("effect") not in (None, "", effect):
        return False
    if toleration.get("operator") == "Exists" and not toleration.get("key"):
        return True
    return toleration.get("key") == key


def pod_qos_class(spec):
    """``GetPodQOS``: Guaranteed, Burstable or BestEffort from cpu/memory requests and limits."""
    requests, limits = {}, {}
    guaranteed = True
    for key in ("containers", "initContainers"):
        for ctr in _list(_dict(spec).get(key)):
            resources = _dict(_dict(ctr).get("resources"))
            for name, value in _dict(resources.get("requests")).items():
                quantity = parse_quantity(value)
                if name in ("cpu", "memory") and quantity:
                    requests[name] = requests.get(name, 0) + quantity
            found = set()
            for name, value in _dict(resources.get("limits")).items():
                quantity = parse_quantity(value)
                if name in ("cpu", "memory") and quantity:
                    found.add(name)
                    limits[name] = limits.get(name, 0) + quantity
            if found != {"cpu", "memory"}:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def _default_deployment(obj):
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = spec.get("strategy")
    if strategy is None:
        strategy = spec["strategy"] = {}
    if isinstance(strategy, dict):
        if not strategy.get("type"):
            strategy["type"] = "RollingUpdate"
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.get("rollingUpdate")
            if rolling is None:
                rolling = strategy["rollingUpdate"] = {}
            if isinstance(rolling, dict):
                if rolling.get("maxUnavailable") is None:
                    rolling["maxUnavailable"] = "25%"
                if rolling.get("maxSurge") is None:
                    rolling["maxSurge"] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    _default_template(obj)


def _default_replicaset(obj):
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _default_template(obj)


def _default_service(obj):
    spec = obj.get("spec")
    if spec is None:
        spec = obj["spec"] = {}
    if not isinstance(spec, dict):
        return
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        if not isinstance(config, dict):
            config = spec["sessionAffinityConfig"] = {}
        client_ip = config.get("clientIP")
        if not isinstance(client_ip, dict):
            client_ip = config["clientIP"] = {}
        client_ip.setdefault("timeoutSeconds", 10800)
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    for port in _list(spec.get("ports")):
        if not isinstance(port, dict):
            continue
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            if port.get("port") is not None:
                port["targetPort"] = port["port"]
    service_type = spec["type"]
    if service_type in ("NodePort", "LoadBalancer") and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and service_type in ("ClusterIP", "NodePort",
                                                                       "LoadBalancer"):
        spec["internalTrafficPolicy"] = "Cluster"
    if service_type == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if service_type != "ExternalName":
        # What the Service REST storage fills in on a single-stack IPv4 cluster.
        if not spec.get("ipFamilyPolicy"):
            spec["ipFamilyPolicy"] = "SingleStack"
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"]
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]


def _default_secret(obj):
    if not obj.get("type"):
        obj["type"] = "Opaque"
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(_str(value).encode("utf-8")).decode("ascii")


def _default_namespace(obj):
    meta = obj.get("metadata")
    if isinstance(meta, dict) and meta.get("name"):
        labels = meta.get("labels")
        if not isinstance(labels, dict):
            labels = meta["labels"] = {}
        labels["kubernetes.io/metadata.name"] = meta["name"]
    spec = obj.get("spec")
    if spec is None:
        spec = obj["spec"] = {}
    if isinstance(spec, dict) and spec.get("finalizers") is None:
        spec["finalizers"] = ["kubernetes"]
    status = obj.get("status")
    if status is None:
        status = obj["status"] = {}
    if isinstance(status, dict) and not status.get("phase"):
        status["phase"] = "Active"


def _default_endpoints(obj):
    for subset in _list(obj.get("subsets")):
        for port in _list(_dict(subset).get("ports")):
            if isinstance(port, dict) and not port.get("protocol"):
                port["protocol"] = "TCP"


def _default_node(obj):
    status = obj.get("status")
    if isinstance(status, dict) and status.get("allocatable") is None \
            and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])


_DEFAULTERS = {
    "pods": _default_pod,
    "deployments": _default_deployment,
    "replicasets": _default_replicaset,
    "services": _default_service,
    "secrets": _default_secret,
    "namespaces": _default_namespace,
    "endpoints": _default_endpoints,
    "nodes": _default_node,
}

_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs",
    "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte",
    "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos",
    "csi", "ephemeral", "image",
)


# ================================================================ validation entry point
def validate(resource, obj, old=None):
    """Status causes for everything wrong with ``obj``; [] when Kubernetes would accept it.

    ``old`` is the stored object on update (immutability rules apply then).
    """
    errs = _Causes()
    if not isinstance(obj, dict):
        errs.invalid("", GoText(type(obj).__name__), "the object must be a JSON object")
        return errs.items
    _validate_object_meta(errs, resource, _dict(obj.get("metadata")))
    fn = _VALIDATORS.get(resource)
    if fn is not None:
        fn(errs, obj)
    if isinstance(old, dict):
        _validate_meta_update(errs, _dict(obj.get("metadata")), _dict(old.get("metadata")))
        update_fn = _UPDATE_VALIDATORS.get(resource)
        if update_fn is not None:
            update_fn(errs, obj, old)
    return errs.items


# ================================================================ metadata
_TOTAL_ANNOTATION_SIZE = 256 * 1024


def _name_errors(resource, name):
    if resource == "namespaces":
        return dns1123_label_errors(name)
    if resource == "services":
        return dns1035_label_errors(name)
    return dns1123_subdomain_errors(name)


def _validate_object_meta(errs, resource, meta):
    name = _str(meta.get("name"))
    if not name:
        errs.required("metadata.name", "name or generateName is required")
    else:
        for msg in _name_errors(resource, name):
            errs.invalid("metadata.name", name, msg)
    namespace = _str(meta.get("namespace"))
    if NAMESPACED.get(resource, True):
        if not namespace:
            errs.required("metadata.namespace")
        else:
            for msg in dns1123_label_errors(namespace):
                errs.invalid("metadata.namespace", namespace, msg)
    elif namespace:
        errs.forbidden("metadata.namespace", "not allowed on this type")
    _validate_labels(errs, meta.get("labels"), "metadata.labels")
    _validate_annotations(errs, meta.get("annotations"), "metadata.annotations")
    _validate_owner_references(errs, meta.get("ownerReferences"), "metadata.ownerReferences")
    for finalizer in _list(meta.get("finalizers")):
        for msg in qualified_name_errors(_str(finalizer)):
            errs.invalid("metadata.finalizers", _str(finalizer), msg)
    for key in ("generation",):
        errs.nonnegative("metadata." + key, meta.get(key))


def _validate_labels(errs, labels, path):
    if labels is None:
        return
    if not isinstance(labels, dict):
        errs.invalid(path, GoText(json.dumps(labels)), "must be a map of string keys to string values")
        return
    for key, value in labels.items():
        for msg in qualified_name_errors(key):
            errs.invalid(path, key, msg)
        if not isinstance(value, str):
            errs.invalid(path, value, "label values must be strings")
            continue
        for msg in label_value_errors(value):
            errs.invalid(path, value, msg)


def _validate_annotations(errs, annotations, path):
    if annotations is None:
        return
    if not isinstance(annotations, dict):
        errs.invalid(path, GoText(json.dumps(annotations)),
                     "must be a map of string keys to string values")
        return
    total = 0
    for key, value in annotations.items():
        for msg in qualified_name_errors(key.lower()):
            errs.invalid(path, key, msg)
        if not isinstance(value, str):
            errs.invalid(path, value, "annotation values must be strings")
            continue
        total += len(key.encode("utf-8")) + len(value.encode("utf-8"))
    if total > _TOTAL_ANNOTATION_SIZE:
        errs.too_long(path, _TOTAL_ANNOTATION_SIZE)


def _validate_owner_references(errs, refs, path):
    controller = ""
    for ref in _list(refs):
        ref = _dict(ref)
        api_version = _str(ref.get("apiVersion"))
        if not api_version.rsplit("/", 1)[-1]:
            errs.invalid(path + ".apiVersion", api_version, "version must not be empty")
        if not _str(ref.get("kind")):
            errs.invalid(path + ".kind", _str(ref.get("kind")), "kind must not be empty")
        if not _str(ref.get("name")):
            errs.invalid(path + ".name", _str(ref.get("name")), "name must not be empty")
        if not _str(ref.get("uid")):
            errs.invalid(path + ".uid", _str(ref.get("uid")), "uid must not be empty")
        if ref.get("controller") is True:
            current = "%s/%s" % (_str(ref.get("kind")), _str(ref.get("name")))
            if controller:
                errs.invalid(path, GoText(json.dumps(refs, sort_keys=True)),
                             'Only one reference can have Controller set to true. Found "true" in '
                             "references for %s and %s" % (controller, current))
            else:
                controller = current


def _validate_meta_update(errs, meta, old_meta):
    # The server carries uid (and name/namespace from the URL) over when the body omits them.
    for key in ("name", "namespace", "uid"):
        new, previous = _str(meta.get(key)), _str(old_meta.get(key))
        if new and previous and new != previous:
            errs.invalid("metadata." + key, new, "field is immutable")


# ================================================================ label selectors
def _validate_label_selector(errs, selector, path):
    """``ValidateLabelSelector`` for a metav1.LabelSelector."""
    if selector is None:
        return
    if not isinstance(selector, dict):
        errs.invalid(path, GoText(json.dumps(selector)), "must be a label selector object")
        return
    _validate_labels(errs, selector.get("matchLabels"), path + ".matchLabels")
    for i, expr in enumerate(_list(selector.get("matchExpressions"))):
        expr = _dict(expr)
        epath = "%s.matchExpressions[%d]" % (path, i)
        operator = expr.get("operator")
        values = _list(expr.get("values"))
        if operator in ("In", "NotIn"):
            if not values:
                errs.required(epath + ".values", "must be specified when `operator` is 'In' or 'NotIn'")
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errs.forbidden(epath + ".values",
                               "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        else:
            errs.invalid(epath + ".operator", _str(operator), "not a valid selector operator")
        for msg in qualified_name_errors(_str(expr.get("key"))):
            errs.invalid(epath + ".key", _str(expr.get("key")), msg)
        for j, value in enumerate(values):
            for msg in label_value_errors(_str(value)):
                errs.invalid("%s.values[%d]" % (epath, j), _str(value), msg)


# ================================================================ pod spec
_RESTART_POLICIES = ["Always", "OnFailure", "Never"]
_DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
_PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
_PROTOCOLS = ["SCTP", "TCP", "UDP"]
_ENV_FIELD_PATHS = ["metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                    "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
                    "status.podIPs"]
_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]


def _validate_pod_spec(errs, spec, path):
    spec = _dict(spec)
    volumes = _validate_volumes(errs, spec.get("volumes"), path + ".volumes")
    names = set()
    containers = spec.get("containers")
    if not _list(containers):
        errs.required(path + ".containers")
    else:
        for i, ctr in enumerate(containers):
            cpath = "%s.containers[%d]" % (path, i)
            _validate_container(errs, _dict(ctr), cpath, volumes, names)
            _validate_probes(errs, _dict(ctr), cpath, allowed=True)
    for i, ctr in enumerate(_list(spec.get("initContainers"))):
        cpath = "%s.initContainers[%d]" % (path, i)
        ctr = _dict(ctr)
        _validate_container(errs, ctr, cpath, volumes, names)
        # Only restartable init containers (sidecars) may have probes.
        _validate_probes(errs, ctr, cpath, allowed=ctr.get("restartPolicy") == "Always")
    policy = spec.get("restartPolicy")
    if not policy:
        errs.required(path + ".restartPolicy")
    elif policy not in _RESTART_POLICIES:
        errs.not_supported(path + ".restartPolicy", policy, _RESTART_POLICIES)
    dns_policy = spec.get("dnsPolicy")
    if dns_policy and dns_policy not in _DNS_POLICIES:
        errs.not_supported(path + ".dnsPolicy", dns_policy, _DNS_POLICIES)
    _validate_labels(errs, spec.get("nodeSelector"), path + ".nodeSelector")
    for key in ("serviceAccountName", "nodeName"):
        value = _str(spec.get(key))
        if value:
            for msg in dns1123_subdomain_errors(value):
                errs.invalid("%s.%s" % (path, key), value, msg)
    for key in ("hostname", "subdomain"):
        value = _str(spec.get(key))
        if value:
            for msg in dns1123_label_errors(value):
                errs.invalid("%s.%s" % (path, key), value, msg)
    _validate_tolerations(errs, spec.get("tolerations"), path + ".tolerations")
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not _is_int(deadline) or not 1 <= deadline <= 2147483647):
        errs.invalid(path + ".activeDeadlineSeconds", deadline,
                     "must be between 1 and 2147483647, inclusive")
    errs.nonnegative(path + ".terminationGracePeriodSeconds", spec.get("terminationGracePeriodSeconds"))
    _validate_affinity(errs, spec.get("affinity"), path + ".affinity")


def _validate_volumes(errs, volumes, path):
    names = set()
    for i, volume in enumerate(_list(volumes)):
        volume = _dict(volume)
        vpath = "%s[%d]" % (path, i)
        name = _str(volume.get("name"))
        if not name:
            errs.required(vpath + ".name")
        else:
            for msg in dns1123_label_errors(name):
                errs.invalid(vpath + ".name", name, msg)
            if name in names:
                errs.duplicate(vpath + ".name", name)
            names.add(name)
        sources = [key for key in _VOLUME_SOURCES if volume.get(key) is not None]
        if not sources:
            errs.required(vpath, "must specify a volume type")
        for extra in sources[1:]:
            errs.forbidden("%s.%s" % (vpath, extra), "may not specify more than 1 volume type")
        secret = volume.get("secret")
        if isinstance(secret, dict) and not _str(secret.get("secretName")):
            errs.required(vpath + ".secret.secretName")
        config_map = volume.get("configMap")
        if isinstance(config_map, dict) and not _str(config_map.get("name")):
            errs.required(vpath + ".configMap.name")
        for source in ("secret", "configMap", "downwardAPI", "projected"):
            mode = _dict(volume.get(source)).get("defaultMode")
            if mode is not None and (not _is_int(mode) or not 0 <= mode <= 0o777):
                errs.invalid("%s.%s.defaultMode" % (vpath, source), mode,
                             "must be a number between 0 and 0777 (octal), both inclusive")
    return names


def _validate_container(errs, ctr, path, volumes, names):
    name = _str(ctr.get("name"))
    if not name:
        errs.required(path + ".name")
    else:
        for msg in dns1123_label_errors(name):
            errs.invalid(path + ".name", name, msg)
    if not _str(ctr.get("image")):
        errs.required(path + ".image")
    policy = ctr.get("terminationMessagePolicy")
    if not policy:
        errs.required(path + ".terminationMessagePolicy", "must be 'File' or 'FallbackToLogsOnError'")
    elif policy not in ("File", "FallbackToLogsOnError"):
        errs.not_supported(path + ".terminationMessagePolicy", policy, ["File", "FallbackToLogsOnError"])
    _validate_container_ports(errs, ctr.get("ports"), path + ".ports")
    _validate_env(errs, ctr.get("env"), path + ".env")
    _validate_env_from(errs, ctr.get("envFrom"), path + ".envFrom")
    _validate_volume_mounts(errs, ctr.get("volumeMounts"), path + ".volumeMounts", volumes)
    pull = ctr.get("imagePullPolicy")
    if not pull:
        errs.required(path + ".imagePullPolicy")
    elif pull not in _PULL_POLICIES:
        errs.not_supported(path + ".imagePullPolicy", pull, _PULL_POLICIES)
    _validate_resources(errs, _dict(ctr.get("resources")), path + ".resources")
    if name:
        if name in names:
            errs.duplicate(path + ".name", name)
        names.add(name)


def _validate_container_ports(errs, ports, path):
    names = set()
    for i, port in enumerate(_list(ports)):
        port = _dict(port)
        ppath = "%s[%d]" % (path, i)
        name = _str(port.get("name"))
        if name:
            msgs = port_name_errors(name)
            for msg in msgs:
                errs.invalid(ppath + ".name", name, msg)
            if not msgs:
                if name in names:
                    errs.duplicate(ppath + ".name", name)
                names.add(name)
        number = port.get("containerPort")
        if not number:
            errs.required(ppath + ".containerPort")
        else:
            for msg in port_num_errors(number):
                errs.invalid(ppath + ".containerPort", number, msg)
        host_port = port.get("hostPort")
        if host_port:
            for msg in port_num_errors(host_port):
                errs.invalid(ppath + ".hostPort", host_port, msg)
        _validate_protocol(errs, port.get("protocol"), ppath + ".protocol")


def _validate_protocol(errs, protocol, path):
    if not protocol:
        errs.required(path)
    elif protocol not in _PROTOCOLS:
        errs.not_supported(path, protocol, _PROTOCOLS)


def _validate_env(errs, env, path):
    for i, var in enumerate(_list(env)):
        var = _dict(var)
        epath = "%s[%d]" % (path, i)
        name = _str(var.get("name"))
        if not name:
            errs.required(epath + ".name")
        elif any(ord(ch) < 32 or ord(ch) > 126 or ch == "=" for ch in name):
            # RelaxedEnvironmentVariableValidation, on by default since 1.32.
            errs.invalid(epath + ".name", name, "a valid environment variable name must consist "
                                                 "only of printable ASCII characters other than '='")
        _validate_env_value_from(errs, var, epath + ".valueFrom")


def _validate_env_value_from(errs, var, path):
    value_from = var.get("valueFrom")
    if value_from is None:
        return
    value_from = _dict(value_from)
    sources = 0
    if value_from.get("fieldRef") is not None:
        sources += 1
        _validate_field_ref(errs, _dict(value_from["fieldRef"]), path + ".fieldRef")
    if value_from.get("resourceFieldRef") is not None:
        sources += 1
        if not _str(_dict(value_from["resourceFieldRef"]).get("resource")):
            errs.required(path + ".resourceFieldRef.resource")
    for key in ("configMapKeyRef", "secretKeyRef"):
        if value_from.get(key) is not None:
            sources += 1
            _validate_key_selector(errs, _dict(value_from[key]), "%s.%s" % (path, key))
    if sources == 0:
        errs.invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                               "`configMapKeyRef` or `secretKeyRef`")
    elif _str(var.get("value")):
        errs.invalid(path, "", "may not be specified when `value` is not empty")
    elif sources > 1:
        errs.invalid(path, "", "may not have more than one field specified at a time")


def _validate_field_ref(errs, ref, path):
    if not _str(ref.get("apiVersion")):
        errs.required(path + ".apiVersion")
        return
    field_path = _str(ref.get("fieldPath"))
    if not field_path:
        errs.required(path + ".fieldPath")
        return
    match = re.match(r"^(metadata\.(?:labels|annotations))\['(.*)'\]$", field_path)
    if match:
        subscript = match.group(2)
        if match.group(1) == "metadata.annotations":
            subscript = subscript.lower()
        for msg in qualified_name_errors(subscript):
            errs.invalid(path, subscript, msg)
    elif field_path not in _ENV_FIELD_PATHS:
        errs.not_supported(path + ".fieldPath", field_path, sorted(_ENV_FIELD_PATHS))


def _validate_key_selector(errs, selector, path):
    name = _str(selector.get("name"))
    for msg in dns1123_subdomain_errors(name):
        errs.invalid(path + ".name", name, msg)
    key = _str(selector.get("key"))
    if not key:
        errs.required(path + ".key")
    else:
        for msg in config_key_errors(key):
            errs.invalid(path + ".key", key, msg)


def _validate_env_from(errs, env_from, path):
    for i, source in enumerate(_list(env_from)):
        source = _dict(source)
        spath = "%s[%d]" % (path, i)
        refs = [key for key in ("configMapRef", "secretRef") if source.get(key) is not None]
        if not refs:
            errs.invalid(spath, "", "must specify one of: `configMapRef` or `secretRef`")
        elif len(refs) > 1:
            errs.invalid(spath, "", "may not have more than one field specified at a time")
        for key in refs:
            name = _str(_dict(source[key]).get("name"))
            for msg in dns1123_subdomain_errors(name):
                errs.invalid("%s.%s.name" % (spath, key), name, msg)


def _validate_volume_mounts(errs, mounts, path, volumes):
    paths = set()
    for i, mount in enumerate(_list(mounts)):
        mount = _dict(mount)
        mpath = "%s[%d]" % (path, i)
        name = _str(mount.get("name"))
        if not name:
            errs.required(mpath + ".name")
        elif name not in volumes:
            errs.not_found(mpath + ".name", name)
        mount_path = _str(mount.get("mountPath"))
        if not mount_path:
            errs.required(mpath + ".mountPath")
        elif mount_path in paths:
            errs.invalid(mpath + ".mountPath", mount_path, "must be unique")
        paths.add(mount_path)


def _validate_resources(errs, resources, path):
    limits = _dict(resources.get("limits"))
    requests = _dict(resources.get("requests"))
    parsed_limits = {}
    for kind, values, store in (("limits", limits, parsed_limits), ("requests", requests, None)):
        for name, value in values.items():
            rpath = "%s.%s[%s]" % (path, kind, name)
            if "/" not in name and name not in _STANDARD_CONTAINER_RESOURCES \
                    and not name.startswith("hugepages-"):
                errs.invalid(rpath, name, "must be a standard resource for containers")
            quantity = parse_quantity(value)
            if quantity is None:
                errs.invalid(rpath, _str(value), _QUANTITY_ERROR)
                continue
            if quantity < 0:
                errs.invalid(rpath, _quantity_text(value), "must be greater than or equal to 0")
            if store is not None:
                store[name] = quantity
    for name, value in requests.items():
        quantity = parse_quantity(value)
        if quantity is None or name not in parsed_limits:
            continue
        if quantity > parsed_limits[name]:
            errs.invalid(path + ".requests", _quantity_text(value),
                         "must be less than or equal to %s limit of %s"
                         % (name, _quantity_text(limits[name])))


def _quantity_text(value):
    return _go_number(value) if isinstance(value, (int, float)) else _str(value)


def _validate_probes(errs, ctr, path, allowed):
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = ctr.get(key)
        if probe is None:
            continue
        ppath = "%s.%s" % (path, key)
        if not allowed:
            errs.forbidden(ppath, "may not be set for init containers without restartPolicy=Always")
            continue
        probe = _dict(probe)
        _validate_handler(errs, probe, ppath)
        for field in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds",
                      "successThreshold", "failureThreshold"):
            errs.nonnegative("%s.%s" % (ppath, field), probe.get(field))
        grace = probe.get("terminationGracePeriodSeconds")
        if grace is not None and _is_int(grace) and grace <= 0:
            errs.invalid(ppath + ".terminationGracePeriodSeconds", grace, "must be greater than 0")
        if key != "readinessProbe" and probe.get("successThreshold", 1) != 1:
            errs.invalid(ppath + ".successThreshold", probe.get("successThreshold"), "must be 1")


def _validate_handler(errs, handler, path):
    found = 0
    for kind in ("exec", "httpGet", "tcpSocket", "grpc"):
        action = handler.get(kind)
        if action is None:
            continue
        if found:
            errs.forbidden("%s.%s" % (path, kind), "may not specify more than 1 handler type")
            continue
        found += 1
        action = _dict(action)
        apath = "%s.%s" % (path, kind)
        if kind == "exec":
            if not _list(action.get("command")):
                errs.required(apath + ".command")
        elif kind == "httpGet":
            if not _str(action.get("path")):
                errs.required(apath + ".path")
            _validate_port_num_or_name(errs, action.get("port"), apath + ".port")
            scheme = action.get("scheme")
            if scheme not in ("HTTP", "HTTPS"):
                errs.not_supported(apath + ".scheme", _str(scheme), ["HTTP", "HTTPS"])
        elif kind == "tcpSocket":
            _validate_port_num_or_name(errs, action.get("port"), apath + ".port")
        else:
            for msg in port_num_errors(action.get("port")):
                errs.invalid(apath + ".port", action.get("port"), msg)
    if not found:
        errs.required(path, "must specify a handler type")


def _validate_port_num_or_name(errs, port, path):
    if isinstance(port, str):
        for msg in port_name_errors(port):
            errs.invalid(path, port, msg)
    else:
        for msg in port_num_errors(port):
            errs.invalid(path, port if port is not None else 0, msg)


def _validate_tolerations(errs, tolerations, path):
    for i, tol in enumerate(_list(tolerations)):
        tol = _dict(tol)
        tpath = "%s[%d]" % (path, i)
        key, operator = _str(tol.get("key")), _str(tol.get("operator"))
        effect, value = _str(tol.get("effect")), _str(tol.get("value"))
        if key:
            for msg in qualified_name_errors(key):
                errs.invalid(tpath + ".key", key, msg)
        if not key and operator != "Exists":
            errs.invalid(tpath + ".operator", operator, "operator must be Exists when `key` is empty, "
                                                        'which means "match all values and all keys"')
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.invalid(tpath + ".effect", effect,
                         "effect must be 'NoExecute' when `tolerationSeconds` is set")
        if operator in ("Equal", ""):
            msgs = label_value_errors(value)
            if msgs:
                errs.invalid(tpath + ".operator", value, ";".join(msgs))
        elif operator == "Exists":
            if value:
                errs.invalid(tpath + ".operator", GoText(json.dumps(tol, sort_keys=True)),
                             "value must be empty when `operator` is 'Exists'")
        else:
            errs.not_supported(tpath + ".operator", operator, ["Equal", "Exists"])
        if effect and effect not in _TAINT_EFFECTS:
            errs.not_supported(tpath + ".effect", effect, _TAINT_EFFECTS)


def _validate_affinity(errs, affinity, path):
    affinity = _dict(affinity)
    for kind in ("podAffinity", "podAntiAffinity"):
        spec = _dict(affinity.get(kind))
        kpath = "%s.%s" % (path, kind)
        for i, term in enumerate(_list(spec.get("requiredDuringSchedulingIgnoredDuringExecution"))):
            _validate_pod_affinity_term(
                errs, _dict(term), "%s.requiredDuringSchedulingIgnoredDuringExecution[%d]" % (kpath, i))
        for i, weighted in enumerate(_list(spec.get("preferredDuringSchedulingIgnoredDuringExecution"))):
            weighted = _dict(weighted)
            wpath = "%s.preferredDuringSchedulingIgnoredDuringExecution[%d]" % (kpath, i)
            weight = weighted.get("weight")
            if not _is_int(weight) or not 1 <= weight <= 100:
                errs.invalid(wpath + ".weight", weight, "must be in the range 1-100")
            _validate_pod_affinity_term(errs, _dict(weighted.get("podAffinityTerm")),
                                        wpath + ".podAffinityTerm")
    node = _dict(_dict(affinity.get("nodeAffinity")).get("requiredDuringSchedulingIgnoredDuringExecution"))
    for i, term in enumerate(_list(node.get("nodeSelectorTerms"))):
        for j, expr in enumerate(_list(_dict(term).get("matchExpressions"))):
            operator = _dict(expr).get("operator")
            valid = ["DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"]
            if operator not in valid:
                errs.not_supported(
                    "%s.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[%d]"
                    ".matchExpressions[%d].operator" % (path, i, j), _str(operator), valid)


def _validate_pod_affinity_term(errs, term, path):
    _validate_label_selector(errs, term.get("labelSelector"), path + ".labelSelector")
    for namespace in _list(term.get("namespaces")):
        for msg in dns1123_label_errors(_str(namespace)):
            errs.invalid(path + ".namespace", _str(namespace), msg)
    topology_key = _str(term.get("topologyKey"))
    if not topology_key:
        errs.required(path + ".topologyKey", "can not be empty")
    for msg in qualified_name_errors(topology_key):
        errs.invalid(path + ".topologyKey", topology_key, msg)


def _validate_pod_template(errs, template, path):
    template = _dict(template)
    meta = _dict(template.get("metadata"))
    _validate_labels(errs, meta.get("labels"), path + ".metadata.labels")
    _validate_annotations(errs, meta.get("annotations"), path + ".metadata.annotations")
    spec = _dict(template.get("spec"))
    _validate_pod_spec(errs, spec, path + ".spec")
    if _list(spec.get("ephemeralContainers")):
        errs.forbidden(path + ".spec.ephemeralContainers",
                       "ephemeral containers not allowed in pod template")


# ================================================================ kinds
def _validate_pod(errs, obj):
    _validate_pod_spec(errs, obj.get("spec"), "spec")


def _validate_controller_spec(errs, obj, kind_word):
    """Deployment and ReplicaSet: replicas, selector and the template it must select."""
    spec = _dict(obj.get("spec"))
    errs.nonnegative("spec.replicas", spec.get("replicas"))
    selector = spec.get("selector")
    if selector is None:
        errs.required("spec.selector")
    else:
        _validate_label_selector(errs, selector, "spec.selector")
        if isinstance(selector, dict) and not (_dict(selector.get("matchLabels"))
                                               or _list(selector.get("matchExpressions"))):
            errs.invalid("spec.selector", _go_label_selector(selector),
                         "empty selector is invalid for %s" % kind_word)
    try:
        compiled = selector_from_label_selector(selector if isinstance(selector, dict) or selector is None
                                                else {})
    except SelectorError:
        errs.invalid("spec.selector", _go_label_selector(selector), "invalid label selector")
    else:
        template = _dict(spec.get("template"))
        labels = _dict(_dict(template.get("metadata")).get("labels"))
        if not compiled.empty and not compiled.matches(labels):
            raw_labels = _dict(template.get("metadata")).get("labels")
            errs.invalid("spec.template.metadata.labels",
                         GoText(_go_string_map(raw_labels if isinstance(raw_labels, dict) else None)),
                         "`selector` does not match template `labels`")
        _validate_pod_template(errs, template, "spec.template")
        template_spec = _dict(template.get("spec"))
        policy = template_spec.get("restartPolicy")
        if policy != "Always":
            errs.not_supported("spec.template.spec.restartPolicy", _str(policy), ["Always"])
        if template_spec.get("activeDeadlineSeconds") is not None:
            errs.forbidden("spec.template.spec.activeDeadlineSeconds",
                           "activeDeadlineSeconds in ReplicaSet is not Supported")
    errs.nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    return spec


def _validate_deployment(errs, obj):
    spec = _validate_controller_spec(errs, obj, "deployment")
    _validate_strategy(errs, spec.get("strategy"), "spec.strategy")
    errs.nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None:
        errs.nonnegative("spec.progressDeadlineSeconds", deadline)
        min_ready = spec.get("minReadySeconds") or 0
        if _is_int(deadline) and _is_int(min_ready) and deadline <= min_ready:
            errs.invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds")


def _validate_strategy(errs, strategy, path):
    strategy = _dict(strategy)
    kind = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            errs.forbidden(path + ".rollingUpdate",
                           "may not be specified when strategy `type` is 'Recreate'")
    elif kind == "RollingUpdate":
        if rolling is None:
            errs.required(path + ".rollingUpdate", "this should be defaulted and never be nil")
        else:
            _validate_rolling_update(errs, _dict(rolling), path + ".rollingUpdate")
    else:
        errs.not_supported(path + ".type", _str(kind), ["Recreate", "RollingUpdate"])


def _int_or_percent_value(value):
    if isinstance(value, str) and _PERCENT_RE.match(value):
        return int(value[:-1]), True
    if _is_int(value):
        return value, False
    return 0, False


def _validate_int_or_percent(errs, value, path):
    if isinstance(value, str):
        for msg in percent_errors(value):
            errs.invalid(path, _go_int_or_string(value), msg)
    elif _is_int(value):
        errs.nonnegative(path, value)
    elif value is not None:
        errs.invalid(path, value, "must be an integer or percentage (e.g '5%')")


def _validate_rolling_update(errs, rolling, path):
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    _validate_int_or_percent(errs, unavailable, path + ".maxUnavailable")
    _validate_int_or_percent(errs, surge, path + ".maxSurge")
    if _int_or_percent_value(unavailable)[0] == 0 and _int_or_percent_value(surge)[0] == 0:
        errs.invalid(path + ".maxUnavailable", _go_int_or_string(unavailable if unavailable is not None else 0),
                     "may not be 0 when `maxSurge` is 0")
    amount, is_percent = _int_or_percent_value(unavailable)
    if is_percent and amount > 100:
        errs.invalid(path + ".maxUnavailable", _go_int_or_string(unavailable),
                     "must not be greater than 100%")


def _validate_replicaset(errs, obj):
    # Kubernetes' ReplicaSet validation reuses the Deployment text here.
    _validate_controller_spec(errs, obj, "deployment")


_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def _validate_service(errs, obj):
    spec = _dict(obj.get("spec"))
    service_type = spec.get("type")
    if service_type not in _SERVICE_TYPES:
        errs.not_supported("spec.type", _str(service_type), _SERVICE_TYPES)
    cluster_ip = _str(spec.get("clusterIP"))
    headless = cluster_ip == "None"
    ports = _list(spec.get("ports"))
    if service_type == "ExternalName":
        if cluster_ip:
            errs.forbidden("spec.clusterIPs", "may not be set for ExternalName services")
        external = _str(spec.get("externalName"))
        if not external:
            errs.required("spec.externalName")
        else:
            for msg in dns1123_subdomain_errors(external.rstrip(".")):
                errs.invalid("spec.externalName", external, msg)
    elif not ports and not headless:
        errs.required("spec.ports")
    if service_type != "ExternalName":
        # Kubernetes validates the IPs through spec.clusterIPs (clusterIP is its first entry).
        for i, ip in enumerate(_cluster_ips(spec)):
            if i == 0 and ip == "None":
                continue
            for msg in ip_errors(ip):
                errs.invalid("spec.clusterIPs[%d]" % i, ip, msg)
    if headless and service_type not in (None, "ClusterIP"):
        errs.invalid("spec.type", _str(service_type), "must be ClusterIP when `clusterIP` is 'None'")
    names = set()
    seen = set()
    for i, port in enumerate(ports):
        port = _dict(port)
        ppath = "spec.ports[%d]" % i
        name = _str(port.get("name"))
        if len(ports) > 1 and not name:
            errs.required(ppath + ".name")
        elif name:
            for msg in dns1123_label_errors(name):
                errs.invalid(ppath + ".name", name, msg)
            if name in names:
                errs.duplicate(ppath + ".name", name)
            names.add(name)
        number = port.get("port")
        for msg in port_num_errors(number):
            errs.invalid(ppath + ".port", number if number is not None else 0, msg)
        _validate_protocol(errs, port.get("protocol"), ppath + ".protocol")
        _validate_port_num_or_name(errs, port.get("targetPort"), ppath + ".targetPort")
        if service_type == "ClusterIP" and port.get("nodePort"):
            errs.forbidden(ppath + ".nodePort", "may not be used when `type` is 'ClusterIP'")
        node_port = port.get("nodePort")
        if node_port:
            for msg in port_num_errors(node_port):
                errs.invalid(ppath + ".nodePort", node_port, msg)
        key = (_str(port.get("protocol")), number)
        if key in seen:
            errs.duplicate(ppath, GoText(
                'core.ServicePort{Name:"", Protocol:%s, AppProtocol:(*string)(nil), Port:%s, '
                'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
                % (_go_quote(key[0]), _go_value(number))))
        seen.add(key)
    _validate_labels(errs, spec.get("selector"), "spec.selector")
    affinity = spec.get("sessionAffinity")
    if affinity not in ("ClientIP", "None"):
        errs.not_supported("spec.sessionAffinity", _str(affinity), ["ClientIP", "None"])
    for key in ("internalTrafficPolicy", "externalTrafficPolicy"):
        policy = spec.get(key)
        if policy and policy not in ("Cluster", "Local"):
            errs.not_supported("spec." + key, policy, ["Cluster", "Local"])
    for i, ip in enumerate(_list(spec.get("externalIPs"))):
        for msg in ip_errors(_str(ip)):
            errs.invalid("spec.externalIPs[%d]" % i, _str(ip), msg)


_PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]
_INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_PATH_SUFFIXES = ("/..", "/.")


def _validate_ingress(errs, obj):
    spec = _dict(obj.get("spec"))
    rules = _list(spec.get("rules"))
    if not rules and spec.get("defaultBackend") is None:
        errs.invalid("spec", GoText("[]networking.IngressRule(nil)"),
                     "either `defaultBackend` or `rules` must be specified")
    if spec.get("defaultBackend") is not None:
        _validate_ingress_backend(errs, _dict(spec["defaultBackend"]), "spec.defaultBackend")
    for i, rule in enumerate(rules):
        rule = _dict(rule)
        rpath = "spec.rules[%d]" % i
        host = _str(rule.get("host"))
        if host:
            if _is_ip(host):
                errs.invalid(rpath + ".host", host, "must be a DNS name, not an IP address")
            msgs = wildcard_subdomain_errors(host) if "*" in host else dns1123_subdomain_errors(host)
            for msg in msgs:
                errs.invalid(rpath + ".host", host, msg)
        http = rule.get("http")
        if http is not None:
            paths = _list(_dict(http).get("paths"))
            if not paths:
                errs.required(rpath + ".http.paths")
            for j, entry in enumerate(paths):
                _validate_ingress_path(errs, _dict(entry), "%s.http.paths[%d]" % (rpath, j))
    for i, tls in enumerate(_list(spec.get("tls"))):
        tls = _dict(tls)
        for j, host in enumerate(_list(tls.get("hosts"))):
            host = _str(host)
            msgs = wildcard_subdomain_errors(host) if "*" in host else dns1123_subdomain_errors(host)
            for msg in msgs:
                errs.invalid("spec.tls[%d].hosts[%d]" % (i, j), host, msg)
        secret = _str(tls.get("secretName"))
        if secret:
            for msg in dns1123_subdomain_errors(secret):
                errs.invalid("spec.tls[%d].secretName" % i, secret, msg)
    class_name = _str(spec.get("ingressClassName"))
    if class_name:
        for msg in dns1123_subdomain_errors(class_name):
            errs.invalid("spec.ingressClassName", class_name, msg)


def _validate_ingress_path(errs, entry, path):
    path_type = entry.get("pathType")
    value = _str(entry.get("path"))
    if not path_type:
        errs.required(path + ".pathType", "pathType must be specified")
        return
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.invalid(path + ".path", value, "must be an absolute path")
        if value:
            for seq in _INVALID_PATH_SEQUENCES:
                if seq in value:
                    errs.invalid(path + ".path", value, "must not contain '%s'" % seq)
            for suffix in _INVALID_PATH_SUFFIXES:
                if value.endswith(suffix):
                    errs.invalid(path + ".path", value, "cannot end with '%s'" % suffix)
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.invalid(path + ".path", value, "must be an absolute path")
    else:
        errs.not_supported(path + ".pathType", _str(path_type), _PATH_TYPES)
    _validate_ingress_backend(errs, _dict(entry.get("backend")), path + ".backend")


def _validate_ingress_backend(errs, backend, path):
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        errs.invalid(path, "", "cannot set both resource and service backends")
    elif resource is not None:
        resource = _dict(resource)
        if not _str(resource.get("kind")):
            errs.required(path + ".resource.kind")
        if not _str(resource.get("name")):
            errs.required(path + ".resource.name")
    elif service is not None:
        service = _dict(service)
        name = _str(service.get("name"))
        if not name:
            errs.required(path + ".service.name")
        else:
            for msg in dns1035_label_errors(name):
                errs.invalid(path + ".service.name", name, msg)
        port = _dict(service.get("port"))
        port_name, number = _str(port.get("name")), port.get("number")
        if port_name and number:
            errs.invalid(path, "", "cannot set both port name & port number")
        elif port_name:
            for msg in port_name_errors(port_name):
                errs.invalid(path + ".service.port.name", port_name, msg)
        elif number:
            for msg in port_num_errors(number):
                errs.invalid(path + ".service.port.number", number, msg)
        else:
            errs.required(path, "port name or number is required")
    else:
        errs.invalid(path, "", "resource or service backend is required")


_MAX_DATA_SIZE = 1024 * 1024


def _validate_config_map(errs, obj):
    data, binary = obj.get("data"), obj.get("binaryData")
    total = 0
    for key, value in _dict(data).items():
        for msg in config_key_errors(key):
            errs.invalid("data[%s]" % key, key, msg)
        if key in _dict(binary):
            errs.invalid("data[%s]" % key, key, "duplicate of key present in binaryData")
        if not isinstance(value, str):
            errs.invalid("data[%s]" % key, value, "must be a string")
            continue
        total += len(value.encode("utf-8"))
    for key, value in _dict(binary).items():
        for msg in config_key_errors(key):
            errs.invalid("binaryData[%s]" % key, key, msg)
        decoded = _b64decode(value)
        if decoded is None:
            errs.invalid("binaryData[%s]" % key, "<binary data>", "must be valid base64")
        else:
            total += len(decoded)
    if total > _MAX_DATA_SIZE:
        errs.too_long("", _MAX_DATA_SIZE)
    _validate_immutable_flag(errs, obj)


def _b64decode(value):
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def _validate_secret(errs, obj):
    data = _dict(obj.get("data"))
    total = 0
    decoded = {}
    for key, value in data.items():
        for msg in config_key_errors(key):
            errs.invalid("data[%s]" % key, key, msg)
        raw = _b64decode(value)
        if raw is None:
            # Never echo secret material back to the client.
            errs.invalid("data[%s]" % key, "<secret contents redacted>",
                         "illegal base64 data: secret data values must be base64-encoded")
            continue
        decoded[key] = raw
        total += len(raw)
    if total > _MAX_DATA_SIZE:
        errs.too_long("data", _MAX_DATA_SIZE)
    secret_type = _str(obj.get("type"))
    for key in _SECRET_REQUIRED_KEYS.get(secret_type, ()):
        if key not in data:
            errs.required("data[%s]" % key)
    if secret_type == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        errs.required("data[username]")
        errs.required("data[password]")
    if secret_type == "kubernetes.io/service-account-token":
        annotations = _dict(_dict(obj.get("metadata")).get("annotations"))
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.required("metadata.annotations[kubernetes.io/service-account.name]")
    for key in (".dockercfg", ".dockerconfigjson"):
        if key in decoded and secret_type in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
            try:
                json.loads(decoded[key])
            except ValueError as err:
                errs.invalid("data[%s]" % key, "<secret contents redacted>", str(err))
    _validate_immutable_flag(errs, obj)


def _validate_immutable_flag(errs, obj):
    immutable = obj.get("immutable")
    if immutable is not None and not isinstance(immutable, bool):
        errs.invalid("immutable", immutable, "must be a boolean")


def _validate_namespace(errs, obj):
    for i, finalizer in enumerate(_list(_dict(obj.get("spec")).get("finalizers"))):
        finalizer = _str(finalizer)
        fpath = "spec.finalizers[%d]" % i
        for msg in qualified_name_errors(finalizer):
            errs.invalid(fpath, finalizer, msg)
        if "/" not in finalizer and finalizer != "kubernetes":
            errs.invalid(fpath, finalizer, "name is neither a standard finalizer name nor is it "
                                           "fully qualified")


def _validate_endpoints(errs, obj):
    for i, subset in enumerate(_list(obj.get("subsets"))):
        subset = _dict(subset)
        spath = "subsets[%d]" % i
        addresses, not_ready = _list(subset.get("addresses")), _list(subset.get("notReadyAddresses"))
        if not addresses and not not_ready:
            errs.required(spath, "must specify `addresses` or `notReadyAddresses`")
        for key, items in (("addresses", addresses), ("notReadyAddresses", not_ready)):
            for j, address in enumerate(items):
                address = _dict(address)
                apath = "%s.%s[%d]" % (spath, key, j)
                ip = _str(address.get("ip"))
                if not ip:
                    errs.required(apath + ".ip")
                else:
                    for msg in ip_errors(ip):
                        errs.invalid(apath + ".ip", ip, msg)
                hostname = _str(address.get("hostname"))
                if hostname:
                    for msg in dns1123_label_errors(hostname):
                        errs.invalid(apath + ".hostname", hostname, msg)
        ports = _list(subset.get("ports"))
        for j, port in enumerate(ports):
            port = _dict(port)
            ppath = "%s.ports[%d]" % (spath, j)
            name = _str(port.get("name"))
            if len(ports) > 1 and not name:
                errs.required(ppath + ".name")
            elif name:
                for msg in dns1123_label_errors(name):
                    errs.invalid(ppath + ".name", name, msg)
            for msg in port_num_errors(port.get("port")):
                errs.invalid(ppath + ".port", port.get("port"), msg)
            _validate_protocol(errs, port.get("protocol"), ppath + ".protocol")


def _validate_event(errs, obj):
    involved = obj.get("involvedObject")
    if not isinstance(involved, dict) or not involved:
        errs.required("involvedObject")
        involved = {}
    namespace = _str(_dict(obj.get("metadata")).get("namespace"))
    involved_ns = _str(involved.get("namespace"))
    if obj.get("eventTime"):
        if not involved_ns and namespace not in ("default", "kube-system"):
            errs.invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
        if not _str(obj.get("reportingComponent")):
            errs.required("reportingComponent")
        if not _str(obj.get("reportingInstance")):
            errs.required("reportingInstance")
        if not _str(obj.get("action")):
            errs.required("action")
        if not _str(obj.get("reason")):
            errs.required("reason")
        event_type = _str(obj.get("type"))
        if event_type not in ("Normal", "Warning"):
            errs.invalid("type", "", "has invalid value: %s" % event_type)
    elif involved_ns:
        if namespace != involved_ns:
            errs.invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    elif namespace not in ("", "default"):
        errs.invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")


def _validate_lease(errs, obj):
    spec = _dict(obj.get("spec"))
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not _is_int(duration) or duration <= 0):
        errs.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0")
    transitions = spec.get("leaseTransitions")
    if transitions is not None and (not _is_int(transitions) or transitions < 0):
        errs.invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0")
    for key in ("acquireTime", "renewTime"):
        value = spec.get(key)
        if value is not None and _parse_time(value) is None:
            errs.invalid("spec." + key, _str(value), "must be an RFC 3339 date-time with microseconds "
                                                     "(e.g. 2024-01-02T15:04:05.000000Z)")


def _parse_time(value):
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


_VALIDATORS = {
    "pods": _validate_pod,
    "deployments": _validate_deployment,
    "replicasets": _validate_replicaset,
    "services": _validate_service,
    "ingresses": _validate_ingress,
    "configmaps": _validate_config_map,
    "secrets": _validate_secret,
    "namespaces": _validate_namespace,
    "endpoints": _validate_endpoints,
    "events": _validate_event,
    "leases": _validate_lease,
}


# ================================================================ updates
def _normalized_selector(selector):
    selector = _dict(selector)
    return (_dict(selector.get("matchLabels")), _list(selector.get("matchExpressions")))


def _validate_selector_immutable(errs, obj, old):
    new_selector = _dict(obj.get("spec")).get("selector")
    old_selector = _dict(old.get("spec")).get("selector")
    if _normalized_selector(new_selector) != _normalized_selector(old_selector):
        errs.invalid("spec.selector", _go_label_selector(new_selector), "field is immutable")


def _cluster_ips(spec):
    ips = [_str(ip) for ip in _list(spec.get("clusterIPs"))]
    cluster_ip = _str(spec.get("clusterIP"))
    if cluster_ip and (not ips or ips[0] != cluster_ip):
        ips = [cluster_ip] + ips[1:]
    return ips


def _validate_service_update(errs, obj, old):
    spec, old_spec = _dict(obj.get("spec")), _dict(old.get("spec"))
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return
    new_ips, old_ips = _cluster_ips(spec), _cluster_ips(old_spec)
    # An empty clusterIP on update means "keep it" (the server copies the old one over).
    if new_ips and old_ips and new_ips[0] != old_ips[0]:
        errs.invalid("spec.clusterIPs[0]", new_ips, "may not change once set")


def _validate_data_update(errs, obj, old, data_keys):
    if old.get("immutable") is not True:
        return
    if obj.get("immutable") is not True:
        errs.forbidden("immutable", "field is immutable when `immutable` is set")
    for key in data_keys:
        if _dict(obj.get(key)) != _dict(old.get(key)):
            errs.forbidden(key, "field is immutable when `immutable` is set")


def _validate_secret_update(errs, obj, old):
    new_type, old_type = _str(obj.get("type")), _str(old.get("type"))
    if old_type and new_type != old_type:
        errs.invalid("type", new_type, "field is immutable")
    _validate_data_update(errs, obj, old, ("data",))


_UPDATE_VALIDATORS = {
    "deployments": _validate_selector_immutable,
    "replicasets": _validate_selector_immutable,
    "services": _validate_service_update,
    "configmaps": lambda errs, obj, old: _validate_data_update(errs, obj, old, ("data", "binaryData")),
    "secrets": _validate_secret_update,
}
