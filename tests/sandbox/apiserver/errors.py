"""Kubernetes ``Status`` errors."""


class ApiError(Exception):
    """An error answered to the client as a ``Status`` object."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self):
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(res, name):
    details = {"kind": res.plural}
    if res.group:
        details["group"] = res.group
    if name:
        details["name"] = name
    return details


def not_found(res, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (res.qualified, name), _details(res, name))


def namespace_not_found(name):
    return ApiError(404, "NotFound", 'namespaces "%s" not found' % name,
                    {"name": name, "kind": "namespaces"})


def already_exists(res, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (res.qualified, name),
                    _details(res, name))


def conflict(res, name, why="the object has been modified; please apply your changes to the latest version and try again"):
    return ApiError(
        409, "Conflict",
        'Operation cannot be fulfilled on %s "%s": %s' % (res.qualified, name, why),
        _details(res, name),
    )


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def invalid(res, name, message, causes):
    details = _details(res, name)
    details["kind"] = res.kind
    details["causes"] = causes
    return ApiError(422, "Invalid", message, details)


def forbidden(message, res=None, name=None):
    return ApiError(403, "Forbidden", message, _details(res, name) if res else None)


def unsupported_media_type(content_type):
    return ApiError(
        415, "UnsupportedMediaType",
        'the body of the request was in an unknown format - accepted media types include: '
        'application/json-patch+json, application/merge-patch+json, '
        'application/strategic-merge-patch+json (server-side apply, %s, is not supported by the sandbox)'
        % (content_type or "none"),
    )


def gone(message):
    return ApiError(410, "Expired", message)


def method_not_allowed(message):
    return ApiError(405, "MethodNotAllowed", message)
