"""The keyword search leaves out a question's function words: English ones always, German,
Dutch or French ones when the question reads as that language (query_words.py)."""

from __future__ import annotations

from app.core.documents.query_words import function_words
from app.core.documents.search import query_terms


def test_english_function_words_go_and_english_nouns_that_are_german_function_words_stay() -> None:
    assert query_terms("How do I read the man page of pg_dump?") == ["read", "man", "page", "pg_dump"]
    assert query_terms("What hat did the war leave?") == ["hat", "war", "leave"]


def test_a_german_question_loses_its_german_function_words() -> None:
    assert query_terms("Wie oft muss ich mein Passwort wechseln?") == ["oft", "passwort", "wechseln"]
    # "Hat" and "der" read as German here: the German word "hat" goes, the nouns stay.
    assert query_terms("Hat der Mann einen Hut?") == ["mann", "hut"]


def test_french_and_dutch_questions_too() -> None:
    assert query_terms("Où est le parking pour les visiteurs ?") == ["parking", "visiteurs"]
    assert query_terms("Hoe vaak moet ik mijn wachtwoord wijzigen?") == ["vaak", "wachtwoord", "wijzigen"]


def test_one_foreign_function_word_is_not_enough_and_nothing_left_keeps_every_word() -> None:
    assert function_words(["man", "page"]) == frozenset()  # "man" alone: not German
    assert query_terms("die") == ["die"]  # all words are function words: search them anyway
