"""Presets and per-conversation settings: built-ins, the user's own presets on disk, and the
sampling a conversation's settings dict turns into."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from app.core.chat import presets as pr
from app.core.engine.protocol import SamplingParams
from app.core.settings import Settings, load_settings, save_settings


def test_built_ins_cover_the_common_jobs() -> None:
    names = [p.name for p in pr.BUILT_IN]
    for wanted in (
        "Helpful assistant",
        "Summarize",
        "Rewrite formally",
        "Explain like I'm new",
        "Translate to English",
    ):
        assert wanted in names
    assert len(set(names)) == len(names)
    for preset in pr.BUILT_IN:
        assert preset.built_in and preset.system_prompt.strip() and preset.description
        assert 0.0 <= preset.sampling.temperature <= 2.0
    assert pr.default_preset().name == pr.DEFAULT_PRESET
    assert pr.find_preset("summarize") is not None  # names match regardless of case


def test_user_presets_round_trip_and_delete(tmp_path: Path) -> None:
    path = tmp_path / "presets.json"
    assert pr.load_user_presets(path) == []
    mine = pr.Preset("Pirate", "Talk like a pirate.", SamplingParams(temperature=1.2, seed=7), "Arr")
    saved = pr.save_user_preset(mine, path)
    assert not saved.built_in
    loaded = pr.load_user_presets(path)
    assert loaded == [saved]
    assert loaded[0].sampling == SamplingParams(temperature=1.2, seed=7)
    # Same name (any case) replaces; a new one is appended.
    pr.save_user_preset(pr.Preset("pirate", "Arr only."), path)
    pr.save_user_preset(pr.Preset("Haiku", "Answer in haiku."), path)
    assert [(p.name, p.system_prompt) for p in pr.load_user_presets(path)] == [
        ("pirate", "Arr only."),
        ("Haiku", "Answer in haiku."),
    ]
    assert [p.name for p in pr.all_presets(path)][-2:] == ["pirate", "Haiku"]
    assert pr.delete_user_preset("PIRATE", path) is True
    assert pr.delete_user_preset("nope", path) is False
    assert [p.name for p in pr.load_user_presets(path)] == ["Haiku"]


def test_built_in_names_are_reserved(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        pr.save_user_preset(pr.Preset("summarize", "x"), tmp_path / "presets.json")
    with pytest.raises(ValueError):
        pr.save_user_preset(pr.Preset("   ", "x"), tmp_path / "presets.json")


def test_presets_file_is_atomic_owner_only_and_in_config_dir(enclave_home: Path) -> None:
    pr.save_user_preset(pr.Preset("Mine", "Be brief."))
    path = pr.presets_path()
    assert path.parent == enclave_home / "config" and path.name == "presets.json"
    assert path.stat().st_mode & 0o777 == 0o600
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["presets"][0]["name"] == "Mine"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".presets.json.")]  # no temp left


def test_broken_presets_file_is_kept_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "presets.json"
    path.write_text("{not json", encoding="utf-8")
    assert pr.load_user_presets(path) == []
    pr.save_user_preset(pr.Preset("New", "x"), path)
    assert [p.name for p in pr.load_user_presets(path)] == ["New"]
    assert any(p.name.startswith("presets.json.broken-") for p in tmp_path.iterdir())
    # Junk entries inside a good file are skipped, the good ones kept.
    path.write_text(
        json.dumps(
            {
                "presets": [
                    {"name": 3},
                    "x",
                    {"name": "Ok", "system_prompt": "y", "sampling": {"top_k": "many"}},
                ]
            }
        )
    )
    assert [(p.name, p.sampling.top_k) for p in pr.load_user_presets(path)] == [("Ok", 40)]


def test_conversation_sampling_defaults_and_overrides() -> None:
    assert pr.conversation_sampling({}) == SamplingParams()
    assert pr.conversation_sampling(None) == SamplingParams()
    assert pr.conversation_sampling({"collections": ["Docs"]}) == SamplingParams()
    got = pr.conversation_sampling(
        {
            "sampling": {
                "temperature": 0.2,
                "top_p": 0.5,
                "top_k": 10,
                "min_p": 0.1,
                "repeat_penalty": 1.3,
                "max_tokens": 99,
                "seed": 42,
            }
        }
    )
    assert got == SamplingParams(0.2, 0.5, 10, 0.1, 1.3, 99, 42)
    # Only some fields: the rest come from the base (the window's defaults).
    base = SamplingParams(max_tokens=12, seed=1)
    assert pr.conversation_sampling({"sampling": {"temperature": 0.1}}, base) == SamplingParams(
        temperature=0.1, max_tokens=12, seed=1
    )
    # seed null = random; junk is ignored, out-of-range values clamped, ints from floats.
    got = pr.conversation_sampling(
        {
            "sampling": {
                "seed": None,
                "temperature": "hot",
                "top_p": 7,
                "max_tokens": 50.0,
                "top_k": True,
                "min_p": float("nan"),
            }
        },
        base,
    )
    assert got.seed is None and got.temperature == 0.7 and got.top_p == 1.0
    assert got.max_tokens == 50 and isinstance(got.max_tokens, int) and got.top_k == 40 and got.min_p == 0.05
    assert pr.conversation_sampling({"sampling": "nonsense"}) == SamplingParams()


def test_preset_settings_merge_keeps_other_keys() -> None:
    current = {"collections": ["Handbook"], "context_size": 4096}
    summarize = pr.find_preset("Summarize")
    assert summarize is not None
    merged = pr.merge_settings(current, pr.preset_settings(summarize))
    assert merged["collections"] == ["Handbook"] and merged["preset"] == "Summarize"
    assert pr.conversation_sampling(merged) == summarize.sampling
    # Only what differs from the defaults is stored: the rest follows the app's defaults.
    assert merged["sampling"] == {"temperature": 0.3, "top_p": 0.9, "max_tokens": 512}
    assert pr.sampling_overrides(SamplingParams()) == {}
    assert pr.merge_settings(merged, {"context_size": None}).get("context_size") is None
    assert current == {"collections": ["Handbook"], "context_size": 4096}  # not changed in place
    assert pr.conversation_context(merged, 8192) == 4096
    assert pr.conversation_context({}, 8192) == 8192
    assert pr.conversation_context({"context_size": "big"}, 8192) == 8192


def test_chat_formats_match_llama_cpp() -> None:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llama_cpp not installed")
    source = Path(spec.submodule_search_locations[0], "llama_chat_format.py").read_text(encoding="utf-8")
    registered = set(re.findall(r'register_chat_format\("([^"]+)"\)', source))
    assert registered and set(pr.CHAT_FORMATS) == registered
    assert pr.CHAT_FORMATS[0] == "chatml"


def test_settings_keep_chat_format_overrides(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    save_settings(Settings(chat_format_overrides={"/m/a.gguf": "chatml"}), path)
    assert load_settings(path).chat_format_overrides == {"/m/a.gguf": "chatml"}
    path.write_text(json.dumps({"chat_format_overrides": {"/m/a.gguf": 3}}), encoding="utf-8")
    assert load_settings(path).chat_format_overrides == {}  # wrong types: kept aside, defaults
