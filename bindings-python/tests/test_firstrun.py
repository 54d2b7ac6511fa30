"""`effective_config`: every value with its source, no secret; `Report.notices` outside a platform's folder."""

from __future__ import annotations

import json
from pathlib import Path

import mssante_diag
from mssante_diag import Config


def test_effective_config_lists_sources_and_no_secret(project: Path) -> None:
    config = Config(project, timeout_secs=2)
    effective = mssante_diag.effective_config(config)
    entries = {e["key"]: e for e in effective["entries"]}
    assert entries["timeout_secs"]["source"] == {"kind": "override"}
    assert entries["postgres.port"]["source"]["kind"] == "file"
    assert entries["postgres.user"]["source"] == {"kind": "env", "variables": [{"name": "POSTGRES_USER", "origin": "env_file"}]}
    assert entries["postgres.password"]["value"] == "[REDACTED]" and entries["postgres.password"]["secret"] is True
    assert all(e["source"]["kind"] in {"default", "env", "file", "override"} for e in effective["entries"])
    text = json.dumps(effective)
    for line in (project / ".env").read_text().splitlines():
        key, _, value = line.partition("=")
        if any(w in key for w in ("PASSWORD", "SECRET", "KEY")) and len(value) >= 6:
            assert value.strip('"') not in text, key
    assert effective["notices"] == []


def test_empty_folder_report_has_a_notice(tmp_path: Path) -> None:
    report = mssante_diag.run_sync(Config(tmp_path, timeout_secs=1, lang="en"), only=["system.clock"])
    [notice] = report.notices
    assert notice["id"] == "project.empty"
    assert str(tmp_path.resolve()) in notice["message"] and "--project" in notice["message"]
    assert report.to_dict()["notices"] == report.notices
