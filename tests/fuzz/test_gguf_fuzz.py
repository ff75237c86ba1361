"""Bad input never crashes: mutated headers of the real test models through `enclave inspect`
(1,000+ cases in-process, a sample through the real command) and through load + chat in the
real engine host (50 cases). Every case ends in a description or a plain sentence; none in a
traceback, a hang, a native crash or a message that reads like code.

The cases are seeded (tests/fuzz/gguf_mutator.py), so a failure printed here reruns alone:
make_case(read_layout(seed), name, number).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fuzz.gguf_layout import read_layout
from tests.fuzz.harness import BAD, FuzzReport, fuzz_cli, fuzz_inspect, fuzz_load, pick_load_cases
from tests.fuzz.seeds import seed_models

# Cases per seed (three seeds): 1,050 through inspect, CI-sized (~1-2 minutes on 2 cores).
INSPECT_CASES = {"gemma3": 250, "smollm2": 450, "minilm": 350}
CLI_CASES = 8  # per seed, through `python -m app inspect`
LOAD_CASES = {"smollm2": 30, "gemma3": 10, "minilm": 10}  # minilm: embedded, as documents do


def _assert_clean(report: FuzzReport, what: str) -> None:
    failures = "\n".join(json.dumps(f)[:600] for f in report.failures[:10])
    assert not report.failures, f"{what}: {report.summary()}\n{failures}"
    assert not any(report.counts[k] for k in BAD)


@pytest.fixture(scope="module")
def seeds() -> dict[str, Path]:
    return seed_models()


def test_inspect_fuzz(seeds: dict[str, Path], tmp_path: Path) -> None:
    total = FuzzReport()
    for name, count in INSPECT_CASES.items():
        total.merge(fuzz_inspect(seeds[name], name, 0, count, tmp_path / name))
    print(f"inspect: {total.summary()}")
    assert total.total >= 1000
    _assert_clean(total, "inspect")
    # The mutations must bite: most cases are refused, and the refusals say different things.
    assert total.counts["message"] > total.total // 2
    assert total.counts["ok"] > 0


def test_inspect_fuzz_through_the_real_command(seeds: dict[str, Path], tmp_path: Path) -> None:
    total = FuzzReport()
    for name, count in INSPECT_CASES.items():
        numbers = list(range(0, count, count // CLI_CASES))[:CLI_CASES]
        total.merge(fuzz_cli(seeds[name], name, numbers, tmp_path / name))
    print(f"cli: {total.summary()}")
    _assert_clean(total, "cli")
    assert total.counts["message"] > 0


def test_load_and_chat_fuzz(seeds: dict[str, Path], tmp_path: Path) -> None:
    total = FuzzReport()
    for name, count in LOAD_CASES.items():
        layout = read_layout(seeds[name])
        cases = pick_load_cases(layout, name, count)
        assert len(cases) == count
        # Real tensor data for the small seeds; Gemma's 250 MB is a sparse hole (zeros).
        total.merge(
            fuzz_load(cases, layout, tmp_path / name, real_data=name != "gemma3", embed=name == "minilm")
        )
    print(f"load: {total.summary()}")
    assert total.total >= 50
    _assert_clean(total, "load")
    assert total.counts["ok"] > 0 and total.counts["message"] > 0
