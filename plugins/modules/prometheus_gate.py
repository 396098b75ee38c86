#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: prometheus_gate
short_description: Analyse PromQL checks once or continuously over a window, stopping at the first breach
version_added: 0.1.0
author:
  - LLM Research Lab platform team (@llm-research-lab)
description:
  - Evaluates a list of PromQL checks against Prometheus, either once (O(duration=0)) or every
    O(interval) seconds over an analysis window of O(duration) seconds.
  - Evaluations happen at t=0, O(interval), 2*O(interval), ... up to and including the end of the
    window. Each round evaluates every check at the same instant (the C(time) parameter of the
    query API), so a ratio and its baseline describe the same moment.
  - The analysis stops as soon as one check has more than O(failure_limit) breaches, instead of
    waiting for the window to end, so a bad canary is rolled back while it soaks.
  - When the window ends without a failure, O(final_checks) are evaluated once (the verdict).
  - A check is either an absolute threshold (O(checks[].max) and/or O(checks[].min)) or a ratio
    against a baseline query (O(checks[].baseline_query) with O(checks[].max_ratio) and/or
    O(checks[].min_ratio)), for example canary p99 latency divided by stable p99 latency.
  - Each query must produce one number, a scalar or an instant vector with exactly one series.
    An empty vector or C(NaN) is "no data", handled as O(checks[].on_no_data) says; no data never
    passes silently. C(+Inf) and C(-Inf) are real values and compare as such.
  - A query returning several series, a range vector, malformed PromQL (Prometheus' own error text
    is reported), a wrong URL or rejected credentials fail the module at once.
  - Prometheus being unreachable, timing out or answering HTTP 5xx is a query error. A check may
    have up to O(error_limit) query errors in a row; one more fails the analysis. A check whose
    last query failed when the window ends is queried again every O(interval) until it answers
    or exceeds O(error_limit), because an error is never a pass.
  - The module only reads from Prometheus; it never reports a change and runs the same in check mode.
extends_documentation_fragment:
  - llm_research_lab.deploy.prometheus
options:
  checks:
    description:
      - The checks to evaluate.
    type: list
    elements: dict
    required: true
    suboptions: &check_suboptions
      name:
        description:
          - Name of the check, unique within O(checks). Used in samples, breaches and messages.
        type: str
        required: true
      query:
        description:
          - PromQL expression producing one number, for example the canary's share of 5xx
            responses (see the examples).
          - Aggregate with C(sum) or C(max) so the result has one series.
        type: str
        required: true
      max:
        description:
          - The check breaches when its value is greater than this.
          - Cannot be combined with O(checks[].baseline_query).
        type: float
      min:
        description:
          - The check breaches when its value is less than this.
          - Cannot be combined with O(checks[].baseline_query).
        type: float
      baseline_query:
        description:
          - PromQL expression for the baseline; the check compares O(checks[].query) divided by
            this value with O(checks[].max_ratio) / O(checks[].min_ratio).
          - An empty, C(NaN) or zero baseline is "no data".
        type: str
      max_ratio:
        description:
          - The check breaches when value / baseline is greater than this (C(2) = "more than twice the baseline").
        type: float
      min_ratio:
        description:
          - The check breaches when value / baseline is less than this.
        type: float
      on_no_data:
        description:
          - What an empty result or C(NaN) (and, for ratio checks, an empty, C(NaN) or zero baseline) means.
          - V(fail) counts as a breach with value C(null) and reason C(no data).
          - V(pass) counts as passed and is recorded with status C(no_data_pass).
          - V(skip) is recorded with status C(skipped) and neither passes nor breaches.
        type: str
        choices: [fail, pass, skip]
        default: fail
      description:
        description:
          - Free text for reports, copied into breaches.
        type: str
  final_checks:
    description:
      - Checks evaluated once more when the window ends without a failure, at the end of the
        window. This is the verdict of a stage, for example "enough requests to judge" or the
        error ratio with no data failing. A breach of a final check fails the analysis whatever
        O(failure_limit) says.
      - Same suboptions as O(checks). A name may repeat one of O(checks); its samples then join
        that check's list.
    type: list
    elements: dict
    # The same suboptions as checks (the argument spec shares CHECK_OPTIONS too).
    suboptions: *check_suboptions
  interval:
    description:
      - Seconds between evaluation rounds. Must be greater than 0.
    type: float
    default: 10
  duration:
    description:
      - Length of the analysis window in seconds. V(0) evaluates every check once.
    type: float
    default: 0
  failure_limit:
    description:
      - Breaches tolerated per check. The analysis fails when one check has more than this many
        breaches, so V(0) fails on the first breach.
    type: int
    default: 0
  error_limit:
    description:
      - Query errors (connection refused, timeout, HTTP 5xx) tolerated in a row per check.
        One more fails the analysis. Configuration errors (malformed PromQL) never count here;
        they fail at once.
    type: int
    default: 2
  fail_on_breach:
    description:
      - When V(true), a failed analysis fails the task.
      - When V(false), a breach returns RV(passed=false) and RV(breached=true) without failing, so the
        caller can decide (for example roll back in a later task). Query errors past O(error_limit)
        and configuration errors still fail the task.
    type: bool
    default: true
  labels:
    description:
      - "Free-form labels copied into every sample and breach, for example C({\"stage\": 25})."
    type: dict
requirements:
  - requests
notes:
  - Queries are sent with HTTP POST to C(<prometheus_url>/api/v1/query).
  - Infinite values are returned as the strings C(+Inf) and C(-Inf) because JSON has no infinity.
  - A password in O(prometheus_url) and the values of credential headers in O(prometheus_headers)
    (C(Authorization), C(Cookie), C(X-Api-Key)) are masked in all output.
seealso:
  - name: Prometheus HTTP API
    description: Instant queries and the format of their results.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries
"""

EXAMPLES = r"""
- name: Check the canary once, right now
  llm_research_lab.deploy.prometheus_gate:
    prometheus_url: http://prometheus.monitoring:9090
    checks:
      - name: error_ratio
        query: >-
          sum(rate(http_requests_total{track="canary",status=~"5.."}[1m]))
          / sum(rate(http_requests_total{track="canary"}[1m]))
        max: 0.05

- name: Analyse the canary during a 5 minute soak at 25 %, stopping at the first breach
  llm_research_lab.deploy.prometheus_gate:
    prometheus_url: "{{ prometheus_url }}"
    prometheus_bearer_token: "{{ vault_prometheus_token }}"
    interval: 15
    duration: 300
    failure_limit: 0
    labels:
      stage: 25
    checks:
      - name: error_ratio
        description: 5xx share of canary requests
        query: >-
          sum(rate(http_requests_total{track="canary",status=~"5.."}[1m]))
          / sum(rate(http_requests_total{track="canary"}[1m]))
        max: 0.05
      - name: p99_vs_stable
        description: canary p99 latency at most twice the stable p99
        query: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{track="canary"}[1m])))
        baseline_query: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{track="stable"}[1m])))
        max_ratio: 2
  register: analysis

- name: Let a later task decide what a breach means
  llm_research_lab.deploy.prometheus_gate:
    prometheus_url: "{{ prometheus_url }}"
    fail_on_breach: false
    checks:
      - name: ready_pods
        query: sum(kube_deployment_status_replicas_ready{deployment="api"})
        min: 2
        on_no_data: fail
  register: gate

- name: Roll back when the gate breached
  ansible.builtin.debug:
    msg: "rolling back: {{ gate.reason }}"
  when: gate.breached
"""

RETURN = r"""
passed:
  description: Whether the analysis passed.
  returned: always
  type: bool
  sample: false
breached:
  description: Whether the analysis failed because a check had more than O(failure_limit) breaches.
  returned: always
  type: bool
  sample: true
reason:
  description: One line saying why the analysis passed or failed.
  returned: always
  type: str
  sample: "check error_ratio breached: 0.31 > 0.05 at 2026-03-01T10:00:20.000Z (breach 1, failure_limit 0)"
breaches:
  description: Every breach recorded, including those within O(failure_limit).
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: Name of the check.
      type: str
    value:
      description: The check's value (C(null) for no data; C(+Inf)/C(-Inf) as strings).
      type: raw
    baseline:
      description: The baseline value for ratio checks, else C(null).
      type: raw
    ratio:
      description: value / baseline for ratio checks, else C(null).
      type: raw
    threshold:
      description: The limit that was violated (C(null) for no data).
      type: raw
    bound:
      description: Which limit was violated, C(max), C(min), C(max_ratio) or C(min_ratio) (C(null) for no data).
      type: str
    comparison:
      description: C(>) or C(<) (the compared value against the threshold), or C(no data).
      type: str
    time:
      description: Evaluation time, RFC 3339 UTC.
      type: str
    labels:
      description: O(labels).
      type: dict
    breach:
      description: This check's breach count so far (1 for the first).
      type: int
    description:
      description: O(checks[].description).
      type: str
  sample:
    - check: error_ratio
      value: 0.31
      baseline: null
      ratio: null
      threshold: 0.05
      bound: max
      comparison: ">"
      time: "2026-03-01T10:00:20.000Z"
      labels: {stage: 25}
      breach: 1
      description: 5xx share of canary requests
samples:
  description:
    - Every sample taken, by check name, in time order.
    - C(status) is C(ok), C(breach), C(no_data_pass), C(skipped) or C(error).
    - "C(threshold) holds the check's limits, for example C({\"max\": 0.05})."
    - C(error) holds the query error, or why a sample counted as no data.
  returned: always
  type: dict
  sample:
    error_ratio:
      - time: "2026-03-01T10:00:00.000Z"
        value: 0.01
        baseline: null
        ratio: null
        threshold: {max: 0.05}
        status: ok
        error: null
        labels: {stage: 25}
evaluations:
  description: Number of evaluation rounds run.
  returned: always
  type: int
  sample: 3
elapsed:
  description: Seconds from the first round to the end of the analysis.
  returned: always
  type: float
  sample: 20.012
errors:
  description: Query errors (check, time, error), in order.
  returned: always
  type: list
  elements: dict
  sample:
    - check: error_ratio
      time: "2026-03-01T10:00:00.000Z"
      error: "Prometheus at http://prometheus:9090 is unreachable: Failed to establish a new connection: [Errno 111] Connection refused"
prometheus_url:
  description: The Prometheus URL queried, without credentials.
  returned: always
  type: str
  sample: http://prometheus.monitoring:9090
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.gate import gate_argument_spec, run_gate
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.prometheus import (
    HAS_REQUESTS,
    PROMETHEUS_MUTUALLY_EXCLUSIVE,
    PROMETHEUS_REQUIRED_TOGETHER,
    REQUESTS_IMPORT_ERROR,
    prometheus_argument_spec,
)


def argument_spec():
    spec = prometheus_argument_spec(env_fallback)
    spec.update(gate_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=PROMETHEUS_MUTUALLY_EXCLUSIVE,
                           required_together=PROMETHEUS_REQUIRED_TOGETHER)
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
    try:
        result = run_gate(module.params, register_secret=module.no_log_values.add)
    except DeployError as err:
        module.fail_json(msg=err.msg, changed=False, **err.details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
