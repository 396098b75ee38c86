"""The sandbox API server: Kubernetes' REST API over HTTPS on top of the Store."""
import asyncio
import json
import logging
import time

from aiohttp import web

from . import errors, openapi
from .resources import GROUPS, RESOURCES, lookup
from .selectors import SelectorError, parse_field_selector, parse_label_selector
from .store import decode_continue, encode_continue
from .tables import table

log = logging.getLogger("sandbox.apiserver")

WRITE_METHODS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz"}
VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-sandbox",
    "gitCommit": "sandbox",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _json(body, status=200):
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


def _error(err):
    return _json(err.status(), err.code)


class User:
    def __init__(self, name, read_only=False):
        self.name = name
        self.read_only = read_only


class ApiServer:
    """Routes Kubernetes REST paths to the store.

    ``users`` maps bearer token -> User.
    """

    def __init__(self, store, users, address=""):
        self.store = store
        self.users = users
        self.address = address
        self.requests = 0
        self.control = None   # async fn(part, action) -> dict, set by the sandbox's components
        self.metrics = None   # the metrics.k8s.io provider (metrics_server.MetricsServer), when running

    def app(self):
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    # ------------------------------------------------------------------ entry
    async def handle(self, request):
        self.requests += 1
        path = request.path.rstrip("/") or "/"
        try:
            if path in PUBLIC_PATHS:
                if path == "/version":
                    return _json(VERSION)
                return web.Response(text="ok")
            user = self._authenticate(request)
            if path == "/api":
                return _json({"kind": "APIVersions", "versions": ["v1"],
                              "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.address}]})
            if path == "/apis":
                return _json(self._group_list())
            if path == "/openapi/v3":
                return _json(openapi.root())
            if path.startswith("/openapi/v3/"):
                doc = openapi.lookup(path)
                if doc is None:
                    raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
                return _json(doc)
            if path.startswith("/openapi/"):
                raise errors.ApiError(404, "NotFound", "the sandbox serves OpenAPI v3 only")
            parts = path.strip("/").split("/")
            if parts[0] == "sandbox":
                return await self._sandbox_control(request, user, parts)
            if parts[0] == "apis" and len(parts) >= 2 and parts[1] == "metrics.k8s.io" and self.metrics is not None:
                return self._metrics(request, parts[2:])
            if parts[0] == "api" and len(parts) >= 2:
                group, version, rest = "", parts[1], parts[2:]
            elif parts[0] == "apis" and len(parts) >= 2:
                if len(parts) == 2:
                    return self._group(parts[1])
                group, version, rest = parts[1], parts[2], parts[3:]
            else:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
            if not rest:
                return self._resource_list(group, version)
            return await self._resource(request, user, group, version, rest)
        except errors.ApiError as err:
            return _error(err)
        except SelectorError as err:
            return _error(errors.bad_request(str(err)))
        except Exception as err:  # pragma: no cover - a bug in the sandbox
            log.exception("internal error on %s %s", request.method, request.path)
            return _error(errors.ApiError(500, "InternalError", "sandbox internal error: %s" % err))

    async def _sandbox_control(self, request, user, parts):
        """POST /sandbox/control/<part>/<stop|start>: test hooks (stop Redis, Prometheus...)."""
        if request.method != "POST" or len(parts) != 4 or parts[1] != "control":
            raise errors.ApiError(404, "NotFound", "unknown sandbox path %s" % request.path)
        if user.read_only:
            raise errors.forbidden("the read-only user cannot control the sandbox")
        if self.control is None:
            raise errors.ApiError(404, "NotFound", "this sandbox has no controllable parts")
        return _json(await self.control(parts[2], parts[3]))

    def _authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            user = self.users.get(header[len("Bearer "):].strip())
            if user is not None:
                return user
        raise errors.ApiError(401, "Unauthorized", "Unauthorized")

    # ------------------------------------------------------------------ discovery
    def _group_list(self):
        groups = []
        for group in sorted(g for g in GROUPS if g):
            gv = {"groupVersion": "%s/v1" % group, "version": "v1"}
            groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
        if self.metrics is not None:
            gv = {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
            groups.append({"name": "metrics.k8s.io", "versions": [gv], "preferredVersion": gv})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _metrics(self, request, rest):
        """metrics.k8s.io/v1beta1: read-only NodeMetrics and PodMetrics."""
        gv = {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
        if not rest:
            return _json({"kind": "APIGroup", "apiVersion": "v1", "name": "metrics.k8s.io", "versions": [gv],
                          "preferredVersion": gv})
        if rest[0] != "v1beta1":
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        if request.method != "GET":
            raise errors.method_not_allowed("metrics are read-only")
        if len(rest) == 1:
            return _json(self.metrics.discovery())
        found = self.metrics.handle(rest[1:])
        if found is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        if found is False:
            raise errors.ApiError(404, "NotFound", '%s.metrics.k8s.io "%s" not found' % (rest[-2], rest[-1]))
        return _json(found)

    def _group(self, group):
        if group not in GROUPS or not group:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        gv = {"groupVersion": "%s/v1" % group, "version": "v1"}
        return _json({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv], "preferredVersion": gv})

    def _resource_list(self, group, version):
        if group not in GROUPS or version != "v1":
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        resources = []
        for res in GROUPS[group]:
            resources.extend(res.discovery())
        return _json({"kind": "APIResourceList", "apiVersion": "v1",
                      "groupVersion": "%s/%s" % (group, version) if group else version,
                      "resources": resources})

    # ------------------------------------------------------------------ resources
    def _parse(self, group, version, rest):
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = lookup(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        res = lookup(group, version, rest[0])
        if res is None or len(rest) > 3:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in res.subresources:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        return res, namespace, name, sub

    async def _resource(self, request, user, group, version, rest):
        res, namespace, name, sub = self._parse(group, version, rest)
        method = request.method
        query = request.query
        if method in WRITE_METHODS and user.read_only:
            where = ' in the namespace "%s"' % namespace if namespace else ""
            raise errors.forbidden(
                '%s%s is forbidden: User "%s" cannot %s resource "%s%s" in API group "%s"%s'
                % (res.qualified, ' "%s"' % name if name else "", user.name, WRITE_METHODS[method],
                   res.plural, "/" + sub if sub else "", res.group, where), res, name)
        dry_run = "All" in query.getall("dryRun", [])
        if method == "GET":
            if name is None:
                if query.get("watch") in ("true", "1"):
                    return await self._watch(request, res, namespace)
                return self._list(request, res, namespace)
            obj = self.store.get(res, namespace, name)
            if sub == "scale":
                return _json(self.store.scale_of(res, obj))
            return self._object_response(request, res, obj)
        body = await self._body(request) if method in ("POST", "PUT", "PATCH") else None
        if method == "POST":
            if name is not None:
                raise errors.method_not_allowed("POST is not allowed on a named %s" % res.plural)
            return _json(self.store.create(res, namespace, body, dry_run=dry_run), 201)
        if name is None and method != "DELETE":
            raise errors.method_not_allowed("%s needs an object name" % method)
        if method == "PUT":
            if sub == "scale":
                return _json(self.store.update_scale(res, namespace, name, body, dry_run=dry_run))
            return _json(self.store.update(res, namespace, name, body, subresource=sub, dry_run=dry_run))
        if method == "PATCH":
            content_type = request.content_type
            obj = self.store.patch(res, namespace, name, content_type, body, subresource=sub, dry_run=dry_run)
            return _json(obj)
        if method == "DELETE":
            return await self._delete(request, res, namespace, name, dry_run)
        raise errors.method_not_allowed("method %s is not supported" % method)

    async def _body(self, request):
        raw = await request.read()
        if request.method == "PATCH":
            allowed = ("application/json-patch+json", "application/merge-patch+json",
                       "application/strategic-merge-patch+json")
            if request.content_type not in allowed:
                raise errors.unsupported_media_type(request.content_type)
        elif request.content_type not in ("application/json", "", "application/octet-stream", "text/plain"):
            if "yaml" in request.content_type:
                raise errors.unsupported_media_type(request.content_type)
        try:
            return json.loads(raw or b"null")
        except ValueError as err:
            raise errors.bad_request("the body of the request could not be decoded as JSON: %s" % err)

    def _selectors(self, request, res):
        label = request.query.get("labelSelector")
        field = request.query.get("fieldSelector")
        return (parse_label_selector(label) if label else None,
                parse_field_selector(field, res.plural) if field else None)

    def _list(self, request, res, namespace):
        label, field = self._selectors(request, res)
        items, rv = self.store.list(res, namespace, label, field)
        meta = {"resourceVersion": rv}
        limit = int(request.query.get("limit") or 0)
        offset = 0
        if request.query.get("continue"):
            offset, rv = decode_continue(request.query["continue"])
            meta["resourceVersion"] = rv
        if limit > 0:
            page = items[offset:offset + limit]
            if offset + limit < len(items):
                meta["continue"] = encode_continue(offset + limit, rv)
                meta["remainingItemCount"] = len(items) - offset - limit
            items = page
        elif offset:
            items = items[offset:]
        if self._wants_table(request):
            return _json(table(res, items, rv, request.query.get("includeObject", "Metadata")))
        return _json({"kind": res.kind + "List", "apiVersion": res.api_version, "metadata": meta,
                      "items": [self._strip(o) for o in items]})

    @staticmethod
    def _strip(obj):
        # Items of a list carry no kind/apiVersion in Kubernetes' JSON.
        return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}

    @staticmethod
    def _wants_table(request):
        accept = request.headers.get("Accept", "")
        return "as=Table" in accept.split(",")[0]

    def _object_response(self, request, res, obj):
        if self._wants_table(request):
            return _json(table(res, [obj], obj["metadata"]["resourceVersion"],
                               request.query.get("includeObject", "Metadata")))
        return _json(obj)

    async def _delete(self, request, res, namespace, name, dry_run):
        options = {}
        raw = await request.read()
        if raw:
            try:
                options = json.loads(raw) or {}
            except ValueError as err:
                raise errors.bad_request("DeleteOptions could not be decoded: %s" % err)
        dry_run = dry_run or "All" in (options.get("dryRun") or [])
        propagation = request.query.get("propagationPolicy") or options.get("propagationPolicy")
        if options.get("orphanDependents") is True and propagation is None:
            propagation = "Orphan"
        grace = request.query.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
        grace = int(grace) if grace is not None else None
        if name is None:
            label, field = self._selectors(request, res)
            items, _ = self.store.list(res, namespace, label, field)
            deleted = []
            for obj in items:
                meta = obj["metadata"]
                result, _ = self.store.delete(res, meta.get("namespace"), meta["name"], propagation, grace,
                                              dry_run=dry_run)
                deleted.append(self._strip(result))
            return _json({"kind": res.kind + "List", "apiVersion": res.api_version,
                          "metadata": {"resourceVersion": str(self.store.resource_version)}, "items": deleted})
        obj, removed = self.store.delete(res, namespace, name, propagation, grace, options.get("preconditions"),
                                         dry_run=dry_run)
        if removed and res.plural not in ("pods", "namespaces"):
            details = {"name": name, "kind": res.plural, "uid": obj["metadata"]["uid"]}
            if res.group:
                details["group"] = res.group
            return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                          "details": details})
        return _json(obj, 200 if removed or dry_run else 202 if res.plural == "namespaces" else 200)

    async def _watch(self, request, res, namespace):
        label, field = self._selectors(request, res)
        timeout = request.query.get("timeoutSeconds")
        timeout = float(timeout) if timeout else 1800.0
        bookmarks = request.query.get("allowWatchBookmarks") in ("true", "1")
        queue = asyncio.Queue()
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            watcher = self.store.watch(res, namespace, label, field, request.query.get("resourceVersion"), queue)
        except errors.ApiError as err:
            if err.code != 410:
                raise
            await response.prepare(request)
            await response.write(json.dumps({"type": "ERROR", "object": err.status()}).encode() + b"\n")
            return response
        await response.prepare(request)
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    event_type, obj = await asyncio.wait_for(queue.get(), timeout=min(remaining, 5.0))
                except asyncio.TimeoutError:
                    transport = request.transport
                    if transport is None or transport.is_closing():
                        break
                    if bookmarks:
                        mark = {"kind": res.kind, "apiVersion": res.api_version,
                                "metadata": {"resourceVersion": str(self.store.resource_version)}}
                        await response.write(json.dumps({"type": "BOOKMARK", "object": mark}).encode() + b"\n")
                    continue
                line = json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"
                await response.write(line)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            watcher.close()
        try:
            await response.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass
        return response


__all__ = ["ApiServer", "User", "RESOURCES"]
