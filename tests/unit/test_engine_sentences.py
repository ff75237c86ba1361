"""The engine host has no translator: its sentences travel as English plus a Sentence (template,
context, values), and the app shows them in the window's language. English stays as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import i18n
from app.core.cancel import Cancelled
from app.core.engine import protocol as p
from app.core.engine.base import EngineError
from app.core.engine.client import EngineClient
from app.core.engine.host_load import explain_load_failure
from app.core.engine.request_args import value_error
from app.core.engine.template_guard import TemplateFailed, guarded

# What a translator would have written (placeholders kept), marked so a test can see it.
FAKE = {
    ("host", "The file {path} is not there."): "[de] Die Datei {path} ist nicht vorhanden.",
    ("host_load", "There was not enough memory to load {name}. Try a smaller model or context size."):
        "[de] Zu wenig Arbeitsspeicher für {name}.",
    ("request_args", "The engine could not use this request: {reason}"): "[de] Anfrage unbrauchbar: {reason}",
    ("decode", "The engine could not set up sampling for this request."): "[de] Kein Sampling.",
    ("request_args", "The text is too long for this model: it is {tokens} tokens and the model was "
                     "loaded with room for {window}. Shorten it, or load the model with a larger context."):
        "[de] {tokens} Tokens, Platz für {window}.",
    ("gguf_facts", "This file is not a GGUF model."): "[de] Diese Datei ist kein GGUF-Modell.",
    ("host", "{problem} Enclave uses the standard “{format}” format for this model instead."):
        "{problem} [de] Standardformat „{format}“.",
    ("template_guard", "This model's chat template failed to load: {reason}"):
        "[de] Gesprächsformat nicht ladbar: {reason}",
}


def _lookup(context: str, text: str, disambiguation: str | None, n: int) -> str:
    return FAKE.get((context, text), text)


def _number(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}".replace(",", ".")  # German: 6.100


@pytest.fixture
def german() -> Iterator[None]:
    i18n.install(_lookup, _number)
    try:
        yield
    finally:
        i18n.install(None)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[EngineClient]:
    engine = EngineClient(log_path=tmp_path / "engine-host.log")
    yield engine
    engine.shutdown()


# ---- the English the host writes is what it wrote before ----------------------------------------
def test_host_errors_keep_their_english_and_carry_the_sentence() -> None:
    error = p.host_error("host", "The file {path} is not there.", p.ERROR_LOAD_FAILED, path="/m/x.gguf")
    assert error.message == "The file /m/x.gguf is not there."
    assert p.shown(error.sentence, error.message) == error.message  # no translator: English
    assert error.sentence == p.Sentence("host", "The file {path} is not there.", {"path": "/m/x.gguf"})
    assert p.shown(None, "llama.cpp's own words") == "llama.cpp's own words"


def test_load_failure_sentences_are_the_english_they_were() -> None:
    kind, sentence = explain_load_failure("llama_model_load: error: tensor 'blk.0.attn_q.weight' has "
                                          "wrong shape; expected", "/m/tiny.gguf")
    assert kind == p.ERROR_LOAD_FAILED
    assert sentence.english() == (
        "The model file tiny.gguf is damaged, or made by a converter this engine does not understand: "
        "its tensor 'blk.0.attn_q.weight' does not have the shape its description promises."
    )
    _, sentence = explain_load_failure("unknown model architecture: 'mamba9'", "/m/tiny.gguf")
    assert sentence.english() == (
        "The model file tiny.gguf uses a model type ('mamba9') that this version of the engine "
        "cannot run yet."
    )
    kind, sentence = explain_load_failure("ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate",
                                          "/m/tiny.gguf")
    assert kind == p.ERROR_OUT_OF_MEMORY
    assert sentence.english() == (
        "There was not enough memory to load tiny.gguf. Try a smaller model or context size."
    )


def test_request_sentences_are_the_english_they_were() -> None:
    too_long = value_error(ValueError("Requested tokens (6100) exceed context window of 4096"))
    assert too_long.message == (
        "The text is too long for this model: it is 6,100 tokens and the model was loaded with room "
        "for 4,096. Shorten it, or load the model with a larger context."
    )
    assert too_long.details == {"prompt_tokens": 6100, "n_ctx": 4096}
    ours = value_error(p.SentenceError(
        p.host_sentence("decode", "The engine could not set up sampling for this request.")
    ))
    assert ours.message == (
        "The engine could not use this request: The engine could not set up sampling for this request."
    )
    theirs = value_error(ValueError("bad utf-8 in the prompt."))
    assert theirs.message == "The engine could not use this request: bad utf-8 in the prompt."


def test_template_sentences_are_the_english_they_were() -> None:
    def boom() -> str:
        raise ValueError("unexpected '}'")

    with pytest.raises(TemplateFailed) as caught:
        guarded("load", 1.0, boom)
    assert str(caught.value) == "This model's chat template failed to load: unexpected '}'."
    notice = p.host_sentence(
        "host", "{problem} Enclave uses the standard “{format}” format for this model instead.",
        problem=caught.value.sentence, format="chatml",
    )
    assert notice.english() == (
        "This model's chat template failed to load: unexpected '}'. Enclave uses the standard “chatml” "
        "format for this model instead."
    )


# ---- and the window shows it in its own language -------------------------------------------------
@pytest.mark.usefixtures("german")
def test_a_sentence_is_shown_translated_with_its_values_and_numbers() -> None:
    too_long = value_error(ValueError("Requested tokens (6100) exceed context window of 4096"))
    assert p.shown(too_long.sentence, too_long.message) == "[de] 6.100 Tokens, Platz für 4.096."
    nested = value_error(p.SentenceError(
        p.host_sentence("decode", "The engine could not set up sampling for this request.")
    ))
    assert p.shown(nested.sentence, nested.message) == "[de] Anfrage unbrauchbar: [de] Kein Sampling."
    with pytest.raises(TemplateFailed) as caught:
        guarded("load", 1.0, lambda: int("x"))
    notice = p.host_sentence(
        "host", "{problem} Enclave uses the standard “{format}” format for this model instead.",
        problem=caught.value.sentence, format="chatml",
    )
    assert p.shown(notice, notice.english()).startswith("[de] Gesprächsformat nicht ladbar: invalid literal")
    assert p.shown(notice, notice.english()).endswith(" [de] Standardformat „chatml“.")
    # A text the translator has not done yet stays English.
    plain = p.host_error("host", "Loading was cancelled.", p.ERROR_LOAD_FAILED)
    assert p.shown(plain.sentence, plain.message) == "Loading was cancelled."


@pytest.mark.usefixtures("german")
def test_the_hosts_error_reaches_the_window_translated(client: EngineClient, tmp_path: Path) -> None:
    missing = tmp_path / "gone.gguf"
    with pytest.raises(EngineError) as caught:
        client.load(p.LoadRequest(model_path=str(missing)))
    assert caught.value.kind == p.ERROR_LOAD_FAILED
    assert caught.value.message == f"[de] Die Datei {missing} ist nicht vorhanden."
    assert not isinstance(caught.value, Cancelled)

    # The host's header check (gguf_facts, English in the host) is said again by the client.
    junk = tmp_path / "notes.gguf"
    junk.write_bytes(b"this is a text file, not a model\n" * 64)
    with pytest.raises(EngineError) as caught:
        client.load(p.LoadRequest(model_path=str(junk)))
    assert caught.value.message == "[de] Diese Datei ist kein GGUF-Modell."


def test_without_a_translator_the_window_reads_the_hosts_english(
    client: EngineClient, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.gguf"
    with pytest.raises(EngineError) as caught:
        client.load(p.LoadRequest(model_path=str(missing)))
    assert caught.value.message == f"The file {missing} is not there."
    junk = tmp_path / "notes.gguf"
    junk.write_bytes(b"this is a text file, not a model\n" * 64)
    with pytest.raises(EngineError) as caught:
        client.load(p.LoadRequest(model_path=str(junk)))
    assert caught.value.message == "This file is not a GGUF model."
