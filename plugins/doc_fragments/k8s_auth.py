# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # The option names and K8S_AUTH_* variables are those of kubernetes.core, so inventories and
    # module_defaults written for kubernetes.core work unchanged with this collection.
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig itself as a dictionary.
      - Several files can be given separated by C(:) (C(;) on Windows); they are merged as kubectl does.
      - Can also be specified via the E(K8S_AUTH_KUBECONFIG) environment variable.
      - When neither this, O(context) nor O(host) with credentials is given, the in-cluster service
        account is used when running in a pod, otherwise E(KUBECONFIG) or C(~/.kube/config).
    type: raw
  context:
    description:
      - The name of a context found in the kubeconfig. The kubeconfig's current context when omitted.
      - Can also be specified via the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the Kubernetes API server, for example C(https://127.0.0.1:6443).
      - With O(api_key), or with O(client_cert) and O(client_key), no kubeconfig is read.
      - Can also be specified via the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - Bearer token used to authenticate with the API server.
      - Can also be specified via the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate.
      - Can also be specified via the E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [ verify_ssl ]
  ca_cert:
    description:
      - Path to the CA certificate (the full chain) that signed the API server's certificate.
      - Can also be specified via the E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ ssl_ca_cert ]
  client_cert:
    description:
      - Path to a client certificate used to authenticate with the API server.
      - Can also be specified via the E(K8S_AUTH_CERT_FILE) environment variable.
    type: path
    aliases: [ cert_file ]
  client_key:
    description:
      - Path to the key of O(client_cert).
      - Can also be specified via the E(K8S_AUTH_KEY_FILE) environment variable.
    type: path
    aliases: [ key_file ]
  proxy:
    description:
      - URL of an HTTP proxy to reach the API server through.
      - Can also be specified via the E(K8S_AUTH_PROXY) environment variable.
      - The usual E(HTTP_PROXY)/E(HTTPS_PROXY) variables are not used.
    type: str
requirements:
  - kubernetes >= 24.2.0 (the official Kubernetes Python client)
notes:
  - Every module of this collection that talks to Kubernetes takes these options; set them once for
    all of them with C(module_defaults) and the action group C(group/llm_research_lab.deploy.k8s).
  - The client is built once per task and calls the few REST paths it needs directly, without API
    discovery.
  - O(kubeconfig) is treated as a secret (a kubeconfig dictionary holds credentials), so Ansible
    masks its value in results and error messages.
"""
