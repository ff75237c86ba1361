"""Which Library model drafts for the chat model (app/core/draft_pairing.py), on real files: a
smaller sibling of SmolLM2 (its first 2 of 30 layers, its own tokenizer), Gemma 3 (another
family) and the bundled MiniLM (an embedding model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.draft_pairing import draft_for
from app.core.engine.loader import load_model
from app.core.gguf_facts import read_model_facts
from app.core.hardware import GpuInfo, HardwareInfo
from app.core.planner import plan_offload

GIB = 1024**3


def first_layers(source: Path, out: Path, keep: int) -> Path:
    """A real smaller model of the same family: the source's metadata and tokenizer, its first
    `keep` layers (llama.cpp loads it; its answers are poorer, which a draft may be)."""
    import gguf

    reader = gguf.GGUFReader(str(source))
    arch = str(reader.get_field("general.architecture").contents())
    writer = gguf.GGUFWriter(str(out), arch=arch)
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value = keep if name == f"{arch}.block_count" else field.contents()
        sub = field.types[1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, value, field.types[0], sub)
    for tensor in reader.tensors:
        if tensor.name.startswith("blk.") and int(tensor.name.split(".")[1]) >= keep:
            continue
        writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)  # bytes for quants
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def machine(gpu_gib: float) -> HardwareInfo:
    gpus = (GpuInfo(0, "Test GPU", int(gpu_gib * GIB), int(gpu_gib * GIB), "1", "cuda"),) if gpu_gib else ()
    return HardwareInfo(32 * GIB, 24 * GIB, 8, 16, "Test CPU", "Linux", gpus, False, ())


@pytest.fixture(scope="module")
def sibling(instruct_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return first_layers(instruct_model_path, tmp_path_factory.mktemp("draft") / "smol-2-layers.gguf", 2)


def test_a_smaller_sibling_drafts_when_the_model_is_wholly_on_a_gpu(
    instruct_model_path: Path,
    chat_model_path: Path,
    embedding_model_path: Path,
    sibling: Path,
    tmp_path: Path,
) -> None:
    chat = read_model_facts(instruct_model_path)
    small = read_model_facts(sibling)
    assert small.block_count == 2 and small.vocab_size == chat.vocab_size
    assert small.architecture == chat.architecture
    library = [instruct_model_path, chat_model_path, embedding_model_path, sibling]
    on_gpu = plan_offload(chat, machine(8), 2048)
    assert on_gpu.verdict == "gpu_full"
    assert draft_for(chat, on_gpu, library) == sibling
    # Not another family, not an embedding model, not itself, not one too big to pay:
    assert draft_for(chat, on_gpu, [chat_model_path, embedding_model_path, instruct_model_path]) is None
    too_big = first_layers(instruct_model_path, tmp_path / "smol-20-layers.gguf", 20)
    assert draft_for(chat, on_gpu, [too_big]) is None
    # On the processor a draft model made answers slower: none is picked there.
    on_cpu = plan_offload(chat, machine(0), 2048)
    assert on_cpu.verdict == "cpu" and draft_for(chat, on_cpu, library) is None


def test_a_file_that_cannot_be_read_is_no_candidate(instruct_model_path: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    chat = read_model_facts(instruct_model_path)
    assert draft_for(chat, plan_offload(chat, machine(8), 2048), [broken]) is None


def test_the_sibling_loads_and_drafts_for_the_model(
    instruct_model_path: Path, sibling: Path, tmp_path: Path
) -> None:
    from app.core.engine import protocol as p
    from app.core.engine.client import EngineClient

    client = EngineClient(log_path=tmp_path / "engine-host.log")
    try:
        outcome = load_model(client, instruct_model_path, wanted_ctx=1024, draft_model=sibling)
        assert not outcome.notice, outcome.notice  # same vocabulary, token by token: accepted
        _, stats = client.chat([{"role": "user", "content": "Name three colours."}],
                               p.SamplingParams(temperature=0.0, max_tokens=24))
        assert stats.engine.draft_tokens_proposed > 0
    finally:
        client.shutdown()
