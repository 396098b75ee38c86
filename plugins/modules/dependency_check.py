#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: dependency_check
short_description: Check that TCP services, PostgreSQL, Redis and HTTP endpoints accept connections
version_added: 0.1.0
author:
  - LLM Research Lab platform team (@llm-research-lab)
description:
  - Pre-deployment connectivity checks that need no client libraries on the host running them.
  - V(tcp) opens a TCP connection.
  - V(postgres) sends a PostgreSQL (protocol 3.0) startup message and reads the first answer, like
    C(pg_isready). An authentication request, or an error other than SQLSTATE C(57P03)
    (C(the database system is starting up)), means the server accepts connections; the SQLSTATE and
    message are reported in RV(checks[].detail). No password is sent and no session is opened.
  - V(redis) sends C(AUTH) (when O(checks[].password) is set) and C(PING), and expects C(+PONG).
    A rejected password, C(-NOAUTH), C(-LOADING) and other errors fail the check; the password
    never appears in the result.
  - V(http) sends a GET request and compares the status with O(checks[].expect_status). Redirects are not followed.
  - Checks with O(checks[].severity=fail) fail the task; checks with O(checks[].severity=warn) become warnings.
  - The module only reads; it never reports a change and runs the same in check mode.
options:
  checks:
    description:
      - The checks to run, in order.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the check, used in results and messages.
        type: str
        required: true
      type:
        description:
          - What to check.
        type: str
        required: true
        choices: [tcp, postgres, redis, http]
      host:
        description:
          - Host name or address (tcp, postgres, redis). Mutually exclusive with O(checks[].url).
        type: str
      port:
        description:
          - Port (tcp, postgres, redis). Defaults to 5432 for postgres and 6379 for redis; required for tcp.
        type: int
      url:
        description:
          - For V(http), the URL to request.
          - For V(postgres), a C(postgres://user@host:port/database) URL; for V(redis), a
            C(redis://[username:password@]host:port) URL; for V(tcp), any URL with a host and port.
            Host, port, user, database, username and password are taken from it unless set as options.
          - A password in the URL is masked in all output.
        type: str
      user:
        description:
          - PostgreSQL user named in the startup message.
          - Defaults to C(postgres) when neither this option nor the URL gives one.
        type: str
      database:
        description:
          - PostgreSQL database named in the startup message. Defaults to the user name.
        type: str
      username:
        description:
          - Redis ACL user for C(AUTH username password).
        type: str
      password:
        description:
          - Redis password for C(AUTH). Never shown in results.
        type: str
      expect_status:
        description:
          - Expected HTTP status (http).
        type: int
        default: 200
      validate_certs:
        description:
          - Verify TLS certificates (http).
        type: bool
        default: true
      timeout:
        description:
          - Seconds for the whole check (connect and answers); overrides the module-level O(timeout).
        type: float
      severity:
        description:
          - V(fail) fails the task when the check fails; V(warn) only warns.
        type: str
        choices: [fail, warn]
        default: fail
  timeout:
    description:
      - Default seconds for each check.
    type: float
    default: 5
requirements:
  - requests (for V(http) checks)
"""

EXAMPLES = r"""
- name: Pre-deployment dependency checks
  llm_research_lab.deploy.dependency_check:
    timeout: 5
    checks:
      - name: database
        type: postgres
        host: postgres.llm-research-lab
        user: research_lab
      - name: cache
        type: redis
        url: redis://redis-master.llm-research-lab:6379
        password: "{{ vault_redis_password }}"
      - name: kafka
        type: tcp
        host: kafka-0.kafka-headless
        port: 9092
      - name: object_storage
        type: http
        url: http://minio.llm-research-lab:9000/minio/health/live
        severity: warn
  register: deps
"""

RETURN = r"""
checks:
  description: One entry per check, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the check.
      type: str
    type:
      description: tcp, postgres, redis or http.
      type: str
    target:
      description: C(host:port) or the URL checked, never with a password.
      type: str
    ok:
      description: Whether the dependency answered as expected.
      type: bool
    latency_ms:
      description: Milliseconds the check took.
      type: float
    error:
      description: Why the check failed, C(null) when it passed.
      type: str
    detail:
      description: What the server answered when the check passed (for postgres, the authentication method or SQLSTATE).
      type: str
    severity:
      description: fail or warn.
      type: str
  sample:
    - name: database
      type: postgres
      target: "postgres.llm-research-lab:5432"
      ok: true
      latency_ms: 2.1
      error: null
      detail: "accepting connections (authentication request: SASL/SCRAM)"
      severity: fail
passed:
  description: Whether no check with severity fail failed.
  returned: always
  type: bool
  sample: true
failures:
  description: Names of the failed checks with severity fail.
  returned: always
  type: list
  elements: str
  sample: []
warned:
  description: Names of the failed checks with severity warn (C(warnings) is reserved by Ansible).
  returned: always
  type: list
  elements: str
  sample: [object_storage]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.dependency import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    dependency_argument_spec,
    run_dependency_checks,
)
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError


def main():
    module = AnsibleModule(argument_spec=dependency_argument_spec(), supports_check_mode=True)
    if not HAS_REQUESTS and any(check["type"] == "http" for check in module.params["checks"]):
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
    try:
        result = run_dependency_checks(module.params, warn=module.warn, register_secret=module.no_log_values.add)
    except DeployError as err:
        module.fail_json(msg=err.msg, changed=False, **err.details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
