# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The blue-green switch's logic: selector merge, removal, replace, diff, and ready-pod counting."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.llm_research_lab.deploy.plugins.module_utils import selector as sel
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.errors import DeployError
from ansible_collections.llm_research_lab.deploy.plugins.module_utils.k8s import Ref

CURRENT = {"app": "research-lab", "tier": "api", "environment": "blue"}
UNTOUCHED = "Service lab/research-lab-api was not changed"


def pod(name, labels, phase="Running", ready="True", terminating=False):
    metadata = {"name": name, "labels": labels}
    if terminating:
        metadata["deletionTimestamp"] = "2026-01-05T10:00:00Z"
    return {"metadata": metadata,
            "status": {"phase": phase, "conditions": [{"type": "PodScheduled", "status": "True"},
                                                      {"type": "Ready", "status": ready}]}}


GREEN = {"app": "research-lab", "tier": "api", "environment": "green"}


def test_merge_sets_requested_keys_and_keeps_the_others():
    assert sel.merge_selector(CURRENT, {"environment": "green"}) == GREEN


def test_merge_removes_keys_requested_as_null():
    assert sel.merge_selector(CURRENT, {"tier": None, "environment": "green"}) == {
        "app": "research-lab", "environment": "green"}


def test_removing_an_absent_key_is_no_change():
    assert sel.merge_selector(CURRENT, {"version": None}) == CURRENT


def test_replace_takes_exactly_the_requested_keys():
    assert sel.merge_selector(CURRENT, {"app": "research-lab", "environment": "green", "x": None},
                              replace=True) == {"app": "research-lab", "environment": "green"}


def test_merge_does_not_modify_the_current_selector():
    current = dict(CURRENT)
    sel.merge_selector(current, {"environment": "green"})
    assert current == CURRENT


def test_patch_sends_changed_keys_and_nulls_for_removed_ones():
    assert sel.selector_patch(CURRENT, {"app": "research-lab", "environment": "green"}) == {
        "environment": "green", "tier": None}


def test_integer_values_become_label_strings():
    assert sel.normalise({"release": 3, "gone": None}, UNTOUCHED) == {"release": "3", "gone": None}


@pytest.mark.parametrize("value", [True, 1.5, ["blue"], {"a": "b"}])
def test_non_string_values_are_refused(value):
    with pytest.raises(DeployError, match="is not a label value .*; %s" % UNTOUCHED):
        sel.normalise({"environment": value}, UNTOUCHED)


def test_invalid_label_value_is_named():
    with pytest.raises(DeployError) as err:
        sel.normalise({"environment": "green!"}, UNTOUCHED)
    assert err.value.msg.startswith("selector value 'green!' for key 'environment' is not a valid label value")
    assert err.value.msg.endswith(UNTOUCHED)


def test_invalid_label_key_is_named():
    with pytest.raises(DeployError, match="selector key 'bad key' is not a valid label key"):
        sel.normalise({"bad key": "x"}, UNTOUCHED)


def test_selector_string_is_sorted_and_comma_separated():
    assert sel.selector_string(GREEN) == "app=research-lab,environment=green,tier=api"


def test_ready_pods_are_running_ready_and_not_terminating():
    assert sel.pod_is_ready(pod("a", GREEN))
    assert not sel.pod_is_ready(pod("b", GREEN, ready="False"))
    assert not sel.pod_is_ready(pod("c", GREEN, phase="Pending", ready="False"))
    assert not sel.pod_is_ready(pod("d", GREEN, terminating=True))
    assert not sel.pod_is_ready({"metadata": {"name": "e"}, "status": {"phase": "Running"}})


def test_count_ready_pods_counts_only_ready_matching_non_terminating_pods():
    pods = [pod("g1", GREEN), pod("g2", GREEN), pod("g3", GREEN, terminating=True),
            pod("g4", GREEN, ready="False"), pod("b1", CURRENT),
            pod("g5", dict(GREEN, version="v2"))]
    assert sel.count_ready_pods(pods, GREEN) == 3  # g1, g2 and g5 (extra labels still match)
    assert sel.count_ready_pods(pods, dict(GREEN, version="v2")) == 1


def test_empty_selector_matches_no_pod():
    assert sel.count_ready_pods([pod("a", GREEN)], {}) == 0


def test_diff_shows_the_selector_before_and_after():
    diff = sel.selector_diff(Ref("Service", "lab", "api"), CURRENT, GREEN)
    assert diff["before"] == {"selector": CURRENT}
    assert diff["after"] == {"selector": GREEN}
    assert diff["before_header"] == "Service lab/api selector"


def test_format_selector_is_stable_for_messages():
    assert sel.format_selector(GREEN) == "{app: research-lab, environment: green, tier: api}"
