# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""meta/runtime.yml's `k8s` action group must list exactly the modules that take the auth options.

Each module's real argument spec is captured by running its main() with AnsibleModule's constructor
replaced by a recorder that stops at construction (as ansible-test's validate-modules does); a module takes the auth options when its spec contains every
entry of K8S_AUTH_ARG_SPEC unchanged.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import importlib.util
import os

import pytest
import yaml
from ansible.module_utils import basic

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s import K8S_AUTH_ARG_SPEC

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES_DIR = os.path.join(ROOT, "plugins", "modules")
RUNTIME = os.path.join(ROOT, "meta", "runtime.yml")
AUTH_FRAGMENT = "llm_research_lab.deploy.k8s_auth"


class Constructed(Exception):
    """Raised by the recorder so main() stops before doing any work."""


def capture_argument_spec(path):
    """The argument_spec a module's main() passes to AnsibleModule."""
    name = "captured_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen = {}

    def recorder(self, *args, **kwargs):
        seen["argument_spec"] = kwargs.get("argument_spec", args[0] if args else None)
        raise Constructed()

    if not hasattr(module, "main"):
        raise AssertionError("%s has no main()" % path)
    original = basic.AnsibleModule.__init__
    basic.AnsibleModule.__init__ = recorder
    try:
        with pytest.raises(Constructed):
            module.main()
    finally:
        basic.AnsibleModule.__init__ = original
    return seen["argument_spec"], module


def takes_auth_options(argument_spec):
    return all(argument_spec.get(k) == v for k, v in K8S_AUTH_ARG_SPEC.items())


def module_files(directory):
    return sorted(p for p in glob.glob(os.path.join(directory, "*.py")) if not p.endswith("__init__.py"))


def group_disagreements(group, directory):
    """Messages for every way the action group and the modules disagree (empty when they agree)."""
    problems = []
    names = set()
    for path in module_files(directory):
        name = os.path.splitext(os.path.basename(path))[0]
        names.add(name)
        argument_spec, module = capture_argument_spec(path)
        # validate_certs, proxy, ca_cert... are ordinary HTTP options too; kubeconfig and context are not.
        partial = [k for k in ("kubeconfig", "context") if k in argument_spec]
        auth = takes_auth_options(argument_spec)
        if partial and not auth:
            problems.append("%s takes some auth options (%s) but not K8S_AUTH_ARG_SPEC as it is"
                            % (name, ", ".join(partial)))
        if auth and name not in group:
            problems.append("%s takes the k8s auth options but is not in the k8s action group" % name)
        if not auth and name in group:
            problems.append("%s is in the k8s action group but does not take the k8s auth options" % name)
        fragments = (yaml.safe_load(module.DOCUMENTATION) or {}).get("extends_documentation_fragment") or []
        if auth and AUTH_FRAGMENT not in fragments:
            problems.append("%s takes the k8s auth options but does not document them with %s" % (name, AUTH_FRAGMENT))
    for name in group:
        if name not in names:
            problems.append("the k8s action group lists %s, which is not a module" % name)
    return problems


def k8s_group():
    with open(RUNTIME) as handle:
        runtime = yaml.safe_load(handle)
    return runtime, list((runtime.get("action_groups") or {}).get("k8s") or [])


def test_runtime_declares_the_supported_ansible_versions():
    runtime, _group = k8s_group()
    assert runtime["requires_ansible"] == ">=2.16.0"


def test_k8s_group_matches_the_modules_that_take_the_auth_options():
    _runtime, group = k8s_group()
    assert group_disagreements(group, MODULES_DIR) == []


def test_k8s_group_uses_short_names_without_duplicates():
    _runtime, group = k8s_group()
    assert len(group) == len(set(group))
    assert all("." not in name for name in group)


def test_the_k8s_modules_are_in_the_group():
    _runtime, group = k8s_group()
    assert {"service_selector", "ingress_canary", "deployment_rollout", "rollout_lease"} <= set(group)


K8S_MODULE = '''
import copy
DOCUMENTATION = """
module: new_k8s_thing
extends_documentation_fragment: [llm_research_lab.deploy.k8s_auth]
"""
from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s import K8S_AUTH_ARG_SPEC


def main():
    spec = copy.deepcopy(K8S_AUTH_ARG_SPEC)
    spec.update(name=dict(type="str"))
    AnsibleModule(argument_spec=spec)
'''

PLAIN_MODULE = '''
DOCUMENTATION = """
module: plain_check
"""
from ansible.module_utils.basic import AnsibleModule


def main():
    AnsibleModule(argument_spec=dict(url=dict(type="str")))
'''


def test_the_check_catches_a_k8s_module_missing_from_the_group(tmp_path):
    (tmp_path / "new_k8s_thing.py").write_text(K8S_MODULE)
    (tmp_path / "plain_check.py").write_text(PLAIN_MODULE)
    assert group_disagreements([], str(tmp_path)) == [
        "new_k8s_thing takes the k8s auth options but is not in the k8s action group"]
    assert group_disagreements(["new_k8s_thing"], str(tmp_path)) == []


def test_the_check_catches_a_group_entry_without_auth_options_or_module(tmp_path):
    (tmp_path / "plain_check.py").write_text(PLAIN_MODULE)
    assert group_disagreements(["plain_check", "gone"], str(tmp_path)) == [
        "plain_check is in the k8s action group but does not take the k8s auth options",
        "the k8s action group lists gone, which is not a module"]
