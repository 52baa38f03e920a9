"""``Tasks``: an async actor's background tasks, held until done and cancelled together on close."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any


class Tasks:
    """Strong references to an actor's running background tasks.

    The event loop keeps only weak references to tasks, so an unreferenced one may be collected
    mid-run; a task is kept here until it finishes, then dropped. Must be used on the actor's loop.
    """

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Start ``coro`` on the running loop and hold it until done; raises RuntimeError off a loop."""
        task = asyncio.get_running_loop().create_task(coro)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    def cancel(self) -> None:
        """Cancel every task still running (each one's ``finally`` runs on the loop afterwards)."""
        for task in list(self._running):
            task.cancel()

    def __iter__(self) -> Iterator[asyncio.Task[None]]:
        return iter(list(self._running))

    def __len__(self) -> int:
        return len(self._running)
