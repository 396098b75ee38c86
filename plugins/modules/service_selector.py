#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: service_selector
short_description: Switch a Service's selector safely (the blue-green switch)
version_added: 0.1.0
author:
  - LLM Research Lab platform team (@llm-research-lab)
description:
  - Sets the selector of a Kubernetes Service, for example from C(environment=blue) to C(environment=green).
  - Refuses to point the Service at a selector that matches fewer than O(require_ready_endpoints) Ready,
    non-terminating pods in the namespace, and leaves the Service unchanged in that case.
  - The write carries the resourceVersion that was read, so a concurrent change of the Service makes the task
    fail with the API's conflict instead of being overwritten.
  - With O(expected_selector) the switch is a compare-and-swap; the task fails without changing anything when
    the current selector differs.
  - When the selector is already the requested one, nothing is written and the ready-pod requirement is not
    enforced (C(matched_ready_pods) is still returned).
  - In check mode the change is sent as a server-side dry run (C(dryRun=All)).
options:
  name:
    description: Name of the Service.
    type: str
    required: true
  namespace:
    description: Namespace of the Service.
    type: str
    required: true
  selector:
    description:
      - Selector keys and values to set. Merged into the current selector unless O(replace=true).
      - A key with a null value is removed from the selector.
      - Values must be label values (strings; integers are converted).
    type: dict
    default: {}
  replace:
    description: Replace the whole selector with O(selector) instead of merging into it.
    type: bool
    default: false
  expected_selector:
    description:
      - The selector the Service must have now (all keys and values, exactly). When it differs, the task fails
        naming both selectors and the Service is not changed.
    type: dict
  require_ready_endpoints:
    description:
      - How many Ready, non-terminating pods the resulting selector must match in the namespace before the
        Service is changed. V(0) disables the check.
    type: int
    default: 1
extends_documentation_fragment:
  - llm_research_lab.deploy.k8s_auth
attributes:
  check_mode:
    support: full
    description: Uses the API server's dry run, so the result shows what the server would store.
  diff_mode:
    support: full
    description: Shows the selector before and after.
"""

EXAMPLES = r"""
- name: Send traffic to green, only if green has 3 ready pods and the Service still points at blue
  llm_research_lab.deploy.service_selector:
    name: research-lab-api
    namespace: llm-research-lab
    selector:
      environment: green
    expected_selector:
      app: research-lab
      tier: api
      environment: blue
    require_ready_endpoints: 3
  register: switch

- name: Switch back to what it was
  llm_research_lab.deploy.service_selector:
    name: research-lab-api
    namespace: llm-research-lab
    selector: "{{ switch.previous_selector }}"
    replace: true

- name: Drop a selector key
  llm_research_lab.deploy.service_selector:
    name: research-lab-api
    namespace: llm-research-lab
    selector:
      version: null
"""

RETURN = r"""
previous_selector:
  description: The selector before the task.
  returned: always
  type: dict
  sample: {app: research-lab, tier: api, environment: blue}
selector:
  description: The selector after the task (as the API server stored it, or would store it in check mode).
  returned: always
  type: dict
  sample: {app: research-lab, tier: api, environment: green}
matched_ready_pods:
  description: How many Ready, non-terminating pods in the namespace the resulting selector matches.
  returned: always
  type: int
  sample: 3
service:
  description: The Service object after the task.
  returned: always
  type: dict
"""

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s_module import run_k8s_module
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.selector import SELECTOR_ARG_SPEC, set_selector


def main():
    run_k8s_module(SELECTOR_ARG_SPEC, set_selector)


if __name__ == "__main__":
    main()
