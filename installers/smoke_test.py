"""Smoke-test a frozen Enclave (the one-folder bundle, the .app, an unpacked installer).

    python installers/smoke_test.py dist/enclave/enclave --model gemma-3-270m-q4_k_m.gguf

1. `enclave self-test --model M`: the engine host starts, loads the model, generates tokens and
   embeds a document with the bundled embedding model. On Linux it runs with no network at all
   (a fresh network namespace, when `unshare` is allowed) and with HOME set to an empty folder,
   and we check the app put its data where the OS's conventions say (platformdirs).
2. `enclave gui --exit-after-show` with QT_QPA_PLATFORM=offscreen, --runs times: the window opens
   and closes cleanly (exit 0 and no Python traceback, e.g. from a slot run after close);
   prints each "window shown after X s" and their median.
3. `enclave serve --model M` on a free loopback port: the frozen web server (FastAPI, uvicorn)
   answers GET /v1/models and a chat completion with the key, and refuses a wrong key (401).
4. Prints the bundle's size on disk (the file's, for an AppImage).
An AppImage runs with APPIMAGE_EXTRACT_AND_RUN=1 unless that is set: no FUSE needed.
Exits 1 on the first failure. Standard library only: it runs with any Python 3.9+.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHOWN = re.compile(r"window shown after ([0-9.]+) s")
TRACEBACK = "Traceback (most recent call last)"


def _bundle_size(folder: Path) -> int:
    if folder.is_file():  # an AppImage
        return folder.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def _offline_prefix() -> list[str]:
    """A command prefix that runs a program with no network (Linux), or [] if not possible."""
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return []
    for prefix in (["unshare", "--net"], ["unshare", "--net", "--map-root-user"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return prefix
    return []


def _expected_data_dir(home: Path) -> Path | None:
    if sys.platform.startswith("linux"):
        return home / ".local" / "share" / "Enclave"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "Enclave"
    return None  # Windows: %LOCALAPPDATA%\Enclave\Enclave (the known-folder API, not HOME)


def _clean_env(home: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("ENCLAVE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
                 "XDG_STATE_HOME", "PYTHONPATH", "PYTHONHOME"):  # fmt: skip
        env.pop(name, None)
    if home is not None:
        env["HOME"] = str(home)
    env.setdefault("APPIMAGE_EXTRACT_AND_RUN", "1")  # read by an AppImage's runtime only
    return env


def _run(command: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    print("$ " + " ".join(command), flush=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def self_test(exe: Path, model: Path | None, timeout: float) -> bool:
    home = Path(tempfile.mkdtemp(prefix="enclave-smoke-home-")) if os.name != "nt" else None
    env = _clean_env(home)
    offline = _offline_prefix()
    command = [*offline, str(exe), "self-test"] + (["--model", str(model)] if model else [])
    started = time.perf_counter()
    result = _run(command, env, timeout)
    print(result.stdout.rstrip())
    if result.returncode != 0:
        print(result.stderr.rstrip(), file=sys.stderr)
        print(f"FAIL: self-test exited {result.returncode}", file=sys.stderr)
        return False
    print(f"self-test: ok in {time.perf_counter() - started:.1f} s"
          + (" with no network" if offline else ""))  # fmt: skip
    if model is not None and "generated" not in result.stdout:
        print("FAIL: self-test did not generate", file=sys.stderr)
        return False
    if home is not None:
        expected = _expected_data_dir(home)
        if expected is not None and not expected.is_dir():
            print(f"FAIL: no data folder at {expected}", file=sys.stderr)
            return False
        print(f"data folder: {expected} (the OS's standard place)")
        shutil.rmtree(home, ignore_errors=True)
    return True


def gui_starts(exe: Path, runs: int, timeout: float) -> list[float] | None:
    env = _clean_env(None)
    env["QT_QPA_PLATFORM"] = "offscreen"
    home = Path(tempfile.mkdtemp(prefix="enclave-smoke-gui-"))
    env["ENCLAVE_HOME"] = str(home)  # same fresh state for every run
    shown: list[float] = []
    for _ in range(runs):
        env["ENCLAVE_T0"] = repr(time.time())  # launch.py measures from here: exec included
        result = _run([str(exe), "gui", "--exit-after-show"], env, timeout)
        match = SHOWN.search(result.stdout)
        if result.returncode != 0 or match is None:
            print(result.stdout + result.stderr, file=sys.stderr)
            print(f"FAIL: gui exited {result.returncode} without showing", file=sys.stderr)
            return None
        if TRACEBACK in result.stdout + result.stderr:  # exit code 0, but not a clean close
            print(result.stdout + result.stderr, file=sys.stderr)
            print("FAIL: the window did not close cleanly (a Python traceback)", file=sys.stderr)
            return None
        shown.append(float(match.group(1)))
        print(match.group(0))
    shutil.rmtree(home, ignore_errors=True)
    return shown


def api_serves(exe: Path, model: Path, timeout: float) -> bool:
    """The local API from the frozen app: models, one short answer, and a wrong key refused."""
    import json
    import socket
    import urllib.error
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = Path(tempfile.mkdtemp(prefix="enclave-smoke-api-"))
    env = _clean_env(None)
    env["ENCLAVE_HOME"] = str(home)
    command = [str(exe), "serve", "--model", str(model), "--port", str(port), "--api-key", "smoke-key"]
    print("$ " + " ".join(command), flush=True)
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}/v1"

    def call(path: str, body: dict[str, object] | None = None, key: str = "smoke-key") -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base + path, data=data, method="POST" if data else "GET")
        request.add_header("Authorization", f"Bearer {key}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                print(server.stdout.read() if server.stdout else "", file=sys.stderr)
                print(f"FAIL: serve exited {server.returncode}", file=sys.stderr)
                return False
            try:
                status, _ = call("/models")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                print("FAIL: serve did not answer in time", file=sys.stderr)
                return False
            time.sleep(0.3)
        messages = [{"role": "user", "content": "Say hello."}]
        status, text = call("/chat/completions", {"model": "local", "messages": messages, "max_tokens": 8})
        answer = json.loads(text)["choices"][0]["message"]["content"] if status == 200 else ""
        wrong, _ = call("/models", key="wrong-key")
        if status != 200 or not answer or wrong != 401:
            print(f"FAIL: API chat {status} {text[:200]!r}, wrong key {wrong}", file=sys.stderr)
            return False
        print(f"api: /v1/models and a chat answer ok, a wrong key refused ({answer!r})")
        return True
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exe", type=Path, help="the frozen executable (console one on Windows)")
    parser.add_argument("--model", type=Path, default=None, help="a chat .gguf for the self-test")
    parser.add_argument("--runs", type=int, default=5, help="GUI start-time runs (median)")
    parser.add_argument("--bundle", type=Path, default=None, help="folder to size (default: exe's)")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    exe: Path = args.exe.resolve()
    if not exe.is_file():
        print(f"FAIL: no executable at {exe}", file=sys.stderr)
        return 1
    if not self_test(exe, args.model, args.timeout):
        return 1
    shown = gui_starts(exe, args.runs, args.timeout)
    if shown is None:
        return 1
    if args.model is not None and not api_serves(exe, args.model, args.timeout):
        return 1
    bundle = args.bundle or (exe if exe.suffix == ".AppImage" else exe.parent)
    size = _bundle_size(bundle)
    print(f"gui: median window shown after {statistics.median(shown):.3f} s over {len(shown)} runs")
    print(f"bundle: {bundle} is {size / 1e6:.0f} MB ({size / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
