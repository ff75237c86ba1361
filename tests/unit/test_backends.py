"""The ggml backend loader used by the installers' portable (GGML_BACKEND_DL) build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.core.engine import backends


def _portable_build() -> bool:
    """Whether the installed llama-cpp-python is the GGML_BACKEND_DL build (CI, installers)."""
    return any(any(folder.glob("*ggml-cpu-*")) for folder in backends.search_dirs() if folder.is_dir())


_FIRST_LOAD = """
import json, dataclasses
from app.core.engine.backends import load_backends
report = load_backends()
print(json.dumps({**dataclasses.asdict(report), "summary": report.summary()}))
"""


def test_the_installed_build_gets_a_cpu_backend() -> None:
    # In a fresh process: in this one, an earlier test may have registered the backends already.
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_LOAD], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["error"] == ""
    if _portable_build():
        # CI and the installers: one CPU library per CPU generation, the best one loaded.
        assert report["needed"] is True
        assert report["cpu_variant"] != ""
    else:
        # A plain developer build has its CPU backend linked in.
        assert report["needed"] is False
        assert "built in" in report["summary"]
    assert backends.load_backends().error == ""  # and again in this process: nothing to do


def test_variant_names_come_from_file_names() -> None:
    assert backends._variant_of(Path("libggml-cpu-haswell.so"), "lib", "ggml-cpu", ".so") == "haswell"
    assert backends._variant_of(Path("libggml-cpu.so"), "lib", "ggml-cpu", ".so") == ""


def test_amx_variants_are_skipped_unless_the_os_enabled_amx(tmp_path: Path) -> None:
    (tmp_path / "libggml-cpu-sapphirerapids.so").write_bytes(b"not a library")
    (tmp_path / "libggml-cpu-haswell.so").write_bytes(b"not a library")
    report = backends.BackendReport()
    chosen = backends._choose("cpu", tmp_path, "libggml-", ".so", allow_amx=False, report=report)
    # Neither fake file can be opened, so nothing is chosen; but the AMX one was never tried.
    assert chosen is None
    assert report.skipped == ["libggml-cpu-sapphirerapids.so: AMX is not enabled by the operating system"]


def test_a_folder_with_only_the_plain_library_uses_it(tmp_path: Path) -> None:
    plain = tmp_path / "libggml-cpu.so"
    plain.write_bytes(b"x")
    chosen = backends._choose("cpu", tmp_path, "libggml-", ".so", allow_amx=False,
                              report=backends.BackendReport())
    assert chosen == plain
