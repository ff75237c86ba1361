"""What the Documents page shows, owned in one place: the collections that exist, the one that
is open (and its files), which ones an indexing run is working on or waiting for, the running
run's progress, and the note above the list.

Why one owner: the page's parts (the list, the details, the progress, the note) each draw a
piece of the same picture. They read it here and redraw when it tells them, through psygnal
events, instead of reaching into each other. Whoever learns something (a worker's read of the
index, the indexing controller) writes it here; nobody else keeps a copy.

No Qt: this is plain state, changed and observed on one thread (the GUI thread in the app).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psygnal import Signal

if TYPE_CHECKING:
    from app.core.documents.index import Collection
    from app.core.documents.indexer import IndexProgress


@dataclass(frozen=True, slots=True)
class FilesSnapshot:
    """One collection and its files as read on a worker, for the files tree."""

    collection: Collection
    files: dict[str, Any]  # path -> FileRecord
    missing: frozenset[str]  # roots not found on disk


@dataclass(frozen=True, slots=True)
class Note:
    """A sentence above the collections: what just happened, or what went wrong."""

    text: str
    level: str = "info"  # "info" | "error" (the style sheet colours it)


class CollectionsState:
    """The Documents page's state. Read it through the properties and methods; change it only
    through the setters, which announce what changed."""

    collections_changed = Signal(list)  # the names, after every read of the list
    selected_changed = Signal(object)  # the open collection's name, or None
    collection_changed = Signal(str)  # one collection's record was read again
    files_changed = Signal(object)  # FilesSnapshot of the open collection
    busy_changed = Signal(frozenset)  # the names an indexing run works on or waits for
    progress_changed = Signal(str, object)  # collection, IndexProgress or None (ended)
    note_changed = Signal(object)  # Note, or None (no note)

    def __init__(self) -> None:
        self._collections: dict[str, Collection] = {}
        self._selected: str | None = None
        self._files: FilesSnapshot | None = None
        self._busy: frozenset[str] = frozenset()
        self._progress: dict[str, IndexProgress] = {}
        self._note: Note | None = None

    # ---- reading ------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self._collections)

    def collections(self) -> list[Collection]:
        return list(self._collections.values())

    def get(self, name: str | None) -> Collection | None:
        return self._collections.get(name) if name is not None else None

    @property
    def selected(self) -> str | None:
        return self._selected

    @property
    def selected_collection(self) -> Collection | None:
        return self.get(self._selected)

    @property
    def files(self) -> FilesSnapshot | None:
        """The open collection's files, once read (None right after it was opened)."""
        return self._files

    def is_busy(self, name: str) -> bool:
        return name in self._busy

    @property
    def busy(self) -> frozenset[str]:
        return self._busy

    def progress(self, name: str | None) -> IndexProgress | None:
        """The running run's last progress for `name`; None when nothing runs for it."""
        return self._progress.get(name) if name is not None else None

    @property
    def note(self) -> Note | None:
        return self._note

    # ---- changing -----------------------------------------------------------------------
    def set_collections(self, found: list[Collection], select: str | None = None) -> bool:
        """The list as just read. Opens `select` if given (a collection just created or
        renamed), else keeps the open one, else the first; returns whether that changed."""
        self._collections = {c.name: c for c in found}
        wanted = select or self._selected
        if wanted not in self._collections:
            wanted = found[0].name if found else None
        changed = wanted != self._selected
        if changed:
            self._open(wanted)
        self.collections_changed.emit(self.names)
        if changed:
            self.selected_changed.emit(wanted)
        return changed

    def select(self, name: str | None) -> bool:
        """Open another collection (the user's choice); returns whether it changed."""
        if name == self._selected:
            return False
        self._open(name)
        self.selected_changed.emit(name)
        return True

    def _open(self, name: str | None) -> None:
        self._selected = name
        self._files = None
        if name is not None:
            self.set_note(None)  # a note is about the collection it was written for

    def set_files(self, snapshot: FilesSnapshot) -> None:
        """The open collection's files and its record, as just read (ignored if the user
        opened another one meanwhile)."""
        name = snapshot.collection.name
        if name != self._selected:
            return
        self._collections[name] = snapshot.collection
        self._files = snapshot
        self.collection_changed.emit(name)
        self.files_changed.emit(snapshot)

    def set_busy(self, names: frozenset[str] | set[str]) -> None:
        busy = frozenset(names)
        if busy == self._busy:
            return
        self._busy = busy
        self.busy_changed.emit(busy)

    def set_progress(self, name: str, progress: IndexProgress | None) -> None:
        if progress is None:
            if self._progress.pop(name, None) is None:
                return
        else:
            self._progress[name] = progress
        self.progress_changed.emit(name, progress)

    def set_note(self, text: str | None, level: str = "info") -> None:
        """Show a note (again, even if it is the same one), or none."""
        note = Note(text, level) if text else None
        if note is None and self._note is None:
            return
        self._note = note
        self.note_changed.emit(note)
