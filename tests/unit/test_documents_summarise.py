""""Summarise this document" reads the whole file: its sections are packed into parts that fit
the model's context, each part is summarised (map), then the summaries together (reduce). The
model is the real one (SmolLM2 135M Instruct in the engine host); the proof that every section
was read is in the prompts the engine received."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.calls import CallQueue
from app.core.cancel import Cancelled, CancelToken
from app.core.chat.session import ChatSession
from app.core.chat.store import STATUS_CANCELLED, STATUS_COMPLETE, ChatStore
from app.core.documents.chunking import estimate_tokens
from app.core.documents.extract import Passage
from app.core.documents.summarise import (
    MAP_PROMPT,
    Section,
    SummaryProgress,
    document_sections,
    plan_parts,
    summarise_document,
)
from app.core.engine import protocol as p
from app.core.engine.client import EngineClient
from app.core.engine.service import EngineService

N_CTX = 512
# One marker per section, in no other section: each must reach exactly one map prompt.
TOPICS = [
    ("Parking", "GARAGE-ALPHA", "the garage under building A opens at six and closes at ten"),
    ("Travel", "TRAIN-BRAVO", "train tickets are booked through the travel desk two weeks ahead"),
    ("Lunch", "CANTEEN-CHARLIE", "the blue canteen serves lunch from noon until two"),
    ("Security", "BADGE-DELTA", "a lost badge is replaced at the front desk for fifteen euros"),
]


def _manual(path: Path) -> Path:
    """A Markdown handbook of four sections, each alone about half of a part's room at N_CTX."""
    lines = ["# Staff handbook", ""]
    for title, marker, fact in TOPICS:
        lines += [f"## {title}", ""]
        for i in range(8):
            lines += [f"Rule {marker} number {i}: {fact}, as the office manager wrote in the memo.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_every_section_is_in_exactly_one_part_and_long_ones_are_cut() -> None:
    sections = [Section(f"S{i}", " ".join(f"word{i}x{j}." for j in range(n))) for i, n in
                enumerate([30, 40, 500, 20])]
    parts = plan_parts(sections, budget_tokens=300)
    text = "\n".join(part.text for part in parts)
    for i, section in enumerate(sections):
        for j in range(len(section.text.split())):
            assert text.count(f"word{i}x{j}.") == 1  # nothing lost, nothing read twice
    assert all(estimate_tokens(part.text) <= 300 for part in parts)
    assert parts[0].titles == ("S0", "S1")  # small neighbours share a part
    assert [t for part in parts for t in part.titles if t.startswith("S2")] == [
        "S2 (1 of 4)", "S2 (2 of 4)", "S2 (3 of 4)", "S2 (4 of 4)"
    ]


def test_sections_follow_headings_or_pages() -> None:
    headed = [Passage("a", "/f.md", None, "A"), Passage("b", "/f.md", None, "A"),
              Passage("c", "/f.md", None, "A › B")]
    assert [(s.title, s.text) for s in document_sections(headed)] == [("A", "a\n\nb"), ("A › B", "c")]
    pages = [Passage("a", "/f.pdf", 1), Passage("b", "/f.pdf", 1), Passage("c", "/f.pdf", 2)]
    assert [s.title for s in document_sections(pages)] == ["page 1", "page 2"]


class RecordingEngine:
    """The real engine, with every chat request's messages kept."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.requests: list[list[dict[str, str]]] = []

    def chat(self, messages: list[dict[str, str]], *args: Any, **kwargs: Any) -> Any:
        self.requests.append(messages)
        return self.engine.chat(messages, *args, **kwargs)


@pytest.fixture(scope="module")
def service(instruct_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    calls = CallQueue()
    service = EngineService(
        EngineClient(log_path=tmp_path_factory.mktemp("engine") / "host.log"), call_soon=calls
    )
    loaded: list[Any] = []
    service.loaded.connect(loaded.append)
    service.load(instruct_model_path, N_CTX)
    calls.run_until(lambda: bool(loaded), timeout=120)
    yield service, calls
    service.shutdown()


@pytest.mark.e2e
def test_the_real_model_reads_every_section(service: Any, tmp_path: Path) -> None:
    engine_service, _calls = service
    manual = _manual(tmp_path / "handbook.md")
    progress: list[SummaryProgress] = []
    streamed: list[str] = []
    recorder: list[RecordingEngine] = []

    def work(engine: Any, token: CancelToken) -> Any:
        recorder.append(RecordingEngine(engine))
        return summarise_document(
            recorder[0], manual, N_CTX,
            sampling=p.SamplingParams(temperature=0.0, seed=1, max_tokens=24),
            on_progress=progress.append, on_tokens=streamed.append, cancel=token,
            summary_tokens=16,
        )

    result = engine_service.queue.submit(work, name="test summary").future.result(timeout=280)
    requests = recorder[0].requests
    maps = [r for r in requests if r[0]["content"] == MAP_PROMPT]
    # One map call per section here: two sections together do not fit a part at this context.
    assert result.sections == len(TOPICS) == len(maps) == result.map_calls
    for _title, marker, _fact in TOPICS:
        assert sum(marker in r[1]["content"] for r in maps) == 1, marker
    # The last call reduces: it holds every part's summary, under its section's title.
    final = requests[-1][1]["content"]
    assert result.reduce_calls == 1 and len(requests) == len(maps) + 1
    assert all(f"## Staff handbook › {title}" in final for title, _m, _f in TOPICS)
    assert result.text and "".join(streamed).strip() == result.text  # only the final call streamed
    assert [x.step for x in progress] == ["reading"] * len(TOPICS) + ["writing"]
    assert progress[0].sentence("handbook.md") == "Reading handbook.md: part 1 of 4…"


@pytest.mark.e2e
def test_cancel_stops_between_parts(service: Any, tmp_path: Path) -> None:
    engine_service, _calls = service
    manual = _manual(tmp_path / "handbook.md")
    token = CancelToken()
    seen: list[SummaryProgress] = []

    def on_progress(step: SummaryProgress) -> None:
        seen.append(step)
        if step.done == 1:
            token.cancel()  # Stop while the second part is about to be read

    def work(engine: Any, _token: CancelToken) -> Any:
        return summarise_document(
            engine, manual, N_CTX, sampling=p.SamplingParams(temperature=0.0, max_tokens=16),
            on_progress=on_progress, cancel=token, summary_tokens=16,
        )

    with pytest.raises(Cancelled):
        engine_service.queue.submit(work, name="test summary").future.result(timeout=280)
    assert [x.done for x in seen] == [0, 1]


@pytest.mark.e2e
def test_the_chat_session_answers_summarise_with_the_whole_file(service: Any, tmp_path: Path) -> None:
    engine_service, calls = service
    manual = _manual(tmp_path / "handbook.md")
    store = ChatStore(tmp_path / "enclave.db")
    session = ChatSession(store, engine_service, call_soon=calls)
    session.base_sampling = p.SamplingParams(max_tokens=32, seed=3, temperature=0.0)
    waits: list[str] = []
    session.waiting.connect(lambda _m, text: waits.append(text))
    try:
        assert session.summarise_document(str(manual))
        calls.run_until(lambda: not session.busy, timeout=300)
        question, answer = session.thread()
        assert question.content == "Summarise handbook.md"
        assert answer.status == STATUS_COMPLETE and answer.content
        assert answer.stats["summary"]["map_calls"] == len(TOPICS)
        assert "Reading handbook.md: part 2 of 4…" in waits
        # Another version reads the file again; Stop during it keeps what was said, as stopped.
        session.waiting.connect(lambda _m, text: session.stop() if "part 2" in text else None)
        assert session.regenerate(answer)
        calls.run_until(lambda: not session.busy, timeout=300)
        assert session.thread()[-1].status == STATUS_CANCELLED
        assert session.versions_of(session.thread()[-1]) == (2, 2)
    finally:
        session.close()
        store.close()
