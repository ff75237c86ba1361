"""Settings → Graphics card (issue 14, part 4): with two GPUs the user can pin one; the next load
plans for that GPU alone, through the real loader and engine host."""

from __future__ import annotations

from pathlib import Path

from app.core.engine.client import EngineClient
from app.core.engine.loader import load_model
from app.core.hardware import GpuInfo, HardwareInfo
from app.core.planner import GIB


def two_gpus() -> HardwareInfo:
    gpus = (
        GpuInfo(0, "Card A", 8 * GIB, 6 * GIB, "550", "cuda"),
        GpuInfo(1, "Card B", 8 * GIB, 4 * GIB, "550", "cuda"),
    )
    return HardwareInfo(32 * GIB, 32 * GIB, 2, 2, "Test CPU", "Test OS", gpus, False, ())


def test_a_pinned_gpu_is_saved_and_the_next_load_plans_for_it(  # type: ignore[no-untyped-def]
    qtbot, make_window, instruct_model_path: Path, tmp_path: Path
) -> None:
    window = make_window()
    window.hardware = two_gpus()
    window.show_page("settings")
    section = window.models_area.settings.gpu_section
    qtbot.waitUntil(section.isVisible)
    names = [section.combo.itemText(i) for i in range(section.combo.count())]
    assert names[0] == "Automatic" and "Card A" in names[1] and "Card B" in names[2]
    section.combo.setCurrentIndex(section.combo.findData(1))
    assert window.settings_store.current.gpu == 1

    # This machine has no GPU: llama.cpp loads on the CPU whatever the plan asks of a GPU, so
    # the real host must take a plan for GPU 1 without tripping over llama.cpp's main_gpu check.
    client = EngineClient(log_path=tmp_path / "engine-host.log")
    try:
        automatic = load_model(
            client, instruct_model_path, wanted_ctx=1024, hardware=two_gpus(), gpu_choice=-1
        )
        assert automatic.plan.gpu_index == 0  # the card with more free memory holds it alone
        pinned = load_model(client, instruct_model_path, wanted_ctx=1024, hardware=two_gpus())
        assert pinned.plan.gpu_index == 1 and pinned.plan.tensor_split == ()
        assert pinned.plan.verdict == "gpu_full"
    finally:
        client.shutdown()


def test_one_gpu_hides_the_choice(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    one = two_gpus()
    window.hardware = HardwareInfo(*[getattr(one, f) for f in ("total_ram_bytes", "available_ram_bytes",
                                    "physical_cores", "logical_cores", "cpu_name", "os_name")],
                                   one.gpus[:1], False, ())  # fmt: skip
    window.show_page("settings")
    section = window.models_area.settings.gpu_section
    section.refresh()
    assert not section.isVisible()
