# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes client shared by the collection's modules.

One ``Client`` is built per module run from the official ``kubernetes`` package (its kubeconfig
loader, its in-cluster loader, its ``Configuration`` and ``ApiClient``). It calls the few REST paths
the modules need directly -- no API discovery -- with dict bodies, and returns JSON responses as
dicts. Every API failure becomes a ``DeployError`` whose message carries the API server's own
Status message, code and reason, plus what was left untouched.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import traceback

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError

try:
    import kubernetes
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    import urllib3
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

    class ApiException(Exception):  # so `except ApiException` stays valid without the library
        status = None
        reason = None
        body = None

    class ConfigException(Exception):
        pass


# Deep-copied and extended by every module that talks to Kubernetes (see meta/runtime.yml, group k8s).
K8S_AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "raw", "no_log": True},
    "context": {"type": "str"},
    "host": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"]},
    "proxy": {"type": "str"},
}

# Environment fallbacks, first one set wins. Like kubernetes.core: K8S_AUTH_<OPTION> first, then
# K8S_AUTH_<name the kubernetes client uses> (VERIFY_SSL, SSL_CA_CERT, CERT_FILE, KEY_FILE).
AUTH_ENV = {
    "kubeconfig": ("K8S_AUTH_KUBECONFIG",),
    "context": ("K8S_AUTH_CONTEXT",),
    "host": ("K8S_AUTH_HOST",),
    "api_key": ("K8S_AUTH_API_KEY",),
    "validate_certs": ("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL"),
    "ca_cert": ("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT"),
    "client_cert": ("K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE"),
    "client_key": ("K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"),
    "proxy": ("K8S_AUTH_PROXY",),
}

FIELD_MANAGER = "llm-research-lab-deploy"
NOTHING_CHANGED = "nothing was changed"

PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}

# kind -> (API prefix, plural, namespaced). Only the kinds the modules touch: no discovery needed.
KINDS = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Service": ("/api/v1", "services", True),
    "Pod": ("/api/v1", "pods", True),
    "Event": ("/api/v1", "events", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses", True),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases", True),
}

API_VERSIONS = {
    "Namespace": "v1", "Service": "v1", "Pod": "v1", "Event": "v1",
    "Deployment": "apps/v1", "ReplicaSet": "apps/v1",
    "Ingress": "networking.k8s.io/v1", "Lease": "coordination.k8s.io/v1",
}

# Request timeouts: (connect, read) seconds for ordinary calls.
REQUEST_TIMEOUT = (10, 60)


class Ref(object):
    """One object: reads as 'Service llm-research-lab/research-lab-api' in messages.

    Deliberately not a tuple, so that '%s' % ref formats it instead of unpacking it.
    """

    __slots__ = ("kind", "namespace", "name")

    def __init__(self, kind, namespace, name):
        self.kind = kind
        self.namespace = namespace
        self.name = name

    def __iter__(self):
        return iter((self.kind, self.namespace, self.name))

    def __eq__(self, other):
        return isinstance(other, Ref) and tuple(self) == tuple(other)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(tuple(self))

    def __repr__(self):
        return "Ref(%r, %r, %r)" % tuple(self)

    def __str__(self):
        if self.namespace:
            return "%s %s/%s" % (self.kind, self.namespace, self.name)
        return "%s %s" % (self.kind, self.name)


def resource_path(kind, namespace=None, name=None):
    """The REST path of a collection (name None) or of one object."""
    try:
        prefix, plural, namespaced = KINDS[kind]
    except KeyError:
        raise ValueError("kind %r is not one the collection knows: %s" % (kind, ", ".join(sorted(KINDS))))
    path = prefix
    if namespaced:
        if not namespace:
            raise ValueError("%s is namespaced: a namespace is required" % kind)
        path += "/namespaces/%s" % namespace
    path += "/" + plural
    if name:
        path += "/" + name
    return path


class ApiCallError(DeployError):
    """A DeployError from a failed API call; ``status`` lets callers react to 404 or 409."""

    def __init__(self, msg, status=None, namespace_missing=False, **details):
        super(ApiCallError, self).__init__(msg, status=status, **details)
        self.status = status
        self.namespace_missing = namespace_missing


def parse_status(exc):
    """(code, reason, message) from an ApiException, preferring the API's own Status object."""
    code = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    message = None
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            status = json.loads(body)
        except ValueError:
            status = None
        if isinstance(status, dict):
            message = status.get("message") or None
            reason = status.get("reason") or reason
            code = status.get("code") or code
        else:
            message = body.strip()[:500] or None
    return code, reason, message


def status_text(exc):
    """'services "x" not found (404 NotFound)': the API's message, then its code and reason."""
    code, reason, message = parse_status(exc)
    tail = " ".join(str(p) for p in (code, reason) if p not in (None, ""))
    if message and message != reason:
        return "%s (%s)" % (message, tail) if tail else message
    return tail or "no response from the API server"


def api_error(exc, verb, ref, untouched=NOTHING_CHANGED, host=None, namespace_exists=None):
    """Turn an ApiException into an ApiCallError that says what failed and what was left alone.

    ``verb`` is what we were doing ('read', 'patch', 'list', ...), ``ref`` the object (a Ref) or a
    description of a collection, ``namespace_exists`` the result of a namespace probe after a 404.
    """
    code, reason, message = parse_status(exc)
    text = status_text(exc)
    details = {"api_status": code, "api_reason": reason, "api_message": message}
    if code == 404 and isinstance(ref, Ref) and ref.namespace and namespace_exists is False:
        msg = "namespace '%s' not found, so %s does not exist (%s); %s" % (ref.namespace, ref, text, untouched)
    elif code == 404 and isinstance(ref, Ref):
        msg = "%s not found (%s); %s" % (ref, text, untouched)
    elif code == 401:
        msg = ("the API server%s rejected the credentials (%s) while trying to %s %s: check api_key or "
               "the kubeconfig user; %s" % (" at " + host if host else "", text, verb, ref, untouched))
    elif code == 403:
        msg = "not allowed to %s %s: %s; %s" % (verb, ref, text, untouched)
    elif code == 409:
        msg = "%s %s conflicted with a concurrent change: %s; %s" % (verb, ref, text, untouched)
    elif not code:
        msg = "could not %s %s: %s; %s" % (verb, ref, getattr(exc, "reason", None) or exc, untouched)
    else:
        msg = "could not %s %s: %s; %s" % (verb, ref, text, untouched)
    return ApiCallError(msg, status=code, namespace_missing=namespace_exists is False, **details)


# ---------------------------------------------------------------- configuration


def env_bool(value):
    return value.strip().lower() not in ("0", "false", "no", "off", "")


def resolve_auth(params, environ):
    """option -> (value, where it came from); the option wins over its K8S_AUTH_* variables."""
    auth = {}
    for option, env_names in AUTH_ENV.items():
        value = params.get(option)
        if value is not None:
            auth[option] = (value, "option %s" % option)
            continue
        for env_name in env_names:
            if environ.get(env_name):
                raw = environ[env_name]
                if option == "validate_certs":
                    value = env_bool(raw)
                elif option in ("ca_cert", "client_cert", "client_key"):
                    value = os.path.expanduser(raw)
                else:
                    value = raw
                auth[option] = (value, env_name)
                break
    return auth


def kubeconfig_paths(value):
    # kubectl's convention: several files separated by the OS path separator.
    return [os.path.expanduser(p) for p in value.split(os.pathsep) if p]


def context_names(config_dict):
    return [c.get("name") for c in (config_dict.get("contexts") or []) if isinstance(c, dict)]


def check_context(context, names, current, where):
    if context and context not in names:
        raise DeployError("context '%s' is not in %s; its contexts are: %s; nothing was changed"
                          % (context, where, ", ".join(n for n in names if n) or "none"))
    if not context and not current:
        raise DeployError("%s has no current-context; set the context option to one of: %s; nothing was changed"
                          % (where, ", ".join(n for n in names if n) or "none"))


def load_kubeconfig(cfg, kubeconfig, source, context):
    """Fill ``cfg`` from a kubeconfig file (or files) or dict with the library's own loader."""
    if isinstance(kubeconfig, dict):
        where = "the kubeconfig given as a dictionary"
        check_context(context, context_names(kubeconfig), kubeconfig.get("current-context"), where)
        try:
            kubernetes.config.load_kube_config_from_dict(
                config_dict=kubeconfig, context=context, client_configuration=cfg, persist_config=False)
        except ConfigException as exc:
            raise DeployError("cannot use %s: %s; nothing was changed" % (where, exc))
        return
    if not isinstance(kubeconfig, str):
        raise DeployError("kubeconfig must be a path or a dictionary, got %s; nothing was changed"
                          % type(kubeconfig).__name__)
    paths = kubeconfig_paths(kubeconfig)
    missing = [p for p in paths if not os.path.isfile(p)]
    if not paths or missing:
        raise DeployError("kubeconfig file not found: %s (from %s); nothing was changed"
                          % (", ".join(missing) or repr(kubeconfig), source))
    where = "kubeconfig %s" % kubeconfig
    try:
        contexts, current = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
        check_context(context, [c.get("name") for c in contexts or []], current, where)
        kubernetes.config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=cfg, persist_config=False)
    except ConfigException as exc:
        raise DeployError("cannot use %s (from %s): %s; nothing was changed" % (where, source, exc))


def in_cluster(environ):
    return bool(environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(
        "/var/run/secrets/kubernetes.io/serviceaccount/token")


def build_configuration(params, environ=None):
    """A kubernetes.client.Configuration from the auth options, their env fallbacks, a kubeconfig
    or the in-cluster service account -- in kubernetes.core's order of precedence."""
    environ = os.environ if environ is None else environ
    auth = resolve_auth(params, environ)
    value = dict((k, v[0]) for k, v in auth.items())
    cfg = kubernetes.client.Configuration()
    explicit = value.get("host") and (value.get("api_key") or (value.get("client_cert") and value.get("client_key")))
    if explicit:
        pass  # enough to authenticate: no kubeconfig is read
    elif value.get("kubeconfig") is not None or value.get("context"):
        kubeconfig = value.get("kubeconfig")
        source = auth["kubeconfig"][1] if "kubeconfig" in auth else "the default location"
        if kubeconfig is None:
            kubeconfig = environ.get("KUBECONFIG") or "~/.kube/config"
        load_kubeconfig(cfg, kubeconfig, source, value.get("context"))
    elif in_cluster(environ):
        kubernetes.config.load_incluster_config(client_configuration=cfg)
    else:
        default = environ.get("KUBECONFIG")
        source = "KUBECONFIG" if default else "the default location"
        load_kubeconfig(cfg, default or "~/.kube/config", source, None)
    apply_overrides(cfg, value, auth)
    return cfg


def apply_overrides(cfg, value, auth):
    """Explicit options (or their env variables) win over what the kubeconfig said."""
    for option in ("ca_cert", "client_cert", "client_key"):
        path = value.get(option)
        if path and not os.path.isfile(path):
            raise DeployError("%s file not found: %s (from %s); nothing was changed" % (option, path, auth[option][1]))
    if value.get("host"):
        cfg.host = value["host"].rstrip("/")
    if value.get("api_key"):
        token = value["api_key"]
        if token.lower().startswith("bearer "):
            token = token[7:]
        # 'authorization' is the key older clients read, 'BearerToken' the one newer ones prefer.
        cfg.api_key = {"authorization": "Bearer " + token, "BearerToken": "Bearer " + token}
        cfg.api_key_prefix = {}
        cfg.refresh_api_key_hook = None
    if value.get("validate_certs") is not None:
        cfg.verify_ssl = bool(value["validate_certs"])
    if value.get("ca_cert"):
        cfg.ssl_ca_cert = value["ca_cert"]
    if value.get("client_cert"):
        cfg.cert_file = value["client_cert"]
    if value.get("client_key"):
        cfg.key_file = value["client_key"]
    if value.get("proxy"):
        cfg.proxy = value["proxy"]


def request_query(base=None, dry_run=False, write=False):
    """Query parameters as a list of pairs: writes carry fieldManager, and dryRun=All in check mode."""
    query = list(base or [])
    if write:
        query.append(("fieldManager", FIELD_MANAGER))
        if dry_run:
            query.append(("dryRun", "All"))
    return query


def request_headers(content_type=None):
    headers = {"Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


# ---------------------------------------------------------------- client


class Client(object):
    """Typed-by-convention access to the few resources the modules touch.

    ``dry_run`` (the module's check mode) makes every write a server-side dry run, so results and
    diffs show what the API server would really store.
    """

    def __init__(self, api_client, dry_run=False):
        self.api = api_client
        self.dry_run = dry_run
        self.host = api_client.configuration.host
        # kubernetes >= 32 generates ApiClient.param_serialize + call_api(method, url, ...); older
        # releases have the python-legacy call_api(resource_path, method, ...).
        self._modern = hasattr(api_client, "param_serialize")

    @classmethod
    def from_params(cls, params, dry_run=False, environ=None):
        if not HAS_KUBERNETES:
            raise DeployError("the kubernetes Python library is required (pip install kubernetes); nothing was changed",
                              exception=KUBERNETES_IMPORT_ERROR)
        cfg = build_configuration(params, environ)
        return cls(kubernetes.client.ApiClient(configuration=cfg), dry_run=dry_run)

    # -- transport

    def _send(self, method, path, query=None, body=None, content_type=None, stream=False, timeout=REQUEST_TIMEOUT):
        """One HTTP call through ApiClient.call_api; returns the body bytes (or the open response)."""
        headers = request_headers(content_type)
        if self._modern:
            request = self.api.param_serialize(
                method=method, resource_path=path, query_params=query or None, header_params=headers,
                body=body, auth_settings=["BearerToken"])
            response = self.api.call_api(*request, _request_timeout=timeout)
            if not 200 <= response.status <= 299:
                response.read()
                raise ApiException(http_resp=response)
            return response.response if stream else response.read()
        response = self.api.call_api(
            path, method, query_params=query or [], header_params=headers, body=body,
            auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
            _request_timeout=timeout)
        return response if stream else response.data

    def _call(self, method, path, verb, what, untouched, query=None, body=None, content_type=None):
        try:
            data = self._send(method, path, query=query, body=body, content_type=content_type)
        except ApiException as exc:
            raise self._error(exc, verb, what, untouched)
        except urllib3.exceptions.HTTPError as exc:
            raise ApiCallError("cannot reach the Kubernetes API server at %s to %s %s: %s; %s"
                               % (self.host, verb, what, exc, untouched))
        if not data:
            return {}
        try:
            return json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
        except ValueError:
            raise ApiCallError("the API server at %s answered %s %s with something that is not JSON: %r; %s"
                               % (self.host, method, path, data[:200], untouched))

    def _error(self, exc, verb, what, untouched):
        namespace_exists = None
        if getattr(exc, "status", None) == 404 and isinstance(what, Ref) and what.namespace and what.kind != "Namespace":
            namespace_exists = self._namespace_exists(what.namespace)
        return api_error(exc, verb, what, untouched, host=self.host, namespace_exists=namespace_exists)

    def _namespace_exists(self, namespace):
        # Only asked after a 404, to tell a missing namespace from a missing object.
        try:
            self._send("GET", resource_path("Namespace", name=namespace))
            return True
        except ApiException as exc:
            return False if exc.status == 404 else None
        except urllib3.exceptions.HTTPError:
            return None

    # -- reads

    def get(self, ref, missing_ok=False, untouched=NOTHING_CHANGED):
        try:
            return self._call("GET", resource_path(*ref), "read", ref, untouched)
        except ApiCallError as err:
            if missing_ok and err.status == 404 and not err.namespace_missing:
                return None
            raise

    def list(self, kind, namespace, label_selector=None, field_selector=None, untouched=NOTHING_CHANGED):
        query = []
        if label_selector is not None:
            query.append(("labelSelector", label_selector))
        if field_selector is not None:
            query.append(("fieldSelector", field_selector))
        what = "%s in namespace %s" % (KINDS[kind][1], namespace)
        return self._call("GET", resource_path(kind, namespace), "list", what, untouched, query=query).get("items") or []

    # -- writes (dryRun=All in check mode)

    def create(self, kind, namespace, body, untouched=None):
        ref = Ref(kind, namespace, body.get("metadata", {}).get("name"))
        body = dict(body, apiVersion=API_VERSIONS[kind], kind=kind)
        query = request_query(dry_run=self.dry_run, write=True)
        return self._call("POST", resource_path(kind, namespace), "create", ref,
                          untouched or "%s was not created" % ref, query=query, body=body,
                          content_type="application/json")

    def replace(self, ref, body, untouched=None):
        body = dict(body, apiVersion=API_VERSIONS[ref.kind], kind=ref.kind)
        query = request_query(dry_run=self.dry_run, write=True)
        return self._call("PUT", resource_path(*ref), "update", ref, untouched or "%s was not changed" % ref,
                          query=query, body=body, content_type="application/json")

    def patch(self, ref, body, patch_type="merge", untouched=None):
        query = request_query(dry_run=self.dry_run, write=True)
        return self._call("PATCH", resource_path(*ref), "patch", ref, untouched or "%s was not changed" % ref,
                          query=query, body=body, content_type=PATCH_CONTENT_TYPES[patch_type])

    def delete(self, ref, untouched=None):
        query = request_query(dry_run=self.dry_run, write=False)
        if self.dry_run:
            query.append(("dryRun", "All"))
        return self._call("DELETE", resource_path(*ref), "delete", ref, untouched or "%s was not deleted" % ref,
                          query=query)

    # -- watch

    def watch(self, ref, resource_version=None, timeout_seconds=30):
        """Yield (type, object) events for one object until the server ends the watch.

        The server closes the watch after ``timeout_seconds``; a read timeout or a dropped
        connection also just ends the iteration, so callers loop with a fresh resourceVersion.
        """
        query = [("watch", "true"), ("fieldSelector", "metadata.name=%s" % ref.name),
                 ("timeoutSeconds", str(max(1, int(timeout_seconds))))]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        path = resource_path(ref.kind, ref.namespace)
        try:
            response = self._send("GET", path, query=query, stream=True,
                                  timeout=(REQUEST_TIMEOUT[0], timeout_seconds + 10))
        except ApiException as exc:
            raise self._error(exc, "watch", ref, NOTHING_CHANGED)
        except urllib3.exceptions.HTTPError as exc:
            raise ApiCallError("cannot reach the Kubernetes API server at %s to watch %s: %s"
                               % (self.host, ref, exc))
        try:
            for line in iter_lines(response):
                event = json.loads(line)
                yield event.get("type"), event.get("object") or {}
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
            return
        finally:
            response.release_conn()


def iter_lines(response):
    """Complete JSON lines of a streamed watch response."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk if isinstance(chunk, bytes) else chunk.encode("utf-8")
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line.decode("utf-8", "replace")
    if buffer.strip():
        yield buffer.decode("utf-8", "replace")
