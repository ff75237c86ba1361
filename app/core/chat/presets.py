"""How a conversation answers: presets (a system prompt plus sampling), the per-conversation
settings keys, and the chat formats a user may force for a model.

A conversation keeps its choices in the store's settings dict, next to keys other areas own
(e.g. "collections" of the documents picker), so writers merge into it, never replace it:

    {"preset": "Summarize", "sampling": {"temperature": 0.3, ...}, "context_size": 4096}

`sampling` may hold only some fields; the rest come from the defaults. A missing or null
"seed" means a random seed per answer. Built-in presets live here; the user's own ones are a
small JSON file in the config folder, written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core import paths
from app.core.engine.protocol import SamplingParams
from app.core.i18n import translate, translate_noop
from app.core.settings import atomic_write_text

log = logging.getLogger("enclave.chat.presets")

PRESETS_FILE = "presets.json"

# Keys in a conversation's settings dict (ChatStore.update_conversation(settings=...)).
KEY_PRESET = "preset"  # the name of the preset last chosen
KEY_SAMPLING = "sampling"  # dict: some or all SamplingParams fields
KEY_CONTEXT = "context_size"  # int: wanted context in tokens; absent = the app's default
OWNED_KEYS = (KEY_PRESET, KEY_SAMPLING, KEY_CONTEXT)

DEFAULT_PRESET = translate_noop("presets", "Helpful assistant")

# Context sizes offered to the user (the planner lowers a choice that does not fit).
CONTEXT_CHOICES = (2048, 4096, 8192, 16384, 32768, 65536, 131072)

# Names llama_cpp.llama_chat_format registers (register_chat_format), checked against the
# installed package by tests/unit/test_presets.py; kept static so the GUI need not import
# llama_cpp. "" means: the GGUF's own template (or a fallback by architecture).
CHAT_FORMAT_AUTOMATIC = ""
CHAT_FORMATS = (
    "chatml",
    "llama-3",
    "llama-2",
    "gemma",
    "mistral-instruct",
    "qwen",
    "zephyr",
    "vicuna",
    "alpaca",
    "openchat",
    "chatglm3",
    "baichuan-2",
    "baichuan",
    "mistrallite",
    "intel",
    "open-orca",
    "oasst_llama",
    "openbuddy",
    "phind",
    "pygmalion",
    "redpajama-incite",
    "saiga",
    "snoozy",
)

# Allowed ranges: values outside are clamped, wrong types ignored (a hand-edited file or an
# older version must never break an answer).
_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "top_k": (0, 1000),
    "min_p": (0.0, 1.0),
    "repeat_penalty": (0.5, 2.0),
    "max_tokens": (1, 131072),
    "seed": (0, 2**31 - 1),
}
_INT_FIELDS = {"top_k", "max_tokens", "seed"}
SAMPLING_FIELDS = tuple(f.name for f in dataclasses.fields(SamplingParams))


@dataclass(frozen=True)
class Preset:
    name: str
    system_prompt: str
    sampling: SamplingParams = field(default_factory=SamplingParams)
    description: str = ""
    built_in: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "system_prompt": self.system_prompt,
            "sampling": sampling_to_dict(self.sampling),
            "description": self.description,
        }


BUILT_IN: tuple[Preset, ...] = (
    Preset(
        DEFAULT_PRESET,
        "You are a helpful, friendly assistant. Answer clearly and to the point. "
        "If you are not sure about something, say so.",
        SamplingParams(temperature=0.7),
        translate_noop("presets", "Everyday questions and answers."),
        built_in=True,
    ),
    Preset(
        translate_noop("presets", "Summarize"),
        "Summarize the text the user gives you in a few short bullet points. Keep the key "
        "facts, names, dates and numbers. Do not add anything that is not in the text.",
        SamplingParams(temperature=0.3, top_p=0.9, max_tokens=512),
        translate_noop("presets", "Short bullet points of a text you paste."),
        built_in=True,
    ),
    Preset(
        translate_noop("presets", "Rewrite formally"),
        "Rewrite the user's text in a clear, formal and polite business tone. Keep the meaning "
        "and the language of the original. Reply with the rewritten text only.",
        SamplingParams(temperature=0.4, top_p=0.9),
        translate_noop("presets", "Turns a draft into a professional message."),
        built_in=True,
    ),
    Preset(
        translate_noop("presets", "Explain like I'm new"),
        "Explain things in simple words for someone who is new to the topic. Use short "
        "sentences and an everyday example. Avoid jargon, or explain it when you need it.",
        SamplingParams(temperature=0.6),
        translate_noop("presets", "Simple explanations without jargon."),
        built_in=True,
    ),
    Preset(
        translate_noop("presets", "Translate to English"),
        "Translate the user's text into English. Keep the meaning, tone and formatting. "
        "Reply with the translation only, without comments.",
        SamplingParams(temperature=0.2, top_p=0.9, repeat_penalty=1.0),
        translate_noop("presets", "Any language in, English out."),
        built_in=True,
    ),
    Preset(
        translate_noop("presets", "Creative writing"),
        "You are an imaginative writer. Write vivid, original text in the style the user asks for.",
        SamplingParams(temperature=1.0, top_p=0.95, min_p=0.05, max_tokens=2048),
        translate_noop("presets", "Stories, poems, ideas: more varied answers."),
        built_in=True,
    ),
    Preset(
        translate_noop("presets", "Precise (code and facts)"),
        "You are a careful expert. Give exact, correct answers. For code, reply with complete, "
        "working code in fenced blocks and a short explanation.",
        SamplingParams(temperature=0.2, top_p=0.9, top_k=20, max_tokens=2048),
        translate_noop("presets", "Steadier answers for code, numbers and facts."),
        built_in=True,
    ),
)


# ---- sampling <-> settings dict ---------------------------------------------------------
def _clean(name: str, value: Any) -> Any:
    """A valid value for SamplingParams.<name>, or None when it cannot be used."""
    if name == "seed" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    low, high = _RANGES[name]
    value = min(max(value, low), high)
    return int(value) if name in _INT_FIELDS else float(value)


def sampling_to_dict(sampling: SamplingParams) -> dict[str, Any]:
    return dataclasses.asdict(sampling)


def sampling_overrides(sampling: SamplingParams) -> dict[str, Any]:
    """Only the fields that differ from the defaults: what a conversation stores, so the rest
    follow the app's defaults."""
    defaults = SamplingParams()
    return {
        name: getattr(sampling, name)
        for name in SAMPLING_FIELDS
        if getattr(sampling, name) != getattr(defaults, name)
    }


def sampling_from_dict(raw: Any, base: SamplingParams | None = None) -> SamplingParams:
    """base (or the defaults) with every valid field of raw applied; junk is ignored."""
    result = base or SamplingParams()
    if not isinstance(raw, dict):
        return result
    changes: dict[str, Any] = {}
    for name in SAMPLING_FIELDS:
        if name not in raw:
            continue
        value = _clean(name, raw[name])
        if value is None and not (name == "seed" and raw[name] is None):
            log.debug("ignoring sampling %s=%r", name, raw[name])
            continue
        changes[name] = value
    return dataclasses.replace(result, **changes)


def conversation_sampling(
    settings: dict[str, Any] | None, base: SamplingParams | None = None
) -> SamplingParams:
    """The sampling a conversation's next answer uses: its stored values over `base`."""
    return sampling_from_dict((settings or {}).get(KEY_SAMPLING), base)


def conversation_context(settings: dict[str, Any] | None, default: int) -> int:
    """The context size this conversation asks for (the planner may lower it)."""
    value = (settings or {}).get(KEY_CONTEXT)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 256:
        return value
    return default


def merge_settings(current: dict[str, Any] | None, updates: dict[str, Any]) -> dict[str, Any]:
    """current with updates applied; a value of None removes the key. Other areas' keys
    (e.g. "collections") are kept."""
    merged = dict(current or {})
    for key, value in updates.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def preset_settings(preset: Preset) -> dict[str, Any]:
    """The settings updates that choosing this preset makes."""
    return {KEY_PRESET: preset.name, KEY_SAMPLING: sampling_overrides(preset.sampling)}


# ---- user presets -----------------------------------------------------------------------
def presets_path() -> Path:
    return paths.config_dir() / PRESETS_FILE


def _read_file(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    raw = json.loads(path.read_text(encoding="utf-8"))
    items = raw.get("presets") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise ValueError("no presets list")
    return [item for item in items if isinstance(item, dict)]


def _preset_from_dict(item: dict[str, Any]) -> Preset | None:
    name = item.get("name")
    prompt = item.get("system_prompt", "")
    if not isinstance(name, str) or not name.strip() or not isinstance(prompt, str):
        return None
    description = item.get("description", "")
    return Preset(
        name.strip(),
        prompt,
        sampling_from_dict(item.get("sampling")),
        description if isinstance(description, str) else "",
        built_in=False,
    )


def load_user_presets(path: Path | None = None) -> list[Preset]:
    """The user's own presets, in the order saved; [] when there are none or the file is broken."""
    path = path or presets_path()
    try:
        items = _read_file(path)
    except (OSError, ValueError) as exc:
        log.warning("presets file unreadable (%s); using none", exc)
        return []
    presets = [p for p in (_preset_from_dict(item) for item in items) if p is not None]
    built_in = {p.name.casefold() for p in BUILT_IN}
    return [p for p in presets if p.name.casefold() not in built_in]


def _write(presets: list[Preset], path: Path) -> None:
    if path.exists():
        try:
            _read_file(path)
        except (OSError, ValueError):
            aside = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
            log.warning("presets file unreadable; kept aside as %s", aside.name)
            try:
                os.replace(path, aside)
            except OSError:
                log.exception("could not move the broken presets file aside")
    payload = {"version": 1, "presets": [p.to_dict() for p in presets]}
    atomic_write_text(path, json.dumps(payload, indent=2, ensure_ascii=False))


def save_user_preset(preset: Preset, path: Path | None = None) -> Preset:
    """Add or replace (same name, any case) one of the user's presets. Built-in names are
    reserved: ValueError."""
    name = preset.name.strip()
    if not name:
        raise ValueError(translate("presets", "A preset needs a name."))
    if is_built_in(name):
        raise ValueError(
            translate("presets", "“{preset}” is a built-in preset; choose another name.").format(preset=name)
        )
    path = path or presets_path()
    saved = dataclasses.replace(preset, name=name, built_in=False)
    presets = load_user_presets(path)
    for index, existing in enumerate(presets):
        if existing.name.casefold() == name.casefold():
            presets[index] = saved
            break
    else:
        presets.append(saved)
    _write(presets, path)
    return saved


def delete_user_preset(name: str, path: Path | None = None) -> bool:
    """Remove one of the user's presets; False when there is none by that name."""
    path = path or presets_path()
    presets = load_user_presets(path)
    kept = [p for p in presets if p.name.casefold() != name.strip().casefold()]
    if len(kept) == len(presets):
        return False
    _write(kept, path)
    return True


def is_built_in(name: str) -> bool:
    return any(p.name.casefold() == name.strip().casefold() for p in BUILT_IN)


def shown_name(preset: Preset) -> str:
    """The name a person reads: a built-in preset's in the chosen language (its English name
    stays the key settings keep); the user's own as typed."""
    return translate("presets", preset.name) if preset.built_in else preset.name


def shown_description(preset: Preset) -> str:
    """The description a person reads (translated for built-in presets)."""
    if preset.built_in and preset.description:
        return translate("presets", preset.description)
    return preset.description


def all_presets(path: Path | None = None) -> list[Preset]:
    return [*BUILT_IN, *load_user_presets(path)]


def find_preset(name: str, presets: list[Preset] | None = None) -> Preset | None:
    for preset in presets if presets is not None else all_presets():
        if preset.name.casefold() == name.strip().casefold():
            return preset
    return None


def default_preset() -> Preset:
    """The preset new conversations start with: the organisation's `default_preset` when it
    names one that exists here, else the first built-in one."""
    from app.core.policy import current_policy

    wanted = current_policy().default_preset
    chosen = find_preset(wanted) if wanted else None
    return chosen or BUILT_IN[0]
