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

And flags are not enough: a variant can die on a machine that has every feature it asks for,
so each is run once in a child process before it is trusted (variant_check.py).

With a build that links its backends in (a developer's plain build, the macOS Metal build),
ggml already has them registered and this module does nothing. No Qt here.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.engine.variant_check import AMX_VARIANTS, VariantCheck

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
