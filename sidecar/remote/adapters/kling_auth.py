"""Kling's API token: the AccessKey/SecretKey JWT the legacy `model_name` APIs accept.

HS256, `iss` = access key, `exp` = now + 1800, `nbf` = now - 5, signed with the secret key
(https://kling.ai/document-api/api/get-started/authentication).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

JWT_TTL_S = 1800
JWT_REFRESH_S = 60


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_jwt(access_key: str, secret_key: str, now: float | None = None, ttl_s: int = JWT_TTL_S) -> str:
    """Kling's API token: HS256 JWT with iss=access key, exp=now+ttl, nbf=now-5, signed with the secret."""
    issued = int(time.time() if now is None else now)
    compact = {"separators": (",", ":")}
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, **compact).encode())
    claims = {"iss": access_key, "exp": issued + ttl_s, "nbf": issued - 5}
    payload = _b64url(json.dumps(claims, **compact).encode())
    signing = f"{header}.{payload}"
    signature = hmac.new(secret_key.encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64url(signature)}"
