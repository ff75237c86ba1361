"""An answer from documents says how much it read ("Used 4 passages from 2 documents"), the
user can ask for more ("Use more passages": the same question again, a new version with twice
the passages), and "Summarise" on a source reads the whole file. Real window, real engine
(SmolLM2 135M Instruct), real index with the bundled embedding model."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel

from app.core.engine import protocol as p
from app.ui.main_window import MainWindow
from app.ui.pages.citations import CitationsView, used_text
from tests.gui.events import wait_event

TIMEOUT_MS = 240_000  # a busy 2-core machine: a summary is several model calls


def _index(tmp_path: Path, embedding_model_path: Path) -> None:
    from app.core.documents.index import DocumentIndex
    from app.core.documents.indexer import index_collection
    from app.core.documents.local_embedder import LocalEmbedder

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "handbook.md").write_text(
        "# Holidays\n\nEvery employee gets 31 days of paid holiday per year.\n\n"
        "# Lunch\n\nLunch is served at noon in the blue canteen.\n\n"
        "# Parking\n\nThe garage opens at six; a holiday week pass costs 15 euros.\n",
        encoding="utf-8",
    )
    for i in range(14):
        (docs / f"rule{i:02d}.md").write_text(
            f"# Holiday rule {i}\n\nRule {i}: holiday requests of {i + 2} days or more go to "
            f"the office manager in room {100 + i} a week ahead.\n",
            encoding="utf-8",
        )
    embedder = LocalEmbedder(embedding_model_path)
    with DocumentIndex() as index:
        index.create_collection("Handbook", [docs])
        index_collection(index, "Handbook", embedder)
    embedder.close()


def _citations(window: MainWindow) -> CitationsView:
    answer = window.chat_view.widgets[-1]
    views = [answer.extra.itemAt(i).widget() for i in range(answer.extra.count())]
    found = [v for v in views if isinstance(v, CitationsView)]
    assert found, "no sources under the answer"
    return found[-1]


def test_more_passages_and_summarise_from_the_sources(
    qtbot, make_window, instruct_model_path: Path, tmp_path: Path, embedding_model_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _index(tmp_path, embedding_model_path)
    window = make_window()
    with wait_event(qtbot, window.service.loaded, timeout=60_000):
        window.open_model(instruct_model_path)
    window.session.base_sampling = p.SamplingParams(max_tokens=8, seed=1, temperature=0.0)
    window.documents_in_chat.picker.set_available(["Handbook"])
    window.documents_in_chat.picker.set_selected(["Handbook"])
    with wait_event(qtbot, window.session.answer_finished, timeout=TIMEOUT_MS):
        window.composer.edit.setPlainText("How many days of holiday do employees get?")
        window.composer._submit()

    first = window.chat_view.widgets[-1].message
    sources = first.stats["sources"]
    files = {s["file"] for s in sources}
    view = _citations(window)
    title = view.findChild(QLabel, "citationsTitle")
    assert title is not None and title.text() == used_text(len(sources), len(files))
    assert title.text().startswith(f"Used {len(sources)} passages from {len(files)} documents")

    # "Use more passages": the same question, a new version of the answer, with more passages.
    assert view.more_button.isVisible() or not view.more_button.isHidden()
    with wait_event(qtbot, window.session.answer_finished, timeout=TIMEOUT_MS):
        view.more_button.click()
    second = window.chat_view.widgets[-1].message
    assert second.id != first.id and second.parent_id == first.parent_id
    assert second.stats["passage_scale"] == 2
    assert len(second.stats["sources"]) > len(sources)
    assert window.chat_view.widgets[-1].versions == (2, 2)
    again = _citations(window)
    assert again.findChild(QLabel, "citationsTitle").text() == used_text(
        len(second.stats["sources"]), len({s["file"] for s in second.stats["sources"]})
    )

    # "Summarise" on the handbook's row reads the whole file: one part per section here.
    handbook = next(
        b for b, g in zip(again.summarise_buttons, again.groups, strict=True)
        if g[0].file.endswith("handbook.md")
    )
    with wait_event(qtbot, window.session.answer_finished, timeout=TIMEOUT_MS):
        handbook.click()
    question, answer = window.session.thread()[-2:]
    assert question.content == "Summarise handbook.md"
    assert answer.stats["summary"]["sections"] == 3 and answer.stats["summary"]["map_calls"] >= 1
    assert answer.content.strip()
