"""SettingsStore: the one place that changes and saves the settings (app/core/settings.py).

Real files in a temp folder: update() writes the whole file atomically with owner-only
permissions, announces the names that changed once, refuses unknown names and wrong types
without changing anything, and a second store (another process, a restart) reads the change.
"""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from app.core import settings as settings_module
from app.core.settings import Settings, SettingsStore, load_settings


def _store(tmp_path: Path) -> tuple[SettingsStore, Path, list[set[str]]]:
    path = tmp_path / "config" / "settings.json"
    store = SettingsStore(path)
    events: list[set[str]] = []
    store.changed.connect(events.append)
    return store, path, events


def test_update_saves_and_announces_the_changed_names_once(tmp_path: Path) -> None:
    store, path, events = _store(tmp_path)
    assert store.current == Settings() and not path.exists()

    changed = store.update(offline_mode=True, default_context=4096, theme="system")  # theme: as is
    assert changed == {"offline_mode", "default_context"}
    assert events == [{"offline_mode", "default_context"}]
    assert store.current.offline_mode is True and store.current.default_context == 4096
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["offline_mode"] is True and on_disk["default_context"] == 4096
    assert set(on_disk) == {f for f in Settings.__dataclass_fields__}  # the whole schema

    assert store.update(offline_mode=True) == set()  # nothing new: no event, no write
    assert len(events) == 1


def test_the_file_is_replaced_atomically_never_written_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, path, _events = _store(tmp_path)
    store.update(last_model="/models/a.gguf")
    before_inode = path.stat().st_ino
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        # At the moment of the swap the new text is complete in a temp file beside the old one,
        # and the old file is still whole.
        assert Path(src).parent == path.parent and Path(src).name.startswith(".settings.json.")
        assert json.loads(Path(src).read_text(encoding="utf-8"))["last_model"] == "/models/b.gguf"
        assert json.loads(path.read_text(encoding="utf-8"))["last_model"] == "/models/a.gguf"
        replaced.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(settings_module.os, "replace", spy)
    store.update(last_model="/models/b.gguf")
    assert replaced == [(replaced[0][0], str(path))]
    assert path.stat().st_ino != before_inode  # a new file took the old one's place
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temp file left


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, path, events = _store(tmp_path)
    store.update(n_threads=4)
    original = path.read_text(encoding="utf-8")

    def broken_fsync(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(settings_module.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        store.update(n_threads=8)
    assert path.read_text(encoding="utf-8") == original  # never half a file
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # the temp file is gone
    # The choice still applies while the app runs, and observers heard of it.
    assert store.current.n_threads == 8 and events[-1] == {"n_threads"}


@pytest.mark.parametrize(
    "changes",
    [
        {"no_such_setting": 1},
        {"offline_mode": True, "no_such_setting": 1},  # one bad name spoils the whole update
        {"default_context": "8192"},
        {"default_context": True},  # a bool is not a number of tokens
        {"offline_mode": "yes"},
        {"extra_model_dirs": "/models"},
        {"chat_format_overrides": {"/m/a.gguf": 3}},
        {"theme": "dark", "api_port": 80.5},
    ],
)
def test_unknown_names_and_wrong_types_change_nothing(tmp_path: Path, changes: dict[str, object]) -> None:
    store, path, events = _store(tmp_path)
    store.update(theme="light")
    before = copy.deepcopy(store.current)
    on_disk = path.read_text(encoding="utf-8")
    events.clear()

    with pytest.raises(ValueError):
        store.update(**changes)

    assert store.current == before
    assert path.read_text(encoding="utf-8") == on_disk
    assert events == []


def test_a_second_store_reading_the_file_sees_the_change(tmp_path: Path) -> None:
    store, path, _events = _store(tmp_path)
    store.update(
        models_dir=str(tmp_path / "models"),
        extra_model_dirs=["/a", "/b"],
        chat_format_overrides={"/m/a.gguf": "chatml"},
        api_port=9000,
    )
    again = SettingsStore(path)  # a restart, or another process
    assert again.current == store.current
    assert again.current.extra_model_dirs == ["/a", "/b"] and again.current.api_port == 9000
    assert load_settings(path) == store.current


def test_a_dict_passed_in_is_copied_not_shared(tmp_path: Path) -> None:
    store, _path, _events = _store(tmp_path)
    overrides = {"/m/a.gguf": "chatml"}
    store.update(chat_format_overrides=overrides)
    overrides["/m/b.gguf"] = "gemma"  # the caller's dict changes later: the store's does not
    assert store.current.chat_format_overrides == {"/m/a.gguf": "chatml"}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_the_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    store, path, _events = _store(tmp_path)
    old_umask = os.umask(0o022)  # a typical umask would make new files world-readable
    try:
        store.update(server_url="http://127.0.0.1:8000/v1")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store.update(server_model="m")  # and again after a replace
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
