"""The cheap "mostly not English?" guess behind the multilingual model's recommendation."""

from __future__ import annotations

from app.core.documents.language_guess import english_share, is_english, mostly_not_english

ENGLISH = "Employees get 27 vacation days every year, and the garage opens at 6am for all of the staff."
OTHERS = [
    "Die Mitarbeiter erhalten jedes Jahr 27 Urlaubstage, und die Garage öffnet werktags um 6 Uhr.",
    "Les employés ont droit à 27 jours de congés par an, et le garage ouvre à 6 heures en semaine.",
    "Los empleados tienen 27 días de vacaciones al año y el garaje abre a las 6 entre semana.",
    "De medewerkers krijgen elk jaar 27 vakantiedagen en de garage gaat om 6 uur open.",
    "员工每年有二十七天假期，车库在工作日早上六点开门，所有员工都可以使用这个车库和停车位。",
    "Сотрудники получают 27 дней отпуска в год, а гараж открывается в 6 утра по будням.",
]


def test_passages_by_language() -> None:
    assert is_english(ENGLISH) is True
    assert [is_english(t) for t in OTHERS] == [False] * len(OTHERS)
    assert is_english("1 2 3 4 5 6 7 8 9 10") is None  # numbers do not vote
    assert is_english("Quarterly report") is None  # a title is too short to tell


def test_a_collection_is_mostly_not_english_only_when_most_passages_are_not() -> None:
    assert mostly_not_english(OTHERS)
    assert mostly_not_english(OTHERS + [ENGLISH])
    assert not mostly_not_english([ENGLISH] * 3 + OTHERS[:2])
    assert not mostly_not_english([])  # nothing to tell from: no recommendation
    assert english_share(["Total", "42"]) is None
