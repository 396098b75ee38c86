# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared client: auth options and env fallbacks, kubeconfig loading, API error messages."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from ansible_collections.llm_research_lab.deploy.plugins.module_utils import k8s
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s import Ref


def kubeconfig_dict(server="https://127.0.0.1:6443", token="tok-a"):
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "sandbox",
        "clusters": [
            {"name": "local", "cluster": {"server": server, "certificate-authority-data": "LS0tLS1CRUdJTg=="}},
            {"name": "other", "cluster": {"server": "https://10.0.0.1:443", "insecure-skip-tls-verify": True}},
        ],
        "users": [{"name": "admin", "user": {"token": token}}, {"name": "ro", "user": {"token": "tok-ro"}}],
        "contexts": [
            {"name": "sandbox", "context": {"cluster": "local", "user": "admin"}},
            {"name": "readonly", "context": {"cluster": "other", "user": "ro"}},
        ],
    }


@pytest.fixture
def kubeconfig_file(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig_dict()))
    return str(path)


def bearer(cfg):
    return cfg.auth_settings()["BearerToken"]["value"]


def api_exception(code, reason, message=None, body=None):
    exc = ApiException(status=code, reason=reason)
    if body is None and message is not None:
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                           "reason": reason, "code": code})
    exc.body = body
    return exc


# ------------------------------------------------------------ options and environment


def test_auth_arg_spec_mirrors_kubernetes_core_names_and_aliases():
    spec = k8s.K8S_AUTH_ARG_SPEC
    assert set(spec) == {"kubeconfig", "context", "host", "api_key", "validate_certs", "ca_cert",
                         "client_cert", "client_key", "proxy"}
    assert spec["api_key"]["no_log"] is True
    assert spec["validate_certs"]["aliases"] == ["verify_ssl"]
    assert spec["ca_cert"]["aliases"] == ["ssl_ca_cert"]
    assert spec["client_cert"]["aliases"] == ["cert_file"]
    assert spec["client_key"]["aliases"] == ["key_file"]


def test_environment_fallbacks_use_kubernetes_core_variable_names():
    environ = {"K8S_AUTH_HOST": "https://h:6443", "K8S_AUTH_API_KEY": "t", "K8S_AUTH_VERIFY_SSL": "false",
               "K8S_AUTH_SSL_CA_CERT": "/ca.pem", "K8S_AUTH_CERT_FILE": "/c.pem", "K8S_AUTH_KEY_FILE": "/k.pem",
               "K8S_AUTH_PROXY": "http://proxy:3128", "K8S_AUTH_CONTEXT": "ctx", "K8S_AUTH_KUBECONFIG": "/kc"}
    auth = k8s.resolve_auth({}, environ)
    assert dict((k, v[0]) for k, v in auth.items()) == {
        "host": "https://h:6443", "api_key": "t", "validate_certs": False, "ca_cert": "/ca.pem",
        "client_cert": "/c.pem", "client_key": "/k.pem", "proxy": "http://proxy:3128", "context": "ctx",
        "kubeconfig": "/kc"}
    assert auth["validate_certs"][1] == "K8S_AUTH_VERIFY_SSL"


def test_option_wins_over_environment_and_option_name_variable_wins_over_client_name():
    environ = {"K8S_AUTH_VALIDATE_CERTS": "yes", "K8S_AUTH_VERIFY_SSL": "no", "K8S_AUTH_HOST": "https://env"}
    auth = k8s.resolve_auth({"host": "https://option"}, environ)
    assert auth["host"] == ("https://option", "option host")
    assert auth["validate_certs"] == (True, "K8S_AUTH_VALIDATE_CERTS")


# ------------------------------------------------------------ configuration


def test_host_and_api_key_need_no_kubeconfig(tmp_path):
    cfg = k8s.build_configuration({"host": "https://10.1.2.3:6443/", "api_key": "secret", "validate_certs": False},
                                  environ={"KUBECONFIG": str(tmp_path / "absent")})
    assert cfg.host == "https://10.1.2.3:6443"
    assert bearer(cfg) == "Bearer secret"
    assert cfg.verify_ssl is False


def test_kubeconfig_file_current_context(kubeconfig_file):
    cfg = k8s.build_configuration({"kubeconfig": kubeconfig_file}, environ={})
    assert cfg.host == "https://127.0.0.1:6443"
    assert bearer(cfg) == "Bearer tok-a"
    assert cfg.ssl_ca_cert  # the library wrote the CA data to a file


def test_kubeconfig_named_context(kubeconfig_file):
    cfg = k8s.build_configuration({"kubeconfig": kubeconfig_file, "context": "readonly"}, environ={})
    assert cfg.host == "https://10.0.0.1:443"
    assert bearer(cfg) == "Bearer tok-ro"
    assert cfg.verify_ssl is False


def test_kubeconfig_from_environment_variable(kubeconfig_file):
    cfg = k8s.build_configuration({}, environ={"K8S_AUTH_KUBECONFIG": kubeconfig_file, "K8S_AUTH_CONTEXT": "readonly"})
    assert cfg.host == "https://10.0.0.1:443"


def test_kubeconfig_as_dict():
    cfg = k8s.build_configuration({"kubeconfig": kubeconfig_dict(token="from-dict")}, environ={})
    assert bearer(cfg) == "Bearer from-dict"


def test_api_key_overrides_kubeconfig_token(kubeconfig_file):
    cfg = k8s.build_configuration({"kubeconfig": kubeconfig_file, "api_key": "override"}, environ={})
    assert bearer(cfg) == "Bearer override"
    assert cfg.host == "https://127.0.0.1:6443"


def test_missing_kubeconfig_names_the_path_and_where_it_came_from(tmp_path):
    missing = str(tmp_path / "nope" / "kubeconfig")
    with pytest.raises(DeployError) as err:
        k8s.build_configuration({}, environ={"K8S_AUTH_KUBECONFIG": missing})
    assert err.value.msg == "kubeconfig file not found: %s (from K8S_AUTH_KUBECONFIG); nothing was changed" % missing


def test_missing_default_kubeconfig_is_reported(tmp_path):
    missing = str(tmp_path / "config")
    with pytest.raises(DeployError, match="kubeconfig file not found: %s \\(from KUBECONFIG\\)" % missing):
        k8s.build_configuration({}, environ={"KUBECONFIG": missing})


def test_unknown_context_lists_the_contexts(kubeconfig_file):
    with pytest.raises(DeployError) as err:
        k8s.build_configuration({"kubeconfig": kubeconfig_file, "context": "prod"}, environ={})
    assert err.value.msg == ("context 'prod' is not in kubeconfig %s; its contexts are: sandbox, readonly; "
                             "nothing was changed" % kubeconfig_file)


def test_unknown_context_in_dict_kubeconfig():
    with pytest.raises(DeployError, match="context 'prod' is not in the kubeconfig given as a dictionary"):
        k8s.build_configuration({"kubeconfig": kubeconfig_dict(), "context": "prod"}, environ={})


def test_missing_ca_cert_file(tmp_path):
    with pytest.raises(DeployError, match="ca_cert file not found: .*/ca.pem \\(from option ca_cert\\)"):
        k8s.build_configuration({"host": "https://h", "api_key": "t", "ca_cert": str(tmp_path / "ca.pem")}, environ={})


def test_client_is_built_once_from_params(kubeconfig_file):
    client = k8s.Client.from_params({"kubeconfig": kubeconfig_file}, dry_run=True, environ={})
    assert client.host == "https://127.0.0.1:6443"
    assert client.dry_run is True


# ------------------------------------------------------------ requests


def test_resource_paths_are_known_without_discovery():
    assert k8s.resource_path("Deployment", "ns", "web") == "/apis/apps/v1/namespaces/ns/deployments/web"
    assert k8s.resource_path("Service", "ns") == "/api/v1/namespaces/ns/services"
    assert k8s.resource_path("Ingress", "ns", "x") == "/apis/networking.k8s.io/v1/namespaces/ns/ingresses/x"
    assert k8s.resource_path("Lease", "ns", "a-rollout") == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/a-rollout"
    assert k8s.resource_path("Namespace", name="ns") == "/api/v1/namespaces/ns"
    with pytest.raises(ValueError, match="kind 'CronJob' is not one the collection knows"):
        k8s.resource_path("CronJob", "ns")


def test_writes_carry_field_manager_and_dry_run_only_in_check_mode():
    assert k8s.request_query(write=True) == [("fieldManager", k8s.FIELD_MANAGER)]
    assert k8s.request_query(write=True, dry_run=True) == [("fieldManager", k8s.FIELD_MANAGER), ("dryRun", "All")]
    assert k8s.request_query([("labelSelector", "a=b")], dry_run=True) == [("labelSelector", "a=b")]


def test_patch_content_types_are_explicit():
    assert k8s.PATCH_CONTENT_TYPES == {"merge": "application/merge-patch+json",
                                       "strategic": "application/strategic-merge-patch+json",
                                       "json": "application/json-patch+json"}
    assert k8s.request_headers("application/merge-patch+json") == {
        "Accept": "application/json", "Content-Type": "application/merge-patch+json"}


class ChunkedBody(object):
    """The part of a streamed HTTP response that iter_lines reads: chunks as they arrive."""

    def __init__(self, chunks):
        self.chunks = chunks

    def stream(self, amt=None, decode_content=False):
        return iter(self.chunks)


def test_watch_lines_are_reassembled_across_chunks():
    first = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "a"}}})
    second = json.dumps({"type": "MODIFIED", "object": {"metadata": {"name": "a"}}})
    data = (first + "\n" + second + "\n").encode()
    body = ChunkedBody([data[:7], data[7:len(first) + 3], data[len(first) + 3:]])
    assert [json.loads(line)["type"] for line in k8s.iter_lines(body)] == ["ADDED", "MODIFIED"]


# ------------------------------------------------------------ errors


def test_status_text_uses_the_api_message_code_and_reason():
    exc = api_exception(404, "NotFound", 'services "x" not found')
    assert k8s.status_text(exc) == 'services "x" not found (404 NotFound)'


def test_not_found_names_kind_namespace_and_name():
    exc = api_exception(404, "NotFound", 'services "x" not found')
    err = k8s.api_error(exc, "read", Ref("Service", "lab", "x"))
    assert err.msg == 'Service lab/x not found (services "x" not found (404 NotFound)); nothing was changed'
    assert err.status == 404
    assert err.details["api_reason"] == "NotFound"


def test_missing_namespace_is_named():
    exc = api_exception(404, "NotFound", 'deployments.apps "web" not found')
    err = k8s.api_error(exc, "read", Ref("Deployment", "nowhere", "web"), namespace_exists=False)
    assert err.msg.startswith("namespace 'nowhere' not found, so Deployment nowhere/web does not exist")
    assert err.namespace_missing


def test_unauthorized_says_the_credentials_were_rejected():
    exc = api_exception(401, "Unauthorized", "Unauthorized")
    err = k8s.api_error(exc, "read", Ref("Service", "lab", "x"), host="https://127.0.0.1:6443")
    assert err.msg == ("the API server at https://127.0.0.1:6443 rejected the credentials (401 Unauthorized) while "
                       "trying to read Service lab/x: check api_key or the kubeconfig user; nothing was changed")


def test_forbidden_carries_the_api_message_and_what_was_not_changed():
    message = ('services "x" is forbidden: User "readonly" cannot patch resource "services" in API group "" '
               'in the namespace "lab"')
    err = k8s.api_error(api_exception(403, "Forbidden", message), "patch", Ref("Service", "lab", "x"),
                        untouched="Service lab/x was not changed")
    assert err.msg == "not allowed to patch Service lab/x: %s (403 Forbidden); Service lab/x was not changed" % message


def test_conflict_is_reported_as_a_concurrent_change():
    message = ('Operation cannot be fulfilled on services "x": the object has been modified; please apply your '
               'changes to the latest version and try again')
    err = k8s.api_error(api_exception(409, "Conflict", message), "patch", Ref("Service", "lab", "x"),
                        untouched="Service lab/x was not changed")
    assert err.status == 409
    assert err.msg == "patch Service lab/x conflicted with a concurrent change: %s (409 Conflict); " \
                      "Service lab/x was not changed" % message


def test_non_json_error_body_is_shown_trimmed():
    exc = api_exception(502, "Bad Gateway", body="<html>upstream down</html>")
    assert k8s.status_text(exc) == "<html>upstream down</html> (502 Bad Gateway)"


def test_error_without_body_falls_back_to_http_reason():
    assert k8s.status_text(api_exception(500, "Internal Server Error")) == "500 Internal Server Error"
