"""Fixtures: the real test stack (tests/stack/stack.sh), its project folder, the CLI, hostile peers."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
STACK_SCRIPTS = REPO / "tests" / "stack"


def stack(script: str, *args: str) -> str:
    """Runs a stack script and returns its output (fails the test on error)."""
    out = subprocess.run(["bash", str(STACK_SCRIPTS / script), *args], capture_output=True, text=True, check=False)
    assert out.returncode == 0, f"{script} {args} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="session")
def project() -> Path:
    """The stack's project folder (.env + mssante-diag.toml), with every service up."""
    stack("stack.sh", "up")
    return Path(stack("write-project.sh").strip().splitlines()[-1])


@pytest.fixture
def postgres_stopped(project: Path) -> Iterator[Path]:
    """PostgreSQL stopped for the test, started again afterwards."""
    stack("stack.sh", "stop", "postgres")
    try:
        yield project
    finally:
        stack("stack.sh", "start", "postgres")


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `mssante-diag` binary built from this workspace."""
    path = Path(os.environ.get("MSSANTE_DIAG_CLI", REPO / "target" / "debug" / "mssante-diag"))
    assert path.exists(), f"{path} missing: run `cargo build -p mssante-diag-cli` first"
    return path


@pytest.fixture
def hung_listener() -> Iterator[socket.socket]:
    """A loopback listener that completes TCP handshakes (kernel backlog) but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener


@pytest.fixture
def hung_port(hung_listener: socket.socket) -> int:
    """The port of `hung_listener`."""
    return int(hung_listener.getsockname()[1])
