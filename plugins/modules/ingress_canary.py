#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: ingress_canary
short_description: Manage the ingress-nginx canary Ingress of a Service (weight, header, cookie)
version_added: 0.1.0
author:
  - LLM Research Lab platform team (@llm-research-lab)
description:
  - Creates, updates or removes the ingress-nginx canary Ingress that sends part of the traffic of a stable
    Ingress to a canary Service.
  - When the canary Ingress does not exist it is created by cloning the stable Ingress (ingressClassName, the
    legacy C(kubernetes.io/ingress.class) annotation, labels, rules with their hosts and paths, TLS) with every
    backend pointed at O(service) and O(port).
  - The module owns the C(nginx.ingress.kubernetes.io/canary*) annotations and the backends of the canary
    Ingress. After a run these annotations are exactly what the options ask for; an option that is left out or
    empty removes its annotation (for example dropping O(header) removes C(canary-by-header)). Every other
    annotation and every label is kept.
  - C(canary-weight-total) is written only when O(weight_total) is not 100 (ingress-nginx's default).
  - Invalid input fails before anything is sent to the API server, naming the value and the allowed range.
  - Updates carry the resourceVersion that was read, so a concurrent change ends in a reported conflict.
  - In check mode changes are sent as a server-side dry run (C(dryRun=All)).
options:
  stable_ingress:
    description: Name of the stable Ingress the canary shadows.
    type: str
    required: true
  name:
    description: Name of the canary Ingress. Defaults to C(<stable_ingress>-canary).
    type: str
  namespace:
    description: Namespace of both Ingresses.
    type: str
    required: true
  service:
    description: The canary Service every backend of the canary Ingress points to. Required with O(state=present).
    type: str
  port:
    description: Port of O(service), a number (1-65535) or a port name. Required with O(state=present).
    type: raw
  weight:
    description:
      - Share of the traffic sent to the canary, an integer from 0 to O(weight_total).
      - Required with O(state=present).
    type: raw
  weight_total:
    description: The total the weight is a share of (ingress-nginx C(canary-weight-total)).
    type: int
    default: 100
  header:
    description: Request header that routes to the canary (C(canary-by-header)); V(always) sends there, V(never) not.
    type: str
  header_value:
    description: Send requests to the canary when O(header) has exactly this value (C(canary-by-header-value)).
    type: str
  header_pattern:
    description:
      - Send requests to the canary when O(header) matches this regular expression (C(canary-by-header-pattern)).
      - Excludes O(header_value).
    type: str
  cookie:
    description: Cookie that routes to the canary when its value is V(always) (C(canary-by-cookie)).
    type: str
  state:
    description:
      - V(present) creates or updates the canary Ingress; V(absent) deletes it.
      - V(absent) refuses to delete an Ingress that is not a canary (no C(nginx.ingress.kubernetes.io/canary=true)).
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - llm_research_lab.deploy.k8s_auth
attributes:
  check_mode:
    support: full
    description: Uses the API server's dry run, so the result shows what the server would store.
  diff_mode:
    support: full
    description: Shows the canary annotations and backends before and after.
"""

EXAMPLES = r"""
- name: Send 5% of the traffic to the canary, and everything with X-Canary=always
  llm_research_lab.deploy.ingress_canary:
    stable_ingress: research-lab-api
    name: research-lab-api-canary
    namespace: llm-research-lab
    service: research-lab-api-canary
    port: 8080
    weight: 5
    header: X-Canary
    header_value: always
  register: canary

- name: Stop sending traffic to the canary, keeping the Ingress
  llm_research_lab.deploy.ingress_canary:
    stable_ingress: research-lab-api
    namespace: llm-research-lab
    service: research-lab-api-canary
    port: http
    weight: 0

- name: Remove the canary Ingress
  llm_research_lab.deploy.ingress_canary:
    stable_ingress: research-lab-api
    namespace: llm-research-lab
    state: absent
"""

RETURN = r"""
previous_weight:
  description: The canary weight before the task; null when the canary Ingress did not exist.
  returned: always
  type: int
  sample: 5
weight:
  description: The canary weight after the task; null after O(state=absent).
  returned: always
  type: int
  sample: 25
created:
  description: Whether the canary Ingress was created by this task.
  returned: when O(state=present)
  type: bool
ingress:
  description: The canary Ingress after the task (empty after O(state=absent)).
  returned: always
  type: dict
"""

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s_module import run_k8s_module
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.canary import CANARY_ARG_SPEC, run


def main():
    run_k8s_module(CANARY_ARG_SPEC, run)


if __name__ == "__main__":
    main()
