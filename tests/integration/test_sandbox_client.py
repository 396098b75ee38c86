"""The official ``kubernetes`` Python client against the sandbox cluster (issue 2, "Show": the
Python client): CRUD, optimistic concurrency, label and field selectors, watch, generation,
generateName and the deletion propagation policies."""
import json
import time

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from .conftest import API_IMAGE, deployment

pytestmark = pytest.mark.sandbox


@pytest.fixture
def ns(sandbox):
    name = sandbox.namespace("client")
    yield name
    sandbox.delete_namespace(name)


@pytest.fixture(scope="module")
def core(sandbox):
    return sandbox.core()


@pytest.fixture(scope="module")
def apps(sandbox):
    return sandbox.apps()


def configmap(name, labels=None, data=None):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data or {"k": "v"})


def status_of(err):
    """The Kubernetes Status object of a failed call."""
    return json.loads(err.value.body)


def names(items):
    return sorted(item.metadata.name for item in items)


# ------------------------------------------------------------------ CRUD


def test_create_read_patch_delete_a_configmap(core, ns):
    created = core.create_namespaced_config_map(ns, configmap("settings", {"app": "x"}, {"mode": "a"}))
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp
    read = core.read_namespaced_config_map("settings", ns)
    assert read.data == {"mode": "a"} and read.metadata.uid == created.metadata.uid

    patched = core.patch_namespaced_config_map("settings", ns, {"data": {"extra": "b"}})
    assert patched.data == {"mode": "a", "extra": "b"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)

    status = core.delete_namespaced_config_map("settings", ns)
    # The client hands the DELETE answer back as a dict: Kubernetes' Status for a removed object.
    assert status["kind"] == "Status" and status["status"] == "Success" and status["details"]["name"] == "settings"
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("settings", ns)
    assert err.value.status == 404
    assert status_of(err) | {"details": None} == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound",
        "code": 404, "message": 'configmaps "settings" not found', "details": None}


def test_replace_with_a_stale_resource_version_is_a_conflict_and_changes_nothing(core, ns):
    core.create_namespaced_config_map(ns, configmap("shared", data={"owner": "first"}))
    stale = core.read_namespaced_config_map("shared", ns)
    fresh = core.replace_namespaced_config_map("shared", ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="shared", resource_version=stale.metadata.resource_version),
        data={"owner": "second"}))
    assert fresh.data == {"owner": "second"}
    stale.data = {"owner": "third"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("shared", ns, stale)
    assert err.value.status == 409 and status_of(err)["reason"] == "Conflict"
    assert "the object has been modified" in status_of(err)["message"]
    after = core.read_namespaced_config_map("shared", ns)
    assert after.data == {"owner": "second"} and after.metadata.resource_version == fresh.metadata.resource_version


def test_a_deployment_is_created_read_and_scaled_through_its_scale_subresource(apps, ns, sandbox):
    apps.create_namespaced_deployment(ns, deployment("scaled", replicas=1))
    scale = apps.read_namespaced_deployment_scale("scaled", ns)
    assert scale.spec.replicas == 1
    apps.patch_namespaced_deployment_scale("scaled", ns, {"spec": {"replicas": 2}})
    sandbox.wait_for(lambda: apps.read_namespaced_deployment("scaled", ns).status.ready_replicas == 2,
                     what="two ready replicas")
    assert apps.read_namespaced_deployment_scale("scaled", ns).status.replicas == 2


# ------------------------------------------------------------------ selectors


@pytest.fixture
def labelled(core, ns):
    for name, labels in (("a", {"env": "prod", "tier": "api"}), ("b", {"env": "dev", "tier": "api"}),
                         ("c", {"env": "prod"}), ("d", None)):
        core.create_namespaced_config_map(ns, configmap(name, labels))
    return ns


@pytest.mark.parametrize("selector, expected", [
    ("env=prod", ["a", "c"]),
    ("env==prod", ["a", "c"]),
    ("env!=prod", ["b", "d"]),            # != also matches objects without the key, as in Kubernetes
    ("env in (prod,dev)", ["a", "b", "c"]),
    ("env notin (prod)", ["b", "d"]),
    ("tier", ["a", "b"]),
    ("!tier", ["c", "d"]),
    ("env=prod,tier", ["a"]),
    ("env in (prod),!tier", ["c"]),
])
def test_list_with_a_label_selector(core, labelled, selector, expected):
    assert names(core.list_namespaced_config_map(labelled, label_selector=selector).items) == expected


def test_a_malformed_label_selector_is_a_bad_request(core, labelled):
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(labelled, label_selector="env in prod")
    assert err.value.status == 400


def test_list_with_field_selectors_on_name_and_namespace(core, labelled):
    assert names(core.list_namespaced_config_map(labelled, field_selector="metadata.name=b").items) == ["b"]
    assert names(core.list_namespaced_config_map(labelled, field_selector="metadata.name!=b").items) == \
        ["a", "c", "d"]
    everywhere = core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=%s" % labelled)
    assert names(everywhere.items) == ["a", "b", "c", "d"]
    assert {item.metadata.namespace for item in everywhere.items} == {labelled}
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(labelled, field_selector="data.k=v")
    assert err.value.status == 400 and "data.k" in status_of(err)["message"]


def test_list_pods_by_status_phase(core, ns, sandbox):
    def pod(name, image):
        return client.V1Pod(metadata=client.V1ObjectMeta(name=name),
                            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image=image)]))
    core.create_namespaced_pod(ns, pod("runs", API_IMAGE % "v1.2.3"))
    core.create_namespaced_pod(ns, pod("never-pulled", "registry.invalid/nothing:1"))
    sandbox.wait_for(lambda: core.read_namespaced_pod("runs", ns).status.phase == "Running", what="a running pod")
    assert names(core.list_namespaced_pod(ns, field_selector="status.phase=Running").items) == ["runs"]
    assert names(core.list_namespaced_pod(ns, field_selector="status.phase=Pending").items) == ["never-pulled"]
    assert names(core.list_namespaced_pod(ns, field_selector="status.phase!=Running").items) == ["never-pulled"]


# ------------------------------------------------------------------ watch


def test_watch_streams_events_as_they_happen(core, ns):
    events = []
    stream = watch.Watch().stream(core.list_namespaced_config_map, ns, timeout_seconds=10)
    core.create_namespaced_config_map(ns, configmap("watched"))
    for event in stream:
        events.append((event["type"], event["object"].metadata.name))
        if event["type"] == "ADDED":
            core.patch_namespaced_config_map("watched", ns, {"data": {"k": "changed"}})
        elif event["type"] == "MODIFIED":
            assert event["object"].data == {"k": "changed"}
            core.delete_namespaced_config_map("watched", ns)
        elif event["type"] == "DELETED":
            break
    assert events == [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")]


def test_watch_resumes_from_a_resource_version(core, ns):
    core.create_namespaced_config_map(ns, configmap("before"))
    listed = core.list_namespaced_config_map(ns)
    # Changes made while nobody watches...
    core.create_namespaced_config_map(ns, configmap("after"))
    core.patch_namespaced_config_map("before", ns, {"data": {"k": "2"}})
    core.delete_namespaced_config_map("after", ns)
    # ... are replayed, in order, to a watch started at the list's resourceVersion.
    seen = []
    for event in watch.Watch().stream(core.list_namespaced_config_map, ns, timeout_seconds=2,
                                      resource_version=listed.metadata.resource_version):
        seen.append((event["type"], event["object"].metadata.name))
    assert seen == [("ADDED", "after"), ("MODIFIED", "before"), ("DELETED", "after")]


def test_watch_ends_after_timeout_seconds(core, ns):
    core.create_namespaced_config_map(ns, configmap("quiet"))
    listed = core.list_namespaced_config_map(ns)
    started = time.monotonic()
    seen = list(watch.Watch().stream(core.list_namespaced_config_map, ns, timeout_seconds=1,
                                     resource_version=listed.metadata.resource_version, _request_timeout=30))
    assert seen == []
    assert time.monotonic() - started < 10   # the server closed the stream; the client did not time out


def test_a_watch_with_a_label_selector_sees_an_object_leave_the_selection_as_deleted(core, ns):
    core.create_namespaced_config_map(ns, configmap("mover", {"stage": "canary"}))
    listed = core.list_namespaced_config_map(ns, label_selector="stage=canary")
    core.patch_namespaced_config_map("mover", ns, {"metadata": {"labels": {"stage": "stable"}}})
    seen = [(e["type"], e["object"].metadata.labels) for e in watch.Watch().stream(
        core.list_namespaced_config_map, ns, label_selector="stage=canary", timeout_seconds=1,
        resource_version=listed.metadata.resource_version)]
    assert seen == [("DELETED", {"stage": "stable"})]


# ------------------------------------------------------------------ metadata


def test_generation_moves_only_when_the_spec_changes(apps, ns, sandbox):
    created = apps.create_namespaced_deployment(ns, deployment("gen", replicas=1))
    assert created.metadata.generation == 1
    sandbox.wait_for(lambda: apps.read_namespaced_deployment("gen", ns).status.ready_replicas == 1,
                     what="the Deployment to be ready")
    status_written = apps.read_namespaced_deployment("gen", ns)
    assert status_written.metadata.generation == 1 and status_written.status.observed_generation == 1
    relabelled = apps.patch_namespaced_deployment("gen", ns, {"metadata": {"labels": {"extra": "yes"},
                                                                          "annotations": {"note": "x"}}})
    assert relabelled.metadata.generation == 1
    assert int(relabelled.metadata.resource_version) > int(status_written.metadata.resource_version)
    respec = apps.patch_namespaced_deployment("gen", ns, {"spec": {"replicas": 2}})
    assert respec.metadata.generation == 2
    sandbox.wait_for(lambda: apps.read_namespaced_deployment("gen", ns).status.observed_generation == 2,
                     what="observedGeneration 2")


def test_generate_name_gives_each_object_a_unique_name(core, ns):
    meta = client.V1ObjectMeta(generate_name="job-config-")
    first = core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=meta))
    second = core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=meta))
    for made in (first, second):
        assert made.metadata.name.startswith("job-config-") and len(made.metadata.name) == len("job-config-") + 5
        assert made.metadata.generate_name == "job-config-"
    assert first.metadata.name != second.metadata.name
    assert names(core.list_namespaced_config_map(ns).items) == sorted([first.metadata.name, second.metadata.name])


# ------------------------------------------------------------------ deletion propagation


def _ready(apps, ns, name, replicas):
    return (apps.read_namespaced_deployment(name, ns).status.available_replicas or 0) == replicas


def test_foreground_deletion_removes_dependents_before_the_owner(apps, core, ns, sandbox):
    apps.create_namespaced_deployment(ns, deployment("fg", replicas=2))
    sandbox.wait_for(lambda: _ready(apps, ns, "fg", 2), what="two available replicas")
    apps.delete_namespaced_deployment("fg", ns, propagation_policy="Foreground")
    # The owner stays, marked for deletion, while its dependents go.
    owner = apps.read_namespaced_deployment("fg", ns)
    assert owner.metadata.deletion_timestamp is not None and owner.metadata.finalizers == ["foregroundDeletion"]
    gone = []

    def owner_gone():
        pods = core.list_namespaced_pod(ns, label_selector="app=fg").items
        sets = apps.list_namespaced_replica_set(ns, label_selector="app=fg").items
        try:
            apps.read_namespaced_deployment("fg", ns)
        except ApiException as err:
            assert err.status == 404
            gone.append((len(sets), len(pods)))
            return True
        return False
    sandbox.wait_for(owner_gone, timeout=30, what="the foreground deletion to finish")
    # When the owner disappeared, its ReplicaSet and pods were already gone: the ReplicaSet is itself
    # deleted in the foreground, so it waits for its pods, as in Kubernetes.
    assert gone[0] == (0, 0)


def test_orphan_deletion_keeps_the_replicaset_and_its_pods(apps, core, ns, sandbox):
    apps.create_namespaced_deployment(ns, deployment("orphans", replicas=2))
    sandbox.wait_for(lambda: _ready(apps, ns, "orphans", 2), what="two available replicas")
    pods_before = names(core.list_namespaced_pod(ns, label_selector="app=orphans").items)
    apps.delete_namespaced_deployment("orphans", ns, propagation_policy="Orphan")
    sandbox.wait_for(lambda: not apps.list_namespaced_deployment(ns).items, what="the Deployment to go")
    sets = apps.list_namespaced_replica_set(ns, label_selector="app=orphans").items
    assert len(sets) == 1 and not sets[0].metadata.owner_references
    time.sleep(0.5)  # give a (wrong) cascade the chance to happen
    pods = core.list_namespaced_pod(ns, label_selector="app=orphans").items
    assert names(pods) == pods_before
    assert all(p.status.phase == "Running" and not p.metadata.deletion_timestamp for p in pods)
    # The orphaned ReplicaSet still owns and manages its pods.
    assert all(p.metadata.owner_references[0].name == sets[0].metadata.name for p in pods)
