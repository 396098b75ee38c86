"""Bad requests against the sandbox API server (issue 2, "Show": every bad request gets its
Status, and a list afterwards shows nothing changed), and dryRun=All, which validates and
answers without storing anything.

Requests go over HTTPS with ``requests`` so the exact status code, reason and causes are
visible; a few go through kubectl to show what a user sees there.
"""
import json

import pytest

pytestmark = pytest.mark.sandbox

KINDS = {  # what the snapshot lists: plural -> API path prefix
    "configmaps": "/api/v1/namespaces/%s/configmaps",
    "services": "/api/v1/namespaces/%s/services",
    "deployments": "/apis/apps/v1/namespaces/%s/deployments",
    "ingresses": "/apis/networking.k8s.io/v1/namespaces/%s/ingresses",
    "secrets": "/api/v1/namespaces/%s/secrets",
}
SECRET_DATA = "aHVudGVyMg=="   # a Secret's value that no error message may echo
JSON = {"Content-Type": "application/json"}
MERGE = {"Content-Type": "application/merge-patch+json"}
JSONPATCH = {"Content-Type": "application/json-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}


@pytest.fixture(scope="module")
def ns(sandbox):
    name = sandbox.namespace("errors")
    sandbox.apply([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "existing", "labels": {"tier": "api"}},
         "data": {"owner": "original"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "existing"}, "data": {"password": SECRET_DATA}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "existing"},
         "spec": {"selector": {"app": "nothing"}, "ports": [{"name": "http", "port": 8080}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "existing"},
         "spec": {"rules": [{"host": "errors.example.com", "http": {"paths": [{
             "path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "existing", "port": {"number": 8080}}}}]}}]}},
    ], namespace=name)
    yield name
    sandbox.delete_namespace(name)


def snapshot(http, sandbox, ns):
    """Every object of the namespace, by kind: name -> (resourceVersion, the object without metadata)."""
    out = {}
    for plural, path in KINDS.items():
        response = http.get(sandbox.endpoints["api_url"] + path % ns)
        assert response.status_code == 200, response.text
        out[plural] = {item["metadata"]["name"]: (item["metadata"]["resourceVersion"],
                                                  {k: v for k, v in item.items() if k != "metadata"})
                       for item in response.json()["items"]}
    return out


def deployment_body(selector, template_labels):
    return {"metadata": {"name": "mismatch"},
            "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                     "template": {"metadata": {"labels": template_labels},
                                  "spec": {"containers": [{"name": "api", "image": "x"}]}}}}


# (case id, token: "admin" | "readonly" | "none" | "bad", method, path (after the namespace prefix),
#  body: str (sent as is) or JSON-able, headers, code, reason, text the message must contain,
#  fields that must be among details.causes[].field)
CASES = [
    ("malformed-json-create", "admin", "POST", "/api/v1/namespaces/{ns}/configmaps",
     '{"metadata": {"name": "half"', JSON, 400, "BadRequest", "could not be decoded as JSON", None),
    ("malformed-merge-patch", "admin", "PATCH", "/api/v1/namespaces/{ns}/configmaps/existing",
     '{"data": ', MERGE, 400, "BadRequest", "could not be decoded as JSON", None),
    ("malformed-strategic-patch", "admin", "PATCH", "/api/v1/namespaces/{ns}/configmaps/existing",
     "not json at all", STRATEGIC, 400, "BadRequest", "could not be decoded as JSON", None),
    ("json-patch-not-a-list", "admin", "PATCH", "/api/v1/namespaces/{ns}/configmaps/existing",
     {"op": "replace", "path": "/data/owner", "value": "x"}, JSONPATCH, 400, "BadRequest", "JSON array", None),
    ("no-token", "none", "POST", "/api/v1/namespaces/{ns}/configmaps",
     {"metadata": {"name": "sneaky"}}, JSON, 401, "Unauthorized", "Unauthorized", None),
    ("bad-token", "bad", "PATCH", "/api/v1/namespaces/{ns}/configmaps/existing",
     {"data": {"owner": "intruder"}}, MERGE, 401, "Unauthorized", "Unauthorized", None),
    ("read-only-create", "readonly", "POST", "/api/v1/namespaces/{ns}/configmaps",
     {"metadata": {"name": "ro"}}, JSON, 403, "Forbidden", 'User "sandbox-readonly" cannot create', None),
    ("read-only-patch", "readonly", "PATCH", "/api/v1/namespaces/{ns}/configmaps/existing",
     {"data": {"owner": "ro"}}, MERGE, 403, "Forbidden", 'cannot patch resource "configmaps"', None),
    ("read-only-delete", "readonly", "DELETE", "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/existing",
     None, JSON, 403, "Forbidden", 'cannot delete resource "ingresses" in API group "networking.k8s.io"', None),
    ("missing-object-get", "admin", "GET", "/api/v1/namespaces/{ns}/configmaps/nope",
     None, JSON, 404, "NotFound", 'configmaps "nope" not found', None),
    ("missing-object-patch", "admin", "PATCH", "/apis/apps/v1/namespaces/{ns}/deployments/nope",
     {"spec": {"replicas": 2}}, MERGE, 404, "NotFound", 'deployments.apps "nope" not found', None),
    ("missing-object-delete", "admin", "DELETE", "/api/v1/namespaces/{ns}/services/nope",
     None, JSON, 404, "NotFound", 'services "nope" not found', None),
    ("missing-namespace", "admin", "POST", "/api/v1/namespaces/no-such-namespace/configmaps",
     {"metadata": {"name": "lost"}}, JSON, 404, "NotFound", 'namespaces "no-such-namespace" not found', None),
    ("already-exists", "admin", "POST", "/api/v1/namespaces/{ns}/configmaps",
     {"metadata": {"name": "existing"}, "data": {"owner": "second"}}, JSON, 409, "AlreadyExists",
     'configmaps "existing" already exists', None),
    ("stale-update", "admin", "PUT", "/api/v1/namespaces/{ns}/configmaps/existing",
     {"metadata": {"name": "existing", "resourceVersion": "1"}, "data": {"owner": "stale"}}, JSON, 409,
     "Conflict", 'Operation cannot be fulfilled on configmaps "existing"', None),
    ("stale-patch", "admin", "PATCH", "/api/v1/namespaces/{ns}/configmaps/existing",
     {"metadata": {"resourceVersion": "1"}, "data": {"owner": "stale"}}, MERGE, 409, "Conflict",
     "the object has been modified", None),
    ("json-patch-on-a-missing-path", "admin", "PATCH", "/api/v1/namespaces/{ns}/secrets/existing",
     [{"op": "replace", "path": "/nope/deeper", "value": 1}], JSONPATCH, 422, "Invalid",
     "JSON patch operation 0 (replace /nope/deeper) cannot be applied: member 'nope' not found", None),
    ("json-patch-failed-test", "admin", "PATCH", "/api/v1/namespaces/{ns}/configmaps/existing",
     [{"op": "test", "path": "/data/owner", "value": "someone"},
      {"op": "replace", "path": "/data/owner", "value": "x"}],
     JSONPATCH, 422, "Invalid", "JSON patch operation 0 (test /data/owner) failed", None),
    ("server-side-apply", "admin", "PATCH", "/api/v1/namespaces/{ns}/configmaps/existing",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: existing}\ndata: {owner: applied}\n", APPLY, 415,
     "UnsupportedMediaType", "application/apply-patch+yaml", None),
    ("missing-name", "admin", "POST", "/api/v1/namespaces/{ns}/configmaps",
     {"metadata": {"labels": {"a": "b"}}, "data": {}}, JSON, 422, "Invalid", "name or generateName is required",
     ["metadata.name"]),
    ("invalid-label-value", "admin", "POST", "/api/v1/namespaces/{ns}/configmaps",
     {"metadata": {"name": "labelled", "labels": {"tier": "not valid!"}}}, JSON, 422, "Invalid", '"not valid!"',
     ["metadata.labels"]),
    ("selector-not-matching-template", "admin", "POST", "/apis/apps/v1/namespaces/{ns}/deployments",
     deployment_body({"app": "blue"}, {"app": "green"}), JSON, 422, "Invalid",
     "`selector` does not match template `labels`", ["spec.template.metadata.labels"]),
    ("service-port-out-of-range", "admin", "POST", "/api/v1/namespaces/{ns}/services",
     {"metadata": {"name": "wide"}, "spec": {"ports": [{"port": 70000, "targetPort": 8080}]}}, JSON, 422,
     "Invalid", "70000: must be between 1 and 65535", ["spec.ports[0].port"]),
    ("ingress-without-rules-or-default-backend", "admin", "POST",
     "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
     {"metadata": {"name": "empty"}, "spec": {"ingressClassName": "nginx"}}, JSON, 422, "Invalid",
     "either `defaultBackend` or `rules` must be specified", ["spec"]),
    ("invalid-update", "admin", "PUT", "/api/v1/namespaces/{ns}/configmaps/existing",
     {"metadata": {"name": "existing", "labels": {"tier": "-bad-"}}, "data": {"owner": "invalid"}}, JSON, 422,
     "Invalid", '"-bad-"', ["metadata.labels"]),
    ("patch-making-the-object-invalid", "admin", "PATCH", "/api/v1/namespaces/{ns}/services/existing",
     {"spec": {"ports": [{"name": "http", "port": 0}]}}, MERGE, 422, "Invalid", "must be between 1 and 65535",
     ["spec.ports[0].port"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_bad_request_gets_its_status_and_changes_nothing(sandbox, ns, case):
    _, who, method, path, body, headers, code, reason, text, fields = case
    token = {"admin": None, "readonly": sandbox.endpoints["readonly_token"], "none": "", "bad": "not-a-token"}[who]
    admin = sandbox.http()
    before = snapshot(admin, sandbox, ns)
    data = body if isinstance(body, str) or body is None else json.dumps(body)
    response = sandbox.http(token).request(method, sandbox.endpoints["api_url"] + path.format(ns=ns),
                                           data=data, headers=headers)
    status = response.json()
    assert response.status_code == code, status
    assert status["kind"] == "Status" and status["apiVersion"] == "v1" and status["status"] == "Failure"
    assert status["code"] == code and status["reason"] == reason
    assert text in status["message"]
    assert SECRET_DATA not in response.text
    if fields:
        causes = status["details"]["causes"]
        assert set(fields) <= {c["field"] for c in causes}
        assert all(c["reason"].startswith("FieldValue") and c["message"] for c in causes)
    assert snapshot(admin, sandbox, ns) == before


def test_kubectl_shows_the_servers_errors(sandbox, ns):
    readonly = sandbox.kubectl("delete", "configmap", "existing", "-n", ns, context="sandbox-readonly", check=False)
    assert readonly.returncode == 1
    assert readonly.stderr.startswith("Error from server (Forbidden): ")
    assert sandbox.kubectl("get", "configmap", "existing", "-n", ns, context="sandbox-readonly").returncode == 0

    missing = sandbox.kubectl("get", "deployment", "nope", "-n", ns, check=False)
    assert missing.stderr.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'

    again = sandbox.kubectl("create", "-n", ns, "-f", "-", check=False, input=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "existing"}, "data": {"owner": "again"}}))
    assert again.stderr.strip() == \
        'Error from server (AlreadyExists): error when creating "STDIN": configmaps "existing" already exists'

    invalid = sandbox.kubectl("create", "-n", ns, "-f", "-", check=False, input=json.dumps(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "wide"}, "spec": {"ports": [{"port": 70000}]}}))
    assert invalid.returncode == 1
    assert invalid.stderr.startswith('The Service "wide" is invalid: ') and "70000" in invalid.stderr

    ssa = sandbox.kubectl("apply", "--server-side", "-n", ns, "-f", "-", check=False, input=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "existing"}, "data": {"owner": "ssa"}}))
    assert ssa.returncode == 1 and "the body of the request was in an unknown format" in ssa.stderr
    assert sandbox.kubectl_json("get", "configmap", "existing", "-n", ns)["data"] == {"owner": "original"}


# ------------------------------------------------------------------ dryRun=All


def test_dry_run_create_answers_the_object_but_stores_nothing(sandbox, ns):
    http = sandbox.http()
    before = snapshot(http, sandbox, ns)
    url = sandbox.endpoints["api_url"] + "/api/v1/namespaces/%s/services?dryRun=All" % ns
    response = http.post(url, json={"metadata": {"name": "dry"}, "spec": {"ports": [{"port": 80}]}})
    assert response.status_code == 201
    answered = response.json()
    assert answered["metadata"]["name"] == "dry" and answered["spec"]["ports"][0]["targetPort"] == 80
    assert "resourceVersion" not in answered["metadata"]
    assert http.get(url.split("?")[0] + "/dry").status_code == 404
    # A dry run validates like a real request.
    invalid = http.post(url, json={"metadata": {"name": "dry"}, "spec": {"ports": [{"port": 0}]}})
    assert invalid.status_code == 422
    assert snapshot(http, sandbox, ns) == before


def test_dry_run_patch_and_delete_change_nothing(sandbox, ns):
    http = sandbox.http()
    before = snapshot(http, sandbox, ns)
    url = sandbox.endpoints["api_url"] + "/api/v1/namespaces/%s/configmaps/existing" % ns
    patched = http.patch(url + "?dryRun=All", data=json.dumps({"data": {"owner": "dry"}}), headers=MERGE)
    assert patched.status_code == 200 and patched.json()["data"] == {"owner": "dry"}
    deleted = http.delete(url + "?dryRun=All")
    assert deleted.status_code == 200
    assert http.get(url).json()["data"] == {"owner": "original"}
    assert snapshot(http, sandbox, ns) == before


def test_kubectl_server_dry_run_creates_and_patches_nothing(sandbox, ns):
    http = sandbox.http()
    before = snapshot(http, sandbox, ns)
    created = sandbox.kubectl("create", "configmap", "dry-made", "--from-literal=a=b", "--dry-run=server", "-n", ns)
    assert created.stdout.strip() == "configmap/dry-made created (server dry run)"
    patched = sandbox.kubectl("patch", "configmap", "existing", "-n", ns, "--dry-run=server",
                              "-p", '{"data":{"owner":"dry"}}')
    assert patched.stdout.strip() == "configmap/existing patched"   # kubectl 1.30 adds no "(server dry run)" here
    scaled = sandbox.kubectl("label", "ingress", "existing", "dry=run", "--dry-run=server", "-n", ns)
    assert scaled.stdout.strip() == "ingress.networking.k8s.io/existing labeled (server dry run)"
    assert snapshot(http, sandbox, ns) == before
