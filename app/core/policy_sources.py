"""Where each OS keeps the policy IT sets, read into `SourceReading`s in precedence order
(see app/core/policy.py for the order and why).

- Windows: HKLM\\Software\\Policies\\Enclave, then HKCU\\Software\\Policies\\Enclave; values are
  REG_DWORD (0/1) for true/false, REG_MULTI_SZ (or REG_SZ with ";") for lists, REG_SZ for texts.
- macOS: the managed preferences a configuration profile installs for the bundle id,
  /Library/Managed Preferences/com.enclave.desktop.plist, then the per-user one.
- Linux: /etc/enclave/policy.json.
- Everywhere: the JSON file named by ENCLAVE_POLICY_FILE, last.

Each reader is split into "get the raw values" (the OS call) and "parse them" (plain Python) so
the parsing is tested on every OS with plist bytes or a dict of registry values.
"""

from __future__ import annotations

import getpass
import json
import os
import plistlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.core.i18n import translate
from app.core.policy import SourceReading, parse_values, unreadable

BUNDLE_ID = "com.enclave.desktop"  # build.spec BUNDLE_ID: the profile's PayloadType
REGISTRY_SUBKEY = r"Software\Policies\Enclave"
LINUX_POLICY_FILE = Path("/etc/enclave/policy.json")
MAC_MANAGED_DIR = Path("/Library/Managed Preferences")
ENV_VAR = "ENCLAVE_POLICY_FILE"
HIVE_LABELS = {"HKEY_LOCAL_MACHINE": "HKLM", "HKEY_CURRENT_USER": "HKCU"}


def _unreadable(origin: str, sentence: str, line: int = 0) -> SourceReading:
    """A source that cannot be read at all, with the whole (translated) sentence that says why:
    `{origin}` and `{line}` in it are filled here (unreadable() takes the OS's own reason). The
    sentence may hold braces of its own ("{ ... }"), so they are replaced, not format()ted."""
    return SourceReading(origin, {}, (sentence.replace("{line}", str(line)).replace("{origin}", origin),))


# -- JSON files (Linux, ENCLAVE_POLICY_FILE) ------------------------------------------------
def parse_json_bytes(data: bytes, origin: str) -> SourceReading:
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return _unreadable(
            origin, translate("policy_sources", "{origin} could not be read: it is not a UTF-8 text file.")
        )
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        if line:
            text = translate(
                "policy_sources", "{origin} could not be read: it is not valid JSON (line {line})."
            )
            return _unreadable(origin, text, line)
        return _unreadable(
            origin, translate("policy_sources", "{origin} could not be read: it is not valid JSON.")
        )
    if not isinstance(raw, dict):
        return _unreadable(
            origin,
            translate(
                "policy_sources", "{origin} could not be read: it should hold one JSON object, { ... }."
            ),
        )
    return parse_values(raw, origin)


def read_json_file(path: Path, *, must_exist: bool = False) -> SourceReading | None:
    """None when the file is absent (and need not exist); a reading otherwise."""
    origin = str(path)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        if not must_exist:
            return None
        return _unreadable(
            origin, translate("policy_sources", "{origin} could not be read: there is no such file.")
        )
    except OSError as exc:
        return unreadable(origin, exc.strerror or str(exc))
    return parse_json_bytes(data, origin)


def read_env_file(environ: Mapping[str, str] | None = None) -> SourceReading | None:
    # Named but missing is a problem: IT pointed at a file (a share that is not mounted?).
    value = (environ if environ is not None else os.environ).get(ENV_VAR, "").strip()
    return read_json_file(Path(value).expanduser(), must_exist=True) if value else None


# -- macOS managed preferences --------------------------------------------------------------
def parse_plist_bytes(data: bytes, origin: str) -> SourceReading:
    try:
        raw = plistlib.loads(data)
    except Exception:  # plistlib raises several types (InvalidFileException, ExpatError...)
        return _unreadable(
            origin,
            translate("policy_sources", "{origin} could not be read: it is not a valid property list."),
        )
    if not isinstance(raw, dict):
        return _unreadable(
            origin,
            translate("policy_sources", "{origin} could not be read: it should hold a dictionary of keys."),
        )
    # Profiles installed by MDM tools add their own bookkeeping keys; they are not ours.
    ours = {k: v for k, v in raw.items() if not str(k).startswith("Payload")}
    return parse_values(ours, origin)


def mac_plist_paths(user: str | None = None) -> list[Path]:
    machine = MAC_MANAGED_DIR / f"{BUNDLE_ID}.plist"
    try:
        user = user or getpass.getuser()
    except (OSError, KeyError):  # no login name to be found: the machine's profile still counts
        return [machine]
    return [machine, MAC_MANAGED_DIR / user / f"{BUNDLE_ID}.plist"]


def read_plist_file(path: Path) -> SourceReading | None:
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return unreadable(str(path), exc.strerror or str(exc))
    return parse_plist_bytes(data, str(path))


# -- Windows registry -----------------------------------------------------------------------
def parse_registry_values(values: Mapping[str, Any], origin: str) -> SourceReading:
    """values: name -> data as winreg.QueryValueEx returns it (int, str, list[str])."""
    return parse_values(values, origin)


def _registry_values(hive_name: str) -> dict[str, Any] | None:  # pragma: no cover - Windows only
    import winreg  # only on Windows: the module exists nowhere else

    reg: Any = winreg  # typed loosely: mypy on Linux and macOS sees a module without these names

    hive = getattr(reg, hive_name)
    try:
        key = reg.OpenKey(hive, REGISTRY_SUBKEY)
    except FileNotFoundError:
        return None
    values: dict[str, Any] = {}
    with key:
        index = 0
        while True:
            try:
                name, data, kind = reg.EnumValue(key, index)
            except OSError:
                break
            if kind == reg.REG_EXPAND_SZ:  # "%USERPROFILE%\models" means its expansion
                data = reg.ExpandEnvironmentStrings(data)
            values[name] = data
            index += 1
    return values


def read_registry(hive_name: str) -> SourceReading | None:
    origin = f"{HIVE_LABELS[hive_name]}\\{REGISTRY_SUBKEY}"
    try:
        values = _registry_values(hive_name)
    except OSError as exc:
        return unreadable(origin, exc.strerror or str(exc))
    return None if values is None else parse_registry_values(values, origin)


# -- all of them ----------------------------------------------------------------------------
def read_sources(
    platform: str | None = None, environ: Mapping[str, str] | None = None
) -> list[SourceReading]:
    """This OS's sources in precedence order, then ENCLAVE_POLICY_FILE; absent ones left out."""
    platform = platform or sys.platform
    found: list[SourceReading | None] = []
    if platform == "win32":
        found += [read_registry("HKEY_LOCAL_MACHINE"), read_registry("HKEY_CURRENT_USER")]
    elif platform == "darwin":
        found += [read_plist_file(path) for path in mac_plist_paths()]
    else:
        found.append(read_json_file(LINUX_POLICY_FILE))
    found.append(read_env_file(environ))
    return [reading for reading in found if reading is not None]
