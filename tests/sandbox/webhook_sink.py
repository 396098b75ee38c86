"""A webhook sink that records what it receives, with a PagerDuty Events API v2 look-alike.

    app = make_app()           # mounted by the sandbox on a port of its own
    python -m tests.sandbox.webhook_sink --port 8099 --host 127.0.0.1

GET /_requests      JSON list of every recorded request (oldest first)
DELETE /_requests   forget them
POST /v2/enqueue    validated like PagerDuty's Events API v2: 202 or 400, in PagerDuty's shapes
anything else       200 {"ok": true}
Every request except those to /_requests is recorded: time, method, path, query, headers,
body text and parsed JSON (or null).
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import time
import uuid
from collections import deque
from typing import Any, Optional

from aiohttp import web

MAX_RECORDED = 10_000
EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
MAX_SUMMARY_CHARS = 1024

RECORDS = web.AppKey("records", deque)


async def _record(request: web.Request) -> Optional[Any]:
    """Store the request; returns its parsed JSON body (None if it has none or it is not JSON)."""
    body = await request.text()
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    request.app[RECORDS].append({
        "time": time.time(),
        "method": request.method,
        "path": request.path,
        "query": {key: request.query.getall(key) if len(request.query.getall(key)) > 1 else request.query[key]
                  for key in request.query.keys()},
        "headers": dict(request.headers),
        "body": body,
        "json": parsed,
    })
    return parsed


def validate_event(event: Any) -> list[str]:
    """Problems with a PagerDuty Events API v2 event, as PagerDuty words them; empty if valid."""
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors = []
    routing_key = event.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key.strip():
        errors.append("'routing_key' is missing or blank")
    action = event.get("event_action")
    if action not in EVENT_ACTIONS:
        errors.append(f"'event_action' must be one of {', '.join(EVENT_ACTIONS)}; got {json.dumps(action)}")
    if action in ("acknowledge", "resolve"):
        dedup_key = event.get("dedup_key")
        if not isinstance(dedup_key, str) or not dedup_key.strip():
            errors.append(f"'dedup_key' is required for event_action '{action}'")
    if action == "trigger":
        errors.extend(_payload_errors(event.get("payload")))
    return errors


def _payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors = []
    for field in ("summary", "source"):
        value = payload.get(field)
        if not isinstance(value, str) or not value.strip():
            errors.append(f"'payload.{field}' is missing or blank")
    if isinstance(payload.get("summary"), str) and len(payload["summary"]) > MAX_SUMMARY_CHARS:
        errors.append(f"'payload.summary' is longer than {MAX_SUMMARY_CHARS} characters")
    if payload.get("severity") not in SEVERITIES:
        errors.append(f"'payload.severity' must be one of {', '.join(SEVERITIES)}; "
                      f"got {json.dumps(payload.get('severity'))}")
    return errors


async def enqueue(request: web.Request) -> web.Response:
    event = await _record(request)
    errors = ["Event object must be valid JSON"] if event is None else validate_event(event)
    if errors:
        return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                  "errors": errors}, status=400)
    dedup_key = event.get("dedup_key") or uuid.uuid4().hex
    return web.json_response({"status": "success", "message": "Event processed", "dedup_key": dedup_key},
                             status=202)


async def list_requests(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[RECORDS]))


async def clear_requests(request: web.Request) -> web.Response:
    count = len(request.app[RECORDS])
    request.app[RECORDS].clear()
    return web.json_response({"cleared": count})


async def catch_all(request: web.Request) -> web.Response:
    await _record(request)
    return web.json_response({"ok": True})


def make_app() -> web.Application:
    app = web.Application()
    app[RECORDS] = deque(maxlen=MAX_RECORDED)
    app.router.add_get("/_requests", list_requests)
    app.router.add_delete("/_requests", clear_requests)
    app.router.add_post("/v2/enqueue", enqueue)
    app.router.add_route("*", "/{tail:.*}", catch_all)
    return app


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sandbox.webhook_sink",
                                     description="Record webhook calls; PagerDuty Events API v2 at /v2/enqueue.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        print(f"webhook_sink: --host must be a loopback IP address, got {args.host!r}", file=sys.stderr)
        return 2
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None,
                print=lambda msg: print(f"webhook sink listening on http://{args.host}:{args.port}", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
