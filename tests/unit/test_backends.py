"""The ggml backend loader used by the installers' portable (GGML_BACKEND_DL) build."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.core import paths
from app.core.engine import backends, variant_check
from app.core.engine import protocol as p
from app.core.engine.base import EngineError
from app.core.engine.client import EngineClient
from app.core.engine.loader import load_model


def _portable_build() -> bool:
    """Whether the installed llama-cpp-python is the GGML_BACKEND_DL build (CI, installers)."""
    return any(any(folder.glob("*ggml-cpu-*")) for folder in backends.search_dirs() if folder.is_dir())


def _variant_folder() -> Path:
    """The folder with the installed wheel's CPU variants (skips the test on a plain build)."""
    prefix, ext = backends.lib_names()
    for folder in backends.search_dirs():
        if any(folder.glob(f"{prefix}cpu-*{ext}")):
            return folder
    pytest.skip("this llama-cpp-python has its CPU backend built in (no variants to choose from)")


def _choose_cpu(
    check: variant_check.VariantCheck,
    *,
    allow_amx: bool | None = None,
    report: backends.BackendReport | None = None,
) -> Path | None:
    prefix, ext = backends.lib_names()
    allow = backends.amx_usable() if allow_amx is None else allow_amx
    return backends._choose(
        "cpu", _variant_folder(), prefix, ext, allow, report or backends.BackendReport(), check
    )


def _child(code: str) -> variant_check.CheckCommand:
    """A check command that runs `code` instead of the real check."""
    return lambda library, model: [sys.executable, "-c", code]


_PASSES = _child(f"print({variant_check._CHECK_PASSED!r})")
_NO_ANSWER = _child("import sys; sys.exit('the interpreter has no llama_cpp')")
_SIGILL = "import os, signal; os.kill(os.getpid(), signal.SIGILL)"


def _never(library: Path, model: Path) -> list[str]:
    raise AssertionError(f"a remembered verdict must not start a check of {library.name}")


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
    chosen = backends._choose(
        "cpu", tmp_path, "libggml-", ".so", allow_amx=False, report=backends.BackendReport()
    )
    assert chosen == plain


# ---- the CPU variant check: never a variant whose kernels die on this machine -------------------


def test_the_real_wheel_chats_on_a_variant_that_decodes(
    instruct_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No forced variant: exactly what the app and CI do (on an AMX Xeon built with GCC 12 the
    # sapphirerapids variant dies with SIGILL at the first decode; see backends' docstring).
    monkeypatch.delenv(backends.VARIANT_ENV, raising=False)
    monkeypatch.delenv(variant_check.CHECK_CACHE_ENV, raising=False)  # the app's own cache folder
    log_path = tmp_path / "engine-host.log"
    client = EngineClient(log_path=log_path)
    try:
        load_model(client, instruct_model_path, wanted_ctx=512)
        text, stats = client.chat(
            [{"role": "user", "content": "Say hello."}], p.SamplingParams(max_tokens=8, seed=1)
        )
    finally:
        client.shutdown()
    assert text.strip() and stats.engine.generated_tokens > 0
    if not _portable_build():
        return
    engine_log = log_path.read_text(encoding="utf-8", errors="replace")
    chosen = re.findall(r"CPU variant: (\w+)", engine_log)[-1]
    verdicts = json.loads((paths.cache_dir() / variant_check.CHECK_CACHE_FILE).read_text())["verdicts"]
    by_variant = {Path(v["file"]).name: v["usable"] for v in verdicts.values()}
    assert by_variant[f"libggml-cpu-{chosen}.so"] is True  # the variant in use was seen to decode
    print(f"chosen {chosen}; checks: {re.findall(r'checked (.*)', engine_log)}")


def test_a_remembered_verdict_starts_no_child(tmp_path: Path) -> None:
    cache = tmp_path / "variants.json"
    first = variant_check.VariantCheck(cache)
    chosen = _choose_cpu(first)
    assert chosen is not None and first.children >= 1
    assert cache.is_file()
    again = variant_check.VariantCheck(cache, command=_never)
    report = backends.BackendReport()
    assert _choose_cpu(again, report=report) == chosen
    assert again.children == 0
    assert all("remembered" in line for line in report.checks)


@pytest.mark.skipif(not hasattr(signal, "SIGILL") or sys.platform == "win32", reason="POSIX signals")
def test_a_variant_whose_check_dies_by_a_signal_is_skipped(tmp_path: Path) -> None:
    cache = tmp_path / "variants.json"
    asked: list[Path] = []

    def first_one_crashes(library: Path, model: Path) -> list[str]:
        asked.append(library)
        if len(asked) == 1:  # as the AMX variant does on this machine, whatever the machine
            return [sys.executable, "-c", _SIGILL]
        return variant_check.check_command(library, model)  # the real check for the next one

    check = variant_check.VariantCheck(cache, command=first_one_crashes)
    report = backends.BackendReport()
    chosen = _choose_cpu(check, allow_amx=False, report=report)  # no AMX: the same on any machine
    assert len(asked) == 2 and chosen == asked[1]
    assert f"{asked[0].name}: the check process was stopped by SIGILL" in report.skipped
    # The crash is remembered too: the next engine start neither runs nor loads that variant.
    again = variant_check.VariantCheck(cache, command=_never)
    assert _choose_cpu(again, allow_amx=False) == chosen and again.children == 0


def test_a_forced_variant_is_not_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix, ext = backends.lib_names()
    # A variant this CPU can run (ggml scores it above 0): one it cannot is never loaded, forced
    # or not, and which ones those are depends on the machine the test runs on.
    runnable = [p for p in sorted(_variant_folder().glob(f"{prefix}cpu-*{ext}")) if backends._score(p) > 0]
    some = runnable[0]
    monkeypatch.setenv(backends.VARIANT_ENV, backends._variant_of(some, prefix, "cpu", ext))
    check = variant_check.VariantCheck(tmp_path / "variants.json", command=_never)
    assert _choose_cpu(check, allow_amx=True) == some and check.children == 0


def _fake_variants(folder: Path, *names: str) -> list[tuple[str, Path]]:
    found = []
    for name in names:
        path = folder / f"libggml-cpu-{name}.so"
        path.write_bytes(b"stands in for a variant: first_usable only looks at the file")
        found.append((name, path))
    return found


def test_a_check_with_no_answer_uses_the_best_variant_without_amx(
    tmp_path: Path, embedding_model_path: Path
) -> None:
    candidates = _fake_variants(tmp_path, "sapphirerapids", "zen4", "icelake")
    check = variant_check.VariantCheck(
        tmp_path / "variants.json", model=embedding_model_path, command=_NO_ANSWER
    )
    report = backends.BackendReport()
    assert check.first_usable(candidates, report) == candidates[1][1]
    assert check.children == 1  # no answer once: the others are not asked either
    assert "exited with code 1: the interpreter has no llama_cpp" in report.checks[0]
    assert not (tmp_path / "variants.json").exists()  # "no answer" is asked again next time


def test_a_changed_variant_file_is_checked_again(tmp_path: Path, embedding_model_path: Path) -> None:
    [(name, path)] = _fake_variants(tmp_path, "haswell")
    check = variant_check.VariantCheck(
        tmp_path / "variants.json", model=embedding_model_path, command=_PASSES
    )
    assert check.verdict(path).usable is True and check.children == 1
    assert check.verdict(path).cached and check.children == 1
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # an update
    assert check.verdict(path).cached is False and check.children == 2


def test_every_variant_dying_is_an_error_not_a_crash(tmp_path: Path, embedding_model_path: Path) -> None:
    candidates = _fake_variants(tmp_path, "icelake", "x64")
    check = variant_check.VariantCheck(
        tmp_path / "variants.json", model=embedding_model_path, command=_child(_SIGILL)
    )
    report = backends.BackendReport()
    assert check.first_usable(candidates, report) is None
    assert len(report.skipped) == 2 and check.children == 2
    # Not the instruction set (the plainest variant died too): this process does not check
    # again, but nothing is written down, so a later start checks again and can succeed.
    cache = tmp_path / "variants.json"
    same_process = variant_check.VariantCheck(cache, model=embedding_model_path, command=_never)
    assert same_process.first_usable(candidates, backends.BackendReport()) is None
    assert same_process.children == 0
    assert json.loads(cache.read_text())["verdicts"] == {}
    variant_check._process_verdicts.clear()  # as a new process starts
    later = variant_check.VariantCheck(cache, model=embedding_model_path, command=_PASSES)
    assert later.first_usable(candidates, backends.BackendReport()) == candidates[0][1]
    assert later.children == 1


def test_an_install_without_its_cpu_libraries_says_so_instead_of_crashing(
    instruct_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seen on a CUDA build installed without its CPU variants: llama.cpp's loader died with
    # SIGSEGV at every model, reported as a possibly damaged file. Now the host refuses to start.
    if not _portable_build():
        pytest.skip("a build with its CPU backend linked in always has one")
    empty = tmp_path / "no-backends"
    empty.mkdir()
    monkeypatch.setenv(backends.BACKEND_DIR_ENV, str(empty))
    client = EngineClient(log_path=tmp_path / "engine-host.log")
    try:
        with pytest.raises(EngineError) as raised:
            load_model(client, instruct_model_path, wanted_ctx=512)
    finally:
        client.shutdown()
    message = str(raised.value)
    assert "processor library is missing or does not run on this computer" in message, message
    assert "no CPU backend found in" in message and str(empty) in message
    assert "damaged" not in message
