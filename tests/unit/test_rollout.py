# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout logic: the strict predicate, image changes, undo revision selection, failure reports."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy

import pytest

from ansible_collections.llm_research_lab.deploy.plugins.module_utils import rollout
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError

UID = "dep-uid-1"
LABELS = {"app": "research-lab", "tier": "api", "environment": "blue"}


def template(image, extra_label=None):
    labels = dict(LABELS)
    if extra_label:
        labels.update(extra_label)
    return {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "api", "image": image}, {"name": "sidecar", "image": "envoy:1.30"}],
                     "initContainers": [{"name": "migrate", "image": "migrate:1"}]}}


def deployment(image="api:v1.2.3", revision=2, generation=4, observed=4, replicas=3, status=None,
               annotations=None, conditions=None, paused=False):
    meta_annotations = {"deployment.kubernetes.io/revision": str(revision), "team": "ml",
                        "kubernetes.io/change-cause": "release v1.2.3"}
    meta_annotations.update(annotations or {})
    st = {"observedGeneration": observed, "replicas": replicas, "updatedReplicas": replicas,
          "readyReplicas": replicas, "availableReplicas": replicas}
    st.update(status or {})
    if conditions is not None:
        st["conditions"] = conditions
    spec = {"replicas": replicas, "selector": {"matchLabels": dict(LABELS)}, "template": template(image)}
    if paused:
        spec["paused"] = True
    return {"metadata": {"name": "api-blue", "namespace": "lab", "uid": UID, "generation": generation,
                         "resourceVersion": "1234", "annotations": meta_annotations},
            "spec": spec, "status": st}


def replicaset(image, revision, owner=UID, pod_hash=None):
    pod_hash = pod_hash or "h%d" % revision
    return {"metadata": {"name": "api-blue-%s" % pod_hash, "uid": "rs-%d" % revision,
                         "labels": dict(LABELS, **{"pod-template-hash": pod_hash}),
                         "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                         "ownerReferences": [{"kind": "Deployment", "name": "api-blue", "uid": owner,
                                              "controller": True}]},
            "spec": {"template": template(image, {"pod-template-hash": pod_hash})}}


# ------------------------------------------------------------ the strict predicate


def test_complete_rollout_is_done():
    state = rollout.rollout_state(deployment())
    assert state.done and not state.failed


def test_stale_observed_generation_is_not_done_even_if_counts_match():
    state = rollout.rollout_state(deployment(generation=5, observed=4))
    assert not state.done and not state.failed
    assert state.message == "the controller has not observed generation 5 yet (observed: 4)"


def test_missing_observed_generation_is_not_done():
    dep = deployment()
    del dep["status"]["observedGeneration"]
    assert not rollout.rollout_state(dep).done


@pytest.mark.parametrize("status,why", [
    ({"updatedReplicas": 2}, "not all replicas updated"),
    ({"replicas": 4}, "surge in progress: an old pod still counted"),
    ({"readyReplicas": 2}, "not all ready"),
    ({"availableReplicas": 2}, "ready but not yet available (minReadySeconds)"),
    ({"unavailableReplicas": 1}, "unavailable replicas reported"),
    ({"updatedReplicas": None, "readyReplicas": None, "availableReplicas": None}, "fresh status"),
])
def test_partial_rollouts_are_not_done(status, why):
    state = rollout.rollout_state(deployment(status=status))
    assert not state.done and not state.failed, why


def test_more_ready_than_desired_during_scale_down_is_not_done():
    assert not rollout.rollout_state(deployment(status={"replicas": 4, "readyReplicas": 4, "availableReplicas": 4})).done


def test_progress_text_names_every_count():
    dep = deployment(status={"updatedReplicas": 1, "replicas": 4, "readyReplicas": 3, "availableReplicas": 3,
                             "unavailableReplicas": 1})
    assert rollout.rollout_state(dep).message == "1 of 3 updated, 3 ready, 3 available, 4 total, 1 unavailable"


def test_progress_deadline_exceeded_fails_at_once():
    conditions = [{"type": "Available", "status": "True"},
                  {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                   "message": 'ReplicaSet "api-blue-h3" has timed out progressing.'}]
    state = rollout.rollout_state(deployment(status={"updatedReplicas": 1}, conditions=conditions))
    assert state.failed and not state.done
    assert state.message == 'progress deadline exceeded: ReplicaSet "api-blue-h3" has timed out progressing.'


def test_deadline_condition_of_an_older_generation_is_not_trusted():
    conditions = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    state = rollout.rollout_state(deployment(generation=6, observed=5, conditions=conditions))
    assert not state.failed and not state.done


def test_progressing_true_is_fine():
    conditions = [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]
    assert rollout.rollout_state(deployment(conditions=conditions)).done


def test_paused_unfinished_rollout_fails_at_once():
    state = rollout.rollout_state(deployment(status={"updatedReplicas": 1}, paused=True))
    assert state.failed
    assert state.message.startswith("the Deployment is paused")


def test_zero_replicas_is_done_when_all_counts_are_zero():
    dep = deployment(replicas=0)
    for key in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
        dep["status"].pop(key)
    assert rollout.rollout_state(dep).done


def test_missing_spec_replicas_defaults_to_one():
    dep = deployment(replicas=1)
    del dep["spec"]["replicas"]
    assert rollout.rollout_state(dep).done


# ------------------------------------------------------------ images


def test_images_patch_is_a_strategic_merge_by_container_name():
    patch, after = rollout.images_patch(deployment(), {"api": "api:v1.2.4", "migrate": "migrate:2"}, "nothing")
    assert patch == {"spec": {"template": {"spec": {
        "containers": [{"name": "api", "image": "api:v1.2.4"}],
        "initContainers": [{"name": "migrate", "image": "migrate:2"}]}}}}
    assert after == {"api": "api:v1.2.4", "sidecar": "envoy:1.30", "migrate": "migrate:2"}


def test_unchanged_images_need_no_patch():
    patch, after = rollout.images_patch(deployment(), {"api": "api:v1.2.3"}, "nothing")
    assert patch is None
    assert after["api"] == "api:v1.2.3"


def test_unknown_container_names_it_and_lists_the_containers():
    with pytest.raises(DeployError) as err:
        rollout.images_patch(deployment(), {"apii": "api:v2", "api": "api:v2"}, "Deployment lab/api-blue was not changed")
    assert err.value.msg == ("container 'apii' not in Deployment lab/api-blue, whose containers are: api, migrate, "
                             "sidecar; Deployment lab/api-blue was not changed")


def test_empty_image_is_refused():
    with pytest.raises(DeployError, match="image '' for container 'api' is not an image reference"):
        rollout.images_patch(deployment(), {"api": ""}, "nothing")


# ------------------------------------------------------------ ReplicaSets and undo


def test_owned_replicasets_match_the_deployment_uid():
    mine, other = replicaset("api:v1", 1), replicaset("api:v1", 1, owner="someone-else")
    assert rollout.owned_replicasets(deployment(), [mine, other]) == [mine]


def test_new_replicaset_is_the_one_with_the_deployments_template():
    rs1, rs2 = replicaset("api:v1.2.2", 1), replicaset("api:v1.2.3", 2)
    assert rollout.new_replicaset(deployment(image="api:v1.2.3"), [rs1, rs2]) is rs2
    assert rollout.new_replicaset(deployment(image="api:v1.2.2"), [rs1, rs2]) is rs1


def test_template_without_hash_strips_only_the_hash_label():
    rs = replicaset("api:v1", 1)
    stripped = rollout.template_without_hash(rs["spec"]["template"])
    assert stripped == template("api:v1")
    assert "pod-template-hash" in rs["spec"]["template"]["metadata"]["labels"]  # original untouched


def history():
    return [replicaset("api:v1.2.1", 1), replicaset("api:v1.2.2", 3), replicaset("api:v1.2.3", 4)]


def test_undo_without_revision_goes_to_the_one_before_the_current():
    plan = rollout.plan_undo(deployment(image="api:v1.2.3", revision=4), history())
    assert (plan["target_revision"], plan["current_revision"], plan["noop"]) == (3, 4, None)


def test_undo_to_an_exact_revision():
    plan = rollout.plan_undo(deployment(image="api:v1.2.3", revision=4), history(), to_revision=1)
    assert plan["target_revision"] == 1
    assert plan["target"]["spec"]["template"]["spec"]["containers"][0]["image"] == "api:v1.2.1"


def test_unknown_revision_lists_the_available_ones():
    with pytest.raises(DeployError) as err:
        rollout.plan_undo(deployment(image="api:v1.2.3", revision=4), history(), to_revision=2)
    assert err.value.msg == ("revision 2 of Deployment lab/api-blue does not exist; its revisions are: 1, 3, 4; "
                             "nothing was changed")


def test_no_earlier_revision_fails():
    with pytest.raises(DeployError, match="has no revision before the current one \\(1\\); its revisions are: 1"):
        rollout.plan_undo(deployment(image="api:v1.2.1", revision=1), [replicaset("api:v1.2.1", 1)])


def test_undo_to_the_template_already_running_is_a_noop():
    plan = rollout.plan_undo(deployment(image="api:v1.2.3", revision=4), history(), to_revision=4)
    assert plan["noop"] == "the Deployment already runs the template of revision 4"


def test_repeated_previous_undo_does_not_flip_back():
    # After undoing 4 -> 3 the controller renumbers the v1.2.2 ReplicaSet to 5; 'previous' would now be 4.
    rs = [replicaset("api:v1.2.1", 1), replicaset("api:v1.2.3", 4), replicaset("api:v1.2.2", 5, pod_hash="h3")]
    dep = deployment(image="api:v1.2.2", revision=5, annotations={rollout.UNDONE_FROM: "4"})
    plan = rollout.plan_undo(dep, rs)
    assert plan["target_revision"] == 4
    assert plan["noop"] == "revision 4 was already undone (annotation deploy.llm-research-lab.io/undone-from)"


def test_stale_undone_from_does_not_block_a_later_undo():
    # After the undo a new rollout (v1.2.4, revision 6) happened: 'previous' is 5 now, not the recorded 4.
    rs = [replicaset("api:v1.2.3", 4), replicaset("api:v1.2.2", 5), replicaset("api:v1.2.4", 6)]
    dep = deployment(image="api:v1.2.4", revision=6, annotations={rollout.UNDONE_FROM: "4"})
    plan = rollout.plan_undo(dep, rs)
    assert (plan["target_revision"], plan["noop"]) == (5, None)


def test_explicit_revision_ignores_the_undone_from_record():
    rs = [replicaset("api:v1.2.1", 1), replicaset("api:v1.2.3", 4), replicaset("api:v1.2.2", 5)]
    dep = deployment(image="api:v1.2.2", revision=5, annotations={rollout.UNDONE_FROM: "4"})
    assert rollout.plan_undo(dep, rs, to_revision=4)["noop"] is None


def test_undo_patch_restores_the_template_and_keeps_annotations():
    dep = deployment(image="api:v1.2.3", revision=4)
    plan = rollout.plan_undo(dep, history())
    ops = rollout.undo_patch(dep, plan, explicit=False)
    assert ops == [
        {"op": "replace", "path": "/spec/template", "value": template("api:v1.2.2")},
        {"op": "replace", "path": "/metadata/resourceVersion", "value": "1234"},
        {"op": "add", "path": "/metadata/annotations/deploy.llm-research-lab.io~1undone-from", "value": "4"},
    ]
    # no operation touches any other annotation: team and change-cause stay as they are
    assert not any(op["path"] == "/metadata/annotations" for op in ops)


def test_undo_patch_when_the_deployment_has_no_annotations():
    dep = deployment(image="api:v1.2.3", revision=4)
    plan = rollout.plan_undo(dep, history())
    del dep["metadata"]["annotations"]
    assert rollout.undo_patch(dep, plan, explicit=False)[-1] == {
        "op": "add", "path": "/metadata/annotations", "value": {rollout.UNDONE_FROM: "4"}}


def test_explicit_undo_removes_the_record():
    dep = deployment(image="api:v1.2.3", revision=4, annotations={rollout.UNDONE_FROM: "2"})
    plan = rollout.plan_undo(dep, history(), to_revision=1)
    assert rollout.undo_patch(dep, plan, explicit=True)[-1] == {
        "op": "remove", "path": "/metadata/annotations/deploy.llm-research-lab.io~1undone-from"}
    dep_without = deployment(image="api:v1.2.3", revision=4)
    assert len(rollout.undo_patch(dep_without, plan, explicit=True)) == 2


# ------------------------------------------------------------ pods, events, selectors


def pod(name, waiting=None, ready=False, restarts=0, terminated=None, init_waiting=None):
    state = {"waiting": waiting} if waiting else ({"terminated": terminated} if terminated else {"running": {}})
    status = {"phase": "Pending" if waiting else "Running",
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
              "containerStatuses": [{"name": "api", "ready": ready, "restartCount": restarts, "image": "api:v2",
                                     "state": state}]}
    if init_waiting:
        status["initContainerStatuses"] = [{"name": "migrate", "ready": False, "restartCount": 0,
                                            "state": {"waiting": init_waiting}}]
    return {"metadata": {"name": name}, "status": status}


def test_stuck_pods_by_waiting_reason():
    pods = [pod("a", waiting={"reason": "ImagePullBackOff", "message": 'Back-off pulling image "api:v9"'}),
            pod("b", waiting={"reason": "ContainerCreating"}),
            pod("c", init_waiting={"reason": "CrashLoopBackOff", "message": "back-off 10s"}),
            pod("d", ready=True)]
    assert rollout.stuck_pods(pods, rollout.DEFAULT_FAIL_REASONS) == [
        ("a", "api", "ImagePullBackOff", 'Back-off pulling image "api:v9"'),
        ("c", "migrate", "CrashLoopBackOff", "back-off 10s")]
    assert rollout.stuck_pods(pods, []) == []


def test_pod_report_and_summary():
    report = rollout.pod_report(pod("a", waiting={"reason": "CrashLoopBackOff", "message": "back-off 40s"}, restarts=4))
    assert report == {"name": "a", "phase": "Pending", "ready": False, "terminating": False, "containers": [
        {"name": "api", "ready": False, "restart_count": 4, "image": "api:v2",
         "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}]}
    assert rollout.pod_summary(report) == ("pod a Pending, not ready: container api waiting CrashLoopBackOff "
                                           "(back-off 40s); container api restarted 4 times")


def test_pod_report_terminated_state_has_exit_code():
    report = rollout.pod_report(pod("a", terminated={"reason": "Error", "exitCode": 3, "message": "boom"}))
    assert report["containers"][0]["terminated"] == {"reason": "Error", "message": "boom", "exit_code": 3}


def test_recent_events_are_sorted_and_limited():
    events = [{"involvedObject": {"kind": "Pod", "name": "a"}, "type": "Warning", "reason": "Failed",
               "message": "m%d" % i, "count": 1, "lastTimestamp": "2026-01-05T10:00:%02dZ" % i} for i in (5, 1, 9, 3)]
    recent = rollout.recent_events(events, limit=3)
    assert [e["message"] for e in recent] == ["m3", "m5", "m9"]
    assert recent[0]["object"] == "Pod/a"


def test_label_selector_with_expressions():
    selector = {"matchLabels": {"tier": "api", "app": "research-lab"},
                "matchExpressions": [{"key": "environment", "operator": "In", "values": ["blue", "green"]},
                                     {"key": "track", "operator": "NotIn", "values": ["canary"]},
                                     {"key": "managed", "operator": "Exists"},
                                     {"key": "legacy", "operator": "DoesNotExist"}]}
    assert rollout.selector_string(selector) == (
        "app=research-lab,tier=api,environment in (blue,green),track notin (canary),managed,!legacy")


def test_revision_of_reads_the_annotation():
    assert rollout.revision_of(deployment(revision=7)) == 7
    assert rollout.revision_of({"metadata": {}}) is None
    dep = copy.deepcopy(deployment())
    dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "x"
    assert rollout.revision_of(dep) is None
