"""Download figures against the fake hub on loopback (not pass/fail; prints numbers).

1. Throughput: `download_model` (HEAD + GET + SHA-256 + move into place) divided by `curl` of
   the same file from the same server in the same run. Target >= 0.9. Runs alternate, and
   each starts after `sync`, so neither pays for the other's dirty pages being written back.
   Also printed: the CPU each run costs (all processes together) and how many of the cores it
   kept busy, which shows when a run is bound by the CPU rather than by the link; and the ratio
   against `curl` followed by `openssl dgst -sha256`, the same work as ours (fetch and verify),
   since curl alone does not check the bytes.
   Also printed: the same ratio with the server capped at 100 MB/s (a fast real connection),
   where the network rather than Python's HTTP parsing is the limit.
2. Kill and resume: `enclave download` in a child process is killed (SIGKILL) mid-file, then
   the download is resumed; bytes the server sent twice = sent in total - file size.
   Target < 1 MB. The server is throttled for this one, as a real network would be, so the
   figure measures what the app loses, not what sits in loopback socket buffers.

    python tests/benchmarks/bench_download.py [--size-mb 512] [--rounds 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fakehub import FakeHub  # noqa: E402

REPO = "bench/model-GGUF"
NAME = "model-Q4_K_M.gguf"


def _make_file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as handle:
        left = size
        while left > 0:
            handle.write(block[: min(left, len(block))])
            left -= len(block)


def _ours(size: int, models: Path) -> float:
    from app.core.downloads import download_model
    from app.core.settings import Settings

    shutil.rmtree(models, ignore_errors=True)
    t0 = time.perf_counter()
    path = download_model(REPO, NAME, settings=Settings(models_dir=str(models)))
    elapsed = time.perf_counter() - t0
    assert path.stat().st_size == size
    return elapsed


# The fastest SHA-256 at hand: OpenSSL's uses the CPU's SHA instructions, coreutils' may not.
_HASHER = ["openssl", "dgst", "-sha256"] if shutil.which("openssl") else ["sha256sum"]


def _curl(endpoint: str, out: Path, verify: bool = False) -> float:
    out.unlink(missing_ok=True)
    url = f"{endpoint}/{REPO}/resolve/main/{NAME}"
    t0 = time.perf_counter()
    subprocess.run(["curl", "-sSfL", "-o", str(out), url], check=True)
    if verify:
        subprocess.run(_HASHER + [str(out)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _serve(blob: Path, conn: Connection, rate: float | None) -> None:
    """The hub in its own process, as the real hub is: it must not share our GIL."""
    hub = FakeHub()
    hub.add_repo(REPO)
    hub.add_file(REPO, NAME, disk_path=blob)
    hub.faults.throttle_bps = rate
    with hub:
        conn.send(hub.url)
        conn.recv()  # until the parent says stop


class _CpuMeter:
    """CPU seconds used by everything in a run: this process (all threads), its children
    (curl, openssl) and the hub's process. Shows whether a run is bound by the 2 cores."""

    def __init__(self, server_pid: int) -> None:
        import psutil

        self._server = psutil.Process(server_pid)

    def _now(self) -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        hub = self._server.cpu_times()
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + hub.user + hub.system

    def run(self, fn: Callable[[], float], walls: list[float], cpus: list[float]) -> None:
        """Run one timed download after `sync`, so that no run pays for the dirty pages of the
        one before it being written back."""
        os.sync()
        before = self._now()
        walls.append(fn())
        cpus.append(self._now() - before)


def throughput(work: Path, size: int, rounds: int, rate: float | None = None) -> None:
    blob = work / "blob.bin"
    _make_file(blob, size)
    parent, child = multiprocessing.get_context("spawn").Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(blob, child, rate))
    server.start()
    url = parent.recv()
    os.environ["HF_ENDPOINT"] = url
    meter = _CpuMeter(server.pid)
    ours: list[float] = []
    curls: list[float] = []
    verified: list[float] = []
    cpu_ours: list[float] = []
    cpu_curl: list[float] = []
    cpu_verified: list[float] = []
    try:
        _curl(url, work / "curl.bin")  # warm the page cache
        _ours(size, work / "models")  # and our imports
        for _ in range(rounds):
            meter.run(lambda: _curl(url, work / "curl.bin"), curls, cpu_curl)
            meter.run(lambda: _ours(size, work / "models"), ours, cpu_ours)
            meter.run(lambda: _curl(url, work / "curl.bin", verify=True), verified, cpu_verified)
    finally:
        parent.send("stop")
        server.join(10)
    mb = size / 1e6
    ours_mbs = mb / statistics.median(ours)
    curl_mbs = mb / statistics.median(curls)
    verified_mbs = mb / statistics.median(verified)
    link = f"server capped at {rate / 1e6:.0f} MB/s" if rate else "loopback, uncapped"
    print(f"file: {mb:.0f} MB, {rounds} rounds, medians, {link}")
    cores = os.cpu_count() or 1

    def busy(cpu: list[float], wall: list[float]) -> str:
        per_gb = statistics.median(cpu) / (size / 1e9)
        return f"CPU {per_gb:5.2f} s/GB, {sum(cpu) / sum(wall):.2f} of {cores} cores busy"

    print(f"  curl:            {curl_mbs:8.1f} MB/s   {busy(cpu_curl, curls)}")
    print(f"  curl + sha256:   {verified_mbs:8.1f} MB/s   {busy(cpu_verified, verified)}")
    print(f"  enclave (+sha256 verify, move): {ours_mbs:8.1f} MB/s   {busy(cpu_ours, ours)}")
    print(f"  throughput ratio enclave/curl: {ours_mbs / curl_mbs:.2f}  (target >= 0.90)")
    print(f"  ratio enclave/(curl + sha256), the same work: {ours_mbs / verified_mbs:.2f}")
    shutil.rmtree(work / "models", ignore_errors=True)
    blob.unlink()


def kill_and_resume(work: Path, size: int, rate: float) -> None:
    blob = work / "resume.bin"
    _make_file(blob, size)
    hub = FakeHub()
    hub.add_repo(REPO)
    hub.add_file(REPO, NAME, disk_path=blob)
    hub.faults.throttle_bps = rate
    home = work / "home"
    env = {**os.environ, "ENCLAVE_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1"}
    part = home / "data" / "models" / ".downloads" / REPO / (NAME + ".part")
    with hub:
        env["HF_ENDPOINT"] = hub.url
        os.environ.update({"HF_ENDPOINT": hub.url, "ENCLAVE_HOME": str(home)})
        child = subprocess.Popen(
            [sys.executable, "-m", "app", "download", REPO, NAME],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while not part.exists() or part.stat().st_size < size * 0.4:
            time.sleep(0.01)
            if child.poll() is not None:
                raise SystemExit("child ended before it could be killed")
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        sent_before = hub.bytes_sent
        kept = part.stat().st_size
        hub.faults.throttle_bps = None
        from app.core.downloads import download_model

        path = download_model(REPO, NAME)
        assert path.stat().st_size == size
        total = hub.bytes_sent
    twice = total - size
    print(f"kill -9 at {kept / size:.0%} of {size / 1e6:.0f} MB (served at {rate / 1e6:.0f} MB/s)")
    print(f"  sent before kill: {sent_before:,} B; on disk after kill: {kept:,} B")
    print(f"  bytes fetched twice: {twice:,} B = {twice / 1e6:.3f} MB  (target < 1 MB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--resume-size-mb", type=int, default=100)
    parser.add_argument("--rate-mbs", type=float, default=50.0)
    parser.add_argument("--capped-mbs", type=float, default=100.0, help="a fast real link")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="enclave-bench-") as tmp:
        work = Path(tmp)
        os.environ["ENCLAVE_HOME"] = str(work / "bench-home")
        os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
        throughput(work, args.size_mb * 1_000_000, args.rounds)
        throughput(work, args.size_mb * 1_000_000 // 4, 1, rate=args.capped_mbs * 1e6)
        kill_and_resume(work, args.resume_size_mb * 1_000_000, args.rate_mbs * 1e6)


if __name__ == "__main__":
    main()
