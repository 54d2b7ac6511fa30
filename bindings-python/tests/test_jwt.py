"""`decode_jwt`: a token judged by the core's `auth.jwt` with the stack project's secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import mssante_diag
from mssante_diag import Config


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: dict[str, object], secret: str) -> str:
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_decode_jwt_judges_expiry_and_never_returns_the_token(project: Path) -> None:
    secret = next(line.split("=", 1)[1] for line in (project / ".env").read_text().splitlines() if line.startswith("JWT_SECRET="))
    now = int(time.time())
    config = Config(project)
    report = mssante_diag.decode_jwt(sign({"sub": "py@mssante.test", "iat": now - 10, "exp": now + 3600}, secret), config)
    assert isinstance(report, dict)
    [check] = report["checks"]
    assert check["id"] == "auth.jwt" and check["status"] == "ok", check["summary"]
    assert check["details"]["sub"] == "p***@mssante.test"
    expired = sign({"iat": now - 7200, "exp": now - 3600}, secret)
    report = mssante_diag.decode_jwt(expired, config.with_overrides(lang="fr"))
    assert report["status"] == "critical"
    assert "expiré le" in report["checks"][0]["summary"]
    text = json.dumps(report)
    assert expired.split(".")[2] not in text and secret not in text
    assert "jwt malformed" in mssante_diag.decode_jwt("garbage", config)["checks"][0]["summary"]
