"""Reading one streamed answer from a server on its own thread, so the caller never blocks in a
socket read it cannot interrupt.

The caller (RemoteEngine) waits on `items` with a short timeout, which lets it notice Stop, a
`cancel()` from another thread and a stall (no chunk for N seconds) at once, whatever phase the
request is in: connecting, waiting for the first token, or mid-answer. When the caller is done
early it calls `abandon()`: that shuts the socket down, which wakes the reader thread out of its
read (closing a socket from another thread does not, on Linux), and the server sees the client
go away and stops generating.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

CHUNK = "chunk"  # value: one parsed chunk
END = "end"  # the stream ended ([DONE] or the body ended)
ERROR = "error"  # value: the exception
WAKE = "wake"  # nothing: look at the cancel flags now

Item = tuple[str, Any, float]  # (kind, value, perf_counter when it arrived)


class StreamReader:
    def __init__(self, open_stream: Callable[[], Any]) -> None:
        """`open_stream()` sends the request and returns an iterable stream with `.close()` and
        `.response` (an openai.Stream)."""
        self._open = open_stream
        self.items: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stream: Any = None
        self._finished = False
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name="enclave-remote-stream", daemon=True)

    def start(self) -> StreamReader:
        self._thread.start()
        return self

    def next(self, timeout: float) -> Item | None:
        """The next item, or None when nothing came within `timeout` seconds."""
        try:
            return self.items.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def wake(self) -> None:
        self.items.put((WAKE, None, time.perf_counter()))

    def abandon(self) -> None:
        """Stop reading (cancelled, stalled, or the caller failed): wake a blocked read and drop
        the connection. Safe from any thread, and more than once."""
        with self._lock:
            self._abandoned = True
            if self._finished or self._stream is None:
                return  # not connected yet (the reader checks _abandoned then), or done
            sock = _socket_of(self._stream)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        stream: Any = None
        try:
            stream = self._open()
            with self._lock:
                self._stream = stream
                abandoned = self._abandoned
            if not abandoned:
                for chunk in stream:
                    self.items.put((CHUNK, chunk, time.perf_counter()))
                    if self._abandoned:
                        break
                self.items.put((END, None, time.perf_counter()))
        except BaseException as exc:  # everything goes to the caller, who explains it
            self.items.put((ERROR, exc, time.perf_counter()))
        finally:
            with self._lock:
                self._finished = True
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()


def _socket_of(stream: Any) -> socket.socket | None:
    """The socket under an openai Stream's httpx2 response (None where the transport hides it)."""
    try:
        network = stream.response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
    except Exception:
        return None
    return sock if isinstance(sock, socket.socket) else None
