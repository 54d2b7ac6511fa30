"""`build_bundle`: the core's diagnostic archive of the stack project, its manifest as a dict."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import mssante_diag
from mssante_diag import Config


def test_build_bundle_writes_every_listed_member_and_no_env_secret(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle.tar.gz"
    manifest = mssante_diag.build_bundle(out, Config(project))
    assert isinstance(manifest, dict)
    names = {m["name"] for m in manifest["members"]}
    assert {"report.json", "config/env", "system.txt"} <= names, manifest["missing"]
    secrets = [
        line.split("=", 1)[1].strip("'\"")
        for line in (project / ".env").read_text().splitlines()
        if "=" in line and any(w in line.split("=", 1)[0] for w in ("PASSWORD", "SECRET"))
    ]
    assert secrets
    with tarfile.open(out) as tar:
        for member in manifest["members"]:
            extracted = tar.extractfile(f"{manifest['root']}/{member['name']}")
            assert extracted is not None, member["name"]
            data = extracted.read()
            assert len(data) == member["size"] and hashlib.sha256(data).hexdigest() == member["sha256"]
            for secret in secrets:
                assert secret.encode() not in data, (member["name"], "holds a secret of .env")
