"""The shipped stubs describe the module: checks.pyi lists the catalogue's subsystems."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import mssante_diag

ROOT = Path(__file__).resolve().parents[1]


def test_checks_stub_is_current() -> None:
    spec = importlib.util.spec_from_file_location("stubgen", ROOT / "stubgen.py")
    assert spec and spec.loader
    stubgen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stubgen)
    shipped = Path(mssante_diag.__file__).with_name("checks.pyi").read_text(encoding="utf-8")
    assert shipped == stubgen.render(), "checks.pyi is out of date: run `python bindings-python/stubgen.py`"
    committed = (ROOT / "python" / "mssante_diag" / "checks.pyi").read_text(encoding="utf-8")
    assert committed == shipped


def test_stubs_and_marker_ship_in_the_package() -> None:
    folder = Path(mssante_diag.__file__).parent
    for name in ("py.typed", "_native.pyi", "checks.pyi"):
        assert (folder / name).is_file(), name


def test_stub_names_exist_at_run_time() -> None:
    text = (ROOT / "python" / "mssante_diag" / "_native.pyi").read_text(encoding="utf-8")
    for name in re.findall(r"^(?:class|def) (\w+)", text, flags=re.M):
        if name not in {"CatalogueEntry", "RemedyDict", "Explanation"}:
            assert hasattr(mssante_diag._native, name), name
