"""The real engine host with the real Gemma 3 270M model: load, stream, cancel, crash, reload."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from app.core.cancel import Cancelled
from app.core.engine import protocol as p
from app.core.engine.client import EngineClient, EngineCrashed, EngineError
from app.core.engine.loader import ModelDoesNotFit, load_model
from app.core.gguf_facts import GGUFError
from app.core.hardware import GpuInfo, HardwareInfo

pytestmark = pytest.mark.e2e

QUESTION = [{"role": "user", "content": "Write a long story about the sea."}]
GiB = 1024**3


@pytest.fixture
def client(tmp_path: Path):
    engine = EngineClient(log_path=tmp_path / "engine-host.log")
    yield engine
    engine.shutdown()


def cpu_machine(ram_gib: float = 16) -> HardwareInfo:
    return HardwareInfo(
        total_ram_bytes=int(ram_gib * GiB),
        available_ram_bytes=int(ram_gib * GiB * 0.8),
        physical_cores=2,
        logical_cores=2,
        cpu_name="test",
        os_name="Linux",
        gpus=(),
        unified_memory=False,
        notes=(),
    )


def test_load_reports_progress_and_streams_an_answer(client: EngineClient, chat_model_path: Path) -> None:
    progress: list[float] = []
    outcome = load_model(client, chat_model_path, wanted_ctx=2048, on_progress=progress.append)
    assert outcome.loaded.n_ctx == 2048
    assert outcome.loaded.chat_format == "gemma"  # no template in this GGUF: the fallback
    assert progress and progress[-1] == pytest.approx(1.0)
    assert progress == sorted(progress)

    batches: list[str] = []
    text, stats = client.chat(QUESTION, p.SamplingParams(max_tokens=48, seed=7), on_tokens=batches.append)
    assert text and "".join(batches) == text
    assert 1 < len(batches) <= stats.engine.generated_tokens  # batched, never more than one per token
    assert stats.engine.generated_tokens == 48
    assert stats.engine.finish_reason == "length"
    assert stats.engine.prompt_tokens > 5
    assert stats.engine.engine_eval_tokens_per_s > 1
    assert 0 < stats.time_to_first_token_s < stats.total_s
    assert stats.client_tokens_per_s > 1


def test_cancel_stops_within_200_ms(client: EngineClient, chat_model_path: Path) -> None:
    load_model(client, chat_model_path, wanted_ctx=2048)
    first_token = threading.Event()
    result: dict[str, object] = {}

    def ask() -> None:
        result["answer"] = client.chat(
            QUESTION, p.SamplingParams(max_tokens=2000, seed=3), on_tokens=lambda _t: first_token.set()
        )
        result["returned_at"] = time.perf_counter()

    worker = threading.Thread(target=ask)
    worker.start()
    assert first_token.wait(30)
    time.sleep(0.3)
    clicked = time.perf_counter()
    client.cancel()
    worker.join(10)
    assert not worker.is_alive()
    _text, stats = result["answer"]  # type: ignore[misc]
    assert stats.engine.finish_reason == "cancelled"
    assert float(result["returned_at"]) - clicked < 0.2  # type: ignore[arg-type]
    # The engine is still usable after a cancel.
    text, stats = client.chat(QUESTION, p.SamplingParams(max_tokens=5, seed=1))
    assert stats.engine.generated_tokens == 5


def test_host_killed_mid_answer_reports_error_and_reload_works(
    client: EngineClient, chat_model_path: Path
) -> None:
    load_model(client, chat_model_path, wanted_ctx=2048)
    pid = client.host_pid
    assert pid is not None
    received: list[str] = []

    def kill_after_tokens(text: str) -> None:
        received.append(text)
        if len(received) == 3:
            os.kill(pid, signal.SIGKILL)

    with pytest.raises(EngineCrashed) as caught:
        client.chat(QUESTION, p.SamplingParams(max_tokens=2000), on_tokens=kill_after_tokens)
    error = caught.value
    assert "SIGKILL" in error.message and "conversation is safe" in error.message
    assert "answering: 1 messages" in error.log_tail  # the host's last log lines come with it
    assert error.exit_code == -signal.SIGKILL
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    # Reload: a fresh host starts by itself.
    load_model(client, chat_model_path, wanted_ctx=2048)
    assert client.host_pid != pid
    text, stats = client.chat(QUESTION, p.SamplingParams(max_tokens=8, seed=1))
    assert stats.engine.generated_tokens == 8 and text


def test_unload_really_frees_memory(client: EngineClient, chat_model_path: Path) -> None:
    client.start()
    assert client.host_pid is not None
    host = psutil.Process(client.host_pid)
    before = host.memory_info().rss
    load_model(client, chat_model_path, wanted_ctx=2048)
    client.chat(QUESTION, p.SamplingParams(max_tokens=4, seed=1))
    loaded = host.memory_info().rss
    client.unload()
    after = host.memory_info().rss
    assert loaded - before > 200 * 1024**2  # weights (mapped and touched) plus buffers
    assert after - before < (loaded - before) * 0.25


def test_cancel_while_loading(client: EngineClient, chat_model_path: Path) -> None:
    client.start()

    def cancel_at_first_progress(_fraction: float) -> None:
        client.cancel()

    with pytest.raises(Cancelled):
        client.load(p.LoadRequest(str(chat_model_path), n_ctx=2048), on_progress=cancel_at_first_progress)
    assert client.is_running and client.loaded is None


def test_embeddings_from_the_bundled_model(client: EngineClient, embedding_model_path: Path) -> None:
    vectors = client.embed(
        ["The cat sat on the mat.", "A cat was sitting on a rug.", "Tax law"], embedding_model_path
    )
    assert len(vectors) == 3 and len(vectors[0]) == 384

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2


def test_gpu_out_of_memory_is_retried_with_fewer_layers(
    client: EngineClient, chat_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The host aborts (as a CUDA out-of-memory error does) whenever it is asked for GPU layers.
    # The first plan is made for a small GPU; when the load kills the host, the loader measures
    # the hardware again (now reporting the GPU gone: its memory was taken), re-plans with fewer
    # layers, loads on a fresh host and tells the user.
    monkeypatch.setenv("ENCLAVE_ENGINE_FAULT", "abort_on_gpu_load")
    tiny_gpu = HardwareInfo(
        total_ram_bytes=16 * GiB,
        available_ram_bytes=12 * GiB,
        physical_cores=2,
        logical_cores=2,
        cpu_name="test",
        os_name="Linux",
        gpus=(
            GpuInfo(
                index=0,
                name="Test GPU",
                total_bytes=int(1.2 * GiB),
                free_bytes=int(1.2 * GiB),
                driver="test",
                backend="cuda",
            ),
        ),
        unified_memory=False,
        notes=(),
    )
    import app.core.engine.loader as loader

    monkeypatch.setattr(loader, "detect_hardware", lambda: cpu_machine())
    outcome = load_model(client, chat_model_path, wanted_ctx=2048, hardware=tiny_gpu)
    assert outcome.notice is not None and "ran out of memory" in outcome.notice
    assert outcome.plan.n_gpu_layers == 0
    text, stats = client.chat(QUESTION, p.SamplingParams(max_tokens=4, seed=1))
    assert stats.engine.generated_tokens == 4


def test_model_larger_than_ram_is_refused_in_plain_words(client: EngineClient, chat_model_path: Path) -> None:
    with pytest.raises(ModelDoesNotFit) as caught:
        load_model(client, chat_model_path, hardware=cpu_machine(ram_gib=0.25))
    assert "this computer has" in caught.value.message.lower()
    assert not client.is_running  # nothing was started for a load that cannot fit


def test_not_a_gguf_and_truncated_files(client: EngineClient, chat_model_path: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "notes.gguf"
    garbage.write_bytes(b"this is a text file, not a model" * 100)
    with pytest.raises(GGUFError) as caught:
        load_model(client, garbage)
    assert "not a GGUF" in str(caught.value)
    truncated = tmp_path / "half.gguf"
    with open(chat_model_path, "rb") as source:
        truncated.write_bytes(source.read(chat_model_path.stat().st_size // 2))
    with pytest.raises(GGUFError) as caught:
        load_model(client, truncated)
    assert "incomplete" in str(caught.value).lower()


def test_architecture_the_engine_cannot_load(client: EngineClient, tmp_path: Path) -> None:
    import numpy as np
    from gguf import GGUFWriter

    path = tmp_path / "future-model.gguf"
    writer = GGUFWriter(str(path), arch="quantumformer")
    writer.add_block_count(1)
    writer.add_context_length(512)
    writer.add_embedding_length(8)
    writer.add_head_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((16, 8), dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((8, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(EngineError) as caught:
        client.load(p.LoadRequest(str(path), n_ctx=512))
    assert "quantumformer" in caught.value.message
    assert "cannot run" in caught.value.message
    assert client.is_running  # a refused file does not take the engine down


def test_follow_up_evaluates_only_new_tokens_and_switching_keeps_each_cache(
    client: EngineClient, chat_model_path: Path
) -> None:
    load_model(client, chat_model_path, wanted_ctx=4096)
    sampling = p.SamplingParams(max_tokens=16, seed=11)

    def turn(history: list[dict[str, str]], question: str, key: str) -> p.ChatStats:
        history.append({"role": "user", "content": question})
        text, stats = client.chat(history, sampling, cache_key=key)
        history.append({"role": "assistant", "content": text})
        return stats.engine

    volcanoes = "Something entirely different: how do volcanoes form?"
    # Both runs of conversation A start with another conversation in the context, so their
    # first turns are evaluated in the same batches: llama.cpp's CPU kernels may round
    # differently for another batch split (AVX-512 variants do), which is not what we test.
    turn([], volcanoes, "before-straight")
    straight: list[dict[str, str]] = []
    turn(straight, "Tell me about whales.", "straight")
    second = turn(straight, "And about dolphins?", "straight")
    assert second.prompt_tokens_evaluated < second.prompt_tokens / 2  # only the new turn

    turn([], volcanoes, "before-switched")
    switched: list[dict[str, str]] = []
    other: list[dict[str, str]] = []
    turn(switched, "Tell me about whales.", "A")
    assert switched[1]["content"] == straight[1]["content"]  # same start, same first answer
    turn(other, "Quite another question: why is the sky blue?", "B")
    back = turn(switched, "And about dolphins?", "A")
    # Conversation A's cache came back: again only its new tokens were evaluated...
    assert back.prompt_tokens_evaluated < back.prompt_tokens / 2
    # ...and the restored cache is exact: the same seed gives the same answer as without B.
    assert switched[-1]["content"] == straight[-1]["content"]


def test_stop_pressed_while_the_request_waited_its_turn(client: EngineClient, chat_model_path: Path) -> None:
    from app.core.cancel import CancelToken

    load_model(client, chat_model_path, wanted_ctx=2048)
    stop = CancelToken()
    stop.cancel()  # Stop came while the answer queued behind other engine work
    started = time.perf_counter()
    _text, stats = client.chat(QUESTION, p.SamplingParams(max_tokens=500), stop=stop)
    assert stats.engine.finish_reason == "cancelled"
    assert stats.engine.generated_tokens <= 1
    assert time.perf_counter() - started < 2
