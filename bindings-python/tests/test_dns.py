"""`audit_dns`: the stack's healthy zone and a defect zone through the core's `dns.*` checks."""

from __future__ import annotations

from pathlib import Path

import mssante_diag
from mssante_diag import Config


def test_audit_dns_reports_each_domain(project: Path) -> None:
    audit = mssante_diag.audit_dns(["ok.dns.test", "spf-softfail.dns.test"], Config(project))
    assert [c["id"] for c in audit["addresses"]] == ["dns.ptr", "dns.blocklist"]
    audits = audit["domains"]
    assert [a["domain"] for a in audits] == ["ok.dns.test", "spf-softfail.dns.test"]
    assert audits[0]["status"] == "ok", [c for c in audits[0]["checks"] if c["status"] != "ok"]
    spf = next(c for c in audits[1]["checks"] if c["id"] == "dns.spf")
    assert spf["status"] == "warning" and "~all" in spf["summary"]
