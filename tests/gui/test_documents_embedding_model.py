"""The multilingual embedding model on the Documents page, as a user meets it: a collection of
German and French files gets one sentence and a button recommending it; the button downloads it
through the window's download queue (the fake hub serves a copy of the bundled MiniLM as the
multilingual file: there is no real EmbeddingGemma offline), the page switches to it when the
download ends, and the collection is re-embedded with progress while search keeps working."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.core.documents import embedding_models as em
from app.core.documents.index import DocumentIndex
from app.core.documents.indexer import IndexProgress
from app.core.settings import load_settings
from app.ui.pages.documents import documents_page
from tests.fakehub import FakeHub
from tests.gui import conftest_models

fake_hub = conftest_models.fake_hub
memory_keyring = conftest_models.memory_keyring
fake_hardware = conftest_models.fake_hardware
models_window = conftest_models.models_window

TIMEOUT = 90_000

GERMAN = [
    "Die Mitarbeiter erhalten jedes Jahr siebenundzwanzig Urlaubstage, dazu die gesetzlichen "
    "Feiertage. Der Antrag wird beim Vorgesetzten gestellt.",
    "Die Garage öffnet werktags um sechs Uhr morgens und schließt um Mitternacht. Am Wochenende "
    "bleibt sie geschlossen.",
    "Reisekosten werden mit dem Formular EX-12 erstattet. Belege müssen innerhalb von vier "
    "Wochen eingereicht werden.",
]
FRENCH = [
    "Les badges perdus sont remplacés par l'accueil du bâtiment principal, du lundi au vendredi "
    "entre neuf heures et midi.",
    "La cantine sert le déjeuner à partir de midi ; les menus de la semaine sont affichés dans "
    "le couloir.",
]


def _docs(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, text in enumerate(GERMAN + FRENCH):
        (folder / f"notiz{i}.txt").write_text(text + "\n", encoding="utf-8")
    return folder


def test_recommend_download_switch_and_reembed(
    qtbot: Any, fake_hub: FakeHub, models_window: Any, tmp_path: Path, embedding_model_path: Path
) -> None:
    fake_hub.add_repo(em.MULTILINGUAL.repo_id, card="# EmbeddingGemma 300M\n")
    fake_hub.add_file(em.MULTILINGUAL.repo_id, em.MULTILINGUAL.filename, disk_path=embedding_model_path)
    window = models_window()
    window.show_page("documents")
    page = documents_page(window)
    assert page is not None
    offer_button = page.embedding_bar.multilingual_button
    assert offer_button.isVisibleTo(page) and offer_button.text().startswith("Get the multilingual model (")
    assert "more than 100 languages" in offer_button.toolTip()
    assert not page.recommendation.isVisibleTo(page)

    with qtbot.waitSignal(page.indexing.finished, timeout=TIMEOUT):
        page.create_collection("Büro", [_docs(tmp_path / "büro")])
    # Built-in (English) model, a collection in German and French: recommended, in one sentence.
    qtbot.waitUntil(lambda: page.recommendation.isVisibleTo(page), timeout=TIMEOUT)
    assert "not in English" in page.recommendation.label.text()
    assert page.recommendation.button.text().startswith("Get the multilingual model")

    steps: list[IndexProgress] = []
    page.indexing.progress.connect(lambda _name, p: steps.append(p))
    downloads = window.models_area.downloads
    with qtbot.waitSignal(downloads.jobFinished, timeout=TIMEOUT) as got:
        page.recommendation.button.click()
        assert not page.recommendation.button.isEnabled()  # downloading
    downloaded = Path(got.args[0].path)
    folder = load_settings().resolved_models_dir() / em.MULTILINGUAL.repo_id
    assert downloaded == folder / em.MULTILINGUAL.filename
    # Chosen when the download ended; the offer and the recommendation are gone.
    qtbot.waitUntil(lambda: load_settings().embedding_model == str(downloaded), timeout=TIMEOUT)
    assert not offer_button.isVisibleTo(page)
    assert not page.recommendation.isVisibleTo(page)

    def swapped() -> bool:
        with DocumentIndex() as idx:
            c = idx.collection("Büro")
            return c.next_model_id is None and c.embed_model_path == str(downloaded)

    qtbot.waitUntil(lambda: swapped() and not page.indexing.is_busy("Büro"), timeout=TIMEOUT)
    re_embedding = [p for p in steps if p.phase == "re-embedding"]
    assert re_embedding and re_embedding[-1].files_done == re_embedding[-1].files_total == 5
    with DocumentIndex() as idx:
        c = idx.collection("Büro")
        assert c.embed_model_id.endswith("#p1")  # the multilingual model's prompts
        assert idx.count_missing_vectors(c.id) == 0


def test_an_installed_multilingual_model_is_used_at_a_click(
    qtbot: Any, models_window: Any, embedding_model_path: Path, tmp_path: Path
) -> None:
    import shutil

    models = tmp_path / "models"
    target = models / em.MULTILINGUAL.repo_id / em.MULTILINGUAL.filename
    target.parent.mkdir(parents=True)
    shutil.copyfile(embedding_model_path, target)
    window = models_window(models_dir=str(models))
    window.show_page("documents")
    page = documents_page(window)
    assert page is not None
    button = page.embedding_bar.multilingual_button
    # The models folder is looked at on the IO pool, not on the GUI thread: the answer comes soon.
    qtbot.waitUntil(lambda: button.text() == "Use the multilingual model", timeout=TIMEOUT)
    button.click()
    qtbot.waitUntil(lambda: load_settings().embedding_model == str(target), timeout=TIMEOUT)
    assert not button.isVisibleTo(page)
    page.set_embedding_model("")  # back to the built-in one: offered again
    qtbot.waitUntil(lambda: button.isVisibleTo(page), timeout=TIMEOUT)


def test_the_recommendation_is_a_notice_with_the_only_download_button(
    qtbot: Any, models_window: Any, tmp_path: Path
) -> None:
    window = models_window()
    window.show_page("documents")
    page = documents_page(window)
    assert page is not None
    bar_button = page.embedding_bar.multilingual_button
    assert bar_button.isVisibleTo(page)
    with qtbot.waitSignal(page.indexing.finished, timeout=TIMEOUT):
        page.create_collection("Büro", [_docs(tmp_path / "büro")])
    qtbot.waitUntil(lambda: page.recommendation.isVisibleTo(page), timeout=TIMEOUT)
    # One "Get the multilingual model" button, the recommendation's; styled as an info notice.
    assert not bar_button.isVisibleTo(page)
    assert page.recommendation.button.text().startswith("Get the multilingual model (")
    assert page.recommendation.property("level") == "info"
    from app.core import paths

    sheet = (paths.resources_dir() / "style.qss").read_text(encoding="utf-8")
    assert 'QFrame#embeddingRecommendation[level="info"] {' in sheet  # the info notices' colours


def test_a_multilingual_model_downloaded_in_discover_is_offered_and_used(
    qtbot: Any, fake_hub: FakeHub, models_window: Any, tmp_path: Path, embedding_model_path: Path
) -> None:
    fake_hub.add_repo(em.MULTILINGUAL.repo_id, card="# EmbeddingGemma 300M\n")
    fake_hub.add_file(em.MULTILINGUAL.repo_id, em.MULTILINGUAL.filename, disk_path=embedding_model_path)
    window = models_window()
    window.show_page("documents")
    page = documents_page(window)
    assert page is not None
    with qtbot.waitSignal(page.indexing.finished, timeout=TIMEOUT):
        page.create_collection("Büro", [_docs(tmp_path / "büro")])
    qtbot.waitUntil(lambda: page.recommendation.isVisibleTo(page), timeout=TIMEOUT)

    # Downloaded from Discover (the window's queue, not the Documents page's offer).
    window.show_page("discover")
    downloads = window.models_area.downloads
    with qtbot.waitSignal(downloads.jobFinished, timeout=TIMEOUT) as got:
        downloads.add(em.MULTILINGUAL.repo_id, em.MULTILINGUAL.filename)
    downloaded = Path(got.args[0].path)
    assert downloaded.is_file()
    window.show_page("documents")
    # Not chosen by itself: the search model is still the built-in one, and the page offers it.
    assert load_settings().embedding_model in ("", None)
    button = page.recommendation.button
    qtbot.waitUntil(lambda: button.text() == "Use the multilingual model", timeout=TIMEOUT)
    assert button.isEnabled() and not page.embedding_bar.multilingual_button.isVisibleTo(page)

    steps: list[IndexProgress] = []
    page.indexing.progress.connect(lambda _name, p: steps.append(p))
    button.click()
    qtbot.waitUntil(lambda: load_settings().embedding_model == str(downloaded), timeout=TIMEOUT)

    def swapped() -> bool:
        with DocumentIndex() as idx:
            c = idx.collection("Büro")
            return c.next_model_id is None and c.embed_model_path == str(downloaded)

    qtbot.waitUntil(lambda: swapped() and not page.indexing.is_busy("Büro"), timeout=TIMEOUT)
    assert [p for p in steps if p.phase == "re-embedding"][-1].files_done == 5
    assert not page.recommendation.isVisibleTo(page)
    with DocumentIndex() as idx:
        c = idx.collection("Büro")
        assert c.embed_model_id.endswith("#p1") and idx.count_missing_vectors(c.id) == 0


def test_a_download_ending_while_the_page_is_shown_turns_get_into_use(
    qtbot: Any, fake_hub: FakeHub, models_window: Any, embedding_model_path: Path
) -> None:
    """The page stays on screen while the file arrives through the window's queue (started in
    Discover, say): the bar's button must say "Use" without the user leaving the page."""
    fake_hub.add_repo(em.MULTILINGUAL.repo_id, card="# EmbeddingGemma 300M\n")
    fake_hub.add_file(em.MULTILINGUAL.repo_id, em.MULTILINGUAL.filename, disk_path=embedding_model_path)
    window = models_window()
    window.show_page("documents")
    page = documents_page(window)
    assert page is not None
    button = page.embedding_bar.multilingual_button
    qtbot.waitUntil(lambda: button.isVisibleTo(page), timeout=TIMEOUT)
    assert button.text().startswith("Get the multilingual model (")
    downloads = window.models_area.downloads
    with qtbot.waitSignal(downloads.jobFinished, timeout=TIMEOUT):
        downloads.add(em.MULTILINGUAL.repo_id, em.MULTILINGUAL.filename)
    qtbot.waitUntil(lambda: button.text() == "Use the multilingual model", timeout=TIMEOUT)
    # Offered, not chosen by itself: the search model is still the built-in one.
    assert load_settings().embedding_model in ("", None)
