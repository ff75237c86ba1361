"""The policy's documentation and example files are the real thing: each example reads without a
problem through its own source, they all say the same, and every key is documented
(docs/policy.md, docs/policy.example.*, installers/README.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from app.core.policy import KEYS, merge
from app.core.policy_sources import parse_json_bytes, parse_plist_bytes, parse_registry_values

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _reg_values(text: str) -> dict[str, Any]:
    """The values of a .reg file's one key (dword:, or a quoted text with \\\\ for \\)."""
    values: dict[str, Any] = {}
    for name, value in re.findall(r'^"([^"]+)"=(.+)$', text, re.MULTILINE):
        if value.startswith("dword:"):
            values[name] = int(value[len("dword:") :], 16)
        else:
            values[name] = value.strip('"').replace("\\\\", "\\")
    return values


def _examples() -> dict[str, Any]:
    reg = (DOCS / "policy.example.reg").read_text(encoding="utf-8")
    assert r"[HKEY_LOCAL_MACHINE\Software\Policies\Enclave]" in reg
    return {
        "json": parse_json_bytes((DOCS / "policy.example.json").read_bytes(), "json"),
        "plist": parse_plist_bytes((DOCS / "policy.example.plist").read_bytes(), "plist"),
        "reg": parse_registry_values(_reg_values(reg), "reg"),
    }


def test_every_example_sets_every_key_without_a_problem() -> None:
    for name, reading in _examples().items():
        assert reading.problems == (), name
        assert set(reading.values) == set(KEYS), name
        assert merge([reading]).problems == ()


def test_the_examples_say_the_same_but_for_the_folder() -> None:
    readings = _examples()
    same = [{k: v for k, v in r.values.items() if k != "models_folder"} for r in readings.values()]
    assert same[0] == same[1] == same[2]
    assert readings["reg"].values["models_folder"] == r"\\fileserver\models"


def test_every_key_is_documented_once_in_the_table() -> None:
    text = (DOCS / "policy.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+)` \|", text, re.MULTILINE)
    assert rows == list(KEYS)


def test_installers_support_unattended_installs() -> None:
    iss = (ROOT / "installers" / "windows" / "enclave.iss").read_text(encoding="utf-8")
    assert re.search(r"^PrivilegesRequiredOverridesAllowed=.*\bcommandline\b", iss, re.MULTILINE)
    assert "PrivilegesRequired=lowest" in iss
    dmg = (ROOT / "installers" / "macos" / "build_dmg.sh").read_text(encoding="utf-8")
    assert "pkgbuild --root" in dmg and "MACOS_INSTALLER_IDENTITY" in dmg
    deb = (ROOT / "installers" / "linux" / "build_deb.sh").read_text(encoding="utf-8")
    assert "docs/policy.example.json" in deb
    readme = (ROOT / "installers" / "README.md").read_text(encoding="utf-8")
    it = readme[readme.index("## For IT departments") :]
    for needed in ("/VERYSILENT", "/ALLUSERS", "/CURRENTUSER", "installer -pkg", "/etc/enclave/policy.json",
                   "models_folder", "unins000.exe", "What stays behind"):
        assert needed in it, needed
    codes = re.findall(r"^\| (\d) \|", it, re.MULTILINE)
    assert codes == [str(n) for n in range(9)]
