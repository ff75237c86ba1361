"""Several GPUs (issue 14, part 4): a model that fits on one GPU stays on one, a larger one is
split over all of them by free memory, the user can pin one GPU, and an integrated GPU shares
the computer's RAM."""

from __future__ import annotations

from app.core.hardware import GpuInfo, HardwareInfo
from app.core.planner import GIB, gpu_reserve, plan_offload
from tests.unit.test_planner import make_facts

# 32 layers of 200 MiB: about 6.5 GB of weights, plus the KV cache.


def machine(*cards: tuple[float, float], ram_gib: float = 64, backend: str = "cuda",
            integrated: bool = False) -> HardwareInfo:  # fmt: skip
    gpus = tuple(
        GpuInfo(i, f"GPU {i}", int(total * GIB), int(free * GIB), "550", backend, integrated)
        for i, (total, free) in enumerate(cards)
    )
    ram = int(ram_gib * GIB)
    return HardwareInfo(ram, ram, 8, 16, "Test CPU", "Test OS", gpus, False, ())


def test_a_model_that_fits_on_one_gpu_stays_on_the_one_with_most_room() -> None:
    plan = plan_offload(make_facts(), machine((12, 9), (24, 20)), 4096)
    assert plan.verdict == "gpu_full"
    assert plan.gpu_index == 1 and plan.tensor_split == () and plan.gpu_count == 1


def test_a_model_too_big_for_either_gpu_is_split_by_free_memory() -> None:
    hw = machine((8, 6), (8, 4))
    plan = plan_offload(make_facts(), hw, 4096)
    assert plan.verdict == "gpu_full" and plan.gpu_count == 2
    rooms = [g.free_bytes - gpu_reserve(g) for g in hw.gpus]
    assert plan.tensor_split == (round(rooms[0] / sum(rooms), 4), round(rooms[1] / sum(rooms), 4))
    assert plan.gpu_index == 0  # the main GPU (compute buffer) is the one with most room
    assert plan.gpu_bytes <= sum(rooms)
    assert "2 GPUs" in plan.summary
    assert sum("takes" in reason for reason in plan.reasons) == 2
    # Neither card alone could: on one GPU the same model only partly fits.
    alone = plan_offload(make_facts(), machine((8, 6)), 4096)
    assert alone.verdict == "gpu_partial"


def test_a_pinned_gpu_is_the_only_one_used() -> None:
    hw = machine((8, 6), (8, 4))
    plan = plan_offload(make_facts(), hw, 4096, gpu_choice=1)
    assert plan.gpu_index == 1 and plan.tensor_split == ()
    assert plan.verdict == "gpu_partial"
    assert plan.gpu_bytes <= hw.gpus[1].free_bytes - gpu_reserve(hw.gpus[1])


def test_a_model_too_big_for_all_gpus_puts_as_many_layers_as_fit_across_them() -> None:
    hw = machine((4, 3), (4, 3))
    plan = plan_offload(make_facts(), hw, 4096)
    single = plan_offload(make_facts(), machine((4, 3)), 4096)
    assert plan.verdict == "gpu_partial" and plan.gpu_count == 2
    assert plan.n_gpu_layers > single.n_gpu_layers
    assert plan.gpu_bytes <= sum(g.free_bytes - gpu_reserve(g) for g in hw.gpus)


def test_the_main_gpu_has_room_for_the_compute_buffer_too() -> None:
    hw = machine((8, 6), (8, 4))
    plan = plan_offload(make_facts(), hw, 4096)
    main = hw.gpus[plan.gpu_index or 0]
    share = (plan.gpu_weights_bytes + plan.gpu_kv_bytes) * plan.tensor_split[main.index]
    assert share + plan.gpu_compute_bytes <= main.free_bytes - gpu_reserve(main) + 1


def test_an_integrated_gpu_shares_the_ram() -> None:
    # 8 GB of RAM and a Vulkan iGPU reporting 6 GB: the model and the system share the 8 GB.
    hw = machine((6, 6), ram_gib=8, backend="vulkan", integrated=True)
    plan = plan_offload(make_facts(), hw, 4096)
    assert plan.fits
    assert plan.gpu_bytes + plan.ram_bytes <= hw.available_ram_bytes
    # 9.6 GB of weights: a discrete 6 GB card plus the RAM holds it, a shared pool of 8 GB not.
    bigger = make_facts(n_layer=48)
    assert plan_offload(bigger, machine((6, 6), ram_gib=8, backend="vulkan"), 4096).fits
    assert not plan_offload(bigger, hw, 4096).fits

