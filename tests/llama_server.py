"""llama-cpp-python's own OpenAI-compatible server (`llama_cpp.server`) as a real server for
the remote-engine tests and benchmark, in a subprocess on 127.0.0.1.

Why not plain `python -m llama_cpp.server`: the portable llama-cpp-python that CI and the
installers use (GGML_BACKEND_DL) registers no compute backend by itself, and the server then
fails every load with "no backends are loaded". `python -m tests.llama_server ARGS` loads the
backends the way the engine host does (app.core.engine.backends) and then runs the server's
own main with the same arguments.

    with LlamaServer(model_path, api_key="k") as server:
        server.url   # http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    def __init__(
        self,
        model_path: Path,
        *,
        alias: str = "test-model",
        api_key: str | None = None,
        n_ctx: int = 2048,
        embedding: bool = False,
        n_threads: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.model_path = model_path
        self.alias = alias
        self.api_key = api_key
        self.n_ctx = n_ctx
        self.embedding = embedding
        self.n_threads = n_threads
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> LlamaServer:
        args = [
            sys.executable, "-m", "tests.llama_server",
            "--model", str(self.model_path), "--model_alias", self.alias,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx),
        ]  # fmt: skip
        if self.api_key:
            args += ["--api_key", self.api_key]
        if self.embedding:
            args += ["--embedding", "true"]
        if self.n_threads:
            args += ["--n_threads", str(self.n_threads)]
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(args, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with code {self.process.returncode}")
            if self._answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("llama_cpp.server did not start in time")

    def _answers(self) -> bool:
        request = urllib.request.Request(self.url + "/models")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def stop(self) -> None:
        if self.process is None:
            return
        self.signal(signal.SIGCONT)  # a test may have left it stopped
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def __enter__(self) -> LlamaServer:
        return self.start() if self.process is None else self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    from app.core.engine.backends import load_backends

    load_backends()
    from llama_cpp.server.__main__ import main as server_main

    sys.argv[0] = "llama_cpp.server"
    with contextlib.suppress(KeyboardInterrupt):
        server_main()


if __name__ == "__main__":
    main()
