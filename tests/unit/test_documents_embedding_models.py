"""The embedding models catalog: which file is which model, its prompts and window, where a
download lands, and that the one embedding path really puts the prompts in front (real
llama-cpp-python: the bundled MiniLM under EmbeddingGemma's file name gets Gemma's prompts)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from app.core.documents import embedding_models as em
from app.core.documents.local_embedder import EMBED_WINDOW, LocalEmbedder, model_id_for


def test_prompts_apply_keep_braces_and_say_their_prefix() -> None:
    gemma = em.MULTILINGUAL.prompts
    assert gemma.apply(["a {b} c"], em.QUERY) == ["task: search result | query: a {b} c"]
    assert gemma.apply(["x", "y"], em.DOCUMENT) == ["title: none | text: x", "title: none | text: y"]
    assert gemma.prefix(em.DOCUMENT) == "title: none | text: "
    assert not gemma.empty
    assert em.NO_PROMPTS.empty and em.NO_PROMPTS.apply(["x"], em.QUERY) == ["x"]
    assert em.Prompts(query="q: {text} .").apply(["x"], em.QUERY) == ["q: x ."]


def test_which_file_is_which_model() -> None:
    assert em.model_for_file("/m/all-MiniLM-L6-v2-Q8_0.gguf") is em.BUILTIN
    download = "/m/ggml-org/embeddinggemma-300M-GGUF/embeddinggemma-300M-Q8_0.gguf"
    assert em.model_for_file(download) is em.MULTILINGUAL
    assert em.model_for_file("/m/EmbeddingGemma-300m-F16.gguf") is em.MULTILINGUAL
    assert em.model_for_file("/m/renamed.gguf", arch="gemma-embedding") is em.MULTILINGUAL
    assert em.model_for_file("/m/bge-small-en.gguf") is None
    assert em.model_for_file("/m/intfloat/multilingual-e5-small-Q4_K_M.gguf") is em.E5_SMALL
    assert em.prompts_for("/m/Multilingual-E5-small.f16.gguf").apply(["x"], em.QUERY) == ["query: x"]
    assert em.prompts_for("/m/bge-small-en.gguf") is em.NO_PROMPTS
    assert em.window_for("/m/embeddinggemma-300M-Q8_0.gguf", EMBED_WINDOW) == 512
    assert em.window_for("/m/bge-small-en.gguf", EMBED_WINDOW) == EMBED_WINDOW
    assert em.by_id("embeddinggemma-300m") is em.MULTILINGUAL and em.by_id("nope") is None


def test_model_id_says_prompts_and_window_and_minilm_keeps_its_id(
    tmp_path: Path, embedding_model_path: Path
) -> None:
    # The bundled model's id is what collections indexed before this change hold.
    name, size = embedding_model_path.name, embedding_model_path.stat().st_size
    assert model_id_for(embedding_model_path).startswith(f"{name}#{size}#w256v1")
    assert "#p1" not in model_id_for(embedding_model_path)
    gemma = tmp_path / "embeddinggemma-300M-Q8_0.gguf"
    gemma.write_bytes(b"GGUF" + b"\0" * 60)
    assert model_id_for(gemma).endswith("#w512v1#p1")


def test_installed_file_finds_the_download_or_a_renamed_one(tmp_path: Path) -> None:
    folder = tmp_path / "ggml-org" / "embeddinggemma-300M-GGUF"
    assert em.installed_file(em.MULTILINGUAL, tmp_path) is None
    folder.mkdir(parents=True)
    (folder / "embeddinggemma-300M-F16.gguf").write_bytes(b"x")
    assert em.installed_file(em.MULTILINGUAL, tmp_path) is None  # another quantization
    (folder / "embeddinggemma-300m-v2-Q8_0.gguf").write_bytes(b"x")  # the repo renamed it
    assert em.installed_file(em.MULTILINGUAL, tmp_path) == folder / "embeddinggemma-300m-v2-Q8_0.gguf"
    (folder / em.MULTILINGUAL.filename).write_bytes(b"x")
    assert em.installed_file(em.MULTILINGUAL, tmp_path) == folder / em.MULTILINGUAL.filename


def test_may_suggest_multilingual_only_over_a_known_english_model() -> None:
    assert em.may_suggest_multilingual("")
    assert em.may_suggest_multilingual("/x/all-MiniLM-L6-v2-Q8_0.gguf")
    assert not em.may_suggest_multilingual("/x/embeddinggemma-300M-Q8_0.gguf")
    assert not em.may_suggest_multilingual("/x/my-own-model.gguf")  # the user's choice


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory, embedding_model_path: Path) -> tuple[Path, Path]:
    """MiniLM under EmbeddingGemma's name (so it gets Gemma's prompts) and under a name no
    model has (none): both run on llama.cpp (no ONNX twin has these names), so their vectors
    differ by the prompts alone."""
    folder = tmp_path_factory.mktemp("named")
    prompted, plain = folder / "embeddinggemma-test-Q8_0.gguf", folder / "neutral-Q8_0.gguf"
    shutil.copyfile(embedding_model_path, prompted)
    shutil.copyfile(embedding_model_path, plain)
    return prompted, plain


def test_the_embedding_path_puts_the_models_prompts_in_front(copies: tuple[Path, Path]) -> None:
    prompted, plain = LocalEmbedder(copies[0]), LocalEmbedder(copies[1])
    try:
        question, passage = "how many vacation days", "Employees get 27 vacation days."
        q = em.MULTILINGUAL.prompts.apply([question], em.QUERY)
        d = em.MULTILINGUAL.prompts.apply([passage], em.DOCUMENT)
        assert np.allclose(prompted.embed_query([question]), plain.embed(q), atol=1e-5)
        assert np.allclose(prompted.embed([passage]), plain.embed(d), atol=1e-5)
        assert not np.allclose(prompted.embed([passage]), plain.embed([passage]), atol=1e-3)
        # MiniLM has no prompts: a question is embedded like a passage.
        assert np.allclose(plain.embed_query([question]), plain.embed([question]), atol=1e-6)
        assert prompted.model_id.endswith("#p1") and plain.model_id != prompted.model_id
    finally:
        plain.close()
        prompted.close()


def test_chunks_fit_the_multilingual_window_with_its_prompt(
    tmp_path: Path, chat_model_path: Path
) -> None:
    """Gemma 3's tokenizer is EmbeddingGemma's (the chat model's file under EmbeddingGemma's
    name): a chunk cut for it fits 512 tokens with the document prompt and the special
    tokens, also where MiniLM's count says far less (Thai: one [UNK] a word; a table of
    numbers padded with spaces); ordinary text is cut as before."""
    import random

    from app.core.documents.chunking import chunk_passages, counter_for_model
    from app.core.documents.extract import Passage
    from app.core.engine.token_counter import vocab_model

    named = tmp_path / em.MULTILINGUAL.filename
    named.symlink_to(chat_model_path)
    gemma = vocab_model(str(chat_model_path))
    prefix = em.MULTILINGUAL.prompts.prefix(em.DOCUMENT)

    def with_prompt(text: str) -> int:  # BOS + prompt + text + EOS, as the runner sends it
        return len(gemma.tokenize((prefix + text).encode(), add_bos=True, special=False)) + 1

    rng = random.Random(1)
    thai = "พนักงานได้รับวันหยุดพักร้อนยี่สิบเจ็ดวันต่อปี นอกเหนือจากวันหยุดราชการ " * 40
    table = "\n".join("    ".join(f"{rng.randint(1, 999):>6}" for _ in range(8)) for _ in range(150))
    english = "The server reads its configuration at start-up; every parameter can be changed. " * 40
    count = counter_for_model(str(named))
    for text in (thai, table, english):
        passage = [Passage(text=text, file="/x.txt", heading="Section")]
        chunks = chunk_passages(passage, count_tokens=count)
        assert max(with_prompt(c.text) for c in chunks) <= em.MULTILINGUAL.window
    assert max(with_prompt(c.text) for c in chunk_passages([Passage(thai, "/x.txt")])) > 512
    english_passage = [Passage(text=english, file="/x.txt")]
    assert [c.text for c in chunk_passages(english_passage, count_tokens=count)] == [
        c.text for c in chunk_passages(english_passage)
    ]
    assert counter_for_model(None) is counter_for_model("/x/all-MiniLM-L6-v2-Q8_0.gguf")
