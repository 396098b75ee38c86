# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one main() of the collection's Kubernetes modules.

Each module passes its own argument spec and the module_utils function doing its job; this
adds the shared auth options, builds the client once (with the server's dry run in check
mode), and turns a DeployError into fail_json.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_AUTH_ARG_SPEC, Client)


def k8s_argument_spec(arg_spec):
    """The module's options plus the shared Kubernetes auth options."""
    spec = copy.deepcopy(K8S_AUTH_ARG_SPEC)
    spec.update(copy.deepcopy(arg_spec))
    return spec


def run_k8s_module(arg_spec, operation):
    """Run ``operation(client, params)`` and exit with its result."""
    module = AnsibleModule(argument_spec=k8s_argument_spec(arg_spec), supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    try:
        result = operation(Client.from_params(module.params, dry_run=module.check_mode), module.params)
    except DeployError as err:
        module.fail_json(msg=err.msg, **err.details)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)
