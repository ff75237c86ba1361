"""The ggml backend loader used by the installers' portable (GGML_BACKEND_DL) build."""

from __future__ import annotations

from pathlib import Path

from app.core.engine import backends


def test_a_plain_build_needs_nothing_loaded() -> None:
    report = backends.load_backends()  # the dev build has its CPU backend linked in
    assert report.error == ""
    assert report.needed is False
    assert "built in" in report.summary()


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
