"""Load ggml's compute backends when llama.cpp was built with GGML_BACKEND_DL.

The installers ship a portable llama-cpp-python (GGML_NATIVE=OFF, GGML_BACKEND_DL=ON,
GGML_CPU_ALL_VARIANTS=ON): the CPU backend comes as one shared library per CPU generation
(libggml-cpu-haswell.so ... libggml-cpu-sapphirerapids.so) and a GPU backend, if any, as its own
library (libggml-cuda.so). Nothing is loaded until someone asks, and llama.cpp then refuses every
model with "no backends are loaded". ggml's own search (ggml_backend_load_all) only looks next
to the executable and in the current folder; the wheel puts the variants in site-packages/bin/
and the frozen app next to llama_cpp/lib, so we load them here, from where they really are.

We also choose the CPU variant ourselves rather than leaving it to ggml's score: ggml picks the
AMX variant whenever CPUID reports AMX, even where the operating system has not enabled AMX's
tile registers (virtual machines commonly hide them), and then the first decode dies with
SIGSEGV inside the AMX matrix kernel. An AMX variant is only used where the kernel says AMX is
usable (Linux: the amx_tile flag in /proc/cpuinfo and arch_prctl(ARCH_REQ_XCOMP_PERM)).

With a build that links its backends in (a developer's plain build, the macOS Metal build),
ggml already has them registered and this module does nothing. No Qt here.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("enclave.engine.backends")

# Set to a folder to load backends from there only; set VARIANT_ENV to a variant name
# ("haswell", "x64", ...) to force that CPU variant (diagnosis, benchmarks).
BACKEND_DIR_ENV = "ENCLAVE_GGML_BACKEND_DIR"
VARIANT_ENV = "ENCLAVE_GGML_CPU_VARIANT"

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


@dataclass
class BackendReport:
    """What happened, for the engine log and the self-test."""

    needed: bool = False  # False: backends were linked in, nothing to load
    searched: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)  # file paths
    cpu_variant: str = ""
    skipped: list[str] = field(default_factory=list)  # "file: reason"
    error: str = ""

    def summary(self) -> str:
        if self.error:
            return f"ggml backends: {self.error}"
        if not self.needed:
            return "ggml backends are built in"
        names = ", ".join(Path(p).name for p in self.loaded) or "none"
        return f"ggml backends loaded: {names} (CPU variant: {self.cpu_variant or '-'})"


def _lib_names() -> tuple[str, str]:
    """(file name prefix, extension) of ggml's backend libraries on this OS."""
    if sys.platform == "win32":
        return "ggml-", ".dll"
    return "libggml-", ".so"  # ggml uses .so for modules on macOS too


def _ggml_library() -> ctypes.CDLL:
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
    import platform

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


def _choose(
    name: str, folder: Path, prefix: str, ext: str, allow_amx: bool, report: BackendReport
) -> Path | None:
    """The file of backend `name` to load from folder: the best-scoring usable variant, or the
    plain library when there are no variants."""
    forced = os.environ.get(VARIANT_ENV, "") if name == "cpu" else ""
    plain = folder / f"{prefix}{name}{ext}"
    variants = sorted(folder.glob(f"{prefix}{name}-*{ext}"))
    best: tuple[int, Path] | None = None
    for path in variants:
        variant = _variant_of(path, prefix, name, ext)
        if forced and variant != forced:
            continue
        if variant in AMX_VARIANTS and not allow_amx and not forced:
            report.skipped.append(f"{path.name}: AMX is not enabled by the operating system")
            continue
        score = _score(path)
        if score <= 0:
            continue
        if best is None or score > best[0]:
            best = (score, path)
    if best is not None:
        return best[1]
    return plain if plain.exists() and not forced else None


def load_backends() -> BackendReport:
    """Register ggml's backends if llama.cpp was built to load them at run time.

    Never raises: problems end up in the report and the log (llama.cpp then says "no backends").
    """
    report = BackendReport()
    try:
        _load_into(report)
    except Exception as exc:  # a broken install must still reach the user as a message
        report.error = f"{type(exc).__name__}: {exc}"
    (log.error if report.error else log.info)("%s", report.summary())
    for line in report.skipped:
        log.info("skipped %s", line)
    return report


def _load_into(report: BackendReport) -> None:
    ggml = _ggml_library()
    reg_count = ggml["ggml_backend_reg_count"]  # a fresh function object: llama_cpp's are untouched
    reg_count.restype = ctypes.c_size_t
    reg_count.argtypes = []
    if int(reg_count()) > 0:
        return  # linked in: a plain build
    report.needed = True
    backend_load = ggml["ggml_backend_load"]
    backend_load.restype = ctypes.c_void_p
    backend_load.argtypes = [ctypes.c_char_p]
    prefix, ext = _lib_names()
    allow_amx = amx_usable()
    dirs = search_dirs()
    report.searched = [str(d) for d in dirs]
    for name in BACKEND_NAMES:
        for folder in dirs:
            chosen = _choose(name, folder, prefix, ext, allow_amx, report)
            if chosen is None:
                continue
            if backend_load(os.fsencode(chosen)):
                report.loaded.append(str(chosen))
                if name == "cpu":
                    report.cpu_variant = _variant_of(chosen, prefix, name, ext) or "generic"
            else:
                report.skipped.append(f"{chosen.name}: ggml could not load it")
            break  # the first folder that has this backend wins
    if not report.cpu_variant:
        report.error = "no CPU backend found in " + ", ".join(report.searched)
