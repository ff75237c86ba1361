"""GGUF facts from real files, and plain-words errors for files we cannot use."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from app.core.gguf_facts import GGUFError, ModelFacts, _read_model_facts, read_model_facts


@pytest.fixture(scope="module")
def chat_facts(chat_model_path: Path) -> ModelFacts:
    return read_model_facts(chat_model_path)


@pytest.fixture(scope="module")
def embed_facts(embedding_model_path: Path) -> ModelFacts:
    return read_model_facts(embedding_model_path)


def test_gemma3_facts(chat_facts: ModelFacts, chat_model_path: Path) -> None:
    f = chat_facts
    assert f.path == chat_model_path
    assert f.file_size == chat_model_path.stat().st_size
    assert f.architecture == "gemma3"
    assert f.name == "Gemma 3 270m"
    assert f.size_label == "270M"
    assert f.quantization == "Q4_K_M"
    assert f.context_length == 32768
    assert f.block_count == 18
    assert len(f.layer_bytes) == 18 and all(b > 0 for b in f.layer_bytes)
    assert f.head_count == (4,) * 18
    assert f.head_count_kv == (1,) * 18
    assert f.embedding_length == 640
    assert (f.key_length, f.value_length) == (256, 256)
    assert f.vocab_size == 262144
    assert not f.is_embedding_model and f.has_kv_cache


def test_gemma3_tied_embeddings_and_byte_accounting(chat_facts: ModelFacts) -> None:
    f = chat_facts
    assert f.tied_embeddings and f.output_bytes == 0
    assert f.token_embd_bytes == 640 * 262144 * 34 // 32  # Q8_0: 34 bytes per 32 weights
    assert sum(f.layer_bytes) + f.output_bytes + f.token_embd_bytes + f.other_bytes == (
        f.tensor_bytes
    )
    assert f.tensor_bytes < f.file_size < f.tensor_bytes * 1.05  # header is small


def test_gemma3_sliding_window_layers(chat_facts: ModelFacts) -> None:
    # llama.cpp gemma3: load_swa_pattern(6) -> every 6th layer is global.
    assert chat_facts.sliding_window == 512
    expected = tuple(il % 6 != 5 for il in range(18))
    assert chat_facts.swa_layers == expected
    assert sum(chat_facts.swa_layers) == 15


def test_embedding_model_facts(embed_facts: ModelFacts) -> None:
    f = embed_facts
    assert f.architecture == "bert"
    assert f.is_embedding_model and not f.has_kv_cache
    assert f.pooling_type == "mean"
    assert f.quantization == "Q8_0"
    assert f.block_count == 6 and f.context_length == 512
    assert f.head_count == (12,) * 6 and f.head_count_kv == (12,) * 6  # no GQA key -> = heads
    assert f.key_length == f.value_length == 384 // 12  # default n_embd / n_head
    assert f.sliding_window is None and f.swa_layers == (False,) * 6
    assert not f.has_chat_template and f.chat_template is None
    assert not f.tied_embeddings


def test_reading_is_fast(chat_model_path: Path) -> None:
    _read_model_facts(chat_model_path)  # warm the page cache
    start = time.perf_counter()
    _read_model_facts(chat_model_path)  # the header itself, not the facts kept from last time
    assert time.perf_counter() - start < 2.0  # stock GGUFReader: ~10 s for a 262k vocabulary


def test_facts_are_kept_until_the_file_changes(embedding_model_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model.gguf"
    shutil.copyfile(embedding_model_path, copy)
    first = read_model_facts(copy)
    start = time.perf_counter()
    assert read_model_facts(copy) is first  # no second parse (an answer's end asks again)
    assert time.perf_counter() - start < 0.005
    # Cut short in place: another size, read again, and refused in plain words.
    data = copy.read_bytes()
    copy.write_bytes(data[:4096])
    with pytest.raises(GGUFError):
        read_model_facts(copy)
    # The same bytes again, with a newer time: read again, not the old object.
    copy.write_bytes(data)
    os.utime(copy, ns=(time.time_ns(), time.time_ns() + 10**9))
    again = read_model_facts(copy)
    assert again is not first and again == first


def _assert_plain(exc: GGUFError, *words: str) -> None:
    message = str(exc)
    assert "Traceback" not in message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("keep", [2, 100, 3_000, 200_000, 3_000_000])
def test_truncated_header_is_reported(chat_model_path: Path, tmp_path: Path, keep: int) -> None:
    cut = tmp_path / "cut.gguf"
    with chat_model_path.open("rb") as src:
        cut.write_bytes(src.read(keep))
    with pytest.raises(GGUFError) as info:
        read_model_facts(cut)
    _assert_plain(info.value, "incomplete (truncated)")


@pytest.mark.parametrize("fraction", [0.4, 0.999])
def test_truncated_data_is_reported(
    embedding_model_path: Path, tmp_path: Path, fraction: float
) -> None:
    data = embedding_model_path.read_bytes()
    cut = tmp_path / "half.gguf"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(GGUFError) as info:
        read_model_facts(cut)
    _assert_plain(info.value, "incomplete (truncated)", "Download it again")


def test_garbage_is_not_a_gguf(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(GGUFError) as info:
        read_model_facts(junk)
    _assert_plain(info.value, "not a GGUF model")


def test_text_file_is_not_a_gguf(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a model\n")
    with pytest.raises(GGUFError, match="not a GGUF model"):
        read_model_facts(text)


def test_garbage_after_magic_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 600)
    with pytest.raises(GGUFError) as info:
        read_model_facts(bad)
    assert "Traceback" not in str(info.value)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(GGUFError, match="empty"):
        read_model_facts(empty)
    with pytest.raises(GGUFError, match="does not exist"):
        read_model_facts(tmp_path / "missing.gguf")
    with pytest.raises(GGUFError, match="folder"):
        read_model_facts(tmp_path)
