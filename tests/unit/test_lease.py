# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout lease decisions with a fixed clock: create, renew, take over, expiry, data in annotations."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json

import pytest

from ansible_collections.llm_research_lab.deploy.plugins.module_utils import lease as L
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 1, 5, 10, 0, 0, 123456, tzinfo=UTC)


def at(seconds):
    """The fake clock: NOW plus ``seconds``."""
    return NOW + datetime.timedelta(seconds=seconds)


def lease(holder="canary-v1.3.0", acquired=-600, renewed=-60, ttl=900, transitions=2, annotations=None):
    spec = {"leaseDurationSeconds": ttl, "leaseTransitions": transitions,
            "acquireTime": L.format_time(at(acquired)), "renewTime": L.format_time(at(renewed))}
    if holder:
        spec["holderIdentity"] = holder
    return {"metadata": {"name": "research-lab-rollout", "namespace": "lab", "resourceVersion": "42",
                         "annotations": annotations or {}},
            "spec": spec}


def test_microtime_format_round_trips():
    assert L.format_time(NOW) == "2026-01-05T10:00:00.123456Z"
    assert L.parse_time("2026-01-05T10:00:00.123456Z") == NOW
    assert L.parse_time("2026-01-05T10:00:00Z") == NOW.replace(microsecond=0)


def test_unreadable_time_is_named():
    with pytest.raises(DeployError, match="cannot read the time 'yesterday'"):
        L.parse_time("yesterday")


def test_lease_name():
    assert L.lease_name("research-lab") == "research-lab-rollout"


# ------------------------------------------------------------ expiry


def test_expiry_is_renew_time_plus_duration():
    assert L.expires_at(lease(renewed=-60, ttl=900)) == at(840)


def test_live_until_the_expiry_and_expired_after_it():
    held = lease(renewed=-900, ttl=900)
    assert L.is_live(held, NOW)
    assert not L.is_live(held, at(0.001))
    assert not L.is_live(lease(holder=None), NOW)


# ------------------------------------------------------------ acquire decisions


def test_no_lease_is_created():
    assert L.decide_acquire(None, "me", NOW) == "create"


def test_released_lease_is_acquired():
    assert L.decide_acquire(lease(holder=None), "me", NOW) == "acquire"


def test_own_lease_is_renewed_even_when_expired():
    assert L.decide_acquire(lease(holder="me"), "me", NOW) == "renew"
    assert L.decide_acquire(lease(holder="me", renewed=-5000), "me", NOW) == "renew"


def test_live_lease_of_another_holder_is_refused():
    assert L.decide_acquire(lease(holder="other"), "me", NOW) == "held"


def test_expired_lease_of_another_holder_is_taken_over():
    assert L.decide_acquire(lease(holder="other", renewed=-901, ttl=900), "me", NOW) == "take_over"


def test_force_takes_over_a_live_lease():
    assert L.decide_acquire(lease(holder="other"), "me", NOW, force=True) == "take_over"


def test_holder_description_says_who_since_when_and_until_when():
    text = L.describe_holder(lease(holder="other", acquired=-600, renewed=-60, ttl=900), NOW)
    assert text == ("held by 'other' since 2026-01-05T09:50:00.123456Z, expires 2026-01-05T10:14:00.123456Z "
                    "(in 840 s)")


# ------------------------------------------------------------ new spec


def test_create_spec():
    spec = L.new_spec(None, "me", 300, NOW, "create")
    assert spec == {"holderIdentity": "me", "acquireTime": "2026-01-05T10:00:00.123456Z",
                    "renewTime": "2026-01-05T10:00:00.123456Z", "leaseDurationSeconds": 300, "leaseTransitions": 0}


def test_take_over_counts_a_transition_and_restarts_acquire_time():
    spec = L.new_spec(lease(holder="other", transitions=2), "me", 900, NOW, "take_over")
    assert spec["holderIdentity"] == "me"
    assert spec["leaseTransitions"] == 3
    assert spec["acquireTime"] == L.format_time(NOW)


def test_acquiring_a_released_lease_counts_a_transition():
    assert L.new_spec(lease(holder=None, transitions=2), "me", 900, NOW, "acquire")["leaseTransitions"] == 3


def test_renew_keeps_acquire_time_and_transitions():
    old = lease(holder="me", acquired=-600, transitions=2)
    spec = L.new_spec(old, "me", 1200, NOW, "renew")
    assert spec["acquireTime"] == old["spec"]["acquireTime"]
    assert spec["renewTime"] == L.format_time(NOW)
    assert (spec["leaseTransitions"], spec["leaseDurationSeconds"]) == (2, 1200)


def test_release_clears_the_holder_and_keeps_the_rest():
    old = lease(holder="me")
    spec = L.new_spec(old, "me", 900, NOW, "release")
    assert "holderIdentity" not in spec
    assert spec["acquireTime"] == old["spec"]["acquireTime"]
    assert old["spec"]["holderIdentity"] == "me"  # the lease read is not modified


# ------------------------------------------------------------ data


def test_named_keys_get_their_own_annotation_and_the_rest_one_json_annotation():
    data = {"strategy": "canary", "stage": "weight-25", "from_version": "v1.2.3", "to_version": "v1.3.0",
            "weights": [5, 25], "job": 4711}
    annotations = L.data_annotations(data)
    assert annotations == {
        "deploy.llm-research-lab.io/strategy": "canary", "deploy.llm-research-lab.io/stage": "weight-25",
        "deploy.llm-research-lab.io/from-version": "v1.2.3", "deploy.llm-research-lab.io/to-version": "v1.3.0",
        "deploy.llm-research-lab.io/data": json.dumps({"job": 4711, "weights": [5, 25]}, sort_keys=True)}
    assert L.read_data({"metadata": {"annotations": annotations}}) == data


def test_foreign_annotations_are_kept_and_ours_replaced():
    current = {"owner": "platform", "deploy.llm-research-lab.io/stage": "old", "deploy.llm-research-lab.io/data": "{}"}
    assert L.with_data(current, {"stage": "new"}) == {"owner": "platform", "deploy.llm-research-lab.io/stage": "new"}


def test_merge_data_removes_null_keys():
    assert L.merge_data({"stage": "a", "x": 1}, {"stage": "b", "x": None, "y": 2}) == {"stage": "b", "y": 2}
    assert L.merge_data({"stage": "a"}, None) == {"stage": "a"}


def test_unreadable_json_data_is_surfaced_not_lost():
    data = L.read_data({"metadata": {"annotations": {"deploy.llm-research-lab.io/data": "{oops"}}})
    assert data == {"_unreadable": "{oops"}


# ------------------------------------------------------------ results


def test_lease_view():
    view = L.lease_view(lease(holder="me", acquired=-600, renewed=-60, ttl=900, transitions=2), NOW)
    assert view == {"name": "research-lab-rollout", "namespace": "lab", "holder": "me",
                    "acquire_time": "2026-01-05T09:50:00.123456Z", "renew_time": "2026-01-05T09:59:00.123456Z",
                    "duration": 900, "expires": "2026-01-05T10:14:00.123456Z", "expired": False, "transitions": 2}
    released = L.lease_view(lease(holder=None), NOW)
    assert (released["holder"], released["expires"], released["expired"]) == (None, None, False)
    assert L.lease_view(lease(holder="other", renewed=-1000, ttl=900), NOW)["expired"] is True


def test_a_bare_renewal_is_not_a_change_but_new_data_or_ttl_is():
    before = lease(holder="me", annotations={"deploy.llm-research-lab.io/stage": "a"})
    renewed = lease(holder="me", renewed=0, annotations={"deploy.llm-research-lab.io/stage": "a"})
    assert L.meaning(before) == L.meaning(renewed)
    assert L.meaning(before) != L.meaning(lease(holder="me", ttl=60, annotations={"deploy.llm-research-lab.io/stage": "a"}))
    assert L.meaning(before) != L.meaning(lease(holder="me", annotations={"deploy.llm-research-lab.io/stage": "b"}))


def test_lease_body_keeps_resource_version_for_optimistic_concurrency():
    from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s import Ref
    old = lease(holder="me", annotations={"owner": "platform"})
    old["metadata"]["managedFields"] = [{"manager": "x"}]
    body = L.lease_body(Ref("Lease", "lab", "research-lab-rollout"), old, {"holderIdentity": "me"}, {"stage": "s"})
    assert body["metadata"]["resourceVersion"] == "42"
    assert "managedFields" not in body["metadata"]
    assert body["metadata"]["annotations"] == {"owner": "platform", "deploy.llm-research-lab.io/stage": "s"}
    new = L.lease_body(Ref("Lease", "lab", "research-lab-rollout"), None, {}, {})
    assert new["metadata"] == {"name": "research-lab-rollout", "namespace": "lab", "annotations": {}}
