"""Load ggml's compute backends when llama.cpp was built with GGML_BACKEND_DL.

The installers ship a portable llama-cpp-python (GGML_NATIVE=OFF, GGML_BACKEND_DL=ON,
GGML_CPU_ALL_VARIANTS=ON): the CPU backend comes as one shared library per CPU generation
(libggml-cpu-haswell.so ... libggml-cpu-sapphirerapids.so) and a GPU backend, if any, as its own
library (libggml-cuda.so). Nothing is loaded until someone asks, and llama.cpp then refuses every
model with "no backends are loaded". ggml's own search (ggml_backend_load_all) only looks next
to the executable and in the current folder; the wheel puts the variants in site-packages/bin/
and the frozen app next to llama_cpp/lib, so we load them here, from where they really are.

We also choose the CPU variant ourselves rather than leaving it to ggml's score, for two reasons.
ggml picks the AMX variant whenever CPUID reports AMX, even where the operating system has not
enabled AMX's tile registers (virtual machines commonly hide them), and the first decode then dies
inside the AMX matrix kernel. So an AMX variant is only a candidate where the kernel says AMX is
usable (Linux: the amx_tile flag in /proc/cpuinfo and arch_prctl(ARCH_REQ_XCOMP_PERM)).

And flags are not enough: a variant can die on a machine that has every feature it asks for. On
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

With a build that links its backends in (a developer's plain build, the macOS Metal build),
ggml already has them registered and this module does nothing. No Qt here.
"""

from __future__ import annotations

import ctypes
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("enclave.engine.backends")

# Set to a folder to load backends from there only; set VARIANT_ENV to a variant name
# ("haswell", "x64", ...) to force that CPU variant (diagnosis, benchmarks).
BACKEND_DIR_ENV = "ENCLAVE_GGML_BACKEND_DIR"
VARIANT_ENV = "ENCLAVE_GGML_CPU_VARIANT"
# Where the verdicts of the CPU-variant check are kept (default: the app's cache folder); the
# test suite shares one file across its many fresh app homes.
CHECK_CACHE_ENV = "ENCLAVE_GGML_VARIANT_CACHE"

# ggml_backend_load_all_from_path's order: GPU backends first, the CPU last.
BACKEND_NAMES = (
    "blas", "zendnn", "cann", "cuda", "hip", "metal", "rpc", "sycl", "vulkan",
    "virtgpu", "opencl", "hexagon", "musa", "openvino", "cpu",
)  # fmt: skip
# CPU variants whose kernels use AMX tiles (see ggml/src/CMakeLists.txt).
AMX_VARIANTS = frozenset({"sapphirerapids"})

_ARCH_REQ_XCOMP_PERM = 0x1023
_XFEATURE_XTILEDATA = 18
_SYS_ARCH_PRCTL_X86_64 = 158

# The variant check (see the module docstring).
CHECK_CACHE_FILE = "ggml-cpu-variants.json"
CHECK_TIMEOUT_S = 30.0  # a loaded 2-core machine needs ~1.5 s; a hang is not a verdict
CHECK_ARG = "--check-ggml-cpu-variant"  # app/__main__.py hands it to check_main (frozen app)
_CHECK_FORMAT = 1
_CHECK_KEEP = 64  # verdicts kept in the cache file (one per variant file and machine)
_CHECK_PASSED = "enclave: the CPU variant decoded"
_CHECK_TEXT = "A short sentence, embedded once so that this CPU variant's matrix kernels run."


@dataclass
class BackendReport:
    """What happened, for the engine log and the self-test."""

    needed: bool = False  # False: backends were linked in, nothing to load
    searched: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)  # file paths
    cpu_variant: str = ""
    skipped: list[str] = field(default_factory=list)  # "file: reason"
    checks: list[str] = field(default_factory=list)  # "variant: verdict" of the variant check
    error: str = ""

    def summary(self) -> str:
        if self.error:
            return f"ggml backends: {self.error}"
        if not self.needed:
            return "ggml backends are built in"
        names = ", ".join(Path(p).name for p in self.loaded) or "none"
        return f"ggml backends loaded: {names} (CPU variant: {self.cpu_variant or '-'})"


def lib_names() -> tuple[str, str]:
    """(file name prefix, extension) of ggml's backend libraries on this OS."""
    if sys.platform == "win32":
        return "ggml-", ".dll"
    return "libggml-", ".so"  # ggml uses .so for modules on macOS too


def ggml_library() -> ctypes.CDLL:
    """A handle through which to call libggml exactly as llama_cpp's libllama loaded it.

    Never open libggml by file name: a wheel has no symlinks, so lib/ holds libggml.so,
    libggml.so.0 and libggml.so.0.x.y as separate files, and opening the "wrong" one would load
    a second libggml with its own, empty, backend registry. On Linux and macOS, dlsym() on
    libllama's handle also searches the libraries it depends on, libggml among them. Windows
    (GetProcAddress looks in one module only) has a single ggml.dll, loaded once by path.
    """
    import llama_cpp.llama_cpp as raw

    if sys.platform == "win32":
        return ctypes.CDLL(str(Path(raw._base_path) / "ggml.dll"))
    return raw._lib  # type: ignore[no-any-return,unused-ignore]


def _registered_backends(ggml: ctypes.CDLL) -> int:
    reg_count = ggml["ggml_backend_reg_count"]  # a fresh function object: llama_cpp's are untouched
    reg_count.restype = ctypes.c_size_t
    reg_count.argtypes = []
    return int(reg_count())


def _backend_loader(ggml: ctypes.CDLL) -> Any:
    backend_load = ggml["ggml_backend_load"]
    backend_load.restype = ctypes.c_void_p
    backend_load.argtypes = [ctypes.c_char_p]
    return backend_load


def search_dirs() -> list[Path]:
    """Where the backend libraries may be, most specific first."""
    override = os.environ.get(BACKEND_DIR_ENV)
    if override:
        return [Path(override)]
    import llama_cpp.llama_cpp as raw

    lib_dir = Path(raw._base_path)
    dirs = [
        lib_dir,  # the frozen app puts them next to libllama (build.spec)
        lib_dir.parent.parent / "bin",  # the wheel installs them in site-packages/bin
        Path(sys.prefix) / "bin",
        Path(sys.executable).resolve().parent,
    ]
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        dirs.insert(0, Path(frozen_root) / "ggml")
    unique: list[Path] = []
    for folder in dirs:
        if folder not in unique and folder.is_dir():
            unique.append(folder)
    return unique


def amx_usable() -> bool:
    """Whether the OS lets this process use AMX tiles (not only whether CPUID says AMX)."""
    if sys.platform != "linux":
        return False  # macOS has no x86 AMX machines; MSVC builds have no AMX variant
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    if "amx_tile" not in line.split():
                        return False
                    break
    except OSError:
        return False
    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result = libc.syscall(
            ctypes.c_long(_SYS_ARCH_PRCTL_X86_64),
            ctypes.c_int(_ARCH_REQ_XCOMP_PERM),
            ctypes.c_ulong(_XFEATURE_XTILEDATA),
        )
    except (OSError, AttributeError):
        return False
    return int(result) == 0


def _variant_of(path: Path, prefix: str, name: str, ext: str) -> str:
    """libggml-cpu-haswell.so -> 'haswell'; libggml-cpu.so -> ''."""
    stem = path.name[len(prefix) + len(name) : -len(ext)]
    return stem[1:] if stem.startswith("-") else ""


def _score(path: Path) -> int:
    """The variant's own ggml_backend_score(): 0 = this CPU cannot run it."""
    try:
        handle = ctypes.CDLL(str(path))
    except OSError as exc:
        log.warning("cannot open %s: %s", path.name, exc)
        return -1
    try:
        score_fn = handle.ggml_backend_score
    except AttributeError:
        return -1
    score_fn.restype = ctypes.c_int
    score_fn.argtypes = []
    return int(score_fn())


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
        "from app.core.engine.backends import check_main; sys.exit(check_main(sys.argv[1:]))"
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


# ---- choosing and loading -------------------------------------------------------------------


def _choose(
    name: str,
    folder: Path,
    prefix: str,
    ext: str,
    allow_amx: bool,
    report: BackendReport,
    check: VariantCheck | None = None,
) -> Path | None:
    """The file of backend `name` to load from folder: the best-scoring variant that the CPU
    and OS allow and that `check` (if given) saw decode, or the plain library when there are no
    variants."""
    forced = os.environ.get(VARIANT_ENV, "") if name == "cpu" else ""
    plain = folder / f"{prefix}{name}{ext}"
    candidates: list[tuple[int, str, Path]] = []
    for path in sorted(folder.glob(f"{prefix}{name}-*{ext}")):
        variant = _variant_of(path, prefix, name, ext)
        if forced and variant != forced:
            continue
        if variant in AMX_VARIANTS and not allow_amx and not forced:
            report.skipped.append(f"{path.name}: AMX is not enabled by the operating system")
            continue
        score = _score(path)
        if score > 0:
            candidates.append((score, variant, path))
    candidates.sort(key=lambda found: -found[0])  # stable: equal scores keep the name order
    if candidates and (forced or check is None):
        return candidates[0][2]
    if candidates and check is not None:
        return check.first_usable([(variant, path) for _, variant, path in candidates], report)
    return plain if plain.exists() and not forced else None


class NoCpuBackend(RuntimeError):
    """llama.cpp has no CPU backend: it cannot load any model (it would crash at the first)."""


_last_error = ""  # why the last load_backends() left llama.cpp without a CPU backend, if it did


def require_cpu_backend() -> None:
    """Raise NoCpuBackend unless ggml has its CPU backend registered.

    Every model, GPU-offloaded or not, keeps some tensors and the sampler's work on the CPU:
    without that backend llama.cpp's loader dies with SIGSEGV (seen on a CUDA build whose CPU
    variants were missing from the install), which reads like a damaged model file. A plain
    sentence instead, before anything is loaded."""
    load_backends()
    ggml = ggml_library()
    by_name = ggml["ggml_backend_reg_by_name"]
    by_name.restype, by_name.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    if not by_name(b"CPU"):
        raise NoCpuBackend(_last_error or "ggml has no CPU backend")


def load_backends(check: VariantCheck | None = None) -> BackendReport:
    """Register ggml's backends if llama.cpp was built to load them at run time.

    check: how CPU variants are checked before use (default: in a child, cached in the app's
    cache folder). Never raises: problems end up in the report and the log (llama.cpp then
    says "no backends").
    """
    report = BackendReport()
    # CUDA numbers GPUs fastest first, NVML (what the planner read) by PCI bus: the same order
    # for both, so the planner's GPU index is llama.cpp's main_gpu.
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    try:
        _load_into(report, check or VariantCheck())
    except Exception as exc:  # a broken install must still reach the user as a message
        report.error = f"{type(exc).__name__}: {exc}"
    global _last_error
    if report.needed:
        _last_error = report.error
    (log.error if report.error else log.info)("%s", report.summary())
    for line in report.checks:
        log.info("checked %s", line)
    for line in report.skipped:
        log.info("skipped %s", line)
    return report


def _load_into(report: BackendReport, check: VariantCheck) -> None:
    ggml = ggml_library()
    if _registered_backends(ggml) > 0:
        return  # linked in: a plain build
    report.needed = True
    backend_load = _backend_loader(ggml)
    prefix, ext = lib_names()
    allow_amx = amx_usable()
    dirs = search_dirs()
    report.searched = [str(d) for d in dirs]
    for name in BACKEND_NAMES:
        for folder in dirs:
            chosen = _choose(name, folder, prefix, ext, allow_amx, report,
                             check if name == "cpu" else None)  # fmt: skip
            if chosen is None:
                continue
            if backend_load(os.fsencode(chosen)):
                report.loaded.append(str(chosen))
                if name == "cpu":
                    report.cpu_variant = _variant_of(chosen, prefix, name, ext) or "generic"
            else:
                report.skipped.append(f"{chosen.name}: ggml could not load it")
            break  # the first folder that has this backend wins
    if not report.cpu_variant and report.checks:
        report.error = "no CPU variant of llama.cpp ran on this computer: " + "; ".join(report.checks)
    elif not report.cpu_variant:
        report.error = "no CPU backend found in " + ", ".join(report.searched)
