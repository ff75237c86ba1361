"""Drives the GGUF fuzz: inspect cases in worker processes (restarted after a native crash or a
hang), a subset through the real `enclave inspect` command, and load+chat cases through the
real engine host. Returns counts per outcome; tests and the benchmark script share it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fuzz.gguf_layout import Layout, read_layout
from tests.fuzz.gguf_mutator import Case, make_case
from tests.fuzz.plain import why_not_plain

REPO = Path(__file__).resolve().parents[2]
# No result for this long = a hang (a case normally takes milliseconds).
WORKER_HANG_S = 45.0
BAD = ("traceback", "hang", "crash", "unclear")


@dataclass
class FuzzReport:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, result: dict[str, Any]) -> None:
        self.counts[result["outcome"]] += 1
        if result["outcome"] in BAD:
            self.failures.append(result)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: FuzzReport) -> None:
        self.counts.update(other.counts)
        self.failures += other.failures
        self.seconds += other.seconds

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        return f"{self.total} cases in {self.seconds:.1f} s: {parts}"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def fuzz_inspect(seed: Path, name: str, first: int, last: int, workdir: Path) -> FuzzReport:
    """Cases first..last-1 of one seed through inspect, in-process in a worker."""
    report = FuzzReport()
    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    results_file = workdir / "results.jsonl"
    results_file.unlink(missing_ok=True)
    progress = workdir / "progress"
    next_case = first
    while next_case < last:
        progress.unlink(missing_ok=True)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fuzz.inspect_worker",
                str(seed),
                name,
                str(next_case),
                str(last),
                str(workdir),
            ],
            cwd=REPO,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        seen = _count_lines(results_file)
        last_change = time.monotonic()
        while worker.poll() is None:
            time.sleep(0.05)
            now_seen = _count_lines(results_file)
            if now_seen != seen:
                seen, last_change = now_seen, time.monotonic()
            elif time.monotonic() - last_change > WORKER_HANG_S:
                worker.kill()
                worker.wait()
                break
        stderr = worker.stderr.read().decode("utf-8", "replace") if worker.stderr else ""
        if worker.stderr:
            worker.stderr.close()
        done = _progress(progress)
        if worker.returncode == 0 and done[0] == "done":
            break
        # The worker died or hung on the case it had started.
        stuck = done[1] if done[0] == "start" else next_case
        outcome = "hang" if worker.returncode == -signal.SIGKILL else "crash"
        with results_file.open("a", encoding="utf-8") as out:
            out.write(
                json.dumps(
                    {
                        "outcome": outcome,
                        "case": stuck,
                        "seed": name,
                        "what": make_case(read_layout(seed), name, stuck).what,
                        "returncode": worker.returncode,
                        "stderr": stderr[-2000:],
                    }
                )
                + "\n"
            )
        next_case = stuck + 1
    for line in results_file.read_text(encoding="utf-8").splitlines():
        report.add(json.loads(line))
    report.seconds = time.perf_counter() - started
    return report


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except OSError:
        return 0


def _progress(path: Path) -> tuple[str, int]:
    try:
        word, number = path.read_text().split()
        return word, int(number)
    except (OSError, ValueError):
        return "", -1


def fuzz_cli(seed: Path, name: str, numbers: list[int], workdir: Path, timeout: float = 60) -> FuzzReport:
    """Cases through the real command, `python -m app inspect FILE`, one process each."""
    report = FuzzReport()
    started = time.perf_counter()
    layout = read_layout(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    for number in numbers:
        case = make_case(layout, name, number)
        file = case.write(workdir / f"cli-{number}.gguf")
        result: dict[str, Any] = {"case": number, "seed": name, "what": case.what}
        try:
            done = subprocess.run(
                [sys.executable, "-m", "app", "inspect", str(file)],
                cwd=REPO,
                env=_env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            result["outcome"] = "hang"
        else:
            result.update(_verdict(done.returncode, done.stderr))
        file.unlink(missing_ok=True)
        report.add(result)
    report.seconds = time.perf_counter() - started
    return report


def _verdict(code: int, stderr: str) -> dict[str, Any]:
    if code < 0:
        return {"outcome": "crash", "returncode": code, "stderr": stderr[-2000:]}
    if "Traceback" in stderr:
        return {"outcome": "traceback", "stderr": stderr[-2000:]}
    if code == 0:
        return {"outcome": "ok"}
    problem = why_not_plain(stderr.strip().splitlines()[-1] if stderr.strip() else "")
    if problem:
        return {"outcome": "unclear", "message": stderr[-500:], "problem": problem}
    return {"outcome": "message", "message": stderr.strip()}


# ---- load and chat through the engine host -------------------------------------------------
LOAD_DEADLINE_S = 120.0


def pick_load_cases(
    layout: Layout, name: str, wanted: int, start: int = 0, limit: int = 20_000
) -> list[Case]:
    """Cases the app would hand to the engine (inspect accepts them): the ones that reach
    llama.cpp. read_model_facts refuses the rest before any native code sees them."""
    from app.core.gguf_facts import GGUFError, read_model_facts

    chosen: list[Case] = []
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"enclave-fuzz-probe-{os.getpid()}.gguf"
    for number in range(start, start + limit):
        case = make_case(layout, name, number)
        case.write(probe)
        try:
            read_model_facts(probe)
        except GGUFError:
            continue
        except Exception:  # noqa: BLE001 - a bug the inspect fuzz reports; not a load case
            continue
        chosen.append(case)
        if len(chosen) >= wanted:
            break
    probe.unlink(missing_ok=True)
    return chosen


def fuzz_load(
    cases: list[Case], layout: Layout, workdir: Path, real_data: bool = True, embed: bool = False
) -> FuzzReport:
    """Each case: load it the app's way (load_model: plan, then the host), then a short chat;
    or, for an embedding model (`embed`), embed a sentence with it as the documents step does.
    A plain EngineError is a clean outcome; a host crash is counted as "crash" (with the sentence
    the user saw), a stuck load or chat as "hang", anything else escaping as "traceback"."""
    from app.core.engine import protocol as p
    from app.core.engine.base import EngineCrashed, EngineError
    from app.core.engine.client import EngineClient
    from app.core.engine.loader import load_model
    from app.core.errors import PlainError

    report = FuzzReport()
    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    client = EngineClient(log_path=workdir / "engine-host.log")
    try:
        for case in cases:
            file = case.write(workdir / "load-case.gguf", layout if real_data else None)
            result: dict[str, Any] = {"case": case.number, "seed": case.seed, "what": case.what}
            box: dict[str, Any] = {}

            def attempt(file: Path = file, box: dict[str, Any] = box) -> None:
                try:
                    if embed:
                        client.embed(["The cat sat on the mat."], model_path=file)
                    else:
                        # One thread: the fuzz is about the file; on a busy machine more
                        # threads only wait for each other.
                        load_model(client, file, wanted_ctx=256, n_threads=1, hardware=_cpu_only())
                        client.chat(
                            [{"role": "user", "content": "Say hi."}],
                            p.SamplingParams(max_tokens=2, temperature=0.0, seed=1),
                        )
                    box["outcome"] = "ok"
                except EngineCrashed as exc:
                    box.update(outcome="crash", message=exc.message, log=exc.log_tail[-1500:])
                except (EngineError, PlainError) as exc:
                    problem = why_not_plain(str(exc))
                    box.update(outcome="unclear" if problem else "message", message=str(exc), problem=problem)
                except BaseException as exc:  # noqa: BLE001
                    box.update(outcome="traceback", error=f"{type(exc).__name__}: {exc}"[:500])

            thread = threading.Thread(target=attempt, daemon=True)
            thread.start()
            thread.join(LOAD_DEADLINE_S)
            if thread.is_alive():
                result["outcome"] = "hang"
                client.kill_host()
                thread.join(30)
            else:
                result.update(box)
            report.add(result)
            file.unlink(missing_ok=True)
    finally:
        client.shutdown()
    report.seconds = time.perf_counter() - started
    return report


def _cpu_only() -> Any:
    import dataclasses

    from app.core.hardware import detect_hardware

    return dataclasses.replace(detect_hardware(), gpus=())
