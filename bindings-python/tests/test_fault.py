"""A real fault: PostgreSQL stopped is reported critical, async and blocking."""

from __future__ import annotations

import asyncio
from pathlib import Path

import mssante_diag
from mssante_diag import Config, checks


def test_postgres_stopped_is_critical(postgres_stopped: Path) -> None:
    config = Config(postgres_stopped)

    report = asyncio.run(checks.postgres(config))
    reachable = report.check("postgres.reachable")
    assert reachable is not None
    assert reachable.status == "critical", reachable.summary
    assert reachable.remediation and any("BD P1" in step.guide for step in reachable.remediation)
    assert report.status == "critical" and report.exit_code == 2

    blocking = mssante_diag.run_sync(config, only=["postgres.reachable", "redis.reachable"])
    assert [(c.id, c.status) for c in blocking.checks] == [("postgres.reachable", "critical"), ("redis.reachable", "ok")]
    assert blocking.status == "critical"
