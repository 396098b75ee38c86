"""Bearer tokens: compact JWTs signed with HMAC-SHA256 (HS256).

Every pod signs with the same key (APP_TOKEN_SECRET from a Secret), so a token from one pod is
accepted by every other pod of the application.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Optional

TOKEN_TTL_S = 3600
_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, signing_input: str) -> str:
    return _b64encode(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())


def issue_token(key: bytes, subject: str, now: Optional[float] = None, ttl_s: int = TOKEN_TTL_S) -> str:
    issued = int(now if now is not None else time.time())
    claims = {"sub": subject, "iat": issued, "exp": issued + ttl_s}
    signing_input = ".".join(
        _b64encode(json.dumps(part, separators=(",", ":")).encode()) for part in (_HEADER, claims)
    )
    return f"{signing_input}.{_sign(key, signing_input)}"


def verify_token(key: bytes, token: str, now: Optional[float] = None) -> Optional[dict]:
    """The token's claims if its signature is valid and it has not expired, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    signing_input = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sign(key, signing_input), parts[2]):
        return None
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
    except ValueError:
        return None
    if header.get("alg") != "HS256" or not isinstance(claims, dict):
        return None
    expires = claims.get("exp")
    if not isinstance(expires, (int, float)) or expires <= (now if now is not None else time.time()):
        return None
    return claims


def bearer_token(authorization: str) -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
