"""Diagnostics for an MSSanté platform, from Python.

The checks run in the Rust core (``mssante-diag-core``) on one shared tokio
runtime; this package only converts arguments and results::

    import mssante_diag

    config = mssante_diag.Config("/srv/mssante")          # .env + mssante-diag.toml
    report = await mssante_diag.run(config, only=["postgres"])
    report = mssante_diag.run_sync(config, quick=True)     # blocking, releases the GIL
    report = await mssante_diag.checks.postgres(config)    # one subsystem
    print(report.status, report.to_json())
"""

from __future__ import annotations

from typing import Optional, Sequence

from . import _native
from ._native import (
    DEFAULT_TIMEOUT_SECS,
    CheckResult,
    Config,
    ConfigError,
    DiagError,
    DiagIOError,
    EnvFileError,
    Metric,
    Remedy,
    Report,
    UnknownCheckError,
    __version__,
    audit_dns,
    catalogue,
    build_bundle,
    decode_jwt,
    effective_config,
    explain,
    reconcile_annuaire,
    render,
    report_schema,
    run_sync,
    subsystems,
    summarize_logs,
)


async def run(config: Optional[Config] = None, only: Optional[Sequence[str]] = None, *, quick: bool = False) -> Report:
    """Run checks and return the report.

    ``config`` defaults to the zero-config one of the current folder; ``only``
    names check ids or subsystems (all checks when omitted); ``quick`` runs the
    guide's quick-check set. Cancelling the awaiting task cancels the run.
    """
    return await _native.run(config, only, quick)


async def serve(
    listen: str,
    config: Optional[Config] = None,
    only: Optional[Sequence[str]] = None,
    *,
    cache_secs: int = 30,
    max_connections: int = 32,
) -> None:
    """Serve the Prometheus exporter of ``mssante-diag serve --listen ADDR`` until cancelled.

    ``/metrics`` runs the checks (``only``, or all) per scrape; a report is served again for
    ``cache_secs`` and concurrent scrapes share one run. Cancelling the task stops the server.
    """
    await _native.serve(listen, config, only, cache_secs, max_connections)


from . import checks  # noqa: E402  (uses `run`)

__all__ = [
    "DEFAULT_TIMEOUT_SECS",
    "CheckResult",
    "Config",
    "ConfigError",
    "DiagError",
    "DiagIOError",
    "EnvFileError",
    "Metric",
    "Remedy",
    "Report",
    "UnknownCheckError",
    "__version__",
    "audit_dns",
    "catalogue",
    "checks",
    "build_bundle",
    "decode_jwt",
    "effective_config",
    "explain",
    "reconcile_annuaire",
    "render",
    "report_schema",
    "run",
    "run_sync",
    "serve",
    "subsystems",
    "summarize_logs",
]
