"""The sandbox image catalog: which images exist and what their tags make a pod do."""
import json
import sys

import pytest

from tests.sandbox.catalog import DEFAULT_CATALOG, Catalog, CatalogError, ImageBehaviour, parse_image

API = "harbor.example.com/llm-research-lab/api"


@pytest.fixture(scope="module")
def catalog():
    return Catalog(paths=[DEFAULT_CATALOG])


def write(tmp_path, text, name="extra.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- image references


@pytest.mark.parametrize("image, registry, path, tag, digest", [
    ("kafka", "docker.io", "library/kafka", "latest", None),
    ("bitnami/kafka:3.6", "docker.io", "bitnami/kafka", "3.6", None),
    ("docker.io/apache/kafka:3.7.0", "docker.io", "apache/kafka", "3.7.0", None),
    ("index.docker.io/library/kafka:3", "docker.io", "library/kafka", "3", None),
    ("localhost:5000/team/app:1.0", "localhost:5000", "team/app", "1.0", None),
    ("registry.local:5000/app", "registry.local:5000", "app", "latest", None),
    (f"{API}:v1.3.0", "harbor.example.com", "llm-research-lab/api", "v1.3.0", None),
    (f"{API}@sha256:{'a' * 64}", "harbor.example.com", "llm-research-lab/api", None, f"sha256:{'a' * 64}"),
    (f"{API}:v1@sha256:{'b' * 64}", "harbor.example.com", "llm-research-lab/api", "v1", f"sha256:{'b' * 64}"),
])
def test_image_references_are_normalised_like_docker(image, registry, path, tag, digest):
    ref = parse_image(image)
    assert (ref.registry, ref.path, ref.tag, ref.digest) == (registry, path, tag, digest)


@pytest.mark.parametrize("image", ["", " kafka", "Kafka:1", "kafka:", "kafka:bad tag", "kafka@sha256:xyz",
                                   "harbor.example.com//api:v1"])
def test_malformed_image_references_are_rejected_with_the_bad_part_named(image):
    with pytest.raises(ValueError, match="image reference"):
        parse_image(image)


# --------------------------------------------------------------------------- the API repository


def test_every_version_tag_of_the_api_is_healthy(catalog):
    b = catalog.resolve(f"{API}:v1.2.3")
    assert (b.kind, b.version, b.error_percent, b.latency_ms, b.crash, b.unready, b.leak_mb_per_s) == \
        ("app", "v1.2.3", 0, 0, False, False, 0)
    assert b.image == f"{API}:v1.2.3"


@pytest.mark.parametrize("tag, expected", [
    ("v1.3.0-err30", {"error_percent": 30}),
    ("v1.3.0-err0", {"error_percent": 0}),
    ("v1.3.0-err100", {"error_percent": 100}),
    ("v1.3.0-slow200ms", {"latency_ms": 200}),
    ("v1.3.0-crash", {"crash": True}),
    ("v1.3.0-unready", {"unready": True}),
    ("v1.3.0-leak", {"leak_mb_per_s": 20}),
    ("v1.3.0-leak64", {"leak_mb_per_s": 64}),
    ("v1.3.0-canary", {}),
    ("v1.3.0-rc1", {}),
    ("v1.3.0-rc.1-canary", {}),
    ("v2.0.0-slow50ms-err5", {"latency_ms": 50, "error_percent": 5}),
    ("v2.0.0-err5-slow50ms", {"latency_ms": 50, "error_percent": 5}),
    ("v2.0.0-canary-err10-unready-leak5", {"error_percent": 10, "unready": True, "leak_mb_per_s": 5}),
    ("v2.0.0-err10-err20", {"error_percent": 20}),
])
def test_tag_suffixes_inject_faults_in_any_order(catalog, tag, expected):
    b = catalog.resolve(f"{API}:{tag}")
    healthy = {"error_percent": 0, "latency_ms": 0, "crash": False, "unready": False, "leak_mb_per_s": 0}
    actual = {key: getattr(b, key) for key in healthy}
    assert actual == {**healthy, **expected}
    assert b.version == tag


@pytest.mark.parametrize("tag", ["latest", "1.3.0", "v1.3", "v1.3.0.1", "v1.3.0-", "v1.3.0--err5", "release-v1.3.0",
                                 "v1.3.0-err101"])
def test_tags_that_are_not_versions_are_unknown(catalog, tag):
    assert catalog.resolve(f"{API}:{tag}") is None
    assert catalog.explain(f"{API}:{tag}")


def test_an_untagged_api_image_means_latest_which_does_not_exist(catalog):
    assert catalog.resolve(API) is None
    assert "'latest'" in catalog.explain(API)


def test_a_digest_is_unknown_unless_listed(catalog):
    image = f"{API}@sha256:{'c' * 64}"
    assert catalog.resolve(image) is None
    assert "digest" in catalog.explain(image)


# --------------------------------------------------------------------------- tcp images and unknown images


@pytest.mark.parametrize("image, version", [
    ("bitnami/kafka:3.6", "3.6"),
    ("apache/kafka:3.7.0", "3.7.0"),
    ("kafka:3.5", "3.5"),
    ("kafka", "latest"),
    ("docker.io/library/kafka:2", "2"),
])
def test_kafka_images_are_tcp_listeners(catalog, image, version):
    b = catalog.resolve(image)
    assert b.kind == "tcp" and b.version == version


@pytest.mark.parametrize("image", ["nginx:1.25", "harbor.example.com/other/api:v1.0.0", "bitnami/redis:7",
                                   "harbor.example.com:443/llm-research-lab/api:v1.0.0", "not a reference"])
def test_images_outside_the_catalog_are_unknown(catalog, image):
    assert catalog.resolve(image) is None
    assert catalog.explain(image)


# --------------------------------------------------------------------------- process and environment


def test_app_images_start_the_sample_application(catalog):
    b = catalog.resolve(f"{API}:v1.3.0-err30")
    assert b.command("/usr/bin/python3") == ["/usr/bin/python3", "-m", "tests.sandbox.app"]
    env = b.environment()
    assert env["SANDBOX_IMAGE"] == f"{API}:v1.3.0-err30"
    behaviour = json.loads(env["SANDBOX_BEHAVIOUR"])
    assert behaviour["error_percent"] == 30 and behaviour["kind"] == "app" and behaviour["version"] == "v1.3.0-err30"
    assert ImageBehaviour.from_json(env["SANDBOX_BEHAVIOUR"]) == b


def test_tcp_images_start_the_tcp_listener(catalog):
    b = catalog.resolve("bitnami/kafka:3.6")
    assert b.command(sys.executable) == [sys.executable, "-m", "tests.sandbox.app.tcp_listener"]


@pytest.mark.parametrize("text, problem", [
    ("[1, 2]", "must be a JSON object"),
    ("not json", "not JSON"),
    ('{"error_percent": 120}', "error_percent must be between 0 and 100"),
    ('{"crash": "yes"}', "crash must be true or false"),
    ('{"latency_ms": -1}', "latency_ms must be a whole number"),
    ('{"kind": "vm"}', "kind must be one of"),
    ('{"colour": "blue"}', "unknown fields"),
])
def test_a_bad_behaviour_document_is_rejected_with_the_field_named(text, problem):
    with pytest.raises(CatalogError, match=problem):
        ImageBehaviour.from_json(text)


# --------------------------------------------------------------------------- extra catalog files


def test_explicit_entries_in_an_extra_file_define_exact_images(tmp_path):
    extra = write(tmp_path, f"""
images:
  - image: {API}:weird
    error_percent: 50
  - image: {API}@sha256:{'d' * 64}
    version: v9.9.9-pinned
    latency_ms: 30
""")
    cat = Catalog(paths=[DEFAULT_CATALOG, extra])
    weird = cat.resolve(f"{API}:weird")
    assert (weird.kind, weird.version, weird.error_percent) == ("app", "weird", 50)
    pinned = cat.resolve(f"{API}@sha256:{'d' * 64}")
    assert (pinned.version, pinned.latency_ms) == ("v9.9.9-pinned", 30)
    assert cat.resolve(f"{API}:v1.0.0").error_percent == 0  # the default catalog still applies


def test_a_later_file_overrides_an_earlier_one(tmp_path):
    first = write(tmp_path, f"images:\n  - image: {API}:weird\n    error_percent: 50\n", "first.yaml")
    second = write(tmp_path, f"images:\n  - image: {API}:weird\n    error_percent: 10\n", "second.yaml")
    assert Catalog(paths=[DEFAULT_CATALOG, first, second]).resolve(f"{API}:weird").error_percent == 10


def test_an_extra_file_can_add_a_repository_with_glob_tags_and_base_behaviour(tmp_path):
    extra = write(tmp_path, """
repositories:
  - repository: registry.local:5000/slow/api
    kind: app
    tags: ["1.*", "stable"]
    behaviour: {latency_ms: 40}
""")
    cat = Catalog(paths=[DEFAULT_CATALOG, extra])
    assert cat.resolve("registry.local:5000/slow/api:1.4").latency_ms == 40
    assert cat.resolve("registry.local:5000/slow/api:stable").version == "stable"
    assert cat.resolve("registry.local:5000/slow/api:2.0") is None


def test_missing_extra_files_are_ignored(tmp_path):
    cat = Catalog(paths=[DEFAULT_CATALOG, tmp_path / "absent.yaml"])
    assert cat.resolve(f"{API}:v1.0.0") is not None


def test_a_missing_default_catalog_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.sandbox.catalog.DEFAULT_CATALOG", tmp_path / "catalog.yaml")
    with pytest.raises(CatalogError, match="catalog.yaml: cannot read"):
        Catalog(paths=[tmp_path / "catalog.yaml"])


def test_an_empty_extra_file_adds_nothing(tmp_path):
    cat = Catalog(paths=[DEFAULT_CATALOG, write(tmp_path, "")])
    assert cat.resolve("nginx:1") is None


@pytest.mark.parametrize("text, problem", [
    ("images: [\n", "invalid YAML"),
    ("- a\n- b\n", "must be a mapping"),
    ("version: 2\n", "unsupported catalog version 2"),
    ("imagez: []\n", r"unknown keys \['imagez'\]"),
    ("images: {a: 1}\n", "images must be a list"),
    ("images:\n  - kind: app\n", r"images\[0\]: image \(a string\) is required"),
    ("images:\n  - image: 'Bad Image'\n", r"images\[0\]: image reference 'Bad Image'"),
    ("images:\n  - image: x:1\n    error_percent: 150\n", "error_percent must be between 0 and 100"),
    ("images:\n  - image: x:1\n    latency_ms: fast\n", "latency_ms must be a number"),
    ("images:\n  - image: x:1\n    crash: 1\n", "crash must be true or false"),
    ("images:\n  - image: x:1\n    kind: vm\n", "kind must be one of"),
    ("images:\n  - image: x:1\n    colour: red\n", r"unknown keys \['colour'\]"),
    ("repositories:\n  - kind: tcp\n", r"repositories\[0\]: repository \(a string\) is required"),
    ("repositories:\n  - repository: x\n    kind: tcp\n    tags: []\n", "tags must be a glob string"),
    ("repositories:\n  - repository: x:1\n    kind: tcp\n", "must not carry a tag"),
    ("repositories:\n  - repository: x\n    kind: tcp\n    version_tags: sometimes\n", "version_tags must be"),
    ("repositories:\n  - repository: x\n    kind: app\n    behaviour: {leak_mb_per_s: -1}\n", "leak_mb_per_s"),
    ("fault_defaults: {leak_mb_per_s: 'lots'}\n", "leak_mb_per_s must be a number"),
])
def test_a_malformed_catalog_file_names_the_file_and_the_problem(tmp_path, text, problem):
    bad = write(tmp_path, text, "bad-catalog.yaml")
    with pytest.raises(CatalogError, match=problem) as info:
        Catalog(paths=[DEFAULT_CATALOG, bad])
    assert str(bad) in str(info.value)


def test_fault_defaults_set_what_a_bare_leak_suffix_means(tmp_path):
    extra = write(tmp_path, f"""
fault_defaults: {{leak_mb_per_s: 7}}
repositories:
  - repository: {API}
    kind: app
    version_tags: true
""")
    assert Catalog(paths=[DEFAULT_CATALOG, extra]).resolve(f"{API}:v1.0.0-leak").leak_mb_per_s == 7
