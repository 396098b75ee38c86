#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: deployment_rollout
short_description: Set a Deployment's images and wait strictly for the rollout, or undo it
version_added: 0.1.0
author:
  - LLM Research Lab platform team (@llm-research-lab)
description:
  - With O(state=rolled_out), sets container images on a Deployment (like C(kubectl set image)) and waits for
    the rollout with a strict predicate; without O(images) it only waits.
  - The rollout is done only when C(metadata.generation <= status.observedGeneration) and
    C(status.updatedReplicas), C(status.replicas), C(status.readyReplicas) and C(status.availableReplicas) all
    equal C(spec.replicas) with no unavailable replicas.
  - It fails at once when the C(Progressing) condition is C(False) with reason C(ProgressDeadlineExceeded), when
    the Deployment is paused, or when a pod of the new ReplicaSet waits in one of O(fail_on_pod_reasons).
  - Waiting uses a watch on the Deployment (C(fieldSelector=metadata.name=<name>)); the new pods are looked at
    every few seconds while the watch is quiet.
  - On failure the result explains why - each pod of the new ReplicaSet (phase, ready, waiting and terminated
    reasons and messages, restart counts) and the recent events of the Deployment, the new ReplicaSet and those
    pods. A failed rollout is not rolled back; use O(state=undone).
  - With O(state=undone), restores the pod template of a revision from the ReplicaSets the Deployment owns (the
    C(pod-template-hash) label removed). Only the template and one annotation of ours change; the Deployment's
    other annotations and labels are kept.
  - "Undo is idempotent: when the Deployment already runs the target revision's template nothing changes. An
    undo without O(to_revision) records the revision it undid from in the annotation
    C(deploy.llm-research-lab.io/undone-from); a repeated undo without O(to_revision) does nothing while that
    revision is still the one it would go back to, so re-runs do not flip between two revisions. An undo with
    O(to_revision) removes that annotation."
  - The undo write carries the resourceVersion that was read, so a concurrent change ends in a reported conflict.
  - In check mode the change is sent as a server-side dry run (C(dryRun=All)) and the task does not wait.
options:
  name:
    description: Name of the Deployment.
    type: str
    required: true
  namespace:
    description: Namespace of the Deployment.
    type: str
    required: true
  images:
    description:
      - Container name to image, for containers or init containers of the pod template.
      - A name that is not a container of the Deployment fails the task, listing its containers; nothing changes.
      - Ignored with O(state=undone).
    type: dict
    default: {}
  state:
    description:
      - V(rolled_out) sets O(images) and waits for the rollout; V(undone) rolls back to a previous revision.
    type: str
    default: rolled_out
    choices: [rolled_out, undone]
  to_revision:
    description:
      - With O(state=undone), the revision to go back to (the C(deployment.kubernetes.io/revision) of one of the
        Deployment's ReplicaSets). Omitted or V(0) means the revision before the current one.
      - A revision that does not exist fails the task, listing the available revisions.
    type: int
  wait:
    description: Wait until the rollout is done (see the predicate above). Never waits in check mode.
    type: bool
    default: true
  timeout:
    description: How many seconds to wait at most.
    type: int
    default: 300
  fail_on_pod_reasons:
    description: Container waiting reasons of a new pod that fail the rollout at once.
    type: list
    elements: str
    default: [ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError, InvalidImageName]
extends_documentation_fragment:
  - llm_research_lab.deploy.k8s_auth
attributes:
  check_mode:
    support: full
    description: Uses the API server's dry run and does not wait.
  diff_mode:
    support: full
    description: Shows the container images before and after.
"""

EXAMPLES = r"""
- name: Roll the green Deployment to v1.2.4 and wait
  llm_research_lab.deploy.deployment_rollout:
    name: research-lab-api-green
    namespace: llm-research-lab
    images:
      api: harbor.example.com/llm-research-lab/api:v1.2.4
    timeout: 300
  register: rollout

- name: Go back to the revision before the current one
  llm_research_lab.deploy.deployment_rollout:
    name: research-lab-api-green
    namespace: llm-research-lab
    state: undone

- name: Go back to an exact revision
  llm_research_lab.deploy.deployment_rollout:
    name: research-lab-api-green
    namespace: llm-research-lab
    state: undone
    to_revision: "{{ rollout.previous_revision }}"
"""

RETURN = r"""
revision:
  description: The Deployment's revision after the task (before the controller caught up when not waiting).
  returned: always
  type: int
  sample: 4
previous_revision:
  description: The Deployment's revision before the task.
  returned: always
  type: int
  sample: 3
previous_images:
  description: Container name to image before the task.
  returned: always
  type: dict
  sample: {api: "harbor.example.com/llm-research-lab/api:v1.2.3"}
images:
  description: Container name to image after the task.
  returned: always
  type: dict
  sample: {api: "harbor.example.com/llm-research-lab/api:v1.2.4"}
ready_replicas:
  description: Ready replicas of the Deployment after the task.
  returned: always
  type: int
  sample: 3
undone_to:
  description: The revision whose template was restored (its number before the controller renumbered it).
  returned: when O(state=undone)
  type: int
  sample: 2
deployment:
  description: The Deployment object after the task.
  returned: success
  type: dict
pods:
  description: The pods of the new ReplicaSet with their phase, readiness and container states.
  returned: when the rollout failed
  type: list
  elements: dict
events:
  description: Recent events of the Deployment, its new ReplicaSet and those pods.
  returned: when the rollout failed
  type: list
  elements: dict
"""

from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s_module import run_k8s_module
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.rollout import ROLLOUT_ARG_SPEC, run


def main():
    run_k8s_module(ROLLOUT_ARG_SPEC, run)


if __name__ == "__main__":
    main()
