"""`reconcile_annuaire`: the core's `annuaire.mailboxes` against the stack's Annuaire stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import mssante_diag
from mssante_diag import Config


def test_reconcile_annuaire_agrees_on_the_stack_and_names_planted_differences_masked(project: Path) -> None:
    report = mssante_diag.reconcile_annuaire(Config(project))
    assert [c["id"] for c in report["checks"]] == ["annuaire.mailboxes"]
    assert report["status"] == "ok", report["checks"][0]["summary"]
    assert report["checks"][0]["details"]["matched"] == 280

    planted = Config(project, annuaire={"url": "https://127.0.77.1:13470/fhir/planted"})
    report = mssante_diag.reconcile_annuaire(planted, mask=True)
    details = report["checks"][0]["details"]
    assert report["status"] == "warning"
    assert details["missing"] == ["a***@mssante.test", "d***@mssante.test", "s***@mssante.test"]
    assert details["unlisted"] == {"published": 12, "extra": 2, "mismatched": 1}
    assert "hidden" not in json.dumps(report)
