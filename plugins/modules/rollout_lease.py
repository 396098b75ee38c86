#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: rollout_lease
short_description: One rollout at a time per application, with its state, in a Kubernetes Lease
version_added: 0.1.0
author:
  - LLM Research Lab platform team (@llm-research-lab)
description:
  - Keeps a C(coordination.k8s.io/v1) Lease named C(<app>-rollout) in O(namespace). Its C(holderIdentity) is the
    rollout holding it, C(acquireTime) and C(renewTime) (MicroTime, C(2006-01-02T15:04:05.000000Z)) say since
    when and when it was last renewed, C(leaseDurationSeconds) is O(ttl), and C(leaseTransitions) counts changes
    of holder.
  - The lease is live while C(renewTime + leaseDurationSeconds) is not past; after that it is expired and can be
    taken over.
  - The rollout's data is stored in annotations - C(strategy), C(stage), C(from_version) and C(to_version) as
    C(deploy.llm-research-lab.io/strategy), C(deploy.llm-research-lab.io/stage),
    C(deploy.llm-research-lab.io/from-version) and C(deploy.llm-research-lab.io/to-version), every other key in
    one JSON annotation C(deploy.llm-research-lab.io/data). Other annotations are kept.
  - V(acquired) creates the Lease, renews it when O(holder) already holds it, acquires it when it was released,
    and takes it over when it expired (or with O(force)); the previous holder is returned in C(taken_over_from)
    and the previous data in C(previous_data), so the caller can resume or roll back. It fails when another
    holder has a live lease, naming the holder, since when it holds it and when it expires.
  - With V(acquired), O(data) replaces the stored data when the lease changes hands and is merged into it when
    renewing; without O(data) the stored data is kept.
  - V(updated) needs the lease to be held by O(holder); it merges O(data) and renews.
  - V(released) clears the holder and keeps the data (merged with O(data)), so a later run knows what happened.
    Releasing a lease that is already released or missing does nothing; releasing one held by someone else fails
    unless O(force).
  - In O(data), a key with a null value is removed.
  - Writes carry the resourceVersion that was read; of two concurrent acquirers exactly one wins and the other
    fails naming the winner.
  - Renewing writes a new C(renewTime) but is reported as C(changed=false) when holder, O(ttl) and data are
    unchanged.
  - In check mode the write is sent as a server-side dry run (C(dryRun=All)).
options:
  app:
    description: The application; the Lease is named C(<app>-rollout).
    type: str
    required: true
  namespace:
    description: Namespace of the Lease.
    type: str
    required: true
  holder:
    description:
      - Who holds the lease, for example C(canary-v1.3.0@awx-job-4711).
    type: str
    required: true
  ttl:
    description: Seconds the lease stays live after each acquire, update or renewal (C(leaseDurationSeconds)).
    type: int
    default: 900
  state:
    description: What to do with the lease.
    type: str
    default: acquired
    choices: [acquired, updated, released]
  data:
    description:
      - The rollout's state, for example C(strategy), C(stage), C(from_version), C(to_version), plus any other keys.
    type: dict
  force:
    description: Take over (V(acquired)) or release (V(released)) a lease that another holder still holds.
    type: bool
    default: false
extends_documentation_fragment:
  - llm_research_lab.deploy.k8s_auth
attributes:
  check_mode:
    support: full
    description: Uses the API server's dry run.
  diff_mode:
    support: full
    description: Shows holder, duration and data before and after.
"""

EXAMPLES = r"""
- name: Take the rollout lease of research-lab
  llm_research_lab.deploy.rollout_lease:
    app: research-lab
    namespace: llm-research-lab
    holder: "canary-{{ version }}-{{ tower_job_id | default('cli') }}"
    ttl: 1800
    data:
      strategy: canary
      stage: starting
      from_version: v1.2.3
      to_version: "{{ version }}"
  register: lease

- name: Record the stage
  llm_research_lab.deploy.rollout_lease:
    app: research-lab
    namespace: llm-research-lab
    holder: "{{ lease.lease.holder }}"
    state: updated
    data:
      stage: weight-25

- name: Release it, keeping the data
  llm_research_lab.deploy.rollout_lease:
    app: research-lab
    namespace: llm-research-lab
    holder: "{{ lease.lease.holder }}"
    state: released
    data:
      stage: done
"""

RETURN = r"""
lease:
  description: The Lease after the task.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the Lease.
      type: str
    namespace:
      description: Namespace of the Lease.
      type: str
    holder:
      description: The holder, null when released.
      type: str
    acquire_time:
      description: When the current holder acquired it.
      type: str
    renew_time:
      description: When it was last renewed.
      type: str
    duration:
      description: leaseDurationSeconds.
      type: int
    expires:
      description: When it expires unless renewed; null when not held.
      type: str
    expired:
      description: Whether a holder is set but the lease has expired.
      type: bool
    transitions:
      description: How many times the lease changed holder.
      type: int
  sample:
    name: research-lab-rollout
    namespace: llm-research-lab
    holder: canary-v1.3.0
    acquire_time: "2026-01-05T10:00:00.000000Z"
    renew_time: "2026-01-05T10:05:00.000000Z"
    duration: 900
    expires: "2026-01-05T10:20:00.000000Z"
    expired: false
    transitions: 3
data:
  description: The rollout data stored in the lease after the task.
  returned: always
  type: dict
  sample: {strategy: canary, stage: weight-25, from_version: v1.2.3, to_version: v1.3.0}
previous_data:
  description: The rollout data before the task (what an interrupted run left behind).
  returned: always
  type: dict
previous_holder:
  description: The holder before the task.
  returned: always
  type: str
held:
  description: Whether O(holder) holds the lease after the task.
  returned: always
  type: bool
taken_over_from:
  description: The holder whose expired (or forced) lease was taken over; null otherwise.
  returned: always
  type: str
"""

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s_module import run_k8s_module
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.lease import LEASE_ARG_SPEC, run


def main():
    run_k8s_module(LEASE_ARG_SPEC, run)


if __name__ == "__main__":
    main()
