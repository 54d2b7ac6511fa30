"""The Prometheus exporter (`mssante-diag serve`) from Python: `/metrics` answers with the check
series while the task runs, and cancelling the task stops the server."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import mssante_diag
from mssante_diag import Config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def test_serve_exposes_metrics_until_cancelled(project: Path) -> None:
    port = free_port()

    async def main() -> None:
        task = asyncio.ensure_future(mssante_diag.serve(f"127.0.0.1:{port}", Config(project), only=["api", "redis"]))
        body = ""
        for _ in range(100):
            await asyncio.sleep(0.05)
            try:
                status, body = await asyncio.to_thread(fetch, f"http://127.0.0.1:{port}/metrics")
            except OSError:
                continue
            assert status == 200
            break
        assert 'mssante_diag_check_status{check="api.health",subsystem="api"} 0' in body, body
        assert (await asyncio.to_thread(fetch, f"http://127.0.0.1:{port}/nope"))[0] == 404
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)
        with pytest.raises(OSError):
            await asyncio.to_thread(fetch, f"http://127.0.0.1:{port}/metrics")

    asyncio.run(main())


def test_serve_rejects_a_bad_address_and_an_unknown_check(project: Path) -> None:
    with pytest.raises(ValueError):
        asyncio.run(mssante_diag.serve("not-an-address", Config(project)))
    with pytest.raises(mssante_diag.UnknownCheckError):
        asyncio.run(mssante_diag.serve("127.0.0.1:0", Config(project), only=["nope.nope"]))
