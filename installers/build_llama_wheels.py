"""Build the llama-cpp-python wheel an installer bundles (llama-cpp-python is source-only on PyPI).

    python installers/build_llama_wheels.py cpu   --out wheels/   # Linux, Windows (x86-64)
    python installers/build_llama_wheels.py cuda  --out wheels/   # Linux, Windows + CUDA toolkit
    python installers/build_llama_wheels.py metal --out wheels/   # macOS on Apple Silicon

    python installers/build_llama_wheels.py requirements          # the bundle's other packages

Prints the wheel's path as the last line of stdout (build output goes to stderr), so scripts can
do `wheel=$(python installers/build_llama_wheels.py cpu --out DIR)`. A wheel already built with
the same version, flags and platform is reused: the folder name is a hash of all three.

Why these flags:
- Never -march=native: a bundle is built on one machine and runs on others. A native build on a
  CPU with AMX even crashes on the build machine itself (SIGSEGV in ggml's AMX kernel).
- cpu/cuda: GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS build the CPU backend once per CPU
  generation (x64, sse42, sandybridge, haswell, skylakex, icelake, zen4, sapphirerapids...),
  each as its own library; at run time app/core/engine/backends.py loads the best one the CPU
  (and OS) supports, so it runs on any x86-64 CPU and still uses AVX2/AVX-512. The CUDA backend
  becomes one more loadable library (libggml-cuda.so / ggml-cuda.dll), so the same bundle also
  works on machines without NVIDIA's driver.
- metal: Apple Silicon; Metal backend linked in with its shader library embedded, baseline
  ARMv8 CPU code (GGML_NATIVE=OFF).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

DEFAULT_VERSION = "0.3.36"

# What the app does not use: multimodal (mtmd), llama.cpp's tools, examples, tests, server.
COMMON = [
    "-DGGML_NATIVE=OFF",
    "-DLLAVA_BUILD=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
]
PORTABLE_CPU = ["-DGGML_BACKEND_DL=ON", "-DGGML_CPU_ALL_VARIANTS=ON"]
# Turing (RTX 20xx, T4) .. Hopper; 120 (Blackwell) needs CUDA >= 12.8, added when nvcc has it.
CUDA_ARCHS = "75-real;80-real;86-real;89-real;90-real;90-virtual"

FLAGS: dict[str, list[str]] = {
    "cpu": COMMON + PORTABLE_CPU,
    "cuda": COMMON + PORTABLE_CPU + ["-DGGML_CUDA=ON", f"-DCMAKE_CUDA_ARCHITECTURES={CUDA_ARCHS}"],
    "metal": COMMON + ["-DGGML_METAL=ON", "-DGGML_METAL_EMBED_LIBRARY=ON", "-DGGML_BLAS=OFF"],
    # The portable CPU build plus the Vulkan backend (AMD, Intel and integrated GPUs) as one more
    # loadable library; needs the Vulkan headers and glslc to build (libvulkan-dev, glslc).
    "vulkan": COMMON + PORTABLE_CPU + ["-DGGML_VULKAN=ON"],
}


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _cuda_archs_with_blackwell(args: list[str]) -> list[str]:
    """Add sm_120 when the installed nvcc supports it (CUDA 12.8+)."""
    nvcc = shutil.which("nvcc")
    if not nvcc:
        return args
    out = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True, text=True, check=False)
    if "compute_120" not in out.stdout:
        return args
    return [
        a.replace("90-virtual", "120-real;120-virtual") if a.startswith("-DCMAKE_CUDA_ARCHITECTURES") else a
        for a in args
    ]


def cmake_args(variant: str) -> list[str]:
    args = list(FLAGS[variant])
    if variant == "cuda":
        args = _cuda_archs_with_blackwell(args)
    if sys.platform == "win32":
        # MSVC's OpenMP runtime (vcomp140.dll) is not on every Windows machine and PyInstaller
        # treats it as a system DLL; ggml's own thread pool needs nothing.
        args.append("-DGGML_OPENMP=OFF")
    if variant == "metal" and (sys.platform != "darwin" or platform.machine() != "arm64"):
        raise SystemExit("The metal variant is built on macOS on Apple Silicon.")
    if variant in ("cpu", "cuda") and platform.machine().lower() not in ("x86_64", "amd64"):
        raise SystemExit(f"The {variant} variant is for x86-64 (this is {platform.machine()}).")
    return args


def cache_key(version: str, args: list[str]) -> str:
    identity = "\n".join([version, sys.platform, platform.machine(), f"py{sys.version_info[0]}", *args])
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def build(variant: str, version: str, out: Path, sdist: str | None, jobs: int) -> Path:
    args = cmake_args(variant)
    target = out / f"{variant}-{version}-{cache_key(version, args)}"
    found = sorted(target.glob("llama_cpp_python-*.whl"))
    if found:
        _err(f"reusing {found[-1]} (same version, flags and platform)")
        return found[-1]
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    env = dict(os.environ)
    env["CMAKE_ARGS"] = " ".join(args)
    env["CMAKE_BUILD_PARALLEL_LEVEL"] = str(jobs)
    env["FORCE_CMAKE"] = "1"
    for name in ("CFLAGS", "CXXFLAGS"):  # a stray -march=native must not sneak in
        if "native" in env.get(name, ""):
            raise SystemExit(f"{name} contains -march=native; unset it for a portable build.")
    source = sdist or f"llama-cpp-python=={version}"
    if variant == "vulkan" and sdist is None and _old_vulkan_headers():
        source = str(_vulkan_compatible_sdist(version, tmp))
    command = [
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-binary", "llama-cpp-python",
        "--no-cache-dir", "-w", str(tmp), source,
    ]  # fmt: skip
    _err(f"CMAKE_ARGS={env['CMAKE_ARGS']}")
    _err("$ " + " ".join(command))
    subprocess.run(command, env=env, check=True, stdout=sys.stderr)
    wheels = sorted(tmp.glob("llama_cpp_python-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {tmp}, found {wheels}")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target / wheels[0].name


# llama.cpp's Vulkan backend sets validation-layer options through VK_EXT_layer_settings, which
# the Vulkan headers of Debian 12 / Ubuntu 22.04 (1.3.239) do not have yet. The only use is the
# debug-only validation layer, so with older headers that one block is left out; everything the
# backend computes is the same.
_LAYER_SETTINGS_START = """    VkBool32 enable_best_practice = layer_settings;
    std::vector<vk::LayerSettingEXT> settings = {"""
_LAYER_SETTINGS_END = (
    "    vk::InstanceCreateInfo instance_create_info(vk::InstanceCreateFlags{}, &app_info, layers, "
    "extensions, &layer_setting_info);\n"
)
_WITHOUT_LAYER_SETTINGS = (
    "#else  // Vulkan headers before VK_EXT_layer_settings: no validation-layer settings\n"
    "    vk::InstanceCreateInfo instance_create_info(vk::InstanceCreateFlags{}, &app_info, layers, "
    "extensions);\n"
    "#endif\n"
)


def _old_vulkan_headers() -> bool:
    header = Path("/usr/include/vulkan/vulkan_core.h")
    return header.is_file() and "VK_EXT_layer_settings" not in header.read_text(errors="replace")


def _vulkan_compatible_sdist(version: str, work: Path) -> Path:
    """PyPI's sdist with the layer-settings block guarded, repacked into `work`."""
    import tarfile

    download = work / "sdist"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(download),
         f"llama-cpp-python=={version}"],
        check=True, stdout=sys.stderr,
    )  # fmt: skip
    archive = next(download.glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(download, filter="data")
    root = next(p for p in download.iterdir() if p.is_dir())
    source = root / "vendor" / "llama.cpp" / "ggml" / "src" / "ggml-vulkan" / "ggml-vulkan.cpp"
    text = source.read_text(encoding="utf-8")
    if text.count(_LAYER_SETTINGS_START) != 1 or text.count(_LAYER_SETTINGS_END) != 1:
        raise SystemExit("ggml-vulkan.cpp changed: update the layer-settings guard in this script")
    text = text.replace(_LAYER_SETTINGS_START, "#ifdef VK_EXT_layer_settings\n" + _LAYER_SETTINGS_START)
    text = text.replace(_LAYER_SETTINGS_END, _LAYER_SETTINGS_END + _WITHOUT_LAYER_SETTINGS)
    source.write_text(text, encoding="utf-8")
    _err(f"guarded VK_EXT_layer_settings in {source.name} (system Vulkan headers are older)")
    patched = work / archive.name
    with tarfile.open(patched, "w:gz") as tar:
        tar.add(root, arcname=root.name)
    shutil.rmtree(download)
    return patched


# The freezer, pinned: a new PyInstaller can change what a bundle contains.
BUNDLE_TOOLS = ["pyinstaller==6.22.3"]


def bundle_requirements() -> list[str]:
    """The app's dependencies from pyproject.toml, less llama-cpp-python (the wheel built here),
    plus the freezer: what a build environment installs next to the wheel."""
    import tomllib

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    with pyproject.open("rb") as handle:
        deps = tomllib.load(handle)["project"]["dependencies"]
    return [d for d in deps if not d.replace("_", "-").lower().startswith("llama-cpp-python")] + (
        BUNDLE_TOOLS
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=[*sorted(FLAGS), "requirements"])
    parser.add_argument("--out", type=Path, default=Path("wheels"), help="wheel cache folder")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="llama-cpp-python version")
    parser.add_argument("--sdist", default=None, help="a local sdist instead of PyPI's")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--print-flags", action="store_true", help="print CMAKE_ARGS and exit")
    args = parser.parse_args()
    if args.variant == "requirements":
        print("\n".join(bundle_requirements()))
        return 0
    if args.print_flags:
        print(" ".join(cmake_args(args.variant)))
        return 0
    wheel = build(args.variant, args.version, args.out.resolve(), args.sdist, args.jobs)
    print(wheel)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
