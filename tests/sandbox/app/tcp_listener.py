"""``python -m tests.sandbox.app.tcp_listener``: the process of a "tcp" image (e.g. Kafka).

Listens on POD_IP at every port in SANDBOX_TCP_PORTS (comma list, the pod's containerPorts),
accepts connections and holds them until the client closes them; data sent is read and
discarded. It is enough for TCP reachability checks, not a protocol implementation.
SIGTERM or SIGINT: close the listeners and connections, exit 0.
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import sys
from typing import Mapping


class ConfigError(Exception):
    pass


def parse_ports(text: str) -> list[int]:
    ports = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if not item.isdigit() or not 1 <= int(item) <= 65535:
            raise ConfigError(f"SANDBOX_TCP_PORTS must be a comma list of ports 1-65535, got item {item!r}")
        ports.append(int(item))
    return ports


def _settings(env: Mapping[str, str]) -> tuple[str, list[int]]:
    host = env.get("POD_IP", "") or "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"POD_IP must be an IP address, got {host!r}") from None
    return host, parse_ports(env.get("SANDBOX_TCP_PORTS", ""))


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, open_writers: set) -> None:
    open_writers.add(writer)
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, OSError):
        pass
    finally:
        open_writers.discard(writer)
        writer.close()


async def serve(host: str, ports: list[int], image: str) -> int:
    open_writers: set = set()
    servers = []
    try:
        for port in ports:
            servers.append(await asyncio.start_server(lambda r, w: _hold(r, w, open_writers), host, port))
    except OSError as exc:
        print(f"tcp listener: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        for server in servers:
            server.close()
        return 1
    if ports:
        print(f"tcp listener for {image or 'unknown image'} listening on {host} ports {ports}", flush=True)
    else:
        print(f"tcp listener for {image or 'unknown image'}: the pod declares no containerPorts; idle", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()
    for writer in list(open_writers):
        writer.close()
    for server in servers:
        await server.wait_closed()
    print("tcp listener stopped", flush=True)
    return 0


def main() -> int:
    try:
        host, ports = _settings(os.environ)
    except ConfigError as exc:
        print(f"tcp listener: configuration error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(serve(host, ports, os.environ.get("SANDBOX_IMAGE", "")))


if __name__ == "__main__":
    sys.exit(main())
