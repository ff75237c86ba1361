"""What the organisation (IT) has set, which the user cannot change.

This is the one place the rest of the app asks "is this allowed here?". The sources (Windows
registry, macOS managed preferences, /etc/enclave/policy.json, ENCLAVE_POLICY_FILE) are read by
`app.core.policy_sources`; `load_policy()` merges them and `current_policy()` returns the policy
in force for this process. What each key allows is decided in `app.core.policy_rules`.

Precedence, key by key (the first source that sets a key decides it):

1. the machine's place, which only an administrator can write: HKLM\\Software\\Policies\\Enclave
   (Windows), /Library/Managed Preferences/com.enclave.desktop.plist (macOS),
   /etc/enclave/policy.json (Linux);
2. the user's managed place, also written by IT only: HKCU\\Software\\Policies\\Enclave, or
   /Library/Managed Preferences/<user>/com.enclave.desktop.plist;
3. the file named by ENCLAVE_POLICY_FILE. Any user can set an environment variable, so this file
   only fills keys the OS places leave unset: it never loosens what an administrator set.

A source that cannot be read in full (broken JSON, a value of the wrong type, an unknown key,
which is usually a typo) is never ignored: every value that could be read stands, and every key
of STRICTEST that no source set validly takes its strictest value, with a plain sentence in
`Policy.problems` that Settings and `enclave policy` show.

The network gate (app/core/net) reads `forces_offline` and `forbids_downloads` from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.i18n import translate, translate_noop

BOOL_KEYS = ("offline_only", "allow_downloads", "allow_api", "keep_history")
LIST_KEYS = ("allowed_models", "allowed_servers", "api_hosts")
TEXT_KEYS = ("models_folder", "default_model", "default_preset")
KEYS = (
    "offline_only",
    "allow_downloads",
    "allowed_models",
    "models_folder",
    "allowed_servers",
    "allow_api",
    "api_hosts",
    "default_model",
    "default_preset",
    "keep_history",
)

# A broken policy: the strictest reading that still lets people chat with the models already on
# this computer. Nothing leaves the machine (offline, no downloads, no server, no API) and
# nothing is kept (no history). Models are not narrowed further: with the network off, the
# only models are those IT or the user already put here, and an app that can open none is no
# safer, only useless.
STRICTEST: dict[str, Any] = {
    "offline_only": True,
    "allow_downloads": False,
    "allowed_servers": (),
    "allow_api": False,
    "keep_history": False,
}
# Kept in English in `Policy.sources` (is_strict_fallback compares it); translated where shown.
STRICTEST_SOURCE = translate_noop("policy", "strictest reading (the policy could not be read in full)")
STRICTEST_WORDS = translate_noop(
    "policy",
    "Until it is fixed, Enclave uses the strictest settings: no internet, no downloads, no "
    "company server, no local API, and conversations are not saved.",
)


@dataclass(frozen=True)
class Policy:
    # None everywhere means "IT has not set this": the user's own setting decides.
    offline_only: bool | None = None
    allow_downloads: bool | None = None
    allowed_models: tuple[str, ...] | None = None
    models_folder: str | None = None
    allowed_servers: tuple[str, ...] | None = None
    allow_api: bool | None = None
    api_hosts: tuple[str, ...] | None = None
    default_model: str | None = None
    default_preset: str | None = None
    keep_history: bool | None = None
    # key -> where it came from (file path or registry key), for Settings and `enclave policy`
    sources: dict[str, str] = field(default_factory=dict)
    # plain sentences about a broken source (Enclave then applies the strictest reading)
    problems: tuple[str, ...] = ()

    @property
    def forces_offline(self) -> bool:
        return self.offline_only is True

    @property
    def forbids_downloads(self) -> bool:
        return self.offline_only is True or self.allow_downloads is False

    @property
    def forbids_api(self) -> bool:
        return self.allow_api is False

    @property
    def keeps_history(self) -> bool:
        return self.keep_history is not False

    def set_keys(self) -> list[str]:
        """The keys in force, in the documented order."""
        return [key for key in KEYS if getattr(self, key) is not None]

    def as_dict(self) -> dict[str, Any]:
        """Keys in force -> value (lists as lists), for `enclave policy --json`."""
        out: dict[str, Any] = {}
        for key in self.set_keys():
            value = getattr(self, key)
            out[key] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class SourceReading:
    """What one source said: the values it set validly, and sentences about what it got wrong."""

    origin: str  # the file path or registry key, as a person would look for it
    values: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


# -- values ---------------------------------------------------------------------------------
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _as_bool(value: Any) -> bool:
    # Registry DWORDs arrive as ints, plist and JSON as booleans; strings for REG_SZ.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("should be true or false")


def _as_list(value: Any) -> tuple[str, ...]:
    # A JSON/plist array or REG_MULTI_SZ; a single string may list entries separated by ";".
    items = value.split(";") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ValueError("should be a list of texts")
    return tuple(i.strip() for i in items if i.strip())


def _as_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("should be a text that is not empty")
    return value.strip()


def parse_values(raw: Mapping[str, Any], origin: str) -> SourceReading:
    """Check every key of one source; bad values and unknown keys become problems."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in raw.items():
        key = str(name).strip().lower()
        try:
            if key in BOOL_KEYS:
                values[key] = _as_bool(value)
            elif key in LIST_KEYS:
                values[key] = _as_list(value)
            elif key in TEXT_KEYS:
                values[key] = _as_text(value)
            else:
                problems.append(
                    translate(
                        "policy", "{origin}: “{key}” is not a policy key Enclave knows (a typo?)."
                    ).format(origin=origin, key=name)
                )
        except ValueError:
            problems.append(_bad_value(origin, str(name), key))
    return SourceReading(origin, values, tuple(problems))


def _bad_value(origin: str, name: str, key: str) -> str:
    """The sentence for a value of the wrong type (what _as_bool, _as_list, _as_text refuse)."""
    if key in BOOL_KEYS:
        text = translate("policy", "{origin}: “{key}” should be true or false.")
    elif key in LIST_KEYS:
        text = translate("policy", "{origin}: “{key}” should be a list of texts.")
    else:
        text = translate("policy", "{origin}: “{key}” should be a text that is not empty.")
    return text.format(origin=origin, key=name)


def unreadable(origin: str, why: str) -> SourceReading:
    """A source that exists but cannot be read at all."""
    return SourceReading(
        origin,
        {},
        (translate("policy", "{origin} could not be read: {why}.").format(origin=origin, why=why),),
    )


# -- merging --------------------------------------------------------------------------------
def merge(readings: Sequence[SourceReading]) -> Policy:
    """Readings in precedence order (first wins per key) -> the policy in force."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []
    for reading in readings:
        problems.extend(reading.problems)
        for key, value in reading.values.items():
            if key not in values:
                values[key] = value
                sources[key] = reading.origin
    if problems:
        for key, value in STRICTEST.items():
            if key not in values:
                values[key] = value
                sources[key] = STRICTEST_SOURCE
        problems.append(translate("policy", STRICTEST_WORDS))
    return Policy(**values, sources=sources, problems=tuple(problems))


def load_policy(readings: Sequence[SourceReading] | None = None) -> Policy:
    """Read every source of this OS (or the given readings, for tests) and merge them."""
    if readings is None:
        from app.core.policy_sources import read_sources

        readings = read_sources()
    return merge(readings)


_current: Policy | None = None


def current_policy() -> Policy:
    """The policy in force (loaded once per process; `reload_policy()` reads the sources again)."""
    global _current
    if _current is None:
        _current = load_policy()
    return _current


def reload_policy() -> Policy:
    global _current
    _current = load_policy()
    return _current
