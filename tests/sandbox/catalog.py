"""Image catalog of the sandbox kubelet: what a container image is and how its process behaves.

The sandbox has no registry. An image "exists" when the catalog (``catalog.yaml`` next to this
file, plus extra files that tests write) knows it; everything else is unknown, and the kubelet
reports ``ErrImagePull``. The research-lab API image takes its behaviour from its tag: every
``vX.Y.Z`` is healthy and suffixes inject faults (``v1.3.0-err30-slow200ms``). See
``catalog.yaml`` for the file format.

    cat = Catalog(paths=[DEFAULT_CATALOG, extra])
    behaviour = cat.resolve("harbor.example.com/llm-research-lab/api:v1.3.0-err30")
    argv = behaviour.command(sys.executable)
    env = behaviour.environment()
"""
from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

DEFAULT_CATALOG = Path(__file__).with_name("catalog.yaml")
DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
KINDS = ("app", "tcp")
MAX_LEAK_MB_PER_S = 4096.0

_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_REGISTRY = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[A-Za-z0-9=_-]{32,}$")
_VERSION_TAG = re.compile(r"^(v\d+\.\d+\.\d+)((?:-[A-Za-z0-9_.]+)*)$")
_ERR_SUFFIX = re.compile(r"^err(\d+)$")
_SLOW_SUFFIX = re.compile(r"^slow(\d+)ms$")
_LEAK_SUFFIX = re.compile(r"^leak(\d+)?$")

_TOP_LEVEL_KEYS = {"version", "fault_defaults", "repositories", "images"}
_REPOSITORY_KEYS = {"repository", "kind", "tags", "version_tags", "behaviour"}
_FAULT_KEYS = {"error_percent", "latency_ms", "crash", "unready", "leak_mb_per_s"}
_IMAGE_KEYS = {"image", "kind", "version"} | _FAULT_KEYS


class CatalogError(Exception):
    """A catalog file (or a behaviour document) is malformed; the message names file and problem."""


# --------------------------------------------------------------------------- image references


@dataclasses.dataclass(frozen=True)
class ImageReference:
    """A parsed image reference, normalised the way docker does."""

    registry: str
    path: str
    tag: Optional[str]
    digest: Optional[str]

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.path}"

    @property
    def canonical(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image(image: str) -> ImageReference:
    """Parse ``[registry[:port]/]path[:tag][@digest]``; a missing tag means ``latest``.

    Raises ValueError naming the bad part.
    """
    if not isinstance(image, str) or not image or image != image.strip():
        raise ValueError(f"image reference {image!r} is empty or has surrounding whitespace")
    name, digest = image, None
    if "@" in image:
        name, digest = image.split("@", 1)
        if not _DIGEST.match(digest):
            raise ValueError(f"image reference {image!r}: bad digest {digest!r}")
    tag = None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.match(tag):
            raise ValueError(f"image reference {image!r}: bad tag {tag!r}")
    if tag is None and digest is None:
        tag = "latest"
    registry, path = _split_registry(image, name)
    return ImageReference(registry=registry, path=path, tag=tag, digest=digest)


def _split_registry(image: str, name: str) -> tuple[str, str]:
    parts = name.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        if not _REGISTRY.match(first):
            raise ValueError(f"image reference {image!r}: bad registry {first!r}")
        registry, path_parts = first, parts[1:]
    else:
        registry, path_parts = DOCKER_HUB, parts
    if registry in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if len(path_parts) == 1:
            path_parts = ["library", *path_parts]
    for component in path_parts:
        if not _PATH_COMPONENT.match(component):
            raise ValueError(f"image reference {image!r}: bad repository path component {component!r}")
    return registry, "/".join(path_parts)


def normalise_repository(name: str) -> str:
    """``kafka`` -> ``docker.io/library/kafka``; raises ValueError for a bad name or one with a tag."""
    ref = parse_image(name)
    if ref.digest or (ref.tag != "latest" or name.endswith(":latest")):
        raise ValueError(f"repository {name!r} must not carry a tag or digest")
    return ref.repository


# --------------------------------------------------------------------------- behaviour


@dataclasses.dataclass(frozen=True)
class ImageBehaviour:
    """What a container of one image does when the kubelet starts it."""

    image: str
    kind: str
    version: str
    error_percent: float = 0
    latency_ms: int = 0
    crash: bool = False
    unready: bool = False
    leak_mb_per_s: float = 0

    def command(self, python_executable: str) -> list[str]:
        """argv that starts the container's process (cwd = checkout root)."""
        module = "tests.sandbox.app" if self.kind == "app" else "tests.sandbox.app.tcp_listener"
        return [python_executable, "-m", module]

    def environment(self) -> dict[str, str]:
        """Environment the process needs on top of the pod spec's env."""
        return {"SANDBOX_IMAGE": self.image, "SANDBOX_BEHAVIOUR": self.to_json()}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ImageBehaviour":
        """Parse ``SANDBOX_BEHAVIOUR``; raises CatalogError naming the bad field."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CatalogError(f"SANDBOX_BEHAVIOUR is not JSON ({exc}): {text[:200]!r}") from None
        if not isinstance(data, dict):
            raise CatalogError(f"SANDBOX_BEHAVIOUR must be a JSON object, got {text[:200]!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CatalogError(f"SANDBOX_BEHAVIOUR has unknown fields {unknown}")
        where = "SANDBOX_BEHAVIOUR"
        faults = _validate_faults(where, {k: v for k, v in data.items() if k in _FAULT_KEYS})
        kind = _validate_kind(where, data.get("kind", "app"))
        for key in ("image", "version"):
            if not isinstance(data.get(key, ""), str):
                raise CatalogError(f"{where}: {key} must be a string, got {data[key]!r}")
        return cls(image=data.get("image", ""), kind=kind, version=data.get("version", ""), **faults)


def _validate_kind(where: str, kind: Any) -> str:
    if kind not in KINDS:
        raise CatalogError(f"{where}: kind must be one of {list(KINDS)}, got {kind!r}")
    return kind


def _validate_faults(where: str, faults: dict) -> dict:
    """Check fault fields' types and ranges; returns them unchanged."""
    for key, value in faults.items():
        if key in ("crash", "unready"):
            if not isinstance(value, bool):
                raise CatalogError(f"{where}: {key} must be true or false, got {value!r}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CatalogError(f"{where}: {key} must be a number, got {value!r}")
        if key == "error_percent" and not 0 <= value <= 100:
            raise CatalogError(f"{where}: error_percent must be between 0 and 100, got {value!r}")
        if key == "latency_ms" and (value < 0 or int(value) != value):
            raise CatalogError(f"{where}: latency_ms must be a whole number >= 0, got {value!r}")
        if key == "leak_mb_per_s" and not 0 <= value <= MAX_LEAK_MB_PER_S:
            raise CatalogError(f"{where}: leak_mb_per_s must be between 0 and {MAX_LEAK_MB_PER_S:g}, got {value!r}")
    if "latency_ms" in faults:
        faults = {**faults, "latency_ms": int(faults["latency_ms"])}
    return faults


def faults_from_suffixes(suffixes: Iterable[str], default_leak_mb_per_s: float) -> Optional[dict]:
    """Fault fields for tag suffixes like ``err30``, ``slow200ms``; None if one is out of range.

    Unrecognised suffixes (``canary``, ``rc1``) add nothing; when a fault repeats, the last wins.
    """
    faults: dict[str, Any] = {}
    for suffix in suffixes:
        if m := _ERR_SUFFIX.match(suffix):
            if int(m.group(1)) > 100:
                return None
            faults["error_percent"] = int(m.group(1))
        elif m := _SLOW_SUFFIX.match(suffix):
            faults["latency_ms"] = int(m.group(1))
        elif suffix in ("crash", "unready"):
            faults[suffix] = True
        elif m := _LEAK_SUFFIX.match(suffix):
            rate = float(m.group(1)) if m.group(1) else default_leak_mb_per_s
            if rate > MAX_LEAK_MB_PER_S:
                return None
            faults["leak_mb_per_s"] = rate
    return faults


# --------------------------------------------------------------------------- catalog files


@dataclasses.dataclass(frozen=True)
class _RepositoryRule:
    repository: str
    kind: str
    tags: tuple[str, ...]
    version_tags: bool
    behaviour: dict
    default_leak_mb_per_s: float

    def match(self, ref: ImageReference, image: str) -> tuple[Optional[ImageBehaviour], str]:
        if ref.digest:
            return None, f"{image}: digests of {self.repository} are unknown unless listed under images"
        if not any(fnmatch.fnmatchcase(ref.tag, pattern) for pattern in self.tags):
            return None, f"{image}: tag {ref.tag!r} does not exist in {self.repository}"
        faults = dict(self.behaviour)
        if self.version_tags:
            m = _VERSION_TAG.match(ref.tag)
            if not m:
                return None, f"{image}: tag {ref.tag!r} of {self.repository} is not vX.Y.Z[-suffix...]"
            suffixes = [s for s in m.group(2).split("-") if s]
            tag_faults = faults_from_suffixes(suffixes, self.default_leak_mb_per_s)
            if tag_faults is None:
                return None, f"{image}: a fault suffix of tag {ref.tag!r} is out of range"
            faults.update(tag_faults)
        return ImageBehaviour(image=image, kind=self.kind, version=ref.tag, **faults), ""


@dataclasses.dataclass(frozen=True)
class _ImageRule:
    canonical: str
    kind: str
    version: Optional[str]
    behaviour: dict

    def build(self, ref: ImageReference, image: str) -> ImageBehaviour:
        version = self.version or ref.tag or (ref.digest or "")[:19]
        return ImageBehaviour(image=image, kind=self.kind, version=version, **self.behaviour)


@dataclasses.dataclass
class _CatalogFile:
    path: Path
    repositories: list[_RepositoryRule]
    images: dict[str, _ImageRule]


def _load_file(path: Path) -> _CatalogFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read catalog file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: the catalog must be a mapping, got {type(data).__name__}")
    _reject_unknown_keys(f"{path}", data, _TOP_LEVEL_KEYS)
    if data.get("version", 1) != 1:
        raise CatalogError(f"{path}: unsupported catalog version {data['version']!r} (expected 1)")
    default_leak = _fault_defaults(path, data.get("fault_defaults") or {})
    repositories = [
        _repository_rule(f"{path}: repositories[{i}]", entry, default_leak)
        for i, entry in enumerate(_list(path, data, "repositories"))
    ]
    images: dict[str, _ImageRule] = {}
    for i, entry in enumerate(_list(path, data, "images")):
        rule = _image_rule(f"{path}: images[{i}]", entry)
        images[rule.canonical] = rule
    return _CatalogFile(path=path, repositories=repositories, images=images)


def _list(path: Path, data: dict, key: str) -> list:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise CatalogError(f"{path}: {key} must be a list, got {type(value).__name__}")
    return value


def _reject_unknown_keys(where: str, entry: dict, allowed: set) -> None:
    unknown = sorted(str(k) for k in set(entry) - allowed)
    if unknown:
        raise CatalogError(f"{where}: unknown keys {unknown} (allowed: {sorted(allowed)})")


def _fault_defaults(path: Path, defaults: Any) -> float:
    if not isinstance(defaults, dict):
        raise CatalogError(f"{path}: fault_defaults must be a mapping")
    _reject_unknown_keys(f"{path}: fault_defaults", defaults, {"leak_mb_per_s"})
    faults = _validate_faults(f"{path}: fault_defaults", {"leak_mb_per_s": defaults.get("leak_mb_per_s", 20)})
    return float(faults["leak_mb_per_s"])


def _repository_rule(where: str, entry: Any, default_leak: float) -> _RepositoryRule:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: must be a mapping, got {entry!r}")
    _reject_unknown_keys(where, entry, _REPOSITORY_KEYS)
    if not isinstance(entry.get("repository"), str):
        raise CatalogError(f"{where}: repository (a string) is required")
    try:
        repository = normalise_repository(entry["repository"])
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    tags = entry.get("tags", "*")
    tags = [tags] if isinstance(tags, str) else tags
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t for t in tags):
        raise CatalogError(f"{where}: tags must be a glob string or a non-empty list of them, got {entry.get('tags')!r}")
    version_tags = entry.get("version_tags", False)
    if not isinstance(version_tags, bool):
        raise CatalogError(f"{where}: version_tags must be true or false, got {version_tags!r}")
    behaviour = entry.get("behaviour") or {}
    if not isinstance(behaviour, dict):
        raise CatalogError(f"{where}: behaviour must be a mapping")
    _reject_unknown_keys(f"{where}: behaviour", behaviour, _FAULT_KEYS)
    return _RepositoryRule(
        repository=repository,
        kind=_validate_kind(where, entry.get("kind")),
        tags=tuple(tags),
        version_tags=version_tags,
        behaviour=_validate_faults(f"{where}: behaviour", dict(behaviour)),
        default_leak_mb_per_s=default_leak,
    )


def _image_rule(where: str, entry: Any) -> _ImageRule:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: must be a mapping, got {entry!r}")
    _reject_unknown_keys(where, entry, _IMAGE_KEYS)
    if not isinstance(entry.get("image"), str):
        raise CatalogError(f"{where}: image (a string) is required")
    try:
        ref = parse_image(entry["image"])
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    version = entry.get("version")
    if version is not None and (not isinstance(version, str) or not version):
        raise CatalogError(f"{where}: version must be a non-empty string, got {version!r}")
    faults = {k: v for k, v in entry.items() if k in _FAULT_KEYS}
    return _ImageRule(
        canonical=ref.canonical,
        kind=_validate_kind(where, entry.get("kind", "app")),
        version=version,
        behaviour=_validate_faults(where, faults),
    )


class Catalog:
    """The images the sandbox knows, read from YAML files (later files take precedence).

    Missing files are ignored, except the shipped default catalog; a malformed file raises
    CatalogError naming the file and the problem.
    """

    def __init__(self, paths: Optional[Iterable[Path | str]] = None):
        self.paths = [Path(p) for p in (paths if paths is not None else [DEFAULT_CATALOG])]
        self._files = [_load_file(p) for p in self.paths if p.exists() or _is_default(p)]

    def resolve(self, image: str) -> Optional[ImageBehaviour]:
        """The behaviour of ``image``, or None when the sandbox has no such image."""
        return self._lookup(image)[0]

    def explain(self, image: str) -> str:
        """Why ``image`` resolves the way it does (for kubelet events); empty when known."""
        return self._lookup(image)[1]

    def _lookup(self, image: str) -> tuple[Optional[ImageBehaviour], str]:
        try:
            ref = parse_image(image)
        except ValueError as exc:
            return None, str(exc)
        for catalog_file in reversed(self._files):
            for key in _explicit_keys(ref):
                if key in catalog_file.images:
                    return catalog_file.images[key].build(ref, image), ""
        reason = f"{image}: repository {ref.repository} is not in the sandbox image catalog"
        for catalog_file in reversed(self._files):
            for rule in catalog_file.repositories:
                if rule.repository == ref.repository:
                    behaviour, reason = rule.match(ref, image)
                    if behaviour:
                        return behaviour, ""
        return None, reason


def _explicit_keys(ref: ImageReference) -> list[str]:
    keys = [ref.canonical]
    if ref.tag and ref.digest:
        keys.append(f"{ref.repository}@{ref.digest}")
    return keys


def _is_default(path: Path) -> bool:
    try:
        return path.resolve() == DEFAULT_CATALOG.resolve()
    except OSError:
        return False
