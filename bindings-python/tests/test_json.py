"""The report JSON is the CLI's: the same serialiser, the same checks, the same findings."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import mssante_diag
from mssante_diag import Config, Report

# Checks whose findings are stable on the healthy stack but for their timings.
STABLE = ["api.health", "postgres.reachable", "redis.reachable", "smtp.submission", "imap.reachable"]


def cli_json(cli: Path, *args: str) -> str:
    out = subprocess.run([str(cli), *args, "--format", "json"], capture_output=True, text=True, check=False)
    assert out.returncode in (0, 1, 2), out.stderr
    return out.stdout


def without_timings(doc: Dict[str, Any]) -> Dict[str, Any]:
    """The report without what varies from run to run on a healthy stack: start time,
    durations, latencies (metrics in ms or s, details `*_ms`, "N ms" in summaries)."""
    doc = {**doc, "started_at": None, "duration_ms": None}
    checks: List[Dict[str, Any]] = []
    for check in doc["checks"]:
        details = check["details"]
        if isinstance(details, dict):
            details = {k: (None if k.endswith("_ms") else v) for k, v in details.items()}
        metrics = [{**m, "value": None} if m["unit"] in ("ms", "s") else m for m in check["metrics"]]
        summary = re.sub(r"\d+(\.\d+)? ms\b", "# ms", check["summary"])
        checks.append({**check, "duration_ms": None, "details": details, "metrics": metrics, "summary": summary})
    doc["checks"] = checks
    return doc


def decisions(doc: Dict[str, Any]) -> List[Any]:
    """What a run decides, check by check, leaving out what it measures."""
    return [
        (c["id"], c["subsystem"], c["status"], list(c), [(m["name"], m["unit"], m.get("warn"), m.get("crit")) for m in c["metrics"]], c["remediation"])
        for c in doc["checks"]
    ]


def test_report_equals_the_clis(project: Path, cli: Path) -> None:
    theirs = json.loads(cli_json(cli, "--project", str(project), "check", *STABLE))
    ours = json.loads(mssante_diag.run_sync(Config(project), only=STABLE).to_json())
    assert [c["id"] for c in ours["checks"]] == STABLE
    assert without_timings(ours) == without_timings(theirs)


def test_full_run_decides_like_the_cli(project: Path, cli: Path) -> None:
    theirs = json.loads(cli_json(cli, "--project", str(project), "check"))
    ours = json.loads(asyncio.run(mssante_diag.run(Config(project))).to_json())
    assert list(ours) == list(theirs)
    assert {k: v for k, v in ours.items() if k not in ("started_at", "duration_ms", "checks")} == {
        k: v for k, v in theirs.items() if k not in ("started_at", "duration_ms", "checks")
    }
    assert decisions(ours) == decisions(theirs)


def test_serialisation_is_byte_for_byte_the_clis(project: Path, cli: Path) -> None:
    text = cli_json(cli, "--project", str(project), "check")
    report = Report.from_json(text)
    assert report.to_json() + "\n" == text
    assert mssante_diag.render(report, "json") == text
    assert report.to_dict() == json.loads(text)
    assert list(report.to_dict()) == list(json.loads(text)), "keys in the document's order"


def test_catalogue_and_schema_equal_the_clis(cli: Path) -> None:
    listed = json.loads(cli_json(cli, "list", "--lang", "en"))
    assert mssante_diag.catalogue(lang="en") == listed
    schema = subprocess.run([str(cli), "schema"], capture_output=True, text=True, check=True).stdout
    assert mssante_diag.report_schema() == json.loads(schema)
