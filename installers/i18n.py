"""The translations: Qt's .ts files from the code, and the .qm files the app loads.

    python -m installers.i18n update     # every translate() in app/ -> .ts (translations kept)
    python -m installers.i18n release    # pyside6-lrelease: .ts -> .qm (shipped in resources/)
    python -m installers.i18n check      # what is left untranslated, per language (exit 1 if any)
    python -m installers.i18n export de todo.json   # the unfinished messages, for a translator
    python -m installers.i18n import de done.json   # their translations back into the .ts

The .ts files (resources/i18n/enclave_<lang>.ts) are the source of truth and live in git with
the .qm built from them; a test checks that the .qm is up to date and that no message of a
shipped language is unfinished. Translators can also open the .ts in Qt Linguist.

Why not pyside6-lupdate for `update`: its Python parser drops calls it cannot follow (a count
given as `n=`, or as `min(...)`/`self.count`, and `translate_noop`), silently. The texts are read
here with Python's own parser instead (`ast`), which sees every call exactly; the files it writes
are Qt's .ts format, and Qt's lrelease makes the .qm from them.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
I18N_DIR = ROOT / "resources" / "i18n"
LANGUAGES = ("de", "fr")  # English is the source language: it needs no file


def ts_path(lang: str, folder: Path = I18N_DIR) -> Path:
    return folder / f"enclave_{lang}.ts"


def qm_path(lang: str, folder: Path = I18N_DIR) -> Path:
    return folder / f"enclave_{lang}.qm"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise SystemExit(f"{name} was not found: it comes with PySide6 (pip install pyside6)")
    return found


def sources() -> list[Path]:
    return sorted(p for p in (ROOT / "app").rglob("*.py") if "__pycache__" not in p.parts)


@dataclass(frozen=True)
class Found:
    context: str
    source: str
    comment: str
    plural: bool


_CALLS = {"translate", "translate_noop", "QT_TRANSLATE_NOOP"}
# The engine host's sentences (app/core/engine/protocol.py), translated in the window by
# protocol.shown(): (context, text, ...) as for translate(), but the further arguments are the
# error's kind and values, never a disambiguation or a count.
_HOST_CALLS = {"host_error", "host_sentence"}


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def find_texts(path: Path) -> tuple[list[Found], list[str]]:
    """Every translate()/translate_noop() text in a file, and the calls that are not literal."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Found] = []
    problems: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name not in _CALLS | _HOST_CALLS or (isinstance(func, ast.Attribute) and name == "translate"
                                  and not (isinstance(func.value, ast.Name) and func.value.id == "i18n")):
            continue  # QCoreApplication.translate in language.py is the lookup, not a text
        args = list(node.args)
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        context = _literal(args[0] if args else keywords.get("context"))
        source = _literal(args[1] if len(args) > 1 else keywords.get("text"))
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        if context is None:
            problems.append(f"{where}: the context must be a string literal")
            continue
        if source is None:
            # translate(ctx, A_CONSTANT): the text was marked where it is written, with
            # translate_noop(ctx, "..."); the window walk in tests/gui/test_languages.py
            # catches a constant that was not.
            continue
        if name in _HOST_CALLS:
            comment, plural = "", False
        else:
            comment = _literal(args[2] if len(args) > 2 else keywords.get("disambiguation")) or ""
            plural = len(args) > 3 or "n" in keywords
        if plural != ("%n" in source):
            problems.append(f"{where}: a count (n) goes with %n in the text, and only then")
        found.append(Found(context, source, comment, plural))
    return found, problems


def collect() -> tuple[list[Found], list[str]]:
    texts: dict[tuple[str, str, str], Found] = {}
    problems: list[str] = []
    for path in sources():
        if path.name == "i18n.py" and path.parent.name == "core":
            continue
        found, bad = find_texts(path)
        problems += bad
        for item in found:
            key = (item.context, item.source, item.comment)
            texts[key] = Found(item.context, item.source, item.comment,
                               item.plural or (key in texts and texts[key].plural))  # fmt: skip
    # The starter catalog's "good for" sentences (shown in Discover) are data, not code.
    catalog = json.loads((ROOT / "resources" / "catalog.json").read_text(encoding="utf-8"))
    for entry in catalog.get("models", []):
        if good_for := entry.get("good_for"):
            texts[("catalog_json", good_for, "")] = Found("catalog_json", good_for, "", False)
    return sorted(texts.values(), key=lambda f: (f.context, f.source, f.comment)), problems


def update(langs: tuple[str, ...] = LANGUAGES, folder: Path = I18N_DIR) -> list[str]:
    """Write each .ts with every text in the code, keeping the translations already made."""
    folder.mkdir(parents=True, exist_ok=True)
    texts, problems = collect()
    for lang in langs:
        path = ts_path(lang, folder)
        old = {(m.context, m.source, m.comment): m for m in read_messages(path)} if path.exists() else {}
        root = ET.Element("TS", version="2.1", language=lang, sourcelanguage="en")
        by_context: dict[str, ET.Element] = {}
        for text in texts:
            context = by_context.get(text.context)
            if context is None:
                context = by_context[text.context] = ET.SubElement(root, "context")
                ET.SubElement(context, "name").text = text.context
            message = ET.SubElement(context, "message")
            if text.plural:
                message.set("numerus", "yes")
            ET.SubElement(message, "source").text = text.source
            if text.comment:
                ET.SubElement(message, "comment").text = text.comment
            translation = ET.SubElement(message, "translation")
            known = old.get((text.context, text.source, text.comment))
            forms = known.translations if known and not known.unfinished else []
            if not forms:
                translation.set("type", "unfinished")
            if text.plural:
                for form in (forms + forms[-1:] * 2)[:2] if forms else ["", ""]:
                    ET.SubElement(translation, "numerusform").text = form
            else:
                translation.text = forms[-1] if forms else ""
        ET.indent(root)
        body = ET.tostring(root, encoding="unicode")
        path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + body + "\n",
                        encoding="utf-8")  # fmt: skip
    return problems


def release(langs: tuple[str, ...] = LANGUAGES, folder: Path = I18N_DIR, out: Path | None = None) -> None:
    for lang in langs:
        target = qm_path(lang, out or folder)
        subprocess.run(
            [_tool("pyside6-lrelease"), "-silent", str(ts_path(lang, folder)), "-qm", str(target)],
            check=True,
        )


@dataclass
class Message:
    context: str
    source: str
    comment: str = ""
    numerus: bool = False
    translations: list[str] = field(default_factory=list)
    unfinished: bool = True


def read_messages(path: Path) -> list[Message]:
    found = []
    for context in ET.parse(path).getroot().iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            translation = message.find("translation")
            numerus = message.get("numerus") == "yes"
            texts: list[str] = []
            if translation is not None:
                if numerus:
                    texts = [form.text or "" for form in translation.iter("numerusform")]
                else:
                    texts = [translation.text or ""]
            unfinished = (
                translation is None
                or translation.get("type") in ("unfinished", "vanished", "obsolete")
                or not any(t.strip() for t in texts)
            )
            found.append(
                Message(name, message.findtext("source") or "", message.findtext("comment") or "",
                        numerus, texts, unfinished)
            )  # fmt: skip
    return found


_PLACEHOLDER = re.compile(r"\{[a-z_][a-z0-9_]*(?:[:!][^{}]*)?\}")
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)[^>]*>")


def translation_problems(source: str, translation: str, plural: bool) -> list[str]:
    """Why a translation would break the window: placeholders, %n, tags that differ."""
    problems = []
    if sorted(_PLACEHOLDER.findall(source)) != sorted(_PLACEHOLDER.findall(translation)):
        problems.append("its {placeholders} differ from the source's")
    if plural and "%n" not in translation and "%n" in source:
        problems.append("a plural form without %n")
    if not plural and ("%n" in source) != ("%n" in translation):
        problems.append("%n differs from the source")
    if sorted(_TAG.findall(source)) != sorted(_TAG.findall(translation)):
        problems.append("its HTML tags differ from the source's")
    if source.endswith("…") != translation.endswith("…"):
        problems.append("the source ends with … and the translation does not (or the other way)")
    return problems


def check_file(lang: str, folder: Path = I18N_DIR) -> list[str]:
    """Every problem of every finished translation in a language's .ts."""
    found = []
    for m in read_messages(ts_path(lang, folder)):
        if m.unfinished:
            continue
        for text in m.translations:
            for problem in translation_problems(m.source, text, m.numerus):
                found.append(f"[{m.context}] {m.source[:60]!r} -> {text[:60]!r}: {problem}")
    return found


def unfinished(lang: str, folder: Path = I18N_DIR) -> list[Message]:
    return [m for m in read_messages(ts_path(lang, folder)) if m.unfinished]


def export(lang: str, out: Path) -> int:
    todo = [
        {"context": m.context, "source": m.source, "comment": m.comment, "plural": m.numerus,
         "translation": ["", ""] if m.numerus else ""}
        for m in unfinished(lang)
    ]  # fmt: skip
    out.write_text(json.dumps(todo, ensure_ascii=False, indent=1), encoding="utf-8")
    return len(todo)


def import_translations(lang: str, done: Path, folder: Path = I18N_DIR) -> int:
    """Write translations from a JSON list (as `export` makes it) into the .ts; returns how many."""
    entries = json.loads(done.read_text(encoding="utf-8"))
    wanted = {(e["context"], e["source"], e.get("comment", "")): e["translation"] for e in entries}
    path = ts_path(lang, folder)
    tree = ET.parse(path)
    count = 0
    for context in tree.getroot().iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            key = (name, message.findtext("source") or "", message.findtext("comment") or "")
            text = wanted.get(key)
            if not text or (isinstance(text, list) and not all(t.strip() for t in text)):
                continue
            translation = message.find("translation")
            if translation is None:
                translation = ET.SubElement(message, "translation")
            translation.attrib.pop("type", None)
            for child in list(translation):
                translation.remove(child)
            if message.get("numerus") == "yes":
                translation.text = None
                for form in text if isinstance(text, list) else [text, text]:
                    ET.SubElement(translation, "numerusform").text = form
            else:
                translation.text = text if isinstance(text, str) else text[-1]
            count += 1
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return count


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "update":
        problems = update()
        for problem in problems:
            print(problem)
        return 1 if problems else 0
    elif command == "release":
        release()
    elif command == "check":
        left = {lang: unfinished(lang) for lang in LANGUAGES}
        for lang, messages in left.items():
            print(f"{lang}: {len(messages)} unfinished")
            for m in messages[:20]:
                print(f"   [{m.context}] {m.source[:90]}")
        return 1 if any(left.values()) else 0
    elif command == "validate":  # a translator's JSON file, before it is imported
        bad = 0
        for e in json.loads(Path(argv[1]).read_text(encoding="utf-8")):
            texts = e["translation"] if isinstance(e["translation"], list) else [e["translation"]]
            for text in texts:
                found = translation_problems(e["source"], text, bool(e.get("plural")))
                for problem in found if text else ["empty"]:
                    bad += 1
                    print(f"[{e['context']}] {e['source'][:70]!r}: {problem}")
        print(bad, "problems")
        return 1 if bad else 0
    elif command == "export":
        print(export(argv[1], Path(argv[2])), "messages to translate")
    elif command == "import":
        print(import_translations(argv[1], Path(argv[2])), "translations written")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
