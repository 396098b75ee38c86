#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: smoke_check
short_description: Run an ordered list of HTTP smoke checks with assertions, saved values and latency budgets
version_added: 0.1.0
author:
  - LLM Research Lab platform team (@llm-research-lab)
description:
  - Sends each check's request to O(base_url) + O(checks[].path), in order, and compares the
    response status with O(checks[].expect_status) and the JSON body with JMESPath assertions
    (O(checks[].expect)).
  - A check can save values from its JSON response (O(checks[].save)); later checks use them as
    C(${name}) in their path, header values, JSON body (string values, recursively), raw body and
    expected values. C($${) is a literal C(${). A string that is exactly one placeholder, such as
    C("${experiment_id}") in a JSON body, is replaced by the saved value itself, keeping its type.
  - A check that uses a value never saved fails with a message naming the variable and the check
    that should have saved it.
  - A latency budget (O(checks[].max_latency_ms)) sends the request O(checks[].samples) times and
    compares the O(checks[].percentile) latency (linear interpolation between closest ranks) with it.
    Latency is measured from sending the request to having read the whole response.
  - Every check runs even when an earlier one failed, so the result reports everything.
  - Values of the C(Authorization), C(Proxy-Authorization), C(Cookie) and C(X-Api-Key) headers,
    secret saved values (O(secret_saves)), string values under JSON body keys containing
    C(password), C(token), C(secret) or C(key), and a password in O(base_url) are replaced by
    C(********) everywhere in the result and masked by Ansible in any output, including the
    module arguments it prints.
  - Redirects are not followed; expect a 3xx status explicitly. Cookies set by a response are sent
    with the following checks (one HTTP session).
  - The module never reports a change. It runs in check mode too, but checks whose method is not
    C(GET) or C(HEAD) are skipped there (reported with RV(results[].passed=null) and the message
    C(skipped in check mode)) because they could create data; checks needing a value from a
    skipped check are skipped too.
  - Invalid JMESPath expressions fail the module before any request is sent.
options:
  base_url:
    description:
      - Base URL of the service under test, for example V(http://research-lab-api-green:8080).
        A path prefix is kept.
    type: str
    required: true
  checks:
    description:
      - The checks, run in this order.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the check, used in results and messages.
        type: str
        required: true
      method:
        description:
          - HTTP method.
        type: str
        default: GET
      path:
        description:
          - Path joined to O(base_url) with one C(/), may include a query string and C(${name}) placeholders.
        type: str
        required: true
      headers:
        description:
          - Headers for this check, added to (and overriding) the module-level O(headers).
        type: dict
      json:
        description:
          - JSON body to send (any JSON value); sets C(Content-Type) to C(application/json).
          - Mutually exclusive with O(checks[].body).
        type: raw
      body:
        description:
          - Raw request body (UTF-8).
        type: str
      expect_status:
        description:
          - Accepted status code(s).
        type: list
        elements: int
        default: [200]
      expect:
        description:
          - JMESPath expression -> expected value. The expression is evaluated on the JSON response
            body and the result must equal the value (numbers compare numerically, C(true) is not C(1)).
          - A response that is not JSON fails the check.
        type: dict
      save:
        description:
          - Name -> JMESPath expression. The value found in the JSON response is available to later
            checks as C(${name}). Values are saved only when the check passes; an expression that
            matches nothing fails the check.
        type: dict
      max_latency_ms:
        description:
          - Latency budget in milliseconds for the O(checks[].percentile) latency over O(checks[].samples) requests.
        type: float
      samples:
        description:
          - How many times the request is sent. Every response must pass the status and O(checks[].expect) tests.
        type: int
        default: 1
      percentile:
        description:
          - Percentile (0-100) of the sampled latencies compared with O(checks[].max_latency_ms).
        type: float
        default: 95
      retries:
        description:
          - Retries for this check after a failure; overrides the module-level O(retries).
        type: int
      retry_delay:
        description:
          - Seconds between retries of this check; overrides the module-level O(retry_delay).
        type: float
  headers:
    description:
      - Headers sent with every check.
    type: dict
  timeout:
    description:
      - Seconds to wait for each response.
    type: float
    default: 10
  validate_certs:
    description:
      - Verify TLS certificates.
    type: bool
    default: true
  retries:
    description:
      - Default number of retries for a failed check.
    type: int
    default: 0
  retry_delay:
    description:
      - Default seconds between retries.
    type: float
    default: 1.0
  secret_saves:
    description:
      - Names of saved values that are secrets; they are redacted in the result and registered with
        Ansible's output masking.
      - When not set, every saved name containing C(token), C(secret), C(password) or C(key)
        (case-insensitive) is a secret.
    type: list
    elements: str
  fail_on_error:
    description:
      - Fail the task when any check fails. When V(false) the results are returned and the caller decides.
    type: bool
    default: true
requirements:
  - requests
  - jmespath
"""

EXAMPLES = r"""
- name: Smoke-test the inactive colour before switching traffic
  llm_research_lab.deploy.smoke_check:
    base_url: "http://research-lab-api-green.llm-research-lab:8080"
    checks:
      - name: live
        path: /health/live
      - name: ready
        path: /health/ready
        expect:
          status: ready
      - name: login
        method: POST
        path: /api/v1/auth/login
        json:
          username: smoke
          password: "{{ vault_smoke_password }}"
        save:
          token: token
      - name: create_experiment
        method: POST
        path: /api/v1/experiments
        headers:
          Authorization: "Bearer ${token}"
        json:
          name: smoke-test-exp
          model_id: test-model-v1
          dataset_id: test-dataset-v1
        expect_status: [200, 201]
        save:
          experiment_id: id
      - name: post_metrics
        method: POST
        path: /api/v1/metrics
        headers:
          Authorization: "Bearer ${token}"
        json:
          experiment_id: "${experiment_id}"
          step: 1
          metrics: {loss: 0.5, accuracy: 0.85}
        expect_status: [200, 202]
      - name: ready_latency
        path: /health/ready
        samples: 20
        percentile: 95
        max_latency_ms: 100
  register: smoke

- name: Report without failing
  llm_research_lab.deploy.smoke_check:
    base_url: "{{ api_url }}"
    fail_on_error: false
    retries: 2
    retry_delay: 2
    checks:
      - name: registry_integration
        path: /api/v1/integrations/registry/health
  register: integrations
"""

RETURN = r"""
results:
  description: One entry per check, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the check.
      type: str
    method:
      description: HTTP method.
      type: str
    url:
      description: URL requested (secrets redacted).
      type: str
    status:
      description: Status code of the last response, C(null) when none arrived.
      type: int
    latency_ms:
      description: Measured latency in ms; the O(checks[].percentile) latency when O(checks[].samples) > 1.
      type: float
    latencies_ms:
      description: Latency of every response received, in ms.
      type: list
      elements: float
    attempts:
      description: How many times the check was tried (1 + retries used).
      type: int
    passed:
      description: C(true), C(false), or C(null) when the check was skipped in check mode.
      type: bool
    message:
      description: C(ok), what failed, or why the check was skipped.
      type: str
  sample:
    - name: login
      method: POST
      url: http://api:8080/api/v1/auth/login
      status: 200
      latency_ms: 4.2
      latencies_ms: [4.2]
      attempts: 1
      passed: true
      message: ok
passed:
  description: Number of checks that passed.
  returned: always
  type: int
  sample: 6
failed_count:
  description: Number of checks that failed (C(failed) is reserved by Ansible).
  returned: always
  type: int
  sample: 0
skipped_count:
  description: Number of checks skipped in check mode.
  returned: always
  type: int
  sample: 0
saved:
  description: Values saved by the checks; secret values are C(********).
  returned: always
  type: dict
  sample: {token: "********", experiment_id: 42}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.smoke import (
    HAS_JMESPATH,
    HAS_REQUESTS,
    JMESPATH_IMPORT_ERROR,
    REQUESTS_IMPORT_ERROR,
    run_smoke,
    smoke_argument_spec,
)


def main():
    module = AnsibleModule(argument_spec=smoke_argument_spec(), supports_check_mode=True)
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
    if not HAS_JMESPATH:
        module.fail_json(msg=missing_required_lib("jmespath"), exception=JMESPATH_IMPORT_ERROR)
    try:
        result = run_smoke(module.params, check_mode=module.check_mode, register_secret=module.no_log_values.add)
    except DeployError as err:
        module.fail_json(msg=err.msg, changed=False, **err.details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
