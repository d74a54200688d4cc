"""The call gate: a free slot admits at once, a full gate makes a call wait, then refuses it as rate_limited."""

from __future__ import annotations

import anyio
import pytest

from tables_mcp.errors import ErrorCode, TablesError
from tables_mcp.server import CallGate, CallLimits

pytestmark = pytest.mark.anyio


async def test_a_full_gate_refuses_after_its_wait_and_a_freed_slot_admits_again() -> None:
    gate = CallGate(CallLimits(max_concurrency=1, queue_timeout=0.05))
    held, release = anyio.Event(), anyio.Event()

    async def holder() -> None:
        async with gate.slot():
            held.set()
            await release.wait()

    async with anyio.create_task_group() as group:
        group.start_soon(holder)
        await held.wait()
        with pytest.raises(TablesError) as refused:
            async with gate.slot():
                pass
        assert refused.value.code is ErrorCode.RATE_LIMITED
        release.set()
    async with gate.slot():
        assert gate.in_flight == 1
    assert gate.in_flight == 0


async def test_a_waiting_call_gets_the_slot_when_it_is_freed() -> None:
    gate = CallGate(CallLimits(max_concurrency=1, queue_timeout=10))
    order: list[str] = []

    async def second() -> None:
        async with gate.slot():
            order.append("second")

    async with anyio.create_task_group() as group:
        async with gate.slot():
            group.start_soon(second)
            await anyio.sleep(0.01)
            order.append("first")
    assert order == ["first", "second"]
