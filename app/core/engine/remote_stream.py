"""Watching the answer a server streams, so Stop, `cancel()` and a stall interrupt even a
socket read that is blocked.

The caller reads the stream itself (no hand-over between threads on the way to the first token,
so a server's answer reaches the screen as fast as the bare openai client gets it). One watcher
thread per engine looks at the answer being read a few times a second: when Stop was pressed
or no chunk came for N seconds, it shuts the socket down. That wakes the blocked read (closing a
socket from another thread does not, on Linux), the reader sees why (`reason`), and the server
sees the client go away and stops generating.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from app.core.cancel import CancelToken

POLL_S = 0.05  # how often the watcher looks at Stop and the stall clock

CANCELLED = "cancelled"
STALLED = "stalled"


class WatchedAnswer:
    """One answer being read. The reader calls attach() once the response has begun and
    touch() per chunk; anyone may call abandon()."""

    def __init__(self, stop: CancelToken | None, stall_timeout_s: float) -> None:
        self.stop = stop
        self.stall_timeout_s = stall_timeout_s
        self.last_data = time.perf_counter()
        self.reason: str | None = None  # CANCELLED or STALLED once abandoned
        self._lock = threading.Lock()
        self._stream: Any = None
        self._finished = False

    def attach(self, stream: Any) -> None:
        with self._lock:
            self._stream = stream
            if self.reason is not None:
                self._shut_down()

    def touch(self, at: float) -> None:
        self.last_data = at

    def abandon(self, reason: str) -> None:
        """Stop this answer: wake a blocked read and drop the connection. Any thread, any time."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            self._shut_down()

    def finish(self) -> None:
        """The reader is done with the stream: from now on its connection is left alone."""
        with self._lock:
            self._finished = True

    def _shut_down(self) -> None:
        if self._finished or self._stream is None:
            return  # not begun (the reader looks at `reason` when it begins), or done
        sock = _socket_of(self._stream)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def check(self, now: float) -> None:
        """The watcher's look: Stop pressed, or nothing for too long."""
        if self.reason is not None:
            return
        if self.stop is not None and self.stop.cancelled:
            self.abandon(CANCELLED)
        elif now - self.last_data >= self.stall_timeout_s:
            self.abandon(STALLED)


class StreamWatcher:
    """The one watcher thread of an engine; it sleeps while no answer streams."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: WatchedAnswer | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def begin(self, stop: CancelToken | None, stall_timeout_s: float) -> WatchedAnswer:
        answer = WatchedAnswer(stop, stall_timeout_s)
        with self._cond:
            self._active = answer
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="enclave-remote-watch", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return answer

    def end(self, answer: WatchedAnswer) -> None:
        answer.finish()
        with self._cond:
            if self._active is answer:
                self._active = None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                self._cond.wait(timeout=POLL_S if self._active is not None else None)
                active = self._active
            if active is not None:
                active.check(time.perf_counter())


def _socket_of(stream: Any) -> socket.socket | None:
    """The socket under an openai Stream's httpx2 response (None where the transport hides it)."""
    try:
        network = stream.response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
    except Exception:
        return None
    return sock if isinstance(sock, socket.socket) else None
