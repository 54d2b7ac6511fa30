"""`summarize_logs`: the core's mail log summary of a small fixture file (plain and .gz)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import mssante_diag

LOG = """\
Nov 30 12:00:01 mail postfix/smtpd[10]: 4F2A81C0123: client=peer.fr[192.0.2.7]
Nov 30 12:00:01 mail postfix/qmgr[12]: 4F2A81C0123: from=<alice@peer.fr>, size=2000, nrcpt=2 (queue active)
Nov 30 12:00:02 mail postfix/lmtp[13]: 4F2A81C0123: to=<bob@mssante.test>, relay=dovecot[172.18.0.5]:24, delay=0.2, delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: saved)
Nov 30 12:00:02 mail postfix/smtp[14]: 4F2A81C0123: to=<carol@clinique.fr>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.clinique.fr[198.51.100.9]:25: Connection timed out)
Nov 30 12:20:01 mail postfix/submission/smtpd[15]: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6
Nov 30 12:20:04 mail cron[99]: (root) CMD (true)
"""


def test_summarize_logs_counts_a_fixture_file_plain_and_gz(tmp_path: Path) -> None:
    plain = tmp_path / "mail.log"
    plain.write_text(LOG)
    packed = tmp_path / "mail.log.1.gz"
    packed.write_bytes(gzip.compress(LOG.encode()))
    summary = mssante_diag.summarize_logs([plain])
    assert isinstance(summary, dict)
    assert (summary["received"], summary["delivered"], summary["deferred"]) == (1, 1, 1)
    assert summary["top_deferral_reasons"] == [{"value": "connect to mx.clinique.fr[198.51.100.9]:25: Connection timed out", "count": 1}]
    assert summary["auth_failures"]["by_client"] == [{"value": "203.0.113.9", "count": 1}]
    assert summary["lines"]["skipped"]["unknown_program"] == 1
    assert mssante_diag.summarize_logs([str(packed)]) == summary
    masked = mssante_diag.summarize_logs([plain], mask_addresses=True)
    assert masked["auth_failures"]["by_client"] == [{"value": "203.0.113.x", "count": 1}]
    assert masked["masked"] is True


def test_summarize_logs_errors(tmp_path: Path) -> None:
    with pytest.raises(mssante_diag.ConfigError):
        mssante_diag.summarize_logs([tmp_path / "mail.log"], since="yesterday")
    with pytest.raises(mssante_diag.DiagIOError):
        mssante_diag.summarize_logs([tmp_path / "missing.log"])
