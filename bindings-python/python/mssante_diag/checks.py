"""One coroutine per subsystem of the core's catalogue: ``await checks.postgres(config)``.

The functions are made at import from the catalogue, so a subsystem added to
the core appears here without a change to the bindings.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, List, Optional

from . import _native
from ._native import Config, Report

CheckFunction = Callable[..., Awaitable[Report]]


def _make(subsystem: str) -> CheckFunction:
    async def check(config: Optional[Config] = None) -> Report:
        from . import run

        return await run(config, only=[subsystem])

    check.__name__ = check.__qualname__ = subsystem
    check.__doc__ = f"Run the `{subsystem}.*` checks and return the report."
    return check


_FUNCTIONS: Dict[str, CheckFunction] = {name: _make(name) for name in _native.subsystems()}
globals().update(_FUNCTIONS)

__all__: List[str] = list(_FUNCTIONS)


def __getattr__(name: str) -> Any:
    raise AttributeError(f"no subsystem `{name}` in the catalogue (see mssante_diag.subsystems())")
