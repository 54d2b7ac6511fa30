"""A healthy run against the real test stack, async and blocking, and the typed result objects."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import threading
import tomllib
import time
from pathlib import Path

import mssante_diag
from mssante_diag import CheckResult, Config, Metric, Remedy, Report, checks

def disabled_checks() -> set[str]:
    """Checks the stack project's TOML switches off explicitly (`[storage] smart = false`)."""
    stack_dir = Path(os.environ.get("MSSANTE_STACK_DIR", "/tmp/mssante-diag-stack"))
    doc = tomllib.loads((stack_dir / "project" / "mssante-diag.toml").read_text())
    return {f"{sub}.{key}" for sub, table in doc.items() if isinstance(table, dict) for key, value in table.items() if value is False}


def assert_healthy(report: Report) -> None:
    """Every check ok: the healthy stack has every check ok (`skipped` is not healthy, except
    for a check the project's TOML switches off explicitly)."""
    assert report.checks, "checks ran"
    off = disabled_checks()
    bad = [f"{c.id}: {c.status}: {c.summary}" for c in report.checks if c.status != "ok" and not (c.status == "skipped" and c.id in off)]
    assert not bad, "\n".join(bad)
    assert report.status == "ok"
    assert report.exit_code == 0


def test_async_run_on_healthy_stack_is_ok(project: Path) -> None:
    config = Config(project)
    assert config.source == project / "mssante-diag.toml"
    assert config.project_dir == project.resolve()
    report = asyncio.run(mssante_diag.run(config))
    assert_healthy(report)
    ids = [c.id for c in report.checks]
    assert ids == [e["id"] for e in mssante_diag.catalogue()], "every check, in catalogue order"
    assert len(report) == len(ids)
    reachable = report.check("postgres.reachable")
    assert reachable is not None and reachable.status == "ok"
    assert report.check("no.such") is None


def test_result_objects_are_typed_and_match_their_dicts(project: Path) -> None:
    report = mssante_diag.run_sync(Config(project), only=["postgres", "redis", "api"])
    assert {c.subsystem for c in report.checks} == {"postgres", "redis", "api"}
    as_dict = report.to_dict()
    assert as_dict == json.loads(report.to_json())
    assert as_dict["status"] == report.status and as_dict["host"] == report.host
    for result, item in zip(report.checks, as_dict["checks"]):
        assert isinstance(result, CheckResult)
        assert result.to_dict() == item == json.loads(result.to_json())
        assert (result.id, result.subsystem, result.summary, result.duration_ms) == (
            item["id"],
            item["subsystem"],
            item["summary"],
            item["duration_ms"],
        )
        assert result.details == item["details"]
        for metric, m in zip(result.metrics, item["metrics"]):
            assert isinstance(metric, Metric)
            assert metric.to_dict() == m
            assert (metric.name, metric.value, metric.unit) == (m["name"], m["value"], m["unit"])
            assert metric.warn == m.get("warn") and metric.crit == m.get("crit")
    latency = [m for m in report.check("redis.reachable").metrics if m.unit in ("ms", "s")]  # type: ignore[union-attr]
    assert latency and latency[0].value >= 0


def test_blocking_run_releases_the_interpreter(project: Path) -> None:
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        report = mssante_diag.run_sync(Config(project), quick=True)
    finally:
        stop.set()
        counter.join()
    assert_healthy(report)
    assert report.checks and all(e["quick"] for e in mssante_diag.catalogue() if e["id"] in {c.id for c in report.checks})
    assert ticks > 10, "the other thread ran while the checks did"


def test_one_function_per_subsystem(project: Path) -> None:
    names = mssante_diag.subsystems()
    assert names == list(dict.fromkeys(e["subsystem"] for e in mssante_diag.catalogue()))
    for name in names:
        assert inspect.iscoroutinefunction(getattr(checks, name)), name
    report = asyncio.run(checks.postgres(Config(project)))
    assert report.checks and {c.subsystem for c in report.checks} == {"postgres"}
    assert_healthy(report)


def test_remedies_and_catalogue_are_exposed() -> None:
    entries = mssante_diag.catalogue(lang="fr")
    reachable = next(e for e in entries if e["id"] == "postgres.reachable")
    assert reachable["subsystem"] == "postgres" and "BD P1" in reachable["guide"]
    explained = mssante_diag.explain("postgres.reachable", lang="en")
    assert explained["id"] == "postgres.reachable" and explained["remediation"]
    assert all(step["guide"] for step in explained["remediation"])
    schema = mssante_diag.report_schema()
    assert "checks" in schema["properties"]


def test_remedy_objects_on_a_report() -> None:
    report = Report.from_json(
        json.dumps(
            {
                "schema_version": 1,
                "version": "0",
                "host": "h",
                "started_at": "2024-01-01T00:00:00.000Z",
                "duration_ms": 1,
                "status": "critical",
                "checks": [
                    {
                        "id": "postgres.reachable",
                        "subsystem": "postgres",
                        "status": "critical",
                        "summary": "refused",
                        "details": {"port": 5432},
                        "metrics": [],
                        "remediation": [{"text": "start it", "command": "docker compose up -d postgres", "guide": "BD P1"}],
                        "duration_ms": 1,
                    }
                ],
            }
        )
    )
    (result,) = report.checks
    (step,) = result.remediation
    assert isinstance(step, Remedy)
    assert (step.text, step.command, step.guide, step.destructive) == ("start it", "docker compose up -d postgres", "BD P1", False)
    assert result.details == {"port": 5432}
    assert report.exit_code == 2
    assert "postgres.reachable" in mssante_diag.render(report, "nagios")
