"""Just enough OpenAPI v3 for clients that read it.

kubectl (1.27+) downloads ``/openapi/v3`` and a group-version's document to learn whether
PATCH takes the ``fieldValidation`` query parameter; when it does, kubectl leaves validation
to the server instead of downloading schemas. The documents describe paths and operations
only (no schemas); the sandbox validates on the server (validation.py).
"""
import hashlib
import json

from .resources import GROUPS

QUERY_PARAMS = ["dryRun", "fieldManager", "fieldValidation", "force", "pretty"]


def _gv_path(group):
    return "api/v1" if not group else "apis/%s/v1" % group


def _operation(res, action):
    op = {
        "operationId": "%s%s" % (action, res.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": res.group, "version": res.version, "kind": res.kind},
        "parameters": [{"name": p, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
                       for p in QUERY_PARAMS],
        "responses": {"200": {"description": "OK"}},
    }
    return op


def document(group):
    paths = {}
    for res in GROUPS.get(group, []):
        prefix = "/" + _gv_path(group)
        base = "%s/namespaces/{namespace}/%s" % (prefix, res.plural) if res.namespaced else "%s/%s" % (prefix, res.plural)
        paths[base] = {"get": _operation(res, "list"), "post": _operation(res, "post")}
        paths[base + "/{name}"] = {
            "get": _operation(res, "get"),
            "put": _operation(res, "put"),
            "patch": _operation(res, "patch"),
            "delete": _operation(res, "delete"),
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (sandbox)", "version": "v1.30.0-sandbox"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def root():
    paths = {}
    for group in GROUPS:
        doc = json.dumps(document(group), sort_keys=True).encode()
        digest = hashlib.sha512(doc).hexdigest()[:32].upper()
        paths[_gv_path(group)] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (_gv_path(group), digest)}
    return {"paths": paths}


def lookup(path):
    """The document for ``/openapi/v3/<gv path>``, or None."""
    gv = path[len("/openapi/v3/"):]
    for group in GROUPS:
        if _gv_path(group) == gv:
            return document(group)
    return None
