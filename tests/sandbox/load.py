"""Open-loop HTTP load generator for the sandbox (loopback targets only).

    python -m tests.sandbox load --url http://127.0.0.1:PORT/ --rps 50 --duration 30 --out load.jsonl
    python -m tests.sandbox.load ...   (same arguments)

Requests start on a fixed schedule, N per second, whatever the responses take, so a slow
version cannot lower the offered rate. Each request uses a new connection (Connection: close),
so a Service or Ingress change affects the very next request. One JSON line per request goes to
--out while the run goes on:

    {"t": 1700000000.123, "status": 200, "latency_ms": 3.2, "version": "v1.2.3", "error": null}

status 0 means no HTTP answer (connection error, timeout, concurrency cap). At the end a JSON
summary is printed to stdout (see ``summarise``). SIGTERM/SIGINT stop early, still summarised.
"""
from __future__ import annotations

import argparse
import array
import asyncio
import dataclasses
import ipaddress
import json
import math
import os
import signal
import ssl
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO, Optional
from urllib.parse import urlsplit

MAX_RPS = 5000
MIN_DURATION_S, MAX_DURATION_S = 0.1, 3600.0
DEFAULT_CONCURRENCY = 2000
FLUSH_INTERVAL_S = 0.25
MAX_HEADER_BYTES = 64 * 1024


class LoadError(Exception):
    """Bad arguments or a target the generator refuses; the message names the value."""


@dataclasses.dataclass(frozen=True)
class Target:
    scheme: str
    address: str  # the loopback IP connected to
    port: int
    host_header: str
    request_target: str  # path and query
    server_name: str  # for TLS


@dataclasses.dataclass
class Plan:
    target: Target
    method: str
    headers: list[tuple[str, str]]
    body: bytes
    rps: float
    duration_s: float
    timeout_s: float
    concurrency: int
    insecure: bool


# --------------------------------------------------------------------------- arguments


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c in name for c in " \r\n") or any(c in value for c in "\r\n"):
        raise argparse.ArgumentTypeError(f"header must be NAME:VALUE, got {text!r}")
    return name.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.sandbox load",
                                     description="Open-loop HTTP load against a loopback target.")
    parser.add_argument("--url", required=True, help="http(s)://HOST[:PORT]/PATH on 127.0.0.0/8")
    parser.add_argument("--rps", type=float, required=True, help=f"requests per second, 1..{MAX_RPS}")
    parser.add_argument("--duration", type=float, required=True,
                        help=f"seconds, {MIN_DURATION_S:g}..{MAX_DURATION_S:g}")
    parser.add_argument("--out", required=True, type=Path, help="JSON lines file, one line per request")
    parser.add_argument("--header", action="append", type=_header, default=[], metavar="K:V",
                        help="extra request header (repeatable)")
    parser.add_argument("--host", help="Host header to send (e.g. to pick an Ingress rule)")
    parser.add_argument("--method", default="GET", help="HTTP method (default GET)")
    parser.add_argument("--data", help="request body (sent with Content-Length)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                        help=f"most requests in flight; beyond it a request counts as failed (default {DEFAULT_CONCURRENCY})")
    parser.add_argument("--insecure", action="store_true", help="https: do not verify the certificate")
    return parser


def resolve_target(url: str, host_header: Optional[str] = None) -> Target:
    """Parse the URL and check that its host is on loopback; raises LoadError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoadError(f"--url must be http://HOST[:PORT]/PATH or https://..., got {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise LoadError(f"--url has a bad port: {url!r}") from None
    address = _loopback_address(parts.hostname)
    request_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=parts.scheme, address=address, port=port,
                  host_header=host_header or parts.netloc.rpartition("@")[2], request_target=request_target,
                  server_name=host_header or parts.hostname)


def _loopback_address(hostname: str) -> str:
    """The address to connect to. Names come from /etc/hosts only: no DNS query leaves the machine."""
    addresses = [hostname] if _is_ip(hostname) else hosts_file_addresses(hostname)
    if not addresses:
        raise LoadError(f"cannot resolve {hostname!r} without DNS: use a loopback IP address or a name "
                        "from /etc/hosts (such as localhost)")
    outside = [a for a in addresses if not ipaddress.ip_address(a).is_loopback]
    if outside:
        raise LoadError(f"refusing to send load to {hostname!r} (resolves to {', '.join(addresses)}): "
                        "only loopback targets (127.0.0.0/8, ::1) are allowed")
    ipv4 = [a for a in addresses if ":" not in a]
    return (ipv4 or addresses)[0]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def hosts_file_addresses(hostname: str, path: str = "/etc/hosts") -> list[str]:
    """Addresses /etc/hosts gives ``hostname`` (case-insensitive), in file order."""
    found = []
    try:
        with open(path, encoding="utf-8", errors="replace") as hosts:
            for line in hosts:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2 and _is_ip(fields[0]) and hostname.lower() in (f.lower() for f in fields[1:]):
                    found.append(fields[0])
    except OSError:
        pass
    return found


def plan_from_args(args: argparse.Namespace) -> Plan:
    if not (math.isfinite(args.rps) and 1 <= args.rps <= MAX_RPS):
        raise LoadError(f"--rps must be between 1 and {MAX_RPS}, got {args.rps:g}")
    if not (math.isfinite(args.duration) and MIN_DURATION_S <= args.duration <= MAX_DURATION_S):
        raise LoadError(f"--duration must be between {MIN_DURATION_S:g} and {MAX_DURATION_S:g} s, got {args.duration:g}")
    if not (math.isfinite(args.timeout) and 0 < args.timeout <= 300):
        raise LoadError(f"--timeout must be between 0 and 300 s, got {args.timeout:g}")
    if not 1 <= args.concurrency <= 20000:
        raise LoadError(f"--concurrency must be between 1 and 20000, got {args.concurrency}")
    method = args.method.upper()
    if not method.isalpha():
        raise LoadError(f"--method must be an HTTP method name, got {args.method!r}")
    return Plan(target=resolve_target(args.url, args.host), method=method, headers=list(args.header),
                body=(args.data or "").encode(), rps=args.rps, duration_s=args.duration, timeout_s=args.timeout,
                concurrency=args.concurrency, insecure=args.insecure)


# --------------------------------------------------------------------------- one request


def request_bytes(plan: Plan) -> bytes:
    lines = [f"{plan.method} {plan.target.request_target} HTTP/1.1", f"Host: {plan.target.host_header}",
             "User-Agent: sandbox-load/1", "Accept: */*", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in plan.headers]
    if plan.body or plan.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(plan.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + plan.body


async def _exchange(plan: Plan, payload: bytes, tls: Optional[ssl.SSLContext]) -> tuple[int, Optional[str]]:
    """Send the request on a new connection; returns (status, X-App-Version) once the body is read."""
    target = plan.target
    reader, writer = await asyncio.open_connection(
        target.address, target.port, ssl=tls, server_hostname=target.server_name if tls else None,
        limit=MAX_HEADER_BYTES)
    try:
        writer.write(payload)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status, headers = _parse_head(head)
        length = headers.get("content-length")
        if plan.method == "HEAD" or status in (204, 304):
            pass
        elif length is not None and length.isdigit():
            await reader.readexactly(int(length))
        else:
            while await reader.read(65536):
                pass
        return status, headers.get("x-app-version")
    finally:
        writer.close()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/") or not code.isdigit():
        raise ValueError(f"bad status line {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(code), headers


async def one_request(plan: Plan, payload: bytes, tls: Optional[ssl.SSLContext]) -> dict:
    started_at = time.time()
    started = time.perf_counter()
    status, version, error = 0, None, None
    try:
        status, version = await asyncio.wait_for(_exchange(plan, payload, tls), plan.timeout_s)
    except asyncio.TimeoutError:
        error = f"timeout after {plan.timeout_s:g} s"
    except asyncio.IncompleteReadError:
        error = "connection closed before a complete response"
    except asyncio.LimitOverrunError:
        error = "response header too large"
    except ssl.SSLError as exc:
        error = f"TLS error: {exc.reason or exc}"
    except OSError as exc:
        # asyncio words a refused connect as "Connect call failed (...)": the errno says it plainly.
        error = os.strerror(exc.errno).lower() if exc.errno else (str(exc) or type(exc).__name__)
    except ValueError as exc:
        error = str(exc)
    return {"t": round(started_at, 6), "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3), "version": version, "error": error}


# --------------------------------------------------------------------------- the run


class _Journal:
    """Buffers records and appends them to the JSONL file every FLUSH_INTERVAL_S."""

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self.pending: list[dict] = []

    def add(self, record: dict) -> None:
        self.pending.append(record)

    def flush(self) -> None:
        if self.pending:
            self.stream.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in self.pending))
            self.pending.clear()
        self.stream.flush()

    async def flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            self.flush()


async def run(plan: Plan, out: Path, stop: Optional[asyncio.Event] = None) -> bool:
    """Send the planned load, writing records to ``out``. Returns True if stopped early."""
    stop = stop or asyncio.Event()
    payload = request_bytes(plan)
    tls = _tls_context(plan.insecure) if plan.target.scheme == "https" else None
    total = max(1, round(plan.rps * plan.duration_s))
    in_flight: set[asyncio.Task] = set()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as stream:
        journal = _Journal(stream)
        flusher = asyncio.create_task(journal.flush_periodically())

        async def send() -> None:
            journal.add(await one_request(plan, payload, tls))

        start = time.perf_counter()
        sent = 0
        while sent < total and not stop.is_set():
            # Start every request that is due by now: late wake-ups do not lower the rate.
            due = min(total, math.floor((time.perf_counter() - start) * plan.rps) + 1)
            while sent < due:
                sent += 1
                if len(in_flight) >= plan.concurrency:
                    journal.add(_capped(plan.concurrency))
                    continue
                task = asyncio.create_task(send())
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if sent < total:
                next_at = start + sent / plan.rps
                try:
                    await asyncio.wait_for(stop.wait(), max(next_at - time.perf_counter(), 0))
                except asyncio.TimeoutError:
                    pass
        if in_flight:
            await asyncio.wait(list(in_flight))  # each is bounded by --timeout
        flusher.cancel()
        journal.flush()
    return sent < total


def _capped(limit: int) -> dict:
    return {"t": round(time.time(), 6), "status": 0, "latency_ms": 0.0, "version": None,
            "error": f"concurrency cap of {limit} requests in flight reached; not sent"}


def _tls_context(insecure: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# --------------------------------------------------------------------------- summary


def _percentile(ordered: array.array, q: float) -> Optional[float]:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 3)


def summarise(path: Path | str) -> dict:
    """Summary of a JSONL file written by this generator (also while it is still being written).

    failed = status 0 (no answer) or >= 500; ok = every other answer. Latency percentiles are over
    answered requests (status != 0). achieved_rps = (requests - 1) / (last start - first start).
    """
    by_status: Counter = Counter()
    by_version: Counter = Counter()
    errors: Counter = Counter()
    latencies = array.array("d")
    requests = failed = 0
    first_t = last_t = None
    first_failure = last_failure = None
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if not line.endswith("\n"):
                break  # a line still being written
            record = json.loads(line)
            requests += 1
            status = record["status"]
            by_status[str(status)] += 1
            by_version[record["version"] or "none"] += 1
            t = record["t"]
            first_t = t if first_t is None else min(first_t, t)
            last_t = t if last_t is None else max(last_t, t)
            if status:
                latencies.append(record["latency_ms"])
            if status == 0 or status >= 500:
                failed += 1
                first_failure = t if first_failure is None else min(first_failure, t)
                last_failure = t if last_failure is None else max(last_failure, t)
                errors[record["error"] or f"HTTP {status}"] += 1
    ordered = array.array("d", sorted(latencies))
    span = (last_t - first_t) if requests > 1 else 0.0
    return {
        "requests": requests,
        "ok": requests - failed,
        "failed": failed,
        "error_ratio": round(failed / requests, 6) if requests else None,
        "by_version": dict(by_version),
        "by_status": dict(by_status),
        "errors": dict(errors.most_common(10)),
        "latency_ms": {"p50": _percentile(ordered, 50), "p95": _percentile(ordered, 95),
                       "p99": _percentile(ordered, 99), "max": round(ordered[-1], 3) if ordered else None},
        "achieved_rps": round((requests - 1) / span, 3) if span > 0 else None,
        "first_request_t": first_t,
        "last_request_t": last_t,
        "first_failure_t": first_failure,
        "last_failure_t": last_failure,
    }


# --------------------------------------------------------------------------- command line


async def _main_async(plan: Plan, out: Path) -> bool:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await run(plan, out, stop)


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        plan = plan_from_args(args)
    except LoadError as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 2
    stopped_early = asyncio.run(_main_async(plan, args.out))
    summary = {"url": args.url, "offered_rps": plan.rps, "planned_duration_s": plan.duration_s,
               "stopped_early": stopped_early, "out": str(args.out), **summarise(args.out)}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
