"""A container's environment: the pod spec's env (values, Secrets, ConfigMaps, fields),
plus what the sandbox gives every process (its address and the "DNS" map)."""
import base64
import json
import os
import re

from ..apiserver.quantity import QuantityError, parse
from ..apiserver.resources import BY_PLURAL

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SECRETS = BY_PLURAL["secrets"]
CONFIGMAPS = BY_PLURAL["configmaps"]
SERVICES = BY_PLURAL["services"]
PODS = BY_PLURAL["pods"]
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SANDBOX_ID")
VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ConfigError(Exception):
    """What Kubernetes reports as CreateContainerConfigError."""


def parse_memory(text):
    if not text:
        return None
    try:
        return int(parse(text)[0])
    except (QuantityError, TypeError):
        return None


def _secret_value(store, namespace, ref):
    name, key = ref.get("name"), ref.get("key")
    secret = store.find(SECRETS, namespace, name)
    if secret is None:
        if ref.get("optional"):
            return None
        raise ConfigError('secret "%s" not found' % name)
    data = secret.get("data") or {}
    if key not in data:
        if ref.get("optional"):
            return None
        raise ConfigError("couldn't find key %s in Secret %s/%s" % (key, namespace, name))
    return base64.b64decode(data[key]).decode("utf-8", "replace")


def _configmap_value(store, namespace, ref):
    name, key = ref.get("name"), ref.get("key")
    cm = store.find(CONFIGMAPS, namespace, name)
    if cm is None:
        if ref.get("optional"):
            return None
        raise ConfigError('configmap "%s" not found' % name)
    data = cm.get("data") or {}
    if key not in data:
        if ref.get("optional"):
            return None
        raise ConfigError("couldn't find key %s in ConfigMap %s/%s" % (key, namespace, name))
    return data[key]


def _field_value(pod, path):
    meta = pod["metadata"]
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
        "status.podIP": (pod.get("status") or {}).get("podIP", ""),
        "status.hostIP": (pod.get("status") or {}).get("hostIP", ""),
    }
    if path in simple:
        return simple[path]
    match = re.match(r"metadata\.(labels|annotations)\['(.+)'\]$", path)
    if match:
        return (meta.get(match.group(1)) or {}).get(match.group(2), "")
    raise ConfigError("unsupported fieldRef fieldPath %s" % path)


def hosts_map(store, namespace):
    """The sandbox has no DNS: every Service name a pod could use, mapped to its address."""
    hosts = {}
    for svc in store.list(SERVICES)[0]:
        ip = svc["spec"].get("clusterIP")
        name, ns = svc["metadata"]["name"], svc["metadata"]["namespace"]
        if ip and ip != "None":
            for host in ("%s.%s" % (name, ns), "%s.%s.svc" % (name, ns), "%s.%s.svc.cluster.local" % (name, ns)):
                hosts[host] = ip
            if ns == namespace:
                hosts[name] = ip
    # Headless Services: <hostname>.<subdomain> of their pods (kafka-0.kafka-headless).
    for pod in store.list(PODS, namespace)[0]:
        spec, status = pod["spec"], pod.get("status") or {}
        if spec.get("hostname") and spec.get("subdomain") and status.get("podIP"):
            base = "%s.%s" % (spec["hostname"], spec["subdomain"])
            for host in (base, base + "." + namespace, base + "." + namespace + ".svc",
                         base + "." + namespace + ".svc.cluster.local"):
                hosts[host] = status["podIP"]
    return hosts


def _named_port(container, name, default):
    for port in container.get("ports") or []:
        if port.get("name") == name:
            return port["containerPort"]
    return default


def container_environment(kubelet, pod, container, behaviour):
    store = kubelet.store
    current = kubelet.current(pod) or pod
    namespace = pod["metadata"]["namespace"]
    env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
    env["PYTHONPATH"] = ROOT
    env["PYTHONUNBUFFERED"] = "1"
    resolved = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref = source["configMapRef"]
            cm = store.find(CONFIGMAPS, namespace, ref.get("name"))
            if cm is None and not ref.get("optional"):
                raise ConfigError('configmap "%s" not found' % ref.get("name"))
            for key, value in ((cm or {}).get("data") or {}).items():
                resolved[prefix + key] = value
        if "secretRef" in source:
            ref = source["secretRef"]
            secret = store.find(SECRETS, namespace, ref.get("name"))
            if secret is None and not ref.get("optional"):
                raise ConfigError('secret "%s" not found' % ref.get("name"))
            for key, value in ((secret or {}).get("data") or {}).items():
                resolved[prefix + key] = base64.b64decode(value).decode("utf-8", "replace")
    for item in container.get("env") or []:
        name = item["name"]
        if "valueFrom" in item:
            source = item["valueFrom"]
            if "secretKeyRef" in source:
                value = _secret_value(store, namespace, source["secretKeyRef"])
            elif "configMapKeyRef" in source:
                value = _configmap_value(store, namespace, source["configMapKeyRef"])
            elif "fieldRef" in source:
                value = _field_value(current, source["fieldRef"].get("fieldPath", ""))
            else:
                raise ConfigError("env %s: unsupported valueFrom %s" % (name, sorted(source)))
            if value is None:
                continue
        else:
            # $(VAR) references to earlier variables, as Kubernetes expands them.
            value = VAR_REF.sub(lambda m: resolved.get(m.group(1), m.group(0)), item.get("value", ""))
        resolved[name] = value
    env.update(resolved)
    ports = [p["containerPort"] for p in container.get("ports") or [] if p.get("containerPort")]
    env.update({
        "POD_IP": (current.get("status") or {}).get("podIP", ""),
        "POD_NAME": pod["metadata"]["name"],
        "POD_NAMESPACE": namespace,
        "NODE_NAME": pod["spec"].get("nodeName", ""),
        "HOSTNAME": pod["metadata"]["name"],
        "APP_HTTP_PORT": str(_named_port(container, "http", ports[0] if ports else 8080)),
        "APP_METRICS_PORT": str(_named_port(container, "metrics", 9090)),
        "SANDBOX_TCP_PORTS": ",".join(str(p) for p in ports),
        "SANDBOX_HOSTS": json.dumps(hosts_map(store, namespace), sort_keys=True),
    })
    env.update(behaviour.environment())
    return env
