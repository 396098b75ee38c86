"""The application's settings, read only from environment variables.

The sandbox has no DNS: hostnames in DATABASE_URL, REDIS_URL and KAFKA_BROKERS are looked up
in SANDBOX_HOSTS (a JSON object hostname -> IP) first; names not in the map are used as-is.
"""
from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import re
from typing import Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

from tests.sandbox.catalog import Catalog, CatalogError, ImageBehaviour, parse_image


class ConfigError(Exception):
    """An environment variable has a value the application cannot use; the message names it."""


@dataclasses.dataclass(frozen=True)
class Settings:
    pod_ip: str
    pod_name: str
    pod_namespace: str
    http_port: int
    metrics_port: int
    image: str
    version: str
    behaviour: ImageBehaviour
    database_url: Optional[str]
    redis_url: Optional[str]
    kafka_brokers: tuple[tuple[str, int], ...]
    username: Optional[str]
    password: Optional[str]
    token_key: Optional[bytes]

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> "Settings":
        hosts = _hosts_map(env.get("SANDBOX_HOSTS", ""))
        behaviour = _behaviour(env)
        image = env.get("SANDBOX_IMAGE", "") or behaviour.image
        username = env.get("APP_USERNAME") or None
        password = env.get("APP_PASSWORD") or None
        return cls(
            pod_ip=_ip(env.get("POD_IP", "127.0.0.1")),
            pod_name=env.get("POD_NAME", "") or "local",
            pod_namespace=env.get("POD_NAMESPACE", "") or "default",
            http_port=_port(env, "APP_HTTP_PORT", 8080),
            metrics_port=_port(env, "APP_METRICS_PORT", 9090),
            image=image,
            version=behaviour.version or _tag_of(image),
            behaviour=behaviour,
            database_url=_resolve_url(env, "DATABASE_URL", hosts, ("postgres", "postgresql")),
            redis_url=_resolve_url(env, "REDIS_URL", hosts, ("redis",)),
            kafka_brokers=_brokers(env.get("KAFKA_BROKERS", ""), hosts),
            username=username,
            password=password,
            token_key=_token_key(env.get("APP_TOKEN_SECRET") or None, password),
        )


def _behaviour(env: Mapping[str, str]) -> ImageBehaviour:
    text = env.get("SANDBOX_BEHAVIOUR", "")
    if not text:
        # Outside the sandbox (a container image built from Dockerfile, e.g. for kind) nobody
        # passes the behaviour: take it from the image's own tag, as the catalog would.
        image = env.get("SANDBOX_IMAGE", "")
        found = Catalog().resolve(image) if image else None
        return found if found is not None else ImageBehaviour(image=image, kind="app", version="")
    try:
        return ImageBehaviour.from_json(text)
    except CatalogError as exc:
        raise ConfigError(str(exc)) from None


def _tag_of(image: str) -> str:
    try:
        ref = parse_image(image)
    except ValueError:
        return "unknown"
    return ref.tag or (ref.digest or "unknown")[:19]


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ConfigError(f"POD_IP must be an IP address, got {value!r}") from None


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "") or str(default)
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise ConfigError(f"{name} must be a port number 0-65535, got {value!r}")
    return int(value)


def _hosts_map(text: str) -> dict[str, str]:
    if not text:
        return {}
    try:
        hosts = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"SANDBOX_HOSTS is not JSON ({exc}): {text[:200]!r}") from None
    if not isinstance(hosts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in hosts.items()):
        raise ConfigError(f"SANDBOX_HOSTS must be a JSON object of hostname -> IP strings, got {text[:200]!r}")
    return {name.lower(): ip for name, ip in hosts.items()}


def resolve_host(host: str, hosts: Mapping[str, str]) -> str:
    return hosts.get(host.lower(), host)


def _resolve_url(env: Mapping[str, str], name: str, hosts: Mapping[str, str], schemes: tuple) -> Optional[str]:
    url = env.get(name, "")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"{name} must look like {schemes[-1]}://[user[:password]@]host[:port]/..., got scheme "
                          f"{parts.scheme!r} and host {parts.hostname!r}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{name} has a bad port in {parts.netloc.rpartition('@')[2]!r}") from None
    userinfo, at, _ = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}{resolve_host(parts.hostname, hosts)}" + (f":{port}" if port else "")
    return urlunsplit(parts._replace(netloc=netloc))


_BROKER = re.compile(r"^([^\s:,]+):(\d{1,5})$")


def _brokers(text: str, hosts: Mapping[str, str]) -> tuple[tuple[str, int], ...]:
    brokers = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        m = _BROKER.match(item)
        if not m or int(m.group(2)) > 65535:
            raise ConfigError(f"KAFKA_BROKERS must be a comma list of host:port, got item {item!r}")
        brokers.append((resolve_host(m.group(1), hosts), int(m.group(2))))
    return tuple(brokers)


def _token_key(secret: Optional[str], password: Optional[str]) -> Optional[bytes]:
    """The HMAC key for bearer tokens: APP_TOKEN_SECRET, else one derived from APP_PASSWORD."""
    if secret:
        return secret.encode()
    if password:
        return hashlib.sha256(b"research-lab-token-key:" + password.encode()).digest()
    return None


def redact_url(url: Optional[str]) -> str:
    """A URL fit for logs: the password replaced by ***."""
    if not url:
        return "(unset)"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))
