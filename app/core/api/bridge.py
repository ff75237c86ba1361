"""Tokens from the engine queue's worker thread to the asyncio task that writes the response.

The engine calls `on_tokens` on its worker thread (at most ~30 times a second); asyncio objects
are not thread-safe, so each piece is handed to the event loop with `call_soon_threadsafe` and
lands in an asyncio.Queue that the response's generator awaits. The job's end (its result or
its exception) travels the same way, so the consumer sees everything in order.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

TOKENS = "tokens"
DONE = "done"
FAILED = "failed"


class TokenBridge:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._held: tuple[str, Any] | None = None  # an end that arrived behind merged tokens

    def _put(self, item: tuple[str, Any]) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the server's loop is closed: nobody is listening any more
            pass

    # ---- the worker thread's side ------------------------------------------------------
    def tokens(self, text: str) -> None:
        if text:
            self._put((TOKENS, text))

    def finished(self, future: Future[Any]) -> None:
        """A Future done-callback: the job's result or exception."""
        if future.cancelled():
            self._put((FAILED, asyncio.CancelledError()))
            return
        exc = future.exception()
        self._put((FAILED, exc) if exc is not None else (DONE, future.result()))

    # ---- the event loop's side ---------------------------------------------------------
    async def next(self) -> tuple[str, Any]:
        """The next event; consecutive token pieces already waiting come merged as one."""
        if self._held is not None:
            held, self._held = self._held, None
            return held
        kind, value = await self._queue.get()
        if kind != TOKENS:
            return kind, value
        pieces = [value]
        while not self._queue.empty():
            following = self._queue.get_nowait()
            if following[0] != TOKENS:
                self._held = following
                break
            pieces.append(following[1])
        return TOKENS, "".join(pieces)
