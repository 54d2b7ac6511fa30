"""The examples run for real: the notebook walk-through, and the Ansible module under ansible-playbook."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_notebook_walk_through(project: Path) -> None:
    env = {**os.environ, "MSSANTE_PROJECT": str(project)}
    out = subprocess.run([sys.executable, str(EXAMPLES / "notebook.py")], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    assert "postgres.reachable" in out.stdout and "OK" in out.stdout


def ansible_playbook(project: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Runs the example playbook on localhost with this interpreter (which has mssante_diag)."""
    playbook = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or shutil.which("ansible-playbook")
    assert playbook, "ansible-playbook is not installed (pip install ansible-core)"
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n", encoding="utf-8")
    env = {
        **os.environ,
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "LC_ALL": "C.UTF-8",
    }
    return subprocess.run(
        [playbook, "-i", str(inventory), "-M", str(EXAMPLES / "ansible"), str(EXAMPLES / "ansible" / "playbook.yml"), "-e", f"project={project}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_ansible_module_passes_on_the_healthy_stack(project: Path, tmp_path: Path) -> None:
    out = ansible_playbook(project, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok: [localhost]" in out.stdout and "failed=0" in out.stdout
    assert "ok: " in out.stdout and "checks on" in out.stdout, "the report came back as facts"


@pytest.mark.usefixtures("postgres_stopped")
def test_ansible_module_fails_the_task_on_critical(project: Path, tmp_path: Path) -> None:
    out = ansible_playbook(project, tmp_path)
    assert out.returncode != 0, out.stdout
    assert "fatal: [localhost]" in out.stdout and "postgres.reachable" in out.stdout, out.stdout
    assert "failed=1" in out.stdout
