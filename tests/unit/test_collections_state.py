"""CollectionsState: the Documents page's one state owner (app/core/documents/collections_state.py).
Plain objects, no Qt: what it opens after each read of the list, and which events it sends."""

from __future__ import annotations

from typing import Any

from app.core.documents.collections_state import CollectionsState, FilesSnapshot, Note
from app.core.documents.index import Collection
from app.core.documents.indexer import IndexProgress


def collection(name: str, state: str = "ready", n_files: int = 0) -> Collection:
    return Collection(1, name, [f"/docs/{name}"], None, None, state, 1, n_files, n_files, 0, 0.0)


def recorder(state: CollectionsState) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    for name in (
        "collections_changed", "selected_changed", "collection_changed", "files_changed",
        "busy_changed", "note_changed",
    ):  # fmt: skip
        getattr(state, name).connect(lambda *args, n=name: events.append((n, args[0] if args else None)))
    state.progress_changed.connect(lambda c, p: events.append(("progress_changed", (c, p))))
    return events


def test_the_list_opens_the_first_then_keeps_or_changes_the_choice() -> None:
    state = CollectionsState()
    events = recorder(state)
    assert state.set_collections([collection("HR"), collection("Research")]) is True
    assert state.selected == "HR" and state.names == ["HR", "Research"]
    assert events == [("collections_changed", ["HR", "Research"]), ("selected_changed", "HR")]

    events.clear()
    assert state.set_collections([collection("HR"), collection("Research")]) is False  # kept
    assert events == [("collections_changed", ["HR", "Research"])]
    assert state.set_collections([collection("Research")], select="Research") is True
    assert state.set_collections([], select=None) is True and state.selected is None
    assert state.selected_collection is None


def test_opening_another_collection_drops_its_note_and_stale_files() -> None:
    state = CollectionsState()
    state.set_collections([collection("HR"), collection("Research")])
    state.set_files(FilesSnapshot(collection("HR", n_files=3), {}, frozenset()))
    state.set_note("Indexing stopped.")
    events = recorder(state)

    assert state.select("HR") is False and events == []  # the same one: nothing happens
    assert state.select("Research") is True
    assert state.note is None and state.files is None
    assert events == [("note_changed", None), ("selected_changed", "Research")]

    # A read of HR's files that comes back late is not shown for Research.
    events.clear()
    state.set_files(FilesSnapshot(collection("HR", n_files=9), {}, frozenset()))
    hr = state.get("HR")
    assert events == [] and hr is not None and hr.n_files == 3  # still the record read for HR
    fresh = FilesSnapshot(collection("Research", n_files=2), {"/docs/Research/a.md": object()}, frozenset())
    state.set_files(fresh)
    assert state.files is fresh and state.selected_collection == fresh.collection
    assert events == [("collection_changed", "Research"), ("files_changed", fresh)]


def test_busy_progress_and_note_are_announced_when_they_change() -> None:
    state = CollectionsState()
    state.set_collections([collection("HR")])
    events = recorder(state)
    state.set_busy({"HR"})
    state.set_busy(frozenset({"HR"}))  # the same: no event
    assert state.is_busy("HR") and events == [("busy_changed", frozenset({"HR"}))]

    events.clear()
    p = IndexProgress("indexing", 1, 4, 2, None, 0.5, None)
    state.set_progress("HR", p)
    assert state.progress("HR") is p and state.progress("Other") is None
    state.set_progress("HR", None)
    state.set_progress("HR", None)  # already ended: no second event
    assert events == [("progress_changed", ("HR", p)), ("progress_changed", ("HR", None))]

    events.clear()
    state.set_note("Indexing failed: the disk is full.", "error")
    state.set_note("Indexing failed: the disk is full.", "error")  # shown again on purpose
    state.set_note(None)
    state.set_note(None)
    note = Note("Indexing failed: the disk is full.", "error")
    assert events == [("note_changed", note), ("note_changed", note), ("note_changed", None)]
