"""llama.cpp's Vulkan backend for real, without a GPU (issue 14, part 4): Mesa's software Vulkan
driver (lavapipe, Debian's mesa-vulkan-drivers) stands in for an AMD or Intel GPU.

ggml skips a CPU-type Vulkan device unless GGML_VK_VISIBLE_DEVICES names it, which is what an
ordinary computer with lavapipe installed needs (it is slower than the CPU backend) and what
these tests set. ggml's own device list must then show it to the planner, a model must load on
it and answer, and the planner's weights and KV cache must match llama.cpp's buffers there.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.engine import ggml_devices
from app.core.engine.client import EngineClient
from app.core.engine.loader import load_model
from app.core.engine.protocol import SamplingParams
from app.core.gguf_facts import read_model_facts
from app.core.hardware import detect_hardware
from app.core.planner import MIB, plan_offload

pytestmark = pytest.mark.skipif(
    not ggml_devices.backend_installed("vulkan"),
    reason="this llama-cpp-python has no Vulkan backend (build the 'vulkan' variant)",
)

LOADER = """
import sys, llama_cpp
from app.core.engine.backends import load_backends
load_backends()
path, n_ctx, n_gpu_layers = sys.argv[1:]
llama_cpp.Llama(model_path=path, n_ctx=int(n_ctx), n_gpu_layers=int(n_gpu_layers), verbose=True)
"""
BUFFER = re.compile(r"(\S+)\s+(model|KV) buffer size =\s+([\d.]+) MiB")


@pytest.fixture
def lavapipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GGML_VK_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(ggml_devices, "_cache", None)
    devices, note = ggml_devices.probe()
    if not any(d.backend == "vulkan" for d in devices):
        pytest.skip(f"no Vulkan driver on this machine (apt-get install mesa-vulkan-drivers) {note}")


def test_ggml_lists_the_vulkan_device_and_the_planner_sees_it(lavapipe: None) -> None:
    devices, note = ggml_devices.probe()
    assert note == ""
    vulkan = [d for d in devices if d.backend == "vulkan"]
    assert vulkan and vulkan[0].name == "Vulkan0" and vulkan[0].total_bytes > 0
    hardware = detect_hardware()
    gpu = next(g for g in hardware.gpus if g.backend == "vulkan")
    assert gpu.name == vulkan[0].description and gpu.free_bytes == vulkan[0].free_bytes


def test_the_planner_matches_llama_cpps_buffers_on_the_vulkan_device(
    lavapipe: None, instruct_model_path: Path
) -> None:
    facts = read_model_facts(instruct_model_path)
    plan = plan_offload(facts, detect_hardware(), 2048)
    assert plan.verdict == "gpu_full" and plan.gpu_index == 0
    done = subprocess.run(
        [sys.executable, "-c", LOADER, str(instruct_model_path), str(plan.n_ctx), str(plan.n_gpu_layers)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    on_vulkan = {kind: float(mib) for buffer, kind, mib in BUFFER.findall(done.stderr) if buffer == "Vulkan0"}
    assert set(on_vulkan) == {"model", "KV"}, done.stderr[-3000:]
    weights, kv = plan.gpu_weights_bytes / MIB, plan.gpu_kv_bytes / MIB
    assert abs(weights - on_vulkan["model"]) <= 0.03 * on_vulkan["model"], (weights, on_vulkan)
    assert abs(kv - on_vulkan["KV"]) <= 0.03 * on_vulkan["KV"], (kv, on_vulkan)


def test_a_model_loads_on_the_vulkan_device_and_answers(
    lavapipe: None, instruct_model_path: Path, tmp_path: Path
) -> None:
    client = EngineClient(log_path=tmp_path / "engine-host.log")
    try:
        outcome = load_model(client, instruct_model_path, wanted_ctx=1024)
        assert outcome.plan.verdict == "gpu_full"
        sampling = SamplingParams(temperature=0.0, max_tokens=8, seed=1)
        text, stats = client.chat([{"role": "user", "content": "Name a colour."}], sampling)
        assert text.strip() and stats.engine.generated_tokens >= 1
        log = (tmp_path / "engine-host.log").read_text(errors="replace")
        assert re.search(r"offloaded \d+/\d+ layers to GPU", log), log[-2000:]
        assert "Vulkan0" in log
    finally:
        client.shutdown()
