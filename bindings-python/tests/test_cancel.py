"""A run waiting on a hung endpoint is cancellable: the asyncio task, and Ctrl-C in a blocking run."""

from __future__ import annotations

import _thread
import asyncio
import select
import socket
import threading
import time

import pytest

import mssante_diag
from mssante_diag import Config

HUNG_CHECKS = ["api.health", "postgres.reachable", "redis.reachable"]


def assert_peers_hang_up(listener: socket.socket, expected: int) -> None:
    """The run's connections to the hung endpoint get closed within a second (the probes stopped)."""
    listener.setblocking(False)
    conns = []
    while True:
        try:
            conns.append(listener.accept()[0])
        except BlockingIOError:
            break
    assert len(conns) == expected, "each hung check had connected"
    deadline = time.monotonic() + 1.0
    still_open = set(conns)
    while still_open and time.monotonic() < deadline:
        readable, _, _ = select.select(list(still_open), [], [], 0.05)
        for conn in readable:
            if conn.recv(65536) == b"":
                still_open.discard(conn)
    leaked = len(still_open)
    for conn in conns:
        conn.close()
    assert leaked == 0, f"{leaked} probe(s) still connected a second after the cancellation"


def hung_config(port: int) -> Config:
    """Every selected endpoint on a loopback listener that never answers, with a long timeout."""
    return Config.defaults(
        timeout_secs=30,
        api={"url": f"http://127.0.0.1:{port}/health"},
        postgres={"host": "127.0.0.1", "port": port},
        redis={"host": "127.0.0.1", "port": port},
    )


def test_cancelling_the_task_cancels_the_run(hung_listener: socket.socket, hung_port: int) -> None:
    async def scenario() -> float:
        task = asyncio.create_task(mssante_diag.run(hung_config(hung_port), only=HUNG_CHECKS))
        await asyncio.sleep(0.5)
        assert not task.done(), "the endpoint hangs: the run is still waiting"
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - start

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=10)) < 1.0
    assert_peers_hang_up(hung_listener, expected=len(HUNG_CHECKS))


def test_a_timeout_around_the_run_stops_it(hung_port: int) -> None:
    async def scenario() -> None:
        await asyncio.wait_for(mssante_diag.run(hung_config(hung_port), only=HUNG_CHECKS), timeout=0.5)

    start = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(scenario())
    assert time.monotonic() - start < 1.5


def test_ctrl_c_interrupts_a_blocking_run(hung_listener: socket.socket, hung_port: int) -> None:
    # The timer thread can only fire while run_sync has released the interpreter.
    timer = threading.Timer(0.5, _thread.interrupt_main)
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            mssante_diag.run_sync(hung_config(hung_port), only=HUNG_CHECKS)
    finally:
        timer.cancel()
    assert time.monotonic() - start < 1.5
    assert_peers_hang_up(hung_listener, expected=len(HUNG_CHECKS))
