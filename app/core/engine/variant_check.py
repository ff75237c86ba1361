"""The CPU-variant check (backends.py loads what it approves): run a variant in a child process
before trusting it.

Flags are not enough: a variant can die on a machine that has every feature it asks for. On
an AMX Xeon (a Firecracker VM where AMX is enabled and permitted) the sapphirerapids variant of a
wheel built with GCC 12.2 dies with SIGILL at the first decode. gdb stops at `tilezero %tmm4` in
the kernel under ggml_backend_amx_mul_mat, with si_code ILL_ILLOPN: a hardware #UD, not the kernel
refusing AMX (that is ILL_ILLOPC). The CPU runs AMX (a hand-written ldtilecfg, tilezero, tdpbssd
works there); the library is what is broken: GCC 12's _tile_loadconfig tells the compiler that
ldtilecfg reads only 8 bytes, so the compiler dropped ggml's stores of the rows and column widths
of its tile config on the stack, ldtilecfg loads palette 1 with every tile 0 x 0, and tilezero on
an unconfigured tile is #UD. AVX512-FP16 is not the culprit: the icelake and zen4 variants (AVX-512,
VNNI, BF16) decode fine on the same machine.

So before the first use of a CPU variant we run it: a short-lived child process loads that variant
alone and embeds a sentence with the bundled MiniLM model (resources/models), which goes through
the same matrix kernels as a chat. If the child dies by a signal, the next-best variant is tried.
The verdict is cached in the app's cache folder, keyed by the CPU (model, flags, OS release) and
the variant file (path, size, mtime), so this costs about half a second once per machine and
install. Where the check cannot run at all (no embedding model, no interpreter, a timeout), the
AMX variant is not used and the best other one is, unchecked, as before. ENCLAVE_GGML_CPU_VARIANT
still forces a variant, with no check.

Every variant dying, the plainest x86-64 one too, is not the instruction set but the install or
the environment: those verdicts are kept for the process only (_unremember_when_all_died).
No Qt here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.core.engine.backends import BackendReport

log = logging.getLogger("enclave.engine.backends")

# Where the verdicts of the CPU-variant check are kept (default: the app's cache folder); the
# test suite shares one file across its many fresh app homes.
CHECK_CACHE_ENV = "ENCLAVE_GGML_VARIANT_CACHE"
# CPU variants whose kernels use AMX tiles (see ggml/src/CMakeLists.txt).
AMX_VARIANTS = frozenset({"sapphirerapids"})
# The variant check (see this module's docstring).
CHECK_CACHE_FILE = "ggml-cpu-variants.json"
CHECK_TIMEOUT_S = 30.0  # a loaded 2-core machine needs ~1.5 s; a hang is not a verdict
CHECK_ARG = "--check-ggml-cpu-variant"  # app/__main__.py hands it to check_main (frozen app)
_CHECK_FORMAT = 1
_CHECK_KEEP = 64  # verdicts kept in the cache file (one per variant file and machine)
_CHECK_PASSED = "enclave: the CPU variant decoded"
_CHECK_TEXT = "A short sentence, embedded once so that this CPU variant's matrix kernels run."


# ---- the variant check: run a variant in a child process before trusting it -------------------


@dataclass(frozen=True)
class Verdict:
    """What running one CPU variant in a child process showed."""

    usable: bool | None  # True: it decoded; False: the child died by a signal; None: no answer
    detail: str
    seconds: float = 0.0
    cached: bool = False

    def describe(self) -> str:
        timing = "remembered" if self.cached else f"{self.seconds:.2f} s"
        return f"{self.detail} ({timing})"


CheckCommand = Callable[[Path, Path], list[str]]  # (variant library, model) -> child command line


def check_command(library: Path, model: Path) -> list[str]:
    """The child that checks `library`: this interpreter, or the frozen app itself."""
    if getattr(sys, "frozen", False):  # no `python -c` in a frozen app; its main() knows CHECK_ARG
        return [sys.executable, CHECK_ARG, str(library), str(model)]
    package_root = str(Path(__file__).resolve().parents[3])  # the folder that holds app/
    code = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); "
        "from app.core.engine.variant_check import check_main; sys.exit(check_main(sys.argv[1:]))"
    )
    return [sys.executable, "-c", code, package_root, str(library), str(model)]


def check_main(argv: list[str]) -> int:
    """The child's side of the check: load one CPU variant alone, embed a sentence, say so.

    Exits 0 after printing _CHECK_PASSED; any other non-signal exit means "could not tell".
    """
    if len(argv) != 2:
        print(f"usage: {CHECK_ARG} VARIANT_LIBRARY EMBEDDING_MODEL", file=sys.stderr)
        return 2
    library, model = argv
    # Here, in the child, not at the top: backends.py imports this module.
    from app.core.engine.backends import _backend_loader, _registered_backends, ggml_library

    ggml = ggml_library()
    if _registered_backends(ggml) > 0:
        print("this llama.cpp has its backends built in", file=sys.stderr)
        return 3
    if not _backend_loader(ggml)(os.fsencode(library)):
        print(f"ggml could not load {library}", file=sys.stderr)
        return 4
    from llama_cpp import Llama

    llm = Llama(
        model_path=model,
        embedding=True,
        n_ctx=64,
        n_batch=64,
        n_ubatch=64,
        n_threads=min(2, os.cpu_count() or 1),  # the worker threads run the kernels too
        verbose=False,
    )
    if not llm.embed(_CHECK_TEXT):
        print("the embedding came back empty", file=sys.stderr)
        return 5
    print(_CHECK_PASSED, flush=True)
    return 0


def _died_by_signal(returncode: int) -> str:
    """The signal (or Windows exception) that ended a child, or "" if it exited by itself."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    if sys.platform == "win32" and returncode >= 0xC0000000:  # NTSTATUS: access violation, ...
        return f"exception 0x{returncode:08X}"
    return ""


@functools.cache  # the same for the whole process: read once, not once per variant
def _cpu_identity() -> dict[str, str]:
    """What identifies this CPU, its features and the OS that enables them."""
    identity = {
        "system": platform.system(),
        "release": platform.release(),  # the kernel decides which register states it enables
        "machine": platform.machine(),
    }
    if sys.platform != "linux":
        identity["processor"] = platform.processor()  # on Linux it runs `uname -p`: cpuinfo is better
    else:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    key, _, value = line.partition(":")
                    key = key.strip()
                    if key in ("model name", "flags", "Features", "CPU part") and key not in identity:
                        identity[key] = " ".join(value.split())
                    if not line.strip() and "model name" in identity:
                        break  # the first processor is enough
        except OSError:
            pass
    return identity


class VariantCheck:
    """Whether a CPU variant really runs here: asked of a child process once, then remembered.

    cache_file defaults to the app's cache folder; command is the seam through which tests put
    in a child that crashes on purpose.
    """

    def __init__(
        self,
        cache_file: Path | None = None,
        *,
        model: Path | None = None,
        command: CheckCommand = check_command,
        timeout_s: float = CHECK_TIMEOUT_S,
    ) -> None:
        self._cache_file = cache_file
        self._model = model
        self.command = command
        self.timeout_s = timeout_s
        self.children = 0  # check processes started (a remembered verdict starts none)

    @property
    def cache_file(self) -> Path:
        if self._cache_file is None and os.environ.get(CHECK_CACHE_ENV):
            self._cache_file = Path(os.environ[CHECK_CACHE_ENV])
        if self._cache_file is None:
            from app.core import paths

            self._cache_file = paths.cache_dir() / CHECK_CACHE_FILE
        return self._cache_file

    @property
    def model(self) -> Path:
        if self._model is None:
            from app.core import paths

            self._model = paths.default_embedding_model()
        return self._model

    def verdict(self, library: Path) -> Verdict:
        """The remembered verdict for this variant file on this machine, or a fresh one."""
        key, facts = self._key(library)
        if key in _process_verdicts:
            return _process_verdicts[key]
        entry = self._read().get(key)
        if isinstance(entry, dict) and isinstance(entry.get("usable"), bool):
            return Verdict(entry["usable"], str(entry.get("detail", "")), cached=True)
        verdict = self._run(library)
        if verdict.usable is not None:  # "no answer" is not remembered: it may work next time
            self._remember(key, {**facts, "usable": verdict.usable, "detail": verdict.detail,
                                 "seconds": round(verdict.seconds, 3)})  # fmt: skip
        return verdict

    def first_usable(self, candidates: list[tuple[str, Path]], report: BackendReport) -> Path | None:
        """The first of (variant, file), best first, whose check passes.

        A variant whose child died is skipped. When the check gives no answer, nothing more is
        checked: the first remaining variant without AMX is used, as before there was a check.
        """
        for index, (variant, path) in enumerate(candidates):
            verdict = self.verdict(path)
            report.checks.append(f"{variant}: {verdict.describe()}")
            if verdict.usable:
                return path
            if verdict.usable is False:
                report.skipped.append(f"{path.name}: {verdict.detail}")
                continue
            for rest_variant, rest_path in candidates[index:]:
                if rest_variant not in AMX_VARIANTS:
                    return rest_path
                report.skipped.append(f"{rest_path.name}: unchecked, and AMX is the usual suspect")
            return None
        self._unremember_when_all_died([path for _, path in candidates])
        return None

    def _unremember_when_all_died(self, libraries: list[Path]) -> None:
        """Every variant died, the plainest x86-64 one too: that is not the CPU's instruction set
        but the installation or the environment (seen: a llama.cpp built with a compiler that
        gave libggml and libllama each their own static libstdc++ died in every process). Such
        verdicts are kept for this process only, so that the next start checks again once the
        cause is gone, rather than refusing every variant forever."""
        verdicts = self._read()
        keys = [self._key(library)[0] for library in libraries]
        for key in keys:
            entry = verdicts.get(key)
            if isinstance(entry, dict) and entry.get("usable") is False:
                _process_verdicts[key] = Verdict(False, str(entry.get("detail", "")), cached=True)
        if any(key in verdicts for key in keys):
            self._write({key: entry for key, entry in verdicts.items() if key not in keys})

    def _run(self, library: Path) -> Verdict:
        if not self.model.is_file():
            return Verdict(None, f"not checked: no embedding model at {self.model}")
        command = self.command(library, self.model)
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # no console flashing up on Windows
        started = time.perf_counter()
        self.children += 1
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout_s,
                stdin=subprocess.DEVNULL,
                creationflags=flags,
            )
        except subprocess.TimeoutExpired:
            return Verdict(None, f"no answer within {self.timeout_s:.0f} s", self.timeout_s)
        except OSError as exc:
            return Verdict(None, f"the check could not start: {exc}")
        seconds = time.perf_counter() - started
        died_by = _died_by_signal(done.returncode)
        if died_by:
            return Verdict(False, f"the check process was stopped by {died_by}", seconds)
        if done.returncode == 0 and _CHECK_PASSED in done.stdout:
            return Verdict(True, "decodes", seconds)
        last = (done.stderr.strip().splitlines() or ["no message"])[-1][:200]
        return Verdict(None, f"the check exited with code {done.returncode}: {last}", seconds)

    def _key(self, library: Path) -> tuple[str, dict[str, Any]]:
        resolved = library.resolve()
        stat = resolved.stat()
        facts: dict[str, Any] = {
            "file": str(resolved),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "cpu": _cpu_identity(),
        }
        key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
        return key, facts

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != _CHECK_FORMAT:
            return {}
        verdicts = data.get("verdicts")
        return verdicts if isinstance(verdicts, dict) else {}

    def _remember(self, key: str, entry: dict[str, Any]) -> None:
        verdicts = self._read()
        verdicts.pop(key, None)
        verdicts[key] = {**entry, "checked_at": time.time()}
        self._write(dict(list(verdicts.items())[-_CHECK_KEEP:]))  # insertion order: newest last

    def _write(self, kept: dict[str, Any]) -> None:
        target = self.cache_file
        temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps({"format": _CHECK_FORMAT, "verdicts": kept}, indent=1),
                                 encoding="utf-8")  # fmt: skip
            os.replace(temporary, target)  # another process checking at once: last one wins
        except OSError as exc:
            log.warning("cannot remember the CPU variant check in %s: %s", target, exc)
            temporary.unlink(missing_ok=True)


# Verdicts this process keeps without writing them down (_unremember_when_all_died).
_process_verdicts: dict[str, Verdict] = {}


